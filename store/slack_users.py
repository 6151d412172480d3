"""Each person's time zone, from Slack's users.info, cached in the database for a week."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.business_hours import BusinessCalendar
from store.models import SlackUser
from store.playbook import Playbook
from store import clock

log = logging.getLogger(__name__)
TTL = dt.timedelta(days=7)


def zones(session: Session, client, user_ids: Iterable[str], *, fallback: ZoneInfo, now: dt.datetime | None = None) -> dict[str, ZoneInfo]:
    """Time zones of these users: cached rows, users.info for the missing or stale, else `fallback`."""
    now = now or clock.now()
    wanted = {u for u in user_ids if u and u[0] in "UW"}
    cached = {row.user_id: row for row in session.scalars(select(SlackUser).where(SlackUser.user_id.in_(wanted)))} if wanted else {}
    result: dict[str, ZoneInfo] = {}
    for user_id in wanted:
        row = cached.get(user_id)
        if (row is None or now - row.fetched_at > TTL) and client is not None:
            row = _fetch(session, client, user_id, row, now)
        result[user_id] = _zone(row.tz if row else None, fallback)
    return result


def _fetch(session: Session, client, user_id: str, row: SlackUser | None, now: dt.datetime) -> SlackUser | None:
    try:
        profile = client.users_info(user=user_id)["user"]
    except Exception as error:  # noqa: BLE001 - Slack down: keep what we had, use the fallback
        log.warning("users.info %s failed: %s", user_id, error)
        return row
    values = {"user_id": user_id, "tz": profile.get("tz"), "real_name": profile.get("real_name"), "fetched_at": now}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # An upsert: two clocks meeting the same new person at once must not collide on the key.
    session.execute(insert(SlackUser).values(**values).on_conflict_do_update(
        index_elements=[SlackUser.user_id], set_={k: v for k, v in values.items() if k != "user_id"}))
    return SlackUser(**values)


def _zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def calendar_in(zone: ZoneInfo, playbook: Playbook) -> BusinessCalendar:
    """The playbook's business days and hours, read in this person's own time zone."""
    hours = playbook.business_hours
    return BusinessCalendar(tz=zone, days=hours.weekday_numbers, start=hours.start, end=hours.end,
                            holidays=frozenset(hours.holidays))


def not_before(zone: ZoneInfo, playbook: Playbook, now: dt.datetime) -> dt.datetime:
    """When a reminder may reach this person: now if it is their business hours, else their next opening."""
    return calendar_in(zone, playbook).next_business_start(now)
