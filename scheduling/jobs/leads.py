"""Lead deadlines: a handoff not accepted in time, and a first outreach not logged in time.

Accept deadline (stage handed_off, accept_by passed):
  before accept_by + the playbook's backup grace: ONE reminder to the primary owner (key: lead + owner);
  after it: the lead passes to the backup owner (store.sla.pass_to_backup); with no backup, or once the
  backup's own accept_by passed too: an SLA-breach escalation opens (store.sla.open_sla_breach), once.
First outreach (accepted, first_outreach_at NULL, first_outreach_by passed): one reminder to the owner,
then, a business day later, one note to the partner manager.
Left-over refreshes: what a handoff's process left for after its commit and died before doing
(store.handoffs.settle), once it is stale.

Each kind is found with one query; zones, views and the keys already sent are loaded in bulk; the
statements of a pass grow with the due items only by the INSERT of each new reminder (and the
store operations of the rare leads that change hands or breach).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from messages import reminders as texts
from scheduling.jobs import ClockContext, job
from store import escalations, handoffs, sla
from store.errors import ValidationFailed
from store.handoffs import lead_views
from store.models import Lead, Partner
from store.reminders import reminder_key

log = logging.getLogger("partnerbot.clock")
CLOSED = ("handed_off", "declined", "closed_won", "closed_lost")  # no first outreach is expected in these


def _business_day_hours(playbook) -> float:
    hours = playbook.business_hours
    return (hours.end.hour * 60 + hours.end.minute - hours.start.hour * 60 - hours.start.minute) / 60


def _approvers(ctx: ClockContext) -> list[str] | None:
    """Level 1's approvers, user groups expanded, once per pass (as the request handler resolves them)."""
    level = ctx.playbook.escalation.levels[0]
    try:
        if ctx.client is None:
            return escalations.expand_approvers(level.approvers, {})
        return escalations.slack_resolver(ctx.client)(level.approvers)
    except escalations.ApproversUnavailable as error:
        log.warning("SLA breaches wait: %s", error.errors)
        return None


@job("lead_accept_deadlines")
def accept_deadlines(ctx: ClockContext) -> None:
    playbook, now = ctx.playbook, ctx.now
    calendar = playbook.calendar
    to_remind, to_pass, to_breach = [], [], []
    with ctx.sessions() as session, session.begin():
        rows = session.execute(
            select(Lead, Partner.tier).join(Partner, Partner.id == Lead.partner_id)
            .where(Lead.stage == "handed_off", Lead.accept_by <= now, Lead.sla_escalated_at.is_(None))
            .order_by(Lead.id)
        ).all()
        if not rows:
            return
        for lead, tier in rows:
            if lead.passed_to_backup_at is not None:
                to_breach.append(lead.id)  # the backup missed their deadline too
                continue
            grace_end = calendar.add_business_hours(lead.accept_by, playbook.backup_grace_for(tier))
            if now < grace_end:
                to_remind.append((lead, grace_end))
            elif lead.backup_owner_id:
                to_pass.append(lead)
            else:
                to_breach.append(lead.id)

        keys = {lead.id: reminder_key("accept_reminder", ("lead", lead.id), lead.primary_owner_id)
                for lead, _ in to_remind}
        sent = sla.existing_keys(session, keys.values())
        fresh = [(lead, grace_end) for lead, grace_end in to_remind if keys[lead.id] not in sent]
        people = {lead.primary_owner_id for lead, _ in fresh}
        for lead in to_pass:
            people.update((lead.primary_owner_id, lead.backup_owner_id, lead.sender_id))
        openings = sla.Openings(session, ctx.client, playbook, people, now)
        views = {v.id: v for v in lead_views(session, [lead for lead, _ in fresh], playbook)}
        reminders = [
            sla.Reminder(key=keys[lead.id], channel=lead.primary_owner_id, kind="accept_reminder",
                         subject=("lead", lead.id), not_before=openings.opening(lead.primary_owner_id),
                         build=lambda v=views[lead.id], at=grace_end, backup=lead.backup_owner_id:
                         texts.accept_reminder(v, next_at=at, backup_id=backup))
            for lead, grace_end in fresh
        ]
        ctx.count("accept_reminders", len(sla.post_reminders(session, reminders, sent=sent, now=ctx.now)))

    passed = 0
    for lead in to_pass:
        with ctx.sessions() as session, session.begin():
            passed += bool(sla.pass_to_backup(session, lead_id=lead.id, playbook=playbook, now=now, openings=openings))
    ctx.count("passed_to_backup", passed)

    if to_breach:
        approvers = _approvers(ctx)
        if approvers is None:
            return
        opened = 0
        for lead_id in to_breach:
            try:
                with ctx.sessions() as session, session.begin():
                    opened += bool(sla.open_sla_breach(session, lead_id=lead_id, playbook=playbook,
                                                       approvers=approvers, now=now))
            except ValidationFailed as failure:  # nobody can decide: a playbook to fix; retried next pass
                log.warning("SLA breach on lead %s not opened: %s", lead_id, failure.errors)
        ctx.count("sla_breaches", opened)


@job("lead_outreach_deadlines")
def outreach_deadlines(ctx: ClockContext) -> None:
    playbook, now = ctx.playbook, ctx.now
    day = _business_day_hours(playbook)
    with ctx.sessions() as session, session.begin():
        rows = session.execute(
            select(Lead, Partner.manager_id).join(Partner, Partner.id == Lead.partner_id)
            .where(Lead.stage.not_in(CLOSED), Lead.accepted_at.is_not(None), Lead.first_outreach_at.is_(None),
                   Lead.first_outreach_by <= now)
            .order_by(Lead.id)
        ).all()
        if not rows:
            return
        wanted = []  # (key, lead, to, kind, next_at)
        for lead, manager_id in rows:
            manager_at = playbook.calendar.add_business_hours(lead.first_outreach_by, day)
            wanted.append((reminder_key("outreach_reminder", ("lead", lead.id), lead.primary_owner_id), lead,
                           lead.primary_owner_id, "outreach_reminder", manager_at))
            if manager_id and now >= manager_at:
                wanted.append((reminder_key("outreach_manager", ("lead", lead.id), manager_id), lead, manager_id,
                               "outreach_manager", None))
        sent = sla.existing_keys(session, (w[0] for w in wanted))
        fresh = [w for w in wanted if w[0] not in sent]
        if not fresh:
            return
        openings = sla.Openings(session, ctx.client, playbook, {w[2] for w in fresh}, now)
        views = {v.id: v for v in lead_views(session, list({w[1].id: w[1] for w in fresh}.values()), playbook)}

        def build(kind, view, next_at):
            if kind == "outreach_reminder":
                return lambda: texts.outreach_reminder(view, next_at=next_at)
            return lambda: texts.outreach_manager_note(view)

        reminders = [sla.Reminder(key=key, channel=to, kind=kind, subject=("lead", lead.id),
                                  not_before=openings.opening(to), build=build(kind, views[lead.id], next_at))
                     for key, lead, to, kind, next_at in fresh]
        ids = sla.post_reminders(session, reminders, sent=sent, now=ctx.now)
        ctx.count("outreach_reminders", len(ids))


@job("lead_refreshes")
def leftover_refreshes(ctx: ClockContext) -> None:
    """Work a handoff left for after its commit (a late conflict check, other leads' cards) whose
    process died before doing it: taken once it is store.handoffs.STALE_SECONDS old."""
    ids = handoffs.settle(ctx.sessions, playbook=ctx.playbook)
    if ids:
        ctx.count("lead_refreshes_settled", len(ids))
