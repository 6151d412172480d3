"""Hardening of the web entry point: what an outsider can send, what a signed but malformed request
gets, what a person sees when a listener fails or the database is down, and the app's start while
Slack is down. Through the real app over HTTP (the in-process server; tests/test_web_process.py
runs the Procfile's web: process for what is about the process itself)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import json
import os
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings as fuzz_settings, strategies as st

from slackkit import simulator as s
from bot.app import build_services, create_app
from bot.cli import main
from handlers.errors import FORM_SORRY, form_error
from bot.settings import Settings
from slackkit.simulator import LocalServer, SlackSimulator
from bot.web import make_wsgi
from tests.conftest import OMAR, RIYA, SIGNING_SECRET, TOKEN, eventually
from tests.helpers import handoff_form, modal_errors
from tests.test_web_process import post_streaming

DEAD_POSTGRES = "postgresql://postgres@127.0.0.1:1/x"  # nothing listens on port 1
USER = {"id": RIYA, "username": "riya", "name": "riya", "team_id": "T0PARTNER"}
MODAL = {"id": "V0MODAL01", "type": "modal", "callback_id": "handoff_submit", "private_metadata": "",
         "state": {"values": {}}, "blocks": []}
ACTION = {"action_id": "lead_accept", "block_id": "lead_actions", "value": "1", "type": "button"}


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """A POST with exactly these bytes and headers (the simulator always signs and encodes)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", parts.path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def signed(body: bytes, ts: str | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's signature headers for these exact bytes (the simulator signs text; junk is bytes)."""
    ts = str(int(time.time())) if ts is None else ts
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def settle(app) -> None:
    """Wait for everything the app deferred until after its answers."""
    app.services.drain()


def tracebacks(caplog, capsys) -> list[str]:
    """Tracebacks logged (Python logging) or printed by the server (wsgiref prints them to stderr)."""
    logged = [r.getMessage() for r in caplog.records if r.exc_info]
    printed = capsys.readouterr().err
    return logged + ([printed] if "Traceback" in printed else [])


# --- 2. nothing from an unverified request is used ---------------------------------------------------

@pytest.mark.parametrize("timestamp", ["abc", "", " ", "12.5", "1e9", "-1", "²³¹", "9" * 40])
def test_an_unreadable_timestamp_is_401_and_nothing_is_posted_anywhere(simulator, slack, app, timestamp, caplog,
                                                                       capsys):
    body = urlencode({"command": "/handoff", "text": "list", "user_id": RIYA, "trigger_id": "1.t",
                      "response_url": slack.response_url("attacker")})
    answer = simulator.post(body, timestamp=timestamp, signature="v0=" + "0" * 64)
    assert answer.status == 401, answer
    settle(app)
    assert slack.calls == [], slack.calls  # least of all the sender's response_url
    assert tracebacks(caplog, capsys) == []


def test_missing_signature_headers_are_401(server, slack, app):
    body = urlencode({"command": "/handoff", "user_id": RIYA, "trigger_id": "1.t",
                      "response_url": slack.response_url("attacker")}).encode()
    for headers in ({}, {"X-Slack-Request-Timestamp": str(int(time.time()))}, {"X-Slack-Signature": "v0=00"}):
        status, _ = raw_post(f"{server}/slack/events", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                               **headers})
        assert status == 401
    settle(app)
    assert slack.calls == []


# --- 5. unsigned junk is 401, signed shapes Slack never sends are 400, neither leaves a traceback -----

JUNK = {
    "not UTF-8": b"payload=\xff\xfe\xfd",
    "raw bytes": bytes(range(256)),
    "payload not JSON": b"payload=not-json",
    "truncated JSON": b'payload=%7B%22type%22%3A%22block_actions%22',
    "a JSON list": b"payload=%5B1%2C2%5D",
    "JSON body list": b"[1, 2, 3]",
    "JSON body truncated": b'{"type": "event_callback", "event": {',
    "percent junk": b"payload=%ZZ%",
}


@pytest.mark.parametrize("junk", list(JUNK))
def test_unsigned_junk_is_401_without_a_traceback(server, slack, app, junk, caplog, capsys):
    for content_type in ("application/x-www-form-urlencoded", "application/json"):
        status, _ = raw_post(f"{server}/slack/events", JUNK[junk], {
            "Content-Type": content_type, "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=" + "ab" * 32})
        assert status == 401
    settle(app)
    assert slack.calls == []
    assert tracebacks(caplog, capsys) == []


