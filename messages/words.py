"""How store's words look in Slack: the parts of a refusal (store.errors.Words) as mrkdwn, and a day.

Store words its refusals with the people, moments and typed text in them marked, and formats none of
it. This module is that formatting: a person is a mention, a moment is shown in each reader's own
zone, typed text is escaped (a partner named `<!channel>` pings no one). Importing it registers it
(`store.errors.words_for(Words)`), so a refusal's text is what Slack should show; every message module
of a feature whose store refuses in Words imports it.
"""

from __future__ import annotations

import datetime as dt

from messages.text import escape, user, when
from store import errors


def due_text(day: dt.date) -> str:
    """A due date is a calendar day in the playbook's zone, not a moment: shown as the day itself."""
    return day.strftime("%a %d %b %Y")


@errors.words_for(errors.Words)
def mrkdwn(parts: tuple[errors.Part, ...]) -> str:
    shown = []
    for part in parts:
        if isinstance(part, errors.Person):
            shown.append(user(part.user_id))
        elif isinstance(part, errors.Moment):
            shown.append(when(part.at, part.zone))
        elif isinstance(part, errors.Day):
            shown.append(due_text(part.day))
        elif isinstance(part, errors.Typed):
            text = escape(part.text)
            shown.append(f"*{text}*" if part.bold else text)
        else:
            shown.append(str(part))
    return "".join(shown)
