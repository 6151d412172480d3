"""The action card: Done (outcome modal), Snooze (1 day, 1 week, or a date modal), Reassign (modal).
Each acks at once; the check and the Slack call happen right after the answer (Services.after)."""

from __future__ import annotations

from messages import actions as views
from messages.fields import id_from
from store import actions, events


def _open_modal(doing: str, build):
    def listener(ack, body, action, client, respond, context) -> None:
        ack()
        services = context["services"]

        def work() -> None:
            with services.sessions() as session:
                view = actions.check_can_act(session, action_id=id_from(action.get("value")), user_id=body["user"]["id"],
                                             playbook=services.playbook, doing=doing)
            client.views_open(trigger_id=body["trigger_id"], view=build(view, services))

        services.after(work, body=body, respond=respond)

    listener.__name__ = listener.__qualname__ = doing
    return listener


done = _open_modal("done", lambda view, services: views.done_modal(view))
reassign = _open_modal("reassign", lambda view, services: views.reassign_modal(view))
_snooze_date = _open_modal("snooze", lambda view, services: views.snooze_modal(
    view, today=actions.today_in(services.playbook)))


def snooze(ack, body, action, client, respond, context) -> None:
    """The snooze menu: `<id>:1d` and `<id>:1w` snooze at once; `<id>:date` opens the date modal."""
    action_id, _, choice = ((action.get("selected_option") or {}).get("value") or "").partition(":")
    if choice == "date":
        return _snooze_date(ack, body, {"value": action_id}, client, respond, context)
    ack()
    services = context["services"]

    def work() -> None:
        with services.transaction() as session:
            view = actions.snooze_action(session, action_id=id_from(action_id), user_id=body["user"]["id"],
                                         choice=choice, playbook=services.playbook)
        services.deliver(events.written(session))
        respond(text=views.snoozed_answer(view), response_type="ephemeral", replace_original=False)

    services.after(work, body=body, respond=respond)
