"""What a listener needs, built once per app: settings, playbook, database and Slack client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from store import clock, home, outbox
from store.db import transaction
from store.playbook import Playbook


@dataclass
class Services:
    settings: Settings
    playbook: Playbook
    engine: Engine
    sessions: sessionmaker[Session]
    client: WebClient
    background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="partnerbot-after"))

    def after(self, work: Callable[[], object], *, body: dict | None = None, respond=None) -> Future:
        """Run `work` once Slack has its answer. Refusals and failures are answered like a listener's."""
        from bot.errors import run_answered

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

    def deliver(self, ids: list[int]) -> outbox.DeliveryReport:
        """Send what a committed change recorded; failures stay in the outbox for the clock."""
        if not ids:
            return outbox.DeliveryReport()
        report = outbox.deliver(self.sessions, self.client, ids=ids)
        self.refresh_homes(ids)
        return report

    def refresh_homes(self, outbox_ids: list[int]) -> list[str]:
        """Re-publish the App Home of everyone these messages were for (who has opened it)."""
        with self.sessions() as session:
            people = home.audiences(session, outbox_ids)
        return home.publish_for(self.sessions, self.client, self.playbook, people)
