"""Shared field helpers for modals, so input blocks are built one way everywhere; and the one place
what people send (modal state, private_metadata, command text, type-ahead queries, ids in button
values) is read, so it is cleaned the same way for every listener.

Cleaning: NUL characters are taken out of all text (Postgres refuses them in text columns, SQLite
keeps them; nobody types one, so they go on both) and lone UTF-16 surrogates, which neither
database can encode, become U+FFFD. Ids: ASCII digits up to MAX_ID, anything else is 0, which no
row has, so the store answers "there is no …" instead of failing on a number no column holds.
"""

from __future__ import annotations

import json
import re
from typing import Any

from slack_sdk.models.blocks import InputBlock, PlainTextObject

from messages.text import unescape
from store.models import MAX_ID
_NUMBER = re.compile(r"[0-9]{1,10}")


def input_block(block_id: str, label: str, element, *, optional: bool = False, hint: str | None = None) -> InputBlock:
    return InputBlock(
        block_id=str(block_id),
        label=label,
        element=element,
        optional=optional,
        hint=PlainTextObject(text=hint) if hint else None,
    )


def clean(value: Any) -> Any:
    """Text the databases can keep, through lists and dicts: NUL taken out, lone surrogates replaced."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
        return value
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    return value


def command_text(command: dict) -> str:
    """A slash command's text as the person typed it: Slack's escaping undone, cleaned, trimmed."""
    return clean(unescape(command.get("text"))).strip()


def typed(payload: dict) -> str:
    """What someone typed into a type-ahead (block_suggestion), cleaned."""
    value = payload.get("value")
    return clean(value) if isinstance(value, str) else ""


def number(value: Any, default: int = -1) -> int:
    """A whole number 0..MAX_ID from a button value or metadata (an int, or ASCII digits), else `default`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= MAX_ID else default
    if isinstance(value, str) and _NUMBER.fullmatch(value) and int(value) <= MAX_ID:
        return int(value)
    return default


def id_from(value: Any) -> int:
    """A row id (1..MAX_ID) from a button value or metadata, or 0, which no row has (the store says NotFound)."""
    found = number(value, 0)
    return found if found > 0 else 0


def read_state(values: dict) -> dict[str, object]:
    """Flatten a view_submission's state into {block_id: value}, whatever the element type; cleaned."""
    form: dict[str, object] = {}
    for block_id, actions in (values or {}).items():
        for element in actions.values():
            kind = element.get("type")
            if kind in ("static_select", "external_select", "radio_buttons"):
                chosen = element.get("selected_option")
                form[block_id] = chosen.get("value") if chosen else None
            elif kind == "users_select":
                form[block_id] = element.get("selected_user")
            elif kind in ("conversations_select", "channels_select"):
                form[block_id] = element.get("selected_conversation") or element.get("selected_channel")
            elif kind == "checkboxes":
                form[block_id] = [o.get("value") for o in element.get("selected_options") or []]
            elif kind in ("multi_static_select", "multi_external_select"):
                form[block_id] = [o.get("value") for o in element.get("selected_options") or []]
            elif kind == "datepicker":
                form[block_id] = element.get("selected_date")
            elif kind == "timepicker":
                form[block_id] = element.get("selected_time")
            elif kind == "datetimepicker":
                form[block_id] = element.get("selected_date_time")
            elif kind == "number_input":
                form[block_id] = element.get("value")
            else:
                form[block_id] = element.get("value")
    return clean(form)


def read_metadata(view_or_text: dict | str | None) -> dict[str, Any]:
    """A modal's private_metadata as a dict: {} if it is missing or not the JSON we wrote."""
    text = view_or_text.get("private_metadata") if isinstance(view_or_text, dict) else view_or_text
    try:
        data = json.loads(text or "{}")
    except (ValueError, RecursionError):
        return {}
    return clean(data) if isinstance(data, dict) else {}


def metadata_id(view: dict, key: str) -> int:
    """A positive id from private_metadata, or 0 (which no row has, so the store says NotFound)."""
    return id_from(read_metadata(view).get(key))
