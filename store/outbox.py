"""The outbox: Slack messages recorded in the same transaction as the change that caused them.

`post()` and `refresh()` only write rows. `deliver()` sends them after commit and records the
outcome; a Slack error (HTTP 5xx, 429, a timeout) leaves the row pending with a retry time (a 429's
Retry-After, for its whole channel), so a Slack outage delays a message and never drops it.

Claims are one conditional UPDATE per batch (`status='pending'` and no live claim, and due), so two
deliverers (web workers, two clocks) never send the same row twice; on Postgres the candidate select
uses FOR UPDATE SKIP LOCKED, so two clocks take different rows instead of queueing on each other. A
claim lasts CLAIM_SECONDS: a deliverer killed after claiming leaves rows that come back when it ends.

Each outcome is recorded in a small transaction of its own as soon as Slack answers, so a deliverer
killed mid-pass (SIGKILL) repeats at most the one send it had in flight once its claims lapse. Asked to
stop (`stop`, which SIGTERM sets in the clock) it finishes the send in flight, records it and hands
back the rest of its claims; it hands them back too when anything fails (recording included), and
when the pass runs out of time. A 429 also holds back the channel's other waiting rows (the rest of
the pass skips them); the transaction that records it locks every row it changes in id order, so two
deliverers recording 429s in one channel queue on each other instead of deadlocking.

The clock's drain (`deliver()` without ids) paces posts to about one a second per channel, as Slack
asks: a pass claims at most one post per channel, skips channels with a post in flight elsewhere,
and moves that channel's other due posts one second apart in the database, so every deliverer
(two clocks included) sees the same schedule. Deliveries of given ids (the answer to someone's
click) go out at once: a few messages from one action are a burst Slack allows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, or_, select, text, true, update
from sqlalchemy.orm import Session, sessionmaker

from store.models import OutboxMessage
from store import clock

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600
PACE_SECONDS = 1.0  # Slack: about one message a second per channel
PACED_METHODS = ("chat.postMessage", "files.upload_v2")  # what appears as a new message in a channel
CHANNEL_LOCK_SPACE = 7301  # first key of the Postgres advisory locks that pace channels across clocks
SEND_BUDGET_SECONDS = CLAIM_SECONDS / 3  # stop well before our claims lapse (one send: up to 2 tries x 10 s)


class NotSent(Exception):
    """Slack did not take a message. `permanent`: retrying will not cure it (the row is marked failed);
    `rate_limited`: a 429, which holds back the channel's other waiting rows until `retry_after`."""

    def __init__(self, reason: str, *, permanent: bool = False, rate_limited: bool = False,
                 retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.permanent, self.rate_limited, self.retry_after = reason, permanent, rate_limited, retry_after


class Sender(Protocol):
    """What delivery needs of Slack (bot.slack.Slack is the one there is)."""

    def send(self, row: OutboxMessage, original: OutboxMessage | None) -> tuple[str | None, str | None]:
        """Send one row (an edit names its posted `original`); where it landed. Raises NotSent."""


def post(
    session: Session,
    *,
    channel: str,
    message: dict[str, Any],
    kind: str,
    subject: tuple[str, int] | None = None,
    audience: str | None = None,
    key: str | None = None,
    method: str = "chat.postMessage",
    not_before: dt.datetime | None = None,
) -> OutboxMessage:
    """Record a chat.postMessage (or files.upload_v2) to send once the surrounding transaction commits."""
    now = clock.now()
    row = OutboxMessage(
        method=method,
        channel=channel,
        payload=message,
        kind=kind,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        audience=audience,
        idempotency_key=key,
        next_attempt_at=max(now, not_before) if not_before else now,
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
        # Locked as read (Postgres): a deliverer recording one of them sent waits for this transaction,
        # then sees the new version and follows up with an edit; without the lock it could mark the
        # row sent between this read and our write, and the new version would never go out.
        .with_for_update()
    ).all()
    originals = [o for o in candidates if (o.subject_type, o.subject_id) in renders]
    sent_ids = [o.id for o in originals if o.status == "sent"]
    waiting = {
        w.update_of_id: w
        for w in session.scalars(
            select(OutboxMessage).where(OutboxMessage.update_of_id.in_(sent_ids), OutboxMessage.status == "pending")
            .order_by(OutboxMessage.id).with_for_update()
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
    ours = [OutboxMessage.id.in_(ids), OutboxMessage.status == "pending",
            OutboxMessage.claimed_until == now + dt.timedelta(seconds=CLAIM_SECONDS)]
    with factory() as session, session.begin():
        _lock_in_id_order(session, and_(*ours))
        session.execute(
            update(OutboxMessage).where(*ours).values(claimed_until=None)
            .execution_options(synchronize_session=False)
        )


def _lock_in_id_order(session: Session, condition) -> None:
    """Postgres: lock the rows this transaction is about to change, lowest id first.

    Every transaction that changes several outbox rows it has not claimed (recording a 429, handing
    claims back) takes them in this one order, so two of them wait for each other instead of each
    holding a row the other needs next (a deadlock, which Postgres ends by killing one of them). SQLite
    has a single writer: nothing to order.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(OutboxMessage.id).where(condition).order_by(OutboxMessage.id)
                        .with_for_update(key_share=True))


def _retry_delay(outcome: "_Outcome", attempts: int) -> float:
    """Seconds until the next try: Slack's Retry-After for a 429, else a backoff that doubles."""
    if outcome.retry_after is not None:
        return outcome.retry_after
    return float(min(MAX_BACKOFF_SECONDS, 15 * 2 ** max(0, attempts - 1)))


@dataclass
class _Outcome:
    row: OutboxMessage
    channel: str | None = None
    ts: str | None = None
    reason: str | None = None
    permanent: bool = False
    rate_limited: bool = False
    retry_after: float | None = None


def deliver(
    factory: sessionmaker[Session],
    sender: Sender,
    *,
    ids: list[int] | None = None,
    now: dt.datetime | None = None,
    limit: int = 200,
    stop: Callable[[], bool] | None = None,
) -> DeliveryReport:
    """Send pending rows (the given ids, or everything due), recording each outcome as Slack answers.

    `stop` is asked before each send: once it says yes, the rest of the claimed rows are handed back
    (the send in flight has finished and is recorded). A card that changed while its post was in
    flight gets a follow-up edit, sent in the same call.
    """
    if not callable(getattr(sender, "send", None)):
        raise TypeError(f"deliver() needs a Sender (bot.slack.Slack), not {type(sender).__name__}")
    stop = stop or _never
    # Given an instant, delivery happens at it (sent times, follow-up edits); otherwise at the clock's now.
    with clock.travelled_to(now, tick=False) if now is not None else contextlib.nullcontext():
        now = clock.now()
        report = _deliver_once(factory, sender, ids, now, limit, stop)
        follow_ups = report.follow_ups
        for _ in range(3):
            if not follow_ups or stop():
                break
            more = _deliver_once(factory, sender, follow_ups, now, limit, stop)
            report.add(more)
            follow_ups = more.follow_ups
    return report


def _never() -> bool:
    return False


def _deliver_once(factory, sender: Sender, ids, now, limit, stop: Callable[[], bool]) -> DeliveryReport:
    report = DeliveryReport()
    claimed = _claim(factory, ids, now, limit)
    unrecorded = {row.id for row, _ in claimed}  # claims to hand back if the pass ends early
    held: set[tuple[str, str]] = set()  # (channel, method) that Slack answered 429 in this pass
    started = time.monotonic()
    try:
        with factory() as session:  # one connection for the pass's records (no checkout per outcome)
            for row, original in claimed:
                if stop() or time.monotonic() - started > SEND_BUDGET_SECONDS:
                    # Asked to stop, or Slack is slow today: hand the rest back long before our claims lapse.
                    break
                if (row.channel, row.method) in held:
                    continue  # Retry-After holds its whole channel (recorded on the row); handed back below
                outcome = _attempt(sender, row, original)
                _merge(report, _record(session, outcome, now))
                unrecorded.discard(row.id)
                if outcome.reason is not None and outcome.rate_limited:
                    held.add((row.channel, row.method))
    except BaseException:
        # Whatever failed (recording included), nobody should wait CLAIM_SECONDS for these rows.
        try:
            _release(factory, sorted(unrecorded), now)
        except Exception:  # noqa: BLE001 - the first failure is the one to raise; this one is logged
            log.exception("handing back %d claimed outbox rows failed: they come back when the claims lapse",
                          len(unrecorded))
        raise
    _release(factory, sorted(unrecorded), now)
    return report


def _merge(report: DeliveryReport, more: DeliveryReport) -> DeliveryReport:
    report.add(more)
    report.follow_ups += more.follow_ups
    return report


def _attempt(sender: Sender, row: OutboxMessage, original: OutboxMessage | None) -> _Outcome:
    if row.method == "chat.update" and (original is None or not original.result_ts):
        return _Outcome(row, reason="the message to update has not been sent yet")
    try:
        channel, ts = sender.send(row, original)
        return _Outcome(row, channel=channel, ts=ts)
    except NotSent as refused:
        return _Outcome(row, reason=refused.reason, permanent=refused.permanent, rate_limited=refused.rate_limited,
                        retry_after=refused.retry_after)
    except Exception as error:  # noqa: BLE001 - timeouts and connection errors: keep and retry
        return _Outcome(row, reason=f"{type(error).__name__}: {error}")


def _record(session: Session, outcome: _Outcome, now: dt.datetime) -> DeliveryReport:
    """Write one send's outcome, in a transaction of its own, as soon as Slack has answered."""
    report = DeliveryReport()
    try:
        with session.begin():
            if outcome.reason is None:
                edit = _record_sent(session, outcome)
                report.sent.append(outcome.row.id)
                if edit is not None:
                    report.follow_ups.append(edit.id)
            else:
                _record_not_sent(session, outcome, now, report)
    finally:
        session.expunge_all()  # the next outcome reads its row afresh
    return report


def _mark_sent_statement(*, posted: bool):
    """The usual record of a send, in one UPDATE built once (it runs once per message): it matches only
    while the row is still the version that went out. A post also keeps where it landed (for edits)."""
    table = OutboxMessage.__table__
    values: dict[str, Any] = {"status": "sent", "sent_at": bindparam("at"), "sent_version": bindparam("sent_as"),
                              "last_error": None, "attempts": table.c.attempts + 1, "claimed_until": None}
    if posted:
        values.update(result_channel=bindparam("landed_channel"), result_ts=bindparam("landed_ts"))
    return update(table).where(table.c.id == bindparam("row_id"), table.c.version == bindparam("sent_as")).values(values)


_MARK_POSTED = _mark_sent_statement(posted=True)
_MARK_SENT = _mark_sent_statement(posted=False)


def _record_sent(session: Session, outcome: _Outcome) -> OutboxMessage | None:
    row = outcome.row
    params = {"row_id": row.id, "sent_as": row.version, "at": clock.now()}
    if row.method == "chat.postMessage":
        unchanged = session.execute(_MARK_POSTED, {**params, "landed_channel": outcome.channel, "landed_ts": outcome.ts})
    else:
        unchanged = session.execute(_MARK_SENT, params)
    if unchanged.rowcount:
        return None
    # The card changed while it was on its way: record it the long way, with a follow-up edit.
    current = session.get(OutboxMessage, row.id)
    current.attempts = current.attempts + 1
    current.claimed_until = None
    edit = _mark_sent(session, row, current, outcome)
    session.flush()
    return edit


def _record_not_sent(session: Session, outcome: _Outcome, now: dt.datetime, report: DeliveryReport) -> None:
    row = outcome.row
    limited = not outcome.permanent and outcome.rate_limited
    if limited:
        # This transaction changes the channel's other waiting rows too: lock them all first, in id order.
        _lock_in_id_order(session, or_(
            OutboxMessage.id == row.id,
            and_(OutboxMessage.channel == row.channel, OutboxMessage.method == row.method,
                 OutboxMessage.status == "pending")))
    current = session.get(OutboxMessage, row.id)
    current.attempts = current.attempts + 1
    current.claimed_until = None
    log.warning("outbox %s (%s to %s) not sent: %s", row.id, row.method, row.channel, outcome.reason)
    current.last_error = outcome.reason[:2000]
    if outcome.permanent:
        current.status = "failed"
        report.failed.append(row.id)
        return
    until = now + dt.timedelta(seconds=_retry_delay(outcome, current.attempts))
    current.next_attempt_at = until
    report.retrying.append(row.id)
    if limited:
        session.flush()
        # Slack said "not before Retry-After" for this channel: its other waiting posts wait too.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.channel == row.channel, OutboxMessage.method == row.method,
                   OutboxMessage.status == "pending", OutboxMessage.next_attempt_at < until,
                   OutboxMessage.id != row.id)
            .values(next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )


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
