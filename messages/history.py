"""The audit trail as an ephemeral message: who did what, when (in the reader's zone), from what to what."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from messages import words  # noqa: F401 - registers how refusals are worded (a reference not known is quoted)
from messages.text import escape, truncate, when

VERBS = {
    "lead.handed_off": "handed off the lead",
    "lead.accepted": "accepted the lead",
    "lead.declined": "declined the lead",
    "lead.first_outreach": "logged first outreach",
    "lead.conflict_detected": "flagged a possible conflict",
    "action.created": "created the action",
    "action.done": "marked it done",
    "action.snoozed": "snoozed it",
    "action.reassigned": "reassigned it",
    "issue.recorded": "recorded the issue",
}
USER_RE = re.compile(r"^[UW][A-Z0-9]{6,}$")
SHOWN_ON_CREATE = 8  # facts listed for an event that created the object


def actor(actor_id: str) -> str:
    if USER_RE.match(actor_id or ""):
        return f"<@{actor_id}>"
    if actor_id == "cli":
        return "_an admin (command line)_"
    if (actor_id or "").startswith("system:"):
        return f"_partnerbot ({escape(actor_id.split(':', 1)[1].replace('_', ' '))})_"
    return f"_{escape(actor_id)}_"


def verb(action: str) -> str:
    return VERBS.get(action) or escape(action.split(".", 1)[-1].replace("_", " "))


def _key(name: str) -> str:
    return escape(name.removesuffix("_id").replace("_", " "))


def value(raw: Any, zone: ZoneInfo) -> str:
    """One stored value, safe for mrkdwn: people as mentions, moments in the reader's zone."""
    if raw is None or raw == "" or raw == []:
        return "—"
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, str):
        if USER_RE.match(raw):
            return f"<@{raw}>"
        if "T" in raw and len(raw) >= 19:
            try:
                moment = dt.datetime.fromisoformat(raw)
                if moment.tzinfo is not None:
                    return when(moment, zone)
            except ValueError:
                pass
        return f"“{escape(truncate(raw, 150))}”" if " " in raw else escape(truncate(raw, 150))
    if isinstance(raw, list):
        return ", ".join(value(item, zone) for item in raw[:10]) + (" …" if len(raw) > 10 else "")
    if isinstance(raw, dict):
        return escape(truncate(json.dumps(raw, sort_keys=True, default=str), 150))
    return escape(str(raw))


def changes(before: dict | None, after: dict | None, zone: ZoneInfo) -> list[str]:
    before, after = before or {}, after or {}
    if not before:
        facts = [f"{_key(k)}: {value(v, zone)}" for k, v in after.items() if v not in (None, "", [])]
        return facts[:SHOWN_ON_CREATE] + (["…"] if len(facts) > SHOWN_ON_CREATE else [])
    keys = list(dict.fromkeys([*before, *after]))
    return [f"{_key(k)}: {value(before.get(k), zone)} → {value(after.get(k), zone)}"
            for k in keys if before.get(k) != after.get(k)]


def event_line(event, zone: ZoneInfo) -> str:
    line = f"{when(event.at, zone)} · {actor(event.actor_id)} {verb(event.action)}"
    changed = changes(event.before, event.after, zone)
    if changed:
        line += "\n" + "\n".join(f"      {c}" for c in changed)
    return truncate(line, 2900)


def history_message(found, zone: ZoneInfo) -> dict[str, Any]:
    """`found` is a store.history.History."""
    title = f"{found.ref}" + (f" · {escape(truncate(found.title, 150))}" if found.title else "")
    if not found.events:
        return {"response_type": "ephemeral", "text": f"*History of {title}*\nNothing has been recorded about it yet."}
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*History of {title}*"}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": event_line(e, zone)}} for e in found.events]
    shown = len(found.events)
    note = (f"All {shown} events, oldest first." if found.total <= shown
            else f"Showing the latest {shown} of {found.total} events, oldest first.")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note + " Times are in your time zone."}]})
    return {"response_type": "ephemeral", "text": f"History of {title}", "blocks": blocks}