@pytest.mark.parametrize("junk", list(JUNK))
def test_signed_junk_is_400_without_a_traceback(server, slack, app, junk, caplog, capsys):
    body = JUNK[junk]
    status, _ = raw_post(f"{server}/slack/events", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                           **signed(body)})
    assert status == 400
    settle(app)
    assert slack.calls == []
    assert tracebacks(caplog, capsys) == []


MALFORMED = {  # interaction payloads with the right signature that Slack never sends
    "view is a string": {"type": "view_submission", "user": USER, "view": "x"},
    "view is a list": {"type": "view_submission", "user": USER, "view": []},
    "view of the wrong type": {"type": "view_submission", "user": USER, "view": {**MODAL, "type": "home"}},
    "no view": {"type": "view_submission", "user": USER},
    "state is a string": {"type": "view_submission", "user": USER, "view": {**MODAL, "state": "x"}},
    "submission without a user": {"type": "view_submission", "view": MODAL},
    "user is a list": {"type": "view_submission", "user": [], "view": MODAL},
    "actions is a string": {"type": "block_actions", "user": USER, "actions": "x"},
    "no actions": {"type": "block_actions", "user": USER, "actions": []},
    "an action is a string": {"type": "block_actions", "user": USER, "actions": ["x"]},
    "action without a user": {"type": "block_actions", "actions": [ACTION]},
    "authorizations is a string": {"type": "block_actions", "user": USER, "authorizations": "x", "actions": [ACTION]},
    "response_urls is a number": {"type": "view_submission", "user": USER, "response_urls": 5, "view": MODAL},
    "suggestion without an action_id": {"type": "block_suggestion", "user": USER, "value": "x"},
    "no type": {"user": USER},
    "type is a number": {"type": 5, "user": USER},
}
MALFORMED_EVENTS = {
    "event is a string": {"type": "event_callback", "team_id": "T0PARTNER", "event": "x"},
    "shared channel, event a string": {"type": "event_callback", "is_ext_shared_channel": True, "event": "x"},
    "no event": {"type": "event_callback", "team_id": "T0PARTNER"},
    "home opened without a user": {"type": "event_callback", "team_id": "T0PARTNER",
                                   "event": {"type": "app_home_opened", "tab": "home"}},
}
MALFORMED_FORMS = {
    "command without a user": {"command": "/handoff", "text": "x", "trigger_id": "1.t"},
    "form that is no command": {"foo": "bar"},
}


@pytest.mark.parametrize("shape", list(MALFORMED) + list(MALFORMED_EVENTS) + list(MALFORMED_FORMS))
def test_signed_but_malformed_is_400_without_a_traceback(simulator, slack, app, shape, caplog, capsys):
    if shape in MALFORMED:
        answer = simulator.interaction(MALFORMED[shape])
    elif shape in MALFORMED_EVENTS:
        answer = simulator.post(json.dumps(MALFORMED_EVENTS[shape]), content_type="application/json")
    else:
        answer = simulator.post(urlencode(MALFORMED_FORMS[shape]))
    assert answer.status == 400, answer
    settle(app)
    assert slack.calls == []
    assert tracebacks(caplog, capsys) == []


def test_a_command_whose_text_says_payload_is_still_a_command(simulator, slack):
    # Bolt reads any form body containing "payload" as an interaction; the entry point reads it right.
    answer = simulator.command("/handoff", "payload systems", user_id=RIYA)
    assert answer.status == 200, answer
    view = slack.wait_for("views.open")[0].args["view"]
    assert "payload systems" in json.dumps(view)


# --- 6. the body limit (in-process; tests/test_web_process.py has the process and its memory) ---------

def test_a_body_over_the_limit_is_413_before_it_is_read(simulator, slack, app):
    body = urlencode({"command": "/handoff", "user_id": RIYA, "trigger_id": "1.t", "text": "x" * (1 << 20)}).encode()
    parts = urlsplit(simulator.url)
    assert post_streaming(parts.hostname, parts.port, body, {"Content-Type": "application/x-www-form-urlencoded",
                                                             **signed(body)}) == 413
    settle(app)
    assert slack.calls == []
    assert simulator.command("/handoff", "x" * 2000, user_id=RIYA).status == 200  # big but sane: served


# --- 4. every listener answers in every outcome ----------------------------------------------------

