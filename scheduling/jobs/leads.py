"""Lead deadlines: the clock finds what is due with store.sla's rules and calls the store's operations.

- `lead_accept_deadlines`: handoffs past their accept-by (store.sla.accepts_due): inside the grace a
  reminder to the owner (remind_to_accept), after it a pass to the backup (pass_to_backup), then an
  SLA-breach escalation (open_sla_breach) — each change in its own transaction.
- `lead_outreach_deadlines`: accepted leads without a first outreach (store.sla.outreach_due): the
  owner, then, a business day later, the partner manager (remind_outreach).
- `lead_refreshes`: what a handoff's process left for after its commit and died before doing
  (store.handoffs.settle), once it is stale.

Each kind is found with one query; zones, views and the keys already sent are loaded in bulk; the
reminders are recorded at most once in multi-row INSERTs, so the statements of a pass do not grow
with the reminders (only with the store operations of the rare leads that change hands or breach).
The counts are the outbox rows each commit wrote (events.written).
"""

from __future__ import annotations

import logging

from scheduling.jobs import ClockContext, job, with_zones
from store import escalations, handoffs, sla
from store.errors import ValidationFailed

log = logging.getLogger("partnerbot.clock")


def _approvers(ctx: ClockContext) -> list[str] | None:
    """Level 1's approvers, user groups expanded, once per pass (as the request handler resolves them)."""
    level = ctx.playbook.escalation.levels[0]
    try:
        return ctx.resolve_approvers(level.approvers)
    except escalations.ApproversUnavailable as error:
        log.warning("SLA breaches wait: %s", error.errors)
        return None


@job("lead_accept_deadlines")
def accept_deadlines(ctx: ClockContext) -> None:
    playbook, now = ctx.playbook, ctx.now
    pass_ = with_zones(ctx, find=lambda session: sla.accepts_due(session, playbook=playbook, now=now),
                       people=lambda due: due.people,
                       work=lambda session, due, openings: sla.remind_to_accept(session, due.remind, playbook=playbook,
                                                                                 openings=openings))
    if pass_ is None:
        return
    due, openings, written = pass_
    ctx.count("accept_reminders", len(written))

    passed = 0
    for lead in due.to_backup:
        with ctx.sessions() as session, session.begin():
            passed += sla.pass_to_backup(session, lead_id=lead.id, playbook=playbook, now=now, openings=openings)
    ctx.count("passed_to_backup", passed)

    if due.breach:
        approvers = _approvers(ctx)
        if approvers is None:
            return
        opened = 0
        for lead_id in due.breach:
            try:
                with ctx.sessions() as session, session.begin():
                    opened += sla.open_sla_breach(session, lead_id=lead_id, playbook=playbook,
                                                  approvers=approvers, now=now)
            except ValidationFailed as failure:  # nobody can decide: a playbook to fix; retried next pass
                log.warning("SLA breach on lead %s not opened: %s", lead_id, failure.errors)
        ctx.count("sla_breaches", opened)


@job("lead_outreach_deadlines")
def outreach_deadlines(ctx: ClockContext) -> None:
    playbook, now = ctx.playbook, ctx.now
    pass_ = with_zones(ctx, find=lambda session: sla.outreach_due(session, playbook=playbook, now=now) or None,
                       people=lambda due: {d.to for d in due},
                       work=lambda session, due, openings: sla.remind_outreach(session, due, playbook=playbook,
                                                                               openings=openings))
    if pass_ is not None:
        ctx.count("outreach_reminders", len(pass_[2]))


@job("lead_refreshes")
def leftover_refreshes(ctx: ClockContext) -> None:
    """Work a handoff left for after its commit (a late conflict check, other leads' cards) whose
    process died before doing it: taken once it is store.handoffs.STALE_SECONDS old."""
    ids = handoffs.settle(ctx.sessions, playbook=ctx.playbook)
    if ids:
        ctx.count("lead_refreshes_settled", len(ids))
