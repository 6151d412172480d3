"""The unit of work's events: recorded by store operations, written to the outbox at the outermost
commit by the recorder bot/ wires, dropped with whatever rolls back (a savepoint included)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from messages.events import RENDERERS
from store import events
from store.db import make_session_factory
from store.events import Event, Post
from store.models import OutboxMessage


@dataclass(frozen=True)
class Noted(Event):
    what: str


@pytest.fixture
def noted(monkeypatch):
    monkeypatch.setitem(RENDERERS, Noted, lambda e: [Post(channel="C0NOTES001", message={"text": e.what},
                                                         kind="note")])


def texts(sessions) -> list[str]:
    with sessions() as session:
        return [row.payload["text"] for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_a_commit_writes_what_was_recorded_and_says_which_rows(sessions, noted):
    with sessions() as session, session.begin():
        events.record(session, Noted("first"), Noted("second"))
        assert texts(sessions) == []  # nothing before the commit
    ids = events.written(session)
    assert texts(sessions) == ["first", "second"] and len(ids) == 2
    assert events.written(session) == []  # handed over once


def test_a_savepoint_rolled_back_drops_only_its_own_events(sessions, noted):
    with sessions() as session, session.begin():
        events.record(session, Noted("kept"))
        with pytest.raises(RuntimeError):
            with session.begin_nested():
                events.record(session, Noted("undone"))
                raise RuntimeError("the savepoint's work fails")
        with session.begin_nested():  # a savepoint released is not the commit: nothing is written yet
            events.record(session, Noted("also kept"))
        assert texts(sessions) == []
    assert texts(sessions) == ["kept", "also kept"]
    assert len(events.written(session)) == 2


def test_a_rollback_after_a_savepoint_leaves_nothing_to_deliver(sessions, noted):
    with pytest.raises(RuntimeError):
        with sessions() as session, session.begin():
            events.record(session, Noted("never"))
            with session.begin_nested():
                events.record(session, Noted("never either"))
            raise RuntimeError("the unit of work fails")
    assert texts(sessions) == []
    assert events.written(session) == []


def test_a_session_factory_without_a_recorder_refuses_to_commit_events(engine, noted):
    bare = make_session_factory(engine)
    with pytest.raises(events.NoRecorder, match="Noted"):
        with bare() as session, session.begin():
            events.record(session, Noted("lost?"))
    assert texts(bare) == []
