"""Working a deal through signed requests: Update stage (checklists, qualification, closing),
stale modals, strangers, and the debriefs after a close."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
from sqlalchemy import func, select

from slackkit import simulator as s
from store.models import AuditEvent, Lead, LeadDebrief, LeadStageChange, OutboxMessage
from store.playbook import parse_playbook
from tests.conftest import BEA, MIA, OMAR, RIYA, STAN, TEST_PLAYBOOK, eventually
from tests.helpers import handoff_form, modal_errors

_views = itertools.count(1)


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- helpers -------------------------------------------------------------------------------------

def _lead(sessions, lead_id=1) -> Lead:
    with sessions() as session:
        return session.get(Lead, lead_id)


def _rows(sessions, model, **where):
    with sessions() as session:
        query = select(model).order_by(model.id)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return list(session.scalars(query))



def _accepted(simulator, slack, make_partner, **partner):
    """A lead handed off by RIYA to OMAR (backup BEA), accepted by OMAR, with its cards sent."""
    partner_id = make_partner(**partner)
    simulator.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    simulator.click("lead_accept", "1", user_id=OMAR)
    slack.wait_for("chat.update", 2)
    slack.wait_for("chat.postMessage", 4)  # the sender is told
    return partner_id


def _open(simulator, slack, user_id=OMAR, lead_id=1) -> dict:
    """Press Update stage; the modal as the stand-in stored it (with its id and hash)."""
    before, known = len(slack.calls_for("views.open")), set(slack.views)
    assert simulator.click("deal_update_stage", str(lead_id), user_id=user_id).status == 200
    slack.wait_for("views.open", before + 1)
    return next(v for k, v in slack.views.items() if k not in known)


def _pick(simulator, slack, view: dict, stage: str, user_id=OMAR) -> dict:
    """Choose `stage` in the modal's select: Slack sends block_actions; the app redraws with views.update."""
    before = len(slack.calls_for("views.update"))
    payload = {
        "type": "block_actions", "user": {"id": user_id, "username": user_id.lower(), "team_id": s.TEAM["id"]},
        "api_app_id": "A0PARTNERBOT", "token": "verification-token-unused", "team": s.TEAM,
        "container": {"type": "view", "view_id": view["id"]}, "trigger_id": f"{next(_views)}.pick",
        "view": {"id": view["id"], "hash": view["hash"], "type": "modal", "callback_id": view["callback_id"],
                 "private_metadata": view["private_metadata"], "state": {"values": {}}, "blocks": view["blocks"]},
        "actions": [{"action_id": "deal_stage_pick", "block_id": "stage", "type": "static_select",
                     "selected_option": {"text": {"type": "plain_text", "text": stage}, "value": stage},
                     "action_ts": f"{time.time():.6f}"}],
        "is_enterprise_install": False, "enterprise": None,
    }
    assert simulator.interaction(payload).status == 200
    call = slack.wait_for("views.update", before + 1)[-1]
    assert call.args["view_id"] == view["id"] and call.args["hash"] == view["hash"]
    return slack.views[view["id"]]


def _submit(simulator, view: dict, stage: str, user_id=OMAR, *, note=None, checked=None, answers=None,
            amount=None, reason=None):
    fields = {"stage": s.select(stage), "note": s.text(note)}
    if checked is not None:
        for block_id, values in checked.items():
            fields[block_id] = s.checkboxes(values)
    for key, label in (answers or {}).items():
        fields[f"question_{key}"] = s.radio(label)
    if amount is not None:
        fields["amount"] = s.text(amount)
    if reason is not None:
        fields["reason"] = s.text(reason)
    return simulator.submit("deal_stage_submit", s.state(fields), user_id=user_id,
                            private_metadata=view["private_metadata"], view_id=view["id"])


def _move(simulator, slack, sessions, stage, user_id=OMAR, **fields):
    view = _pick(simulator, slack, _open(simulator, slack, user_id), stage, user_id)
    answer = _submit(simulator, view, stage, user_id, **fields)
    assert answer.status == 200 and answer.body == "", answer.body
    _settled(sessions)
    return view


