"""`/partner issue NAME` (the modal and its submission) and `/partner issues NAME`."""

from __future__ import annotations


from messages import issues as views
from messages.fields import metadata_id, read_state
from store import events, issues
from store.errors import ValidationFailed


def issue(rest, command, client, respond, services) -> None:
    with services.sessions() as session:
        partner = issues.partner_named(session, rest)
        modal = views.issue_modal(partner_id=partner.id, partner_name=partner.name)
    client.views_open(trigger_id=command["trigger_id"], view=modal)


def issues_list(rest, command, client, respond, services) -> None:
    with services.sessions() as session:
        partner = issues.partner_named(session, rest)
        found, total = issues.issues_of(session, partner)
    respond(**views.issues_list(found, total=total, partner=partner.name))


def submit(ack, body, view, context) -> None:
    services = context["services"]
    partner_id = metadata_id(view, "partner_id")
    try:
        draft = issues.validate_issue(read_state(view["state"]["values"]))
        with services.transaction() as session:
            issues.create_issue(session, partner_id=partner_id, draft=draft, creator_id=body["user"]["id"])
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    ids = events.written(session)
    ack()
    services.after(lambda: services.deliver(ids))
