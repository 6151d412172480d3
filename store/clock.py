"""The one source of "now" for the whole product.

Every read of the current instant (deadlines, outbox due and sent times, claims, audit events,
reminder keys, Home refreshes, default periods) goes through `now()`. It is the wall clock, unless
an operation has moved it: `travelled_to(T)` makes `now()` read T at the moment it is entered and
run on from there at the wall clock's pace, so `partnerbot tick --now T` behaves exactly as if the
machine's clock read T, for what it reads and for what it writes, whether T is before or after the
real time.

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

_shift: contextvars.ContextVar[dt.timedelta | None] = contextvars.ContextVar("partnerbot_clock_shift", default=None)

T = TypeVar("T")


def wall() -> dt.datetime:
    """The machine's clock, aware UTC (what `now()` reads when nothing moved it)."""
    return dt.datetime.now(dt.UTC)


def now() -> dt.datetime:
    """The current instant as the product sees it: aware, UTC."""
    shift = _shift.get()
    return wall() if shift is None else wall() + shift


def today(tz: ZoneInfo | dt.tzinfo) -> dt.date:
    """The calendar date in `tz` at `now()` (never the machine's own zone)."""
    return now().astimezone(tz).date()


def aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("the clock needs an aware instant (with a time zone), e.g. 2026-12-01T14:00:00Z")
    return instant.astimezone(dt.UTC)


@contextmanager
def travelled_to(instant: dt.datetime | None) -> Iterator[dt.datetime]:
    """Within the block `now()` reads `instant` on entry and runs on from there.

    `None` leaves the clock as it is (so callers can pass an optional `now=` straight through).
    Nesting at an instant already in force (a tick's delivery inside the tick) keeps the outer shift.
    """
    if instant is None:
        yield now()
        return
    instant = aware(instant)
    current = now()
    if abs((current - instant).total_seconds()) < 1.0:
        yield current
        return
    token = _shift.set(instant - wall())
    try:
        yield instant
    finally:
        _shift.reset(token)


def carry(work: Callable[[], T]) -> Callable[[], T]:
    """`work`, bound to the caller's clock, for running on another thread."""
    context = contextvars.copy_context()
    return lambda: context.run(work)
