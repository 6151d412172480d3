"""Test harness: a real database migrated by Alembic (SQLite by default, Postgres when
PARTNERBOT_TEST_DATABASE_URL is set), the Slack Web API stand-in, and the real app served over
HTTP on loopback, driven by signed requests."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import secrets

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.app import build_services, create_app
from bot.settings import Settings
from slackkit.simulator import LocalServer, SlackSimulator
from slackkit.webapi import SlackStandin
from bot.web import make_wsgi
from bot.compose import session_factory
from store.db import make_engine, normalise_database_url
from store.migrate import upgrade
from store.models import Base, Partner
from store.playbook import parse_playbook

SIGNING_SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"

# Users in the tests
RIYA = "U0REPRIYA"      # sales rep who hands off
OMAR = "U0OWNEROMAR"    # primary owner
BEA = "U0BACKUPBEA"     # backup owner
STAN = "U0STRANGER"     # someone else
MIA = "U0MANAGERMIA"    # partner manager
NOAH = "U0MANAGERNOAH"  # another partner manager

TEST_PLAYBOOK = """
timezone: America/New_York
business_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
sla:
  default: {accept_within_hours: 8, first_outreach_within_hours: 16}
  tiers:
    gold: {accept_within_hours: 4}
conflicts: {protection_window_days: 90}
"""


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("PARTNERBOT_TEST_DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'partnerbot-test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = _database_url(tmp_path_factory)
    if not url.startswith("postgresql"):
        upgrade(url)
        yield url
        return
    # Postgres: a database of this run's own, so parallel runs never collide. A Postgres that is
    # down fails here, loudly: the Postgres run never silently skips.
    with scratch_database(url, f"pb_{os.getpid()}") as own:
        upgrade(own)
        yield own


@contextmanager
def scratch_database(url: str, label: str):
    """A new, empty Postgres database beside the one `url` names (its URL), dropped afterwards."""
    base = make_url(url)
    name = f"{base.database or 'test'}_{label}_{secrets.token_hex(3)}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text("DELETE FROM sqlite_sequence")) if _has_sqlite_sequence(conn) else None
    yield engine
    engine.dispose()


def _has_sqlite_sequence(conn) -> bool:
    return conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name='sqlite_sequence'")).scalar() > 0


@pytest.fixture
def sessions(engine):
    return session_factory(engine)


@pytest.fixture
def playbook():
    return parse_playbook(TEST_PLAYBOOK, "test-playbook.yml")


@pytest.fixture(scope="session")
def standin_server():
    with SlackStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture
def slack(standin_server):
    # The stand-in is shared by a worker's tests: what one test says of people (Omar is in Tokyo) or
    # user groups must not leak into the next one's time zones and approvers.
    standin_server.reset()
    standin_server.users.clear()
    standin_server.usergroups.clear()
    yield standin_server
    standin_server.reset()
    standin_server.users.clear()
    standin_server.usergroups.clear()


@pytest.fixture
def settings(slack, database_url) -> Settings:
    return Settings(slack_bot_token=TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=slack.url,
                    database_url=database_url)


@pytest.fixture
def app(settings, engine, playbook):
    services = build_services(settings, playbook=playbook, engine=engine)
    app = create_app(settings, services=services)
    yield app
    # Listeners finish after the HTTP answer; let them end before the next test resets the store.
    app.services.drain()


@pytest.fixture
def server(app):
    with LocalServer(make_wsgi(app)) as local:
        yield local.url


@pytest.fixture
def simulator(server, slack):
    sim = SlackSimulator(f"{server}/slack/events", SIGNING_SECRET, response_url=slack.response_url("cmd"))
    yield sim
    sim.close()


@pytest.fixture
def make_partner(sessions):
    def make(name="Globex Partners", *, tier="silver", type="reseller", channel_id="C0GLOBEX01", manager_id=MIA, **kw):
        with sessions() as session, session.begin():
            partner = Partner(name=name, name_key=name.lower(), type=type, tier=tier, market=kw.get("market", "NA"),
                              product_lines=kw.get("product_lines", []), channel_id=channel_id, manager_id=manager_id)
            session.add(partner)
            session.flush()
            return partner.id

    return make


def eventually(check, *, timeout: float = 5.0, interval: float = 0.02):
    """Poll `check` until it returns a truthy value (listeners finish after the HTTP answer)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
