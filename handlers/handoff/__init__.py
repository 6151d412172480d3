"""/handoff: the modal, the partner type-ahead, Accept / Decline / Log first outreach, the list."""

from slack_bolt import App

from handlers.errors import answered
from handlers.handoff import buttons, command, modal
from messages.ids import Handoff as Ids


def register(app: App) -> None:
    app.command(Ids.COMMAND)(answered(command.handle))
    app.options(Ids.PARTNER_SEARCH)(answered(modal.partner_options))
    app.view(Ids.MODAL)(answered(modal.submit))
    app.view(Ids.DECLINE_MODAL)(answered(modal.submit_decline))
    app.action(Ids.ACCEPT)(answered(buttons.accept))
    app.action(Ids.DECLINE)(answered(buttons.decline))
    app.action(Ids.LOG_OUTREACH)(answered(buttons.log_outreach))
