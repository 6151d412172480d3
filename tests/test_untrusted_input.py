"""Input nobody should send, sent anyway, through signed requests: NUL characters in modal fields,
command text and type-ahead queries; ids in button values and private_metadata that are not
numbers, or are bigger than any row's. Each gets the answer a person understands (the modal closes,
an inline error, an ephemeral "there is no lead …"), never a 404 or "Something went wrong", and
the same on SQLite as on Postgres (which refuses NUL in text and ids past 32 bits)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from slackkit import simulator as s
from handlers.errors import SORRY
from store.models import ActionItem, Escalation, Lead, Partner, PerformanceIssue
from store.playbook import parse_playbook
from tests.conftest import MIA, OMAR, RIYA, STAN, TEST_PLAYBOOK, eventually
from tests.helpers import handoff_form, modal_errors

ADA = "U0ADMINADA"
NUL = "\x00"
HUGE = "9" * 20            # far past Postgres's integer (and SQLite's 64-bit) ids
PAST_32_BITS = 2**31       # the first id Postgres's integer cannot hold
PLAYBOOK = TEST_PLAYBOOK + f"""
admins: [{ADA}]
escalation:
  levels:
    - {{name: Partner managers, approvers: [{MIA}], time_limit_hours: 4}}
"""


@pytest.fixture
def playbook():
    return parse_playbook(PLAYBOOK, "untrusted-playbook.yml")


def answers(slack) -> list[dict]:
    return [c.args for c in slack.calls_for("response_url")]


def texts(slack) -> list[str]:
    return [a.get("text", "") for a in answers(slack)]


def one_answer(slack, count=1) -> str:
    """The newest message sent to the response_url (its text and blocks), once `count` have arrived;
    never the apology."""
    slack.wait_for("response_url", count)
    text = texts(slack)[-1]
    assert SORRY not in text, text
    return text + "\n" + json.dumps(answers(slack)[-1].get("blocks", []), ensure_ascii=False)


def stored(sessions, model, attribute, row_id=1):
    with sessions() as session:
        row = session.get(model, row_id)
        return getattr(row, attribute) if row is not None else None


def lead_for(simulator, slack, partner_id) -> None:
    """Lead 1 (L-1001), handed off by RIYA to OMAR, its cards sent."""
    assert simulator.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA).body == ""
    slack.wait_for("chat.postMessage", 3)


# --------------------------------------------------------------------------- NUL in modal fields


def test_nul_in_the_handoff_form_is_taken_out_and_the_lead_saved(simulator, slack, sessions, make_partner):
    partner = make_partner()
    form = handoff_form(partner, company=s.text(f"Acme{NUL} Corp"), problem=s.text(f"Invoices{NUL}{NUL} by hand"),
                        contact_name=s.text(f"{NUL}Ada Lovelace"))
    answer = simulator.submit("handoff_submit", form, user_id=RIYA)
    assert (answer.status, answer.body) == (200, "")  # the modal closes
    assert stored(sessions, Lead, "company") == "Acme Corp"
    assert stored(sessions, Lead, "problem") == "Invoices by hand"
    assert stored(sessions, Lead, "contact_name") == "Ada Lovelace"


def test_nul_in_the_add_partner_form_is_taken_out(simulator, slack, sessions):
    form = s.state({"name": s.text(f"Acme{NUL} Partners"), "type": s.select("reseller"), "tier": s.select("gold"),
                    "market": s.text(f"EMEA{NUL}"), "product_lines": s.text(""),
                    "channel_id": s.conversation(None), "manager_id": s.user(MIA)})
    answer = simulator.submit("partner_add_submit", form, user_id=ADA)
    assert (answer.status, answer.body) == (200, "")
    with sessions() as session:
        assert [(p.name, p.name_key, p.market) for p in session.scalars(select(Partner))] == [
            ("Acme Partners", "acme partners", "EMEA")]


def test_nul_in_the_action_and_issue_forms_is_taken_out(simulator, slack, sessions, make_partner):
    partner = make_partner()
    issue = s.state({"category": s.select("messaging"), "description": s.text(f"Pitch{NUL} misses the buyer"),
                     "impact_estimate": s.text(None), "cohort": s.text(None), "root_cause": s.text(f"{NUL}")})
    answer = simulator.submit("issue_submit", issue, user_id=MIA, private_metadata=json.dumps({"partner_id": partner}))
    assert (answer.status, answer.body) == (200, "")
    assert stored(sessions, PerformanceIssue, "description") == "Pitch misses the buyer"
    assert stored(sessions, PerformanceIssue, "root_cause") in (None, "")

    action = {"values": {
        "title": {"value": s.text(f"Run a{NUL} workshop")}, "owner": {"value": s.user(OMAR)},
        "due_date": {"value": {"type": "datepicker", "selected_date": None}},
        "success_criteria": {"value": s.text(f"Ten{NUL} reps")}, "impact_estimate": {"value": s.text(None)},
        "priority": {"value": s.select("high")},
        "link": {"action_link_search": s.select(None, kind="external_select")}}}
    errors = modal_errors(simulator.submit("action_submit", action, user_id=RIYA))
    assert set(errors) == {"due_date"}  # the one real problem, shown inline; NUL is none


def test_nul_in_a_decline_reason_and_an_escalation_is_taken_out(simulator, slack, sessions, make_partner):
    lead_for(simulator, slack, make_partner())
    answer = simulator.submit("handoff_decline_submit", s.state({"reason": s.text(f"Not{NUL} our market")}),
                              user_id=OMAR, private_metadata=json.dumps({"lead_id": 1}))
    assert (answer.status, answer.body) == (200, "")
    assert stored(sessions, Lead, "decline_reason") == "Not our market"

    request = s.state({"about": s.text(f"Acme{NUL} renewal"), "kind": s.select("discount"),
                       "reason": s.text(f"15%{NUL} off"), "severity": s.select("high"), "impact": s.text(None)})
    answer = simulator.submit("escalation_submit", request, user_id=RIYA)
    assert (answer.status, answer.body) == (200, "")
    assert (stored(sessions, Escalation, "about"), stored(sessions, Escalation, "reason")) == ("Acme renewal", "15% off")


# --------------------------------------------------------------------------- NUL in command text


@pytest.fixture
def globex(make_partner):
    return make_partner("Globex Partners")


@pytest.mark.parametrize("text, expect", [
    (f"list Glo{NUL}bex", "Globex Partners"),
    (f"issues Globex{NUL} Partners", "Globex Partners"),
    (f"history L-1001{NUL}", "There is no lead L-1001"),
    (f"scorecard Globex{NUL} Partners", "Globex Partners"),
    (f"baseline Globex Partners{NUL}", "Globex Partners"),
    (f"list{NUL}", "Globex Partners"),
])
def test_nul_in_partner_subcommands_is_taken_out(simulator, slack, globex, text, expect):
    assert simulator.command("/partner", text, user_id=MIA).status == 200
    assert expect in one_answer(slack)


def test_nul_in_partner_issue_opens_the_form_for_the_partner(simulator, slack, globex):
    assert simulator.command("/partner", f"issue Globex {NUL}Partners", user_id=MIA).status == 200
    view = slack.wait_for("views.open")[0].args["view"]
    assert json.loads(view["private_metadata"]) == {"partner_id": globex}
    assert not answers(slack)


def test_nul_in_other_commands_is_taken_out(simulator, slack, globex):
    simulator.command("/action", f"list partner Globex{NUL} Partners", user_id=MIA)
    assert "Globex Partners" in one_answer(slack)
    simulator.command("/escalate", f"L-1001{NUL} please", user_id=RIYA)
    assert "There is no lead L-1001" in one_answer(slack, 2)
    simulator.command("/handoff", f"Acme{NUL} Corp", user_id=RIYA)
    view = slack.wait_for("views.open")[0].args["view"]
    assert next(b for b in view["blocks"] if b["block_id"] == "company")["element"]["initial_value"] == "Acme Corp"


def test_nul_in_type_ahead_queries_is_taken_out(simulator, globex):
    answer = simulator.suggest("partner_search", f"Glo{NUL}bex", user_id=RIYA)
    assert answer.status == 200
    assert [o["text"]["text"] for o in answer.json()["options"]] == ["Globex Partners (silver)"]
    answer = simulator.suggest("action_link_search", f"Glo{NUL}", user_id=RIYA, block_id="link")
    assert answer.status == 200
    assert "Globex Partners" in json.dumps(answer.json())


# --------------------------------------------------------------------------- bad ids in button values


def _select(simulator, action_id: str, value: str, *, user_id: str) -> s.Answer:
    """A static select chosen in a message (the action card's Snooze, an escalation's responses)."""
    return simulator.choose(action_id, value, user_id=user_id, block_id="card")


BAD_VALUES = ["abc", HUGE, str(PAST_32_BITS), "²", "-3", "1.5", " 7", NUL]
BUTTONS = [  # (action id, value template, what the answer names)
    ("lead_accept", "{}", "lead"),
    ("lead_decline", "{}", "lead"),
    ("lead_log_outreach", "{}", "lead"),
    ("deal_update_stage", "{}", "lead"),
    ("deal_debrief", "{}", "lead"),
    ("action_done", "{}", "action"),
    ("action_reassign", "{}", "action"),
    ("escalation_withdraw", "{}", "escalation"),
    ("escalation_approve", "{}:0", "escalation"),
    ("escalation_reject", "{}:0", "escalation"),
]


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_a_button_with_a_bad_id_is_told_there_is_no_such_thing(simulator, slack, bad):
    for number, (action_id, template, noun) in enumerate(BUTTONS, start=1):
        assert simulator.click(action_id, template.format(bad), user_id=OMAR).status == 200
        text = one_answer(slack, number)
        assert f"no {noun}" in text.lower(), (action_id, bad, text)
    assert not slack.calls_for("views.open")


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_a_select_with_a_bad_id_is_told_there_is_no_such_thing(simulator, slack, bad):
    assert _select(simulator, "action_snooze", f"{bad}:1d", user_id=OMAR).status == 200
    assert "no action" in one_answer(slack).lower()
    assert _select(simulator, "escalation_respond", f"{bad}:0:1", user_id=OMAR).status == 200
    assert "no escalation" in one_answer(slack, 2).lower()
    assert _select(simulator, "action_snooze", f"{bad}:date", user_id=OMAR).status == 200
    assert "no action" in one_answer(slack, 3).lower()


def test_an_escalate_button_with_an_id_no_row_can_have_opens_a_blank_request(simulator, slack):
    # As a value that is no number always did: the request form, linked to nothing.
    values = (f"lead:{HUGE}", f"action:{PAST_32_BITS}", f"conflict:{HUGE}", "lead:²", "action:abc")
    for number, value in enumerate(values, start=1):
        assert simulator.click("escalate_open", value, user_id=RIYA).status == 200
        view = slack.wait_for("views.open", number)[-1].args["view"]
        assert json.loads(view.get("private_metadata") or "{}").get("lead_id") is None, value
        assert json.loads(view.get("private_metadata") or "{}").get("action_id") is None, value
    assert not answers(slack)


def test_a_huge_level_on_a_real_escalation_is_a_refusal_not_a_failure(simulator, slack, make_partner):
    request = s.state({"about": s.text("Acme renewal"), "kind": s.select("discount"),
                       "reason": s.text("15% off"), "severity": s.select("high"), "impact": s.text(None)})
    assert simulator.submit("escalation_submit", request, user_id=RIYA).body == ""
    slack.wait_for("chat.postMessage", 1)
    assert simulator.click("escalation_approve", f"1:{HUGE}", user_id=MIA).status == 200
    text = one_answer(slack)
    assert "E-1001" in text


# --------------------------------------------------------------------------- bad ids in private_metadata


METADATA = [
    {"lead_id": "abc"}, {"lead_id": int(HUGE)}, {"lead_id": PAST_32_BITS}, {"lead_id": -1}, {"lead_id": 1.5},
    {"lead_id": True}, {"lead_id": [1]}, {"lead_id": {"id": 1}}, {"lead_id": f"1{NUL}"},
]


@pytest.mark.parametrize("meta", METADATA, ids=lambda m: repr(m["lead_id"])[:12])
def test_modals_with_bad_ids_in_their_metadata_say_there_is_no_such_thing(simulator, slack, sessions, meta):
    bad = meta["lead_id"]
    cases = [  # (callback id, state, metadata, block the error is shown on, what it names)
        ("handoff_decline_submit", s.state({"reason": s.text("Not our market")}), {"lead_id": bad}, "reason", "lead"),
        ("deal_debrief_submit", s.state({"what_worked": s.text("Early call"), "what_did_not": s.text("Pricing")}),
         {"lead_id": bad}, "what_worked", "lead"),
        ("deal_stage_submit", s.state({"stage": s.select("contacted"), "note": s.text(None)}),
         {"lead_id": bad, "from": "accepted", "to": "contacted"}, "stage", "lead"),
        ("action_done_submit", s.state({"outcome": s.text("Done")}), {"action_id": bad}, "outcome", "action"),
        ("action_reassign_submit", s.state({"owner": s.user(STAN)}), {"action_id": bad}, "owner", "action"),
        ("escalation_decide_submit", s.state({"note": s.text("Fine")}),
         {"escalation_id": bad, "level": 0, "decision": "approve"}, "note", "escalation"),
        ("escalation_decide_submit", s.state({"note": s.text("Fine")}),
         {"escalation_id": 1, "level": bad, "decision": "approve"}, "note", "escalation"),
    ]
    for callback_id, state, metadata, block, noun in cases:
        answer = simulator.submit(callback_id, state, user_id=OMAR, private_metadata=json.dumps(metadata))
        errors = modal_errors(answer)
        assert list(errors) == [block], (callback_id, errors)
        assert f"no {noun}" in errors[block].lower(), (callback_id, errors)


@pytest.mark.parametrize("bad", [int(HUGE), PAST_32_BITS, "abc"])
def test_an_issue_form_for_a_partner_that_cannot_exist_is_refused(simulator, slack, sessions, bad):
    issue = s.state({"category": s.select("messaging"), "description": s.text("Pitch misses the buyer"),
                     "impact_estimate": s.text(None), "cohort": s.text(None), "root_cause": s.text(None)})
    answer = simulator.submit("issue_submit", issue, user_id=MIA, private_metadata=json.dumps({"partner_id": bad}))
    errors = modal_errors(answer)
    assert "no longer exists" in errors["description"]
    assert stored(sessions, PerformanceIssue, "description") is None


def test_picking_a_stage_in_a_modal_with_bad_metadata_fails_nothing(simulator, slack, app, caplog):
    # A stage pick has no response_url and comes from a modal: nothing to redraw for a lead that is not
    # there, and nothing to apologise for; the submission then says "there is no lead" inline (above).
    for number, bad in enumerate(("abc", int(HUGE), PAST_32_BITS), start=1):
        payload = {
            "type": "block_actions", "user": {"id": OMAR, "username": "omar", "team_id": s.TEAM["id"]},
            "api_app_id": "A0PARTNERBOT", "token": "verification-token-unused", "team": s.TEAM,
            "container": {"type": "view", "view_id": "V0STAGE01"}, "trigger_id": f"{number}.pick",
            "view": {"id": "V0STAGE01", "hash": "1.x", "type": "modal", "callback_id": "deal_stage_submit",
                     "private_metadata": json.dumps({"lead_id": bad, "from": "accepted"}),
                     "state": {"values": {}}, "blocks": []},
            "actions": [{"action_id": "deal_stage_pick", "block_id": "stage", "type": "static_select",
                         "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": "contacted"},
                         "action_ts": f"{time.time():.6f}"}],
            "is_enterprise_install": False, "enterprise": None,
        }
        assert simulator.interaction(payload).status == 200
    app.services.drain()
    assert not slack.calls_for("views.update")
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


def test_nothing_was_stored_from_bad_ids(simulator, slack, sessions):
    for action_id, template, _noun in BUTTONS:
        simulator.click(action_id, template.format(HUGE), user_id=OMAR)
    eventually(lambda: len(answers(slack)) >= len(BUTTONS))
    with sessions() as session:
        assert session.scalars(select(Lead)).all() == [] and session.scalars(select(ActionItem)).all() == []


# --------------------------------------------------------------------------- references past 32 bits, typed


@pytest.mark.parametrize("command, text, expect", [
    ("/partner", "history L-999999999999", "There is no lead L-999999999999"),
    ("/partner", f"history A-{PAST_32_BITS + 1000}", f"There is no action A-{PAST_32_BITS + 1000}"),
    ("/escalate", "L-999999999999 a bigger discount", "There is no lead L-999999999999"),
    ("/escalate", f"A-{PAST_32_BITS + 1000}", f"There is no action A-{PAST_32_BITS + 1000}"),
])
def test_a_typed_reference_no_row_can_have_is_not_found(simulator, slack, globex, command, text, expect):
    """Postgres refuses to compare an INTEGER id with a number past 32 bits; it must be "not found"."""
    assert simulator.command(command, text, user_id=MIA).status == 200
    assert expect in one_answer(slack)


def test_a_reference_past_32_bits_in_the_action_link_search_finds_nothing(simulator, globex):
    answer = simulator.suggest("action_link_search", "L-999999999999", user_id=RIYA, block_id="link")
    assert answer.status == 200
    assert "L-999999999999" not in json.dumps(answer.json()) and "went wrong" not in json.dumps(answer.json())
