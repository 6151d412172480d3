"""What the benchmarks share: the data set, the database, the Slack stand-in and the web process,
timing, and the report. Each benchmark (benchmarks/bench_*.py) is a script that imports this module;
none imports another benchmark, nor the tests.

- the data set: 1,000 partners and 10,000 leads with their handoffs, audit events and conflicts
  (``build_dataset``), and the names the other data sets draw from;
- the messages those leads were already sent, rendered by the real builders (messages.handoff) from
  the store's own read models (store.handoffs.lead_views): ``lead_messages``, posted to the stand-in
  where a run will edit them (``seed_standin_cards``) and written as sent outbox rows
  (``outbox_rows``) - never hand-built blocks;
- the database: ``reset_database`` (a Postgres schema dropped and recreated), ``bulk_load`` (core
  inserts in batches, Postgres sequences and statistics), ``load`` (the data set), ``count_rows``,
  ``next_outbox_id``;
- processes: the stand-in (``start_standin``: slackkit.webapi in a process of its own) and the
  Procfile's ``web:`` line for partnerbot or the bare floor (``web_env``, ``start_web``), each in its
  own session and stopped on exit, Ctrl-C included (``Processes``, ``stop_on_signals``);
- requests: ``handoff_form``, a valid handoff modal state as Slack reports it (slackkit.simulator);
- timing and the report: ``percentile``, ``summarize``, ``ratio``, ``print_table`` (partnerbot
  against the bare floor), ``machine_and_target``, ``finish`` (the JSON file and the exit code);
- profiling: ``py_spy`` / ``py_spy_summary`` (where the web workers' samples go);
- ``FLOOR_SQL``: one hand-written statement for a period's figures per partner (the digest's and the
  scorecards' floor).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make bot/, store/, messages/ and slackkit/ importable

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from messages import handoff as lead_builders  # noqa: E402
from messages.ids import Handoff as HandoffIds  # noqa: E402
from slackkit import simulator as s  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.handoffs import lead_views  # noqa: E402
from store.models import (  # noqa: E402
    LEAD_REF_OFFSET, AuditEvent, Handoff, Lead, LeadConflict, OutboxMessage, Partner,
)
from store.playbook import Playbook  # noqa: E402
from store.views import ConflictRef, LeadView  # noqa: E402

N_PARTNERS = 1_000
N_LEADS = 10_000
TOKEN = "xoxb-bench-standin"
CLICKER = "U0BENCHOWNER"  # owns a share of the leads; presses Accept in bench_handoff
CLICKER_SHARE = 0.10
TARGET_RATIO = 1.5
TARGET_P99_MS = 150.0
FALLBACK_WEB = ("gunicorn 'bot.web:application()' --bind 0.0.0.0:${PORT:-3000} --worker-class gthread "
                "--workers ${WEB_CONCURRENCY:-2} --threads 8")
OPEN_EXCLUDED = {"declined", "closed_won", "closed_lost"}


class RunFailed(Exception):
    """A request or a post-run check failed; the message says which."""


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


def partner_names(rng, count: int) -> list[str]:
    """`count` distinct partner names (any case) from root x suffix, so type-ahead "glo" finds a full page."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = f"{rng.choice(PARTNER_ROOTS)} {rng.choice(PARTNER_SUFFIXES)}"
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def slack_id(rng: random.Random, prefix: str, length: int = 10) -> str:
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


