"""Escalations: raise one, decide it (approve / reject), withdraw it, climb the playbook's ladder.

Every operation is one transaction that writes its audit event and records what happened as a
domain event (store.events.escalations); messages/escalations.py turns each into its cards and
notices, written to the outbox in the same transaction when it commits. Decisions are conditional
UPDATEs on (status = 'pending', level = the card's level), so two approvers deciding at once, a
decision racing a climb, or a click on a card of an earlier level change nothing more than the one
that wins. Who may decide is permissions.require_approver.

Approvers are resolved from the playbook's level (users, and the members of S… user groups) by a
`Resolver`; the handler resolves level 1 before its transaction (slack_resolver), so a Slack error
becomes an inline modal error and nothing is saved. A level with no approvers falls back to the
partner manager of the linked lead's or action's partner, then to the playbook's admins.

Refusals that name who decided and when (EscalationClosed, EscalationMoved) carry the read model;
messages/escalations.py words them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import audit, events, permissions
from store.errors import EscalationClosed, EscalationMoved, NotFound, ValidationFailed
from store.events.escalations import (
    EscalationClimbed,
    EscalationDecided,
    EscalationExpired,
    EscalationRaised,
    EscalationWithdrawn,
)
from store.models import (
    LEAD_REF_OFFSET,
    MAX_ID,
    ActionItem,
    AuditEvent,
    Escalation,
    Lead,
    LeadConflict,
    Partner,
)
from store.playbook import EscalationLevel, Playbook
from store.transitions import transition
from store import clock
from store.views import EscalationView, LevelMove

SEVERITIES = ("low", "medium", "high", "critical")
LIMITS = {"about": 300, "reason": 2000, "impact": 1000, "note": 1000}
REQUIRED = {
    "about": "Say what this is about, e.g. the lead or the partner.",
    "kind": "Choose what you need decided.",
    "reason": "Say why you escalate, so the approver can decide without asking.",
    "severity": "Choose how severe this is.",
}
DECISIONS = {"approve": "approved", "reject": "rejected"}

Resolver = Callable[[Sequence[str]], list[str]]


class ApproversUnavailable(ValidationFailed):
    """A level's user group could not be read from Slack; shown on the request field, nothing saved."""

    def __init__(self, group: str, reason: str):
        super().__init__({"kind": f"I couldn't read the members of the approver group {group} from Slack ({reason}), "
                                  "so nothing was sent. Try again in a minute; if it keeps failing, ask the "
                                  "playbook's admin to check escalation.levels."})
        self.group = group


# --- approvers ----------------------------------------------------------------------------------

def expand_approvers(entries: Sequence[str], groups: Mapping[str, Sequence[str]]) -> list[str]:
    """The level's entries with each S… group replaced by its members; each person once, in order."""
    people: dict[str, None] = {}
    for entry in entries:
        for person in (groups.get(entry, ()) if entry.startswith("S") else (entry,)):
            if person:
                people.setdefault(person)
    return list(people)


def _level(playbook: Playbook, index: int) -> EscalationLevel | None:
    levels = playbook.escalation.levels
    return levels[index] if 0 <= index < len(levels) else None


def _partner_of(session: Session, lead_id: int | None, action_id: int | None) -> Partner | None:
    partner_id = None
    if action_id:
        action = session.get(ActionItem, action_id)
        if action is not None:
            partner_id = action.partner_id
            lead_id = lead_id or action.lead_id
    if partner_id is None and lead_id:
        lead = session.get(Lead, lead_id)
        partner_id = lead.partner_id if lead is not None else None
    return session.get(Partner, partner_id) if partner_id else None


def _approvers_for(session: Session, level: EscalationLevel, resolved: Sequence[str], *, lead_id: int | None,
                   action_id: int | None, playbook: Playbook) -> list[str]:
    """Who decides at a level: its (resolved) approvers; a level naming none: the partner manager, else the admins."""
    people = [p for p in dict.fromkeys(resolved) if p]
    if people:
        return people
    if not level.approvers:
        partner = _partner_of(session, lead_id, action_id)
        if partner is not None and partner.manager_id:
            return [partner.manager_id]
    return list(playbook.admins)


