"""/partner: add (modal), list, help; issue (modal), issues, history."""

from slack_bolt import App

from handlers.errors import answered
from handlers.partners import command, issues, modal
from messages.ids import Issue as IssueIds
from messages.ids import Partner as Ids


def register(app: App) -> None:
    app.command(Ids.COMMAND)(answered(command.handle))
    app.view(Ids.MODAL)(answered(modal.submit))
    app.view(IssueIds.MODAL)(answered(issues.submit))
