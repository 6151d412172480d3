"""CSV exports for RevOps: leads, actions and escalations, one row per object; scorecards, one
row per partner per month.

Each kind is one entry in `EXPORTS` (kind -> function returning a header and a row iterator), so
another kind (scorecards) is added in one place and the CLI's choices follow. Rows are streamed
from a column select (`yield_per`, a server-side cursor on Postgres), never loaded as ORM objects.

The cells are plain text, as stored (no Slack escaping): timestamps in ISO 8601 UTC
(`2026-11-03T14:05:00Z`), dates as `2026-11-03`, amounts as plain decimals, Slack user ids as
stored, partners by name, objects by their reference (`L-1012`). A sales org opens these files in
Excel, so a cell that Excel would read as a formula (starting with = + - @, a tab or a carriage
return) gets a leading apostrophe, as OWASP recommends; `unguard` undoes it on import.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from store import metrics, scorecards
from store.errors import NotFound
from store.models import LEAD_REF_OFFSET, ActionItem, Escalation, Lead, Partner
from store.partners import find_by_name
from store.playbook import Playbook
from store import clock

BATCH = 1000  # rows fetched per round trip while streaming
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    since: dt.datetime | None = None  # created at or after this instant
    partner_id: int | None = None
    playbook: Playbook | None = None  # scorecards: periods, targets and weights
    now: dt.datetime | None = None


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: Iterator[list[str]]


# --- cells --------------------------------------------------------------------------------------

def guard(text: str) -> str:
    """Keep spreadsheets from running a cell as a formula: `=1+1` -> `'=1+1`."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unguard(text: str) -> str:
    """The inverse of `guard`, for a file exported here and imported again."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def ref(letter: str) -> Callable[[int | None], str]:
    return lambda object_id: "" if object_id is None else f"{letter}-{object_id + LEAD_REF_OFFSET}"


@dataclass(frozen=True)
class Column:
    name: str
    expr: Any  # a SQL column expression
    text: Callable[[Any], str] = plain


def _stream(session: Session, columns: list[Column], query: Select) -> Table:
    statement = query.add_columns(*(c.expr for c in columns))

    def rows() -> Iterator[list[str]]:
        for row in session.execute(statement, execution_options={"yield_per": BATCH}):
            yield [guard(c.text(value)) for c, value in zip(columns, row)]

    return Table([c.name for c in columns], rows())


# --- the kinds ------------------------------------------------------------------------------------

LEAD_COLUMNS = [
    Column("ref", Lead.id, ref("L")),
    Column("partner", Partner.name),
    Column("direction", Lead.direction),
    Column("company", Lead.company),
    Column("domain", Lead.domain),
    Column("contact_name", Lead.contact_name),
    Column("contact_email", Lead.contact_email),
    Column("consent", Lead.consent),
    Column("problem", Lead.problem),
    Column("value_proposition", Lead.value_proposition),
    Column("next_steps", Lead.next_steps),
    Column("estimated_value", Lead.estimated_value),
    Column("product_line", Lead.product_line),
    Column("stage", Lead.stage),
    Column("sender", Lead.sender_id),
    Column("primary_owner", Lead.primary_owner_id),
    Column("backup_owner", Lead.backup_owner_id),
    Column("created_at", Lead.created_at),
    Column("accept_by", Lead.accept_by),
    Column("first_outreach_by", Lead.first_outreach_by),
    Column("accepted_at", Lead.accepted_at),
    Column("accepted_by", Lead.accepted_by),
    Column("declined_at", Lead.declined_at),
    Column("declined_by", Lead.declined_by),
    Column("decline_reason", Lead.decline_reason),
    Column("first_outreach_at", Lead.first_outreach_at),
    Column("passed_to_backup_at", Lead.passed_to_backup_at),
    Column("qualification_score", Lead.qualification_score),
    Column("closed_at", Lead.closed_at),
    Column("closed_amount", Lead.closed_amount),
    Column("close_reason", Lead.close_reason),
]
LEAD_HEADER = [c.name for c in LEAD_COLUMNS]


def export_leads(session: Session, filters: Filters) -> Table:
    query = select().select_from(Lead).join(Partner, Partner.id == Lead.partner_id).order_by(Lead.id)
    if filters.since is not None:
        query = query.where(Lead.created_at >= filters.since)
    if filters.partner_id is not None:
        query = query.where(Lead.partner_id == filters.partner_id)
    return _stream(session, LEAD_COLUMNS, query)


ACTION_COLUMNS = [
    Column("ref", ActionItem.id, ref("A")),
    Column("title", ActionItem.title),
    Column("partner", Partner.name),
    Column("lead", ActionItem.lead_id, ref("L")),
    Column("issue", ActionItem.issue_id, ref("P")),
    Column("owner", ActionItem.owner_id),
    Column("priority", ActionItem.priority),
    Column("status", ActionItem.status),
    Column("due_date", ActionItem.due_date),
    Column("success_criteria", ActionItem.success_criteria),
    Column("impact_estimate", ActionItem.impact_estimate),
    Column("snoozed_until", ActionItem.snoozed_until),
    Column("outcome", ActionItem.outcome),
    Column("done_at", ActionItem.done_at),
    Column("done_by", ActionItem.done_by),
    Column("created_by", ActionItem.created_by),
    Column("created_at", ActionItem.created_at),
]


def export_actions(session: Session, filters: Filters) -> Table:
    query = (select().select_from(ActionItem).outerjoin(Partner, Partner.id == ActionItem.partner_id)
             .order_by(ActionItem.id))
    if filters.since is not None:
        query = query.where(ActionItem.created_at >= filters.since)
    if filters.partner_id is not None:
        query = query.where(ActionItem.partner_id == filters.partner_id)
    return _stream(session, ACTION_COLUMNS, query)


# An escalation belongs to a partner through its lead or its action, as in store/metrics.py.
ESCALATION_PARTNER = func.coalesce(Lead.partner_id, ActionItem.partner_id)
ESCALATION_COLUMNS = [
    Column("ref", Escalation.id, ref("E")),
    Column("kind", Escalation.kind),
    Column("about", Escalation.about),
    Column("reason", Escalation.reason),
    Column("severity", Escalation.severity),
    Column("impact", Escalation.impact),
    Column("partner", Partner.name),
    Column("lead", Escalation.lead_id, ref("L")),
    Column("action", Escalation.action_id, ref("A")),
    Column("requester", Escalation.requester_id),
    Column("status", Escalation.status),
    Column("level", Escalation.level + 1),  # stored as an index; people count the ladder from 1
    Column("approvers", Escalation.approver_ids),
    Column("level_due_at", Escalation.level_due_at),
    Column("decided_by", Escalation.decided_by),
    Column("decided_at", Escalation.decided_at),
    Column("decision_note", Escalation.decision_note),
    Column("created_at", Escalation.created_at),
]


def export_escalations(session: Session, filters: Filters) -> Table:
    query = (select().select_from(Escalation)
             .outerjoin(Lead, Lead.id == Escalation.lead_id)
             .outerjoin(ActionItem, ActionItem.id == Escalation.action_id)
             .outerjoin(Partner, Partner.id == ESCALATION_PARTNER)
             .order_by(Escalation.id))
    if filters.since is not None:
        query = query.where(Escalation.created_at >= filters.since)
    if filters.partner_id is not None:
        query = query.where(ESCALATION_PARTNER == filters.partner_id)
    return _stream(session, ESCALATION_COLUMNS, query)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _figure(kind: str, value: float | None) -> str:
    if value is None:
        return ""
    if kind == "rate":
        return _percent(value)
    return f"{value:.2f}".rstrip("0").rstrip(".") if not float(value).is_integer() else str(int(value))


def scorecard_months(filters: Filters) -> list:
    """The months a scorecard export covers: from --since's month to the last full month (just the
    last full month without --since), in the playbook's zone."""
    playbook, now = filters.playbook, filters.now or clock.now()
    local = now.astimezone(playbook.tz)
    last = metrics.shift_month(local.year, local.month, -1)
    first = last
    if filters.since is not None:
        since = filters.since.astimezone(playbook.tz)
        first = min((since.year, since.month), last)
    months = []
    year, month = first
    while (year, month) <= last:
        months.append(metrics.month_period(playbook, year, month))
        year, month = metrics.shift_month(year, month, 1)
    return months


