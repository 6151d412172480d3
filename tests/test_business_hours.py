"""Business-hours arithmetic. Every expected value is worked out by hand in the comments.

Reference week (June 2025): Mon 2 June ... Fri 6 June, Sat 7, Sun 8, Mon 9 June.
"""

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from store.business_hours import BusinessCalendar

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
WEEKDAYS = frozenset({0, 1, 2, 3, 4})


def calendar(tz=UTC, days=WEEKDAYS, start=time(9), end=time(17), holidays=()):
    return BusinessCalendar(tz=tz, days=days, start=start, end=end, holidays=frozenset(holidays))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- add_business_hours


def test_same_day():
    # Mon 10:00 + 3h, all inside 09-17 -> Mon 13:00
    assert calendar().add_business_hours(utc(2025, 6, 2, 10), 3) == utc(2025, 6, 2, 13)


def test_across_the_night():
    # Mon 15:00 + 4h: 2h until 17:00, 2h left -> Tue 09:00 + 2h = Tue 11:00
    assert calendar().add_business_hours(utc(2025, 6, 2, 15), 4) == utc(2025, 6, 3, 11)


def test_across_the_weekend():
    # Fri 12:00 + 10h: 5h on Friday, 5h left -> Mon 09:00 + 5h = Mon 14:00
    assert calendar().add_business_hours(utc(2025, 6, 6, 12), 10) == utc(2025, 6, 9, 14)


def test_friday_afternoon_handoff():
    # Fri 16:00 + 8h: 1h on Friday (16-17), 7h left -> Mon 09:00 + 7h = Mon 16:00.
    assert calendar().add_business_hours(utc(2025, 6, 6, 16), 8) == utc(2025, 6, 9, 16)


def test_holiday_is_skipped():
    # Tue 3 June is a holiday. Mon 15:00 + 4h: 2h on Monday, Tuesday closed,
    # 2h left -> Wed 09:00 + 2h = Wed 11:00
    cal = calendar(holidays={date(2025, 6, 3)})
    assert cal.add_business_hours(utc(2025, 6, 2, 15), 4) == utc(2025, 6, 4, 11)


def test_handoff_on_a_holiday_starts_next_business_day():
    # Mon 2 June is a holiday; Mon 10:00 + 1h -> Tue 09:00 + 1h = Tue 10:00
    cal = calendar(holidays={date(2025, 6, 2)})
    assert cal.add_business_hours(utc(2025, 6, 2, 10), 1) == utc(2025, 6, 3, 10)


def test_start_before_opening_counts_from_opening():
    # Mon 07:00 + 2h -> counts from 09:00 -> Mon 11:00
    assert calendar().add_business_hours(utc(2025, 6, 2, 7), 2) == utc(2025, 6, 2, 11)


def test_start_after_closing_counts_from_next_opening():
    # Mon 18:30 + 1h -> Tue 09:00 + 1h = Tue 10:00
    assert calendar().add_business_hours(utc(2025, 6, 2, 18, 30), 1) == utc(2025, 6, 3, 10)


def test_start_on_saturday():
    # Sat 10:00 + 1h -> Mon 09:00 + 1h = Mon 10:00
    assert calendar().add_business_hours(utc(2025, 6, 7, 10), 1) == utc(2025, 6, 9, 10)


def test_fractional_hours():
    cal = calendar()
    # Mon 16:30 + 1.25h: 0.5h on Monday, 0.75h = 45 min left -> Tue 09:45
    assert cal.add_business_hours(utc(2025, 6, 2, 16, 30), 1.25) == utc(2025, 6, 3, 9, 45)
    # 0.1h = 6 minutes
    assert cal.add_business_hours(utc(2025, 6, 2, 10), 0.1) == utc(2025, 6, 2, 10, 6)


def test_deadline_on_closing_time_is_closing_time():
    # Mon 09:00 + 8h uses the whole day exactly -> Mon 17:00, not Tue 09:00
    assert calendar().add_business_hours(utc(2025, 6, 2, 9), 8) == utc(2025, 6, 2, 17)


