"""Review reminders, by time travel: once per partner and review, in its window, with an agenda
built from the data (scheduling/jobs/reviews.py, messages/reviews.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select

from scheduling.clock import run_jobs
from scheduling.jobs import ClockContext
from scheduling.jobs import reviews as review_job
from store import outbox
from store.models import (
    ActionItem,
    Escalation,
    Lead,
    OutboxMessage,
    Partner,
    PerformanceIssue,
)
from store.playbook import parse_playbook
from tests.conftest import MIA, OMAR, RIYA, TEST_PLAYBOOK

UTC = dt.UTC
# ops: Thursday 2026-12-10, announced 2 business days ahead: from Tuesday 2026-12-08 09:00 New York
# (EST, UTC-5) = 14:00Z, until the end of Dec 10 in New York = 2026-12-11 05:00Z.
# qbr: Friday 2027-01-15, 3 business days ahead: from Tuesday 2027-01-12 14:00Z.
REVIEWS = """
reviews:
  cadences:
    - {key: ops, name: Monthly operations review, every: month, day: 10, days_ahead: 2}
    - {key: qbr, name: Quarterly business review, every: quarter, day: 15, days_ahead: 3}
"""
OPENS = dt.datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
CLOSES = dt.datetime(2026, 12, 11, 5, 0, tzinfo=UTC)


@pytest.fixture
def review_playbook():
    return parse_playbook(TEST_PLAYBOOK + REVIEWS, "test-playbook.yml")


def lead(pid, created, **kw) -> Lead:
    return Lead(partner_id=pid, direction="to_partner", company=kw.pop("company", "Acme"), problem="p", next_steps="n",
                sender_id=RIYA, primary_owner_id=OMAR, accept_by=created + dt.timedelta(hours=8),
                first_outreach_by=created + dt.timedelta(hours=16), created_at=created, **kw)


@pytest.fixture
def partners(sessions):
    """Globex (channel, with something of each kind), Initech (channel, nothing), Hooli (no channel)."""
    with sessions() as session, session.begin():
        globex, initech, hooli = (Partner(name=n, name_key=n.lower(), type="reseller", tier="silver", channel_id=c,
                                          manager_id=MIA)
                                  for n, c in (("Globex", "C0GLOBEX01"), ("Initech", "C0INITECH1"), ("Hooli", None)))
        session.add_all([globex, initech, hooli])
        session.flush()
        waiting = lead(globex.id, dt.datetime(2026, 11, 16, 15, tzinfo=UTC), company="Waiting <Corp>")
        accepted = lead(globex.id, dt.datetime(2026, 10, 5, 15, tzinfo=UTC), stage="accepted",
                        accepted_at=dt.datetime(2026, 10, 5, 16, tzinfo=UTC))
        hooli_lead = lead(hooli.id, dt.datetime(2026, 11, 20, 15, tzinfo=UTC), company="Hooli Customer")
        session.add_all([waiting, accepted, hooli_lead])
        session.flush()
        issue = PerformanceIssue(partner_id=globex.id, category="enablement", description="Reps lack <demo> training",
                                 created_by=MIA)
        closed_issue = PerformanceIssue(partner_id=globex.id, category="messaging", description="Old pitch",
                                        status="resolved", created_by=MIA)
        session.add_all([issue, closed_issue])
        session.flush()
        overdue = ActionItem(title="Call <!channel> & co", owner_id=OMAR, created_by=MIA, due_date=dt.date(2026, 12, 1),
                             partner_id=globex.id)
        later = ActionItem(title="Plan the QBR", owner_id=OMAR, created_by=MIA, due_date=dt.date(2026, 12, 20),
                           partner_id=globex.id)
        done = ActionItem(title="Already done", owner_id=OMAR, created_by=MIA, due_date=dt.date(2026, 11, 20),
                          partner_id=globex.id, status="done", done_at=dt.datetime(2026, 11, 19, tzinfo=UTC))
        session.add_all([overdue, later, done])
        session.flush()
        escalation = Escalation(kind="discount", about="Discount for Acme", reason="r", severity="low",
                                requester_id=RIYA, lead_id=accepted.id, level_due_at=dt.datetime(2026, 12, 9, 20, tzinfo=UTC))
        session.add(escalation)
        session.flush()
        return {"globex": globex.id, "initech": initech.id, "hooli": hooli.id, "waiting": waiting.id,
                "issue": issue.id, "closed_issue": closed_issue.id, "overdue": overdue.id, "later": later.id,
                "done": done.id, "escalation": escalation.id, "hooli_lead": hooli_lead.id}


def review_rows(sessions) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "review_reminder")
                                    .order_by(OutboxMessage.id)))


def section_text(message: dict) -> str:
    return "\n".join(block["text"]["text"] for block in message["blocks"] if block["type"] == "section")


def test_the_reminder_goes_out_once_in_its_window_with_the_agenda(sessions, app, slack, review_playbook, partners):
    client = app.services.slack
    run_jobs(sessions, client, review_playbook, now=OPENS - dt.timedelta(minutes=1))
    assert review_rows(sessions) == []  # a minute before Tuesday's opening in New York

    run_jobs(sessions, client, review_playbook, now=OPENS)
    for later in (OPENS + dt.timedelta(hours=20), CLOSES - dt.timedelta(minutes=1)):
        run_jobs(sessions, client, review_playbook, now=later)  # later passes in the window add nothing
    rows = review_rows(sessions)
    assert sorted(row.idempotency_key for row in rows) == sorted(
        [f"review:ops:{partners['globex']}:2026-12", f"review:ops:{partners['initech']}:2026-12"])  # not Hooli
    assert {row.channel for row in rows} == {"C0GLOBEX01", "C0INITECH1"}

    report = outbox.deliver(sessions, app.services.slack, now=CLOSES)  # rows are due from the pass that wrote them
    assert len([i for i in report.sent if i in {row.id for row in rows}]) == 2
    posted = {call.args["channel"]: call.args for call in slack.calls_for("chat.postMessage")
              if call.args.get("channel") in ("C0GLOBEX01", "C0INITECH1")}
    globex = section_text(posted["C0GLOBEX01"])
    assert "Monthly operations review with Globex" in globex and "Thursday 10 December" in globex
    # open actions: both open ones, the overdue one marked and escaped; the done one left out
    assert f"A-{partners['overdue'] + 1000}" in globex and f"A-{partners['later'] + 1000}" in globex
    assert f"A-{partners['done'] + 1000}" not in globex
    assert "*Open actions* (2, *1 overdue*)" in globex
    assert "Call &lt;!channel&gt; &amp; co" in globex and "<!channel>" not in globex
    # the open issue (escaped), not the resolved one
    assert f"P-{partners['issue'] + 1000}" in globex and "Reps lack &lt;demo&gt; training" in globex
    assert f"P-{partners['closed_issue'] + 1000}" not in globex
    assert f"E-{partners['escalation'] + 1000} Discount for Acme" in globex
    # leads waiting on the partner: its own handed-off lead, not Hooli's
    assert f"L-{partners['waiting'] + 1000}" in globex and "Waiting &lt;Corp&gt;" in globex
    assert f"L-{partners['hooli_lead'] + 1000}" not in globex
    # figures since the last review: November (1 lead handed off, Nov 16) against October (1 lead, Oct 5;
    # accepted after 1 h). November: the lead is not accepted: 0%.
    assert "*Figures: November 2026 against October 2026*" in globex
    # the scorecard with the default weights: November has acceptance 0/1 and SLA 0/1, so 0; October
    # had acceptance 1/1 (20) and SLA 0/1 (25): 44.4, so the trend is down
    assert ("Scorecard: *0/100* :chart_with_downwards_trend: regressing — the full card: "
            "`/partner scorecard Globex 2026-11`") in globex
    assert "• Leads handed off: *1* (was 1)" in globex
    assert "• Acceptance rate: *0%* (was 100%)" in globex
    assert "• Actions done: *1* (was 0)" in globex  # "Already done", Nov 19

    initech = section_text(posted["C0INITECH1"])
    assert "• None open." in initech and "• None pending." in initech and "• None waiting." in initech
    assert "No activity in either period yet" in initech
    assert "Globex" not in initech and f"A-{partners['overdue'] + 1000}" not in initech


def test_a_clock_that_was_down_catches_up_until_the_review_day_ends(sessions, app, review_playbook, partners):
    client = app.services.slack
    run_jobs(sessions, client, review_playbook, now=CLOSES)  # the review day is over in New York: too late
    assert review_rows(sessions) == []
    run_jobs(sessions, client, review_playbook, now=CLOSES - dt.timedelta(hours=1))  # 23:00 on the day
    assert len(review_rows(sessions)) == 2


def test_a_quarterly_review_is_keyed_by_its_quarter(sessions, app, review_playbook, partners):
    # Tuesday 2027-01-12 14:00Z: the QBR's window (Jan 15, 3 business days ahead) is open; the monthly
    # review of Sunday Jan 10 (window Thu Jan 7 to the end of Jan 10) is over.
    run_jobs(sessions, app.services.slack, review_playbook, now=dt.datetime(2027, 1, 12, 14, tzinfo=UTC))
    assert sorted(row.idempotency_key for row in review_rows(sessions)) == sorted(
        [f"review:qbr:{partners['globex']}:2027-Q1", f"review:qbr:{partners['initech']}:2027-Q1"])


def test_the_agenda_queries_do_not_grow_with_the_partners(sessions, engine, review_playbook, partners):
    def statements_for_a_pass(now):
        seen = []

        def record(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            review_job.run(ClockContext(sessions=sessions, slack=None, playbook=review_playbook, now=now))
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(seen)

    few = statements_for_a_pass(OPENS)  # two partners with channels
    with sessions() as session, session.begin():
        for i in range(6):
            partner = Partner(name=f"More {i}", name_key=f"more {i}", type="reseller", tier="silver",
                              channel_id=f"C0MORE000{i}")
            session.add(partner)
            session.flush()
            session.add(lead(partner.id, dt.datetime(2026, 11, 2, 15, tzinfo=UTC)))
            session.add(ActionItem(title="x", owner_id=OMAR, created_by=MIA, due_date=dt.date(2026, 12, 1),
                                   partner_id=partner.id))
    many = statements_for_a_pass(dt.datetime(2027, 1, 12, 14, tzinfo=UTC))  # eight partners, a new review
    assert len(review_rows(sessions)) == 2 + 8
    # the inserts (one per reminder) aside, the same queries whatever the number of partners
    assert many - 8 == few - 2