def export_scorecards(session: Session, filters: Filters) -> Table:
    """One row per partner per month: the same scorecard as Slack shows (store.scorecards), each
    figure beside its baseline and target. Rates in percent like the playbook's targets; counts and
    amounts per month."""
    if filters.playbook is None:
        raise ValueError("a scorecard export needs the playbook")
    keys = [(key, kind) for key, _label, kind in scorecards.LINES]
    header = ["partner", "type", "tier", "market", "period", "has_data", "score", "score_before", "trend",
              "baseline_period", "baseline_score", "regressions"]
    for key, _kind in keys:
        header += [key, f"{key}_baseline", f"{key}_target"]
    header += ["days_to_first_sale"]
    partners = scorecards.partner_infos(session, [filters.partner_id] if filters.partner_id is not None else None)

    def rows() -> Iterator[list[str]]:
        for period in scorecard_months(filters):
            cards = scorecards.scorecards(session, filters.playbook, period, partners=partners, as_of=filters.now,
                                          cache=True)
            for card in cards.values():
                p = card.partner
                row = [p.name, p.type, p.tier, p.market, period.label, plain(card.has_data), plain(card.composite),
                       plain(card.previous_composite), card.trend or "",
                       card.baseline_period.label if card.baseline_period else "", plain(card.baseline_composite),
                       ";".join(card.regressions)]
                for line in card.lines():
                    row += [_figure(line.kind, line.value), _figure(line.kind, line.baseline),
                            _figure(line.kind, line.target)]
                row.append(plain(card.days_to_first_sale) if card.is_new else "")
                yield [guard(cell) for cell in row]

    return Table(header, rows())


