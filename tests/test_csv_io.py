"""CSV in and out: `partnerbot export leads|actions|escalations` and `partnerbot import leads`, run
through the real CLI entry (bot.cli.main) against the test database (SQLite or Postgres) and the
Slack stand-in, which records what the import's delivery really posted."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.cli import main
from bot.slack import Slack
from store import events, exports, home, lead_import, outbox
from store.handoffs import create_handoff, validate_draft
from store.models import ActionItem, Escalation, Lead, LeadConflict, OutboxMessage, Partner
from tests.conftest import BEA, MIA, NOAH, OMAR, RIYA, STAN, TEST_PLAYBOOK, TOKEN

SAM = "U0SENDERSAM"
REPO = Path(__file__).resolve().parent.parent
ENVIRONMENT = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "DATABASE_URL",
               "PLAYBOOK_PATH", "PORT", "PUBLIC_URL", "WEB_CONCURRENCY", "LOG_LEVEL")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def run(settings, sessions, tmp_path, monkeypatch, capsys):
    """`partnerbot ARGS...` in-process, with the test database, the stand-in and the test playbook
    (America/New_York). `sessions` first: the tables are emptied before the command runs."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(TEST_PLAYBOOK)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", settings.slack_api_url)
    monkeypatch.setenv("PLAYBOOK_PATH", str(playbook))
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def refs_of(text: str) -> list[str]:
    return [row["ref"] for row in rows_of(text)]


def reported_lines(err: str, path: Path) -> list[int]:
    return sorted({int(n) for n in re.findall(rf"{re.escape(str(path))}:(\d+):", err)})


def count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


# --------------------------------------------------------------------------- export: a small fixed world


@pytest.fixture
def world(sessions, make_partner):
    """Two partners, two leads either side of midnight 2026-11-02 in New York (05:00Z, EST), four
    actions and four escalations (via a lead, via an action, via an action of the other partner, none)."""
    globex = make_partner("Globex Partners", channel_id="C0GLOBEX01", manager_id=MIA)
    initech = make_partner("Initech", channel_id="C0INITECH1", manager_id=NOAH)
    with sessions() as session, session.begin():
        session.add_all([
            Lead(partner_id=globex, direction="to_partner", company="Acme Corp", domain="acme.com",
                 contact_name="Ada Lovelace", contact_email="ada@acme.com", consent=True,
                 problem="Invoices take two days, every month.", next_steps='Intro call "Tuesday"',
                 estimated_value=Decimal("48000"), product_line="Analytics", stage="accepted", sender_id=RIYA,
                 primary_owner_id=OMAR, backup_owner_id=BEA, created_at=utc(2026, 11, 2, 5, 0, 0),
                 accept_by=utc(2026, 11, 2, 18), first_outreach_by=utc(2026, 11, 3, 18),
                 accepted_at=utc(2026, 11, 2, 14, 5, 0, 999_000), accepted_by=OMAR),
            Lead(partner_id=initech, direction="from_partner", company="Umbrella GmbH", domain="umbrella.de",
                 consent=False, problem="Line one\nline two", next_steps="Demo", stage="closed_won",
                 sender_id=BEA, primary_owner_id=STAN, created_at=utc(2026, 11, 2, 4, 59, 59),
                 accept_by=utc(2026, 11, 2, 18), first_outreach_by=utc(2026, 11, 3, 18),
                 qualification_score=Decimal("87.5"), closed_at=utc(2026, 11, 20, 10, 30),
                 closed_amount=Decimal("12500.5")),
        ])
        session.flush()
        session.add_all([
            ActionItem(title="Run an enablement session", owner_id=MIA, created_by=NOAH, due_date=dt.date(2026, 11, 10),
                       priority="high", status="open", partner_id=globex, lead_id=1, created_at=utc(2026, 11, 3, 15)),
            ActionItem(title="=HYPERLINK(\"http://x.example\",\"win\")", owner_id=NOAH, created_by=NOAH,
                       due_date=dt.date(2026, 11, 12), priority="low", status="done", partner_id=initech,
                       outcome="a = b, fine", done_at=utc(2026, 11, 11, 9), done_by=NOAH,
                       created_at=utc(2026, 11, 1, 12)),
            ActionItem(title="Tidy the playbook", owner_id=MIA, created_by=MIA, due_date=dt.date(2026, 12, 1),
                       priority="medium", status="open", created_at=utc(2026, 11, 4, 10)),
        ])
        session.flush()
        session.add_all([
            Escalation(kind="discount", about="Acme discount", reason="+15% asked by the buyer", severity="high",
                       requester_id=OMAR, lead_id=1, level=0, approver_ids=[MIA, NOAH],
                       level_due_at=utc(2026, 11, 4, 17), created_at=utc(2026, 11, 3, 16)),
            Escalation(kind="exception", about="Initech terms", reason="Longer payment terms", severity="low",
                       requester_id=NOAH, action_id=2, level=1, approver_ids=[MIA], status="approved",
                       decided_by=MIA, decided_at=utc(2026, 11, 6, 12), decision_note="@channel ok, once",
                       level_due_at=utc(2026, 11, 7, 17), created_at=utc(2026, 11, 5, 9)),
            Escalation(kind="other", about="Enablement slipping", reason="No date yet", severity="medium",
                       requester_id=MIA, action_id=1, level=0, approver_ids=[NOAH],
                       level_due_at=utc(2026, 11, 9, 17), created_at=utc(2026, 11, 6, 9)),
            Escalation(kind="other", about="General", reason="Not tied to anything", severity="low",
                       requester_id=STAN, level=0, approver_ids=[], level_due_at=utc(2026, 11, 9, 17),
                       created_at=utc(2026, 11, 6, 10)),
        ])
    return {"globex": globex, "initech": initech}


