"""What happens to action items: the events store/actions.py records.

Each carries the action's read model as the operation left it (store.views.ActionView), so its card
and notices are rendered from that state without another query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from store.events import Event
from store.views import ActionView


@dataclass(frozen=True)
class ActionCreated(Event):
    action: ActionView
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class ActionDone(Event):
    action: ActionView
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class ActionSnoozed(Event):
    action: ActionView
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class ActionReassigned(Event):
    action: ActionView
    by: str
    previous_owner: str
    at: dt.datetime
