#!/usr/bin/env python
"""HTTP answer times of the handoff flow, served like production, against a bare Bolt app's floor.

    python benchmarks/bench_handoff.py [--requests 300] [--warmup 30] [--database-url URL]

What it does, in order:

1. Creates a database: a fresh SQLite file in a temp dir, or the --database-url one (for Postgres
   its public schema is dropped and recreated first). Runs the Alembic migrations, then bulk-loads
   1,000 partners and 10,000 leads with their handoffs, audit events, conflicts and already-sent
   cards (outbox rows, rendered by messages.handoff's builders) through SQLAlchemy core inserts -
   not through Slack. The set-up is benchmarks/harness.py's, shared with the other benchmarks.
2. Starts the Slack Web API stand-in (`python -m slackkit.webapi`) and the real web process with
   the Procfile's `web:` command line (bound to 127.0.0.1), and waits for GET /healthz.
3. Times, client-side and one request at a time over one keep-alive connection (slackkit.simulator's
   SlackSimulator), the `/handoff` command, a partner type-ahead ("glo"), a valid handoff
   submission (each creates a lead) and an Accept click (each on a distinct pending lead owned by
   the clicking user), after a warm-up of every operation.
4. Does the same against benchmarks/bare_app.py (Bolt acking, nothing else) started with the
   identical gunicorn command line: the framework's floor.
5. Prints a table (p50/p99/mean per operation, partnerbot/bare ratios, target: both ratios <= 1.5
   and partnerbot p99 <= 150 ms) and writes it as JSON to bench-results/handoff.json.
   After the run it checks the database: every submission created a lead, every click accepted
   its lead, and every Slack message those caused was sent (outbox rows "sent").

Diagnosis options (not for the reported figures): --gap-ms N pauses between requests so the work a
listener does after its ack (sending the outbox) cannot slow the next request; --py-spy DIR records
each measured partnerbot phase with py-spy and prints where the workers' samples go.

The bare floor is about 11-12 ms, not ~1 ms: Bolt's ThreadListenerRunner waits for ack() by polling every
10 ms, so any listener answers in steps of about 10 ms. A listener that does more than about 10 ms of
work before ack() (the submission) pays a second step.

It reports; it does not assert targets. Exit 1 only if a request failed (non-200, an error answer)
or the database check failed. Every process it starts is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make benchmarks/, bot/, store/ and slackkit/ importable

from sqlalchemy import func, select  # noqa: E402

from benchmarks.harness import (  # noqa: E402
    CLICKER, COMPANY_FORMS, FIRST_NAMES, LAST_NAMES, N_LEADS, N_PARTNERS, NEXT_STEPS, OPEN_EXCLUDED, PROBLEMS,
    REPS, TARGET_P99_MS, TARGET_RATIO, VALUE_PROPS, Dataset, Processes, RunFailed, build_dataset, finish,
    handoff_form, lead_messages, load, log_problems, machine_and_target, next_outbox_id, outbox_rows, print_table,
    py_spy, py_spy_summary, ratio, reset_database, seed_standin_cards, start_standin, start_web, stop_on_signals,
    summarize, web_env,
)
from slackkit import simulator as s  # noqa: E402
from slackkit.simulator import Answer, SlackSimulator  # noqa: E402
from store.db import make_engine, normalise_database_url  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Handoff, Lead, LeadConflict, OutboxMessage  # noqa: E402
from store.playbook import Playbook, load_playbook  # noqa: E402

SENDER = "U0BENCHREP01"  # submits the handoffs
OPERATIONS = {
    "command": "/handoff command (ack)",
    "suggest": "partner type-ahead 'glo'",
    "submit": "handoff submission",
    "click": "Accept click",
}


# =============================================================================== the run's requests

@dataclass
class Submission:
    partner_id: int
    domain: str  # normalised
    pool_domain: bool  # an existing customer: conflict checks find earlier leads
    form: dict = field(default_factory=dict)


def plan_submissions(rng: random.Random, data: Dataset, n: int, playbook: Playbook) -> list[Submission]:
    """Valid handoff forms: a third name a customer other leads already have (conflict work)."""
    plans = []
    used = {l["domain"] for l in data.leads if l["domain"]}
    pool = [d for d in data.domains if d in used]
    pool_weights = [w for d, w in zip(data.domains, data.weights) if d in used]
    for i in range(n):
        pool_domain = rng.random() < 0.35
        domain = rng.choices(pool, pool_weights)[0] if pool_domain else f"newcustomer{i}-{rng.randrange(10**6)}.com"
        partner_id = rng.randint(1, N_PARTNERS)
        owner = rng.choice([r for r in REPS if r != SENDER])
        backup = rng.choice([r for r in REPS if r not in (SENDER, owner)]) if rng.random() < 0.5 else None
        direction = rng.choice(["to_partner", "from_partner"])
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        written = rng.choice([domain, f"https://www.{domain}/about", f"www.{domain}", f"https://{domain}"])
        form = handoff_form(
            partner_id,
            direction=s.radio(direction),
            company=s.text(f"{domain.split('.')[0].capitalize()} {rng.choice(COMPANY_FORMS)}".strip()),
            domain=s.text(written),
            contact_name=s.text(f"{first} {last}"),
            contact_email=s.email(f"{first.lower()}.{last.lower()}@{domain}"),
            consent=s.checkboxes(["yes"]),
            problem=s.text(rng.choice(PROBLEMS)),
            value_proposition=s.text(rng.choice([v for v in VALUE_PROPS if v])),
            next_steps=s.text(rng.choice(NEXT_STEPS)),
            estimated_value=s.text(f"{rng.randrange(5, 500) * 1000:,}"),
            product_line=s.select(rng.choice(playbook.product_lines)) if playbook.product_lines else s.text("Analytics"),
            primary_owner=s.user(owner),
            backup_owner=s.user(backup),
        )
        plans.append(Submission(partner_id, domain, pool_domain, form))
    return plans


def leads_needing_cards(data: Dataset, plans: list[Submission], now: dt.datetime, window_days: int) -> set[int]:
    """Bulk leads whose cards the run will edit (chat.update): the click targets, and the earlier
    leads the submissions' conflict checks will find. Their cards must exist in the stand-in."""
    need = set(data.targets)
    horizon = now - dt.timedelta(days=window_days + 1)
    wanted = {p.domain for p in plans if p.pool_domain}
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for lead in data.leads:
        if lead["domain"] in wanted and lead["created_at"] >= horizon and lead["stage"] not in OPEN_EXCLUDED:
            by_domain[lead["domain"]].append(lead)
    for group in by_domain.values():
        need.update(l["id"] for l in group)  # all of them: the app's "first 20 by id" shifts as the window moves
    return need