def build_dataset(rng: random.Random, now: dt.datetime, playbook: Playbook, n_targets: int) -> Dataset:
    calendar, window = playbook.calendar, dt.timedelta(days=playbook.conflicts.protection_window_days)

    # partners: names from root x suffix; type-ahead "glo" finds a full first page
    names = partner_names(rng, N_PARTNERS)
    tiers = list(playbook.tiers)
    tier_weights = [40, 35, 20, 5][: len(tiers)] + [10] * max(0, len(tiers) - 4)
    partners = []
    for pid, name in enumerate(names, start=1):
        created = now - dt.timedelta(days=rng.uniform(300, 900))
        partners.append({
            "id": pid, "name": name, "name_key": name.lower(), "type": rng.choice(playbook.partner_types),
            "tier": rng.choices(tiers, tier_weights)[0], "market": rng.choice(MARKETS),
            "product_lines": rng.sample(list(playbook.product_lines), rng.randint(0, len(playbook.product_lines))),
            "channel_id": slack_id(rng, "C") if rng.random() < 0.8 else None,
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


# =============================================================================== the leads' messages

# What each lead was sent, by kind: rendered by the real builders from the store's read model.
LEAD_MESSAGES: dict[str, Callable[[LeadView], dict]] = {
    "lead_card": lambda view: lead_builders.lead_card(view, audience="owner"),       # the owner's DM
    "sender_confirmation": lead_builders.sender_confirmation,                          # the sender's DM
    "lead_notice": lambda view: lead_builders.lead_card(view, audience="channel"),   # the partner's channel
    "lead_accepted": lead_builders.accepted_notice,                                    # the sender, once accepted
}
CARD_KINDS = ("lead_card", "lead_notice")  # the copies a refresh edits (chat.update)


def lead_posts(lead: dict, partner: dict) -> list[tuple[str, str]]:
    """(kind, channel) of every message the app sent about `lead`, in the order it sent them."""
    posts = [("lead_card", lead["primary_owner_id"]), ("sender_confirmation", lead["sender_id"])]
    if partner["channel_id"]:
        posts.append(("lead_notice", partner["channel_id"]))
    if lead["accepted_at"]:
        posts.append(("lead_accepted", lead["sender_id"]))
    return posts


def read_models(data: Dataset, playbook: Playbook) -> dict[int, LeadView]:
    """Each lead's read model, built by store.handoffs.lead_views from the data set's rows (the
    partners and the conflicts handed to it, as the app hands them when it has them)."""
    partners = {p["id"]: Partner(**p) for p in data.partners}
    by_id = {lead["id"]: lead for lead in data.leads}
    conflicts: dict[int, list[ConflictRef]] = defaultdict(list)
    for row in sorted(data.conflicts, key=lambda c: (c["lead_id"], c["other_lead_id"])):
        other = by_id[row["other_lead_id"]]
        conflicts[row["lead_id"]].append(ConflictRef(ref=f"L-{other['id'] + LEAD_REF_OFFSET}",
                                                     partner=partners[other["partner_id"]].name,
                                                     owner_id=other["primary_owner_id"]))
    views = lead_views(None, [Lead(**lead) for lead in data.leads], playbook, partners=partners, conflicts=conflicts)
    return {view.id: view for view in views}


def lead_messages(data: Dataset, playbook: Playbook) -> dict[tuple[int, str], dict]:
    """{(lead id, kind): message} for every message the data set's leads were sent (see lead_posts)."""
    views = read_models(data, playbook)
    partners = {p["id"]: p for p in data.partners}
    return {(lead["id"], kind): LEAD_MESSAGES[kind](views[lead["id"]])
            for lead in data.leads for kind, _ in lead_posts(lead, partners[lead["partner_id"]])}


def post_to_standin(api_url: str, jobs: list[tuple[Any, str, dict]]) -> dict[Any, tuple[str, str]]:
    """Post each (key, channel, message) to the stand-in, 8 at a time: {key: (channel, ts)}."""
    client = WebClient(token=TOKEN, base_url=api_url, timeout=10)

    def post(job):
        key, channel, message = job
        response = client.chat_postMessage(channel=channel, **message)
        return key, (response["channel"], response["ts"])

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(post, jobs))


def seed_standin_cards(api_url: str, data: Dataset, messages: dict[tuple[int, str], dict],
                       lead_ids: set[int]) -> dict[tuple[int, str], tuple[str, str]]:
    """Post the cards of `lead_ids` to the stand-in (as the app did when the leads were handed off),
    so the run's chat.update calls find them. Returns {(lead_id, kind): (channel, ts)}."""
    partners = {p["id"]: p for p in data.partners}
    leads = {lead["id"]: lead for lead in data.leads}
    jobs = [((lead_id, kind), channel, messages[(lead_id, kind)])
            for lead_id in sorted(lead_ids)
            for kind, channel in lead_posts(leads[lead_id], partners[leads[lead_id]["partner_id"]])
            if kind in CARD_KINDS]
    return post_to_standin(api_url, jobs)


def sent_row(row_id: int, *, at: dt.datetime, channel: str, message: dict, kind: str, subject: tuple[str, int],
             where: tuple[str, str], key: str | None = None) -> dict:
    """An outbox row for a message Slack has already taken (status sent, its channel and ts kept)."""
    return {
        "id": row_id, "created_at": at, "method": "chat.postMessage", "channel": channel, "payload": message,
        "version": 1, "kind": kind, "subject_type": subject[0], "subject_id": subject[1], "audience": channel,
        "idempotency_key": key, "update_of_id": None, "status": "sent", "attempts": 1, "last_error": None,
        "next_attempt_at": at, "claimed_until": None, "sent_at": at, "sent_version": 1,
        "result_channel": where[0], "result_ts": where[1],
    }


def made_up_ts(n: int) -> str:
    """A message ts for a message that was never posted to this stand-in."""
    return f"{n // 1_000_000}.{n % 1_000_000:06d}"


def dm_channel(to: str) -> str:
    return "D" + to if to[0] in "UW" else to


def outbox_rows(data: Dataset, messages: dict[tuple[int, str], dict],
                seeded: dict[tuple[int, str], tuple[str, str]]) -> list[dict]:
    """The messages every lead was already sent (see lead_posts), as sent outbox rows; those in
    `seeded` point at the stand-in's copies."""
    partners = {p["id"]: p for p in data.partners}
    rows, fake_ts = [], 1_600_000_000_000_000
    for lead in data.leads:
        for kind, to in lead_posts(lead, partners[lead["partner_id"]]):
            fake_ts += 100
            where = seeded.get((lead["id"], kind)) or (dm_channel(to), made_up_ts(fake_ts))
            at = lead["accepted_at"] if kind == "lead_accepted" else lead["created_at"]
            rows.append(sent_row(len(rows) + 1, at=at, channel=to, message=messages[(lead["id"], kind)], kind=kind,
                                 subject=("lead", lead["id"]), where=where))
    return rows


# =============================================================================== database

def reset_database(url: str) -> None:
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def bulk_load(url: str, tables: list[tuple[Any, list[dict]]], *, batch: int = 2_000, analyze: str = "postgresql") -> None:
    """Core inserts of each (model, rows) in batches, in one transaction; on Postgres each table's id
    sequence is moved past the rows. `analyze`: "postgresql" gathers statistics there only (SQLite
    gets none, as in production), "all" on both, "none" nowhere."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for model, rows in tables:
                for start in range(0, len(rows), batch):
                    conn.execute(insert(model.__table__), rows[start:start + batch])
            if engine.dialect.name == "postgresql":
                for model, rows in tables:
                    table = model.__tablename__
                    if rows and "id" in model.__table__.c:
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                          f"(SELECT max(id) FROM {table}))"))
        if analyze == "all" or (analyze == "postgresql" and engine.dialect.name == "postgresql"):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def count_rows(url: str, models: dict[str, Any]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {name: conn.scalar(select(func.count()).select_from(model.__table__)) for name, model in models.items()}
    finally:
        engine.dispose()


def load(url: str, data: Dataset, outbox: list[dict]) -> dict[str, int]:
    """The data set and its sent messages into a migrated database; the rows each table then has."""
    bulk_load(url, [(Partner, data.partners), (Lead, data.leads), (Handoff, data.handoffs),
                    (LeadConflict, data.conflicts), (AuditEvent, data.audit), (OutboxMessage, outbox)])
    return count_rows(url, {"partners": Partner, "leads": Lead, "handoffs": Handoff, "lead_conflicts": LeadConflict,
                            "audit_events": AuditEvent, "outbox": OutboxMessage})


def next_outbox_id(url: str) -> int:
    """The id the next outbox row will get: what a run wrote is from there on."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return (conn.scalar(select(func.max(OutboxMessage.id))) or 0) + 1
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


def raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_signals() -> None:
    """Ctrl-C (even if started with SIGINT ignored), SIGTERM and SIGHUP unwind the run, so every
    process it started is stopped."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)


def start_standin(processes: Processes, workdir: Path, argv: list[str] | None = None) -> str:
    """The Slack stand-in in a process of its own (`python -m slackkit.webapi`, or `argv` taking the
    same --port and --token), answering at once, on a free port; returns its root URL once auth.test
    answers (the Web API is at ROOT/api/)."""
    port = free_port()
    argv = [*(argv or [sys.executable, "-m", "slackkit.webapi"]), "--port", str(port), "--token", TOKEN]
    proc = processes.start("stand-in", argv, env=dict(os.environ), log_path=workdir / "standin.log")
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            WebClient(token=TOKEN, base_url=f"{root}/api/", timeout=2).auth_test()
            return root
        except Exception:  # noqa: BLE001 - not listening yet
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RunFailed(f"the stand-in did not start:\n{tail(workdir / 'standin.log')}") from None
            time.sleep(0.05)


def web_env(*, api_url: str, secret: str, database_url: str, playbook: str) -> dict[str, str]:
    """The web process's environment: this one, less what would change the Procfile's line, plus
    the stand-in, the signing secret, the database and the playbook."""
    env = dict(os.environ)
    for var in ("WEB_CONCURRENCY", "PORT", "SLACK_APP_TOKEN"):
        env.pop(var, None)
    env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=secret, SLACK_API_URL=api_url,
               DATABASE_URL=database_url, PLAYBOOK_PATH=str(Path(playbook).resolve()),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    return env


@dataclass
class Web:
    """A web process started from the Procfile's line, answering GET /healthz."""

    label: str
    proc: subprocess.Popen
    port: int
    command: str  # the gunicorn command line, for the report
    log_path: Path

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"


def start_web(processes: Processes, label: str, app_spec: str, env: dict, workdir: Path) -> Web:
    """The Procfile's `web:` line serving `app_spec` ("bot.web:application()" or the bare floor's) on a
    free loopback port, its output in WORKDIR/LABEL.log; returns once /healthz answers 200."""
    port = free_port()
    argv = web_argv(app_spec, port)
    command = shlex.join(["gunicorn", *argv[3:]])
    log_path = workdir / f"{label}.log"
    print(f"{label}: {command}", flush=True)
    proc = processes.start(label, argv, env=env, log_path=log_path)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, log_path)
    return Web(label, proc, port, command, log_path)


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


