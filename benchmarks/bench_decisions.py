#!/usr/bin/env python
"""HTTP answer times of a manager's decisions (Approve, the decide modal) and `/action list`, served
like production, against a bare Bolt app's floor.

    python benchmarks/bench_decisions.py [--requests 300] [--warmup 30] [--database-url URL]
                                         [--paced 40] [--paced-gap-ms 200]

What it does, in order:

1. Creates a database with benchmarks/harness.py (a fresh SQLite file, or the --database-url one
   with its public schema dropped and recreated), runs the migrations and bulk loads, through
   SQLAlchemy core inserts: the harness's 1,000 partners and 10,000 leads (with
   their handoffs, conflicts, audit events and sent cards), 400 performance issues, 20,000 action
   items (the manager MANAGER owns 500 open ones and some closed ones) and 3,000 escalations: a few
   hundred pending at level 0 with MANAGER as the only approver and their level due in the future,
   the rest other people's, decided, expired or climbed. Every escalation's cards (approver DMs,
   the escalation channel, the requester's) are outbox rows marked sent, rendered by the real
   builders (messages.escalations, messages.actions) from the store's read models once the rows are
   in; the cards of the ones the run decides are posted to the Slack stand-in first, so the app's
   chat.update calls find them.
2. Starts the Slack stand-in and the real web process with the Procfile's `web:` line (bound to
   127.0.0.1). The stand-in is slackkit.webapi's SlackStandin, served by this file
   (`--serve-standin`) with one read-only addition: GET /bench/calls lists the calls it answered,
   so the run can check which decide modals the clicks opened and use their private_metadata.
3. Times, client-side, one request at a time over one keep-alive connection (SlackSimulator):
   - an Approve click on a pending escalation's card, each on a distinct escalation, shaped as
     Slack sends it from the manager's DM (value "<id>:0", the card's ts). partnerbot acks and,
     after the answer, checks the approver and opens the decide modal (views.open);
   - `/action list` by the manager (500 open actions): the answer is the ack; the list goes to the
     response_url after it;
   - the decide modal's submission (view_submission, approve with a note) for each escalation a
     click opened, with the view id and private_metadata the modal was opened with. partnerbot
     decides before it answers (the transaction: conditional UPDATE, audit, every card re-rendered
     into the outbox) and sends the Slack messages after.
   Each operation: --warmup unrecorded requests, then --requests recorded ones, back to back.
   Then a paced pass (partnerbot only, --paced requests per operation on other escalations, one
   every --paced-gap-ms): answers and results without the queue of earlier requests' work.
4. Does the same against benchmarks/bare_app.py (Bolt acking; the click also opens a one-field
   modal, the command also answers on the response_url, as partnerbot does after its ack).
5. Measures the list's own cost in-process: handlers.actions.command.list_for (store.actions
   .open_actions + messages.actions.actions_list) for MANAGER, --requests times, with the query and
   the message build also timed apart.
6. Prints the table (target: partnerbot/bare <= 1.5 at p50 and p99, partnerbot p99 <= 150 ms) and,
   for information, how long after the request the stand-in saw the result (decide modal opened,
   list posted, every card updated) - the same CLOCK_MONOTONIC on both sides (Linux). Writes
   bench-results/decisions.json.
   Checks afterwards: each click opened a decide modal for its escalation and changed nothing in
   the database, nobody was told of a refusal or failure, each submission approved its escalation
   (decided_by MANAGER, the note kept, audited), every card copy was updated and every message
   sent (outbox rows "sent"), the untouched escalations are still pending, and the server logs
   show no errors.

It reports; it does not assert targets. Exit 1 only if a request failed or a check failed. Every
process it starts is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import secrets
import signal
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from store import clock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make bot/, store/ and benchmarks/ importable

from sqlalchemy import func, select

from benchmarks.harness import (
    MANAGERS,
    N_PARTNERS,
    PROBLEMS,
    REPS,
    TARGET_P99_MS,
    TARGET_RATIO,
    Dataset,
    Processes,
    RunFailed,
    build_dataset,
    bulk_load,
    count_rows,
    dm_channel,
    finish,
    lead_messages,
    load,
    log_problems,
    machine_and_target,
    made_up_ts,
    next_outbox_id,
    outbox_rows,
    post_to_standin,
    print_table,
    raise_interrupt,
    ratio,
    reset_database,
    sent_row,
    start_standin,
    start_web,
    stop_on_signals,
    summarize,
    web_env,
)
from messages import actions as action_builders
from messages import escalations as escalation_builders
from slackkit import simulator as s
from slackkit.simulator import Answer, SlackSimulator
from slackkit.webapi import SlackStandin, _json
from store.actions import action_view
from store.db import make_engine, normalise_database_url
from store.escalations import escalation_view
from bot.compose import session_factory
from store.migrate import upgrade
from store.models import (
    LEAD_REF_OFFSET,
    ActionItem,
    AuditEvent,
    Escalation,
    OutboxMessage,
    PerformanceIssue,
)
from store.views import ActionView, EscalationView
from store.playbook import Playbook, load_playbook

MANAGER = "U0BENCHMGR"  # approver of the pending escalations; owner of 500 open actions
MANAGER_OPEN_ACTIONS = 500
MANAGER_CLOSED_ACTIONS = 200
N_ACTIONS = 20_000
N_ISSUES = 400
N_ESCALATIONS = 3_000  # in all, the manager's pending ones included
SPARE_PENDING = 70  # the manager's pending escalations nobody touches (must stay pending)
NOTE = "Approved as asked: keep the margin above 20% and sign this quarter."
OPERATIONS = {
    "click": "Approve click (ack)",
    "list": "/action list (ack)",
    "decide": "decide-modal submission",
}
BARE_FLOOR = {"click": "button ack + views.open", "list": "command ack + respond", "decide": "view submission ack"}
AFTER = {
    "click": "decide modal opened (views.open)",
    "list": "list posted (response_url)",
    "decide": "every card updated (chat.update)",
}
ACTION_VERBS = ["Call", "Review the QBR deck with", "Send the co-marketing plan to", "Agree MDF budget with",
                "Run enablement for", "Fix deal registration for", "Chase the signed agreement from",
                "Prepare the joint pitch with", "Audit the pipeline of", "Book the executive sponsor call with"]
ACTION_THINGS = ["before the quarter closes", "for the EMEA push", "on the renewal", "about the certification gap",
                 "for the Q3 forecast", "on the pricing exception", "", ""]
SUCCESS = ["Signed and filed in the CRM.", "Two opportunities registered.", "The partner's team certified.",
           "Pipeline reviewed and cleaned up.", None, None]
IMPACTS = ["$120k pipeline this quarter", "Unblocks three stuck deals", "Lower churn risk on the renewal", None]
REASONS = [
    "The customer asks 15% off to sign this quarter; the partner says the competitor offered 20%.",
    "Both partners registered the customer within the protection window and both have met them.",
    "The partner wants to resell outside their market for this one customer, who is moving HQ.",
    "Neither owner accepted the lead in time; the customer is waiting for a call.",
    "The partner asks for a one-off extension of their certification deadline for this deal.",
]
ABOUTS = ["Renewal discount", "Conflict on a shared customer", "Out-of-market resale", "SLA breach", "Certification"]
SEVERITY_WEIGHTS = {"low": 15, "medium": 45, "high": 30, "critical": 10}
ISSUE_CATEGORIES = ["capability_gap", "misaligned_incentives", "messaging", "enablement", "channel_conflict", "other"]


# =============================================================================== the stand-in, inspectable

class InspectableStandin(SlackStandin):
    """slackkit.webapi's SlackStandin plus GET /bench/calls?since=N&views_since=M: what it answered
    (one line per call, in order) and the views it stored, so the run can check what the app did."""

    def handle(self, path: str, headers: Any, body: bytes):
        parts = urlsplit(path)
        if parts.path == "/bench/calls":
            query = dict(parse_qsl(parts.query))
            return _json(200, self.listing(int(query.get("since", 0)), int(query.get("views_since", 0))))
        return super().handle(path, headers, body)

    def listing(self, since: int, views_since: int) -> dict:
        with self._lock:
            calls = self.calls[since:]
            total = len(self.calls)
            views = list(self.views.values())
        out = []
        for call in calls:
            line: dict[str, Any] = {"method": call.method, "ok": call.ok, "error": call.error, "at": call.at}
            args = call.args
            if call.method == "views.open":
                view = args.get("view") if isinstance(args.get("view"), dict) else {}
                line.update(callback_id=view.get("callback_id"), private_metadata=view.get("private_metadata"))
            elif call.method in ("chat.update", "chat.postMessage"):
                line.update(channel=args.get("channel"), ts=args.get("ts"))
            elif call.method == "response_url":
                blocks = args.get("blocks")
                line.update(key=args.get("_key"), text=str(args.get("text", ""))[:300],
                            blocks=len(blocks) if isinstance(blocks, list) else 0)
            out.append(line)
        stored = [{"id": v.get("id"), "callback_id": v.get("callback_id"), "private_metadata": v.get("private_metadata"),
                   "inputs": [[b.get("block_id"), (b.get("element") or {}).get("type")]
                              for b in v.get("blocks") or [] if isinstance(b, dict) and b.get("type") == "input"]}
                  for v in views[views_since:]]
        return {"total": total, "calls": out, "views_total": len(views), "views": stored}


def serve_standin(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="the inspectable Slack stand-in (used by the benchmark)")
    parser.add_argument("--serve-standin", action="store_true")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    opts = parser.parse_args(argv)
    standin = InspectableStandin(opts.token, port=opts.port).start()
    print(standin.url, flush=True)
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


class StandinLog:
    """Reads /bench/calls incrementally."""

    def __init__(self, root: str):
        self.root = root
        self.since = 0
        self.views_since = 0

    def fetch(self, *, advance: bool = True) -> tuple[list[dict], list[dict]]:
        url = f"{self.root}/bench/calls?since={self.since}&views_since={self.views_since}"
        with urllib.request.urlopen(url, timeout=30) as response:
            data = json.loads(response.read())
        if advance:
            self.since, self.views_since = data["total"], data["views_total"]
        return data["calls"], data["views"]

    def mark(self) -> None:
        self.fetch()


# =============================================================================== data set

@dataclass
class DecisionData:
    base: Dataset
    issues: list[dict]
    actions: list[dict]
    escalations: list[dict]
    audit: list[dict]
    targets: list[int]  # the manager's pending escalations the run clicks and decides, in order
    spare: list[int]  # the manager's pending escalations nobody touches


def _title(rng: random.Random, partner: str) -> str:
    return " ".join(w for w in (rng.choice(ACTION_VERBS), partner, rng.choice(ACTION_THINGS)) if w)[:200]


def build_decisions(rng: random.Random, now: dt.datetime, playbook: Playbook, base: Dataset, n_targets: int) -> DecisionData:
    today = now.astimezone(playbook.tz).date()
    partners = {p["id"]: p for p in base.partners}
    leads = base.leads
    people = REPS + MANAGERS

    issues = []
    for iid in range(1, N_ISSUES + 1):
        created = now - dt.timedelta(days=rng.uniform(5, 300))
        issues.append({
            "id": iid, "partner_id": rng.randint(1, N_PARTNERS), "category": rng.choice(ISSUE_CATEGORIES),
            "description": rng.choice(PROBLEMS), "impact_estimate": rng.choice(IMPACTS),
            "cohort": rng.choice([None, "EMEA resellers", "New gold partners", "MSPs in NA"]),
            "root_cause": rng.choice([None, "No certified engineers in region.", "Incentives reward new logos only."]),
            "status": rng.choice(["open", "open", "resolved"]), "created_by": rng.choice(MANAGERS),
            "created_at": created, "updated_at": created,
        })

    # actions: the manager's open and closed ones spread among everyone else's
    specs = ([(MANAGER, "open")] * MANAGER_OPEN_ACTIONS
             + [(MANAGER, rng.choice(["done", "done", "cancelled"])) for _ in range(MANAGER_CLOSED_ACTIONS)])
    for _ in range(N_ACTIONS - len(specs)):
        specs.append((rng.choice(people), rng.choices(["open", "done", "cancelled"], [45, 45, 10])[0]))
    rng.shuffle(specs)
    actions, audit = [], []
    for aid, (owner, status) in enumerate(specs, start=1):
        created = now - dt.timedelta(days=rng.uniform(1, 240))
        creator = owner if rng.random() < 0.3 else rng.choice([p for p in people if p != owner][:40] + [MANAGER])
        if creator == owner and owner != MANAGER and rng.random() < 0.5:
            creator = MANAGER
        if status == "open":
            due = today + dt.timedelta(days=rng.randint(-30, 60))
        else:
            due = (created + dt.timedelta(days=rng.randint(1, 45))).date()
        partner_id = lead_id = issue_id = None
        r = rng.random()
        if r < 0.35:
            partner_id = rng.randint(1, N_PARTNERS)
        elif r < 0.65:
            lead = rng.choice(leads)
            lead_id, partner_id = lead["id"], lead["partner_id"]
        elif r < 0.80:
            issue = rng.choice(issues)
            issue_id, partner_id = issue["id"], issue["partner_id"]
        name = partners[partner_id]["name"] if partner_id else rng.choice(["the partner team", "RevOps", "finance"])
        snoozed = None
        if status == "open" and rng.random() < 0.12:
            snoozed = now + dt.timedelta(hours=rng.uniform(-48, 24 * 6))
        done_at = done_by = outcome = None
        updated = created
        if status == "done":
            done_at = min(now, created + dt.timedelta(days=rng.uniform(0.5, 40)))
            done_by, outcome, updated = owner, rng.choice([None, "Done; the partner signed.", "Call held, next steps agreed."]), done_at
        action = {
            "id": aid, "title": _title(rng, name), "owner_id": owner, "created_by": creator, "due_date": due,
            "success_criteria": rng.choice(SUCCESS), "impact_estimate": rng.choice(IMPACTS),
            "priority": rng.choices(["low", "medium", "high", "urgent"], [20, 50, 22, 8])[0], "status": status,
            "snoozed_until": snoozed, "outcome": outcome, "done_at": done_at, "done_by": done_by,
            "partner_id": partner_id, "lead_id": lead_id, "issue_id": issue_id,
            "created_at": created, "updated_at": updated,
        }
        actions.append(action)
        ref = f"A-{aid + LEAD_REF_OFFSET}"
        audit.append({"at": created, "actor_id": creator, "action": "action.created", "object_type": "action",
                      "object_id": aid, "before": None,
                      "after": {"ref": ref, "title": action["title"], "owner_id": owner, "due_date": due.isoformat(),
                                "priority": action["priority"], "status": "open"}})
        if status != "open":
            audit.append({"at": done_at or updated, "actor_id": owner, "action": f"action.{status}",
                          "object_type": "action", "object_id": aid, "before": {"status": "open"},
                          "after": {"status": status, "outcome": outcome}})

    # escalations: the manager's pending ones (targets + spare) spread among everyone else's
    levels = playbook.escalation.levels
    kinds = [k.key for k in playbook.escalation.requests]
    n_mine = n_targets + SPARE_PENDING
    states = ["mine"] * n_mine
    for _ in range(max(0, N_ESCALATIONS - n_mine)):
        states.append(rng.choices(["pending0", "pending1", "approved", "rejected", "expired", "withdrawn"],
                                  [12, 6, 45, 20, 9, 8])[0])
    rng.shuffle(states)
    escalations, mine = [], []
    for eid, state in enumerate(states, start=1):
        requester = rng.choice(REPS)
        lead_id = action_id = None
        r = rng.random()
        if state == "mine" or r < 0.5:
            lead = rng.choice(leads)
            lead_id = lead["id"]
            about = f"L-{lead['id'] + LEAD_REF_OFFSET} · {lead['company']}"
        elif r < 0.75:
            action = rng.choice(actions)
            action_id = action["id"]
            about = f"A-{action['id'] + LEAD_REF_OFFSET} · {action['title']}"[:300]
        else:
            about = f"{rng.choice(ABOUTS)} for {partners[rng.randint(1, N_PARTNERS)]['name']}"
        if state == "mine":
            created = now - dt.timedelta(hours=rng.uniform(0.2, 6))
        else:
            created = now - dt.timedelta(days=rng.uniform(0.5, 200))
        level, approvers, started = 0, [rng.choice(MANAGERS)], created
        due = playbook.calendar.add_business_hours(created, levels[0].time_limit_hours)
        status, decided_by, decided_at, note = "pending", None, None, None
        climbed = None
        if state == "mine":
            approvers = [MANAGER]
            due = now + dt.timedelta(hours=rng.uniform(24, 96))  # in the future: the clock leaves it alone
            mine.append(eid)
        elif state == "pending0":
            due = now + dt.timedelta(hours=rng.uniform(1, 48))
        elif state == "pending1" and len(levels) > 1:
            climbed = due
            level, started = 1, due
            approvers = [u for u in levels[1].approvers if u[0] in "UW"] or [rng.choice(MANAGERS)]
            due = now + dt.timedelta(hours=rng.uniform(1, 72))
        else:
            if state == "pending1":
                state = "approved"
            status = state
            decided_at = created + dt.timedelta(hours=rng.uniform(0.5, 30))
            decided_by = {"expired": "system:clock", "withdrawn": requester}.get(state) or \
                (MANAGER if rng.random() < 0.2 else approvers[0])
            note = rng.choice(["Fine this once.", "Not this quarter.", None]) if state in ("approved", "rejected") else None
        updated = decided_at or started
        escalations.append({
            "id": eid, "kind": rng.choice(kinds), "about": about[:300], "reason": rng.choice(REASONS),
            "severity": rng.choices(list(SEVERITY_WEIGHTS), list(SEVERITY_WEIGHTS.values()))[0],
            "impact": rng.choice(IMPACTS), "requester_id": requester, "lead_id": lead_id, "action_id": action_id,
            "level": level, "approver_ids": approvers, "level_started_at": started, "level_due_at": due,
            "status": status, "decided_by": decided_by, "decided_at": decided_at, "decision_note": note,
            "created_at": created, "updated_at": updated,
        })
        ref = f"E-{eid + LEAD_REF_OFFSET}"
        audit.append({"at": created, "actor_id": requester, "action": "escalation.raised", "object_type": "escalation",
                      "object_id": eid, "before": None,
                      "after": {"ref": ref, "about": about[:300], "lead_id": lead_id, "action_id": action_id,
                                "level": levels[0].name, "status": "pending", "approver_ids": approvers if level == 0 else []}})
        if climbed is not None:
            audit.append({"at": climbed, "actor_id": "system:clock", "action": "escalation.climbed",
                          "object_type": "escalation", "object_id": eid, "before": {"status": "pending", "level": 0},
                          "after": {"status": "pending", "level": 1, "approver_ids": approvers, "decided_by": None,
                                    "decision_note": None, "from": levels[0].name, "to": levels[1].name,
                                    "hours": levels[0].time_limit_hours}})
        if decided_at is not None:
            audit.append({"at": decided_at, "actor_id": decided_by, "action": f"escalation.{status}",
                          "object_type": "escalation", "object_id": eid, "before": {"status": "pending"},
                          "after": {"status": status, "decided_by": decided_by, "decision_note": note}})
    rng.shuffle(mine)
    if len(mine) < n_targets:
        raise RunFailed(f"only {len(mine)} pending escalations for {MANAGER}; {n_targets} needed")
    return DecisionData(base, issues, actions, escalations, audit, mine[:n_targets], mine[n_targets:])


def read_models(url: str, playbook: Playbook) -> tuple[dict[int, EscalationView], dict[int, ActionView]]:
    """Every escalation's and action's read model as the app builds it (store.escalations.escalation_view,
    store.actions.action_view), read from the loaded database."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            escalations = {e.id: escalation_view(session, e, playbook)
                           for e in session.scalars(select(Escalation).order_by(Escalation.id))}
            actions = {a.id: action_view(session, a, playbook)
                       for a in session.scalars(select(ActionItem).order_by(ActionItem.id))}
    finally:
        engine.dispose()
    return escalations, actions


