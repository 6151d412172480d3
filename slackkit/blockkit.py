"""Block Kit as Slack checks it: a message's or a view's blocks against Slack's documented limits.

``check_message(args)`` and ``check_view(view)`` return the ``Problem``s Slack would answer a
chat.postMessage / chat.update / response_url post or a views.open / views.update / views.push /
views.publish with, in Slack's words (``[ERROR] ... [json-pointer:/blocks/0/text]``). Tests call them
on a builder's output directly; ``slackkit.webapi`` calls them on every payload it is sent, so a
payload the stand-in accepts has a good chance of being accepted by Slack too.

The rules it enforces (Slack's Block Kit reference, docs.slack.dev), as tables per block and
element type (``BLOCK_SPECS``, ``ELEMENT_SPECS``) and per surface (``MESSAGE_CHECKS``, ``VIEW_CHECKS``):

- messages hold up to 50 blocks, modals and Home tabs up to 100; input blocks only in modals and
  Home tabs; a message needs text, blocks or attachments, text up to 40,000 characters
  (``no_text``, ``msg_too_long``); blocks inside attachments are checked as a message's;
- section text 3000 characters, fields 10 x 2000, text or fields required; header 150
  (plain_text); actions 1-25 elements; context 1-10 elements; input label and hint 2000
  (plain_text); markdown 12,000; video title 200; image and file fields;
- text objects are plain_text or mrkdwn and not empty; where Slack wants plain_text, mrkdwn is
  refused;
- button text 75 (plain_text), value 2000, url 3000, accessibility_label 75, style primary or
  danger; action_id and block_id 255; static selects 100 options or option groups (one of the two,
  not both); checkboxes and radio buttons 1-10 options; overflow 1-5; option text 75, value 150,
  description 75; option group label 75; placeholders 150 (plain_text); initial_value of a text
  input 3000; unknown block or element types are refused;
- block_id unique within a message or view; action_id unique within its block (the same id in
  two blocks is fine);
- views: type modal or home; a modal's title, submit and close 24 characters (plain_text), title
  required, submit required when the view has an input block; private_metadata 3000,
  callback_id and external_id 255.

Messages answer ``invalid_blocks`` for a block problem; views answer ``invalid_arguments`` for every
problem, as views.* do on Slack. Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

__all__ = ["Problem", "check_blocks", "check_element", "check_message", "check_view", "BLOCK_SPECS",
           "ELEMENT_SPECS", "MESSAGE_CHECKS", "VIEW_CHECKS"]


@dataclass(frozen=True)
class Problem:
    """One reason a payload is rejected, rendered like Slack's response_metadata."""

    error: str  # the "error" code Slack answers with
    reason: str
    pointer: str = ""

    def render(self) -> str:
        where = f" [json-pointer:{self.pointer}]" if self.pointer else ""
        return f"[ERROR] {self.reason}{where}"


# Each rule yields (reason, pointer) pairs; the caller picks the error code
# ("invalid_blocks" in messages, "invalid_arguments" in views).

Finding = tuple[str, str]  # (reason, json pointer)
TEXT_TYPES = ("plain_text", "mrkdwn")


def _ptr(base: str, *parts: Any) -> str:
    return base + "".join(f"/{p}" for p in parts)


def check_text_object(obj: Any, pointer: str, *, max_len: int | None = None, plain: bool = False) -> Iterator[Finding]:
    """A composition text object: {"type": "plain_text"|"mrkdwn", "text": "..."}."""
    if not isinstance(obj, dict):
        yield "expected a text object", pointer
        return
    kind = obj.get("type")
    if kind not in TEXT_TYPES:
        yield f"text object type must be one of {', '.join(TEXT_TYPES)}, not {kind!r}", _ptr(pointer, "type")
        return
    if plain and kind != "plain_text":
        yield "must be a plain_text text object", _ptr(pointer, "type")
    text = obj.get("text")
    if not isinstance(text, str):
        yield "missing required field: text", _ptr(pointer, "text")
        return
    if not text:
        yield "must be more than 0 characters", _ptr(pointer, "text")
    if max_len is not None and len(text) > max_len:
        yield f"must be less than {max_len + 1} characters", _ptr(pointer, "text")


class Rule:
    def check(self, obj: dict, pointer: str) -> Iterator[Finding]:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Rule):
    """A text object field, e.g. section.text or button.text."""

    field: str
    max_len: int | None = None
    plain: bool = False
    required: bool = False

    def check(self, obj, pointer):
        if self.field not in obj:
            if self.required:
                yield f"missing required field: {self.field}", _ptr(pointer, self.field)
            return
        yield from check_text_object(obj[self.field], _ptr(pointer, self.field), max_len=self.max_len, plain=self.plain)


