"""The stage modal: picking a stage redraws it with that stage's fields (views.update); submitting
validates and saves before the answer, so nothing typed is lost. And the debrief modal."""

from __future__ import annotations


from slack_sdk.errors import SlackApiError

from messages.text import inline_text
from messages import deals as views
from messages.fields import id_from, metadata_id, read_metadata, read_state
from messages.ids import Deal as Ids
from store import deals, events, handoffs
from store.errors import AlreadyDone, NotAllowed, NotFound, ValidationFailed


def _text(value) -> str | None:
    """A stage key from private_metadata: text, or None."""
    return value if isinstance(value, str) else None


def stage_picked(ack, body, action, client, context) -> None:
    ack()
    services = context["services"]
    modal = body["view"]
    meta = read_metadata(modal.get("private_metadata"))
    picked = (action.get("selected_option") or {}).get("value")

    def work() -> None:
        with services.sessions() as session:
            lead = handoffs.get_lead(session, id_from(meta.get("lead_id")))
            view = handoffs.lead_view(session, lead, services.playbook)
        from_stage = _text(meta.get("from")) or view.stage
        stages = deals.stage_targets(from_stage, services.playbook)
        target = next((s for s in stages if s.key == picked), None)
        try:
            client.views_update(view_id=modal["id"], hash=modal.get("hash"),
                                view=views.stage_modal(view, stages=stages, target=target, from_stage=from_stage,
                                                       questions=services.playbook.qualification.questions))
        except SlackApiError as error:
            if error.response.get("error") != "hash_conflict":  # a newer pick is already redrawing it
                raise

    services.after(work, body=body)


def submit_stage(ack, body, view, context) -> None:
    services = context["services"]
    meta = read_metadata(view.get("private_metadata"))
    form = views.stage_form(view["state"]["values"])
    if form["to_stage"] != _text(meta.get("to")):
        ack(response_action="errors", errors={Ids.STAGE: "Choose the stage again so its checklist shows, then save."})
        return
    try:
        with services.transaction() as session:
            deals.change_stage(session, lead_id=id_from(meta.get("lead_id")), user_id=body["user"]["id"],
                               from_stage=_text(meta.get("from")), playbook=services.playbook, **form)
    except ValidationFailed as failure:
        ack(response_action="errors", errors={k: inline_text(v) for k, v in failure.errors.items()})
        return
    except (NotAllowed, AlreadyDone, NotFound) as refusal:
        ack(response_action="errors", errors={Ids.STAGE: inline_text(str(refusal))})
        return
    ids = events.written(session)
    ack()
    services.after(lambda: services.deliver(ids))


def submit_debrief(ack, body, view, context) -> None:
    services = context["services"]
    lead_id = metadata_id(view, "lead_id")
    form = read_state(view["state"]["values"])
    try:
        with services.transaction() as session:
            deals.record_debrief(session, lead_id=lead_id, user_id=body["user"]["id"],
                                 what_worked=form.get(Ids.WHAT_WORKED), what_did_not=form.get(Ids.WHAT_DID_NOT),
                                 playbook=services.playbook)
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    except (NotAllowed, AlreadyDone, NotFound) as refusal:
        ack(response_action="errors", errors={Ids.WHAT_WORKED: inline_text(str(refusal))})
        return
    ids = events.written(session)
    ack()
    services.after(lambda: services.deliver(ids))
