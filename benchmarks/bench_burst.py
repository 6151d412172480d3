#!/usr/bin/env python
"""50 concurrent same-domain /handoff submissions on Postgres, served like production.

    python benchmarks/bench_burst.py --database-url postgresql://postgres@127.0.0.1:5432/test \
        [--burst 50] [--rounds 2] [--domain hot|new|both]

A rep team hands off the same hot account at once (a conference, a territory reshuffle): each
submission detects conflicts with the other partners' open leads on that domain, records them, tells
the partner managers, and the other leads' cards must be refreshed to name the new lead. Slack closes
a modal only if the answer comes within 3 s; past that the rep sees an error although the lead was
saved. Target: p99 < 1 s for the burst.

What it does, with benchmarks/harness.py:

1. Creates a database of its own on the --database-url server (`<db>_burst_<pid>`, dropped at the
   end, so other runs on the same server are untouched), migrates it and bulk-loads the harness's
   data set (1,000 partners, 10,000 leads with their conflicts and already-sent cards, rendered by
   messages.handoff's builders).
2. Runs the Slack stand-in in this process (so the check can read what Slack shows) and starts the
   Procfile's `web:` line (gunicorn, 2 workers x 8 threads) against it.
3. Warms up with sequential submissions on other domains, then times `--sequential` submissions on
   the hot domain one at a time, each after the last one's after-work is done: the floor.
4. Fires `--burst` submissions at once (one thread and one connection each, released together by a
   barrier), every one for a different partner on the same domain: `hot` is the data set's busiest
   customer domain (every submission conflicts with 20 of its open leads), `new` a domain no lead
   has yet (the burst's leads conflict only with each other, so whether each submission sees the
   others depends on the interleaving). While the burst runs it samples pg_stat_activity every
   10 ms: what the app's connections wait on (Lock/transactionid: a row or key another open
   transaction holds; "idle in transaction": the database waits for the app), and which statements
   the lock waits were in.
5. Prints p50/p99/max of the HTTP answer (client side) per round and checks the result: every
   submission answered 200 with the modal closed and made its lead; every conflict is recorded both
   ways and each lead has at least the conflicts the rule gives it; once nothing is pending, each
   lead's latest card in the stand-in (owner DM and channel notice) lists its conflicts as the
   database has them (the first 10, as the card shows them); nothing failed.

The stand-in, the client threads, Postgres and the web workers share the machine: on 2 cores the
figures are noisy (run it more than once). `--py-spy DIR` records the web workers during the
one-at-a-time phase and each burst and prints where their samples go.

Results are written as JSON to bench-results/burst.json. Exit 1 if a request failed or a check did.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import re
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from store import clock  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from benchmarks import harness as h  # noqa: E402
from slackkit import simulator as s  # noqa: E402
from slackkit.simulator import SlackSimulator  # noqa: E402
from slackkit.webapi import SlackStandin  # noqa: E402
from store.db import make_engine, normalise_database_url  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Lead, LeadConflict, OutboxMessage  # noqa: E402
from store.playbook import load_playbook  # noqa: E402

TARGET_P99_MS = 1000.0
SLACK_LIMIT_MS = 3000.0
SENDER = "U0BURSTREP1"
CONFLICT_REF = re.compile(r"(L-\d+) \(")


def conflicts_shown(message: dict | None) -> list[str]:
    """The refs a card's "Possible conflict" section lists, in order ([] if it has none)."""
    for block in (message or {}).get("blocks") or []:
        body = ((block.get("text") or {}).get("text") or "") if isinstance(block, dict) else ""
        if "Possible conflict" in body:
            return CONFLICT_REF.findall(body)
    return []


# =============================================================================== database

def own_database(server_url: str) -> tuple[str, callable]:
    """A database of this run's own on the server of `server_url`, and a function that drops it."""
    url = normalise_database_url(server_url)
    if not url.startswith("postgresql"):
        raise SystemExit("bench_burst measures Postgres: pass --database-url postgresql://…")
    base = make_url(url)
    name = f"{base.database or 'postgres'}_burst_{os.getpid()}_{secrets.token_hex(2)}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


# =============================================================================== requests