@dataclass(frozen=True)
class Str(Rule):
    """A plain string field with a maximum length, e.g. action_id."""

    field: str
    max_len: int
    required: bool = False

    def check(self, obj, pointer):
        value = obj.get(self.field)
        if value is None:
            if self.required:
                yield f"missing required field: {self.field}", _ptr(pointer, self.field)
            return
        if not isinstance(value, str):
            yield "must be a string", _ptr(pointer, self.field)
        elif len(value) > self.max_len:
            yield f"must be less than {self.max_len + 1} characters", _ptr(pointer, self.field)


@dataclass(frozen=True)
class Items(Rule):
    """A list field with a maximum (and minimum) number of items, each checked by `each`."""

    field: str
    max_items: int
    min_items: int = 0
    required: bool = False
    each: Callable[[Any, str], Iterable[Finding]] | None = None

    def check(self, obj, pointer):
        items = obj.get(self.field)
        here = _ptr(pointer, self.field)
        if items is None:
            if self.required:
                yield f"missing required field: {self.field}", here
            return
        if not isinstance(items, list):
            yield "must be an array", here
            return
        if len(items) > self.max_items:
            yield f"must provide no more than {self.max_items} items", here
        if len(items) < self.min_items:
            yield f"must provide at least {self.min_items} items", here
        if self.each is not None:
            for i, item in enumerate(items):
                yield from self.each(item, _ptr(here, i))


@dataclass(frozen=True)
class Element(Rule):
    """A nested block element, e.g. section.accessory or input.element."""

    field: str
    required: bool = False

    def check(self, obj, pointer):
        if self.field not in obj:
            if self.required:
                yield f"missing required field: {self.field}", _ptr(pointer, self.field)
            return
        yield from check_element(obj[self.field], _ptr(pointer, self.field))


@dataclass(frozen=True)
class OneOf(Rule):
    """At least one (and, if `exclusive`, at most one) of the fields must be present."""

    fields: tuple[str, ...]
    exclusive: bool = False

    def check(self, obj, pointer):
        present = [f for f in self.fields if obj.get(f) not in (None, [], "")]
        if not present:
            yield f"must provide one of: {', '.join(self.fields)}", pointer
        elif self.exclusive and len(present) > 1:
            yield f"must provide only one of: {', '.join(self.fields)}", pointer


@dataclass(frozen=True)
class Choice(Rule):
    """A string field restricted to a set of values, e.g. button.style."""

    field: str
    values: tuple[str, ...]

    def check(self, obj, pointer):
        if self.field in obj and obj[self.field] not in self.values:
            yield f"must be one of {', '.join(self.values)}", _ptr(pointer, self.field)


def _option_checker(plain: bool) -> Callable[[Any, str], Iterator[Finding]]:
    """Option objects: text up to 75 chars, value up to 150."""

    def check(option: Any, pointer: str) -> Iterator[Finding]:
        if not isinstance(option, dict):
            yield "expected an option object", pointer
            return
        for rule in (Text("text", 75, plain=plain, required=True), Str("value", 150), Text("description", 75)):
            yield from rule.check(option, pointer)

    return check


def _option_group_checker(option: Callable[[Any, str], Iterator[Finding]]) -> Callable[[Any, str], Iterator[Finding]]:
    def check(group: Any, pointer: str) -> Iterator[Finding]:
        if not isinstance(group, dict):
            yield "expected an option group object", pointer
            return
        yield from Text("label", 75, plain=True, required=True).check(group, pointer)
        yield from Items("options", 100, min_items=1, required=True, each=option).check(group, pointer)

    return check


_select_option = _option_checker(plain=True)
_choice_option = _option_checker(plain=False)  # checkboxes / radio buttons allow mrkdwn

ACTION_ID = Str("action_id", 255)
PLACEHOLDER = Text("placeholder", 150, plain=True)
STATIC_SELECT = (
    ACTION_ID,
    PLACEHOLDER,
    Items("options", 100, each=_select_option),
    Items("option_groups", 100, each=_option_group_checker(_select_option)),
    OneOf(("options", "option_groups"), exclusive=True),
)
PICKER = (ACTION_ID, PLACEHOLDER)  # elements whose only limits are these two

