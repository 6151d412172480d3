"""/action end to end through signed requests: the modal and its inline errors, the card's Done /
Snooze / Reassign with strangers, second presses and races, the lists, escaping."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from slackkit import simulator as s
from store import actions, issues
from store.models import ActionItem, AuditEvent, OutboxMessage
from tests.conftest import BEA, MIA, NOAH, OMAR, RIYA, STAN, eventually
from tests.helpers import handoff_form, modal_errors, mrkdwn_texts
from store import clock

NY = ZoneInfo("America/New_York")  # the test playbook's time zone


def today() -> dt.date:
    return dt.datetime.now(NY).date()


def datepicker(day: dt.date | str | None) -> dict:
    return {"type": "datepicker", "selected_date": day.isoformat() if isinstance(day, dt.date) else day}


def action_form(**overrides) -> dict:
    """A valid /action modal state (due in 3 days); override a field with a raw element value."""
    fields = {
        "title": s.text("Run an enablement workshop"),
        "owner": s.user(OMAR),
        "due_date": datepicker(today() + dt.timedelta(days=3)),
        "success_criteria": s.text("Ten reps certified"),
        "impact_estimate": s.text("+10% acceptance"),
        "priority": s.select("high"),
        "link": s.select(None, kind="external_select"),
    }
    fields.update(overrides)
    return {"values": {block: {("action_link_search" if block == "link" else "value"): element}
                       for block, element in fields.items()}}


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False)



def _action(sessions, action_id=1) -> ActionItem:
    with sessions() as session:
        return session.get(ActionItem, action_id)


def _audit(sessions, name) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == name))


def _create(simulator, slack, *, by=RIYA, wait=2, **overrides) -> None:
    answer = simulator.submit("action_submit", action_form(**overrides), user_id=by)
    assert answer.status == 200 and answer.body == "", answer.body
    slack.wait_for("chat.postMessage", wait)


def _select(simulator, action_id: str, value: str, *, user_id: str) -> s.Answer:
    """A static_select choice in a message, shaped like SlackSimulator.click's button payload."""
    payload = {
        "type": "block_actions", "user": {"id": user_id, "username": user_id.lower(), "team_id": s.TEAM["id"]},
        "api_app_id": "A0PARTNERBOT", "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": f"D{user_id}",
                      "is_ephemeral": False},
        "trigger_id": "77.trigger", "team": s.TEAM, "enterprise": None, "is_enterprise_install": False,
        "channel": {"id": f"D{user_id}", "name": "directmessage"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "card", "blocks": []},
        "response_url": simulator.response_url,
        "actions": [{"action_id": action_id, "block_id": "action_actions", "type": "static_select",
                     "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
                     "placeholder": {"type": "plain_text", "text": "Snooze"}, "action_ts": f"{time.time():.6f}"}],
    }
    return simulator.interaction(payload)



def _elements(message_args) -> list[dict]:
    return [e for b in message_args["blocks"] if b["type"] == "actions" for e in b["elements"]]


# --- the modal ----------------------------------------------------------------------------------

def test_slash_action_opens_the_modal_with_the_title_and_the_caller_as_owner(simulator, slack):
    assert simulator.command("/action", "Call Globex about the QBR", user_id=RIYA).status == 200
    view = slack.wait_for("views.open")[0].args["view"]
    assert view["callback_id"] == "action_submit"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert [b["label"]["text"] for b in view["blocks"]] == [
        "Title", "Owner", "Due date", "Success criteria", "Impact estimate", "Priority", "Linked to"]
    assert blocks["title"]["element"]["initial_value"] == "Call Globex about the QBR"
    assert blocks["owner"]["element"]["initial_user"] == RIYA
    assert blocks["due_date"]["element"]["type"] == "datepicker"
    assert blocks["priority"]["element"]["initial_option"]["value"] == "medium"
    assert [o["value"] for o in blocks["priority"]["element"]["options"]] == ["low", "medium", "high", "urgent"]
    link = blocks["link"]
    assert link["optional"] is True and link["element"]["type"] == "external_select"
    assert link["element"]["action_id"] == "action_link_search"


