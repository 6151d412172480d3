"""Business-hours arithmetic for the playbook's clocks.

An SLA such as "accept within 8 business hours" only counts time when the office is open:
a lead handed off on Friday at 16:00 with 09:00-17:00 hours has one hour left on Friday and
the remaining seven on Monday, so it is due on Monday at 16:00.

Everything is computed one local *day* at a time, never minute by minute: for each business
day the opening and closing wall-clock times are turned into UTC instants with the
calendar's time zone, and whole periods are consumed at once. A daylight-saving change is
therefore handled by the conversion (the 09:00 opening after the spring change is simply an
hour earlier in UTC). If a change falls *inside* the opening hours, the period is as long as
the real elapsed time between opening and closing that day.

All public methods take timezone-aware datetimes (in any zone) and return UTC-aware ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

__all__ = ["BusinessCalendar"]

UTC = timezone.utc


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours in one time zone: which weekdays, from when to when, minus holidays.

    ``days`` holds weekday numbers with 0 = Monday (as ``date.weekday()``); ``start`` and
    ``end`` are naive wall-clock times in ``tz`` with ``start < end`` (no overnight shifts);
    ``holidays`` are local dates on which the office is closed all day.
    """

    tz: tzinfo
    days: frozenset[int]
    start: time
    end: time
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        days = frozenset(self.days)
        holidays = frozenset(self.holidays)
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "holidays", holidays)
        if not isinstance(self.tz, tzinfo):
            raise TypeError(f"tz must be a tzinfo such as ZoneInfo('UTC'), got {self.tz!r}")
        if not days:
            raise ValueError("a business calendar needs at least one business day")
        if not days <= frozenset(range(7)):
            raise ValueError(f"business days must be weekday numbers 0 (Mon) to 6 (Sun), got {sorted(days)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are wall-clock times and must not carry a time zone")
        if not self.start < self.end:
            raise ValueError(f"end ({self.end:%H:%M}) must be after start ({self.start:%H:%M})")

    # ------------------------------------------------------------------ queries

    def is_business_day(self, day: date) -> bool:
        """Whether the office opens at all on this local date."""
        return day.weekday() in self.days and day not in self.holidays

    def is_business_time(self, dt: datetime) -> bool:
        """Whether ``dt`` falls inside opening hours (opening included, closing excluded)."""
        moment = _to_utc(dt)
        day = moment.astimezone(self.tz).date()
        if not self.is_business_day(day):
            return False
        opens, closes = self._period(day)
        return opens <= moment < closes

    def next_business_start(self, dt: datetime) -> datetime:
        """``dt`` itself (in UTC) if within opening hours, else the next opening, in UTC."""
        return self.add_business_hours(dt, 0)

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The UTC instant at which ``hours`` business hours have elapsed since ``start``.

        Time outside opening hours does not count; a start before opening counts from the
        opening. With ``hours == 0`` this is the next moment the office is open. A deadline
        that lands exactly on closing time is that closing time, not the next opening.
        """
        moment = _to_utc(start)
        remaining = _hours_to_timedelta(hours)
        for opens, closes in self._periods_ending_after(moment):
            cursor = max(moment, opens)
            available = closes - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        raise AssertionError("unreachable: business periods never run out")  # pragma: no cover

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Business hours elapsed from ``start`` to ``end`` (negative if ``end`` is earlier).

        The inverse of :meth:`add_business_hours`, for measuring e.g. time to accept.
        """
        begin, finish = _to_utc(start), _to_utc(end)
        if finish < begin:
            return -self.business_hours_between(finish, begin)
        total = timedelta(0)
        for opens, closes in self._periods_ending_after(begin):
            if opens >= finish:
                break
            total += min(closes, finish) - max(opens, begin)
        return total / timedelta(hours=1)

    # ------------------------------------------------------------------ internals

    def _period(self, day: date) -> tuple[datetime, datetime]:
        """Opening and closing of a local date as UTC instants."""
        opens = datetime.combine(day, self.start, tzinfo=self.tz).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=self.tz).astimezone(UTC)
        return opens, closes

    def _periods_ending_after(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Business periods, in order, that close after ``moment`` (endless)."""
        day = moment.astimezone(self.tz).date()
        # Holidays are finite and at least one weekday is open, so a business day always
        # comes within this many days; the bound only guards against a logic error.
        max_gap = 7 + len(self.holidays)
        gap = 0
        while True:
            if self.is_business_day(day):
                gap = 0
                opens, closes = self._period(day)
                # closes <= opens only when the whole period sits in a skipped DST hour.
                if closes > moment and closes > opens:
                    yield opens, closes
            else:
                gap += 1
                if gap > max_gap:  # pragma: no cover - defended by __post_init__
                    raise RuntimeError("business calendar has no business days left")
            day += timedelta(days=1)


def _to_utc(dt: datetime) -> datetime:
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {dt.isoformat()}")
    return dt.astimezone(UTC)


def _hours_to_timedelta(hours: float) -> timedelta:
    if isinstance(hours, bool) or not isinstance(hours, (int, float)):
        raise TypeError(f"hours must be a number, got {hours!r}")
    if not math.isfinite(hours) or hours < 0:
        raise ValueError(f"hours must be a finite number of hours >= 0, got {hours!r}")
    return timedelta(hours=hours)
