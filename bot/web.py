"""The HTTP entry point: a WSGI app serving Slack at POST /slack/events and GET /healthz.

Run by a production server (gunicorn, see the Procfile), never by Bolt's development server.
"""

from __future__ import annotations

import gc
import json
import logging

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from store.db import database_answers


def make_wsgi(app: App):
    slack = SlackRequestHandler(app)
    engine = app.services.engine

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


def _reply(start_response, status: int, body: dict):
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def application():
    """gunicorn's entry: `gunicorn 'bot.web:application()'`. Settings come from the environment."""
    from bot.app import create_app
    from bot.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    settings.require_slack()
    wsgi = make_wsgi(create_app(settings))
    # Move everything built at start-up (SQLAlchemy, pydantic, Bolt) out of the cyclic collector's
    # reach, so its full passes stay short and don't show up as slow answers to Slack.
    gc.collect()
    gc.freeze()
    return wsgi
