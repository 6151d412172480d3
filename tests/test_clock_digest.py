"""The monthly digest, by time travel: posted once on the month's first business day at 09:00 New
York, with its chart uploaded through the outbox; and `partnerbot digest` on demand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.cli import main
from messages.charts import PNG_SIGNATURE
from scheduling.clock import run_jobs
from scheduling.jobs.digest import posting_time
from store import clock, metrics, outbox
from store.models import ActionItem, Lead, OutboxMessage, Partner
from store.playbook import parse_playbook
from tests.conftest import MIA, OMAR, RIYA, TEST_PLAYBOOK

UTC = dt.UTC
DIGEST = """
digest: {channels: [C0DIGEST01, C0DIGEST02], time: "09:00"}
reviews:
  cadences:
    - {key: ops, name: Monthly operations review, every: month, day: 10, days_ahead: 2}
"""
# November 2026 starts on a Sunday: the first business day is Monday Nov 2. New York left daylight
# saving time on Nov 1, so 09:00 there is 14:00Z.
POST_AT = dt.datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def digest_playbook():
    return parse_playbook(TEST_PLAYBOOK + DIGEST, "test-playbook.yml")


def add_partner(session, name, channel=None) -> int:
    partner = Partner(name=name, name_key=name.lower(), type="reseller", tier="silver", channel_id=channel, manager_id=MIA)
    session.add(partner)
    session.flush()
    return partner.id


def add_lead(session, pid, created, **kw) -> None:
    session.add(Lead(partner_id=pid, direction=kw.pop("direction", "to_partner"), company="Acme", problem="p",
                     next_steps="n", sender_id=RIYA, primary_owner_id=OMAR, accept_by=created + dt.timedelta(hours=8),
                     first_outreach_by=created + dt.timedelta(hours=16), created_at=created, **kw))


@pytest.fixture
def october(sessions):
    """Globex & <!channel>: 3 October leads (2 to, 1 from), 2 accepted, 1 won for 2,000; September: 1 lead.
    Initech: 1 October lead, not accepted."""
    with sessions() as session, session.begin():
        globex = add_partner(session, "Globex & <!channel>", "C0GLOBEX01")
        initech = add_partner(session, "Initech", "C0INITECH1")
        add_lead(session, globex, dt.datetime(2026, 9, 14, 15, tzinfo=UTC))
        add_lead(session, globex, dt.datetime(2026, 10, 5, 15, tzinfo=UTC), stage="accepted",
                 accepted_at=dt.datetime(2026, 10, 5, 17, tzinfo=UTC), accept_hours=2.0)  # 11:00-13:00 New York
        add_lead(session, globex, dt.datetime(2026, 10, 6, 15, tzinfo=UTC), direction="from_partner",
                 stage="closed_won", accepted_at=dt.datetime(2026, 10, 6, 19, tzinfo=UTC), accept_hours=4.0,
                 closed_at=dt.datetime(2026, 10, 20, 15, tzinfo=UTC), closed_amount=Decimal(2000))
        add_lead(session, globex, dt.datetime(2026, 10, 7, 15, tzinfo=UTC))
        add_lead(session, initech, dt.datetime(2026, 10, 8, 15, tzinfo=UTC))
        session.add(ActionItem(title="Send <b>the</b> deck", owner_id=OMAR, created_by=MIA,
                               due_date=dt.date(2026, 11, 6), partner_id=globex))
        return {"globex": globex, "initech": initech}


def deliver_all(sessions, client) -> list[int]:
    """Deliver everything, stepping time past the outbox's per-channel pacing (about one post a second)."""
    sent, start = [], dt.datetime.now(UTC)
    for step in range(10):
        sent += outbox.deliver(sessions, client, now=start + dt.timedelta(seconds=2 * step)).sent
    return sent


def digest_rows(sessions) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind.in_(["digest", "digest_chart"]))
                                    .order_by(OutboxMessage.id)))


def text_of(message: dict) -> str:
    return "\n".join(block["text"]["text"] for block in message["blocks"] if block["type"] == "section")


