"""Channel conflicts: two partners registering the same customer domain, through signed requests."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select, update

from slackkit import simulator as s
from store.models import AuditEvent, Lead, LeadConflict
from tests.conftest import BEA, MIA, NOAH, OMAR, RIYA, STAN, eventually
from tests.helpers import handoff_form
from store import clock

GLOBEX_CHANNEL, INITECH_CHANNEL = "C0GLOBEX01", "C0INITECH1"


@pytest.fixture
def partners(make_partner):
    a = make_partner("Globex Partners", channel_id=GLOBEX_CHANNEL, manager_id=MIA)
    b = make_partner("Initech", channel_id=INITECH_CHANNEL, manager_id=NOAH)
    return a, b


def _submit(simulator, partner_id, *, user_id=RIYA, **overrides):
    answer = simulator.submit("handoff_submit", handoff_form(partner_id, **overrides), user_id=user_id)
    assert answer.status == 200 and answer.body == "", answer.body  # saved: the modal closes
    return answer


def _posts_to(slack, channel):
    return [c for c in slack.calls_for("chat.postMessage") if c.args["channel"] == channel]


def _conflict_rows(sessions):
    with sessions() as session:
        return set(session.execute(select(LeadConflict.lead_id, LeadConflict.other_lead_id)).all())


def _count(sessions, model):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def _first_lead_delivered(slack):
    # lead 1: owner card (OMAR), sender confirmation (RIYA), channel notice
    slack.wait_for("chat.postMessage", 3)


def test_same_domain_with_another_partner_flags_both_leads_and_tells_both_managers(simulator, slack, sessions, partners):
    a, b = partners
    _submit(simulator, a, domain=s.text("acme.com"))
    _first_lead_delivered(slack)
    # Lead 2 for the other partner, owned by STAN, with the domain written as a URL
    _submit(simulator, b, domain=s.text("https://WWW.Acme.com/pricing"), primary_owner=s.user(STAN),
            backup_owner=s.user(None), company=s.text("ACME Inc."))

    with sessions() as session:
        leads = session.scalars(select(Lead).order_by(Lead.id)).all()
        assert [(l.id, l.partner_id, l.domain) for l in leads] == [(1, a, "acme.com"), (2, b, "acme.com")]
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "lead.conflict_detected")).all()
        assert [(e.object_type, e.object_id, e.actor_id) for e in audit] == [("lead", 2, "system:conflicts")]
        assert audit[0].after == {"with": ["L-1001"]}
    assert _conflict_rows(sessions) == {(2, 1), (1, 2)}

    # The new lead's card names the older lead, its partner and its owner in its first post.
    new_card = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == STAN)[0]
    new_blocks = json.dumps(new_card.args["blocks"])
    assert "Possible conflict" in new_blocks
    assert "L-1001 (Globex Partners, <@U0OWNEROMAR>)" in new_blocks

    # The older lead's owner card is edited in place to name the new lead.
    old_card_ts = next(ts for (channel, ts) in slack.messages if channel == f"D{OMAR}")
    old_update = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}")[0]
    assert old_update.args["ts"] == old_card_ts
    old_blocks = json.dumps(old_update.args["blocks"])
    assert "Possible conflict" in old_blocks and "L-1002 (Initech, <@U0STRANGER>)" in old_blocks
    # ...and so is the older lead's notice in its partner's channel.
    channel_update = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == GLOBEX_CHANNEL)[0]
    assert "L-1002 (Initech, <@U0STRANGER>)" in json.dumps(channel_update.args["blocks"])

    # Each partner manager gets exactly one DM about it.
    eventually(lambda: _posts_to(slack, MIA) and _posts_to(slack, NOAH))
    for manager in (MIA, NOAH):
        notices = _posts_to(slack, manager)
        assert len(notices) == 1, [c.args["text"] for c in notices]
        body = json.dumps(notices[0].args)
        assert "L-1001" in body and "L-1002" in body and "acme.com" in body
    # lead 1: 3 posts; lead 2: owner card, sender confirmation, channel notice, 2 manager notices
    eventually(lambda: len(slack.calls_for("chat.postMessage")) >= 8)
    assert len(slack.calls_for("chat.postMessage")) == 8


def test_domain_comes_from_the_contact_email_when_the_domain_field_is_empty(simulator, slack, sessions, partners):
    a, b = partners
    _submit(simulator, a, domain=s.text("acme.com"))
    _first_lead_delivered(slack)
    _submit(simulator, b, domain=s.text(None), contact_email=s.email("grace@Acme.com"), primary_owner=s.user(STAN),
            backup_owner=s.user(None))
    with sessions() as session:
        assert session.get(Lead, 2).domain == "acme.com"
    assert _conflict_rows(sessions) == {(2, 1), (1, 2)}
    card = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == STAN)[0]
    assert "L-1001 (Globex Partners, <@U0OWNEROMAR>)" in json.dumps(card.args["blocks"])


def test_same_partner_and_domain_is_a_likely_duplicate_not_a_conflict(simulator, slack, sessions, partners):
    a, _ = partners
    _submit(simulator, a, domain=s.text("acme.com"))
    _first_lead_delivered(slack)
    _submit(simulator, a, domain=s.text("https://www.acme.com/"), user_id=STAN, primary_owner=s.user(BEA),
            backup_owner=s.user(None))
    assert _count(sessions, Lead) == 2
    assert _conflict_rows(sessions) == set()
    with sessions() as session:
        assert session.scalar(select(func.count()).where(AuditEvent.action == "lead.conflict_detected")) == 0
    confirmation = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == STAN)[0]
    text = json.dumps(confirmation.args["blocks"])
    assert "Likely duplicate" in text and "L-1001" in text
    assert "Possible conflict" not in text
    # no manager is told about a duplicate
    slack.wait_for("chat.postMessage", 6)
    assert _posts_to(slack, MIA) == [] and _posts_to(slack, NOAH) == []


@pytest.mark.parametrize(("age_days", "conflict"), [(91, False), (89, True)])
def test_only_leads_inside_the_protection_window_conflict(simulator, slack, sessions, partners, age_days, conflict):
    # the test playbook protects a registration for 90 days
    a, b = partners
    _submit(simulator, a, domain=s.text("acme.com"))
    _first_lead_delivered(slack)
    with sessions() as session, session.begin():
        session.execute(update(Lead).where(Lead.id == 1).values(created_at=clock.now() - dt.timedelta(days=age_days)))
    _submit(simulator, b, domain=s.text("acme.com"), primary_owner=s.user(STAN), backup_owner=s.user(None))
    assert _count(sessions, Lead) == 2
    assert _conflict_rows(sessions) == ({(2, 1), (1, 2)} if conflict else set())
    card = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == STAN)[0]
    assert ("Possible conflict" in json.dumps(card.args["blocks"])) is conflict


def test_a_declined_earlier_lead_does_not_conflict(simulator, slack, sessions, partners):
    a, b = partners
    _submit(simulator, a, domain=s.text("acme.com"))
    _first_lead_delivered(slack)
    declined = simulator.submit("handoff_decline_submit", s.state({"reason": s.text("Outside our territory")}),
                                user_id=OMAR, private_metadata=json.dumps({"lead_id": 1}))
    assert declined.status == 200 and declined.body == ""
    with sessions() as session:
        assert session.get(Lead, 1).stage == "declined"
    _submit(simulator, b, domain=s.text("acme.com"), primary_owner=s.user(STAN), backup_owner=s.user(None))
    assert _count(sessions, Lead) == 2
    assert _conflict_rows(sessions) == set()
    card = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == STAN)[0]
    assert "Possible conflict" not in json.dumps(card.args["blocks"])


def test_no_domain_and_no_email_means_no_conflict_check(simulator, slack, sessions, partners):
    a, b = partners
    no_contact = dict(domain=s.text(None), contact_email=s.email(None), contact_name=s.text(None),
                      consent=s.checkboxes([]))
    _submit(simulator, a, **no_contact)
    _first_lead_delivered(slack)
    _submit(simulator, b, primary_owner=s.user(STAN), backup_owner=s.user(None), **no_contact)
    with sessions() as session:
        assert [l.domain for l in session.scalars(select(Lead).order_by(Lead.id))] == [None, None]
        assert session.scalar(select(func.count()).where(AuditEvent.action == "lead.conflict_detected")) == 0
    assert _conflict_rows(sessions) == set()
    card = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == STAN)[0]
    assert "Possible conflict" not in json.dumps(card.args["blocks"])
    confirmation = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == RIYA, count=2)[-1]
    assert "Likely duplicate" not in json.dumps(confirmation.args["blocks"])
