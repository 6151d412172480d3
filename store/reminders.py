"""Messages the clock sends at most once, whoever runs it and however often.

Each has an idempotency key (kind, subject, period) — the outbox's unique column. `post_once`
inserts with ON CONFLICT DO NOTHING: when two clocks (or a clock and a catch-up `tick`) reach the
same reminder, exactly one row is written, so exactly one message goes out. A reminder meant for a
person waits for the start of their business day in their own time zone (`not_before`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.models import OutboxMessage, utcnow


def reminder_key(kind: str, subject: tuple[str, int] | str, period: str) -> str:
    """e.g. reminder_key("accept_reminder", ("lead", 42), "2026-12-01") -> "accept_reminder:lead:42:2026-12-01"."""
    subject_text = subject if isinstance(subject, str) else f"{subject[0]}:{subject[1]}"
    return f"{kind}:{subject_text}:{period}"[:200]


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
    now = now or utcnow()  # the clock's pass instant, so a catch-up pass for a past `now` sends at once
    values = {
        "created_at": now,
        "method": method,
        "channel": channel,
        "payload": message,
        "version": 1,
        "kind": kind,
        "subject_type": subject[0] if subject else None,
        "subject_id": subject[1] if subject else None,
        "audience": audience,
        "idempotency_key": key,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": max(now, not_before) if not_before else now,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[OutboxMessage.idempotency_key])
        .returning(OutboxMessage.id)
    )
    return session.execute(statement).scalar_one_or_none()