# =============================================================================== measuring

def make_requests(sim: SlackSimulator, plans: list[Submission], targets: list[int]) -> dict[str, Callable[[int], Answer]]:
    return {
        "command": lambda i: sim.command("/handoff", "", user_id=SENDER),
        "suggest": lambda i: sim.suggest("partner_search", "glo", user_id=SENDER),
        "submit": lambda i: sim.submit("handoff_submit", plans[i].form, user_id=SENDER),
        "click": lambda i: sim.click("lead_accept", str(targets[i]), user_id=CLICKER,
                                     message_ts=f"1700000000.{targets[i]:06d}"),
    }


def check_answer(op: str, answer: Answer) -> str | None:
    if answer.status != 200:
        return f"HTTP {answer.status}: {answer.body[:200]}"
    if op == "submit" and answer.body.strip():
        return f"the modal did not close: {answer.body[:300]}"  # response_action=errors, validation failed
    if op == "suggest":
        try:
            options = (answer.json() or {}).get("options") or []
        except ValueError:
            return f"not JSON: {answer.body[:200]}"
        if not options:
            return "no options in the answer"
    return None


def measure(label: str, url: str, secret: str, response_url: str, plans: list[Submission], targets: list[int],
            warmup: int, requests: int, phase: Callable[[str], Any] | None = None,
            gap: float = 0.0) -> tuple[dict[str, dict[int, float]], list[str]]:
    sim = SlackSimulator(url, secret, response_url=response_url)
    send = make_requests(sim, plans, targets)
    failures: list[str] = []
    timings: dict[str, dict[int, float]] = {op: {} for op in OPERATIONS}  # request index -> seconds

    def one(op: str, i: int, record: bool) -> None:
        try:
            answer = send[op](i)
        except Exception as error:  # noqa: BLE001 - connection refused, reset, timeout
            failures.append(f"{label} {OPERATIONS[op]} #{i}: {type(error).__name__}: {error}")
            return
        problem = check_answer(op, answer)
        if problem:
            failures.append(f"{label} {OPERATIONS[op]} #{i}: {problem}")
        elif record:
            timings[op][i] = answer.seconds
        if gap:
            time.sleep(gap)  # --gap-ms: let the previous request's after-ack work finish (diagnosis only)

    try:
        for op in OPERATIONS:  # warm-up: every operation, before anything is recorded
            for i in range(warmup):
                one(op, i, False)
        if len(failures) > 10:
            raise RunFailed(f"{label}: the warm-up failed:\n  " + "\n  ".join(failures[:10]))
        for op in OPERATIONS:
            recorder = phase(op) if phase else contextlib.nullcontext()
            with recorder:
                started = time.monotonic()
                for i in range(warmup, warmup + requests):
                    one(op, i, True)
                    if len(failures) > 20:
                        raise RunFailed(f"{label}: too many failed requests:\n  " + "\n  ".join(failures[:20]))
            print(f"  {label:10} {OPERATIONS[op]:28} {requests} requests in {time.monotonic() - started:5.1f}s",
                  flush=True)
    finally:
        sim.close()
    return timings, failures


