"""Partners: add from Slack, import from CSV (all or nothing), search for the type-ahead."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import audit, events, permissions
from store.errors import ImportFailed, ValidationFailed
from store.events.partners import PartnerAdded
from store.models import Partner
from store.playbook import Playbook

CSV_HEADER = ["name", "type", "tier", "market", "product_lines", "channel_id", "manager_id"]
CHANNEL_RE = re.compile(r"^[CG][A-Z0-9]{6,}$")
USER_RE = re.compile(r"^[UW][A-Z0-9]{6,}$")


@dataclass(frozen=True)
class PartnerDraft:
    name: str
    type: str
    tier: str
    market: str
    product_lines: tuple[str, ...]
    channel_id: str | None
    manager_id: str | None


def validate_partner(form: dict[str, Any], *, playbook: Playbook) -> PartnerDraft:
    """Check one partner's fields; errors are keyed by field name."""
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in form.items()}
    errors: dict[str, str] = {}
    name = values.get("name") or ""
    if not name:
        errors["name"] = "Enter the partner's name."
    elif len(name) > 200:
        errors["name"] = f"Keep the name under 200 characters (it has {len(name)})."
    ptype = (values.get("type") or "").lower()
    if ptype not in playbook.partner_types:
        errors["type"] = ("Enter a type" if not ptype else f"Unknown type '{ptype}'") + \
            " — the playbook allows: " + ", ".join(playbook.partner_types) + "."
    tier = (values.get("tier") or "").lower()
    if tier not in playbook.tiers:
        errors["tier"] = ("Enter a tier" if not tier else f"Unknown tier '{tier}'") + \
            " — the playbook's tiers are: " + ", ".join(playbook.tiers) + "."
    market = values.get("market") or ""
    if len(market) > 120:
        errors["market"] = "Keep the market under 120 characters."
    lines = values.get("product_lines") or []
    if isinstance(lines, str):
        lines = [p.strip() for p in lines.split(";")]
    lines = tuple(dict.fromkeys(p for p in lines if p))
    if playbook.product_lines:
        unknown = [p for p in lines if p not in playbook.product_lines]
        if unknown:
            errors["product_lines"] = f"Unknown product line {', '.join(unknown)} — the playbook lists: " + \
                ", ".join(playbook.product_lines) + "."
    channel_id = values.get("channel_id") or None
    if channel_id and not CHANNEL_RE.match(channel_id):
        errors["channel_id"] = f"'{channel_id}' is not a Slack channel id (like C0123ABCD)."
    manager_id = values.get("manager_id") or None
    if manager_id and not USER_RE.match(manager_id):
        errors["manager_id"] = f"'{manager_id}' is not a Slack user id (like U0123ABCD)."
    if errors:
        raise ValidationFailed(errors)
    return PartnerDraft(name=name, type=ptype, tier=tier, market=market, product_lines=lines,
                        channel_id=channel_id, manager_id=manager_id)


def find_by_name(session: Session, name: str) -> Partner | None:
    return session.scalars(select(Partner).where(Partner.name_key == name.strip().lower())).first()


def add_partner(session: Session, *, form: dict[str, Any], actor_id: str, playbook: Playbook) -> Partner:
    """Add a partner from Slack, if the playbook lets this person (NotAllowed, naming who can, before
    the fields are looked at), and tell them (PartnerAdded)."""
    permissions.require_partner_editor(session, actor_id, playbook=playbook)
    draft = validate_partner(form, playbook=playbook)
    taken = ValidationFailed({"name": f"A partner called {draft.name} already exists."})
    if find_by_name(session, draft.name) is not None:
        raise taken
    try:
        with session.begin_nested():  # someone adding the same name at this moment loses cleanly
            partner = _upsert(session, draft, actor_id)
    except IntegrityError:
        raise taken from None
    events.record(session, PartnerAdded(partner_id=partner.id, name=partner.name, type=partner.type, tier=partner.tier,
                                        channel_id=partner.channel_id, manager_id=partner.manager_id, by=actor_id))
    return partner


