"""Per-partner figures for a period: the one place a scorecard is computed.

Every figure comes from SQL aggregates grouped by partner (conditional counts and sums), never
from rows loaded into Python per partner. One call computes any number of periods at once: each
period is a set of conditional columns over a single scan per table (leads, actions,
escalations), so a digest's six months cost three queries, not eighteen.

What each figure means, for a period [start, end):

- handed off to / from the partner: leads created in the period, by direction;
- accepted: of those, the ones accepted before the period ended; acceptance rate = accepted /
  handed off; mean hours to accept: wall-clock hours from handoff to acceptance of those (a
  business-hours median is not portable between SQLite and Postgres in SQL);
- first-outreach SLA hit rate: of the first-outreach deadlines that fell in the period (declined
  leads excluded), the share met on time (first_outreach_at <= first_outreach_by);
- wins and revenue: leads closed won in the period, and the sum of their closed amounts;
- actions done: the partner's actions done in the period; overdue: open at the period's end with
  a due date before the end's date (playbook time zone);
- escalations opened in the period on the partner's leads or actions; open: pending at its end.

No data is not zero: a rate with nothing to divide is None ("no data"), and a partner with no
activity at all in a period has ``has_data`` False. Nothing divides by zero.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from sqlalchemy import Integer, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from store.models import ActionItem, Escalation, Lead, Partner, UTCDateTime
from store.playbook import Playbook
from store import clock

REGRESSION_DROP = 0.20  # a figure more than 20% below both the month before and the baseline
STAGNATION_BAND = 0.10  # three months each within 10% of their mean
STAGNATION_MONTHS = 3
# (figure, label) checked for regressions; higher is better for each
TRACKED: tuple[tuple[str, str], ...] = (
    ("handed_off", "leads handed off"),
    ("accepted", "leads accepted"),
    ("acceptance_rate", "acceptance rate"),
    ("sla_hit_rate", "first-outreach SLA hit rate"),
    ("wins", "wins"),
    ("revenue", "revenue"),
)
STAGNATION_FIGURES: tuple[tuple[str, str], ...] = (("handed_off", "leads handed off"), ("wins", "wins"))
RATES = frozenset({"acceptance_rate", "sla_hit_rate", "hours_to_accept", "conversion_rate", "average_deal_size"})
AT_END = frozenset({"actions_overdue", "escalations_open"})  # states at the period's end, not flows


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime
    label: str
    months: float = 1  # its length in months: flows are compared per month
    leads_only: bool = False  # only the lead figures (a baseline or a month for stagnation): skips two scans
    kind: str = "month"  # month | quarter (also one still running, up to now) | custom
    ongoing: bool = False  # this month or this quarter, cut at the moment it was asked for

    @property
    def end_date(self) -> dt.date:
        """The date, in the zone the period was cut in, at which it ends (its first date after)."""
        return self.end.date()


def month_period(playbook: Playbook, year: int, month: int) -> Period:
    """A calendar month in the playbook's time zone."""
    start = dt.datetime(year, month, 1, tzinfo=playbook.tz)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=playbook.tz)
    return Period(start, end, f"{year:04d}-{month:02d}")


def shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def last_months(playbook: Playbook, year: int, month: int, count: int) -> list[Period]:
    """`count` months ending with (year, month), oldest first."""
    return [month_period(playbook, *shift_month(year, month, -k)) for k in range(count - 1, -1, -1)]


def quarter_period(playbook: Playbook, year: int, quarter: int) -> Period:
    first = 3 * (quarter - 1) + 1
    start = dt.datetime(year, first, 1, tzinfo=playbook.tz)
    ny, nm = shift_month(year, first, 3)
    return Period(start, dt.datetime(ny, nm, 1, tzinfo=playbook.tz), f"{year:04d}-Q{quarter}", months=3,
                  kind="quarter")


MONTH_DAYS = 365.25 / 12
PERIOD_HELP = ("a period is last month, this month, last quarter, this quarter, a month (2026-10), "
               "a quarter (2026-Q3) or two dates (2026-09-01..2026-10-15)")


def _custom(playbook: Playbook, first: dt.date, last: dt.date, *, end: dt.datetime | None = None,
            label: str | None = None) -> Period:
    """From the start of `first` to the end of `last` (playbook zone), or to `end` if sooner."""
    start = dt.datetime.combine(first, dt.time(0), tzinfo=playbook.tz)
    stop = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=playbook.tz)
    if end is not None and end < stop:
        stop = end
    days = max((stop - start).total_seconds() / 86400, 1.0)
    return Period(start, stop, label or f"{first:%Y-%m-%d} to {last:%Y-%m-%d}", months=days / MONTH_DAYS,
                  kind="custom")