def _resolve(approvers: Sequence[str] | Resolver, level: EscalationLevel) -> list[str]:
    return list(approvers(level.approvers)) if callable(approvers) else list(approvers)


# --- links and the request form -----------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    lead_id: int | None = None
    action_id: int | None = None
    conflict: bool = False


def parse_link(value: str | None) -> Link:
    """A button's value: `lead:<id>`, `conflict:<lead id>`, `action:<id>`, or empty."""
    kind, _, number = (value or "").partition(":")
    if not (number.isascii() and number.isdigit()) or int(number) > MAX_ID:  # "²" passes isdigit()
        return Link()
    if kind == "action":
        return Link(action_id=int(number))
    if kind in ("lead", "conflict"):
        return Link(lead_id=int(number), conflict=kind == "conflict")
    return Link()


# A reference is L-/A- with its dash, or four or more digits (L1001): "L2 support is down" is text.
REF_RE = re.compile(r"\s*([LlAa])(?:-(\d{1,12})|(\d{4,12}))\b\s*(.*)", re.S)


def parse_ref(text: str) -> tuple[Link, str] | None:
    """`/escalate L-1001 rest` -> (link to lead 1, "rest"); None when the text starts with no reference."""
    match = REF_RE.fullmatch(text or "")
    if not match:
        return None
    digits = match.group(2) or match.group(3)
    number = int(digits) - LEAD_REF_OFFSET
    letter = match.group(1).upper()
    ref = f"{letter}-{digits}"
    if not 0 < number <= MAX_ID:
        raise NotFound(f"There is no {'lead' if letter == 'L' else 'action'} {ref}.")
    link = Link(lead_id=number) if letter == "L" else Link(action_id=number)
    return link, match.group(4).strip()


@dataclass(frozen=True)
class Prefill:
    about: str = ""
    kind: str | None = None
    lead_id: int | None = None
    action_id: int | None = None


def prefill(session: Session, link: Link, playbook: Playbook, *, text: str = "") -> Prefill:
    """What the request modal starts with for a link; an unknown lead or action is NotFound."""
    if link.action_id:
        action = session.get(ActionItem, link.action_id)
        if action is None:
            raise NotFound(f"There is no action A-{link.action_id + LEAD_REF_OFFSET}.")
        return Prefill(about=text or f"{action.ref} · {action.title}", action_id=action.id)
    if link.lead_id:
        lead = session.get(Lead, link.lead_id)
        if lead is None:
            raise NotFound(f"There is no lead L-{link.lead_id + LEAD_REF_OFFSET}.")
        about = f"{lead.ref} · {lead.company}"
        kind = None
        if link.conflict:
            others = session.scalars(select(LeadConflict.other_lead_id).where(LeadConflict.lead_id == lead.id)
                                     .order_by(LeadConflict.other_lead_id).limit(5)).all()
            if others:
                about += " — conflict with " + ", ".join(f"L-{o + LEAD_REF_OFFSET}" for o in others)
            kind = "conflict_ruling" if playbook.request_kind("conflict_ruling") else None
        return Prefill(about=text or about, kind=kind, lead_id=lead.id)
    return Prefill(about=text)


@dataclass(frozen=True)
class EscalationDraft:
    kind: str
    about: str
    reason: str
    severity: str
    impact: str | None
    lead_id: int | None
    action_id: int | None


def validate_request(form: dict[str, Any], *, playbook: Playbook, lead_id: int | None = None,
                     action_id: int | None = None) -> EscalationDraft:
    """Check a submitted request; raise ValidationFailed with one message per bad field."""
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in form.items()}
    errors: dict[str, str] = {}
    for name, message in REQUIRED.items():
        if not values.get(name):
            errors[name] = message
    for name in ("about", "reason", "impact"):
        value = values.get(name)
        if isinstance(value, str) and len(value) > LIMITS[name]:
            errors[name] = f"Keep this under {LIMITS[name]} characters (it has {len(value)})."
    kind = values.get("kind")
    if kind and playbook.request_kind(kind) is None:
        errors["kind"] = "Choose one of the playbook's requests: " + ", ".join(k.name for k in playbook.escalation.requests)
    severity = values.get("severity")
    if severity and severity not in SEVERITIES:
        errors["severity"] = "Choose low, medium, high or critical."
    if errors:
        raise ValidationFailed(errors)
    return EscalationDraft(kind=kind, about=values["about"], reason=values["reason"], severity=severity,
                           impact=values.get("impact") or None, lead_id=lead_id or None, action_id=action_id or None)


