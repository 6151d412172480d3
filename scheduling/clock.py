"""The clock process. For now it delivers the outbox: whatever a Slack error left unsent is retried
with backoff (honouring Retry-After). SLA reminders, escalation climbs, reviews and the digest
join this process in the scheduler issue; each job registers in JOBS below."""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.settings import Settings
from store import outbox
from store.db import make_engine, make_session_factory

log = logging.getLogger("partnerbot.clock")


def tick(settings: Settings, *, now: dt.datetime | None = None, client=None) -> outbox.DeliveryReport:
    """One pass of all due work at `now`."""
    from bot.app import make_client

    engine = make_engine(settings.database_url)
    try:
        return outbox.deliver(make_session_factory(engine), client or make_client(settings), now=now)
    finally:
        engine.dispose()


def run_clock(settings: Settings) -> None:
    from bot.app import make_client

    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    client = make_client(settings)

    def drain_outbox() -> None:
        report = outbox.deliver(sessions, client)
        if report.sent or report.retrying or report.failed:
            log.info("outbox: sent %d, retrying %d, failed %d", len(report.sent), len(report.retrying), len(report.failed))

    scheduler = BlockingScheduler(timezone="UTC")
    # In-memory job store: jobs are code, deadlines live in the database; nothing is pickled.
    scheduler.add_job(drain_outbox, IntervalTrigger(seconds=15), id="drain_outbox", max_instances=1, coalesce=True,
                      next_run_time=dt.datetime.now(dt.UTC))
    logging.basicConfig(level=logging.INFO)
    log.info("clock started: delivering the outbox every 15 s")
    scheduler.start()
