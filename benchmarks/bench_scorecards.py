#!/usr/bin/env python
"""App Home for a manager with 1,000 partners, and `/partner scorecard` for one partner, over a
quarter of 100,000 leads — beside the floor of the raw aggregate queries they run.

    python benchmarks/bench_scorecards.py [--database-url URL] [--repeat 50] [--json PATH]

1. Creates a database (a fresh SQLite file, or --database-url; a Postgres schema is dropped and
   recreated), runs the migrations and bulk-loads 1,000 partners all managed by one person,
   100,000 leads in 2026-Q3 and 50,000 in 2026-Q2 (the quarter before, and every partner's
   baseline: its first full quarter), 100,000 actions and 3,000 escalations.
2. Times, in process, what the listeners run before their one Slack call (the first App Home
   open computes the settled quarters for every partner and keeps them; it is reported apart,
   and the timed runs read what was kept, as every later open does):
   - App Home: `store.home.dashboard` (leads, actions, escalations, and the scorecards of all
     1,000 partners for "last quarter" = 2026-Q3, sorted, one page kept) and `home_view`;
   - `/partner scorecard NAME last quarter`: `store.scorecards.scorecard` and its message.
3. Times the floor: hand-written SQL computing the same quarter's lead, action and escalation
   figures per partner in one statement (all partners for the Home, one partner for the
   scorecard) — what any scorecard must at least ask the database for one period.
4. Prints p50 / p99 / max of each (target: p99 under 300 ms) and the ratio to the floor.

It reports; it does not assert the target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, text

from benchmarks.harness import (
    FLOOR_SQL, MARKETS, PARTNER_ROOTS, PARTNER_SUFFIXES, REPS, bulk_load, percentile, reset_database,
)
from messages.home import home_view
from messages.scorecards import scorecard_message
from store import home, metrics, scorecards
from store.db import make_engine, normalise_database_url
from bot.compose import session_factory
from store.migrate import upgrade
from store.models import ActionItem, Escalation, Lead, Partner, UTCDateTime
from store.playbook import parse_playbook

N_PARTNERS, N_QUARTER, N_BEFORE, N_ACTIONS, N_ESCALATIONS = 1_000, 100_000, 50_000, 100_000, 3_000
MANAGER = "U0MANAGER01"
NOW = dt.datetime(2026, 10, 15, 15, 0, tzinfo=dt.UTC)
Q2 = (dt.datetime(2026, 4, 1, 4, tzinfo=dt.UTC), dt.datetime(2026, 7, 1, 4, tzinfo=dt.UTC))
Q3 = (dt.datetime(2026, 7, 1, 4, tzinfo=dt.UTC), dt.datetime(2026, 10, 1, 4, tzinfo=dt.UTC))
PLAYBOOK = parse_playbook("timezone: America/New_York\n", "bench-playbook.yml")
TARGET_P99_MS = 300.0
TYPES = ("reseller", "referral", "si", "isv", "msp", "technology")


def build(rng: random.Random) -> dict[str, list[dict]]:
    first = Q2[0] - dt.timedelta(days=30)
    partners = [{"id": pid, "name": f"{rng.choice(PARTNER_ROOTS)} {rng.choice(PARTNER_SUFFIXES)} {pid}",
                 "type": rng.choice(TYPES), "tier": rng.choice(["registered", "silver", "gold", "platinum"]),
                 "market": rng.choice(MARKETS), "product_lines": rng.sample(["Payments", "Lending", "Risk"], 1),
                 "channel_id": None, "manager_id": MANAGER, "created_at": first, "updated_at": first}
                for pid in range(1, N_PARTNERS + 1)]
    for p in partners:
        p["name_key"] = p["name"].lower()
    leads, lid = [], 0
    for (start, end), count in ((Q2, N_BEFORE), (Q3, N_QUARTER)):
        span = (end - start).total_seconds()
        for _ in range(count):
            lid += 1
            created = start + dt.timedelta(seconds=rng.uniform(0, span))
            stage = rng.choices(["handed_off", "accepted", "contacted", "closed_won", "closed_lost", "declined"],
                                [5, 20, 35, 15, 15, 10])[0]
            hours = rng.uniform(0.2, 30) if stage not in ("handed_off", "declined") else None
            accepted = created + dt.timedelta(hours=hours * 1.6) if hours is not None else None
            outreach = accepted + dt.timedelta(hours=rng.uniform(0.5, 30)) if accepted and stage != "accepted" else None
            closed = created + dt.timedelta(days=rng.uniform(5, 60)) if stage.startswith("closed") else None
            leads.append({"id": lid, "partner_id": rng.randint(1, N_PARTNERS),
                          "direction": rng.choice(["to_partner", "from_partner"]), "company": "Acme", "problem": "p",
                          "next_steps": "n", "stage": stage, "sender_id": rng.choice(REPS),
                          "primary_owner_id": rng.choice(REPS + [MANAGER]), "accept_by": created + dt.timedelta(hours=8),
                          "first_outreach_by": created + dt.timedelta(hours=24), "accepted_at": accepted,
                          "accept_hours": hours, "first_outreach_at": outreach,
                          "declined_at": created + dt.timedelta(hours=2) if stage == "declined" else None,
                          "closed_at": closed,
                          "closed_amount": Decimal(rng.randrange(5_000, 200_000, 500)) if stage == "closed_won" else None,
                          "created_at": created, "updated_at": created})
    span = (NOW - Q2[0]).total_seconds()
    actions = []
    for aid in range(1, N_ACTIONS + 1):
        created = Q2[0] + dt.timedelta(seconds=rng.uniform(0, span))
        status = rng.choices(["open", "done", "cancelled"], [30, 60, 10])[0]
        actions.append({"id": aid, "title": "Act", "owner_id": rng.choice(REPS + [MANAGER]), "created_by": MANAGER,
                        "due_date": (created + dt.timedelta(days=rng.uniform(1, 40))).date(), "priority": "medium",
                        "status": status, "partner_id": rng.randint(1, N_PARTNERS), "created_at": created,
                        "done_at": created + dt.timedelta(days=rng.uniform(0.5, 45)) if status == "done" else None,
                        "updated_at": created})
    escalations = []
    for eid in range(1, N_ESCALATIONS + 1):
        created = Q2[0] + dt.timedelta(seconds=rng.uniform(0, span))
        status = rng.choices(["pending", "approved", "rejected"], [20, 60, 20])[0]
        escalations.append({"id": eid, "kind": "discount", "about": "x", "reason": "r", "severity": "low",
                            "requester_id": rng.choice(REPS), "lead_id": rng.randint(1, lid), "action_id": None,
                            "level": 0, "approver_ids": [MANAGER] if rng.random() < 0.1 else [rng.choice(REPS)],
                            "level_started_at": created, "level_due_at": created + dt.timedelta(hours=8),
                            "status": status, "created_at": created, "updated_at": created,
                            "decided_at": created + dt.timedelta(hours=rng.uniform(1, 100)) if status != "pending" else None})
    return {"partners": partners, "leads": leads, "actions": actions, "escalations": escalations}


def load(url: str, data: dict[str, list[dict]]) -> None:
    bulk_load(url, [(Partner, data["partners"]), (Lead, data["leads"]), (ActionItem, data["actions"]),
                    (Escalation, data["escalations"])], batch=5_000, analyze="all")


ONE_PARTNER_SQL = FLOOR_SQL.replace("GROUP BY partner_id)", "AND partner_id = :p GROUP BY partner_id)", 1) \
    .replace("FROM actions WHERE partner_id IS NOT NULL", "FROM actions WHERE partner_id = :p") \
    + " WHERE partners.id = :p"


def floor(session, period: metrics.Period, partner_id: int | None = None):
    sql = FLOOR_SQL if partner_id is None else ONE_PARTNER_SQL
    statement = text(sql).bindparams(bindparam("s", type_=UTCDateTime), bindparam("e", type_=UTCDateTime))
    values = {"s": period.start, "e": period.end, "d": period.end_date}
    if partner_id is not None:
        values["p"] = partner_id
    return session.execute(statement, values).all()


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm: statement caches, the database's own caches
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        seconds.append((time.perf_counter() - started) * 1000)
    return seconds


def stats(ms: list[float]) -> dict[str, float]:
    return {"p50": percentile(ms, 0.50), "p99": percentile(ms, 0.99), "max": max(ms)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    tmp = None
    if args.database_url:
        url = normalise_database_url(args.database_url)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-scorecards-")
        url = f"sqlite:///{tmp.name}/scorecards.db"
    try:
        reset_database(url)
        upgrade(url)
        started = time.perf_counter()
        load(url, build(random.Random(20261015)))
        print(f"loaded {N_PARTNERS:,} partners, {N_QUARTER + N_BEFORE:,} leads ({N_QUARTER:,} in 2026-Q3), "
              f"{N_ACTIONS:,} actions, {N_ESCALATIONS:,} escalations in {time.perf_counter() - started:.1f} s "
              f"({url.split(':')[0]})")
        engine = make_engine(url)
        sessions = session_factory(engine)
        quarter = metrics.parse_period("last quarter", PLAYBOOK, now=NOW)
        filters = {"period": "last quarter"}
        one = 17
        results: dict[str, dict[str, float]] = {}
        with sessions() as session:
            def dashboard():
                board = home.dashboard(session, PLAYBOOK, MANAGER, filters=filters, now=NOW)
                return home_view(board)

            def card():
                return scorecard_message(scorecards.scorecard(session, PLAYBOOK, one, quarter))

            started = time.perf_counter()
            view = dashboard()  # cold: the settled quarters are computed for every partner and kept
            cold_ms = (time.perf_counter() - started) * 1000
            board = home.dashboard(session, PLAYBOOK, MANAGER, filters=filters, now=NOW)
            results["App Home (1,000 partners)"] = stats(timed(dashboard, args.repeat))
            results["floor: all partners, one statement"] = stats(timed(lambda: floor(session, quarter), args.repeat))
            results["/partner scorecard (one partner)"] = stats(timed(card, args.repeat * 2))
            results["floor: one partner, one statement"] = stats(
                timed(lambda: floor(session, quarter, one), args.repeat * 2))
            # the floor and the scorecards agree on the quarter's leads
            floor_rows = floor(session, quarter)
            cards = scorecards.scorecards(session, PLAYBOOK, quarter, partners=scorecards.partner_infos(session),
                                          as_of=NOW)
        engine.dispose()
        floor_leads = sum(int(r.to_partner or 0) + int(r.from_partner or 0) for r in floor_rows)
        card_leads = sum(c.current.handed_off for c in cards.values())
        if floor_leads != card_leads or card_leads != N_QUARTER:
            print(f"MISMATCH: floor {floor_leads} leads in the quarter, scorecards {card_leads}, loaded {N_QUARTER}")
            return 1
        print(f"App Home: {len(view['blocks'])} blocks, page 1 of {board.scorecards.pages}; "
              f"{board.scorecards.total:,} partners scored; the first open after the quarter settled "
              f"(computes and keeps it): {cold_ms:.0f} ms")
        print(f"{'':40}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for name, row in results.items():
            print(f"{name:40}{row['p50']:>9.1f}{row['p99']:>9.1f}{row['max']:>9.1f}")
        home_ratio = results["App Home (1,000 partners)"]["p50"] / results["floor: all partners, one statement"]["p50"]
        card_ratio = (results["/partner scorecard (one partner)"]["p50"]
                      / results["floor: one partner, one statement"]["p50"])
        print(f"ratio to the floor at p50: App Home {home_ratio:.2f}x, scorecard {card_ratio:.2f}x")
        for name in ("App Home (1,000 partners)", "/partner scorecard (one partner)"):
            p99 = results[name]["p99"]
            print(f"{name}: p99 {p99:.1f} ms — {'within' if p99 < TARGET_P99_MS else 'OVER'} {TARGET_P99_MS:.0f} ms")
        if args.json:
            Path(args.json).write_text(json.dumps({"database": url.split(":")[0], "results_ms": results,
                                                   "ratio_p50": {"home": home_ratio, "scorecard": card_ratio},
                                                   "home_cold_ms": cold_ms,
                                                   "target_p99_ms": TARGET_P99_MS}, indent=2))
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
