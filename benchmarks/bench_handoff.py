#!/usr/bin/env python
"""HTTP answer times of the handoff flow, served like production, against a bare Bolt app's floor.

    python benchmarks/bench_handoff.py [--requests 300] [--warmup 30] [--database-url URL]

What it does, in order:

1. Creates a database: a fresh SQLite file in a temp dir, or the --database-url one (for Postgres
   its public schema is dropped and recreated first). Runs the Alembic migrations, then bulk-loads
   1,000 partners and 10,000 leads with their handoffs, audit events, conflicts and already-sent
   cards (outbox rows) through SQLAlchemy core inserts - not through Slack.
2. Starts the Slack Web API stand-in (`python -m bot.slack_standin`) and the real web process with
   the Procfile's `web:` command line (bound to 127.0.0.1), and waits for GET /healthz.
3. Times, client-side and one request at a time over one keep-alive connection (bot.simulate's
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
import json
import os
import platform
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make bot/, store/ and tests/ importable

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from slackkit import simulator as s  # noqa: E402
from slackkit.simulator import Answer, SlackSimulator  # noqa: E402
from store.db import make_engine, normalise_database_url  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import AuditEvent, Handoff, Lead, LeadConflict, OutboxMessage, Partner  # noqa: E402
from store.playbook import Playbook, load_playbook  # noqa: E402
from tests.helpers import handoff_form  # noqa: E402

N_PARTNERS = 1_000
N_LEADS = 10_000
TOKEN = "xoxb-bench-standin"
CLICKER = "U0BENCHOWNER"  # owns a share of the leads; presses Accept
SENDER = "U0BENCHREP01"  # submits the handoffs
CLICKER_SHARE = 0.10
TARGET_RATIO = 1.5
TARGET_P99_MS = 150.0
OPERATIONS = {
    "command": "/handoff command (ack)",
    "suggest": "partner type-ahead 'glo'",
    "submit": "handoff submission",
    "click": "Accept click",
}
FALLBACK_WEB = ("gunicorn 'bot.web:application()' --bind 0.0.0.0:${PORT:-3000} --worker-class gthread "
                "--workers ${WEB_CONCURRENCY:-2} --threads 8")
OPEN_EXCLUDED = {"declined", "closed_won", "closed_lost"}


class RunFailed(Exception):
    """A request or the post-run database check failed; the message says which."""


# =============================================================================== data set

PARTNER_ROOTS = [
    "Global", "Globex", "Glowline", "Gloster", "Anglo", "Nextglobe", "Initech", "Umbrella", "Acumen", "Vertex",
    "Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Proseware", "Adatum", "Lucerne",
    "Margie", "Trey", "Woodgrove", "Alpine", "Blue Yonder", "Coho", "Fourth Coffee", "Humongous", "Liberty",
    "Southridge", "Wide World", "Zenith", "Helios", "Orion", "Polaris", "Quantum", "Redwood", "Sierra",
    "Summit", "Tidewater", "Evergreen", "Keystone", "Lighthouse", "Meridian", "Nimbus", "Oakridge", "Pinnacle",
    "Riverbend", "Sapphire", "Trident", "Vanguard", "Westfield", "Yellowstone", "Cobalt", "Ember", "Falcon",
]
PARTNER_SUFFIXES = [
    "Partners", "Consulting", "Solutions", "Systems", "Group", "Digital", "Technologies", "Advisors", "Labs",
    "Networks", "Cloud", "Integrators", "Services", "Software", "Analytics", "Data", "Security", "Ventures",
    "Works", "Interactive", "Global", "Logic", "Dynamics", "Capital", "Connect", "Direct", "IT", "Pro",
    "Strategies", "Alliance", "Collective", "Managed Services", "Reseller Co", "Tech", "Innovations",
    "Informatics", "Media", "Commerce", "Edge", "One",
]
DOMAIN_FIRST = [
    "blue", "north", "river", "summit", "iron", "bright", "cedar", "silver", "quantum", "harbor", "maple", "stone",
    "swift", "golden", "crystal", "eagle", "pine", "ocean", "prairie", "granite", "lunar", "solar", "copper",
    "amber", "arctic", "delta", "echo", "falcon", "forest", "frontier", "horizon", "jade", "kinetic", "lake",
    "metro", "nova", "orbit", "pioneer", "rapid", "royal", "sky", "terra", "urban", "valley", "willow", "zen",
    "acme", "apex", "atlas", "bay",
]
DOMAIN_SECOND = [
    "peak", "wind", "stone", "field", "works", "labs", "bridge", "point", "line", "gate", "soft", "logic", "mart",
    "foods", "health", "bank", "freight", "energy", "pharma", "retail", "motors", "media", "insure", "build",
    "tech", "data", "path", "wave", "craft", "farm", "capital", "dynamics", "systems", "med", "air", "steel",
    "textiles", "hotels", "games", "learn", "legal", "print", "power", "water", "telecom", "realty", "foods",
    "logistics", "outfitters", "brewing",
]
TLDS = [".com"] * 8 + [".io", ".co", ".net", ".de", ".co.uk", ".fr", ".com.au"]
COMPANY_FORMS = ["Inc", "Corp", "GmbH", "Ltd", "Group", "LLC", "Holdings", "S.A.", ""]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Tim",
               "Katherine", "Edsger", "Radia", "John", "Hedy", "Claude", "Sophie", "Niklaus", "Anita", "Donald"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
              "Berners-Lee", "Johnson", "Dijkstra", "Perlman", "McCarthy", "Lamarr", "Shannon", "Wilson", "Wirth",
              "Borg", "Knuth"]
PROBLEMS = [
    "Their finance team reconciles invoices by hand across three ERPs and closes the month four days late.",
    "Card-not-present fraud doubled since they launched in two new markets; chargebacks eat the margin.",
    "Sales ops cannot see pipeline by region because CRM and billing disagree on the account hierarchy.",
    "Checkout conversion on mobile is 40% below desktop and they suspect the payment page.",
    "The data team spends two days a month stitching exports for the board pack.",
    "They are moving off an on-prem warehouse before the support contract ends in Q3.",
    "Auditors flagged manual access reviews; they need evidence for SOC 2 by the end of the year.",
]
VALUE_PROPS = [
    "The partner has done this integration for three of their direct competitors.",
    "Certified implementation team in their region with a fixed-price offer.",
    "The partner already runs their ERP and can bundle the rollout.",
    None,
]
NEXT_STEPS = [
    "Intro call next Tuesday with their CFO and the partner's solution architect.",
    "Partner to send a proposal by Friday; we join the follow-up demo.",
    "Joint discovery workshop on site in two weeks.",
    "Customer asked for references; partner to share two case studies.",
]
DECLINE_REASONS = ["Not our market.", "Customer already works with another partner.", "No capacity this quarter."]
MARKETS = ["NA", "EMEA", "APAC", "LATAM", "DACH", "UK&I", "Nordics", "ANZ"]
REPS = [f"U0REP{i:04d}" for i in range(1, 81)]
MANAGERS = [f"U0MGR{i:03d}" for i in range(1, 16)]


def _slack_id(rng: random.Random, prefix: str, length: int = 10) -> str:
    return prefix + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(length))


@dataclass
class Dataset:
    partners: list[dict]
    leads: list[dict]
    handoffs: list[dict]
    conflicts: list[dict]
    audit: list[dict]
    targets: list[int]  # pending leads owned by CLICKER, one per Accept click
    domains: list[str]  # the customer domains the leads use, most used first
    weights: list[float]


@dataclass
class Submission:
    partner_id: int
    domain: str  # normalised
    pool_domain: bool  # an existing customer: conflict checks find earlier leads
    form: dict = field(default_factory=dict)


def build_dataset(rng: random.Random, now: dt.datetime, playbook: Playbook, n_targets: int) -> Dataset:
    calendar, window = playbook.calendar, dt.timedelta(days=playbook.conflicts.protection_window_days)

    # partners: names from root x suffix; type-ahead "glo" finds a full first page
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < N_PARTNERS:
        name = f"{rng.choice(PARTNER_ROOTS)} {rng.choice(PARTNER_SUFFIXES)}"
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    tiers = list(playbook.tiers)
    tier_weights = [40, 35, 20, 5][: len(tiers)] + [10] * max(0, len(tiers) - 4)
    partners = []
    for pid, name in enumerate(names, start=1):
        created = now - dt.timedelta(days=rng.uniform(300, 900))
        partners.append({
            "id": pid, "name": name, "name_key": name.lower(), "type": rng.choice(playbook.partner_types),
            "tier": rng.choices(tiers, tier_weights)[0], "market": rng.choice(MARKETS),
            "product_lines": rng.sample(list(playbook.product_lines), rng.randint(0, len(playbook.product_lines))),
            "channel_id": _slack_id(rng, "C") if rng.random() < 0.8 else None,
            "manager_id": rng.choice(MANAGERS) if rng.random() < 0.9 else None,
            "created_at": created, "updated_at": created,
        })
    partner_by_id = {p["id"]: p for p in partners}

    # customer domains: a few hot accounts, a long tail (Zipf-like, s = 0.6)
    domains: list[str] = []
    dseen: set[str] = set()
    while len(domains) < 4_000:
        d = rng.choice(DOMAIN_FIRST) + rng.choice(DOMAIN_SECOND) + rng.choice(TLDS)
        if d not in dseen:
            dseen.add(d)
            domains.append(d)
    weights = [1 / (k + 1) ** 0.6 for k in range(len(domains))]

    def company_of(domain: str) -> str:
        base = domain.split(".", 1)[0]
        return f"{base.capitalize()} {rng.choice(COMPANY_FORMS)}".strip()

    target_slots = set(rng.sample(range(N_LEADS), n_targets))
    leads, handoffs, audit = [], [], []
    for idx in range(N_LEADS):
        lead_id = idx + 1
        partner = partner_by_id[rng.randint(1, N_PARTNERS)]
        is_target = idx in target_slots
        if is_target:
            created = now - dt.timedelta(hours=rng.uniform(0.5, 72))
        else:
            created = now - dt.timedelta(days=rng.uniform(0, 300))
        age_days = (now - created).total_seconds() / 86400
        if is_target:
            stage = "handed_off"
        elif age_days < 2:
            stage = rng.choices(["handed_off", "accepted", "declined"], [70, 20, 10])[0]
        elif age_days < 14:
            stage = rng.choices(["handed_off", "accepted", "contacted", "qualified", "declined"], [15, 25, 35, 15, 10])[0]
        else:
            stage = rng.choices(
                ["handed_off", "accepted", "contacted", "qualified", "proposal", "negotiation", "closed_won",
                 "closed_lost", "declined"], [3, 7, 20, 15, 10, 5, 15, 17, 8])[0]
        domain = rng.choices(domains, weights)[0] if rng.random() < 0.95 else None
        sender = rng.choice(REPS)
        owner = CLICKER if is_target or rng.random() < CLICKER_SHARE else rng.choice([r for r in REPS if r != sender][:60])
        backup = rng.choice([r for r in REPS if r not in (sender, owner)]) if rng.random() < 0.5 else None
        direction = rng.choice(["to_partner", "from_partner"])
        contact = rng.random() < 0.85
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        sla = playbook.sla_for(partner["tier"])
        accept_by = calendar.add_business_hours(created, sla.accept_within_hours)
        outreach_by = calendar.add_business_hours(created, sla.first_outreach_within_hours)
        accepted_at = accepted_by = declined_at = declined_by = decline_reason = outreach_at = outreach_who = None
        if stage not in ("handed_off", "declined"):
            accepted_at = created + (accept_by - created) * rng.uniform(0.1, 0.9)
            accepted_by = owner
        if stage == "declined":
            declined_at = created + (accept_by - created) * rng.uniform(0.1, 0.9)
            declined_by, decline_reason = owner, rng.choice(DECLINE_REASONS)
        if stage not in ("handed_off", "accepted", "declined"):
            outreach_at = accepted_at + (outreach_by - created) * rng.uniform(0.05, 0.5)
            outreach_who = owner
        updated = max(t for t in (created, accepted_at, declined_at, outreach_at) if t is not None)
        if updated > now:
            updated = now
        leads.append({
            "id": lead_id, "partner_id": partner["id"], "direction": direction,
            "company": company_of(domain) if domain else f"{rng.choice(LAST_NAMES)} {rng.choice(COMPANY_FORMS)}".strip(),
            "domain": domain,
            "contact_name": f"{first} {last}" if contact else None,
            "contact_email": f"{first.lower()}.{last.lower()}@{domain or 'example.com'}" if contact else None,
            "consent": contact and (direction == "to_partner" or rng.random() < 0.5),
            "problem": rng.choice(PROBLEMS), "value_proposition": rng.choice(VALUE_PROPS),
            "next_steps": rng.choice(NEXT_STEPS),
            "estimated_value": Decimal(rng.randrange(5_000, 500_000, 500)) if rng.random() < 0.8 else None,
            "product_line": rng.choice(list(playbook.product_lines) + [None]),
            "stage": stage, "sender_id": sender, "primary_owner_id": owner, "backup_owner_id": backup,
            "accept_by": accept_by, "first_outreach_by": outreach_by,
            "accepted_at": accepted_at, "accepted_by": accepted_by,
            "declined_at": declined_at, "declined_by": declined_by, "decline_reason": decline_reason,
            "first_outreach_at": outreach_at, "first_outreach_logged_by": outreach_who,
            "created_at": created, "updated_at": updated,
        })
        decided_at = accepted_at or declined_at
        handoffs.append({
            "lead_id": lead_id, "from_user_id": sender, "to_user_id": owner,
            "status": {"handed_off": "pending", "declined": "declined"}.get(stage, "accepted"),
            "created_at": created, "decided_at": decided_at, "decided_by": owner if decided_at else None,
            "reason": decline_reason,
        })
        audit.append({
            "at": created, "actor_id": sender, "action": "lead.handed_off", "object_type": "lead", "object_id": lead_id,
            "before": None, "after": {"ref": f"L-{lead_id + 1000}", "partner": partner["name"], "domain": domain,
                                      "stage": "handed_off", "primary_owner_id": owner},
        })
        if accepted_at or declined_at:
            audit.append({
                "at": decided_at, "actor_id": owner, "action": "lead.accepted" if accepted_at else "lead.declined",
                "object_type": "lead", "object_id": lead_id, "before": {"stage": "handed_off"},
                "after": {"stage": "accepted" if accepted_at else "declined"},
            })

    # conflicts the app would have recorded: same domain, another partner, inside the window
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for lead in leads:
        if lead["domain"]:
            by_domain[lead["domain"]].append(lead)
    conflicts, pairs = [], set()
    for group in by_domain.values():
        group.sort(key=lambda l: l["created_at"])
        for j, later in enumerate(group):
            found = 0
            for earlier in group[:j]:
                if later["created_at"] - earlier["created_at"] > window or earlier["stage"] in OPEN_EXCLUDED:
                    continue
                if earlier["partner_id"] == later["partner_id"] or found >= 20:
                    continue
                found += 1
                for a, b in ((later["id"], earlier["id"]), (earlier["id"], later["id"])):
                    if (a, b) not in pairs:
                        pairs.add((a, b))
                        conflicts.append({"lead_id": a, "other_lead_id": b, "created_at": later["created_at"]})

    targets = [leads[i]["id"] for i in sorted(target_slots)]
    rng.shuffle(targets)
    return Dataset(partners, leads, handoffs, conflicts, audit, targets, domains, weights)


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


def seed_standin_cards(api_url: str, data: Dataset, lead_ids: set[int]) -> dict[tuple[int, str], tuple[str, str]]:
    """Post the cards of `lead_ids` to the stand-in (as the app did when the leads were handed off),
    so the run's chat.update calls find them. Returns {(lead_id, kind): (channel, ts)}."""
    partners = {p["id"]: p for p in data.partners}
    leads = {l["id"]: l for l in data.leads}
    jobs = []
    for lead_id in sorted(lead_ids):
        lead = leads[lead_id]
        jobs.append((lead_id, "lead_card", lead["primary_owner_id"]))
        channel = partners[lead["partner_id"]]["channel_id"]
        if channel:
            jobs.append((lead_id, "lead_notice", channel))
    client = WebClient(token=TOKEN, base_url=api_url, timeout=10)

    def post(job):
        lead_id, kind, channel = job
        lead = leads[lead_id]
        response = client.chat_postMessage(channel=channel, **card_payload(lead_id, lead, kind))
        return job, (response["channel"], response["ts"])

    with ThreadPoolExecutor(8) as pool:
        return {(job[0], job[1]): where for job, where in pool.map(post, jobs)}


