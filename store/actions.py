"""Action items: create from the modal, Done (with an optional outcome), Snooze, Reassign, and the lists.

Every operation is one transaction that writes its audit event and says what happened as a domain
event (store.events.actions; the cards and notices are messages.actions' to render). Changes are
conditional UPDATEs (WHERE status = 'open'): two presses at once, exactly one wins. Refusals name
people and moments as data (store.errors.Words). Authorization is
store.permissions.require_action_owner: the owner, the creator or an admin.

Links: an action links to at most one partner, lead or issue. A lead's or an issue's partner is
stored in partner_id too, so `/action list partner NAME` is one indexed query and shows the actions
on that partner's leads and issues as well.

Snoozing, kept simple: "1 day" and "1 week" count from now (24 hours, 7 days); a chosen date means
that day's business opening in the playbook's time zone. Either way, a time outside business hours
moves to the next opening (the playbook's calendar), so a snooze never ends at 3 a.m. on a Sunday.
Reassigning ends any snooze: the new owner starts with the action awake.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import audit, events, permissions
from store.errors import AlreadyDone, Day, Moment, NotFound, Person, Typed, ValidationFailed, Words
from store.events.actions import ActionCreated, ActionDone, ActionReassigned, ActionSnoozed
from store.issues import CATEGORIES, partner_named
from store.models import (
    LEAD_REF_OFFSET,
    MAX_ID,
    ActionItem,
    Lead,
    Partner,
    PerformanceIssue,
)
from store.playbook import Playbook
from store.transitions import transition
from store.views import ActionLink, ActionView
from store import clock

PRIORITIES = ("low", "medium", "high", "urgent")
LIST_LIMIT = 40  # actions in one list: one Slack section each, plus a header and a footer, inside its 50 blocks
LIMITS = {"title": 200, "success_criteria": 2000, "impact_estimate": 2000, "outcome": 2000}
LINK_RE = re.compile(r"^(partner|lead|issue):(\d{1,12})$")
USER_MENTION_RE = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
USER_ID_RE = re.compile(r"^@?([UW][A-Z0-9]{6,})$")


def today_in(playbook: Playbook, now: dt.datetime | None = None) -> dt.date:
    """Today's date where the playbook runs (its time zone)."""
    return (now or clock.now()).astimezone(playbook.tz).date()


@dataclass(frozen=True)
class ActionDraft:
    title: str
    owner_id: str
    due_date: dt.date
    success_criteria: str | None
    impact_estimate: str | None
    priority: str
    link: tuple[str, int] | None  # ("partner" | "lead" | "issue", id)


def parse_date(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text).strip())
    except (TypeError, ValueError):
        return None


def validate_action(form: dict[str, Any], *, playbook: Playbook, now: dt.datetime | None = None) -> ActionDraft:
    """Check a submitted /action form; raise ValidationFailed with one message per bad field."""
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in form.items()}
    errors: dict[str, str] = {}
    title = values.get("title") or ""
    if not title:
        errors["title"] = "Give the action a title: what is to be done."
    owner = values.get("owner") or ""
    if not owner:
        errors["owner"] = "Choose who owns this action."
    for name, limit in LIMITS.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            errors[name] = f"Keep this under {limit} characters (it has {len(value)})."

    due = None
    if not values.get("due_date"):
        errors["due_date"] = "Pick the day this is due."
    else:
        due = parse_date(values["due_date"])
        today = today_in(playbook, now)
        if due is None:
            errors["due_date"] = "Pick the due date from the calendar."
        elif due < today:
            errors["due_date"] = Words(Day(due), " is in the past. Pick today (", Day(today), ") or a later day.")

    priority = values.get("priority") or "medium"
    if priority not in PRIORITIES:
        errors["priority"] = "Choose low, medium, high or urgent."

    link = None
    if values.get("link"):
        match = LINK_RE.match(str(values["link"]))
        if match is None or int(match.group(2)) > MAX_ID:
            errors["link"] = "Choose a partner, a lead or an issue from the list."
        else:
            link = (match.group(1), int(match.group(2)))

    if errors:
        raise ValidationFailed(errors)
    return ActionDraft(title=title, owner_id=owner, due_date=due, success_criteria=values.get("success_criteria") or None,
                       impact_estimate=values.get("impact_estimate") or None, priority=priority, link=link)


@dataclass
class ActionResult:
    action: ActionItem


def _apply_link(session: Session, action: ActionItem, link: tuple[str, int] | None) -> None:
    if link is None:
        return
    kind, object_id = link
    gone = ValidationFailed({"link": f"That {kind} no longer exists. Choose another one, or leave this empty."})
    if kind == "partner":
        if session.get(Partner, object_id) is None:
            raise gone
        action.partner_id = object_id
    elif kind == "lead":
        lead = session.get(Lead, object_id)
        if lead is None:
            raise gone
        action.lead_id, action.partner_id = lead.id, lead.partner_id
    else:
        issue = session.get(PerformanceIssue, object_id)
        if issue is None:
            raise gone
        action.issue_id, action.partner_id = issue.id, issue.partner_id


