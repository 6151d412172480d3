"""Domain events: what a store operation did, in plain data, and the one hook that records their messages.

A store operation changes rows, writes its audit event, and says what happened with
`record(session, SomethingHappened(...))`. It never renders a message and never calls Slack.

When the unit of work commits, the session factory's *recorder* (wired by `bot/`, see
`bot/recorder.py`) takes the events, asks `messages/` what each one means for Slack — a list of
`Post` (a new message) and `Refresh` (bring every posted copy of a subject's cards up to date) — and
writes them to the outbox in the same transaction, before the commit: a change and the messages it
causes are kept together or not at all. The ids of the outbox rows written are left on the session
(`written(session)`), for the caller to deliver after the commit.

A session factory without a recorder refuses to commit events (`NoRecorder`): an event silently
dropped would be a message nobody ever gets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from store.models import OutboxMessage

_PENDING = "partnerbot.events"
_UNCOMMITTED = "partnerbot.outbox_ids.uncommitted"
_WRITTEN = "partnerbot.outbox_ids"
_SAVEPOINTS = "partnerbot.events.savepoints"  # how many events were pending when each open savepoint began
RECORDER = "partnerbot.recorder"


class Event:
    """Base of every domain event (a frozen dataclass in store/events/<feature>.py)."""


@dataclass(frozen=True)
class Post:
    """A message to record: chat.postMessage (or files.upload_v2) to `channel` once the commit is made.

    With a `key` it is recorded at most once (store.reminders.post_many_once), whoever records it.
    """

    channel: str
    message: dict[str, Any]
    kind: str
    subject: tuple[str, int] | None = None
    audience: str | None = None
    key: str | None = None
    not_before: dt.datetime | None = None
    method: str = "chat.postMessage"


@dataclass(frozen=True)
class Refresh:
    """Bring every posted copy of a subject's cards of these kinds up to date (store.outbox.refresh_many).

    `render` turns the outbox row of one copy (its audience, kind) into that copy's current message.
    """

    subject: tuple[str, int]
    kinds: tuple[str, ...]
    render: Callable[["OutboxMessage"], dict[str, Any]]


Recorder = Callable[["Session", list[Event]], list[int]]


class NoRecorder(RuntimeError):
    """Events were recorded on a session whose factory has nothing to turn them into messages."""


def record(session: "Session", *events: Event) -> None:
    """Say what happened; its messages are recorded when the unit of work commits."""
    session.info.setdefault(_PENDING, []).extend(events)


def take(session: "Session") -> list[Event]:
    """The events recorded and not yet turned into messages (and forget them)."""
    return session.info.pop(_PENDING, [])


def pending(session: "Session") -> list[Event]:
    """The events recorded so far, left in place (for tests and for operations that look back)."""
    return list(session.info.get(_PENDING, []))


def written(session: "Session") -> list[int]:
    """The outbox rows this session's commits recorded (and forget them): what the caller delivers."""
    return session.info.pop(_WRITTEN, [])


def flush(session: "Session") -> list[int]:
    """Turn the events recorded so far into outbox rows now, in the open transaction; their ids.

    The commit does this by itself. Call it only where an operation must know the rows before the
    commit (the clock counts what it sent).
    """
    events = take(session)
    if not events:
        return []
    recorder: Recorder | None = session.info.get(RECORDER)
    if recorder is None:
        raise NoRecorder(
            f"{len(events)} event(s) ({', '.join(sorted({type(e).__name__ for e in events}))}) were recorded on a "
            "session whose factory has no recorder: build sessions with bot.compose (or give "
            "store.db.make_session_factory a recorder), or their messages are lost.")
    ids = recorder(session, events)
    session.info.setdefault(_UNCOMMITTED, []).extend(ids)
    return ids


def before_commit(session: "Session") -> None:
    """The session factory's commit hook (store.db.make_session_factory installs it). A savepoint's
    release is not the commit: its events wait for the outermost transaction's."""
    if not session.in_nested_transaction():
        flush(session)


def after_commit(session: "Session") -> None:
    """The rows are in: the caller may deliver them."""
    if not session.in_nested_transaction():
        session.info.setdefault(_WRITTEN, []).extend(session.info.pop(_UNCOMMITTED, []))


def after_rollback(session: "Session") -> None:
    """A rolled-back unit of work happened to nobody: its events and rows are dropped with it. A
    savepoint rolled back drops only the events recorded since it began."""
    if session.in_nested_transaction():
        marks = session.info.get(_SAVEPOINTS) or [0]
        del session.info.setdefault(_PENDING, [])[marks[-1]:]
        return
    session.info.pop(_PENDING, None)
    session.info.pop(_UNCOMMITTED, None)


def _savepoint_began(session: "Session", transaction) -> None:
    if transaction.nested:
        session.info.setdefault(_SAVEPOINTS, []).append(len(session.info.get(_PENDING, [])))


def _savepoint_ended(session: "Session", transaction) -> None:
    if transaction.nested and session.info.get(_SAVEPOINTS):
        session.info[_SAVEPOINTS].pop()


def install(factory, recorder: Recorder | None) -> None:
    """Make `recorder` the factory's way of turning events into outbox rows, at every commit."""
    from sqlalchemy import event

    factory.kw.setdefault("info", {})[RECORDER] = recorder
    event.listen(factory, "before_commit", before_commit)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", after_rollback)
    event.listen(factory, "after_transaction_create", _savepoint_began)
    event.listen(factory, "after_transaction_end", _savepoint_ended)