def card_payload(lead_id: int, lead: dict, kind: str) -> dict:
    ref = f"L-{lead_id + 1000}"
    return {
        "text": f"Lead {ref}: {lead['company']}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"{ref} · {lead['company']}"[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Problem*\n{lead['problem']}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{kind} for <@{lead['primary_owner_id']}>"}]},
        ],
    }


def outbox_rows(data: Dataset, seeded: dict[tuple[int, str], tuple[str, str]]) -> list[dict]:
    """The cards every lead already had sent: owner card, sender confirmation, channel notice,
    and the sender's "accepted" notice for decided leads."""
    partners = {p["id"]: p for p in data.partners}
    rows, fake_ts = [], 1_600_000_000_000_000
    for lead in data.leads:
        posts = [("lead_card", lead["primary_owner_id"]), ("sender_confirmation", lead["sender_id"])]
        channel = partners[lead["partner_id"]]["channel_id"]
        if channel:
            posts.append(("lead_notice", channel))
        if lead["accepted_at"]:
            posts.append(("lead_accepted", lead["sender_id"]))
        for kind, to in posts:
            fake_ts += 100
            where = seeded.get((lead["id"], kind))
            if where is None:
                where = ("D" + to if to[0] in "UW" else to, f"{fake_ts // 1_000_000}.{fake_ts % 1_000_000:06d}")
            at = lead["accepted_at"] if kind == "lead_accepted" else lead["created_at"]
            rows.append({
                "id": len(rows) + 1, "created_at": at, "method": "chat.postMessage", "channel": to,
                "payload": card_payload(lead["id"], lead, kind), "version": 1, "kind": kind,
                "subject_type": "lead", "subject_id": lead["id"], "audience": to, "idempotency_key": None,
                "update_of_id": None, "status": "sent", "attempts": 1, "last_error": None,
                "next_attempt_at": at, "claimed_until": None, "sent_at": at, "sent_version": 1,
                "result_channel": where[0], "result_ts": where[1],
            })
    return rows