def test_link_type_ahead_offers_partners_leads_and_issues_in_groups(simulator, slack, sessions, playbook, make_partner):
    globex = make_partner("Globex Partners")
    make_partner("Initech", channel_id=None)
    simulator.submit("handoff_submit", handoff_form(globex, company=s.text("Global Foods")), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    with sessions() as session, session.begin():
        issues.create_issue(session, partner_id=globex, creator_id=MIA, draft=issues.IssueDraft(
            category="messaging", description="Pitch misses the buyer", impact_estimate=None, cohort=None, root_cause=None))

    answer = simulator.suggest("action_link_search", "glo", user_id=RIYA, block_id="link")
    groups = {g["label"]["text"]: [(o["value"], o["text"]["text"]) for o in g["options"]]
              for g in answer.json()["option_groups"]}
    # "glo" is in the partner's name, in the lead's company, and the issue belongs to Globex; Initech matches nothing.
    assert groups == {
        "Partners": [("partner:1", "Globex Partners (silver)")],
        "Leads": [("lead:1", "L-1001 · Global Foods (Globex Partners)")],
        "Issues": [("issue:1", "P-1001 · Messaging · Globex Partners: Pitch misses the buyer")],
    }
    by_ref = simulator.suggest("action_link_search", "L-1001", user_id=RIYA, block_id="link").json()
    assert [g["label"]["text"] for g in by_ref["option_groups"]] == ["Leads"]
    nothing = simulator.suggest("action_link_search", "zzz", user_id=RIYA, block_id="link").json()
    assert nothing == {"options": []}


@pytest.mark.parametrize("kind", ["partner", "lead", "issue", "none"])
def test_create_with_each_kind_of_link(kind, simulator, slack, sessions, make_partner):
    globex = make_partner("Globex Partners")
    if kind in ("lead", "issue"):
        simulator.submit("handoff_submit", handoff_form(globex), user_id=RIYA)
        slack.wait_for("chat.postMessage", 3)
        with sessions() as session, session.begin():
            issues.create_issue(session, partner_id=globex, creator_id=MIA, draft=issues.IssueDraft(
                category="enablement", description="No demo kit", impact_estimate=None, cohort=None, root_cause=None))
        slack.reset()
    link = None if kind == "none" else f"{kind}:1"
    answer = simulator.submit("action_submit", action_form(link=s.select(link, kind="external_select")), user_id=RIYA)
    assert answer.status == 200 and answer.body == ""

    action = _action(sessions)
    assert (action.title, action.owner_id, action.created_by, action.priority, action.status) == (
        "Run an enablement workshop", OMAR, RIYA, "high", "open")
    assert action.due_date == today() + dt.timedelta(days=3)
    expected = {  # (partner_id, lead_id, issue_id): a lead's or an issue's partner is recorded too
        "partner": (globex, None, None), "lead": (globex, 1, None), "issue": (globex, None, 1), "none": (None, None, None)}
    assert (action.partner_id, action.lead_id, action.issue_id) == expected[kind]
    assert _audit(sessions, "action.created") == 1

    posts = slack.wait_for("chat.postMessage", 2)
    card = next(c.args for c in posts if c.args["channel"] == OMAR)
    elements = _elements(card)
    assert [(e["type"], e["action_id"]) for e in elements] == [
        ("button", "action_done"), ("static_select", "action_snooze"), ("button", "action_reassign"),
        ("button", "escalate_open")]
    assert elements[0]["value"] == "1" and elements[3]["value"] == "action:1"
    assert [o["value"] for o in elements[1]["options"]] == ["1:1d", "1:1w", "1:date"]
    text = _dump(card["blocks"])
    assert "A-1001" in text and "Ten reps certified" in text and f"<@{RIYA}> gave you an action" in text
    link_words = {"partner": "Partner Globex Partners", "lead": "Lead L-1001 · Acme Corp (Globex Partners)",
                  "issue": "Issue P-1001 · Enablement resources (Globex Partners)", "none": None}[kind]
    if link_words:
        assert link_words in text
    else:
        assert ":link:" not in text
    told = next(c.args for c in posts if c.args["channel"] == RIYA)
    assert "A-1001" in told["blocks"][0]["text"]["text"] and f"<@{OMAR}>" in told["blocks"][0]["text"]["text"]


def test_my_own_action_sends_no_notice_to_myself(simulator, slack, sessions):
    _create(simulator, slack, by=OMAR, wait=1)
    time.sleep(0.2)
    assert [c.args["channel"] for c in slack.calls_for("chat.postMessage")] == [OMAR]
    assert "Your action" in _dump(slack.calls_for("chat.postMessage")[0].args["blocks"])


@pytest.mark.parametrize(
    ("overrides", "block", "words"),
    [
        ({"due_date": datepicker(today() - dt.timedelta(days=1))}, "due_date", "is in the past"),
        ({"due_date": datepicker(None)}, "due_date", "Pick the day"),
        ({"due_date": datepicker("2026-02-30")}, "due_date", "from the calendar"),
        ({"title": s.text(None)}, "title", "Give the action a title"),
        ({"title": s.text("   ")}, "title", "Give the action a title"),
        ({"title": s.text("T" * 201)}, "title", "under 200 characters (it has 201)"),
        ({"owner": s.user(None)}, "owner", "who owns"),
        ({"priority": s.select("whenever")}, "priority", "low, medium, high or urgent"),
        ({"link": s.select("customer:4", kind="external_select")}, "link", "from the list"),
        ({"success_criteria": s.text("x" * 2001)}, "success_criteria", "under 2000 characters"),
    ],
)
def test_bad_field_gets_an_inline_error_and_saves_nothing(simulator, slack, sessions, overrides, block, words):
    answer = simulator.submit("action_submit", action_form(**overrides), user_id=RIYA)
    errors = modal_errors(answer)
    assert set(errors) == {block} and words in errors[block], errors
    with sessions() as session:
        assert session.scalar(select(func.count(ActionItem.id))) == 0
        assert session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_due_today_is_fine(simulator, slack, sessions):
    _create(simulator, slack, due_date=datepicker(today()))
    assert _action(sessions).due_date == today()


def test_several_problems_are_reported_together(simulator):
    errors = modal_errors(simulator.submit("action_submit", action_form(
        title=s.text(""), due_date=datepicker(today() - dt.timedelta(days=30))), user_id=RIYA))
    assert set(errors) == {"title", "due_date"}


def test_a_link_to_a_lead_that_no_longer_exists_is_inline(simulator, sessions):
    errors = modal_errors(simulator.submit("action_submit", action_form(link=s.select("lead:77", kind="external_select")),
                                      user_id=RIYA))
    assert "That lead no longer exists" in errors["link"]
    assert _action(sessions) is None


def test_user_text_is_escaped_so_nobody_is_pinged(simulator, slack):
    _create(simulator, slack, title=s.text("<!channel> & <@U0BOSS>"), success_criteria=s.text("<!here> wins"))
    for call in slack.calls_for("chat.postMessage"):
        for text in [call.args["text"], *mrkdwn_texts(call.args["blocks"])]:
            assert "<!channel>" not in text and "<!here>" not in text and "<@U0BOSS>" not in text, text
    card = next(c.args for c in slack.calls_for("chat.postMessage") if c.args["channel"] == OMAR)
    assert "&lt;!here&gt; wins" in _dump(card["blocks"])
    assert card["text"].startswith("A-1001 · &lt;!channel&gt; &amp; &lt;@U0BOSS&gt;")


# --- Done ---------------------------------------------------------------------------------------

def test_owner_marks_done_with_an_outcome_card_edited_creator_told(simulator, slack, sessions):
    _create(simulator, slack)
    card_ts = next(ts for (channel, ts) in slack.messages if channel == f"D{OMAR}")
    simulator.click("action_done", "1", user_id=OMAR)
    modal = slack.wait_for("views.open")[0].args["view"]
    assert modal["callback_id"] == "action_done_submit"
    assert "Ten reps certified" in _dump(modal["blocks"])  # the criteria, to write the outcome against
    outcome_block = next(b for b in modal["blocks"] if b.get("block_id") == "outcome")
    assert outcome_block["optional"] is True

    answer = simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text("12 reps certified")}}},
                              user_id=OMAR, private_metadata=modal["private_metadata"])
    assert answer.status == 200 and answer.body == ""
    action = _action(sessions)
    assert (action.status, action.done_by, action.outcome) == ("done", OMAR, "12 reps certified")
    update = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}")[0]
    assert update.args["ts"] == card_ts
    blocks = _dump(update.args["blocks"])
    assert f"Done by <@{OMAR}>" in blocks and "12 reps certified" in blocks and "action_done" not in blocks
    told = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == RIYA and "done" in c.args["text"])[0]
    assert "12 reps certified" in _dump(told.args["blocks"])
    assert _audit(sessions, "action.done") == 1


