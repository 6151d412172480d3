"""Block Kit for performance issues: the modal, the confirmation and a partner's list, and what an
issue's events (store.events.issues) mean for Slack. Pure functions."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, Option, PlainTextInputElement, SectionBlock, StaticSelectElement
from slack_sdk.models.views import View

from messages.fields import input_block
from messages.ids import Issue as Ids
from messages import words  # noqa: F401 - registers how refusals are worded (a partner not found names it)
from messages.text import escape, truncate, user
from store.events import Post
from store.events.issues import IssueRecorded
from store.issues import CATEGORIES as CATEGORY_LABELS  # the categories and their names, in the modal's order
from store.views import LinkedAction, IssueView  # noqa: F401 - the read models this module renders
STATUS_ICONS = {"open": ":large_blue_circle:", "done": ":white_check_mark:", "cancelled": ":heavy_minus_sign:"}


def issue_modal(*, partner_id: int, partner_name: str) -> dict:
    text = lambda **kw: PlainTextInputElement(action_id=Ids.INPUT, **kw)  # noqa: E731
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f"A performance issue with *{escape(truncate(partner_name, 200))}*.")),
        input_block(Ids.CATEGORY, "Category", StaticSelectElement(
            action_id=Ids.INPUT, placeholder="What kind of problem",
            options=[Option(text=label, value=key) for key, label in CATEGORY_LABELS.items()])),
        input_block(Ids.DESCRIPTION, "Description", text(multiline=True, max_length=2000,
                                                         placeholder="What goes wrong, and where you see it")),
        input_block(Ids.IMPACT, "Impact estimate", text(multiline=True, max_length=2000,
                                                        placeholder="e.g. 30% of handed-off leads never accepted"),
                    optional=True),
        input_block(Ids.COHORT, "Affected cohort", text(max_length=200, placeholder="e.g. EMEA mid-market deals"),
                    optional=True),
        input_block(Ids.ROOT_CAUSE, "Root cause", text(multiline=True, max_length=2000,
                                                       placeholder="Why it happens, as far as you can tell"),
                    optional=True),
    ]
    return View(type="modal", callback_id=Ids.MODAL, title="Performance issue", submit="Record", close="Cancel",
                blocks=blocks, private_metadata=json.dumps({"partner_id": partner_id})).to_dict()


def _label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


def recorded_notice(view: IssueView, *, manager: bool = False) -> dict[str, Any]:
    who = f"{user(view.created_by)} recorded" if manager else "Recorded"
    text = (f":mag: {who} *{view.ref}* — {_label(view.category)} with *{escape(view.partner)}*:\n"
            f"{truncate(escape(view.description), 2000)}\nLink actions to it with `/action` (type {view.ref} in "
            f"“Linked to”); see the partner's issues with `/partner issues {escape(truncate(view.partner, 200))}`.")
    return {"text": f"{view.ref} recorded", "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                                      "text": truncate(text, 3000)}}]}


def _issue_text(view: IssueView) -> str:
    lines = [f"*{view.ref}* · {_label(view.category)} · _{view.status}_ · recorded by {user(view.created_by)}",
             truncate(escape(view.description), 600)]
    for label, value in (("Impact", view.impact_estimate), ("Cohort", view.cohort), ("Root cause", view.root_cause)):
        if value:
            lines.append(f"*{label}:* {truncate(escape(value), 300)}")
    if view.actions:
        done = sum(1 for a in view.actions if a.status == "done")
        lines.append(f"*Actions* ({done} of {len(view.actions)} done):")
        for a in view.actions[:10]:
            lines.append(f"{STATUS_ICONS.get(a.status, '')} {a.ref} — {escape(truncate(a.title, 120))} · "
                         f"{user(a.owner_id)} · due {a.due_date:%d %b %Y} · {a.status}")
        if len(view.actions) > 10:
            lines.append(f"…and {len(view.actions) - 10} more.")
    else:
        lines.append("_No actions yet._ Create one with `/action` and link it to " + view.ref + ".")
    return truncate("\n".join(lines), 3000)


def issues_list(views: list[IssueView], *, total: int, partner: str) -> dict[str, Any]:
    name = escape(truncate(partner, 200))
    if not views:
        return {"response_type": "ephemeral",
                "text": f"No performance issues recorded for *{name}*. Record one with `/partner issue {name}`."}
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn",
                                                       "text": f"*Performance issues with {name}* ({total})"}}]
    for view in views:
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _issue_text(view)}})
    if total > len(views):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                        "text": f"Showing the newest {len(views)} of {total}."}]})
    return {"response_type": "ephemeral", "text": f"Performance issues with {name} ({total})", "blocks": blocks}


# --- what issue events mean for Slack (messages.events) -----------------------------------------

def on_recorded(event: IssueRecorded) -> list[Post]:
    """The one who recorded it gets its reference; the partner's manager hears of it too."""
    view = event.issue
    said = [Post(channel=view.created_by, message=recorded_notice(view), kind="issue_recorded",
                 subject=("issue", view.id), audience=view.created_by)]
    manager = event.partner_manager_id
    if manager and manager != view.created_by:
        said.append(Post(channel=manager, message=recorded_notice(view, manager=True), kind="issue_recorded",
                         subject=("issue", view.id), audience=manager))
    return said


RENDERERS = {IssueRecorded: on_recorded}
