"""The bad paths of the handoff: inline modal errors, strangers, double and concurrent clicks,
forged requests, Slack failing. Each checks that nothing was lost and nothing changed."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from sqlalchemy import func, select

from slackkit import simulator as s
from store import outbox
from store.models import AuditEvent, Lead, OutboxMessage
from tests.conftest import BEA, OMAR, RIYA, STAN, eventually
from tests.helpers import handoff_form, modal_errors, mrkdwn_texts


def _count(sessions, model):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def _lead(sessions, lead_id=1):
    with sessions() as session:
        return session.get(Lead, lead_id)



@pytest.mark.parametrize(
    ("overrides", "block", "words"),
    [
        ({"contact_email": s.email("ada(at)acme")}, "contact_email", "doesn't look like an email"),
        ({"consent": s.checkboxes([])}, "consent", "must agree"),
        ({"backup_owner": s.user(OMAR)}, "backup_owner", "someone other than the primary owner"),
        ({"company": s.text(None)}, "company", "company name"),
        ({"partner": s.select(None, kind="external_select")}, "partner", "Choose the partner"),
        ({"next_steps": s.text("   ")}, "next_steps", "next steps"),
        ({"company": s.text("A" * 201)}, "company", "under 200 characters (it has 201)"),
        ({"problem": s.text("p" * 2001)}, "problem", "under 2000 characters"),
        ({"estimated_value": s.text("lots")}, "estimated_value", "positive number"),
        ({"estimated_value": s.text("-5")}, "estimated_value", "positive number"),
        ({"domain": s.text("not a domain")}, "domain", "web domain"),
    ],
)
def test_bad_field_gets_an_inline_error_and_saves_nothing(simulator, slack, sessions, make_partner, overrides, block, words):
    partner_id = make_partner()
    answer = simulator.submit("handoff_submit", handoff_form(partner_id, **overrides), user_id=RIYA)
    assert answer.status == 200
    errors = modal_errors(answer)
    assert set(errors) == {block}
    assert words in errors[block]
    assert _count(sessions, Lead) == 0 and _count(sessions, OutboxMessage) == 0
    assert slack.calls_for("chat.postMessage") == []


def test_several_bad_fields_are_reported_together(simulator, make_partner):
    partner_id = make_partner()
    answer = simulator.submit("handoff_submit", handoff_form(
        partner_id, contact_email=s.email("nope"), backup_owner=s.user(OMAR), company=s.text("")), user_id=RIYA)
    assert set(modal_errors(answer)) == {"contact_email", "backup_owner", "company"}


def test_partner_deleted_meanwhile_is_an_inline_error(simulator, sessions, make_partner):
    answer = simulator.submit("handoff_submit", handoff_form(999), user_id=RIYA)
    assert "no longer exists" in modal_errors(answer)["partner"]
    assert _count(sessions, Lead) == 0


def test_contact_from_the_partner_needs_no_consent(simulator, slack, sessions, make_partner):
    partner_id = make_partner()
    answer = simulator.submit("handoff_submit", handoff_form(
        partner_id, direction=s.radio("from_partner"), consent=s.checkboxes([])), user_id=RIYA)
    assert answer.status == 200 and answer.body == ""
    assert _lead(sessions).direction == "from_partner"


def test_contact_details_stay_out_of_the_partner_channel_without_consent(simulator, slack, make_partner):
    partner_id = make_partner()
    simulator.submit("handoff_submit", handoff_form(partner_id, direction=s.radio("from_partner"), consent=s.checkboxes([])),
                     user_id=RIYA)
    notice = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == "C0GLOBEX01")[0]
    owner_card = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == OMAR)[0]
    assert "ada@acme.com" not in json.dumps(notice.args)
    assert "ada@acme.com" in json.dumps(owner_card.args)


def test_user_text_is_escaped_so_nobody_is_pinged(simulator, slack, make_partner):
    partner_id = make_partner()
    simulator.submit("handoff_submit", handoff_form(partner_id, company=s.text("<!channel> & <@U0BOSS>"),
                                                    problem=s.text("<!here> needs help")), user_id=RIYA)
    posts = slack.wait_for("chat.postMessage", 3)
    for call in posts:
        # Slack parses mentions in mrkdwn and in the notification text; plain_text is shown as typed.
        for text in [call.args["text"], *mrkdwn_texts(call.args["blocks"])]:
            assert "<!channel>" not in text and "<!here>" not in text and "<@U0BOSS>" not in text, text
    card = next(c for c in posts if c.args["channel"] == OMAR)
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in json.dumps(card.args["blocks"])
    assert "&lt;!here&gt; needs help" in json.dumps(card.args["blocks"])



def _handed_off(simulator, slack, make_partner, **overrides):
    partner_id = make_partner()
    simulator.submit("handoff_submit", handoff_form(partner_id, **overrides), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    return partner_id


def test_a_stranger_cannot_accept_and_is_told_who_can(simulator, slack, sessions, make_partner):
    _handed_off(simulator, slack, make_partner)
    assert simulator.click("lead_accept", "1", user_id=STAN).status == 200
    reply = slack.wait_for("response_url")[0]
    assert reply.args["response_type"] == "ephemeral" and reply.args.get("replace_original") is False
    assert f"Only <@{OMAR}> or <@{BEA}> can accept L-1001" in reply.args["text"]
    assert _lead(sessions).stage == "handed_off"
    assert slack.calls_for("chat.update") == []


def test_the_backup_owner_may_accept(simulator, slack, sessions, make_partner):
    _handed_off(simulator, slack, make_partner)
    simulator.click("lead_accept", "1", user_id=BEA)
    eventually(lambda: _lead(sessions).stage == "accepted")
    assert _lead(sessions).accepted_by == BEA


def test_a_second_press_changes_nothing_and_says_what_happened(simulator, slack, sessions, make_partner):
    _handed_off(simulator, slack, make_partner)
    simulator.click("lead_accept", "1", user_id=OMAR)
    updated = slack.wait_for("chat.update", 2)  # the owner's card and the partner channel's notice
    assert sorted(c.args["channel"] for c in updated) == ["C0GLOBEX01", f"D{OMAR}"]
    simulator.click("lead_accept", "1", user_id=OMAR)
    reply = slack.wait_for("response_url")[0]
    assert "already accepted by <@U0OWNEROMAR>" in reply.args["text"]
    time.sleep(0.2)
    assert len(slack.calls_for("chat.update")) == 2
    with sessions() as session:
        assert session.scalars(select(AuditEvent.action)).all().count("lead.accepted") == 1


def test_two_owners_pressing_at_once_exactly_one_wins(simulator, slack, sessions, make_partner, server):
    _handed_off(simulator, slack, make_partner)
    sims = [s.SlackSimulator(simulator.url, "test-signing-secret", response_url=slack.response_url(u)) for u in (OMAR, BEA)]
    barrier = threading.Barrier(2)
    answers = []

    def press(sim, user_id):
        barrier.wait()
        answers.append(sim.click("lead_accept", "1", user_id=user_id).status)

    threads = [threading.Thread(target=press, args=(sim, u)) for sim, u in zip(sims, (OMAR, BEA))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200, 200]
    refusal = slack.wait_for("response_url")[0]
    winner = _lead(sessions).accepted_by
    assert winner in (OMAR, BEA)
    loser = BEA if winner == OMAR else OMAR
    assert refusal.args["_key"] == loser and f"already accepted by <@{winner}>" in refusal.args["text"]
    with sessions() as session:
        assert session.scalars(select(AuditEvent.action)).all().count("lead.accepted") == 1
    for sim in sims:
        sim.close()


def test_decline_asks_for_a_reason_and_tells_the_sender(simulator, slack, sessions, make_partner):
    _handed_off(simulator, slack, make_partner)
    simulator.click("lead_decline", "1", user_id=OMAR)
    modal = slack.wait_for("views.open")[0].args["view"]
    assert modal["callback_id"] == "handoff_decline_submit"
    metadata = modal["private_metadata"]

    empty = simulator.submit("handoff_decline_submit", s.state({"reason": s.text("  ")}), user_id=OMAR,
                             private_metadata=metadata)
    assert "Say why" in modal_errors(empty)["reason"]
    assert _lead(sessions).stage == "handed_off"

    done = simulator.submit("handoff_decline_submit", s.state({"reason": s.text("Outside our territory")}), user_id=OMAR,
                            private_metadata=metadata)
    assert done.status == 200 and done.body == ""
    lead = _lead(sessions)
    assert (lead.stage, lead.declined_by, lead.decline_reason) == ("declined", OMAR, "Outside our territory")
    told = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == RIYA and "declined" in c.args["text"])[0]
    assert "Outside our territory" in json.dumps(told.args["blocks"])
    card = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}")[0]
    card_text = json.dumps(card.args["blocks"])
    assert "Declined by <@U0OWNEROMAR>" in card_text and "lead_accept" not in card_text


def test_a_stranger_gets_no_decline_modal(simulator, slack, sessions, make_partner):
    _handed_off(simulator, slack, make_partner)
    simulator.click("lead_decline", "1", user_id=STAN)
    assert "can decide on L-1001" in slack.wait_for("response_url")[0].args["text"]
    assert slack.calls_for("views.open") == []


def test_decline_after_someone_accepted_is_refused_inline(simulator, slack, sessions, make_partner):
    _handed_off(simulator, slack, make_partner)
    simulator.click("lead_decline", "1", user_id=OMAR)
    metadata = slack.wait_for("views.open")[0].args["view"]["private_metadata"]
    simulator.click("lead_accept", "1", user_id=BEA)
    eventually(lambda: _lead(sessions).stage == "accepted")
    answer = simulator.submit("handoff_decline_submit", s.state({"reason": s.text("Busy")}), user_id=OMAR,
                              private_metadata=metadata)
    assert "already accepted by @U0BACKUPBEA" in modal_errors(answer)["reason"]
    assert _lead(sessions).stage == "accepted"


def test_first_outreach_needs_an_accepted_lead_and_is_logged_once(simulator, slack, sessions, make_partner):
    _handed_off(simulator, slack, make_partner)
    simulator.click("lead_log_outreach", "1", user_id=OMAR)
    assert "Accept L-1001 first" in slack.wait_for("response_url")[0].args["text"]
    simulator.click("lead_accept", "1", user_id=OMAR)
    eventually(lambda: _lead(sessions).stage == "accepted")
    simulator.click("lead_log_outreach", "1", user_id=OMAR)
    eventually(lambda: _lead(sessions).first_outreach_at is not None)
    simulator.click("lead_log_outreach", "1", user_id=BEA)
    reply = slack.wait_for("response_url", 2)[-1]
    assert "already logged by <@U0OWNEROMAR>" in reply.args["text"]
    assert _lead(sessions).first_outreach_logged_by == OMAR


def test_an_unknown_lead_is_a_clear_answer(simulator, slack):
    simulator.click("lead_accept", "4242", user_id=OMAR)
    assert "There is no lead L-5242" in slack.wait_for("response_url")[0].args["text"]


def test_forged_signature_gets_401_and_touches_nothing(simulator, slack, sessions, make_partner):
    partner_id = make_partner()
    body = "payload=" + json.dumps({"type": "view_submission"})
    answer = simulator.post(body, signature="v0=" + "0" * 64)
    assert answer.status == 401
    forged = s.SlackSimulator(simulator.url, "not-the-secret")
    assert forged.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA).status == 401
    assert forged.command("/handoff", "", user_id=RIYA).status == 401
    forged.close()
    assert _count(sessions, Lead) == 0 and slack.calls_for("views.open") == []


def test_stale_timestamp_gets_401(simulator, slack, sessions, make_partner):
    partner_id = make_partner()
    stale = int(time.time()) - 6 * 60
    body = "payload=" + json.dumps({"type": "block_actions"})
    assert simulator.post(body, timestamp=stale).status == 401
    # just inside the window is fine
    assert simulator.command("/handoff", "", user_id=RIYA).status == 200
    assert _count(sessions, Lead) == 0
    del partner_id


def test_slack_down_while_posting_cards_keeps_the_lead_and_the_messages(simulator, slack, sessions, make_partner, app):
    partner_id = make_partner()
    slack.fail_next("chat.postMessage", status=500, times=100)
    answer = simulator.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA)
    assert answer.status == 200 and answer.body == ""
    assert _lead(sessions).company == "Acme Corp"

    def all_tried():
        with sessions() as session:
            rows = session.scalars(select(OutboxMessage)).all()
            return rows if rows and all(r.attempts >= 1 for r in rows) else None

    rows = eventually(all_tried)
    assert {r.status for r in rows} == {"pending"} and len(rows) == 3
    assert all("500" in r.last_error for r in rows)
    assert slack.calls_for("chat.postMessage") == []

    # Slack recovers; the clock's next pass delivers everything, once.
    slack.reset()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    report = outbox.deliver(sessions, app.services.slack, now=later)
    assert sorted(report.sent) == sorted(r.id for r in rows)
    assert len(slack.calls_for("chat.postMessage")) == 3
    assert outbox.deliver(sessions, app.services.slack, now=later).sent == []


def test_rate_limited_post_waits_for_retry_after(simulator, slack, sessions, make_partner):
    partner_id = make_partner(channel_id=None)
    slack.fail_next("chat.postMessage", status=429, retry_after=120, times=100)
    before = dt.datetime.now(dt.UTC)
    simulator.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA)

    def tried():
        with sessions() as session:
            rows = session.scalars(select(OutboxMessage)).all()
            return rows if rows and all(r.attempts >= 1 for r in rows) else None

    for row in eventually(tried, timeout=10):
        assert row.status == "pending" and "ratelimited" in row.last_error
        assert row.next_attempt_at >= before + dt.timedelta(seconds=119)


def test_invalid_message_is_kept_as_failed_not_retried_forever(sessions, slack, app):
    with sessions() as session, session.begin():
        row = outbox.post(session, channel=OMAR, message={"text": "x", "blocks": [{"type": "section"}] * 51}, kind="test")
        session.flush()
        row_id = row.id
    report = outbox.deliver(sessions, app.services.slack, ids=[row_id])
    assert report.failed == [row_id]
    with sessions() as session:
        kept = session.get(OutboxMessage, row_id)
        assert kept.status == "failed" and "invalid_blocks" in kept.last_error


def test_a_card_still_waiting_goes_out_current_not_stale(simulator, slack, sessions, make_partner, app):
    partner_id = make_partner(channel_id=None)
    slack.fail_next("chat.postMessage", status=500, times=100)
    simulator.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA)
    eventually(lambda: _count(sessions, OutboxMessage) == 2)
    # the owner accepts from /handoff list while Slack is still failing the card's first post
    simulator.click("lead_accept", "1", user_id=OMAR, channel_id="C0SALES01")
    eventually(lambda: _lead(sessions).stage == "accepted")
    app.services.drain()  # every delivery attempt has ended
    assert slack.calls_for("chat.postMessage") == []
    slack.reset()  # Slack recovers

    report = outbox.deliver(sessions, app.services.slack, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert report.retrying == [] and report.failed == []
    card = next(c for c in slack.calls_for("chat.postMessage") if c.args["channel"] == OMAR)
    blocks = json.dumps(card.args["blocks"])
    assert "Accepted by <@U0OWNEROMAR>" in blocks and "lead_accept" not in blocks
    assert slack.calls_for("chat.update") == []  # it went out current: nothing to edit