@pytest.fixture
def dead_database(database_url, tmp_path) -> str:
    """A database that does not answer, of the kind this run uses."""
    if database_url.startswith("postgresql"):
        return DEAD_POSTGRES
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'partnerbot.db'}"


@pytest.fixture
def down(slack, playbook, dead_database):
    """The real app whose database does not answer, served on loopback, and a simulator for it."""
    settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=slack.url,
                        database_url=dead_database)
    app = create_app(settings, services=build_services(settings, playbook=playbook))
    with LocalServer(make_wsgi(app)) as local:
        sim = SlackSimulator(f"{local.url}/slack/events", SIGNING_SECRET, response_url=slack.response_url("cmd"))
        yield sim
        sim.close()
    app.services.drain()
    app.services.engine.dispose()


def test_a_submission_while_the_database_is_down_is_an_inline_error_and_keeps_the_form(down, slack):
    answer = down.submit("handoff_submit", handoff_form(1), user_id=RIYA)
    errors = modal_errors(answer)  # 200 with response_action=errors: the modal stays open with what was typed
    [message] = errors.values()
    assert "database is not answering" in message and "Submit again" in message
    assert slack.calls_for("chat.postMessage") == []


def test_a_type_ahead_while_the_database_is_down_says_so(down):
    answer = down.suggest("partner_search", "Glo", user_id=RIYA)
    assert answer.status == 200, answer
    [option] = answer.json()["options"]
    assert "database is not answering" in option["text"]["text"] and len(option["text"]["text"]) <= 75


def test_a_command_while_the_database_is_down_is_answered_privately(down, slack):
    assert down.command("/handoff", "list", user_id=RIYA).status == 200
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral" and "database is not answering" in reply["text"]


def test_a_button_while_the_database_is_down_is_answered_privately(down, slack):
    assert down.click("lead_accept", "1", user_id=OMAR).status == 200
    reply = slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral" and "database is not answering" in reply["text"]


def test_a_crash_in_a_submission_is_an_inline_error_not_a_404(simulator, slack, make_partner):
    partner_id = make_partner()
    broken = handoff_form(partner_id, direction={"type": "radio_buttons", "selected_option": "to_partner"})
    answer = simulator.submit("handoff_submit", broken, user_id=RIYA)
    errors = modal_errors(answer)
    [message] = errors.values()
    assert "not saved" in message and "Submit again" in message


def test_a_form_without_inputs_gets_a_view_pushed_on_top_saying_so():
    answer = form_error({"type": "modal", "blocks": [{"type": "section", "block_id": "intro"}],
                         "state": {"values": {}}}, FORM_SORRY)
    assert answer["response_action"] == "push"
    assert FORM_SORRY in json.dumps(answer["view"]) and len(answer["view"]["title"]["text"]) <= 24
    inline = form_error({"type": "modal", "blocks": [{"type": "section"}, {"type": "input", "block_id": "reason"}]},
                        FORM_SORRY)
    assert inline == {"response_action": "errors", "errors": {"reason": FORM_SORRY}}


# --- 1. the app starts and serves while Slack's API is down --------------------------------------------

def test_the_app_is_built_and_serves_while_slack_answers_500(slack, settings, engine, playbook):
    slack.fail_rate(1.0, method="auth.test", statuses=(500,))
    app = create_app(settings, services=build_services(settings, playbook=playbook, engine=engine))
    with LocalServer(make_wsgi(app)) as local:
        sim = SlackSimulator(f"{local.url}/slack/events", SIGNING_SECRET, response_url=slack.response_url("cmd"))
        try:
            assert sim.command("/handoff", "Acme", user_id=RIYA).status == 200
            slack.wait_for("views.open")
            assert sim.command("/handoff", "help", user_id=RIYA).status == 200
            assert "accept" in slack.wait_for("response_url")[0].args["text"].lower()
        finally:
            sim.close()
    app.services.drain()


def test_the_bots_identity_is_learned_once_slack_answers(simulator, slack, app, monkeypatch):
    from bot.middleware import BotIdentity

    monkeypatch.setattr(BotIdentity, "RETRY_SECONDS", 0.0)
    identity = app.identity
    slack.fail_next("auth.test", status=500, times=1)
    assert simulator.command("/handoff", "help", user_id=RIYA).status == 200  # served without it
    eventually(lambda: slack.calls_for("auth.test", ok=False))
    assert identity.known is None
    eventually(lambda: simulator.command("/handoff", "help", user_id=RIYA).status == 200 and identity.known)
    assert identity.known["bot_id"] and identity.known["user_id"] == slack.bot_user_id
    assert len(slack.calls_for("auth.test")) == 1  # asked once it answered, not on every request
    simulator.command("/handoff", "help", user_id=RIYA)
    settle(app)
    assert len(slack.calls_for("auth.test")) == 1