LEADS_HEADER = ("ref,partner,direction,company,domain,contact_name,contact_email,consent,problem,value_proposition,"
                "next_steps,estimated_value,product_line,stage,sender,primary_owner,backup_owner,created_at,accept_by,"
                "first_outreach_by,accepted_at,accepted_by,declined_at,declined_by,decline_reason,first_outreach_at,"
                "passed_to_backup_at,qualification_score,closed_at,closed_amount,close_reason")


def test_export_leads_is_this_exact_csv(world, run):
    code, out, err = run("export", "leads")
    assert code == 0, err
    assert out == (
        LEADS_HEADER + "\r\n"
        'L-1001,Globex Partners,to_partner,Acme Corp,acme.com,Ada Lovelace,ada@acme.com,yes,'
        '"Invoices take two days, every month.",,"Intro call ""Tuesday""",48000.00,Analytics,accepted,'
        'U0REPRIYA,U0OWNEROMAR,U0BACKUPBEA,2026-11-02T05:00:00Z,2026-11-02T18:00:00Z,2026-11-03T18:00:00Z,'
        '2026-11-02T14:05:00Z,U0OWNEROMAR,,,,,,,,,\r\n'
        'L-1002,Initech,from_partner,Umbrella GmbH,umbrella.de,,,no,"Line one\nline two",,Demo,,,closed_won,'
        'U0BACKUPBEA,U0STRANGER,,2026-11-02T04:59:59Z,2026-11-02T18:00:00Z,2026-11-03T18:00:00Z,'
        ',,,,,,,87.50,2026-11-20T10:30:00Z,12500.50,\r\n'
    )
    assert all(len(row) == 31 for row in csv.reader(io.StringIO(out)))


def test_export_actions_and_escalations_columns(world, run):
    code, out, err = run("export", "actions")
    assert code == 0, err
    actions = rows_of(out)
    assert [a["ref"] for a in actions] == ["A-1001", "A-1002", "A-1003"]
    assert actions[0] == {
        "ref": "A-1001", "title": "Run an enablement session", "partner": "Globex Partners", "lead": "L-1001",
        "issue": "", "owner": MIA, "priority": "high", "status": "open", "due_date": "2026-11-10",
        "success_criteria": "", "impact_estimate": "", "snoozed_until": "", "outcome": "", "done_at": "",
        "done_by": "", "created_by": NOAH, "created_at": "2026-11-03T15:00:00Z"}
    assert (actions[1]["done_at"], actions[1]["outcome"]) == ("2026-11-11T09:00:00Z", "a = b, fine")
    assert actions[2]["partner"] == "" and actions[2]["lead"] == ""

    code, out, err = run("export", "escalations")
    assert code == 0, err
    escalations = {e["ref"]: e for e in rows_of(out)}
    assert list(escalations) == ["E-1001", "E-1002", "E-1003", "E-1004"]
    assert escalations["E-1001"]["approvers"] == f"{MIA};{NOAH}"
    assert escalations["E-1001"]["level"] == "1"  # the ladder's first level, stored as index 0
    assert escalations["E-1002"]["level"] == "2"
    assert (escalations["E-1002"]["status"], escalations["E-1002"]["decided_by"],
            escalations["E-1002"]["decided_at"]) == ("approved", MIA, "2026-11-06T12:00:00Z")
    assert escalations["E-1004"]["approvers"] == ""


def test_escalations_belong_to_a_partner_through_their_lead_or_their_action(world, run):
    _code, out, _err = run("export", "escalations")
    by_ref = {e["ref"]: e for e in rows_of(out)}
    assert {ref: (e["partner"], e["lead"], e["action"]) for ref, e in by_ref.items()} == {
        "E-1001": ("Globex Partners", "L-1001", ""),  # via its lead
        "E-1002": ("Initech", "", "A-1002"),  # via its action
        "E-1003": ("Globex Partners", "", "A-1001"),  # via its action
        "E-1004": ("", "", ""),  # neither: no partner
    }
    code, out, err = run("export", "escalations", "--partner", "Globex Partners")
    assert code == 0, err
    assert refs_of(out) == ["E-1001", "E-1003"]
    _code, out, _err = run("export", "escalations", "--partner", "initech")
    assert refs_of(out) == ["E-1002"]


