"""The outbox: Slack messages recorded in the same transaction as the change that caused them.

`post()` and `refresh()` only write rows. `deliver()` sends them after commit and records the
outcome; a Slack error (HTTP 5xx, 429, a timeout) leaves the row pending with a retry time, so a
Slack outage delays a message and never drops it. Claims are conditional UPDATEs, so two
deliverers (a web worker and the clock) never send the same row twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from store.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600
# Errors that retrying will not cure: the row is marked failed (kept, listed by `partnerbot outbox`).
PERMANENT_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_arguments",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "user_not_found",
        "cannot_dm_bot",
        "message_not_found",
        "cant_update_message",
    }
)


def post(
    session: Session,
    *,
    channel: str,
    message: dict[str, Any],
    kind: str,
    subject: tuple[str, int] | None = None,
    audience: str | None = None,
    key: str | None = None,
) -> OutboxMessage:
    """Record a chat.postMessage to send once the surrounding transaction commits."""
    row = OutboxMessage(
        method="chat.postMessage",
        channel=channel,
        payload=message,
        kind=kind,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        audience=audience,
        idempotency_key=key,
        next_attempt_at=utcnow(),
    )
    session.add(row)
    return row


def refresh(
    session: Session,
    *,
    subject: tuple[str, int],
    kinds: Iterable[str],
    render: Callable[[OutboxMessage], dict[str, Any]],
) -> list[OutboxMessage]:
    """Bring every posted copy of a subject's cards up to date (see refresh_many)."""
    return refresh_many(session, [(subject, render)], kinds=kinds)


def refresh_many(
    session: Session,
    items: list[tuple[tuple[str, int], Callable[[OutboxMessage], dict[str, Any]]]],
    *,
    kinds: Iterable[str],
) -> list[OutboxMessage]:
    """Bring every posted copy of several subjects' cards up to date, in two queries.

    A copy still waiting to be sent is re-rendered in place (it will go out current); a copy
    already in Slack gets a chat.update, coalesced with any edit of it that has not gone out yet.
    """
    if not items:
        return []
    session.flush()
    renders = {subject: render for subject, render in items}
    subject_types = {subject_type for subject_type, _ in renders}
    subject_ids = {subject_id for _, subject_id in renders}
    candidates = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.subject_type.in_(subject_types),
            OutboxMessage.subject_id.in_(subject_ids),
            OutboxMessage.kind.in_(list(kinds)),
            OutboxMessage.method == "chat.postMessage",
        )
        .order_by(OutboxMessage.id)
    ).all()
    originals = [o for o in candidates if (o.subject_type, o.subject_id) in renders]
    sent_ids = [o.id for o in originals if o.status == "sent"]
    waiting = {
        w.update_of_id: w
        for w in session.scalars(
            select(OutboxMessage).where(OutboxMessage.update_of_id.in_(sent_ids), OutboxMessage.status == "pending")
        )
    } if sent_ids else {}
    touched: list[OutboxMessage] = []
    for original in originals:
        message = renders[(original.subject_type, original.subject_id)](original)
        if original.status != "sent":
            original.payload = message
            original.version = original.version + 1
            touched.append(original)
        elif original.id in waiting:
            edit = waiting[original.id]
            edit.payload = message
            edit.version = edit.version + 1
            touched.append(edit)
        else:
            edit = _edit_of(original, message)
            session.add(edit)
            touched.append(edit)
    return touched


def _edit_of(original: OutboxMessage, message: dict[str, Any]) -> OutboxMessage:
    """A chat.update of a posted message, sent once the original's channel and ts are known."""
    return OutboxMessage(
        method="chat.update",
        channel=original.result_channel or original.channel,
        payload=message,
        kind=original.kind,
        subject_type=original.subject_type,
        subject_id=original.subject_id,
        audience=original.audience,
        update_of_id=original.id,
        next_attempt_at=utcnow(),
    )


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    follow_ups: list[int] = field(default_factory=list)  # edits queued because a card changed in flight

    def add(self, other: "DeliveryReport") -> "DeliveryReport":
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        return self


def _claim(factory: sessionmaker[Session], ids: list[int] | None, now: dt.datetime, limit: int):
    """Claim due rows in one transaction and return them (with the originals of edits), detached."""
    with factory() as session, session.begin():
        query = select(OutboxMessage.id).where(
            OutboxMessage.status == "pending",
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        if ids is not None:
            query = query.where(OutboxMessage.id.in_(ids))
        else:
            query = query.where(OutboxMessage.next_attempt_at <= now)
        candidates = session.scalars(query.order_by(OutboxMessage.id).limit(limit)).all()
        if not candidates:
            return []
        # A conditional UPDATE per row: when two deliverers race, each row goes to exactly one.
        claimed = [
            row_id for row_id in candidates
            if session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.status == "pending",
                       or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
                .values(claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
                .execution_options(synchronize_session=False)
            ).rowcount == 1
        ]
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(claimed)).order_by(OutboxMessage.id)))
        original_ids = {row.update_of_id for row in rows if row.update_of_id}
        originals = {o.id: o for o in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(original_ids)))} if original_ids else {}
        session.expunge_all()
        return [(row, originals.get(row.update_of_id)) for row in rows]