def test_done_without_an_outcome(simulator, slack, sessions):
    _create(simulator, slack)
    answer = simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text(None)}}}, user_id=RIYA,
                              private_metadata=json.dumps({"action_id": 1}))
    assert answer.body == ""
    action = _action(sessions)
    assert (action.status, action.done_by, action.outcome) == ("done", RIYA, None)  # the creator may close it too


def test_a_stranger_cannot_complete_and_is_told_who_can(simulator, slack, sessions):
    _create(simulator, slack)
    simulator.click("action_done", "1", user_id=STAN)
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    assert f"Only <@{OMAR}> or <@{RIYA}> can complete A-1001" in reply["text"]
    assert slack.calls_for("views.open") == []
    # a crafted submission is refused as well, inline
    errors = modal_errors(simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text("x")}}},
                                      user_id=STAN, private_metadata=json.dumps({"action_id": 1})))
    assert f"Only @{OMAR} or @{RIYA} can complete A-1001" in errors["outcome"]
    assert _action(sessions).status == "open"


def test_an_admin_may_complete(simulator, slack, sessions, app):
    from store.playbook import parse_playbook
    from tests.conftest import TEST_PLAYBOOK

    app.services.playbook = parse_playbook(TEST_PLAYBOOK + f"admins: [{NOAH}]\n")
    _create(simulator, slack)
    simulator.click("action_done", "1", user_id=STAN)
    assert f"<@{NOAH}>" in slack.wait_for("response_url")[0].args["text"]  # the admin is named among who can
    simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text(None)}}}, user_id=NOAH,
                     private_metadata=json.dumps({"action_id": 1}))
    assert _action(sessions).done_by == NOAH


