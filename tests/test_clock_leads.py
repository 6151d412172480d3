"""The clock and a lead's deadlines, by time travel: reminder at accept-by, pass to the backup after the
grace, SLA-breach escalation when the backup misses too, first-outreach reminders — each exactly once,
in the reader's business hours.

Test playbook (conftest): America/New_York, Mon–Fri 09:00–17:00, accept within 8 business hours,
first outreach within 16, backup grace = one more accept period (8 h). The dates are fixed (February
2027) and reached by moving the product's clock (ticks run at their instant, hand-offs are recorded at
theirs), so the real date does not matter.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from sqlalchemy import select

from scheduling.clock import run_jobs
from store import clock, outbox
from store.handoffs import HandoffDraft, accept_lead, create_handoff
from store.models import AuditEvent, Escalation, Handoff, Lead, OutboxMessage
from tests.conftest import BEA, MIA, OMAR, RIYA, STAN

NY = ZoneInfo("America/New_York")


def at(day: int, hour: int, minute: int = 0, month: int = 2) -> dt.datetime:
    """A New York wall-clock time in February 2027 (EST, UTC-5) as UTC. Feb 5 2027 is a Friday."""
    return dt.datetime(2027, month, day, hour, minute, tzinfo=NY).astimezone(dt.UTC)


def hand_off(sessions, playbook, partner_id, *, now, backup=BEA, company="Acme <!channel> Corp") -> int:
    draft = HandoffDraft(partner_id=partner_id, direction="to_partner", company=company, domain=None,
                         contact_name=None, contact_email=None, consent=False, problem="Invoices by hand.",
                         value_proposition=None, next_steps="Call Tuesday.", estimated_value=None, product_line=None,
                         primary_owner_id=OMAR, backup_owner_id=backup)
    with clock.travelled_to(now, tick=False), sessions() as session, session.begin():  # cards recorded at `now` too
        return create_handoff(session, draft=draft, sender_id=RIYA, playbook=playbook, now=now).lead.id


def rows(sessions, kind=None, channel=None):
    """Outbox rows about leads and escalations (the other jobs of a tick — reviews, digests — are not ours)."""
    with sessions() as session:
        query = (select(OutboxMessage).where(OutboxMessage.subject_type.in_(("lead", "escalation")))
                 .order_by(OutboxMessage.id))
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        if channel:
            query = query.where(OutboxMessage.channel == channel)
        return session.scalars(query).all()


def lead(sessions, lead_id):
    with sessions() as session:
        return session.get(Lead, lead_id)


def escalations(sessions):
    with sessions() as session:
        return session.scalars(select(Escalation).order_by(Escalation.id)).all()


def tick(sessions, app, playbook, when):
    return run_jobs(sessions, app.services.slack, playbook, now=when)


def test_a_week_in_the_life_of_an_unaccepted_lead(sessions, app, playbook, make_partner, slack):
    partner_id = make_partner(tier="silver", manager_id=MIA)
    # Friday 16:00: 8 business hours to accept = 1 h Friday + 7 h Monday -> Monday 16:00.
    lead_id = hand_off(sessions, playbook, partner_id, now=at(5, 16))
    assert lead(sessions, lead_id).accept_by == at(8, 16)
    outbox.deliver(sessions, app.services.slack, now=at(5, 16))  # the first card is in Omar's DM

    # Over the weekend and until the deadline: nothing.
    for moment in (at(6, 12), at(7, 12), at(8, 9), at(8, 15, 59)):
        tick(sessions, app, playbook, moment)
    assert rows(sessions, "accept_reminder") == []

    # Monday 16:00: one reminder to Omar, with Accept / Decline, naming the backup and the pass time
    # (grace = 8 more business hours: Monday 16–17 + Tuesday 09–16 -> Tuesday 16:00).
    report = tick(sessions, app, playbook, at(8, 16))
    assert report.done.get("accept_reminders") == 1
    [reminder] = rows(sessions, "accept_reminder")
    assert reminder.channel == OMAR and reminder.next_attempt_at == at(8, 16)
    text = reminder.payload["blocks"][0]["text"]["text"]
    assert "L-1001" in text and "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert f"passes to <@{BEA}>" in text and str(int(at(9, 16).timestamp())) in text
    buttons = [e["action_id"] for blk in reminder.payload["blocks"] if blk["type"] == "actions" for e in blk["elements"]]
    assert buttons[:2] == ["lead_accept", "lead_decline"]  # the card's own buttons

    # The same pass twice, and later passes before the grace ends: still one reminder.
    for moment in (at(8, 16), at(8, 16, 1), at(9, 10), at(9, 15, 59)):
        tick(sessions, app, playbook, moment)
    assert len(rows(sessions, "accept_reminder")) == 1
    assert lead(sessions, lead_id).passed_to_backup_at is None

    # Tuesday 16:00: it passes to Bea, with a fresh accept-by of 8 business hours -> Wednesday 16:00.
    report = tick(sessions, app, playbook, at(9, 16))
    assert report.done.get("passed_to_backup") == 1
    passed = lead(sessions, lead_id)
    assert (passed.primary_owner_id, passed.backup_owner_id) == (BEA, None)
    assert passed.passed_to_backup_at == at(9, 16) and passed.accept_by == at(10, 16)
    with sessions() as session:
        handoffs = session.scalars(select(Handoff).order_by(Handoff.id)).all()
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "lead.passed_to_backup")).one()
    assert [(h.from_user_id, h.to_user_id, h.status) for h in handoffs] == [(RIYA, OMAR, "passed"), (OMAR, BEA, "pending")]
    assert event.actor_id == "system:clock" and event.after["from"] == OMAR and event.after["to"] == BEA

    bea_cards = rows(sessions, "lead_card", BEA)
    assert len(bea_cards) == 1
    bea_buttons = [e["action_id"] for blk in bea_cards[0].payload["blocks"] if blk["type"] == "actions"
                   for e in blk["elements"]]
    assert bea_buttons[:2] == ["lead_accept", "lead_decline"]
    told = {r.channel: r.payload["blocks"][0]["text"]["text"] for r in rows(sessions, "lead_passed")}
    assert set(told) == {OMAR, RIYA}
    assert f"passed to the backup owner <@{BEA}>" in told[OMAR]
    assert f"<@{OMAR}> didn't accept" in told[RIYA]
    # Omar's card (already in Slack) is edited: no buttons, and it says it passed.
    [edit] = [r for r in rows(sessions) if r.method == "chat.update" and r.audience == OMAR]
    assert not [blk for blk in edit.payload["blocks"] if blk["type"] == "actions"]
    assert "passed to the backup owner" in edit.payload["blocks"][-1]["text"]["text"]

    # Running the pass again moves nothing and tells no one twice.
    before = len(rows(sessions))
    tick(sessions, app, playbook, at(9, 16))
    tick(sessions, app, playbook, at(10, 15, 59))
    assert len(rows(sessions)) == before and escalations(sessions) == []

    # Wednesday 16:00: Bea missed too -> an SLA-breach escalation opens by itself, linked to the lead.
    report = tick(sessions, app, playbook, at(10, 16))
    assert report.done.get("sla_breaches") == 1
    [breach] = escalations(sessions)
    assert (breach.kind, breach.requester_id, breach.lead_id, breach.status) == ("sla_breach", "system:clock", lead_id, "pending")
    assert breach.approver_ids == [MIA]  # the default level names no one: the partner manager decides
    assert lead(sessions, lead_id).sla_escalated_at == at(10, 16)
    assert [r.channel for r in rows(sessions, "escalation_card")] == [MIA]
    assert not [r for r in rows(sessions) if r.channel.startswith("system:")]

    # Once: more passes, later, open nothing more.
    for moment in (at(10, 16), at(11, 10), at(15, 10)):
        tick(sessions, app, playbook, moment)
    assert len(escalations(sessions)) == 1

    # Everything recorded is deliverable: the stand-in (which rejects what Slack rejects) takes it all.
    report = outbox.deliver(sessions, app.services.slack, now=at(15, 10))
    assert report.failed == [] and report.retrying == []


def test_after_the_pass_the_first_owner_is_refused_and_the_backup_can_accept(sessions, app, playbook, make_partner,
                                                                                simulator, slack):
    partner_id = make_partner()
    lead_id = hand_off(sessions, playbook, partner_id, now=at(5, 16))
    tick(sessions, app, playbook, at(9, 16))  # the clock was down Monday: it passes straight away, no reminder
    assert rows(sessions, "accept_reminder") == []
    assert lead(sessions, lead_id).primary_owner_id == BEA

    assert simulator.click("lead_accept", str(lead_id), user_id=OMAR).status == 200
    refusal = slack.wait_for("response_url")[0].args["text"]
    assert BEA in refusal and lead(sessions, lead_id).stage == "handed_off"

    assert simulator.click("lead_accept", str(lead_id), user_id=BEA).status == 200
    slack.wait_for("chat.postMessage", where=lambda c: c.args.get("channel") == RIYA)
    assert lead(sessions, lead_id).accepted_by == BEA
    tick(sessions, app, playbook, at(10, 16))  # Bea's deadline passes, but she accepted: no breach
    assert escalations(sessions) == []


def test_a_lead_accepted_in_time_gets_no_reminder(sessions, app, playbook, make_partner):
    partner_id = make_partner()
    lead_id = hand_off(sessions, playbook, partner_id, now=at(5, 16))
    with sessions() as session, session.begin():
        accept_lead(session, lead_id=lead_id, user_id=OMAR, playbook=playbook, now=at(8, 10))
    for moment in (at(8, 16), at(9, 16), at(10, 16)):
        tick(sessions, app, playbook, moment)
    assert rows(sessions, "accept_reminder") == [] and escalations(sessions) == []
    assert lead(sessions, lead_id).primary_owner_id == OMAR


def test_no_backup_goes_straight_to_the_sla_breach(sessions, app, playbook, make_partner):
    partner_id = make_partner(manager_id=MIA)
    lead_id = hand_off(sessions, playbook, partner_id, now=at(5, 16), backup=None)
    tick(sessions, app, playbook, at(8, 16))
    [reminder] = rows(sessions, "accept_reminder")
    assert "escalated as an SLA breach" in reminder.payload["blocks"][0]["text"]["text"]
    tick(sessions, app, playbook, at(9, 15, 59))
    assert escalations(sessions) == []
    tick(sessions, app, playbook, at(9, 16))  # the end of the grace: no pass, a breach
    [breach] = escalations(sessions)
    assert breach.kind == "sla_breach" and "no backup owner" in breach.reason
    assert lead(sessions, lead_id).passed_to_backup_at is None and lead(sessions, lead_id).primary_owner_id == OMAR


def test_two_clocks_at_the_same_instant_act_once(sessions, app, playbook, make_partner):
    partner_id = make_partner()
    lead_id = hand_off(sessions, playbook, partner_id, now=at(5, 16))
    import threading

    barrier = threading.Barrier(3)
    errors = []

    def clock():
        barrier.wait()
        try:
            tick(sessions, app, playbook, at(9, 16))
        except Exception as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=clock) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as session:
        assert len(session.scalars(select(Handoff).where(Handoff.lead_id == lead_id)).all()) == 2
        assert len(session.scalars(select(AuditEvent).where(AuditEvent.action == "lead.passed_to_backup")).all()) == 1
    assert len(rows(sessions, "lead_card", BEA)) == 1 and len(rows(sessions, "lead_passed")) == 2


def test_a_reminder_for_someone_in_tokyo_waits_for_their_nine_oclock(sessions, app, playbook, make_partner, slack):
    slack.users[OMAR] = {"id": OMAR, "tz": "Asia/Tokyo"}
    try:
        partner_id = make_partner()
        hand_off(sessions, playbook, partner_id, now=at(5, 16))
        outbox.deliver(sessions, app.services.slack, now=at(5, 16))
        tick(sessions, app, playbook, at(8, 16))  # Monday 16:00 New York = Tuesday 06:00 Tokyo
        [reminder] = rows(sessions, "accept_reminder")
        tokyo_nine = dt.datetime(2027, 2, 9, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # = Monday 19:00 New York
        assert reminder.next_attempt_at == tokyo_nine
        report = outbox.deliver(sessions, app.services.slack, now=tokyo_nine - dt.timedelta(minutes=1))
        assert reminder.id not in report.sent
        report = outbox.deliver(sessions, app.services.slack, now=tokyo_nine)
        assert reminder.id in report.sent
    finally:
        slack.users.pop(OMAR, None)  # the stand-in keeps users between tests


def test_first_outreach_overdue_reminds_the_owner_then_tells_the_manager(sessions, app, playbook, make_partner):
    partner_id = make_partner(manager_id=MIA)
    lead_id = hand_off(sessions, playbook, partner_id, now=at(5, 16))
    with sessions() as session, session.begin():
        accept_lead(session, lead_id=lead_id, user_id=OMAR, playbook=playbook, now=at(8, 10))
    # 16 business hours from Friday 16:00: 1 + 8 (Monday) + 7 (Tuesday) -> Tuesday 16:00.
    assert lead(sessions, lead_id).first_outreach_by == at(9, 16)
    tick(sessions, app, playbook, at(9, 15, 59))
    assert rows(sessions, "outreach_reminder") == []
    tick(sessions, app, playbook, at(9, 16))
    tick(sessions, app, playbook, at(9, 16, 30))
    [reminder] = rows(sessions, "outreach_reminder")
    assert reminder.channel == OMAR
    buttons = [e["action_id"] for blk in reminder.payload["blocks"] if blk["type"] == "actions" for e in blk["elements"]]
    assert "lead_log_outreach" in buttons
    # One business day later (8 business hours: Tuesday 16–17 + Wednesday 09–16 -> Wednesday 16:00): the manager.
    tick(sessions, app, playbook, at(10, 15, 59))
    assert rows(sessions, "outreach_manager") == []
    tick(sessions, app, playbook, at(10, 16))
    tick(sessions, app, playbook, at(11, 16))
    [note] = rows(sessions, "outreach_manager")
    assert note.channel == MIA and f"<@{OMAR}> accepted it" in note.payload["blocks"][0]["text"]["text"]
    assert len(rows(sessions, "outreach_reminder")) == 1


def test_nothing_reaches_a_person_outside_business_hours(sessions, app, playbook, make_partner):
    partner_id = make_partner(manager_id=MIA)
    lead_id = hand_off(sessions, playbook, partner_id, now=at(5, 16))
    with sessions() as session, session.begin():
        accept_lead(session, lead_id=lead_id, user_id=OMAR, playbook=playbook, now=at(8, 10))
    # Saturday 13 Feb, noon: the first outreach (due Tuesday) and the manager's note (due Wednesday) are both
    # overdue; both wait for Monday 09:00 New York, the readers' next business start.
    tick(sessions, app, playbook, at(13, 12))
    due = {r.kind: r.next_attempt_at for r in rows(sessions) if r.kind.startswith("outreach")}
    assert due == {"outreach_reminder": at(15, 9), "outreach_manager": at(15, 9)}


def test_a_clock_down_for_three_days_catches_up_with_one_message_per_item(sessions, app, playbook, make_partner):
    partner_id = make_partner()
    leads = [hand_off(sessions, playbook, partner_id, now=at(5, 16), company=f"Company {n}") for n in range(3)]
    before = {r.id for r in rows(sessions)}
    # Down from Friday to Tuesday 10:00 (before the end of the grace): one reminder per lead.
    tick(sessions, app, playbook, at(9, 10))
    new = [r for r in rows(sessions) if r.id not in before]
    assert sorted((r.kind, r.subject_id) for r in new) == [("accept_reminder", i) for i in leads]
    assert all(r.channel == OMAR for r in new)
    tick(sessions, app, playbook, at(9, 10))
    assert len(rows(sessions)) == len(before) + 3


def test_a_stranger_is_not_among_those_told(sessions, app, playbook, make_partner):
    partner_id = make_partner()
    hand_off(sessions, playbook, partner_id, now=at(5, 16))
    tick(sessions, app, playbook, at(8, 16))
    tick(sessions, app, playbook, at(9, 16))
    tick(sessions, app, playbook, at(10, 16))
    assert not [r for r in rows(sessions) if r.channel == STAN]


def test_the_first_owners_copy_stays_without_buttons_after_the_backup_accepts(sessions, app, playbook, make_partner,
                                                                               simulator, slack):
    from store import outbox

    partner_id = make_partner(channel_id=None)
    lead_id = hand_off(sessions, playbook, partner_id, now=at(5, 16))
    tick(sessions, app, playbook, at(9, 16))  # passes to Bea
    outbox.deliver(sessions, app.services.slack, now=at(9, 16))  # both cards are in Slack now
    slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == BEA)
    simulator.click("lead_accept", str(lead_id), user_id=BEA)
    edit = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}"
                          and "Accepted by" in json.dumps(c.args["blocks"]))[-1]
    blocks = json.dumps(edit.args["blocks"])
    assert "passed to <@U0BACKUPBEA>" in blocks
    assert '"type": "actions"' not in blocks  # no Update stage / Escalate buttons on a former owner's copy