def escalation_message(view: EscalationView, kind: str, level: int) -> dict:
    """An escalation's card as the app renders each copy: the requester's, the approvers' (DMs) and the
    escalation channel's, for the level it was sent at."""
    if kind == "escalation_requester":
        return escalation_builders.requester_card(view)
    return escalation_builders.escalation_card(view, card_level=level,
                                               audience="channel" if kind == "escalation_notice" else "approver")


def card_jobs(data: DecisionData, playbook: Playbook,
              views: dict[int, EscalationView]) -> list[tuple[tuple[int, str, str], str, dict]]:
    """The cards of the escalations the run decides, to post to the stand-in first:
    ((escalation id, kind, audience), channel, message)."""
    by_id = {e["id"]: e for e in data.escalations}
    channel = playbook.escalation.channel
    jobs = []
    for eid in data.targets:
        esc, view = by_id[eid], views[eid]
        for person in esc["approver_ids"]:
            jobs.append(((eid, "escalation_card", person), person, escalation_message(view, "escalation_card", 0)))
        if channel:
            jobs.append(((eid, "escalation_notice", channel), channel, escalation_message(view, "escalation_notice", 0)))
        jobs.append(((eid, "escalation_requester", esc["requester_id"]), esc["requester_id"],
                     escalation_message(view, "escalation_requester", 0)))
    return jobs