# --- reading ------------------------------------------------------------------------------------

def get_escalation(session: Session, escalation_id: int) -> Escalation:
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        raise NotFound(f"There is no escalation E-{escalation_id + LEAD_REF_OFFSET}.")
    return escalation


def escalation_view(session: Session, escalation: Escalation, playbook: Playbook) -> EscalationView:
    request = playbook.request_kind(escalation.kind)
    level = _level(playbook, escalation.level)
    link_ref, owners = None, ()
    if escalation.lead_id:
        lead = session.get(Lead, escalation.lead_id)
        link_ref, owners = lead.ref, lead.owners
    elif escalation.action_id:
        action = session.get(ActionItem, escalation.action_id)
        link_ref, owners = action.ref, (action.owner_id,)
    moves = tuple(
        LevelMove(from_level=e.after["level"] - 1, from_name=e.after["from"], to_name=e.after["to"], at=e.at,
                        hours=e.after["hours"])
        for e in session.scalars(select(AuditEvent).where(
            AuditEvent.object_type == "escalation", AuditEvent.object_id == escalation.id,
            AuditEvent.action == "escalation.climbed").order_by(AuditEvent.id))
    )
    return EscalationView(
        id=escalation.id, ref=escalation.ref, kind=escalation.kind,
        kind_name=request.name if request else escalation.kind.replace("_", " ").capitalize(),
        responses=tuple(request.responses) if request else (), about=escalation.about, reason=escalation.reason,
        severity=escalation.severity, impact=escalation.impact, requester_id=escalation.requester_id,
        link_ref=link_ref, link_owners=tuple(owners), level=escalation.level,
        level_name=level.name if level else f"level {escalation.level + 1}",
        level_count=len(playbook.escalation.levels), level_hours=level.time_limit_hours if level else None,
        approver_ids=tuple(escalation.approver_ids or ()), level_due_at=escalation.level_due_at,
        status=escalation.status, decided_by=escalation.decided_by, decided_at=escalation.decided_at,
        decision_note=escalation.decision_note, moves=moves,
        level_names=tuple(lv.name for lv in playbook.escalation.levels), zone=playbook.tz,
    )


# --- raising ------------------------------------------------------------------------------------

@dataclass
class RaiseResult:
    escalation: Escalation


def _is_person(user_id: str | None) -> bool:
    """A Slack user to write to — not the clock ("system:clock"), which raises SLA breaches itself."""
    return bool(user_id) and not user_id.startswith("system:")


def _person(user_id: str | None) -> str | None:
    return user_id if _is_person(user_id) else None