def create_action(session: Session, *, draft: ActionDraft, creator_id: str, playbook: Playbook,
                  now: dt.datetime | None = None) -> ActionResult:
    now = now or clock.now()
    action = ActionItem(title=draft.title, owner_id=draft.owner_id, created_by=creator_id, due_date=draft.due_date,
                        success_criteria=draft.success_criteria, impact_estimate=draft.impact_estimate,
                        priority=draft.priority, status="open", created_at=now, updated_at=now)
    _apply_link(session, action, draft.link)
    session.add(action)
    session.flush()
    view = action_view(session, action, playbook)
    audit.record(session, actor_id=creator_id, action="action.created", object_type="action", object_id=action.id,
                 after={"ref": action.ref, **action.snapshot(), "link": _plain_link(session, action)}, at=now)
    events.record(session, ActionCreated(action=view, by=creator_id, at=now))
    return ActionResult(action=action)


def _plain_link(session: Session, action: ActionItem) -> str | None:
    """The link as the audit trail keeps it: a reference, or the partner's name."""
    if action.issue_id:
        return f"P-{action.issue_id + LEAD_REF_OFFSET}"
    if action.lead_id:
        return f"L-{action.lead_id + LEAD_REF_OFFSET}"
    if action.partner_id:
        return session.get(Partner, action.partner_id).name
    return None


# --- views ------------------------------------------------------------------------------------

def _link(partner_name, lead_id, company, issue_id, category) -> ActionLink | None:
    """The link from LINK_COLUMNS: an issue before a lead before a partner (each carries its partner)."""
    if issue_id:
        return ActionLink(kind="issue", ref=f"P-{issue_id + LEAD_REF_OFFSET}", partner=partner_name, category=category)
    if lead_id:
        return ActionLink(kind="lead", ref=f"L-{lead_id + LEAD_REF_OFFSET}", partner=partner_name, company=company)
    if partner_name:
        return ActionLink(kind="partner", ref=None, partner=partner_name)
    return None


def _view(action: ActionItem, link: ActionLink | None, playbook: Playbook) -> ActionView:
    return ActionView(
        id=action.id, ref=action.ref, title=action.title, owner_id=action.owner_id, created_by=action.created_by,
        due_date=action.due_date, success_criteria=action.success_criteria, impact_estimate=action.impact_estimate,
        priority=action.priority, status=action.status, snoozed_until=action.snoozed_until, outcome=action.outcome,
        done_at=action.done_at, done_by=action.done_by, link=link, zone=playbook.tz)


def _with_links(query):
    return (query.outerjoin(Partner, Partner.id == ActionItem.partner_id)
            .outerjoin(Lead, Lead.id == ActionItem.lead_id)
            .outerjoin(PerformanceIssue, PerformanceIssue.id == ActionItem.issue_id))


LINK_COLUMNS = (Partner.name, ActionItem.lead_id, Lead.company, ActionItem.issue_id, PerformanceIssue.category)


def select_with_links(*columns):
    """SELECT ActionItem (and `columns`) with its link's LINK_COLUMNS after it: read rows with view_of_row."""
    return _with_links(select(ActionItem, *LINK_COLUMNS, *columns).select_from(ActionItem))


def view_of_row(row, playbook: Playbook) -> ActionView:
    """The view of a row of select_with_links: (ActionItem, *LINK_COLUMNS, ...)."""
    return _view(row[0], _link(*row[1:1 + len(LINK_COLUMNS)]), playbook)


def action_view(session: Session, action: ActionItem, playbook: Playbook) -> ActionView:
    names = session.execute(
        _with_links(select(*LINK_COLUMNS).select_from(ActionItem)).where(ActionItem.id == action.id)
    ).one()
    return _view(action, _link(*names), playbook)


def get_action(session: Session, action_id: int) -> ActionItem:
    action = session.get(ActionItem, action_id)
    if action is None:
        raise NotFound(f"There is no action A-{action_id + LEAD_REF_OFFSET}.")
    return action


def _already(action: ActionItem, zone) -> Words:
    if action.status == "done":
        return Words(f"{action.ref} was already done by ", Person(action.done_by), " ", Moment(action.done_at, zone), ".")
    return Words(f"{action.ref} was cancelled; nothing more can change on it.")


DOING = {"done": "complete", "snooze": "snooze", "reassign": "reassign"}