def burst_forms(rng: random.Random, domain: str, partner_ids: list[int], playbook) -> list[dict]:
    forms = []
    for i, partner_id in enumerate(partner_ids):
        owner = h.REPS[i % len(h.REPS)]
        first, last = rng.choice(h.FIRST_NAMES), rng.choice(h.LAST_NAMES)
        forms.append(h.handoff_form(
            partner_id,
            company=s.text(f"{domain.split('.')[0].capitalize()} Inc"),
            domain=s.text(rng.choice([domain, f"https://www.{domain}/about", f"www.{domain}"])),
            contact_name=s.text(f"{first} {last}"),
            contact_email=s.email(f"{first.lower()}.{last.lower()}@{domain}"),
            product_line=s.select(playbook.product_lines[0]) if playbook.product_lines else s.text("Analytics"),
            primary_owner=s.user(owner),
            backup_owner=s.user(None),
        ))
    return forms


def fire(url: str, secret: str, forms: list[dict]) -> list[tuple[int, float | None, str | None]]:
    """All forms at once: one thread and one connection each, released together."""
    barrier = threading.Barrier(len(forms))
    sims = [SlackSimulator(url, secret) for _ in forms]

    def one(i: int):
        sim = sims[i]
        sim._connection().connect()  # the TCP connection is made before the start line, like Slack's pool
        barrier.wait()
        try:
            answer = sim.submit("handoff_submit", forms[i], user_id=SENDER)
        except Exception as error:  # noqa: BLE001 - a reset or timeout is a failed request
            return i, None, f"{type(error).__name__}: {error}"
        finally:
            sim.close()
        if answer.status != 200 or answer.body.strip():
            return i, answer.seconds, f"HTTP {answer.status}: {answer.body[:200]}"
        return i, answer.seconds, None

    with ThreadPoolExecutor(len(forms)) as pool:
        return list(pool.map(one, range(len(forms))))


class WaitSampler:
    """Samples what the app's database connections are doing while a burst runs."""

    def __init__(self, database_url: str, app_name_like: str = "%"):
        self.engine = make_engine(database_url, poolclass=NullPool)
        self.samples: Counter[str] = Counter()
        self.lock_queries: Counter[str] = Counter()  # what the connections waiting on a lock were running
        self.max_waiting = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.engine.connect() as conn:
            mine = conn.scalar(text("SELECT pg_backend_pid()"))
            while not self._stop.is_set():
                rows = conn.execute(text(
                    "SELECT state, wait_event_type, wait_event, left(query, 80) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> :me AND backend_type = 'client backend'"),
                    {"me": mine}).all()
                waiting = 0
                for state, kind, event, query in rows:
                    if state == "idle":
                        continue
                    label = f"{state}: {kind}/{event}" if kind else f"{state}: on CPU"
                    self.samples[label] += 1
                    if kind == "Lock":
                        waiting += 1
                        self.lock_queries[" ".join(query.split())] += 1
                self.max_waiting = max(self.max_waiting, waiting)
                conn.rollback()
                time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()


# =============================================================================== checking

def wait_drained(database_url: str, since_outbox: int, timeout: float = 120) -> dict[str, int]:
    """Wait until the messages from `since_outbox` on are all sent or failed (two quiet polls)."""
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        deadline, quiet = time.monotonic() + timeout, 0
        while True:
            with engine.connect() as conn:
                by_status = dict(conn.execute(select(OutboxMessage.status, func.count()).where(
                    OutboxMessage.id >= since_outbox).group_by(OutboxMessage.status)).all())
            quiet = quiet + 1 if not by_status.get("pending") else 0
            if quiet >= 2 or time.monotonic() > deadline:
                return by_status
            time.sleep(0.25)
    finally:
        engine.dispose()


def cards_in_slack(standin: SlackStandin, database_url: str, lead_ids: set[int]) -> dict[int, list[dict]]:
    """The latest copy in the stand-in of each lead's owner card and channel notice."""
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxMessage.subject_id, OutboxMessage.kind, OutboxMessage.result_channel,
                                       OutboxMessage.result_ts).where(
                OutboxMessage.subject_type == "lead", OutboxMessage.subject_id.in_(lead_ids),
                OutboxMessage.kind.in_(["lead_card", "lead_notice"]), OutboxMessage.method == "chat.postMessage",
                OutboxMessage.status == "sent")).all()
    finally:
        engine.dispose()
    cards: dict[int, list[dict]] = {}
    for lead_id, kind, channel, ts in rows:
        message = standin.messages.get((channel, ts))
        cards.setdefault(lead_id, []).append({"kind": kind, "message": message})
    return cards