def test_a_second_press_changes_nothing_and_says_who_did_it(simulator, slack, sessions):
    _create(simulator, slack)
    simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text(None)}}}, user_id=OMAR,
                     private_metadata=json.dumps({"action_id": 1}))
    slack.wait_for("chat.update")
    simulator.click("action_done", "1", user_id=OMAR)
    assert f"A-1001 was already done by <@{OMAR}>" in slack.wait_for("response_url")[0].args["text"]
    errors = modal_errors(simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text("again")}}},
                                      user_id=RIYA, private_metadata=json.dumps({"action_id": 1})))
    assert f"already done by @{OMAR}" in errors["outcome"]
    time.sleep(0.2)
    assert len(slack.calls_for("chat.update")) == 1 and slack.calls_for("views.open") == []
    assert _action(sessions).outcome is None and _audit(sessions, "action.done") == 1


def test_two_presses_at_once_exactly_one_wins(simulator, slack, sessions):
    _create(simulator, slack)
    sims = [s.SlackSimulator(simulator.url, "test-signing-secret") for _ in range(2)]
    barrier = threading.Barrier(2)
    answers: dict[str, str] = {}

    def press(sim, user_id):
        barrier.wait()
        answers[user_id] = sim.submit("action_done_submit", {"values": {"outcome": {"value": s.text(user_id)}}},
                                      user_id=user_id, private_metadata=json.dumps({"action_id": 1})).body

    threads = [threading.Thread(target=press, args=(sim, u)) for sim, u in zip(sims, (OMAR, RIYA))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = _action(sessions).done_by
    loser = RIYA if winner == OMAR else OMAR
    assert answers[winner] == ""
    assert f"already done by @{winner}" in json.loads(answers[loser])["errors"]["outcome"]
    assert _action(sessions).outcome == winner  # the winner's outcome, not overwritten
    assert _audit(sessions, "action.done") == 1
    for sim in sims:
        sim.close()


def test_an_unknown_action_is_a_clear_answer(simulator, slack):
    simulator.click("action_done", "4242", user_id=OMAR)
    assert "There is no action A-5242" in slack.wait_for("response_url")[0].args["text"]


# --- Snooze -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("now", "choice", "expected"),
    [
        # Wed 10:00 + 24 h = Thu 10:00, inside business hours (09-17 New York): unchanged.
        (dt.datetime(2026, 11, 18, 10, 0, tzinfo=NY), "1d", dt.datetime(2026, 11, 19, 10, 0, tzinfo=NY)),
        # Fri 15:00 + 24 h = Sat 15:00: no business on Saturday, so Monday's opening.
        (dt.datetime(2026, 11, 20, 15, 0, tzinfo=NY), "1d", dt.datetime(2026, 11, 23, 9, 0, tzinfo=NY)),
        # Wed 18:30 + 24 h = Thu 18:30, after closing: Friday's opening.
        (dt.datetime(2026, 11, 18, 18, 30, tzinfo=NY), "1d", dt.datetime(2026, 11, 20, 9, 0, tzinfo=NY)),
        # Wed 10:00 + 7 days = next Wed 10:00.
        (dt.datetime(2026, 11, 18, 10, 0, tzinfo=NY), "1w", dt.datetime(2026, 11, 25, 10, 0, tzinfo=NY)),
        # A date: that day's opening; a Saturday moves to Monday's.
        (dt.datetime(2026, 11, 18, 10, 0, tzinfo=NY), dt.date(2026, 11, 24), dt.datetime(2026, 11, 24, 9, 0, tzinfo=NY)),
        (dt.datetime(2026, 11, 18, 10, 0, tzinfo=NY), dt.date(2026, 11, 28), dt.datetime(2026, 11, 30, 9, 0, tzinfo=NY)),
    ],
)
def test_when_a_snooze_ends(playbook, now, choice, expected):
    assert actions.snooze_until(choice, playbook=playbook, now=now) == expected


