"""Bulk handoff of leads from CSV: every row is checked first, then all are handed off in one
transaction, or none.

Each row goes through the same checks as the /handoff form (`validate_draft`, with the form's
field names as column names) and the same `create_handoff`, so conflicts and duplicates are
found as in Slack, including between rows of the same file (each row sees the ones before it in
the transaction), and the owner's card, the sender's confirmation and the partner channel's
notice wait in the outbox until the caller delivers them after commit.

A file made by `partnerbot export leads` imports as it is: the columns only an export has (ref,
stage, created_at, ...) are ignored and named in the report, and the export's formula guard (a
leading apostrophe) is taken off. Any other unknown column is an error.

A file is at most MAX_BYTES (the CLI refuses a bigger one unread) and MAX_ROWS rows: all of it is
one transaction, so a bigger file is split, each part all or nothing. A cell the csv module will
not read (past its 131,072 characters, most often a quote never closed) or one with a NUL
character (which Postgres cannot store; a file saved as UTF-16 is full of them) is reported at its
line, like any other problem, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from store import events, exports, outbox
from store.csv_files import csv_rows, nul_problems
from store.errors import ImportFailed, ValidationFailed
from store.handoffs import HandoffDraft, create_handoff, validate_draft
from store.models import LEAD_REF_OFFSET, LeadConflict, OutboxMessage, Partner
from store.partners import USER_RE
from store.playbook import Playbook
from store import clock

COLUMNS = ("partner", "direction", "company", "domain", "contact_name", "contact_email", "consent", "problem",
           "value_proposition", "next_steps", "estimated_value", "product_line", "primary_owner", "backup_owner",
           "sender")
REQUIRED_COLUMNS = ("partner", "direction", "company", "problem", "next_steps", "primary_owner")
EXPORT_ONLY = tuple(c for c in exports.LEAD_HEADER if c not in COLUMNS)
USERS = ("primary_owner", "backup_owner", "sender")
YES, NO = {"yes", "y", "true", "1", "x"}, {"no", "n", "false", "0", ""}
MENTION_RE = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")
CHUNK = 500  # ids per IN (...) list
MAX_BYTES = 10_000_000  # 10 MB: a bigger file is refused unread (README: CSV in and out)
MAX_ROWS = 10_000  # rows in one file, all handed off in one transaction: a few minutes' work
PROGRESS_EVERY = 500  # leads handed off between two progress reports


def slack_user_id(text: str | None) -> str | None:
    """`U0123ABCD` or `<@U0123ABCD>` (or `<@U0123ABCD|ada>`) -> `U0123ABCD`; None if it is neither."""
    text = (text or "").strip()
    mention = MENTION_RE.match(text)
    text = mention.group(1) if mention else text
    return text if USER_RE.match(text) else None


def columns_help() -> str:
    return f"the columns are {','.join(COLUMNS)} (required: {', '.join(REQUIRED_COLUMNS)})"


@dataclass
class LeadImportReport:
    refs: list[str] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)  # imported ref -> refs it may conflict with
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # imported ref -> the partner's earlier leads
    ignored_columns: list[str] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)


@dataclass
class _Row:
    line: int  # where the row starts in the file
    values: dict[str, str]  # column -> cell, formula guard taken off
    problems: tuple[str, ...] = ()  # a row the header cannot be laid over, or cells nothing can store


def _read(text: str) -> tuple[list[str], list[_Row]]:
    """The header and the non-blank rows; ImportFailed (on line 1) for an empty file or a bad header,
    and at the first row past MAX_ROWS."""
    rows_in = csv_rows(text)
    try:
        _line, cells = next(rows_in)
    except StopIteration:
        raise ImportFailed([(1, f"the file is empty; the first line must be a header: {columns_help()}")]) from None
    header = [h.strip().lower() for h in cells]
    problems = _header_problems(header)
    if problems:
        raise ImportFailed([(1, p) for p in problems])
    rows = []
    for line, cells in rows_in:
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) == MAX_ROWS:
            raise ImportFailed([(line, f"more than {MAX_ROWS:,} rows, the most one import takes; split the file "
                                       f"into files of up to {MAX_ROWS:,} rows (each is imported all or nothing)")])
        if len(cells) != len(header):
            rows.append(_Row(line, {}, (f"expected {len(header)} columns as in the header, found {len(cells)}",)))
        elif nul := nul_problems(header, cells):
            rows.append(_Row(line, {}, tuple(nul)))
        else:
            rows.append(_Row(line, {h: exports.unguard(c).strip() for h, c in zip(header, cells) if h in COLUMNS}))
    return header, rows


def _header_problems(header: list[str]) -> list[str]:
    problems = []
    unknown = [h for h in header if h not in COLUMNS and h not in EXPORT_ONLY]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(h) for h in unknown)}; {columns_help()}")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(f"missing required column(s) {', '.join(missing)}; {columns_help()}")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        problems.append(f"column(s) {', '.join(twice)} appear more than once")
    return problems


def _form(values: dict[str, str], partners: dict[str, int], default_sender: str | None) -> tuple[dict, dict[str, str]]:
    """The handoff form's fields from one row, and the problems only a CSV row can have."""
    form: dict = dict(values)
    errors: dict[str, str] = {}
    if values.get("partner"):
        form["partner"] = partners.get(values["partner"].lower())
        if form["partner"] is None:
            errors["partner"] = "unknown"  # worded by the caller, which can look for a close name
    direction = values.get("direction", "").lower().replace("-", "_").replace(" ", "_")
    if direction and direction not in ("to_partner", "from_partner"):
        errors["direction"] = f"write to_partner or from_partner (got {values['direction']!r})"
    form["direction"] = direction
    consent = values.get("consent", "").lower()
    if consent not in YES | NO:
        errors["consent"] = f"write yes or no (got {values['consent']!r})"
    form["consent"] = consent in YES
    for name in USERS:
        given = values.get(name, "")
        form[name] = slack_user_id(given)
        if given and form[name] is None:
            errors[name] = f"{given!r} is not a Slack user id (like U0123ABCD or <@U0123ABCD>)"
    if not values.get("sender"):
        form["sender"] = default_sender
        if not default_sender:
            errors["sender"] = "empty: fill in who hands this lead off, or pass --sender"
    return form, errors