def card_history(database_url: str, lead_id: int) -> str:
    """For a diagnosis: the outbox rows of a lead's owner card, oldest first."""
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxMessage).where(
                OutboxMessage.subject_type == "lead", OutboxMessage.subject_id == lead_id,
                OutboxMessage.kind == "lead_card").order_by(OutboxMessage.id)).all()
    finally:
        engine.dispose()
    return "; ".join(f"#{r.id} {r.method} {r.status} v{r.version} (sent v{r.sent_version}) "
                     f"shows {conflicts_shown(r.payload)}" for r in rows)


def check_burst(standin: SlackStandin, database_url: str, domain: str, new_ids: list[int],
                expected_new: int, window_days: int) -> list[str]:
    """Every submission made its lead; conflicts are recorded both ways, between every pair of the
    burst's leads that the rule makes conflict; every card in Slack shows what the database has."""
    problems: list[str] = []
    if len(new_ids) != expected_new:
        problems.append(f"{expected_new} submissions made {len(new_ids)} leads on {domain}")
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            pairs = set(conn.execute(select(LeadConflict.lead_id, LeadConflict.other_lead_id).join(
                Lead, Lead.id == LeadConflict.lead_id).where(Lead.domain == domain)).all())
            leads = {r.id: r for r in conn.execute(select(Lead.id, Lead.partner_id, Lead.stage, Lead.created_at).where(
                Lead.domain == domain)).all()}
    finally:
        engine.dispose()
    one_way = [(a, b) for a, b in pairs if (b, a) not in pairs]
    if one_way:
        problems.append(f"{len(one_way)} conflicts recorded one way only, e.g. {one_way[:3]}")
    # The rule (store.handoffs): a new lead is checked against the first 20 (by id) open leads on its
    # domain before it inside the window; those of other partners conflict with it.
    for lead_id in new_ids:
        lead = leads[lead_id]
        before = [o for o in sorted(leads) if o < lead_id and leads[o].stage not in h.OPEN_EXCLUDED
                  and leads[o].created_at >= lead.created_at - dt.timedelta(days=window_days)]
        want = {o for o in before[:20] if leads[o].partner_id != lead.partner_id}
        have = {b for a, b in pairs if a == lead_id and b < lead_id}
        if not want <= have:
            problems.append(f"L-{lead_id + 1000} misses conflicts with {[f'L-{o + 1000}' for o in sorted(want - have)][:5]}"
                            f" (has {len(have)} of {len(want)})")
    involved = set(new_ids) | {b for a, b in pairs if a in new_ids}
    cards = cards_in_slack(standin, database_url, involved)
    stale = []
    for lead_id in sorted(involved):
        want = [f"L-{o + 1000}" for o in sorted(b for a, b in pairs if a == lead_id)[:10]]  # the card shows 10
        for card in cards.get(lead_id, []):
            shown = conflicts_shown(card["message"])
            if shown != want:
                stale.append((f"L-{lead_id + 1000}", card["kind"], f"shows {len(shown)} of {len(want)}",
                              sorted(set(want) - set(shown))[:3]))
        if lead_id in new_ids and not cards.get(lead_id):
            stale.append((f"L-{lead_id + 1000}", "no card sent"))
    if stale:
        problems.append(f"{len(stale)} cards in Slack do not list their conflicts, e.g. {stale[:3]}")
        problems.append("the outbox rows of the first: " + card_history(database_url, int(stale[0][0][2:]) - 1000))
    return problems


# =============================================================================== main

