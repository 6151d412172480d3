"""The outbox: Slack messages recorded in the same transaction as the change that caused them.

`post()` and `refresh()` only write rows. `deliver()` sends them after commit and records the
outcome; a Slack error (HTTP 5xx, 429, a timeout) leaves the row pending with a retry time (a 429's
Retry-After, for its whole channel), so a Slack outage delays a message and never drops it.

Claims are one conditional UPDATE per batch (`status='pending'` and no live claim, and due), so two
deliverers (web workers, two clocks) never send the same row twice; on Postgres the candidate select
uses FOR UPDATE SKIP LOCKED, so two clocks take different rows instead of queueing on each other. A
claim lasts CLAIM_SECONDS: a deliverer killed after claiming leaves rows that come back when it ends.

The clock's drain (`deliver()` without ids) paces posts to about one a second per channel, as Slack
asks: a pass claims at most one post per channel, skips channels with a post in flight elsewhere,
and moves that channel's other due posts one second apart in the database, so every deliverer
(two clocks included) sees the same schedule. Deliveries of given ids (the answer to someone's
click) go out at once: a few messages from one action are a burst Slack allows.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, select, text, true, update
from sqlalchemy.orm import Session, sessionmaker

from store.models import OutboxMessage
from store import clock

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600
PACE_SECONDS = 1.0  # Slack: about one message a second per channel
PACED_METHODS = ("chat.postMessage", "files.upload_v2")  # what appears as a new message in a channel
RECORD_EVERY = 50  # outcomes are recorded in batches of this many: a crash repeats at most one batch
CHANNEL_LOCK_SPACE = 7301  # first key of the Postgres advisory locks that pace channels across clocks
SEND_BUDGET_SECONDS = CLAIM_SECONDS / 3  # stop well before our claims lapse (one send: up to 2 tries x 10 s)
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
        next_attempt_at=clock.now(),
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
        next_attempt_at=clock.now(),
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
        claimable = [
            OutboxMessage.status == "pending",
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        ]
        if ids is not None:
            scope = OutboxMessage.id.in_(ids)
        else:
            claimable.append(OutboxMessage.next_attempt_at <= now)
            scope = true()
        # Postgres: rows another deliverer is claiming at this moment are skipped, not waited for.
        candidates = session.execute(
            select(OutboxMessage.id, OutboxMessage.channel, OutboxMessage.method)
            .where(*claimable, scope)
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        chosen = [c.id for c in candidates] if ids is not None else _pace(session, candidates, now)
        if not chosen:
            return []
        # One conditional UPDATE: when two deliverers race, each row goes to exactly one of them.
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chosen), *claimable)
            .values(claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        ).scalars().all()
        if not claimed:
            return []
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(claimed)).order_by(OutboxMessage.id)))
        original_ids = {row.update_of_id for row in rows if row.update_of_id}
        originals = {o.id: o for o in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(original_ids)))} if original_ids else {}
        session.expunge_all()
        return [(row, originals.get(row.update_of_id)) for row in rows]


def _pace(session: Session, candidates, now: dt.datetime) -> list[int]:
    """At most one post per channel in this pass; the channel's other due posts move a second apart.

    A channel with a post in flight from another deliverer (a live claim) waits for the next pass. On
    Postgres a transaction-scoped advisory lock per channel stops two clocks claiming at the same
    moment from taking one channel each (taken first, so the in-flight check then sees the winner).
    """
    channels = {c.channel for c in candidates if c.method in PACED_METHODS}
    busy: set[str] = set()
    if channels and session.get_bind().dialect.name == "postgresql":
        locked = set(session.scalars(
            text("SELECT ch FROM unnest(CAST(:channels AS text[])) AS ch "
                 "WHERE pg_try_advisory_xact_lock(:space, hashtext(ch))"),
            {"channels": sorted(channels), "space": CHANNEL_LOCK_SPACE}))
        busy = channels - locked
    busy |= set(session.scalars(
        select(OutboxMessage.channel).distinct().where(
            OutboxMessage.status == "pending",
            OutboxMessage.claimed_until >= now,
            OutboxMessage.method.in_(PACED_METHODS),
            OutboxMessage.channel.in_(channels - busy),
        )
    )) if channels - busy else set()
    chosen: list[int] = []
    later: list[dict[str, Any]] = []
    queued: dict[str, int] = {}
    for candidate in candidates:
        if candidate.method not in PACED_METHODS:
            chosen.append(candidate.id)
            continue
        if candidate.channel in busy:
            continue
        place = queued.get(candidate.channel, 0)
        queued[candidate.channel] = place + 1
        if place == 0:
            chosen.append(candidate.id)
        else:
            later.append({"id": candidate.id, "next_attempt_at": now + dt.timedelta(seconds=PACE_SECONDS * place)})
    if later:
        # Bulk UPDATE by primary key (one executemany): the schedule lives in the database.
        session.execute(update(OutboxMessage), later)
    return chosen


def _release(factory: sessionmaker[Session], ids: list[int], now: dt.datetime) -> None:
    """Give back claimed rows this pass did not get to (they stay due, untouched otherwise)."""
    if not ids:
        return
    with factory() as session, session.begin():
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "pending",
                   OutboxMessage.claimed_until == now + dt.timedelta(seconds=CLAIM_SECONDS))
            .values(claimed_until=None)
            .execution_options(synchronize_session=False)
        )


def _status_code(error: Exception | None) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None) if response is not None else None


def _retry_after(error: Exception, attempts: int) -> float:
    response = getattr(error, "response", None)
    if _status_code(error) == 429:
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
    # Given an instant, delivery happens at it (sent times, follow-up edits); otherwise at the clock's now.
    with clock.travelled_to(now, tick=False) if now is not None else contextlib.nullcontext():
        now = clock.now()
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
    report = DeliveryReport()
    claimed = _claim(factory, ids, now, limit)
    outcomes: list[_Outcome] = []
    started = time.monotonic()
    for position, (row, original) in enumerate(claimed):
        if time.monotonic() - started > SEND_BUDGET_SECONDS:
            # Slack is slow today: hand the rest back long before anyone could think our claim lapsed.
            _release(factory, [r.id for r, _ in claimed[position:]], now)
            break
        outcomes.append(_attempt(client, row, original))
        if len(outcomes) >= RECORD_EVERY:
            _merge(report, _record(factory, outcomes, now))
            outcomes = []
    return _merge(report, _record(factory, outcomes, now))


def _merge(report: DeliveryReport, more: DeliveryReport) -> DeliveryReport:
    report.add(more)
    report.follow_ups += more.follow_ups
    return report


def _attempt(client: WebClient, row: OutboxMessage, original: OutboxMessage | None) -> _Outcome:
    try:
        channel, ts = _send(client, row, original)
        return _Outcome(row, channel=channel, ts=ts)
    except SlackApiError as error:
        code = (error.response.get("error") if error.response is not None else None) or "unknown"
        status_code = getattr(error.response, "status_code", 200)
        return _Outcome(row, reason=f"{status_code} {code}", error=error,
                        permanent=code in PERMANENT_ERRORS and status_code < 500)
    except LookupError as error:
        return _Outcome(row, reason=str(error), error=error)
    except Exception as error:  # noqa: BLE001 - timeouts and connection errors: keep and retry
        return _Outcome(row, reason=f"{type(error).__name__}: {error}", error=error)


def _record(factory: sessionmaker[Session], outcomes: list[_Outcome], now: dt.datetime) -> DeliveryReport:
    report = DeliveryReport()
    if not outcomes:
        return report
    recorded = [o.row.id for o in outcomes]
    limited: dict[tuple[str, str], dt.datetime] = {}  # (channel, method) answered 429 -> retry time
    with factory() as session, session.begin():
        fresh = {r.id: r for r in session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(recorded)))}
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
                if _status_code(outcome.error) == 429:
                    key = (row.channel, row.method)
                    limited[key] = max(limited.get(key, current.next_attempt_at), current.next_attempt_at)
        if limited:
            session.flush()
        for (channel, method), until in limited.items():
            # Slack said "not before Retry-After" for this channel: its other waiting posts wait too.
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.channel == channel, OutboxMessage.method == method,
                       OutboxMessage.status == "pending", OutboxMessage.next_attempt_at < until,
                       OutboxMessage.id.not_in(recorded))
                .values(next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )
    return report


def _mark_sent(session: Session, row: OutboxMessage, current: OutboxMessage, outcome: _Outcome) -> OutboxMessage | None:
    current.status = "sent"
    current.sent_at = clock.now()
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
