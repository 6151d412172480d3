"""`/action [title] | list [@person | partner NAME] | help`."""

from __future__ import annotations

from messages import actions as views
from messages.prose import help_message
from messages.fields import command_text
from store import actions
from store import clock


def handle(ack, body, command, client, respond, context) -> None:
    ack()
    services = context["services"]
    text = command_text(command)
    word, _, rest = text.partition(" ")
    word = word.lower()

    def work() -> None:
        if word == "help":
            respond(**help_message("action", timezone=services.playbook.timezone))
        elif word == "list":
            respond(**list_for(services, command["user_id"], rest.strip()))
        else:
            client.views_open(trigger_id=command["trigger_id"],
                              view=views.action_modal(caller_id=command["user_id"], title=text[:200],
                                                      today=actions.today_in(services.playbook)))

    services.after(work, body=body, respond=respond)


def list_for(services, user_id: str, rest: str) -> dict:
    """`list` (mine), `list @person`, `list partner NAME`: one query whichever it is."""
    now = clock.now()
    with services.sessions() as session:
        found = actions.list_for(session, caller_id=user_id, rest=rest, playbook=services.playbook)
    return views.list_message(found, caller_id=user_id, today=actions.today_in(services.playbook, now), now=now)
