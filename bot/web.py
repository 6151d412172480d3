"""The HTTP entry point: a WSGI app serving Slack at POST /slack/events and GET /healthz.

Run by a production server (gunicorn, see the Procfile), never by Bolt's development server.
A request to /slack/events passes bot/inbound.py's door first (size, then signature, then shape),
so Bolt only ever sees signed requests shaped as Slack sends them; every refusal is a 4xx with a
short reason, and nothing of an unverified request is read past its signature.

A worker starts without calling Slack (no auth.test at boot: bot/middleware.BotIdentity learns who
the bot is later), so a worker that restarts while Slack's API is down boots and serves.
"""

from __future__ import annotations

import gc
import json
import logging
from http import HTTPStatus

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.request.internals import build_context

from bot import inbound
from store import clock
from store.db import database_answers
from bot.logs import request_fields
from store.log_context import about

log = logging.getLogger("partnerbot.web")

def make_wsgi(app: App):
    engine = app.services.engine
    secret = app.services.settings.signing_secret

    def slack(environ, start_response):
        try:
            raw = inbound.read_body(environ)
            headers = inbound.headers_of(environ)
            if not inbound.signed(raw, headers, secret, now=clock.wall().timestamp()):
                if inbound.is_ssl_check(raw):  # Slack's probe of the URL: answered, nothing done
                    return _reply(start_response, 200, None)
                raise inbound.Refused(401, "invalid request")
            body = inbound.parse(raw, headers.get("content-type"))
            inbound.check_shape(body)
        except inbound.Refused as refused:
            log.debug("refused %s: %s", refused.status, refused.reason)
            return _reply(start_response, refused.status, {"error": refused.reason})
        with about(**request_fields(body)):  # every line the request writes, its listeners' included
            return _respond(start_response, app.dispatch(_bolt_request(raw, body, headers, environ)))

    def wsgi(environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/slack/events":
            if method != "POST":
                return _reply(start_response, 405, {"error": "POST only"})
            return slack(environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            if database_answers(engine):
                return _reply(start_response, 200, {"status": "ok", "database": "ok"})
            return _reply(start_response, 503, {"status": "unavailable", "database": "not answering"})
        return _reply(start_response, 404, {"error": "not found"})

    return wsgi


def _bolt_request(raw: bytes, body: dict, headers: dict[str, str], environ) -> BoltRequest:
    """Bolt's request, routed on the body checked here. (Bolt's own reading would take any form that
    mentions "payload" — `/handoff payload systems` — for an empty interaction.) Its raw body and
    headers stay as they came, for Bolt's own signature check."""
    request = BoltRequest(body="", query=environ.get("QUERY_STRING", ""), headers=headers)
    request.raw_body = raw.decode("utf-8")
    request.body = body
    request.context = build_context(BoltContext(), body)
    return request


def _respond(start_response, response):
    data = (response.body or "").encode("utf-8")
    headers = [(name, value) for name, values in response.headers.items() if name.lower() != "content-length"
               for value in values]
    start_response(f"{response.status} {_reason(response.status)}", [*headers, ("Content-Length", str(len(data)))])
    return [data]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _reply(start_response, status: int, body: dict | None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = [("Content-Length", str(len(data)))]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    start_response(f"{status} {_reason(status)}", headers)
    return [data]


def application():
    """gunicorn's entry: `gunicorn 'bot.web:application()'`. Settings come from the environment.

    A setting that is wrong (a missing token, a bad playbook, a database behind the code's
    migrations) stops the start with one line naming what to fix; a database that does not answer
    does not: the worker serves, /healthz says 503 until it answers.
    """
    from gunicorn.errors import AppImportError

    from bot.app import create_app
    from bot.startup import DatabaseNotAnswering, check_schema
    from bot.settings import Settings, SettingsError
    from store.playbook import PlaybookError

    from bot.logs import LoggingError, configure

    try:
        configure()
        settings = Settings.from_env()
        settings.require_slack()
        try:
            check_schema(settings.database_url, stop_if_ahead=False)
        except DatabaseNotAnswering as down:
            log.warning("%s Serving anyway: /healthz answers 503 until it answers.", down)
        wsgi = make_wsgi(create_app(settings))
    except (SettingsError, PlaybookError, LoggingError) as error:
        # gunicorn prints this one line and stops (no traceback); a worker would otherwise log one.
        raise AppImportError(f"partnerbot: {error}") from None
    # Move everything built at start-up (SQLAlchemy, pydantic, Bolt) out of the cyclic collector's
    # reach, so its full passes stay short and don't show up as slow answers to Slack.
    gc.collect()
    gc.freeze()
    return wsgi
