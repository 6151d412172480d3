"""Review reminders: for each playbook review cadence and each partner with a channel, one reminder
with an agenda, posted from `days_ahead` business days before the review's day until that day.

Keyed review:<cadence>:<partner>:<period> (period 2026-12 or 2026-Q4), so each review is
announced once however many clocks pass through its window. Partners already announced are
filtered out with one query before any agenda is built; the agendas come from bulk queries
over all the partners due at once, never per partner per item.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import func, select

from messages.reviews import Agenda, review_message
from scheduling.jobs import ClockContext, job
from store import metrics, scorecards
from store.models import (
    ActionItem,
    Escalation,
    Lead,
    OutboxMessage,
    Partner,
    PerformanceIssue,
)
from store.playbook import Playbook, ReviewCadence
from store.reminders import post_once, reminder_key

LOOKAHEAD_MONTHS = 3  # reviews early in a month are announced in the month before


def review_day(cadence: ReviewCadence, year: int, month: int) -> dt.date | None:
    """The review's date in this month, or None (a quarterly review falls in a quarter's first month)."""
    if cadence.every == "quarter" and month % 3 != 1:
        return None
    return dt.date(year, month, cadence.day)


def period_label(cadence: ReviewCadence, day: dt.date) -> str:
    return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}" if cadence.every == "quarter" else f"{day:%Y-%m}"


def reminder_day(playbook: Playbook, day: dt.date, days_ahead: int) -> dt.date:
    """`days_ahead` business days before `day`."""
    calendar = playbook.calendar
    while days_ahead > 0:
        day -= dt.timedelta(days=1)
        if calendar.is_business_day(day):
            days_ahead -= 1
    return day


def due_reviews(playbook: Playbook, now: dt.datetime) -> list[tuple[ReviewCadence, dt.date]]:
    """(cadence, review day) whose reminder window holds `now`: from the opening of the reminder's
    business day until the end of the review's day, playbook time zone."""
    today = now.astimezone(playbook.tz)
    due = []
    for cadence in playbook.reviews.cadences:
        for k in range(LOOKAHEAD_MONTHS):
            year, month = metrics.shift_month(today.year, today.month, k)
            day = review_day(cadence, year, month)
            if day is None:
                continue
            opens = dt.datetime.combine(reminder_day(playbook, day, cadence.days_ahead),
                                        playbook.business_hours.start, tzinfo=playbook.tz)
            closes = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=playbook.tz)
            if opens <= now < closes:
                due.append((cadence, day))
    return due


def since_periods(playbook: Playbook, cadence: ReviewCadence, day: dt.date) -> tuple[metrics.Period, metrics.Period]:
    """The last full period before the review (month or quarter) and the one before it."""
    if cadence.every == "quarter":
        quarter = (day.month - 1) // 3 + 1
        year, q = (day.year - 1, 4) if quarter == 1 else (day.year, quarter - 1)
        before = (year - 1, 4) if q == 1 else (year, q - 1)
        return metrics.quarter_period(playbook, year, q), metrics.quarter_period(playbook, *before)
    last = metrics.shift_month(day.year, day.month, -1)
    return (metrics.month_period(playbook, *last),
            metrics.month_period(playbook, *metrics.shift_month(*last, -1)))


def agendas(session, playbook: Playbook, partner_ids: list[int], since: metrics.Period,
            before: metrics.Period) -> dict[int, Agenda]:
    """Every listed partner's agenda: five bulk queries plus its scorecard's, never per partner. The
    scorecard's period before `since` is `before` (the month or quarter before)."""
    found: dict[int, Agenda] = defaultdict(Agenda)
    for pid, aid, title, owner, due in session.execute(
            select(ActionItem.partner_id, ActionItem.id, ActionItem.title, ActionItem.owner_id, ActionItem.due_date)
            .where(ActionItem.status == "open", ActionItem.partner_id.in_(partner_ids))
            .order_by(ActionItem.due_date, ActionItem.id)):
        found[pid].actions.append((aid, title, owner, due))
    for pid, iid, category, description in session.execute(
            select(PerformanceIssue.partner_id, PerformanceIssue.id, PerformanceIssue.category,
                   PerformanceIssue.description)
            .where(PerformanceIssue.status == "open", PerformanceIssue.partner_id.in_(partner_ids))
            .order_by(PerformanceIssue.id)):
        found[pid].issues.append((iid, category, description))
    partner = func.coalesce(Lead.partner_id, ActionItem.partner_id)
    for pid, eid, about, kind, due in session.execute(
            select(partner, Escalation.id, Escalation.about, Escalation.kind, Escalation.level_due_at)
            .select_from(Escalation)
            .outerjoin(Lead, Lead.id == Escalation.lead_id)
            .outerjoin(ActionItem, ActionItem.id == Escalation.action_id)
            .where(Escalation.status == "pending", partner.in_(partner_ids))
            .order_by(Escalation.level_due_at, Escalation.id)):
        found[pid].escalations.append((eid, about, kind, due))
    for pid, lid, company, owner, accept_by in session.execute(
            select(Lead.partner_id, Lead.id, Lead.company, Lead.primary_owner_id, Lead.accept_by)
            .where(Lead.stage == "handed_off", Lead.partner_id.in_(partner_ids))
            .order_by(Lead.accept_by, Lead.id)):
        found[pid].leads.append((lid, company, owner, accept_by))
    cards = scorecards.scorecards(session, playbook, since, partners=scorecards.partner_infos(session, partner_ids))
    for pid, card in cards.items():
        agenda = found[pid]
        agenda.since, agenda.before, agenda.card = card.current, card.previous, card
    return found


@job("review_reminders")
def run(ctx: ClockContext) -> None:
    playbook = ctx.playbook
    due = due_reviews(playbook, ctx.now)
    if not due:
        return
    today = ctx.now.astimezone(playbook.tz).date()
    with ctx.sessions() as session, session.begin():
        partners = session.execute(select(Partner.id, Partner.name, Partner.channel_id)
                                   .where(Partner.channel_id.is_not(None)).order_by(Partner.id)).all()
        for cadence, day in due:
            period = period_label(cadence, day)
            keys = {reminder_key("review", f"{cadence.key}:{pid}", period): (pid, name, channel)
                    for pid, name, channel in partners}
            done = set()
            for start in range(0, len(keys), 500):
                chunk = list(keys)[start:start + 500]
                done |= set(session.scalars(select(OutboxMessage.idempotency_key)
                                            .where(OutboxMessage.idempotency_key.in_(chunk))))
            waiting = [(key, *keys[key]) for key in keys if key not in done]
            if not waiting:
                continue
            since, before = since_periods(playbook, cadence, day)
            found = agendas(session, playbook, [pid for _, pid, _, _ in waiting], since, before)
            for key, pid, name, channel in waiting:
                message = review_message(review_name=cadence.name, partner=name, day=day, agenda=found[pid],
                                         today=today, since_label=_label(since), before_label=_label(before),
                                         tz=playbook.tz)
                if post_once(session, key=key, channel=channel, message=message, kind="review_reminder",
                             subject=("partner", pid), audience="channel", now=ctx.now) is not None:
                    ctx.count("review reminders")


def _label(period: metrics.Period) -> str:
    return period.label if period.months != 1 else period.start.strftime("%B %Y")