# --- 10. database problems at the command line are one line ---------------------------------------------

@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "DATABASE_URL",
                 "PLAYBOOK_PATH", "PORT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_db_upgrade_against_a_database_that_does_not_answer_is_one_line(clean_env, dead_database, capsys):
    clean_env.setenv("DATABASE_URL", dead_database)
    code = main(["db", "upgrade"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "not answering" in err and "DATABASE_URL" in err


def test_serve_against_a_database_that_does_not_answer_says_so_in_one_line_and_serves(clean_env, dead_database,
                                                                                        capsys, monkeypatch):
    started: list[list[str]] = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: started.append(list(argv)))
    clean_env.setenv("DATABASE_URL", dead_database)
    clean_env.setenv("SLACK_BOT_TOKEN", TOKEN)
    clean_env.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    code = main(["serve", "--port", "3999"])
    out, err = capsys.readouterr()
    assert code == 0 and started and started[0][0] == "gunicorn"  # the web process answers /healthz 503 meanwhile
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "not answering" in err and "503" in err


# --- the fuzz: anything at all, signed or not ----------------------------------------------------------

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10,
)
COMMANDS = ["/handoff", "/partner", "/action", "/escalate", "/nope"]
CALLBACKS = ["handoff_submit", "handoff_decline_submit", "action_submit", "escalation_submit", "nope"]
ACTIONS = ["lead_accept", "lead_decline", "lead_log_outreach", "home_page", "home_scorecard", "nope"]


def _bases(response_url: str) -> dict[str, dict]:
    """Real request shapes to start from (the fuzz then breaks them)."""
    return {
        "block_actions": {"type": "block_actions", "user": USER, "team": s.TEAM, "trigger_id": "1.t",
                          "api_app_id": "A0PARTNERBOT", "response_url": response_url,
                          "container": {"type": "message", "channel_id": "D0DM00001", "message_ts": "1.1"},
                          "channel": {"id": "D0DM00001"}, "actions": [dict(ACTION)]},
        "home_actions": {"type": "block_actions", "user": USER, "team": s.TEAM, "trigger_id": "1.t",
                         "container": {"type": "view", "view_id": "V0HOME"},
                         "view": {"id": "V0HOME", "type": "home", "state": {"values": {}}},
                         "actions": [{"action_id": "home_page", "block_id": "home", "value": "1", "type": "button"}]},
        "view_submission": {"type": "view_submission", "user": USER, "team": s.TEAM, "trigger_id": "1.t",
                            "view": {**MODAL, "state": handoff_form(1)}, "response_urls": []},
        "block_suggestion": {"type": "block_suggestion", "user": USER, "team": s.TEAM, "action_id": "partner_search",
                             "block_id": "partner", "value": "Glo", "view": MODAL},
        "event": {"type": "event_callback", "team_id": "T0PARTNER", "api_app_id": "A0PARTNERBOT",
                  "event": {"type": "app_home_opened", "user": RIYA, "tab": "home", "channel": "D0DM00001"}},
        "url_verification": {"type": "url_verification", "challenge": "abc", "token": "x"},
    }


def _mutate(data, node, depth: int = 0):
    """Replace, drop or keep parts of a JSON document, the choices drawn by hypothesis."""
    if isinstance(node, dict) and node and depth < 4:
        node = dict(node)
        for key in data.draw(st.lists(st.sampled_from(sorted(node)), max_size=2, unique=True)):
            how = data.draw(st.sampled_from(["drop", "replace", "descend", "descend"]))
            if how == "drop":
                del node[key]
            elif how == "replace":
                node[key] = data.draw(JSON)
            else:
                node[key] = _mutate(data, node[key], depth + 1)
        return node
    if isinstance(node, list) and node and depth < 4:
        return [_mutate(data, item, depth + 1) for item in node]
    return data.draw(st.one_of(st.just(node), JSON))


