"""A lead's SLA clocks: the rules that say what is due when its deadlines pass, and the transitions.

The clock (scheduling/jobs/leads.py) finds what is due with these rules and calls the operations:

Accept deadline (stage handed_off, accept_by passed), `accepts_due`:
  before accept_by + the playbook's backup grace: ONE reminder to the primary owner (key: lead + owner),
  `remind_to_accept`; after it: the lead passes to the backup owner, `pass_to_backup`; with no backup,
  or once the backup's own accept_by passed too: an SLA-breach escalation opens, `open_sla_breach`, once.
First outreach (accepted, first_outreach_at NULL, first_outreach_by passed), `outreach_due`: one
  reminder to the owner, then, a business day later, one note to the partner manager, `remind_outreach`.

- `pass_to_backup`: a new Handoff row, a fresh accept-by; LeadPassedToBackup says the rest (the
  backup gets the card, the first owner's copy says it passed, the sender and the first owner are told).
- `open_sla_breach`: store.escalations.raise_escalation with the reason written here, once.
- Reminders and notices are events (AcceptDeadlinePassed, OutreachDeadlinePassed, OutreachStillMissing,
  LeadPassedToBackup) whose posts carry an idempotency key and the reader's next business start
  (`Openings`): the recorder writes them in multi-row INSERT … ON CONFLICT DO NOTHING (store.reminders),
  so each goes out at most once, whoever runs the clock. The rules leave out the keys already used
  (one query), so a pass's statements do not grow with the number of reminders.

`Reminder` / `post_reminders` record prebuilt messages at most once, for the jobs that build their own.

The transitions are conditional UPDATEs that match what the clock read, so two clocks (or a clock
and an owner pressing Accept at that moment) cannot both act: the loser changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from store import audit, escalations, events
from store.events.leads import (
    AcceptDeadlinePassed,
    LeadPassedToBackup,
    OutreachDeadlinePassed,
    OutreachStillMissing,
    Reach,
)
from store.handoffs import lead_view, lead_views
from store.models import AuditEvent, Handoff, Lead, OutboxMessage, Partner
from store.playbook import Playbook
from store.reminders import Once, post_many_once, reminder_key
from store.slack_users import not_before, zones
from store.transitions import transition
from store.views import LeadView

log = logging.getLogger(__name__)
CLOCK = "system:clock"
NO_OUTREACH_EXPECTED = ("handed_off", "declined", "closed_won", "closed_lost")


# --- reminders, many at once --------------------------------------------------------------------

@dataclass(frozen=True)
class Reminder:
    key: str
    channel: str
    kind: str
    subject: tuple[str, int]
    build: Any  # () -> message dict; called only for reminders not yet sent
    not_before: dt.datetime | None = None


def existing_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of these idempotency keys the outbox already holds: one query, however many."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return set()
    statement = select(OutboxMessage.idempotency_key).where(
        OutboxMessage.idempotency_key.in_(bindparam("keys", expanding=True)))
    return set(session.scalars(statement, {"keys": wanted}))


def post_reminders(session: Session, reminders: Sequence[Reminder], *, sent: set[str] | None = None,
                   now: dt.datetime | None = None) -> list[int]:
    """Record each reminder whose key is new; return the outbox ids written (a race loses quietly).
    `sent`: the keys already known to exist (from existing_keys), to save the lookup."""
    sent = set(sent) if sent is not None else existing_keys(session, (r.key for r in reminders))
    fresh: list[Once] = []
    for reminder in reminders:
        if reminder.key in sent:
            continue
        sent.add(reminder.key)
        fresh.append(Once(key=reminder.key, channel=reminder.channel, message=reminder.build(), kind=reminder.kind,
                          subject=reminder.subject, audience=reminder.channel, not_before=reminder.not_before))
    return post_many_once(session, fresh, now=now)  # multi-row INSERTs; a race loses quietly


class Openings:
    """When each person may be reached: the start of their next business period in their own zone.

    Zones for everyone come from one cached lookup (store.slack_users.zones); openings are computed
    once per zone."""

    def __init__(self, session: Session, playbook: Playbook, user_ids: Iterable[str], now: dt.datetime, *,
                 known=None):
        self.playbook, self.now = playbook, now
        self.zones = zones(session, user_ids, fallback=playbook.tz, known=known, now=now)
        self._openings: dict[str, dt.datetime] = {}

    def zone(self, user_id: str) -> ZoneInfo:
        return self.zones.get(user_id, self.playbook.tz)

    def opening(self, user_id: str) -> dt.datetime:
        zone = self.zone(user_id)
        key = str(zone)
        if key not in self._openings:
            self._openings[key] = not_before(zone, self.playbook, self.now)
        return self._openings[key]

    def business_date(self, user_id: str) -> dt.date:
        """The person's local date of their current (or next) business period: a reminder's 'day'."""
        return self.opening(user_id).astimezone(self.zone(user_id)).date()

    def reach(self, user_id: str, key: str) -> Reach:
        return Reach(user_id=user_id, key=key, not_before=self.opening(user_id))


# --- the accept deadline ------------------------------------------------------------------------

@dataclass(frozen=True)
class AcceptReminderDue:
    """The owner of a lead past its accept-by is to be reminded (once: `key`); at `passes_at`, the end of
    the grace, it passes to the backup owner (or opens an SLA breach)."""

    lead: Lead
    passes_at: dt.datetime
    key: str


@dataclass
class AcceptsDue:
    """Handoffs past their accept-by, by what the rule says is due for each (accepts_due)."""

    remind: list[AcceptReminderDue] = field(default_factory=list)  # not reminded yet
    to_backup: list[Lead] = field(default_factory=list)
    breach: list[int] = field(default_factory=list)  # lead ids

    @property
    def people(self) -> set[str]:
        """Whom the reminders and passes will reach (for one lookup of their zones, Openings)."""
        people = {r.lead.primary_owner_id for r in self.remind}
        for lead in self.to_backup:
            people.update((lead.primary_owner_id, lead.backup_owner_id, lead.sender_id))
        return people


def accepts_due(session: Session, *, playbook: Playbook, now: dt.datetime) -> AcceptsDue | None:
    """The handoffs nobody accepted by their deadline, and what is due for each at `now` (None if there
    are none): inside the backup grace a reminder to the owner (left out once sent), after it a pass to
    the backup owner, or an SLA breach when there is no backup or the backup missed too."""
    calendar = playbook.calendar
    rows = session.execute(
        select(Lead, Partner.tier).join(Partner, Partner.id == Lead.partner_id)
        .where(Lead.stage == "handed_off", Lead.accept_by <= now, Lead.sla_escalated_at.is_(None))
        .order_by(Lead.id)
    ).all()
    if not rows:
        return None
    due, remind = AcceptsDue(), []
    for lead, tier in rows:
        if lead.passed_to_backup_at is not None:
            due.breach.append(lead.id)  # the backup missed their deadline too
            continue
        grace_end = calendar.add_business_hours(lead.accept_by, playbook.backup_grace_for(tier))
        if now < grace_end:
            remind.append(AcceptReminderDue(lead, grace_end, reminder_key("accept_reminder", ("lead", lead.id),
                                                                          lead.primary_owner_id)))
        elif lead.backup_owner_id:
            due.to_backup.append(lead)
        else:
            due.breach.append(lead.id)
    sent = existing_keys(session, (r.key for r in remind))
    due.remind = [r for r in remind if r.key not in sent]
    return due


def remind_to_accept(session: Session, due: Sequence[AcceptReminderDue], *, playbook: Playbook,
                     openings: Openings) -> None:
    """Remind each lead's owner, once, that it waits for them (AcceptDeadlinePassed), naming when it passes on."""
    views = {v.id: v for v in lead_views(session, [r.lead for r in due], playbook)}
    events.record(session, *(
        AcceptDeadlinePassed(lead=views[r.lead.id], passes_at=r.passes_at,
                             owner=openings.reach(r.lead.primary_owner_id, r.key))
        for r in due))


