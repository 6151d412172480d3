"""The tables. Typed SQLAlchemy 2 models; every timestamp is timezone-aware UTC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from store import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LEAD_REF_OFFSET = 1000  # lead 1 is L-1001: references look like the ones reps already use
MAX_ID = 2**31 - 1  # ids are INTEGER columns (32 bits on Postgres): a larger number names no row, and
# binding it in a query is an error on Postgres, so parsers of references stop there


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC; SQLite hands back naive values, which are UTC by contract."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)  # lower-cased name, for lookups
    type: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(40))
    market: Mapped[str] = mapped_column(String(120), default="")
    product_lines: Mapped[list[str]] = mapped_column(JSONType, default=list)
    channel_id: Mapped[str | None] = mapped_column(String(20))
    manager_id: Mapped[str | None] = mapped_column(String(20))
    # the period its scorecard compares against ("2026-Q1", "2026-03", "2026-01-05..2026-03-31");
    # None: its first full quarter of leads
    baseline_period: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "tier": self.tier,
            "market": self.market,
            "product_lines": list(self.product_lines or []),
            "channel_id": self.channel_id,
            "manager_id": self.manager_id,
            "baseline_period": self.baseline_period,
        }


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_domain_created", "domain", "created_at"),
        Index("ix_leads_stage_accept_by", "stage", "accept_by"),  # the clock's due handoffs
        Index("ix_leads_stage_outreach_by", "stage", "first_outreach_by"),  # the clock's due first outreach
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    direction: Mapped[str] = mapped_column(String(20))  # to_partner | from_partner
    company: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(253))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    problem: Mapped[str] = mapped_column(Text)
    value_proposition: Mapped[str | None] = mapped_column(Text)
    next_steps: Mapped[str] = mapped_column(Text)
    estimated_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    product_line: Mapped[str | None] = mapped_column(String(120))
    stage: Mapped[str] = mapped_column(String(30), default="handed_off", index=True)
    sender_id: Mapped[str] = mapped_column(String(20), index=True)
    primary_owner_id: Mapped[str] = mapped_column(String(20), index=True)
    backup_owner_id: Mapped[str | None] = mapped_column(String(20), index=True)
    accept_by: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    first_outreach_by: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_by: Mapped[str | None] = mapped_column(String(20))
    accept_hours: Mapped[float | None] = mapped_column(Float)  # business hours from handoff to acceptance
    declined_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    declined_by: Mapped[str | None] = mapped_column(String(20))
    decline_reason: Mapped[str | None] = mapped_column(Text)
    first_outreach_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    first_outreach_logged_by: Mapped[str | None] = mapped_column(String(20))
    passed_to_backup_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the clock moved it to the backup
    sla_escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the clock opened an SLA-breach escalation
    qualification_score: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))  # 0–100, from the playbook's rubric
    qualification_answers: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    close_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    @property
    def ref(self) -> str:
        return f"L-{self.id + LEAD_REF_OFFSET}"

    @property
    def owners(self) -> tuple[str, ...]:
        return tuple(u for u in (self.primary_owner_id, self.backup_owner_id) if u)

    def snapshot(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "primary_owner_id": self.primary_owner_id,
            "backup_owner_id": self.backup_owner_id,
            "accepted_by": self.accepted_by,
            "declined_by": self.declined_by,
            "decline_reason": self.decline_reason,
            "first_outreach_at": self.first_outreach_at.isoformat() if self.first_outreach_at else None,
            "qualification_score": str(self.qualification_score) if self.qualification_score is not None else None,
            "closed_amount": str(self.closed_amount) if self.closed_amount is not None else None,
            "close_reason": self.close_reason,
        }


class Handoff(Base):
    """Every time a lead changes hands: from whom, to whom, when, and how it was answered."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    from_user_id: Mapped[str] = mapped_column(String(20))
    to_user_id: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | accepted | declined
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)