# =============================================================================== checking

def verify(url: str, first_new_outbox: int, plans: list[Submission], targets: list[int], timeout: float = 30) -> dict:
    """After the partnerbot run: the submissions made leads, the clicks accepted theirs, and every
    Slack message the run caused went out (the stand-in answered ok)."""
    engine = make_engine(url)
    problems: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:  # clicks are decided and messages delivered after the answer: let that work finish
            with engine.connect() as conn:
                pending = conn.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.id >= first_new_outbox, OutboxMessage.status == "pending"))
                decided = conn.scalar(select(func.count()).select_from(Lead).where(
                    Lead.id.in_(targets), Lead.stage != "handed_off"))
            quiet = quiet + 1 if not pending and decided == len(targets) else 0
            if quiet >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            new_leads = conn.execute(select(Lead.id, Lead.stage, Lead.domain).where(
                Lead.id > N_LEADS, Lead.sender_id == SENDER)).all()
            accepted = conn.execute(select(Lead.id).where(
                Lead.id.in_(targets), Lead.stage == "accepted", Lead.accepted_by == CLICKER)).scalars().all()
            closed = conn.scalar(select(func.count()).select_from(Handoff).where(
                Handoff.lead_id.in_(targets), Handoff.status == "accepted", Handoff.decided_by == CLICKER))
            by_status = dict(conn.execute(select(OutboxMessage.status, func.count()).where(
                OutboxMessage.id >= first_new_outbox).group_by(OutboxMessage.status)).all())
            by_kind = {f"{m} {k}": n for m, k, n in conn.execute(
                select(OutboxMessage.method, OutboxMessage.kind, func.count()).where(
                    OutboxMessage.id >= first_new_outbox).group_by(OutboxMessage.method, OutboxMessage.kind)).all()}
            errors = conn.execute(select(OutboxMessage.kind, OutboxMessage.last_error).where(
                OutboxMessage.id >= first_new_outbox, OutboxMessage.status != "sent").limit(5)).all()
            new_ids = [r.id for r in new_leads]
            conflicts = conn.scalar(select(func.count()).select_from(LeadConflict).where(
                LeadConflict.lead_id.in_(new_ids))) if new_ids else 0
            with_conflicts = conn.scalar(select(func.count(func.distinct(LeadConflict.lead_id))).where(
                LeadConflict.lead_id.in_(new_ids))) if new_ids else 0
            per_lead = dict(conn.execute(select(LeadConflict.lead_id, func.count()).where(
                LeadConflict.lead_id.in_(new_ids)).group_by(LeadConflict.lead_id)).all()) if new_ids else {}
    finally:
        engine.dispose()
    if len(new_leads) != len(plans):
        problems.append(f"{len(plans)} submissions created {len(new_leads)} leads")
    if sorted(r.domain for r in new_leads) != sorted(p.domain for p in plans):
        problems.append("the submitted leads' domains do not match what was submitted")
    if len(accepted) != len(targets):
        problems.append(f"{len(targets)} Accept clicks accepted {len(accepted)} leads")
    if closed != len(targets):
        problems.append(f"{len(targets)} Accept clicks closed {closed} pending handoffs")
    if set(by_status) - {"sent"}:
        problems.append(f"Slack messages not all sent: {by_status}; e.g. {[tuple(e) for e in errors]}")
    expected_posts = 2 * len(plans)  # at least the owner's card and the sender's confirmation per lead
    if by_kind.get("chat.postMessage lead_card", 0) < len(plans) or \
            by_kind.get("chat.postMessage sender_confirmation", 0) < len(plans):
        problems.append(f"expected >= {expected_posts} cards and confirmations, outbox has {by_kind}")
    if by_kind.get("chat.postMessage lead_accepted", 0) < 1 or by_kind.get("chat.update lead_card", 0) < len(targets):
        problems.append(f"the accepts did not update the owners' cards / tell the senders: {by_kind}")
    return {
        "leads_created": len(new_leads), "leads_accepted": len(accepted), "handoffs_closed": closed,
        "new_leads_with_conflicts": with_conflicts, "conflict_rows_for_new_leads": conflicts,
        "outbox_by_status": by_status, "outbox_by_kind": by_kind, "problems": problems,
        # submission i (warm-up included) created the i-th new lead: requests are sequential
        "conflicts_by_submission": [per_lead.get(lead_id, 0) for lead_id in sorted(new_ids)],
    }


