"""App Home: opening the tab publishes the person's open leads."""

import json

from bot.simulate import TEAM
from tests.conftest import OMAR, RIYA, STAN
from tests.helpers import handoff_form


def _opened(simulator, user_id, tab="home"):
    event = {"type": "app_home_opened", "user": user_id, "channel": f"D{user_id}", "tab": tab,
             "event_ts": "1700000000.000001"}
    body = {"token": "unused", "team_id": TEAM["id"], "api_app_id": "A0PARTNERBOT", "event": event,
            "type": "event_callback", "event_id": f"Ev{user_id}{tab}", "event_time": 1700000000,
            "authorizations": [{"team_id": TEAM["id"], "user_id": "U0BOT", "is_bot": True}]}
    return simulator.post(json.dumps(body), content_type="application/json")


def test_home_shows_leads_waiting_on_me_with_accept(simulator, slack, make_partner):
    simulator.submit("handoff_submit", handoff_form(make_partner()), user_id=RIYA)
    slack.wait_for("chat.postMessage", 3)
    assert _opened(simulator, OMAR).status == 200
    view = slack.wait_for("views.publish")[0].args
    assert view["user_id"] == OMAR and view["view"]["type"] == "home"
    text = json.dumps(view["view"]["blocks"])
    assert "L-1001" in text and "lead_accept" in text


def test_home_for_someone_with_nothing_open(simulator, slack):
    _opened(simulator, STAN)
    view = slack.wait_for("views.publish")[0].args["view"]
    assert "No open leads right now." in json.dumps(view["blocks"])


def test_the_messages_tab_publishes_nothing(simulator, slack):
    assert _opened(simulator, STAN, tab="messages").status == 200
    import time

    time.sleep(0.3)
    assert slack.calls_for("views.publish") == []
