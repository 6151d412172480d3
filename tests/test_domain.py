"""Pure functions: domain normalising, lead references, escaping, and the lead card as data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from slackkit.blockkit import check_message
from messages.handoff import ConflictRef, LeadView, lead_card
from messages.text import escape, unescape
from store.handoffs import normalise_domain, parse_lead_ref
from tests.conftest import BEA, OMAR, RIYA, STAN

NY = ZoneInfo("America/New_York")


# --- normalise_domain ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("acme.com", "acme.com"),
        ("https://acme.com", "acme.com"),                 # scheme
        ("http://acme.com", "acme.com"),
        ("HTTPS://ACME.COM", "acme.com"),                 # case, scheme in capitals too
        ("www.acme.com", "acme.com"),                     # www.
        ("https://WWW.Acme.com/pricing", "acme.com"),     # scheme + www + case + path
        ("acme.com/about/team", "acme.com"),              # path
        ("acme.com?utm_source=x", "acme.com"),            # query without a path
        ("https://www.acme.com/?ref=1#top", "acme.com"),  # path + query + fragment
        ("acme.com:8080", "acme.com"),                    # port
        ("https://acme.com:443/x", "acme.com"),
        ("acme.com.", "acme.com"),                        # trailing dot (fully qualified)
        ("  Acme.Com  ", "acme.com"),                     # whitespace
        ("ada@acme.com", "acme.com"),                     # an email gives its domain
        ("Ada.Lovelace@Sales.ACME.co.uk", "sales.acme.co.uk"),
        ("ada@www.acme.com", "acme.com"),
        ("shop.acme.com", "shop.acme.com"),               # other subdomains are kept
        ("www2.acme.com", "www2.acme.com"),               # only the exact "www." label is dropped
        (None, None),
        ("", None),
        ("   ", None),
        ("https://", None),
    ],
)
def test_normalise_domain(given, expected):
    assert normalise_domain(given) == expected


# --- parse_lead_ref -----------------------------------------------------------------------------
# refs are id + 1000 (store.models.LEAD_REF_OFFSET): L-1042 is lead 42.

@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("L-1042", 42),
        ("l-1042", 42),
        ("L1042", 42),
        ("l1042", 42),
        ("  L-1042\n", 42),
        ("L-1001", 1),
        ("L-1000", None),   # would be lead 0
        ("L-999", None),    # would be negative
        ("L-", None),
        ("1042", None),
        ("X-1042", None),
        ("L-10a2", None),
        ("L - 1042", None),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_lead_ref(given, expected):
    assert parse_lead_ref(given) == expected


# --- escape / unescape --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "typed",
    ["AT&T", "<!channel> ping", "a < b > c & d", "&amp; literally", "&lt;already&gt;", "&&<<>>", "", "plain"],
)
def test_escape_then_unescape_gives_back_what_was_typed(typed):
    escaped = escape(typed)
    assert "<" not in escaped and ">" not in escaped
    # every & left in the escaped text starts one of the three entities
    assert escaped.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0
    assert unescape(escaped) == typed


@pytest.mark.parametrize(
    ("from_slack", "typed"),
    [("AT&amp;T", "AT&T"), ("&lt;!channel&gt;", "<!channel>"), ("R&amp;D &lt;3", "R&D <3"), ("&amp;lt;", "&lt;")],
)
def test_unescape_then_escape_gives_back_slack_text(from_slack, typed):
    assert unescape(from_slack) == typed
    assert escape(unescape(from_slack)) == from_slack


def test_escape_and_unescape_of_nothing():
    assert escape(None) == ""
    assert unescape(None) == ""


# --- the lead card as data ----------------------------------------------------------------------

CREATED = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.timezone.utc)  # Mon 10:00 New York


def _view(**overrides) -> LeadView:
    base = dict(
        id=7, ref="L-1007", partner="Globex Partners", partner_tier="silver", partner_manager_id="U0MANAGERMIA",
        direction="to_partner", company="Acme Corp", domain="acme.com", contact_name="Ada Lovelace",
        contact_email="ada@acme.com", consent=True, problem="Invoices take two days.", value_proposition="They know it.",
        next_steps="Call Tuesday.", estimated_value=Decimal("48000.00"), product_line="Analytics", stage="handed_off",
        sender_id=RIYA, primary_owner_id=OMAR, backup_owner_id=BEA,
        accept_by=CREATED + dt.timedelta(days=1), first_outreach_by=CREATED + dt.timedelta(days=2),
        accepted_at=None, accepted_by=None, declined_at=None, declined_by=None, decline_reason=None,
        first_outreach_at=None, first_outreach_logged_by=None, created_at=CREATED, conflicts=(), zone=NY,
    )
    base.update(overrides)
    return LeadView(**base)


def _actions(card) -> list[tuple[str, str, str]]:
    return [(e["action_id"], e["text"]["text"], e["value"])
            for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]


def _texts(card) -> list[str]:
    """The mrkdwn texts of a card (plain_text, like the header, never renders markup)."""
    out = []
    for b in card["blocks"]:
        if b.get("text") and b["text"]["type"] == "mrkdwn":
            out.append(b["text"]["text"])
        for f in b.get("fields", []):
            out.append(f["text"])
        for e in b.get("elements", []):
            if e.get("type") == "mrkdwn":
                out.append(e["text"])
    return out


def test_card_waiting_for_the_owner_has_accept_and_decline():
    card = lead_card(_view(), audience="owner")
    assert _actions(card) == [("lead_accept", "Accept", "7"), ("lead_decline", "Decline", "7"),
                              ("escalate_open", "Escalate", "lead:7")]
    header = card["blocks"][0]
    assert (header["type"], header["text"]["type"], header["text"]["text"]) == ("header", "plain_text", "L-1007 · Acme Corp")
    assert "Accept by" in json.dumps(card["blocks"])
    # accept_by as Slack date markup with its unix time
    assert f"<!date^{int((CREATED + dt.timedelta(days=1)).timestamp())}^" in json.dumps(card["blocks"])
    assert check_message(card) == []


def test_card_for_the_channel_has_no_buttons():
    assert _actions(lead_card(_view(), audience="channel")) == []


def test_accepted_card_offers_first_outreach_then_the_deal_buttons():
    view = _view(stage="accepted", accepted_by=OMAR, accepted_at=CREATED + dt.timedelta(hours=1))
    card = lead_card(view, audience="owner")
    assert _actions(card) == [("lead_log_outreach", "Log first outreach", "7"),
                              ("deal_update_stage", "Update stage", "7"), ("escalate_open", "Escalate", "lead:7")]
    assert "Accepted by <@U0OWNEROMAR>" in json.dumps(card["blocks"])
    assert check_message(card) == []


def test_contacted_card_offers_only_the_deal_buttons():
    view = _view(stage="contacted", accepted_by=OMAR, accepted_at=CREATED + dt.timedelta(hours=1),
                 first_outreach_at=CREATED + dt.timedelta(hours=2), first_outreach_logged_by=BEA)
    card = lead_card(view, audience="owner")
    assert _actions(card) == [("deal_update_stage", "Update stage", "7"), ("escalate_open", "Escalate", "lead:7")]
    # outreach at +2h is before the deadline at +2 days
    assert "First outreach logged by <@U0BACKUPBEA>" in json.dumps(card["blocks"])
    assert "on time" in json.dumps(card["blocks"])


def test_declined_card_shows_the_reason_escaped_and_no_buttons():
    reason = "Not ours <!channel> & <https://evil.example|click>"
    view = _view(stage="declined", declined_by=OMAR, declined_at=CREATED + dt.timedelta(hours=1), decline_reason=reason)
    card = lead_card(view, audience="owner")
    assert _actions(card) == []
    text = "\n".join(_texts(card))
    assert "Declined by <@U0OWNEROMAR>" in text
    assert "Not ours &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert "<!channel>" not in json.dumps(card)
    assert check_message(card) == []


def test_user_text_cannot_ping_or_link_anywhere_on_the_card():
    view = _view(company="<!here> Co", contact_name="<@U0STRANGER>", problem="<!everyone>", next_steps="<#C123>",
                 value_proposition="<https://x.example|x>", product_line="<!subteam^S1>")
    card = lead_card(view, audience="owner")
    joined = "\n".join(_texts(card))
    for raw in ("<!here>", "<@U0STRANGER>", "<!everyone>", "<#C123>", "<https://x.example|x>", "<!subteam^S1>"):
        assert raw not in joined


@pytest.mark.parametrize("stage", ["handed_off", "accepted", "contacted", "declined"])
@pytest.mark.parametrize("char", ["x", "&"])  # "&" grows five-fold when escaped
def test_card_stays_within_slack_limits_with_fields_at_their_maximum(stage, char):
    # The form's limits (store.handoffs.LIMITS): company 200, contact name 200, problem / value
    # proposition / next steps 2000, product line 120, decline reason 1000; domain 253 (letters only).
    view = _view(
        stage=stage, company=char * 200, domain=("a" * 63 + ".") * 3 + "a" * 61, contact_name=char * 200,
        contact_email="ada@acme.com", problem=char * 2000, value_proposition=char * 2000, next_steps=char * 2000,
        product_line=char * 120, partner="P" * 200,
        accepted_by=OMAR if stage in ("accepted", "contacted") else None,
        accepted_at=CREATED if stage in ("accepted", "contacted") else None,
        first_outreach_at=CREATED if stage == "contacted" else None,
        first_outreach_logged_by=OMAR if stage == "contacted" else None,
        declined_by=OMAR if stage == "declined" else None, declined_at=CREATED if stage == "declined" else None,
        decline_reason=char * 1000 if stage == "declined" else None,
        conflicts=(ConflictRef(ref="L-1002", partner="Initech", owner_id=STAN),),
    )
    for audience in ("owner", "channel"):
        card = lead_card(view, audience=audience)
        assert len(card["blocks"]) < 50
        for block in card["blocks"]:
            if block["type"] == "section" and block.get("text"):
                assert len(block["text"]["text"]) < 3000
            for f in block.get("fields", []):
                assert len(f["text"]) <= 2000  # Slack's limit for a section field
        assert len(card["text"]) <= 3000
        assert check_message(card) == [], check_message(card)


def test_many_conflicts_keep_the_conflict_section_under_3000_characters():
    # Partner names may be 200 characters (store.partners); ten conflicts are listed.
    conflicts = tuple(ConflictRef(ref=f"L-{1010 + i}", partner="R&D " * 50, owner_id=STAN) for i in range(12))
    card = lead_card(_view(conflicts=conflicts), audience="owner")
    for block in card["blocks"]:
        if block["type"] == "section" and block.get("text"):
            assert len(block["text"]["text"]) < 3000
    assert check_message(card) == []


def test_view_is_frozen_data():
    view = _view()
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.stage = "accepted"  # type: ignore[misc]


def test_contact_at_its_maximum_stays_within_slacks_field_limit():
    # The form accepts a 200-character contact name and a 254-character email whose local part may
    # hold "&" (store.handoffs.EMAIL_RE allows it); escaped, each "&" becomes "&amp;".
    email = "&" * 245 + "@acme.com"
    assert len(email) == 254
    card = lead_card(_view(contact_name="&" * 200, contact_email=email), audience="owner")
    for block in card["blocks"]:
        for f in block.get("fields", []):
            assert len(f["text"]) <= 2000  # Slack rejects a longer section field (invalid_blocks)
    assert check_message(card) == []
