"""What each domain event means for Slack: the renderers of every feature, in one table.

A renderer takes one event (store.events) and returns the messages it causes, as `Post` and
`Refresh` instructions: pure data built from the read models the event carries. It opens no session
and calls no Slack; `bot/recorder.py` writes what it returns to the outbox.

Each feature module keeps its own renderers next to its builders and lists them in a `RENDERERS`
dict (event type -> renderer); this table merges them.
"""

from __future__ import annotations

from collections.abc import Callable

from messages import actions, deals, escalations, handoff, issues, partners, reminders
from store.events import Event, Post, Refresh

Renderer = Callable[[Event], list[Post | Refresh]]

RENDERERS: dict[type[Event], Renderer] = {}
for _module in (handoff, reminders, actions, deals, escalations, issues, partners):
    for _type, _renderer in getattr(_module, "RENDERERS", {}).items():
        if _type in RENDERERS:
            raise RuntimeError(f"two renderers for {_type.__name__}")
        RENDERERS[_type] = _renderer


def render(event: Event) -> list[Post | Refresh]:
    """The messages one event causes (a KeyError names an event nobody renders: a bug, loudly)."""
    try:
        renderer = RENDERERS[type(event)]
    except KeyError:
        raise KeyError(f"no renderer for {type(event).__name__}: add one to a RENDERERS table in messages/") from None
    return renderer(event)
