"""The door of POST /slack/events: what is read, in what order, before Bolt sees a request.

1. The size, from Content-Length, before a byte is read: a body over MAX_BODY_BYTES is 413.
2. The signature (`v0=` HMAC-SHA256 of `v0:timestamp:body` with the signing secret, the timestamp
   within five minutes of the wall clock), over the raw bytes. Anything unsigned, badly signed,
   stale, or with a timestamp that is not a number is 401, and nothing of it is parsed, logged or
   used — least of all its response_url. (The one exception is Slack's bare `ssl_check=1` probe,
   answered 200 with nothing done, as Bolt answers it.)
3. The shape: a signed body must be UTF-8, parse as Slack sends it (a slash-command form, a form
   field `payload` holding a JSON object, or an Events API JSON object), and carry the fields Bolt's
   routing and the listeners index, with the types Slack gives them. Anything else is 400: a request
   Slack would never send.

Only then does Bolt get the request (whose own verification stays on). Nothing here raises for any
input: every outcome is a Refused with its status.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 1 << 20  # 1 MiB; Slack's largest payloads (a full modal's state) are tens of kB
MAX_SKEW_SECONDS = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_SSL_CHECK = re.compile(rb"(ssl_check=1(&token=[A-Za-z0-9]*)?|token=[A-Za-z0-9]*&ssl_check=1)")


class Refused(Exception):
    """The request is answered `status` and goes no further."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- 1. size ----------------------------------------------------------------------------------------

