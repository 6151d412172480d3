"""Store names the stage and debrief forms' fields (store.deals.Field, checklist_field, question_field)
and keys its problems by them; messages gives the forms' blocks ids (messages.ids.Deal, checklist_block,
question_block). Defined apart, they must be the same strings, or a problem would show on no block."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from messages import deals as views
from messages.ids import Deal as Ids
from store import deals
from store.errors import ValidationFailed
from store.playbook import ChecklistItem, Playbook, Stage, default_playbook
from store.views import LeadView

NOW = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)


def test_every_field_store_names_is_the_block_id_of_the_same_name():
    assert {field.name: str(field) for field in deals.Field} == {field.name: str(Ids[field.name]) for field in deals.Field}


def test_checklist_and_question_fields_are_the_blocks_that_hold_them():
    assert deals.CHECKLIST_GROUP == views.CHECKBOX_LIMIT
    assert [deals.checklist_field(n) for n in range(45)] == [views.checklist_block(n) for n in range(45)]
    assert deals.checklist_field(9) == "checklist" and deals.checklist_field(10) == "checklist_2"
    assert [deals.question_field(k) for k in ("budget", "need")] == [views.question_block(k) for k in ("budget", "need")]


def test_the_limits_the_forms_enforce_are_the_stores():
    assert (views.NOTE_LIMIT, views.REASON_LIMIT, views.DEBRIEF_LIMIT) == (deals.NOTE_LIMIT, deals.REASON_LIMIT,
                                                                           deals.DEBRIEF_LIMIT)


def _lead_view(stage: str) -> LeadView:
    return LeadView(
        id=7, ref="L-1007", partner="Globex", partner_tier="gold", partner_manager_id=None, direction="to_partner",
        company="Acme", domain=None, contact_name=None, contact_email=None, consent=False, problem="p",
        value_proposition=None, next_steps="n", estimated_value=Decimal("100"), product_line=None, stage=stage,
        sender_id="U0REPRIYA", primary_owner_id="U0OWNEROMAR", backup_owner_id=None, accept_by=NOW,
        first_outreach_by=NOW, accepted_at=NOW, accepted_by="U0OWNEROMAR", declined_at=None, declined_by=None,
        decline_reason=None, first_outreach_at=None, first_outreach_logged_by=None, created_at=NOW, conflicts=(),
        zone=ZoneInfo("America/New_York"))


def _playbook_with_a_long_checklist() -> Playbook:
    long = Stage(key="proposal", name="Proposal",
                 checklist=tuple(ChecklistItem(item=f"Step {n}", required=n != 4) for n in range(23)))
    return Playbook(stages=tuple(long if s.key == "proposal" else s for s in default_playbook().stages))


@pytest.mark.parametrize("target", ["proposal", "negotiation", "qualified", "closed_won", "closed_lost"])
def test_every_problem_of_an_empty_form_is_keyed_by_a_block_of_that_form(target):
    playbook = _playbook_with_a_long_checklist()
    lead = SimpleNamespace(stage="contacted", ref="L-1007")  # what validate_move reads of the lead
    with pytest.raises(ValidationFailed) as failure:
        deals.validate_move(to_stage=target, note="x" * (deals.NOTE_LIMIT + 1), checked=(), answers={}, amount=None,
                            reason=None, lead=lead, playbook=playbook)
    stage = playbook.stage(target)
    modal = views.stage_modal(_lead_view("contacted"), stages=[stage], target=stage,
                              questions=playbook.qualification.questions)
    blocks = {b["block_id"] for b in modal["blocks"] if b["type"] == "input"}
    assert failure.value.errors and set(failure.value.errors) <= blocks
    assert "note" in failure.value.errors
    if target == "proposal":  # 22 required items in three blocks: each block names its own
        assert set(failure.value.errors) == {"checklist", "checklist_2", "checklist_3", "note"}
        assert "Step 4" not in failure.value.errors["checklist"] and "Step 10" in failure.value.errors["checklist_2"]


def test_a_debrief_without_answers_is_refused_on_both_blocks_of_its_form():
    with pytest.raises(ValidationFailed) as failure:
        deals._validate_debrief("", "  ")
    modal = views.debrief_modal(_lead_view("closed_won"))
    blocks = [b["block_id"] for b in modal["blocks"] if b["type"] == "input"]
    assert list(failure.value.errors) == blocks == ["what_worked", "what_did_not"]