def _ordered(errors: dict[str, str]) -> list[tuple[str, str]]:
    order = {name: i for i, name in enumerate(COLUMNS)}
    return sorted(errors.items(), key=lambda item: order.get(item[0], len(order)))


def _check(session: Session, rows: list[_Row], *, playbook: Playbook,
           sender: str | None) -> list[tuple[HandoffDraft, str]]:
    """Validate every row; raise ImportFailed listing every problem, or return (draft, sender) pairs."""
    names = {r.values.get("partner", "").lower() for r in rows} - {""}
    partners = {}
    for chunk in _chunks(sorted(names)):
        partners.update(session.execute(select(Partner.name_key, Partner.id).where(Partner.name_key.in_(chunk))).all())
    problems: list[tuple[int, str]] = []
    drafts: list[tuple[HandoffDraft, str]] = []
    all_names: dict[str, str] | None = None  # loaded at the first unknown partner, for suggestions
    worded: dict[str, str] = {}  # each unknown name is worded once, however many rows have it
    for row in rows:
        if row.problems:
            problems += [(row.line, problem) for problem in row.problems]
            continue
        form, errors = _form(row.values, partners, sender)
        if errors.get("partner") == "unknown":
            key = row.values["partner"].lower()
            if key not in worded:
                all_names = exports.partner_names(session) if all_names is None else all_names
                worded[key] = str(exports.unknown_partner(session, row.values["partner"], all_names))
            errors["partner"] = worded[key]
        try:
            draft = validate_draft({k: v for k, v in form.items() if k not in errors}, playbook=playbook)
        except ValidationFailed as failure:
            errors = {**failure.errors, **errors}  # ours are more precise where both speak
        if errors:
            problems += [(row.line, f"{name}: {message}") for name, message in _ordered(errors)]
        else:
            drafts.append((draft, form["sender"]))
    if problems:
        raise ImportFailed(problems)
    return drafts


def _chunks(items: list) -> Iterator[list]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _ref(lead_id: int) -> str:
    return f"L-{lead_id + LEAD_REF_OFFSET}"