def _settled(sessions):
    """Wait until the outbox has sent everything. (A card edited again while its previous edit is on
    its way gets a follow-up edit that the clock sends; tests have no clock, so they let each move land.)"""
    def pending():
        with sessions() as session:
            return session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "pending"))

    eventually(lambda: pending() == 0)


def _blocks(view: dict, kind: str) -> list[dict]:
    return [b for b in view["blocks"] if b["type"] == "input" and b["element"]["type"] == kind]


def _option_texts(element: dict) -> list[str]:
    return [o["text"]["text"] for o in element["options"]]


GOOD_ANSWERS = {"budget": "Yes, approved", "authority": "An influencer", "need": "Important", "timeline": "Next quarter"}


# --- the whole path ------------------------------------------------------------------------------

def test_full_path_from_accepted_to_closed_won_with_debriefs(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)

    # accepted -> contacted: the select offers every stage but the current one, handed off and declined
    opened = _open(simulator, slack)
    picker = next(b for b in opened["blocks"] if b.get("block_id") == "stage")
    assert picker["dispatch_action"] is True
    assert [o["value"] for o in picker["element"]["options"]] == [
        "contacted", "qualified", "proposal", "negotiation", "closed_won", "closed_lost"]
    view = _pick(simulator, slack, opened, "contacted")
    answer = _submit(simulator, view, "contacted", note="Intro call booked for Tuesday")
    assert answer.status == 200 and answer.body == ""
    assert _lead(sessions).stage == "contacted"
    _settled(sessions)

    # contacted -> qualified: by hand from the default rubric (weights budget 3, authority 2, need 3,
    # timeline 2 = 10): 1.0*3 + 0.5*2 + 0.6*3 + 0.6*2 = 3 + 1 + 1.8 + 1.2 = 7.0 of 10 -> 70.00
    _move(simulator, slack, sessions, "qualified", answers=GOOD_ANSWERS)
    lead = _lead(sessions)
    assert lead.stage == "qualified"
    assert float(lead.qualification_score) == 70.0
    assert lead.qualification_answers == GOOD_ANSWERS

    # qualified -> proposal: both required items missing -> one inline error naming both, nothing moves
    view = _pick(simulator, slack, _open(simulator, slack), "proposal")
    errors = modal_errors(_submit(simulator, view, "proposal", checked={"checklist": []}))
    assert set(errors) == {"checklist"}
    assert "Technical validation done" in errors["checklist"] and "Pricing approved" in errors["checklist"]
    assert _lead(sessions).stage == "qualified"
    only_one = modal_errors(_submit(simulator, view, "proposal", checked={"checklist": ["1"]}))
    assert "Technical validation done" in only_one["checklist"] and "Pricing approved" not in only_one["checklist"]
    # a forged value ("²" passes str.isdigit() but not int()) ticks nothing: the same inline error
    forged = modal_errors(_submit(simulator, view, "proposal", checked={"checklist": ["²", "1", "9" * 30]}))
    assert "Technical validation done" in forged["checklist"] and "Pricing approved" not in forged["checklist"]
    answer = _submit(simulator, view, "proposal", checked={"checklist": ["0", "1"]})
    assert answer.status == 200 and answer.body == ""
    assert _lead(sessions).stage == "proposal"
    _settled(sessions)

    # proposal -> negotiation with the two required items, the optional one left unticked
    _move(simulator, slack, sessions, "negotiation", checked={"checklist": ["0", "1"]})
    # negotiation -> closed won, by the backup owner
    _move(simulator, slack, sessions, "closed_won", user_id=BEA, amount="$120,000")
    lead = _lead(sessions)
    assert (lead.stage, float(lead.closed_amount)) == ("closed_won", 120000.0)
    assert lead.closed_at is not None and lead.close_reason is None

    changes = _rows(sessions, LeadStageChange)
    assert [(c.from_stage, c.to_stage, c.changed_by) for c in changes] == [
        ("accepted", "contacted", OMAR), ("contacted", "qualified", OMAR), ("qualified", "proposal", OMAR),
        ("proposal", "negotiation", OMAR), ("negotiation", "closed_won", BEA)]
    assert changes[0].note == "Intro call booked for Tuesday"
    assert changes[2].checklist == ["Technical validation done", "Pricing approved"]
    assert changes[3].checklist == ["Contract routed", "Approvals in"]
    audits = _rows(sessions, AuditEvent, action="lead.stage_changed")
    assert [(a.before["stage"], a.after["stage"]) for a in audits] == [
        ("accepted", "contacted"), ("contacted", "qualified"), ("qualified", "proposal"),
        ("proposal", "negotiation"), ("negotiation", "closed_won")]
    assert audits[1].before["qualification_score"] is None and float(audits[1].after["qualification_score"]) == 70.0
    assert audits[-1].actor_id == BEA and float(audits[-1].after["closed_amount"]) == 120000.0

    # the close: the sender and the partner manager are told (closed_won informs both) ...
    won = slack.wait_for("chat.postMessage", 2, where=lambda c: "moved to Closed won" in c.args["text"])
    assert sorted(c.args["channel"] for c in won) == [MIA, RIYA]
    assert "120,000" in _dump(won[0].args["blocks"])
    # ... and both owners are asked for a debrief, with a button
    requests = slack.wait_for("chat.postMessage", 2, where=lambda c: c.args["text"].startswith("Debrief L-1001"))
    assert sorted(c.args["channel"] for c in requests) == [BEA, OMAR]
    button = requests[0].args["blocks"][-1]["elements"][0]
    assert (button["action_id"], button["value"], button["text"]["text"]) == ("deal_debrief", "1", "Write debrief")

    # the owner's card shows the outcome and no more buttons
    card = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}"
                          and "Closed won — 120,000" in _dump(c.args["blocks"]))[-1]
    assert "Qualification score 70/100" in _dump(card.args["blocks"])
    assert not [b for b in card.args["blocks"] if b["type"] == "actions"]

    # a debrief
    before = len(slack.calls_for("views.open"))
    simulator.click("deal_debrief", "1", user_id=OMAR)
    modal = slack.wait_for("views.open", before + 1)[-1].args["view"]
    assert modal["callback_id"] == "deal_debrief_submit"
    answer = simulator.submit("deal_debrief_submit", s.state({
        "what_worked": s.text("The partner's reference customer"), "what_did_not": s.text("Pricing took three weeks")}),
        user_id=OMAR, private_metadata=modal["private_metadata"])
    assert answer.status == 200 and answer.body == ""
    (debrief,) = _rows(sessions, LeadDebrief)
    assert (debrief.lead_id, debrief.user_id, debrief.what_worked, debrief.what_did_not) == (
        1, OMAR, "The partner's reference customer", "Pricing took three weeks")
    assert [a.action for a in _rows(sessions, AuditEvent, action="lead.debrief_written")] == ["lead.debrief_written"]
    # OMAR's request now says the debrief is in; BEA's still asks
    edited = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}"
                            and c.args["text"].startswith("Debrief L-1001"))[-1]
    assert "Your debrief is in" in _dump(edited.args["blocks"])
    bea_request = next(v for (channel, _), v in slack.messages.items()
                       if channel == f"D{BEA}" and v["text"].startswith("Debrief L-1001"))
    assert "Write debrief" in _dump(bea_request["blocks"]) and "Your debrief is in" not in _dump(bea_request["blocks"])