def test_since_is_a_date_in_the_playbooks_time_zone(world, run):
    # L-1001 was created at 00:00 on 2 Nov in New York, L-1002 one second before.
    _code, out, _err = run("export", "leads", "--since", "2026-11-02")
    assert refs_of(out) == ["L-1001"]
    _code, out, _err = run("export", "leads", "--since", "2026-11-01")
    assert refs_of(out) == ["L-1001", "L-1002"]
    code, out, err = run("export", "leads", "--since", "2026-11-03")
    assert code == 0, err
    assert out == LEADS_HEADER + "\r\n"  # nothing since: still a header
    _code, out, _err = run("export", "actions", "--since", "2026-11-02")
    assert refs_of(out) == ["A-1001", "A-1003"]
    _code, out, _err = run("export", "escalations", "--since", "2026-11-06", "--partner", "GLOBEX PARTNERS")
    assert refs_of(out) == ["E-1003"]


def test_partner_filter_is_case_insensitive(world, run):
    _code, out, _err = run("export", "leads", "--partner", "  globex PARTNERS ")
    assert refs_of(out) == ["L-1001"]
    _code, out, _err = run("export", "actions", "--partner", "INITECH")
    assert refs_of(out) == ["A-1002"]


def test_an_unknown_partner_is_an_error_that_names_it_and_suggests(world, run, tmp_path):
    target = tmp_path / "out.csv"
    code, out, err = run("export", "leads", "--partner", "Globx Partners", "--output", str(target))
    assert code == 1
    assert out == ""
    assert "'Globx Partners'" in err and "did you mean Globex Partners?" in err
    assert not target.exists()
    code, out, err = run("export", "escalations", "--partner", "Zzyzx")
    assert code == 1 and out == ""
    assert "'Zzyzx'" in err and "did you mean" not in err


@pytest.mark.parametrize("since", ["2026-13-01", "yesterday", "02/11/2026"])
def test_a_bad_since_is_a_usage_error(world, run, since):
    code, out, err = run("export", "leads", "--since", since)
    assert code == 2 and out == ""
    assert "--since" in err and repr(since) in err and "2026-11-03" in err


def test_output_file_has_a_bom_for_excel_and_the_same_rows(world, run, tmp_path):
    target = tmp_path / "leads.csv"
    code, out, err = run("export", "leads", "--output", str(target))
    assert code == 0, err
    assert out.strip() == f"{target}: 2 leads written"
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf" + b"ref,partner,")
    _code, stdout_text, _err = run("export", "leads")
    assert not stdout_text.startswith("\ufeff")
    assert raw.decode("utf-8-sig") == stdout_text


def test_output_to_a_folder_that_does_not_exist_is_a_clear_error(world, run, tmp_path):
    code, _out, err = run("export", "leads", "--output", str(tmp_path / "no" / "such" / "x.csv"))
    assert code == 2
    assert "--output" in err and "Traceback" not in err


def test_formula_cells_get_a_leading_apostrophe(world, run):
    _code, out, _err = run("export", "actions")
    titles = {a["ref"]: a["title"] for a in rows_of(out)}
    assert titles["A-1002"] == "'=HYPERLINK(\"http://x.example\",\"win\")"
    assert titles["A-1001"] == "Run an enablement session"
    _code, out, _err = run("export", "escalations")
    by_ref = {e["ref"]: e for e in rows_of(out)}
    assert by_ref["E-1001"]["reason"] == "'+15% asked by the buyer"
    assert by_ref["E-1002"]["decision_note"] == "'@channel ok, once"
    assert by_ref["E-1003"]["reason"] == "No date yet"


@pytest.mark.parametrize("text, guarded", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-2 weeks", "'-2 weeks"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), ("'quoted", "'quoted"), ("48000.00", "48000.00"),
])
def test_guard_and_unguard(text, guarded):
    assert exports.guard(text) == guarded
    assert exports.unguard(guarded) == text


def test_export_streams_in_batches(world, run, monkeypatch, sessions):
    monkeypatch.setattr(exports, "BATCH", 2)  # three round trips for five leads
    with sessions() as session, session.begin():
        for n in range(3):
            session.add(Lead(partner_id=world["globex"], direction="from_partner", company=f"Extra {n}",
                             problem="p", next_steps="n", stage="handed_off", sender_id=RIYA, primary_owner_id=OMAR,
                             created_at=utc(2026, 11, 10 + n), accept_by=utc(2026, 11, 11),
                             first_outreach_by=utc(2026, 11, 12)))
    _code, out, _err = run("export", "leads")
    assert refs_of(out) == ["L-1001", "L-1002", "L-1003", "L-1004", "L-1005"]


