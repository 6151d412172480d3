"""The clock's jobs, registered in one place. Each job finds its due work from deadlines in the
database at `ctx.now` and records what to send with store.reminders.post_once (exactly once) or a
store operation (a conditional UPDATE, so two clocks cannot both act). Jobs never sleep, never
keep state between passes, and never talk to Slack except through ctx.slack (users.info, user groups),
and then never inside a transaction (`with_zones`, `ctx.resolve_approvers` before the pass's writes);
messages go out through the outbox afterwards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

# Aliased: this package's own job modules are called escalations, leads… and must not be shadowed.
from store import escalations as _escalations
from store import events as _events
from store import slack_users as _slack_users
from store.playbook import Playbook
from store.sla import Openings

Found = TypeVar("Found")


class Slack(Protocol):
    """What the jobs may ask of Slack (bot.slack.Slack, handed over by the composition root)."""

    def profile(self, user_id: str) -> dict[str, Any]: ...

    def resolve_approvers(self, entries: Sequence[str]) -> list[str]: ...


@dataclass
class ClockContext:
    sessions: sessionmaker[Session]
    slack: Slack | None  # None: no Slack (a test of the rules alone): cached zones and plain approvers
    playbook: Playbook
    now: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)  # what each job did, for the tick's report

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def resolve_approvers(self, entries: Sequence[str]) -> list[str]:
        """A level's approvers with user groups expanded (usergroups.users.list): call it outside any
        transaction. Raises store.escalations.ApproversUnavailable when Slack cannot say."""
        if self.slack is None:
            return _escalations.expand_approvers(entries, {})
        return self.slack.resolve_approvers(entries)


def with_zones(ctx: ClockContext, *, find: Callable[[Session], Found | None],
               people: Callable[[Found], Iterable[str]],
               work: Callable[[Session, Found, Openings], object]) -> tuple[Found, Openings, list[int]] | None:
    """One transaction of a job that needs people's time zones: `find` what is due, then `work` on it with
    the Openings of `people(found)`; what was found, the openings and the outbox rows the commit wrote.

    Slack (users.info) is never asked inside the transaction: when the cache lacks someone, the
    transaction is given up before any write, the zones are looked up (slack_users.look_up), and it
    runs once more. In the steady state (zones kept for a week) it runs once."""
    for attempt in (1, 2):
        with ctx.sessions() as session, session.begin():
            found = find(session)
            if found is None:
                return None
            wanted = set(people(found))
            known = _slack_users.cached(session, wanted)
            missing = _slack_users.to_look_up(known, wanted, now=ctx.now) \
                if ctx.slack is not None and attempt == 1 else []
            if not missing:
                openings = Openings(session, ctx.playbook, wanted, ctx.now, known=known)
                work(session, found, openings)
        if not missing:
            return found, openings, _events.written(session)
        _slack_users.look_up(ctx.sessions, ctx.slack, missing, now=ctx.now)
    raise AssertionError("unreachable: the second attempt never looks up")


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
