"""Each person's time zone, from Slack's users.info, cached in the database for a week.

Slack is asked outside any transaction (`look_up`, through a `Directory`: bot.slack.Slack); what a
transaction reads is the cache (`zones`). The clock looks up whoever its pass needs and the cache lacks
before it opens the pass's transaction (scheduling.jobs.with_zones)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from store.business_hours import BusinessCalendar
from store.models import SlackUser
from store.playbook import Playbook
from store import clock

log = logging.getLogger(__name__)
TTL = dt.timedelta(days=7)


class Directory(Protocol):
    """What store needs of Slack's user directory (bot.slack.Slack is the one there is)."""

    def profile(self, user_id: str) -> dict[str, Any]:
        """users.info's `user` (tz, real_name…); raises on any failure."""


Cached = dict[str, tuple[str | None, dt.datetime]]  # user id -> (tz, when it was looked up)


def cached(session: Session, user_ids: Iterable[str]) -> Cached:
    """What the cache holds of these users, in one query."""
    wanted = {u for u in user_ids if u and u[0] in "UW"}
    if not wanted:
        return {}
    return {user_id: (tz, fetched_at) for user_id, tz, fetched_at in session.execute(
        select(SlackUser.user_id, SlackUser.tz, SlackUser.fetched_at).where(SlackUser.user_id.in_(wanted)))}


def zones(session: Session, user_ids: Iterable[str], *, fallback: ZoneInfo, known: Cached | None = None,
          now: dt.datetime | None = None) -> dict[str, ZoneInfo]:
    """Time zones of these users from the cache (rows looked up with `look_up`), else `fallback`."""
    wanted = {u for u in user_ids if u and u[0] in "UW"}
    known = cached(session, wanted) if known is None else known
    return {user_id: _zone((known.get(user_id) or (None, None))[0], fallback) for user_id in wanted}


def to_look_up(known: Cached, user_ids: Iterable[str], *, now: dt.datetime | None = None) -> list[str]:
    """Those of these users whose zone the cache (`known`) lacks or has kept for more than TTL."""
    now = now or clock.now()
    wanted = {u for u in user_ids if u and u[0] in "UW"}
    return sorted(u for u in wanted if u not in known or now - known[u][1] > TTL)


def look_up(sessions: sessionmaker[Session], directory: Directory, user_ids: Iterable[str], *,
            now: dt.datetime | None = None) -> int:
    """Ask Slack (users.info) for these users, outside any transaction, then keep what it said in one
    short transaction; the number kept. Someone Slack cannot tell about keeps what the cache had."""
    now = now or clock.now()
    found = []
    for user_id in user_ids:
        try:
            profile = directory.profile(user_id)
        except Exception as error:  # noqa: BLE001 - Slack down: keep what we had, use the fallback
            log.warning("users.info %s failed: %s", user_id, error)
            continue
        found.append({"user_id": user_id, "tz": profile.get("tz"), "real_name": profile.get("real_name"),
                      "fetched_at": now})
    if found:
        with sessions() as session, session.begin():
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            for values in found:
                # An upsert: two clocks meeting the same new person at once must not collide on the key.
                session.execute(insert(SlackUser).values(**values).on_conflict_do_update(
                    index_elements=[SlackUser.user_id], set_={k: v for k, v in values.items() if k != "user_id"}))
    return len(found)


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