def hottest_domain(data: h.Dataset, now: dt.datetime) -> tuple[str, int]:
    horizon = now - dt.timedelta(days=85)
    counts = Counter(l["domain"] for l in data.leads
                     if l["domain"] and l["stage"] not in h.OPEN_EXCLUDED and l["created_at"] >= horizon)
    return counts.most_common(1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a Postgres server (a database of the run's own is "
                                                               "made on it and dropped at the end)")
    parser.add_argument("--burst", type=int, default=50, help="concurrent submissions per round")
    parser.add_argument("--rounds", type=int, default=2, help="bursts per domain kind")
    parser.add_argument("--domain", choices=["hot", "new", "both"], default="both")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--sequential", type=int, default=10, help="hot-domain submissions one at a time first "
                                                                     "(the floor a burst is compared with)")
    parser.add_argument("--playbook", default=str(ROOT / "playbook.example.yml"))
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "burst.json"))
    parser.add_argument("--py-spy", metavar="DIR", help="record each burst with py-spy (raw stacks in DIR) and "
                                                         "print where the web workers' samples go")
    opts = parser.parse_args(argv)
    if opts.burst < 2 or opts.rounds < 1 or opts.sequential < 0:
        parser.error("--burst must be at least 2, --rounds at least 1, --sequential at least 0")
    kinds = 2 if opts.domain == "both" else 1
    if kinds * opts.rounds * opts.burst + opts.sequential > h.N_PARTNERS:
        parser.error(f"every submission needs a partner of its own: at most {h.N_PARTNERS} in all")
    if opts.py_spy:
        Path(opts.py_spy).mkdir(parents=True, exist_ok=True)

    h.stop_on_signals()
    processes = h.Processes()
    tmp = tempfile.TemporaryDirectory(prefix="bench-burst-")
    workdir = Path(tmp.name)
    failures: list[str] = []
    drop = None
    standin = None
    started = time.monotonic()
    try:
        database_url, drop = own_database(opts.database_url)
        playbook = load_playbook(opts.playbook)
        secret = secrets.token_hex(16)
        standin = SlackStandin(token=h.TOKEN).start()
        api_url = standin.url

        rng = random.Random(opts.seed)
        now = clock.now()  # the product's clock: the data set's deadlines are on the time the app reads
        data = h.build_dataset(rng, now, playbook, 0)
        hot, hot_open = hottest_domain(data, now)
        kinds = ["hot", "new"] if opts.domain == "both" else [opts.domain]
        rounds = [(kind, r) for kind in kinds for r in range(opts.rounds)]
        # the hot domain's existing cards are edited by the burst: they must exist in the stand-in
        need = {l["id"] for l in data.leads if l["domain"] == hot}
        messages = h.lead_messages(data, playbook)
        seeded = h.seed_standin_cards(api_url, data, messages, need)
        outbox = h.outbox_rows(data, messages, seeded)
        upgrade(database_url)
        counts = h.load(database_url, data, outbox)
        print(f"database: {make_url(database_url).database}: {counts}; hot domain {hot} "
              f"({hot_open} open leads in the window)", flush=True)

        env = h.web_env(api_url=api_url, secret=secret, database_url=database_url, playbook=opts.playbook)
        web = h.start_web(processes, "web", "bot.web:application()", env, workdir)
        server, log_path, command, url = web.proc, web.log_path, web.command, web.events_url

        # warm-up: sequential submissions on fresh domains (both workers, their pools and caches)
        warm = SlackSimulator(url, secret)
        for i in range(opts.warmup):
            form = burst_forms(rng, f"warmup{i}.example.com", [rng.randint(1, h.N_PARTNERS)], playbook)[0]
            answer = warm.submit("handoff_submit", form, user_id=SENDER)
            if answer.status != 200 or answer.body.strip():
                raise h.RunFailed(f"warm-up submission failed: {answer.status} {answer.body[:200]}")
        warm.close()

        engine = make_engine(database_url, poolclass=NullPool)
        results = []
        partner_pool = list(range(1, h.N_PARTNERS + 1))
        rng.shuffle(partner_pool)
        floor = {}
        if opts.sequential:
            # the floor: the same submission on the hot domain alone, its after-work done before the next
            alone = SlackSimulator(url, secret)
            times = []
            spy_out = Path(opts.py_spy) / "one-at-a-time.txt" if opts.py_spy else None
            with h.py_spy(server.pid, spy_out, processes) if spy_out else contextlib.nullcontext():
                for form in burst_forms(rng, hot, partner_pool[-opts.sequential:], playbook):
                    wait_drained(database_url, 1)
                    answer = alone.submit("handoff_submit", form, user_id=SENDER)
                    if answer.status != 200 or answer.body.strip():
                        raise h.RunFailed(f"a single submission failed: {answer.status} {answer.body[:200]}")
                    times.append(answer.seconds)
            alone.close()
            if spy_out:
                print("  py-spy:\n    " + "\n    ".join(h.py_spy_summary(spy_out, top=25)))
            floor = h.summarize(times)
            print(f"one at a time on the hot domain: {len(times)} submissions, p50 {floor['p50_ms']:.0f} ms, "
                  f"max {floor['max_ms']:.0f} ms", flush=True)
        for number, (kind, r) in enumerate(rounds):
            domain = hot if kind == "hot" else f"burst{number}-{rng.randrange(10**6)}.example.com"
            partner_ids = partner_pool[number * opts.burst:(number + 1) * opts.burst]
            forms = burst_forms(rng, domain, partner_ids, playbook)
            with engine.connect() as conn:
                first_outbox = (conn.scalar(select(func.max(OutboxMessage.id))) or 0) + 1
                first_lead = (conn.scalar(select(func.max(Lead.id))) or 0) + 1
            wait_drained(database_url, 1)
            spy_out = Path(opts.py_spy) / f"burst-{kind}-{r + 1}.txt" if opts.py_spy else None
            spy = h.py_spy(server.pid, spy_out, processes) if spy_out else contextlib.nullcontext()
            with spy, WaitSampler(database_url) as sampler:
                t0 = time.monotonic()
                answers = fire(url, secret, forms)
                wall = time.monotonic() - t0
                if spy_out:
                    wait_drained(database_url, first_outbox)  # the after-work too
            bad = [f"{kind} round {r + 1} #{i}: {problem}" for i, _, problem in answers if problem]
            times = [sec for _, sec, problem in answers if sec is not None and not problem]
            stats = h.summarize(times) if times else {"n": 0}
            by_status = wait_drained(database_url, first_outbox)
            with engine.connect() as conn:
                new_ids = list(conn.scalars(select(Lead.id).where(Lead.id >= first_lead, Lead.domain == domain)
                                            .order_by(Lead.id)))
            problems = check_burst(standin, database_url, domain, new_ids, len(forms),
                                   playbook.conflicts.protection_window_days)
            if set(by_status) - {"sent"}:
                problems.append(f"messages not all sent: {by_status}")
            over = sum(1 for t in times if t * 1000 >= SLACK_LIMIT_MS)
            waits = dict(sampler.samples.most_common(8))
            print(f"\n{kind} domain {domain}, round {r + 1}: {len(forms)} submissions in {wall:.2f}s; "
                  f"p50 {stats.get('p50_ms', 0):.0f} ms, p99 {stats.get('p99_ms', 0):.0f} ms, "
                  f"max {stats.get('max_ms', 0):.0f} ms; {over} at or past Slack's 3 s", flush=True)
            print(f"  database connections (10 ms samples): {waits}; at most {sampler.max_waiting} waiting on a lock")
            if sampler.lock_queries:
                print(f"  waiting on a lock while running: {dict(sampler.lock_queries.most_common(4))}")
            print(f"  outbox after the burst: {by_status}; checks: {'ok' if not problems else problems}")
            if spy_out:
                print("  py-spy:\n    " + "\n    ".join(h.py_spy_summary(spy_out, top=20)))
            failures += bad + [f"{kind} round {r + 1}: {p}" for p in problems]
            results.append({"domain_kind": kind, "round": r + 1, "domain": domain, "submissions": len(forms),
                            "wall_seconds": round(wall, 2), **stats, "at_or_past_3s": over,
                            "wait_samples": waits, "max_waiting_on_lock": sampler.max_waiting,
                            "lock_waits_by_query": dict(sampler.lock_queries.most_common(8)),
                            "outbox": by_status, "problems": problems})
        engine.dispose()
        processes.stop(server)
        issues = h.log_problems(log_path)
        if issues:
            print(f"web log: {len(issues)} warning/error lines, e.g. {issues[0][:300]}")
        print()
        print(f"{'domain':8} {'round':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  target p99 < {TARGET_P99_MS:.0f} ms")
        for row in results:
            print(f"{row['domain_kind']:8} {row['round']:5} {row.get('p50_ms', 0):8.0f} {row.get('p99_ms', 0):8.0f} "
                  f"{row.get('max_ms', 0):8.0f}  {'met' if row.get('p99_ms', 1e9) < TARGET_P99_MS else 'MISSED'}")
        report = {
            "benchmark": "burst", "generated_at": clock.now().isoformat(timespec="seconds"),
            "burst": opts.burst, "hot_domain": hot, "hot_domain_open_leads": hot_open, "gunicorn": command,
            "data": counts, "one_at_a_time_hot": floor, "results": results, "server_log_issues": issues[:20],
            "machine": h.machine_and_target()["machine"], "target_p99_ms": TARGET_P99_MS,
        }
        return h.finish(report, opts.output, failures, time.monotonic() - started)
    except h.RunFailed as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; stopping what was started", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        if standin is not None:
            standin.stop()
        if drop:
            drop()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
