"""Exactly-once messages: one row per idempotency key, whoever asks and however often."""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from store.models import OutboxMessage
from store.reminders import post_once, reminder_key
from store.slack_users import not_before, zones
from tests.conftest import OMAR


def _rows(sessions):
    with sessions() as session:
        return session.scalar(select(func.count(OutboxMessage.id)))


def test_the_same_key_is_recorded_once(sessions):
    key = reminder_key("accept_reminder", ("lead", 7), "2026-12-01")
    assert key == "accept_reminder:lead:7:2026-12-01"
    with sessions() as session, session.begin():
        first = post_once(session, key=key, channel=OMAR, message={"text": "one"}, kind="accept_reminder")
    with sessions() as session, session.begin():
        second = post_once(session, key=key, channel=OMAR, message={"text": "two"}, kind="accept_reminder")
    assert first is not None and second is None
    with sessions() as session:
        assert session.scalars(select(OutboxMessage.payload)).all() == [{"text": "one"}]


def test_two_clocks_racing_for_one_reminder_write_one_row(sessions):
    barrier = threading.Barrier(8)
    results = []

    def race():
        barrier.wait()
        with sessions() as session, session.begin():
            results.append(post_once(session, key="k:lead:1:d", channel=OMAR, message={"text": "x"}, kind="k"))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in results if r is not None]) == 1 and _rows(sessions) == 1


def test_a_reminder_waits_for_the_readers_business_hours(sessions, playbook, slack):
    # playbook: Mon–Fri 09:00–17:00. Omar is in Tokyo; Sunday 2026-11-22 23:00 UTC is
    # Monday 08:00 in Tokyo, so his next opening is Monday 09:00 Tokyo = 00:00 UTC.
    slack.users[OMAR] = {"id": OMAR, "tz": "Asia/Tokyo", "real_name": "Omar"}
    from bot.slack import Slack
    from bot.settings import Settings
    from store.slack_users import cached, look_up, to_look_up

    directory = Slack.from_settings(Settings(slack_bot_token="xoxb-test-token", slack_api_url=slack.url))
    now = dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC)
    with sessions() as session:
        assert to_look_up(cached(session, [OMAR]), [OMAR], now=now) == [OMAR]
        assert zones(session, [OMAR], fallback=ZoneInfo("UTC"), now=now)[OMAR] == ZoneInfo("UTC")  # not known yet
    assert look_up(sessions, directory, [OMAR], now=now) == 1  # Slack is asked outside any transaction
    with sessions() as session:
        zone = zones(session, [OMAR], fallback=ZoneInfo("UTC"), now=now)[OMAR]
    assert zone == ZoneInfo("Asia/Tokyo")
    assert not_before(zone, playbook, now) == dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC)
    # kept: within a week nobody needs looking up again; after it, Omar does
    with sessions() as session:
        assert to_look_up(cached(session, [OMAR]), [OMAR], now=now + dt.timedelta(hours=1)) == []
        assert to_look_up(cached(session, [OMAR]), [OMAR], now=now + dt.timedelta(days=8)) == [OMAR]
    assert len(slack.calls_for("users.info")) == 1


def test_a_chart_goes_out_through_the_outbox_with_files_upload_v2(sessions, slack, app):
    import base64

    from store import outbox

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    with sessions() as session, session.begin():
        row_id = post_once(session, key="digest_chart:C0DIGEST01:2026-10", channel="C0DIGEST01", kind="digest_chart",
                           method="files.upload_v2",
                           message={"filename": "digest.png", "title": "Leads and wins", "initial_comment": "October",
                                    "content_base64": base64.b64encode(png).decode()})
    report = outbox.deliver(sessions, app.services.slack, ids=[row_id])
    assert report.sent == [row_id]
    assert slack.calls_for("files.completeUploadExternal")