# =============================================================================== requests

def handoff_form(partner_id, **overrides) -> dict:
    """A valid handoff modal's state as Slack reports it, block ids from messages.ids; override any field
    with a raw element value (slackkit.simulator's text(), user()...; None leaves it empty)."""
    fields = {
        HandoffIds.PARTNER: s.select(str(partner_id) if partner_id is not None else None, kind="external_select"),
        HandoffIds.DIRECTION: s.radio("to_partner"),
        HandoffIds.COMPANY: s.text("Acme Corp"),
        HandoffIds.DOMAIN: s.text("https://www.Acme.com/about"),
        HandoffIds.CONTACT_NAME: s.text("Ada Lovelace"),
        HandoffIds.CONTACT_EMAIL: s.email("ada@acme.com"),
        HandoffIds.CONSENT: s.checkboxes(["yes"]),
        HandoffIds.PROBLEM: s.text("Their data team spends two days a month reconciling invoices."),
        HandoffIds.VALUE_PROPOSITION: s.text("Globex has done this integration for three of their peers."),
        HandoffIds.NEXT_STEPS: s.text("Intro call next Tuesday."),
        HandoffIds.ESTIMATED_VALUE: s.text("48,000"),
        HandoffIds.PRODUCT_LINE: s.text("Analytics"),
        HandoffIds.PRIMARY_OWNER: s.user("U0BENCHOMAR"),
        HandoffIds.BACKUP_OWNER: s.user("U0BENCHBEA"),
    }
    fields.update({HandoffIds(name): value for name, value in overrides.items()})
    return s.state({str(block_id): value for block_id, value in fields.items()}, action_id=str(HandoffIds.INPUT))


