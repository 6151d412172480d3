"""The handoff, end to end through Bolt: signed requests in, Web API calls and rows out."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from store.models import AuditEvent, Handoff, Lead, OutboxMessage
from tests.conftest import OMAR, RIYA, eventually
from tests.helpers import handoff_form


def _submit(simulator, partner_id, **overrides):
    return simulator.submit("handoff_submit", handoff_form(partner_id, **overrides), user_id=RIYA)


def _lead(sessions, ref_id=1):
    with sessions() as session:
        return session.get(Lead, ref_id)


def test_slash_handoff_opens_the_modal_with_the_company_prefilled(simulator, slack):
    answer = simulator.command("/handoff", "Acme Corp", user_id=RIYA)
    assert answer.status == 200
    call = slack.wait_for("views.open")[0]
    view = call.args["view"]
    assert view["callback_id"] == "handoff_submit"
    company = next(b for b in view["blocks"] if b["block_id"] == "company")
    assert company["element"]["initial_value"] == "Acme Corp"
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels == ["Partner", "Direction", "Company", "Company website or domain", "Contact name", "Contact email",
                      "Consent", "Pressing problem", "Partner value proposition", "Next steps", "Estimated value",
                      "Product line", "Primary owner", "Backup owner"]
    partner = next(b for b in view["blocks"] if b["block_id"] == "partner")
    assert partner["element"]["type"] == "external_select"


def test_partner_type_ahead_searches_the_store(simulator, make_partner):
    for name in ("Globex Partners", "Initech", "Global Reach", "Umbrella Global"):
        make_partner(name, channel_id=None)
    answer = simulator.suggest("partner_search", "glo", user_id=RIYA)
    assert answer.status == 200
    names = [o["text"]["text"] for o in answer.json()["options"]]
    # names starting with the query first, then those containing it
    assert names == ["Global Reach (silver)", "Globex Partners (silver)", "Umbrella Global (silver)"]


def test_submission_saves_lead_handoff_and_audit_and_sends_cards(simulator, slack, sessions, make_partner):
    partner_id = make_partner("Globex Partners", tier="gold")
    answer = _submit(simulator, partner_id)
    assert answer.status == 200 and answer.body == ""  # the modal closes
    posts = slack.wait_for("chat.postMessage", 3)
    by_channel = {c.args["channel"]: c.args for c in posts}
    assert set(by_channel) == {OMAR, RIYA, "C0GLOBEX01"}

    with sessions() as session:
        lead = session.scalars(select(Lead)).one()
        assert (lead.company, lead.domain, lead.stage) == ("Acme Corp", "acme.com", "handed_off")
        assert lead.estimated_value == 48000
        # gold tier: 4 business hours to accept; first outreach from the default, 16 business hours
        assert lead.accept_by > lead.created_at
        assert session.scalar(select(func.count(Handoff.id))) == 1
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions == ["lead.handed_off"]

    def sent():
        with sessions() as session:
            return session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "sent"))

    eventually(lambda: sent() == 3)
    card = by_channel[OMAR]
    buttons = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Accept", "Decline", "Escalate"]
    card_text = json.dumps(card["blocks"])
    assert "L-1001" in card_text and "Accept by" in card_text and "<!date^" in card_text
    assert "ada@acme.com" in card_text
    assert "L-1001" in json.dumps(by_channel[RIYA])


def test_owner_accepts_card_is_updated_sender_told_then_logs_outreach(simulator, slack, sessions, make_partner):
    partner_id = make_partner()
    _submit(simulator, partner_id)
    slack.wait_for("chat.postMessage", 3)
    card_ts = next(ts for (channel, ts) in slack.messages if channel == f"D{OMAR}")
    assert simulator.click("lead_accept", "1", user_id=OMAR).status == 200

    update = slack.wait_for("chat.update", where=lambda c: c.args["channel"] == f"D{OMAR}")[0]
    blocks = json.dumps(update.args["blocks"])
    assert "Accepted by <@U0OWNEROMAR>" in blocks
    assert "lead_accept" not in blocks and "lead_log_outreach" in blocks
    assert update.args["ts"] == card_ts  # the owner's own card was edited, not a new message
    told = slack.wait_for("chat.postMessage", where=lambda c: c.args["channel"] == RIYA and "accepted" in c.args["text"])
    assert told
    lead = _lead(sessions)
    assert lead.stage == "accepted" and lead.accepted_by == OMAR

    simulator.click("lead_log_outreach", "1", user_id=OMAR)
    eventually(lambda: _lead(sessions).first_outreach_at is not None)
    lead = _lead(sessions)
    assert lead.stage == "contacted" and lead.first_outreach_logged_by == OMAR
    final = slack.wait_for("chat.update", 2, where=lambda c: c.args["channel"] == f"D{OMAR}")[-1]
    assert "First outreach logged by <@U0OWNEROMAR>" in json.dumps(final.args["blocks"])
    assert "lead_log_outreach" not in json.dumps(final.args["blocks"])