def check_can_act(session: Session, *, action_id: int, user_id: str, playbook: Playbook, doing: str) -> ActionView:
    """Refuse early (before a modal opens) if the caller may not act on it, or it is closed."""
    action = get_action(session, action_id)
    permissions.require_action_owner(action, user_id, doing=DOING.get(doing, doing), playbook=playbook)
    if action.status != "open":
        raise AlreadyDone(_already(action, playbook.tz))
    return action_view(session, action, playbook)


def _change(session: Session, action: ActionItem, playbook: Playbook, **values) -> None:
    """The conditional UPDATE: only an open action changes; a lost race says what happened."""
    checked_owner = action.owner_id
    if not transition(session, action, ActionItem.status == "open", ActionItem.owner_id == checked_owner, **values):
        if action.status == "open" and action.owner_id != checked_owner:
            raise AlreadyDone(Words(f"{action.ref} was just reassigned to ", Person(action.owner_id), "; nothing changed."))
        raise AlreadyDone(_already(action, playbook.tz))


def done_action(session: Session, *, action_id: int, user_id: str, playbook: Playbook, outcome: str | None = None,
                now: dt.datetime | None = None) -> None:
    now = now or clock.now()
    outcome = (outcome or "").strip() or None
    if outcome and len(outcome) > LIMITS["outcome"]:
        raise ValidationFailed({"outcome": f"Keep this under {LIMITS['outcome']} characters (it has {len(outcome)})."})
    action = get_action(session, action_id)
    permissions.require_action_owner(action, user_id, doing="complete", playbook=playbook)
    before = action.snapshot()
    _change(session, action, playbook, status="done", done_at=now, done_by=user_id, outcome=outcome, updated_at=now)
    audit.record(session, actor_id=user_id, action="action.done", object_type="action", object_id=action.id,
                 before=before, after=action.snapshot(), at=now)
    events.record(session, ActionDone(action=action_view(session, action, playbook), by=user_id, at=now))


def snooze_until(choice: str | dt.date, *, playbook: Playbook, now: dt.datetime) -> dt.datetime:
    """When a snooze ends (see the module's docstring). A date must be after today."""
    calendar = playbook.calendar
    if choice == "1d":
        return calendar.next_business_start(now + dt.timedelta(days=1))
    if choice == "1w":
        return calendar.next_business_start(now + dt.timedelta(days=7))
    if not isinstance(choice, dt.date):
        raise ValidationFailed({"until": "Choose 1 day, 1 week or a date."})
    today = today_in(playbook, now)
    if choice < today:
        raise ValidationFailed({"until": Words(Day(choice), " is in the past. Pick a day after today.")})
    if choice == today:
        raise ValidationFailed({"until": "Pick a day after today: a snooze until today would end at once."})
    opening = dt.datetime.combine(choice, playbook.business_hours.start, tzinfo=playbook.tz)
    return calendar.next_business_start(opening)


def snooze_action(session: Session, *, action_id: int, user_id: str, choice: str | dt.date, playbook: Playbook,
                  now: dt.datetime | None = None) -> ActionView:
    now = now or clock.now()
    until = snooze_until(choice, playbook=playbook, now=now)
    action = get_action(session, action_id)
    permissions.require_action_owner(action, user_id, doing="snooze", playbook=playbook)
    before = action.snapshot()
    _change(session, action, playbook, snoozed_until=until, updated_at=now)
    audit.record(session, actor_id=user_id, action="action.snoozed", object_type="action", object_id=action.id,
                 before=before, after=action.snapshot(), at=now)
    view = action_view(session, action, playbook)
    events.record(session, ActionSnoozed(action=view, by=user_id, at=now))
    return view


def reassign_action(session: Session, *, action_id: int, user_id: str, new_owner_id: str | None, playbook: Playbook,
                    now: dt.datetime | None = None) -> None:
    now = now or clock.now()
    if not new_owner_id:
        raise ValidationFailed({"owner": "Choose who takes this action over."})
    action = get_action(session, action_id)
    permissions.require_action_owner(action, user_id, doing="reassign", playbook=playbook)
    previous = action.owner_id
    if new_owner_id == previous:
        raise ValidationFailed({"owner": f"{action.ref} is already theirs. Choose someone else."})
    before = action.snapshot()
    if not transition(session, action, ActionItem.status == "open", ActionItem.owner_id == previous,
                      owner_id=new_owner_id, snoozed_until=None, updated_at=now):
        if action.status != "open":
            raise AlreadyDone(_already(action, playbook.tz))
        raise AlreadyDone(Words(f"{action.ref} was just reassigned to ", Person(action.owner_id), " by someone else."))
    audit.record(session, actor_id=user_id, action="action.reassigned", object_type="action", object_id=action.id,
                 before=before, after=action.snapshot(), at=now)
    events.record(session, ActionReassigned(action=action_view(session, action, playbook), by=user_id,
                                            previous_owner=previous, at=now))