# --------------------------------------------------------------------------- import: partners and an existing lead

IMPORT_HEADER = ("partner,direction,company,domain,contact_name,contact_email,consent,problem,next_steps,"
                 "estimated_value,primary_owner,backup_owner,sender")


@pytest.fixture
def partners(make_partner):
    return {
        "globex": make_partner("Globex Partners", channel_id="C0GLOBEX01", manager_id=MIA),
        "initech": make_partner("Initech", channel_id="C0INITECH1", manager_id=NOAH),
        "hooli": make_partner("Hooli", channel_id=None, manager_id=None),
    }


@pytest.fixture
def existing_lead(partners, sessions, playbook, slack):
    """L-1001: Globex has acme.com, handed off through the store, its card already in Slack."""
    form = {"partner": str(partners["globex"]), "direction": "from_partner", "company": "Acme Corp",
            "domain": "acme.com", "problem": "Slow invoicing", "next_steps": "Call", "primary_owner": OMAR}
    with sessions() as session, session.begin():
        result = create_handoff(session, draft=validate_draft(form, playbook=playbook), sender_id=RIYA,
                                playbook=playbook)
    written = events.written(session)
    report = outbox.deliver(sessions, Slack(WebClient(token=TOKEN, base_url=slack.url)), ids=written)
    assert len(report.sent) == len(written)
    return result.lead.id


def write(tmp_path: Path, text: str, name: str = "leads.csv", *, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def posts_to(slack, channel: str) -> list[str]:
    return [c.args.get("text", "") for c in slack.calls_for("chat.postMessage") if c.args.get("channel") == channel]


def card_text(call) -> str:
    return "\n".join(str(block) for block in call.args.get("blocks", []))


def test_import_three_rows_hands_them_off_finds_conflicts_and_posts_the_cards(existing_lead, run, slack, sessions,
                                                                              tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\n"
                 "Initech,to_partner,Acme Inc,acme.com,Ada,ada@acme.com,yes,Needs reconciliation,Intro call,"
                 "\"48,000\",<@U0OWNEROMAR>,U0BACKUPBEA,U0REPRIYA\n"
                 "hooli,from_partner,Umbrella,umbrella.com,,,,Security review,Demo,,U0BACKUPBEA,,U0REPRIYA\n"
                 "Globex Partners,to_partner,Umbrella Corp,https://www.umbrella.com/about,,,no,Same customer,Call,"
                 "1000,U0STRANGER,,\n")
    before_calls = len(slack.calls)
    code, out, err = run("import", "leads", str(path), "--sender", SAM)
    assert code == 0, err
    # 13 messages: per lead an owner card and a sender confirmation (6), channel notices for Initech and
    # Globex (2), conflict DMs to both managers for L-1002 and to Globex's for L-1004 (3), and edits of
    # L-1001's card and channel notice, already in Slack (2). L-1003's card, still waiting, was re-rendered.
    assert out.splitlines() == [
        f"{path}: 3 lead(s) imported (L-1002, L-1003, L-1004), 3 with possible conflicts (L-1002, L-1003, L-1004), "
        "0 likely duplicate(s)",
        "  L-1002 may conflict with L-1001 (the partner managers are told)",
        "  L-1003 may conflict with L-1004 (the partner managers are told)",
        "  L-1004 may conflict with L-1003 (the partner managers are told)",
        "Slack: owner cards 3 sent, 0 waiting; all messages 13 sent, 0 waiting",
    ]

    with sessions() as session:
        leads = {lead.ref: lead for lead in session.scalars(select(Lead).order_by(Lead.id))}
        pairs = set(session.execute(select(LeadConflict.lead_id, LeadConflict.other_lead_id)).all())
        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.status != "sent")) == 0
    assert list(leads) == ["L-1001", "L-1002", "L-1003", "L-1004"]
    assert pairs == {(2, 1), (1, 2), (3, 4), (4, 3)}  # with the existing lead, and between two rows of the file
    assert (leads["L-1002"].partner_id, leads["L-1002"].primary_owner_id, leads["L-1002"].backup_owner_id,
            leads["L-1002"].estimated_value, leads["L-1002"].consent) == (2, OMAR, BEA, Decimal("48000.00"), True)
    assert (leads["L-1003"].partner_id, leads["L-1003"].sender_id, leads["L-1003"].consent) == (3, RIYA, False)
    assert (leads["L-1004"].domain, leads["L-1004"].sender_id) == ("umbrella.com", SAM)  # --sender filled the gap

    # The owners' cards reached the stand-in, each with its conflict.
    new_calls = slack.calls[before_calls:]
    cards = {c.args["channel"]: c for c in new_calls
             if c.method == "chat.postMessage" and c.ok and c.args.get("text", "").startswith("L-10")
             and c.args["channel"] in (OMAR, BEA, STAN)}
    assert cards[OMAR].args["text"].startswith("L-1002 · Acme Inc")
    assert cards[BEA].args["text"].startswith("L-1003 · Umbrella")
    assert cards[STAN].args["text"].startswith("L-1004 · Umbrella Corp")
    assert "L-1001" in card_text(cards[OMAR]) and "Possible conflict" in card_text(cards[OMAR])
    assert "L-1004" in card_text(cards[BEA])  # rendered again before it went out: it knows of the later row
    assert "L-1003" in card_text(cards[STAN])
    # The partner managers heard of both conflicts; the existing card was edited in place.
    assert "Possible conflict: L-1002 and L-1001" in posts_to(slack, MIA)
    assert "Possible conflict: L-1004 and L-1003" in posts_to(slack, MIA)
    assert "Possible conflict: L-1002 and L-1001" in posts_to(slack, NOAH)
    updates = [c for c in new_calls if c.method == "chat.update" and c.ok]
    assert any(c.args["text"].startswith("L-1001") and "L-1002" in card_text(c) for c in updates)
    # Channel notices and sender confirmations.
    assert any(t.startswith("L-1002") for t in posts_to(slack, "C0INITECH1"))
    assert any(t.startswith("L-1004") for t in posts_to(slack, "C0GLOBEX01"))
    assert [t for t in posts_to(slack, RIYA) if "handed off" in t][-2:] == [
        f"L-1002 handed off to <@{OMAR}>", f"L-1003 handed off to <@{BEA}>"]
    assert posts_to(slack, SAM) == [f"L-1004 handed off to <@{STAN}>"]


