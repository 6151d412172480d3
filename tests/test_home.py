"""App Home: each person's dashboard, through signed events and Home-tab clicks.

Leads waiting on me (Accept works from the Home), my actions overdue first, escalations waiting
for my decision with working buttons, and for partner managers and admins the scorecards with
filters and paging, inside Slack's 100-block limit even for 1,000 partners.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import insert, select

from slackkit import simulator as s
from slackkit.simulator import TEAM
from store import home, metrics
from store.db import transaction
from store.models import ActionItem, Escalation, HomeTab, Lead, Partner
from store.playbook import parse_playbook
from tests.conftest import MIA, NOAH, OMAR, RIYA, STAN, TEST_PLAYBOOK, eventually
from tests.helpers import handoff_form
from store import clock

ADA = "U0ADMINADA"
HOME_PLAYBOOK = TEST_PLAYBOOK + f"""
admins: [{ADA}]
tiers: [registered, silver, gold]
escalation:
  levels:
    - {{name: Partner managers, approvers: [{MIA}], time_limit_hours: 4}}
"""


@pytest.fixture
def playbook():
    return parse_playbook(HOME_PLAYBOOK, "home-playbook.yml")


def _opened(simulator, user_id, tab="home"):
    event = {"type": "app_home_opened", "user": user_id, "channel": f"D{user_id}", "tab": tab,
             "event_ts": "1700000000.000001"}
    body = {"token": "unused", "team_id": TEAM["id"], "api_app_id": "A0PARTNERBOT", "event": event,
            "type": "event_callback", "event_id": f"Ev{user_id}{tab}{clock.now().timestamp()}", "event_time": 1700000000,
            "authorizations": [{"team_id": TEAM["id"], "user_id": "U0BOT", "is_bot": True}]}
    return simulator.post(json.dumps(body), content_type="application/json")


def stage_of(sessions, model, row_id, attribute):
    with sessions() as session:
        return getattr(session.get(model, row_id), attribute)


def homes(slack, user_id) -> list[dict]:
    return [c.args["view"] for c in slack.calls_for("views.publish") if c.args["user_id"] == user_id]


def latest_home(slack, user_id, count=1) -> dict:
    eventually(lambda: len(homes(slack, user_id)) >= count)
    return homes(slack, user_id)[-1]


def texts(view) -> list[str]:
    """Each block's visible text, in order (sections, headers, contexts)."""
    found = []
    for block in view["blocks"]:
        if block["type"] in ("section", "header"):
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found.append(" ".join(e.get("text", "") for e in block["elements"]))
    return found


def action_ids(view) -> list[str]:
    ids = []
    for block in view["blocks"]:
        if block["type"] == "actions":
            ids += [e["action_id"] for e in block["elements"]]
        elif block.get("accessory"):
            ids.append(block["accessory"]["action_id"])
    return ids


# --- leads, actions, escalations --------------------------------------------------------------------

