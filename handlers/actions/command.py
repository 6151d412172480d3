"""`/action [title] | list [@person | partner NAME] | help`."""

from __future__ import annotations

from messages import actions as views
from messages.prose import help_message
from messages.text import escape, unescape, user
from store import actions, issues
from store.errors import NotFound
from store.models import utcnow


def handle(ack, body, command, client, respond, context) -> None:
    ack()
    services = context["services"]
    text = unescape(command.get("text")).strip()
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
    playbook, now = services.playbook, utcnow()
    first, _, name = rest.partition(" ")
    with services.sessions() as session:
        if first.lower() == "partner":
            partner = issues.partner_named(session, name)
            found, total = actions.open_actions(session, playbook=playbook, partner_id=partner.id)
            heading = f"Open actions on {escape(partner.name)} ({total})"
            empty = f"No open actions on *{escape(partner.name)}*. Create one with `/action`."
            mine = False
        elif rest:
            owner = actions.parse_user(rest)
            if owner is None:
                raise NotFound(f"I can't tell who “{escape(rest[:100])}” is. Mention them (type @ and pick the person): "
                               "`/action list @name`, or name a partner: `/action list partner NAME`.")
            found, total = actions.open_actions(session, playbook=playbook, owner_id=owner)
            mine = owner == user_id
            heading = f"Open actions of {user(owner)} ({total})"
            empty = f"{user(owner)} has no open actions."
        else:
            found, total = actions.open_actions(session, playbook=playbook, owner_id=user_id)
            mine = True
            heading = f"Your open actions ({total})"
            empty = "You have no open actions. Create one with `/action`."
    return views.actions_list(found, total=total, heading=heading, empty=empty, mine=mine,
                              today=actions.today_in(playbook, now), now=now)
