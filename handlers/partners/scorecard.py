"""`/partner scorecard NAME [period]` and `/partner baseline NAME [period | default]`."""

from __future__ import annotations

from messages import scorecards as views
from messages.text import escape
from store import metrics, scorecards
from store.errors import ValidationFailed
from store.issues import partner_named
from store import clock


def scorecard(rest, command, client, respond, services) -> None:
    playbook = services.playbook
    with services.sessions() as session:
        name, period_text = scorecards.split_name_and_period(session, rest, playbook)
        if not name:
            respond(response_type="ephemeral", text="Name the partner, e.g. `/partner scorecard Globex Partners` "
                    "or `/partner scorecard Globex Partners last quarter`.")
            return
        partner = partner_named(session, name)
        try:
            period = metrics.parse_period(period_text, playbook, now=clock.now())
        except ValueError as problem:
            respond(response_type="ephemeral", text=f"{escape(str(problem))}.")
            return
        card = scorecards.scorecard(session, playbook, partner.id, period)
    respond(**views.scorecard_message(card))


def baseline(rest, command, client, respond, services) -> None:
    playbook = services.playbook
    user_id = command["user_id"]
    with services.transaction() as session:
        name, period_text = scorecards.split_name_and_period(session, rest, playbook)
        if not name:
            respond(response_type="ephemeral", text="Name the partner and a period that is over, e.g. "
                    "`/partner baseline Globex Partners 2026-Q1`, or `default` for its first full quarter.")
            return
        partner = partner_named(session, name)
        if not period_text:
            partners = scorecards.partner_infos(session, [partner.id])
            own = scorecards.baseline_overrides(playbook, partners.values())
            found = metrics.baseline_periods(session, playbook, as_of=clock.now(), partner_ids=[partner.id],
                                             overrides=own)
            respond(**views.baseline_message(partner.name, found.get(partner.id), chosen=bool(own)))
            return
        try:
            chosen = scorecards.set_baseline(session, playbook, partner=partner, text=period_text, actor_id=user_id)
        except ValidationFailed as failure:
            respond(response_type="ephemeral", text=f"{escape(failure.errors['period'])}")
            return
        name = partner.name
    respond(**views.baseline_set_message(name, chosen))
