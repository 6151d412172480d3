"""The monthly digest: on the month's first business day at playbook.digest.time (playbook zone),
last month's digest to each of playbook.digest.channels, and its chart as a PNG.

Keys digest:<channel>:<YYYY-MM> and digest_chart:<channel>:<YYYY-MM>: posted at most once each.
Any pass later in the month catches up (a clock that was down posts on its first pass). The keys
are looked up first, so the figures are computed only on the pass that posts, not every minute.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from messages.digest import UpcomingAction, chart_for, chart_upload, digest_message
from scheduling.jobs import ClockContext, job
from scheduling.jobs.reviews import review_day
from store import metrics, scorecards
from store.models import OutboxMessage, Partner
from store.playbook import Playbook
from store.reminders import post_once
from store import clock


@dataclass
class Digest:
    report: metrics.MonthReport
    message: dict[str, Any]
    chart: bytes | None  # None when the month had no data: nothing to draw


def first_business_day(playbook: Playbook, year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    while not playbook.calendar.is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def posting_time(playbook: Playbook, year: int, month: int) -> dt.datetime:
    """When the digest of the month before (year, month) goes out."""
    return dt.datetime.combine(first_business_day(playbook, year, month), playbook.digest.time, tzinfo=playbook.tz)


def keys(channel: str, period_label: str) -> tuple[str, str]:
    return f"digest:{channel}:{period_label}", f"digest_chart:{channel}:{period_label}"


def build_digest(session, playbook: Playbook, year: int, month: int, *, today: dt.date) -> Digest:
    """Month (year, month)'s digest; 'coming up' is what falls from `today` to the end of today's month."""
    partners = scorecards.partner_infos(session)
    report = metrics.month_report(session, playbook, year, month,
                                  baselines=scorecards.baseline_overrides(playbook, partners.values()))
    cards = scorecards.month_cards(report, partners, playbook)
    names = {pid: (info.name, info.channel_id) for pid, info in partners.items() if pid in report.partners}
    month_end = dt.date(*metrics.shift_month(today.year, today.month, 1), 1) - dt.timedelta(days=1)
    actions, total = metrics.upcoming_actions(session, first=today, last=month_end)
    with_channel = session.scalar(select(func.count(Partner.id)).where(Partner.channel_id.is_not(None))) or 0
    reviews = []
    for cadence in playbook.reviews.cadences:
        day = review_day(cadence, today.year, today.month)
        if day is not None and day >= today and with_channel:
            reviews.append((cadence.name, day, with_channel))
    message = digest_message(
        report, names, cards=cards,
        upcoming_actions=[UpcomingAction(f"A-{aid + 1000}", title, owner, due, partner)
                          for aid, title, owner, due, partner in actions],
        more_actions=max(0, total - len(actions)), upcoming_reviews=reviews)
    chart = chart_for(report, names) if report.has_data else None
    return Digest(report, message, chart)


def post_digest(session, playbook: Playbook, digest: Digest, channels: list[str], *, now=None) -> list[int]:
    """Record the digest (and its chart) for each channel, once per channel and month; the ids of
    the rows written now (empty when every one was already there)."""
    label = digest.report.period.label
    ids = []
    encoded = base64.b64encode(digest.chart).decode() if digest.chart else None
    for channel in channels:
        text_key, chart_key = keys(channel, label)
        ids.append(post_once(session, key=text_key, channel=channel, message=digest.message, kind="digest",
                             audience="channel", now=now))
        if encoded:
            ids.append(post_once(session, key=chart_key, channel=channel, message=chart_upload(digest.report, encoded),
                                 kind="digest_chart", audience="channel", method="files.upload_v2", now=now))
    return [i for i in ids if i is not None]


@job("monthly_digest")
def run(ctx: ClockContext) -> None:
    playbook = ctx.playbook
    channels = list(playbook.digest.channels)
    if not channels:
        return
    local = ctx.now.astimezone(playbook.tz)
    if ctx.now < posting_time(playbook, local.year, local.month):
        return
    year, month = metrics.shift_month(local.year, local.month, -1)
    label = f"{year:04d}-{month:02d}"
    with ctx.sessions() as session, session.begin():
        text_keys = {keys(channel, label)[0] for channel in channels}
        posted = set(session.scalars(select(OutboxMessage.idempotency_key)
                                     .where(OutboxMessage.idempotency_key.in_(text_keys))))
        waiting = [channel for channel in channels if keys(channel, label)[0] not in posted]
        if not waiting:
            return
        digest = build_digest(session, playbook, year, month, today=local.date())
        written = post_digest(session, playbook, digest, waiting, now=ctx.now)
        ctx.count("digests", sum(1 for _ in written))


# --- `partnerbot digest --month 2026-10 [--channel C…] [--dry-run]` ----------------------------

CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{6,}")


def plain_text(message: dict[str, Any]) -> str:
    """The digest as an operator reads it in a terminal: its blocks' text, one after another."""
    parts = []
    for block in message.get("blocks", []):
        text = (block.get("text") or {}).get("text")
        if text:
            parts.append(text)
    return "\n\n".join(parts)