class LeadConflict(Base):
    """A possible conflict: two partners registered the same customer domain. Stored both ways."""

    __tablename__ = "lead_conflicts"
    __table_args__ = (UniqueConstraint("lead_id", "other_lead_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    other_lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class LeadRefresh(Base):
    """Work a committed handoff left for after its commit (store.handoffs.settle): look again for a
    lead's conflicts among leads saved at the same moment (`conflicts`), or re-render its cards
    (`cards`). Inserted by the change and deleted by the work, never updated, so concurrent handoffs
    on one customer never wait on each other for it; a row whose process died stays until a later
    settle takes it."""

    __tablename__ = "lead_refreshes"
    __table_args__ = (Index("ix_lead_refreshes_kind_lead", "kind", "lead_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # conflicts | cards
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    actor_id: Mapped[str] = mapped_column(String(40))  # a Slack user id, or "system:<job>" / "cli"
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class OutboxMessage(Base):
    """A Slack Web API call recorded with the change that caused it, sent after commit.

    A failed send leaves the row pending with its error; the clock retries it. Cards that are
    edited later (chat.update) remember where they landed in result_channel / result_ts.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_subject", "subject_type", "subject_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    method: Mapped[str] = mapped_column(String(40))  # chat.postMessage | chat.update
    channel: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped when a pending card is re-rendered
    kind: Mapped[str] = mapped_column(String(40))  # e.g. lead_card, lead_notice, sender_confirmation
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    audience: Mapped[str | None] = mapped_column(String(20))  # who the card is for (owner, channel…)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    update_of_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)  # for chat.update rows
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_version: Mapped[int | None] = mapped_column(Integer)
    result_channel: Mapped[str | None] = mapped_column(String(20))
    result_ts: Mapped[str | None] = mapped_column(String(32))


class LeadStageChange(Base):
    """A lead moved from one stage to another, with the note and the checklist ticked on the way."""

    __tablename__ = "lead_stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str] = mapped_column(String(30))
    to_stage: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    checklist: Mapped[list[str]] = mapped_column(JSONType, default=list)  # the items ticked
    changed_by: Mapped[str] = mapped_column(String(40))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class LeadDebrief(Base):
    """After a close, each owner's short debrief: what worked, what did not."""

    __tablename__ = "lead_debriefs"
    __table_args__ = (UniqueConstraint("lead_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(20))
    what_worked: Mapped[str] = mapped_column(Text)
    what_did_not: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class PerformanceIssue(Base):
    """A diagnosed problem with a partner or a cohort, with its root cause; actions link to it."""

    __tablename__ = "performance_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    category: Mapped[str] = mapped_column(String(40))  # capability_gap | misaligned_incentives | messaging | enablement | channel_conflict | other
    description: Mapped[str] = mapped_column(Text)
    impact_estimate: Mapped[str | None] = mapped_column(Text)
    cohort: Mapped[str | None] = mapped_column(String(200))
    root_cause: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | resolved
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    @property
    def ref(self) -> str:
        return f"P-{self.id + LEAD_REF_OFFSET}"


class ActionItem(Base):
    """An action in the improvement backlog: owner, due date, success criteria, measurable impact."""

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_owner_status_due", "owner_id", "status", "due_date"),
        Index("ix_actions_status_due", "status", "due_date"),  # the clock's due reminders
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(40))
    due_date: Mapped[dt.date] = mapped_column(Date)
    success_criteria: Mapped[str | None] = mapped_column(Text)
    impact_estimate: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(10), default="medium")  # low | medium | high | urgent
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open | done | cancelled
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(20))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("performance_issues.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    @property
    def ref(self) -> str:
        return f"A-{self.id + LEAD_REF_OFFSET}"

    def snapshot(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "owner_id": self.owner_id,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "priority": self.priority,
            "status": self.status,
            "snoozed_until": self.snoozed_until.isoformat() if self.snoozed_until else None,
            "outcome": self.outcome,
        }


class Escalation(Base):
    """A request that needs a manager's decision, climbing the playbook's ladder level by level."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_status_due", "status", "level_due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # discount | exception | conflict_ruling | sla_breach | other
    about: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10))  # low | medium | high | critical
    impact: Mapped[str | None] = mapped_column(Text)
    requester_id: Mapped[str] = mapped_column(String(40))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id"), index=True)
    level: Mapped[int] = mapped_column(Integer, default=0)  # index into the playbook's escalation levels
    approver_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)  # resolved for the current level
    level_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    level_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | approved | rejected | expired | withdrawn
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)

    @property
    def ref(self) -> str:
        return f"E-{self.id + LEAD_REF_OFFSET}"

    def snapshot(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "level": self.level,
            "approver_ids": list(self.approver_ids or []),
            "decided_by": self.decided_by,
            "decision_note": self.decision_note,
        }


class SlackUser(Base):
    """What Slack told us about a person (users.info), cached: their time zone for reminders."""

    __tablename__ = "slack_users"

    user_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    tz: Mapped[str | None] = mapped_column(String(64))
    real_name: Mapped[str | None] = mapped_column(String(200))
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class HomeTab(Base):
    """A person who has opened the App Home, and the dashboard filters they chose there.

    Only these people get their Home re-published when something of theirs changes; the
    filters survive those refreshes (a Home view's own state does not reach the clock)."""

    __tablename__ = "home_tabs"

    user_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)


class PeriodFigures(Base):
    """A settled period's figures per partner, kept once computed (store/metrics.py).

    Every figure of a period that is over is fixed: each counts events stamped before the period's
    end (created, accepted, closed, done, decided, declined before it), and stamps are the time of
    the event. So a period's figures are computed once and read after; partner_id 0 marks that a
    period is complete and holds its all-partner median. `first_lead` rows hold each partner's
    first lead (what its default baseline quarter follows), which never moves once there is one.
    """

    __tablename__ = "period_figures"

    period_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=clock.now)
