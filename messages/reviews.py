"""The review reminder posted in a partner's channel, with its agenda (review.md.j2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from messages import blocks as b
from messages.digest import count, hours, rate
from messages.prose import render
from messages.scorecards import score, trend_mark
from messages.text import escape, money, truncate, when
from store.metrics import Figures
from store.scorecards import Scorecard

ITEMS_PER_SECTION = 8


@dataclass
class Agenda:
    """What a partner's review should go through; rows are plain tuples from bulk queries."""

    actions: list[tuple[int, str, str, dt.date]] = field(default_factory=list)  # id, title, owner, due
    issues: list[tuple[int, str, str]] = field(default_factory=list)  # id, category, description
    escalations: list[tuple[int, str, str, dt.datetime]] = field(default_factory=list)  # id, about, kind, due
    leads: list[tuple[int, str, str, dt.datetime]] = field(default_factory=list)  # id, company, owner, accept by
    since: Figures | None = None
    before: Figures | None = None
    card: Scorecard | None = None  # the partner's scorecard for `since`


CHANGES: tuple[tuple[str, str, Any], ...] = (
    ("handed_off", "Leads handed off", count),
    ("acceptance_rate", "Acceptance rate", rate),
    ("hours_to_accept", "Median time to accept (business hours)", lambda v: "no data" if v is None else hours(v)),
    ("conversion_rate", "Conversion (won of closed)", rate),
    ("sla_hit_rate", "First-outreach SLA hit rate", rate),
    ("wins", "Wins", count),
    ("revenue", "Revenue won", money),
    ("actions_done", "Actions done", count),
    ("actions_overdue", "Actions overdue at the end", count),
    ("escalations_opened", "Escalations opened", count),
)


def _section(items: list[dict], limit: int = ITEMS_PER_SECTION, **extra) -> dict:
    return {"rows": items[:limit], "total": len(items), "more": max(0, len(items) - limit), **extra}


def review_message(*, review_name: str, partner: str, day: dt.date, agenda: Agenda, today: dt.date,
                   since_label: str, before_label: str, tz: ZoneInfo) -> dict[str, Any]:
    overdue = [a for a in agenda.actions if a[3] < today]
    actions = sorted(agenda.actions, key=lambda a: (a[3], a[0]))
    changes = []
    if (agenda.since and agenda.since.has_data) or (agenda.before and agenda.before.has_data):
        for name, label, show in CHANGES:
            now = agenda.since.value(name) if agenda.since else None
            was = agenda.before.value(name) if agenda.before else None
            if name in ("handed_off", "wins", "actions_done", "actions_overdue", "escalations_opened"):
                now, was = now or 0, was or 0
            changes.append((label, show(now), show(was)))
    text = render(
        "review.md.j2",
        review_name=review_name, partner=partner, day=day.strftime("%A %d %B"),
        actions=_section([{"ref": f"A-{i + 1000}", "title": truncate(t, 150), "owner_id": o,
                           "due": d.strftime("%a %d %b"), "overdue": d < today} for i, t, o, d in actions],
                         overdue=len(overdue)),
        issues=_section([{"ref": f"P-{i + 1000}", "category": c.replace("_", " "), "description": truncate(d, 200)}
                         for i, c, d in agenda.issues]),
        escalations=_section([{"ref": f"E-{i + 1000}", "about": truncate(a, 150), "kind": k.replace("_", " "),
                               "due": when(due, tz)} for i, a, k, due in agenda.escalations]),
        leads=_section([{"ref": f"L-{i + 1000}", "company": truncate(c, 150), "owner_id": o, "due": when(by, tz)}
                        for i, c, o, by in agenda.leads]),
        changes=changes, since_label=since_label, before_label=before_label,
        score=score(agenda.card.composite) if agenda.card and agenda.card.composite is not None else None,
        trend=trend_mark(agenda.card), card_period=agenda.card.period.label if agenda.card else "",
    )
    message_blocks = [b.header(truncate(f"{review_name}: {partner}", 150))]
    message_blocks += [b.section(chunk.strip()) for chunk in text.split("\n@@\n") if chunk.strip()]
    # the top-level text is the notification fallback: escaped like the blocks
    summary = (f"{escape(review_name)} with {escape(partner)} on {day:%a %d %b}: {len(agenda.actions)} open action(s)"
               f" ({len(overdue)} overdue), {len(agenda.issues)} open issue(s), {len(agenda.escalations)} pending "
               f"escalation(s), {len(agenda.leads)} lead(s) waiting.")
    return {"text": summary, "blocks": message_blocks, "unfurl_links": False}