@pytest.mark.parametrize("choice", ["1d", "1w"])
def test_snooze_from_the_card_sets_the_time_and_edits_the_card(choice, simulator, slack, sessions, playbook):
    _create(simulator, slack)
    before = clock.now()
    assert _select(simulator, "action_snooze", f"1:{choice}", user_id=OMAR).status == 200
    reply = slack.wait_for("response_url")[0].args
    assert "*A-1001* is snoozed until" in reply["text"] and reply["response_type"] == "ephemeral"
    until = _action(sessions).snoozed_until
    # At least 1 day (or 7) from the click; at most 3 more days, when it lands on a weekend evening.
    days = 1 if choice == "1d" else 7
    assert before + dt.timedelta(days=days) <= until <= clock.now() + dt.timedelta(days=days + 3)
    assert playbook.calendar.is_business_time(until)
    card = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}")[0]
    blocks = _dump(card.args["blocks"])
    assert "Snoozed until" in blocks and "action_done" in blocks  # still open, buttons kept
    assert _audit(sessions, "action.snoozed") == 1


def _next_weekday(start: dt.date, weekday: int) -> dt.date:
    day = start + dt.timedelta(days=1)
    while day.weekday() != weekday:
        day += dt.timedelta(days=1)
    return day


def test_snooze_until_a_date_asks_for_it_and_refuses_the_past(simulator, slack, sessions):
    _create(simulator, slack)
    _select(simulator, "action_snooze", "1:date", user_id=OMAR)
    modal = slack.wait_for("views.open")[0].args["view"]
    assert modal["callback_id"] == "action_snooze_submit"
    meta = modal["private_metadata"]

    def submit(day):
        return simulator.submit("action_snooze_submit", {"values": {"until": {"value": datepicker(day)}}},
                                user_id=OMAR, private_metadata=meta)

    assert "is in the past" in modal_errors(submit(today() - dt.timedelta(days=2)))["until"]
    assert "after today" in modal_errors(submit(today()))["until"]
    assert "Pick the day" in modal_errors(submit(None))["until"]
    assert _action(sessions).snoozed_until is None

    tuesday = _next_weekday(today() + dt.timedelta(days=1), 1)  # a business day at least two days ahead
    assert submit(tuesday).body == ""
    # that Tuesday's opening, 09:00 in New York
    assert _action(sessions).snoozed_until == dt.datetime.combine(tuesday, dt.time(9, 0), tzinfo=NY)


