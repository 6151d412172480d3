"""Listeners, one folder per feature; each folder's register(app) wires its ids to functions."""

from slack_bolt import App


def register_all(app: App) -> None:
    from handlers import actions, deals, escalations, handoff, home, partners

    handoff.register(app)
    partners.register(app)
    home.register(app)
    deals.register(app)
    actions.register(app)
    escalations.register(app)