def reset_database(url: str) -> None:
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def load(url: str, data: Dataset, outbox: list[dict]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for model, rows in ((Partner, data.partners), (Lead, data.leads), (Handoff, data.handoffs),
                                (LeadConflict, data.conflicts), (AuditEvent, data.audit), (OutboxMessage, outbox)):
                for start in range(0, len(rows), 2_000):
                    conn.execute(insert(model.__table__), rows[start:start + 2_000])
            if engine.dialect.name == "postgresql":
                for table in ("partners", "leads", "outbox"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT max(id) FROM {table}))"))
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        with engine.connect() as conn:
            return {name: conn.scalar(select(func.count()).select_from(model.__table__))
                    for name, model in (("partners", Partner), ("leads", Lead), ("handoffs", Handoff),
                                        ("lead_conflicts", LeadConflict), ("audit_events", AuditEvent),
                                        ("outbox", OutboxMessage))}
    finally:
        engine.dispose()


# =============================================================================== processes

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Every child goes in its own session (process group), stopped by that id on exit."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen, Any]] = []

    def start(self, name: str, argv: list[str], *, env: dict, log_path: Path) -> subprocess.Popen:
        log = open(log_path, "wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.running.append((name, proc, log))
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        for entry in list(self.running):
            if entry[1] is proc:
                self._stop(*entry)
                self.running.remove(entry)

    def stop_all(self) -> None:
        while self.running:
            self._stop(*self.running.pop())

    @staticmethod
    def _stop(name: str, proc: subprocess.Popen, log) -> None:
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of the master and its workers
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # the group of the session we started for it
                    except (ProcessLookupError, PermissionError):
                        pass
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        print(f"warning: {name} (pid {proc.pid}) did not exit", file=sys.stderr)
        finally:
            log.close()


def web_argv(app_spec: str, port: int) -> list[str]:
    """The Procfile's `web:` line, with the app spec swapped in and bound to loopback."""
    line = FALLBACK_WEB
    procfile = ROOT / "Procfile"
    if procfile.exists():
        for raw in procfile.read_text().splitlines():
            if raw.startswith("web:"):
                line = raw[4:].strip()
    values = {"PORT": str(port), "WEB_CONCURRENCY": "2"}
    argv = [re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: values.get(m[1], m[2] or ""), a) for a in shlex.split(line)]
    if argv[0] != "gunicorn":
        raise SystemExit(f"the Procfile's web: line does not start gunicorn: {line}")
    out = [sys.executable, "-m", "gunicorn"]
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--bind", "-b"):
            out += [arg, f"127.0.0.1:{port}"]
            i += 2
            continue
        if arg.startswith("--bind="):
            out.append(f"--bind=127.0.0.1:{port}")
        elif ":" in arg and not arg.startswith("-") and "application" in arg:
            out.append(app_spec)
        else:
            out.append(arg)
        i += 1
    if app_spec not in out:
        raise SystemExit(f"could not find the app spec in the Procfile's web: line: {line}")
    return out


