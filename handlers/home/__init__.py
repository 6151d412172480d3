"""The App Home tab: published when a person opens it, when they change its filters or page, and
(Services.deliver) when something of theirs changes. Its buttons for leads, actions and
escalations are the cards' own action ids, so the cards' listeners handle them."""

from __future__ import annotations

from slack_bolt import App

from handlers.errors import answered
from messages.home import scorecard_modal
from messages.ids import Home as Ids
from store import home, metrics, scorecards
from store import clock


def _show(services, user_id: str, **changes) -> None:
    services.show_home(user_id, **changes)


def opened(ack, payload, context) -> None:
    ack()
    event = payload
    if event.get("tab") != "home":
        return
    services = context["services"]
    services.after(lambda: _show(services, event["user"]))


def filter_chosen(ack, body, action, respond, context) -> None:
    ack()
    services = context["services"]
    key = {Ids.FILTER_TYPE: "type", Ids.FILTER_TIER: "tier", Ids.FILTER_MARKET: "market",
           Ids.FILTER_PRODUCT_LINE: "product_line", Ids.FILTER_PERIOD: "period"}[action["action_id"]]
    value = (action.get("selected_option") or {}).get("value") or home.ANY
    services.after(lambda: _show(services, body["user"]["id"], **{key: value}), body=body, respond=respond)


def page_chosen(ack, body, action, respond, context) -> None:
    ack()
    services = context["services"]
    value = action.get("value") or "0"
    page = int(value) if value.isdecimal() and len(value) <= 6 else 0  # isdigit() lets "²" through to int()
    services.after(lambda: _show(services, body["user"]["id"], page=page), body=body, respond=respond)


def scorecard_opened(ack, body, action, client, respond, context) -> None:
    ack()
    services = context["services"]
    partner_text, _, period_text = (action.get("value") or "").partition("|")

    def work() -> None:
        playbook = services.playbook
        try:
            period = metrics.parse_period(period_text, playbook, now=clock.now())
        except ValueError:
            period = metrics.parse_period("", playbook, now=clock.now())
        partner_id = int(partner_text) if partner_text.isdecimal() and len(partner_text) <= 9 else 0
        with services.sessions() as session:
            card = scorecards.scorecard(session, playbook, partner_id, period)
        client.views_open(trigger_id=body["trigger_id"], view=scorecard_modal(card))

    services.after(work, body=body, respond=respond)


def register(app: App) -> None:
    app.event("app_home_opened")(answered(opened))
    for action_id in (Ids.FILTER_TYPE, Ids.FILTER_TIER, Ids.FILTER_MARKET, Ids.FILTER_PRODUCT_LINE,
                      Ids.FILTER_PERIOD):
        app.action(action_id)(answered(filter_chosen))
    for action_id in (Ids.PAGE_PREVIOUS, Ids.PAGE_NEXT, Ids.PAGE):
        app.action(action_id)(answered(page_chosen))
    app.action(Ids.SCORECARD)(answered(scorecard_opened))
