"""Escalations end to end through Bolt: signed requests in, Web API calls and rows out.

The playbook here has a channel, an admin and a two-level ladder: a user group of channel managers
(MIA and NOAH, resolved through usergroups.users.list) for 4 business hours, then a sales director
for 8. The clock's climb is called directly, as the scheduler will call it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from sqlalchemy import func, select

from slackkit import simulator as s
from store import escalations, events
from store.models import ActionItem, AuditEvent, Escalation, OutboxMessage
from store.playbook import parse_playbook
from tests.conftest import BEA, MIA, NOAH, OMAR, RIYA, STAN, TEST_PLAYBOOK, eventually
from tests.helpers import handoff_form, modal_errors, mrkdwn_texts

ADA = "U0ADMINADA"        # the playbook's admin
DAN = "U0DIRECTORDAN"     # level 2 approver
GROUP = "S0CHANNELMGRS"   # level 1: a user group of MIA and NOAH
CHANNEL = "C0ESCALATE"
ESCALATION_PLAYBOOK = TEST_PLAYBOOK + f"""
admins: [{ADA}]
escalation:
  channel: {CHANNEL}
  levels:
    - {{name: Channel managers, approvers: [{GROUP}], time_limit_hours: 4}}
    - {{name: Sales director, approvers: [{DAN}], time_limit_hours: 8}}