def wait_http(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunFailed(f"{url} process exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RunFailed(f"{url} did not answer 200 within {timeout:.0f}s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def log_problems(path: Path) -> list[str]:
    """Lines in a server log that say something went wrong (errors, tracebacks, warnings)."""
    bad = re.compile(r"\b(ERROR|CRITICAL|WARNING|Traceback)\b")
    benign = "As you gave `client` as well, `token` will be unused"  # Bolt also reads SLACK_BOT_TOKEN; both apps
    try:
        return [line for line in path.read_text(errors="replace").splitlines() if bad.search(line) and benign not in line]
    except OSError:
        return []


# =============================================================================== measuring

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(seconds: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in seconds]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 0.50), 2), "p99_ms": round(percentile(ms, 0.99), 2),
            "mean_ms": round(sum(ms) / len(ms), 2), "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2)}


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


# =============================================================================== profiling (--py-spy)

@contextlib.contextmanager
def py_spy(pid: int, out: Path, processes: Processes):
    """Sample the web process and its workers (all threads, on-CPU) while the block runs."""
    argv = ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--rate", "250", "--format", "raw",
            "--full-filenames", "-o", str(out)]
    proc = processes.start("py-spy", argv, env=dict(os.environ), log_path=out.with_suffix(".log"))
    time.sleep(1.5)  # attach to the master and both workers before the phase starts
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        processes.stop(proc)


