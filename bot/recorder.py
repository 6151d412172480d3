"""The one hook that turns domain events into outbox rows, inside the transaction that caused them.

`store.events` calls `record(session, events)` when a unit of work commits: every event is rendered by
`messages.events.render` into `Post` and `Refresh` instructions, and those are written with
`store.outbox` (a keyed post at most once, through `store.reminders.post_many_once`). Refreshes that
follow each other with the same kinds are written in one `refresh_many`, so an operation that touches
many leads' cards does two queries, not two per lead.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from messages.events import render
from store import outbox, reminders
from store.events import Event, Post, Refresh


def record(session: Session, events: list[Event]) -> list[int]:
    """Write the messages these events cause; the ids of the outbox rows written."""
    rows = []
    keyed: list[int] = []
    refreshes: list[Refresh] = []

    onces: list = []

    def write_onces() -> None:
        if onces:
            keyed.extend(reminders.post_many_once(session, onces))
            onces.clear()

    def write_refreshes() -> None:
        if refreshes:
            rows.extend(outbox.refresh_many(session, [(r.subject, r.render) for r in refreshes],
                                            kinds=refreshes[0].kinds))
            refreshes.clear()

    for event in events:
        for item in render(event):
            if isinstance(item, Refresh):
                write_onces()
                if refreshes and refreshes[0].kinds != item.kinds:
                    write_refreshes()
                refreshes.append(item)
                continue
            write_refreshes()
            if not isinstance(item, Post):
                raise TypeError(f"a renderer returned {item!r}: only Post and Refresh are messages")
            if item.key is not None:
                onces.append(reminders.Once(item.key, item.channel, item.message, item.kind, item.subject,
                                            item.audience, item.not_before, item.method))
            else:
                write_onces()
                rows.append(outbox.post(session, channel=item.channel, message=item.message, kind=item.kind,
                                        subject=item.subject, audience=item.audience, method=item.method,
                                        not_before=item.not_before))
    write_refreshes()
    write_onces()
    session.flush()
    return [row.id for row in rows] + keyed