def decision_outbox(data: DecisionData, playbook: Playbook, seeded: dict, first_id: int,
                    escalations: dict[int, EscalationView], actions: dict[int, ActionView],
                    now: dt.datetime) -> list[dict]:
    """The cards every action and escalation already had sent, continuing the outbox ids."""
    rows: list[dict] = []
    fake_ts = 1_650_000_000_000_000
    channel = playbook.escalation.channel

    def add(at, to, payload, kind, subject, key=None, where=None):
        nonlocal fake_ts
        fake_ts += 100
        rows.append(sent_row(first_id + len(rows), at=at, channel=to, message=payload, kind=kind, subject=subject,
                             where=where or (dm_channel(to), made_up_ts(fake_ts)), key=key))

    for action in data.actions:
        subject, view = ("action", action["id"]), actions[action["id"]]
        add(action["created_at"], action["owner_id"],
            action_builders.action_card(view, audience=action["owner_id"], now=now), "action_card", subject)
        if action["created_by"] != action["owner_id"]:
            add(action["created_at"], action["created_by"], action_builders.created_notice(view), "action_created",
                subject)
    levels = playbook.escalation.levels
    for esc in data.escalations:
        eid, subject, view = esc["id"], ("escalation", esc["id"]), escalations[esc["id"]]
        for level in range(esc["level"] + 1):
            # an earlier level's approvers: someone the level resolved to (its users, else a manager)
            people = esc["approver_ids"] if level == esc["level"] else (
                [u for u in levels[level].approvers if u[0] in "UW"] or [MANAGERS[eid % len(MANAGERS)]])
            at = esc["created_at"] if level == 0 else esc["level_started_at"]
            for person in people:
                add(at, person, escalation_message(view, "escalation_card", level), "escalation_card",
                    subject, f"esc:{eid}:L{level}:{person}", seeded.get((eid, "escalation_card", person)))
            if channel:
                add(at, channel, escalation_message(view, "escalation_notice", level), "escalation_notice",
                    subject, f"esc:{eid}:L{level}:{channel}", seeded.get((eid, "escalation_notice", channel)))
        add(esc["created_at"], esc["requester_id"], escalation_message(view, "escalation_requester", 0),
            "escalation_requester", subject, f"esc:{eid}:requester",
            seeded.get((eid, "escalation_requester", esc["requester_id"])))
    return rows


