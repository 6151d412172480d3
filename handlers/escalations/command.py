"""`/escalate [what it is about | L-1001 | A-1001] | help`."""

from __future__ import annotations

from handlers.escalations.buttons import open_modal
from messages.prose import help_message
from messages.fields import command_text
from store import escalations


def handle(ack, body, command, client, respond, context) -> None:
    ack()
    services = context["services"]
    text = command_text(command)

    def work() -> None:
        if text.lower() in ("help", "?"):
            respond(**help_text(services.playbook))
            return
        parsed = escalations.parse_ref(text)  # an unknown L-/A- reference is NotFound: an ephemeral answer
        link, rest = parsed if parsed else (escalations.Link(), text)
        open_modal(services, client, command["trigger_id"], link, text=rest[:300])

    services.after(work, body=body, respond=respond)


def help_text(playbook) -> dict:
    ladder = playbook.escalation
    return help_message(
        "escalate",
        requests=[(k.name, list(k.responses)) for k in ladder.requests],
        levels=[(level.name, f"{level.time_limit_hours:g}", bool(level.approvers)) for level in ladder.levels],
        channel=ladder.channel,
    )
