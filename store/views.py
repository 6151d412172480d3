"""Read models: what a card or a list shows of a lead, an action, an escalation or an issue, read from
the store once and handed to `messages/` to render. Plain frozen dataclasses: no session, no Slack,
no formatting (a ref like L-1001 is data; how it looks in mrkdwn is `messages/`' business).

Domain events (store.events) carry them, so the messages an event causes are rendered from the state
the operation left, inside the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

@dataclass(frozen=True)
class ConflictRef:
    ref: str
    partner: str
    owner_id: str

@dataclass(frozen=True)
class LeadView:
    """Everything a card shows, read from the store once."""

    id: int
    ref: str
    partner: str
    partner_tier: str
    partner_manager_id: str | None
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
    stage: str
    sender_id: str
    primary_owner_id: str
    backup_owner_id: str | None
    accept_by: dt.datetime
    first_outreach_by: dt.datetime
    accepted_at: dt.datetime | None
    accepted_by: str | None
    declined_at: dt.datetime | None
    declined_by: str | None
    decline_reason: str | None
    first_outreach_at: dt.datetime | None
    first_outreach_logged_by: str | None
    created_at: dt.datetime
    conflicts: tuple[ConflictRef, ...]
    zone: ZoneInfo
    stage_name: str = ""
    stage_lead: str | None = None  # mrkdwn naming who leads the current stage (the playbook's RACI)
    qualification_score: Decimal | None = None
    closed_amount: Decimal | None = None
    close_reason: str | None = None

    @classmethod
    def from_models(cls, lead, partner, conflicts, zone: ZoneInfo, *, stage_name: str = "",
                    stage_lead: str | None = None) -> "LeadView":
        return cls(
            id=lead.id, ref=lead.ref, partner=partner.name, partner_tier=partner.tier,
            partner_manager_id=partner.manager_id, direction=lead.direction, company=lead.company,
            domain=lead.domain, contact_name=lead.contact_name, contact_email=lead.contact_email,
            consent=lead.consent, problem=lead.problem, value_proposition=lead.value_proposition,
            next_steps=lead.next_steps, estimated_value=lead.estimated_value, product_line=lead.product_line,
            stage=lead.stage, sender_id=lead.sender_id, primary_owner_id=lead.primary_owner_id,
            backup_owner_id=lead.backup_owner_id, accept_by=lead.accept_by,
            first_outreach_by=lead.first_outreach_by, accepted_at=lead.accepted_at,
            accepted_by=lead.accepted_by, declined_at=lead.declined_at, declined_by=lead.declined_by,
            decline_reason=lead.decline_reason, first_outreach_at=lead.first_outreach_at,
            first_outreach_logged_by=lead.first_outreach_logged_by, created_at=lead.created_at,
            conflicts=tuple(conflicts), zone=zone, stage_name=stage_name, stage_lead=stage_lead,
            qualification_score=lead.qualification_score, closed_amount=lead.closed_amount,
            close_reason=lead.close_reason,
        )

@dataclass(frozen=True)
class ActionLink:
    """What an action is linked to: a partner, a lead (its company) or a performance issue (its category)."""

    kind: str                   # "partner" | "lead" | "issue"
    ref: str | None             # L-1001 or P-1001; None for a partner
    partner: str | None         # the partner's name (the lead's or the issue's partner)
    company: str | None = None  # a lead's company
    category: str | None = None  # an issue's category key (store.issues.CATEGORIES)

@dataclass(frozen=True)
class ActionView:
    """Everything an action's card or list line shows, read from the store once."""

    id: int
    ref: str
    title: str
    owner_id: str
    created_by: str
    due_date: dt.date
    success_criteria: str | None
    impact_estimate: str | None
    priority: str
    status: str
    snoozed_until: dt.datetime | None
    outcome: str | None
    done_at: dt.datetime | None
    done_by: str | None
    link: ActionLink | None
    zone: ZoneInfo

    def snoozed(self, now: dt.datetime) -> bool:
        return self.status == "open" and self.snoozed_until is not None and self.snoozed_until > now

@dataclass(frozen=True)
class LevelMove:
    """The escalation left `from_level` for the next one at `at`, after `hours` business hours."""

    from_level: int
    from_name: str
    to_name: str
    at: dt.datetime
    hours: float

@dataclass(frozen=True)
class EscalationView:
    """Everything a card shows, read from the store once."""

    id: int
    ref: str
    kind: str
    kind_name: str
    responses: tuple[str, ...]
    about: str
    reason: str
    severity: str
    impact: str | None
    requester_id: str
    link_ref: str | None          # L-1001 or A-1001
    link_owners: tuple[str, ...]  # the lead's owners or the action's owner
    level: int
    level_name: str
    level_count: int
    level_hours: float | None
    approver_ids: tuple[str, ...]
    level_due_at: dt.datetime
    status: str
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    moves: tuple[LevelMove, ...]
    level_names: tuple[str, ...]   # the playbook's ladder, for cards of earlier levels
    zone: ZoneInfo

    def name_of(self, level: int) -> str:
        move = next((m for m in self.moves if m.from_level == level), None)
        if move is not None:
            return move.from_name
        return self.level_names[level] if 0 <= level < len(self.level_names) else f"level {level + 1}"

@dataclass(frozen=True)
class LinkedAction:
    ref: str
    title: str
    owner_id: str
    due_date: dt.date
    status: str

@dataclass(frozen=True)
class IssueView:
    id: int
    ref: str
    partner: str
    category: str
    description: str
    impact_estimate: str | None
    cohort: str | None
    root_cause: str | None
    status: str
    created_by: str
    created_at: dt.datetime
    actions: tuple[LinkedAction, ...] = field(default_factory=tuple)

    @classmethod
    def from_models(cls, issue, partner_name: str, actions=()) -> "IssueView":
        return cls(id=issue.id, ref=issue.ref, partner=partner_name, category=issue.category,
                   description=issue.description, impact_estimate=issue.impact_estimate, cohort=issue.cohort,
                   root_cause=issue.root_cause, status=issue.status, created_by=issue.created_by,
                   created_at=issue.created_at, actions=tuple(actions))