def py_spy_summary(path: Path, top: int = 12) -> list[str]:
    """From py-spy's raw (collapsed) stacks: where the web workers spend their samples."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return [f"(no profile at {path})"]
    total = 0
    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if "(" in f]
        names = []
        for frame in frames:
            func_name, _, where = frame.partition(" (")
            file_name = where.split(":")[0]
            short = file_name.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
            names.append(f"{func_name} ({short})")
        if names:
            own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    out = [f"{total} samples"]
    project = sorted(((n, k) for k, n in inclusive.items()
                      if k.split("(")[-1].startswith(("store/", "handlers/", "messages/", "bot/"))), reverse=True)
    out += [f"  {n / total:6.1%} incl  {k}" for n, k in project[:top]]
    out += [f"  {n / total:6.1%} self  {k}" for n, k in sorted(((n, k) for k, n in own.items()), reverse=True)[:top]]
    return out


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

def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


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


def print_table(rows: list[dict]) -> None:
    head = (f"{'operation':28} {'partnerbot p50/p99 (mean)':>26} {'bare p50/p99 (mean)':>24} "
            f"{'ratio p50':>9} {'ratio p99':>9}  target")
    print(head)
    print("-" * len(head))
    for row in rows:
        pb, bare = row["partnerbot"], row["bare"]
        print(f"{row['label']:28} {pb['p50_ms']:8.1f} /{pb['p99_ms']:7.1f} ({pb['mean_ms']:6.1f}) "
              f"{bare['p50_ms']:7.1f} /{bare['p99_ms']:6.1f} ({bare['mean_ms']:6.1f}) "
              f"{row['ratio_p50']:9.2f} {row['ratio_p99']:9.2f}  {'met' if row['meets_target'] else 'MISSED'}")
    print(f"(ms, client-side; target: partnerbot/bare <= {TARGET_RATIO} at p50 and p99, "
          f"and partnerbot p99 <= {TARGET_P99_MS:.0f} ms)")


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

def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def machine_and_target() -> dict:
    """What every web benchmark's JSON says about the machine and the target it is judged by."""
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "target": {"max_ratio": TARGET_RATIO, "max_p99_ms": TARGET_P99_MS,
                   "rule": "ratio_p50 <= max_ratio and ratio_p99 <= max_ratio and partnerbot p99 <= max_p99_ms"},
    }


