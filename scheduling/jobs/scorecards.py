"""Keep the settled periods the App Home offers (last month, last quarter, and the ones before them
that the trend compares with) computed ahead, so the first manager to open the Home after a month
ends reads kept figures instead of computing 1,000 partners' quarter. Cheap once kept: one lookup
of the periods' markers per pass."""

from __future__ import annotations

from scheduling.jobs import ClockContext, job
from store import metrics


def home_periods(playbook, now) -> list[metrics.Period]:
    last_month = metrics.parse_period("last month", playbook, now=now)
    last_quarter = metrics.parse_period("last quarter", playbook, now=now)
    return [last_month, metrics.previous_period(playbook, last_month),
            last_quarter, metrics.previous_period(playbook, last_quarter)]


@job("settled_scorecards")
def run(ctx: ClockContext) -> None:
    periods = [p for p in home_periods(ctx.playbook, ctx.now) if metrics.is_settled(p, ctx.now)]
    # a session of its own, not in a job transaction: keeping commits (see metrics._keep_rows)
    with ctx.sessions() as session:
        missing = [p for p, kept in zip(periods, metrics.read_settled(session, periods, [])) if kept is None]
        if missing:
            metrics.figures(session, missing, cache=True, now=ctx.now)
            metrics.first_leads(session, None, cache=True)
            ctx.count("settled periods kept", len(missing))
