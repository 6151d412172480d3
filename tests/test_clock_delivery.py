"""The clock's delivery of the outbox: every message out exactly once through a flaky Slack, paced to
about one post a second per channel, Retry-After honoured, and nothing lost or repeated when a
deliverer dies after claiming (issue 4, Delivery)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections import Counter
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from bot.slack import Slack
from store import clock, outbox
from store.models import OutboxMessage
from store.reminders import post_once, reminder_key

T0 = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)  # a Tuesday, 09:00 in New York


@pytest.fixture
def client(settings):
    # The production adapter and client: slack_sdk retries a 5xx once by itself, never a 429.
    return Slack.from_settings(settings)


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


def test_after_a_429_the_pass_sends_nothing_more_into_that_channel(sessions, slack, client):
    made = seed(sessions, {"U0REPRIYA": 3, "C0BRAVO002": 1})
    r1, r2, r3, b1 = sorted(made.values())
    slack.fail_next("chat.postMessage", status=429, retry_after=20)  # the first post: r1
    report = outbox.deliver(sessions, client, ids=[r1, r2, r3, b1], now=T0)  # a click's burst, unpaced
    assert report.retrying == [r1] and report.sent == [b1]
    assert [c.args["channel"] for c in slack.calls_for("chat.postMessage", ok=None)] == ["U0REPRIYA", "C0BRAVO002"]
    stored = rows(sessions)
    # r2 and r3 were handed back untried, to go when Slack allows the channel again
    assert [(stored[i].attempts, stored[i].claimed_until, stored[i].next_attempt_at) for i in (r2, r3)] == [
        (0, None, T0 + dt.timedelta(seconds=20))] * 2
    assert outbox.deliver(sessions, client, ids=[r1, r2, r3], now=T0 + dt.timedelta(seconds=20)).sent == [r1, r2, r3]
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


class DiesAfterThirdSend:
    """The real adapter, in a process that dies right after Slack took its third post."""

    def __init__(self, slack_adapter: Slack):
        self.slack, self.sent = slack_adapter, []

    def send(self, row, original):
        self.sent.append(row.id)
        answer = self.slack.send(row, original)
        if len(self.sent) == 3:
            raise SystemExit("killed")  # Slack took the third post; the process dies before hearing back
        return answer


def test_a_deliverer_dying_right_after_slack_took_a_post_repeats_only_that_post(sessions, slack, client):
    """Each outcome is recorded as soon as Slack answers: what went before the death is known to be
    sent (issue 9 item 7: a whole batch of RECORD_EVERY sends used to be repeated)."""
    made = seed(sessions, {f"C0CHAN{i:04d}": 1 for i in range(6)})
    ids = sorted(made.values())
    with pytest.raises(SystemExit):
        outbox.deliver(sessions, DiesAfterThirdSend(client), now=T0)
    stored = rows(sessions)
    # the first two are recorded sent; the one in flight and the untried ones are pending
    assert [stored[i].status for i in ids] == ["sent", "sent"] + ["pending"] * 4

    later = T0 + dt.timedelta(seconds=outbox.CLAIM_SECONDS + 1)
    assert sorted(outbox.deliver(sessions, client, now=later).sent) == ids[2:]
    counts = posted_texts(slack)
    by_id = {row_id: text for text, row_id in made.items()}
    assert [counts[by_id[i]] for i in ids] == [1, 1, 2, 1, 1, 1]  # only the post in flight repeats


def test_a_stop_request_finishes_the_send_in_flight_records_it_and_hands_back_the_rest(sessions, slack, client):
    made = seed(sessions, {f"C0CHAN{i:04d}": 1 for i in range(5)})
    ids = sorted(made.values())
    asked = []

    def stop_after_two() -> bool:  # what SIGTERM sets: asked before each send
        asked.append(len(slack.calls_for("chat.postMessage")))
        return len(asked) > 2

    report = outbox.deliver(sessions, client, now=T0, stop=stop_after_two)
    assert report.sent == ids[:2] and report.retrying == [] and report.failed == []
    stored = rows(sessions)
    assert [stored[i].status for i in ids] == ["sent", "sent", "pending", "pending", "pending"]
    # handed back: no claim, no attempt counted, due as before, so another clock takes them at once
    assert all(stored[i].claimed_until is None and stored[i].attempts == 0 for i in ids[2:])
    assert sorted(outbox.deliver(sessions, client, now=T0).sent) == ids[2:]
    assert posted_texts(slack) == Counter({text: 1 for text in made})


def test_a_failure_while_recording_releases_every_claim_of_the_pass(sessions, slack, client, engine):
    """Issue 10 item 8: a deliverer whose recording failed kept its claims for CLAIM_SECONDS."""
    made = seed(sessions, {f"C0CHAN{i:04d}": 1 for i in range(4)})
    ids = sorted(made.values())
    with database_refusing_to_mark_sent(engine, ids[1]):  # the database fails the second post's record
        with pytest.raises(DBAPIError, match="refused"):
            outbox.deliver(sessions, client, now=T0)
    stored = rows(sessions)
    assert stored[ids[0]].status == "sent"
    # the row whose outcome could not be written and the two not tried yet: free again, not held 60 s
    assert [(stored[i].status, stored[i].claimed_until) for i in ids[1:]] == [("pending", None)] * 3
    assert sorted(outbox.deliver(sessions, client, now=T0 + dt.timedelta(seconds=1)).sent) == ids[1:]
    by_id = {row_id: text for text, row_id in made.items()}
    counts = posted_texts(slack)
    assert [counts[by_id[i]] for i in ids] == [1, 2, 1, 1]  # only the one whose outcome was lost repeats


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


def test_on_postgres_two_deliverers_hitting_429s_in_one_channel_at_once_neither_deadlocks_nor_stalls(
        sessions, slack, client, engine):
    """Issue 10 item 8: each deliverer's 429 pushes back the channel's other waiting rows. Two of them
    doing it at once, each holding the rows it had just recorded, waited for each other's rows;
    Postgres killed one with a deadlock, and the loser's rows stayed claimed for CLAIM_SECONDS."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are Postgres's; SQLite deliverers take the write lock whole")

    per_worker = 6
    cards = seed(sessions, {"C0CARDS001": 2 * per_worker + 1})
    assert sorted(outbox.deliver(sessions, client, ids=list(cards.values()), now=T0).sent) == sorted(cards.values())

    def edit(subjects: range, at: dt.datetime) -> list[int]:
        with clock.travelled_to(at), sessions() as session, session.begin():
            edits = outbox.refresh_many(session, [(("action", n), lambda o: {"text": o.payload["text"] + " (edited)"})
                                                  for n in subjects], kinds=["action_reminder"])
            session.flush()
            return sorted(e.id for e in edits)

    # every card in the channel changes: one chat.update each (edits are not paced, so both deliverers
    # can hold rows of one channel). The first edit is in a transaction of its own that holds its row
    # (someone re-rendering that card) while both deliverers record, so each reaches the channel-wide
    # update while holding what it has recorded: the moment the deadlock needs, made certain.
    [held] = edit(range(1, 2), T0 - dt.timedelta(seconds=1))
    edit_ids = edit(range(2, 2 * per_worker + 2), T0)
    slack.fail_rate(1.0, method="chat.update", statuses=(429,), retry_after=30)  # Slack rate-limits chat.update
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def deliver_own(own: list[int]) -> None:  # two web workers, each delivering the edits of its own click
        barrier.wait()
        try:
            outbox.deliver(sessions, client, ids=own, now=T0)
        except BaseException as error:  # noqa: BLE001 - the assertion below shows it
            errors.append(error)

    with engine.connect() as other:
        other.begin()
        other.execute(text("SELECT id FROM outbox WHERE id = :id FOR UPDATE"), {"id": held})
        workers = [threading.Thread(target=deliver_own, args=(edit_ids[i::2],)) for i in range(2)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 20
        while not errors and waiting_for_locks(engine) < 2:
            assert time.monotonic() < deadline, "the two deliverers never both reached the channel's rows"
            time.sleep(0.02)
        other.rollback()  # the card's other transaction ends
        started = time.monotonic()
        for w in workers:
            w.join(timeout=30)
    assert errors == [], errors
    assert time.monotonic() - started < 5
    stored = rows(sessions)
    channel = [stored[i] for i in [held, *edit_ids]]
    # nothing is left claimed (no stall), and every edit of the channel waits for Retry-After, as Slack asked
    retry_at = T0 + dt.timedelta(seconds=30)
    assert {(r.status, r.claimed_until, r.next_attempt_at) for r in channel} == {("pending", None, retry_at)}
    assert {r.attempts for r in channel} <= {0, 1}
    # each deliverer stopped at its first 429: the rest of the channel waits instead of hitting Slack again
    assert len(slack.calls_for("chat.update", ok=False)) == 2
    slack.fail_rate(0.0, method="chat.update")
    # Retry-After passed: one pass sends every edit, once
    assert sorted(outbox.deliver(sessions, client, now=retry_at).sent) == sorted(r.id for r in channel)
    assert len(slack.calls_for("chat.update")) == len(channel)


@contextmanager
def database_refusing_to_mark_sent(engine, row_id: int):
    """A trigger that makes the database fail any statement marking outbox row `row_id` sent."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'the database refused the record'; END $$"))
            conn.execute(text(f"CREATE TRIGGER refuse_record BEFORE UPDATE ON outbox FOR EACH ROW "
                              f"WHEN (NEW.id = {int(row_id)} AND NEW.status = 'sent') EXECUTE FUNCTION refuse_record()"))
        else:
            conn.execute(text(f"CREATE TRIGGER refuse_record BEFORE UPDATE ON outbox FOR EACH ROW "
                              f"WHEN NEW.id = {int(row_id)} AND NEW.status = 'sent' "
                              f"BEGIN SELECT RAISE(ABORT, 'the database refused the record'); END"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("DROP TRIGGER refuse_record ON outbox"))
                conn.execute(text("DROP FUNCTION refuse_record()"))
            else:
                conn.execute(text("DROP TRIGGER refuse_record"))


def waiting_for_locks(engine) -> int:
    """How many sessions of this database wait for a lock (a fresh connection: activity is a snapshot)."""
    with engine.connect() as probe:
        return probe.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND datname = current_database()"))


@pytest.mark.skipif(not (os.environ.get("PARTNERBOT_TEST_DATABASE_URL") or "").startswith("postgres"),
                    reason="row locks are Postgres's; on SQLite a refresh and a record cannot interleave")
def test_a_card_refreshed_while_its_post_is_being_recorded_still_reaches_slack(sessions, slack, client):
    """The refresh reads the card as still waiting, the deliverer records it sent, then the refresh
    writes the new version into a row already marked sent: the new version never went out. The
    refresh must lock the rows it reads, so the deliverer's record sees the new version and follows
    up with an edit."""
    from sqlalchemy import event

    with sessions() as session, session.begin():
        card = outbox.post(session, channel="C0CARDS001", message={"text": "version one"}, kind="lead_card",
                           subject=("lead", 1))
        session.flush()
        row_id = card.id
    slack.latency = 1.0  # the post is in flight for a second
    delivering = threading.Thread(target=outbox.deliver, args=(sessions, client), kwargs={"ids": [row_id]})
    try:
        delivering.start()
        deadline = time.monotonic() + 10
        while not rows(sessions)[row_id].claimed_until:
            assert time.monotonic() < deadline, "the deliverer never claimed the card"
            time.sleep(0.01)
        with sessions() as session, session.begin():
            def let_the_deliverer_record_first(conn, cursor, statement, *args):
                if statement.lstrip().upper().startswith("UPDATE OUTBOX"):
                    delivering.join(timeout=3)  # at once, unless its record waits for our lock

            event.listen(session.connection(), "before_cursor_execute", let_the_deliverer_record_first)
            outbox.refresh(session, subject=("lead", 1), kinds=("lead_card",), render=lambda row: {"text": "version two"})
        delivering.join(timeout=15)
    finally:
        slack.latency = 0.0
    assert not delivering.is_alive()
    # Slack ends with the new version: the post, then an edit carrying version two
    assert [c.args["text"] for c in slack.calls_for("chat.postMessage")] == ["version one"]
    assert [c.args["text"] for c in slack.calls_for("chat.update")] == ["version two"]
