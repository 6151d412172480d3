"""Lead handoffs: validate a draft, save it with its clocks, accept, decline, log first outreach.

Every operation here is one transaction that writes its audit event and says what happened as
domain events (store/events/leads.py: LeadHandedOff, ConflictsFound, LeadCardsChanged, LeadAccepted,
LeadDeclined, FirstOutreachLogged), whose messages the session's recorder writes to the outbox before
the commit; the caller delivers `events.written(session)` after it. Nothing here renders a message.
Decisions are conditional UPDATEs: two presses at once, exactly one wins.

A rep's handoff (`create_handoff(settle_later=True)`) writes only rows of its own lead: the lead, its
conflicts (both ways), its cards, the managers' notices, and LeadRefresh marks for what is left.
It never updates another lead's rows, so many reps handing off one hot customer at once do not
queue on each other's locks. After the commit, `settle()` finishes the rest: it looks again for
conflicts with leads that were being saved at the same moment (invisible to the handoff's own
check) and re-renders the other leads' cards, coalesced (see settle()). A process that dies between
the commit and settle() leaves its marks; the next settle anywhere takes them once they are
STALE_SECONDS old.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, insert, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased, sessionmaker

from store import audit, clock, events, permissions
from store.db import transaction
from store.errors import AlreadyDone, Moment, NotAllowed, NotFound, Person, ValidationFailed, Words
from store.events.leads import (
    ConflictsFound,
    FirstOutreachLogged,
    LeadAccepted,
    LeadCardsChanged,
    LeadDeclined,
    LeadHandedOff,
)
from store.models import LEAD_REF_OFFSET, Handoff, Lead, LeadConflict, LeadRefresh, OutboxMessage, Partner
from store.playbook import Playbook
from store.transitions import transition
from store.views import ConflictRef, LeadView

log = logging.getLogger(__name__)

OPEN_STAGES_EXCLUDED = ("declined", "closed_won", "closed_lost")
CANDIDATES = 20  # a new lead is checked against the first 20 open leads on its domain
STALE_SECONDS = 30  # after-commit work this old was left by a process that died: the next settle takes it
STALE_BATCH = 50
MAX_REFRESH_ROUNDS = 200
IN_FLIGHT_PAUSE_SECONDS = 0.05  # a settle whose only work left is cards on their way to Slack waits this...
IN_FLIGHT_WAIT_SECONDS = 3.0  # ...at most this long in all, then leaves their marks for a later settle
CARD_KINDS = ("lead_card", "lead_notice")  # the copies of a lead's card: owner DM, partner channel
REFRESH_LOCK_SPACE = 7311  # Postgres advisory locks (space, lead id): one settle renders a lead's cards at a time
DIRECTIONS = {"to_partner": "To the partner", "from_partner": "From the partner"}
LIMITS = {
    "company": 200,
    "domain": 253,
    "contact_name": 200,
    "contact_email": 254,
    "problem": 2000,
    "value_proposition": 2000,
    "next_steps": 2000,
    "product_line": 120,
    "reason": 1000,
}
REQUIRED = {
    "partner": "Choose the partner this lead goes to or comes from.",
    "direction": "Say whether the lead goes to the partner or comes from them.",
    "company": "Enter the customer's company name.",
    "problem": "Describe the customer's pressing problem, so the receiver can act on it.",
    "next_steps": "Write the agreed next steps.",
    "primary_owner": "Choose who owns this lead.",
}
EMAIL_RE = re.compile(r"^[^@\s<>]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_VALUE = Decimal("1000000000000")


def normalise_domain(value: str | None) -> str | None:
    """`https://www.Acme.com/about` -> `acme.com`; an email gives its domain."""
    if not value:
        return None
    text = value.strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    text = text.rsplit("@", 1)[-1]  # https://user@acme.com -> acme.com
    text = text.split(":", 1)[0].strip(".")
    if text.startswith("www."):
        text = text[4:]
    return text or None


def parse_lead_ref(text: str) -> int | None:
    """`L-1042` (any case, with or without the dash) -> lead id 42."""
    match = re.fullmatch(r"\s*[Ll]-?(\d{1,12})\s*", text or "")
    if not match:
        return None
    number = int(match.group(1)) - LEAD_REF_OFFSET
    return number if number > 0 else None


@dataclass(frozen=True)
class HandoffDraft:
    partner_id: int
    direction: str
    company: str
    domain: str | None
    contact_name: str | None
    contact_email: str | None
    consent: bool
    problem: str
    value_proposition: str | None
    next_steps: str
    estimated_value: Decimal | None
    product_line: str | None
    primary_owner_id: str
    backup_owner_id: str | None


def validate_draft(form: dict[str, Any], *, playbook: Playbook) -> HandoffDraft:
    """Check a submitted form; raise ValidationFailed with one message per bad field."""
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in form.items()}
    errors: dict[str, str] = {}
    for name, message in REQUIRED.items():
        if not values.get(name):
            errors[name] = message
    for name, limit in LIMITS.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors[name] = f"Keep this under {limit} characters (it has {len(value)})."

    partner_id = None
    if values.get("partner") and "partner" not in errors:
        try:
            partner_id = int(values["partner"])
        except (TypeError, ValueError):
            errors["partner"] = "Choose a partner from the list."
    direction = values.get("direction")
    if direction and direction not in DIRECTIONS:
        errors["direction"] = "Choose to the partner or from the partner."

    email = values.get("contact_email") or None
    if email and "contact_email" not in errors and not EMAIL_RE.match(email):
        errors["contact_email"] = "That doesn't look like an email address (name@company.com)."

    domain_text = values.get("domain") or None
    domain = normalise_domain(domain_text)
    if domain_text and "domain" not in errors and (not domain or not DOMAIN_RE.match(domain)):
        errors["domain"] = "Enter the company's web domain, like acme.com or https://www.acme.com."
    if not domain and email and "contact_email" not in errors:
        domain = normalise_domain(email)

    consent = bool(values.get("consent"))
    has_contact = bool(values.get("contact_name") or email)
    if direction == "to_partner" and has_contact and not consent:
        errors["consent"] = (
            "The contact must agree to their details being shared with the partner. "
            "Tick consent, or remove the contact's name and email."
        )

    estimated = None
    raw_value = values.get("estimated_value")
    if raw_value not in (None, ""):
        try:
            estimated = Decimal(str(raw_value).replace(",", "").replace("$", "").strip())
            if not estimated.is_finite() or estimated < 0 or estimated >= MAX_VALUE:
                raise InvalidOperation
            estimated = estimated.quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            errors["estimated_value"] = "Enter an amount as a positive number, like 25000."

    product_line = values.get("product_line") or None
    if product_line and playbook.product_lines and product_line not in playbook.product_lines:
        errors["product_line"] = "Choose one of the playbook's product lines: " + ", ".join(playbook.product_lines)

    primary, backup = values.get("primary_owner"), values.get("backup_owner") or None
    if primary and backup and primary == backup:
        errors["backup_owner"] = "The backup owner must be someone other than the primary owner."

    if errors:
        raise ValidationFailed(errors)
    return HandoffDraft(
        partner_id=partner_id,
        direction=direction,
        company=values["company"],
        domain=domain,
        contact_name=values.get("contact_name") or None,
        contact_email=email,
        consent=consent,
        problem=values["problem"],
        value_proposition=values.get("value_proposition") or None,
        next_steps=values["next_steps"],
        estimated_value=estimated,
        product_line=product_line,
        primary_owner_id=primary,
        backup_owner_id=backup,
    )


@dataclass
class HandoffResult:
    lead: Lead
    conflicts: list[Lead] = field(default_factory=list)
    duplicates: list[Lead] = field(default_factory=list)
    settle_later: bool = False  # the caller runs after_commit() (or settle()) once this has committed


def create_handoff(
    session: Session, *, draft: HandoffDraft, sender_id: str, playbook: Playbook, now: dt.datetime | None = None,
    settle_later: bool = False,
) -> HandoffResult:
    """Save a lead with its clocks, handoff, audit event and conflicts; its cards and the managers'
    notices are said as events (LeadHandedOff, ConflictsFound, LeadCardsChanged).

    settle_later=False (the CSV import: one transaction for a whole file) also re-renders the cards
    of the leads it conflicts with, here. settle_later=True (a rep's submission, where many may come
    at once for one customer) writes nothing to any other lead's rows: it records what is left to
    do (LeadRefresh rows) and the caller runs after_commit() once this has committed. On SQLite
    that is never needed: its transactions run one at a time (BEGIN IMMEDIATE, store/db.py), so a
    handoff sees every lead committed before it, and a deferred step would only be one more write
    queuing behind the next rep's submission; there it does everything here.
    """
    now = now or clock.now()
    settle_later = settle_later and session.get_bind().dialect.name != "sqlite"
    partner = session.get(Partner, draft.partner_id)
    if partner is None:
        raise ValidationFailed({"partner": "That partner no longer exists. Choose another one."})
    sla = playbook.sla_for(partner.tier)
    calendar = playbook.calendar
    lead = Lead(
        partner_id=partner.id,
        direction=draft.direction,
        company=draft.company,
        domain=draft.domain,
        contact_name=draft.contact_name,
        contact_email=draft.contact_email,
        consent=draft.consent,
        problem=draft.problem,
        value_proposition=draft.value_proposition,
        next_steps=draft.next_steps,
        estimated_value=draft.estimated_value,
        product_line=draft.product_line,
        stage="handed_off",
        sender_id=sender_id,
        primary_owner_id=draft.primary_owner_id,
        backup_owner_id=draft.backup_owner_id,
        accept_by=calendar.add_business_hours(now, sla.accept_within_hours),
        first_outreach_by=calendar.add_business_hours(now, sla.first_outreach_within_hours),
        created_at=now,
        updated_at=now,
    )
    session.add(lead)
    session.flush()
    session.add(Handoff(lead_id=lead.id, from_user_id=sender_id, to_user_id=draft.primary_owner_id, created_at=now))
    audit.record(
        session, actor_id=sender_id, action="lead.handed_off", object_type="lead", object_id=lead.id,
        after={"ref": lead.ref, "partner": partner.name, "company": lead.company, "domain": lead.domain,
               **lead.snapshot()}, at=now,
    )

    result = HandoffResult(lead=lead, settle_later=settle_later)
    if lead.domain:
        older, newer = _conflict_candidates(session, lead, playbook)
        found = [o.id for o in older + newer]
        loaded = {o.id: o for o in session.scalars(select(Lead).where(Lead.id.in_(found)))} if found else {}
        result.duplicates = [loaded[o.id] for o in older if o.partner_id == lead.partner_id]
        result.conflicts = [loaded[o.id] for o in older + newer if o.partner_id != lead.partner_id]
    partners = _partners_of(session, result.conflicts + result.duplicates, known=partner)
    if result.conflicts:
        # Pairs with this (uncommitted) lead: no other transaction can be writing them.
        _insert_pairs(session, [(a, b) for o in result.conflicts for a, b in ((lead.id, o.id), (o.id, lead.id))], now)
        audit.record(
            session, actor_id="system:conflicts", action="lead.conflict_detected", object_type="lead",
            object_id=lead.id, after={"with": [o.ref for o in result.conflicts]}, at=now,
        )
    # This lead's conflicts are exactly the pairs just written: its view needs no query for them.
    view = lead_views(session, [lead], playbook, partners=partners,
                      conflicts={lead.id: [_conflict_ref(o, partners) for o in sorted(result.conflicts, key=_by_id)]})[0]
    duplicate_views = lead_views(session, result.duplicates, playbook, partners=partners, conflicts={})
    events.record(session, LeadHandedOff(lead=view, duplicates=tuple(duplicate_views),
                                         partner_channel_id=partner.channel_id))
    if result.conflicts:
        if settle_later:
            # The notice names the other leads; their own conflicts are not on it.
            other_views = lead_views(session, result.conflicts, playbook, partners=partners, conflicts={})
            events.record(session, ConflictsFound(lead=view, others=tuple(other_views)))
            # Inserts only: a hot customer's other leads are left for after the commit (settle()).
            _mark(session, [o.id for o in result.conflicts], "cards", now)
        else:
            other_views = lead_views(session, result.conflicts, playbook)
            events.record(session, ConflictsFound(lead=view, others=tuple(other_views)),
                          LeadCardsChanged(leads=tuple(other_views)))
    if settle_later and lead.domain:
        _mark(session, [lead.id], "conflicts", now)
    return result


def _insert_pairs(session: Session, pairs: list[tuple[int, int]], now: dt.datetime) -> None:
    """LeadConflict rows in one statement (Postgres: one fixed statement whatever their number)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(
            "INSERT INTO lead_conflicts (lead_id, other_lead_id, created_at) "
            "SELECT a, b, :now FROM unnest(CAST(:a AS integer[]), CAST(:b AS integer[])) AS t(a, b)"),
            {"a": [a for a, _ in pairs], "b": [b for _, b in pairs], "now": now})
    else:
        session.execute(insert(LeadConflict.__table__),
                        [{"lead_id": a, "other_lead_id": b, "created_at": now} for a, b in pairs])


