"""What happens to performance issues: the events store/issues.py records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from store.events import Event
from store.views import IssueView


@dataclass(frozen=True)
class IssueRecorded(Event):
    issue: IssueView
    partner_manager_id: str | None  # the partner's manager, told as well (unless they recorded it)
    at: dt.datetime
