"""/action: the modal with its link type-ahead, the card's Done / Snooze / Reassign, the lists, help."""

from slack_bolt import App

from handlers.errors import answered
from handlers.actions import buttons, command, modal
from messages.ids import Action as Ids


def register(app: App) -> None:
    app.command(Ids.COMMAND)(answered(command.handle))
    app.options(Ids.LINK_SEARCH)(answered(modal.link_options))
    app.view(Ids.MODAL)(answered(modal.submit))
    app.action(Ids.DONE)(answered(buttons.done))
    app.view(Ids.DONE_MODAL)(answered(modal.submit_done))
    app.action(Ids.SNOOZE)(answered(buttons.snooze))
    app.view(Ids.SNOOZE_MODAL)(answered(modal.submit_snooze))
    app.action(Ids.REASSIGN)(answered(buttons.reassign))
    app.view(Ids.REASSIGN_MODAL)(answered(modal.submit_reassign))
