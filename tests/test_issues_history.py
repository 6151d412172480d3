"""`/partner issue`, `/partner issues` and `/partner history`, through signed requests."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from slackkit import simulator as s
from store import audit
from store.models import AuditEvent, PerformanceIssue
from tests.conftest import BEA, MIA, OMAR, RIYA, STAN
from tests.helpers import handoff_form, modal_errors
from tests.test_actions import action_form, datepicker, today


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False)



def issue_state(**overrides) -> dict:
    fields = {
        "category": s.select("capability_gap"),
        "description": s.text("Their reps cannot demo the analytics module"),
        "impact_estimate": s.text("Half of analytics leads stall at proposal"),
        "cohort": s.text("EMEA mid-market"),
        "root_cause": s.text("No certified engineers since the reorg"),
    }
    fields.update(overrides)
    return s.state(fields)


def _open_issue_modal(simulator, slack, name="Globex Partners", user_id=MIA) -> dict:
    simulator.command("/partner", f"issue {name}", user_id=user_id)
    return slack.wait_for("views.open")[0].args["view"]


def _record_issue(simulator, slack, **overrides) -> None:
    modal = _open_issue_modal(simulator, slack)
    answer = simulator.submit("issue_submit", issue_state(**overrides), user_id=RIYA,
                              private_metadata=modal["private_metadata"])
    assert answer.status == 200 and answer.body == "", answer.body


def _count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


# --- /partner issue -----------------------------------------------------------------------------

def test_issue_modal_asks_for_the_diagnosis(simulator, slack, make_partner):
    partner_id = make_partner("Globex Partners")
    modal = _open_issue_modal(simulator, slack, name="globex partners")  # any case
    assert modal["callback_id"] == "issue_submit"
    assert json.loads(modal["private_metadata"]) == {"partner_id": partner_id}
    inputs = [b for b in modal["blocks"] if b["type"] == "input"]
    assert [b["label"]["text"] for b in inputs] == ["Category", "Description", "Impact estimate", "Affected cohort",
                                                    "Root cause"]
    assert [o["text"]["text"] for o in inputs[0]["element"]["options"]] == [
        "Capability gap", "Misaligned incentives", "Messaging", "Enablement resources", "Channel conflict", "Other"]
    assert "Globex Partners" in _dump(modal["blocks"][0])


def test_recording_an_issue_saves_it_audits_it_and_confirms(simulator, slack, sessions, make_partner):
    make_partner("Globex Partners")  # managed by MIA
    _record_issue(simulator, slack)
    with sessions() as session:
        issue = session.scalars(select(PerformanceIssue)).one()
        assert (issue.category, issue.cohort, issue.created_by, issue.status) == (
            "capability_gap", "EMEA mid-market", RIYA, "open")
        assert issue.root_cause == "No certified engineers since the reorg"
        event = session.scalars(select(AuditEvent)).one()
        assert (event.action, event.object_type, event.object_id, event.actor_id) == ("issue.recorded", "issue", issue.id, RIYA)
    posts = slack.wait_for("chat.postMessage", 2)
    assert sorted(c.args["channel"] for c in posts) == sorted([RIYA, MIA])  # the recorder and the partner manager
    mine = next(c.args for c in posts if c.args["channel"] == RIYA)
    assert "P-1001" in _dump(mine["blocks"]) and "Capability gap" in _dump(mine["blocks"])


@pytest.mark.parametrize(
    ("overrides", "block", "words"),
    [
        ({"category": s.select(None)}, "category", "what kind of problem"),
        ({"description": s.text("  ")}, "description", "Describe the problem"),
        ({"cohort": s.text("c" * 201)}, "cohort", "under 200 characters (it has 201)"),
        ({"root_cause": s.text("r" * 2001)}, "root_cause", "under 2000 characters"),
    ],
)
def test_a_bad_issue_field_is_inline_and_saves_nothing(simulator, slack, sessions, make_partner, overrides, block, words):
    make_partner("Globex Partners")
    modal = _open_issue_modal(simulator, slack)
    errors = modal_errors(simulator.submit("issue_submit", issue_state(**overrides), user_id=RIYA,
                                      private_metadata=modal["private_metadata"]))
    assert set(errors) == {block} and words in errors[block]
    assert _count(sessions, PerformanceIssue) == 0


def test_issue_for_an_unknown_partner_is_a_clear_answer_with_a_suggestion(simulator, slack, make_partner):
    make_partner("Globex Partners")
    simulator.command("/partner", "issue Globex", user_id=MIA)
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    assert "There is no partner called “Globex”. Did you mean *Globex Partners*?" in reply["text"]
    assert slack.calls_for("views.open") == []


def test_issue_without_a_name_says_how(simulator, slack):
    simulator.command("/partner", "issue", user_id=MIA)
    assert "Name the partner" in slack.wait_for("response_url")[0].args["text"]


def test_an_unknown_name_with_nothing_close_points_to_the_list(simulator, slack, make_partner):
    make_partner("Globex Partners")
    simulator.command("/partner", "issues Zeta <!channel>", user_id=MIA)
    text = slack.wait_for("response_url")[0].args["text"]
    assert "There is no partner called “Zeta &lt;!channel&gt;”. See them all with `/partner list`." in text


# --- /partner issues ----------------------------------------------------------------------------

def test_issues_lists_each_with_its_actions_and_their_status(simulator, slack, sessions, make_partner):
    make_partner("Globex Partners")
    make_partner("Initech", channel_id=None)
    _record_issue(simulator, slack)                                   # P-1001
    slack.reset()
    _record_issue(simulator, slack, category=s.select("messaging"),   # P-1002
                  description=s.text("<!here> pitch is off"))
    with sessions() as session, session.begin():
        session.add(PerformanceIssue(partner_id=2, category="other", description="Initech's own", created_by=MIA))
    # two actions on P-1001, one of them done; none on P-1002
    for title, due in (("Certify two engineers", 5), ("Book a demo clinic", 2)):
        simulator.submit("action_submit", action_form(title=s.text(title), due_date=datepicker(today() + dt.timedelta(days=due)),
                                                      link=s.select("issue:1", kind="external_select")), user_id=MIA)
    simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text(None)}}}, user_id=OMAR,
                     private_metadata=json.dumps({"action_id": 2}))
    slack.reset()

    simulator.command("/partner", "issues Globex Partners", user_id=BEA)
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    sections = [b["text"]["text"] for b in reply["blocks"] if b["type"] == "section"]
    assert "Performance issues with Globex Partners* (2)" in sections[0]
    newest, oldest = sections[1], sections[2]  # newest first; Initech's issue is not here
    assert newest.startswith("*P-1002* · Messaging") and "&lt;!here&gt; pitch is off" in newest
    assert "_No actions yet._" in newest
    assert oldest.startswith("*P-1001* · Capability gap · _open_")
    assert "*Actions* (1 of 2 done):" in oldest
    # by due date: A-1002 (in 2 days, done) before A-1001 (in 5 days, open)
    lines = [line for line in oldest.splitlines() if re.search(r"A-100\d", line)]
    assert [re.search(r"A-100\d", line).group(0) for line in lines] == ["A-1002", "A-1001"]
    assert lines[0].endswith("done") and lines[1].endswith("open")
    assert "Root cause:* No certified engineers" in oldest
    assert "<!here>" not in _dump(reply)


def test_issues_of_a_partner_without_any(simulator, slack, make_partner):
    make_partner("Globex Partners")
    simulator.command("/partner", "issues globex partners", user_id=BEA)
    assert "No performance issues recorded for *Globex Partners*" in slack.wait_for("response_url")[0].args["text"]


# --- /partner history ---------------------------------------------------------------------------

def _history(simulator, slack, ref, user_id=BEA) -> dict:
    simulator.command("/partner", f"history {ref}", user_id=user_id)
    return slack.wait_for("response_url")[0].args


def _event_lines(reply) -> list[str]:
    return [b["text"]["text"] for b in reply["blocks"][1:] if b["type"] == "section"]


def test_history_of_a_lead_after_handoff_and_accept(simulator, slack, sessions, make_partner):
    partner_id = make_partner("Globex Partners")
    simulator.submit("handoff_submit", handoff_form(partner_id), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    simulator.click("lead_accept", "1", user_id=OMAR)
    slack.wait_for("chat.update")
    slack.reset()

    reply = _history(simulator, slack, "l-1001")  # any case
    assert reply["response_type"] == "ephemeral"
    assert reply["blocks"][0]["text"]["text"] == "*History of L-1001 · Acme Corp*"
    handed, accepted = _event_lines(reply)  # oldest first, newest last
    assert re.match(r"<!date\^\d+\^", handed)  # when, in the reader's own zone
    assert f"<@{RIYA}> handed off the lead" in handed and "company: “Acme Corp”" in handed
    assert f"<@{OMAR}> accepted the lead" in accepted
    # before → after, only for what changed
    assert "stage: handed_off → accepted" in accepted and f"accepted by: — → <@{OMAR}>" in accepted
    assert "primary owner" not in accepted
    assert "All 2 events" in _dump(reply["blocks"][-1])


def test_history_of_an_action(simulator, slack, sessions):
    simulator.submit("action_submit", action_form(title=s.text("<!channel> workshop")), user_id=RIYA)
    simulator.submit("action_reassign_submit", {"values": {"owner": {"value": s.user(BEA)}}}, user_id=RIYA,
                     private_metadata=json.dumps({"action_id": 1}))
    simulator.submit("action_done_submit", {"values": {"outcome": {"value": s.text("Done & dusted")}}}, user_id=BEA,
                     private_metadata=json.dumps({"action_id": 1}))
    reply = _history(simulator, slack, "A-1001", user_id=STAN)
    created, reassigned, done = _event_lines(reply)
    assert f"<@{RIYA}> created the action" in created and f"owner: <@{OMAR}>" in created
    assert f"<@{RIYA}> reassigned it" in reassigned and f"owner: <@{OMAR}> → <@{BEA}>" in reassigned
    assert f"<@{BEA}> marked it done" in done and "status: open → done" in done
    assert "outcome: — → “Done &amp; dusted”" in done
    for text in [reply["text"], *(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")]:
        assert "<!channel>" not in text  # the title is escaped wherever it shows
    assert "&lt;!channel&gt; workshop" in reply["blocks"][0]["text"]["text"]


def test_history_of_an_issue(simulator, slack, make_partner):
    make_partner("Globex Partners")
    _record_issue(simulator, slack)
    reply = _history(simulator, slack, "P-1001")
    (recorded,) = _event_lines(reply)
    assert f"<@{RIYA}> recorded the issue" in recorded and "category: capability_gap" in recorded


@pytest.mark.parametrize(("ref", "words"), [
    ("L-999999", "There is no lead L-999999"),
    ("A-1001", "There is no action A-1001"),
    ("E-1001", "There is no escalation E-1001"),
    ("P-5000", "There is no issue P-5000"),
])
def test_history_of_an_unknown_ref_is_a_clear_answer(simulator, slack, ref, words):
    reply = _history(simulator, slack, ref)
    assert reply["response_type"] == "ephemeral" and words in reply["text"]


@pytest.mark.parametrize("ref", ["X-12", "L-abc", "L-1000", "lead 42", "<!channel>"])
def test_history_of_a_malformed_ref_says_what_a_ref_looks_like(simulator, slack, ref):
    reply = _history(simulator, slack, ref)
    assert "is not a reference I know" in reply["text"] and "`L-1042`" in reply["text"]
    assert "<!channel>" not in reply["text"]


def test_history_without_a_ref(simulator, slack):
    assert "Give a reference" in _history(simulator, slack, "")["text"]


def test_a_long_history_shows_the_latest_events_within_limits(simulator, slack, sessions, make_partner):
    make_partner("Globex Partners")
    _record_issue(simulator, slack)
    with sessions() as session, session.begin():
        for n in range(44):  # 44 more, an hour apart, after the recording: 45 in all
            audit.record(session, actor_id="system:clock", action="issue.reviewed", object_type="issue", object_id=1,
                         before={"n": n}, after={"n": n + 1}, at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=n + 1))
    reply = _history(simulator, slack, "P-1001")  # the stand-in rejects more than 50 blocks
    lines = _event_lines(reply)
    assert len(lines) == 40
    # the latest 40 of 45: the recording and n = 0..3 are left out, so the first shown is n: 4 → 5
    assert "n: 4 → 5" in lines[0] and "n: 43 → 44" in lines[-1]
    assert "_partnerbot (clock)_ reviewed" in lines[0]
    assert "Showing the latest 40 of 45 events" in _dump(reply["blocks"][-1])


def test_partner_help_lists_the_new_subcommands(simulator, slack):
    simulator.command("/partner", "help", user_id=BEA)
    text = slack.wait_for("response_url")[0].args["text"]
    for sub in ("`/partner issue NAME`", "`/partner issues NAME`", "`/partner history REF`"):
        assert sub in text
