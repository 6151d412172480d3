"""The composition root: every process (web, Socket Mode, clock, each CLI command) builds its parts here.

`session_factory(engine)` is the only way product code gets sessions: it wires the one recorder
(bot/recorder.py) that turns the domain events of a committing unit of work into outbox rows.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import recorder
from store.db import make_session_factory


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose commits record the messages their events cause."""
    return make_session_factory(engine, recorder=recorder.record)