def test_a_stranger_cannot_snooze(simulator, slack, sessions):
    _create(simulator, slack)
    _select(simulator, "action_snooze", "1:1w", user_id=STAN)
    assert f"Only <@{OMAR}> or <@{RIYA}> can snooze A-1001" in slack.wait_for("response_url")[0].args["text"]
    assert _action(sessions).snoozed_until is None


def test_a_done_action_cannot_be_snoozed(simulator, slack, sessions):
    _create(simulator, slack)
    simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text(None)}}}, user_id=OMAR,
                     private_metadata=json.dumps({"action_id": 1}))
    _select(simulator, "action_snooze", "1:1d", user_id=OMAR)
    assert "already done by" in slack.wait_for("response_url")[0].args["text"]
    assert _action(sessions).snoozed_until is None


# --- Reassign -----------------------------------------------------------------------------------

def test_reassign_gives_the_new_owner_a_card_and_edits_the_old_one(simulator, slack, sessions):
    _create(simulator, slack)
    old_card_ts = next(ts for (channel, ts) in slack.messages if channel == f"D{OMAR}")
    simulator.click("action_reassign", "1", user_id=RIYA)
    modal = slack.wait_for("views.open")[0].args["view"]
    assert modal["callback_id"] == "action_reassign_submit"
    meta = modal["private_metadata"]

    same = simulator.submit("action_reassign_submit", {"values": {"owner": {"value": s.user(OMAR)}}}, user_id=RIYA,
                            private_metadata=meta)
    assert "already theirs" in modal_errors(same)["owner"]
    assert "Choose who" in modal_errors(simulator.submit("action_reassign_submit", {"values": {"owner": {"value": s.user(None)}}},
                                                   user_id=RIYA, private_metadata=meta))["owner"]
    assert _action(sessions).owner_id == OMAR

    done = simulator.submit("action_reassign_submit", {"values": {"owner": {"value": s.user(BEA)}}}, user_id=RIYA,
                            private_metadata=meta)
    assert done.body == ""
    assert _action(sessions).owner_id == BEA
    new_card = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == BEA)[0].args
    assert [e["action_id"] for e in _elements(new_card)][0] == "action_done"
    old = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}")[0].args
    assert old["ts"] == old_card_ts
    assert f"<@{BEA}> owns it now" in _dump(old["blocks"]) and _elements(old) == []
    told = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == OMAR and "reassigned" in c.args["text"])
    assert f"from <@{OMAR}> to <@{BEA}>" in told[0].args["blocks"][0]["text"]["text"]
    assert _audit(sessions, "action.reassigned") == 1

    # the former owner is no longer allowed; the new owner is
    simulator.click("action_done", "1", user_id=OMAR)
    assert f"Only <@{BEA}> or <@{RIYA}> can complete A-1001" in slack.wait_for("response_url")[0].args["text"]