def _mark(session: Session, lead_ids: list[int], kind: str, now: dt.datetime) -> None:
    """LeadRefresh rows (work for after the commit) in one statement."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(
            "INSERT INTO lead_refreshes (lead_id, kind, created_at) "
            "SELECT id, :kind, :now FROM unnest(CAST(:ids AS integer[])) AS id"),
            {"ids": list(lead_ids), "kind": kind, "now": now})
    else:
        session.execute(insert(LeadRefresh.__table__),
                        [{"lead_id": i, "kind": kind, "created_at": now} for i in lead_ids])


def _by_id(lead: Lead) -> int:
    return lead.id


def _partners_of(session: Session, leads: list[Lead], *, known: Partner) -> dict[int, Partner]:
    partners = {known.id: known}
    wanted = {lead.partner_id for lead in leads} - set(partners)
    if wanted:
        partners.update((p.id, p) for p in session.scalars(select(Partner).where(Partner.id.in_(wanted))))
    return partners


def _conflict_ref(other: Lead, partners: dict[int, Partner]) -> ConflictRef:
    return ConflictRef(ref=other.ref, partner=partners[other.partner_id].name, owner_id=other.primary_owner_id)


def _conflict_candidates(session: Session, lead: Lead, playbook: Playbook) -> tuple[list[Any], list[Any]]:
    """The rule: a lead is checked against the first CANDIDATES (by id) open leads on its domain that
    came before it inside the protection window; those of other partners conflict with it, those of
    its own partner are likely duplicates.

    Returns (older, newer) as rows (id, partner_id, created_at): `older`, this lead's candidates;
    `newer`, leads saved after this one, already committed, of which this lead is a candidate. A
    newer lead was saved while this one was not committed yet, so its own check could not see this
    one: the pair is this lead's to record. One query: the open leads on the domain created since
    the window before this one began (a few columns, not whole leads).
    """
    window = dt.timedelta(days=playbook.conflicts.protection_window_days)
    nearby = session.execute(
        select(Lead.id, Lead.partner_id, Lead.created_at)
        .where(Lead.domain == lead.domain, Lead.stage.not_in(OPEN_STAGES_EXCLUDED), Lead.id != lead.id,
               Lead.created_at >= lead.created_at - window)
        .order_by(Lead.id)
    ).all()
    before = [o for o in nearby if o.id < lead.id]
    newer = []
    if lead.stage not in OPEN_STAGES_EXCLUDED:
        for other in nearby:
            if other.id < lead.id or other.partner_id == lead.partner_id or lead.created_at < other.created_at - window:
                continue
            # this lead's place among the other lead's candidates: the leads before it in that window
            ahead = sum(1 for o in before if o.created_at >= other.created_at - window)
            if ahead < CANDIDATES:
                newer.append(other)
    return before[:CANDIDATES], newer


# --- after the commit -------------------------------------------------------------------------------

def after_commit(factory: sessionmaker[Session], playbook: Playbook, result: HandoffResult, written: list[int],
                 deliver: Callable[[list[int]], object]) -> None:
    """Once a handoff has committed: send its own messages (`written`: events.written(session) of its
    unit of work), then settle() what it left."""
    deliver(written)
    if result.settle_later:
        settle(factory, playbook=playbook, lead_ids=[result.lead.id], deliver=deliver)


def settle(factory: sessionmaker[Session], *, playbook: Playbook, lead_ids: Iterable[int] = (),
           deliver: Callable[[list[int]], object] | None = None) -> list[int]:
    """Finish what handoffs left for after their commit (LeadRefresh rows); returns the outbox ids.

    1. Conflicts: a handoff's check saw only leads committed before it. Look again now that it has
       committed, and record the pairs it could not see (both ways), tell both managers, and mark
       both leads' cards. Two settles finding one pair record it once (the pair's unique key).
    2. Cards: re-render every lead marked `cards`, from the database as it is once the marks are
       taken. On Postgres one settle at a time renders a lead (a try-lock: the others go on at once,
       leaving it to the holder), and the holder, after its commit, looks for marks that came in
       meanwhile and goes round again: a burst of handoffs on one customer re-renders each card a
       few times, not once per handoff, and no mark is left behind. The lead's row is locked while
       its cards are rendered, so an Accept or a stage change of it is never overwritten by an
       older view.

    Work older than STALE_SECONDS (its process died after the commit) is taken by whichever settle
    comes next. `deliver`, if given, sends each round's messages as soon as it has committed.
    """
    sent: list[int] = []

    def done(ids: list[int]) -> None:
        if ids:
            sent.extend(ids)
            if deliver is not None:
                deliver(ids)

    lead_ids = sorted(set(lead_ids))
    stale = clock.now() - dt.timedelta(seconds=STALE_SECONDS)
    with transaction(factory) as session:
        conflicts_marked = select(LeadRefresh).where(LeadRefresh.kind == "conflicts").with_for_update(skip_locked=True)
        marked = list(session.scalars(conflicts_marked.where(LeadRefresh.lead_id.in_(lead_ids)))) if lead_ids else []
        marked += session.scalars(conflicts_marked.where(LeadRefresh.created_at < stale, LeadRefresh.lead_id.not_in(lead_ids))
                                  .order_by(LeadRefresh.id).limit(STALE_BATCH))
        touched = _record_late_conflicts(session, sorted({m.lead_id for m in marked}), playbook)
        for mark in marked:
            session.delete(mark)
    done(events.written(session))
    targets = set(touched)
    with factory() as session:
        if lead_ids:  # the leads these handoffs conflict with (their own checks' and the late ones)
            targets |= set(session.scalars(select(LeadConflict.other_lead_id).where(LeadConflict.lead_id.in_(lead_ids))))
        targets |= set(session.scalars(
            select(LeadRefresh.lead_id).where(LeadRefresh.kind == "cards", LeadRefresh.created_at < stale)
            .limit(STALE_BATCH)))
    _refresh_marked_cards(factory, playbook, targets, done)
    return sent


def _record_late_conflicts(session: Session, lead_ids: list[int], playbook: Playbook) -> set[int]:
    """Step 1 of settle() for these leads: the pairs their own check could not see (recorded, and
    ConflictsFound said for each newer lead); the leads whose cards are marked for it."""
    now = clock.now()
    leads = session.scalars(select(Lead).where(Lead.id.in_(lead_ids), Lead.domain.is_not(None))).all() if lead_ids else []
    wanted: set[tuple[int, int]] = set()
    for lead in leads:
        older, newer = _conflict_candidates(session, lead, playbook)
        wanted |= {tuple(sorted((lead.id, o.id))) for o in older + newer if o.partner_id != lead.partner_id}
    if not wanted:
        return set()
    have = set(session.execute(select(LeadConflict.lead_id, LeadConflict.other_lead_id).where(
        LeadConflict.lead_id.in_({a for a, _ in wanted}))).all())
    missing = sorted(pair for pair in wanted if pair not in have)
    if not missing:
        return set()
    # Both rows of each pair, in key order: two settles recording overlapping pairs take the keys in
    # the same order, so one waits for the other (and then does nothing) instead of deadlocking.
    keys = sorted({(a, b) for a, b in missing} | {(b, a) for a, b in missing})
    upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    recorded = set(session.execute(
        upsert(LeadConflict)
        .values([{"lead_id": a, "other_lead_id": b, "created_at": now} for a, b in keys])
        .on_conflict_do_nothing(index_elements=["lead_id", "other_lead_id"])
        .returning(LeadConflict.lead_id, LeadConflict.other_lead_id)
    ).all())
    ours = [(a, b) for a, b in missing if (a, b) in recorded]  # the pairs this settle recorded
    if not ours:
        return set()
    by_newer: dict[int, list[int]] = {}
    for a, b in ours:
        by_newer.setdefault(b, []).append(a)
    involved = sorted({i for pair in ours for i in pair})
    all_views = {v.id: v for v in lead_views(
        session, list(session.scalars(select(Lead).where(Lead.id.in_(involved)).order_by(Lead.id))), playbook)}
    for newer_id, older_ids in sorted(by_newer.items()):
        others = [all_views[i] for i in sorted(older_ids)]
        audit.record(session, actor_id="system:conflicts", action="lead.conflict_detected", object_type="lead",
                     object_id=newer_id, after={"with": [o.ref for o in others]}, at=now)
        events.record(session, ConflictsFound(lead=all_views[newer_id], others=tuple(others)))
    _mark(session, involved, "cards", now)
    return set(involved)


def _refresh_marked_cards(factory: sessionmaker[Session], playbook: Playbook, lead_ids: Iterable[int],
                          done: Callable[[list[int]], None]) -> None:
    """Step 2 of settle(): re-render the cards of these leads that are marked, until none is.

    A lead with a card on its way to Slack (claimed by a deliverer) keeps its mark and waits for the
    next round: its row is not rewritten while the deliverer may be recording it as sent. Waiting
    for such a card is bounded (IN_FLIGHT_WAIT_SECONDS in all); past that the mark stays for a later
    settle.
    """
    targets = sorted(set(lead_ids))
    waited = 0.0
    for _ in range(MAX_REFRESH_ROUNDS):
        if not targets:
            return
        with transaction(factory) as session:
            held = _take_refresh_locks(session, targets)
            marked: set[int] = set()
            if held:
                # FOR NO KEY UPDATE: waits for a decision on the lead, not for handoffs that refer to it
                session.execute(select(Lead.id).where(Lead.id.in_(held)).order_by(Lead.id)
                                .with_for_update(key_share=True))
                marked = set(session.scalars(select(LeadRefresh.lead_id).where(
                    LeadRefresh.kind == "cards", LeadRefresh.lead_id.in_(held))))
            busy = _cards_in_flight(session, sorted(marked)) if marked else set()
            dirty = sorted(marked - busy)
            if dirty:
                session.execute(delete(LeadRefresh).where(LeadRefresh.kind == "cards", LeadRefresh.lead_id.in_(dirty)))
                leads = list(session.scalars(select(Lead).where(Lead.id.in_(dirty)).order_by(Lead.id)))
                events.record(session, LeadCardsChanged(leads=tuple(lead_views(session, leads, playbook))))
        done(events.written(session))
        if not held:
            return
        with factory() as session:  # marks that came in while we held the leads are ours to take
            targets = sorted(set(session.scalars(select(LeadRefresh.lead_id).where(
                LeadRefresh.kind == "cards", LeadRefresh.lead_id.in_(held)))))
        if targets and set(targets) <= busy:
            if waited >= IN_FLIGHT_WAIT_SECONDS:
                return  # still on its way: a later settle renders it (the mark stays)
            time.sleep(IN_FLIGHT_PAUSE_SECONDS)  # only cards in flight are left: let them land
            waited += IN_FLIGHT_PAUSE_SECONDS
    log.warning("card refresh still had marks after %s rounds; the next settle takes them", MAX_REFRESH_ROUNDS)


def _cards_in_flight(session: Session, lead_ids: list[int]) -> set[int]:
    """Lock (Postgres) the leads' card rows still waiting to go out, in id order, and return the
    leads with one of them claimed by a deliverer right now.

    A row that is pending and not claimed cannot be claimed while this transaction holds it (claims
    skip locked rows), so refresh_many may re-render it in place. A claimed one is left alone: the
    deliverer reads it, sends it and writes `sent` in steps, and a payload written in between would
    be marked sent without ever being sent.
    """
    now = clock.now()
    rows = session.execute(
        select(OutboxMessage.subject_id, OutboxMessage.claimed_until)
        .where(OutboxMessage.subject_type == "lead", OutboxMessage.subject_id.in_(lead_ids),
               OutboxMessage.kind.in_(CARD_KINDS), OutboxMessage.status == "pending")
        .order_by(OutboxMessage.id)
        .with_for_update(key_share=True)
    ).all()
    return {lead_id for lead_id, until in rows if until is not None and until >= now}


def _take_refresh_locks(session: Session, lead_ids: list[int]) -> list[int]:
    """The leads whose cards this transaction may render (Postgres: those no other settle is
    rendering; SQLite has one writer at a time, so all of them)."""
    if session.get_bind().dialect.name != "postgresql":
        return list(lead_ids)
    return sorted(session.scalars(
        text("SELECT id FROM unnest(CAST(:ids AS integer[])) AS id "
             "WHERE pg_try_advisory_xact_lock(:space, id)"),
        {"ids": list(lead_ids), "space": REFRESH_LOCK_SPACE}))


_OTHER_LEAD, _OTHER_PARTNER = aliased(Lead), aliased(Partner)  # built once, so the statement is cached


def lead_views(session: Session, leads: list[Lead], playbook: Playbook, *,
               partners: dict[int, Partner] | None = None,
               conflicts: dict[int, list[ConflictRef]] | None = None) -> list[LeadView]:
    """Views of several leads in two queries (partners, conflicts), however many conflicts they have.

    A caller that has the partners, or knows the conflicts (a lead missing from `conflicts` has
    none), passes them and saves the query.
    """
    if not leads:
        return []
    partners = dict(partners or {})
    missing = {lead.partner_id for lead in leads} - set(partners)
    if missing:
        partners.update((p.id, p) for p in session.scalars(select(Partner).where(Partner.id.in_(missing))))
    if conflicts is None:
        conflicts = {}
        other, other_partner = _OTHER_LEAD, _OTHER_PARTNER
        rows = session.execute(
            select(LeadConflict.lead_id, other.id, other_partner.name, other.primary_owner_id)
            .join(other, other.id == LeadConflict.other_lead_id)
            .join(other_partner, other_partner.id == other.partner_id)
            .where(LeadConflict.lead_id.in_([lead.id for lead in leads]))
            .order_by(LeadConflict.lead_id, other.id)
        ).all()
        for lead_id, other_id, partner_name, owner_id in rows:
            conflicts.setdefault(lead_id, []).append(
                ConflictRef(ref=f"L-{other_id + LEAD_REF_OFFSET}", partner=partner_name, owner_id=owner_id))
    result = []
    for lead in leads:
        partner = partners[lead.partner_id]
        stage = playbook.stage(lead.stage)
        result.append(LeadView.from_models(
            lead, partner, conflicts.get(lead.id, []), playbook.tz, stage_name=stage.name if stage else "",
            stage_lead=_stage_lead(stage, lead, partner, playbook)))
    return result


def lead_view(session: Session, lead: Lead, playbook: Playbook) -> LeadView:
    return lead_views(session, [lead], playbook)[0]


def role_user(role: str, lead: Lead, partner: Partner, playbook: Playbook) -> str | None:
    """The Slack user who plays a playbook role (sender, owner, backup, partner_manager) on this lead."""
    return {
        "sender": lead.sender_id,
        "owner": lead.primary_owner_id,
        "backup": lead.backup_owner_id,
        "partner_manager": partner.manager_id if partner else None,
        "admins": playbook.admins[0] if playbook.admins else None,
    }.get(role)


def _stage_lead(stage, lead: Lead, partner: Partner, playbook: Playbook) -> str | None:
    if stage is None:
        return None
    who = role_user(stage.responsible, lead, partner, playbook)
    label = stage.responsible.replace("_", " ")
    return Words(f"{stage.name} is led by ", Person(who), f" ({label})") if who else f"{stage.name} is led by the {label}"


def get_lead(session: Session, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"There is no lead L-{lead_id + LEAD_REF_OFFSET}.")
    return lead


def _require_owner(lead: Lead, user_id: str, doing: str) -> None:
    permissions.require_lead_owner(lead, user_id, doing=doing)


def _already(lead: Lead, zone) -> Words:
    """What a second decision on a lead is told: who decided it, and when."""
    if lead.stage == "declined":
        return Words(f"{lead.ref} was already declined by ", Person(lead.declined_by), " ",
                     Moment(lead.declined_at, zone), ".")
    return Words(f"{lead.ref} was already accepted by ", Person(lead.accepted_by), " ", Moment(lead.accepted_at, zone), ".")


def check_can_decide(session: Session, *, lead_id: int, user_id: str, playbook: Playbook) -> Lead:
    """Refuse early (before a modal opens) if the caller may not decide, or it is decided."""
    lead = get_lead(session, lead_id)
    _require_owner(lead, user_id, "decide on")
    if lead.stage != "handed_off":
        raise AlreadyDone(_already(lead, playbook.tz))
    return lead


def accept_lead(
    session: Session, *, lead_id: int, user_id: str, playbook: Playbook, now: dt.datetime | None = None
) -> None:
    now = now or clock.now()
    lead = get_lead(session, lead_id)
    _require_owner(lead, user_id, "accept")
    before = lead.snapshot()
    if not transition(session, lead, Lead.stage == "handed_off",
                      stage="accepted", accepted_at=now, accepted_by=user_id, updated_at=now,
                      accept_hours=round(playbook.calendar.business_hours_between(lead.created_at, now), 4)):
        raise AlreadyDone(_already(lead, playbook.tz))
    _close_handoff(session, lead, status="accepted", user_id=user_id, now=now)
    audit.record(session, actor_id=user_id, action="lead.accepted", object_type="lead", object_id=lead.id,
                 before=before, after=lead.snapshot(), at=now)
    events.record(session, LeadAccepted(lead=lead_view(session, lead, playbook), by=user_id, at=now))


def decline_lead(
    session: Session, *, lead_id: int, user_id: str, reason: str, playbook: Playbook, now: dt.datetime | None = None
) -> None:
    now = now or clock.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Say why you decline, so the sender can find another owner."})
    if len(reason) > LIMITS["reason"]:
        raise ValidationFailed({"reason": f"Keep this under {LIMITS['reason']} characters (it has {len(reason)})."})
    lead = get_lead(session, lead_id)
    _require_owner(lead, user_id, "decline")
    before = lead.snapshot()
    if not transition(session, lead, Lead.stage == "handed_off",
                      stage="declined", declined_at=now, declined_by=user_id, decline_reason=reason, updated_at=now):
        raise AlreadyDone(_already(lead, playbook.tz))
    _close_handoff(session, lead, status="declined", user_id=user_id, now=now, reason=reason)
    audit.record(session, actor_id=user_id, action="lead.declined", object_type="lead", object_id=lead.id,
                 before=before, after=lead.snapshot(), at=now)
    events.record(session, LeadDeclined(lead=lead_view(session, lead, playbook), by=user_id, at=now))


def _close_handoff(session: Session, lead: Lead, *, status: str, user_id: str, now: dt.datetime, reason: str | None = None) -> None:
    handoff = session.scalars(
        select(Handoff).where(Handoff.lead_id == lead.id, Handoff.status == "pending").order_by(Handoff.id.desc())
    ).first()
    if handoff is not None:
        handoff.status, handoff.decided_at, handoff.decided_by, handoff.reason = status, now, user_id, reason


def log_first_outreach(
    session: Session, *, lead_id: int, user_id: str, playbook: Playbook, now: dt.datetime | None = None
) -> None:
    now = now or clock.now()
    lead = get_lead(session, lead_id)
    _require_owner(lead, user_id, "log first outreach for")
    if lead.stage == "handed_off":
        raise NotAllowed(f"Accept {lead.ref} first, then log your first outreach.")
    if lead.stage == "declined":
        raise AlreadyDone(_already(lead, playbook.tz))
    before = lead.snapshot()
    if not transition(session, lead, Lead.first_outreach_at.is_(None),
                      first_outreach_at=now, first_outreach_logged_by=user_id, updated_at=now,
                      stage="contacted" if lead.stage == "accepted" else lead.stage):
        raise AlreadyDone(Words(f"First outreach on {lead.ref} was already logged by ",
                                Person(lead.first_outreach_logged_by), " ", Moment(lead.first_outreach_at, playbook.tz), "."))
    audit.record(session, actor_id=user_id, action="lead.first_outreach", object_type="lead", object_id=lead.id,
                 before=before, after=lead.snapshot(), at=now)
    events.record(session, FirstOutreachLogged(lead=lead_view(session, lead, playbook), by=user_id, at=now))


def open_leads_for(session: Session, user_id: str, *, limit: int = 30) -> tuple[list[Lead], int]:
    """The caller's open leads as owner, backup or sender, the most urgent first, and the total."""
    mine = or_(Lead.primary_owner_id == user_id, Lead.backup_owner_id == user_id, Lead.sender_id == user_id)
    query = select(Lead).where(mine, Lead.stage.not_in(OPEN_STAGES_EXCLUDED))
    leads = session.scalars(query.order_by(Lead.accept_by, Lead.id).limit(limit)).all()
    total = len(leads)
    if total == limit:
        from sqlalchemy import func

        total = session.scalar(select(func.count()).select_from(query.subquery()))
    return list(leads), total
