"""What a listener, the clock and the CLI need, built once per process by bot.compose: settings,
playbook, database, the Slack adapter — and the one deliver-and-refresh path."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from bot.slack import Slack
from messages.home import home_view
from store import clock, home, lead_import, outbox
from store.db import transaction
from store.playbook import Playbook

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    playbook: Playbook
    engine: Engine
    sessions: sessionmaker[Session]
    slack: Slack
    background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="partnerbot-after"))

    @property
    def client(self) -> WebClient:
        """The adapter's WebClient (Bolt copies its settings for each request's client)."""
        return self.slack.client

    def after(self, work: Callable[[], object], *, body: dict | None = None, respond=None) -> Future:
        """Run `work` once Slack has its answer. Refusals and failures are answered like a listener's."""
        from handlers.errors import run_answered

        return self.background.submit(clock.carry(lambda: run_answered(
            work, body, respond, getattr(work, "__qualname__", "work"), self.client)))

    def drain(self) -> None:
        """Wait for all work started with after() (tests, the demo, shutdown)."""
        self.background.shutdown(wait=True)
        self.background = ThreadPoolExecutor(max_workers=8, thread_name_prefix="partnerbot-after")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    # --- the one deliver-and-refresh path ----------------------------------------------------------

    def deliver(self, ids: list[int] | None = None, *, now: dt.datetime | None = None,
                stop: Callable[[], bool] | None = None) -> outbox.DeliveryReport:
        """Send what a committed change recorded (`ids`), or everything due (the clock's drain), then
        refresh the App Homes of the people those messages were for. Failures stay in the outbox."""
        if ids is not None and not ids:
            return outbox.DeliveryReport()
        report = outbox.deliver(self.sessions, self.slack, ids=ids, now=now, stop=stop)
        if stop is None or not stop():
            self.refresh_homes(ids if ids is not None else report.sent)
        return report

    def deliver_import(self, ids: list[int]) -> outbox.DeliveryReport:
        """An import's messages, in batches, stopping at the first sign of Slack trouble (the clock
        sends the rest); then the Homes of those they were for."""
        report = lead_import.deliver(self.sessions, self.slack, ids)
        self.refresh_homes(report.sent)
        return report

    # --- the App Home ---------------------------------------------------------------------------

    def refresh_homes(self, outbox_ids: Iterable[int]) -> list[str]:
        """Re-publish the App Home of everyone these messages were for (who has opened it)."""
        with self.sessions() as session:
            people = home.audiences(session, list(outbox_ids))
        return self.publish_homes(people)

    def publish_home(self, user_id: str, *, now: dt.datetime | None = None) -> dict:
        """Read and publish one person's Home (views.publish); the view sent."""
        with self.sessions() as session:
            board = home.dashboard(session, self.playbook, user_id, now=now)
        view = home_view(board)
        self.slack.publish_home(user_id, view)
        return view

    def publish_homes(self, user_ids: Iterable[str]) -> list[str]:
        """Refresh the Homes of those of these people who use it; a failure is logged, never raised
        (a stale Home is refreshed again when it is next opened)."""
        with self.sessions() as session:
            users = home.users_of_home(session, user_ids)
        done = []
        for user_id in users:
            try:
                self.publish_home(user_id)
                done.append(user_id)
            except Exception:  # noqa: BLE001 - the change itself is saved; its Home catches up on the next open
                log.exception("refreshing the Home of %s failed", user_id)
        return done

    def show_home(self, user_id: str, **changes: Any) -> dict:
        """Keep what a person asked their Home to show (an open, a filter, a page), then publish it; the
        view sent. Kept first, so a click on the new Home always finds its filters and page. If Slack
        refuses the Home, the change is taken back before the error goes on: the filters and page kept are
        always those of a Home Slack took, so reopening shows that one instead of failing again."""
        previous, saved = {}, None
        try:
            with transaction(self.sessions) as session:
                previous, saved = home.keep(session, user_id, **changes)
        except IntegrityError:  # two opens at once both inserted the row: it is there either way
            saved = None
        try:
            return self.publish_home(user_id)
        except Exception:
            if changes and saved is not None:
                with transaction(self.sessions) as session:
                    home.take_back(session, user_id, saved=saved, previous=previous)
            raise
