"""Escaping and formatting shared by every builder."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo


def escape(text: object) -> str:
    """Make user text safe for mrkdwn: `<!channel>` must ping nobody. Slack asks for &, <, > only."""
    if text is None:
        return ""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str | None) -> str:
    """Slack sends slash-command text with &, < and > escaped; get back what the person typed."""
    return (text or "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def inline_text(text: str) -> str:
    """Inline modal errors are plain text: Slack date markup becomes its fallback, mentions @U…."""
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", r"@\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def user(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "nobody"


def channel(channel_id: str | None) -> str:
    return f"<#{channel_id}>" if channel_id else "no channel"


def when(moment: dt.datetime, fallback_tz: ZoneInfo | None = None) -> str:
    """A time Slack shows in each reader's own time zone; the fallback names the playbook's zone."""
    tz = fallback_tz or ZoneInfo("UTC")
    local = moment.astimezone(tz)
    fallback = local.strftime("%a %d %b %H:%M ") + (local.tzname() or "")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def money(value: Decimal | float | int | None) -> str:
    if value is None:
        return "not given"
    return f"{Decimal(value):,.0f}"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
