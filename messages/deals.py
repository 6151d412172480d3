"""Block Kit for working a deal: the stage modal, notices, the debrief request and modal, and what the
deal events (store.events.deals) mean for Slack. Pure functions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    ContextBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from messages import blocks as b
from messages.fields import input_block
from messages import words  # noqa: F401 - registers how refusals are worded (a stage moved meanwhile names who)
from messages.handoff import LeadView, refresh_cards, stage_label
from messages.ids import Deal as Ids
from messages.text import escape, money, truncate, user, when
from store.deals import DEBRIEF_LIMIT, NOTE_LIMIT, REASON_LIMIT
from store.events import Post, Refresh
from store.events.deals import DebriefWritten, StageChanged

CHECKBOX_LIMIT = 10  # Slack: at most 10 options in a checkboxes element
REQUIRED_MARK = " (required)"


# --- block ids: the store's problems are keyed by the same names (store.deals.Field, checklist_field,
# question_field; tests/test_deals_builders.py checks they agree), so each shows on its block --------

def checklist_block(index: int) -> str:
    """The checkbox block holding checklist item `index` (0-based); 10 items per block."""
    chunk = index // CHECKBOX_LIMIT
    return str(Ids.CHECKLIST) if chunk == 0 else f"{Ids.CHECKLIST}_{chunk + 1}"


def question_block(key: str) -> str:
    return f"{Ids.QUESTION}_{key}"


# --- the stage modal ---------------------------------------------------------------------------

def stage_metadata(lead_id: int, from_stage: str, to_stage: str | None) -> str:
    return json.dumps({"lead_id": lead_id, "from": from_stage, "to": to_stage}, separators=(",", ":"))




def _stage_option(stage) -> Option:
    return Option(text=truncate(stage.name, 75), value=stage.key)


def _checklist_blocks(stage) -> list:
    items = list(stage.checklist)
    blocks = []
    for start in range(0, len(items), CHECKBOX_LIMIT):
        chunk = items[start:start + CHECKBOX_LIMIT]
        options = []
        for offset, item in enumerate(chunk):
            mark = REQUIRED_MARK if item.required else ""
            options.append(Option(text=truncate(item.item, 75 - len(mark)) + mark, value=str(start + offset)))
        label = f"Checklist for {stage.name}" if start == 0 else f"Checklist for {stage.name} (continued)"
        any_required = any(item.required for item in items)
        hint = (f"Items marked required must be ticked before the lead can enter {stage.name}."
                if start == 0 and any_required else None)
        blocks.append(input_block(checklist_block(start), truncate(label, 2000),
                                  CheckboxesElement(action_id=Ids.INPUT, options=options), optional=True, hint=hint))
    return blocks


def _question_blocks(questions) -> list:
    return [
        input_block(question_block(q.key), truncate(q.question, 2000),
                    RadioButtonsElement(action_id=Ids.INPUT, options=[Option(text=label, value=label) for label in q.answers]))
        for q in questions
    ]


def stage_modal(view: LeadView, *, stages, target=None, questions=(), from_stage: str | None = None) -> dict:
    """Update stage: pick a stage (others than the current one); the picked stage's fields follow.

    `stages` are the playbook's Stage objects to offer; `target` the one picked, if any;
    `from_stage` the stage the modal was first opened from (kept through redraws).
    """
    options = [_stage_option(s) for s in stages][:100]
    initial = _stage_option(target) if target is not None else None
    picker = StaticSelectElement(action_id=Ids.STAGE_PICK, placeholder="Choose the next stage", options=options,
                                 initial_option=initial)
    blocks: list = [
        SectionBlock(text=MarkdownTextObject(text=truncate(
            f"*{view.ref}* — {escape(view.company)} ({escape(view.partner)}) is at *{escape(stage_label(view))}*.", 3000))),
        _stage_input(picker),
    ]
    if target is not None:
        blocks += _checklist_blocks(target)
        if target.key == "qualified":
            blocks += _question_blocks(questions)
        if target.key == "closed_won":
            initial_amount = f"{view.estimated_value:f}" if view.estimated_value is not None else None
            blocks.append(input_block(Ids.AMOUNT, "Amount won",
                                      PlainTextInputElement(action_id=Ids.INPUT, max_length=20, placeholder="e.g. 120000",
                                                            initial_value=initial_amount),
                                      hint="The signed deal value."))
        if target.key == "closed_lost":
            blocks.append(input_block(Ids.REASON, "Why was it lost?",
                                      PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=REASON_LIMIT,
                                                            placeholder="e.g. Went with a competitor on price"),
                                      hint="The partner manager sees this."))
    blocks.append(input_block(Ids.NOTE, "Note", PlainTextInputElement(
        action_id=Ids.INPUT, multiline=True, max_length=NOTE_LIMIT, placeholder="What happened, what comes next"),
        optional=True))
    return View(type="modal", callback_id=Ids.STAGE_MODAL, title="Update stage", submit="Save", close="Cancel",
                blocks=blocks,
                private_metadata=stage_metadata(view.id, from_stage or view.stage, target.key if target is not None else None)).to_dict()


def _stage_input(picker):
    block = input_block(Ids.STAGE, "Move to", picker, hint="The fields for the stage you choose appear below.")
    block.dispatch_action = True
    return block


def stage_form(values: dict) -> dict[str, Any]:
    """Read a submitted stage modal: stage, note, ticked checklist indexes, answers, amount, reason."""
    from messages.fields import number, read_state

    form = read_state(values)
    checked: list[int] = []
    answers: dict[str, str] = {}
    prefix = f"{Ids.QUESTION}_"
    for block_id, value in form.items():
        if block_id == Ids.CHECKLIST or block_id.startswith(f"{Ids.CHECKLIST}_"):
            checked += [n for n in (number(v) for v in value or []) if n >= 0]  # a forged value ticks nothing
        elif block_id.startswith(prefix) and value:
            answers[block_id[len(prefix):]] = value
    return {
        "to_stage": form.get(Ids.STAGE),
        "note": form.get(Ids.NOTE) or "",
        "checked": sorted(set(checked)),
        "answers": answers,
        "amount": form.get(Ids.AMOUNT),
        "reason": form.get(Ids.REASON),
    }


# --- notices -----------------------------------------------------------------------------------

def stage_notice(view: LeadView, *, actor_id: str, from_name: str, note: str | None) -> dict[str, Any]:
    """To the stage's informed roles: who moved the lead where, with the outcome of a close."""
    head = (f":arrow_right: {user(actor_id)} moved *{view.ref}* — {escape(view.company)} ({escape(view.partner)}) "
            f"from {escape(from_name)} to *{escape(stage_label(view))}*.")
    lines = [head]
    if view.stage == "qualified" and view.qualification_score is not None:
        lines.append(f"Qualification score: *{view.qualification_score:.0f}/100*.")
    if view.stage == "closed_won":
        lines.append(f":trophy: Won for *{money(view.closed_amount)}*.")
    if view.stage == "closed_lost" and view.close_reason:
        lines.append(f"Lost: “{truncate(escape(view.close_reason), 1000)}”")
    if note:
        lines.append(f"Note: “{truncate(escape(note), 1500)}”")
    if view.stage_lead:
        lines.append(view.stage_lead + ".")
    text = f"{view.ref} · {view.company} moved to {stage_label(view)}"
    return {"text": truncate(escape(text), 3000), "blocks": [b.section("\n".join(lines))]}


