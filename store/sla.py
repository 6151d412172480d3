"""What the clock does when a lead's deadlines pass, and how it sends reminders exactly once.

- `pass_to_backup`: a handoff not accepted within the grace after its deadline moves to the backup
  owner (a new Handoff row, a fresh accept-by, the backup gets the card, the first owner's copy says
  it passed, the sender and the first owner are told).
- `open_sla_breach`: the backup missed too, or there was no backup: an SLA-breach escalation opens
  by itself (store.escalations.raise_escalation), once.
- `post_reminders`: many reminders at once — one query for the keys already used, then one
  INSERT … ON CONFLICT DO NOTHING per new reminder (store.reminders.post_once).

Both operations are conditional UPDATEs that match what the clock read, so two clocks (or a clock
and an owner pressing Accept at that moment) cannot both act: the loser changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from messages import handoff as lead_views_
from messages import reminders as texts
from store import audit, escalations, outbox
from store.handoffs import lead_view
from store.models import AuditEvent, Handoff, Lead, OutboxMessage, Partner
from store.playbook import Playbook
from store.reminders import Once, post_many_once, reminder_key
from store.slack_users import not_before, zones
from store.transitions import transition

log = logging.getLogger(__name__)
CLOCK = "system:clock"


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

    def __init__(self, session: Session, client, playbook: Playbook, user_ids: Iterable[str], now: dt.datetime):
        self.playbook, self.now = playbook, now
        self.zones = zones(session, client, user_ids, fallback=playbook.tz, now=now)
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


def pass_to_backup(session: Session, *, lead_id: int, playbook: Playbook, now: dt.datetime,
                   openings: Openings | None = None) -> list[int]:
    """Move a handoff nobody accepted to its backup owner. Returns the outbox ids, or [] if nothing moved
    (accepted or declined meanwhile, already passed, no backup, or another clock won)."""
    lead = session.get(Lead, lead_id)
    if lead is None or lead.stage != "handed_off" or lead.passed_to_backup_at or not lead.backup_owner_id:
        return []
    partner = session.get(Partner, lead.partner_id)
    first_owner, backup, missed = lead.primary_owner_id, lead.backup_owner_id, lead.accept_by
    before = lead.snapshot()
    new_accept_by = playbook.calendar.add_business_hours(now, playbook.sla_for(partner.tier).accept_within_hours)
    if not transition(session, lead, Lead.stage == "handed_off", Lead.passed_to_backup_at.is_(None),
                      Lead.primary_owner_id == first_owner, Lead.backup_owner_id == backup, Lead.accept_by == missed,
                      primary_owner_id=backup, backup_owner_id=None, passed_to_backup_at=now, accept_by=new_accept_by,
                      updated_at=now):
        return []
    session.execute(update(Handoff).where(Handoff.lead_id == lead.id, Handoff.status == "pending")
                    .values(status="passed", decided_at=now, decided_by=CLOCK)
                    .execution_options(synchronize_session=False))
    session.add(Handoff(lead_id=lead.id, from_user_id=first_owner, to_user_id=backup, created_at=now))
    audit.record(session, actor_id=CLOCK, action="lead.passed_to_backup", object_type="lead", object_id=lead.id,
                 before=before, at=now,
                 after={**lead.snapshot(), "from": first_owner, "to": backup, "missed": missed.isoformat(),
                        "accept_by": new_accept_by.isoformat()})
    view = lead_view(session, lead, playbook)

    def render(row: OutboxMessage) -> dict[str, Any]:
        if row.kind == "lead_notice":
            return lead_views_.lead_card(view, audience="channel")
        if row.audience == first_owner:
            return texts.passed_card(view, missed=missed, at=now)
        return lead_views_.lead_card(view, audience="owner")

    rows = outbox.refresh(session, subject=("lead", lead.id), kinds=("lead_card", "lead_notice"), render=render)
    session.flush()
    ids = [r.id for r in rows]
    openings = openings or Openings(session, None, playbook, (backup, first_owner, lead.sender_id), now)
    subject = ("lead", lead.id)
    reminders = [
        Reminder(key=reminder_key("lead_card", subject, f"passed:{backup}"), channel=backup, kind="lead_card",
                 subject=subject, build=lambda: lead_views_.lead_card(view, audience="owner"),
                 not_before=openings.opening(backup)),
        Reminder(key=reminder_key("lead_passed", subject, first_owner), channel=first_owner, kind="lead_passed",
                 subject=subject, build=lambda: texts.passed_owner_notice(view, missed=missed),
                 not_before=openings.opening(first_owner)),
    ]
    if lead.sender_id not in (first_owner, backup):
        reminders.append(Reminder(
            key=reminder_key("lead_passed", subject, lead.sender_id), channel=lead.sender_id, kind="lead_passed",
            subject=subject, build=lambda: texts.passed_sender_notice(view, from_owner_id=first_owner, missed=missed),
            not_before=openings.opening(lead.sender_id)))
    return ids + post_reminders(session, reminders, now=now)


# --- the SLA-breach escalation ------------------------------------------------------------------

def open_sla_breach(session: Session, *, lead_id: int, playbook: Playbook, approvers: Sequence[str],
                    now: dt.datetime) -> list[int]:
    """Open the lead's SLA-breach escalation, once. `approvers`: level 1's resolved people (user groups
    already expanded), as the request handler passes them. Returns the outbox ids, or [] if the lead
    was accepted or declined meanwhile, or its breach was already opened."""
    lead = session.get(Lead, lead_id)
    if lead is None or lead.stage != "handed_off" or lead.sla_escalated_at is not None:
        return []
    if not transition(session, lead, Lead.stage == "handed_off", Lead.sla_escalated_at.is_(None),
                      sla_escalated_at=now, updated_at=now):
        return []
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
        reason=texts.sla_breach_reason(view, first_owner_id=first_owner, first_due=first_due),
        severity="high", impact=None, lead_id=lead.id, action_id=None)
    result = escalations.raise_escalation(session, draft=draft, requester_id=CLOCK, playbook=playbook,
                                          approvers=list(approvers), now=now)
    audit.record(session, actor_id=CLOCK, action="lead.sla_escalated", object_type="lead", object_id=lead.id,
                 after={"escalation": result.escalation.ref}, at=now)
    session.flush()
    return list(result.outbox_ids)


def after_climb(session: Session, ids: Sequence[int]) -> list[int]:
    """store.escalations.climb's outbox ids (it writes nothing to a system requester)."""
    return list(ids)