# =============================================================================== timing

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


# =============================================================================== report

def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


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


# =============================================================================== the figures' floor

# October's (or any period's) figures per partner in ONE hand-written statement: three grouped
# subqueries joined to partners - the least a digest (bench_digest) or a scorecard (bench_scorecards)
# could ask the database. Parameters: :s and :e the period's instants, :d its end date.
FLOOR_SQL = """
WITH l AS (
  SELECT partner_id,
    SUM(CASE WHEN created_at >= :s AND created_at < :e AND direction = 'to_partner' THEN 1 ELSE 0 END) AS to_partner,
    SUM(CASE WHEN created_at >= :s AND created_at < :e AND direction = 'from_partner' THEN 1 ELSE 0 END) AS from_partner,
    SUM(CASE WHEN created_at >= :s AND created_at < :e AND accepted_at < :e THEN 1 ELSE 0 END) AS accepted,
    SUM(CASE WHEN first_outreach_by >= :s AND first_outreach_by < :e AND declined_at IS NULL THEN 1 ELSE 0 END) AS due,
    SUM(CASE WHEN first_outreach_by >= :s AND first_outreach_by < :e AND declined_at IS NULL
             AND first_outreach_at <= first_outreach_by THEN 1 ELSE 0 END) AS on_time,
    SUM(CASE WHEN stage = 'closed_won' AND closed_at >= :s AND closed_at < :e THEN 1 ELSE 0 END) AS wins,
    SUM(CASE WHEN stage = 'closed_won' AND closed_at >= :s AND closed_at < :e THEN closed_amount END) AS revenue
  FROM leads
  WHERE (created_at >= :s AND created_at < :e) OR (first_outreach_by >= :s AND first_outreach_by < :e)
     OR (closed_at >= :s AND closed_at < :e)
  GROUP BY partner_id),
a AS (
  SELECT partner_id,
    SUM(CASE WHEN done_at >= :s AND done_at < :e THEN 1 ELSE 0 END) AS done,
    SUM(CASE WHEN status <> 'cancelled' AND created_at < :e AND due_date < :d
             AND (done_at IS NULL OR done_at >= :e) THEN 1 ELSE 0 END) AS overdue
  FROM actions WHERE partner_id IS NOT NULL
  GROUP BY partner_id),
x AS (
  SELECT COALESCE(leads.partner_id, actions.partner_id) AS partner_id,
    SUM(CASE WHEN escalations.created_at >= :s THEN 1 ELSE 0 END) AS opened,
    SUM(CASE WHEN escalations.status = 'pending' OR escalations.decided_at >= :e THEN 1 ELSE 0 END) AS still_open
  FROM escalations LEFT JOIN leads ON leads.id = escalations.lead_id
  LEFT JOIN actions ON actions.id = escalations.action_id
  WHERE escalations.created_at < :e
  GROUP BY COALESCE(leads.partner_id, actions.partner_id))
SELECT partners.id, l.to_partner, l.from_partner, l.accepted, l.due, l.on_time, l.wins, l.revenue,
       a.done, a.overdue, x.opened, x.still_open
FROM partners LEFT JOIN l ON l.partner_id = partners.id LEFT JOIN a ON a.partner_id = partners.id
LEFT JOIN x ON x.partner_id = partners.id
"""