def test_same_partner_and_domain_in_a_file_is_a_likely_duplicate(partners, run, sessions, tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\n"
                 "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
                 "Hooli,from_partner,Acme again,www.acme.com,,,,P,N,,U0BACKUPBEA,,U0REPRIYA\n")
    code, out, err = run("import", "leads", str(path))
    assert code == 0, err
    assert "2 lead(s) imported (L-1001, L-1002), 0 with possible conflicts, 1 likely duplicate(s)" in out
    assert "  L-1002 looks like a duplicate of L-1001 (same partner and domain)" in out.splitlines()


# --------------------------------------------------------------------------- import: bad files apply nothing


def test_bad_rows_on_lines_3_and_5_are_all_reported_and_nothing_is_imported(existing_lead, run, slack, sessions,
                                                                            tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\n"
                 "Initech,from_partner,Good one,good.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
                 "Initec,from_partner,Typo,typo.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
                 "Hooli,from_partner,Good two,good2.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
                 "Hooli,sideways,Bad,bad.com,Bo,bo@,maybe,P,,-5,bob,,U0REPRIYA\n")
    leads_before, outbox_before, calls_before = count(sessions, Lead), count(sessions, OutboxMessage), len(slack.calls)
    code, out, err = run("import", "leads", str(path))
    assert code == 1
    assert out == ""
    assert reported_lines(err, path) == [3, 5]
    assert "nothing was imported" in err
    problems = [line.strip() for line in err.splitlines()[1:]]
    assert problems == [
        f"{path}:3: partner: no partner called 'Initec' (did you mean Initech?)",
        f"{path}:5: direction: write to_partner or from_partner (got 'sideways')",
        f"{path}:5: contact_email: That doesn't look like an email address (name@company.com).",
        f"{path}:5: consent: write yes or no (got 'maybe')",
        f"{path}:5: next_steps: Write the agreed next steps.",
        f"{path}:5: estimated_value: Enter an amount as a positive number, like 25000.",
        f"{path}:5: primary_owner: 'bob' is not a Slack user id (like U0123ABCD or <@U0123ABCD>)",
    ]
    assert (count(sessions, Lead), count(sessions, OutboxMessage)) == (leads_before, outbox_before) == (1, 3)
    assert len(slack.calls) == calls_before  # nothing was sent


def test_a_quoted_multi_line_field_shifts_the_line_numbers(partners, run, sessions, tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\n"                                  # line 1
                 'Hooli,from_partner,Good,good.com,,,,"Problem line one\n'     # line 2
                 "line two\n"                                                    # line 3
                 'line three",N,,U0OWNEROMAR,,U0REPRIYA\n'                       # line 4
                 'Hooli,from_partner,Bad,not a domain,,,,P,"Call\n'            # line 5: bad domain
                 'then mail",,U0OWNEROMAR,,U0REPRIYA\n'                          # line 6
                 "\n"                                                            # line 7: blank
                 "Hooli,from_partner,Short row\n")                               # line 8: 3 columns
    code, _out, err = run("import", "leads", str(path))
    assert code == 1
    assert reported_lines(err, path) == [5, 8]
    assert f"{path}:5: domain: Enter the company's web domain, like acme.com or https://www.acme.com." in err
    assert f"{path}:8: expected 13 columns as in the header, found 3" in err
    assert count(sessions, Lead) == 0


