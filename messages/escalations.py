"""Block Kit for escalations: the request modal, the decide modal, the cards and the notices. Pure functions."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from messages.fields import input_block
from messages.ids import Escalation as Ids
from messages.text import escape, truncate, user, when
from store import escalations as rules
from store.errors import EscalationClosed, EscalationMoved, words_for
from store.events import Post, Refresh
from store.events.escalations import (
    EscalationClimbed,
    EscalationDecided,
    EscalationExpired,
    EscalationRaised,
    EscalationWithdrawn,
)
from store.views import LevelMove, EscalationView  # noqa: F401 - the read models this module renders

SEVERITIES = {key: key.capitalize() for key in rules.SEVERITIES}  # store's values, in order: their labels
SEVERITY_ICONS = {"low": ":white_circle:", "medium": ":large_yellow_circle:", "high": ":large_orange_circle:",
                  "critical": ":red_circle:"}
MAX_OPTIONS = 100  # Slack's limit for a static select


# --- modals -------------------------------------------------------------------------------------

def _options(pairs) -> list[Option]:
    return [Option(text=truncate(label, 75), value=value) for value, label in pairs][:MAX_OPTIONS]


def request_modal(*, kinds: list[tuple[str, str]], about: str = "", kind: str | None = None,
                  lead_id: int | None = None, action_id: int | None = None) -> dict:
    """The /escalate form. `kinds` are (key, name) from the playbook; the link travels in private_metadata."""
    kind_options = _options(kinds)
    initial_kind = next((o for o in kind_options if o.value == kind), None)
    severity_options = _options(SEVERITIES.items())
    blocks = [
        input_block(Ids.ABOUT, "What is it about?",
                    PlainTextInputElement(action_id=Ids.INPUT, max_length=300, initial_value=truncate(about, 300) or None,
                                          placeholder="e.g. L-1001 · Acme Corp, or the partner and deal")),
        input_block(Ids.KIND, "Request",
                    StaticSelectElement(action_id=Ids.INPUT, placeholder="What do you need decided?",
                                        options=kind_options, initial_option=initial_kind)),
        input_block(Ids.REASON, "Why?",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=2000,
                                          placeholder="What happened, and what you ask for")),
        input_block(Ids.SEVERITY, "Severity",
                    StaticSelectElement(action_id=Ids.INPUT, options=severity_options,
                                        initial_option=severity_options[1])),
        input_block(Ids.IMPACT, "Impact",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=1000,
                                          placeholder="e.g. $48,000 deal at risk this quarter"), optional=True),
    ]
    metadata = {key: value for key, value in (("lead_id", lead_id), ("action_id", action_id)) if value}
    return View(type="modal", callback_id=Ids.MODAL, title="Escalate", submit="Escalate", close="Cancel",
                blocks=blocks, private_metadata=json.dumps(metadata)).to_dict()


def decide_modal(view: EscalationView, *, decision: str, level: int, response: int | None = None) -> dict:
    """Approve (optional note, optional predefined response) or Reject (note required)."""
    approving = decision == "approve"
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=truncate(
        f"*{view.ref}* · {escape(view.kind_name)} from {user(view.requester_id)}: {escape(view.about)}\n"
        f"_{truncate(escape(view.reason), 1500)}_", 3000)))]
    if approving and view.responses:
        options = _options((str(i), text) for i, text in enumerate(view.responses))
        initial = options[response] if response is not None and 0 <= response < len(options) else None
        blocks.append(input_block(Ids.RESPONSE, "Response",
                                  StaticSelectElement(action_id=Ids.INPUT, placeholder="A predefined response",
                                                      options=options, initial_option=initial),
                                  optional=True, hint="The requester sees it with your note."))
    blocks.append(input_block(
        Ids.NOTE, "Note" if approving else "Why do you reject it?",
        PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=1000,
                              placeholder="Conditions, or what to change" if approving else "The requester sees this"),
        optional=approving))
    metadata = json.dumps({"escalation_id": view.id, "level": level, "decision": "approve" if approving else "reject"})
    return View(type="modal", callback_id=Ids.DECIDE_MODAL, title=truncate(f"{'Approve' if approving else 'Reject'} {view.ref}", 24),
                submit="Approve" if approving else "Reject", close="Cancel", blocks=blocks,
                private_metadata=metadata).to_dict()


# --- cards --------------------------------------------------------------------------------------

def _people(user_ids) -> str:
    return ", ".join(user(u) for u in user_ids) if user_ids else "an admin of the playbook"


def _hours(value: float) -> str:
    return f"{value:g}"


def status_lines(view: EscalationView, *, card_level: int | None = None) -> list[str]:
    """What happened to the escalation, as seen from a card sent for `card_level` (None: every move)."""
    lines = []
    for move in view.moves:
        if card_level is None or move.from_level >= card_level:
            lines.append(f":arrow_up: Moved to *{escape(move.to_name)}* {when(move.at, view.zone)}: no decision "
                         f"within {_hours(move.hours)} business hours at {escape(move.from_name)}.")
    note = f": “{truncate(escape(view.decision_note), 1000)}”" if view.decision_note else ""
    if view.status == "approved":
        lines.append(f":white_check_mark: *Approved* by {user(view.decided_by)} {when(view.decided_at, view.zone)}{note}")
    elif view.status == "rejected":
        lines.append(f":x: *Rejected* by {user(view.decided_by)} {when(view.decided_at, view.zone)}{note}")
    elif view.status == "withdrawn":
        lines.append(f":leftwards_arrow_with_hook: *Withdrawn* by {user(view.decided_by)} {when(view.decided_at, view.zone)}")
    elif view.status == "expired":
        hours = f" within {_hours(view.level_hours)} business hours" if view.level_hours else ""
        lines.append(f":hourglass: *Expired* {when(view.decided_at, view.zone)}: no decision{hours} at the last "
                     f"level, {escape(view.level_name)}.")
    return lines


def _facts(view: EscalationView, card_level: int) -> list:
    fields = [
        f"*Request*\n{escape(view.kind_name)}",
        f"*Severity*\n{SEVERITY_ICONS.get(view.severity, '')} {SEVERITIES.get(view.severity, escape(view.severity))}",
        f"*Level*\n{escape(view.name_of(card_level))} ({card_level + 1} of {view.level_count})",
        f"*Linked to*\n{view.link_ref or '_nothing_'}",
    ]
    blocks: list = [SectionBlock(fields=[MarkdownTextObject(text=truncate(f, 1990)) for f in fields]),
                    SectionBlock(text=MarkdownTextObject(text=f"*Why*\n{truncate(escape(view.reason), 2900)}"))]
    if view.impact:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*Impact*\n{truncate(escape(view.impact), 2900)}")))
    return blocks


def _decision_elements(view: EscalationView) -> list:
    value = f"{view.id}:{view.level}"
    elements: list = [ButtonElement(text="Approve", action_id=Ids.APPROVE, value=value, style="primary"),
                      ButtonElement(text="Reject", action_id=Ids.REJECT, value=value, style="danger")]
    if view.responses:
        elements.append(StaticSelectElement(
            action_id=Ids.RESPOND, placeholder="Approve with a response…",
            options=_options((f"{value}:{i}", text) for i, text in enumerate(view.responses))))
    return elements


def escalation_card(view: EscalationView, *, card_level: int, audience: str = "approver") -> dict[str, Any]:
    """The card approvers (DM) and the escalation channel get, for one level; buttons while it is theirs."""
    live = view.status == "pending" and card_level == view.level
    if not live:
        intro = f"{user(view.requester_id)} escalated this to {escape(view.name_of(card_level))}"
    elif audience == "approver":
        intro = f"{user(view.requester_id)} asks you to decide"
    else:
        intro = f"{user(view.requester_id)} asks {_people(view.approver_ids)} to decide"
    blocks: list = [HeaderBlock(text=truncate(f"{view.ref} · {view.kind_name}", 150)),
                    SectionBlock(text=MarkdownTextObject(text=truncate(f"{intro}: *{escape(view.about)}*", 3000)))]
    blocks += _facts(view, card_level)
    if live:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(
            f"Approvers: {_people(view.approver_ids)} or an admin · decide by *{when(view.level_due_at, view.zone)}*, "
            + ("then it moves up" if view.level + 1 < view.level_count else "then it expires"), 2000))]))
    lines = status_lines(view, card_level=card_level)
    if lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 3000))))
    if live:
        blocks.append(ActionsBlock(block_id=Ids.ACTIONS_BLOCK, elements=_decision_elements(view)))
    return {"text": _summary(view), "blocks": [b.to_dict() for b in blocks]}


def requester_card(view: EscalationView) -> dict[str, Any]:
    """The requester's confirmation: where the escalation is, and Withdraw while it is pending."""
    text = f":outbox_tray: *{view.ref}* — your {escape(view.kind_name).lower()} request about *{escape(view.about)}*"
    if view.status == "pending":
        text += (f" is with *{escape(view.level_name)}* ({_people(view.approver_ids)}) until "
                 f"*{when(view.level_due_at, view.zone)}*; then it moves up. I'll tell you the decision.")
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))]
    lines = status_lines(view)
    if lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), 3000))))
    if view.status == "pending":
        blocks.append(ActionsBlock(block_id=Ids.ACTIONS_BLOCK, elements=[
            ButtonElement(text="Withdraw", action_id=Ids.WITHDRAW, value=str(view.id))]))
    return {"text": _summary(view), "blocks": [b.to_dict() for b in blocks]}