def pass_to_backup(session: Session, *, lead_id: int, playbook: Playbook, now: dt.datetime,
                   openings: Openings | None = None) -> bool:
    """Move a handoff nobody accepted to its backup owner. False if nothing moved (accepted or declined
    meanwhile, already passed, no backup, or another clock won)."""
    lead = session.get(Lead, lead_id)
    if lead is None or lead.stage != "handed_off" or lead.passed_to_backup_at or not lead.backup_owner_id:
        return False
    partner = session.get(Partner, lead.partner_id)
    first_owner, backup, missed = lead.primary_owner_id, lead.backup_owner_id, lead.accept_by
    before = lead.snapshot()
    new_accept_by = playbook.calendar.add_business_hours(now, playbook.sla_for(partner.tier).accept_within_hours)
    if not transition(session, lead, Lead.stage == "handed_off", Lead.passed_to_backup_at.is_(None),
                      Lead.primary_owner_id == first_owner, Lead.backup_owner_id == backup, Lead.accept_by == missed,
                      primary_owner_id=backup, backup_owner_id=None, passed_to_backup_at=now, accept_by=new_accept_by,
                      updated_at=now):
        return False
    session.execute(update(Handoff).where(Handoff.lead_id == lead.id, Handoff.status == "pending")
                    .values(status="passed", decided_at=now, decided_by=CLOCK)
                    .execution_options(synchronize_session=False))
    session.add(Handoff(lead_id=lead.id, from_user_id=first_owner, to_user_id=backup, created_at=now))
    audit.record(session, actor_id=CLOCK, action="lead.passed_to_backup", object_type="lead", object_id=lead.id,
                 before=before, at=now,
                 after={**lead.snapshot(), "from": first_owner, "to": backup, "missed": missed.isoformat(),
                        "accept_by": new_accept_by.isoformat()})
    view = lead_view(session, lead, playbook)
    openings = openings or Openings(session, playbook, (backup, first_owner, lead.sender_id), now)
    subject = ("lead", lead.id)
    sender = None
    if lead.sender_id not in (first_owner, backup):
        sender = openings.reach(lead.sender_id, reminder_key("lead_passed", subject, lead.sender_id))
    events.record(session, LeadPassedToBackup(
        lead=view, from_owner_id=first_owner, missed=missed, at=now,
        new_owner=openings.reach(backup, reminder_key("lead_card", subject, f"passed:{backup}")),
        first_owner=openings.reach(first_owner, reminder_key("lead_passed", subject, first_owner)),
        sender=sender))
    return True