def load_decisions(url: str, data: DecisionData) -> None:
    """The issues, actions, escalations and their audit events (statistics come with the outbox after)."""
    bulk_load(url, [(PerformanceIssue, data.issues), (ActionItem, data.actions), (Escalation, data.escalations),
                    (AuditEvent, data.audit)], analyze="none")


def decision_counts(url: str) -> dict[str, int]:
    counts = count_rows(url, {"performance_issues": PerformanceIssue, "actions": ActionItem,
                              "escalations": Escalation, "audit_events": AuditEvent, "outbox": OutboxMessage})
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counts["manager_open_actions"] = conn.scalar(select(func.count()).select_from(ActionItem).where(
                ActionItem.owner_id == MANAGER, ActionItem.status == "open"))
            counts["manager_pending_escalations"] = sum(
                1 for (ids,) in conn.execute(select(Escalation.approver_ids).where(Escalation.status == "pending"))
                if MANAGER in (ids or []))
            return counts
    finally:
        engine.dispose()


# =============================================================================== measuring

def _metadata(escalation_id: int) -> str:
    return json.dumps({"escalation_id": escalation_id, "level": 0, "decision": "approve"})


def decide_state(inputs: list[list[str]]) -> dict:
    """The decide modal's state as Slack reports it: the note typed, no predefined response chosen."""
    fields = {}
    for block_id, element in inputs or [["note", "plain_text_input"]]:
        if block_id == "note":
            fields["note"] = s.text(NOTE)
        elif element == "static_select":
            fields[block_id] = s.select(None)
        else:
            fields[block_id] = s.text(None)
    return s.state(fields)


