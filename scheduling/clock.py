"""The clock process: one pass of all due work (`tick`) on an APScheduler interval, plus outbox
delivery. Deadlines live in the database and every piece of due work is claimed in a way two
clocks cannot both win, so running two clocks (or a catch-up `partnerbot tick`) is safe."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.settings import Settings
from scheduling.jobs import ClockContext, load_all
from store import clock, home, outbox
from store.db import make_engine, make_session_factory

log = logging.getLogger("partnerbot.clock")
TICK_SECONDS = 60
DELIVER_SECONDS = 5


@dataclass
class TickReport:
    now: dt.datetime
    done: dict[str, int] = field(default_factory=dict)
    failed_jobs: list[str] = field(default_factory=list)
    delivery: outbox.DeliveryReport = field(default_factory=outbox.DeliveryReport)

    def summary(self) -> str:
        did = ", ".join(f"{k} {v}" for k, v in sorted(self.done.items()) if v) or "nothing due"
        return (f"{self.now:%Y-%m-%d %H:%M}Z: {did}; sent {len(self.delivery.sent)}, "
                f"retrying {len(self.delivery.retrying)}, failed {len(self.delivery.failed)}"
                + (f"; jobs that failed: {', '.join(self.failed_jobs)}" if self.failed_jobs else ""))


def run_jobs(sessions, client, playbook, *, now: dt.datetime) -> TickReport:
    """Every registered job at `now`. A failing job is logged and the others still run.

    The whole pass runs on the product clock moved to `now`: what the jobs record (outbox due
    times, audit events, reminder keys) is stamped with the pass's time, not the machine's."""
    report = TickReport(now=now)
    with clock.travelled_to(now, tick=False):
        ctx = ClockContext(sessions=sessions, client=client, playbook=playbook, now=now)
        for job in load_all():
            try:
                job.run(ctx)
            except Exception:  # noqa: BLE001 - one job's bug must not stop the clock; it is logged in full
                log.exception("clock job %s failed", job.name)
                report.failed_jobs.append(job.name)
    report.done = dict(ctx.counts)
    return report


def tick(settings: Settings, *, now: dt.datetime | None = None, client=None, playbook=None, deliver: bool = True) -> TickReport:
    """One pass of all work due at `now`, then deliver what is due (operators catch up with it).

    Everything in it, delivery and Home refreshes included, runs as if the machine's clock read
    `now`, whether that is before or after the real time."""
    from bot.app import load_configured_playbook, make_client

    now = now or clock.now()
    engine = make_engine(settings.database_url)
    try:
        with clock.travelled_to(now):
            sessions = make_session_factory(engine)
            client = client or make_client(settings)
            playbook = playbook or load_configured_playbook(settings)
            report = run_jobs(sessions, client, playbook, now=now)
            if deliver:
                report.delivery = outbox.deliver(sessions, client)  # on the moved clock, after the pass
                refresh_homes(sessions, client, playbook, report.delivery.sent)
        return report
    finally:
        engine.dispose()


def refresh_homes(sessions, client, playbook, sent: list[int]) -> list[str]:
    """The App Homes of the people whose reminders and cards just went out show the change."""
    with sessions() as session:
        people = home.audiences(session, sent)
    return home.publish_for(sessions, client, playbook, people)


def run_clock(settings: Settings) -> None:
    from bot.app import load_configured_playbook, make_client

    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    client = make_client(settings)
    playbook = load_configured_playbook(settings)

    def due_work() -> None:
        report = run_jobs(sessions, client, playbook, now=clock.now())
        if report.done or report.failed_jobs:
            log.info("tick: %s", report.summary())

    def drain_outbox() -> None:
        report = outbox.deliver(sessions, client)
        refresh_homes(sessions, client, playbook, report.sent)
        if report.sent or report.retrying or report.failed:
            log.info("outbox: sent %d, retrying %d, failed %d", len(report.sent), len(report.retrying), len(report.failed))

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scheduler = BlockingScheduler(timezone="UTC")
    # In-memory job store: the jobs are code, the deadlines live in the database; nothing is pickled.
    # A clock that was down catches up on its first pass: due work is found from the data, once per item.
    start = clock.now()
    scheduler.add_job(due_work, IntervalTrigger(seconds=TICK_SECONDS), id="due_work", max_instances=1,
                      coalesce=True, next_run_time=start)
    scheduler.add_job(drain_outbox, IntervalTrigger(seconds=DELIVER_SECONDS), id="drain_outbox", max_instances=1,
                      coalesce=True, next_run_time=start)
    log.info("clock started: due work every %d s, outbox every %d s", TICK_SECONDS, DELIVER_SECONDS)
    scheduler.start()