def parse_period(text: str, playbook: Playbook, *, now: dt.datetime) -> Period:
    """A period as people write it; ValueError naming the accepted forms otherwise. "this month"
    and "this quarter" run up to `now` and compare per month like any other."""
    words = " ".join(text.strip().lower().split())
    local = now.astimezone(playbook.tz)
    quarter = (local.month - 1) // 3 + 1
    if words in ("", "last month", "month"):
        return month_period(playbook, *shift_month(local.year, local.month, -1))
    if words == "this month":
        month = month_period(playbook, local.year, local.month)
        return replace(_custom(playbook, month.start.date(), month.end.date() - dt.timedelta(days=1), end=now,
                               label=f"{month.label} so far"), kind="month", ongoing=True)
    if words in ("last quarter", "quarter"):
        return quarter_period(playbook, *((local.year - 1, 4) if quarter == 1 else (local.year, quarter - 1)))
    if words == "this quarter":
        q = quarter_period(playbook, local.year, quarter)
        return replace(_custom(playbook, q.start.date(), q.end.date() - dt.timedelta(days=1), end=now,
                               label=f"{q.label} so far"), kind="quarter", ongoing=True)
    found = re.fullmatch(r"(\d{4})-(\d{1,2})", words)
    if found and 1 <= int(found[2]) <= 12:
        return month_period(playbook, int(found[1]), int(found[2]))
    found = re.fullmatch(r"(\d{4})[- ]?q([1-4])|q([1-4])[- ]?(\d{4})", words)
    if found:
        return quarter_period(playbook, int(found[1] or found[4]), int(found[2] or found[3]))
    found = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\s*(?:\.\.|to)\s*(\d{4}-\d{2}-\d{2})", words)
    if found:
        try:
            first, last = dt.date.fromisoformat(found[1]), dt.date.fromisoformat(found[2])
        except ValueError:
            raise ValueError(f"{text.strip()!r} has a date that does not exist") from None
        if last < first:
            raise ValueError(f"{text.strip()!r} ends before it starts")
        return _custom(playbook, first, last)
    raise ValueError(f"{text.strip()!r} is not a period I know: {PERIOD_HELP}")


def previous_period(playbook: Playbook, period: Period) -> Period:
    """The period a trend compares with: the month or quarter before, or as many days just before."""
    local = period.start.astimezone(playbook.tz)
    if period.kind == "quarter":
        q = (local.month - 1) // 3 + 1
        return quarter_period(playbook, *((local.year - 1, 4) if q == 1 else (local.year, q - 1)))
    if period.kind == "month":
        return month_period(playbook, *shift_month(local.year, local.month, -1))
    days = (period.end.astimezone(playbook.tz).date() - local.date()).days or 1
    first = local.date() - dt.timedelta(days=days)
    return _custom(playbook, first, local.date() - dt.timedelta(days=1))


def parse_month(text: str) -> tuple[int, int]:
    """'2026-10' -> (2026, 10); ValueError with a readable message otherwise."""
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        dt.date(year, month, 1)
    except (ValueError, TypeError):
        raise ValueError(f"a month looks like 2026-10 (got {text!r})") from None
    return year, month


@dataclass(frozen=True)
class Figures:
    partner_id: int
    to_partner: int = 0
    from_partner: int = 0
    accepted: int = 0
    hours_to_accept: float | None = None  # median business hours from handoff to acceptance
    outreach_due: int = 0
    outreach_on_time: int = 0
    wins: int = 0
    revenue: Decimal = Decimal(0)
    lost: int = 0
    actions_done: int = 0
    actions_overdue: int = 0
    escalations_opened: int = 0
    escalations_open: int = 0
    months: int = 1

    @property
    def handed_off(self) -> int:
        return self.to_partner + self.from_partner

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.handed_off if self.handed_off else None

    @property
    def sla_hit_rate(self) -> float | None:
        return self.outreach_on_time / self.outreach_due if self.outreach_due else None

    @property
    def conversion_rate(self) -> float | None:
        """Of the leads closed in the period, the share won."""
        closed = self.wins + self.lost
        return self.wins / closed if closed else None

    @property
    def average_deal_size(self) -> float | None:
        return float(self.revenue) / self.wins if self.wins else None

    @property
    def leads_handed_off(self) -> int:
        return self.handed_off

    @property
    def has_data(self) -> bool:
        return any((self.handed_off, self.outreach_due, self.wins, self.lost, self.actions_done, self.actions_overdue,
                    self.escalations_opened, self.escalations_open))

    @property
    def activity(self) -> int:
        """How busy the partner was: what the digest ranks partners by."""
        return self.handed_off + self.accepted + self.wins + self.actions_done + self.escalations_opened

    def value(self, name: str) -> float | None:
        """A figure per month (a quarter's flows divided by three), None when there is no data."""
        raw = getattr(self, name)
        if raw is None:
            return None
        if name in RATES or name in AT_END or self.months == 1:
            return float(raw)
        return float(raw) / self.months


