"""App Home: what a person's dashboard shows (bot.services publishes it).

A dashboard is read in a fixed number of queries whatever the person's workload: the leads waiting
on them, their open actions (overdue first), the escalations waiting for their decision, and —
for partner managers and admins — a page of partner scorecards (store/scorecards.py) narrowed by
the filters they chose, which are kept in `home_tabs` so a refresh caused by the clock or by
someone else's click keeps them; a change Slack refuses to show is taken back (`take_back`), so what is
kept is what the person sees. Only people who have opened the Home tab get refreshes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, case, cast, func, or_, select
from sqlalchemy.orm import Session

from store import actions as action_store
from store import escalations as escalation_store
from store import handoffs, metrics, scorecards
from store.models import ActionItem, Escalation, HomeTab, Lead, Partner
from store.playbook import Playbook
from store.scorecards import TREND_REGRESSING, PartnerInfo, Scorecard
from store import clock

log = logging.getLogger("partnerbot")

LEADS_SHOWN, ACTIONS_SHOWN, ESCALATIONS_SHOWN = 8, 8, 5
PARTNERS_PER_PAGE = 10
PERIODS = ("last month", "this month", "last quarter", "this quarter")
FILTERS = ("type", "tier", "market", "product_line")
ANY = "*"


@dataclass
class ScorecardPage:
    cards: list[Scorecard]
    page: int
    pages: int
    total: int  # partners matching the filters
    scope_total: int  # partners in scope before the filters
    scope: str  # "mine" | "all"
    period: metrics.Period
    options: dict[str, list[str]]  # filter -> the values seen in scope


@dataclass
class Dashboard:
    user_id: str
    filters: dict[str, Any]
    leads: list = field(default_factory=list)  # LeadView
    leads_total: int = 0
    actions: list = field(default_factory=list)  # ActionView
    actions_total: int = 0
    overdue: int = 0
    escalations: list = field(default_factory=list)  # EscalationView
    escalations_total: int = 0
    scorecards: ScorecardPage | None = None
    today: dt.date | None = None


def clean_filters(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Filters as stored, with anything unknown dropped (a playbook change can remove a tier)."""
    raw = raw or {}
    found: dict[str, Any] = {key: raw[key] for key in FILTERS if isinstance(raw.get(key), str) and raw[key] != ANY}
    found["period"] = raw.get("period") if raw.get("period") in PERIODS else PERIODS[0]
    page = raw.get("page")
    found["page"] = page if isinstance(page, int) and page >= 0 else 0
    return found


def waiting_leads(session: Session, user_id: str, *, limit: int = LEADS_SHOWN) -> tuple[list[Lead], int]:
    """Leads whose next step is this person's: to accept, or first outreach to make; soonest first."""
    mine = or_(Lead.primary_owner_id == user_id, Lead.backup_owner_id == user_id)
    waiting = or_(Lead.stage == "handed_off", (Lead.stage == "accepted") & Lead.first_outreach_at.is_(None))
    deadline = case((Lead.stage == "handed_off", Lead.accept_by), else_=Lead.first_outreach_by)
    rows = session.execute(select(Lead, func.count().over().label("total")).where(mine, waiting)
                           .order_by(deadline, Lead.id).limit(limit)).all()
    return [row[0] for row in rows], (rows[0].total if rows else 0)


def awaiting_decision(session: Session, user_id: str, *, limit: int = ESCALATIONS_SHOWN
                      ) -> tuple[list[Escalation], int]:
    """Pending escalations whose current level this person approves, the most urgent first. The
    approver list is a JSON array; matching its text for the quoted id works on SQLite and Postgres."""
    rows = session.execute(select(Escalation, func.count().over().label("total"))
                           .where(Escalation.status == "pending",
                                  cast(Escalation.approver_ids, String).like(f'%"{user_id}"%'))
                           .order_by(Escalation.level_due_at, Escalation.id).limit(limit)).all()
    return [row[0] for row in rows], (rows[0].total if rows else 0)


def _sort_key(card: Scorecard):
    """Needs attention first: regressing, then the lowest score; no data last."""
    if not card.has_data:
        return (2, 0.0, card.partner.name.lower())
    score = card.composite if card.composite is not None else 101.0
    return (0 if card.trend == TREND_REGRESSING else 1, score, card.partner.name.lower())


