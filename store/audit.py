"""Audit events: who did what to which object, when, from what to what."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from store.models import AuditEvent
from store import clock


def record(
    session: Session,
    *,
    actor_id: str,
    action: str,
    object_type: str,
    object_id: int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        at=at or clock.now(),
    )
    session.add(event)
    return event
