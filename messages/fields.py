"""Shared field helpers for modals, so input blocks are built one way everywhere."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import InputBlock, PlainTextObject


def input_block(block_id: str, label: str, element, *, optional: bool = False, hint: str | None = None) -> InputBlock:
    return InputBlock(
        block_id=str(block_id),
        label=label,
        element=element,
        optional=optional,
        hint=PlainTextObject(text=hint) if hint else None,
    )


def read_state(values: dict) -> dict[str, object]:
    """Flatten a view_submission's state into {block_id: value}, whatever the element type."""
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
    return form


def read_metadata(view_or_text: dict | str | None) -> dict[str, Any]:
    """A modal's private_metadata as a dict: {} if it is missing or not the JSON we wrote."""
    text = view_or_text.get("private_metadata") if isinstance(view_or_text, dict) else view_or_text
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def metadata_id(view: dict, key: str) -> int:
    """A positive id from private_metadata, or 0 (which no row has, so the store says NotFound)."""
    value = read_metadata(view).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
