"""Block Kit for action items: the modals, the owner's card, notices and the list, and what the action
events (store.events.actions) mean for Slack. Pure functions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from slack_sdk.models.blocks import (
    DatePickerElement,
    ExternalDataSelectElement,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from messages.fields import input_block
from messages.ids import Action as Ids
from messages.ids import Escalation as EscalationIds
from messages.text import escape, truncate, user, when
from messages.words import due_text  # importing messages.words also registers how refusals are worded
from store import clock
from store.actions import LIST_LIMIT
from store.actions import PRIORITIES as PRIORITY_KEYS
from store.events import Post, Refresh
from store.events.actions import ActionCreated, ActionDone, ActionReassigned, ActionSnoozed
from store.issues import CATEGORIES
from store.views import ActionLink, ActionView

PRIORITIES = {key: key.capitalize() for key in PRIORITY_KEYS}  # low -> Low …
PRIORITY_ICONS = {"low": ":white_circle:", "medium": ":large_blue_circle:", "high": ":large_orange_circle:",
                  "urgent": ":red_circle:"}
SNOOZES = {"1d": "1 day", "1w": "1 week", "date": "Pick a date…"}


# --- modals -----------------------------------------------------------------------------------

def _priority_select(initial: str = "medium") -> StaticSelectElement:
    options = [Option(text=label, value=key) for key, label in PRIORITIES.items()]
    return StaticSelectElement(action_id=Ids.INPUT, options=options,
                               initial_option=next(o for o in options if o.value == initial))


def action_modal(*, caller_id: str, title: str = "", today: dt.date) -> dict:
    blocks = [
        input_block(Ids.TITLE, "Title", PlainTextInputElement(action_id=Ids.INPUT, max_length=200,
                                                              initial_value=title or None,
                                                              placeholder="e.g. Run a discovery workshop with Globex")),
        input_block(Ids.OWNER, "Owner", UserSelectElement(action_id=Ids.INPUT, initial_user=caller_id),
                    hint="They get the action with Done, Snooze and Reassign."),
        input_block(Ids.DUE, "Due date", DatePickerElement(action_id=Ids.INPUT, placeholder="Pick a day"),
                    hint=f"Today or later (today is {due_text(today)} in the playbook's time zone)."),
        input_block(Ids.SUCCESS, "Success criteria",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=2000,
                                          placeholder="How we will know it worked"), optional=True),
        input_block(Ids.IMPACT, "Impact estimate",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=2000,
                                          placeholder="e.g. +10% acceptance rate for gold partners"), optional=True),
        input_block(Ids.PRIORITY, "Priority", _priority_select()),
        input_block(Ids.LINK, "Linked to",
                    ExternalDataSelectElement(action_id=Ids.LINK_SEARCH, min_query_length=0,
                                              placeholder="A partner, a lead or an issue"),
                    optional=True, hint="Type a partner's name, a company, or a reference like L-1042 or P-1001."),
    ]
    return View(type="modal", callback_id=Ids.MODAL, title="New action", submit="Create", close="Cancel",
                blocks=blocks).to_dict()


def _summary(view: ActionView) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(f"*{view.ref}* — {escape(view.title)}", 2900)))


def done_modal(view: ActionView) -> dict:
    criteria = (f"*Success criteria*\n{truncate(escape(view.success_criteria), 2800)}" if view.success_criteria
                else "_No success criteria were set._")
    blocks = [
        _summary(view),
        SectionBlock(text=MarkdownTextObject(text=criteria)),
        input_block(Ids.OUTCOME, "Outcome", PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=2000,
                                                                  placeholder="What happened, against the criteria"),
                    optional=True, hint="Optional. The person who created the action sees it."),
    ]
    return View(type="modal", callback_id=Ids.DONE_MODAL, title="Mark as done", submit="Done", close="Cancel",
                blocks=blocks, private_metadata=json.dumps({"action_id": view.id})).to_dict()


def snooze_modal(view: ActionView, *, today: dt.date) -> dict:
    blocks = [
        _summary(view),
        input_block(Ids.UNTIL, "Snooze until", DatePickerElement(action_id=Ids.INPUT,
                                                                 initial_date=(today + dt.timedelta(days=1)).isoformat()),
                    hint="The snooze ends when business opens that day, in the playbook's time zone."),
    ]
    return View(type="modal", callback_id=Ids.SNOOZE_MODAL, title="Snooze action", submit="Snooze", close="Cancel",
                blocks=blocks, private_metadata=json.dumps({"action_id": view.id})).to_dict()


def reassign_modal(view: ActionView) -> dict:
    blocks = [
        _summary(view),
        SectionBlock(text=MarkdownTextObject(text=f"Owned by {user(view.owner_id)} now.")),
        input_block(Ids.OWNER, "New owner", UserSelectElement(action_id=Ids.INPUT, placeholder="Who takes it over")),
    ]
    return View(type="modal", callback_id=Ids.REASSIGN_MODAL, title="Reassign action", submit="Reassign",
                close="Cancel", blocks=blocks, private_metadata=json.dumps({"action_id": view.id})).to_dict()


def link_options(partners, leads, issues) -> dict[str, Any]:
    """Option groups for the link type-ahead; each argument is a list of (value, label). Empty groups are left out."""
    groups = []
    for label, rows in (("Partners", partners), ("Leads", leads), ("Issues", issues)):
        options = [{"text": {"type": "plain_text", "text": truncate(text, 75)}, "value": value} for value, text in rows[:20]]
        if options:
            groups.append({"label": {"type": "plain_text", "text": label}, "options": options})
    return {"option_groups": groups} if groups else {"options": []}


# --- the card and notices -----------------------------------------------------------------------

def link_text(link: ActionLink | None) -> str | None:
    """What an action is linked to, as mrkdwn: "Lead L-1001 · Acme Corp (Globex)", "Partner Globex"."""
    if link is None:
        return None
    partner = f" ({escape(truncate(link.partner, 80))})" if link.partner else ""
    if link.kind == "issue":
        return f"Issue {link.ref} · {escape(CATEGORIES.get(link.category, link.category or ''))}{partner}"
    if link.kind == "lead":
        return f"Lead {link.ref} · {escape(truncate(link.company or '', 80))}{partner}"
    return f"Partner {escape(truncate(link.partner or '', 80))}"


def _facts(view: ActionView) -> str:
    parts = [f"{PRIORITY_ICONS.get(view.priority, '')} {PRIORITIES.get(view.priority, view.priority)} priority",
             f"due *{due_text(view.due_date)}*", f"owner {user(view.owner_id)}"]
    text = " · ".join(parts)
    if view.link:
        text += f"\n:link: {link_text(view.link)}"
    return text


def _status_line(view: ActionView, now: dt.datetime) -> str | None:
    if view.status == "done":
        line = f":white_check_mark: Done by {user(view.done_by)} {when(view.done_at, view.zone)}"
        if view.outcome:
            line += f"\n*Outcome:* {truncate(escape(view.outcome), 2000)}"
        return line
    if view.status == "cancelled":
        return ":heavy_minus_sign: Cancelled"
    if view.snoozed(now):
        return f":zzz: Snoozed until {when(view.snoozed_until, view.zone)}"
    return None


def action_card(view: ActionView, *, audience: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The card in a person's DM. `audience` is who the copy was sent to: the current owner gets the
    buttons while the action is open; a former owner's copy says who has it now."""
    now = now or clock.now()
    intro = (f"{user(view.created_by)} gave you an action" if view.created_by != view.owner_id
             else "Your action")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(f"{view.ref} · {view.title}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(f"{intro}\n{_facts(view)}", 3000)}},
    ]
    for label, text in (("Success criteria", view.success_criteria), ("Impact estimate", view.impact_estimate)):
        if text:
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": f"*{label}*\n{truncate(escape(text), 2900)}"}})
    line = _status_line(view, now)
    if audience != view.owner_id and view.status == "open":
        line = f":arrows_counterclockwise: Reassigned: {user(view.owner_id)} owns it now."
    if line:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(line, 3000)}})
    if view.status == "open" and audience == view.owner_id:
        blocks.append({"type": "actions", "block_id": Ids.ACTIONS_BLOCK, "elements": _buttons(view)})
    text = f"{view.ref} · {view.title} — due {due_text(view.due_date)}"
    return {"text": truncate(escape(text), 3000), "blocks": blocks}