def test_zero_hours_is_next_business_moment():
    cal = calendar()
    assert cal.add_business_hours(utc(2025, 6, 2, 11, 15), 0) == utc(2025, 6, 2, 11, 15)
    # at closing the office is closed: next opening is Tue 09:00
    assert cal.add_business_hours(utc(2025, 6, 2, 17), 0) == utc(2025, 6, 3, 9)


def test_spring_forward_week_new_york():
    # DST starts Sun 9 March 2025 (EST -5 -> EDT -4). Fri 7 March 16:00 EST = 21:00 UTC.
    # +8h: 1h on Friday, 7h left -> Mon 10 March 09:00 EDT + 7h = 16:00 EDT = 20:00 UTC.
    cal = calendar(tz=NY)
    start = datetime(2025, 3, 7, 16, tzinfo=NY)
    assert start == utc(2025, 3, 7, 21)
    due = cal.add_business_hours(start, 8)
    assert due == utc(2025, 3, 10, 20)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2025, 3, 10, 16)


def test_spring_forward_week_longer_sla():
    # Fri 7 March 12:00 EST (17:00 UTC) + 16h: 5h Friday, 8h Monday, 3h left ->
    # Tue 11 March 09:00 EDT + 3h = 12:00 EDT = 16:00 UTC
    cal = calendar(tz=NY)
    assert cal.add_business_hours(utc(2025, 3, 7, 17), 16) == utc(2025, 3, 11, 16)


def test_fall_back_week_new_york():
    # DST ends Sun 2 Nov 2025 (EDT -4 -> EST -5). Fri 31 Oct 16:00 EDT = 20:00 UTC.
    # +8h -> Mon 3 Nov 16:00 EST = 21:00 UTC
    cal = calendar(tz=NY)
    assert cal.add_business_hours(utc(2025, 10, 31, 20), 8) == utc(2025, 11, 3, 21)


def test_dst_change_inside_opening_hours_counts_real_time():
    # A Sunday-only desk open 01:00-04:00 New York time. On Sun 9 March 2025 the clocks jump
    # from 02:00 to 03:00, so that day is open from 01:00 EST (06:00 UTC) to 04:00 EDT
    # (08:00 UTC): 2 real hours. 2.5h from opening: 2h that day, 0.5h left ->
    # Sun 16 March 01:00 EDT (05:00 UTC) + 0.5h = 05:30 UTC.
    cal = calendar(tz=NY, days=frozenset({6}), start=time(1), end=time(4))
    assert cal.add_business_hours(utc(2025, 3, 9, 6), 2.5) == utc(2025, 3, 16, 5, 30)


def test_non_utc_input_and_utc_output():
    # Mon 2 June 14:00 in Berlin (CEST, +2) = 12:00 UTC = 08:00 in New York (EDT, -4),
    # before opening. +2h -> 11:00 EDT = 15:00 UTC.
    cal = calendar(tz=NY)
    due = cal.add_business_hours(datetime(2025, 6, 2, 14, tzinfo=ZoneInfo("Europe/Berlin")), 2)
    assert due == utc(2025, 6, 2, 15)
    assert due.tzinfo is UTC


def test_long_sla_is_computed_per_day_not_per_minute(monkeypatch):
    cal = calendar()
    calls = []
    original = BusinessCalendar._period

    def counting(self, day):
        calls.append(day)
        return original(self, day)

    monkeypatch.setattr(BusinessCalendar, "_period", counting)
    # Mon 09:00 + 40h = the whole week -> Fri 17:00, looking at five days
    assert cal.add_business_hours(utc(2025, 6, 2, 9), 40) == utc(2025, 6, 6, 17)
    assert len(calls) <= 7


def test_a_year_of_business_hours():
    # 2000h = 250 days of 8h = 50 full weeks. From Mon 6 Jan 2025 09:00 the 50th week
    # starts Mon 6 Jan + 49 weeks = Mon 15 Dec, so it ends Fri 19 Dec 2025 17:00.
    assert calendar().add_business_hours(utc(2025, 1, 6, 9), 2000) == utc(2025, 12, 19, 17)


