"""What a log line is about — the request's team, user and command / action / callback id, the clock's
job, the object's reference (L-1042) — kept in a context variable, so every layer can say it and
bot/logs.py puts it on every line. It travels into background threads with the rest of the context
(store.clock.carry copies it)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

FIELDS = ("team", "user", "command", "action", "callback", "job", "ref")

_about: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("partnerbot_log_context", default={})


def current() -> dict[str, str]:
    return dict(_about.get())


@contextmanager
def about(**fields: object) -> Iterator[None]:
    """Log lines written inside carry these fields (added to what is already set; empty ones are skipped)."""
    token = _about.set({**_about.get(), **{k: str(v) for k, v in fields.items() if v not in (None, "")}})
    try:
        yield
    finally:
        _about.reset(token)
