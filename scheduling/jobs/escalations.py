"""Escalations past their level's time limit climb to the next level, or expire after the last one.

One query finds them (the index ix_escalations_status_due); each climbs in its own transaction with
store.escalations.climb, whose conditional UPDATE makes a second clock, or a decision at that
moment, change nothing. User groups are read from Slack once per pass, before any transaction, not once
per escalation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select

from scheduling.jobs import ClockContext, job
from store import escalations
from store.models import Escalation

log = logging.getLogger("partnerbot.clock")


def _resolver(ctx: ClockContext) -> escalations.Resolver:
    """Every level's approvers, read from Slack once per pass and before any transaction opens; the
    resolver the climbs get only looks them up (a level Slack could not tell about raises then)."""
    known: dict[tuple[str, ...], list[str] | escalations.ApproversUnavailable] = {}
    for level in ctx.playbook.escalation.levels:
        key = tuple(level.approvers)
        if key not in known:
            try:
                known[key] = ctx.resolve_approvers(level.approvers)
            except escalations.ApproversUnavailable as unavailable:
                known[key] = unavailable

    def resolved(entries: Sequence[str]) -> list[str]:
        found = known.get(tuple(entries))
        if found is None:  # not a level of this playbook: nothing to read from Slack
            return escalations.expand_approvers(entries, {})
        if isinstance(found, escalations.ApproversUnavailable):
            raise found
        return list(found)

    return resolved


@job("escalation_time_limits")
def run(ctx: ClockContext) -> None:
    with ctx.sessions() as session:
        due = session.scalars(
            select(Escalation.id).where(Escalation.status == "pending", Escalation.level_due_at <= ctx.now)
            .order_by(Escalation.level_due_at, Escalation.id)
        ).all()
    if not due:
        return
    resolve = _resolver(ctx)
    climbed = 0
    for escalation_id in due:
        try:
            with ctx.sessions() as session, session.begin():
                climbed += escalations.climb(session, escalation_id=escalation_id, playbook=ctx.playbook,
                                             resolve_approvers=resolve, now=ctx.now)
        except escalations.ApproversUnavailable as error:  # Slack could not list a group: try next pass
            log.warning("escalation %s waits to climb: %s", escalation_id, error.errors)
    ctx.count("escalations_climbed", climbed)