def _retry_after(error: Exception, attempts: int) -> float:
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None) == 429:
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        value = headers.get("retry-after")
        if isinstance(value, list):
            value = value[0] if value else None
        try:
            return max(1.0, float(value))
        except (TypeError, ValueError):
            pass
    return float(min(MAX_BACKOFF_SECONDS, 15 * 2 ** max(0, attempts - 1)))


def _send(client: WebClient, row: OutboxMessage, original: OutboxMessage | None) -> tuple[str, str]:
    message = dict(row.payload)
    if row.method == "files.upload_v2":
        # payload: filename, title, initial_comment, content_base64 (an image made by the clock)
        content = base64.b64decode(message.pop("content_base64"))
        response = client.files_upload_v2(channel=row.channel, content=content, **message)
        return row.channel, (response.get("file") or {}).get("id")
    if row.method == "chat.update":
        if original is None or not original.result_ts:
            raise LookupError("the message to update has not been sent yet")
        response = client.chat_update(channel=original.result_channel, ts=original.result_ts, **message)
    else:
        response = client.chat_postMessage(channel=row.channel, **message)
    return response.get("channel") or row.channel, response.get("ts")


@dataclass
class _Outcome:
    row: OutboxMessage
    channel: str | None = None
    ts: str | None = None
    reason: str | None = None
    permanent: bool = False
    error: Exception | None = None


def deliver(
    factory: sessionmaker[Session],
    client: WebClient,
    *,
    ids: list[int] | None = None,
    now: dt.datetime | None = None,
    limit: int = 200,
) -> DeliveryReport:
    """Send pending rows (the given ids, or everything due) and record every outcome at once.

    A card that changed while its post was in flight gets a follow-up edit, sent in the same call.
    """
    now = now or utcnow()
    report = _deliver_once(factory, client, ids, now, limit)
    follow_ups = report.follow_ups
    for _ in range(3):
        if not follow_ups:
            break
        more = _deliver_once(factory, client, follow_ups, now, limit)
        report.add(more)
        follow_ups = more.follow_ups
    return report


def _deliver_once(factory, client, ids, now, limit) -> DeliveryReport:
    outcomes: list[_Outcome] = []
    for row, original in _claim(factory, ids, now, limit):
        try:
            channel, ts = _send(client, row, original)
            outcomes.append(_Outcome(row, channel=channel, ts=ts))
        except SlackApiError as error:
            code = (error.response.get("error") if error.response is not None else None) or "unknown"
            status_code = getattr(error.response, "status_code", 200)
            outcomes.append(_Outcome(row, reason=f"{status_code} {code}", error=error,
                                     permanent=code in PERMANENT_ERRORS and status_code < 500))
        except LookupError as error:
            outcomes.append(_Outcome(row, reason=str(error), error=error))
        except Exception as error:  # noqa: BLE001 - timeouts and connection errors: keep and retry
            outcomes.append(_Outcome(row, reason=f"{type(error).__name__}: {error}", error=error))
    return _record(factory, outcomes, now)


def _record(factory: sessionmaker[Session], outcomes: list[_Outcome], now: dt.datetime) -> DeliveryReport:
    report = DeliveryReport()
    if not outcomes:
        return report
    with factory() as session, session.begin():
        fresh = {r.id: r for r in session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_([o.row.id for o in outcomes])))}
        for outcome in outcomes:
            row, current = outcome.row, fresh[outcome.row.id]
            current.attempts = current.attempts + 1
            current.claimed_until = None
            if outcome.reason is None:
                edit = _mark_sent(session, row, current, outcome)
                report.sent.append(row.id)
                if edit is not None:
                    session.flush()
                    report.follow_ups.append(edit.id)
                continue
            log.warning("outbox %s (%s to %s) not sent: %s", row.id, row.method, row.channel, outcome.reason)
            current.last_error = outcome.reason[:2000]
            if outcome.permanent:
                current.status = "failed"
                report.failed.append(row.id)
            else:
                current.next_attempt_at = now + dt.timedelta(seconds=_retry_after(outcome.error, current.attempts))
                report.retrying.append(row.id)
    return report


def _mark_sent(session: Session, row: OutboxMessage, current: OutboxMessage, outcome: _Outcome) -> OutboxMessage | None:
    current.status = "sent"
    current.sent_at = utcnow()
    current.sent_version = row.version
    current.last_error = None
    if row.method == "chat.postMessage":
        current.result_channel = outcome.channel
        current.result_ts = outcome.ts
    if current.version != row.version:
        # The card changed while it was on its way: send the current version as an edit.
        target = current if row.method == "chat.postMessage" else session.get(OutboxMessage, row.update_of_id)
        edit = _edit_of(target, current.payload)
        session.add(edit)
        return edit
    return None


def waiting(session: Session, *, include_failed: bool = True) -> list[OutboxMessage]:
    statuses = ["pending", "failed"] if include_failed else ["pending"]
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.status.in_(statuses)).order_by(OutboxMessage.id)
        )
    )
