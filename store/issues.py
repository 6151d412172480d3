"""Performance issues: a diagnosed problem with a partner (or a cohort of its deals), with its root
cause. Actions link to it. One transaction per operation, with its audit event and the domain event
it records (store.events.issues; messages.issues renders it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import audit, events
from store import partners as partner_store
from store.errors import NotFound, Typed, ValidationFailed, Words
from store.events.issues import IssueRecorded
from store.models import LEAD_REF_OFFSET, ActionItem, Partner, PerformanceIssue
from store.views import IssueView, LinkedAction
from store import clock

# The categories (keys stored in performance_issues.category) and their names, in the modal's order.
CATEGORIES = {
    "capability_gap": "Capability gap",
    "misaligned_incentives": "Misaligned incentives",
    "messaging": "Messaging",
    "enablement": "Enablement resources",
    "channel_conflict": "Channel conflict",
    "other": "Other",
}
LIMITS = {"description": 2000, "impact_estimate": 2000, "cohort": 200, "root_cause": 2000}


def partner_named(session: Session, name: str) -> Partner:
    """The partner with this name (any case), or NotFound that suggests close names."""
    name = (name or "").strip()
    if not name:
        raise NotFound("Name the partner, e.g. `/partner issue Globex Partners`.")
    partner = partner_store.find_by_name(session, name)
    if partner is not None:
        return partner
    suggestions = [found for _id, found, _tier in partner_store.search(session, name, limit=3)]
    if not suggestions and " " in name:  # "globex ltd" -> try its first word
        suggestions = [found for _id, found, _tier in partner_store.search(session, name.split()[0], limit=3)]
    if suggestions:
        named = [part for s in suggestions for part in (" or ", Typed(s, bold=True))][1:]
        hint = Words(" Did you mean ", *named, "?")
    else:
        hint = Words(" See them all with `/partner list`.")
    raise NotFound(Words("There is no partner called “", Typed(name[:200]), "”.", hint))


@dataclass(frozen=True)
class IssueDraft:
    category: str
    description: str
    impact_estimate: str | None
    cohort: str | None
    root_cause: str | None


def validate_issue(form: dict[str, Any]) -> IssueDraft:
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in form.items()}
    errors: dict[str, str] = {}
    category = values.get("category") or ""
    if category not in CATEGORIES:
        errors["category"] = "Choose what kind of problem this is."
    if not values.get("description"):
        errors["description"] = "Describe the problem: what goes wrong, and where you see it."
    for name, limit in LIMITS.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors[name] = f"Keep this under {limit} characters (it has {len(value)})."
    if errors:
        raise ValidationFailed(errors)
    return IssueDraft(category=category, description=values["description"],
                      impact_estimate=values.get("impact_estimate") or None, cohort=values.get("cohort") or None,
                      root_cause=values.get("root_cause") or None)


def _snapshot(issue: PerformanceIssue) -> dict[str, Any]:
    return {"ref": issue.ref, "category": issue.category, "description": issue.description,
            "impact_estimate": issue.impact_estimate, "cohort": issue.cohort, "root_cause": issue.root_cause,
            "status": issue.status}


def create_issue(session: Session, *, partner_id: int, draft: IssueDraft, creator_id: str,
                 now: dt.datetime | None = None) -> PerformanceIssue:
    now = now or clock.now()
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise ValidationFailed({"description": "That partner no longer exists; nothing was recorded."})
    issue = PerformanceIssue(partner_id=partner.id, category=draft.category, description=draft.description,
                             impact_estimate=draft.impact_estimate, cohort=draft.cohort, root_cause=draft.root_cause,
                             status="open", created_by=creator_id, created_at=now, updated_at=now)
    session.add(issue)
    session.flush()
    audit.record(session, actor_id=creator_id, action="issue.recorded", object_type="issue", object_id=issue.id,
                 after={**_snapshot(issue), "partner": partner.name}, at=now)
    events.record(session, IssueRecorded(issue=IssueView.from_models(issue, partner.name),
                                         partner_manager_id=partner.manager_id, at=now))
    return issue


def issues_of(session: Session, partner: Partner, *, limit: int = 10) -> tuple[list[IssueView], int]:
    """A partner's issues, newest first, each with its linked actions: three queries, however many."""
    total = session.scalar(select(func.count(PerformanceIssue.id)).where(PerformanceIssue.partner_id == partner.id))
    issues = session.scalars(select(PerformanceIssue).where(PerformanceIssue.partner_id == partner.id)
                             .order_by(PerformanceIssue.id.desc()).limit(limit)).all()
    linked: dict[int, list[LinkedAction]] = {}
    if issues:
        for action in session.scalars(select(ActionItem).where(ActionItem.issue_id.in_([i.id for i in issues]))
                                      .order_by(ActionItem.due_date, ActionItem.id)):
            linked.setdefault(action.issue_id, []).append(LinkedAction(
                ref=action.ref, title=action.title, owner_id=action.owner_id, due_date=action.due_date,
                status=action.status))
    return [IssueView.from_models(i, partner.name, linked.get(i.id, [])) for i in issues], total


def get_issue(session: Session, issue_id: int) -> PerformanceIssue:
    issue = session.get(PerformanceIssue, issue_id)
    if issue is None:
        raise NotFound(f"There is no issue P-{issue_id + LEAD_REF_OFFSET}.")
    return issue