def test_a_stranger_cannot_reassign(simulator, slack, sessions):
    _create(simulator, slack)
    simulator.click("action_reassign", "1", user_id=STAN)
    assert "can reassign A-1001" in slack.wait_for("response_url")[0].args["text"]
    errors = modal_errors(simulator.submit("action_reassign_submit", {"values": {"owner": {"value": s.user(STAN)}}},
                                      user_id=STAN, private_metadata=json.dumps({"action_id": 1})))
    assert "can reassign A-1001" in errors["owner"]
    assert _action(sessions).owner_id == OMAR


# --- the lists ----------------------------------------------------------------------------------

def _add(sessions, playbook, *, title, owner=OMAR, due_in=0, link=None, status="open", snooze_days=None, by=RIYA):
    """An action due `due_in` days from today (negative: overdue), straight through the store."""
    draft = actions.ActionDraft(title=title, owner_id=owner, due_date=today() + dt.timedelta(days=due_in),
                                success_criteria=None, impact_estimate=None, priority="medium", link=link)
    with sessions() as session, session.begin():
        action = actions.create_action(session, draft=draft, creator_id=by, playbook=playbook).action
        if status != "open":
            action.status = status
        if snooze_days:
            action.snoozed_until = clock.now() + dt.timedelta(days=snooze_days)
        return action.ref


def _listed(reply) -> list[str]:
    return [b["text"]["text"].split("*")[1] for b in reply.get("blocks", [])
            if b["type"] == "section" and b["text"]["text"].startswith("*A-")]


def test_my_list_shows_overdue_first_then_by_due_date(simulator, slack, sessions, playbook):
    # Made in an order unlike their urgency; dates are relative to today in New York.
    later = _add(sessions, playbook, title="Later", due_in=10)
    due_today = _add(sessions, playbook, title="Today", due_in=0)
    very_late = _add(sessions, playbook, title="Very late", due_in=-5)
    snoozed = _add(sessions, playbook, title="Snoozed", due_in=3, snooze_days=2)
    late = _add(sessions, playbook, title="Late", due_in=-1)
    _add(sessions, playbook, title="Finished", due_in=-9, status="done")
    _add(sessions, playbook, title="Bea's", owner=BEA, due_in=-3)

    simulator.command("/action", "list", user_id=OMAR)
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    # overdue (-5, -1), then today, +3, +10; not the done one, not Bea's
    assert _listed(reply) == [very_late, late, due_today, snoozed, later]
    text = _dump(reply["blocks"])
    assert "Your open actions (5)" in text and "Showing 5 of 5" in text
    sections = {b["text"]["text"].split("*")[1]: b for b in reply["blocks"] if b["type"] == "section"}
    assert "overdue* by 5 days" in sections[very_late]["text"]["text"]
    assert "overdue* by 1 day " in sections[late]["text"]["text"] + " "
    assert "due today" in sections[due_today]["text"]["text"]
    assert "snoozed until" in sections[snoozed]["text"]["text"]
    assert "overdue" not in sections[later]["text"]["text"]
    assert sections[late]["accessory"]["action_id"] == "action_done"  # mine: Done right from the list


def test_list_of_someone_else_parses_the_mention_slack_sends(simulator, slack, sessions, playbook):
    _add(sessions, playbook, title="Omar's", owner=OMAR)
    beas = [_add(sessions, playbook, title="Bea one", owner=BEA, due_in=2), _add(sessions, playbook, title="Bea two",
                                                                                  owner=BEA, due_in=1)]
    simulator.command("/action", f"list <@{BEA}|bea>", user_id=MIA)
    reply = slack.wait_for("response_url")[0].args
    assert _listed(reply) == [beas[1], beas[0]]
    text = _dump(reply["blocks"])
    assert f"Open actions of <@{BEA}> (2)" in text
    assert "accessory" not in text  # not the reader's own: no Done buttons


def test_list_of_someone_with_nothing_open(simulator, slack):
    simulator.command("/action", f"list <@{STAN}>", user_id=MIA)
    assert f"<@{STAN}> has no open actions" in slack.wait_for("response_url")[0].args["text"]


