#!/usr/bin/env python
"""The monthly digest's figures for 1,000 partners, beside the floor of one hand-written aggregate query.

    python benchmarks/bench_digest.py [--database-url URL] [--repeat 7] [--json PATH]

1. Creates a database (a fresh SQLite file in a temp dir, or --database-url; for Postgres its
   public schema is dropped and recreated, by benchmarks/harness.py), runs the
   migrations and bulk-loads 1,000 partners, 100,000 leads over the twelve months to November
   2026, 200,000 actions and 5,000 escalations with SQLAlchemy core inserts.
2. Times `store.metrics.month_report` for October 2026 — everything the digest's numbers need:
   three months of every figure for every partner (the month, the month before, and the third
   month stagnation looks at), each partner's baseline quarter (its first full quarter of data,
   found per partner), the trend flags, and the six-month SLA series of the chart — and, for
   information, the whole digest (figures, coming-up queries, template and chart).
3. Times the floor: ONE hand-written SQL statement computing October's figures per partner
   (three grouped subqueries joined to partners) — the least any digest could ask the database.
4. Prints median and best of `--repeat` runs of each and the ratio figures / floor (target: 3×).

It reports; it does not assert the target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
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
    FLOOR_SQL,
    MARKETS,
    PARTNER_ROOTS,
    PARTNER_SUFFIXES,
    REPS,
    bulk_load,
    reset_database,
    slack_id,
)
from store import metrics
from store.db import make_engine, normalise_database_url
from bot.compose import session_factory
from store.migrate import upgrade
from store.models import ActionItem, Escalation, Lead, Partner, UTCDateTime
from store.playbook import parse_playbook

N_PARTNERS, N_LEADS, N_ACTIONS, N_ESCALATIONS = 1_000, 100_000, 200_000, 5_000
NOW = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)  # the digest of October goes out on Monday Nov 2
FIRST = dt.datetime(2025, 11, 1, 4, 0, tzinfo=dt.UTC)
PLAYBOOK = parse_playbook("timezone: America/New_York\ndigest: {channels: [C0DIGEST01]}\n", "bench-playbook.yml")
TARGET_RATIO = 3.0


def build(rng: random.Random) -> dict[str, list[dict]]:
    partners = []
    for pid in range(1, N_PARTNERS + 1):
        name = f"{rng.choice(PARTNER_ROOTS)} {rng.choice(PARTNER_SUFFIXES)} {pid}"
        partners.append({"id": pid, "name": name, "name_key": name.lower(), "type": "reseller",
                         "tier": rng.choice(["registered", "silver", "gold", "platinum"]), "market": rng.choice(MARKETS),
                         "product_lines": [], "channel_id": slack_id(rng, "C") if rng.random() < 0.8 else None,
                         "manager_id": None, "created_at": FIRST, "updated_at": FIRST})
    span = (NOW - FIRST).total_seconds()
    leads = []
    for lid in range(1, N_LEADS + 1):
        created = FIRST + dt.timedelta(seconds=rng.uniform(0, span))
        stage = rng.choices(["handed_off", "accepted", "contacted", "closed_won", "closed_lost", "declined"],
                            [10, 25, 30, 15, 12, 8])[0]
        accepted = created + dt.timedelta(hours=rng.uniform(0.2, 30)) if stage not in ("handed_off", "declined") else None
        outreach_by = created + dt.timedelta(hours=24)
        outreach = (accepted + dt.timedelta(hours=rng.uniform(0.5, 30))) if accepted and stage != "accepted" else None
        closed = created + dt.timedelta(days=rng.uniform(5, 60)) if stage.startswith("closed") else None
        leads.append({"id": lid, "partner_id": rng.randint(1, N_PARTNERS), "direction": rng.choice(["to_partner", "from_partner"]),
                      "company": "Acme", "problem": "p", "next_steps": "n", "stage": stage, "sender_id": rng.choice(REPS),
                      "primary_owner_id": rng.choice(REPS), "accept_by": created + dt.timedelta(hours=8),
                      "first_outreach_by": outreach_by, "accepted_at": accepted, "first_outreach_at": outreach,
                      "declined_at": created + dt.timedelta(hours=2) if stage == "declined" else None,
                      "closed_at": closed, "closed_amount": Decimal(rng.randrange(5_000, 200_000, 500)) if stage == "closed_won" else None,
                      "created_at": created, "updated_at": created})
    actions = []
    for aid in range(1, N_ACTIONS + 1):
        created = FIRST + dt.timedelta(seconds=rng.uniform(0, span))
        due = (created + dt.timedelta(days=rng.uniform(1, 40))).date()
        status = rng.choices(["open", "done", "cancelled"], [30, 60, 10])[0]
        done = created + dt.timedelta(days=rng.uniform(0.5, 45)) if status == "done" else None
        actions.append({"id": aid, "title": "Act", "owner_id": rng.choice(REPS), "created_by": rng.choice(REPS),
                        "due_date": due, "priority": "medium", "status": status, "done_at": done,
                        "partner_id": rng.randint(1, N_PARTNERS), "created_at": created, "updated_at": created})
    escalations = []
    for eid in range(1, N_ESCALATIONS + 1):
        created = FIRST + dt.timedelta(seconds=rng.uniform(0, span))
        status = rng.choices(["pending", "approved", "rejected"], [20, 60, 20])[0]
        on_lead = rng.random() < 0.7
        escalations.append({"id": eid, "kind": "discount", "about": "x", "reason": "r", "severity": "low",
                            "requester_id": rng.choice(REPS), "lead_id": rng.randint(1, N_LEADS) if on_lead else None,
                            "action_id": None if on_lead else rng.randint(1, N_ACTIONS), "level": 0, "approver_ids": [],
                            "level_started_at": created, "level_due_at": created + dt.timedelta(hours=8), "status": status,
                            "decided_at": created + dt.timedelta(hours=rng.uniform(1, 100)) if status != "pending" else None,
                            "created_at": created, "updated_at": created})
    return {"partners": partners, "leads": leads, "actions": actions, "escalations": escalations}


def load(url: str, data: dict[str, list[dict]]) -> None:
    bulk_load(url, [(Partner, data["partners"]), (Lead, data["leads"]), (ActionItem, data["actions"]),
                    (Escalation, data["escalations"])], batch=5_000, analyze="all")


def floor_query(session, period: metrics.Period):
    statement = text(FLOOR_SQL).bindparams(bindparam("s", type_=UTCDateTime), bindparam("e", type_=UTCDateTime))
    return session.execute(statement, {"s": period.start, "e": period.end, "d": period.end_date}).all()


def timed(fn, repeat: int) -> tuple[list[float], object]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    tmp = None
    if args.database_url:
        url = normalise_database_url(args.database_url)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-digest-")
        url = f"sqlite:///{tmp.name}/digest.db"
    try:
        reset_database(url)
        upgrade(url)
        started = time.perf_counter()
        load(url, build(random.Random(20261102)))
        print(f"loaded {N_PARTNERS:,} partners, {N_LEADS:,} leads, {N_ACTIONS:,} actions, {N_ESCALATIONS:,} escalations "
              f"in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
        engine = make_engine(url)
        sessions = session_factory(engine)
        october = metrics.month_period(PLAYBOOK, 2026, 10)
        from scheduling.jobs.digest import build_digest

        with sessions() as session:
            floor_query(session, october)  # warm caches once for both
            metrics.month_report(session, PLAYBOOK, 2026, 10)
            figures_s, report = timed(lambda: metrics.month_report(session, PLAYBOOK, 2026, 10), args.repeat)
            floor_s, rows = timed(lambda: floor_query(session, october), args.repeat)
            whole_s, _ = timed(lambda: build_digest(session, PLAYBOOK, 2026, 10, today=dt.date(2026, 11, 2)),
                                    max(1, args.repeat // 2))
        engine.dispose()
        # the two must agree on October: the floor is the same numbers, not less work
        floor_leads = sum(int(r.to_partner or 0) + int(r.from_partner or 0) for r in rows)
        if floor_leads != report.totals[-1].handed_off:
            print(f"MISMATCH: floor counts {floor_leads} October leads, the digest {report.totals[-1].handed_off}")
            return 1
        med = {k: statistics.median(v) * 1000 for k, v in (("figures", figures_s), ("floor", floor_s), ("digest", whole_s))}
        best = {k: min(v) * 1000 for k, v in (("figures", figures_s), ("floor", floor_s), ("digest", whole_s))}
        ratio = med["figures"] / med["floor"]
        print(f"October 2026: {report.totals[-1].handed_off:,} leads handed off, {len(report.partners):,} partners active")
        print(f"{'':44}{'median ms':>10}{'best ms':>10}")
        print(f"{'digest figures (3 months, baselines, flags)':44}{med['figures']:>10.1f}{best['figures']:>10.1f}")
        print(f"{'floor: one hand-written aggregate query':44}{med['floor']:>10.1f}{best['floor']:>10.1f}")
        print(f"{'whole digest (figures + template + chart)':44}{med['digest']:>10.1f}{best['digest']:>10.1f}")
        print(f"ratio figures / floor: {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x) — "
              f"{'within target' if ratio <= TARGET_RATIO else 'OVER target'}")
        if args.json:
            Path(args.json).write_text(json.dumps({"database": url.split(":")[0], "median_ms": med, "best_ms": best,
                                                   "ratio": ratio, "target_ratio": TARGET_RATIO}, indent=2))
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
