"""Accept, Decline and Log first outreach on a lead card. Refusals reach the presser as an
ephemeral message through bot.errors.answered."""

from __future__ import annotations

from messages import handoff as views
from store import handoffs


def _lead_id(action: dict) -> int:
    return int(action["value"])


def accept(ack, body, action, context) -> None:
    ack()
    services = context["services"]
    with services.transaction() as session:
        ids = handoffs.accept_lead(session, lead_id=_lead_id(action), user_id=body["user"]["id"], playbook=services.playbook)
    services.deliver(ids)


def decline(ack, body, action, client, context) -> None:
    ack()
    services = context["services"]
    with services.sessions() as session:
        lead = handoffs.check_can_decide(session, lead_id=_lead_id(action), user_id=body["user"]["id"],
                                         playbook=services.playbook)
        view = handoffs.lead_view(session, lead, services.playbook)
    client.views_open(trigger_id=body["trigger_id"], view=views.decline_modal(view))


def log_outreach(ack, body, action, context) -> None:
    ack()
    services = context["services"]
    with services.transaction() as session:
        ids = handoffs.log_first_outreach(session, lead_id=_lead_id(action), user_id=body["user"]["id"],
                                          playbook=services.playbook)
    services.deliver(ids)
