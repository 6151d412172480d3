"""Plain-dict Block Kit helpers for messages on hot paths (cards, notices, lists).

slack_sdk's models validate on every to_dict(), which costs milliseconds on paths Slack times;
modals keep using the models. Limits are still enforced where they matter (truncate here, and
the Web API stand-in rejects in tests what Slack would reject).
"""

from __future__ import annotations

from messages.text import truncate


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def header(text: str) -> dict:
    return {"type": "header", "text": plain(truncate(text, 150))}


def section(text: str, *, accessory: dict | None = None, block_id: str | None = None) -> dict:
    block = {"type": "section", "text": mrkdwn(truncate(text, 3000))}
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def fields(texts: list[str]) -> dict:
    return {"type": "section", "fields": [mrkdwn(truncate(t, 2000)) for t in texts[:10]]}


def context(text: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(truncate(text, 3000))]}


def divider() -> dict:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict:
    element = {"type": "button", "text": plain(truncate(text, 75)), "action_id": str(action_id), "value": value}
    if style:
        element["style"] = style
    return element


def actions(elements: list[dict], *, block_id: str | None = None) -> dict:
    block = {"type": "actions", "elements": elements[:25]}
    if block_id:
        block["block_id"] = str(block_id)
    return block
