"""Partner scorecards: the one place a scorecard is computed.

A scorecard is a partner's figures for a period (`store.metrics.figures`, SQL aggregates grouped
by partner) beside three references:

- its **baseline**: the period set with `/partner baseline` (`Partner.baseline_period`), else its
  first full quarter of leads;
- its **tier's targets** from the playbook (`scorecards.targets`; counts and amounts per month,
  rates in percent), so a young partner is held to its own tier's bar;
- the **period before** (same length), for the trend.

Flows are compared per month (`Figures.value`), rates as they are: partners of different sizes
and periods of different lengths compare fairly. The **composite score** (0–100) is the weighted
mean of each scored figure's attainment of its target (capped at 100%: a record month in one
figure does not hide a miss in another); a figure with no data or no target drops out with its
weight, and with nothing to score there is no composite — never a zero passed off as a score.
The **trend** compares the composite with the period before: up by `trend_points` or more is
improving, down by as much is regressing, else stagnant; a tracked figure more than 20% below
both the period before and the baseline (`metrics.regressions`) makes a flat score regressing.

The digest, the review agendas, `/partner scorecard`, App Home and the CSV export all call
`scorecards()` or `assemble()` from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import audit, metrics, permissions
from store.errors import NotFound, ValidationFailed
from store.metrics import Figures, Period
from store.models import Lead, Partner
from store.playbook import SCORED_FIGURES, Playbook
from store import clock

TREND_IMPROVING, TREND_STAGNANT, TREND_REGRESSING = "improving", "stagnant", "regressing"
PERCENT_FIGURES = frozenset({"acceptance_rate", "sla_hit_rate", "conversion_rate"})


@dataclass(frozen=True)
class PartnerInfo:
    id: int
    name: str
    type: str
    tier: str
    market: str
    product_lines: tuple[str, ...]
    manager_id: str | None
    channel_id: str | None
    created_at: dt.datetime
    baseline_period: str | None


@dataclass(frozen=True)
class Line:
    """One figure of a scorecard: per month for flows, a share (0–1) for rates."""

    key: str
    label: str
    kind: str  # count | rate | hours | money
    value: float | None
    baseline: float | None
    target: float | None  # in the figure's own unit (a rate as 0–1)
    previous: float | None
    lower_is_better: bool = False

    @property
    def attainment(self) -> float | None:
        return attainment(self.value, self.target, lower_is_better=self.lower_is_better)


# (figure, label, kind) in the order a scorecard shows them
LINES: tuple[tuple[str, str, str], ...] = (
    ("to_partner", "Leads handed to the partner", "count"),
    ("from_partner", "Leads from the partner", "count"),
    ("leads_handed_off", "Leads handed off", "count"),
    ("acceptance_rate", "Acceptance rate", "rate"),
    ("hours_to_accept", "Median time to accept", "hours"),
    ("sla_hit_rate", "First-outreach SLA hit rate", "rate"),
    ("conversion_rate", "Conversion (won of closed)", "rate"),
    ("wins", "Deals won", "count"),
    ("revenue", "Revenue won", "money"),
    ("average_deal_size", "Average deal size", "money"),
    ("actions_done", "Actions done", "count"),
    ("actions_overdue", "Actions overdue", "count"),
    ("escalations_open", "Escalations open", "count"),
)


def attainment(value: float | None, target: float | None, *, lower_is_better: bool = False) -> float | None:
    """How much of its target a figure reached, 0–1; None without a value or a target."""
    if value is None or target is None or target <= 0:
        return None
    if lower_is_better:
        return 1.0 if value <= target else target / value
    return min(value / target, 1.0)


def target_units(targets: Mapping[str, float]) -> dict[str, float]:
    """Playbook targets in the figures' units: percentages become shares."""
    return {key: value / 100.0 if key in PERCENT_FIGURES else value for key, value in targets.items()}


def composite(figures: Figures | None, targets: Mapping[str, float], weights: Mapping[str, float]) -> float | None:
    """The weighted mean attainment of the scored figures, 0–100, one decimal; None if nothing
    could be scored (no data, or no target for any weighted figure)."""
    if figures is None or not figures.has_data:
        return None
    units = target_units(targets)
    got = total = 0.0
    for key, weight in weights.items():
        if weight <= 0:
            continue
        reached = attainment(figures.value(key), units.get(key), lower_is_better=SCORED_FIGURES.get(key, False))
        if reached is not None:
            got += weight * reached
            total += weight
    return round(100.0 * got / total, 1) if total else None


def trend(now: float | None, before: float | None, *, points: float, regressions: list[str]) -> str | None:
    if now is None or before is None:
        return None
    if now - before >= points:
        return TREND_IMPROVING
    if before - now >= points or regressions:
        return TREND_REGRESSING
    return TREND_STAGNANT