def test_no_sender_column_and_no_sender_option_is_refused_on_line_1(partners, run, sessions, tmp_path):
    path = write(tmp_path, "partner,direction,company,problem,next_steps,primary_owner\n"
                 "Hooli,from_partner,Acme,P,N,U0OWNEROMAR\n")
    code, out, err = run("import", "leads", str(path))
    assert code == 1 and out == ""
    assert reported_lines(err, path) == [1]
    assert f"{path}:1: sender: the file has no sender column and no --sender was given" in err
    assert count(sessions, Lead) == 0

    code, out, err = run("import", "leads", str(path), "--sender", f"<@{RIYA}>")  # a mention works too
    assert code == 0, err
    assert "1 lead(s) imported (L-1001)" in out
    with sessions() as session:
        assert session.scalar(select(Lead.sender_id)) == RIYA


def test_an_empty_sender_cell_without_sender_option_names_the_row(partners, run, sessions, tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\n"
                 "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
                 "Hooli,from_partner,Initrode,initrode.com,,,,P,N,,U0OWNEROMAR,,\n")
    code, _out, err = run("import", "leads", str(path))
    assert code == 1
    assert err.splitlines()[1:] == [f"  {path}:3: sender: empty: fill in who hands this lead off, or pass --sender"]
    assert count(sessions, Lead) == 0


def test_a_malformed_sender_option_is_a_usage_error(partners, run, tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\n")
    code, _out, err = run("import", "leads", str(path), "--sender", "riya")
    assert code == 2
    assert "--sender" in err and "'riya'" in err


def test_header_problems_are_reported_on_line_1_with_the_expected_columns(partners, run, sessions, tmp_path):
    path = write(tmp_path, "partner,direction,company,colour,next_steps,primary_owner,sender\n"
                 "Hooli,from_partner,Acme,red,N,U0OWNEROMAR,U0REPRIYA\n")
    code, _out, err = run("import", "leads", str(path))
    assert code == 1
    assert reported_lines(err, path) == [1]
    unknown = next(line for line in err.splitlines() if "unknown column" in line)
    missing = next(line for line in err.splitlines() if "missing required" in line)
    assert "'colour'" in unknown and "partner,direction,company,domain," in unknown
    assert "missing required column(s) problem;" in missing
    assert "(required: partner, direction, company, problem, next_steps, primary_owner)" in missing
    assert count(sessions, Lead) == 0


def test_an_empty_file_is_refused_and_a_header_only_file_imports_nothing(partners, run, sessions, tmp_path):
    code, _out, err = run("import", "leads", str(write(tmp_path, "", "empty.csv")))
    assert code == 1
    assert "empty.csv:1: the file is empty; the first line must be a header" in err

    path = write(tmp_path, IMPORT_HEADER + "\n\n\n", "header.csv", bom=True)
    code, out, err = run("import", "leads", str(path))
    assert code == 0, err
    assert out.strip() == f"{path}: the file has no rows; nothing was imported."
    assert count(sessions, Lead) == 0


def test_a_bom_blank_lines_and_crlf_are_fine(partners, run, sessions, tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\r\n\r\n"
                 "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\r\n\r\n", bom=True)
    code, out, err = run("import", "leads", str(path))
    assert code == 0, err
    assert "1 lead(s) imported (L-1001)" in out
    with sessions() as session:
        assert session.scalar(select(Lead.company)) == "Acme"


def test_a_missing_file_exits_2(partners, run, tmp_path):
    code, _out, err = run("import", "leads", str(tmp_path / "nope.csv"))
    assert code == 2
    assert "nope.csv: no such file" in err


# --------------------------------------------------------------------------- import: Slack down


def test_when_slack_is_down_the_messages_wait_in_the_outbox_for_the_clock(partners, run, slack, sessions, tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\n"
                 "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n")
    slack.fail_next("chat.postMessage", status=503, times=4)  # both messages: a first try and one retry each
    code, out, err = run("import", "leads", str(path))
    assert code == 0, err
    assert "1 lead(s) imported (L-1001)" in out
    assert "Slack: owner cards 0 sent, 1 waiting; all messages 0 sent, 2 waiting" in out
    assert "wait in the outbox" in out and "partnerbot clock" in out
    assert posts_to(slack, OMAR) == []

    code, out, _err = run("outbox")
    assert "2 message(s) waiting" in out and "503" in out

    report = outbox.deliver(sessions, Slack(WebClient(token=TOKEN, base_url=slack.url)),
                            now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))  # as the clock would, later
    assert len(report.sent) == 2
    assert [t.split(" — ")[0] for t in posts_to(slack, OMAR)] == ["L-1001 · Acme"]