def on_demand(services, *, month: str, channels: list[str] | None, dry_run: bool,
              chart_path: str | None = None, now: dt.datetime | None = None) -> list[str]:
    """Render (dry run) or post one month's digest with the process's services (bot.compose); the
    lines to print. ValueError for bad input."""
    from store.db import transaction

    playbook, sessions = services.playbook, services.sessions

    year, mon = metrics.parse_month(month)
    now = now or clock.now()
    period = metrics.month_period(playbook, year, mon)
    if period.start > now:
        raise ValueError(f"{month} has not started yet: there is nothing to report.")
    if period.end > now and not dry_run:
        # Posting it would use up the month's key: the clock would never post the complete digest.
        next_year, next_month = metrics.shift_month(year, mon, 1)
        raise ValueError(
            f"{month} is not over yet (it ends {period.end:%a %d %b %Y, %H:%M} {playbook.tz.key}): its digest "
            f"would be incomplete. The clock posts it on {posting_time(playbook, next_year, next_month):%a %d %b at %H:%M %Z}. "
            f"To see it so far, use --dry-run.")
    bad = [c for c in channels or [] if not CHANNEL_ID.fullmatch(c)]
    if bad:
        raise ValueError(f"--channel must be a Slack channel id like C012AB3CD (got {', '.join(bad)}).")
    today = now.astimezone(playbook.tz).date()
    if dry_run:
        with sessions() as session:
            digest = build_digest(session, playbook, year, mon, today=today)
        lines = [plain_text(digest.message), ""]
        if digest.chart is None:
            lines.append("No chart: the month had no data.")
        else:
            path = Path(chart_path or f"partner-digest-{digest.report.period.label}.png")
            path.write_bytes(digest.chart)
            lines.append(f"Chart written to {path.resolve()}")
        lines.append("Dry run: nothing was posted.")
        return lines
    targets = list(channels or playbook.digest.channels)
    if not targets:
        raise ValueError("Say where to post: --channel C012AB3CD, or digest.channels in the playbook.")
    services.settings.require_slack()
    with transaction(sessions) as session:
        digest = build_digest(session, playbook, year, mon, today=today)
        ids = post_digest(session, playbook, digest, targets)
    label = digest.report.period.label
    if not ids:
        return [f"The {label} digest was already posted to {', '.join(targets)}: nothing was sent again."]
    report = services.deliver(ids, now=now)
    lines = [f"The {label} digest: {len(report.sent)} message(s) sent to {', '.join(targets)}."]
    if report.retrying or report.failed:
        lines.append(f"{len(report.retrying)} waiting to be retried by the clock, {len(report.failed)} failed "
                     "(see `partnerbot outbox`).")
    return lines
