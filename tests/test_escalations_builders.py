"""Escalation builders tested as data (within Slack's limits, escaped, the right controls per state),
and the store's pure helpers and approver fallbacks."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from slackkit.blockkit import check_message, check_view
from messages.text import inline_text
from messages import escalations as views
from store import escalations, handoffs
from store import events
from store.errors import AlreadyDone, EscalationClosed, EscalationMoved, NotAllowed, NotFound, ValidationFailed
from store.events import Refresh
from store.events.escalations import (
    EscalationClimbed,
    EscalationDecided,
    EscalationExpired,
    EscalationRaised,
    EscalationWithdrawn,
)
from store.models import Escalation, OutboxMessage
from store.playbook import parse_playbook
from tests.conftest import BEA, MIA, OMAR, RIYA
from tests.helpers import mrkdwn_texts

NOW = dt.datetime(2030, 3, 4, 15, 0, tzinfo=dt.UTC)
ZONE = ZoneInfo("America/New_York")


def make_view(**overrides) -> views.EscalationView:
    fields = dict(
        id=7, ref="E-1007", kind="discount", kind_name="Discount", responses=("Approved as asked", "Approved up to 10%"),
        about="Acme Corp renewal", reason="15% off to sign now", severity="high", impact=None, requester_id=RIYA,
        link_ref=None, link_owners=(), level=0, level_name="Channel managers", level_count=2, level_hours=4.0,
        approver_ids=(MIA, BEA), level_due_at=NOW, status="pending", decided_by=None, decided_at=None,
        decision_note=None, moves=(), level_names=("Channel managers", "Sales director"), zone=ZONE,
    )
    fields.update(overrides)
    return views.EscalationView(**fields)


def _controls(message) -> list[dict]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]



def _ok(message) -> None:
    assert check_message(message) == [], check_message(message)


def test_a_pending_card_carries_approve_reject_and_the_responses_for_its_level():
    card = views.escalation_card(make_view(level=1, level_name="Sales director", approver_ids=(OMAR,)), card_level=1)
    _ok(card)
    controls = _controls(card)
    assert [(c["action_id"], c.get("value")) for c in controls] == [
        ("escalation_approve", "7:1"), ("escalation_reject", "7:1"), ("escalation_respond", None)]
    assert [o["value"] for o in controls[2]["options"]] == ["7:1:0", "7:1:1"]
    text = json.dumps(card["blocks"])
    assert "Sales director (2 of 2)" in text and "then it expires" in text and f"<@{OMAR}>" in text


def test_a_request_kind_without_responses_has_no_select():
    controls = _controls(views.escalation_card(make_view(responses=()), card_level=0))
    assert [c["action_id"] for c in controls] == ["escalation_approve", "escalation_reject"]


def test_a_card_of_an_earlier_level_says_when_it_moved_and_has_no_buttons():
    move = views.LevelMove(from_level=0, from_name="Channel managers", to_name="Sales director", at=NOW, hours=4.0)
    view = make_view(level=1, level_name="Sales director", approver_ids=(OMAR,), moves=(move,))
    card = views.escalation_card(view, card_level=0)
    _ok(card)
    assert _controls(card) == []
    text = json.dumps(card["blocks"])
    assert f"Moved to *Sales director* <!date^{int(NOW.timestamp())}^" in text
    assert "no decision within 4 business hours at Channel managers" in text
    assert "Channel managers (1 of 2)" in text


@pytest.mark.parametrize(("status", "words"), [
    ("approved", f"*Approved* by <@{MIA}>"), ("rejected", f"*Rejected* by <@{MIA}>"),
    ("withdrawn", f"*Withdrawn* by <@{MIA}>"), ("expired", "*Expired*")])
def test_a_settled_card_says_what_happened_and_has_no_buttons(status, words):
    view = make_view(status=status, decided_by=MIA, decided_at=NOW, decision_note="Sign by Friday")
    for card in (views.escalation_card(view, card_level=0), views.escalation_card(view, card_level=0, audience="channel"),
                 views.requester_card(view)):
        _ok(card)
        assert _controls(card) == []
        assert words in json.dumps(card["blocks"])
    assert views.requester_card(view)["text"].endswith(views.STATUS_WORDS[status])


def test_the_requester_card_has_withdraw_while_pending():
    card = views.requester_card(make_view())
    _ok(card)
    assert [(c["action_id"], c["value"]) for c in _controls(card)] == [("escalation_withdraw", "7")]
    assert f"<@{MIA}>, <@{BEA}>" in json.dumps(card["blocks"])


def test_user_text_is_escaped_in_cards_and_notices():
    view = make_view(about="<!channel> & co", reason="<@U0BOSS> said", impact="<!here>", status="approved",
                     decided_by=MIA, decided_at=NOW, decision_note="<!everyone>", kind_name="<b>")
    for message in (views.escalation_card(view, card_level=0), views.requester_card(view), views.decided_notice(view)):
        # Slack parses mentions in mrkdwn and in the notification text; plain_text (the header) shows as typed.
        for text in [message["text"], *mrkdwn_texts(message["blocks"])]:
            for raw in ("<!channel>", "<@U0BOSS>", "<!here>", "<!everyone>", "<b>"):
                assert raw not in text, text
    assert "&lt;!channel&gt; &amp; co" in json.dumps(views.escalation_card(view, card_level=0))


def test_long_text_stays_within_slacks_limits():
    long = "x" * 5000
    view = make_view(about=long, reason=long, impact=long, kind_name="k" * 300,
                     responses=tuple(f"response {i} " + "r" * 100 for i in range(150)))
    _ok(views.escalation_card(view, card_level=0))
    _ok(views.requester_card(view))
    assert check_view(views.decide_modal(view, decision="approve", level=0)) == []
    kinds = [(f"k{i}", "n" * 100) for i in range(130)]
    modal = views.request_modal(kinds=kinds, about="a" * 400)
    assert check_view(modal) == []
    kind_block = next(b for b in modal["blocks"] if b.get("block_id") == "kind")
    assert len(kind_block["element"]["options"]) == 100  # Slack's limit for a static select


def test_the_request_modal_prefills_and_keeps_the_link():
    modal = views.request_modal(kinds=[("discount", "Discount"), ("conflict_ruling", "Conflict ruling")],
                                about="L-1001 · Acme", kind="conflict_ruling", lead_id=1)
    blocks = {b["block_id"]: b for b in modal["blocks"]}
    assert blocks["kind"]["element"]["initial_option"]["value"] == "conflict_ruling"
    assert blocks["severity"]["element"]["initial_option"]["value"] == "medium"
    assert json.loads(modal["private_metadata"]) == {"lead_id": 1}


def test_the_decide_modal_for_approve_and_for_reject():
    approve = views.decide_modal(make_view(), decision="approve", level=0, response=1)
    blocks = {b.get("block_id"): b for b in approve["blocks"]}
    assert blocks["response"]["element"]["initial_option"]["text"]["text"] == "Approved up to 10%"
    assert blocks["note"]["optional"] is True and approve["title"]["text"] == "Approve E-1007"
    reject = views.decide_modal(make_view(), decision="reject", level=0)
    blocks = {b.get("block_id"): b for b in reject["blocks"]}
    assert "response" not in blocks and blocks["note"]["optional"] is False
    assert json.loads(reject["private_metadata"]) == {"escalation_id": 7, "level": 0, "decision": "reject"}


def test_plain_drops_mention_and_date_markup():
    assert inline_text("by <@U0X> <!date^1^{date}|Mon 04 Mar>.") == "by @U0X Mon 04 Mar."


# --- what the events mean for Slack, and the refusals' words ---------------------------------------

def test_a_raised_escalation_posts_each_approver_the_channel_and_the_requester_once_each():
    view = make_view()
    said = views.on_raised(EscalationRaised(escalation=view, channel="C0ESCALATE", requester=RIYA))
    assert [(p.kind, p.channel, p.audience, p.key, p.subject) for p in said] == [
        ("escalation_card", MIA, MIA, f"esc:7:L0:{MIA}", ("escalation", 7)),
        ("escalation_card", BEA, BEA, f"esc:7:L0:{BEA}", ("escalation", 7)),
        ("escalation_notice", "C0ESCALATE", "C0ESCALATE", "esc:7:L0:C0ESCALATE", ("escalation", 7)),
        ("escalation_requester", RIYA, RIYA, "esc:7:requester", ("escalation", 7))]
    for post in said:
        _ok(post.message)
    assert _controls(said[0].message)[0]["action_id"] == "escalation_approve"
    assert "asks" in json.dumps(said[2].message["blocks"]) and f"<@{MIA}>, <@{BEA}> to decide" in json.dumps(
        said[2].message["blocks"])
    # The clock raises SLA breaches for itself (no requester to write to); no channel, no channel card.
    assert [p.kind for p in views.on_raised(EscalationRaised(escalation=view, channel=None, requester=None))] == [
        "escalation_card", "escalation_card"]


def test_a_climb_refreshes_every_card_then_posts_the_new_level_then_tells_the_requester():
    move = views.LevelMove(from_level=0, from_name="Channel managers", to_name="Sales director", at=NOW, hours=4.0)
    view = make_view(level=1, level_name="Sales director", approver_ids=(OMAR,), moves=(move,))
    refresh, card, moved = views.on_climbed(EscalationClimbed(escalation=view, move=move, channel=None,
                                                              requester=RIYA))
    assert isinstance(refresh, Refresh) and refresh.subject == ("escalation", 7)
    assert set(refresh.kinds) == {"escalation_card", "escalation_notice", "escalation_requester"}
    assert (card.kind, card.channel, card.key) == ("escalation_card", OMAR, f"esc:7:L1:{OMAR}")
    assert (moved.kind, moved.channel, moved.key) == ("escalation_moved", RIYA, None)
    assert "moved to *Sales director*" in json.dumps(moved.message["blocks"])
    # Each refreshed copy is rendered for the level and audience it was sent for (read from its key).
    earlier = SimpleNamespace(kind="escalation_card", idempotency_key=f"esc:7:L0:{MIA}", audience=MIA)
    channel = SimpleNamespace(kind="escalation_notice", idempotency_key="esc:7:L1:C0ESCALATE", audience="C0ESCALATE")
    mine = SimpleNamespace(kind="escalation_requester", idempotency_key="esc:7:requester", audience=RIYA)
    assert refresh.render(earlier) == views.escalation_card(view, card_level=0)
    assert refresh.render(channel) == views.escalation_card(view, card_level=1, audience="channel")
    assert refresh.render(mine) == views.requester_card(view)


def test_a_decision_refreshes_the_cards_and_tells_whom_the_store_named():
    view = make_view(status="rejected", decided_by=MIA, decided_at=NOW, decision_note="No budget")
    said = views.on_decided(EscalationDecided(escalation=view, by=MIA, at=NOW, tell=(RIYA, OMAR)))
    assert isinstance(said[0], Refresh)
    assert [(p.kind, p.channel) for p in said[1:]] == [("escalation_decided", RIYA), ("escalation_decided", OMAR)]
    assert [type(i) for i in views.on_withdrawn(EscalationWithdrawn(escalation=view, by=RIYA, at=NOW))] == [Refresh]
    expired = make_view(status="expired", decided_by="system:clock", decided_at=NOW)
    assert [getattr(i, "kind", None) for i in views.on_expired(
        EscalationExpired(escalation=expired, at=NOW, requester=RIYA))] == [None, "escalation_expired"]
    assert len(views.on_expired(EscalationExpired(escalation=expired, at=NOW, requester=None))) == 1


def test_every_escalation_event_has_its_renderer():
    from messages.events import RENDERERS
    from store.events import escalations as escalation_events

    for name in escalation_events.__dict__:
        kind = getattr(escalation_events, name)
        if isinstance(kind, type) and kind.__module__ == escalation_events.__name__:
            assert RENDERERS[kind] is views.RENDERERS[kind]


def test_refusals_carry_the_escalation_and_say_who_decided_and_when():
    date = f"<!date^{int(NOW.timestamp())}^"
    approved = make_view(status="approved", decided_by=MIA, decided_at=NOW)
    refusal = EscalationClosed(approved)
    assert isinstance(refusal, AlreadyDone) and refusal.escalation is approved
    assert str(refusal).startswith(f"E-1007 was already approved by <@{MIA}> {date}")
    assert str(EscalationClosed(make_view(status="expired", decided_at=NOW))).startswith(f"E-1007 already expired {date}")
    move = views.LevelMove(from_level=0, from_name="Channel managers", to_name="Sales director", at=NOW, hours=4.0)
    moved = EscalationMoved(make_view(level=1, level_name="Sales director", moves=(move,)), 0)
    assert isinstance(moved, NotAllowed)
    assert str(moved).startswith("That card is for Channel managers, and E-1007 has since moved to Sales director "
                                 f"{date}")
    assert str(moved).endswith(". Decide on the current card.")


def test_the_severities_offered_are_the_ones_the_store_accepts():
    modal = views.request_modal(kinds=[("discount", "Discount")])
    severity = next(b for b in modal["blocks"] if b.get("block_id") == "severity")
    assert tuple(o["value"] for o in severity["element"]["options"]) == escalations.SEVERITIES


# --- store helpers --------------------------------------------------------------------------------

def test_expand_approvers_replaces_groups_and_keeps_each_person_once():
    assert escalations.expand_approvers(["U0AAAAAAA", "S0GROUPAAA", "U0BBBBBBB"],
                                        {"S0GROUPAAA": ["U0BBBBBBB", "U0CCCCCCC"]}) == [
        "U0AAAAAAA", "U0BBBBBBB", "U0CCCCCCC"]


@pytest.mark.parametrize(("value", "link"), [
    ("lead:3", escalations.Link(lead_id=3)), ("conflict:3", escalations.Link(lead_id=3, conflict=True)),
    ("action:9", escalations.Link(action_id=9)), ("", escalations.Link()), ("lead:x", escalations.Link()),
    ("partner:2", escalations.Link())])
def test_parse_link(value, link):
    assert escalations.parse_link(value) == link


def test_parse_ref():
    assert escalations.parse_ref("L-1001 needs a ruling") == (escalations.Link(lead_id=1), "needs a ruling")
    assert escalations.parse_ref("a1002") == (escalations.Link(action_id=2), "")
    assert escalations.parse_ref("Acme discount") is None
    with pytest.raises(NotFound, match="There is no lead L-12"):
        escalations.parse_ref("L-12")


FALLBACK_PLAYBOOK = """
timezone: America/New_York
escalation:
  levels:
    - {name: Partner manager, time_limit_hours: 4}
