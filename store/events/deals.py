"""What happens to a deal after it is accepted: the events store/deals.py records.

Each carries the lead's read model as the operation left it (store.views.LeadView), and who is to
hear of it as the operation decided (the stage's informed roles, the owners asked for a debrief).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from store.events import Event
from store.views import LeadView


@dataclass(frozen=True)
class StageChanged(Event):
    lead: LeadView
    by: str
    from_name: str                  # the stage it left, by the playbook's name
    note: str | None
    informed: tuple[str, ...]       # the people the new stage's informed roles name (not the mover)
    debrief_from: tuple[str, ...]   # after a close: the owners asked for a debrief
    at: dt.datetime


@dataclass(frozen=True)
class DebriefWritten(Event):
    lead: LeadView
    by: str
    replaced_at: dt.datetime | None                 # when the debrief it replaced was written
    written: tuple[tuple[str, dt.datetime], ...]    # every debrief of the lead so far: (user id, written at)
    at: dt.datetime
