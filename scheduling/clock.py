"""The clock process: one pass of all due work (`tick`) on an APScheduler interval, plus outbox
delivery. Deadlines live in the database and every piece of due work is claimed in a way two
clocks cannot both win, so running two clocks (or a catch-up `partnerbot tick`) is safe.

Both take the process's services from the composition root (bot.compose.build_services): the
sessions, the playbook, the Slack adapter and the one deliver-and-refresh path (`services.deliver`).

SIGTERM (every deploy sends it) or SIGINT stops the clock cleanly: the send in flight finishes and is
recorded, the rest of its claims are handed back at once (another clock sends them on its next pass,
not CLAIM_SECONDS later), no further job starts, and the process exits 0. A second signal stops it
at once. `partnerbot tick` stops the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scheduling.jobs import ClockContext, load_all
from store import clock, outbox
from store.log_context import about

log = logging.getLogger("partnerbot.clock")
TICK_SECONDS = 60
DELIVER_SECONDS = 5
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class TickReport:
    now: dt.datetime
    done: dict[str, int] = field(default_factory=dict)
    failed_jobs: list[str] = field(default_factory=list)
    delivery: outbox.DeliveryReport = field(default_factory=outbox.DeliveryReport)
    stopped: bool = False  # a stop was asked for: jobs not started and messages not sent wait for the next pass

    def summary(self) -> str:
        did = ", ".join(f"{k} {v}" for k, v in sorted(self.done.items()) if v) or "nothing due"
        return (f"{self.now:%Y-%m-%d %H:%M}Z: {did}; sent {len(self.delivery.sent)}, "
                f"retrying {len(self.delivery.retrying)}, failed {len(self.delivery.failed)}"
                + (f"; jobs that failed: {', '.join(self.failed_jobs)}" if self.failed_jobs else "")
                + ("; stopped early: the rest waits for the next pass" if self.stopped else ""))


def run_jobs(sessions, slack, playbook, *, now: dt.datetime, stop: Callable[[], bool] | None = None) -> TickReport:
    """Every registered job at `now`. A failing job is logged and the others still run.

    The whole pass runs on the product clock moved to `now`: what the jobs record (outbox due
    times, audit events, reminder keys) is stamped with the pass's time, not the machine's.
    Once `stop` says yes no further job starts (each job's work is its own transactions)."""
    report = TickReport(now=now)
    with clock.travelled_to(now, tick=False):
        ctx = ClockContext(sessions=sessions, slack=slack, playbook=playbook, now=now)
        for job in load_all():
            if stop is not None and stop():
                report.stopped = True
                break
            before = dict(ctx.counts)
            with about(job=job.name):
                try:
                    job.run(ctx)
                except Exception:  # noqa: BLE001 - one job's bug must not stop the clock; it is logged in full
                    log.exception("clock job %s failed", job.name)
                    report.failed_jobs.append(job.name)
                did = {k: v - before.get(k, 0) for k, v in ctx.counts.items() if v != before.get(k, 0)}
                if did:
                    log.info("%s: %s", job.name, ", ".join(f"{k} {v}" for k, v in sorted(did.items())))
    report.done = dict(ctx.counts)
    return report


def tick(services, *, now: dt.datetime | None = None, deliver: bool = True) -> TickReport:
    """One pass of all work due at `now`, then deliver what is due (operators catch up with it).

    Everything in it, delivery and Home refreshes included, runs as if the machine's clock read
    `now`, whether that is before or after the real time. SIGTERM or SIGINT (when run in the main
    thread) ends it after the send in flight, as for the clock."""
    now = now or clock.now()
    with clock.travelled_to(now), stop_requested_by_signals() as stop:
        report = run_jobs(services.sessions, services.slack, services.playbook, now=now, stop=stop)
        if deliver and not stop():
            report.delivery = services.deliver(stop=stop)  # on the moved clock, after the pass
        report.stopped = stop()
    if report.stopped:
        log.warning("tick stopped by a signal: what it did not get to waits for the next pass")
    return report


@contextmanager
def stop_requested_by_signals() -> Iterator[Callable[[], bool]]:
    """A `stop` that SIGTERM or SIGINT sets, for a pass run in the main thread; a second signal then
    acts as it would have (SIGTERM ends the process, SIGINT raises KeyboardInterrupt). Elsewhere
    (a thread, as in tests) no signal reaches the pass and `stop` stays false."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def asked_to_stop(signum, frame) -> None:  # only flags: the pass looks before each send
        received.append(signum)
        restore()

    for sig in STOP_SIGNALS:
        signal.signal(sig, asked_to_stop)
    try:
        yield lambda: bool(received)
    finally:
        restore()


def run_clock(services) -> None:
    """The clock process, until SIGTERM or SIGINT: then it stops cleanly (see the module docstring)."""
    stopping = threading.Event()

    def due_work() -> None:
        report = run_jobs(services.sessions, services.slack, services.playbook, now=clock.now(), stop=stopping.is_set)
        if report.done or report.failed_jobs:
            log.info("tick: %s", report.summary())

    def drain_outbox() -> None:
        if stopping.is_set():
            return
        report = services.deliver(stop=stopping.is_set)
        if report.sent or report.retrying or report.failed:
            log.info("outbox: sent %d, retrying %d, failed %d", len(report.sent), len(report.retrying), len(report.failed))

    # The signals wait for the main thread alone: blocked here before any thread starts (threads inherit
    # the mask), so no send is interrupted, and taken below with sigwait, outside any signal handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    executor = ThreadPoolExecutor(max_workers=2)
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": executor})
    # In-memory job store: the jobs are code, the deadlines live in the database; nothing is pickled.
    # A clock that was down catches up on its first pass: due work is found from the data, once per item.
    start = clock.now()
    scheduler.add_job(due_work, IntervalTrigger(seconds=TICK_SECONDS), id="due_work", max_instances=1,
                      coalesce=True, next_run_time=start)
    scheduler.add_job(drain_outbox, IntervalTrigger(seconds=DELIVER_SECONDS), id="drain_outbox", max_instances=1,
                      coalesce=True, next_run_time=start)
    scheduler.start()
    log.info("clock started: due work every %d s, outbox every %d s", TICK_SECONDS, DELIVER_SECONDS)
    try:
        received = signal.sigwait(STOP_SIGNALS)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # from here a second signal acts at once
    log.info("clock stopping (%s): finishing the send in flight, handing back the rest",
             signal.Signals(received).name)
    stopping.set()
    scheduler.shutdown(wait=True)  # no new runs; waits for the running ones, which stop at the next send
    log.info("clock stopped")