def _partner_filter(column, partner_ids: Iterable[int] | None):
    return [column.in_(list(partner_ids))] if partner_ids is not None else []


def figures(session: Session, periods: Sequence[Period], *, partner_ids: Iterable[int] | None = None,
            cache: bool = False, now: dt.datetime | None = None) -> list[dict[int, Figures]]:
    """`compute_figures`, with settled periods read from `period_figures` when `cache` is set (the
    Home, `/partner scorecard`, the export): a settled period is computed once, for every partner,
    and kept. The clock's jobs compute live (they write in their own transaction)."""
    if not cache:
        return compute_figures(session, periods, partner_ids=partner_ids)
    now = now or clock.now()
    ids = list(partner_ids) if partner_ids is not None else None
    found: dict[int, PeriodFigures] = {}
    settled_at = [i for i, p in enumerate(periods) if is_settled(p, now)]
    kept = read_settled(session, [periods[i] for i in settled_at], ids)
    missing = []
    for i, held in zip(settled_at, kept):
        if held is None:
            missing.append(i)
        else:
            found[i] = held
    if missing and ids is not None and len(ids) < KEEP_FROM:  # a few partners: cheaper live, kept by a bigger ask
        missing = []
    if missing:
        computed = compute_figures(session, [periods[i] for i in missing])
        keep_settled(session, [periods[i] for i in missing], computed)
        for i, every in zip(missing, computed):
            found[i] = _only(every, ids)
    live = [i for i in range(len(periods)) if i not in found]
    for i, result in zip(live, compute_figures(session, [periods[i] for i in live], partner_ids=ids)):
        found[i] = result
    return [found[i] for i in range(len(periods))]


KEEP_FROM = 50  # partners asked for at once from which a settled period is computed for all and kept
SETTLE = dt.timedelta(minutes=15)  # after a period's end, time for a deferred write stamped before it to land


def is_settled(period: Period, now: dt.datetime) -> bool:
    return not period.ongoing and period.end <= now - SETTLE


def settled_key(period: Period) -> str:
    return (f"{period.start.astimezone(dt.UTC):%Y-%m-%dT%H:%M}/{period.end.astimezone(dt.UTC):%Y-%m-%dT%H:%M}"
            f"/{'leads' if period.leads_only else 'all'}")


def _only(found: PeriodFigures, ids: list[int] | None) -> PeriodFigures:
    if ids is None:
        return found
    wanted = set(ids)
    kept = PeriodFigures({pid: f for pid, f in found.items() if pid in wanted})
    kept.overall_hours_to_accept = found.overall_hours_to_accept
    return kept


_STORED = ("to_partner", "from_partner", "accepted", "hours_to_accept", "outreach_due", "outreach_on_time", "wins",
           "lost", "actions_done", "actions_overdue", "escalations_opened", "escalations_open")


def read_settled(session: Session, periods: Sequence[Period], ids: list[int] | None) -> list[PeriodFigures | None]:
    """The kept figures of each period (None: not kept yet), in one query."""
    from store.models import PeriodFigures as Kept

    if not periods:
        return []
    keys = {settled_key(p): i for i, p in enumerate(periods)}
    query = select(Kept.period_key, Kept.partner_id, Kept.figures).where(Kept.period_key.in_(list(keys)))
    if ids is not None:
        query = query.where(Kept.partner_id.in_([0, *ids]))
    rows: list[dict[int, dict]] = [{} for _ in periods]
    for key, pid, values in session.execute(query):
        rows[keys[key]][pid] = values
    out: list[PeriodFigures | None] = []
    for p, held in zip(periods, rows):
        if 0 not in held:
            out.append(None)
            continue
        found = PeriodFigures({pid: Figures(partner_id=pid, months=p.months, revenue=Decimal(v.get("revenue", "0")),
                                            **{k: v.get(k) for k in _STORED if k in v})
                               for pid, v in held.items() if pid != 0})
        found.overall_hours_to_accept = held[0].get("overall_hours_to_accept")
        out.append(found)
    return out