@pytest.mark.parametrize("hours", [-1, float("nan"), float("inf")])
def test_bad_hours_are_refused(hours):
    with pytest.raises(ValueError):
        calendar().add_business_hours(utc(2025, 6, 2, 9), hours)


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar().add_business_hours(datetime(2025, 6, 2, 9), 1)
    with pytest.raises(ValueError):
        calendar().is_business_time(datetime(2025, 6, 2, 9))


# --------------------------------------------------------------------------- is_business_time


def test_is_business_time():
    cal = calendar(holidays={date(2025, 6, 4)})
    assert cal.is_business_time(utc(2025, 6, 2, 9))  # opening included
    assert cal.is_business_time(utc(2025, 6, 2, 16, 59, 59))
    assert not cal.is_business_time(utc(2025, 6, 2, 17))  # closing excluded
    assert not cal.is_business_time(utc(2025, 6, 2, 8, 59))
    assert not cal.is_business_time(utc(2025, 6, 7, 12))  # Saturday
    assert not cal.is_business_time(utc(2025, 6, 4, 12))  # holiday


def test_is_business_time_uses_the_calendar_zone():
    cal = calendar(tz=NY)
    # 13:30 UTC is 09:30 EDT in June (open) but 08:30 EST in January (closed)
    assert cal.is_business_time(utc(2025, 6, 2, 13, 30))
    assert not cal.is_business_time(utc(2025, 1, 6, 13, 30))
    # 22:30 UTC on Friday 6 June is 18:30 EDT: closed
    assert not cal.is_business_time(utc(2025, 6, 6, 22, 30))


# --------------------------------------------------------------------------- next_business_start


def test_next_business_start():
    cal = calendar(holidays={date(2025, 6, 9)})
    inside = datetime(2025, 6, 2, 12, tzinfo=ZoneInfo("Europe/Berlin"))  # 10:00 UTC
    assert cal.next_business_start(inside) == utc(2025, 6, 2, 10)
    assert cal.next_business_start(inside).tzinfo is UTC
    assert cal.next_business_start(utc(2025, 6, 2, 6)) == utc(2025, 6, 2, 9)  # before opening
    # Fri 17:00 -> weekend, and Mon 9 June is a holiday -> Tue 10 June 09:00
    assert cal.next_business_start(utc(2025, 6, 6, 17)) == utc(2025, 6, 10, 9)


def test_next_business_start_new_york_weekend():
    # Sat 7 June noon UTC -> Mon 9 June 09:00 EDT = 13:00 UTC
    assert calendar(tz=NY).next_business_start(utc(2025, 6, 7, 12)) == utc(2025, 6, 9, 13)


# --------------------------------------------------------------------------- business_hours_between


def test_business_hours_between():
    cal = calendar()
    # Fri 16:00 -> Mon 16:00: 1h Friday + 7h Monday = 8h
    assert cal.business_hours_between(utc(2025, 6, 6, 16), utc(2025, 6, 9, 16)) == 8
    assert cal.business_hours_between(utc(2025, 6, 9, 16), utc(2025, 6, 6, 16)) == -8
    # Sat -> Sun: nothing
    assert cal.business_hours_between(utc(2025, 6, 7, 10), utc(2025, 6, 8, 10)) == 0
    # Mon 07:00 -> Mon 09:30: 0.5h
    assert cal.business_hours_between(utc(2025, 6, 2, 7), utc(2025, 6, 2, 9, 30)) == 0.5


# --------------------------------------------------------------------------- construction


def test_calendar_needs_a_business_day():
    with pytest.raises(ValueError, match="at least one business day"):
        calendar(days=frozenset())


def test_calendar_end_after_start():
    with pytest.raises(ValueError, match="after start"):
        calendar(start=time(17), end=time(9))
    with pytest.raises(ValueError):
        calendar(start=time(9), end=time(9))


def test_calendar_weekday_numbers():
    with pytest.raises(ValueError):
        calendar(days=frozenset({7}))
