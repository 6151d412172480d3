"""The add-partner modal's submission."""

from __future__ import annotations

from messages.fields import read_state
from store import partners
from store.errors import ValidationFailed


def submit(ack, body, view, context) -> None:
    services = context["services"]
    form = read_state(view["state"]["values"])
    try:
        draft = partners.validate_partner(form, playbook=services.playbook)
        with services.transaction() as session:
            _partner, ids = partners.add_partner(session, draft=draft, actor_id=body["user"]["id"])
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    ack()
    services.after(lambda: services.deliver(ids))
