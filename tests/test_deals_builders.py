"""The deal builders as data: the stage modal, its parsing, notices and debrief messages, checked
against the limits the Web API stand-in enforces (the ones Slack enforces)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from slackkit import simulator as s
from slackkit.blockkit import check_message, check_view
from messages.text import inline_text
from messages import deals as views
from messages.handoff import LeadView
from store.deals import parse_amount, stage_targets
from store.playbook import ChecklistItem, Stage, default_playbook

NOW = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)


def _view(**overrides) -> LeadView:
    fields = dict(
        id=7, ref="L-1007", partner="Globex <Partners>", partner_tier="gold", partner_manager_id="U0MANAGERMIA",
        direction="to_partner", company="Acme & <!channel>", domain="acme.com", contact_name=None, contact_email=None,
        consent=False, problem="p", value_proposition=None, next_steps="n", estimated_value=Decimal("48000.00"),
        product_line=None, stage="contacted", sender_id="U0REPRIYA", primary_owner_id="U0OWNEROMAR",
        backup_owner_id="U0BACKUPBEA", accept_by=NOW, first_outreach_by=NOW, accepted_at=NOW, accepted_by="U0OWNEROMAR",
        declined_at=None, declined_by=None, decline_reason=None, first_outreach_at=None, first_outreach_logged_by=None,
        created_at=NOW, conflicts=(), zone=ZoneInfo("America/New_York"), stage_name="Contacted",
        stage_lead="Contacted is led by <@U0OWNEROMAR> (owner)",
    )
    fields.update(overrides)
    return LeadView(**fields)


def _inputs(modal: dict) -> list[str]:
    return [b["block_id"] for b in modal["blocks"] if b["type"] == "input"]


def test_the_modal_before_a_stage_is_picked_is_valid_and_minimal():
    playbook = default_playbook()
    modal = views.stage_modal(_view(), stages=stage_targets("contacted", playbook))
    assert check_view(modal) == []
    assert _inputs(modal) == ["stage", "note"]
    assert modal["title"]["text"] == "Update stage" and modal["callback_id"] == "deal_stage_submit"
    assert json.loads(modal["private_metadata"]) == {"lead_id": 7, "from": "contacted", "to": None}
    # the company is user text: escaped in the mrkdwn intro
    intro = modal["blocks"][0]["text"]["text"]
    assert "Acme &amp; &lt;!channel&gt;" in intro and "<!channel>" not in intro


def test_stage_targets_leave_out_the_current_stage_handed_off_and_declined():
    keys = [stage.key for stage in stage_targets("qualified", default_playbook())]
    assert keys == ["accepted", "contacted", "proposal", "negotiation", "closed_won", "closed_lost"]


@pytest.mark.parametrize("count, sizes", [(3, [3]), (10, [10]), (11, [10, 1]), (25, [10, 10, 5])])
def test_long_checklists_split_into_groups_of_ten(count, sizes):
    items = tuple(ChecklistItem(item=f"Step {n}", required=n % 2 == 0) for n in range(count))
    stage = Stage(key="discovery", name="Discovery", checklist=items)
    modal = views.stage_modal(_view(), stages=[stage], target=stage)
    assert check_view(modal) == []
    boxes = [b for b in modal["blocks"] if b["type"] == "input" and b["element"]["type"] == "checkboxes"]
    assert [len(b["element"]["options"]) for b in boxes] == sizes
    values = [o["value"] for b in boxes for o in b["element"]["options"]]
    assert values == [str(n) for n in range(count)]  # the item's index, whatever block it sits in
    assert [views.checklist_block(n) for n in range(count)] == [b["block_id"] for b in boxes for _ in b["element"]["options"]]


def test_a_long_checklist_item_is_cut_to_fit_and_keeps_its_required_mark():
    stage = Stage(key="proposal", name="Proposal", checklist=(ChecklistItem(item="x" * 200, required=True),))
    modal = views.stage_modal(_view(), stages=[stage], target=stage)
    assert check_view(modal) == []
    (option,) = next(b for b in modal["blocks"] if b.get("block_id") == "checklist")["element"]["options"]
    assert len(option["text"]["text"]) == 75 and option["text"]["text"].endswith("… (required)")


def test_qualified_shows_one_radio_group_per_question():
    playbook = default_playbook()
    target = playbook.stage("qualified")
    modal = views.stage_modal(_view(), stages=stage_targets("contacted", playbook), target=target,
                              questions=playbook.qualification.questions)
    assert check_view(modal) == []
    assert _inputs(modal) == ["stage", "question_budget", "question_authority", "question_need", "question_timeline", "note"]


def test_won_asks_the_amount_prefilled_and_lost_a_reason():
    playbook = default_playbook()
    won = views.stage_modal(_view(), stages=stage_targets("contacted", playbook), target=playbook.stage("closed_won"))
    assert check_view(won) == []
    amount = next(b for b in won["blocks"] if b.get("block_id") == "amount")
    assert amount["element"]["initial_value"] == "48000.00" and amount.get("optional", False) is False
    lost = views.stage_modal(_view(estimated_value=None), stages=stage_targets("contacted", playbook),
                             target=playbook.stage("closed_lost"))
    assert _inputs(lost) == ["stage", "reason", "note"]


def test_stage_form_reads_every_kind_of_field():
    values = s.state({
        "stage": s.select("proposal"), "note": s.text("Sent the deck"),
        "checklist": s.checkboxes(["1", "0"]), "checklist_2": s.checkboxes(["12"]),
        "question_budget": s.radio("No"), "question_need": s.radio(None),
        "amount": s.text("5,000"), "reason": s.text("Price"),
    })["values"]
    assert views.stage_form(values) == {
        "to_stage": "proposal", "note": "Sent the deck", "checked": [0, 1, 12], "answers": {"budget": "No"},
        "amount": "5,000", "reason": "Price"}


@pytest.mark.parametrize("text, expected", [
    ("120000", Decimal("120000.00")), ("$1,250.5", Decimal("1250.50")), (" 7 ", Decimal("7.00")),
    ("", None), ("0", None), ("-3", None), ("lots", None), ("NaN", None), ("1e12", None),
])
def test_parse_amount(text, expected):
    assert parse_amount(text) == expected


def test_notices_escape_user_text_and_fit_slack():
    view = _view(stage="closed_lost", stage_name="Closed lost", close_reason="<!here> went elsewhere")
    notice = views.stage_notice(view, actor_id="U0OWNEROMAR", from_name="Negotiation", note="<@U0BOSS> & co")
    assert check_message(notice) == []
    text = json.dumps(notice, ensure_ascii=False)
    assert "<!here>" not in text and "<@U0BOSS>" not in text and "<!channel>" not in text
    assert "&lt;!here&gt; went elsewhere" in text and "&lt;@U0BOSS&gt; &amp; co" in text
    assert "from Negotiation to *Closed lost*" in notice["blocks"][0]["text"]["text"]


def test_debrief_request_before_and_after_it_is_written():
    view = _view(stage="closed_won", stage_name="Closed won", closed_amount=Decimal("120000"))
    asking = views.debrief_request(view)
    assert check_message(asking) == []
    assert "closed won (120,000)" in asking["blocks"][0]["text"]["text"]
    button = asking["blocks"][-1]["elements"][0]
    assert (button["text"]["text"], button["action_id"], button["value"]) == ("Write debrief", "deal_debrief", "7")
    done = views.debrief_request(view, written_at=NOW)
    assert check_message(done) == []
    assert done["blocks"][-1]["elements"][0]["text"]["text"] == "Edit debrief"
    assert f"<!date^{int(NOW.timestamp())}^" in done["blocks"][1]["elements"][0]["text"]


def test_debrief_modal_prefills_an_earlier_debrief():
    class Earlier:
        what_worked, what_did_not, created_at = "Fast intro", "Slow legal", NOW

    view = _view(stage="closed_won", stage_name="Closed won")
    fresh = views.debrief_modal(view)
    assert check_view(fresh) == [] and _inputs(fresh) == ["what_worked", "what_did_not"]
    assert "replaces" not in json.dumps(fresh)
    again = views.debrief_modal(view, existing=Earlier())
    assert check_view(again) == []
    assert [b["element"].get("initial_value") for b in again["blocks"] if b["type"] == "input"] == ["Fast intro", "Slow legal"]
    assert "saving replaces it" in json.dumps(again)


def test_inline_errors_are_plain_text():
    text = "Moved by <@U0BACKUPBEA> <!date^1795354375^{date_short_pretty} at {time}|Mon 16 Nov 10:00 EST>."
    assert inline_text(text) == "Moved by @U0BACKUPBEA Mon 16 Nov 10:00 EST."
