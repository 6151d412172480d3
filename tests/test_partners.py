"""Partners: `/partner` through signed requests, the add modal, the list, and the CSV import.

The playbook here is this module's own (types and tiers that differ from the defaults), so every
type, tier and count the tests expect comes from the inputs written below.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from slackkit import simulator as s
from messages.partners import partner_list
from store import permissions
from store.errors import ImportFailed, NotAllowed
from store.models import AuditEvent, Partner
from store.partners import import_partners_csv, search
from store.playbook import parse_playbook
from tests.conftest import MIA, NOAH, RIYA, STAN
from tests.helpers import modal_errors

ADA = "U0ADMINADA"  # the playbook's admin
TYPES = ("reseller", "referral", "agency")
TIERS = ("bronze", "silver", "gold")
PARTNER_PLAYBOOK = f"""
timezone: Europe/Berlin
admins: [{ADA}]
partner_types: [{", ".join(TYPES)}]
tiers: [{", ".join(TIERS)}]
sla:
  tiers:
    gold: {{accept_within_hours: 2}}
"""
HEADER = "name,type,tier,market,product_lines,channel_id,manager_id"


@pytest.fixture
def playbook(request):
    """Overrides conftest's playbook for this module (the app is built with it); a test can add
    lines with @pytest.mark.parametrize("playbook", [...], indirect=True)."""
    return parse_playbook(PARTNER_PLAYBOOK + getattr(request, "param", ""), "partner-test-playbook.yml")


# --------------------------------------------------------------------------- helpers


def add_form(**overrides) -> dict:
    """A valid add-partner modal state; override a field with a raw element value."""
    fields = {
        "name": s.text("Acme Partners"),
        "type": s.select("agency"),
        "tier": s.select("gold"),
        "market": s.text("EMEA mid-market"),
        "product_lines": s.text("Payments; Fraud Shield"),
        "channel_id": s.conversation("C0ACMEPART"),
        "manager_id": s.user(MIA),
    }
    fields.update(overrides)
    return s.state(fields)


def partner_count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(Partner.id)))


def audit_actions(sessions) -> list[tuple[str, str, int]]:
    with sessions() as session:
        return [tuple(r) for r in session.execute(
            select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.object_id).order_by(AuditEvent.id)).all()]


def partners_by_name(sessions) -> dict[str, Partner]:
    with sessions() as session:
        return {p.name: p for p in session.scalars(select(Partner))}


def csv_text(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


def responses(slack, count: int = 1):
    """The messages Bolt's respond() posted to the command's response_url, oldest first."""
    return [c.args for c in slack.wait_for("response_url", count)]


def mrkdwn_of(message: dict) -> str:
    """Every piece of text in a message that Slack parses as mrkdwn: the top-level text and mrkdwn objects."""
    parts = [message.get("text", "")]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                parts.append(node.get("text", ""))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks", []))
    return "\n".join(parts)


def listed_names(message: dict) -> list[str]:
    """Partner names shown in bold at the start of each list line."""
    text = "\n".join(b["text"]["text"] for b in message.get("blocks", []) if b["type"] == "section")
    return re.findall(r"^\*(.+?)\* — ", text, flags=re.M)


# --------------------------------------------------------------------------- /partner help and routing


def test_partner_help_is_ephemeral_and_lists_the_playbooks_types_and_tiers(simulator, slack):
    answer = simulator.command("/partner", "help", user_id=RIYA)
    assert answer.status == 200
    message = responses(slack)[0]
    assert message["response_type"] == "ephemeral"
    text = message["text"]
    for word in TYPES + TIERS:
        assert word in text
    assert ", ".join(TYPES) in text and ", ".join(TIERS) in text  # in the playbook's order
    assert "/partner add" in text and "/partner list" in text


def test_bare_partner_shows_the_help_too(simulator, slack):
    simulator.command("/partner", "", user_id=RIYA)
    message = responses(slack)[0]
    assert message["response_type"] == "ephemeral"
    assert ", ".join(TIERS) in message["text"]


def test_unknown_subcommand_says_so_and_shows_the_help(simulator, slack):
    answer = simulator.command("/partner", "frobnicate the partners", user_id=RIYA)
    assert answer.status == 200
    message = responses(slack)[0]
    assert message["response_type"] == "ephemeral"
    assert "`/partner frobnicate`" in message["text"]
    assert ", ".join(TYPES) in message["text"]
    assert message["blocks"][0]["text"]["text"] == message["text"]
    assert not slack.calls_for("views.open")


# --------------------------------------------------------------------------- the add modal


def test_partner_add_opens_the_modal_with_the_name_prefilled_and_playbook_options(simulator, slack):
    answer = simulator.command("/partner", "add Acme", user_id=ADA)
    assert answer.status == 200
    call = slack.wait_for("views.open")[0]
    assert call.args["trigger_id"].endswith(".trigger")
    view = call.args["view"]
    assert view["type"] == "modal" and view["callback_id"] == "partner_add_submit"
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["name"]["element"]["initial_value"] == "Acme"
    assert [o["value"] for o in blocks["type"]["element"]["options"]] == list(TYPES)
    assert [o["value"] for o in blocks["tier"]["element"]["options"]] == list(TIERS)
    assert not slack.calls_for("response_url")  # no message besides the modal


def test_partner_add_keeps_a_multi_word_name_and_no_name_leaves_it_empty(simulator, slack):
    simulator.command("/partner", "add   Globex  Partners International ", user_id=ADA)
    first = slack.wait_for("views.open")[0].args["view"]
    name = next(b for b in first["blocks"] if b["block_id"] == "name")
    assert name["element"]["initial_value"] == "Globex  Partners International"

    simulator.command("/partner", "add", user_id=ADA)
    second = slack.wait_for("views.open", 2)[1].args["view"]
    name = next(b for b in second["blocks"] if b["block_id"] == "name")
    assert not name["element"].get("initial_value")


def test_partner_add_prefill_undoes_slacks_escaping_of_ampersand(simulator, slack):
    # Slack sends the command text with &, < and > escaped: a rep typing `/partner add AT&T Partners`
    # sends "add AT&amp;T Partners". The form must show what the rep typed.
    typed = "AT&T Partners"
    sent = typed.replace("&", "&amp;")
    simulator.command("/partner", f"add {sent}", user_id=ADA)
    view = slack.wait_for("views.open")[0].args["view"]
    name = next(b for b in view["blocks"] if b["block_id"] == "name")
    assert name["element"]["initial_value"] == typed


def test_submitting_the_add_modal_saves_the_partner_audits_and_dms_the_adder(simulator, slack, sessions):
    answer = simulator.submit("partner_add_submit", add_form(), user_id=ADA)
    assert answer.status == 200 and answer.body == ""  # the modal closes

    found = partners_by_name(sessions)
    assert list(found) == ["Acme Partners"]
    acme = found["Acme Partners"]
    assert (acme.type, acme.tier, acme.market) == ("agency", "gold", "EMEA mid-market")
    assert acme.product_lines == ["Payments", "Fraud Shield"]
    assert (acme.channel_id, acme.manager_id) == ("C0ACMEPART", MIA)
    assert audit_actions(sessions) == [("partner.added", ADA, acme.id)]

    dm = slack.wait_for("chat.postMessage")[0].args
    assert dm["channel"] == ADA
    shown = json.dumps(dm)
    assert "Acme Partners" in shown and "<#C0ACMEPART>" in shown and f"<@{MIA}>" in shown


def test_added_partner_name_is_escaped_in_the_dm(simulator, slack, sessions):
    name = "Bits & <!channel> Bytes"
    simulator.submit("partner_add_submit", add_form(name=s.text(name)), user_id=ADA)
    assert list(partners_by_name(sessions)) == [name]  # stored as typed
    dm = slack.wait_for("chat.postMessage")[0].args
    text = mrkdwn_of(dm)
    assert "<!channel>" not in text
    assert "Bits &amp; &lt;!channel&gt; Bytes" in text



def test_add_modal_missing_name_is_an_inline_error(simulator, slack, sessions):
    errors = modal_errors(simulator.submit("partner_add_submit", add_form(name=s.text(None)), user_id=ADA))
    assert set(errors) == {"name"}
    assert partner_count(sessions) == 0 and audit_actions(sessions) == []


def test_add_modal_whitespace_only_name_is_an_inline_error(simulator, slack, sessions):
    errors = modal_errors(simulator.submit("partner_add_submit", add_form(name=s.text("   ")), user_id=ADA))
    assert set(errors) == {"name"}
    assert partner_count(sessions) == 0


def test_add_modal_duplicate_name_is_caught_whatever_the_case(simulator, slack, sessions, make_partner):
    make_partner("Acme Partners")
    errors = modal_errors(simulator.submit("partner_add_submit", add_form(name=s.text("  aCME PARTNERS ")), user_id=ADA))
    assert set(errors) == {"name"}
    assert partner_count(sessions) == 1
    assert audit_actions(sessions) == []
    assert not slack.calls_for("chat.postMessage")


def test_add_modal_unknown_type_is_an_inline_error_naming_the_allowed_types(simulator, slack, sessions):
    errors = modal_errors(simulator.submit("partner_add_submit", add_form(type=s.select("distributor")), user_id=ADA))
    assert set(errors) == {"type"}
    assert "distributor" in errors["type"]
    assert all(t in errors["type"] for t in TYPES)
    assert partner_count(sessions) == 0


def test_add_modal_bad_channel_id_is_an_inline_error(simulator, slack, sessions):
    # A conversations_select also lets people pick a DM (D…): not a channel partner notices can go to.
    errors = modal_errors(simulator.submit("partner_add_submit", add_form(channel_id=s.conversation("D0DMWITHBEA")),
                                      user_id=ADA))
    assert set(errors) == {"channel_id"}
    assert "D0DMWITHBEA" in errors["channel_id"]
    assert partner_count(sessions) == 0


def test_add_modal_reports_every_bad_field_at_once(simulator, slack, sessions):
    form = add_form(name=s.text(None), type=s.select(None), tier=s.select("diamond"),
                    channel_id=s.conversation("general"))
    errors = modal_errors(simulator.submit("partner_add_submit", form, user_id=ADA))
    assert set(errors) == {"name", "type", "tier", "channel_id"}
    assert partner_count(sessions) == 0


# --------------------------------------------------------------------------- who may add partners


def test_a_stranger_cannot_open_the_add_form_and_is_told_who_can(simulator, slack, make_partner):
    make_partner("Globex Partners", manager_id=MIA)
    assert simulator.command("/partner", "add Acme", user_id=STAN).status == 200
    message = responses(slack)[0]
    assert message["response_type"] == "ephemeral"
    assert message["text"].startswith("Only ")
    assert f"<@{ADA}>" in message["text"] and "partner managers" in message["text"]
    assert not slack.calls_for("views.open")


def test_a_stranger_submitting_the_form_anyway_adds_nothing(simulator, slack, sessions):
    # The report: anyone made a platinum partner and named themselves its manager.
    form = add_form(tier=s.select("gold"), manager_id=s.user(STAN))
    errors = modal_errors(simulator.submit("partner_add_submit", form, user_id=STAN))
    assert list(errors) == ["name"]
    assert errors["name"].startswith("Only ") and f"@{ADA}" in errors["name"]  # plain text: no <@…> markup
    assert partner_count(sessions) == 0 and audit_actions(sessions) == []
    assert not slack.calls_for("chat.postMessage")


def test_the_admin_and_a_partner_manager_may_add_partners(simulator, slack, sessions, make_partner):
    make_partner("Globex Partners", manager_id=MIA)
    for number, user_id in enumerate((ADA, MIA), start=1):
        simulator.command("/partner", f"add Acme {number}", user_id=user_id)
        slack.wait_for("views.open", number)
        answer = simulator.submit("partner_add_submit", add_form(name=s.text(f"Acme {number}")), user_id=user_id)
        assert (answer.status, answer.body) == (200, "")
    assert not slack.calls_for("response_url")
    assert sorted(partners_by_name(sessions)) == ["Acme 1", "Acme 2", "Globex Partners"]
    assert [(a, who) for a, who, _ in audit_actions(sessions)] == [("partner.added", ADA), ("partner.added", MIA)]


@pytest.mark.parametrize("playbook", ["partners: {editors: admins}\n"], indirect=True)
def test_the_playbook_can_keep_adding_to_admins(simulator, slack, sessions, make_partner):
    make_partner("Globex Partners", manager_id=MIA)
    simulator.command("/partner", "add Acme", user_id=MIA)
    message = responses(slack)[0]
    assert message["response_type"] == "ephemeral" and f"<@{ADA}>" in message["text"]
    assert "partner managers" not in message["text"]
    errors = modal_errors(simulator.submit("partner_add_submit", add_form(), user_id=MIA))
    assert f"@{ADA}" in errors["name"]
    assert partner_count(sessions) == 1
    assert not slack.calls_for("views.open")


@pytest.mark.parametrize("playbook", ["partners: {editors: everyone}\n"], indirect=True)
def test_the_playbook_can_open_adding_to_everyone(simulator, slack, sessions):
    simulator.command("/partner", "add Acme", user_id=STAN)
    slack.wait_for("views.open")
    answer = simulator.submit("partner_add_submit", add_form(), user_id=STAN)
    assert (answer.status, answer.body) == (200, "")
    assert list(partners_by_name(sessions)) == ["Acme Partners"]


def test_without_admins_or_partner_managers_the_refusal_says_how_to_start(simulator, slack, sessions, make_partner):
    playbook_without_admins = parse_playbook(PARTNER_PLAYBOOK.replace(f"admins: [{ADA}]\n", ""))
    with sessions() as session:
        with pytest.raises(NotAllowed) as refused:
            permissions.require_partner_editor(session, STAN, playbook=playbook_without_admins)
    text = str(refused.value)
    assert "admins" in text and "partnerbot import partners" in text


def test_changing_a_partner_is_for_its_own_manager_and_the_admins(sessions, playbook, make_partner):
    globex = make_partner("Globex Partners", manager_id=MIA)
    make_partner("Initech", manager_id=NOAH)
    with sessions() as session:
        partner = session.get(Partner, globex)
        for allowed in (MIA, ADA):
            permissions.require_partner_editor(session, allowed, playbook=playbook, partner=partner)
        permissions.require_partner_editor(session, NOAH, playbook=playbook)  # may add one of his own
        with pytest.raises(NotAllowed) as refused:
            permissions.require_partner_editor(session, NOAH, playbook=playbook, partner=partner)
    assert f"<@{MIA}>" in str(refused.value) and f"<@{ADA}>" in str(refused.value)


def test_an_unknown_subcommand_of_ten_thousand_characters_still_gets_an_answer(simulator, slack):
    word = "x" * 10_000
    assert simulator.command("/partner", word, user_id=RIYA).status == 200
    message = responses(slack)[0]  # Slack took it: every section under its 3,000 characters
    assert message["response_type"] == "ephemeral"
    assert "I don't know `/partner xxxx" in message["text"] and len(message["text"]) < 3000


@pytest.mark.parametrize("sub", ["list", "issues", "issue", "history", "scorecard", "baseline"])
def test_a_ten_thousand_character_argument_still_gets_an_answer(simulator, slack, sub):
    assert simulator.command("/partner", f"{sub} {'y' * 10_000}", user_id=ADA).status == 200
    message = responses(slack)[0]
    assert message["response_type"] == "ephemeral" and "Something went wrong" not in message["text"]


# --------------------------------------------------------------------------- /partner list

PEOPLE = [  # (name, market)
    ("Globex Partners", "EMEA"),
    ("Global Reach", "North America"),
    ("Initech", "EMEA mid-market"),
    ("Umbrella Consulting", "APAC"),
]


def test_partner_list_shows_every_partner_with_the_count(simulator, slack, make_partner):
    for name, market in PEOPLE:
        make_partner(name, market=market, channel_id=None)
    simulator.command("/partner", "list", user_id=RIYA)
    message = responses(slack)[0]
    assert message["response_type"] == "ephemeral"
    assert f"({len(PEOPLE)})" in message["text"]
    header = next(b for b in message["blocks"] if b["type"] == "header")
    assert f"({len(PEOPLE)})" in header["text"]["text"]
    assert sorted(listed_names(message)) == sorted(n for n, _ in PEOPLE)


def test_partner_list_filter_matches_name_or_market_with_the_count(simulator, slack, make_partner):
    for name, market in PEOPLE:
        make_partner(name, market=market, channel_id=None)
    for number, query in enumerate(("emea", "GLOB"), start=1):
        simulator.command("/partner", f"list {query}", user_id=RIYA)
        message = responses(slack, number)[-1]
        expected = sorted(n for n, m in PEOPLE if query.lower() in n.lower() or query.lower() in m.lower())
        assert expected  # the filter is meant to match something
        assert f"({len(expected)})" in message["text"] and query in message["text"]
        assert sorted(listed_names(message)) == expected


def test_partner_list_with_no_match_says_so(simulator, slack, make_partner):
    make_partner("Globex Partners")
    simulator.command("/partner", "list zzz", user_id=RIYA)
    message = responses(slack)[0]
    assert "zzz" in message["text"]
    assert listed_names(message) == []


def test_partner_list_with_more_partners_than_it_shows_gives_the_total(simulator, slack, make_partner):
    total = 45
    for number in range(total):
        make_partner(f"Partner {number:02d}", channel_id=None)
    simulator.command("/partner", "list", user_id=RIYA)
    message = responses(slack)[0]
    assert f"({total})" in message["text"]
    shown = listed_names(message)
    assert 0 < len(shown) < total
    assert len(set(shown)) == len(shown)
    assert f"Showing {len(shown)} of {total}" in json.dumps(message)


def test_partner_list_escapes_a_name_with_channel_mention_and_ampersand(simulator, slack, make_partner):
    make_partner("Acme <!channel> & Co", market="<@U0EVERYONE> & friends", channel_id=None)
    simulator.command("/partner", "list", user_id=RIYA)
    message = responses(slack)[0]
    text = mrkdwn_of(message)
    assert "Acme &lt;!channel&gt; &amp; Co" in text
    assert "&lt;@U0EVERYONE&gt; &amp; friends" in text
    assert "<!channel>" not in text and "<@U0EVERYONE>" not in text


def test_partner_list_filter_typed_with_special_characters_finds_the_partner(simulator, slack, make_partner):
    # Slack escapes &, < and > in command text: typing `/partner list <!channel> & co` sends the text below.
    make_partner("Acme <!channel> & Co", channel_id=None)
    make_partner("Initech", channel_id=None)
    typed = "<!channel> & co"
    sent = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    simulator.command("/partner", f"list {sent}", user_id=RIYA)
    message = responses(slack)[0]
    assert listed_names(message) == ["Acme &lt;!channel&gt; &amp; Co"]
    assert "(1)" in message["text"]
    assert "<!channel>" not in mrkdwn_of(message)


def test_partner_list_builder_escapes_the_query_in_the_mrkdwn_text(make_partner, sessions):
    # The list's top-level `text` is mrkdwn (Slack's default for a message's text) and is the
    # notification fallback, so a filter echoed in it must be escaped like everything else.
    make_partner("Acme <!channel> & Co", channel_id=None)
    with sessions() as session:
        found = list(session.scalars(select(Partner)))
    message = partner_list(found, total=len(found), query="<!channel> & co")
    assert "<!channel>" not in mrkdwn_of(message)


def test_partner_list_filter_treats_percent_and_underscore_literally(simulator, slack, make_partner):
    for name in ("50% Off Club", "500 Startups", "Acme_Labs", "AcmeXLabs"):
        make_partner(name, channel_id=None)
    simulator.command("/partner", "list 50%", user_id=RIYA)
    assert listed_names(responses(slack, 1)[-1]) == ["50% Off Club"]
    simulator.command("/partner", "list e_l", user_id=RIYA)
    assert listed_names(responses(slack, 2)[-1]) == ["Acme_Labs"]


# --------------------------------------------------------------------------- type-ahead search


def test_type_ahead_treats_percent_and_underscore_literally(simulator, make_partner, sessions):
    for name in ("50% Off Club", "500 Startups", "Big 50% Sale", "Acme_Labs", "AcmeXLabs", "Tiny_Co"):
        make_partner(name, channel_id=None)
    with sessions() as session:
        assert [r[1] for r in search(session, "50%")] == ["50% Off Club", "Big 50% Sale"]
        assert [r[1] for r in search(session, "%")] == ["50% Off Club", "Big 50% Sale"]
        assert [r[1] for r in search(session, "acme_")] == ["Acme_Labs"]
        assert [r[1] for r in search(session, "_")] == ["Acme_Labs", "Tiny_Co"]
    answer = simulator.suggest("partner_search", "e_l", user_id=RIYA)
    assert answer.status == 200
    assert [o["text"]["text"] for o in answer.json()["options"]] == ["Acme_Labs (silver)"]


def test_type_ahead_treats_backslash_literally(make_partner, sessions):
    make_partner("Back\\slash Ltd", channel_id=None)
    make_partner("Backslash Ltd", channel_id=None)
    with sessions() as session:
        assert [r[1] for r in search(session, "k\\s")] == ["Back\\slash Ltd"]


# --------------------------------------------------------------------------- CSV import (store level)

GLOBEX = "Globex Partners,reseller,gold,EMEA,Payments; Fraud Shield,C0GLOBEX01,U0MANAGERMIA"
INITECH = "Initech,referral,silver,NA,,,"
UMBRELLA = f"Umbrella Consulting,agency,bronze,APAC,Analytics,C0UMBRELLA,{NOAH}"


def _import(sessions, playbook, text, actor_id="cli"):
    with sessions() as session, session.begin():
        return import_partners_csv(session, text, playbook=playbook, actor_id=actor_id)


def _import_fails(sessions, playbook, text) -> list[tuple[int, str]]:
    with pytest.raises(ImportFailed) as info:
        _import(sessions, playbook, text)
    return info.value.problems


def test_import_adds_every_row_with_an_audit_event_each(sessions, playbook):
    report = _import(sessions, playbook, csv_text(GLOBEX, INITECH, UMBRELLA), actor_id="U0ADMIN001")
    assert (report.added, report.updated, report.unchanged) == (3, 0, 0)
    found = partners_by_name(sessions)
    assert sorted(found) == ["Globex Partners", "Initech", "Umbrella Consulting"]
    globex = found["Globex Partners"]
    assert (globex.type, globex.tier, globex.market) == ("reseller", "gold", "EMEA")
    assert globex.product_lines == ["Payments", "Fraud Shield"]
    assert (globex.channel_id, globex.manager_id) == ("C0GLOBEX01", "U0MANAGERMIA")
    initech = found["Initech"]
    assert (initech.channel_id, initech.manager_id, initech.product_lines) == (None, None, [])
    events = audit_actions(sessions)
    assert sorted(events) == sorted(("partner.added", "U0ADMIN001", p.id) for p in found.values())


def test_reimport_with_a_changed_tier_updates_by_name(sessions, playbook):
    _import(sessions, playbook, csv_text(GLOBEX, INITECH, UMBRELLA))
    before = partners_by_name(sessions)
    changed = INITECH.replace(",silver,", ",gold,")
    assert changed != INITECH
    report = _import(sessions, playbook, csv_text(GLOBEX, changed, UMBRELLA))
    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    after = partners_by_name(sessions)
    assert partner_count(sessions) == 3
    assert {n: p.id for n, p in after.items()} == {n: p.id for n, p in before.items()}  # same rows
    assert after["Initech"].tier == "gold"
    with sessions() as session:
        updates = session.scalars(select(AuditEvent).where(AuditEvent.action == "partner.updated")).all()
    assert len(updates) == 1
    assert updates[0].object_id == after["Initech"].id
    assert (updates[0].before["tier"], updates[0].after["tier"]) == ("silver", "gold")


def test_reimport_matches_names_whatever_the_case(sessions, playbook):
    _import(sessions, playbook, csv_text(INITECH))
    report = _import(sessions, playbook, csv_text(INITECH.replace("Initech", "INITECH").replace(",silver,", ",gold,")))
    assert (report.added, report.updated) == (0, 1)
    assert partner_count(sessions) == 1


def test_import_with_bad_rows_names_each_line_and_applies_nothing(sessions, playbook):
    _import(sessions, playbook, csv_text(GLOBEX))  # something already there, that the bad file would change
    count_before, audit_before = partner_count(sessions), audit_actions(sessions)

    good_change = GLOBEX.replace(",gold,", ",silver,")
    bad_tier = "Initech,referral,diamond,NA,,,"
    bad_manager = "Umbrella Consulting,agency,bronze,APAC,,C0UMBRELLA,mia"
    short = "Hooli,reseller,silver,NA"
    good_new = "Vandelay Industries,referral,gold,NA,,,"
    rows = [HEADER, good_change, bad_tier, bad_manager, short, good_new]
    bad = {bad_tier: "diamond", bad_manager: "mia", short: f"found {len(short.split(','))}"}
    expected_lines = {rows.index(row) + 1: clue for row, clue in bad.items()}  # 1-based line numbers
    assert sorted(expected_lines) == [3, 4, 5]

    problems = _import_fails(sessions, playbook, "\n".join(rows) + "\n")
    assert sorted({line for line, _ in problems}) == sorted(expected_lines)
    for line, clue in expected_lines.items():
        assert any(clue in message for number, message in problems if number == line), (line, problems)

    assert partner_count(sessions) == count_before
    assert audit_actions(sessions) == audit_before
    assert partners_by_name(sessions)["Globex Partners"].tier == "gold"


def test_import_line_numbers_count_blank_lines(sessions, playbook):
    bad_tier = "Initech,referral,diamond,NA,,,"
    lines = [HEADER, GLOBEX, "", bad_tier]
    problems = _import_fails(sessions, playbook, "\n".join(lines) + "\n")
    assert [line for line, _ in problems] == [lines.index(bad_tier) + 1]
    assert partner_count(sessions) == 0


def test_import_rejects_a_name_repeated_in_the_file(sessions, playbook):
    again = "ACME partners ,agency,gold,NA,,,"
    rows = [HEADER, "Acme Partners,reseller,silver,EMEA,,,", INITECH, again]
    problems = _import_fails(sessions, playbook, "\n".join(rows) + "\n")
    assert [line for line, _ in problems] == [rows.index(again) + 1]
    assert f"line {rows.index(rows[1]) + 1}" in problems[0][1]  # points at the first occurrence
    assert partner_count(sessions) == 0


@pytest.mark.parametrize("header", [
    "name,type,tier,market,channel_id,manager_id",                  # a column missing
    "partner,type,tier,market,product_lines,channel_id,manager_id",  # a column misnamed
    "Globex Partners,reseller,gold,EMEA,,C0GLOBEX01,U0MANAGERMIA",  # no header at all
])
def test_import_rejects_a_wrong_header_on_line_1(sessions, playbook, header):
    problems = _import_fails(sessions, playbook, "\n".join([header, INITECH]) + "\n")
    assert [line for line, _ in problems] == [1]
    assert HEADER in problems[0][1]  # says what the header must be
    assert partner_count(sessions) == 0


@pytest.mark.parametrize("text", ["", "\ufeff"])
def test_import_rejects_an_empty_file(sessions, playbook, text):
    problems = _import_fails(sessions, playbook, text)
    assert [line for line, _ in problems] == [1]
    assert "empty" in problems[0][1]


def test_import_of_a_header_only_file_changes_nothing(sessions, playbook):
    report = _import(sessions, playbook, HEADER + "\n")
    assert (report.added, report.updated, report.unchanged) == (0, 0, 0)
    assert partner_count(sessions) == 0


def test_import_splits_product_lines_on_semicolons(sessions, playbook):
    lines = [" Payments ", "Fraud Shield", "", " Analytics Cloud"]
    row = f"Acme,agency,gold,NA,{';'.join(lines)},,"
    _import(sessions, playbook, csv_text(row))
    assert partners_by_name(sessions)["Acme"].product_lines == [p.strip() for p in lines if p.strip()]


def test_import_accepts_a_byte_order_mark(sessions, playbook):
    report = _import(sessions, playbook, "\ufeff" + csv_text(INITECH))
    assert report.added == 1
    assert list(partners_by_name(sessions)) == ["Initech"]


def test_import_accepts_windows_line_endings_and_quoted_commas(sessions, playbook):
    text = "\r\n".join([HEADER, '"Smith, Jones & Co",agency,gold,"EMEA, APAC",,,', INITECH]) + "\r\n"
    report = _import(sessions, playbook, text)
    assert report.added == 2
    found = partners_by_name(sessions)
    assert found["Smith, Jones & Co"].market == "EMEA, APAC"
