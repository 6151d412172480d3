"""The clock and escalation time limits: climb level by level, expire after the last, once each; and the
clock's passes stay flat in SQL statements however many items are due (no N+1)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from scheduling.clock import run_jobs
from store import escalations as store
from store.models import Escalation, OutboxMessage, SlackUser
from store.slack_users import look_up
from store.playbook import parse_playbook
from tests.conftest import MIA, NOAH, OMAR, RIYA, TEST_PLAYBOOK

NY = ZoneInfo("America/New_York")
LADDER = TEST_PLAYBOOK + """
escalation:
  levels:
    - {name: Partner manager, approvers: [U0MANAGERMIA], time_limit_hours: 4}
    - {name: Director, approvers: [U0MANAGERNOAH], time_limit_hours: 8}
"""


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, 2, day, hour, minute, tzinfo=NY).astimezone(dt.UTC)


@pytest.fixture
def ladder():
    return parse_playbook(LADDER, "ladder.yml")


def raise_one(sessions, playbook, *, now, requester=RIYA) -> int:
    draft = store.EscalationDraft(kind="discount", about="Globex wants 30%", reason="Competitive deal", severity="high",
                                  impact=None, lead_id=None, action_id=None)
    with sessions() as session, session.begin():
        level = playbook.escalation.levels[0]
        return store.raise_escalation(session, draft=draft, requester_id=requester, playbook=playbook,
                                      approvers=list(level.approvers), now=now).escalation.id


def get(sessions, escalation_id) -> Escalation:
    with sessions() as session:
        return session.get(Escalation, escalation_id)


def kinds(sessions):
    with sessions() as session:
        return [(r.kind, r.channel) for r in session.scalars(
            select(OutboxMessage).where(OutboxMessage.subject_type == "escalation").order_by(OutboxMessage.id))]


def test_an_escalation_climbs_and_expires_through_the_clock(sessions, app, ladder):
    escalation_id = raise_one(sessions, ladder, now=at(5, 16))
    # Level 1: 4 business hours from Friday 16:00 = 1 h Friday + 3 h Monday -> Monday 12:00.
    assert get(sessions, escalation_id).level_due_at == at(8, 12)
    client = app.services.slack
    for moment in (at(6, 12), at(8, 11, 59)):
        run_jobs(sessions, client, ladder, now=moment)
    assert get(sessions, escalation_id).level == 0

    report = run_jobs(sessions, client, ladder, now=at(8, 12))
    assert report.done.get("escalations_climbed") == 1
    climbed = get(sessions, escalation_id)
    # Level 2: 8 business hours from Monday 12:00 = 5 h Monday + 3 h Tuesday -> Tuesday 12:00.
    assert (climbed.level, climbed.approver_ids, climbed.level_due_at) == (1, [NOAH], at(9, 12))
    run_jobs(sessions, client, ladder, now=at(8, 12))  # the same pass again: no second climb
    run_jobs(sessions, client, ladder, now=at(9, 11, 59))
    sent = kinds(sessions)
    assert sent.count(("escalation_card", NOAH)) == 1 and sent.count(("escalation_moved", RIYA)) == 1

    run_jobs(sessions, client, ladder, now=at(9, 12))
    expired = get(sessions, escalation_id)
    assert (expired.status, expired.decided_by) == ("expired", "system:clock")
    run_jobs(sessions, client, ladder, now=at(12, 12))
    assert kinds(sessions).count(("escalation_expired", RIYA)) == 1


def test_a_decided_escalation_does_not_climb(sessions, app, ladder):
    escalation_id = raise_one(sessions, ladder, now=at(5, 16))
    with sessions() as session, session.begin():
        store.decide(session, escalation_id=escalation_id, level=0, user_id=MIA, decision="approve", playbook=ladder,
                     now=at(8, 10))
    run_jobs(sessions, app.services.slack, ladder, now=at(9, 12))
    assert (get(sessions, escalation_id).status, get(sessions, escalation_id).level) == ("approved", 0)


def test_the_clocks_own_escalation_expires_without_writing_to_a_system_requester(sessions, app, ladder):
    escalation_id = raise_one(sessions, ladder, now=at(5, 16), requester="system:clock")
    for moment in (at(8, 12), at(9, 12)):
        run_jobs(sessions, app.services.slack, ladder, now=moment)
    assert get(sessions, escalation_id).status == "expired"
    assert not [k for k in kinds(sessions) if k[1].startswith("system:")]


# --- statements per pass --------------------------------------------------------------------------

class Statements:
    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(statement.lstrip().split()[0].upper())

    def other_than_inserts(self) -> int:
        return len([s for s in self.seen if s != "INSERT"])


def _pass_statements(engine, sessions, app, playbook, *, leads: int, actions: int, now) -> tuple[int, int]:
    from tests.test_clock_actions import make_action
    from tests.test_clock_leads import hand_off

    partner_id = _partner(sessions)
    for n in range(leads):
        hand_off(sessions, playbook, partner_id, now=at(5, 16), company=f"Company {n}")
    for _ in range(actions):
        make_action(sessions, playbook)
    from scheduling.jobs import ClockContext
    from scheduling.jobs import actions as action_jobs
    from scheduling.jobs import escalations as escalation_jobs
    from scheduling.jobs import leads as lead_jobs

    # Only this feature's jobs: the review and digest jobs of the same tick are measured by their own tests.
    ctx = ClockContext(sessions=sessions, slack=app.services.slack, playbook=playbook, now=now)
    with Statements(engine) as counted:
        for run in (lead_jobs.accept_deadlines, lead_jobs.outreach_deadlines, action_jobs.run, escalation_jobs.run):
            run(ctx)
    return counted.other_than_inserts(), len(counted.seen)


def _partner(sessions) -> int:
    from store.models import Partner

    with sessions() as session, session.begin():
        partner = session.scalars(select(Partner)).first()
        if partner is None:
            partner = Partner(name="Globex", name_key="globex", type="reseller", tier="silver", market="NA",
                              product_lines=[], channel_id="C0GLOBEX01", manager_id=MIA)
            session.add(partner)
            session.flush()
        return partner.id


def test_a_pass_costs_the_same_statements_for_5_or_20_due_items_apart_from_the_inserts(engine, sessions, app,
                                                                                          playbook):
    # Tuesday 9 Feb 10:00: the leads handed off Friday 16:00 are past accept-by (Monday 16:00) and inside
    # the grace (to Tuesday 16:00): each gets its accept reminder; the actions due Wednesday get "due tomorrow".
    # Omar's time zone is kept from an earlier pass (a pass meeting him first asks Slack before its
    # transaction and runs it again: test_a_pass_meeting_someone_new_asks_slack_outside_its_transaction).
    assert look_up(sessions, app.services.slack, [OMAR], now=at(9, 10)) == 1
    few, few_all = _pass_statements(engine, sessions, app, playbook, leads=5, actions=5, now=at(9, 10))
    # Fifteen more of each, an hour later: the first five are already reminded and skipped without a statement each.
    many, many_all = _pass_statements(engine, sessions, app, playbook, leads=15, actions=15, now=at(9, 11))
    assert many == few, (few, many)
    # The reminders go in one multi-row INSERT per job (leads, actions): the inserts don't grow with the
    # number of reminders either.
    assert few_all - few == 2
    assert many_all - many == 2
    with sessions() as session:
        assert len(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "accept_reminder")).all()) == 20


def test_a_pass_meeting_someone_new_asks_slack_outside_its_transaction(engine, sessions, app, playbook, slack):
    """users.info is never called while the pass holds a transaction: the pass finds Omar's zone missing,
    gives its transaction up before writing, asks Slack, keeps the answer, and runs once more."""
    from tests.test_clock_leads import hand_off
    from scheduling.jobs import ClockContext
    from scheduling.jobs import leads as lead_jobs

    slack.users[OMAR] = {"id": OMAR, "tz": "Asia/Tokyo", "real_name": "Omar"}
    hand_off(sessions, playbook, _partner(sessions), now=at(5, 16), company="Initech")
    open_transactions_when_asked = []
    real_profile = app.services.slack.profile

    class Watching:
        def profile(self, user_id):
            open_transactions_when_asked.append(engine.pool.checkedout())
            return real_profile(user_id)

        def resolve_approvers(self, entries):
            return app.services.slack.resolve_approvers(entries)

    from store import clock

    with clock.travelled_to(at(9, 10), tick=False):  # as run_jobs does: the pass happens at its instant
        lead_jobs.accept_deadlines(ClockContext(sessions=sessions, slack=Watching(), playbook=playbook,
                                                now=at(9, 10)))
    assert open_transactions_when_asked and set(open_transactions_when_asked) == {0}
    with sessions() as session:
        assert session.get(SlackUser, OMAR).tz == "Asia/Tokyo"
        reminder = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "accept_reminder")).one()
    # Tuesday 10:00 in New York is Wednesday 00:00 in Tokyo: the reminder waits for Omar's 09:00 there.
    assert reminder.next_attempt_at == dt.datetime(2027, 2, 10, 0, 0, tzinfo=dt.UTC)


def test_a_pass_whose_users_info_fails_reminds_in_the_playbooks_zone_and_asks_again_next_time(
        engine, sessions, app, playbook, slack):
    from tests.test_clock_leads import hand_off
    from scheduling.jobs import ClockContext
    from scheduling.jobs import leads as lead_jobs
    from store import clock

    slack.users[OMAR] = {"id": OMAR, "tz": "Asia/Tokyo", "real_name": "Omar"}
    hand_off(sessions, playbook, _partner(sessions), now=at(5, 16), company="Initech")
    slack.fail_next("users.info", status=500, times=10)  # Slack is down (the client retries a 5xx once)
    with clock.travelled_to(at(9, 10), tick=False):
        lead_jobs.accept_deadlines(ClockContext(sessions=sessions, slack=app.services.slack, playbook=playbook,
                                                now=at(9, 10)))
    with sessions() as session:
        assert session.get(SlackUser, OMAR) is None  # nothing kept of an answer Slack did not give
        [reminder] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "accept_reminder")).all()
    # Omar's zone unknown: the playbook's (New York), where Tuesday 10:00 is business hours: at once.
    assert reminder.channel == OMAR and reminder.next_attempt_at == at(9, 10)
    slack.reset()  # Slack is back: the next pass that needs Omar asks again and keeps the answer
    assert look_up(sessions, app.services.slack, [OMAR], now=at(9, 11)) == 1
    with sessions() as session:
        assert session.get(SlackUser, OMAR).tz == "Asia/Tokyo"
