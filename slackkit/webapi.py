"""Slack's Web API played on loopback: a small HTTP server that ``slack_sdk.WebClient`` (and Bolt) can
talk to, for tests, ``partnerbot demo``, benchmarks and the coming sandbox::

    with SlackStandin() as slack:
        client = WebClient(token=slack.token, base_url=slack.url)
        client.chat_postMessage(channel="U123", text="hi")
        slack.wait_for("chat.postMessage")

The rules of Slack's Web API it enforces:

- requests: bodies as slack_sdk sends them (form-encoded, JSON or multipart, plus query strings);
  form fields Slack carries as JSON strings (``blocks``, ``attachments``, ``view``, ``files``,
  ``metadata``) are decoded; another content type is ``invalid_post_type``, broken JSON
  ``invalid_json``;
- auth: the token from ``Authorization: Bearer``, or from a form or query ``token`` (a JSON body
  must use the header); none is ``not_authed``, another one ``invalid_auth``; an unknown method is
  ``unknown_method``;
- answers: HTTP 200 with ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}`` (with
  ``response_metadata.messages`` naming each problem), as Slack answers;
- payloads: every message (chat.postMessage, chat.update, chat.postEphemeral, a response_url post)
  and every view (views.open, views.push, views.update, views.publish) is checked by
  ``slackkit.blockkit``; a response_url answers a rejected payload with HTTP 400, as incoming
  webhooks do;
- methods: chat.postMessage to a user id lands in a DM channel (``D…``); chat.update and
  chat.delete need the message (``message_not_found``) and an update keeps the fields it leaves
  out; views.open and views.push need a trigger_id and a modal; views.publish needs a user_id and
  a home view; views.update finds the view by view_id or external_id (``not_found``) and an
  external_id is unique (``duplicate_external_id``); users.info answers a profile with a time zone;
  usergroups.users.list knows only the groups it was given (``no_such_subteam``);
  conversations.open; the external file upload (files.getUploadURLExternal, the upload,
  files.completeUploadExternal, ``file_not_found``);
- failures as Slack has them, on demand: ``fail_next`` / ``fail_rate`` answer HTTP 500, or 429
  ``ratelimited`` with ``Retry-After``, or answer late.

Every call is recorded (``calls``, ``calls_for``, ``wait_for``), and what Slack would hold (messages
by channel and ts, views, Home tabs, uploads) can be read back. Stdlib only.

Run ``python -m slackkit.webapi --port 3001`` to serve it in the foreground.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import email.parser
import email.policy
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from slackkit.blockkit import Problem, check_message, check_view

__all__ = ["Call", "Rejected", "SlackStandin", "main"]

TEAM_ID = "T0STANDIN"
BOT_USER_ID = "U0STANDINBOT"
BOT_ID = "B0STANDIN"
DEFAULT_TZ = "America/New_York"

# Form fields that slack_sdk (and Slack) carry as JSON-encoded strings.
JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")


# --------------------------------------------------------------------------
# Records and refusals
# --------------------------------------------------------------------------


@dataclass
class Call:
    method: str  # e.g. "chat.postMessage"; posts to a response_url use "response_url"
    args: dict  # decoded body (blocks/view/attachments already parsed from JSON)
    ok: bool  # what the stand-in answered
    error: str | None
    at: float  # time.monotonic()


class Rejected(Exception):
    """Raised by method handlers: the call is answered with ok=false."""

    def __init__(self, error: str, *messages: str):
        super().__init__(error)
        self.error = error
        self.messages = list(messages)

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> "Rejected":
        code = problems[0].error
        return cls(code, *(p.render() for p in problems if p.error == code))


def _missing(field: str) -> Rejected:
    return Rejected("invalid_arguments", f"[ERROR] missing required field: {field}")


# --------------------------------------------------------------------------
# Request decoding
# --------------------------------------------------------------------------


def _decode_json_fields(args: dict) -> None:
    for key in JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                args[key] = json.loads(value)
            except json.JSONDecodeError:
                pass  # left as a string; the method checks reject it


def _parse_multipart(content_type: str, body: bytes) -> dict:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    args: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        args[name] = payload if part.get_filename() else payload.decode("utf-8", "replace")
    return args



def _parse_body(content_type: str, body: bytes) -> dict:
    if not body:
        return {}
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json":
        try:
            args = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("invalid_json") from None
        if not isinstance(args, dict):
            raise ValueError("invalid_json")
    elif mime == "multipart/form-data":
        args = _parse_multipart(content_type, body)
    elif mime in ("application/x-www-form-urlencoded", ""):
        args = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    else:
        raise ValueError("invalid_post_type")
    _decode_json_fields(args)
    return args



def _utc_offset_seconds(tz: str) -> int:
    try:
        from zoneinfo import ZoneInfo

        offset = _dt.datetime.now(ZoneInfo(tz)).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0
    except Exception:  # unknown zone or no tz database
        return -18000 if tz == DEFAULT_TZ else 0


@dataclass
class _FailurePlan:
    status: int
    times: int
    retry_after: int | None
    delay: float | None



# --------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------


class SlackStandin:
    """A Slack Web API stand-in on loopback.  See the module docstring."""

    def __init__(self, token: str = "xoxb-standin", *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0):
        self.token = token
        self.host = host
        self.port = port
        self.latency = latency
        self.bot_user_id = BOT_USER_ID
        self.calls: list[Call] = []
        self.users: dict[str, dict] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.messages: dict[tuple[str, str], dict] = {}
        self.views: dict[str, dict] = {}  # view id -> latest view
        self.home_views: dict[str, str] = {}  # user id -> view id of their published Home tab
        self.uploads: dict[str, dict] = {}  # file id -> {"filename", "length", "content", ...}
        self._lock = threading.RLock()
        self._plans: dict[str, list[_FailurePlan]] = {}
        self._rates: dict[str, tuple[float, tuple[int, ...], int, random.Random]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict], dict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "SlackStandin":
        if self._server is not None:
            return self
        standin = self

        class Handler(_Handler):
            pass

        Handler.standin = standin
        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="slack-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "SlackStandin":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def root(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackStandin is not started; call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """base_url for slack_sdk.WebClient."""
        return self.root + "/api/"

    def response_url(self, key: str = "r") -> str:
        """A URL that Bolt's respond() can POST to; recorded as method "response_url"."""
        return f"{self.root}/response/{quote(key, safe='')}"

    # -- inspection ----------------------------------------------------------

    def calls_for(self, method: str, *, ok: bool | None = True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = 5.0,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Poll until at least `count` ok calls of `method` (matching `where`) exist."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_for(method) if where is None or where(c)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._wait_failure(method, count, timeout, where, found))
            time.sleep(0.01)

    def _wait_failure(self, method: str, count: int, timeout: float, where: Any, found: list[Call]) -> str:
        with self._lock:
            seen = list(self.calls)
        matching = f" matching {getattr(where, '__name__', repr(where))}" if where is not None else ""
        lines = [f"expected {count} ok call(s) of {method}{matching} within {timeout}s, found {len(found)}."]
        if not seen:
            lines.append("The stand-in recorded no calls at all.")
        else:
            lines.append(f"Calls the stand-in saw ({len(seen)}):")
            for call in seen:
                status = "ok" if call.ok else f"error={call.error}"
                lines.append(f"  - {call.method} [{status}] {_summarize(call.args)}")
        return "\n".join(lines)

    def reset(self) -> None:
        """Forget calls, messages, views, uploads and failure plans (users/usergroups are kept)."""
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.views.clear()
            self.home_views.clear()
            self.uploads.clear()
            self._plans.clear()
            self._rates.clear()

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        times: int = 1,
        retry_after: int | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next `times` calls of `method` answer HTTP `status` (after `delay` seconds).

        500 answers a plain "internal error" body; 429 answers Retry-After and
        {"ok": false, "error": "ratelimited"}.  status=200 with a delay only
        slows the call down and then handles it normally.
        """
        with self._lock:
            self._plans.setdefault(method, []).append(_FailurePlan(status, times, retry_after, delay))

    def fail_rate(
        self,
        rate: float,
        *,
        method: str = "chat.postMessage",
        statuses: tuple[int, ...] = (429, 500),
        retry_after: int = 1,
        seed: int | None = None,
    ) -> None:
        """From now on (until reset), answer a share `rate` of `method` calls with one of `statuses`.

        The failures are drawn from a random.Random(seed), so a seeded test sees the same pattern on
        every run; 429 and 500 answer as in fail_next.  fail_next plans are used up first.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        with self._lock:
            self._rates[method] = (rate, tuple(statuses), retry_after, random.Random(seed))

    # -- request handling (called from server threads) ---------------------

    def _record(self, method: str, args: dict, ok: bool, error: str | None) -> None:
        with self._lock:
            self.calls.append(Call(method=method, args=args, ok=ok, error=error, at=time.monotonic()))

    def _take_plan(self, method: str) -> _FailurePlan | None:
        with self._lock:
            plans = self._plans.get(method)
            if not plans:
                if method in self._rates:
                    rate, statuses, retry_after, rng = self._rates[method]
                    if rng.random() < rate:
                        return _FailurePlan(rng.choice(statuses), 1, retry_after, None)
                return None
            plan = plans[0]
            plan.times -= 1
            if plan.times <= 0:
                plans.pop(0)
            return plan

    def handle(self, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Route one request; returns (status, headers, body)."""
        if self.latency:
            time.sleep(self.latency)
        parts = urlsplit(path)
        route = parts.path.strip("/").split("/", 1)
        if len(route) != 2:
            return _json(404, {"ok": False, "error": "not_found"})
        kind, name = route[0], unquote(route[1])
        content_type = headers.get("Content-Type", "") or ""
        if kind == "upload":  # raw file bytes (an image need not be UTF-8): not parsed as a form
            return self._upload(name, body)
        try:
            args = dict(parse_qsl(parts.query, keep_blank_values=True))
            args.update(_parse_body(content_type, body))
        except ValueError as e:
            return _json(200, {"ok": False, "error": str(e)})
        if kind == "api":
            return self._api(name, args, headers.get("Authorization", ""), content_type)
        if kind == "response":
            return self._response_url(name, args)
        if kind == "upload":
            return self._upload(name, body)
        return _json(404, {"ok": False, "error": "not_found"})

    def _planned_failure(self, method: str, args: dict) -> tuple[int, dict[str, str], bytes] | None:
        plan = self._take_plan(method)
        if plan is None:
            return None
        if plan.delay:
            time.sleep(plan.delay)
        if plan.status == 200:
            return None
        if plan.status == 429:
            self._record(method, args, False, "ratelimited")
            status, hdrs, payload = _json(429, {"ok": False, "error": "ratelimited"})
            hdrs["Retry-After"] = str(plan.retry_after if plan.retry_after is not None else 1)
            return status, hdrs, payload
        self._record(method, args, False, f"http_{plan.status}")
        return plan.status, {"Content-Type": "text/plain; charset=utf-8"}, b"internal error"

    def _api(self, method: str, args: dict, authorization: str, content_type: str) -> tuple[int, dict[str, str], bytes]:
        # Slack reads a token from the Authorization header, or from a form/query
        # "token" argument; JSON bodies must use the header.
        body_token = args.pop("token", None)
        failed = self._planned_failure(method, args)
        if failed is not None:
            return failed
        handler = self._methods.get(method)
        if handler is None:
            return self._answer(method, args, Rejected("unknown_method"))
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        if token is None and not content_type.startswith("application/json"):
            token = body_token
        if not token:
            return self._answer(method, args, Rejected("not_authed"))
        if token != self.token:
            return self._answer(method, args, Rejected("invalid_auth"))
        try:
            result = handler(args)
        except Rejected as rejected:
            return self._answer(method, args, rejected)
        return self._answer(method, args, result)

    def _answer(self, method: str, args: dict, result: dict | Rejected, status_on_error: int = 200):
        if isinstance(result, Rejected):
            self._record(method, args, False, result.error)
            payload: dict[str, Any] = {"ok": False, "error": result.error}
            if result.messages:
                payload["response_metadata"] = {"messages": result.messages}
            return _json(status_on_error, payload)
        self._record(method, args, True, None)
        return _json(200, {"ok": True, **result})

    def _response_url(self, key: str, args: dict) -> tuple[int, dict[str, str], bytes]:
        args["_key"] = key
        failed = self._planned_failure("response_url", args)
        if failed is not None:
            return failed
        problems = check_message(args)
        if problems:
            # Like incoming webhooks, response_url answers a rejected payload with HTTP 400.
            return self._answer("response_url", args, Rejected.from_problems(problems), status_on_error=400)
        return self._answer("response_url", args, {})

    def _upload(self, file_id: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        args = {"file_id": file_id, "length": len(body)}
        with self._lock:
            upload = self.uploads.get(file_id)
            if upload is not None:
                upload["content"] = body
        if upload is None:
            self._record("file_upload", args, False, "file_not_found")
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"file not found"
        self._record("file_upload", args, True, None)
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, f"OK - {len(body)}".encode()

    # -- ids -----------------------------------------------------------------

    def _next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + 100 * next(self._ts)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    # -- methods -------------------------------------------------------------

    def _auth_test(self, args: dict) -> dict:
        return {
            "url": "https://standin.slack.com/",
            "team": "Stand-in",
            "user": "partnerbot",
            "team_id": TEAM_ID,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _message_view(self, args: dict, ts: str) -> dict:
        message = {"type": "message", "user": self.bot_user_id, "bot_id": BOT_ID, "ts": ts, "text": args.get("text", "")}
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in args:
                message[key] = args[key]
        return message

    @staticmethod
    def _check_message_or_reject(args: dict) -> None:
        problems = check_message(args)
        if problems:
            raise Rejected.from_problems(problems)

    def _chat_post_message(self, args: dict) -> dict:
        channel = args.get("channel")
        if not channel:
            raise Rejected("channel_not_found")
        self._check_message_or_reject(args)
        if channel[0] in "UW":
            channel = "D" + channel
        ts = self._next_ts()
        with self._lock:
            self.messages[(channel, ts)] = dict(args, channel=channel)
        return {"channel": channel, "ts": ts, "message": self._message_view(args, ts)}

    def _chat_update(self, args: dict) -> dict:
        channel, ts = args.get("channel"), args.get("ts")
        if not channel:
            raise Rejected("channel_not_found")
        if not ts:
            raise _missing("ts")
        with self._lock:
            if (channel, ts) not in self.messages:
                raise Rejected("message_not_found")
        self._check_message_or_reject(args)
        with self._lock:
            # Fields left out of an update keep their previous value, as on Slack.
            merged = {**self.messages[(channel, ts)], **args}
            self.messages[(channel, ts)] = merged
        return {"channel": channel, "ts": ts, "text": merged.get("text", ""), "message": self._message_view(merged, ts)}

    def _chat_post_ephemeral(self, args: dict) -> dict:
        if not args.get("channel"):
            raise Rejected("channel_not_found")
        if not args.get("user"):
            raise _missing("user")
        self._check_message_or_reject(args)
        return {"message_ts": self._next_ts()}

    def _chat_delete(self, args: dict) -> dict:
        channel, ts = args.get("channel"), args.get("ts")
        if not channel:
            raise Rejected("channel_not_found")
        with self._lock:
            if self.messages.pop((channel, ts or ""), None) is None:
                raise Rejected("message_not_found")
        return {"channel": channel, "ts": ts}

    def _view_or_reject(self, args: dict, *, expect: str | None) -> dict:
        view = args.get("view")
        if view is None:
            raise _missing("view")
        if isinstance(view, str):
            raise Rejected("invalid_arguments", "[ERROR] view must be a JSON object [json-pointer:/view]")
        problems = check_view(view)
        if not problems and expect is not None and view.get("type") != expect:
            problems = [Problem("invalid_arguments", f"view type must be {expect}", "/view/type")]
        if problems:
            raise Rejected.from_problems(problems)
        return view

    def _store_view(self, view: dict, view_id: str | None = None, root_view_id: str | None = None) -> dict:
        with self._lock:
            external_id = view.get("external_id")
            if external_id:
                for other_id, other in self.views.items():
                    if other_id != view_id and other.get("external_id") == external_id:
                        raise Rejected("duplicate_external_id")
            view_id = view_id or self._next_id("V")
            stored = {
                "id": view_id,
                "team_id": TEAM_ID,
                "state": {"values": {}},
                "hash": f"{time.time():.6f}",
                "private_metadata": "",
                "callback_id": "",
                "external_id": "",
                "root_view_id": root_view_id or view_id,
                "app_id": "A0STANDIN",
                "bot_id": BOT_ID,
                **view,
            }
            self.views[view_id] = stored
            return stored

    def _require_trigger(self, args: dict) -> None:
        if not (args.get("trigger_id") or args.get("interactivity_pointer")):
            raise _missing("trigger_id")

    def _views_open(self, args: dict) -> dict:
        self._require_trigger(args)
        view = self._view_or_reject(args, expect="modal")
        return {"view": self._store_view(view)}

    def _views_push(self, args: dict) -> dict:
        self._require_trigger(args)
        view = self._view_or_reject(args, expect="modal")
        return {"view": self._store_view(view)}

    def _views_update(self, args: dict) -> dict:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not (view_id or external_id):
            raise Rejected("invalid_arguments", "[ERROR] must provide one of: view_id, external_id")
        view = self._view_or_reject(args, expect=None)
        with self._lock:
            if view_id is None:
                view_id = next((i for i, v in self.views.items() if v.get("external_id") == external_id), None)
            if view_id not in self.views:
                raise Rejected("not_found")
            previous = self.views[view_id]
        if not view.get("external_id") and previous.get("external_id"):
            view = {**view, "external_id": previous["external_id"]}  # the view keeps its external_id
        return {"view": self._store_view(view, view_id=view_id, root_view_id=previous.get("root_view_id"))}

    def _views_publish(self, args: dict) -> dict:
        user_id = args.get("user_id")
        if not user_id:
            raise Rejected("invalid_arguments", "[ERROR] invalid `user_id`")
        view = self._view_or_reject(args, expect="home")
        with self._lock:
            stored = self._store_view(view, view_id=self.home_views.get(user_id))
            self.home_views[user_id] = stored["id"]
        return {"view": stored}

    def user_profile(self, user_id: str) -> dict:
        """What users.info answers for `user_id`: defaults overlaid with self.users[user_id]."""
        custom = dict(self.users.get(user_id, {}))
        tz = custom.get("tz", DEFAULT_TZ)
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": user_id.lower(),
            "real_name": user_id,
            "deleted": False,
            "is_bot": False,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": _utc_offset_seconds(tz),
            "profile": {"real_name": user_id, "display_name": user_id, "email": f"{user_id.lower()}@example.com"},
        }
        user.update(custom)
        return user

    def _users_info(self, args: dict) -> dict:
        if not args.get("user"):
            raise _missing("user")
        return {"user": self.user_profile(args["user"])}

    def _conversations_open(self, args: dict) -> dict:
        users = args.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if args.get("channel"):
            return {"channel": {"id": args["channel"]}}
        if not users:
            raise Rejected("users_list_not_supplied")
        if len(users) == 1:
            return {"channel": {"id": "D" + users[0], "is_im": True, "user": users[0]}}
        return {"channel": {"id": "G" + "".join(sorted(users)), "is_mpim": True}}

    def _usergroups_users_list(self, args: dict) -> dict:
        group = args.get("usergroup")
        if not group:
            raise _missing("usergroup")
        members = self.usergroups.get(group)
        if members is None:
            raise Rejected("no_such_subteam")
        return {"users": list(members)}

    def _files_get_upload_url(self, args: dict) -> dict:
        filename, length = args.get("filename"), args.get("length")
        if not filename:
            raise _missing("filename")
        if length in (None, ""):
            raise _missing("length")
        file_id = self._next_id("F")
        with self._lock:
            self.uploads[file_id] = {"id": file_id, "filename": filename, "length": int(length), "content": None}
        return {"upload_url": f"{self.root}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, args: dict) -> dict:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise Rejected("invalid_arguments", "[ERROR] files must be a non-empty JSON array")
        completed = []
        with self._lock:
            for item in files:
                upload = self.uploads.get(item.get("id") if isinstance(item, dict) else None)
                if upload is None or upload["content"] is None:
                    raise Rejected("file_not_found")
                upload.update(title=item.get("title") or upload["filename"], channel=args.get("channel_id"))
                completed.append(
                    {
                        "id": upload["id"],
                        "name": upload["filename"],
                        "title": upload["title"],
                        "size": len(upload["content"]),
                    }
                )
        return {"files": completed}


def _json(status: int, payload: dict) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(payload).encode("utf-8")


def _summarize(args: dict, limit: int = 160) -> str:
    text = json.dumps(args, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Handler(BaseHTTPRequestHandler):
    standin: SlackStandin  # set on a per-server subclass
    server_version = "SlackStandin/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.standin.handle(self.path, self.headers, body)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. a timeout provoked by fail_next(delay=...))

    do_POST = _serve
    do_GET = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local Slack Web API stand-in in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001, help="0 picks a free port")
    parser.add_argument("--token", default="xoxb-standin")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    opts = parser.parse_args(argv)
    standin = SlackStandin(opts.token, host=opts.host, port=opts.port, latency=opts.latency).start()
    print(standin.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