"""


@pytest.fixture
def playbook():
    return parse_playbook(ESCALATION_PLAYBOOK, "escalation-playbook.yml")


@pytest.fixture(autouse=True)
def group_members(slack):
    slack.usergroups[GROUP] = [MIA, NOAH]
    yield
    slack.usergroups.pop(GROUP, None)


def request_form(**overrides) -> dict:
    fields = {
        "about": s.text("Acme Corp renewal"),
        "kind": s.select("discount"),
        "reason": s.text("They ask 15% off to sign this quarter."),
        "severity": s.select("high"),
        "impact": s.text("$48,000 this quarter"),
    }
    fields.update(overrides)
    return s.state(fields)


def _raise(simulator, slack, *, user_id=RIYA, metadata="", wait=4, **overrides):
    answer = simulator.submit("escalation_submit", request_form(**overrides), user_id=user_id,
                              private_metadata=metadata)
    assert answer.status == 200 and answer.body == "", answer.body
    if wait:
        slack.wait_for("chat.postMessage", wait)
    return answer


def _esc(sessions, escalation_id=1) -> Escalation:
    with sessions() as session:
        return session.get(Escalation, escalation_id)


def _count(sessions, model, *where):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _audit(sessions, action):
    with sessions() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()



def _decide(simulator, user_id, *, decision="approve", level=0, note=None, response=None, escalation_id=1, sim=None):
    fields = {"note": s.text(note)}
    if response is not None:
        fields["response"] = s.select(str(response))
    metadata = json.dumps({"escalation_id": escalation_id, "level": level, "decision": decision})
    return (sim or simulator).submit("escalation_decide_submit", s.state(fields), user_id=user_id,
                                     private_metadata=metadata)


def _choose(simulator, action_id, value, *, user_id):
    """A static_select choice in a message, shaped as Slack sends it (block_actions with selected_option)."""
    return simulator.choose(action_id, value, user_id=user_id, block_id="escalation_actions")


def _buttons(blocks) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def _posts_to(slack, channel):
    return [c for c in slack.calls_for("chat.postMessage") if c.args["channel"] == channel]


def _last_reply(slack, count=1):
    return slack.wait_for("response_url", count)[-1].args["text"]



# --- opening the modal ------------------------------------------------------------------------------

def test_slash_escalate_opens_the_modal_with_the_text_and_the_playbooks_requests(simulator, slack):
    assert simulator.command("/escalate", "Acme renewal discount", user_id=RIYA).status == 200
    view = slack.wait_for("views.open")[0].args["view"]
    assert view["callback_id"] == "escalation_submit"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert list(blocks) == ["about", "kind", "reason", "severity", "impact"]
    assert blocks["about"]["element"]["initial_value"] == "Acme renewal discount"
    # the default playbook's requests, as this test playbook does not change them
    assert [o["value"] for o in blocks["kind"]["element"]["options"]] == [
        "discount", "exception", "conflict_ruling", "sla_breach", "other"]
    assert "initial_option" not in blocks["kind"]["element"]
    assert [o["value"] for o in blocks["severity"]["element"]["options"]] == ["low", "medium", "high", "critical"]
    assert blocks["impact"]["optional"] is True and blocks["reason"]["optional"] is False
    assert json.loads(view["private_metadata"]) == {}


def test_escalate_help_names_the_ladder(simulator, slack):
    simulator.command("/escalate", "help", user_id=RIYA)
    text = _last_reply(slack)
    assert "*Channel managers* — 4 hours" in text and "*Sales director* — 8 hours" in text
    assert f"<#{CHANNEL}>" in text and "required to reject" in text
    assert slack.calls_for("views.open") == []


@pytest.mark.parametrize(("text", "words"), [("L-1042", "There is no lead L-1042"),
                                             ("A-999999", "There is no action A-999999"),
                                             ("l-7", "There is no lead L-7")])
def test_a_bad_reference_is_a_clear_answer(simulator, slack, text, words):
    simulator.command("/escalate", text, user_id=RIYA)
    assert words in _last_reply(slack)
    assert slack.calls_for("views.open") == []


def test_an_unknown_lead_on_a_button_is_a_clear_answer(simulator, slack):
    simulator.click("escalate_open", "lead:999", user_id=OMAR)
    assert "There is no lead L-1999" in _last_reply(slack)


# --- raising ----------------------------------------------------------------------------------------

def test_raise_saves_the_escalation_and_sends_cards_to_the_group_the_channel_and_the_requester(
        simulator, slack, sessions, playbook):
    _raise(simulator, slack)
    esc = _esc(sessions)
    assert (esc.ref, esc.kind, esc.about, esc.severity, esc.impact) == (
        "E-1001", "discount", "Acme Corp renewal", "high", "$48,000 this quarter")
    assert (esc.level, esc.status, esc.requester_id) == (0, "pending", RIYA)
    assert esc.approver_ids == [MIA, NOAH]  # the group's members, as the stand-in lists them
    # level 1's time limit is 4 business hours (level 2's would be 8)
    assert esc.level_due_at == playbook.calendar.add_business_hours(esc.level_started_at, 4)
    assert [e.after["ref"] for e in _audit(sessions, "escalation.raised")] == ["E-1001"]
    assert slack.calls_for("usergroups.users.list")[0].args["usergroup"] == GROUP

    posts = {c.args["channel"]: c.args for c in slack.wait_for("chat.postMessage", 4)}
    assert set(posts) == {MIA, NOAH, CHANNEL, RIYA}
    for channel in (MIA, NOAH, CHANNEL):
        controls = _buttons(posts[channel]["blocks"])
        assert [(c["type"], c.get("value")) for c in controls] == [
            ("button", "1:0"), ("button", "1:0"), ("static_select", None)]
        # the playbook's discount responses, each worth "<id>:<level>:<index>"
        assert [(o["value"], o["text"]["text"]) for o in controls[2]["options"]] == [
            ("1:0:0", "Approved as asked"), ("1:0:1", "Approved up to 10%"), ("1:0:2", "Approved with a shorter term")]
        assert "They ask 15% off" in json.dumps(posts[channel]["blocks"])
    assert [b["text"]["text"] for b in _buttons(posts[RIYA]["blocks"])] == ["Withdraw"]
    assert "Channel managers" in json.dumps(posts[RIYA]["blocks"])


@pytest.mark.parametrize(
    ("overrides", "block", "words"),
    [
        ({"reason": s.text("   ")}, "reason", "Say why"),
        ({"kind": s.select(None)}, "kind", "Choose what you need decided"),
        ({"kind": s.select("free_lunch")}, "kind", "one of the playbook's requests"),
        ({"severity": s.select("apocalyptic")}, "severity", "low, medium, high or critical"),
        ({"about": s.text("a" * 301)}, "about", "under 300 characters (it has 301)"),
        ({"impact": s.text("i" * 1001)}, "impact", "under 1000 characters"),
    ],
)
def test_a_bad_field_is_an_inline_error_and_saves_nothing(simulator, slack, sessions, overrides, block, words):
    answer = simulator.submit("escalation_submit", request_form(**overrides), user_id=RIYA)
    errors = modal_errors(answer)
    assert set(errors) == {block} and words in errors[block]
    assert _count(sessions, Escalation) == 0 and _count(sessions, OutboxMessage) == 0


def test_a_group_slack_cannot_list_is_an_inline_error_and_saves_nothing(simulator, slack, sessions):
    slack.usergroups.pop(GROUP)
    answer = simulator.submit("escalation_submit", request_form(), user_id=RIYA)
    assert f"approver group {GROUP} from Slack (no_such_subteam)" in modal_errors(answer)["kind"]
    assert _count(sessions, Escalation) == 0 and _count(sessions, OutboxMessage) == 0


def test_slack_down_while_listing_the_group_is_an_inline_error(simulator, slack, sessions):
    slack.fail_next("usergroups.users.list", status=500, times=5)  # the client retries a 5xx once
    answer = simulator.submit("escalation_submit", request_form(), user_id=RIYA)
    assert f"approver group {GROUP}" in modal_errors(answer)["kind"]
    assert _count(sessions, Escalation) == 0


def test_the_escalate_button_on_a_lead_card_links_the_lead_and_its_owners_hear_the_decision(
        simulator, slack, sessions, make_partner):
    partner_id = make_partner(channel_id=None)
    simulator.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA)
    slack.wait_for("chat.postMessage", 2)
    simulator.click("lead_accept", "1", user_id=OMAR)
    card = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}")[0]
    escalate = [b for b in _buttons(card.args["blocks"]) if b["action_id"] == "escalate_open"]
    assert [b["value"] for b in escalate] == ["lead:1"]

    simulator.click("escalate_open", "lead:1", user_id=OMAR)
    view = slack.wait_for("views.open")[0].args["view"]
    about = next(b for b in view["blocks"] if b["block_id"] == "about")
    assert about["element"]["initial_value"] == "L-1001 · Acme Corp"
    slack.reset()
    _raise(simulator, slack, user_id=OMAR, metadata=view["private_metadata"], wait=4)
    esc = _esc(sessions)
    assert esc.lead_id == 1 and esc.requester_id == OMAR

    _decide(simulator, MIA, note="Fine this once")
    # the requester (OMAR, also the owner) once, and the backup owner BEA; not MIA, who decided
    told = slack.wait_for("chat.postMessage", 2, where=lambda c: "E-1001 approved" in c.args["text"])
    assert sorted(c.args["channel"] for c in told) == sorted([OMAR, BEA])
    assert "L-1001" in json.dumps(told[0].args["blocks"]) and "Fine this once" in json.dumps(told[0].args["blocks"])


def test_the_conflict_notice_button_preselects_a_conflict_ruling(simulator, slack, sessions, make_partner):
    globex = make_partner("Globex Partners", channel_id=None, manager_id=MIA)
    initech = make_partner("Initech", channel_id=None, manager_id=NOAH)
    simulator.submit("handoff_submit", handoff_form(globex, domain=s.text("acme.com")), user_id=RIYA)
    simulator.submit("handoff_submit", handoff_form(initech, domain=s.text("acme.com"), company=s.text("ACME Inc.")),
                     user_id=RIYA)
    notice = slack.wait_for("chat.postMessage", where=lambda c: c.args["text"].startswith("Possible conflict"))[0]
    assert [b["value"] for b in _buttons(notice.args["blocks"])] == ["conflict:2"]

    simulator.click("escalate_open", "conflict:2", user_id=MIA)
    view = slack.wait_for("views.open")[0].args["view"]
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["kind"]["element"]["initial_option"]["value"] == "conflict_ruling"
    assert blocks["about"]["element"]["initial_value"] == "L-1002 · ACME Inc. — conflict with L-1001"
    assert json.loads(view["private_metadata"]) == {"lead_id": 2}


def test_an_action_link_tells_the_action_owner(simulator, slack, sessions):
    with sessions() as session, session.begin():
        session.add(ActionItem(title="Fix the partner's demo environment", owner_id=BEA, created_by=MIA,
                               due_date=dt.date(2030, 1, 1)))
    simulator.click("escalate_open", "action:1", user_id=RIYA)
    view = slack.wait_for("views.open")[0].args["view"]
    about = next(b for b in view["blocks"] if b["block_id"] == "about")
    assert about["element"]["initial_value"] == "A-1001 · Fix the partner's demo environment"
    slack.reset()
    _raise(simulator, slack, metadata=view["private_metadata"], kind=s.select("exception"))
    assert _esc(sessions).action_id == 1
    _decide(simulator, NOAH, decision="reject", note="Not this quarter")
    told = slack.wait_for("chat.postMessage", 2, where=lambda c: "E-1001 rejected" in c.args["text"])
    assert sorted(c.args["channel"] for c in told) == sorted([RIYA, BEA])


# --- deciding ---------------------------------------------------------------------------------------

def test_an_approver_approves_and_every_copy_of_the_card_is_edited(simulator, slack, sessions):
    _raise(simulator, slack)
    posted = {channel: ts for (channel, ts) in slack.messages}
    simulator.click("escalation_approve", "1:0", user_id=MIA)
    modal = slack.wait_for("views.open")[0].args["view"]
    assert modal["callback_id"] == "escalation_decide_submit"
    assert json.loads(modal["private_metadata"]) == {"escalation_id": 1, "level": 0, "decision": "approve"}
    note_block = next(b for b in modal["blocks"] if b.get("block_id") == "note")
    assert note_block["optional"] is True

    answer = _decide(simulator, MIA, note="Sign by Friday")
    assert answer.status == 200 and answer.body == ""
    esc = _esc(sessions)
    assert (esc.status, esc.decided_by, esc.decision_note) == ("approved", MIA, "Sign by Friday")

    updates = slack.wait_for("chat.update", 4)
    assert sorted(c.args["channel"] for c in updates) == sorted([f"D{MIA}", f"D{NOAH}", CHANNEL, f"D{RIYA}"])
    for call in updates:
        assert call.args["ts"] == posted[call.args["channel"]]
        text = json.dumps(call.args["blocks"])
        assert f"*Approved* by <@{MIA}> <!date^" in text and "Sign by Friday" in text
        assert _buttons(call.args["blocks"]) == []
    told = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == RIYA and "approved" in c.args["text"])
    assert "Sign by Friday" in json.dumps(told[0].args["blocks"])
    assert [e.actor_id for e in _audit(sessions, "escalation.approved")] == [MIA]


def test_a_predefined_response_from_the_card_opens_the_modal_with_it_chosen(simulator, slack, sessions):
    _raise(simulator, slack)
    _choose(simulator, "escalation_respond", "1:0:1", user_id=NOAH)
    modal = slack.wait_for("views.open")[0].args["view"]
    response = next(b for b in modal["blocks"] if b.get("block_id") == "response")
    assert response["element"]["initial_option"]["text"]["text"] == "Approved up to 10%"
    _decide(simulator, NOAH, response=1, note="keep the margin")
    esc = _esc(sessions)
    assert (esc.status, esc.decided_by) == ("approved", NOAH)
    assert esc.decision_note == "Approved up to 10% — keep the margin"
    assert _audit(sessions, "escalation.approved")[0].after["response"] == "Approved up to 10%"


def test_a_response_the_playbook_does_not_offer_is_an_inline_error(simulator, slack, sessions):
    _raise(simulator, slack)
    assert "responses offered" in modal_errors(_decide(simulator, MIA, response=7))["response"]
    assert _esc(sessions).status == "pending"


def test_an_admin_may_reject(simulator, slack, sessions):
    _raise(simulator, slack)
    simulator.click("escalation_reject", "1:0", user_id=ADA)
    modal = slack.wait_for("views.open")[0].args["view"]
    assert next(b for b in modal["blocks"] if b.get("block_id") == "note")["optional"] is False
    assert all(b.get("block_id") != "response" for b in modal["blocks"])
    assert _decide(simulator, ADA, decision="reject", note="Margin too thin").body == ""
    esc = _esc(sessions)
    assert (esc.status, esc.decided_by, esc.decision_note) == ("rejected", ADA, "Margin too thin")


@pytest.mark.parametrize("who", [STAN, RIYA], ids=["stranger", "requester"])
def test_someone_else_is_refused_and_told_who_can(simulator, slack, sessions, who):
    _raise(simulator, slack)
    simulator.click("escalation_approve", "1:0", user_id=who)
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == (f"Only <@{MIA}>, <@{NOAH}> or <@{ADA}> can decide E-1001 — it is with Channel managers now.")
    assert slack.calls_for("views.open") == []
    _choose(simulator, "escalation_respond", "1:0:0", user_id=who)
    assert "can decide E-1001" in _last_reply(slack, 2)
    # a decide modal submitted anyway (say, forged) is refused inline and changes nothing
    assert f"Only @{MIA}, @{NOAH} or @{ADA}" in modal_errors(_decide(simulator, who, note="ok"))["note"]
    assert _esc(sessions).status == "pending" and slack.calls_for("chat.update") == []


def test_reject_without_a_note_is_an_inline_error(simulator, slack, sessions):
    _raise(simulator, slack)
    errors = modal_errors(_decide(simulator, MIA, decision="reject", note="   "))
    assert set(errors) == {"note"} and "Say why you reject" in errors["note"]
    assert _esc(sessions).status == "pending" and _audit(sessions, "escalation.rejected") == []


def test_a_second_click_changes_nothing_and_says_what_happened(simulator, slack, sessions):
    _raise(simulator, slack)
    simulator.click("escalation_reject", "1:0", user_id=NOAH)  # NOAH opens Reject and thinks about it
    slack.wait_for("views.open")
    _decide(simulator, MIA, note="Go")
    slack.wait_for("chat.update", 4)
    simulator.click("escalation_approve", "1:0", user_id=MIA)
    assert f"E-1001 was already approved by <@{MIA}> <!date^" in _last_reply(slack)
    simulator.click("escalation_reject", "1:0", user_id=NOAH)
    assert f"E-1001 was already approved by <@{MIA}>" in _last_reply(slack, 2)
    late = _decide(simulator, NOAH, decision="reject", note="No")
    assert f"already approved by @{MIA}" in modal_errors(late)["note"]
    time.sleep(0.2)
    assert len(slack.calls_for("views.open")) == 1 and len(slack.calls_for("chat.update")) == 4
    esc = _esc(sessions)
    assert (esc.status, esc.decided_by, esc.decision_note) == ("approved", MIA, "Go")


def test_two_approvers_deciding_at_once_exactly_one_decision_stands(simulator, slack, sessions, server):
    _raise(simulator, slack)
    sims = {user: s.SlackSimulator(simulator.url, "test-signing-secret") for user in (MIA, NOAH)}
    barrier = threading.Barrier(2)
    answers = {}

    def decide(user, decision):
        barrier.wait()
        answers[user] = _decide(simulator, user, decision=decision, note=f"{user} says so", sim=sims[user])

    threads = [threading.Thread(target=decide, args=(MIA, "approve")),
               threading.Thread(target=decide, args=(NOAH, "reject"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    esc = _esc(sessions)
    assert esc.decided_by in (MIA, NOAH)
    winner, loser = (MIA, NOAH) if esc.decided_by == MIA else (NOAH, MIA)
    assert esc.status == ("approved" if winner == MIA else "rejected")
    assert answers[winner].body == ""
    assert f"E-1001 was already {esc.status} by @{winner}" in modal_errors(answers[loser])["note"]
    decisions = _audit(sessions, "escalation.approved") + _audit(sessions, "escalation.rejected")
    assert [e.actor_id for e in decisions] == [winner]
    updates = slack.wait_for("chat.update", 4)
    time.sleep(0.2)
    assert len(slack.calls_for("chat.update")) == 4
    assert all(f"by <@{winner}>" in json.dumps(u.args["blocks"]) for u in updates)
    for sim in sims.values():
        sim.close()


def test_an_unknown_escalation_is_a_clear_answer(simulator, slack):
    simulator.click("escalation_approve", "4242:0", user_id=MIA)
    assert "There is no escalation E-5242" in _last_reply(slack)


# --- climbing the ladder ------------------------------------------------------------------------------

def _climb(app, sessions, *, at):
    """Climb as the clock does; the outbox rows it wrote (delivered), [] when nothing moved."""
    with sessions() as session, session.begin():
        climbed = escalations.climb(session, escalation_id=1, playbook=app.services.playbook,
                                    resolve_approvers=app.services.slack.resolve_approvers, now=at)
    ids = events.written(session)
    assert climbed == bool(ids)
    app.services.deliver(ids)
    return ids


def test_climb_moves_to_the_next_level_then_the_old_level_is_refused_and_the_new_one_decides(
        simulator, slack, sessions, app, playbook):
    _raise(simulator, slack)
    due = _esc(sessions).level_due_at
    assert _climb(app, sessions, at=due - dt.timedelta(minutes=1)) == []  # not yet due: nothing moves
    assert _esc(sessions).level == 0

    at = due + dt.timedelta(minutes=1)
    assert _climb(app, sessions, at=at)
    esc = _esc(sessions)
    assert (esc.level, esc.status, esc.approver_ids) == (1, "pending", [DAN])
    assert esc.level_started_at == at
    assert esc.level_due_at == playbook.calendar.add_business_hours(at, 8)  # the director's 8 hours
    assert _climb(app, sessions, at=at) == []  # a second clock at the same moment: nothing more

    # level 1's cards (both DMs and the channel's) now say it moved on, without buttons
    moved = slack.wait_for("chat.update", 4)
    old = [c for c in moved if c.args["channel"] in (f"D{MIA}", f"D{NOAH}", CHANNEL)]
    assert len(old) == 3
    for call in old:
        text = json.dumps(call.args["blocks"])
        assert "Moved to *Sales director* <!date^" in text and "no decision within 4 business hours" in text
        assert _buttons(call.args["blocks"]) == []
    # a new card for the director and a new one in the channel, for level 2
    new = [c for c in slack.calls_for("chat.postMessage") if c.args["channel"] in (DAN, CHANNEL)]
    assert sorted(c.args["channel"] for c in new) == sorted([DAN, CHANNEL, CHANNEL])
    dan_card = next(c for c in new if c.args["channel"] == DAN)
    assert [b["value"] for b in _buttons(dan_card.args["blocks"]) if b["type"] == "button"] == ["1:1", "1:1"]
    told = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == RIYA and "moved" in c.args["text"])
    assert "Sales director" in json.dumps(told[0].args["blocks"])
    assert [(e.after["from"], e.after["to"]) for e in _audit(sessions, "escalation.climbed")] == [
        ("Channel managers", "Sales director")]

    # a level-1 approver clicking their old card is refused
    simulator.click("escalation_approve", "1:0", user_id=MIA)
    assert _last_reply(slack) == f"Only <@{DAN}> or <@{ADA}> can decide E-1001 — it is with Sales director now."
    assert f"Only @{DAN} or @{ADA}" in modal_errors(_decide(simulator, MIA, level=0, note="ok"))["note"]
    # an admin on the old card is pointed at the current one
    simulator.click("escalation_approve", "1:0", user_id=ADA)
    assert "That card is for Channel managers, and E-1001 has since moved to Sales director" in _last_reply(slack, 2)
    assert "since moved" in modal_errors(_decide(simulator, ADA, level=0, note="ok"))["note"]
    assert _esc(sessions).status == "pending"

    # the director decides on the level-2 card
    simulator.click("escalation_approve", "1:1", user_id=DAN)
    assert json.loads(slack.wait_for("views.open")[0].args["view"]["private_metadata"])["level"] == 1
    assert _decide(simulator, DAN, level=1, note="Approved at director level").body == ""
    esc = _esc(sessions)
    assert (esc.status, esc.decided_by) == ("approved", DAN)


def test_climb_past_the_last_level_expires(simulator, slack, sessions, app):
    _raise(simulator, slack)
    _climb(app, sessions, at=_esc(sessions).level_due_at + dt.timedelta(minutes=1))
    slack.wait_for("chat.postMessage", 7)  # 4 at raise, then the director, the channel and the requester
    last_due = _esc(sessions).level_due_at
    assert _climb(app, sessions, at=last_due + dt.timedelta(minutes=1))
    esc = _esc(sessions)
    assert esc.status == "expired" and esc.level == 1
    assert [e.actor_id for e in _audit(sessions, "escalation.expired")] == ["system:clock"]
    told = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == RIYA and "expired" in c.args["text"])
    assert told
    dan_card = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{DAN}")[0]
    assert "*Expired*" in json.dumps(dan_card.args["blocks"]) and _buttons(dan_card.args["blocks"]) == []
    simulator.click("escalation_approve", "1:1", user_id=DAN)
    assert "E-1001 already expired" in _last_reply(slack)
    assert _climb(app, sessions, at=last_due + dt.timedelta(days=30)) == []


def test_climb_after_a_decision_changes_nothing(simulator, slack, sessions, app):
    _raise(simulator, slack)
    _decide(simulator, NOAH, note="Done")
    assert _climb(app, sessions, at=_esc(sessions).level_due_at + dt.timedelta(hours=1)) == []
    esc = _esc(sessions)
    assert (esc.status, esc.level, esc.decided_by) == ("approved", 0, NOAH)
    assert _audit(sessions, "escalation.climbed") == []


# --- withdrawing --------------------------------------------------------------------------------------

def test_the_requester_withdraws_and_others_are_refused(simulator, slack, sessions):
    _raise(simulator, slack)
    simulator.click("escalation_withdraw", "1", user_id=STAN)
    assert _last_reply(slack) == f"Only <@{RIYA}> can withdraw E-1001 — they raised it."
    simulator.click("escalation_withdraw", "1", user_id=MIA)  # an approver is not the requester either
    assert f"Only <@{RIYA}> can withdraw" in _last_reply(slack, 2)
    assert _esc(sessions).status == "pending"

    simulator.click("escalation_withdraw", "1", user_id=RIYA)
    eventually(lambda: _esc(sessions).status == "withdrawn")
    assert _esc(sessions).decided_by == RIYA
    updates = slack.wait_for("chat.update", 4)
    for call in updates:
        assert f"*Withdrawn* by <@{RIYA}>" in json.dumps(call.args["blocks"]) and _buttons(call.args["blocks"]) == []

    simulator.click("escalation_withdraw", "1", user_id=RIYA)
    assert f"E-1001 was already withdrawn by <@{RIYA}>" in _last_reply(slack, 3)
    simulator.click("escalation_approve", "1:0", user_id=MIA)
    assert "already withdrawn" in _last_reply(slack, 4)
    assert [e.actor_id for e in _audit(sessions, "escalation.withdrawn")] == [RIYA]


def test_withdraw_after_a_decision_is_refused(simulator, slack, sessions):
    _raise(simulator, slack)
    _decide(simulator, MIA, decision="reject", note="No budget")
    simulator.click("escalation_withdraw", "1", user_id=RIYA)
    assert f"E-1001 was already rejected by <@{MIA}>" in _last_reply(slack)
    assert _esc(sessions).status == "rejected"


# --- escaping -----------------------------------------------------------------------------------------

def test_every_piece_of_user_text_is_escaped(simulator, slack, sessions, app):
    _raise(simulator, slack, about=s.text("<!channel> & <@U0BOSS>"), reason=s.text("<!here> now"),
           impact=s.text("<#C0SECRET|secret>"))
    _climb(app, sessions, at=_esc(sessions).level_due_at + dt.timedelta(minutes=1))
    slack.wait_for("chat.postMessage", 7)
    _decide(simulator, DAN, level=1, note="<!everyone> ok")
    slack.wait_for("chat.update", 6)
    slack.wait_for("chat.postMessage", 8)
    calls = slack.calls_for("chat.postMessage") + slack.calls_for("chat.update")
    for call in calls:
        for text in [call.args["text"], *mrkdwn_texts(call.args["blocks"])]:
            for raw in ("<!channel>", "<@U0BOSS>", "<!here>", "<#C0SECRET", "<!everyone>"):
                assert raw not in text, (call.method, text)
    dan_card = next(c for c in calls if c.args["channel"] == DAN)
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in json.dumps(dan_card.args["blocks"])
    final = json.dumps([c.args["blocks"] for c in slack.calls_for("chat.update")])
    assert "&lt;!everyone&gt; ok" in final


def test_an_approver_cannot_decide_their_own_request(simulator, slack, sessions):
    # Mia is in the level-1 group; she raises a discount herself and tries to approve it.
    _raise(simulator, slack, user_id=MIA, wait=3)
    simulator.click("escalation_approve", "1:0", user_id=MIA)
    reply = slack.wait_for("response_url")[0].args
    assert reply["text"] == f"You raised E-1001, so you can't decide it — <@{NOAH}> can."
    assert slack.calls_for("views.open") == []
    assert "You raised E-1001" in modal_errors(_decide(simulator, MIA, note="fine by me"))["note"]
    assert _esc(sessions).status == "pending"
    # Noah, the other approver, still can
    assert _decide(simulator, NOAH, note="ok").body == ""
    assert (_esc(sessions).status, _esc(sessions).decided_by) == ("approved", NOAH)


def test_free_text_that_merely_starts_like_a_reference_opens_the_form(simulator, slack):
    simulator.command("/escalate", "L2 support is down at Acme", user_id=RIYA)
    view = slack.wait_for("views.open")[0].args["view"]
    about = next(b for b in view["blocks"] if b.get("block_id") == "about")
    assert about["element"]["initial_value"] == "L2 support is down at Acme"