def keep_settled(session: Session, periods: Sequence[Period], computed: Sequence[PeriodFigures]) -> None:
    """Keep settled figures (see `_keep_rows`)."""
    rows = []
    for p, found in zip(periods, computed):
        key = settled_key(p)
        rows.append({"period_key": key, "partner_id": 0,
                     "figures": {"overall_hours_to_accept": found.overall_hours_to_accept}})
        rows += [{"period_key": key, "partner_id": pid,
                  "figures": {**{k: getattr(f, k) for k in _STORED}, "revenue": str(f.revenue)}}
                 for pid, f in found.items()]
    _keep_rows(session, rows)


def _keep_rows(session: Session, rows: list[dict]) -> None:
    """Insert kept rows and commit. Only read-only callers ask for `cache` (the Home, the scorecard,
    the export), so committing their session commits nothing else; it is the same connection, so
    SQLite's one writer is never waited for. A row already there wins quietly, and a failure only
    means computing again next time."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from store.models import PeriodFigures as Kept

    now = clock.now()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Kept.__table__).on_conflict_do_nothing(index_elements=["period_key", "partner_id"])
    try:
        for start in range(0, len(rows), 500):
            session.execute(statement, [{"computed_at": now, **row} for row in rows[start:start + 500]])
        session.commit()
    except Exception:  # noqa: BLE001 - the figures are right either way; keeping them only saves time
        import logging

        session.rollback()
        logging.getLogger("partnerbot").exception("keeping settled figures failed")


def compute_figures(session: Session, periods: Sequence[Period], *,
                    partner_ids: Iterable[int] | None = None) -> list[dict[int, Figures]]:
    """Figures of every partner with activity, for each period: one dict per period, in order.

    A partner absent from a period's dict had no activity in it: use ``figures_of``.
    Three queries whatever the number of periods or partners.
    """
    if not periods:
        return []
    ids = list(partner_ids) if partner_ids is not None else None
    if ids is not None and not ids:
        return [{} for _ in periods]
    lo, hi = min(p.start for p in periods), max(p.end for p in periods)
    results: list[dict[int, dict]] = [{} for _ in periods]

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    # --- leads
    columns = []
    for p in periods:
        made = and_(Lead.created_at >= p.start, Lead.created_at < p.end)
        accepted = and_(made, Lead.accepted_at.is_not(None), Lead.accepted_at < p.end)
        # a lead declined after the period ended still had its deadline in it: the figure never moves
        due = and_(Lead.first_outreach_by >= p.start, Lead.first_outreach_by < p.end,
                   or_(Lead.declined_at.is_(None), Lead.declined_at >= p.end))
        won = and_(Lead.stage == "closed_won", Lead.closed_at >= p.start, Lead.closed_at < p.end)
        columns += [
            count(and_(made, Lead.direction == "to_partner")),
            count(and_(made, Lead.direction == "from_partner")),
            count(accepted),
            count(due),
            count(and_(due, Lead.first_outreach_at.is_not(None), Lead.first_outreach_at <= Lead.first_outreach_by)),
            count(won),
            func.sum(case((won, Lead.closed_amount), else_=None)),
            count(and_(Lead.stage == "closed_lost", Lead.closed_at >= p.start, Lead.closed_at < p.end)),
        ]
    window = or_(and_(Lead.created_at >= lo, Lead.created_at < hi),
                 and_(Lead.first_outreach_by >= lo, Lead.first_outreach_by < hi),
                 and_(Lead.closed_at >= lo, Lead.closed_at < hi))
    rows = session.execute(select(Lead.partner_id, *columns).where(window, *_partner_filter(Lead.partner_id, ids))
                           .group_by(Lead.partner_id)).all()
    for row in rows:
        for i, _ in enumerate(periods):
            to_p, from_p, acc, due, on_time, wins, revenue, lost = row[1 + 8 * i: 9 + 8 * i]
            results[i][row[0]] = {
                "to_partner": int(to_p or 0), "from_partner": int(from_p or 0), "accepted": int(acc or 0),
                "outreach_due": int(due or 0), "outreach_on_time": int(on_time or 0), "wins": int(wins or 0),
                "revenue": Decimal(revenue or 0), "lost": int(lost or 0),
            }

    # --- actions (every action linked to a partner, its lead or its issue carries partner_id)
    full = [i for i, p in enumerate(periods) if not p.leads_only]
    if not full:
        full_periods = []
    else:
        full_periods = [periods[i] for i in full]
        lo, hi = min(p.start for p in full_periods), max(p.end for p in full_periods)
    columns = []
    for p in full_periods:
        done = and_(ActionItem.done_at >= p.start, ActionItem.done_at < p.end)
        overdue = and_(ActionItem.status != "cancelled", ActionItem.created_at < p.end,
                       ActionItem.due_date < p.end_date,
                       or_(ActionItem.done_at.is_(None), ActionItem.done_at >= p.end))
        columns += [count(done), count(overdue)]
    window = or_(and_(ActionItem.done_at >= lo, ActionItem.done_at < hi),
                 and_(ActionItem.status != "cancelled", ActionItem.created_at < hi,
                      ActionItem.due_date < max((p.end_date for p in full_periods), default=dt.date.min),
                      or_(ActionItem.done_at.is_(None), ActionItem.done_at >= lo)))
    rows = [] if not full else session.execute(select(ActionItem.partner_id, *columns)
                           .where(ActionItem.partner_id.is_not(None), window,
                                  *_partner_filter(ActionItem.partner_id, ids))
                           .group_by(ActionItem.partner_id)).all()
    for row in rows:
        for k, i in enumerate(full):
            done, overdue = row[1 + 2 * k: 3 + 2 * k]
            results[i].setdefault(row[0], {}).update(actions_done=int(done or 0), actions_overdue=int(overdue or 0))

    # --- escalations, on the partner's leads or actions
    partner = func.coalesce(Lead.partner_id, ActionItem.partner_id)
    columns = []
    for p in full_periods:
        opened = and_(Escalation.created_at >= p.start, Escalation.created_at < p.end)
        still_open = and_(Escalation.created_at < p.end,
                          or_(Escalation.status == "pending", Escalation.decided_at >= p.end))
        columns += [count(opened), count(still_open)]
    window = and_(Escalation.created_at < hi,
                  or_(Escalation.created_at >= lo, Escalation.status == "pending", Escalation.decided_at >= lo))
    rows = [] if not full else session.execute(select(partner, *columns).select_from(Escalation)
                           .outerjoin(Lead, Lead.id == Escalation.lead_id)
                           .outerjoin(ActionItem, ActionItem.id == Escalation.action_id)
                           .where(window, partner.is_not(None), *_partner_filter(partner, ids))
                           .group_by(partner)).all()
    for row in rows:
        for k, i in enumerate(full):
            opened, still_open = row[1 + 2 * k: 3 + 2 * k]
            results[i].setdefault(row[0], {}).update(escalations_opened=int(opened or 0),
                                                     escalations_open=int(still_open or 0))

    # --- the median business hours to accept (not for leads_only periods: no trend uses it)
    timed = [i for i, p in enumerate(periods) if not p.leads_only]
    medians, overall = median_hours_to_accept(session, [periods[i] for i in timed], partner_ids=ids)
    for k, i in enumerate(timed):
        for pid, hours in medians[k].items():
            results[i].setdefault(pid, {})["hours_to_accept"] = hours

    out: list[PeriodFigures] = []
    for i, p in enumerate(periods):
        built = PeriodFigures({pid: Figures(partner_id=pid, months=p.months, **values)
                               for pid, values in results[i].items()})
        out.append(PeriodFigures({pid: f for pid, f in built.items() if f.has_data}))
        if i in timed:
            out[-1].overall_hours_to_accept = overall[timed.index(i)]
    return out


class PeriodFigures(dict[int, Figures]):
    """One period's figures by partner, and the median time to accept over all partners (a median
    of medians would be wrong, so it is computed alongside)."""

    overall_hours_to_accept: float | None = None


def median_hours_to_accept(session: Session, periods: Sequence[Period], *, partner_ids: Iterable[int] | None = None
                           ) -> tuple[list[dict[int, float]], list[float | None]]:
    """Median business hours to accept of the leads handed off in each period and accepted before it
    ended: by partner, and over all partners. One statement: the periods as a small derived table,
    joined to the leads, ranked with window functions, the middle one or two rows averaged —
    portable SQL (SQLite has no percentile function)."""
    if not periods:
        return [], []
    ids = list(partner_ids) if partner_ids is not None else None
    rows = [select(literal(i).label("idx"), literal(p.start, UTCDateTime()).label("lo"),
                   literal(p.end, UTCDateTime()).label("hi")) for i, p in enumerate(periods)]
    span = (rows[0] if len(rows) == 1 else union_all(*rows)).cte("periods")
    hours = Lead.accept_hours
    ranked = (select(span.c.idx, Lead.partner_id.label("partner"), hours.label("h"),
                     func.row_number().over(partition_by=(span.c.idx, Lead.partner_id), order_by=hours).label("rn"),
                     func.count().over(partition_by=(span.c.idx, Lead.partner_id)).label("n"),
                     func.row_number().over(partition_by=span.c.idx, order_by=hours).label("rn_all"),
                     func.count().over(partition_by=span.c.idx).label("n_all"))
              .join_from(Lead, span, and_(Lead.created_at >= span.c.lo, Lead.created_at < span.c.hi,
                                          Lead.accepted_at < span.c.hi))
              .where(hours.is_not(None), *_partner_filter(Lead.partner_id, ids))).cte("ranked")
    by_partner = (select(ranked.c.idx, ranked.c.partner, func.avg(ranked.c.h))
                  .where(or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2))
                  .group_by(ranked.c.idx, ranked.c.partner))
    overall = (select(ranked.c.idx, literal(None, Integer()).label("partner"), func.avg(ranked.c.h))
               .where(or_(ranked.c.rn_all == (ranked.c.n_all + 1) // 2,
                          ranked.c.rn_all == (ranked.c.n_all + 2) // 2))
               .group_by(ranked.c.idx))
    found: list[dict[int, float]] = [{} for _ in periods]
    everyone: list[float | None] = [None for _ in periods]
    for idx, pid, median in session.execute(union_all(by_partner, overall)):
        if pid is None:
            everyone[idx] = float(median)
        else:
            found[idx][pid] = float(median)
    return found, everyone


def figures_of(found: Mapping[int, Figures], partner_id: int, months: float = 1) -> Figures:
    """A partner's figures from a `figures()` result; an empty Figures (has_data False) if it had none."""
    return found.get(partner_id) or Figures(partner_id=partner_id, months=months)