# --- the SLA-breach escalation ------------------------------------------------------------------

def open_sla_breach(session: Session, *, lead_id: int, playbook: Playbook, approvers: Sequence[str],
                    now: dt.datetime) -> bool:
    """Open the lead's SLA-breach escalation, once (its cards: EscalationRaised). `approvers`: level 1's
    resolved people (user groups already expanded), as the request handler passes them. False if the
    lead was accepted or declined meanwhile, or its breach was already opened."""
    lead = session.get(Lead, lead_id)
    if lead is None or lead.stage != "handed_off" or lead.sla_escalated_at is not None:
        return False
    if not transition(session, lead, Lead.stage == "handed_off", Lead.sla_escalated_at.is_(None),
                      sla_escalated_at=now, updated_at=now):
        return False
    view = lead_view(session, lead, playbook)
    first_owner, first_due = None, None
    if lead.passed_to_backup_at is not None:
        passed = session.scalars(select(AuditEvent.after).where(
            AuditEvent.object_type == "lead", AuditEvent.object_id == lead.id,
            AuditEvent.action == "lead.passed_to_backup").order_by(AuditEvent.id.desc())).first()
        if passed:
            first_owner, first_due = passed.get("from"), dt.datetime.fromisoformat(passed["missed"])
    draft = escalations.EscalationDraft(
        kind="sla_breach", about=f"{lead.ref} · {lead.company}"[:300],
        reason=breach_reason(view, first_owner_id=first_owner, first_due=first_due),
        severity="high", impact=None, lead_id=lead.id, action_id=None)
    result = escalations.raise_escalation(session, draft=draft, requester_id=CLOCK, playbook=playbook,
                                          approvers=list(approvers), now=now)
    audit.record(session, actor_id=CLOCK, action="lead.sla_escalated", object_type="lead", object_id=lead.id,
                 after={"escalation": result.escalation.ref}, at=now)
    return True