def check_answer(op: str, answer: Answer) -> str | None:
    if answer.status != 200:
        return f"HTTP {answer.status}: {answer.body[:200]}"
    if answer.body.strip():
        return f"unexpected answer body: {answer.body[:300]}"  # e.g. response_action=errors on the decide modal
    return None


class Run:
    """One app's measured run: clicks, then the list, then the decisions."""

    def __init__(self, label: str, url: str, secret: str, standin_root: str, log: StandinLog,
                 targets: list[int], cards: dict, warmup: int, requests: int, gap: float = 0.0):
        self.label, self.secret, self.log = label, secret, log
        self.standin_root = standin_root
        self.sim = SlackSimulator(url, secret, response_url=f"{standin_root}/response/{label}-click")
        self.targets, self.cards = targets[:warmup + requests], cards
        self.warmup, self.requests, self.gap = warmup, requests, gap
        self.list_replies: dict[int, dict] = {}
        self.timings: dict[str, dict[int, float]] = {op: {} for op in OPERATIONS}
        self.sent_at: dict[str, dict[int, float]] = {op: {} for op in OPERATIONS}
        self.after: dict[str, dict[int, float]] = {op: {} for op in OPERATIONS}
        self.failures: list[str] = []
        self.views: dict[int, dict] = {}  # escalation id -> the decide modal the click opened
        self.calls: list[dict] = []  # what the stand-in answered during this run
        self.phase_seconds: dict[str, float] = {}

    def _one(self, op: str, i: int, send) -> None:
        record = i >= self.warmup
        self.sent_at[op][i] = time.monotonic()
        try:
            answer = send(i)
        except Exception as error:  # noqa: BLE001 - connection refused, reset, timeout
            self.failures.append(f"{self.label} {OPERATIONS[op]} #{i}: {type(error).__name__}: {error}")
            return
        problem = check_answer(op, answer)
        if problem:
            self.failures.append(f"{self.label} {OPERATIONS[op]} #{i}: {problem}")
        elif record:
            self.timings[op][i] = answer.seconds
        if self.gap:
            time.sleep(self.gap)  # paced: the work after the answer finishes before the next request
        if len(self.failures) > 20:
            raise RunFailed(f"{self.label}: too many failed requests:\n  " + "\n  ".join(self.failures[:20]))

    def _phase(self, op: str, send) -> None:
        started = time.monotonic()
        for i in range(self.warmup + self.requests):
            self._one(op, i, send)
        self.phase_seconds[op] = time.monotonic() - started
        print(f"  {self.label:10} {OPERATIONS[op]:28} {self.warmup}+{self.requests} requests in "
              f"{self.phase_seconds[op]:5.1f}s", flush=True)

    def _collect(self, done, what: str, timeout: float = 30) -> None:
        """Read the stand-in until `done(calls so far)` or the timeout (the work after the answers)."""
        deadline = time.monotonic() + timeout
        while True:
            calls, views = self.log.fetch()
            self.calls += calls
            for view in views:
                if view["callback_id"] == "escalation_decide_submit":
                    try:
                        eid = int(json.loads(view["private_metadata"] or "{}").get("escalation_id"))
                    except (TypeError, ValueError):
                        continue
                    self.views[eid] = view
            if done():
                return
            if time.monotonic() > deadline:
                self.failures.append(f"{self.label}: {what} did not finish within {timeout:.0f}s")
                return
            time.sleep(0.1)

    def clicks(self) -> None:
        targets = self.targets

        def send(i: int) -> Answer:
            eid = targets[i]
            channel, ts = self.cards[(eid, "escalation_card", MANAGER)]
            return self.sim.click("escalation_approve", f"{eid}:0", user_id=MANAGER, channel_id=channel,
                                  message_ts=ts, block_id="escalation_actions")

        self.sim.response_url = f"{self.standin_root}/response/{self.label}-click"
        self._phase("click", send)
        self._collect(lambda: all(t in self.views for t in targets), "opening the decide modals")
        opened = {}
        for call in self.calls:
            if call["method"] == "views.open" and call["ok"] and call.get("callback_id") == "escalation_decide_submit":
                try:
                    opened.setdefault(int(json.loads(call["private_metadata"])["escalation_id"]), call["at"])
                except (TypeError, ValueError, KeyError):
                    pass
        for i, eid in enumerate(targets):
            if i in self.sent_at["click"] and eid in opened and i >= self.warmup:
                self.after["click"][i] = opened[eid] - self.sent_at["click"][i]

    def lists(self) -> None:
        n = self.warmup + self.requests

        def send(i: int) -> Answer:
            self.sim.response_url = f"{self.standin_root}/response/{self.label}-list-{i}"
            return self.sim.command("/action", "list", user_id=MANAGER, channel_id="C0SALES01")

        self._phase("list", send)
        self.sim.response_url = f"{self.standin_root}/response/{self.label}-click"

        def posted() -> dict[int, dict]:
            prefix = f"{self.label}-list-"
            return {int(c["key"][len(prefix):]): c for c in self.calls
                    if c["method"] == "response_url" and str(c.get("key", "")).startswith(prefix)}

        self._collect(lambda: len(posted()) >= n, "posting the lists")
        self.list_replies = posted()
        for i, call in self.list_replies.items():
            if i >= self.warmup and i in self.sent_at["list"]:
                self.after["list"][i] = call["at"] - self.sent_at["list"][i]

    def decisions(self, wait_for_updates: bool) -> None:
        targets = self.targets

        def send(i: int) -> Answer:
            eid = targets[i]
            view = self.views.get(eid)
            if view is None:  # the click did not open it (reported by the check); submit what it would carry
                return self.sim.submit("escalation_decide_submit", decide_state([]), user_id=MANAGER,
                                       private_metadata=_metadata(eid))
            return self.sim.submit("escalation_decide_submit", decide_state(view["inputs"]), user_id=MANAGER,
                                   private_metadata=view["private_metadata"], view_id=view["id"])

        self._phase("decide", send)
        if not wait_for_updates:
            return
        where = {}
        for (eid, kind, audience), place in self.cards.items():
            where[tuple(place)] = eid
        copies = defaultdict(int)
        for (eid, _kind, _audience) in self.cards:
            copies[eid] += 1
        wanted = set(targets)

        def updated() -> dict[int, list[float]]:
            seen: dict[int, list[float]] = {}
            for call in self.calls:
                if call["method"] == "chat.update" and call["ok"]:
                    eid = where.get((call.get("channel"), call.get("ts")))
                    if eid in wanted:
                        seen.setdefault(eid, []).append(call["at"])
            return seen

        self._collect(lambda: all(len(updated().get(e, [])) >= copies[e] for e in wanted), "updating the cards")
        seen = updated()
        for i, eid in enumerate(targets):
            if i >= self.warmup and len(seen.get(eid, [])) >= copies[eid]:
                self.after["decide"][i] = max(seen[eid][:copies[eid]]) - self.sent_at["decide"][i]

    def close(self) -> None:
        self.sim.close()


