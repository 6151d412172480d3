"""Action reminders: the business day before the due date, on the day, then at most one a business day
while overdue. Snoozed actions stay quiet until the snooze ends.

A reminder's day is the owner's own business date: the local date of their current business period,
or of their next one when it is evening, night or weekend where they are (the reminder then waits
for that opening). The key is (action, that date), so one action gets at most one reminder a day,
whichever kind it is, however many clocks run and however long one was down.

One query finds the candidates (open, not snoozed, due by the furthest day any reminder could be
for); zones come in one lookup; the keys already sent in one query; then one INSERT per new reminder.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_

from messages import reminders as texts
from scheduling.jobs import ClockContext, job, with_zones
from store import sla
from store.actions import select_with_links, view_of_row
from store.models import ActionItem
from store.reminders import reminder_key

LATEST_OFFSET = dt.timedelta(hours=14)  # the furthest any time zone runs ahead of UTC


def _next_business_day(calendar, day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not calendar.is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def _previous_business_day(calendar, day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while not calendar.is_business_day(day):
        day -= dt.timedelta(days=1)
    return day


def reminder_kind(calendar, *, day: dt.date, due: dt.date) -> str | None:
    """What (if anything) to tell the owner of an action due `due` on their business date `day`."""
    if day > due:
        return "overdue"
    if day == due:
        return "due_today"
    return "due_soon" if _previous_business_day(calendar, due) == day else None


@job("action_reminders")
def run(ctx: ClockContext) -> None:
    playbook, now = ctx.playbook, ctx.now
    calendar = playbook.calendar
    # No one's business date is later than the next business day after the latest date on Earth, and a
    # "due soon" reminder is for an action due by the next business day after that.
    horizon = _next_business_day(calendar, _next_business_day(calendar, (now + LATEST_OFFSET).date()))
    def find(session):
        return session.execute(
            select_with_links()
            .where(ActionItem.status == "open", ActionItem.due_date <= horizon,
                   or_(ActionItem.snoozed_until.is_(None), ActionItem.snoozed_until <= now))
            .order_by(ActionItem.id)
        ).all() or None

    def build(row, kind, day):
        view = view_of_row(row, playbook)
        return lambda: texts.action_reminder(view, kind=kind, today=day, now=now)

    def remind(session, rows, openings) -> None:
        wanted = []
        for row in rows:
            action = row[0]
            day = openings.business_date(action.owner_id)
            kind = reminder_kind(calendar, day=day, due=action.due_date)
            if kind is not None:
                wanted.append((reminder_key("action_reminder", ("action", action.id), day.isoformat()), row, kind, day))
        sent = sla.existing_keys(session, (w[0] for w in wanted))
        reminders = [sla.Reminder(key=key, channel=row[0].owner_id, kind="action_reminder",
                                  subject=("action", row[0].id), not_before=openings.opening(row[0].owner_id),
                                  build=build(row, kind, day))
                     for key, row, kind, day in wanted if key not in sent]
        ctx.count("action_reminders", len(sla.post_reminders(session, reminders, sent=sent, now=ctx.now)))

    with_zones(ctx, find=find, people=lambda rows: {row[0].owner_id for row in rows}, work=remind)
