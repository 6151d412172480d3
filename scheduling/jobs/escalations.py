"""Escalations past their level's time limit climb to the next level, or expire after the last one.

One query finds them (the index ix_escalations_status_due); each climbs in its own transaction with
store.escalations.climb, whose conditional UPDATE makes a second clock, or a decision at that
moment, change nothing. User groups are read from Slack once per pass, not once per escalation.
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
    resolve = (escalations.slack_resolver(ctx.client) if ctx.client is not None
               else lambda entries: escalations.expand_approvers(entries, {}))
    cache: dict[tuple[str, ...], list[str]] = {}

    def cached(entries: Sequence[str]) -> list[str]:
        key = tuple(entries)
        if key not in cache:
            cache[key] = resolve(entries)
        return list(cache[key])

    return cached


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
