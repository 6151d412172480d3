"""What a listener needs, built once per app: settings, playbook, database and Slack client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from store import outbox
from store.db import transaction
from store.playbook import Playbook


@dataclass
class Services:
    settings: Settings
    playbook: Playbook
    engine: Engine
    sessions: sessionmaker[Session]
    client: WebClient

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    def deliver(self, ids: list[int]) -> outbox.DeliveryReport:
        """Send what a committed change recorded; failures stay in the outbox for the clock."""
        if not ids:
            return outbox.DeliveryReport()
        return outbox.deliver(self.sessions, self.client, ids=ids)
