"""/escalate and the Escalate button: the request modal, Approve / Reject / a predefined response, Withdraw."""

from slack_bolt import App

from handlers.errors import answered
from handlers.escalations import buttons, command, modal
from messages.ids import Escalation as Ids


def register(app: App) -> None:
    app.command(Ids.COMMAND)(answered(command.handle))
    app.action(Ids.OPEN)(answered(buttons.open_request))
    app.view(Ids.MODAL)(answered(modal.submit))
    app.action(Ids.APPROVE)(answered(buttons.approve))
    app.action(Ids.REJECT)(answered(buttons.reject))
    app.action(Ids.RESPOND)(answered(buttons.respond_with))
    app.view(Ids.DECIDE_MODAL)(answered(modal.submit_decision))
    app.action(Ids.WITHDRAW)(answered(buttons.withdraw))