def _buttons(view: ActionView) -> list[dict]:
    value = str(view.id)
    snooze = [{"text": {"type": "plain_text", "text": label}, "value": f"{view.id}:{key}"} for key, label in SNOOZES.items()]
    return [
        {"type": "button", "text": {"type": "plain_text", "text": "Done"}, "action_id": Ids.DONE, "value": value,
         "style": "primary"},
        {"type": "static_select", "action_id": Ids.SNOOZE, "placeholder": {"type": "plain_text", "text": "Snooze"},
         "options": snooze},
        {"type": "button", "text": {"type": "plain_text", "text": "Reassign"}, "action_id": Ids.REASSIGN, "value": value},
        {"type": "button", "text": {"type": "plain_text", "text": "Escalate"}, "action_id": EscalationIds.OPEN,
         "value": f"action:{view.id}"},
    ]


def _notice(text: str, summary: str) -> dict[str, Any]:
    return {"text": truncate(summary, 3000),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}]}


def created_notice(view: ActionView) -> dict[str, Any]:
    return _notice(f":memo: *{view.ref}* — {escape(view.title)} is with {user(view.owner_id)}, due "
                   f"*{due_text(view.due_date)}*. I'll tell you when it is done. See their actions with "
                   f"`/action list @name`.", f"{view.ref} given to {user(view.owner_id)}")