def test_delivery_stops_at_the_first_sign_of_trouble(partners, sessions, playbook, slack):
    with sessions() as session, session.begin():
        for company, domain in (("Acme", "acme.com"), ("Initrode", "initrode.com")):
            form = {"partner": str(partners["hooli"]), "direction": "from_partner", "company": company,
                    "domain": domain, "problem": "P", "next_steps": "N", "primary_owner": OMAR}
            create_handoff(session, draft=validate_draft(form, playbook=playbook), sender_id=RIYA, playbook=playbook)
    ids = events.written(session)
    slack.fail_next("chat.postMessage", status=500, times=1)  # a plain WebClient does not retry a 500
    report = lead_import.deliver(sessions, Slack(WebClient(token=TOKEN, base_url=slack.url)), ids, batch=1)
    assert (report.sent, report.retrying) == ([], [ids[0]])  # the other three were not even tried
    with sessions() as session:
        assert lead_import.delivery_state(session, ids)["all"] == lead_import.Delivered(sent=0, waiting=4, failed=0)
        attempts = session.scalars(select(OutboxMessage.attempts).order_by(OutboxMessage.id)).all()
    assert attempts == [1, 0, 0, 0]


# --------------------------------------------------------------------------- round trip


def test_an_exported_file_imports_again(partners, run, sessions, tmp_path):
    original = write(tmp_path, IMPORT_HEADER + "\n"
                     '=Acme,to_partner,"=SUM(A1:A2)",acme.com,"-Ada, PhD",ada@acme.com,yes,"Two lines\nof problem",'
                     '"@team: call",1234.5,<@U0OWNEROMAR>,U0BACKUPBEA,U0REPRIYA\n'
                     "Hooli,from_partner,Initrode,initrode.com,,,no,P,N,,U0STRANGER,,U0SENDERSAM\n")
    code, _out, err = run("import", "partners", str(write(tmp_path,
                          "name,type,tier,market,product_lines,channel_id,manager_id\n"
                          "=Acme,reseller,silver,NA,,,\n", "partners.csv")))
    assert code == 0, err
    code, _out, err = run("import", "leads", str(original))
    assert code == 0, err

    first = tmp_path / "first.csv"
    code, _out, err = run("export", "leads", "--output", str(first))
    assert code == 0, err
    exported = rows_of(first.read_text(encoding="utf-8-sig"))
    assert (exported[0]["partner"], exported[0]["company"], exported[0]["contact_name"],
            exported[0]["next_steps"]) == ("'=Acme", "'=SUM(A1:A2)", "'-Ada, PhD", "'@team: call")

    code, out, err = run("import", "leads", str(first))  # no --sender: the export has a sender column
    assert code == 0, err
    assert "2 lead(s) imported (L-1003, L-1004), 0 with possible conflicts, 2 likely duplicate(s)" in out
    assert "  ignored export-only column(s): ref, stage, created_at, accept_by," in out

    _code, out, _err = run("export", "leads")
    rows = rows_of(out)
    kept = ("partner", "direction", "company", "domain", "contact_name", "contact_email", "consent", "problem",
            "value_proposition", "next_steps", "estimated_value", "product_line", "stage", "sender",
            "primary_owner", "backup_owner")
    assert [{k: r[k] for k in kept} for r in rows[2:]] == [{k: r[k] for k in kept} for r in rows[:2]]
    assert rows[0]["estimated_value"] == "1234.50" and rows[0]["problem"] == "Two lines\nof problem"
    with sessions() as session:  # stored as typed, without the export's guard
        assert session.scalars(select(Lead.company).order_by(Lead.id)).all() == [
            "=SUM(A1:A2)", "Initrode", "=SUM(A1:A2)", "Initrode"]


# --------------------------------------------------------------------------- hardening: what a file can hold


def test_a_nul_in_a_lead_cell_is_refused_naming_the_line_and_column(partners, run, sessions, tmp_path):
    path = write(tmp_path, IMPORT_HEADER + "\n"
                 "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
                 "Hooli,from_partner,Init\x00rode,initrode.com,,,,P\x00,N,,U0OWNEROMAR,,U0REPRIYA\n")
    code, out, err = run("import", "leads", str(path))
    assert code == 1 and out == ""
    assert "Traceback" not in err and "DataError" not in err
    assert reported_lines(err, path) == [3]
    assert f"{path}:3: company: contains a NUL character" in err and f"{path}:3: problem: contains a NUL" in err
    assert "UTF-8" in err  # says what to do about it
    assert count(sessions, Lead) == 0


def test_a_nul_in_a_partner_cell_is_refused_the_same_way(run, sessions, tmp_path):
    path = write(tmp_path, "name,type,tier,market,product_lines,channel_id,manager_id\n"
                 "Globex,reseller,gold,NA,,,\n"
                 "Init\x00ech,referral,silver,NA,,,\n", "partners.csv")
    code, _out, err = run("import", "partners", str(path))
    assert code == 1 and "Traceback" not in err
    assert f"{path}:3: name: contains a NUL character" in err
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Partner)) == 0


