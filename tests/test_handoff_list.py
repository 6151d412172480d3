"""`/handoff list`, `/handoff help`, the company pre-fill, and the deadlines a handoff gets."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from store import handoffs
from store.handoffs import HandoffDraft
from store.models import Lead, OutboxMessage
from tests.conftest import BEA, MIA, OMAR, RIYA, STAN

NY = ZoneInfo("America/New_York")


def _draft(partner_id, *, owner, backup=None, company="Acme Corp", domain=None) -> HandoffDraft:
    return HandoffDraft(
        partner_id=partner_id, direction="to_partner", company=company, domain=domain, contact_name=None,
        contact_email=None, consent=False, problem="Needs invoices reconciled.", value_proposition=None,
        next_steps="Intro call.", estimated_value=None, product_line=None, primary_owner_id=owner,
        backup_owner_id=backup,
    )


def _create(sessions, playbook, partner_id, *, now, sender=RIYA, **kw) -> Lead:
    with sessions() as session, session.begin():
        result = handoffs.create_handoff(session, draft=_draft(partner_id, **kw), sender_id=sender, playbook=playbook,
                                         now=now)
        session.expunge(result.lead)
        return result.lead


def _ny(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY)


def _listed(answer_args) -> list[tuple[str, str | None]]:
    """(ref, accept button value or None) for each lead section, in order."""
    out = []
    for block in answer_args.get("blocks", []):
        if block["type"] != "section":
            continue
        match = re.match(r"\*(L-\d+)\*", block["text"]["text"])
        if match:
            accessory = block.get("accessory")
            value = accessory["value"] if accessory and accessory.get("action_id") == "lead_accept" else None
            out.append((match.group(1), value))
    return out


def test_list_shows_my_open_leads_most_urgent_first(simulator, slack, sessions, playbook, make_partner):
    partner = make_partner()
    # Mon 2026-11-16 in New York; the silver SLA gives 8 business hours (09-17) to accept, so
    # accept_by = the same wall-clock time on the next business day (Tue), except a 09:00 start
    # ends at Mon 17:00. Created in an order different from their urgency.
    l1 = _create(sessions, playbook, partner, now=_ny(2026, 11, 16, 12, 0), owner=OMAR, backup=BEA)         # Tue 12:00
    l2 = _create(sessions, playbook, partner, now=_ny(2026, 11, 16, 10, 0), owner=BEA, backup=OMAR)         # Tue 10:00
    l3 = _create(sessions, playbook, partner, now=_ny(2026, 11, 16, 11, 0), sender=OMAR, owner=STAN)        # Tue 11:00
    l4 = _create(sessions, playbook, partner, now=_ny(2026, 11, 16, 9, 30), owner=OMAR)                     # declined
    l5 = _create(sessions, playbook, partner, now=_ny(2026, 11, 16, 9, 15), owner=STAN, backup=BEA)         # not OMAR's
    l6 = _create(sessions, playbook, partner, now=_ny(2026, 11, 16, 9, 0), owner=OMAR)                      # Mon 17:00, accepted
    with sessions() as session, session.begin():
        handoffs.decline_lead(session, lead_id=l4.id, user_id=OMAR, reason="Not ours", playbook=playbook,
                              now=_ny(2026, 11, 16, 9, 45))
        handoffs.accept_lead(session, lead_id=l6.id, user_id=OMAR, playbook=playbook, now=_ny(2026, 11, 16, 9, 5))

    answer = simulator.command("/handoff", "list", user_id=OMAR)
    assert answer.status == 200
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    # Expected order by accept_by: l6 (Mon 17:00), l2 (Tue 10:00), l3 (Tue 11:00), l1 (Tue 12:00).
    # Accept only where OMAR owns or backs up and it still waits: l2 (backup), l1 (owner);
    # not l6 (already accepted) and not l3 (he only sent it).
    assert _listed(reply) == [(l6.ref, None), (l2.ref, str(l2.id)), (l3.ref, None), (l1.ref, str(l1.id))]
    text = json.dumps(reply["blocks"])
    assert l4.ref not in text and l5.ref not in text
    assert "Your open leads (4)" in text


def test_list_roles_are_named(simulator, slack, sessions, playbook, make_partner):
    partner = make_partner()
    _create(sessions, playbook, partner, now=_ny(2026, 11, 16, 10, 0), owner=OMAR, backup=BEA)
    simulator.command("/handoff", "list", user_id=BEA)
    reply = slack.wait_for("response_url")[0].args
    assert _listed(reply) == [("L-1001", "1")]
    assert "_backup_" in json.dumps(reply["blocks"])
    simulator.command("/handoff", "list", user_id=RIYA)
    reply = slack.wait_for("response_url", 2)[1].args
    assert _listed(reply) == [("L-1001", None)]  # the sender cannot accept
    assert "_sent by you_" in json.dumps(reply["blocks"])


def test_empty_list_says_how_to_hand_one_off(simulator, slack, sessions, playbook, make_partner):
    partner = make_partner()
    _create(sessions, playbook, partner, now=_ny(2026, 11, 16, 10, 0), owner=OMAR)  # someone else's
    simulator.command("/handoff", "list", user_id=MIA)
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    assert "no open leads" in reply["text"] and "`/handoff`" in reply["text"]
    assert "L-1001" not in json.dumps(reply)


def test_help_is_ephemeral_and_states_the_playbook_sla_and_zone(simulator, slack):
    simulator.command("/handoff", "help", user_id=RIYA)
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    text = reply["text"]
    # TEST_PLAYBOOK: default accept 8 h, first outreach 16 h, America/New_York, 09:00-17:00 Mon-Fri, 90 days
    assert "*8 business hours*" in text and "*16*" in text
    assert "America/New_York" in text
    assert "09:00–17:00" in text and "Mon" in text and "Fri" in text
    assert "90 days" in text
    assert slack.calls_for("views.open") == []


def test_command_text_is_unescaped_before_it_fills_the_company(simulator, slack):
    # Slack sends "AT&T" typed after /handoff as "AT&amp;T"
    assert simulator.command("/handoff", "AT&amp;T", user_id=RIYA).status == 200
    view = slack.wait_for("views.open")[0].args["view"]
    company = next(b for b in view["blocks"] if b["block_id"] == "company")
    assert company["element"]["initial_value"] == "AT&T"


# --- deadlines ------------------------------------------------------------------------------------

def _unix(local: dt.datetime) -> int:
    return int(local.timestamp())


@pytest.mark.parametrize(
    ("tier", "accept_by", "first_outreach_by"),
    [
        # Friday 16:00 + 8 business hours: 1 on Friday + 7 on Monday -> Monday 16:00;
        # + 16: 1 Friday + 8 Monday + 7 Tuesday -> Tuesday 16:00.
        ("silver", _ny(2026, 11, 23, 16, 0), _ny(2026, 11, 24, 16, 0)),
        # gold accepts within 4: 1 Friday + 3 Monday -> Monday 12:00; outreach keeps the default 16.
        ("gold", _ny(2026, 11, 23, 12, 0), _ny(2026, 11, 24, 16, 0)),
    ],
)
def test_deadlines_count_business_hours_and_the_card_shows_them(sessions, playbook, make_partner, tier, accept_by,
                                                                first_outreach_by):
    partner = make_partner(tier=tier)
    submitted = _ny(2026, 11, 20, 16, 0)  # a Friday
    assert submitted.weekday() == 4
    lead = _create(sessions, playbook, partner, now=submitted, owner=OMAR)
    assert lead.accept_by == accept_by
    assert lead.first_outreach_by == first_outreach_by
    with sessions() as session:
        stored = session.get(Lead, lead.id)
        assert stored.accept_by == accept_by and stored.first_outreach_by == first_outreach_by  # after a round trip
        card = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "lead_card")).one()
    text = json.dumps(card.payload["blocks"])
    # November 23 is after the DST change: New York is UTC-5, so Monday 16:00 = 21:00 UTC = 1795467600
    if tier == "silver":
        assert _unix(accept_by) == 1795467600
    accept_markup = re.search(r"Accept by \*<!date\^(\d+)\^[^|]*\|([^>]*)>\*", text)
    assert accept_markup, text
    assert int(accept_markup.group(1)) == _unix(accept_by)
    assert accept_markup.group(2) == accept_by.strftime("Mon 23 Nov %H:%M EST")
    outreach_markup = re.search(r"first outreach by \*<!date\^(\d+)\^", text)
    assert int(outreach_markup.group(1)) == _unix(first_outreach_by)