def test_the_digest_posts_once_on_the_first_business_day_at_nine_new_york(sessions, app, slack, digest_playbook,
                                                                            october):
    client = app.services.slack
    for before in (dt.datetime(2026, 11, 1, 15, tzinfo=UTC),  # Sunday the 1st: not a business day
                   POST_AT - dt.timedelta(minutes=1)):  # 08:59 on Monday in New York
        run_jobs(sessions, client, digest_playbook, now=before)
        assert digest_rows(sessions) == []
    run_jobs(sessions, client, digest_playbook, now=POST_AT)
    run_jobs(sessions, client, digest_playbook, now=POST_AT + dt.timedelta(minutes=1))  # the next pass
    run_jobs(sessions, client, digest_playbook, now=dt.datetime(2026, 11, 20, 14, tzinfo=UTC))  # weeks later
    rows = digest_rows(sessions)
    assert sorted(row.idempotency_key for row in rows) == sorted(
        ["digest:C0DIGEST01:2026-10", "digest_chart:C0DIGEST01:2026-10",
         "digest:C0DIGEST02:2026-10", "digest_chart:C0DIGEST02:2026-10"])

    assert set(deliver_all(sessions, app.services.slack)) >= {row.id for row in rows}
    posts = [c.args for c in slack.calls_for("chat.postMessage") if c.args.get("channel") == "C0DIGEST01"]
    assert len(posts) == 1
    text = text_of(posts[0])
    # by hand: Globex 3 October leads (2 to, 1 from), 2 accepted (67%), 1 win for 2,000; September 1 lead
    assert "*Globex &amp; &lt;!channel&gt;*" in text and "<!channel>" not in text
    assert "• Leads handed off: *3* (2 to them, 1 from them) — month before 1, baseline not set yet" in text
    assert "• Acceptance: *67%*, in 3.0 h (median business hours)" in text  # (2 h + 4 h) / 2
    # the scorecard's composite with the default targets and weights: acceptance (2/3)/0.8 x 20,
    # 3 h <= 8 h x 15, SLA 0/3 x 25, conversion 1/1 x 20; revenue has no target: over 80
    assert f"*Globex &amp; &lt;!channel&gt;* — score *{100 * (20 * (2 / 3) / 0.8 + 15 + 0 + 20) / 80:.0f}/100* " \
           ":chart_with_upwards_trend: improving" in text  # September scored 0: no acceptance, SLA missed
    assert "• Won: *1* for *2,000*" in text
    assert "Leads handed off: *4* (3 to partners, 1 from them), 3 more than the month before (1)" in text
    assert "*Initech*" in text and "Acceptance: *0%*" in text  # one lead, none accepted: zero, not no data
    # coming up in November: the action due Nov 6 (escaped) and the ops review on Tue Nov 10
    assert "Send &lt;b&gt;the&lt;/b&gt; deck" in text and "Monthly operations review on Tue 10 Nov with 2 partners" in text

    uploads = [u for u in slack.uploads.values() if u.get("channel") == "C0DIGEST01"]
    assert len(uploads) == 1 and uploads[0]["filename"] == "partner-digest-2026-10.png"
    assert uploads[0]["content"].startswith(PNG_SIGNATURE)
    assert slack.calls_for("files.completeUploadExternal")


def test_a_clock_that_was_down_catches_up_once(sessions, app, digest_playbook, october):
    run_jobs(sessions, app.services.slack, digest_playbook, now=dt.datetime(2026, 11, 4, 10, tzinfo=UTC))
    run_jobs(sessions, app.services.slack, digest_playbook, now=dt.datetime(2026, 11, 4, 10, 1, tzinfo=UTC))
    assert len(digest_rows(sessions)) == 4  # two channels, a digest and a chart each


def test_a_month_with_no_data_says_so(sessions, app, slack, digest_playbook):
    run_jobs(sessions, app.services.slack, digest_playbook, now=POST_AT)
    rows = digest_rows(sessions)
    assert [row.kind for row in rows] == ["digest", "digest"]  # no chart: nothing to draw
    deliver_all(sessions, app.services.slack)
    post = next(c.args for c in slack.calls_for("chat.postMessage") if c.args.get("channel") == "C0DIGEST02")
    assert "No partner activity was recorded in October 2026" in text_of(post)
    assert post["text"] == "Partner digest — October 2026: no partner activity was recorded in October 2026."