ELEMENT_SPECS: dict[str, tuple[Rule, ...]] = {
    "button": (
        Text("text", 75, plain=True, required=True),
        ACTION_ID,
        Str("value", 2000),
        Str("url", 3000),
        Str("accessibility_label", 75),
        Choice("style", ("primary", "danger")),
    ),
    "static_select": STATIC_SELECT,
    "multi_static_select": STATIC_SELECT,
    "checkboxes": (ACTION_ID, Items("options", 10, min_items=1, required=True, each=_choice_option)),
    "radio_buttons": (ACTION_ID, Items("options", 10, min_items=1, required=True, each=_choice_option)),
    "overflow": (ACTION_ID, Items("options", 5, min_items=1, required=True, each=_select_option)),
    "image": (Str("image_url", 3000), Str("alt_text", 2000, required=True)),
    "plain_text_input": (ACTION_ID, PLACEHOLDER, Str("initial_value", 3000)),
    **{
        name: PICKER
        for name in (
            "datepicker",
            "timepicker",
            "datetimepicker",
            "email_text_input",
            "url_text_input",
            "number_input",
            "file_input",
            "rich_text_input",
            "external_select",
            "multi_external_select",
            "users_select",
            "multi_users_select",
            "conversations_select",
            "multi_conversations_select",
            "channels_select",
            "multi_channels_select",
            "workflow_button",
        )
    },
}


def check_element(element: Any, pointer: str) -> Iterator[Finding]:
    if not isinstance(element, dict):
        yield "expected an element object", pointer
        return
    kind = element.get("type")
    rules = ELEMENT_SPECS.get(kind)  # type: ignore[arg-type]
    if rules is None:
        yield f"unsupported element type: {kind!r}", _ptr(pointer, "type")
        return
    for rule in rules:
        yield from rule.check(element, pointer)


def _check_context_item(item: Any, pointer: str) -> Iterator[Finding]:
    if isinstance(item, dict) and item.get("type") == "image":
        yield from check_element(item, pointer)
    else:
        yield from check_text_object(item, pointer)


def _check_element_item(item: Any, pointer: str) -> Iterator[Finding]:
    yield from check_element(item, pointer)


def _check_field_item(item: Any, pointer: str) -> Iterator[Finding]:
    yield from check_text_object(item, pointer, max_len=2000)


BLOCK_SPECS: dict[str, tuple[Rule, ...]] = {
    "section": (
        Text("text", 3000),
        Items("fields", 10, each=_check_field_item),
        OneOf(("text", "fields")),
        Element("accessory"),
    ),
    "header": (Text("text", 150, plain=True, required=True),),
    "actions": (Items("elements", 25, min_items=1, required=True, each=_check_element_item),),
    "context": (Items("elements", 10, min_items=1, required=True, each=_check_context_item),),
    "divider": (),
    "image": (Str("image_url", 3000), Str("alt_text", 2000, required=True), Text("title", 2000, plain=True)),
    "input": (
        Text("label", 2000, plain=True, required=True),
        Text("hint", 2000, plain=True),
        Element("element", required=True),
    ),
    "markdown": (Str("text", 12000, required=True),),
    "rich_text": (Items("elements", 10_000, required=True),),
    "video": (Text("title", 200, plain=True, required=True), Str("alt_text", 2000, required=True)),
    "file": (Str("external_id", 255, required=True),),
}


def check_blocks(blocks: Any, pointer: str, *, max_blocks: int, surface: str) -> Iterator[Finding]:
    """Check a list of blocks for a surface ("message", "modal" or "home")."""
    if not isinstance(blocks, list):
        yield "must be an array", pointer
        return
    if len(blocks) > max_blocks:
        yield f"must provide no more than {max_blocks} items", pointer
    seen_block_ids: dict[str, int] = {}
    for i, block in enumerate(blocks):
        here = _ptr(pointer, i)
        if not isinstance(block, dict):
            yield "expected a block object", here
            continue
        kind = block.get("type")
        rules = BLOCK_SPECS.get(kind)  # type: ignore[arg-type]
        if rules is None:
            yield f"unsupported block type: {kind!r}", _ptr(here, "type")
            continue
        if kind == "input" and surface == "message":
            yield "input blocks are only supported in modals and Home tabs, not in messages", _ptr(here, "type")
        block_id = block.get("block_id")
        if block_id is not None:
            yield from Str("block_id", 255).check(block, here)
            if not isinstance(block_id, str):
                pass
            elif block_id in seen_block_ids:
                yield f"duplicate block_id {block_id!r} (first used by block {seen_block_ids[block_id]})", _ptr(
                    here, "block_id"
                )
            else:
                seen_block_ids[block_id] = i
        for rule in rules:
            yield from rule.check(block, here)
        yield from _duplicate_action_ids(block, here)


def _interactive_elements(block: dict, pointer: str) -> Iterator[tuple[dict, str]]:
    """A block's elements with their pointers: `elements` (actions, context), `accessory`, `element`."""
    elements = block.get("elements")
    if isinstance(elements, list):
        for i, element in enumerate(elements):
            if isinstance(element, dict):
                yield element, _ptr(pointer, "elements", i)
    for field in ("accessory", "element"):
        if isinstance(block.get(field), dict):
            yield block[field], _ptr(pointer, field)


