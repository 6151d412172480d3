"""`/partner add [name] | list [filter] | help`, routed through a table."""

from __future__ import annotations

from messages import partners as views
from messages.prose import help_message
from messages.fields import command_text
from messages.text import escape, truncate
from handlers.partners import history as audit_history
from handlers.partners import issues as issue_modal
from handlers.partners import scorecard as scorecards
from store import partners, permissions


def _add(rest, command, client, respond, services) -> None:
    playbook = services.playbook
    with services.sessions() as session:  # refused (ephemeral, naming who can) before the form opens
        permissions.require_partner_editor(session, command["user_id"], playbook=playbook)
    client.views_open(trigger_id=command["trigger_id"],
                      view=views.add_partner_modal(name=rest[:200], partner_types=playbook.partner_types,
                                                   tiers=playbook.tiers, product_lines=playbook.product_lines))


def _list(rest, command, client, respond, services) -> None:
    with services.sessions() as session:
        found, total = partners.list_partners(session, query=rest)
        message = views.partner_list(found, total=total, query=rest)
    respond(**message)


def _help(rest, command, client, respond, services) -> None:
    respond(**help_message("partner", types=services.playbook.partner_types, tiers=services.playbook.tiers))


SUBCOMMANDS = {"add": _add, "list": _list, "help": _help, "": _help,
               "issue": issue_modal.issue, "issues": issue_modal.issues_list, "history": audit_history.history,
               "scorecard": scorecards.scorecard, "baseline": scorecards.baseline}


def handle(ack, body, command, client, respond, context) -> None:
    ack()
    text = command_text(command)
    word, _, rest = text.partition(" ")
    route = SUBCOMMANDS.get(word.lower())
    if route is None:
        message = help_message("partner", types=context["services"].playbook.partner_types,
                               tiers=context["services"].playbook.tiers)
        message["text"] = f"I don't know `/partner {escape(truncate(word, 40))}`.\n\n" + message["text"]
        message["blocks"][0]["text"]["text"] = message["text"]
        context["services"].after(lambda: respond(**message), body=body, respond=respond)
        return
    services = context["services"]
    services.after(lambda: route(rest.strip(), command, client, respond, services), body=body, respond=respond)