@dataclass
class Scorecard:
    partner: PartnerInfo
    period: Period
    current: Figures
    previous: Figures
    baseline: Figures | None
    baseline_period: Period | None
    targets: dict[str, float]  # the playbook's, rates in percent
    composite: float | None
    previous_composite: float | None
    baseline_composite: float | None
    trend: str | None
    regressions: list[str] = field(default_factory=list)
    first_sale_at: dt.datetime | None = None
    previous_period: Period | None = None
    is_new: bool = False  # added within the playbook's new_partner_days of the period's end

    @property
    def has_data(self) -> bool:
        return self.current.has_data

    @property
    def days_to_first_sale(self) -> int | None:
        if self.first_sale_at is None:
            return None
        return max(0, (self.first_sale_at - self.partner.created_at).days)

    def lines(self) -> list[Line]:
        units = target_units(self.targets)
        return [Line(key, label, kind, self.current.value(key),
                     self.baseline.value(key) if self.baseline is not None and self.baseline.has_data else None,
                     units.get(key), self.previous.value(key) if self.previous.has_data else None,
                     SCORED_FIGURES.get(key, False))
                for key, label, kind in LINES]


def assemble(partner: PartnerInfo, period: Period, current: Figures, previous: Figures, baseline: Figures | None,
             *, playbook: Playbook, baseline_period: Period | None = None,
             first_sale_at: dt.datetime | None = None, previous_period: Period | None = None) -> Scorecard:
    """A scorecard from figures already computed: what every caller goes through."""
    targets = playbook.targets_for(partner.tier)
    weights = playbook.scorecards.weights
    score = composite(current, targets, weights)
    before = composite(previous, targets, weights)
    flagged = metrics.regressions(current, previous, baseline)
    new_since = period.end - dt.timedelta(days=playbook.scorecards.new_partner_days)
    return Scorecard(
        partner=partner, period=period, current=current, previous=previous, baseline=baseline,
        baseline_period=baseline_period, targets=targets, composite=score, previous_composite=before,
        baseline_composite=composite(baseline, targets, weights),
        trend=trend(score, before, points=playbook.scorecards.trend_points, regressions=flagged),
        regressions=flagged, first_sale_at=first_sale_at, previous_period=previous_period, is_new=partner.created_at >= new_since,
    )


def month_cards(report: metrics.MonthReport, partners: Mapping[int, PartnerInfo], playbook: Playbook
                ) -> dict[int, Scorecard]:
    """The scorecards of a month report's partners (the digest): no further queries."""
    before = report.periods[-2] if len(report.periods) > 1 else None
    return {pid: assemble(partners[pid], report.period, pm.current, pm.previous, pm.baseline, playbook=playbook,
                          previous_period=before)
            for pid, pm in report.partners.items() if pid in partners}


def partner_infos(session: Session, partner_ids: Iterable[int] | None = None, **filters: str | None
                  ) -> dict[int, PartnerInfo]:
    """Partners by id, in name order, narrowed by type, tier, market, product_line and manager:
    one query of columns."""
    query = select(Partner.id, Partner.name, Partner.type, Partner.tier, Partner.market, Partner.product_lines,
                   Partner.manager_id, Partner.channel_id, Partner.created_at, Partner.baseline_period)
    if partner_ids is not None:
        query = query.where(Partner.id.in_(list(partner_ids)))
    for column in ("type", "tier", "market", "manager_id"):
        if filters.get(column):
            query = query.where(getattr(Partner, column) == filters[column])
    line = filters.get("product_line")
    rows = session.execute(query.order_by(Partner.name_key)).all()
    return {row.id: PartnerInfo(row.id, row.name, row.type, row.tier, row.market or "", tuple(row.product_lines or ()),
                                row.manager_id, row.channel_id, row.created_at, row.baseline_period)
            for row in rows if not line or line in (row.product_lines or ())}


def baseline_overrides(playbook: Playbook, partners: Iterable[PartnerInfo]) -> dict[int, Period]:
    overrides = {}
    for partner in partners:
        if partner.baseline_period:
            try:
                overrides[partner.id] = metrics.parse_period(partner.baseline_period, playbook, now=clock.now())
            except ValueError:  # written by set_baseline, which checks it; a playbook zone change can't break it
                continue
    return overrides


def first_sales(session: Session, partner_ids: Iterable[int]) -> dict[int, dt.datetime]:
    """Each partner's first closed-won lead: one grouped query."""
    ids = list(partner_ids)
    if not ids:
        return {}
    rows = session.execute(select(Lead.partner_id, func.min(Lead.closed_at))
                           .where(Lead.stage == "closed_won", Lead.partner_id.in_(ids))
                           .group_by(Lead.partner_id)).all()
    found = {}
    for pid, first in rows:
        if isinstance(first, str):  # MIN() over a typed column comes back untyped on SQLite
            first = dt.datetime.fromisoformat(first)
        if first is not None:
            found[pid] = first if first.tzinfo else first.replace(tzinfo=dt.UTC)
    return found