# =============================================================================== in-process: the list's own cost

def measure_list_in_process(url: str, playbook: Playbook, n: int, warmup: int) -> dict:
    """handlers.actions.command.list_for for MANAGER (the query and the message), n times; also the
    query (store.actions.open_actions) and the build (messages.actions.actions_list) apart."""
    from handlers.actions.command import list_for
    from messages import actions as views
    from store import actions
    
    engine = make_engine(url)
    sessions = session_factory(engine)
    services = SimpleNamespace(playbook=playbook, sessions=sessions)
    total, query, build, dump = [], [], [], []
    message: dict = {}
    try:
        for i in range(warmup + n):
            t0 = time.perf_counter()
            message = list_for(services, MANAGER, "")
            t1 = time.perf_counter()
            json.dumps(message)  # what respond() sends
            t2 = time.perf_counter()
            with sessions() as session:
                found, count = actions.open_actions(session, playbook=playbook, owner_id=MANAGER)
            t3 = time.perf_counter()
            now = clock.now()
            views.actions_list(found, total=count, heading=f"Your open actions ({count})", empty="", mine=True,
                               today=actions.today_in(playbook, now), now=now)
            t4 = time.perf_counter()
            if i >= warmup:
                total.append(t1 - t0)
                dump.append(t2 - t1)
                query.append(t3 - t2)
                build.append(t4 - t3)
    finally:
        engine.dispose()
    blocks = message.get("blocks") or []
    return {
        "list_for": summarize(total), "open_actions_query": summarize(query), "actions_list_build": summarize(build),
        "json_dumps": summarize(dump), "payload_bytes": len(json.dumps(message)), "blocks": len(blocks),
        "heading": message.get("text"),
    }


# =============================================================================== checking

def check_run(url: str, run: Run, spare: list[int], first_new_outbox: int, clicks_left_pending: int,
              timeout: float = 30) -> dict:
    """After a partnerbot run: the clicks opened modals and changed nothing; the submissions approved;
    every card copy was updated and every message sent; the rest is untouched."""
    n = run.warmup + run.requests
    targets = run.targets
    problems: list[str] = []
    missing = [e for e in targets if e not in run.views]
    if missing:
        problems.append(f"{len(missing)} of {n} Approve clicks opened no decide modal (e.g. E-{missing[0] + LEAD_REF_OFFSET})")
    wrong = [e for e, v in run.views.items() if json.loads(v["private_metadata"] or "{}") != json.loads(_metadata(e))]
    if wrong:
        problems.append(f"{len(wrong)} decide modals carry unexpected private_metadata, e.g. {run.views[wrong[0]]}")
    if clicks_left_pending != n:
        problems.append(f"after the clicks alone {clicks_left_pending} of {n} escalations were still pending")
    refusals = [c for c in run.calls if c["method"] == "response_url" and c.get("key") == f"{run.label}-click"]
    if refusals:
        problems.append(f"{len(refusals)} answers to clicks or submissions on the response_url, e.g. {refusals[0]['text']!r}")
    replies = run.list_replies
    expected_heading = f"Your open actions ({MANAGER_OPEN_ACTIONS})"
    bad_lists = [c for c in replies.values() if not c["ok"] or expected_heading not in c["text"] or c["blocks"] != 42]
    if len(replies) != n or bad_lists:
        problems.append(f"{n} /action list commands: {len(replies)} lists posted, {len(bad_lists)} unexpected, e.g. "
                        f"{(bad_lists or [{}])[0]}")
    failed_calls = [c for c in run.calls if not c["ok"]]
    if failed_calls:
        problems.append(f"the stand-in refused {len(failed_calls)} calls, e.g. {failed_calls[0]}")

    engine = make_engine(url)
    try:
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:  # messages are sent after the answers: let that work finish
            with engine.connect() as conn:
                pending = conn.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.id >= first_new_outbox, OutboxMessage.status == "pending"))
            quiet = quiet + 1 if not pending else 0
            if quiet >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            rows = conn.execute(select(Escalation.id, Escalation.status, Escalation.decided_by, Escalation.decision_note)
                                .where(Escalation.id.in_(targets))).all()
            approved = [r.id for r in rows if (r.status, r.decided_by, r.decision_note) == ("approved", MANAGER, NOTE)]
            audited = conn.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "escalation.approved", AuditEvent.actor_id == MANAGER,
                AuditEvent.object_type == "escalation", AuditEvent.object_id.in_(targets)))
            spare_pending = conn.scalar(select(func.count()).select_from(Escalation).where(
                Escalation.id.in_(spare), Escalation.status == "pending"))
            by_status = dict(conn.execute(select(OutboxMessage.status, func.count()).where(
                OutboxMessage.id >= first_new_outbox).group_by(OutboxMessage.status)).all())
            by_kind = {f"{m} {k}": c for m, k, c in conn.execute(
                select(OutboxMessage.method, OutboxMessage.kind, func.count()).where(
                    OutboxMessage.id >= first_new_outbox).group_by(OutboxMessage.method, OutboxMessage.kind)).all()}
            errors = conn.execute(select(OutboxMessage.kind, OutboxMessage.last_error).where(
                OutboxMessage.id >= first_new_outbox, OutboxMessage.status != "sent").limit(5)).all()
            open_actions = conn.scalar(select(func.count()).select_from(ActionItem).where(
                ActionItem.owner_id == MANAGER, ActionItem.status == "open"))
    finally:
        engine.dispose()
    if len(approved) != n:
        problems.append(f"{n} decide submissions approved {len(approved)} escalations (with {MANAGER} and the note)")
    if audited != n:
        problems.append(f"{n} approvals, {audited} escalation.approved audit events")
    if spare_pending != len(spare):
        problems.append(f"{len(spare) - spare_pending} escalations nobody touched are no longer pending")
    if set(by_status) - {"sent"}:
        problems.append(f"Slack messages not all sent: {by_status}; e.g. {[tuple(e) for e in errors]}")
    copies = defaultdict(int)
    chosen = set(targets)
    for (eid, kind, _audience) in run.cards:
        if eid in chosen:
            copies[kind] += 1
    for kind, count in copies.items():
        if by_kind.get(f"chat.update {kind}", 0) != count:
            problems.append(f"expected {count} chat.update {kind}, the outbox has {by_kind.get(f'chat.update {kind}', 0)}")
    if by_kind.get("chat.postMessage escalation_decided", 0) < n:
        problems.append(f"expected >= {n} decision notices, the outbox has {by_kind}")
    if open_actions != MANAGER_OPEN_ACTIONS:
        problems.append(f"{MANAGER} has {open_actions} open actions after the run, not {MANAGER_OPEN_ACTIONS}")
    return {
        "decide_modals_opened": n - len(missing), "left_pending_by_clicks": clicks_left_pending,
        "lists_posted": len(replies), "escalations_approved": len(approved), "approvals_audited": audited,
        "untouched_still_pending": spare_pending, "outbox_by_status": by_status, "outbox_by_kind": by_kind,
        "problems": problems,
    }