"""

FORM = {"about": "Acme renewal", "kind": "discount", "reason": "15% off", "severity": "low"}


def _lead(sessions, make_partner, playbook, *, manager_id):
    partner_id = make_partner(manager_id=manager_id, channel_id=None)
    draft = handoffs.validate_draft({"partner": str(partner_id), "direction": "to_partner", "company": "Acme",
                                     "problem": "p", "next_steps": "n", "primary_owner": OMAR}, playbook=playbook)
    with sessions() as session, session.begin():
        return handoffs.create_handoff(session, draft=draft, sender_id=RIYA, playbook=playbook).lead.id


@pytest.mark.parametrize(("manager", "admins", "expected"), [
    (MIA, "[U0ADMINADA]", [MIA]),            # a level naming no approvers: the partner manager
    (None, "[U0ADMINADA]", ["U0ADMINADA"]),  # no partner manager: the admins
])
def test_a_level_without_approvers_falls_back_to_the_partner_manager_then_the_admins(
        sessions, make_partner, manager, admins, expected):
    playbook = parse_playbook(FALLBACK_PLAYBOOK + f"admins: {admins}\n")
    lead_id = _lead(sessions, make_partner, playbook, manager_id=manager)
    draft = escalations.validate_request(FORM, playbook=playbook, lead_id=lead_id)
    with sessions() as session, session.begin():
        result = escalations.raise_escalation(session, draft=draft, requester_id=RIYA, playbook=playbook,
                                              approvers=lambda entries: [], now=NOW)
        assert result.escalation.approver_ids == expected
        # 4 business hours from Mon 4 Mar 2030 10:00 New York (15:00 UTC): 14:00 New York
        assert result.escalation.level_due_at == dt.datetime(2030, 3, 4, 19, 0, tzinfo=dt.UTC)


def test_nobody_to_decide_is_an_inline_error_and_saves_nothing(sessions):
    playbook = parse_playbook(FALLBACK_PLAYBOOK)
    draft = escalations.validate_request(FORM, playbook=playbook)
    with pytest.raises(ValidationFailed) as failure, sessions() as session, session.begin():
        escalations.raise_escalation(session, draft=draft, requester_id=RIYA, playbook=playbook, approvers=[])
    assert "Nobody can decide at Partner manager" in failure.value.errors["kind"]
    with sessions() as session:
        assert session.query(Escalation).count() == 0


def test_raising_records_what_happened_and_a_clock_requester_hears_nothing(sessions, make_partner):
    playbook = parse_playbook(FALLBACK_PLAYBOOK + "admins: [U0ADMINADA]\n")
    draft = escalations.validate_request(FORM, playbook=playbook)
    with sessions() as session, session.begin():
        result = escalations.raise_escalation(session, draft=draft, requester_id="system:clock", playbook=playbook,
                                              approvers=[MIA], now=NOW)
        [raised] = events.pending(session)
        assert isinstance(raised, EscalationRaised)
        assert (raised.escalation.ref, raised.escalation.approver_ids, raised.requester, raised.channel) == (
            result.escalation.ref, (MIA,), None, None)
    # At the commit the recorder writes the approver's card, and nothing for the clock.
    [card] = events.written(session)
    with sessions() as session:
        row = session.get(OutboxMessage, card)
    assert (row.channel, row.kind) == (MIA, "escalation_card")
