"""Update stage (lead card, /handoff list) and Write debrief (debrief request). Each acks at once;
the permission check and views.open run right after the answer, and a refusal reaches the
presser as an ephemeral reply."""

from __future__ import annotations

from messages import deals as views
from messages.fields import id_from
from store import deals, handoffs


def update_stage(ack, body, action, client, respond, context) -> None:
    ack()
    services = context["services"]

    def work() -> None:
        with services.sessions() as session:
            lead = deals.check_can_update_stage(session, lead_id=id_from(action.get("value")), user_id=body["user"]["id"],
                                                playbook=services.playbook)
            view = handoffs.lead_view(session, lead, services.playbook)
            stages = deals.stage_targets(lead.stage, services.playbook)
        client.views_open(trigger_id=body["trigger_id"], view=views.stage_modal(view, stages=stages))

    services.after(work, body=body, respond=respond)


def debrief(ack, body, action, client, respond, context) -> None:
    ack()
    services = context["services"]

    def work() -> None:
        with services.sessions() as session:
            lead, existing = deals.check_can_debrief(session, lead_id=id_from(action.get("value")), user_id=body["user"]["id"])
            view = handoffs.lead_view(session, lead, services.playbook)
        client.views_open(trigger_id=body["trigger_id"], view=views.debrief_modal(view, existing=existing))

    services.after(work, body=body, respond=respond)