def _duplicate_action_ids(block: dict, pointer: str) -> Iterator[Finding]:
    """An action_id must be unique among the elements of its block (Slack: "should be unique among all
    other action_ids in the containing block"); the same id in two blocks is fine. Elements without one
    get one of Slack's making. A non-string action_id is reported by ACTION_ID, not here."""
    seen: dict[str, str] = {}
    for element, here in _interactive_elements(block, pointer):
        action_id = element.get("action_id")
        if not isinstance(action_id, str):
            continue
        if action_id in seen:
            yield (f"duplicate action_id {action_id!r} in {block.get('type')} block (first used at {seen[action_id]})",
                   _ptr(here, "action_id"))
        else:
            seen[action_id] = here


# --------------------------------------------------------------------------
# Payload checks: messages and views.  Each check returns Problems.
# --------------------------------------------------------------------------

MessageCheck = Callable[[dict], Iterable[Problem]]


def _message_has_content(args: dict) -> Iterable[Problem]:
    if args.get("delete_original"):  # response_url deletions carry no content
        return []
    if any(args.get(k) not in (None, "", []) for k in ("text", "blocks", "attachments")):
        return []
    return [Problem("no_text", "must provide one of: text, blocks, attachments")]


def _message_text_length(args: dict) -> Iterable[Problem]:
    text = args.get("text")
    if isinstance(text, str) and len(text) > 40_000:
        return [Problem("msg_too_long", "text must be no more than 40000 characters", "/text")]
    return []


def _message_blocks(args: dict) -> Iterable[Problem]:
    if args.get("blocks") is None:
        return []
    return [
        Problem("invalid_blocks", reason, ptr)
        for reason, ptr in check_blocks(args["blocks"], "/blocks", max_blocks=50, surface="message")
    ]


def _message_attachments(args: dict) -> Iterable[Problem]:
    attachments = args.get("attachments")
    if attachments is None:
        return []
    if not isinstance(attachments, list):
        return [Problem("invalid_attachments", "attachments must be an array", "/attachments")]
    problems = []
    for i, attachment in enumerate(attachments):
        if isinstance(attachment, dict) and attachment.get("blocks") is not None:
            found = check_blocks(attachment["blocks"], f"/attachments/{i}/blocks", max_blocks=50, surface="message")
            problems += [Problem("invalid_blocks", reason, ptr) for reason, ptr in found]
    return problems


MESSAGE_CHECKS: tuple[MessageCheck, ...] = (
    _message_has_content,
    _message_text_length,
    _message_blocks,
    _message_attachments,
)


def check_message(args: dict) -> list[Problem]:
    return [p for check in MESSAGE_CHECKS for p in check(args)]


ViewCheck = Callable[[dict], Iterable[Finding]]
MODAL_BUTTON_TEXT = 24


def _view_type(view: dict) -> Iterable[Finding]:
    if view.get("type") not in ("modal", "home"):
        yield "view type must be modal or home", "/view/type"


def _view_modal_texts(view: dict) -> Iterable[Finding]:
    if view.get("type") != "modal":
        return
    rules = (
        Text("title", MODAL_BUTTON_TEXT, plain=True, required=True),
        Text("submit", MODAL_BUTTON_TEXT, plain=True),
        Text("close", MODAL_BUTTON_TEXT, plain=True),
    )
    for rule in rules:
        yield from rule.check(view, "/view")


def _view_strings(view: dict) -> Iterable[Finding]:
    for rule in (Str("private_metadata", 3000), Str("callback_id", 255), Str("external_id", 255)):
        yield from rule.check(view, "/view")


def _view_blocks(view: dict) -> Iterable[Finding]:
    if "blocks" not in view:
        yield "missing required field: blocks", "/view/blocks"
        return
    surface = "home" if view.get("type") == "home" else "modal"
    yield from check_blocks(view["blocks"], "/view/blocks", max_blocks=100, surface=surface)


def _view_submit_for_inputs(view: dict) -> Iterable[Finding]:
    blocks = view.get("blocks")
    if view.get("type") != "modal" or not isinstance(blocks, list) or "submit" in view:
        return
    if any(isinstance(b, dict) and b.get("type") == "input" for b in blocks):
        yield "submit is required when an input block is within the blocks array", "/view/submit"


VIEW_CHECKS: tuple[ViewCheck, ...] = (
    _view_type,
    _view_modal_texts,
    _view_strings,
    _view_blocks,
    _view_submit_for_inputs,
)


def check_view(view: Any) -> list[Problem]:
    """Views answer "invalid_arguments" for every problem, as views.* do on Slack."""
    if not isinstance(view, dict):
        return [Problem("invalid_arguments", "view must be a JSON object", "/view")]
    return [Problem("invalid_arguments", reason, ptr) for check in VIEW_CHECKS for reason, ptr in check(view)]
