"""What happens to escalations: the events store/escalations.py records.

Each carries the escalation's read model as the operation left it (store.views.EscalationView), and
who is to hear of it, decided in store: the level's approvers are the view's `approver_ids`; the
playbook's escalation channel and the requester are named here, the requester only when it is a
person (None for the clock, which raises SLA breaches itself and reads no DMs). messages/escalations
.py turns them into the cards and notices.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from store.events import Event
from store.views import EscalationView, LevelMove


@dataclass(frozen=True)
class EscalationRaised(Event):
    """Saved at level 1: the level's approvers and the channel get its card, the requester theirs."""

    escalation: EscalationView
    channel: str | None    # the playbook's escalation channel, if it has one
    requester: str | None  # None: nobody to write to (a system requester)


@dataclass(frozen=True)
class EscalationDecided(Event):
    """Approved or rejected (the view's status says which, its decision_note what was said)."""

    escalation: EscalationView
    by: str
    at: dt.datetime
    tell: tuple[str, ...]  # the requester and the linked lead's or action's owners, but not `by`


@dataclass(frozen=True)
class EscalationWithdrawn(Event):
    """The requester took it back: every copy of its cards says so."""

    escalation: EscalationView
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class EscalationClimbed(Event):
    """No decision in time: it moved to the next level (`move`), whose approvers and channel get its card."""

    escalation: EscalationView
    move: LevelMove
    channel: str | None
    requester: str | None


@dataclass(frozen=True)
class EscalationExpired(Event):
    """No decision in time at the last level: it is closed, and the requester told."""

    escalation: EscalationView
    at: dt.datetime
    requester: str | None
