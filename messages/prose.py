"""Jinja2 for the prose of messages (help, later reminders and digests), with an escaping filter."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from messages.text import escape


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("messages", "templates"),
        autoescape=False,  # mrkdwn, not HTML: user values go through the `mrkdwn` filter
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["mrkdwn"] = escape
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context).strip()


def help_message(command: str, **context) -> dict:
    text = render(f"{command}_help.md.j2", **context)
    return {"response_type": "ephemeral", "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
