"""The audit trail of one object, by its reference: L-… (lead), A-… (action), E-… (escalation),
P-… (performance issue). Who did what, when, from what to what — read from audit_events."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.errors import NotFound, Typed, Words
from store.models import LEAD_REF_OFFSET, MAX_ID, ActionItem, AuditEvent, Escalation, Lead, PerformanceIssue

# prefix -> (audit object_type, model, what people call it)
KINDS = {
    "L": ("lead", Lead, "lead"),
    "A": ("action", ActionItem, "action"),
    "E": ("escalation", Escalation, "escalation"),
    "P": ("issue", PerformanceIssue, "issue"),
}
REF_RE = re.compile(r"^\s*([LAEPlaep])-?(\d{1,12})\s*$")
WHERE = {"L": ", or in `/handoff list`", "A": ", or in `/action list`", "P": ", or in `/partner issues NAME`"}
HISTORY_LIMIT = 40  # events shown: the newest ones, oldest of them first


def parse_ref(text: str) -> tuple[str, int]:
    """`L-1042` -> ("L", 42). Anything else is a NotFound that says what a reference looks like."""
    match = REF_RE.match(text or "")
    number = int(match.group(2)) - LEAD_REF_OFFSET if match else 0
    if not match or number <= 0:
        shown = Words("“", Typed(text.strip()[:100]), "” is not") if (text or "").strip() else Words("Give")
        raise NotFound(Words(shown, " a reference I know. Use one like `L-1042` (a lead), `A-1001` (an action), "
                             "`E-1001` (an escalation) or `P-1001` (a performance issue), e.g. `/partner history L-1042`."))
    return match.group(1).upper(), number


@dataclass(frozen=True)
class History:
    ref: str
    kind: str  # what people call it: lead, action, escalation, issue
    title: str | None
    events: list[AuditEvent]  # oldest first
    total: int


def _title(obj) -> str | None:
    for attribute in ("company", "title", "about", "description"):
        value = getattr(obj, attribute, None)
        if value:
            return value
    return None


def history(session: Session, ref_text: str, *, limit: int = HISTORY_LIMIT) -> History:
    prefix, object_id = parse_ref(ref_text)
    object_type, model, noun = KINDS[prefix]
    ref = f"{prefix}-{object_id + LEAD_REF_OFFSET}"
    obj = session.get(model, object_id) if object_id <= MAX_ID else None
    if obj is None:
        raise NotFound(f"There is no {noun} {ref}. Check the reference on its card{WHERE.get(prefix, '')}.")
    # The newest `limit` events, with the total from a window count: one query.
    rows = session.execute(
        select(AuditEvent, func.count().over().label("total"))
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).all()
    total = rows[0].total if rows else 0
    return History(ref=ref, kind=noun, title=_title(obj), events=[row[0] for row in reversed(rows)], total=total)
