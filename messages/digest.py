"""The monthly digest: text and blocks from messages/templates/digest.md.j2, and its chart.

The template's prose is cut into section blocks at lines holding only ``@@``. The busiest
partners (by activity) get a block each; the rest are summed in one block, so the message stays
well inside Slack's 50 blocks whatever the number of partners.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from messages import blocks as b
from messages.charts import digest_chart
from messages.prose import render
from messages.scorecards import score, trend_mark
from messages.text import money, truncate
from store.metrics import MonthReport, PartnerMonth, sum_figures
from store.scorecards import Scorecard

TOP_PARTNERS = 10
MAX_TOP = 40  # 40 partner blocks + header, intro, rest and coming up stay under Slack's 50
FLAGGED_NAMES = 15


@dataclass(frozen=True)
class UpcomingAction:
    ref: str
    title: str
    owner_id: str
    due: dt.date
    partner: str | None


def month_name(report: MonthReport) -> str:
    return report.period.start.strftime("%B %Y")


def rate(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.0f}%"


def count(value: float | None) -> str:
    if value is None:
        return "no data"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def hours(value: float) -> str:
    return f"{value:.1f} h"


def count_vs(now: float, before: float) -> str:
    if before == now:
        return "as many as the month before"
    return f"{count(abs(now - before))} {'more' if now > before else 'fewer'} than the month before ({count(before)})"


class _PartnerView:
    def __init__(self, name: str, month: PartnerMonth, card: Scorecard | None) -> None:
        self.name = name
        self.card = card
        self.now = month.current
        self.previous = month.previous
        self.baseline = month.baseline
        self.regressions = month.regressions
        self.stagnation = month.stagnation

    def vs(self, figure: str, show) -> str:
        before = self.previous.value(figure) if self.previous.has_data else None
        base = self.baseline.value(figure) if self.baseline is not None else None
        base_text = "not set yet" if self.baseline is None else show(base)
        if figure in ("handed_off", "wins") and base is not None:
            base_text += "/month"
        return f"month before {show(before)}, baseline {base_text}"


def digest_message(report: MonthReport, names: dict[int, tuple[str, str | None]], *,
                   cards: dict[int, Scorecard] | None = None,
                   upcoming_actions: list[UpcomingAction], more_actions: int,
                   upcoming_reviews: list[tuple[str, dt.date, int]], top: int = TOP_PARTNERS) -> dict[str, Any]:
    """chat.postMessage arguments (text + blocks) for one month's digest."""
    top = max(1, min(top, MAX_TOP))
    ranked = sorted(report.partners.values(),
                    key=lambda pm: (-pm.current.activity, names.get(pm.partner_id, ("",))[0].lower(), pm.partner_id))
    shown = [pm for pm in ranked[:top] if pm.current.has_data]
    rest_months = [pm for pm in ranked if pm not in shown]
    flagged = [pm for pm in ranked if pm.regressions or pm.stagnation]
    totals, before = report.totals[-1], report.totals[-2]

    def name_of(pid: int) -> str:
        return names.get(pid, (f"partner #{pid}", None))[0]

    rest = None
    if rest_months:
        rest_flagged = [(name_of(pm.partner_id), _why(pm)) for pm in rest_months if pm.regressions or pm.stagnation]
        rest = {
            "count": len(rest_months),
            "idle": sum(1 for pm in rest_months if not pm.current.has_data),
            "figures": sum_figures(pm.current for pm in rest_months),
            "flagged": rest_flagged[:FLAGGED_NAMES],
            "more_flagged": max(0, len(rest_flagged) - FLAGGED_NAMES),
        }
    text = render(
        "digest.md.j2",
        month_name=month_name(report), partner_count=len(report.partners), has_data=report.has_data,
        totals=totals, before=before, flagged=len(flagged),
        partners=[_PartnerView(name_of(pm.partner_id), pm, (cards or {}).get(pm.partner_id)) for pm in shown], rest=rest,
        reviews=[(name, day.strftime("%a %d %b"), n) for name, day, n in upcoming_reviews],
        actions=[{"ref": a.ref, "title": truncate(a.title, 120), "owner_id": a.owner_id,
                  "due": a.due.strftime("%a %d %b"), "partner": a.partner} for a in upcoming_actions],
        more_actions=more_actions,
        rate=rate, count=count, hours=hours, money=money, count_vs=count_vs, score=score, trend=trend_mark,
    )
    title = f"Partner digest — {month_name(report)}"
    message_blocks = [b.header(title)]
    for chunk in text.split("\n@@\n"):
        chunk = chunk.strip()
        if chunk:
            message_blocks.append(b.section(chunk))
    if report.has_data:
        summary = (f"{title}: {totals.handed_off} leads handed off, {totals.wins} won for {money(totals.revenue)}, "
                   f"{len(flagged)} partner(s) flagged.")
    else:
        summary = f"{title}: no partner activity was recorded in {month_name(report)}."
    return {"text": summary, "blocks": message_blocks[:50], "unfurl_links": False}


def _why(pm: PartnerMonth) -> str:
    parts = []
    if pm.regressions:
        parts.append("down: " + ", ".join(pm.regressions))
    if pm.stagnation:
        parts.append("flat: " + ", ".join(pm.stagnation))
    return "; ".join(parts)


def chart_for(report: MonthReport, names: dict[int, tuple[str, str | None]], *, top: int = TOP_PARTNERS) -> bytes:
    """The digest's PNG: the busiest partners' leads and wins, and the SLA hit rate month by month."""
    ranked = sorted((pm for pm in report.partners.values() if pm.current.has_data),
                    key=lambda pm: (-pm.current.activity, pm.partner_id))[: max(1, min(top, MAX_TOP))]
    return digest_chart(
        title=f"Partners in {month_name(report)}",
        partners=[(names.get(pm.partner_id, (f"#{pm.partner_id}",))[0], pm.current.handed_off, pm.current.wins)
                  for pm in ranked],
        months=[(p.start.strftime("%b %y"), rate) for p, rate in zip(report.chart_periods, report.sla_series)],
    )


def chart_upload(report: MonthReport, png_base64: str) -> dict[str, str]:
    """The files.upload_v2 payload the outbox sends (see store/outbox.py)."""
    name = month_name(report)
    return {"filename": f"partner-digest-{report.period.label}.png", "title": f"Partner digest {report.period.label}",
            "initial_comment": f"Leads and wins per partner in {name}, and the first-outreach SLA hit rate "
                               f"over the last {len(report.chart_periods)} months.",
            "content_base64": png_base64}