# --- lists ------------------------------------------------------------------------------------

def parse_user(text: str) -> str | None:
    """`<@U123|name>` (what Slack sends for a mention), `<@U123>`, `@U123` or `U123` -> `U123`."""
    text = (text or "").strip()
    match = USER_MENTION_RE.match(text) or USER_ID_RE.match(text)
    return match.group(1) if match else None


def open_actions(session: Session, *, playbook: Playbook, owner_id: str | None = None, partner_id: int | None = None,
                 limit: int = LIST_LIMIT) -> tuple[list[ActionView], int]:
    """Open actions of an owner or a partner, overdue first then by due date, and how many there are.

    One query: the links' names come from outer joins and the total from a window count, so a
    manager with hundreds of open actions costs the same round trip as a rep with three. Ordering
    by due date puts overdue ones first (their due dates are before today); the index
    ix_actions_owner_status_due serves the owner's list.
    """
    conditions = [ActionItem.status == "open"]
    if owner_id is not None:
        conditions.append(ActionItem.owner_id == owner_id)
    if partner_id is not None:
        conditions.append(ActionItem.partner_id == partner_id)
    rows = session.execute(
        select_with_links(func.count().over().label("total"))
        .where(*conditions)
        .order_by(ActionItem.due_date, ActionItem.id)
        .limit(limit)
    ).all()
    total = rows[0].total if rows else 0
    return [view_of_row(row, playbook) for row in rows], total


# --- the link type-ahead ----------------------------------------------------------------------

REF_RE = re.compile(r"^\s*([LlPp])-?(\d{1,12})\s*$")


def link_choices(session: Session, query: str, *, per_group: int = 10) -> dict[str, list[tuple[str, str]]]:
    """Partners, leads and issues matching what was typed: names, companies, or a ref like L-1042."""
    from store import partners as partner_store

    text = (query or "").strip()
    like = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found: dict[str, list[tuple[str, str]]] = {"partners": [], "leads": [], "issues": []}
    ref = REF_RE.match(text)
    found["partners"] = [(f"partner:{pid}", f"{name} ({tier})")
                         for pid, name, tier in partner_store.search(session, text, limit=per_group)]
    lead_query = select(Lead.id, Lead.company, Partner.name).join(Partner, Partner.id == Lead.partner_id)
    issue_query = (select(PerformanceIssue.id, PerformanceIssue.category, PerformanceIssue.description, Partner.name)
                   .join(Partner, Partner.id == PerformanceIssue.partner_id))
    if ref:
        number = int(ref.group(2)) - LEAD_REF_OFFSET
        number = number if 0 < number <= MAX_ID else 0  # no row has 0; a larger number is an error to bind
        if ref.group(1).upper() == "L":
            lead_query = lead_query.where(Lead.id == number)
            issue_query = None
        else:
            issue_query = issue_query.where(PerformanceIssue.id == number)
            lead_query = None
    else:
        lead_query = lead_query.where(func.lower(Lead.company).like(like, escape="\\"))
        issue_query = issue_query.where(
            (func.lower(PerformanceIssue.description).like(like, escape="\\")) | (Partner.name_key.like(like, escape="\\")))
    if lead_query is not None:
        found["leads"] = [(f"lead:{lid}", f"L-{lid + LEAD_REF_OFFSET} · {company} ({partner})")
                          for lid, company, partner in session.execute(lead_query.order_by(Lead.id.desc()).limit(per_group))]
    if issue_query is not None:
        found["issues"] = [(f"issue:{iid}", f"P-{iid + LEAD_REF_OFFSET} · {CATEGORIES.get(cat, cat)} · {partner}: {desc}")
                           for iid, cat, desc, partner in
                           session.execute(issue_query.order_by(PerformanceIssue.id.desc()).limit(per_group))]
    return found


@dataclass(frozen=True)
class ActionList:
    """What `/action list [@person | partner NAME]` asked for, and what it found (one query)."""

    views: list
    total: int
    owner_id: str | None = None
    partner_name: str | None = None


def list_for(session: Session, *, caller_id: str, rest: str, playbook: Playbook) -> ActionList:
    first, _, name = rest.partition(" ")
    if first.lower() == "partner":
        partner = partner_named(session, name)
        found, total = open_actions(session, playbook=playbook, partner_id=partner.id)
        return ActionList(found, total, partner_name=partner.name)
    owner = caller_id
    if rest:
        owner = parse_user(rest)
        if owner is None:
            raise NotFound(Words("I can't tell who “", Typed(rest[:100]), "” is. Mention them (type @ and pick the person): "
                                 "`/action list @name`, or name a partner: `/action list partner NAME`."))
    found, total = open_actions(session, playbook=playbook, owner_id=owner)
    return ActionList(found, total, owner_id=owner)
