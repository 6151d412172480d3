#!/usr/bin/env python
"""One clock pass (`scheduling.clock.run_jobs`) over a production-sized store: wall time and SQL statements.

    python benchmarks/bench_clock.py [--due 500,2500,5000] [--database-url URL] [--no-drain] [--delivery 2000]

For each number of due items D it:

1. Creates a fresh database (a SQLite file in a temp dir, or the --database-url one with its public
   schema dropped and recreated), runs the migrations and bulk-loads, with SQLAlchemy core inserts:
   1,000 partners, 100,000 leads and 200,000 actions, plus the Slack users cache (as a clock that
   has run before has it). Exactly D items are due at the measured instant, Wednesday 2026-12-02
   10:00 in New York:
   - 30% leads handed off and not accepted, their accept-by passed half an hour ago (inside the
     backup grace): one accept reminder each;
   - 20% leads accepted without a first outreach, its deadline passed half an hour ago: one
     outreach reminder each (the manager's note comes a business day later: not yet);
   - 50% open actions due yesterday, today or tomorrow (overdue / due today / due soon): one
     action reminder each.
   Everything else is not due: closed or progressing leads, handoffs with a later accept-by, done
   actions, open actions due later, and 1,000 overdue actions that are snoozed.
2. Starts the Slack Web API stand-in in this process (it answers at once) and runs every
   registered job once with `run_jobs(sessions, client, playbook, now=…)`, counting statements with
   a `before_cursor_execute` event on the engine the jobs use (an executemany counts once). The
   statements are split into INSERTs into the outbox (store.reminders.post_once is one per reminder)
   and everything else, which must not grow with D.
3. Runs a second pass one minute later (everything already recorded: the steady state of a clock
   that ticks every minute), and, unless --no-drain, drains the outbox through the stand-in at
   advancing instants (paced: one post per channel per pass) to report delivery throughput.

4. Unless --delivery 0, measures delivery alone on a fresh database: N posts due now (real action
   reminders, rendered by messages.reminders), each into a channel of its own (so pacing holds none
   back), drained by one deliverer: posts a second, and the statements
   each post costs (claiming, sending, and recording its outcome as soon as Slack answers). The
   stand-in answers at once unless --slack-latency says otherwise.

It prints a table and writes bench-results/clock.json. It reports; it asserts nothing except that
every due item got exactly one reminder (exit 1 otherwise). Target: the 5,000-item pass under 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make bot/, store/ and benchmarks/ importable

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from benchmarks.harness import (  # noqa: E402
    partner_names,
    COMPANY_FORMS, DOMAIN_FIRST, DOMAIN_SECOND, MANAGERS, MARKETS, NEXT_STEPS, PROBLEMS, REPS, TLDS, bulk_load, count_rows, reset_database, slack_id,
)
from bot.slack import Slack  # noqa: E402
from slackkit.webapi import SlackStandin  # noqa: E402
from scheduling.clock import run_jobs  # noqa: E402
from scheduling import jobs as registry  # noqa: E402
from scheduling.jobs import Job, load_all  # noqa: E402
from store import outbox  # noqa: E402
from store.db import make_engine, normalise_database_url
from bot.compose import session_factory  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from messages.reminders import action_reminder  # noqa: E402
from store.models import LEAD_REF_OFFSET, ActionItem, Lead, OutboxMessage, Partner, SlackUser  # noqa: E402
from store.reminders import Once, post_many_once  # noqa: E402
from store.playbook import Playbook, parse_playbook  # noqa: E402
from store.views import ActionView  # noqa: E402

N_PARTNERS = 1_000
N_LEADS = 100_000
N_ACTIONS = 200_000
N_SNOOZED = 1_000
TOKEN = "xoxb-bench-clock"
TARGET_SECONDS = 5.0
NOW = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)  # Wednesday, 10:00 in New York
PLAYBOOK = """
timezone: America/New_York
business_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
sla:
  default: {accept_within_hours: 8, first_outreach_within_hours: 16}
  tiers:
    gold: {accept_within_hours: 4}