def pending_count(url: str, ids: list[int]) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Escalation).where(
                Escalation.id.in_(ids), Escalation.status == "pending"))
    finally:
        engine.dispose()


# =============================================================================== report

def compare(results: dict[str, dict[str, dict]]) -> list[dict]:
    rows = []
    for op, label in OPERATIONS.items():
        pb, bare = results["partnerbot"][op], results["bare"][op]
        r50, r99 = ratio(pb["p50_ms"], bare["p50_ms"]), ratio(pb["p99_ms"], bare["p99_ms"])
        rows.append({
            "operation": op, "label": label, "bare_floor": BARE_FLOOR[op], "partnerbot": pb, "bare": bare,
            "ratio_p50": r50, "ratio_p99": r99,
            "meets_target": r50 <= TARGET_RATIO and r99 <= TARGET_RATIO and pb["p99_ms"] <= TARGET_P99_MS,
        })
    return rows


def print_paced(answer: dict[str, dict], after: dict[str, dict], gap_ms: float) -> None:
    print(f"\npaced partnerbot (one request every {gap_ms:.0f} ms: nothing left over from the previous one), ms:")
    print(f"{'':36} {'answer p50/p99 (mean)':>24} {'':4}{'result seen p50/p99 (mean)':<30}")
    for op, label in OPERATIONS.items():
        a, r = answer.get(op) or {}, after.get(op) or {}
        if not a.get("n"):
            continue
        seen = f"{r['p50_ms']:7.1f} /{r['p99_ms']:7.1f} ({r['mean_ms']:6.1f})  {AFTER[op]}" if r.get("n") else "-"
        print(f"{label:36} {a['p50_ms']:7.1f} /{a['p99_ms']:7.1f} ({a['mean_ms']:6.1f})    {seen}")


def print_after(after: dict[str, dict[str, dict]]) -> None:
    print("\nafter the answer, back to back: request sent -> the stand-in saw the result (ms; the same monotonic "
          "clock;\nwith requests back to back this includes the queue of earlier requests' work):")
    print(f"{'':36} {'partnerbot p50/p99 (mean)':>26} {'bare p50/p99 (mean)':>24}")
    for op, label in AFTER.items():
        pb, bare = after["partnerbot"].get(op) or {}, after["bare"].get(op) or {}
        if not pb.get("n"):
            continue
        bare_text = f"{bare['p50_ms']:7.1f} /{bare['p99_ms']:6.1f} ({bare['mean_ms']:6.1f})" if bare.get("n") else f"{'-':>24}"
        print(f"{label:36} {pb['p50_ms']:8.1f} /{pb['p99_ms']:7.1f} ({pb['mean_ms']:6.1f}) {bare_text}")


def print_in_process(stats: dict) -> None:
    print(f"\n/action list built in-process for {MANAGER} ({MANAGER_OPEN_ACTIONS} open actions; "
          f"{stats['blocks']} blocks, {stats['payload_bytes']:,} bytes), ms:")
    for key, label in (("list_for", "list_for (query + message)"), ("open_actions_query", "  store.actions.open_actions"),
                       ("actions_list_build", "  messages.actions.actions_list"), ("json_dumps", "  json.dumps of it")):
        v = stats[key]
        print(f"  {label:34} n={v['n']:4}  p50 {v['p50_ms']:7.2f}  p99 {v['p99_ms']:7.2f}  mean {v['mean_ms']:7.2f}")


