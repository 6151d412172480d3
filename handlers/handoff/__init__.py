"""/handoff: the modal, the partner type-ahead, Accept / Decline / Log first outreach, the list."""

from slack_bolt import App

from handlers.handoff import buttons, command, modal
from messages.ids import Handoff as Ids


def register(app: App) -> None:
    app.command(Ids.COMMAND)(command.handle)
    app.options(Ids.PARTNER_SEARCH)(modal.partner_options)
    app.view(Ids.MODAL)(modal.submit)
    app.view(Ids.DECLINE_MODAL)(modal.submit_decline)
    app.action(Ids.ACCEPT)(buttons.accept)
    app.action(Ids.DECLINE)(buttons.decline)
    app.action(Ids.LOG_OUTREACH)(buttons.log_outreach)
