"""Messages the clock sends at most once, whoever runs it and however often.

Each has an idempotency key (kind, subject, period) — the outbox's unique column. `post_once`
inserts with ON CONFLICT DO NOTHING: when two clocks (or a clock and a catch-up `tick`) reach the
same reminder, exactly one row is written, so exactly one message goes out. A reminder meant for a
person waits for the start of their business day in their own time zone (`not_before`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.models import OutboxMessage
from store import clock


def reminder_key(kind: str, subject: tuple[str, int] | str, period: str) -> str:
    """e.g. reminder_key("accept_reminder", ("lead", 42), "2026-12-01") -> "accept_reminder:lead:42:2026-12-01"."""
    subject_text = subject if isinstance(subject, str) else f"{subject[0]}:{subject[1]}"
    return f"{kind}:{subject_text}:{period}"[:200]


@dataclass(frozen=True)
class Once:
    """One message to record at most once (see post_many_once)."""

    key: str
    channel: str
    message: dict[str, Any]
    kind: str
    subject: tuple[str, int] | None = None
    audience: str | None = None
    not_before: dt.datetime | None = None
    method: str = "chat.postMessage"


def post_once(
    session: Session,
    *,
    key: str,
    channel: str,
    message: dict[str, Any],
    kind: str,
    subject: tuple[str, int] | None = None,
    audience: str | None = None,
    not_before: dt.datetime | None = None,
    method: str = "chat.postMessage",
    now: dt.datetime | None = None,
) -> int | None:
    """Record a message under `key` unless one exists; return its id, or None if it did.

    `method` is chat.postMessage, or files.upload_v2 with a payload of filename, title,
    initial_comment and content_base64.
    """
    ids = post_many_once(session, [Once(key, channel, message, kind, subject, audience, not_before, method)], now=now)
    return ids[0] if ids else None


def post_many_once(session: Session, items: list[Once], *, now: dt.datetime | None = None,
                   chunk: int = 500) -> list[int]:
    """Record many messages in multi-row INSERTs, each at most once; return the ids written.

    `now` is the clock pass's instant, so a catch-up pass for a past instant sends at once.
    """
    now = now or clock.now()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    written: list[int] = []
    for start in range(0, len(items), chunk):
        rows = [
            {
                "created_at": now, "method": item.method, "channel": item.channel, "payload": item.message,
                "version": 1, "kind": item.kind,
                "subject_type": item.subject[0] if item.subject else None,
                "subject_id": item.subject[1] if item.subject else None,
                "audience": item.audience, "idempotency_key": item.key, "status": "pending", "attempts": 0,
                "next_attempt_at": max(now, item.not_before) if item.not_before else now,
            }
            for item in items[start:start + chunk]
        ]
        statement = (insert(OutboxMessage).values(rows)
                     .on_conflict_do_nothing(index_elements=[OutboxMessage.idempotency_key])
                     .returning(OutboxMessage.id))
        written += list(session.execute(statement).scalars())
    return written
