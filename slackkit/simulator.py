"""A Slack user played against a running app: requests shaped as Slack sends them, signed with the
app's signing secret (slackkit.signing), for tests, ``partnerbot demo``, benchmarks and the coming
sandbox.

The rules of Slack's it follows (docs.slack.dev: slash commands, interactivity payloads):

- a slash command is a form post (``application/x-www-form-urlencoded``) with ``command``,
  ``text``, ``user_id``, ``channel_id``, ``team_id``, ``response_url`` and a fresh ``trigger_id``;
- an interaction is a form post whose one field ``payload`` holds JSON: ``block_actions`` for a
  button or a select in a message (with the message as its container and a ``response_url``) or in
  the App Home (the home view as its container, no ``response_url``), ``view_submission`` with the
  view's ``state.values`` (``{block_id: {action_id: element value}}``, each element's value in the
  shape Slack reports it: ``value``, ``selected_option``, ``selected_user`` ...) and its
  ``private_metadata``, ``block_suggestion`` for an external select's type-ahead;
- every request is signed (``X-Slack-Request-Timestamp``, ``X-Slack-Signature``), unless a test
  forges the signature or the timestamp on purpose;
- each trigger_id is new (Slack's are single-use).

``LocalServer`` serves a WSGI app (the real one, or a bare one) on loopback for it to post to.
"""

from __future__ import annotations

import http.client
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from slackkit.signing import RequestSigner

_counter = itertools.count(1)
TEAM = {"id": "T0PARTNER", "domain": "acme-sales"}


@dataclass
class Answer:
    status: int
    body: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# --- view state values, as Slack reports them ---------------------------------------------------

def text(value: str | None) -> dict:
    return {"type": "plain_text_input", "value": value}


def email(value: str | None) -> dict:
    return {"type": "email_text_input", "value": value}


def user(user_id: str | None) -> dict:
    return {"type": "users_select", "selected_user": user_id}


def conversation(channel_id: str | None) -> dict:
    return {"type": "conversations_select", "selected_conversation": channel_id}


