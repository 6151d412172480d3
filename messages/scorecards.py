"""Scorecards in Slack: the full card (`/partner scorecard`) and the one-line summary (App Home)."""

from __future__ import annotations

from messages import blocks as b
from messages.text import escape, money
from store.scorecards import TREND_IMPROVING, TREND_REGRESSING, TREND_STAGNANT, Line, Scorecard

TREND_MARKS = {
    TREND_IMPROVING: ":chart_with_upwards_trend: improving",
    TREND_STAGNANT: ":left_right_arrow: stagnant",
    TREND_REGRESSING: ":chart_with_downwards_trend: regressing",
}


def show(kind: str, value: float | None) -> str:
    if value is None:
        return "no data"
    if kind == "rate":
        return f"{value * 100:.0f}%"
    if kind == "hours":
        return f"{value:.1f} business h"
    if kind == "money":
        return money(value)
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def score(value: float | None) -> str:
    return "no score" if value is None else f"{value:.0f}/100"


def trend_mark(card: Scorecard | None) -> str:
    """The trend as a short mark, or nothing when there is none yet."""
    return TREND_MARKS.get(card.trend or "", "") if card is not None else ""


def trend_text(card: Scorecard) -> str:
    if card.trend is None:
        return "no trend yet (needs a score in this period and the one before)"
    return TREND_MARKS[card.trend]


def line_text(line: Line, *, months: float) -> str:
    per_month = months != 1 and line.kind in ("count", "money") and line.key not in ("actions_overdue",
                                                                                       "escalations_open")
    if per_month and line.value is not None:
        now = f"*{show(line.kind, line.value * months)}* ({show(line.kind, line.value)} a month)"
    else:
        now = f"*{show(line.kind, line.value)}*"
    extras = []
    if line.baseline is not None:
        extras.append(f"baseline {show(line.kind, line.baseline)}")
    if line.target is not None:
        reached = line.attainment
        mark = "" if reached is None else (" :white_check_mark:" if reached >= 1 else " :small_orange_diamond:")
        extras.append(f"target {'≤ ' if line.lower_is_better else ''}{show(line.kind, line.target)}{mark}")
    return f"{line.label}: {now}" + (f" · {' · '.join(extras)}" if extras else "")


def _about(card: Scorecard) -> str:
    p = card.partner
    bits = [f"{p.tier} tier", p.type]
    if p.market:
        bits.append(escape(p.market))
    if p.product_lines:
        bits.append(escape(", ".join(p.product_lines)))
    return " · ".join(bits)


def _baseline_text(card: Scorecard) -> str:
    if card.baseline_period is None:
        return ("No baseline yet: it becomes the partner's first full quarter of leads once that quarter is over, "
                f"or set one with `/partner baseline {escape(card.partner.name)} 2026-Q1`.")
    chosen = "set by hand" if card.partner.baseline_period else "its first full quarter"
    return f"Baseline: {escape(card.baseline_period.label)} ({chosen}), per month."


def scorecard_message(card: Scorecard) -> dict:
    """The full scorecard, as an ephemeral answer."""
    p, period = card.partner, card.period
    title = f"{p.name} — scorecard for {period.label}"
    blocks = [b.header(title[:150]), b.context(_about(card))]
    if not card.has_data:
        text = (f"*No data yet* for {escape(p.name)} in {escape(period.label)}: no leads were handed off, none were "
                "closed, no first-outreach deadline fell due and no actions or escalations were recorded. "
                "There is nothing to score — try a longer period, e.g. "
                f"`/partner scorecard {escape(p.name)} last quarter`.")
        blocks.append(b.section(text))
    else:
        headline = (f"*Score {score(card.composite)}* · {trend_text(card)}"
                    f" · {escape(card.previous_period.label) if card.previous_period else 'period before'}: "
                    f"{score(card.previous_composite)}")
        if card.baseline_composite is not None:
            headline += f" · baseline: {score(card.baseline_composite)}"
        if card.composite is None:
            headline += ("\n_No score: none of the weighted figures has both data and a target in the playbook "
                         "(`scorecards.targets`)._")
        if card.regressions:
            headline += "\n:small_red_triangle_down: Down more than 20% against the period before and the baseline: " \
                        + ", ".join(card.regressions)
        blocks.append(b.section(headline))
        blocks.append(b.section("\n".join(line_text(line, months=period.months) for line in card.lines())))
    if card.is_new:
        if card.days_to_first_sale is not None:
            first = f"First sale {card.days_to_first_sale} days after joining."
        else:
            first = "No sale yet since joining."
        blocks.append(b.context(f"New partner (joined {p.created_at:%Y-%m-%d}). {first}"))
    blocks.append(b.context(_baseline_text(card) + " Targets are the playbook's for the "
                            f"{escape(p.tier)} tier; counts and amounts per month."))
    return {"response_type": "ephemeral", "text": f"{title}: score {score(card.composite)}", "blocks": blocks}


def summary_line(card: Scorecard) -> str:
    """One partner in a list: name, score, trend and the figures a manager scans first."""
    p, now = card.partner, card.current
    name = f"*{escape(p.name)}* ({escape(p.tier)})"
    if not card.has_data:
        return f"{name} — no data yet"
    trend = TREND_MARKS.get(card.trend or "", "no trend yet")
    return (f"{name} — score *{score(card.composite)}* {trend}\n"
            f"{now.handed_off} lead{'s' if now.handed_off != 1 else ''} · accepted {show('rate', now.acceptance_rate)} · "
            f"SLA {show('rate', now.sla_hit_rate)} · won {now.wins} for {money(now.revenue)}"
            + (f" · {now.actions_overdue} overdue action{'s' if now.actions_overdue != 1 else ''}"
               if now.actions_overdue else ""))


def baseline_message(partner: str, period, *, chosen: bool) -> dict:
    if period is None:
        text = (f"{escape(partner)} has no baseline yet: it becomes its first full quarter of leads once that "
                f"quarter is over. Set one now with `/partner baseline {escape(partner)} 2026-Q1` (a month, "
                "a quarter or two dates, all in the past).")
    else:
        how = "set by hand" if chosen else "its first full quarter of leads"
        text = (f"{escape(partner)}'s scorecards compare against *{escape(period.label)}* ({how}). Change it with "
                f"`/partner baseline {escape(partner)} PERIOD`, or `default` to go back to the first full quarter.")
    return {"response_type": "ephemeral", "text": text}


def baseline_set_message(partner: str, period) -> dict:
    if period is None:
        text = (f"{escape(partner)}'s baseline is back to its first full quarter of leads. "
                f"See it with `/partner scorecard {escape(partner)}`.")
    else:
        text = (f":white_check_mark: {escape(partner)}'s baseline is now *{escape(period.label)}*. Its scorecards "
                f"compare against it from now on: `/partner scorecard {escape(partner)}`.")
    return {"response_type": "ephemeral", "text": text}