def test_leads_waiting_on_me_and_accept_from_the_home(simulator, slack, sessions, make_partner, app):
    simulator.submit("handoff_submit", handoff_form(make_partner()), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    app.services.drain()  # the handoff's Home refreshes are over: none of them lands after the reset below
    assert _opened(simulator, OMAR).status == 200
    view = latest_home(slack, OMAR)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    lead_line = next(t for t in texts(view) if "L-1001" in t)
    assert "Acme Corp" in lead_line and "Accept by" in lead_line and "<!date^" in lead_line  # reader's own zone
    assert "*Leads waiting on you* (1)" in texts(view)
    assert "lead_accept" in action_ids(view)

    app.services.drain()
    slack.reset()
    assert simulator.home_click("lead_accept", "1", user_id=OMAR).status == 200
    eventually(lambda: stage_of(sessions, Lead, 1, "stage") == "accepted")
    # the card edit was for Omar, so his Home is published again: now it asks for first outreach
    view = latest_home(slack, OMAR)
    assert "lead_log_outreach" in action_ids(view) and "lead_accept" not in action_ids(view)
    assert any("First outreach by" in t for t in texts(view))


def test_a_refused_click_on_the_home_is_told_in_a_dm(simulator, slack, sessions, make_partner):
    simulator.submit("handoff_submit", handoff_form(make_partner()), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    slack.reset()
    simulator.home_click("lead_accept", "1", user_id=STAN)
    dm = slack.wait_for("chat.postMessage")[0].args
    assert dm["channel"] == STAN and "Only <@U0OWNEROMAR> or <@U0BACKUPBEA> can accept L-1001" in dm["text"]
    with sessions() as session:
        assert session.get(Lead, 1).stage == "handed_off"


def test_home_for_someone_with_nothing_open(simulator, slack):
    _opened(simulator, STAN)
    shown = texts(latest_home(slack, STAN))
    assert "*Leads waiting on you* (0)" in shown and "*Your actions* (0)" in shown
    assert any("Nothing to accept or contact" in t for t in shown)
    assert "*Escalations waiting for your decision* (0)" in shown
    assert "Partner scorecards" not in shown  # neither a partner manager nor an admin


def test_my_actions_overdue_first(simulator, slack, sessions, playbook):
    today = clock.now().astimezone(playbook.tz).date()
    with sessions() as session, session.begin():
        for title, days in (("Later", 5), ("Long overdue", -10), ("Overdue", -1), ("Someone else's", -3)):
            session.add(ActionItem(title=title, owner_id=OMAR if "else" not in title else BEA_ID, created_by=MIA,
                                   due_date=today + dt.timedelta(days=days)))
    _opened(simulator, OMAR)
    shown = texts(latest_home(slack, OMAR))
    assert "*Your actions* (3, *2 overdue*)" in shown
    lines = [t for t in shown if t.startswith((":red_circle: *A-", "*A-"))]
    assert [line.split("\n")[0].split(" ", 2)[-1] for line in lines] == ["Long overdue", "Overdue", "Later"]
    assert lines[0].startswith(":red_circle:") and not lines[2].startswith(":red_circle:")


BEA_ID = "U0BACKUPBEA"


def test_escalation_waiting_for_my_decision_with_working_buttons(simulator, slack, sessions):
    simulator.submit("escalation_submit", s.state({
        "about": s.text("Acme <renewal>"), "kind": s.select("discount"), "reason": s.text("15% off"),
        "severity": s.select("high"), "impact": s.text("$48,000")}), user_id=RIYA)
    slack.wait_for("chat.postMessage", 2)
    _opened(simulator, MIA)
    view = latest_home(slack, MIA)
    assert "*Escalations waiting for your decision* (1)" in texts(view)
    line = next(t for t in texts(view) if "E-1001" in t)
    assert "Acme &lt;renewal&gt;" in line and "decide by <!date^" in line
    buttons = [e for block in view["blocks"] if block["type"] == "actions" for e in block["elements"]]
    assert {(e["action_id"], e.get("value")) for e in buttons} >= {("escalation_approve", "1:0"),
                                                                  ("escalation_reject", "1:0")}
    # the approver's button on the Home opens the decision modal; submitting it decides
    slack.reset()
    simulator.home_click("escalation_approve", "1:0", user_id=MIA)
    assert slack.wait_for("views.open")[0].args["view"]["callback_id"] == "escalation_decide_submit"
    simulator.submit("escalation_decide_submit", s.state({"note": s.text("ok")}), user_id=MIA,
                     private_metadata=json.dumps({"escalation_id": 1, "level": 0, "decision": "approve"}))
    eventually(lambda: stage_of(sessions, Escalation, 1, "status") == "approved")
    eventually(lambda: "*Escalations waiting for your decision* (0)" in texts(homes(slack, MIA)[-1])
               if homes(slack, MIA) else False)
    # and nobody else's Home was published: they never opened it
    assert {c.args["user_id"] for c in slack.calls_for("views.publish")} == {MIA}


# --- scorecards --------------------------------------------------------------------------------------

def _partners(sessions, count, *, manager=MIA, start=0) -> list[int]:
    tiers, types, markets = ("registered", "silver", "gold"), ("reseller", "referral"), ("NA", "EMEA")
    rows = [{"name": f"Partner {k:04d}", "name_key": f"partner {k:04d}", "type": types[k % 2], "tier": tiers[k % 3],
             "market": markets[k % 2], "product_lines": ["Payments"] if k % 4 == 0 else [], "manager_id": manager,
             "created_at": clock.now(), "updated_at": clock.now()} for k in range(start, start + count)]
    with sessions() as session, session.begin():
        session.execute(insert(Partner), rows)
        return list(session.scalars(select(Partner.id).where(Partner.manager_id == manager).order_by(Partner.id)))


def test_manager_pages_through_scorecards_needing_attention_first(simulator, slack, sessions, playbook):
    ids = _partners(sessions, 23)
    last_month = metrics.parse_period("last month", playbook, now=clock.now())
    made = last_month.start + dt.timedelta(days=5, hours=15)
    with sessions() as session, session.begin():
        # Partner 0005: accepted in 2 business hours, outreach on time: every scored figure met: 100
        session.add(Lead(partner_id=ids[5], direction="to_partner", company="Good", problem="p", next_steps="n",
                         stage="contacted", sender_id=RIYA, primary_owner_id=OMAR, accept_by=made,
                         first_outreach_by=made + dt.timedelta(hours=20), accepted_at=made + dt.timedelta(hours=2),
                         accept_hours=2.0, first_outreach_at=made + dt.timedelta(hours=3), created_at=made))
        # Partner 0009: declined: acceptance 0%, nothing else scored: 0
        session.add(Lead(partner_id=ids[9], direction="to_partner", company="Bad", problem="p", next_steps="n",
                         stage="declined", sender_id=RIYA, primary_owner_id=OMAR, accept_by=made,
                         first_outreach_by=made + dt.timedelta(hours=20), declined_at=made + dt.timedelta(hours=1),
                         created_at=made))
    _opened(simulator, MIA)
    view = latest_home(slack, MIA)
    shown = texts(view)
    assert "Partner scorecards" in shown and len(view["blocks"]) <= 100
    rows = [t for t in shown if t.startswith("*Partner ")]
    assert len(rows) == 10
    assert rows[0].startswith("*Partner 0009* (registered) — score *0/100*")  # lowest score first
    assert rows[1].startswith("*Partner 0005* (gold) — score *100/100*")
    assert rows[2] == "*Partner 0000* (registered) — no data yet"  # then the rest by name
    context = next(t for t in shown if "showing" in t)
    assert f"{last_month.label} · 23 of your partners · showing 1–10" in context
    assert "Page 1 of 3" in shown and "home_page_next" in action_ids(view)

    simulator.home_click("home_page", "2", user_id=MIA)  # the id a Home published before the split has
    view = latest_home(slack, MIA, 2)
    rows = [t for t in texts(view) if t.startswith("*Partner ")]
    assert len(rows) == 3 and "Page 3 of 3" in texts(view)
    assert [e["text"]["text"] for b in view["blocks"] if b.get("block_id") == "home_pages" for e in b["elements"]] \
        == ["← Previous"]

    # a filter narrows and goes back to the first page; it is kept for the next open
    simulator.home_click("home_filter_tier", user_id=MIA, selected="gold")
    view = latest_home(slack, MIA, 3)
    rows = [t for t in texts(view) if t.startswith("*Partner ")]
    assert len(rows) == 7 and all("(gold)" in row for row in rows)  # 2, 5, 8, ... 20 of 0–22
    assert any("7 of 23 of your partners · showing 1–7" in t for t in texts(view))
    tier_select = next(e for b in view["blocks"] if b.get("block_id") == "home_filters" for e in b["elements"]
                       if e["action_id"] == "home_filter_tier")
    assert tier_select["initial_option"]["value"] == "gold"
    simulator.home_click("home_filter_market", user_id=MIA, selected="EMEA")
    rows = [t for t in texts(latest_home(slack, MIA, 4)) if t.startswith("*Partner ")]
    assert [r.split("*")[1] for r in rows] == ["Partner 0005", "Partner 0011", "Partner 0017"]  # gold and odd
    _opened(simulator, MIA)
    assert len([t for t in texts(latest_home(slack, MIA, 5)) if t.startswith("*Partner ")]) == 3
    with sessions() as session:
        assert session.get(HomeTab, MIA).filters == {"tier": "gold", "market": "EMEA", "period": "last month",
                                                     "page": 0}
    simulator.home_click("home_filter_tier", user_id=MIA, selected="*")  # "All tiers"
    assert len([t for t in texts(latest_home(slack, MIA, 6)) if t.startswith("*Partner ")]) == 10


def paging_buttons(view) -> dict[str, dict]:
    """The paging row's buttons by their label, each with its block_id (what a click sends back)."""
    return {e["text"]["text"]: {**e, "block_id": b["block_id"]} for b in view["blocks"]
            if b.get("block_id") == "home_pages" for e in b["elements"]}


def click(simulator, button, user_id):
    return simulator.home_click(button["action_id"], button["value"], user_id=user_id, block_id=button["block_id"])


def rows_of(view) -> list[str]:
    return [t.split("*")[1] for t in texts(view) if t.startswith("*Partner ")]


def test_next_shows_page_two_with_previous_and_next_and_previous_goes_back(simulator, slack, sessions):
    _partners(sessions, 23)  # no activity: all "no data yet", so by name
    _opened(simulator, MIA)
    view = latest_home(slack, MIA)
    assert rows_of(view) == [f"Partner {k:04d}" for k in range(10)] and list(paging_buttons(view)) == ["Next →"]

    assert click(simulator, paging_buttons(view)["Next →"], MIA).status == 200
    view = latest_home(slack, MIA, 2)  # Slack took page 2: it has both buttons
    assert rows_of(view) == [f"Partner {k:04d}" for k in range(10, 20)]
    assert "Page 2 of 3" in texts(view) and any("showing 11–20" in t for t in texts(view))
    buttons = paging_buttons(view)
    assert list(buttons) == ["← Previous", "Next →"]
    assert buttons["← Previous"]["action_id"] != buttons["Next →"]["action_id"]
    assert (buttons["← Previous"]["value"], buttons["Next →"]["value"]) == ("0", "2")
    with sessions() as session:
        assert session.get(HomeTab, MIA).filters["page"] == 1
    _opened(simulator, MIA)  # reopening shows the page kept
    assert rows_of(latest_home(slack, MIA, 3))[0] == "Partner 0010"

    assert click(simulator, buttons["Next →"], MIA).status == 200
    assert rows_of(latest_home(slack, MIA, 4)) == ["Partner 0020", "Partner 0021", "Partner 0022"]
    assert click(simulator, paging_buttons(homes(slack, MIA)[-1])["← Previous"], MIA).status == 200
    assert rows_of(latest_home(slack, MIA, 5))[0] == "Partner 0010"
    assert click(simulator, buttons["← Previous"], MIA).status == 200
    view = latest_home(slack, MIA, 6)
    assert rows_of(view)[0] == "Partner 0000" and "Page 1 of 3" in texts(view)
    assert slack.calls_for("views.publish", ok=False) == []  # Slack refused none of them


def test_a_page_slack_refused_is_not_kept_and_reopening_shows_the_home_slack_has(simulator, slack, sessions):
    _partners(sessions, 23)
    _opened(simulator, MIA)
    view = latest_home(slack, MIA)
    slack.fail_next("views.publish", status=429, retry_after=30)  # Slack does not take the next Home
    click(simulator, paging_buttons(view)["Next →"], MIA)
    dm = slack.wait_for("chat.postMessage")[0].args  # told, as any failed Home click is
    assert dm["channel"] == MIA and "did not go through" in dm["text"]
    assert len(slack.calls_for("views.publish", ok=False)) == 1 and len(homes(slack, MIA)) == 1
    with sessions() as session:
        assert session.get(HomeTab, MIA).filters.get("page", 0) == 0  # her Home still shows page 1
    _opened(simulator, MIA)
    view = latest_home(slack, MIA, 2)
    assert rows_of(view)[0] == "Partner 0000" and "Page 1 of 3" in texts(view)
    # a filter Slack did not show is not kept either
    slack.fail_next("views.publish", status=429, retry_after=30)
    simulator.home_click("home_filter_tier", user_id=MIA, selected="gold", block_id="home_filters")
    slack.wait_for("chat.postMessage", 2)
    with sessions() as session:
        assert "tier" not in session.get(HomeTab, MIA).filters


def test_taking_back_a_refused_change_leaves_a_newer_one_alone(sessions):
    with transaction(sessions) as session:
        home.remember(session, MIA)
    with transaction(sessions) as session:
        refused = home.change_filters(session, MIA, page=1)
    with transaction(sessions) as session:
        newer = home.change_filters(session, MIA, tier="gold")  # a later click, already kept
    with transaction(sessions) as session:
        assert home.take_back(session, MIA, saved=refused, previous={}) is False
    with sessions() as session:
        assert home.clean_filters(session.get(HomeTab, MIA).filters) == newer
    with transaction(sessions) as session:
        assert home.take_back(session, MIA, saved=newer, previous={"page": 1}) is True
    with sessions() as session:
        assert session.get(HomeTab, MIA).filters == {"page": 1}


def test_a_thousand_partners_stay_inside_the_block_limit(simulator, slack, sessions):
    _partners(sessions, 1000, manager=ADA)
    _partners(sessions, 5, manager=NOAH, start=2000)
    _opened(simulator, ADA)  # an admin sees every partner
    view = latest_home(slack, ADA)
    assert len(view["blocks"]) <= 100
    assert any("1005 of every partner · showing 1–10" in t for t in texts(view))
    assert "Page 1 of 101" in texts(view)
    # NOAH manages five, sees only those
    _opened(simulator, NOAH)
    assert any("5 of your partners" in t for t in texts(latest_home(slack, NOAH)))


def test_the_scorecard_button_opens_the_full_card(simulator, slack, sessions):
    ids = _partners(sessions, 2)
    simulator.home_click("home_scorecard", f"{ids[1]}|2026-10", user_id=MIA)
    modal = slack.wait_for("views.open")[0].args["view"]
    assert modal["type"] == "modal"
    body = json.dumps(modal["blocks"])
    assert "Partner 0001" in body and "2026-10" in body and "No data yet" in body


def test_the_scorecard_button_for_a_partner_gone_is_told_in_a_dm(simulator, slack):
    simulator.home_click("home_scorecard", "999|2026-10", user_id=MIA)
    dm = slack.wait_for("chat.postMessage")[0].args
    assert dm["channel"] == MIA and "That partner no longer exists" in dm["text"]
    assert slack.calls_for("views.open") == []
