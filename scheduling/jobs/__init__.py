"""The clock's jobs, registered in one place. Each job finds its due work from deadlines in the
database at `ctx.now` and records what to send with store.reminders.post_once (exactly once) or a
store operation (a conditional UPDATE, so two clocks cannot both act). Jobs never sleep, never
keep state between passes, and never talk to Slack except through ctx (users.info, user groups);
messages go out through the outbox afterwards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from store.playbook import Playbook


@dataclass
class ClockContext:
    sessions: sessionmaker[Session]
    client: WebClient | None
    playbook: Playbook
    now: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)  # what each job did, for the tick's report

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[ClockContext], None]


JOBS: list[Job] = []


def job(name: str):
    """Register a job: `@job("accept_reminders") def run(ctx): ...`."""

    def register(run: Callable[[ClockContext], None]):
        JOBS.append(Job(name, run))
        return run

    return register


def load_all() -> list[Job]:
    """Import every job module (each registers itself) and return the jobs in a stable order."""
    import importlib
    import pkgutil

    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")
    return list(JOBS)
