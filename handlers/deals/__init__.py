"""Working a deal: Update stage (modal with the chosen stage's checklist, questions, amount or
reason), and the owners' debriefs after a close."""

from slack_bolt import App

from handlers.errors import answered
from handlers.deals import buttons, modal
from messages.ids import Deal as Ids


def register(app: App) -> None:
    app.action(Ids.UPDATE_STAGE)(answered(buttons.update_stage))
    app.action(Ids.STAGE_PICK)(answered(modal.stage_picked))
    app.view(Ids.STAGE_MODAL)(answered(modal.submit_stage))
    app.action(Ids.DEBRIEF)(answered(buttons.debrief))
    app.view(Ids.DEBRIEF_MODAL)(answered(modal.submit_debrief))
