"""Working a deal after it is accepted: moving it through the playbook's stages (checklists,
qualification, closing won or lost) and the owners' debriefs after a close.

Every operation is one transaction that writes its audit event and records what happened
(store.events.deals; messages.deals renders the cards and notices). A stage move is a conditional
UPDATE on the stage the modal was opened from: if someone moved the lead meanwhile, nothing is
overwritten and the modal says so (who moved it, and when, as store.errors.Words).

Problems are keyed by the forms' field names (`Field`, checklist_field, question_field): the stage and
debrief modals give their blocks the same ids (messages.ids.Deal), so an error shows on its field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store import audit, events, permissions
from store.errors import AlreadyDone, Moment, NotAllowed, Person, ValidationFailed, Words
from store.events.deals import DebriefWritten, StageChanged
from store.handoffs import get_lead, lead_view, role_user
from store.models import Lead, LeadDebrief, LeadStageChange, Partner
from store.playbook import Playbook, Stage
from store.transitions import transition
from store import clock

NOT_TARGETS = ("handed_off", "declined")
CLOSED = ("closed_won", "closed_lost")
MAX_AMOUNT = Decimal("1000000000000")
NOTE_LIMIT = 2000
REASON_LIMIT = 1000
DEBRIEF_LIMIT = 2000
CHECKLIST_GROUP = 10  # checklist items per field: the form asks them in groups (a Slack checkbox list holds 10)


class Field(StrEnum):
    """The fields of the stage and debrief forms, by the names their problems are keyed by."""

    STAGE = "stage"
    NOTE = "note"
    CHECKLIST = "checklist"      # items 0-9; then checklist_2 for 10-19, ... (checklist_field)
    AMOUNT = "amount"
    REASON = "reason"
    QUESTION = "question"        # question_<key> (question_field)
    WHAT_WORKED = "what_worked"
    WHAT_DID_NOT = "what_did_not"


def checklist_field(index: int) -> str:
    """The field holding checklist item `index` (0-based)."""
    group = index // CHECKLIST_GROUP
    return str(Field.CHECKLIST) if group == 0 else f"{Field.CHECKLIST}_{group + 1}"


def question_field(key: str) -> str:
    return f"{Field.QUESTION}_{key}"


def _stage_name(playbook: Playbook, key: str) -> str:
    stage = playbook.stage(key)
    return stage.name if stage else key.replace("_", " ").capitalize()


def _finished(lead: Lead, playbook: Playbook) -> Words | None:
    """Why a lead can no longer move, or None while it is an open deal."""
    if lead.stage == "declined":
        return Words(f"{lead.ref} was declined by ", Person(lead.declined_by),
                     "; it has no deal stages to move through.")
    if lead.stage in CLOSED:
        at = Words(" ", Moment(lead.closed_at, playbook.tz)) if lead.closed_at else ""
        return Words(f"{lead.ref} is already {_stage_name(playbook, lead.stage).lower()}", at,
                     "; its stage can no longer change.")
    return None


def _require_open_deal(lead: Lead, user_id: str, playbook: Playbook) -> None:
    permissions.require_lead_owner(lead, user_id, doing="update the stage of", playbook=playbook, admins_too=True)
    finished = _finished(lead, playbook)
    if finished:
        raise AlreadyDone(finished)
    if lead.stage == "handed_off":
        raise NotAllowed(f"{lead.ref} has not been accepted yet. Accept it first, then move it through its stages.")


def stage_targets(from_stage: str, playbook: Playbook) -> list[Stage]:
    """The stages a lead may move to: every playbook stage but its current one, handed off and declined."""
    return [s for s in playbook.stages if s.key not in NOT_TARGETS and s.key != from_stage]


def check_can_update_stage(session: Session, *, lead_id: int, user_id: str, playbook: Playbook) -> Lead:
    """Refuse early (before the modal opens): strangers, leads not yet accepted, closed or declined ones."""
    lead = get_lead(session, lead_id)
    _require_open_deal(lead, user_id, playbook)
    return lead


def parse_amount(text: Any) -> Decimal | None:
    """`$120,000` -> Decimal('120000.00'); None when it is not a positive amount."""
    raw = str(text or "").replace(",", "").replace("$", "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value >= MAX_AMOUNT:
        return None
    return value.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class StageMove:
    target: Stage
    note: str | None
    ticked: list[str]
    answers: dict[str, str] | None = None
    score: Decimal | None = None
    amount: Decimal | None = None
    reason: str | None = None


def validate_move(*, to_stage: str | None, note: str | None, checked, answers, amount, reason,
                  lead: Lead, playbook: Playbook) -> StageMove:
    """Check what the modal sent for the chosen stage; one inline message per bad block."""
    errors: dict[str, str] = {}
    target = playbook.stage(to_stage) if to_stage else None
    if not to_stage:
        raise ValidationFailed({Field.STAGE: "Choose the stage to move the lead to."})
    if target is None or target.key in NOT_TARGETS:
        raise ValidationFailed({Field.STAGE: "Choose one of the stages in the list."})
    if target.key == lead.stage:
        raise ValidationFailed({Field.STAGE: f"{lead.ref} is already at {target.name}. Choose another stage."})

    note = (note or "").strip() or None
    if note and len(note) > NOTE_LIMIT:
        errors[Field.NOTE] = f"Keep the note under {NOTE_LIMIT} characters (it has {len(note)})."

    ticked_indexes = {int(i) for i in checked or () if str(i).isdigit()}
    missing_by_field: dict[str, list[str]] = {}
    for index, item in enumerate(target.checklist):
        if item.required and index not in ticked_indexes:
            missing_by_field.setdefault(checklist_field(index), []).append(item.item)
    for name, missing in missing_by_field.items():
        errors[name] = (f"Tick what must be done before {target.name}: " + "; ".join(missing) + ".")[:1900]
    ticked = [item.item for index, item in enumerate(target.checklist) if index in ticked_indexes]

    move: dict[str, Any] = {}
    if target.key == "qualified":
        given = dict(answers or {})
        chosen: dict[str, str] = {}
        for question in playbook.qualification.questions:
            answer = given.get(question.key)
            if answer not in question.answers:
                errors[question_field(question.key)] = "Answer this question: the qualification score needs it."
            else:
                chosen[question.key] = answer
        if len(chosen) == len(playbook.qualification.questions):
            move["answers"] = chosen
            move["score"] = Decimal(str(playbook.qualification_score(chosen))).quantize(Decimal("0.01"))
    if target.key == "closed_won":
        value = parse_amount(amount)
        if value is None:
            errors[Field.AMOUNT] = "Enter the amount won as a positive number, like 120000."
        move["amount"] = value
    if target.key == "closed_lost":
        text = (reason or "").strip()
        if not text:
            errors[Field.REASON] = "Say why the deal was lost, so the next one goes better."
        elif len(text) > REASON_LIMIT:
            errors[Field.REASON] = f"Keep this under {REASON_LIMIT} characters (it has {len(text)})."
        move["reason"] = text
    if errors:
        raise ValidationFailed(errors)
    return StageMove(target=target, note=note, ticked=ticked, **move)


def _deal_snapshot(lead: Lead) -> dict[str, Any]:
    return {
        **lead.snapshot(),
        "qualification_score": str(lead.qualification_score) if lead.qualification_score is not None else None,
        "qualification_answers": dict(lead.qualification_answers) if lead.qualification_answers else None,
        "closed_at": lead.closed_at.isoformat() if lead.closed_at else None,
        "closed_amount": str(lead.closed_amount) if lead.closed_amount is not None else None,
        "close_reason": lead.close_reason,
    }


def _moved_meanwhile(session: Session, lead: Lead, playbook: Playbook) -> Words:
    last = session.scalars(
        select(LeadStageChange).where(LeadStageChange.lead_id == lead.id).order_by(LeadStageChange.id.desc())
    ).first()
    now_at = _stage_name(playbook, lead.stage)
    if last is not None and last.to_stage == lead.stage:
        who = Words(" by ", Person(last.changed_by), " ", Moment(last.changed_at, playbook.tz))
    else:
        who = ""
    return Words(f"{lead.ref} was moved to {now_at}", who, " while this was open, so nothing was changed. "
                 "Close this and press Update stage again to start from the current stage.")


def change_stage(
    session: Session, *, lead_id: int, user_id: str, to_stage: str | None, note: str | None = None,
    checked=(), answers: dict[str, str] | None = None, amount: Any = None, reason: str | None = None,
    playbook: Playbook, from_stage: str | None = None, now: dt.datetime | None = None,
) -> None:
    """Move a lead to `to_stage`, if it is still at `from_stage` (the stage the modal was opened from)."""
    now = now or clock.now()
    lead = get_lead(session, lead_id)
    _require_open_deal(lead, user_id, playbook)
    from_stage = from_stage or lead.stage
    if lead.stage != from_stage:
        raise ValidationFailed({Field.STAGE: _moved_meanwhile(session, lead, playbook)})
    move = validate_move(to_stage=to_stage, note=note, checked=checked, answers=answers, amount=amount,
                         reason=reason, lead=lead, playbook=playbook)
    values: dict[str, Any] = {"stage": move.target.key, "updated_at": now}
    if move.score is not None:
        values.update(qualification_score=move.score, qualification_answers=move.answers)
    if move.target.key == "closed_won":
        values.update(closed_at=now, closed_amount=move.amount)
    if move.target.key == "closed_lost":
        values.update(closed_at=now, close_reason=move.reason)
    if lead.first_outreach_at is None and move.target.key != "accepted":
        # Moving the deal on means the customer was reached: record it, or the first-outreach
        # clock would count as missed forever.
        values.update(first_outreach_at=now, first_outreach_logged_by=user_id)

    before = _deal_snapshot(lead)
    if not transition(session, lead, Lead.stage == from_stage, **values):
        finished = _finished(lead, playbook)
        raise ValidationFailed({Field.STAGE: finished or _moved_meanwhile(session, lead, playbook)})

    session.add(LeadStageChange(lead_id=lead.id, from_stage=from_stage, to_stage=move.target.key, note=move.note,
                                checklist=move.ticked, changed_by=user_id, changed_at=now))
    audit.record(session, actor_id=user_id, action="lead.stage_changed", object_type="lead", object_id=lead.id,
                 before=before, after={**_deal_snapshot(lead), "note": move.note, "checklist": move.ticked}, at=now)

    partner = session.get(Partner, lead.partner_id)
    events.record(session, StageChanged(
        lead=lead_view(session, lead, playbook), by=user_id, from_name=_stage_name(playbook, from_stage),
        note=move.note, informed=tuple(_informed(move.target, lead, partner, playbook, skip=user_id)),
        debrief_from=permissions.lead_owners(lead) if move.target.key in CLOSED else (), at=now))


def _informed(stage: Stage, lead: Lead, partner: Partner | None, playbook: Playbook, *, skip: str) -> list[str]:
    people: dict[str, None] = {}
    for role in stage.informed:
        person = role_user(role, lead, partner, playbook)
        if person and person != skip:
            people.setdefault(person)
    return list(people)


# --- debriefs ----------------------------------------------------------------------------------

def _require_closed_owner(lead: Lead, user_id: str) -> None:
    permissions.require_lead_owner(lead, user_id, doing="write the debrief of")
    if lead.stage not in CLOSED:
        raise NotAllowed(f"{lead.ref} is not closed yet; the debrief comes after it is closed won or lost.")


def check_can_debrief(session: Session, *, lead_id: int, user_id: str) -> tuple[Lead, LeadDebrief | None]:
    """Refuse early (before the modal opens); hand back the caller's earlier debrief, if any."""
    lead = get_lead(session, lead_id)
    _require_closed_owner(lead, user_id)
    return lead, _debrief_of(session, lead.id, user_id)


