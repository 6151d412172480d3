"""`/handoff [company] | list | help`."""

from __future__ import annotations

from messages import handoff as views
from messages.prose import help_message
from messages.fields import command_text
from store import handoffs


def handle(ack, body, command, client, respond, context) -> None:
    ack()
    services = context["services"]
    text = command_text(command)
    word = text.split(maxsplit=1)[0].lower() if text else ""

    def work() -> None:
        if word == "help":
            respond(**help_text(services.playbook))
        elif word == "list":
            respond(**list_for(services, command["user_id"]))
        else:
            client.views_open(trigger_id=command["trigger_id"],
                              view=views.handoff_modal(company=text[:200], product_lines=services.playbook.product_lines,
                                                       channel_id=command.get("channel_id")))

    services.after(work, body=body, respond=respond)


def list_for(services, user_id: str) -> dict:
    with services.sessions() as session:
        leads, total = handoffs.open_leads_for(session, user_id)
        listed = handoffs.lead_views(session, leads, services.playbook)
    return views.leads_list(listed, total=total, user_id=user_id)


def help_text(playbook) -> dict:
    sla = playbook.sla_for(None)
    hours = playbook.business_hours
    days = ", ".join(d.capitalize() for d in hours.days)
    return help_message(
        "handoff",
        accept_hours=_num(sla.accept_within_hours),
        outreach_hours=_num(sla.first_outreach_within_hours),
        hours=f"{days} {hours.start:%H:%M}–{hours.end:%H:%M}",
        timezone=playbook.timezone,
        window_days=playbook.conflicts.protection_window_days,
    )


def _num(value: float) -> str:
    return f"{value:g}"
