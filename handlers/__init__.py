"""handlers/ holds the listeners, one folder per feature (handoff/, deals/, actions/, escalations/,
partners/, home/); each folder's register(app) wires its ids (messages/ids.py) to functions.

A listener acks, parses what Slack sent (messages/fields.py), calls one store/ operation in a unit of
work, and answers: a modal, an inline error, a private reply. Slow work and delivery go to
`services.after`; refusals are typed errors that handlers/errors.py answers in one place. A listener that
grows a second screen of code has logic that belongs in store/ or messages/.

handlers/errors.py is the one place refusals and failures are answered (bot/app.py registers its error
handler). May import: messages/, store/, slack_bolt. May not import: bot/, scheduling/.
"""

from slack_bolt import App


def register_all(app: App) -> None:
    from handlers import actions, deals, escalations, handoff, home, partners

    handoff.register(app)
    partners.register(app)
    home.register(app)
    deals.register(app)
    actions.register(app)
    escalations.register(app)