def _body(data, kind: str, response_url: str) -> tuple[bytes, str]:
    if kind == "bytes":
        return data.draw(st.binary(max_size=300)), data.draw(st.sampled_from(
            ["application/x-www-form-urlencoded", "application/json", "text/plain", ""]))
    if kind == "form":
        form = data.draw(st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=5))
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    if kind == "command":
        form = {"command": data.draw(st.sampled_from(COMMANDS)), "text": data.draw(st.text(max_size=60)),
                "user_id": RIYA, "team_id": "T0PARTNER", "channel_id": "C0SALES01", "trigger_id": "1.t",
                "response_url": response_url}
        form = _mutate(data, form)
        form = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    bases = _bases(response_url)
    if kind == "event":
        base = bases[data.draw(st.sampled_from(["event", "url_verification"]))]
        return json.dumps(_mutate(data, base)).encode(), data.draw(st.sampled_from(["application/json", ""]))
    base = bases[data.draw(st.sampled_from(["block_actions", "home_actions", "view_submission", "block_suggestion"]))]
    payload = copy.deepcopy(_mutate(data, base))  # never the module's own MODAL or ACTION
    if isinstance(payload, dict) and data.draw(st.booleans()):  # ids that name real listeners, often
        if "actions" in payload and isinstance(payload["actions"], list) and payload["actions"] \
                and isinstance(payload["actions"][0], dict):
            payload["actions"][0]["action_id"] = data.draw(st.sampled_from(ACTIONS))
        if isinstance(payload.get("view"), dict):
            payload["view"]["callback_id"] = data.draw(st.sampled_from(CALLBACKS))
    text = json.dumps(payload)
    if data.draw(st.booleans()):
        text = text[:data.draw(st.integers(0, len(text)))]  # truncated
    return urlencode({"payload": text}).encode(), "application/x-www-form-urlencoded"


SIGNINGS = ["valid", "valid", "valid", "wrong secret", "garbage", "missing", "stale", "future", "bad timestamp"]


def _headers(data, body: bytes, content_type: str) -> tuple[dict[str, str], bool]:
    how = data.draw(st.sampled_from(SIGNINGS))
    now = int(time.time())
    headers = {"Content-Type": content_type} if content_type else {}
    if how == "valid":
        return headers | signed(body), True
    if how == "wrong secret":
        return headers | signed(body, secret="not-the-secret"), False
    if how == "garbage":
        return headers | {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": data.draw(HEADER_TEXT)}, False
    if how == "missing":
        return headers, False
    if how == "stale":
        return headers | signed(body, ts=str(now - 6 * 60)), False
    if how == "future":
        return headers | signed(body, ts=str(now + 6 * 60)), False
    return headers | signed(body, ts=data.draw(HEADER_TEXT.filter(lambda t: not t.isdigit()))), False


def _is_ssl_check(body: bytes) -> bool:
    try:
        form = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
    except (ValueError, UnicodeDecodeError):
        return False
    return form.get("ssl_check") == "1" and set(form) <= {"ssl_check", "token"}


def test_fuzz_never_a_5xx_and_nothing_used_from_an_unverified_request(server, simulator, slack, app, make_partner):
    make_partner()
    assert simulator.command("/handoff", "help", user_id=RIYA).status == 200  # the app has met Slack once
    settle(app)
    url = f"{server}/slack/events"
    seen: list[tuple[str, int]] = []

    @fuzz_settings(max_examples=int(os.environ.get("PARTNERBOT_FUZZ_EXAMPLES", "250")), deadline=None,
                   database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one_request(data):
        kind = data.draw(st.sampled_from(["interaction", "interaction", "event", "command", "form", "bytes"]))
        body, content_type = _body(data, kind, slack.response_url("fuzz"))
        headers, verified = _headers(data, body, content_type)
        before = len(slack.calls)
        status, text = raw_post(url, body, headers)
        assert status < 500, (status, text, body[:300], headers)
        seen.append((kind, status))
        if not verified:
            assert status in (401, 413) or (status == 200 and _is_ssl_check(body)), (status, text, body[:300])
            settle(app)
            new = slack.calls[before:]
            assert new == [], (new, body[:300], headers)
        else:
            settle(app)

    started = time.monotonic()
    one_request()
    elapsed = time.monotonic() - started
    assert elapsed < 60, elapsed
    # still healthy: the health check, and a real command end to end
    assert simulator.get("/healthz").status == 200
    slack.reset()
    assert simulator.command("/handoff", "Acme Corp", user_id=RIYA).status == 200
    assert slack.wait_for("views.open")[0].args["view"]["callback_id"] == "handoff_submit"
    statuses = {status for _, status in seen}
    assert 401 in statuses and 200 in statuses, statuses  # the fuzz reached both sides of the door

