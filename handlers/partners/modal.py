"""The add-partner modal's submission: who may add partners is the store's to say (a refusal is shown
on the form, naming who can); bad fields are inline errors."""

from __future__ import annotations

from messages.fields import read_state
from messages.ids import Partner as Ids
from messages.text import inline_text
from store import events, partners
from store.errors import NotAllowed, ValidationFailed


def submit(ack, body, view, context) -> None:
    services = context["services"]
    form = read_state(view["state"]["values"])
    try:
        with services.transaction() as session:
            partners.add_partner(session, form=form, actor_id=body["user"]["id"], playbook=services.playbook)
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    except NotAllowed as refusal:
        ack(response_action="errors", errors={Ids.NAME: inline_text(str(refusal))})
        return
    ids = events.written(session)
    ack()
    services.after(lambda: services.deliver(ids))