def month_figures(session: Session, playbook: Playbook, year: int, month: int, *,
                  partner_ids: Iterable[int] | None = None) -> dict[int, Figures]:
    return figures(session, [month_period(playbook, year, month)], partner_ids=partner_ids)[0]


def previous_month_figures(session: Session, playbook: Playbook, year: int, month: int, *,
                           partner_ids: Iterable[int] | None = None) -> dict[int, Figures]:
    return month_figures(session, playbook, *shift_month(year, month, -1), partner_ids=partner_ids)


# --- baselines ---------------------------------------------------------------------------------

def _quarter_after(playbook: Playbook, moment: dt.datetime) -> Period:
    """The first calendar quarter (playbook zone) that starts at or after `moment`."""
    local = moment.astimezone(playbook.tz)
    quarter = (local.month - 1) // 3 + 1
    period = quarter_period(playbook, local.year, quarter)
    if local == period.start:
        return period
    year, q = (local.year + 1, 1) if quarter == 4 else (local.year, quarter + 1)
    return quarter_period(playbook, year, q)


def first_leads(session: Session, ids: list[int] | None, *, cache: bool = False) -> list[tuple[int, object]]:
    """(partner, its first lead's created_at) for partners with leads. With `cache`, kept in
    `period_figures` under "first_lead" (a first lead never changes once there is one), and only
    partners not kept yet are looked up."""
    from store.models import PeriodFigures as Kept

    # `partner_id + 0`: a plain scan with a hash or sort, not a walk of the partner_id index that
    # fetches every row by rowid (three times slower on SQLite; the same on Postgres)
    grouped = (Lead.partner_id + 0).label("partner")
    query = select(grouped, func.min(Lead.created_at)).where(*_partner_filter(Lead.partner_id, ids))
    if not cache:
        return list(session.execute(query.group_by(grouped)).all())
    kept_query = select(Kept.partner_id, Kept.figures).where(Kept.period_key == "first_lead")
    if ids is not None:
        kept_query = kept_query.where(Kept.partner_id.in_(ids))
    kept = [(pid, values["at"]) for pid, values in session.execute(kept_query)]
    known = [pid for pid, _ in kept]
    if ids is not None and len(known) == len(set(ids)):
        return kept
    fresh = list(session.execute((query.where(Lead.partner_id.not_in(known)) if known else query)
                                 .group_by(grouped)).all())
    if fresh:
        _keep_rows(session, [{"period_key": "first_lead", "partner_id": pid,
                              "figures": {"at": _as_utc(at).isoformat()}} for pid, at in fresh if at is not None])
    return kept + fresh