def radio(value: str | None) -> dict:
    return {"type": "radio_buttons", "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}} if value else None}


def select(value: str | None, kind: str = "static_select") -> dict:
    return {"type": kind, "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}} if value else None}


def checkboxes(values: list[str]) -> dict:
    return {"type": "checkboxes", "selected_options": [{"value": v, "text": {"type": "plain_text", "text": v}} for v in values]}


def multi_select(values: list[str]) -> dict:
    return {"type": "multi_static_select", "selected_options": [{"value": v, "text": {"type": "plain_text", "text": v}} for v in values]}


def state(fields: dict[str, dict], action_id: str = "value") -> dict:
    """{block_id: element value} -> a view's state.values."""
    return {"values": {block_id: {action_id if el["type"] != "external_select" else "partner_search": el}
                       for block_id, el in fields.items()}}


class SlackSimulator:
    """Posts signed Slack requests to a running app at `url` (e.g. http://127.0.0.1:3000/slack/events)."""

    def __init__(self, url: str, signing_secret: str, *, response_url: str = "https://hooks.slack.invalid/commands/x"):
        self.url = url
        parts = urlsplit(url)
        self._host, self._port, self._path = parts.hostname, parts.port or 80, parts.path or "/"
        self._signer = RequestSigner(signing_secret)
        self.response_url = response_url
        self._conn: http.client.HTTPConnection | None = None

    # transport
    def post(self, body: str, *, content_type="application/x-www-form-urlencoded", timestamp: int | None = None,
             signature: str | None = None, headers: dict | None = None) -> Answer:
        all_headers = {"Content-Type": content_type,
                       **self._signer.headers(body, timestamp=timestamp, signature_override=signature),
                       **(headers or {})}
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                conn = self._connection()
                conn.request("POST", self._path, body=body.encode(), headers=all_headers)
                response = conn.getresponse()
                data = response.read().decode()
                return Answer(response.status, data, time.perf_counter() - started)
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> Answer:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=30)
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        return Answer(response.status, response.read().decode(), time.perf_counter() - started)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=30)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # Slack's request shapes
    def command(self, command: str, text: str = "", *, user_id: str, channel_id: str = "C0SALES01", **kw) -> Answer:
        form = {
            "token": "verification-token-unused", "team_id": TEAM["id"], "team_domain": TEAM["domain"],
            "channel_id": channel_id, "channel_name": "sales", "user_id": user_id, "user_name": user_id.lower(),
            "command": command, "text": text, "api_app_id": "A0PARTNERBOT", "is_enterprise_install": "false",
            "response_url": self.response_url, "trigger_id": f"{next(_counter)}.trigger",
        }
        form.update(kw)
        return self.post(urlencode(form))

    def interaction(self, payload: dict, **kw) -> Answer:
        return self.post(urlencode({"payload": json.dumps(payload)}), **kw)

    def _user(self, user_id: str) -> dict:
        return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM["id"]}

    def click(self, action_id: str, value: str, *, user_id: str, channel_id: str = "D0DM00001",
              message_ts: str = "1700000000.000100", block_id: str = "lead_actions") -> Answer:
        """A button pressed in a message."""
        action = {"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                  "text": {"type": "plain_text", "text": action_id}, "action_ts": f"{time.time():.6f}"}
        return self._in_message(action, user_id=user_id, channel_id=channel_id, message_ts=message_ts)

    def choose(self, action_id: str, value: str, *, user_id: str, block_id: str, channel_id: str = "D0DM00001",
               message_ts: str = "1700000000.000100") -> Answer:
        """An option chosen in a static select in a message (block_actions with selected_option)."""
        action = {"action_id": action_id, "block_id": block_id, "type": "static_select",
                  "selected_option": {"value": value, "text": {"type": "plain_text", "text": value}},
                  "action_ts": f"{time.time():.6f}"}
        return self._in_message(action, user_id=user_id, channel_id=channel_id, message_ts=message_ts)

    def _in_message(self, action: dict, *, user_id: str, channel_id: str, message_ts: str) -> Answer:
        payload = {
            "type": "block_actions", "user": self._user(user_id), "api_app_id": "A0PARTNERBOT",
            "token": "verification-token-unused",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
            "trigger_id": f"{next(_counter)}.trigger", "team": TEAM, "enterprise": None, "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": "directmessage"},
            "message": {"type": "message", "ts": message_ts, "text": "card", "blocks": []},
            "response_url": self.response_url,
            "actions": [action],
        }
        return self.interaction(payload)

    def home_click(self, action_id: str, value: str | None = None, *, user_id: str, selected: str | None = None,
                   block_id: str = "home") -> Answer:
        """A button (value) or static select (selected) pressed in the App Home: Slack sends the
        home view as the container, and no response_url."""
        action = {"action_id": action_id, "block_id": block_id, "action_ts": f"{time.time():.6f}"}
        if selected is not None:
            action |= {"type": "static_select", "selected_option": {
                "text": {"type": "plain_text", "text": selected}, "value": selected}}
        else:
            action |= {"type": "button", "value": value, "text": {"type": "plain_text", "text": action_id}}
        view_id = f"V0HOME{user_id}"
        payload = {
            "type": "block_actions", "user": self._user(user_id), "api_app_id": "A0PARTNERBOT",
            "token": "verification-token-unused", "container": {"type": "view", "view_id": view_id},
            "trigger_id": f"{next(_counter)}.trigger", "team": TEAM, "enterprise": None, "is_enterprise_install": False,
            "view": {"id": view_id, "type": "home", "team_id": TEAM["id"], "private_metadata": "", "callback_id": "",
                     "state": {"values": {}}, "blocks": [], "hash": "1700000000.home"},
            "actions": [action],
        }
        return self.interaction(payload)

    def submit(self, callback_id: str, values: dict, *, user_id: str, private_metadata: str = "",
               view_id: str | None = None) -> Answer:
        payload = {
            "type": "view_submission", "team": TEAM, "user": self._user(user_id), "api_app_id": "A0PARTNERBOT",
            "token": "verification-token-unused", "trigger_id": f"{next(_counter)}.trigger",
            "view": {"id": view_id or f"V{next(_counter):08d}", "team_id": TEAM["id"], "type": "modal", "blocks": [],
                     "private_metadata": private_metadata, "callback_id": callback_id, "state": values,
                     "hash": "1700000000.abcdef", "title": {"type": "plain_text", "text": "modal"},
                     "previous_view_id": None, "root_view_id": None, "app_id": "A0PARTNERBOT", "bot_id": "B0PARTNERBOT"},
            "response_urls": [], "is_enterprise_install": False, "enterprise": None,
        }
        return self.interaction(payload)

    def suggest(self, action_id: str, value: str, *, user_id: str, block_id: str = "partner") -> Answer:
        payload = {
            "type": "block_suggestion", "user": self._user(user_id), "container": {"type": "view", "view_id": "V0MODAL"},
            "api_app_id": "A0PARTNERBOT", "token": "verification-token-unused", "action_id": action_id,
            "block_id": block_id, "value": value, "team": TEAM, "enterprise": None, "is_enterprise_install": False,
            "view": {"id": "V0MODAL", "type": "modal", "callback_id": "handoff_submit", "state": {"values": {}}},
        }
        return self.interaction(payload)


# --- serving a WSGI app on loopback, for tests and the demo --------------------------------------

class LocalServer:
    """A threaded WSGI server on 127.0.0.1 (stdlib), started and stopped by its owner."""

    def __init__(self, wsgi_app, port: int = 0):
        import threading
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        class _Server(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        class _Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        self._httpd = make_server("127.0.0.1", port, wsgi_app, server_class=_Server, handler_class=_Quiet)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