def raise_escalation(session: Session, *, draft: EscalationDraft, requester_id: str, playbook: Playbook,
                     approvers: Sequence[str] | Resolver, now: dt.datetime | None = None) -> RaiseResult:
    """Save the escalation at level 1; its cards go out (EscalationRaised). `approvers`: level 1's resolved
    ids, or a Resolver."""
    now = now or clock.now()
    if draft.lead_id and session.get(Lead, draft.lead_id) is None:
        raise ValidationFailed({"about": f"Lead L-{draft.lead_id + LEAD_REF_OFFSET} no longer exists."})
    if draft.action_id and session.get(ActionItem, draft.action_id) is None:
        raise ValidationFailed({"about": f"Action A-{draft.action_id + LEAD_REF_OFFSET} no longer exists."})
    level = playbook.escalation.levels[0]
    deciders = _approvers_for(session, level, _resolve(approvers, level), lead_id=draft.lead_id,
                              action_id=draft.action_id, playbook=playbook)
    if not deciders:
        raise ValidationFailed({"kind": f"Nobody can decide at {level.name}: the playbook names no approvers there, "
                                        "no partner manager is linked, and the playbook has no admins. Ask your "
                                        "partnerbot admin to set escalation.levels or admins."})
    escalation = Escalation(
        kind=draft.kind, about=draft.about, reason=draft.reason, severity=draft.severity, impact=draft.impact,
        requester_id=requester_id, lead_id=draft.lead_id, action_id=draft.action_id, level=0,
        approver_ids=deciders, level_started_at=now,
        level_due_at=playbook.calendar.add_business_hours(now, level.time_limit_hours),
        status="pending", created_at=now, updated_at=now,
    )
    session.add(escalation)
    session.flush()
    audit.record(session, actor_id=requester_id, action="escalation.raised", object_type="escalation",
                 object_id=escalation.id, at=now,
                 after={"ref": escalation.ref, "kind": draft.kind, "about": draft.about, "severity": draft.severity,
                        "lead_id": draft.lead_id, "action_id": draft.action_id, "level": level.name,
                        **escalation.snapshot()})
    events.record(session, EscalationRaised(escalation=escalation_view(session, escalation, playbook),
                                            channel=playbook.escalation.channel or None,
                                            requester=_person(requester_id)))
    return RaiseResult(escalation=escalation)


# --- deciding -----------------------------------------------------------------------------------

def _refusal(session: Session, escalation: Escalation, card_level: int, playbook: Playbook) -> Exception:
    """Why a press on a card for `card_level` changes nothing now."""
    view = escalation_view(session, escalation, playbook)
    if escalation.status != "pending":
        return EscalationClosed(view)
    return EscalationMoved(view, card_level)


def check_can_decide(session: Session, *, escalation_id: int, level: int, user_id: str,
                     playbook: Playbook) -> Escalation:
    """Refuse early (before a modal opens): not an approver of the current level, decided, or moved on."""
    escalation = get_escalation(session, escalation_id)
    current = _level(playbook, escalation.level)
    permissions.require_approver(escalation, user_id, playbook=playbook,
                                 level_name=current.name if current else f"level {escalation.level + 1}")
    if escalation.status != "pending" or escalation.level != level:
        raise _refusal(session, escalation, level, playbook)
    return escalation


def _decision_note(escalation: Escalation, *, decision: str, note: str | None, response: int | None,
                   playbook: Playbook) -> tuple[str | None, str | None]:
    note = (note or "").strip() or None
    errors = {}
    if decision == "reject" and not note:
        errors["note"] = "Say why you reject it, so the requester knows what to change."
    if note and len(note) > LIMITS["note"]:
        errors["note"] = f"Keep this under {LIMITS['note']} characters (it has {len(note)})."
    chosen = None
    if response is not None:
        request = playbook.request_kind(escalation.kind)
        offered = request.responses if request else ()
        if not 0 <= response < len(offered):
            errors["response"] = "Choose one of the responses offered."
        else:
            chosen = offered[response]
    if errors:
        raise ValidationFailed(errors)
    return chosen, " — ".join(part for part in (chosen, note) if part) or None