def _as_utc(moment) -> dt.datetime:
    if isinstance(moment, str):  # MIN() over a typed column can come back untyped: UTC text by contract
        moment = dt.datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def baseline_periods(session: Session, playbook: Playbook, *, as_of: dt.datetime,
                     partner_ids: Iterable[int] | None = None,
                     overrides: Mapping[int, Period] | None = None, cache: bool = False) -> dict[int, Period]:
    """Each partner's baseline period: an override (set per partner), else its first full quarter of
    data (the first quarter starting at or after its first lead) — only once that quarter is over
    by `as_of`. A partner without one is absent."""
    ids = list(partner_ids) if partner_ids is not None else None
    first = first_leads(session, ids, cache=cache)
    result: dict[int, Period] = {}
    for pid, first_at in first:
        if first_at is None:
            continue
        first_at = _as_utc(first_at)
        quarter = _quarter_after(playbook, first_at)
        if quarter.end <= as_of:
            result[pid] = quarter
    for pid, period in (overrides or {}).items():
        if ids is None or pid in ids:
            result[pid] = period
    return result


def baseline_figures(session: Session, playbook: Playbook, *, as_of: dt.datetime,
                     partner_ids: Iterable[int] | None = None,
                     overrides: Mapping[int, Period] | None = None) -> dict[int, Figures]:
    """Each partner's baseline figures (months = the period's length; compare with `.value()`).
    A partner whose baseline period had no activity gets empty figures; one without a baseline
    period is absent."""
    return figures_with_baselines(session, playbook, [], as_of=as_of, partner_ids=partner_ids,
                                   overrides=overrides)[1]