def _upsert(session: Session, draft: PartnerDraft, actor_id: str, existing: Partner | None = None) -> Partner:
    partner = existing
    before = partner.snapshot() if partner else None
    if partner is None:
        partner = Partner(name_key=draft.name.lower())
        session.add(partner)
    partner.name = draft.name
    partner.type = draft.type
    partner.tier = draft.tier
    partner.market = draft.market
    partner.product_lines = list(draft.product_lines)
    partner.channel_id = draft.channel_id
    partner.manager_id = draft.manager_id
    session.flush()
    after = partner.snapshot()
    if before != after:
        audit.record(session, actor_id=actor_id, action="partner.updated" if before else "partner.added",
                     object_type="partner", object_id=partner.id, before=before, after=after)
    return partner


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def import_partners_csv(session: Session, text: str, *, playbook: Playbook, actor_id: str = "cli") -> ImportReport:
    """Validate every row first; apply nothing if any row is bad. Re-import updates by name. Rows are
    read as the leads import reads them (lines where rows start; unreadable cells and NUL characters
    are problems at their line)."""
    from store.csv_files import csv_rows, nul_problems

    rows = csv_rows(text)
    try:
        header = [h.strip().lower() for h in next(rows)[1]]
    except StopIteration:
        raise ImportFailed([(1, "the file is empty; the first line must be the header " + ",".join(CSV_HEADER))]) from None
    if header != CSV_HEADER:
        raise ImportFailed([(1, f"the header must be exactly {','.join(CSV_HEADER)} (got {','.join(header)})")])
    problems: list[tuple[int, str]] = []
    drafts: list[tuple[int, PartnerDraft]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(CSV_HEADER):
            problems.append((line, f"expected {len(CSV_HEADER)} columns, found {len(row)}"))
            continue
        if nul := nul_problems(CSV_HEADER, row):
            problems += [(line, problem) for problem in nul]
            continue
        try:
            draft = validate_partner(dict(zip(CSV_HEADER, row)), playbook=playbook)
        except ValidationFailed as failure:
            problems.extend((line, f"{field}: {message}") for field, message in failure.errors.items())
            continue
        key = draft.name.lower()
        if key in seen:
            problems.append((line, f"name: {draft.name} appears again (first on line {seen[key]})"))
            continue
        seen[key] = line
        drafts.append((line, draft))
    if problems:
        raise ImportFailed(problems)
    report = ImportReport()
    existing = {p.name_key: p for p in session.scalars(select(Partner).where(Partner.name_key.in_(list(seen))))}
    for _line, draft in drafts:
        current = existing.get(draft.name.lower())
        before = current.snapshot() if current else None
        partner = _upsert(session, draft, actor_id, current)
        if before is None:
            report.added += 1
        elif before != partner.snapshot():
            report.updated += 1
        else:
            report.unchanged += 1
    return report


def search(session: Session, query: str, *, limit: int = 100) -> list[tuple[int, str, str]]:
    """Type-ahead: names starting with the query first, then names containing it."""
    text = (query or "").strip().lower()
    text = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    starts = select(Partner.id, Partner.name, Partner.tier).where(Partner.name_key.like(f"{text}%", escape="\\"))
    rows = list(session.execute(starts.order_by(Partner.name_key).limit(limit)).all())
    if len(rows) < limit and text:
        found = {r[0] for r in rows}
        contains = select(Partner.id, Partner.name, Partner.tier).where(
            Partner.name_key.like(f"%{text}%", escape="\\"), Partner.name_key.not_like(f"{text}%", escape="\\")
        )
        rows += [r for r in session.execute(contains.order_by(Partner.name_key).limit(limit - len(rows))).all() if r[0] not in found]
    return [tuple(r) for r in rows]


def list_partners(session: Session, *, query: str = "", limit: int = 40) -> tuple[list[Partner], int]:
    conditions = []
    if query.strip():
        text = query.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(or_(Partner.name_key.like(f"%{text}%", escape="\\"),
                              func.lower(Partner.market).like(f"%{text}%", escape="\\")))
    total = session.scalar(select(func.count(Partner.id)).where(*conditions))
    partners = session.scalars(select(Partner).where(*conditions).order_by(Partner.name_key).limit(limit)).all()
    return list(partners), total