def test_card_update_shows_the_new_stage_and_who_leads_it(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    _move(simulator, slack, sessions, "contacted")
    card = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}"
                          and "*Contacted*" in _dump(c.args["blocks"]))[-1]
    text = _dump(card.args["blocks"])
    # the default playbook: the owner is responsible for every stage after handed off
    assert f"Contacted is led by <@{OMAR}> (owner)" in text
    assert "deal_update_stage" in text  # still open: the button stays
    # the partner channel's notice is refreshed too
    slack.wait_for("chat.update", where=lambda c: c.args["channel"] == "C0GLOBEX01"
                   and "Contacted" in _dump(c.args["blocks"]))
    # the sender (informed by default) hears about it; the owner who moved it does not
    told = slack.wait_for("chat.postMessage", where=lambda c: "moved to Contacted" in c.args["text"])
    assert [c.args["channel"] for c in told] == [RIYA]


def test_picking_a_stage_redraws_the_modal_with_its_fields(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    opened = _open(simulator, slack)
    assert [b["block_id"] for b in opened["blocks"] if b["type"] == "input"] == ["stage", "note"]
    assert json.loads(opened["private_metadata"]) == {"lead_id": 1, "from": "accepted", "to": None}

    negotiation = _pick(simulator, slack, opened, "negotiation")
    (checklist,) = _blocks(negotiation, "checkboxes")
    assert _option_texts(checklist["element"]) == [
        "Contract routed (required)", "Approvals in (required)", "Risk disclosures sent"]
    assert checklist["optional"] is True  # the store names what is missing; Slack's own check would not
    assert json.loads(negotiation["private_metadata"])["to"] == "negotiation"
    stage_block = next(b for b in negotiation["blocks"] if b.get("block_id") == "stage")
    assert stage_block["element"]["initial_option"]["value"] == "negotiation"

    qualified = _pick(simulator, slack, negotiation, "qualified")
    radios = _blocks(qualified, "radio_buttons")
    assert [b["block_id"] for b in radios] == ["question_budget", "question_authority", "question_need", "question_timeline"]
    assert _option_texts(radios[0]["element"]) == ["Yes, approved", "Being approved", "No"]
    assert not _blocks(qualified, "checkboxes")

    won = _pick(simulator, slack, qualified, "closed_won")
    amount = next(b for b in won["blocks"] if b.get("block_id") == "amount")
    assert amount["element"]["initial_value"] == "48000.00"  # the estimated value handed off
    lost = _pick(simulator, slack, won, "closed_lost")
    assert [b["block_id"] for b in lost["blocks"] if b["type"] == "input"] == ["stage", "reason", "note"]
    # the modal keeps the stage it was opened from through every redraw
    assert json.loads(lost["private_metadata"]) == {"lead_id": 1, "from": "accepted", "to": "closed_lost"}


def test_submitting_a_stage_other_than_the_one_shown_asks_to_pick_again(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    view = _pick(simulator, slack, _open(simulator, slack), "contacted")
    errors = modal_errors(_submit(simulator, view, "proposal", checked={"checklist": ["0", "1"]}))
    assert set(errors) == {"stage"} and "Choose the stage again" in errors["stage"]
    opened = _open(simulator, slack)
    assert "Choose the stage to move" in modal_errors(simulator.submit(
        "deal_stage_submit", s.state({"stage": s.select(None), "note": s.text(None)}), user_id=OMAR,
        private_metadata=opened["private_metadata"]))["stage"]
    assert _lead(sessions).stage == "accepted" and _rows(sessions, LeadStageChange) == []


# --- closing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount", ["", "lots", "-5", "0", "1e20"])
def test_closing_won_needs_a_positive_amount(simulator, slack, sessions, make_partner, amount):
    _accepted(simulator, slack, make_partner)
    view = _pick(simulator, slack, _open(simulator, slack), "closed_won")
    errors = modal_errors(_submit(simulator, view, "closed_won", amount=amount))
    assert set(errors) == {"amount"} and "positive number" in errors["amount"]
    lead = _lead(sessions)
    assert (lead.stage, lead.closed_at, lead.closed_amount) == ("accepted", None, None)


def test_closing_lost_needs_a_reason_which_the_card_then_shows(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    view = _pick(simulator, slack, _open(simulator, slack), "closed_lost")
    errors = modal_errors(_submit(simulator, view, "closed_lost", reason="   "))
    assert set(errors) == {"reason"} and "Say why the deal was lost" in errors["reason"]
    assert _lead(sessions).stage == "accepted"
    too_long = modal_errors(_submit(simulator, view, "closed_lost", reason="x" * 1001))
    assert "under 1000 characters (it has 1001)" in too_long["reason"]

    answer = _submit(simulator, view, "closed_lost", reason="Went with a competitor <!here>")
    assert answer.status == 200 and answer.body == ""
    lead = _lead(sessions)
    assert (lead.stage, lead.close_reason, lead.closed_amount) == ("closed_lost", "Went with a competitor <!here>", None)
    assert lead.closed_at is not None
    card = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}"
                          and "Closed lost" in _dump(c.args["blocks"]))[-1]
    text = _dump(card.args["blocks"])
    assert "Went with a competitor &lt;!here&gt;" in text and "<!here>" not in text
    told = slack.wait_for("chat.postMessage", 2, where=lambda c: "moved to Closed lost" in c.args["text"])
    assert sorted(c.args["channel"] for c in told) == [MIA, RIYA]
    assert all("<!here>" not in _dump(c.args) for c in told)
    slack.wait_for("chat.postMessage", 2, where=lambda c: c.args["text"].startswith("Debrief L-1001"))


def test_an_unanswered_qualification_question_is_named(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    view = _pick(simulator, slack, _open(simulator, slack), "qualified")
    partial = {k: v for k, v in GOOD_ANSWERS.items() if k != "timeline"}
    errors = modal_errors(_submit(simulator, view, "qualified", answers=partial))
    assert set(errors) == {"question_timeline"}
    forged = modal_errors(_submit(simulator, view, "qualified", answers={**GOOD_ANSWERS, "budget": "Infinite"}))
    assert set(forged) == {"question_budget"}
    lead = _lead(sessions)
    assert (lead.stage, lead.qualification_score) == ("accepted", None)


def test_a_closed_deal_cannot_move_again(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    view = _pick(simulator, slack, _open(simulator, slack), "closed_lost")
    _move(simulator, slack, sessions, "closed_won", amount="5000")
    before = len(slack.calls_for("views.open"))
    simulator.click("deal_update_stage", "1", user_id=OMAR)
    reply = slack.wait_for("response_url")[0]
    assert "L-1001 is already closed won" in reply.args["text"] and reply.args["response_type"] == "ephemeral"
    assert len(slack.calls_for("views.open")) == before
    # a modal opened before the close is refused inline, and the close stands
    errors = modal_errors(_submit(simulator, view, "closed_lost", reason="Lost it"))
    assert "already closed won" in errors["stage"]
    lead = _lead(sessions)
    assert (lead.stage, lead.close_reason, float(lead.closed_amount)) == ("closed_won", None, 5000.0)


# --- who may, and races --------------------------------------------------------------------------

def test_a_stranger_gets_no_modal_and_is_told_who_can(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    assert simulator.click("deal_update_stage", "1", user_id=STAN).status == 200
    reply = slack.wait_for("response_url")[0]
    assert reply.args["response_type"] == "ephemeral"
    assert f"Only <@{OMAR}> or <@{BEA}> can update the stage of L-1001" in reply.args["text"]
    time.sleep(0.2)
    assert slack.calls_for("views.open") == []


def test_a_stranger_submitting_a_copied_modal_changes_nothing(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    view = _pick(simulator, slack, _open(simulator, slack), "contacted")
    errors = modal_errors(_submit(simulator, view, "contacted", user_id=STAN))
    assert "Only @U0OWNEROMAR or @U0BACKUPBEA can update the stage" in errors["stage"]
    assert _lead(sessions).stage == "accepted" and _rows(sessions, LeadStageChange) == []


def test_a_lead_not_yet_accepted_or_unknown_gets_a_clear_answer(simulator, slack, sessions, make_partner):
    partner_id = make_partner()
    simulator.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    simulator.click("deal_update_stage", "1", user_id=OMAR)
    assert "L-1001 has not been accepted yet" in slack.wait_for("response_url")[0].args["text"]
    simulator.click("deal_update_stage", "4242", user_id=OMAR)
    assert "There is no lead L-5242" in slack.wait_for("response_url", 2)[-1].args["text"]
    assert slack.calls_for("views.open") == []


def test_admins_may_update_the_stage(simulator, slack, sessions, make_partner, app):
    app.services.playbook = parse_playbook(TEST_PLAYBOOK + "admins: [U0ADMINADA]\n", "admins.yml")
    _accepted(simulator, slack, make_partner)
    _move(simulator, slack, sessions, "contacted", user_id="U0ADMINADA")
    assert _rows(sessions, LeadStageChange)[0].changed_by == "U0ADMINADA"


def test_a_stale_modal_is_refused_inline_and_overwrites_nothing(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    stale = _pick(simulator, slack, _open(simulator, slack, OMAR), "closed_lost")
    _move(simulator, slack, sessions, "contacted", user_id=BEA, note="Called them")
    errors = modal_errors(_submit(simulator, stale, "closed_lost", reason="No budget"))
    assert set(errors) == {"stage"}
    assert "moved to Contacted by @U0BACKUPBEA" in errors["stage"] and "nothing was changed" in errors["stage"]
    assert "<@" not in errors["stage"] and "<!date" not in errors["stage"]  # inline errors are plain text
    lead = _lead(sessions)
    assert (lead.stage, lead.close_reason, lead.closed_at) == ("contacted", None, None)
    assert [(c.to_stage, c.changed_by) for c in _rows(sessions, LeadStageChange)] == [("contacted", BEA)]


def test_two_owners_saving_at_once_exactly_one_moves_the_lead(simulator, slack, sessions, make_partner, server):
    _accepted(simulator, slack, make_partner)
    views = {u: _pick(simulator, slack, _open(simulator, slack, u), "contacted", u) for u in (OMAR, BEA)}
    sims = {u: s.SlackSimulator(simulator.url, "test-signing-secret") for u in (OMAR, BEA)}
    barrier = threading.Barrier(2)
    answers = {}

    def save(user_id):
        barrier.wait()
        answers[user_id] = _submit(sims[user_id], views[user_id], "contacted", user_id)

    threads = [threading.Thread(target=save, args=(u,)) for u in (OMAR, BEA)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    closed = [u for u, a in answers.items() if a.body == ""]
    refused = [u for u, a in answers.items() if a.body]
    assert len(closed) == 1 and len(refused) == 1
    winner = closed[0]
    assert f"moved to Contacted by @{winner}" in modal_errors(answers[refused[0]])["stage"]
    assert [(c.to_stage, c.changed_by) for c in _rows(sessions, LeadStageChange)] == [("contacted", winner)]
    assert len(_rows(sessions, AuditEvent, action="lead.stage_changed")) == 1
    for sim in sims.values():
        sim.close()


# --- debriefs ------------------------------------------------------------------------------------

def _closed(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    _move(simulator, slack, sessions, "closed_won", amount="90000")
    slack.wait_for("chat.postMessage", 2, where=lambda c: c.args["text"].startswith("Debrief L-1001"))


def _debrief(simulator, user_id, worked, did_not, metadata='{"lead_id": 1}'):
    return simulator.submit("deal_debrief_submit", s.state({"what_worked": s.text(worked), "what_did_not": s.text(did_not)}),
                            user_id=user_id, private_metadata=metadata)


def test_a_second_debrief_by_the_same_person_replaces_theirs_and_says_so(simulator, slack, sessions, make_partner):
    _closed(simulator, slack, sessions, make_partner)
    assert _debrief(simulator, OMAR, "Fast intro", "Slow legal").body == ""
    assert _debrief(simulator, BEA, "Good demo", "Late pricing").body == ""
    first_saved = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == OMAR
                                 and c.args["text"] == "Debrief saved: L-1001")
    assert "replaces" not in _dump(first_saved[0].args["blocks"])

    before = len(slack.calls_for("views.open"))
    simulator.click("deal_debrief", "1", user_id=OMAR)
    modal = slack.wait_for("views.open", before + 1)[-1].args["view"]
    inputs = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"] if b["type"] == "input"}
    assert inputs == {"what_worked": "Fast intro", "what_did_not": "Slow legal"}
    assert "saving replaces it" in _dump(modal["blocks"])

    assert _debrief(simulator, OMAR, "Fast intro, strong partner", "Legal took a month").body == ""
    rows = _rows(sessions, LeadDebrief)
    assert [(d.user_id, d.what_worked, d.what_did_not) for d in rows] == [
        (OMAR, "Fast intro, strong partner", "Legal took a month"), (BEA, "Good demo", "Late pricing")]
    saved = slack.wait_for("chat.postMessage", 2, where=lambda c: c.args["channel"] == OMAR
                           and c.args["text"] == "Debrief saved: L-1001")
    assert "It replaces the one you wrote" in _dump(saved[-1].args["blocks"])
    audits = [a for a in _rows(sessions, AuditEvent) if a.action.startswith("lead.debrief")]
    assert [(a.action, a.actor_id) for a in audits] == [
        ("lead.debrief_written", OMAR), ("lead.debrief_written", BEA), ("lead.debrief_replaced", OMAR)]
    assert audits[-1].before["what_worked"] == "Fast intro"
    assert audits[-1].after["what_worked"] == "Fast intro, strong partner"


@pytest.mark.parametrize(("worked", "did_not", "block", "words"), [
    ("", "Slow legal", "what_worked", "Say what worked"),
    ("Fast intro", "  ", "what_did_not", "Say what did not work"),
    ("w" * 2001, "Slow legal", "what_worked", "under 2000 characters (it has 2001)"),
])
def test_a_debrief_needs_both_answers_within_limits(simulator, slack, sessions, make_partner, worked, did_not, block, words):
    _closed(simulator, slack, sessions, make_partner)
    errors = modal_errors(_debrief(simulator, OMAR, worked, did_not))
    assert set(errors) == {block} and words in errors[block]
    assert _rows(sessions, LeadDebrief) == []


def test_only_owners_debrief_and_only_after_a_close(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    errors = modal_errors(_debrief(simulator, OMAR, "Fast intro", "Slow legal"))
    assert "L-1001 is not closed yet" in errors["what_worked"]
    _move(simulator, slack, sessions, "closed_won", amount="90000")
    simulator.click("deal_debrief", "1", user_id=STAN)
    reply = slack.wait_for("response_url")[0]
    assert f"Only <@{OMAR}> or <@{BEA}> can write the debrief of L-1001" in reply.args["text"]
    assert "Only @U0OWNEROMAR or @U0BACKUPBEA" in modal_errors(_debrief(simulator, RIYA, "a", "b"))["what_worked"]
    assert _rows(sessions, LeadDebrief) == []


# --- /handoff list -------------------------------------------------------------------------------

def test_handoff_list_offers_update_stage_to_owners_of_open_deals(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    simulator.command("/handoff", "list", user_id=OMAR)
    listed = slack.wait_for("response_url")[0].args["blocks"]
    accessory = next(b["accessory"] for b in listed if b["type"] == "section" and "L-1001" in b["text"]["text"])
    assert (accessory["action_id"], accessory["value"], accessory["text"]["text"]) == (
        "deal_update_stage", "1", "Update stage")
    simulator.command("/handoff", "list", user_id=RIYA)  # the sender sees the lead but may not move it
    theirs = slack.wait_for("response_url", 2)[-1].args["blocks"]
    assert not [b for b in theirs if b.get("accessory")]
    # and the button works from the list
    view = _open(simulator, slack)
    assert view["callback_id"] == "deal_stage_submit"


# --- a playbook with its own stages --------------------------------------------------------------

CUSTOM = TEST_PLAYBOOK + """
stages:
  - {key: handed_off, name: Handed off, responsible: sender}
  - {key: accepted, name: Accepted}
  - key: discovery
    name: Discovery call
    responsible: sender
    informed: [partner_manager]
    checklist:
""" + "".join(f"      - {{item: Step {n}, required: {'true' if n in (1, 12) else 'false'}}}\n" for n in range(1, 13)) + """
  - {key: closed_won, name: Won}
  - {key: closed_lost, name: Lost}
"""


class TestCustomStages:
    @pytest.fixture
    def playbook(self):
        return parse_playbook(CUSTOM, "custom.yml")

    def test_custom_stages_long_checklists_and_their_raci(self, simulator, slack, sessions, make_partner):
        _accepted(simulator, slack, make_partner)
        opened = _open(simulator, slack)
        picker = next(b for b in opened["blocks"] if b.get("block_id") == "stage")
        assert _option_texts(picker["element"]) == ["Discovery call", "Won", "Lost"]

        view = _pick(simulator, slack, opened, "discovery")
        boxes = _blocks(view, "checkboxes")
        # 12 items: Slack allows 10 options per checkbox group, so 10 + 2
        assert [b["block_id"] for b in boxes] == ["checklist", "checklist_2"]
        assert [len(b["element"]["options"]) for b in boxes] == [10, 2]
        assert _option_texts(boxes[1]["element"]) == ["Step 11", "Step 12 (required)"]

        errors = modal_errors(_submit(simulator, view, "discovery", checked={"checklist": ["1"], "checklist_2": ["10"]}))
        assert set(errors) == {"checklist", "checklist_2"}
        assert "Step 1." in errors["checklist"] and "Step 12" in errors["checklist_2"]
        answer = _submit(simulator, view, "discovery", checked={"checklist": ["0", "4"], "checklist_2": ["11"]})
        assert answer.status == 200 and answer.body == ""
        assert _lead(sessions).stage == "discovery"
        assert _rows(sessions, LeadStageChange)[0].checklist == ["Step 1", "Step 5", "Step 12"]

        card = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}"
                              and "Discovery call" in _dump(c.args["blocks"]))[-1]
        assert f"Discovery call is led by <@{RIYA}> (sender)" in _dump(card.args["blocks"])
        told = slack.wait_for("chat.postMessage", where=lambda c: "moved to Discovery call" in c.args["text"])
        assert [c.args["channel"] for c in told] == [MIA]  # this stage informs the partner manager only

        _move(simulator, slack, sessions, "closed_won", amount="1000")
        assert _lead(sessions).stage == "closed_won"


def test_outbox_rows_of_a_move_are_all_sent(simulator, slack, sessions, make_partner):
    _accepted(simulator, slack, make_partner)
    _move(simulator, slack, sessions, "closed_won", amount="2500")

    def pending():
        with sessions() as session:
            return session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status != "sent"))

    eventually(lambda: pending() == 0)
    with sessions() as session:
        kinds = session.scalars(select(OutboxMessage.kind).where(OutboxMessage.kind.in_(
            ["stage_notice", "debrief_request"])).order_by(OutboxMessage.id)).all()
    assert sorted(kinds) == ["debrief_request", "debrief_request", "stage_notice", "stage_notice"]


def test_moving_on_from_accepted_records_the_first_outreach(sessions, playbook, make_partner):
    """A deal moved past `accepted` without pressing Log first outreach still gets its outreach time,
    or the first-outreach clock would count as missed forever."""
    import datetime as dt

    from store import handoffs
    from store import deals as deal_ops
    from store.db import transaction

    partner_id = make_partner()
    monday = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
    draft = handoffs.validate_draft({"partner": str(partner_id), "direction": "to_partner", "company": "Acme",
                                     "problem": "p", "next_steps": "n", "primary_owner": OMAR}, playbook=playbook)
    with transaction(sessions) as session:
        lead = handoffs.create_handoff(session, draft=draft, sender_id=RIYA, playbook=playbook, now=monday).lead
        lead_id = lead.id
    with transaction(sessions) as session:
        handoffs.accept_lead(session, lead_id=lead_id, user_id=OMAR, playbook=playbook, now=monday)
    moved = monday + dt.timedelta(hours=2)
    with transaction(sessions) as session:
        deal_ops.change_stage(session, lead_id=lead_id, user_id=OMAR, to_stage="contacted", playbook=playbook,
                              from_stage="accepted", now=moved)
    with sessions() as session:
        lead = session.get(Lead, lead_id)
        assert (lead.stage, lead.first_outreach_at, lead.first_outreach_logged_by) == ("contacted", moved, OMAR)
