"""The composition root: web, Socket Mode, the clock and every CLI command build their parts here, once.

`build_services(settings)` makes the engine, the sessions (wired to the one recorder, bot/recorder.py,
that turns a committing unit of work's domain events into outbox rows), the playbook and the Slack
adapter (bot/slack.py), and hands them out as one `Services`. `running(settings)` does the same for a
command that ends, and disposes of the engine when it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import messages.events  # noqa: F401 - every feature's renderers, and the words of refusals (store.errors.words_for)
from bot import recorder
from bot.services import Services
from bot.settings import Settings
from bot.slack import Slack, make_client
from store.db import make_engine, make_session_factory
from store.playbook import Playbook, default_playbook, load_playbook


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose commits record the messages their events cause."""
    return make_session_factory(engine, recorder=recorder.record)


def load_configured_playbook(settings: Settings) -> Playbook:
    return load_playbook(settings.playbook_path) if settings.playbook_path else default_playbook()


def build_services(settings: Settings, client: WebClient | None = None, *, playbook: Playbook | None = None,
                   engine: Engine | None = None) -> Services:
    """Everything a process needs, built the one way. `client` and `engine` are for tests and the demo."""
    engine = engine or make_engine(settings.database_url)
    return Services(
        settings=settings,
        playbook=playbook or load_configured_playbook(settings),
        engine=engine,
        sessions=session_factory(engine),
        slack=Slack(client or make_client(settings)),
    )


@contextmanager
def running(settings: Settings, *, playbook: Playbook | None = None) -> Iterator[Services]:
    """Services for a command that ends: its connections are closed when it does."""
    services = build_services(settings, playbook=playbook)
    try:
        yield services
    finally:
        services.background.shutdown(wait=True)
        services.engine.dispose()
