"""Submissions of the action modals (create, done, snooze, reassign) and the link type-ahead.
Each validates and saves before ack, so nothing typed is lost; problems come back inline."""

from __future__ import annotations


from messages.fields import metadata_id, read_state, typed
from messages.text import inline_text
from messages import actions as views
from messages.ids import Action as Ids
from store import actions, events
from store.errors import AlreadyDone, NotAllowed, NotFound, ValidationFailed


def link_options(ack, payload, context) -> None:
    with context["services"].sessions() as session:
        found = actions.link_choices(session, typed(payload))
    ack(**views.link_options(found["partners"], found["leads"], found["issues"]))


def submit(ack, body, view, context) -> None:
    services = context["services"]
    try:
        draft = actions.validate_action(read_state(view["state"]["values"]), playbook=services.playbook)
        with services.transaction() as session:
            actions.create_action(session, draft=draft, creator_id=body["user"]["id"], playbook=services.playbook)
    except ValidationFailed as failure:
        ack(response_action="errors", errors=failure.errors)
        return
    ids = events.written(session)
    ack()
    services.after(lambda: services.deliver(ids))


def _decision(block: str, operation):
    """A modal that decides on one action; a refusal or a lost race is shown inline on `block`."""
    def listener(ack, body, view, context) -> None:
        services = context["services"]
        action_id = metadata_id(view, "action_id")
        form = read_state(view["state"]["values"])
        try:
            with services.transaction() as session:
                operation(session, action_id=action_id, user_id=body["user"]["id"], form=form,
                          playbook=services.playbook)
        except ValidationFailed as failure:
            ack(response_action="errors", errors=failure.errors)
            return
        except (NotAllowed, AlreadyDone, NotFound) as refusal:
            ack(response_action="errors", errors={block: inline_text(str(refusal))})
            return
        ids = events.written(session)
        ack()
        services.after(lambda: services.deliver(ids))

    listener.__name__ = listener.__qualname__ = operation.__name__
    return listener


def _done(session, *, action_id, user_id, form, playbook):
    return actions.done_action(session, action_id=action_id, user_id=user_id, outcome=form.get(Ids.OUTCOME),
                               playbook=playbook)


def _snooze(session, *, action_id, user_id, form, playbook):
    day = actions.parse_date(form.get(Ids.UNTIL))
    if day is None:
        raise ValidationFailed({Ids.UNTIL: "Pick the day the snooze ends."})
    actions.snooze_action(session, action_id=action_id, user_id=user_id, choice=day, playbook=playbook)


def _reassign(session, *, action_id, user_id, form, playbook):
    return actions.reassign_action(session, action_id=action_id, user_id=user_id, new_owner_id=form.get(Ids.OWNER),
                                   playbook=playbook)


submit_done = _decision(Ids.OUTCOME, _done)
submit_snooze = _decision(Ids.UNTIL, _snooze)
submit_reassign = _decision(Ids.OWNER, _reassign)
