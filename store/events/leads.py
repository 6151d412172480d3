"""What happens to leads: the events store/handoffs.py and store/sla.py record.

Each carries the lead's read model as the operation left it (store.views.LeadView), so its messages
are rendered from that state without another query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from store.events import Event
from store.views import LeadView


@dataclass(frozen=True)
class LeadAccepted(Event):
    lead: LeadView
    by: str
    at: dt.datetime
