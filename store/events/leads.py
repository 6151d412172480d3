"""What happens to leads: the events store/handoffs.py and store/sla.py record.

Each carries the lead's read model as the operation left it (store.views.LeadView), so its messages
are rendered from that state without another query. messages/handoff.py and messages/reminders.py
say what each one means for Slack.

The clock's notices go to a person at most once and not before their business day starts: those
events name the person with a `Reach` (who, the message's idempotency key, from when), which the
store decides and the renderer copies onto its `Post`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from store.events import Event
from store.views import LeadView


@dataclass(frozen=True)
class Reach:
    """One person told at most once: their message's key (store.reminders.reminder_key), and the
    start of their next business period in their own zone (the message waits for it)."""

    user_id: str
    key: str
    not_before: dt.datetime


# --- a rep's handoff, and what it finds ---------------------------------------------------------

@dataclass(frozen=True)
class LeadHandedOff(Event):
    """A lead was saved: its owner gets the card, the sender the confirmation (naming the likely
    `duplicates`, the same partner's open leads on the domain), the partner's channel the notice."""

    lead: LeadView
    duplicates: tuple[LeadView, ...]
    partner_channel_id: str | None


@dataclass(frozen=True)
class ConflictsFound(Event):
    """Other partners' open leads (`others`) registered the same customer as `lead` inside the
    protection window: every partner manager involved is told, once each."""

    lead: LeadView
    others: tuple[LeadView, ...]


@dataclass(frozen=True)
class LeadCardsChanged(Event):
    """What these leads' cards show has changed (a conflict found, a stage moved): every posted copy
    of each card is brought up to date."""

    leads: tuple[LeadView, ...]


# --- the owner's decisions ----------------------------------------------------------------------

@dataclass(frozen=True)
class LeadAccepted(Event):
    lead: LeadView
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class LeadDeclined(Event):
    lead: LeadView
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class FirstOutreachLogged(Event):
    lead: LeadView
    by: str
    at: dt.datetime


# --- the clock (store/sla.py) -------------------------------------------------------------------

@dataclass(frozen=True)
class AcceptDeadlinePassed(Event):
    """Nobody accepted by the deadline: the owner is reminded once; at `passes_at` the lead passes to
    the backup owner (or, without one, opens an SLA breach)."""

    lead: LeadView
    passes_at: dt.datetime
    owner: Reach


@dataclass(frozen=True)
class LeadPassedToBackup(Event):
    """The owner missed the deadline (`missed`) and the grace after it: at `at` the lead passed to
    the backup owner, who is now `lead.primary_owner_id` with a fresh accept-by. Every copy of the
    card is brought up to date (the first owner's without buttons, saying why); the new owner gets
    the card, the first owner and the sender (unless they are one of the two) are told."""

    lead: LeadView
    from_owner_id: str
    missed: dt.datetime
    at: dt.datetime
    new_owner: Reach
    first_owner: Reach
    sender: Reach | None


@dataclass(frozen=True)
class OutreachDeadlinePassed(Event):
    """An accepted lead has no first outreach logged by its deadline: the owner is reminded once;
    at `manager_at` the partner manager hears of it."""

    lead: LeadView
    manager_at: dt.datetime
    owner: Reach


@dataclass(frozen=True)
class OutreachStillMissing(Event):
    """A business day after the first-outreach deadline nothing is logged yet: the partner manager is
    told once."""

    lead: LeadView
    manager: Reach