def finish(report: dict, output: str, failures: list[str], total: float) -> int:
    """Write the JSON report, list what failed, and give the exit code (1 if anything failed)."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwrote {out}; total {total:.0f}s")
    if failures:
        print(f"\nFAILED ({len(failures)}):\n  " + "\n  ".join(failures[:20]), file=sys.stderr)
        return 1
    return 0


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

    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
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
        standin_port = free_port()
        standin = processes.start("stand-in", [sys.executable, "-m", "slackkit.webapi", "--port", str(standin_port),
                                               "--token", TOKEN], env=dict(os.environ), log_path=workdir / "standin.log")
        standin_root = f"http://127.0.0.1:{standin_port}"
        api_url = f"{standin_root}/api/"
        deadline = time.monotonic() + 20
        while True:
            try:
                WebClient(token=TOKEN, base_url=api_url, timeout=2).auth_test()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if standin.poll() is not None or time.monotonic() > deadline:
                    raise RunFailed(f"the stand-in did not start:\n{tail(workdir / 'standin.log')}") from None
                time.sleep(0.05)

        # the database
        t0 = time.monotonic()
        rng = random.Random(opts.seed)
        now = dt.datetime.now(dt.UTC)
        data = build_dataset(rng, now, playbook, n_flow)
        plans = plan_submissions(rng, data, n_flow, playbook)
        seeded = seed_standin_cards(api_url, data, leads_needing_cards(data, plans, now,
                                                                       playbook.conflicts.protection_window_days))
        outbox = outbox_rows(data, seeded)
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

        env = dict(os.environ)
        for var in ("WEB_CONCURRENCY", "PORT", "SLACK_APP_TOKEN"):
            env.pop(var, None)
        env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=secret, SLACK_API_URL=api_url,
                   DATABASE_URL=database_url, PLAYBOOK_PATH=str(Path(opts.playbook).resolve()),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
        results: dict[str, dict[str, dict]] = {}
        commands: dict[str, str] = {}
        log_issues: dict[str, list[str]] = {}
        verification: dict = {}
        per_request: dict[str, dict[str, dict[int, float]]] = {}
        for label, spec in (("partnerbot", "bot.web:application()"), ("bare", "benchmarks.bare_app:application()")):
            port = free_port()
            argv_ = web_argv(spec, port)
            commands[label] = shlex.join(["gunicorn", *argv_[3:]])
            log_path = workdir / f"{label}.log"
            print(f"{label}: {commands[label]}", flush=True)
            server = processes.start(label, argv_, env=env, log_path=log_path)
            wait_http(f"http://127.0.0.1:{port}/healthz", server, log_path)
            engine = make_engine(database_url)
            try:
                with engine.connect() as conn:
                    first_new_outbox = (conn.scalar(select(func.max(OutboxMessage.id))) or 0) + 1
            finally:
                engine.dispose()
            phase = None
            if opts.py_spy and label == "partnerbot":
                if not shutil.which("py-spy"):
                    raise RunFailed("--py-spy needs py-spy on PATH (pip install py-spy)")
                spy_dir = Path(opts.py_spy)
                spy_dir.mkdir(parents=True, exist_ok=True)
                phase = lambda op, pid=server.pid: py_spy(pid, spy_dir / f"partnerbot-{op}.txt", processes)  # noqa: E731
            timings, failed = measure(label, f"http://127.0.0.1:{port}/slack/events", secret,
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
