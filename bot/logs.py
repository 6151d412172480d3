"""Logging, set up once for every process (web, clock, every CLI command): `configure()`.

- `LOG_LEVEL` (default INFO) and `LOG_FORMAT` (`text`, the default, or `json`: one JSON object a line,
  written by python-json-logger) come from the environment; a bad value is a one-line error.
- Every line has a timestamp, and the context of what it is about: a request's team, user and
  command / action / callback id (bot/web.py sets them around each verified request), a clock line's job
  (store.log_context.about(job=…) around each job). The context travels into the listeners' background threads with
  the rest of the request's context (store.clock.carry copies it).
- APScheduler's per-run chatter and Alembic's "Context impl" lines are kept at WARNING.

Nothing here prints a setting: tokens and the signing secret are SecretStr (bot/settings.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from pythonjsonlogger.json import JsonFormatter

from store.log_context import FIELDS, current

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
QUIET = ("apscheduler", "apscheduler.scheduler", "apscheduler.executors.default", "alembic")  # per-run chatter

class LoggingError(ValueError):
    """LOG_LEVEL or LOG_FORMAT is not one of the values it may take."""


class _Context(logging.Filter):
    """Puts the current request's or job's context on every record (empty fields are left out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        about = current()
        for name in FIELDS:
            setattr(record, name, about.get(name, ""))
        record.about = " ".join(f"{k}={v}" for k, v in about.items() if v)
        return True


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        about = getattr(record, "about", "")
        return f"{line} [{about}]" if about else line


def configure(env: Mapping[str, str] | None = None, *, stream=None) -> logging.Handler:
    """Set up the root logger for this process from LOG_LEVEL and LOG_FORMAT (once: a second call replaces
    the first set-up instead of adding handlers); the handler, writing to `stream` (default stderr)."""
    env = os.environ if env is None else env
    level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
    if level not in LEVELS:
        raise LoggingError(f"LOG_LEVEL must be one of {', '.join(LEVELS)} (got {env.get('LOG_LEVEL')!r}).")
    kind = (env.get("LOG_FORMAT") or "text").strip().lower()
    if kind not in FORMATS:
        raise LoggingError(f"LOG_FORMAT must be text or json (got {env.get('LOG_FORMAT')!r}).")
    handler = logging.StreamHandler(stream)
    handler.set_name("partnerbot")
    handler.addFilter(_Context())
    if kind == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                                           static_fields={}, reserved_attrs=_reserved()))
    else:
        handler.setFormatter(_Text("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "partnerbot"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler


def _reserved() -> list[str]:
    """The record attributes a JSON line leaves out: the standard ones, and our text-only summary."""
    from pythonjsonlogger.core import RESERVED_ATTRS

    return [*RESERVED_ATTRS, "about"]


def request_fields(body: object) -> dict[str, object]:
    """What a verified request is about, for its log lines: team, user, command / action / callback id."""
    body = body if isinstance(body, dict) else {}
    raw_user = body.get("user")
    user = body.get("user_id") or (raw_user.get("id") if isinstance(raw_user, dict) else raw_user)
    raw_team = body.get("team")
    team = body.get("team_id") or (raw_team.get("id") if isinstance(raw_team, dict) else raw_team)
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    view = body.get("view") if isinstance(body.get("view"), dict) else {}
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    return {
        "team": team,
        "user": user or event.get("user"),
        "command": body.get("command"),
        "action": ",".join(str(a.get("action_id", "")) for a in actions if isinstance(a, dict)) or body.get("action_id"),
        "callback": view.get("callback_id") or body.get("callback_id") or event.get("type"),
    }