def _debrief_of(session: Session, lead_id: int, user_id: str) -> LeadDebrief | None:
    return session.scalars(
        select(LeadDebrief).where(LeadDebrief.lead_id == lead_id, LeadDebrief.user_id == user_id)
    ).first()


@dataclass
class DebriefResult:
    debrief: LeadDebrief
    replaced_at: dt.datetime | None = None  # when the debrief it replaced was written


def _validate_debrief(what_worked: str | None, what_did_not: str | None) -> tuple[str, str]:
    errors: dict[str, str] = {}
    texts = {}
    for name, value, empty in (
        (Field.WHAT_WORKED, what_worked, "Say what worked on this deal, even briefly."),
        (Field.WHAT_DID_NOT, what_did_not, "Say what did not work — “nothing” is an answer too."),
    ):
        text = (value or "").strip()
        if not text:
            errors[name] = empty
        elif len(text) > DEBRIEF_LIMIT:
            errors[name] = f"Keep this under {DEBRIEF_LIMIT} characters (it has {len(text)})."
        texts[name] = text
    if errors:
        raise ValidationFailed(errors)
    return texts[Field.WHAT_WORKED], texts[Field.WHAT_DID_NOT]


def record_debrief(
    session: Session, *, lead_id: int, user_id: str, what_worked: str | None, what_did_not: str | None,
    playbook: Playbook, now: dt.datetime | None = None,
) -> DebriefResult:
    """Store an owner's debrief of a closed lead; a second one by the same person replaces theirs."""
    now = now or clock.now()
    worked, did_not = _validate_debrief(what_worked, what_did_not)
    lead = get_lead(session, lead_id)
    _require_closed_owner(lead, user_id)

    debrief = _debrief_of(session, lead.id, user_id)
    replaced_at = before = None
    if debrief is None:
        try:
            with session.begin_nested():
                debrief = LeadDebrief(lead_id=lead.id, user_id=user_id, what_worked=worked, what_did_not=did_not,
                                      created_at=now)
                session.add(debrief)
        except IntegrityError:  # the same person saved twice at once: replace the one that got in first
            debrief = _debrief_of(session, lead.id, user_id)
            replaced_at, before = _replace(debrief, worked, did_not, now)
    else:
        replaced_at, before = _replace(debrief, worked, did_not, now)
    session.flush()
    audit.record(session, actor_id=user_id, action="lead.debrief_replaced" if before else "lead.debrief_written",
                 object_type="lead", object_id=lead.id, before=before,
                 after={"user_id": user_id, "what_worked": worked, "what_did_not": did_not}, at=now)

    written = tuple((d.user_id, d.created_at)
                    for d in session.scalars(select(LeadDebrief).where(LeadDebrief.lead_id == lead.id)))
    events.record(session, DebriefWritten(lead=lead_view(session, lead, playbook), by=user_id, replaced_at=replaced_at,
                                          written=written, at=now))
    return DebriefResult(debrief=debrief, replaced_at=replaced_at)


def _replace(debrief: LeadDebrief, worked: str, did_not: str, now: dt.datetime):
    before = {"what_worked": debrief.what_worked, "what_did_not": debrief.what_did_not,
              "written_at": debrief.created_at.isoformat()}
    replaced_at = debrief.created_at
    debrief.what_worked, debrief.what_did_not, debrief.created_at = worked, did_not, now
    return replaced_at, before


def debriefs_for(session: Session, lead_id: int) -> list[LeadDebrief]:
    return list(session.scalars(select(LeadDebrief).where(LeadDebrief.lead_id == lead_id).order_by(LeadDebrief.id)))
