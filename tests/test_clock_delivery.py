"""The clock's delivery of the outbox: every message out exactly once through a flaky Slack, paced to
about one post a second per channel, Retry-After honoured, and nothing lost or repeated when a
deliverer dies after claiming (issue 4, Delivery)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from bot.app import make_client
from store import outbox
from store.models import OutboxMessage
from store.reminders import post_once, reminder_key

T0 = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)  # a Tuesday, 09:00 in New York


@pytest.fixture
def client(settings):
    # The production client: slack_sdk retries a 5xx once by itself, never a 429.
    return make_client(settings)


def seed(sessions, channels: dict[str, int], *, kind: str = "action_reminder") -> dict[str, int]:
    """post_once `n` reminders into each channel, recorded at T0; returns {text: row id}. Texts are unique."""
    made: dict[str, int] = {}
    with sessions() as session, session.begin():
        subject = 0
        for channel, n in channels.items():
            for _ in range(n):
                subject += 1
                text = f"reminder {subject} for {channel}"
                made[text] = post_once(session, key=reminder_key(kind, ("action", subject), "2026-12-01"),
                                       channel=channel, message={"text": text}, kind=kind,
                                       subject=("action", subject), now=T0)
    assert all(made.values())
    return made


def rows(sessions) -> dict[int, OutboxMessage]:
    with sessions() as session:
        return {r.id: r for r in session.scalars(select(OutboxMessage))}


def posted_texts(slack) -> Counter:
    return Counter(c.args["text"] for c in slack.calls_for("chat.postMessage"))


def test_thirty_percent_429_and_500_every_message_delivered_exactly_once(sessions, slack, client):
    made = seed(sessions, {"C0ALPHA001": 10, "C0BRAVO002": 10, "C0CHARLIE3": 10, "U0OWNEROMAR": 10, "U0BACKUPBEA": 10})
    slack.fail_rate(0.3, statuses=(429, 500), seed=20261201)
    now, passes = T0, 0
    while any(r.status == "pending" for r in rows(sessions).values()):
        passes += 1
        assert passes <= 300, "the outbox never drained"
        before = len(slack.calls_for("chat.postMessage"))
        report = outbox.deliver(sessions, client, now=now)
        assert report.failed == []
        new = slack.calls_for("chat.postMessage")[before:]
        # paced: one pass posts at most once into any channel
        assert max(Counter(c.args["channel"] for c in new).values(), default=0) <= 1
        now += dt.timedelta(seconds=30)

    failed = Counter(c.error for c in slack.calls_for("chat.postMessage", ok=False))
    assert failed["ratelimited"] > 0 and failed["http_500"] > 0  # Slack really misbehaved
    # every message exactly once, and nothing that was not asked for
    assert posted_texts(slack) == Counter({text: 1 for text in made})
    stored = rows(sessions)
    assert {r.status for r in stored.values()} == {"sent"}
    # a row that met a 429 or 500 was tried again: some rows took more than one attempt
    assert max(r.attempts for r in stored.values()) > 1
    # 10 posts in one channel, one per pass at most: at least 10 passes were needed
    assert passes >= 10


def test_the_drain_paces_one_post_a_second_per_channel_in_order(sessions, slack, client):
    made = seed(sessions, {"C0ALPHA001": 3, "C0BRAVO002": 1})
    ids = sorted(made.values())  # ids 1-3 go to C0ALPHA001, 4 to C0BRAVO002
    first = outbox.deliver(sessions, client, now=T0)
    assert sorted(first.sent) == [ids[0], ids[3]]
    stored = rows(sessions)
    # the channel's other posts wait one and two seconds, in the order they were written
    assert [stored[i].next_attempt_at for i in ids[1:3]] == [T0 + dt.timedelta(seconds=1), T0 + dt.timedelta(seconds=2)]
    assert outbox.deliver(sessions, client, now=T0 + dt.timedelta(milliseconds=900)).sent == []
    assert outbox.deliver(sessions, client, now=T0 + dt.timedelta(seconds=1)).sent == [ids[1]]
    assert outbox.deliver(sessions, client, now=T0 + dt.timedelta(seconds=2)).sent == [ids[2]]
    assert [c.args["text"] for c in slack.calls_for("chat.postMessage") if c.args["channel"] == "C0ALPHA001"] == [
        "reminder 1 for C0ALPHA001", "reminder 2 for C0ALPHA001", "reminder 3 for C0ALPHA001"]


def test_delivery_of_given_ids_answers_a_click_at_once_unpaced(sessions, slack, client):
    made = seed(sessions, {"U0REPRIYA": 3})
    report = outbox.deliver(sessions, client, ids=list(made.values()), now=T0)
    assert sorted(report.sent) == sorted(made.values())
    assert posted_texts(slack) == Counter({text: 1 for text in made})


def test_a_429_holds_its_whole_channel_until_retry_after(sessions, slack, client):
    made = seed(sessions, {"C0ALPHA001": 2, "C0BRAVO002": 1})
    a1, a2, b1 = sorted(made.values())
    slack.fail_next("chat.postMessage", status=429, retry_after=30)  # the first post: a1
    report = outbox.deliver(sessions, client, now=T0)
    assert report.retrying == [a1] and report.sent == [b1]
    stored = rows(sessions)
    # Retry-After: 30 -> a1 at T0+30 s; a2 was paced to T0+1 s and now waits for the channel too
    assert stored[a1].next_attempt_at == T0 + dt.timedelta(seconds=30)
    assert stored[a2].next_attempt_at == T0 + dt.timedelta(seconds=30)
    assert outbox.deliver(sessions, client, now=T0 + dt.timedelta(seconds=29)).sent == []
    assert outbox.deliver(sessions, client, now=T0 + dt.timedelta(seconds=30)).sent == [a1]
    assert outbox.deliver(sessions, client, now=T0 + dt.timedelta(seconds=31)).sent == [a2]
    assert posted_texts(slack) == Counter({text: 1 for text in made})


def test_rows_claimed_by_a_deliverer_that_died_come_back_after_the_claim_and_go_out_once(sessions, slack, client):
    made = seed(sessions, {"C0ALPHA001": 1, "C0BRAVO002": 1, "U0OWNEROMAR": 1})
    # a clock claims everything due, then dies before sending anything (kill -9 mid-tick)
    abandoned = outbox._claim(sessions, None, T0, 200)
    assert sorted(r.id for r, _ in abandoned) == sorted(made.values())

    # a second clock while the dead one's claims are alive: sends nothing, and does not steal them
    half = T0 + dt.timedelta(seconds=outbox.CLAIM_SECONDS // 2)
    assert outbox.deliver(sessions, client, now=half).sent == []
    assert slack.calls_for("chat.postMessage") == []

    after = T0 + dt.timedelta(seconds=outbox.CLAIM_SECONDS + 1)
    assert sorted(outbox.deliver(sessions, client, now=after).sent) == sorted(made.values())
    assert outbox.deliver(sessions, client, now=after + dt.timedelta(minutes=5)).sent == []
    assert posted_texts(slack) == Counter({text: 1 for text in made})


def test_a_deliverer_dying_mid_batch_repeats_at_most_its_unrecorded_sends(sessions, slack, client, monkeypatch):
    made = seed(sessions, {f"C0CHAN{i:04d}": 1 for i in range(6)})
    ids = sorted(made.values())
    monkeypatch.setattr(outbox, "RECORD_EVERY", 2)
    real_send = outbox._send
    sent = []

    def send_then_die(client_, row, original):
        if len(sent) == 3:
            raise SystemExit("killed")  # the process dies after Slack took its third post
        sent.append(row.id)
        return real_send(client_, row, original)

    monkeypatch.setattr(outbox, "_send", send_then_die)
    with pytest.raises(SystemExit):
        outbox.deliver(sessions, client, now=T0)
    monkeypatch.setattr(outbox, "_send", real_send)
    stored = rows(sessions)
    # outcomes are recorded every 2 sends: the first two are known to be sent, the third is not
    assert [stored[i].status for i in ids] == ["sent", "sent"] + ["pending"] * 4

    later = T0 + dt.timedelta(seconds=outbox.CLAIM_SECONDS + 1)
    assert sorted(outbox.deliver(sessions, client, now=later).sent) == ids[2:]
    counts = posted_texts(slack)
    by_id = {row_id: text for text, row_id in made.items()}
    assert [counts[by_id[i]] for i in ids] == [1, 1, 2, 1, 1, 1]  # only the unrecorded third post repeats


def test_a_slow_slack_makes_the_deliverer_hand_back_what_it_cannot_send_in_time(sessions, slack, client, monkeypatch):
    made = seed(sessions, {"C0ALPHA001": 1, "C0BRAVO002": 1})
    first, second = sorted(made.values())
    monkeypatch.setattr(outbox, "SEND_BUDGET_SECONDS", 0.2)
    slack.fail_next("chat.postMessage", status=200, delay=0.4)  # the first post takes 0.4 s
    report = outbox.deliver(sessions, client, now=T0)
    assert report.sent == [first]
    stored = rows(sessions)
    assert stored[second].status == "pending" and stored[second].claimed_until is None
    assert stored[second].attempts == 0  # handed back untried, not counted as a failure
    assert outbox.deliver(sessions, client, now=T0).sent == [second]  # free at once for the next pass


def test_two_deliverers_racing_send_every_row_once(sessions, slack, client):
    made = seed(sessions, {f"C0RACE{i:04d}": 1 for i in range(40)})
    barrier = threading.Barrier(4)
    reports = []

    def drain():
        barrier.wait()
        reports.append(outbox.deliver(sessions, client, now=T0))

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [row_id for r in reports for row_id in r.sent]
    assert sorted(sent) == sorted(made.values())  # each row sent by exactly one deliverer
    assert posted_texts(slack) == Counter({text: 1 for text in made})


def test_on_postgres_a_channel_another_clock_is_claiming_waits_for_the_next_pass(sessions, slack, client, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are Postgres's; SQLite deliverers take the write lock whole")
    from sqlalchemy import text

    made = seed(sessions, {"C0ALPHA001": 1, "C0BRAVO002": 1})
    alpha, bravo = sorted(made.values())
    with engine.connect() as other_clock:  # another clock, in the middle of its claim on C0ALPHA001
        with other_clock.begin():
            assert other_clock.scalar(text("SELECT pg_try_advisory_xact_lock(:space, hashtext('C0ALPHA001'))"),
                                      {"space": outbox.CHANNEL_LOCK_SPACE})
            assert outbox.deliver(sessions, client, now=T0).sent == [bravo]
            assert rows(sessions)[alpha].claimed_until is None  # not claimed, not pushed: simply left for later
    assert outbox.deliver(sessions, client, now=T0).sent == [alpha]  # that clock is done: the channel is free
    assert posted_texts(slack) == Counter({text_: 1 for text_ in made})
