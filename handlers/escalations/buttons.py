"""Escalate (opens the request modal), Approve / Reject / a predefined response (open the decide modal after
the permission check), and Withdraw. Each acks at once; the rest runs after the answer (Services.after)."""

from __future__ import annotations

from messages import escalations as views
from messages.fields import id_from, number
from store import escalations, events


def open_modal(services, client, trigger_id: str, link: escalations.Link, *, text: str = "") -> None:
    with services.sessions() as session:
        start = escalations.prefill(session, link, services.playbook, text=text)
    kinds = [(k.key, k.name) for k in services.playbook.escalation.requests]
    client.views_open(trigger_id=trigger_id, view=views.request_modal(
        kinds=kinds, about=start.about, kind=start.kind, lead_id=start.lead_id, action_id=start.action_id))


def open_request(ack, body, action, client, respond, context) -> None:
    ack()
    services = context["services"]
    kind, _, number_text = (action.get("value") or "").partition(":")
    # An id no row can have links to nothing (as a value that is no number always has): a blank request.
    link = escalations.parse_link(f"{kind}:{number_text}" if id_from(number_text) else "")
    services.after(lambda: open_modal(services, client, body["trigger_id"], link), body=body, respond=respond)


def _open_decision(decision: str, value: str | None, body, client, respond, services) -> None:
    """`value` is `<escalation id>:<level>[:<response index>]`; an id no row has is NotFound."""
    parts = (value or "").split(":")
    escalation_id = id_from(parts[0])
    level = number(parts[1]) if len(parts) > 1 else 0
    response = number(parts[2], None) if len(parts) > 2 else None

    def work() -> None:
        with services.sessions() as session:
            escalation = escalations.check_can_decide(session, escalation_id=escalation_id, level=level,
                                                      user_id=body["user"]["id"], playbook=services.playbook)
            view = escalations.escalation_view(session, escalation, services.playbook)
        client.views_open(trigger_id=body["trigger_id"],
                          view=views.decide_modal(view, decision=decision, level=level, response=response))

    services.after(work, body=body, respond=respond)


def approve(ack, body, action, client, respond, context) -> None:
    ack()
    _open_decision("approve", action.get("value"), body, client, respond, context["services"])


def reject(ack, body, action, client, respond, context) -> None:
    ack()
    _open_decision("reject", action.get("value"), body, client, respond, context["services"])


def respond_with(ack, body, action, client, respond, context) -> None:
    """The card's "Approve with a response…" select: the decide modal with that response chosen."""
    ack()
    chosen = (action.get("selected_option") or {}).get("value")
    _open_decision("approve", chosen, body, client, respond, context["services"])


def withdraw(ack, body, action, respond, context) -> None:
    ack()
    services = context["services"]

    def work() -> None:
        with services.transaction() as session:
            escalations.withdraw(session, escalation_id=id_from(action.get("value")), user_id=body["user"]["id"],
                                 playbook=services.playbook)
        services.deliver(events.written(session))

    services.after(work, body=body, respond=respond)