"""
ACTION_TITLES = ["Joint webinar plan", "Send the pricing sheet", "Quarterly pipeline review deck",
                 "Fix the deal registration form", "Enablement session for the SE team", "Update the co-sell map"]
USERS = REPS + MANAGERS


def build(rng: random.Random, due: int, playbook: Playbook) -> dict[str, list[dict]]:
    """Rows for every table, with exactly `due` items due at NOW (see the module docstring)."""
    calendar = playbook.calendar
    names = partner_names(rng, N_PARTNERS)
    tiers = list(playbook.tiers)
    partners = [{
        "id": pid, "name": name, "name_key": name.lower(), "type": rng.choice(playbook.partner_types),
        "tier": rng.choice(tiers), "market": rng.choice(MARKETS), "product_lines": [],
        "channel_id": slack_id(rng, "C") if rng.random() < 0.8 else None,
        "manager_id": rng.choice(MANAGERS) if rng.random() < 0.9 else None,
        "created_at": NOW - dt.timedelta(days=400), "updated_at": NOW - dt.timedelta(days=400),
    } for pid, name in enumerate(names, start=1)]

    n_accept, n_outreach = due * 3 // 10, due * 2 // 10
    n_actions = due - n_accept - n_outreach
    half_hour_ago = NOW - dt.timedelta(minutes=30)
    leads = []
    for idx in range(N_LEADS):
        lead_id = idx + 1
        partner = partners[rng.randrange(N_PARTNERS)]
        sender = rng.choice(REPS)
        owner = rng.choice([r for r in REPS if r != sender])
        domain = rng.choice(DOMAIN_FIRST) + rng.choice(DOMAIN_SECOND) + rng.choice(TLDS)
        created = NOW - dt.timedelta(days=rng.uniform(3, 300))
        accept_by = calendar.add_business_hours(created, 8)
        outreach_by = calendar.add_business_hours(created, 16)
        stage, accepted_at, outreach_at = None, None, None
        if idx < n_accept:  # due: accept-by passed half an hour ago
            stage, accept_by, created = "handed_off", half_hour_ago, half_hour_ago - dt.timedelta(hours=8)
        elif idx < n_accept + n_outreach:  # due: first outreach late by half an hour
            stage, outreach_by = "accepted", half_hour_ago
            accepted_at = half_hour_ago - dt.timedelta(hours=3)
        elif idx < n_accept + n_outreach + 2_000:  # not due yet: handed off this morning
            stage, created = "handed_off", NOW - dt.timedelta(minutes=45)
            accept_by = calendar.add_business_hours(created, 8)
        else:
            stage = rng.choices(["contacted", "qualified", "proposal", "negotiation", "closed_won", "closed_lost",
                                 "declined"], [20, 15, 10, 5, 20, 20, 10])[0]
            if stage != "declined":
                accepted_at = created + dt.timedelta(hours=1)
                outreach_at = accepted_at + dt.timedelta(hours=2)
        leads.append({
            "id": lead_id, "partner_id": partner["id"], "direction": rng.choice(["to_partner", "from_partner"]),
            "company": f"{domain.split('.')[0].capitalize()} {rng.choice(COMPANY_FORMS)}".strip(), "domain": domain,
            "contact_name": None, "contact_email": None, "consent": False, "problem": rng.choice(PROBLEMS),
            "value_proposition": None, "next_steps": rng.choice(NEXT_STEPS), "estimated_value": None,
            "product_line": None, "stage": stage, "sender_id": sender, "primary_owner_id": owner,
            "backup_owner_id": rng.choice(REPS) if rng.random() < 0.5 else None,
            "accept_by": accept_by, "first_outreach_by": outreach_by,
            "accepted_at": accepted_at, "accepted_by": owner if accepted_at else None,
            "declined_at": created + dt.timedelta(hours=1) if stage == "declined" else None,
            "declined_by": owner if stage == "declined" else None,
            "decline_reason": "Not our market." if stage == "declined" else None,
            "first_outreach_at": outreach_at, "first_outreach_logged_by": owner if outreach_at else None,
            "created_at": created, "updated_at": max(created, accepted_at or created),
        })

    today = NOW.astimezone(playbook.tz).date()  # Wednesday 2 Dec
    due_dates = [today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)]  # overdue, today, soon
    actions = []
    for idx in range(N_ACTIONS):
        status, snoozed, done_at = "open", None, None
        if idx < n_actions:
            due_date = due_dates[idx % 3]
        elif idx < n_actions + N_SNOOZED:  # overdue but snoozed until tomorrow: quiet
            due_date, snoozed = today - dt.timedelta(days=2), NOW + dt.timedelta(days=1)
        elif rng.random() < 0.15:  # open, due later this quarter
            due_date = today + dt.timedelta(days=rng.randint(7, 90))
        else:  # done long ago
            status, due_date = "done", today - dt.timedelta(days=rng.randint(3, 400))
            done_at = dt.datetime.combine(due_date, dt.time(15), tzinfo=dt.UTC)
        partner = partners[rng.randrange(N_PARTNERS)]
        created = dt.datetime.combine(due_date, dt.time(14), tzinfo=dt.UTC) - dt.timedelta(days=14)
        actions.append({
            "id": idx + 1, "title": rng.choice(ACTION_TITLES), "owner_id": rng.choice(USERS),
            "created_by": rng.choice(MANAGERS), "due_date": due_date, "priority": "medium", "status": status,
            "snoozed_until": snoozed, "done_at": done_at, "done_by": None, "partner_id": partner["id"],
            "lead_id": rng.randint(1, N_LEADS) if rng.random() < 0.3 else None,
            "created_at": created, "updated_at": created,
        })
    users = [{"user_id": u, "tz": "Europe/London" if i % 5 == 0 else "America/New_York", "real_name": u,
              "fetched_at": NOW - dt.timedelta(hours=1)} for i, u in enumerate(USERS)]
    return {"partners": partners, "leads": leads, "actions": actions, "slack_users": users}


def load(url: str, rows: dict[str, list[dict]]) -> dict[str, int]:
    bulk_load(url, [(Partner, rows["partners"]), (Lead, rows["leads"]), (ActionItem, rows["actions"]),
                    (SlackUser, rows["slack_users"])], batch=5_000, analyze="all")
    return count_rows(url, {"partners": Partner, "leads": Lead, "actions": ActionItem})


class StatementCounter:
    """Counts the statements an engine sends, by kind ("INSERT outbox", "SELECT", ...)."""

    def __init__(self, engine):
        self.kinds: Counter = Counter()
        event.listen(engine, "before_cursor_execute", self._seen)
        event.listen(engine, "commit", self._committed)

    def _committed(self, conn) -> None:
        self.kinds["COMMIT"] += 1

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        words = statement.split()
        verb = words[0].upper() if words else "?"
        if verb == "INSERT" and len(words) > 2 and words[2].strip('"') == "outbox":
            self.kinds["INSERT outbox"] += 1
        else:
            self.kinds[verb] += 1

    def take(self) -> Counter:
        kinds, self.kinds = self.kinds, Counter()
        return kinds


def timed(job: Job, counter: "StatementCounter", into: dict[str, dict]) -> Job:
    """The job, recording its own wall time and statements (the pass's split by job)."""

    def run(ctx) -> None:
        before, started = sum(counter.kinds.values()), time.perf_counter()
        try:
            job.run(ctx)
        finally:
            into[job.name] = {"seconds": round(time.perf_counter() - started, 3),
                              "statements": sum(counter.kinds.values()) - before}

    return Job(job.name, run)


def one_size(url: str, due: int, drain: bool, playbook: Playbook) -> dict:
    reset_database(url)
    upgrade(url)
    started = time.perf_counter()
    counts = load(url, build(random.Random(due), due, playbook))
    load_seconds = time.perf_counter() - started

    engine = make_engine(url)
    counter = StatementCounter(engine)
    sessions = session_factory(engine)
    try:
        with SlackStandin(token=TOKEN) as slack:
            client = WebClient(token=TOKEN, base_url=slack.url, timeout=10)
            load_all()  # import the job modules first: a clock process does that once, at start
            counter.take()
            per_job: dict[str, dict] = {}
            registered = list(registry.JOBS)
            registry.JOBS[:] = [timed(job, counter, per_job) for job in registered]
            try:
                started = time.perf_counter()
                report = run_jobs(sessions, Slack(client), playbook, now=NOW)
                first_seconds = time.perf_counter() - started
            finally:
                registry.JOBS[:] = registered
            first = counter.take()
            slack_calls = Counter(c.method for c in slack.calls)

            started = time.perf_counter()
            again = run_jobs(sessions, Slack(client), playbook, now=NOW + dt.timedelta(minutes=1))
            second_seconds = time.perf_counter() - started
            second = counter.take()

            with sessions() as session:
                written = session.scalar(select(func.count(OutboxMessage.id)))
                by_kind = dict(session.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all())
                channels = session.scalar(select(func.count(func.distinct(OutboxMessage.channel))))

            delivery = None
            if drain:
                started, at, passes, sent = time.perf_counter(), NOW, 0, 0
                first_pass_seconds = None
                while True:
                    t0 = time.perf_counter()
                    result = outbox.deliver(sessions, Slack(client), now=at)
                    if first_pass_seconds is None:
                        first_pass_seconds = time.perf_counter() - t0
                    passes += 1
                    sent += len(result.sent)
                    if not (result.sent or result.retrying):
                        with sessions() as session:
                            left = session.scalar(select(func.count(OutboxMessage.id))
                                                  .where(OutboxMessage.status == "pending"))
                        if not left:
                            break
                    at += dt.timedelta(seconds=outbox.PACE_SECONDS)
                seconds = time.perf_counter() - started
                posts = len(slack.calls_for("chat.postMessage"))
                delivery = {"sent": sent, "slack_posts": posts, "passes": passes, "seconds": round(seconds, 2),
                            "posts_per_second": round(posts / seconds, 1) if seconds else None,
                            "first_pass_seconds": round(first_pass_seconds or 0, 3),
                            "channels": channels}
    finally:
        engine.dispose()

    non_insert = sum(n for k, n in first.items() if k != "INSERT outbox")
    return {
        "due": due, "store": counts, "load_seconds": round(load_seconds, 1),
        "jobs": [j.name for j in load_all()], "failed_jobs": report.failed_jobs + again.failed_jobs,
        "done": report.done, "outbox_rows": written, "outbox_by_kind": by_kind,
        "first_pass": {"seconds": round(first_seconds, 3), "statements": sum(first.values()),
                       "inserts_into_outbox": first.get("INSERT outbox", 0), "other_statements": non_insert,
                       "by_kind": dict(first), "slack_calls": dict(slack_calls), "per_job": per_job},
        "next_minute": {"seconds": round(second_seconds, 3), "statements": sum(second.values()),
                        "by_kind": dict(second), "done": again.done},
        "delivery": delivery,
    }


def due_today(i: int, playbook: Playbook) -> dict:
    """A real action reminder (messages.reminders.action_reminder, the clock's most common post) of a
    made-up open action due today."""
    today = NOW.astimezone(playbook.tz).date()
    view = ActionView(id=i + 1, ref=f"A-{i + 1 + LEAD_REF_OFFSET}", title=ACTION_TITLES[i % len(ACTION_TITLES)],
                      owner_id=USERS[i % len(USERS)], created_by=MANAGERS[0], due_date=today, success_criteria=None,
                      impact_estimate=None, priority="medium", status="open", snoozed_until=None, outcome=None,
                      done_at=None, done_by=None, link=None, zone=playbook.tz)
    return action_reminder(view, kind="due_today", today=today, now=NOW)


def delivery_only(url: str, n: int, playbook: Playbook, latency: float = 0.0) -> dict:
    """N action reminders due at NOW, one per channel, drained by one deliverer through the stand-in
    (answering after `latency` seconds: Slack's own answers take tens of milliseconds or more)."""
    reset_database(url)
    upgrade(url)
    engine = make_engine(url)
    counter = StatementCounter(engine)
    sessions = session_factory(engine)
    try:
        with sessions() as session, session.begin():
            post_many_once(session, [Once(f"bench-delivery-{i}", f"C{i:08d}", due_today(i, playbook), "action_reminder")
                                     for i in range(n)], now=NOW)
        with SlackStandin(token=TOKEN, latency=latency) as slack:
            client = WebClient(token=TOKEN, base_url=slack.url, timeout=10)
            counter.take()
            started, passes, sent = time.perf_counter(), 0, 0
            while True:
                result = outbox.deliver(sessions, Slack(client), now=NOW)
                passes += 1
                sent += len(result.sent)
                if not result.sent:
                    break
            seconds = time.perf_counter() - started
            statements = counter.take()
            posts = len(slack.calls_for("chat.postMessage"))
    finally:
        engine.dispose()
    return {"posts": n, "slack_latency": latency, "sent": sent, "slack_posts": posts, "passes": passes, "seconds": round(seconds, 2),
            "posts_per_second": round(posts / seconds, 1) if seconds else None,
            "statements_per_post": round(sum(statements.values()) / max(posts, 1), 2), "by_kind": dict(statements)}


def print_table(results: list[dict]) -> None:
    print(f"\njobs measured: {', '.join(results[0]['jobs'])}")
    print(f"{'due':>6} {'pass s':>8} {'stmts':>7} {'INSERT outbox':>14} {'other':>6} {'rows':>6} "
          f"{'next min s':>11} {'next stmts':>11} {'drain s':>8} {'posts/s':>8}")
    for r in results:
        f, n, d = r["first_pass"], r["next_minute"], r["delivery"] or {}
        print(f"{r['due']:>6} {f['seconds']:>8.3f} {f['statements']:>7} {f['inserts_into_outbox']:>14} "
              f"{f['other_statements']:>6} {r['outbox_rows']:>6} {n['seconds']:>11.3f} {n['statements']:>11} "
              f"{d.get('seconds', '-'):>8} {d.get('posts_per_second', '-'):>8}")
    for r in results:
        jobs = ", ".join(f"{name} {v['seconds']:.2f} s/{v['statements']}" for name, v in r["first_pass"]["per_job"].items())
        print(f"  due {r['due']} per job (s/statements): {jobs}")
    for r in results:
        print(f"  due {r['due']}: written {r['outbox_by_kind']}; statements {r['first_pass']['by_kind']}; "
              f"failed jobs {r['failed_jobs'] or 'none'}")
    biggest = max(results, key=lambda r: r["due"])
    verdict = "met" if biggest["first_pass"]["seconds"] < TARGET_SECONDS else "MISSED"
    print(f"target: the {biggest['due']}-item pass under {TARGET_SECONDS:.0f} s — {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", default="500,2500,5000", help="comma-separated numbers of due items")
    parser.add_argument("--database-url", help="Postgres to use (its public schema is dropped!); default SQLite")
    parser.add_argument("--no-drain", action="store_true", help="skip draining the outbox afterwards")
    parser.add_argument("--delivery", type=int, default=2000,
                        help="posts for the delivery-only measure, one channel each (0: skip it)")
    parser.add_argument("--slack-latency", type=float, default=0.0,
                        help="seconds the stand-in takes to answer in the delivery-only measure (default 0)")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "clock.json"))
    opts = parser.parse_args(argv)
    playbook = parse_playbook(PLAYBOOK, "bench-playbook.yml")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for due in [int(x) for x in opts.due.split(",") if x.strip() and int(x)]:
            url = normalise_database_url(opts.database_url or f"sqlite:///{Path(tmp) / f'clock-{due}.db'}")
            print(f"due {due}: loading {N_PARTNERS:,} partners, {N_LEADS:,} leads, {N_ACTIONS:,} actions ...", flush=True)
            result = one_size(url, due, not opts.no_drain, playbook)
            print(f"  loaded in {result['load_seconds']} s; pass {result['first_pass']['seconds']} s, "
                  f"{result['first_pass']['statements']} statements", flush=True)
            results.append(result)
        delivery = None
        if opts.delivery:
            url = normalise_database_url(opts.database_url or f"sqlite:///{Path(tmp) / 'delivery.db'}")
            print(f"delivery alone: {opts.delivery:,} posts, one channel each, Slack answering in "
                  f"{opts.slack_latency * 1000:.0f} ms ...", flush=True)
            delivery = delivery_only(url, opts.delivery, playbook, opts.slack_latency)
    if results:
        print_table(results)
    if delivery:
        print(f"delivery alone: {delivery['slack_posts']} posts in {delivery['seconds']} s ({delivery['posts_per_second']} "
              f"posts/s, {delivery['passes']} passes), {delivery['statements_per_post']} statements a post "
              f"{delivery['by_kind']}")
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "database": "postgresql" if (opts.database_url or "").startswith("postgres") else "sqlite",
        "python": platform.python_version(), "machine": platform.machine(), "now": NOW.isoformat(),
        "results": results, "delivery_only": delivery}, indent=2, default=str))
    print(f"written to {out}")
    # every due item got exactly one reminder (the outbox's unique key makes "at most"; this checks "at least")
    wrong = [r["due"] for r in results if r["outbox_rows"] != r["due"]]
    if wrong:
        print(f"CHECK FAILED: outbox rows differ from the due items for {wrong}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
