"""The clock and an action's due date, by time travel: the business day before, on the day, overdue once a
business day, snoozed quiet, never two on a day, weekends skipped, catch-up after downtime.

Test playbook (conftest): America/New_York, Mon–Fri 09:00–17:00. February 2027: Fri 5, Mon 8, Tue 9,
Wed 10 (the due date), Thu 11, Fri 12, Sat 13, Sun 14, Mon 15, Tue 16, Wed 17.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from scheduling.clock import run_jobs
from scheduling.jobs.actions import reminder_kind
from store import outbox
from store.actions import ActionDraft, create_action, done_action, snooze_action
from store.models import ActionItem, OutboxMessage
from tests.conftest import MIA, OMAR, STAN

NY = ZoneInfo("America/New_York")
DUE = dt.date(2027, 2, 10)  # a Wednesday


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, 2, day, hour, minute, tzinfo=NY).astimezone(dt.UTC)


def make_action(sessions, playbook, *, due=DUE, title="Run the <!here> workshop", owner=OMAR) -> int:
    draft = ActionDraft(title=title, owner_id=owner, due_date=due, success_criteria="Two pilots", impact_estimate=None,
                        priority="high", link=None)
    with sessions() as session, session.begin():
        return create_action(session, draft=draft, creator_id=MIA, playbook=playbook, now=at(5, 10)).action.id


def reminders(sessions, action_id=None):
    with sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == "action_reminder").order_by(OutboxMessage.id)
        if action_id is not None:
            query = query.where(OutboxMessage.subject_id == action_id)
        return session.scalars(query).all()


def text_of(row) -> str:
    return row.payload["blocks"][0]["text"]["text"]


def tick(sessions, app, playbook, when):
    return run_jobs(sessions, app.services.slack, playbook, now=when)


def test_a_week_in_the_life_of_an_action(sessions, app, playbook, slack):
    action_id = make_action(sessions, playbook)
    ref = f"A-{action_id + 1000}"

    tick(sessions, app, playbook, at(8, 10))  # Monday: two days ahead, nothing yet
    assert reminders(sessions) == []

    # Tuesday, the business day before: "due" — once, however many passes.
    for moment in (at(9, 9), at(9, 9), at(9, 13), at(9, 16, 59)):
        tick(sessions, app, playbook, moment)
    [soon] = reminders(sessions)
    assert soon.channel == OMAR and soon.next_attempt_at == at(9, 9)
    assert soon.idempotency_key == f"action_reminder:action:{action_id}:2027-02-09"
    assert f"*{ref}*" in text_of(soon) and "is due Wed 10 Feb 2027" in text_of(soon)
    assert "&lt;!here&gt;" in text_of(soon) and "<!here>" not in text_of(soon)
    buttons = [e["action_id"] for blk in soon.payload["blocks"] if blk["type"] == "actions" for e in blk["elements"]]
    assert buttons[:3] == ["action_done", "action_snooze", "action_reassign"]  # the card's own controls

    # Tuesday evening (after 17:00) the owner's business day is Wednesday: the due-today reminder is
    # recorded now but waits for Wednesday 09:00.
    tick(sessions, app, playbook, at(9, 20))
    tick(sessions, app, playbook, at(10, 9))
    tick(sessions, app, playbook, at(10, 15))
    assert len(reminders(sessions)) == 2
    today = reminders(sessions)[1]
    assert today.next_attempt_at == at(10, 9) and "is due today" in text_of(today)
    assert outbox.deliver(sessions, app.services.slack, now=at(9, 20)).sent.count(today.id) == 0

    # Overdue: Thursday and Friday, one each.
    for moment in (at(11, 10), at(11, 16), at(12, 10), at(12, 12)):
        tick(sessions, app, playbook, moment)
    overdue = reminders(sessions)[2:]
    assert [r.idempotency_key.rsplit(":", 1)[1] for r in overdue] == ["2027-02-11", "2027-02-12"]
    assert "overdue" in text_of(overdue[0]) and "(1 day ago)" in text_of(overdue[0])
    assert "(2 days ago)" in text_of(overdue[1])

    # The weekend: nothing goes out on Saturday or Sunday; Monday gets one reminder, at 09:00.
    for moment in (at(13, 10), at(14, 10), at(14, 23), at(15, 9), at(15, 14)):
        tick(sessions, app, playbook, moment)
    later = reminders(sessions)[4:]
    assert [(r.idempotency_key.rsplit(":", 1)[1], r.next_attempt_at) for r in later] == [("2027-02-15", at(15, 9))]
    report = outbox.deliver(sessions, app.services.slack, now=at(14, 23))
    assert later[0].id not in report.sent

    # Snoozed until Wednesday: quiet Tuesday; the reminder comes back when the snooze ends.
    with sessions() as session, session.begin():
        snooze_action(session, action_id=action_id, user_id=OMAR, choice=dt.date(2027, 2, 17), playbook=playbook,
                      now=at(15, 15))
    for moment in (at(16, 10), at(16, 16), at(17, 8, 59)):
        tick(sessions, app, playbook, moment)
    assert len(reminders(sessions)) == 5
    tick(sessions, app, playbook, at(17, 9))
    assert reminders(sessions)[-1].idempotency_key.endswith(":2027-02-17")

    # Done: no more reminders.
    with sessions() as session, session.begin():
        done_action(session, action_id=action_id, user_id=OMAR, playbook=playbook, now=at(17, 10))
    tick(sessions, app, playbook, at(18, 10))
    assert len(reminders(sessions)) == 6

    report = outbox.deliver(sessions, app.services.slack, now=at(18, 10))
    assert report.failed == [] and report.retrying == []  # every reminder is something Slack accepts


def test_a_clock_down_for_three_days_sends_one_reminder_per_action(sessions, app, playbook):
    first, second = make_action(sessions, playbook), make_action(sessions, playbook, due=dt.date(2027, 2, 11))
    tick(sessions, app, playbook, at(11, 10))
    assert len(reminders(sessions)) == 2
    # Down from Thursday 10:00 to the next Tuesday 10:00 (a weekend and Monday missed): one each.
    tick(sessions, app, playbook, at(16, 10))
    tick(sessions, app, playbook, at(16, 10))
    new = reminders(sessions)[2:]
    assert sorted(r.subject_id for r in new) == [first, second]
    assert all(r.idempotency_key.endswith(":2027-02-16") for r in new)


def test_an_owner_in_tokyo_gets_the_reminder_at_their_nine_oclock(sessions, app, playbook, slack):
    slack.users[OMAR] = {"id": OMAR, "tz": "Asia/Tokyo"}
    try:
        make_action(sessions, playbook)
        # Tuesday 9 Feb 20:00 New York = Wednesday 10:00 Tokyo: Omar's business day is Wednesday, the due date.
        tick(sessions, app, playbook, at(9, 20))
        [row] = reminders(sessions)
        assert row.idempotency_key.endswith(":2027-02-10") and "due today" in text_of(row)
        assert row.next_attempt_at == at(9, 20)  # already inside his business hours
        # Wednesday 17:30 New York = Thursday 07:30 Tokyo: overdue, waiting for 09:00 Tokyo.
        tick(sessions, app, playbook, at(10, 17, 30))
        overdue = reminders(sessions)[1]
        assert overdue.next_attempt_at == dt.datetime(2027, 2, 11, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    finally:
        slack.users.pop(OMAR, None)


def test_due_on_a_monday_is_announced_on_the_friday_before():
    from store.playbook import parse_playbook
    from tests.conftest import TEST_PLAYBOOK

    calendar = parse_playbook(TEST_PLAYBOOK).calendar
    monday = dt.date(2027, 2, 15)
    assert reminder_kind(calendar, day=dt.date(2027, 2, 12), due=monday) == "due_soon"   # Friday
    assert reminder_kind(calendar, day=dt.date(2027, 2, 11), due=monday) is None         # Thursday
    assert reminder_kind(calendar, day=monday, due=monday) == "due_today"
    assert reminder_kind(calendar, day=dt.date(2027, 2, 16), due=monday) == "overdue"


def test_a_stranger_pressing_done_on_a_reminder_changes_nothing(sessions, app, playbook, simulator, slack):
    action_id = make_action(sessions, playbook)
    tick(sessions, app, playbook, at(11, 10))
    [row] = reminders(sessions)
    done = next(e for blk in row.payload["blocks"] if blk["type"] == "actions" for e in blk["elements"]
                if e["action_id"] == "action_done")
    assert simulator.click("action_done", done["value"], user_id=STAN).status == 200
    reply = slack.wait_for("response_url")[0].args["text"]
    assert OMAR in reply
    with sessions() as session:
        assert session.get(ActionItem, action_id).status == "open"