def scorecard_page(session: Session, playbook: Playbook, *, user_id: str, filters: dict[str, Any],
                   now: dt.datetime) -> ScorecardPage | None:
    """The page of scorecards a manager (their partners) or an admin (every partner) sees; None for
    anyone else."""
    scope = "all" if playbook.is_admin(user_id) else "mine"
    if scope == "mine":
        manages = session.scalar(select(func.count(Partner.id)).where(Partner.manager_id == user_id))
        if not manages:
            return None
    everyone = scorecards.partner_infos(session, manager_id=user_id if scope == "mine" else None)
    options = {
        "type": sorted({p.type for p in everyone.values()}),
        "tier": [t for t in playbook.tiers if any(p.tier == t for p in everyone.values())],
        "market": sorted({p.market for p in everyone.values() if p.market}),
        "product_line": sorted({line for p in everyone.values() for line in p.product_lines}),
    }
    chosen = {pid: p for pid, p in everyone.items() if _matches(p, filters)}
    period = metrics.parse_period(filters["period"], playbook, now=now)
    cards = sorted(scorecards.scorecards(session, playbook, period, partners=chosen, as_of=now, cache=True).values(),
                   key=_sort_key) if chosen else []
    pages = max(1, -(-len(cards) // PARTNERS_PER_PAGE))
    page = min(filters["page"], pages - 1)
    shown = cards[page * PARTNERS_PER_PAGE:(page + 1) * PARTNERS_PER_PAGE]
    return ScorecardPage(shown, page, pages, len(cards), len(everyone), scope, period, options)


def _matches(partner: PartnerInfo, filters: dict[str, Any]) -> bool:
    if filters.get("type") and partner.type != filters["type"]:
        return False
    if filters.get("tier") and partner.tier != filters["tier"]:
        return False
    if filters.get("market") and partner.market != filters["market"]:
        return False
    return not filters.get("product_line") or filters["product_line"] in partner.product_lines


def dashboard(session: Session, playbook: Playbook, user_id: str, *, filters: dict[str, Any] | None = None,
              now: dt.datetime | None = None) -> Dashboard:
    now = now or clock.now()
    if filters is None:
        tab = session.get(HomeTab, user_id)
        filters = tab.filters if tab is not None else {}
    board = Dashboard(user_id=user_id, filters=clean_filters(filters), today=action_store.today_in(playbook, now))
    leads, board.leads_total = waiting_leads(session, user_id)
    board.leads = handoffs.lead_views(session, leads, playbook)
    board.actions, board.actions_total = action_store.open_actions(session, playbook=playbook, owner_id=user_id,
                                                                   limit=ACTIONS_SHOWN)
    if board.actions_total:
        board.overdue = session.scalar(select(func.count()).select_from(
            select(1).where(ActionItem.owner_id == user_id, ActionItem.status == "open",
                            ActionItem.due_date < board.today).subquery())) or 0
    pending, board.escalations_total = awaiting_decision(session, user_id)
    board.escalations = [escalation_store.escalation_view(session, e, playbook) for e in pending]
    board.scorecards = scorecard_page(session, playbook, user_id=user_id, filters=board.filters, now=now)
    return board


def remember(session: Session, user_id: str, *, filters: dict[str, Any] | None = None,
             now: dt.datetime | None = None) -> dict[str, Any]:
    """Note that this person uses the Home tab (and their new filters); the filters now in force."""
    tab = session.get(HomeTab, user_id)
    if tab is None:
        tab = HomeTab(user_id=user_id, filters={})
        session.add(tab)
    if filters is not None:
        tab.filters = clean_filters(filters)
    tab.opened_at = now or clock.now()
    return clean_filters(tab.filters)


def change_filters(session: Session, user_id: str, **changes: Any) -> dict[str, Any]:
    """Apply a filter choice (ANY clears it); any filter change goes back to the first page."""
    tab = session.get(HomeTab, user_id)
    current = dict(tab.filters) if tab is not None else {}
    for key, value in changes.items():
        if key in FILTERS and value == ANY:
            current.pop(key, None)
        else:
            current[key] = value
    if "page" not in changes:
        current["page"] = 0
    return remember(session, user_id, filters=current)


def take_back(session: Session, user_id: str, *, saved: dict[str, Any], previous: dict[str, Any]) -> bool:
    """Put back the filters kept before a change Slack did not show, unless a newer change replaced it."""
    tab = session.get(HomeTab, user_id, with_for_update=True)
    if tab is None or clean_filters(tab.filters) != saved:
        return False
    tab.filters = previous
    return True


def keep(session: Session, user_id: str, **changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep what a person asked their Home to show (an open, a filter, a page), before it is published:
    the filters kept before, and those kept now (for take_back if Slack refuses the new Home)."""
    tab = session.get(HomeTab, user_id)
    previous = dict(tab.filters) if tab is not None else {}
    saved = change_filters(session, user_id, **changes) if changes else remember(session, user_id)
    return previous, saved


def users_of_home(session: Session, user_ids: Iterable[str]) -> list[str]:
    """Those of these people who have opened their Home (only they get refreshes)."""
    wanted = {u for u in user_ids if u and u[:1] in ("U", "W")}
    if not wanted:
        return []
    return list(session.scalars(select(HomeTab.user_id).where(HomeTab.user_id.in_(sorted(wanted)))))


def audiences(session: Session, outbox_ids: Iterable[int]) -> set[str]:
    """The people the given outbox messages were for: whose Homes a change touched."""
    from store.models import OutboxMessage

    ids = list(outbox_ids)
    if not ids:
        return set()
    return {a for a in session.scalars(select(OutboxMessage.audience).where(OutboxMessage.id.in_(ids))) if a}