def _plain_time(moment: dt.datetime, zone) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%a %d %b %H:%M ") + (local.tzname() or "")


def breach_reason(view: LeadView, *, first_owner_id: str | None, first_due: dt.datetime | None) -> str:
    """The reason of the SLA-breach escalation: stored plain text (the escalation's card escapes it),
    its times in the playbook's zone."""
    zone = view.zone
    if first_owner_id and first_due:
        return (f"{view.ref} · {view.company} ({view.partner}) was not accepted: the owner missed "
                f"{_plain_time(first_due, zone)}, and the backup owner it passed to missed "
                f"{_plain_time(view.accept_by, zone)}.")
    return (f"{view.ref} · {view.company} ({view.partner}) was not accepted by {_plain_time(view.accept_by, zone)} "
            "and has no backup owner to pass it to.")


# --- first outreach -----------------------------------------------------------------------------

@dataclass(frozen=True)
class OutreachDue:
    """One first-outreach notice due and not yet sent: to the owner, or (a business day on) the manager."""

    lead: Lead
    to: str
    kind: str  # "outreach_reminder" (the owner) or "outreach_manager"
    key: str
    manager_at: dt.datetime  # when the partner manager hears of it


def _business_day_hours(playbook: Playbook) -> float:
    hours = playbook.business_hours
    return (hours.end.hour * 60 + hours.end.minute - hours.start.hour * 60 - hours.start.minute) / 60


def outreach_due(session: Session, *, playbook: Playbook, now: dt.datetime) -> list[OutreachDue]:
    """The first-outreach notices due at `now` and not yet sent: the owner's once first_outreach_by has
    passed, the partner manager's one business day after that."""
    day = _business_day_hours(playbook)
    rows = session.execute(
        select(Lead, Partner.manager_id).join(Partner, Partner.id == Lead.partner_id)
        .where(Lead.stage.not_in(NO_OUTREACH_EXPECTED), Lead.accepted_at.is_not(None),
               Lead.first_outreach_at.is_(None), Lead.first_outreach_by <= now)
        .order_by(Lead.id)
    ).all()
    wanted = []
    for lead, manager_id in rows:
        manager_at = playbook.calendar.add_business_hours(lead.first_outreach_by, day)
        wanted.append(OutreachDue(lead, lead.primary_owner_id, "outreach_reminder",
                                  reminder_key("outreach_reminder", ("lead", lead.id), lead.primary_owner_id),
                                  manager_at))
        if manager_id and now >= manager_at:
            wanted.append(OutreachDue(lead, manager_id, "outreach_manager",
                                      reminder_key("outreach_manager", ("lead", lead.id), manager_id), manager_at))
    sent = existing_keys(session, (w.key for w in wanted))
    return [w for w in wanted if w.key not in sent]


def remind_outreach(session: Session, due: Sequence[OutreachDue], *, playbook: Playbook, openings: Openings) -> None:
    """Tell each owner (OutreachDeadlinePassed) and partner manager (OutreachStillMissing) once."""
    views = {v.id: v for v in lead_views(session, list({d.lead.id: d.lead for d in due}.values()), playbook)}
    events.record(session, *(
        OutreachDeadlinePassed(lead=views[d.lead.id], manager_at=d.manager_at, owner=openings.reach(d.to, d.key))
        if d.kind == "outreach_reminder" else
        OutreachStillMissing(lead=views[d.lead.id], manager=openings.reach(d.to, d.key))
        for d in due))