def figures_with_baselines(session: Session, playbook: Playbook, periods: Sequence[Period], *,
                            as_of: dt.datetime, partner_ids: Iterable[int] | None,
                            overrides: Mapping[int, Period] | None,
                            leads_only: bool = False, known: Mapping[int, Period] | None = None,
                            cache: bool = False) -> tuple[list[dict[int, Figures]], dict[int, Figures]]:
    """`figures(periods)` and every partner's baseline: the distinct baseline quarters (a handful,
    one per quarter in which partners started) are computed together for all partners, in one
    more figures() call, and each partner takes its own — queries never grow with partners."""
    ids = list(partner_ids) if partner_ids is not None else None
    own = dict(known) if known is not None else baseline_periods(session, playbook, as_of=as_of, partner_ids=ids,
                                                                 overrides=overrides, cache=cache)
    if leads_only:
        own = {pid: replace(period, leads_only=True) for pid, period in own.items()}
    extra = sorted({p for p in own.values() if p not in periods}, key=lambda p: (p.start, p.end))
    found = figures(session, periods, partner_ids=ids, cache=cache)
    # a separate scan for the baselines: their quarters usually lie far before `periods`, and one
    # window spanning both would evaluate every row in between
    by_period = dict(zip(periods, found)) | dict(zip(extra, figures(session, extra, partner_ids=ids, cache=cache)))
    baselines = {pid: figures_of(by_period[period], pid, period.months) for pid, period in own.items()}
    return found, baselines


# --- trends ------------------------------------------------------------------------------------

def _dropped(now: float | None, before: float | None, threshold: float) -> bool:
    return now is not None and before is not None and before > 0 and now < before * (1 - threshold)


def regressions(current: Figures, previous: Figures | None, baseline: Figures | None, *,
                threshold: float = REGRESSION_DROP) -> list[str]:
    """Labels of the figures down by more than `threshold` against BOTH the month before and the
    baseline. A partner without a baseline or without data is never flagged (no ramp-up penalty)."""
    if previous is None or baseline is None or not current.has_data:
        return []
    return [label for name, label in TRACKED
            if _dropped(current.value(name), previous.value(name), threshold)
            and _dropped(current.value(name), baseline.value(name), threshold)]


def stagnation(series: Sequence[Figures], *, band: float = STAGNATION_BAND,
               months: int = STAGNATION_MONTHS) -> list[str]:
    """Labels of the figures flat within ±band of their mean over the last `months` months (oldest
    first in `series`). Needs data in each of those months and a mean above zero."""
    window = list(series)[-months:]
    if len(window) < months or not all(f.has_data for f in window):
        return []
    flagged = []
    for name, label in STAGNATION_FIGURES:
        values = [f.value(name) or 0.0 for f in window]
        mean = sum(values) / len(values)
        if mean > 0 and all(abs(v - mean) <= band * mean for v in values):
            flagged.append(label)
    return flagged


@dataclass
class PartnerMonth:
    """One partner's month beside the month before and its baseline, with the trend flags."""

    partner_id: int
    current: Figures
    previous: Figures
    baseline: Figures | None
    history: list[Figures] = field(default_factory=list)  # the months up to this one, oldest first
    regressions: list[str] = field(default_factory=list)
    stagnation: list[str] = field(default_factory=list)


@dataclass
class MonthReport:
    period: Period
    periods: list[Period]  # the months with per-partner figures, oldest first (the last is `period`)
    partners: dict[int, PartnerMonth]
    totals: list[Figures]  # all partners summed, per month in `periods`
    chart_periods: list[Period] = field(default_factory=list)  # the months of `sla_series`, oldest first
    sla_series: list[float | None] = field(default_factory=list)  # all partners' SLA hit rate per month

    @property
    def has_data(self) -> bool:
        return any(p.current.has_data for p in self.partners.values())