# =============================================================================== main

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--serve-standin" in argv:
        serve_standin(argv)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per operation and app")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up requests per operation and app")
    parser.add_argument("--database-url", help="use this database (Postgres: its public schema is dropped!) "
                                               "instead of a fresh SQLite file")
    parser.add_argument("--playbook", default=str(ROOT / "playbook.example.yml"), help="PLAYBOOK_PATH for the app")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "decisions.json"))
    parser.add_argument("--paced", type=int, default=40,
                        help="then, partnerbot only: this many more requests per operation, paced (0: none)")
    parser.add_argument("--paced-gap-ms", type=float, default=200.0,
                        help="the pause after each paced request, so the work after an answer finishes first")
    opts = parser.parse_args(argv)
    if opts.requests < 1 or opts.warmup < 0 or opts.paced < 0:
        parser.error("--requests must be >= 1, --warmup and --paced >= 0")

    stop_on_signals()
    run_started = time.monotonic()
    processes = Processes()
    tmp = tempfile.TemporaryDirectory(prefix="bench-decisions-")
    workdir = Path(tmp.name)
    failures: list[str] = []
    try:
        database_url = opts.database_url or f"sqlite:///{workdir / 'bench.db'}"
        db_kind = "postgresql" if normalise_database_url(database_url).startswith("postgresql") else "sqlite"
        playbook = load_playbook(opts.playbook)
        n_flow = opts.warmup + opts.requests
        n_paced = opts.paced
        secret = secrets.token_hex(16)

        standin_root = start_standin(processes, workdir, [sys.executable, str(Path(__file__).resolve()),
                                                          "--serve-standin"])
        api_url = f"{standin_root}/api/"

        # the database
        t0 = time.monotonic()
        rng = random.Random(opts.seed)
        now = clock.now()
        base = build_dataset(rng, now, playbook, 0)
        data = build_decisions(rng, now, playbook, base, n_flow + n_paced)
        main_targets, paced_targets = data.targets[:n_flow], data.targets[n_flow:]
        lead_outbox = outbox_rows(base, lead_messages(base, playbook), {})
        t_gen = time.monotonic() - t0
        t0 = time.monotonic()
        reset_database(database_url)
        upgrade(database_url)
        counts = load(database_url, base, lead_outbox)
        load_decisions(database_url, data)
        # the cards, rendered by the real builders from what the store reads back
        escalations, actions = read_models(database_url, playbook)
        cards = post_to_standin(api_url, card_jobs(data, playbook, escalations))
        bulk_load(database_url, [(OutboxMessage, decision_outbox(data, playbook, cards, len(lead_outbox) + 1,
                                                                  escalations, actions, now))])
        counts |= decision_counts(database_url)
        t_load = time.monotonic() - t0
        print(f"database: {db_kind}; generated in {t_gen:.1f}s; migrated, loaded and rendered in {t_load:.1f}s "
              f"(stand-in seeded with {len(cards)} cards): {counts}; {len(data.targets)} escalations to click and "
              f"decide, {len(data.spare)} left alone", flush=True)

        t0 = time.monotonic()
        in_process = measure_list_in_process(database_url, playbook, opts.requests, min(opts.warmup, 30))
        print(f"in-process list: {opts.requests} in {time.monotonic() - t0:.1f}s", flush=True)

        env = web_env(api_url=api_url, secret=secret, database_url=database_url, playbook=opts.playbook)
        log = StandinLog(standin_root)
        log.mark()  # the seeding calls are not the run's
        results: dict[str, dict[str, dict]] = {}
        after: dict[str, dict[str, dict]] = {}
        commands: dict[str, str] = {}
        log_issues: dict[str, list[str]] = {}
        verification: dict[str, dict] = {}
        for label, spec in (("partnerbot", "bot.web:application()"), ("bare", "benchmarks.bare_app:application()")):
            web = start_web(processes, label, spec, env, workdir)
            server, log_path, url, commands[label] = web.proc, web.log_path, web.events_url, web.command
            passes = [(label, main_targets, opts.warmup, opts.requests, 0.0)]
            if label == "partnerbot" and opts.paced:
                passes.append(("paced", paced_targets, 0, opts.paced, opts.paced_gap_ms / 1000))
            for name, targets, warmup, requests, gap in passes:
                if gap:
                    print(f"  paced pass: partnerbot, one request every {opts.paced_gap_ms:.0f} ms", flush=True)
                first_new_outbox = next_outbox_id(database_url)
                run = Run(name, url, secret, standin_root, log, targets, cards, warmup, requests, gap)
                try:
                    run.clicks()
                    left_pending = pending_count(database_url, run.targets) if label == "partnerbot" else len(run.targets)
                    run.lists()
                    run.decisions(wait_for_updates=label == "partnerbot")
                finally:
                    run.close()
                failures += run.failures
                results[name] = {op: summarize(list(run.timings[op].values())) if run.timings[op] else {"n": 0}
                                 for op in OPERATIONS}
                after[name] = {op: summarize(list(run.after[op].values())) if run.after[op] else {"n": 0}
                               for op in OPERATIONS}
                if label == "partnerbot":
                    checked = check_run(database_url, run, data.spare, first_new_outbox, left_pending)
                    verification[name] = checked
                    failures += [f"check ({name}): {p}" for p in checked["problems"]]
                    print(f"  checked: {checked['decide_modals_opened']} decide modals opened (the clicks left "
                          f"{checked['left_pending_by_clicks']} pending), {checked['lists_posted']} lists posted, "
                          f"{checked['escalations_approved']} approved; outbox {checked['outbox_by_status']}", flush=True)
                else:
                    bad = [c for c in run.calls if not c["ok"]]
                    if bad:
                        failures.append(f"bare: the stand-in refused {len(bad)} calls, e.g. {bad[0]}")
                    time.sleep(0.3)
            processes.stop(server)
            log_issues[label] = log_problems(log_path)
            if log_issues[label]:
                failures.append(f"{label} log: {len(log_issues[label])} warning/error lines, e.g. {log_issues[label][0][:300]}")
        if any(v.get("n", 0) == 0 for r in results.values() for v in r.values()):
            raise RunFailed("an operation has no successful measured request:\n  " + "\n  ".join(failures[:20]))

        rows = compare(results)
        print()
        print_table(rows)
        print("(bare floors: " + "; ".join(f"{OPERATIONS[k]} vs {v}" for k, v in BARE_FLOOR.items()) + ")")
        if "paced" in results:
            print_paced(results["paced"], after["paced"], opts.paced_gap_ms)
        print_after(after)
        print_in_process(in_process)
        total = time.monotonic() - run_started
        report = {
            "benchmark": "decisions", "generated_at": clock.now().isoformat(timespec="seconds"),
            "database": db_kind, "requests_per_operation": opts.requests, "warmup_per_operation": opts.warmup,
            "data": counts | {"manager": MANAGER, "click_and_decide_targets": len(main_targets),
                              "paced_targets": len(paced_targets),
                              "untouched_pending": len(data.spare), "seeded_standin_cards": len(cards)},
            "gunicorn": commands, "playbook": opts.playbook,
            **machine_and_target(),
            "results": rows, "paced": {"gap_ms": opts.paced_gap_ms, "answer": results.get("paced"),
                                       "after_answer": after.get("paced")},
            "after_answer": {k: v for k, v in after.items() if k != "paced"}, "list_in_process": in_process, "verification": verification,
            "server_log_issues": {k: v[:20] for k, v in log_issues.items()}, "failures": failures,
            "seconds": {"generate": round(t_gen, 1), "migrate_load_render_and_seed": round(t_load, 1),
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
