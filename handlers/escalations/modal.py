"""The request modal's submission (approvers resolved from Slack before saving) and the decide modal's."""

from __future__ import annotations


from messages.fields import id_from, number, read_metadata, read_state
from messages.text import inline_text
from messages.ids import Escalation as Ids
from store import escalations, events
from store.errors import AlreadyDone, NotAllowed, NotFound, ValidationFailed


def _metadata(view) -> dict:
    return read_metadata(view)


def _number(value) -> int | None:
    return id_from(value) or None


def submit(ack, body, view, client, context) -> None:
    services = context["services"]
    meta = _metadata(view)
    form = read_state(view["state"]["values"])
    try:
        draft = escalations.validate_request(form, playbook=services.playbook, lead_id=_number(meta.get("lead_id")),
                                             action_id=_number(meta.get("action_id")))
        # Slack first (user groups), outside the transaction: a failure is an inline error and saves nothing.
        first = services.playbook.escalation.levels[0]
        approvers = services.slack.resolve_approvers(first.approvers)
        with services.transaction() as session:
            escalations.raise_escalation(session, draft=draft, requester_id=body["user"]["id"],
                                         playbook=services.playbook, approvers=approvers)
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    ids = events.written(session)
    ack()
    services.after(lambda: services.deliver(ids))


def submit_decision(ack, body, view, context) -> None:
    services = context["services"]
    meta = _metadata(view)
    form = read_state(view["state"]["values"])
    response = form.get(Ids.RESPONSE)
    try:
        with services.transaction() as session:
            escalations.decide(
                session, escalation_id=id_from(meta.get("escalation_id")), level=number(meta.get("level")),
                user_id=body["user"]["id"], decision=meta.get("decision") if meta.get("decision") == "reject" else "approve",
                note=form.get(Ids.NOTE), response=number(response, None),
                playbook=services.playbook)
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    except (NotAllowed, AlreadyDone, NotFound) as refusal:
        ack(response_action="errors", errors={Ids.NOTE: inline_text(str(refusal))})
        return
    ids = events.written(session)
    ack()
    services.after(lambda: services.deliver(ids))