STATUS_WORDS = {"pending": "waiting for a decision", "approved": "approved", "rejected": "rejected",
                "expired": "expired", "withdrawn": "withdrawn"}


def _summary(view: EscalationView) -> str:
    return truncate(escape(f"{view.ref} · {view.kind_name}: {view.about}") + f" — {STATUS_WORDS.get(view.status, view.status)}", 3000)


def decided_notice(view: EscalationView) -> dict[str, Any]:
    """To the requester and the owners of the linked lead or action."""
    icon = ":white_check_mark:" if view.status == "approved" else ":x:"
    link = f" (on {view.link_ref})" if view.link_ref else ""
    note = f"\n“{truncate(escape(view.decision_note), 1500)}”" if view.decision_note else ""
    text = (f"{icon} {user(view.decided_by)} *{view.status}* {view.ref} — {escape(view.kind_name)}: "
            f"*{escape(view.about)}*{link}, raised by {user(view.requester_id)}.{note}")
    return {"text": f"{view.ref} {view.status}",
            "blocks": [SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000))).to_dict()]}


def moved_notice(view: EscalationView, move: LevelMove) -> dict[str, Any]:
    text = (f":arrow_up: *{view.ref}* — {escape(view.about)} got no decision within {_hours(move.hours)} business hours "
            f"at {escape(move.from_name)}, so it moved to *{escape(move.to_name)}* ({_people(view.approver_ids)}). "
            f"They have until *{when(view.level_due_at, view.zone)}*.")
    return {"text": f"{view.ref} moved to {escape(move.to_name)}",
            "blocks": [SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000))).to_dict()]}