def import_leads_csv(session: Session, text: str, *, playbook: Playbook, sender: str | None = None,
                     now: dt.datetime | None = None,
                     progress: Callable[[int, int], None] | None = None) -> LeadImportReport:
    """Check every row, then hand off each lead in this session's transaction (the caller commits).

    `sender` (a Slack user id) fills the rows whose sender cell is empty, or stands in for a
    missing sender column. Raises ImportFailed, with (line, "column: problem") pairs, if anything
    in the file is wrong; nothing has been written then. `progress(done, total)` hears, for a file
    of more than PROGRESS_EVERY leads, when the checks pass (done 0) and every PROGRESS_EVERY leads.
    """
    header, rows = _read(text)
    if "sender" not in header and not sender:
        raise ImportFailed([(1, "sender: the file has no sender column and no --sender was given; "
                                "say who hands these leads off, e.g. --sender U0123ABCD")])
    drafts = _check(session, rows, playbook=playbook, sender=sender)
    report = LeadImportReport(ignored_columns=[h for h in header if h in EXPORT_ONLY])
    now = now or clock.now()
    ids = []
    total = len(drafts)
    tell = progress if progress is not None and total > PROGRESS_EVERY else (lambda done, total: None)
    tell(0, total)
    for draft, sender_id in drafts:
        if ids and len(ids) % PROGRESS_EVERY == 0:
            tell(len(ids), total)
        result = create_handoff(session, draft=draft, sender_id=sender_id, playbook=playbook, now=now)
        ids.append(result.lead.id)
        report.outbox_ids += events.flush(session)  # its messages, written now: the report lists them
        if result.duplicates:
            report.duplicates[result.lead.ref] = [d.ref for d in result.duplicates]
    tell(len(ids), total)
    report.refs = [_ref(i) for i in ids]
    report.outbox_ids = sorted(set(report.outbox_ids))  # a card re-rendered by a later row is listed once
    for chunk in _chunks(ids):  # both ways: an earlier row learns of the later rows it conflicts with
        pairs = session.execute(select(LeadConflict.lead_id, LeadConflict.other_lead_id)
                                .where(LeadConflict.lead_id.in_(chunk))
                                .order_by(LeadConflict.lead_id, LeadConflict.other_lead_id))
        for lead_id, other_id in pairs:
            report.conflicts.setdefault(_ref(lead_id), []).append(_ref(other_id))
    return report


# --- after commit -----------------------------------------------------------------------------------

def deliver(factory: sessionmaker[Session], sender: outbox.Sender, ids: list[int], *, batch: int = 200) -> outbox.DeliveryReport:
    """Send an import's queued messages now, in order. At the first sign of Slack trouble (an
    error worth retrying) stop: the rest stay in the outbox, and the clock sends them later."""
    total = outbox.DeliveryReport()
    for chunk in (ids[i:i + batch] for i in range(0, len(ids), batch)):
        report = outbox.deliver(factory, sender, ids=chunk, limit=batch)
        total.add(report)
        if report.retrying or not (report.sent or report.failed):
            break
    return total


@dataclass
class Delivered:
    sent: int = 0
    waiting: int = 0
    failed: int = 0


def delivery_state(session: Session, ids: list[int]) -> dict[str, Delivered]:
    """How an import's messages stand: by kind for new posts (`lead_card` is a new owner's card),
    `KIND:update` for edits of cards already in Slack, and `all`."""
    state = {"all": Delivered(), "lead_card": Delivered()}
    field_of = {"sent": "sent", "pending": "waiting", "failed": "failed"}
    for chunk in _chunks(ids):
        for kind, method, status, count in session.execute(
                select(OutboxMessage.kind, OutboxMessage.method, OutboxMessage.status, func.count())
                .where(OutboxMessage.id.in_(chunk))
                .group_by(OutboxMessage.kind, OutboxMessage.method, OutboxMessage.status)):
            for key in (kind if method == "chat.postMessage" else f"{kind}:update", "all"):
                counts = state.setdefault(key, Delivered())
                setattr(counts, field_of[status], getattr(counts, field_of[status]) + count)
    return state