@pytest.mark.parametrize("kind", ["leads", "partners"])
def test_a_cell_past_the_csv_limit_is_refused_with_its_line(partners, run, sessions, tmp_path, kind):
    long = "x" * 131_073
    if kind == "leads":
        text = (IMPORT_HEADER + "\n" "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
                f"Hooli,from_partner,Acme,acme.com,,,,{long},N,,U0OWNEROMAR,,U0REPRIYA\n")
    else:
        text = f"name,type,tier,market,product_lines,channel_id,manager_id\nNew,reseller,gold,{long},,,\n"
    path = write(tmp_path, text, f"{kind}.csv")
    leads, partners_before = count(sessions, Lead), count(sessions, Partner)
    code, _out, err = run("import", kind, str(path))
    assert code == 1 and "Traceback" not in err
    assert reported_lines(err, path) == [3 if kind == "leads" else 2]
    assert "131,072 characters" in err and "quote" in err
    assert (count(sessions, Lead), count(sessions, Partner)) == (leads, partners_before)


def test_a_quote_never_closed_is_reported_where_it_opens(partners, run, sessions, tmp_path):
    filler = "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n" * 3000
    path = write(tmp_path, IMPORT_HEADER + "\n" 'Hooli,from_partner,"Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n'
                 + filler)
    code, _out, err = run("import", "leads", str(path))
    assert code == 1 and "Traceback" not in err
    assert reported_lines(err, path) == [2]
    assert count(sessions, Lead) == 0


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(partners, run, sessions, tmp_path):
    row = "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
    path = write(tmp_path, IMPORT_HEADER + "\n" + row * (10_000_000 // len(row) + 1))
    assert path.stat().st_size > 10_000_000  # the documented limit: 10 MB
    code, out, err = run("import", "leads", str(path))
    assert code == 1 and out == "" and "Traceback" not in err
    assert "10 MB" in err and "split" in err
    assert count(sessions, Lead) == 0


def test_a_file_over_the_row_limit_is_refused_before_anything_is_handed_off(partners, run, sessions, tmp_path):
    row = "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
    path = write(tmp_path, IMPORT_HEADER + "\n" + row * 10_001)  # the documented limit: 10,000 rows
    code, out, err = run("import", "leads", str(path))
    assert code == 1 and out == ""
    assert f"{path}:10002: more than 10,000 rows" in err and "split" in err
    assert count(sessions, Lead) == 0


def test_a_long_import_shows_its_progress(partners, run, sessions, tmp_path, monkeypatch):
    monkeypatch.setattr(lead_import, "PROGRESS_EVERY", 2)
    rows = [f"Hooli,from_partner,Company {n},company{n}.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n" for n in range(5)]
    path = write(tmp_path, IMPORT_HEADER + "\n" + "".join(rows))
    code, out, err = run("import", "leads", str(path))
    assert code == 0, err
    assert "5 lead(s) imported" in out
    progress = [line.strip() for line in err.splitlines()]
    assert progress == [f"{path}: 5 rows checked; handing off 5 leads…",
                        f"{path}: 2 of 5 handed off", f"{path}: 4 of 5 handed off", f"{path}: 5 of 5 handed off"]


def test_export_to_a_full_disk_is_a_clear_error(world, run, tmp_path):
    code, out, err = run("export", "leads", "--output", "/dev/full")
    assert code == 1
    assert "Traceback" not in err
    assert "/dev/full" in err and "No space left on device" in err


def test_export_to_a_full_standard_output_is_a_clear_error(world, settings, tmp_path):
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(TEST_PLAYBOOK)
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT}
    env.update(DATABASE_URL=settings.database_url, PLAYBOOK_PATH=str(playbook),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "bot.cli", "export", "leads"], cwd=REPO, env=env,
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "standard output" in result.stderr and "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_import_refreshes_the_app_home_of_the_owners_it_hands_leads_to(partners, run, slack, sessions, tmp_path):
    with sessions() as session, session.begin():
        home.remember(session, OMAR)  # OMAR has opened the bot's Home; BEA has not
    path = write(tmp_path, IMPORT_HEADER + "\n"
                 "Hooli,from_partner,Acme,acme.com,,,,P,N,,U0OWNEROMAR,,U0REPRIYA\n"
                 "Hooli,from_partner,Initrode,initrode.com,,,,P,N,,U0BACKUPBEA,,U0REPRIYA\n")
    code, _out, err = run("import", "leads", str(path))
    assert code == 0, err
    published = slack.calls_for("views.publish")
    assert [c.args["user_id"] for c in published] == [OMAR]
    assert "Acme" in json.dumps(published[0].args["view"])  # the lead waiting on him is on it