def decide(session: Session, *, escalation_id: int, level: int, user_id: str, decision: str, playbook: Playbook,
           note: str | None = None, response: int | None = None, now: dt.datetime | None = None) -> None:
    """Approve or reject on a card sent for `level`. Final: a second or concurrent decision is AlreadyDone."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}")
    now = now or clock.now()
    escalation = check_can_decide(session, escalation_id=escalation_id, level=level, user_id=user_id,
                                  playbook=playbook)
    chosen, full_note = _decision_note(escalation, decision=decision, note=note, response=response, playbook=playbook)
    before = escalation.snapshot()
    if not transition(session, escalation, Escalation.status == "pending", Escalation.level == level,
                      status=DECISIONS[decision], decided_by=user_id, decided_at=now, decision_note=full_note,
                      updated_at=now):
        raise _refusal(session, escalation, level, playbook)
    audit.record(session, actor_id=user_id, action=f"escalation.{DECISIONS[decision]}", object_type="escalation",
                 object_id=escalation.id, before=before, at=now,
                 after={**escalation.snapshot(), "response": chosen, "note": (note or "").strip() or None})
    view = escalation_view(session, escalation, playbook)
    tell = tuple(p for p in dict.fromkeys((escalation.requester_id, *view.link_owners)) if _is_person(p) and p != user_id)
    events.record(session, EscalationDecided(escalation=view, by=user_id, at=now, tell=tell))


def withdraw(session: Session, *, escalation_id: int, user_id: str, playbook: Playbook,
             now: dt.datetime | None = None) -> None:
    """The requester takes back a pending escalation; every copy of its card says so."""
    now = now or clock.now()
    escalation = get_escalation(session, escalation_id)
    permissions.require_one_of(user_id, (escalation.requester_id,), doing=f"withdraw {escalation.ref}",
                               why="they raised it")
    before = escalation.snapshot()
    if not transition(session, escalation, Escalation.status == "pending",
                      status="withdrawn", decided_by=user_id, decided_at=now, updated_at=now):
        raise EscalationClosed(escalation_view(session, escalation, playbook))
    audit.record(session, actor_id=user_id, action="escalation.withdrawn", object_type="escalation",
                 object_id=escalation.id, before=before, after=escalation.snapshot(), at=now)
    events.record(session, EscalationWithdrawn(escalation=escalation_view(session, escalation, playbook),
                                               by=user_id, at=now))


# --- climbing the ladder ------------------------------------------------------------------------

def climb(session: Session, *, escalation_id: int, playbook: Playbook, resolve_approvers: Resolver,
          now: dt.datetime | None = None, actor: str = "system:clock") -> bool:
    """An escalation past its level's time limit moves to the next level (EscalationClimbed), or expires
    after the last (EscalationExpired). True if it did.

    Does nothing (returns False) when it is decided, withdrawn, not yet due, or a concurrent climb or
    decision won: the conditional UPDATE matches the status, level and due time it read.
    """
    now = now or clock.now()
    escalation = get_escalation(session, escalation_id)
    if escalation.status != "pending" or escalation.level_due_at > now:
        return False
    old_level, old = escalation.level, _level(playbook, escalation.level)
    nxt = _level(playbook, old_level + 1)
    guard = (Escalation.id == escalation.id, Escalation.status == "pending", Escalation.level == old_level,
             Escalation.level_due_at <= now)
    before = escalation.snapshot()
    if nxt is None:
        if not transition(session, escalation, *guard, status="expired", decided_by=actor, decided_at=now,
                          updated_at=now):
            return False
        audit.record(session, actor_id=actor, action="escalation.expired", object_type="escalation",
                     object_id=escalation.id, before=before, after=escalation.snapshot(), at=now)
        events.record(session, EscalationExpired(escalation=escalation_view(session, escalation, playbook), at=now,
                                                 requester=_person(escalation.requester_id)))
        return True

    deciders = _approvers_for(session, nxt, resolve_approvers(nxt.approvers), lead_id=escalation.lead_id,
                              action_id=escalation.action_id, playbook=playbook)
    if not transition(session, escalation, *guard, level=old_level + 1, approver_ids=deciders, level_started_at=now,
                      level_due_at=playbook.calendar.add_business_hours(now, nxt.time_limit_hours), updated_at=now):
        return False
    hours = old.time_limit_hours if old else 0
    old_name = old.name if old else f"level {old_level + 1}"
    audit.record(session, actor_id=actor, action="escalation.climbed", object_type="escalation",
                 object_id=escalation.id, before=before, at=now,
                 after={**escalation.snapshot(), "from": old_name, "to": nxt.name, "hours": hours})
    view = escalation_view(session, escalation, playbook)
    events.record(session, EscalationClimbed(escalation=view, move=view.moves[-1],
                                             channel=playbook.escalation.channel or None,
                                             requester=_person(escalation.requester_id)))
    return True