def done_notice(view: ActionView) -> dict[str, Any]:
    text = f":white_check_mark: {user(view.done_by)} marked *{view.ref}* — {escape(view.title)} done."
    if view.success_criteria:
        text += f"\n*Success criteria:* {truncate(escape(view.success_criteria), 1000)}"
    text += f"\n*Outcome:* {truncate(escape(view.outcome), 1500)}" if view.outcome else "\n_No outcome was given._"
    return _notice(text, f"{view.ref} done")


def reassigned_notice(view: ActionView, *, by: str, previous_owner: str) -> dict[str, Any]:
    return _notice(f":arrows_counterclockwise: {user(by)} reassigned *{view.ref}* — {escape(view.title)} from "
                   f"{user(previous_owner)} to {user(view.owner_id)}.", f"{view.ref} reassigned")


def snoozed_answer(view: ActionView) -> str:
    return f":zzz: *{view.ref}* is snoozed until {when(view.snoozed_until, view.zone)}."


# --- the list --------------------------------------------------------------------------------

def actions_list(views: list[ActionView], *, total: int, heading: str, today: dt.date, now: dt.datetime,
                 mine: bool, empty: str) -> dict[str, Any]:
    """`heading` and `empty` are mrkdwn the caller has already escaped."""
    if not views:
        return {"response_type": "ephemeral", "text": empty}
    shown = views[:LIST_LIMIT]
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(f"*{heading}*", 3000)}}]
    for v in shown:
        flags = []
        if v.due_date < today:
            days = (today - v.due_date).days
            flags.append(f":warning: *overdue* by {days} day{'s' if days != 1 else ''}")
        elif v.due_date == today:
            flags.append("*due today*")
        if v.snoozed(now):
            flags.append(f":zzz: snoozed until {when(v.snoozed_until, v.zone)}")
        line = (f"*{v.ref}* — {escape(truncate(v.title, 200))}\n{PRIORITY_ICONS.get(v.priority, '')} "
                f"{PRIORITIES.get(v.priority, v.priority)} · due {due_text(v.due_date)}"
                + ("" if mine else f" · {user(v.owner_id)}")
                + (f" · {' · '.join(flags)}" if flags else "")
                + (f"\n:link: {link_text(v.link)}" if v.link else ""))
        section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": truncate(line, 3000)}}
        if mine:
            section["accessory"] = {"type": "button", "text": {"type": "plain_text", "text": "Done"},
                                    "action_id": Ids.DONE, "value": str(v.id)}
        blocks.append(section)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                    "text": f"Showing {len(shown)} of {total}, overdue first, then by due date."}]})
    return {"response_type": "ephemeral", "text": truncate(heading, 3000), "blocks": blocks}