def expired_notice(view: EscalationView) -> dict[str, Any]:
    text = (f":hourglass: *{view.ref}* — {escape(view.about)} expired: nobody decided at any level of the ladder, "
            f"the last being {escape(view.level_name)}. Raise it again with `/escalate` if it still matters.")
    return {"text": f"{view.ref} expired",
            "blocks": [SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000))).to_dict()]}


def already_text(view: EscalationView) -> str:
    """What happened, for a second or concurrent press."""
    if view.status == "withdrawn":
        return f"{view.ref} was already withdrawn by {user(view.decided_by)} {when(view.decided_at, view.zone)}."
    if view.status == "expired":
        return f"{view.ref} already expired {when(view.decided_at, view.zone)}: nobody decided in time."
    return f"{view.ref} was already {view.status} by {user(view.decided_by)} {when(view.decided_at, view.zone)}."


# --- refusals (store.errors: the data; these are the words) -------------------------------------

@words_for(EscalationClosed)
def closed_text(error: EscalationClosed) -> str:
    return already_text(error.escalation)


@words_for(EscalationMoved)
def moved_text(error: EscalationMoved) -> str:
    """A press on a card of a level the escalation has left: where it is now, and since when."""
    view, card_level = error.escalation, error.card_level
    move = next((m for m in view.moves if m.from_level == card_level), None)
    moved = f" {when(move.at, view.zone)}" if move else ""
    return (f"That card is for {view.name_of(card_level)}, and {view.ref} has since moved to "
            f"{view.level_name}{moved}. Decide on the current card.")


