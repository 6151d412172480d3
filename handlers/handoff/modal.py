"""The handoff modal's submission, the partner type-ahead and the decline reason."""

from __future__ import annotations


from messages.text import inline_text
from messages import handoff as views
from messages.fields import metadata_id, read_state, typed
from messages.ids import Handoff as Ids
from store import events, handoffs, partners
from store.errors import AlreadyDone, NotAllowed, NotFound, ValidationFailed


def partner_options(ack, payload, context) -> None:
    services = context["services"]
    with services.sessions() as session:
        found = partners.search(session, typed(payload))
    ack(**views.partner_options(found))


def submit(ack, body, view, context) -> None:
    services = context["services"]
    form = read_state(view["state"]["values"])
    form["consent"] = "yes" in (form.get(Ids.CONSENT) or [])
    try:
        draft = handoffs.validate_draft(form, playbook=services.playbook)
        with services.transaction() as session:
            result = handoffs.create_handoff(session, draft=draft, sender_id=body["user"]["id"], playbook=services.playbook,
                                             settle_later=True)
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    ids = events.written(session)
    ack()
    services.after(lambda: handoffs.after_commit(services.sessions, services.playbook, result, ids, services.deliver))


def submit_decline(ack, body, view, context) -> None:
    services = context["services"]
    lead_id = metadata_id(view, "lead_id")
    reason = read_state(view["state"]["values"]).get(Ids.REASON) or ""
    try:
        with services.transaction() as session:
            handoffs.decline_lead(session, lead_id=lead_id, user_id=body["user"]["id"], reason=reason,
                                  playbook=services.playbook)
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    except (NotAllowed, AlreadyDone, NotFound) as refusal:
        ack(response_action="errors", errors={Ids.REASON: inline_text(str(refusal))})
        return
    ids = events.written(session)
    ack()
    services.after(lambda: services.deliver(ids))