def list_message(found, *, caller_id: str, today: dt.date, now: dt.datetime) -> dict[str, Any]:
    """The answer to `/action list …` (found: store.actions.ActionList)."""
    if found.partner_name is not None:
        name = escape(found.partner_name)
        heading, empty, mine = (f"Open actions on {name} ({found.total})",
                                f"No open actions on *{name}*. Create one with `/action`.", False)
    elif found.owner_id == caller_id:
        heading, empty, mine = (f"Your open actions ({found.total})",
                                "You have no open actions. Create one with `/action`.", True)
    else:
        heading, empty, mine = (f"Open actions of {user(found.owner_id)} ({found.total})",
                                f"{user(found.owner_id)} has no open actions.", False)
    return actions_list(found.views, total=found.total, heading=heading, empty=empty, mine=mine, today=today, now=now)


# --- what action events mean for Slack (messages.events) ----------------------------------------

def refresh_cards(view: ActionView, now: dt.datetime) -> Refresh:
    """Every copy of an action's card, current: the owner's with its buttons, a former owner's without."""
    return Refresh(subject=("action", view.id), kinds=("action_card",),
                   render=lambda row: action_card(view, audience=row.audience, now=now))


def _post(view: ActionView, to: str, message: dict[str, Any], kind: str) -> Post:
    return Post(channel=to, message=message, kind=kind, subject=("action", view.id), audience=to)


def on_created(event: ActionCreated) -> list[Post | Refresh]:
    view = event.action
    said = [_post(view, view.owner_id, action_card(view, audience=view.owner_id, now=event.at), "action_card")]
    if event.by != view.owner_id:
        said.append(_post(view, event.by, created_notice(view), "action_created"))
    return said


def on_done(event: ActionDone) -> list[Post | Refresh]:
    view = event.action
    said: list[Post | Refresh] = [refresh_cards(view, event.at)]
    if view.created_by != event.by:
        said.append(_post(view, view.created_by, done_notice(view), "action_done"))
    return said


def on_snoozed(event: ActionSnoozed) -> list[Post | Refresh]:
    return [refresh_cards(event.action, event.at)]


def on_reassigned(event: ActionReassigned) -> list[Post | Refresh]:
    """The former owner's copy loses its buttons; the new owner gets the card; the former owner and the
    creator are told (not the one who reassigned it, nor the new owner twice)."""
    view = event.action
    said: list[Post | Refresh] = [
        refresh_cards(view, event.at),
        _post(view, view.owner_id, action_card(view, audience=view.owner_id, now=event.at), "action_card"),
    ]
    told = {view.owner_id}
    for person in (event.previous_owner, view.created_by):
        if person not in told and person != event.by:
            told.add(person)
            said.append(_post(view, person, reassigned_notice(view, by=event.by, previous_owner=event.previous_owner),
                              "action_reassigned"))
    return said


RENDERERS = {ActionCreated: on_created, ActionDone: on_done, ActionSnoozed: on_snoozed, ActionReassigned: on_reassigned}
