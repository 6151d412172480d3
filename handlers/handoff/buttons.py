"""Accept, Decline and Log first outreach on a lead card. Each acks at once; the decision is taken
right after the answer (Services.after), and a refusal reaches the presser as an ephemeral reply."""

from __future__ import annotations

from messages import handoff as views
from messages.fields import id_from
from store import events, handoffs


def _decide(operation):
    def listener(ack, body, action, respond, context) -> None:
        ack()
        services = context["services"]

        def work() -> None:
            with services.transaction() as session:
                operation(session, lead_id=id_from(action.get("value")), user_id=body["user"]["id"],
                          playbook=services.playbook)
            services.deliver(events.written(session))

        services.after(work, body=body, respond=respond)

    listener.__name__ = listener.__qualname__ = operation.__name__
    return listener


accept = _decide(handoffs.accept_lead)
log_outreach = _decide(handoffs.log_first_outreach)


def decline(ack, body, action, client, respond, context) -> None:
    ack()
    services = context["services"]

    def work() -> None:
        with services.sessions() as session:
            lead = handoffs.check_can_decide(session, lead_id=id_from(action.get("value")), user_id=body["user"]["id"],
                                             playbook=services.playbook)
            view = handoffs.lead_view(session, lead, services.playbook)
        client.views_open(trigger_id=body["trigger_id"], view=views.decline_modal(view))

    services.after(work, body=body, respond=respond)