def test_list_of_a_name_that_is_no_mention_is_explained(simulator, slack):
    simulator.command("/action", "list bob", user_id=MIA)
    assert "I can't tell who “bob” is" in slack.wait_for("response_url")[0].args["text"]


def test_list_by_partner_includes_its_leads_and_issues(simulator, slack, sessions, playbook, make_partner):
    globex = make_partner("Globex Partners")
    initech = make_partner("Initech", channel_id=None)
    simulator.submit("handoff_submit", handoff_form(globex), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    with sessions() as session, session.begin():
        issues.create_issue(session, partner_id=globex, creator_id=MIA, draft=issues.IssueDraft(
            category="messaging", description="Pitch", impact_estimate=None, cohort=None, root_cause=None))
    slack.reset()
    on_partner = _add(sessions, playbook, title="On partner", link=("partner", globex), due_in=4)
    on_lead = _add(sessions, playbook, title="On lead", owner=BEA, link=("lead", 1), due_in=2)
    on_issue = _add(sessions, playbook, title="On issue", owner=STAN, link=("issue", 1), due_in=-2)
    _add(sessions, playbook, title="Other partner", link=("partner", initech))
    _add(sessions, playbook, title="No link")

    simulator.command("/action", "list partner GLOBEX partners", user_id=MIA)
    reply = slack.wait_for("response_url")[0].args
    assert _listed(reply) == [on_issue, on_lead, on_partner]
    text = _dump(reply["blocks"])
    assert "Open actions on Globex Partners (3)" in text
    assert "Lead L-1001 · Acme Corp" in text and "Issue P-1001 · Messaging" in text


def test_list_by_an_unknown_partner_suggests_one(simulator, slack, make_partner):
    make_partner("Globex Partners")
    simulator.command("/action", "list partner Globe", user_id=MIA)
    text = slack.wait_for("response_url")[0].args["text"]
    assert "There is no partner called “Globe”. Did you mean *Globex Partners*?" in text


def test_a_long_list_stays_within_slacks_limits(simulator, slack, sessions, playbook):
    for n in range(45):
        _add(sessions, playbook, title=f"Task {n:02d}", due_in=n % 7 - 3)
    simulator.command("/action", "list", user_id=OMAR)
    reply = slack.wait_for("response_url")[0].args  # the stand-in rejects more than 50 blocks
    assert len(_listed(reply)) == 40
    assert "Showing 40 of 45" in _dump(reply["blocks"])


def test_an_empty_list_says_how_to_start(simulator, slack):
    simulator.command("/action", "list", user_id=OMAR)
    assert "You have no open actions" in slack.wait_for("response_url")[0].args["text"]


def test_the_list_is_one_query_however_many_actions(sessions, playbook, engine):
    from sqlalchemy import event

    for n in range(60):
        _add(sessions, playbook, title=f"Task {n}", owner=BEA, due_in=n % 9 - 4)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with sessions() as session:
            found, total = actions.open_actions(session, playbook=playbook, owner_id=BEA)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert (len(found), total) == (40, 60)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_action_help(simulator, slack):
    simulator.command("/action", "help", user_id=OMAR)
    text = slack.wait_for("response_url")[0].args["text"]
    assert "`/action list @person`" in text and "America/New_York" in text and "Snooze" in text


# --- who may act: the creator and admins too (store/permissions.require_action_owner) ------------

def test_the_creator_may_snooze_and_an_admin_may_reassign(simulator, slack, sessions, app):
    from store.playbook import parse_playbook
    from tests.conftest import TEST_PLAYBOOK

    app.services.playbook = parse_playbook(TEST_PLAYBOOK + f"admins: [{NOAH}]\n")
    _create(simulator, slack)  # Riya creates it for Omar
    _select(simulator, "action_snooze", "1:1w", user_id=RIYA)
    eventually(lambda: _action(sessions).snoozed_until is not None)
    answer = simulator.submit("action_reassign_submit", {"values": {"owner": {"value": s.user(BEA)}}},
                              user_id=NOAH, private_metadata=json.dumps({"action_id": 1}))
    assert answer.body == ""
    assert _action(sessions).owner_id == BEA
