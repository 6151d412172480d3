"""`/partner scorecard NAME [period]` and `/partner baseline NAME [period | default]`."""

from __future__ import annotations

from messages import scorecards as views
from messages.text import escape
from store import metrics, scorecards
from store.errors import ValidationFailed
from store.issues import partner_named
from store import clock


def scorecard(rest, command, client, respond, services) -> None:
    with services.sessions() as session:
        message = _scorecard(session, rest, services.playbook)
    respond(**message)  # Slack is answered once the session is closed, never while it holds the database


def _scorecard(session, rest: str, playbook) -> dict:
    name, period_text = scorecards.split_name_and_period(session, rest, playbook)
    if not name:
        return _private("Name the partner, e.g. `/partner scorecard Globex Partners` "
                        "or `/partner scorecard Globex Partners last quarter`.")
    partner = partner_named(session, name)
    try:
        period = metrics.parse_period(period_text, playbook, now=clock.now())
    except ValueError as problem:
        return _private(f"{escape(str(problem))}.")
    return views.scorecard_message(scorecards.scorecard(session, playbook, partner.id, period))


def baseline(rest, command, client, respond, services) -> None:
    with services.transaction() as session:
        message = _baseline(session, rest, services.playbook, user_id=command["user_id"])
    respond(**message)  # after the commit: the baseline is kept before anyone is told it is


def _baseline(session, rest: str, playbook, *, user_id: str) -> dict:
    name, period_text = scorecards.split_name_and_period(session, rest, playbook)
    if not name:
        return _private("Name the partner and a period that is over, e.g. "
                        "`/partner baseline Globex Partners 2026-Q1`, or `default` for its first full quarter.")
    partner = partner_named(session, name)
    if not period_text:
        period, chosen = scorecards.baseline_of(session, playbook, partner)
        return views.baseline_message(partner.name, period, chosen=chosen)
    try:
        chosen = scorecards.set_baseline(session, playbook, partner=partner, text=period_text, actor_id=user_id)
    except ValidationFailed as failure:
        return _private(f"{escape(failure.errors['period'])}")
    return views.baseline_set_message(partner.name, chosen)


def _private(text: str) -> dict:
    return {"response_type": "ephemeral", "text": text}
