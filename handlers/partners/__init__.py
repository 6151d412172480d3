"""/partner: add (modal), list, help."""

from slack_bolt import App

from handlers.partners import command, modal
from messages.ids import Partner as Ids


def register(app: App) -> None:
    app.command(Ids.COMMAND)(command.handle)
    app.view(Ids.MODAL)(modal.submit)