def scorecards(session: Session, playbook: Playbook, period: Period, *,
               partners: Mapping[int, PartnerInfo] | None = None, as_of: dt.datetime | None = None,
               cache: bool = False) -> dict[int, Scorecard]:
    """Scorecards of the given partners (all by default) for `period`, in the partners' order.
    A constant number of queries whatever the number of partners; with `cache`, settled periods
    are read from what was kept (metrics.figures)."""
    if partners is None:
        partners = partner_infos(session)
    if not partners:
        return {}
    ids = list(partners)
    before = metrics.previous_period(playbook, period)
    overrides = baseline_overrides(playbook, partners.values())
    own_periods = metrics.baseline_periods(session, playbook, as_of=as_of or clock.now(), partner_ids=ids,
                                           overrides=overrides, cache=cache)
    (previous, current), baselines = metrics.figures_with_baselines(
        session, playbook, [before, period], as_of=as_of or clock.now(), partner_ids=ids, overrides=overrides,
        known=own_periods, cache=cache)
    sales = first_sales(session, ids)
    return {pid: assemble(info, period, metrics.figures_of(current, pid, period.months),
                          metrics.figures_of(previous, pid, before.months), baselines.get(pid),
                          playbook=playbook, baseline_period=own_periods.get(pid), first_sale_at=sales.get(pid),
                          previous_period=before)
            for pid, info in partners.items()}


def scorecard(session: Session, playbook: Playbook, partner_id: int, period: Period, *,
              cache: bool = True) -> Scorecard:
    """One partner's scorecard; NotFound if the partner is gone."""
    partners = partner_infos(session, [partner_id])
    if not partners:
        raise NotFound("That partner no longer exists. See the partners with `/partner list`.")
    return scorecards(session, playbook, period, partners=partners, cache=cache)[partner_id]


def split_name_and_period(session: Session, text: str, playbook: Playbook) -> tuple[str, str]:
    """'Globex Partners last quarter' -> ('Globex Partners', 'last quarter'). A whole partner name
    wins; then a partner name followed by up to three words (whatever they are: a bad period gets
    its own answer); then the longest tail of up to three words that reads as a period."""
    from store.partners import find_by_name

    text = " ".join(text.split())
    if not text or find_by_name(session, text) is not None:
        return text, ""
    words = text.split(" ")
    cuts = [size for size in (1, 2, 3) if len(words) > size]
    for size in cuts:
        if find_by_name(session, " ".join(words[:-size])) is not None:
            return " ".join(words[:-size]), " ".join(words[-size:])
    for size in reversed(cuts):
        tail = " ".join(words[-size:])
        try:
            metrics.parse_period(tail, playbook, now=clock.now())
        except ValueError:
            continue
        return " ".join(words[:-size]), tail
    return text, ""


# --- setting a baseline ---------------------------------------------------------------------------

def canonical(period: Period) -> str:
    """How a chosen baseline is stored: absolute ("last quarter" becomes 2026-Q3)."""
    if period.kind in ("month", "quarter"):
        return period.label
    last = (period.end - dt.timedelta(seconds=1)).date()
    return f"{period.start.date():%Y-%m-%d}..{last:%Y-%m-%d}"


def baseline_of(session: Session, playbook: Playbook, partner: Partner, *, now: dt.datetime | None = None):
    """A partner's baseline as the scorecards use it: the period and whether someone chose it (a
    `partners.baselines` entry or `/partner baseline`) rather than the default first full quarter."""
    own = baseline_overrides(playbook, partner_infos(session, [partner.id]).values())
    found = metrics.baseline_periods(session, playbook, as_of=now or clock.now(), partner_ids=[partner.id],
                                     overrides=own)
    return found.get(partner.id), bool(own)


def set_baseline(session: Session, playbook: Playbook, *, partner: Partner, text: str, actor_id: str,
                 now: dt.datetime | None = None) -> Period | None:
    """Set (or with "default" clear) the partner's baseline period; only its partner manager or an
    admin may. The period must be over: a baseline is what was, not what is still moving."""
    now = now or clock.now()
    permissions.require_one_of(actor_id, [partner.manager_id or ""], playbook=playbook, admins_too=True,
                               doing=f"change {partner.name}'s baseline", why="it is their partner's yardstick")
    words = text.strip().lower()
    before = partner.baseline_period
    if words in ("default", "reset", "first quarter"):
        chosen, stored = None, None
    else:
        try:
            chosen = metrics.parse_period(text, playbook, now=now)
        except ValueError as problem:
            raise ValidationFailed({"period": str(problem)}) from None
        if chosen.ongoing or chosen.end > now:
            raise ValidationFailed({"period": f"{chosen.label.removesuffix(' so far')} is not over yet; a baseline must be a period "
                                              "that has ended, e.g. last quarter."})
        stored = canonical(chosen)
    partner.baseline_period = stored
    partner.updated_at = now
    audit.record(session, actor_id=actor_id, action="partner.baseline_set", object_type="partner",
                 object_id=partner.id, before={"baseline_period": before}, after={"baseline_period": stored}, at=now)
    return chosen
