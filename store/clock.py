"""The one source of "now" for the whole product.

Every read of the current instant (deadlines, outbox due and sent times, claims, audit events,
reminder keys, Home refreshes, default periods) goes through `now()`. It is the wall clock, unless
an operation has moved it: `travelled_to(T)` makes `now()` read T at the moment it is entered and
run on from there at the wall clock's pace, so `partnerbot tick --now T` behaves exactly as if the
machine's clock read T, for what it reads and for what it writes, whether T is before or after the
real time. A pass of the clock's jobs stands the clock still at its instant (`tick=False`), so all
it records is stamped with that one instant, as its jobs see it.

The shift is a context variable: it holds for the code that set it and for the threads it hands
work to through `carry()`; a web worker's listeners are never shifted. Tests that need the wall
clock itself fixed use `time-machine`, which moves `datetime.now` underneath this module.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from zoneinfo import ZoneInfo

# The moved clock, if any: (offset from the wall clock, or an instant it stands still at).
_moved: contextvars.ContextVar[tuple[dt.timedelta | None, dt.datetime | None] | None] = contextvars.ContextVar(
    "partnerbot_clock", default=None)

T = TypeVar("T")


def wall() -> dt.datetime:
    """The machine's clock, aware UTC (what `now()` reads when nothing moved it)."""
    return dt.datetime.now(dt.UTC)


def now() -> dt.datetime:
    """The current instant as the product sees it: aware, UTC."""
    moved = _moved.get()
    if moved is None:
        return wall()
    offset, standing = moved
    return standing if standing is not None else wall() + offset


def today(tz: ZoneInfo | dt.tzinfo) -> dt.date:
    """The calendar date in `tz` at `now()` (never the machine's own zone)."""
    return now().astimezone(tz).date()


def aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the clock needs an aware instant (with a time zone), e.g. 2026-12-01T14:00:00Z")
    return instant.astimezone(dt.UTC)


@contextmanager
def travelled_to(instant: dt.datetime | None, *, tick: bool = True) -> Iterator[dt.datetime]:
    """Within the block `now()` reads `instant`.

    tick=True: it reads `instant` on entry and runs on from there at the wall clock's pace (a whole
    `tick --now T`, delivery included). tick=False: it stands still at `instant` (one pass of the
    clock's jobs, or one operation, records everything at exactly its instant).
    `None` leaves the clock as it is, so callers can pass an optional `now=` straight through; a
    running clock asked to run from within a second of where it already is stays as it is.
    """
    if instant is None:
        yield now()
        return
    instant = aware(instant)
    if tick:
        moved = _moved.get()
        if (moved is None or moved[1] is None) and abs((now() - instant).total_seconds()) < 1.0:
            yield now()
            return
        token = _moved.set((instant - wall(), None))
    else:
        token = _moved.set((None, instant))
    try:
        yield instant
    finally:
        _moved.reset(token)


def carry(work: Callable[[], T]) -> Callable[[], T]:
    """`work`, bound to the caller's clock, for running on another thread."""
    context = contextvars.copy_context()
    return lambda: context.run(work)