EXPORTS: dict[str, Callable[[Session, Filters], Table]] = {
    "leads": export_leads,
    "actions": export_actions,
    "escalations": export_escalations,
    "scorecards": export_scorecards,
}


# --- filters and writing ------------------------------------------------------------------------

def partner_names(session: Session) -> dict[str, str]:
    """Every partner's lookup key (lower case) -> its name as written: what suggestions are drawn from."""
    return dict(session.execute(select(Partner.name_key, Partner.name)).all())


def unknown_partner(session: Session, name: str, names: dict[str, str] | None = None) -> NotFound:
    """'no partner called X', with the closest name if one is close (the whole name, or its start)."""
    names = partner_names(session) if names is None else names
    typed = name.strip().lower()
    close = difflib.get_close_matches(typed, list(names), n=1, cutoff=0.75)
    if not close and len(typed) >= 4:
        starts = {key[:len(typed)]: key for key in reversed(list(names))}  # the first key wins a shared start
        close = [starts[m] for m in difflib.get_close_matches(typed, list(starts), n=1, cutoff=0.75)]
    hint = f" (did you mean {names[close[0]]}?)" if close else ""
    return NotFound(f"no partner called {name.strip()!r}{hint}")


def make_filters(session: Session, *, playbook: Playbook, since: dt.date | None = None,
                 partner: str | None = None) -> Filters:
    """`since` is a date in the playbook's time zone; `partner` a name, any case. NotFound if unknown."""
    partner_id = None
    if partner is not None:
        found = find_by_name(session, partner)
        if found is None:
            raise unknown_partner(session, partner)
        partner_id = found.id
    start = dt.datetime.combine(since, dt.time(), tzinfo=playbook.tz) if since else None
    return Filters(since=start, partner_id=partner_id, playbook=playbook, now=clock.now())


def write_csv(session: Session, kind: str, out: TextIO, filters: Filters) -> int:
    """Write the header and every row of `kind` to `out` (RFC 4180, CRLF); return the row count."""
    table = EXPORTS[kind](session, filters)
    writer = csv.writer(out)
    writer.writerow(table.header)
    count = 0
    for row in table.rows:
        writer.writerow(row)
        count += 1
    return count