def test_many_partners_stay_within_slacks_fifty_blocks(sessions, app, slack, digest_playbook):
    with sessions() as session, session.begin():
        for i in range(60):
            pid = add_partner(session, f"Partner {i:02d}")
            for k in range(1 + i % 4):  # 1 to 4 leads each: partners 3, 7, … (4 leads) rank first
                add_lead(session, pid, dt.datetime(2026, 10, 5 + k, 15, tzinfo=UTC))
    run_jobs(sessions, app.services.slack, digest_playbook, now=POST_AT)
    deliver_all(sessions, app.services.slack)
    with sessions() as session:
        assert [row.status for row in digest_rows(sessions)] == ["sent"] * 4  # Slack accepted every one
    post = next(c.args for c in slack.calls_for("chat.postMessage") if c.args.get("channel") == "C0DIGEST01")
    assert len(post["blocks"]) <= 50
    text = text_of(post)
    assert "*Partner 03*" in text and "*50 more partners*" in text  # top 10 shown, 60 - 10 summed
    # the 50 others: 15 partners each of 1, 2 and 3 leads, and 5 more with 4 (15 have 4, 10 are shown)
    assert f"{15 * 1 + 15 * 2 + 15 * 3 + 5 * 4} leads handed off" in text


@pytest.fixture
def cli_env(monkeypatch, settings, tmp_path, digest_playbook):
    path = tmp_path / "playbook.yml"
    path.write_text(TEST_PLAYBOOK + DIGEST)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PLAYBOOK_PATH", str(path))
    return tmp_path


def test_the_cli_dry_run_prints_the_digest_and_writes_the_chart(cli_env, sessions, october, capsys):
    chart = cli_env / "october.png"
    assert main(["digest", "--month", "2026-10", "--dry-run", "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "*Globex &amp; &lt;!channel&gt;*" in out and "Leads handed off: *3*" in out
    assert f"Chart written to {chart.resolve()}" in out and "Dry run: nothing was posted." in out
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    with sessions() as session:
        assert session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_the_cli_refuses_bad_input(cli_env, capsys):
    assert main(["digest", "--month", "2026-13", "--dry-run"]) == 2
    assert "a month looks like 2026-10 (got '2026-13')" in capsys.readouterr().err
    assert main(["digest", "--month", "2026-10", "--channel", "general"]) == 2
    assert "--channel must be a Slack channel id like C012AB3CD (got general)" in capsys.readouterr().err
    ahead = clock.now() + dt.timedelta(days=70)  # a month that has not started, whenever this runs
    assert main(["digest", "--month", f"{ahead:%Y-%m}", "--dry-run"]) == 2
    assert f"{ahead:%Y-%m} has not started yet" in capsys.readouterr().err


def test_the_cli_refuses_to_post_a_month_that_is_not_over_and_the_clock_still_posts_it(
        cli_env, monkeypatch, settings, sessions, slack, digest_playbook, capsys):
    """Posting a running month would use up its key: the clock would never post the complete digest."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", settings.bot_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", settings.signing_secret)
    monkeypatch.setenv("SLACK_API_URL", settings.slack_api_url)
    local = clock.now().astimezone(digest_playbook.tz)
    running = f"{local:%Y-%m}"
    assert main(["digest", "--month", running]) == 2
    err = capsys.readouterr().err
    assert f"{running} is not over yet" in err and "--dry-run" in err and "The clock posts it on" in err
    assert slack.calls_for("chat.postMessage") == [] and digest_rows(sessions) == []
    # a preview is still there for the asking, and posts nothing
    assert main(["digest", "--month", running, "--dry-run", "--chart", str(cli_env / "so-far.png")]) == 0
    assert "Dry run: nothing was posted." in capsys.readouterr().out
    assert digest_rows(sessions) == []
    # when the month is over, the clock posts its digest to the playbook's channels, once each
    year, month = metrics.shift_month(local.year, local.month, 1)
    run_jobs(sessions, None, digest_playbook, now=posting_time(digest_playbook, year, month))
    posted = [r for r in digest_rows(sessions) if r.kind == "digest"]
    assert sorted(r.channel for r in posted) == ["C0DIGEST01", "C0DIGEST02"]
    assert all(r.idempotency_key.endswith(running) for r in posted)


def test_the_cli_posts_once(cli_env, monkeypatch, settings, sessions, slack, october, capsys):
    monkeypatch.setenv("SLACK_BOT_TOKEN", settings.bot_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", settings.signing_secret)
    monkeypatch.setenv("SLACK_API_URL", settings.slack_api_url)
    assert main(["digest", "--month", "2026-10", "--channel", "C0ONDEMAND"]) == 0
    assert "The 2026-10 digest: 2 message(s) sent to C0ONDEMAND." in capsys.readouterr().out
    assert main(["digest", "--month", "2026-10", "--channel", "C0ONDEMAND"]) == 0
    assert "already posted to C0ONDEMAND: nothing was sent again" in capsys.readouterr().out
    assert len([c for c in slack.calls_for("chat.postMessage") if c.args.get("channel") == "C0ONDEMAND"]) == 1