# =============================================================================== report

def compare(results: dict[str, dict[str, dict]]) -> list[dict]:
    rows = []
    for op, label in OPERATIONS.items():
        pb, bare = results["partnerbot"][op], results["bare"][op]
        r50, r99 = ratio(pb["p50_ms"], bare["p50_ms"]), ratio(pb["p99_ms"], bare["p99_ms"])
        rows.append({
            "operation": op, "label": label, "partnerbot": pb, "bare": bare, "ratio_p50": r50, "ratio_p99": r99,
            "meets_target": r50 <= TARGET_RATIO and r99 <= TARGET_RATIO and pb["p99_ms"] <= TARGET_P99_MS,
        })
    return rows


def submission_breakdown(per_request: dict, conflicts: list[int]) -> dict[str, dict]:
    """partnerbot's submission times split by how many conflicts the submission recorded."""
    times = per_request.get("partnerbot", {}).get("submit", {})
    buckets: dict[str, list[float]] = {"no conflict": [], "1-2 conflicts": [], "3-10 conflicts": [],
                                       "11+ conflicts": []}
    for i, seconds in times.items():
        if i >= len(conflicts):
            continue
        n = conflicts[i] if conflicts[i] else 0
        key = ("no conflict" if n == 0 else "1-2 conflicts" if n <= 2 else
               "3-10 conflicts" if n <= 10 else "11+ conflicts")
        buckets[key].append(seconds)
    return {k: summarize(v) for k, v in buckets.items() if v}