def sum_figures(partner_figures: Iterable[Figures], *, hours_to_accept: float | None = None) -> Figures:
    """Partners' figures added up; the median time to accept can't be summed, so it is passed in
    (`PeriodFigures.overall_hours_to_accept`)."""
    names = ("to_partner", "from_partner", "accepted", "outreach_due", "outreach_on_time", "wins", "revenue",
             "lost", "actions_done", "actions_overdue", "escalations_opened", "escalations_open")
    sums = dict.fromkeys(names, 0)
    sums["revenue"] = Decimal(0)
    for f in partner_figures:
        for name in names:
            sums[name] += getattr(f, name)
    return Figures(partner_id=0, hours_to_accept=hours_to_accept, **sums)


def sla_series(session: Session, periods: Sequence[Period]) -> list[float | None]:
    """All partners' first-outreach SLA hit rate per period (None: no deadline fell in it): one
    query without a GROUP BY, for the digest's chart."""
    if not periods:
        return []
    lo, hi = min(p.start for p in periods), max(p.end for p in periods)
    columns = []
    for p in periods:
        due = and_(Lead.first_outreach_by >= p.start, Lead.first_outreach_by < p.end)
        columns += [func.sum(case((due, 1), else_=0)),
                    func.sum(case((and_(due, Lead.first_outreach_at <= Lead.first_outreach_by), 1), else_=0))]
    row = session.execute(select(*columns).where(Lead.first_outreach_by >= lo, Lead.first_outreach_by < hi,
                                                 Lead.declined_at.is_(None))).one()
    return [int(row[2 * i + 1] or 0) / int(row[2 * i]) if row[2 * i] else None for i in range(len(periods))]


def month_report(session: Session, playbook: Playbook, year: int, month: int, *, chart_months: int = 6,
                 partner_ids: Iterable[int] | None = None,
                 baselines: Mapping[int, Period] | None = None) -> MonthReport:
    """Every partner's month beside the month before and its baseline, with the trend flags (three
    months of per-partner figures: what stagnation needs), and the SLA hit rate of all partners over
    `chart_months` months. Partners without any activity in those three months are left out."""
    periods = last_months(playbook, year, month, max(STAGNATION_MONTHS, 2))
    # the month and the month before in full; earlier months and the baselines only need the lead
    # figures (stagnation and regressions look at those), which spares the actions and escalations
    periods = [replace(p, leads_only=True) for p in periods[:-2]] + periods[-2:]
    ids = list(partner_ids) if partner_ids is not None else None
    period = periods[-1]
    series, baseline = figures_with_baselines(session, playbook, periods, as_of=period.end, partner_ids=ids,
                                               overrides=baselines, leads_only=True)
    active = set().union(*(found.keys() for found in series))
    partners = {}
    for pid in sorted(active):
        months = [figures_of(found, pid) for found in series]
        current, previous = months[-1], months[-2]
        base = baseline.get(pid)
        partners[pid] = PartnerMonth(pid, current, previous, base, months,
                                     regressions(current, previous, base), stagnation(months))
    totals = [sum_figures(found.values(), hours_to_accept=getattr(found, "overall_hours_to_accept", None))
              for found in series]
    chart_periods = last_months(playbook, year, month, max(chart_months, 1))
    return MonthReport(period, periods, partners, totals, chart_periods, sla_series(session, chart_periods))


def partner_names(session: Session, partner_ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """{id: (name, channel_id)} in one query."""
    ids = list(partner_ids)
    if not ids:
        return {}
    return {pid: (name, channel) for pid, name, channel in session.execute(
        select(Partner.id, Partner.name, Partner.channel_id).where(Partner.id.in_(ids)))}


def upcoming_actions(session: Session, *, first: dt.date, last: dt.date,
                     limit: int = 10) -> tuple[list[tuple[int, str, str, dt.date, str]], int]:
    """Open partner actions due from `first` to `last` (inclusive), soonest first, with the partner's
    name, and how many there are: one query (the total is a window count)."""
    rows = session.execute(
        select(ActionItem.id, ActionItem.title, ActionItem.owner_id, ActionItem.due_date, Partner.name,
               func.count().over().label("total"))
        .join(Partner, Partner.id == ActionItem.partner_id)
        .where(ActionItem.status == "open", ActionItem.due_date >= first, ActionItem.due_date <= last)
        .order_by(ActionItem.due_date, ActionItem.id).limit(limit)).all()
    return [tuple(row[:5]) for row in rows], (rows[0].total if rows else 0)