def read_body(environ: Mapping[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused (413) before it is read when it is longer than `limit`."""
    stream = environ.get("wsgi.input")
    length_text = (environ.get("CONTENT_LENGTH") or "").strip()
    if length_text:
        if not length_text.isascii() or not length_text.isdigit():
            raise Refused(400, "bad Content-Length")
        length = int(length_text)
        if length > limit:
            raise Refused(413, f"request body over {limit} bytes")
        data = stream.read(length) if stream is not None and length else b""
        if len(data) != length:
            raise Refused(400, "request body shorter than its Content-Length")
        return data
    if stream is None or not environ.get("wsgi.input_terminated"):
        return b""  # no length and a server that does not end the stream for us: no body
    data = stream.read(limit + 1)  # chunked: read no more than one byte past the limit
    if len(data) > limit:
        raise Refused(413, f"request body over {limit} bytes")
    return data


# --- 2. signature -----------------------------------------------------------------------------------

def headers_of(environ: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers, lower-case names, as the WSGI server decoded them (latin-1)."""
    headers = {key[5:].lower().replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.lower().replace("_", "-")] = environ[key]
    return headers


def is_ssl_check(body: bytes) -> bool:
    return _SSL_CHECK.fullmatch(body) is not None


def signed(body: bytes, headers: Mapping[str, str], secret: str, *, now: float) -> bool:
    """Whether Slack signed exactly these bytes, recently. Never raises.

    The same check as slack_sdk's SignatureVerifier (which Bolt runs again afterwards), done here over
    the raw bytes because that one raises on the inputs this door exists for: a timestamp that is not
    an integer (`int("abc")`) and a body that is not UTF-8 (it decodes before hashing)."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not secret or not isinstance(timestamp, str) or not isinstance(signature, str):
        return False
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={expected}".encode(), signature.encode())


# --- 3. shape ---------------------------------------------------------------------------------------

def _bad(reason: str) -> Refused:
    return Refused(400, f"not a request Slack sends: {reason}")


def parse(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A signed body read as Slack sends it, or Refused(400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("the body is not UTF-8") from None
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json" or text.startswith("{"):
        return _json_object(text, "the JSON body")
    try:
        form = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise _bad("the form does not parse") from None
    fields = dict(form)
    if len(fields) != len(form):
        raise _bad("a form field is repeated")
    if "payload" in fields:
        return _json_object(fields["payload"], "payload")
    return fields


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise _bad(f"{what} is not a JSON object")
    return value


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _need(condition: bool, reason: str) -> None:
    if not condition:
        raise _bad(reason)


def _dict_or_none(body: Mapping[str, Any], key: str) -> dict | None:
    value = body.get(key)
    _need(value is None or isinstance(value, dict), f"{key} is not an object")
    return value


def _common(body: Mapping[str, Any]) -> None:
    """The fields Bolt reads from every request to build its context, in the types it expects."""
    for key in ("team", "enterprise", "channel", "user"):
        value = body.get(key)
        _need(value is None or isinstance(value, str) or (isinstance(value, dict) and _optional_str(value, "id")),
              f"{key} is neither an id nor an object with one")
    for key in ("view", "message", "previous_message", "container", "item", "assistant_thread", "function_data"):
        _dict_or_none(body, key)
    _need("event" not in body or isinstance(body["event"], dict), "event is not an object")  # Bolt: .get("event", {})
    authorizations = body.get("authorizations")
    _need(authorizations is None or (isinstance(authorizations, list)
                                     and all(isinstance(a, dict) for a in authorizations)), "authorizations")
    for key in ("response_url", "trigger_id", "user_id", "team_id", "enterprise_id", "channel_id", "thread_ts"):
        _need(_optional_str(body, key), f"{key} is not text")
    urls = body.get("response_urls")
    _need(urls is None or (isinstance(urls, list) and all(
        isinstance(u, dict) and isinstance(u.get("response_url"), str) for u in urls)), "response_urls")
    _need(body.get("type") is None or isinstance(body.get("type"), str), "type is not text")


def _optional_str(body: Mapping[str, Any], key: str) -> bool:
    return body.get(key) is None or isinstance(body.get(key), str)


def _user(body: Mapping[str, Any]) -> None:
    user = body.get("user")
    _need(isinstance(user, dict) and _is_id(user.get("id")), "no user")


def _view(body: Mapping[str, Any], *, modal: bool) -> dict:
    view = body.get("view")
    _need(isinstance(view, dict), "no view")
    _need(isinstance(view.get("callback_id"), str), "the view has no callback_id")
    _need(_optional_str(view, "private_metadata") and _optional_str(view, "id"), "the view's ids are not text")
    if modal:
        _need(view.get("type") == "modal", "a submitted view that is not a modal")
        state = view.get("state")
        values = state.get("values") if isinstance(state, dict) else None
        _need(isinstance(values, dict) and all(
            isinstance(block, dict) and all(isinstance(element, dict) for element in block.values())
            for block in values.values()), "the view's state is not blocks of elements")
        blocks = view.get("blocks")
        _need(blocks is None or (isinstance(blocks, list) and all(isinstance(b, dict) for b in blocks)),
              "the view's blocks")
    return view


def _block_actions(body: Mapping[str, Any]) -> None:
    _user(body)
    _need(_is_id(body.get("trigger_id")), "no trigger_id")
    actions = body.get("actions")
    _need(isinstance(actions, list) and bool(actions), "no actions")
    for action in actions:
        _need(isinstance(action, dict) and isinstance(action.get("action_id"), str), "an action without an action_id")
        _need(_optional_str(action, "block_id") and _optional_str(action, "value"), "an action's ids are not text")
        _dict_or_none(action, "selected_option")
    if body.get("view") is not None:
        _need(isinstance(body["view"].get("type"), str), "the view has no type")


def _view_submission(body: Mapping[str, Any]) -> None:
    _user(body)
    _view(body, modal=True)


def _view_closed(body: Mapping[str, Any]) -> None:
    _user(body)
    _view(body, modal=False)


def _block_suggestion(body: Mapping[str, Any]) -> None:
    _user(body)
    for key in ("action_id", "block_id", "value"):
        _need(isinstance(body.get(key), str), f"no {key}")


def _with_callback(body: Mapping[str, Any]) -> None:
    _user(body)
    _need(isinstance(body.get("callback_id"), str), "no callback_id")


_INTERACTIONS = {
    "block_actions": _block_actions,
    "view_submission": _view_submission,
    "view_closed": _view_closed,
    "block_suggestion": _block_suggestion,
    "shortcut": _with_callback,
    "message_action": _with_callback,
    "interactive_message": _with_callback,
    "dialog_submission": _with_callback,
    "dialog_cancellation": _with_callback,
    "dialog_suggestion": _with_callback,
}


def _event_callback(body: Mapping[str, Any]) -> None:
    event = body.get("event")
    _need(isinstance(event, dict) and isinstance(event.get("type"), str), "an event without a type")
    _need(_is_id(body.get("team_id")) or isinstance(body.get("authorizations"), list), "an event without a team")
    if event["type"] == "app_home_opened":
        _need(_is_id(event.get("user")) and _optional_str(event, "tab"), "app_home_opened without a user")
    for key in ("channel", "team", "enterprise", "item"):
        value = event.get(key)
        _need(value is None or isinstance(value, (str, dict)), f"the event's {key}")
    for key in ("message", "previous_message", "assistant_thread"):
        _dict_or_none(event, key)


def _url_verification(body: Mapping[str, Any]) -> None:
    _need(isinstance(body.get("challenge"), str), "url_verification without a challenge")


_EVENTS = {"event_callback": _event_callback, "url_verification": _url_verification, "app_rate_limited": lambda b: None}


def check_shape(body: Mapping[str, Any]) -> None:
    """Refused(400) unless `body` has the shape Slack gives the kind of request it claims to be."""
    _common(body)
    kind = body.get("type")
    if "command" in body:  # a slash command: a form
        _need(isinstance(body["command"], str) and body["command"].startswith("/"), "command")
        _need(_is_id(body.get("user_id")) and _is_id(body.get("trigger_id")), "a command without user_id or trigger_id")
        _need(_optional_str(body, "text"), "text")
    elif body.get("ssl_check") == "1":
        pass  # Slack's signed SSL probe: Bolt answers it
    elif kind in _INTERACTIONS:
        _INTERACTIONS[kind](body)
    elif kind in _EVENTS:
        _EVENTS[kind](body)
    else:
        raise _bad("an unknown kind of request")
    _need(_text_is_unicode(body), "text with unpaired surrogates")


def _text_is_unicode(node: Any, depth: int = 0) -> bool:
    """No lone surrogates (JSON's "\\ud800"), which Slack never sends and no database stores."""
    if depth > 64:
        return False
    if isinstance(node, str):
        try:
            node.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(node, dict):
        return all(_text_is_unicode(k, depth + 1) and _text_is_unicode(v, depth + 1) for k, v in node.items())
    if isinstance(node, list):
        return all(_text_is_unicode(v, depth + 1) for v in node)
    return True