def debrief_request(view: LeadView, *, written_at: dt.datetime | None = None) -> dict[str, Any]:
    """To each owner after a close: a short debrief, with a button. Once written, it says so."""
    outcome = (f"closed won ({money(view.closed_amount)})" if view.stage == "closed_won" else "closed lost")
    text = (f":memo: *{view.ref}* — {escape(view.company)} ({escape(view.partner)}) is {outcome}. "
            "While it is fresh: what worked, and what did not? Two short answers help the next deal.")
    blocks: list = [b.section(text)]
    if written_at is not None:
        blocks.append(b.context(f":white_check_mark: Your debrief is in (saved {when(written_at, view.zone)}). "
                                "You can still edit it."))
        button = b.button("Edit debrief", Ids.DEBRIEF, str(view.id))
    else:
        button = b.button("Write debrief", Ids.DEBRIEF, str(view.id), style="primary")
    blocks.append(b.actions([button]))
    return {"text": truncate(escape(f"Debrief {view.ref} · {view.company}"), 3000), "blocks": blocks}


def debrief_modal(view: LeadView, *, existing=None) -> dict:
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=truncate(
        f"*{view.ref}* — {escape(view.company)} ({escape(view.partner)}) · *{escape(stage_label(view))}*", 3000)))]
    if existing is not None:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"You wrote a debrief {when(existing.created_at, view.zone)}; saving replaces it.")]))
    blocks += [
        input_block(Ids.WHAT_WORKED, "What worked",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=DEBRIEF_LIMIT,
                                          initial_value=existing.what_worked if existing is not None else None,
                                          placeholder="e.g. The partner's reference customer won them over")),
        input_block(Ids.WHAT_DID_NOT, "What did not",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=DEBRIEF_LIMIT,
                                          initial_value=existing.what_did_not if existing is not None else None,
                                          placeholder="e.g. Pricing approval took three weeks")),
    ]
    return View(type="modal", callback_id=Ids.DEBRIEF_MODAL, title="Debrief", submit="Save", close="Cancel",
                blocks=blocks, private_metadata=json.dumps({"lead_id": view.id})).to_dict()