# --- what escalation events mean for Slack (messages.events) ------------------------------------
# Every card is posted once, keyed `esc:<id>:L<level>:<audience>` (the requester's `esc:<id>:requester`),
# so a refresh knows which level each copy was sent for: earlier levels' cards say when they moved on;
# the current level's carry the buttons while the escalation is pending.

CARD_KINDS = ("escalation_card", "escalation_notice", "escalation_requester")


def card_key(view: EscalationView, audience: str, level: int | None = None) -> str:
    return f"esc:{view.id}:requester" if level is None else f"esc:{view.id}:L{level}:{audience}"


def card_level(row) -> int:
    """The level a posted card (an outbox row) was sent for, read from its key."""
    part = (row.idempotency_key or "").split(":")
    return int(part[2][1:]) if len(part) == 4 and part[2].startswith("L") else 0


def render_card(view: EscalationView, row) -> dict[str, Any]:
    """One posted copy of the escalation's cards, current."""
    if row.kind == "escalation_requester":
        return requester_card(view)
    return escalation_card(view, card_level=card_level(row),
                           audience="channel" if row.kind == "escalation_notice" else "approver")


def refresh_cards(view: EscalationView) -> Refresh:
    """Every copy of the escalation's cards: every level's approver DMs, channel cards, the requester's."""
    return Refresh(subject=("escalation", view.id), kinds=CARD_KINDS, render=lambda row: render_card(view, row))


def _subject(view: EscalationView) -> tuple[str, int]:
    return ("escalation", view.id)


def level_cards(view: EscalationView, channel: str | None) -> list[Post]:
    """The current level's cards: one to each approver, with the buttons, and the channel's copy."""
    level = view.level
    posts = [Post(channel=person, message=escalation_card(view, card_level=level), kind="escalation_card",
                  subject=_subject(view), audience=person, key=card_key(view, person, level))
             for person in view.approver_ids]
    if channel:
        posts.append(Post(channel=channel, message=escalation_card(view, card_level=level, audience="channel"),
                          kind="escalation_notice", subject=_subject(view), audience=channel,
                          key=card_key(view, channel, level)))
    return posts


def on_raised(event: EscalationRaised) -> list[Post | Refresh]:
    view = event.escalation
    said: list[Post | Refresh] = list(level_cards(view, event.channel))
    if event.requester:
        said.append(Post(channel=event.requester, message=requester_card(view), kind="escalation_requester",
                         subject=_subject(view), audience=event.requester, key=card_key(view, event.requester)))
    return said


def on_decided(event: EscalationDecided) -> list[Post | Refresh]:
    view = event.escalation
    return [refresh_cards(view), *(
        Post(channel=person, message=decided_notice(view), kind="escalation_decided", subject=_subject(view),
             audience=person) for person in event.tell)]


def on_withdrawn(event: EscalationWithdrawn) -> list[Post | Refresh]:
    return [refresh_cards(event.escalation)]


def on_climbed(event: EscalationClimbed) -> list[Post | Refresh]:
    view = event.escalation
    said: list[Post | Refresh] = [refresh_cards(view), *level_cards(view, event.channel)]
    if event.requester:
        said.append(Post(channel=event.requester, message=moved_notice(view, event.move), kind="escalation_moved",
                         subject=_subject(view), audience=event.requester))
    return said


def on_expired(event: EscalationExpired) -> list[Post | Refresh]:
    view = event.escalation
    said: list[Post | Refresh] = [refresh_cards(view)]
    if event.requester:
        said.append(Post(channel=event.requester, message=expired_notice(view), kind="escalation_expired",
                         subject=_subject(view), audience=event.requester))
    return said


RENDERERS = {EscalationRaised: on_raised, EscalationDecided: on_decided, EscalationWithdrawn: on_withdrawn,
             EscalationClimbed: on_climbed, EscalationExpired: on_expired}