# =============================================================================== main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per operation and app")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up requests per operation and app")
    parser.add_argument("--database-url", help="use this database (Postgres: its public schema is dropped!) "
                                               "instead of a fresh SQLite file")
    parser.add_argument("--playbook", default=str(ROOT / "playbook.example.yml"), help="PLAYBOOK_PATH for the app")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "handoff.json"))
    parser.add_argument("--gap-ms", type=float, default=0.0,
                        help="pause between requests (diagnosis: takes after-ack work out of the next request)")
    parser.add_argument("--py-spy", metavar="DIR", help="record each measured partnerbot phase with py-spy "
                                                         "(raw stacks in DIR; timings are then distorted)")
    opts = parser.parse_args(argv)
    if opts.requests < 1 or opts.warmup < 0:
        parser.error("--requests must be >= 1 and --warmup >= 0")

    stop_on_signals()
    run_started = time.monotonic()
    processes = Processes()
    tmp = tempfile.TemporaryDirectory(prefix="bench-handoff-")
    workdir = Path(tmp.name)
    failures: list[str] = []
    try:
        database_url = opts.database_url or f"sqlite:///{workdir / 'bench.db'}"
        db_kind = "postgresql" if normalise_database_url(database_url).startswith("postgresql") else "sqlite"
        playbook = load_playbook(opts.playbook)
        n_flow = opts.warmup + opts.requests
        secret = secrets.token_hex(16)

        # the Slack stand-in, answering at once
        standin_root = start_standin(processes, workdir)
        api_url = f"{standin_root}/api/"

        # the database
        t0 = time.monotonic()
        rng = random.Random(opts.seed)
        now = dt.datetime.now(dt.UTC)
        data = build_dataset(rng, now, playbook, n_flow)
        plans = plan_submissions(rng, data, n_flow, playbook)
        messages = lead_messages(data, playbook)  # the real builders' cards, from the store's read models
        seeded = seed_standin_cards(api_url, data, messages, leads_needing_cards(
            data, plans, now, playbook.conflicts.protection_window_days))
        outbox = outbox_rows(data, messages, seeded)
        t_gen = time.monotonic() - t0
        t0 = time.monotonic()
        reset_database(database_url)
        upgrade(database_url)
        counts = load(database_url, data, outbox)
        t_load = time.monotonic() - t0
        clicker_owned = sum(1 for l in data.leads if l["primary_owner_id"] == CLICKER)
        print(f"database: {db_kind}; generated in {t_gen:.1f}s (stand-in seeded with {len(seeded)} cards), "
              f"migrated and loaded in {t_load:.1f}s: {counts}; {clicker_owned} leads owned by {CLICKER}, "
              f"{len(data.targets)} of them pending click targets", flush=True)

        env = web_env(api_url=api_url, secret=secret, database_url=database_url, playbook=opts.playbook)
        results: dict[str, dict[str, dict]] = {}
        commands: dict[str, str] = {}
        log_issues: dict[str, list[str]] = {}
        verification: dict = {}
        per_request: dict[str, dict[str, dict[int, float]]] = {}
        for label, spec in (("partnerbot", "bot.web:application()"), ("bare", "benchmarks.bare_app:application()")):
            web = start_web(processes, label, spec, env, workdir)
            server, log_path, commands[label] = web.proc, web.log_path, web.command
            first_new_outbox = next_outbox_id(database_url)
            phase = None
            if opts.py_spy and label == "partnerbot":
                if not shutil.which("py-spy"):
                    raise RunFailed("--py-spy needs py-spy on PATH (pip install py-spy)")
                spy_dir = Path(opts.py_spy)
                spy_dir.mkdir(parents=True, exist_ok=True)
                phase = lambda op, pid=server.pid: py_spy(pid, spy_dir / f"partnerbot-{op}.txt", processes)  # noqa: E731
            timings, failed = measure(label, web.events_url, secret,
                                      f"{standin_root}/response/bench", plans, data.targets, opts.warmup, opts.requests,
                                      phase, opts.gap_ms / 1000)
            if phase:
                for op in OPERATIONS:
                    print(f"  py-spy, {OPERATIONS[op]}:\n    " +
                          "\n    ".join(py_spy_summary(Path(opts.py_spy) / f"partnerbot-{op}.txt")))
            failures += failed
            results[label] = {op: summarize(list(timings[op].values())) if timings[op] else {"n": 0}
                              for op in OPERATIONS}
            per_request[label] = timings
            if label == "partnerbot":
                verification = verify(database_url, first_new_outbox, plans, data.targets)
                failures += [f"database check: {p}" for p in verification["problems"]]
                print(f"  checked: {verification['leads_created']} leads created "
                      f"({verification['new_leads_with_conflicts']} with conflicts), "
                      f"{verification['leads_accepted']} accepted; outbox {verification['outbox_by_status']}",
                      flush=True)
            else:
                time.sleep(0.3)  # let the last views.open finish before reading the log
            processes.stop(server)
            log_issues[label] = log_problems(log_path)
            if log_issues[label]:
                print(f"  {label} log: {len(log_issues[label])} warning/error lines, e.g. {log_issues[label][0][:200]}")
        if any(v.get("n", 0) == 0 for r in results.values() for v in r.values()):
            raise RunFailed("an operation has no successful measured request")

        rows = compare(results)
        print()
        print_table(rows)
        breakdown = submission_breakdown(per_request, verification.get("conflicts_by_submission") or [])
        if breakdown:
            print("\nhandoff submissions by conflicts found (partnerbot):")
            for name, stats in breakdown.items():
                print(f"  {name:24} n={stats['n']:4}  p50 {stats['p50_ms']:7.1f}  p99 {stats['p99_ms']:7.1f}  "
                      f"mean {stats['mean_ms']:7.1f} ms")
        total = time.monotonic() - run_started
        report = {
            "benchmark": "handoff", "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "database": db_kind, "requests_per_operation": opts.requests, "warmup_per_operation": opts.warmup,
            "data": counts | {"clicker_owned_leads": clicker_owned, "click_targets": len(data.targets),
                              "seeded_standin_cards": len(seeded)},
            "gunicorn": commands, "playbook": opts.playbook,
            **machine_and_target(),
            "results": rows, "submission_breakdown": breakdown, "gap_ms": opts.gap_ms,
            "verification": {k: v for k, v in verification.items() if k != "conflicts_by_submission"}, "server_log_issues": {k: v[:20] for k, v in log_issues.items()},
            "failures": failures, "seconds": {"generate_and_seed": round(t_gen, 1), "migrate_and_load": round(t_load, 1),
                                              "total": round(total, 1)},
        }
        return finish(report, opts.output, failures, total)
    except RunFailed as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; stopping what was started", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