def debrief_saved(view: LeadView, *, replaced_at: dt.datetime | None) -> dict[str, Any]:
    if replaced_at is not None:
        text = (f":memo: Your debrief on *{view.ref}* — {escape(view.company)} is saved. It replaces the one you "
                f"wrote {when(replaced_at, view.zone)}.")
    else:
        text = f":memo: Thanks — your debrief on *{view.ref}* — {escape(view.company)} is saved with the lead."
    return {"text": truncate(escape(f"Debrief saved: {view.ref}"), 3000), "blocks": [b.section(text)]}



# --- what deal events mean for Slack (messages.events) ------------------------------------------

def on_stage_changed(event: StageChanged) -> list[Post | Refresh]:
    """Every copy of the lead's card, current; the stage's informed people told; after a close, each
    owner asked (once) for a debrief."""
    view = event.lead
    subject = ("lead", view.id)
    said: list[Post | Refresh] = [refresh_cards(view)]
    notice = stage_notice(view, actor_id=event.by, from_name=event.from_name, note=event.note)
    said += [Post(channel=person, message=notice, kind="stage_notice", subject=subject, audience=person)
             for person in event.informed]
    said += [Post(channel=owner, message=debrief_request(view), kind="debrief_request", subject=subject,
                  audience=owner, key=f"debrief_request:{view.id}:{owner}")
             for owner in event.debrief_from]
    return said


def on_debrief_written(event: DebriefWritten) -> list[Post | Refresh]:
    """Each owner's debrief request says whether theirs is in; the writer is told it is saved."""
    view = event.lead
    written = dict(event.written)
    return [
        Refresh(subject=("lead", view.id), kinds=("debrief_request",),
                render=lambda row: debrief_request(view, written_at=written.get(row.audience))),
        Post(channel=event.by, message=debrief_saved(view, replaced_at=event.replaced_at), kind="debrief_saved",
             subject=("lead", view.id), audience=event.by),
    ]


RENDERERS = {StageChanged: on_stage_changed, DebriefWritten: on_debrief_written}
