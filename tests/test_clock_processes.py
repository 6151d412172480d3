"""Real clock processes (`partnerbot tick --now …` as operators run it): one killed in the middle of
its delivery loses and repeats nothing; two running at once on one Postgres post every reminder and
the digest exactly once (issue 4, Delivery and Scale out)."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from store import clock, outbox
from store.handoffs import HandoffDraft, create_handoff
from store.models import AuditEvent, Lead, OutboxMessage, SlackUser
from store.outbox import CLAIM_SECONDS
from store.playbook import parse_playbook
from store.reminders import post_once, reminder_key
from tests.conftest import BEA, MIA, OMAR, RIYA, SIGNING_SECRET, TEST_PLAYBOOK, TOKEN

ROOT = Path(__file__).resolve().parents[1]
T = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)  # Tuesday 1 Dec 2026, 09:00 in New York: first business day
DIGEST_CHANNEL = "C0DIGEST01"


def iso(moment: dt.datetime) -> str:
    # To the microsecond: a tick run "now" must not land before rows seeded earlier in the same second.
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Cli:
    """`python -m bot.cli …` in its own process group, against the test's database and stand-in."""

    def __init__(self, database_url: str, slack, playbook_path: Path, *args: str):
        env = {k: v for k, v in os.environ.items()
               if k not in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL",
                            "DATABASE_URL", "PLAYBOOK_PATH")}
        env.update(DATABASE_URL=database_url, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                   SLACK_API_URL=slack.url, PLAYBOOK_PATH=str(playbook_path))
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.out = self.err = ""

    def signal(self, sig: int, timeout: float = 30) -> int:
        """Send `sig` to the process's group (as a deploy or `kill` does), wait for it to end; its exit code."""
        os.killpg(self.proc.pid, sig)
        try:
            self.out, self.err = self.proc.communicate(timeout=timeout)
        finally:
            self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group of the process this test started
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)


class Tick(Cli):
    """`partnerbot tick --now …`: one pass at that instant."""

    def __init__(self, database_url: str, slack, now: dt.datetime, playbook_path: Path):
        super().__init__(database_url, slack, playbook_path, "tick", "--now", iso(now))

    def finish(self, timeout: float = 60) -> int:
        """Wait for the pass to end; returns how many messages it reported sent."""
        try:
            self.out, self.err = self.proc.communicate(timeout=timeout)
        finally:
            self.kill()
        assert self.proc.returncode == 0, f"tick exited {self.proc.returncode}:\n{self.out}\n{self.err[-3000:]}"
        found = re.search(r"sent (\d+), retrying (\d+), failed (\d+)", self.out)
        assert found, self.out
        return int(found.group(1))


class Clock(Cli):
    """`partnerbot clock`: the scheduler process, on the machine's clock."""

    def __init__(self, database_url: str, slack, playbook_path: Path):
        super().__init__(database_url, slack, playbook_path, "clock")


@pytest.fixture
def ticks():
    started: list[Cli] = []

    def start(*args) -> Tick:
        started.append(Tick(*args))
        return started[-1]

    yield start
    for tick in started:
        tick.kill()
        tick.proc.communicate()


@pytest.fixture
def clocks():
    started: list[Cli] = []

    def start(*args) -> Clock:
        started.append(Clock(*args))
        return started[-1]

    yield start
    for process in started:
        process.kill()
        process.proc.communicate()


@pytest.fixture
def playbook_file(tmp_path):
    path = tmp_path / "playbook.yml"
    path.write_text(TEST_PLAYBOOK + f'digest: {{channels: [{DIGEST_CHANNEL}], time: "09:00"}}\n')
    return path


def seed(sessions, n_channels: int, per_channel: int = 1, at: dt.datetime = T) -> dict[str, int]:
    """post_once reminders recorded at `at` (the ticks run then and later); returns {text: row id} (texts are unique)."""
    made = {}
    with sessions() as session, session.begin():
        for i in range(n_channels * per_channel):
            channel = f"C0CHAN{i % n_channels:04d}"
            text = f"reminder {i} for {channel}"
            made[text] = post_once(session, key=reminder_key("action_reminder", ("action", i + 1), "2026-12-01"),
                                   channel=channel, message={"text": text}, kind="action_reminder",
                                   subject=("action", i + 1), now=at)
    return made


def outbox_rows(sessions) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_tick_killed_after_claiming_loses_nothing_and_repeats_nothing(sessions, slack, database_url, ticks, tmp_path):
    playbook_path = tmp_path / "playbook.yml"
    playbook_path.write_text(TEST_PLAYBOOK)
    made = seed(sessions, n_channels=5)
    # Slack hangs on the first post (then fails it): the process is mid-delivery when it is killed
    slack.fail_next("chat.postMessage", status=500, delay=4)
    doomed = ticks(database_url, slack, T, playbook_path)

    def claimed():
        return [r for r in outbox_rows(sessions) if r.claimed_until is not None]

    deadline = time.monotonic() + 30
    while not claimed():
        assert doomed.proc.poll() is None, doomed.proc.communicate()
        assert time.monotonic() < deadline, "the tick never claimed its rows"
        time.sleep(0.02)
    time.sleep(0.3)  # inside the hung send now
    doomed.kill()

    rows = outbox_rows(sessions)
    assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}
    # claimed on the tick's clock (T, plus the moment its jobs took), not on the machine's
    claim = T + dt.timedelta(seconds=CLAIM_SECONDS)
    assert all(claim <= r.claimed_until < claim + dt.timedelta(seconds=10) for r in rows), [r.claimed_until for r in rows]
    assert slack.calls_for("chat.postMessage") == []

    # restarted while the dead pass's claims are alive: it leaves them alone
    assert ticks(database_url, slack, T + dt.timedelta(seconds=30), playbook_path).finish() == 0
    # once the claims lapse, the next pass sends every row, once
    after = T + dt.timedelta(seconds=CLAIM_SECONDS + 15)
    assert ticks(database_url, slack, after, playbook_path).finish() == len(made)
    assert ticks(database_url, slack, after + dt.timedelta(minutes=1), playbook_path).finish() == 0
    assert Counter(c.args["text"] for c in slack.calls_for("chat.postMessage")) == Counter({t: 1 for t in made})
    assert {r.status for r in outbox_rows(sessions)} == {"sent"}


@pytest.mark.skipif(not (os.environ.get("PARTNERBOT_TEST_DATABASE_URL") or "").startswith("postgres"),
                    reason="two clock processes at once need Postgres (set PARTNERBOT_TEST_DATABASE_URL)")
def test_two_clock_processes_on_one_postgres_post_everything_exactly_once(
        sessions, slack, database_url, ticks, playbook_file, make_partner):
    playbook = parse_playbook(playbook_file.read_text(), str(playbook_file))
    partner_id = make_partner()
    # a handoff nobody accepted for three days: the lead jobs have reminders / a pass to the backup due
    draft = HandoffDraft(partner_id=partner_id, direction="to_partner", company="Initech", domain=None,
                         contact_name=None, contact_email=None, consent=False, problem="Invoices by hand.",
                         value_proposition=None, next_steps="Call Tuesday.", estimated_value=None,
                         product_line=None, primary_owner_id=OMAR, backup_owner_id=BEA)
    with clock.travelled_to(T - dt.timedelta(days=3)), sessions() as session, session.begin():
        create_handoff(session, draft=draft, sender_id=RIYA, playbook=playbook, now=clock.now())
        # the users.info cache is warm, as for a clock that has run before (two clocks filling a cold
        # cache at once is another matter: store.slack_users, reported separately)
        session.add_all(SlackUser(user_id=u, tz="America/New_York", real_name=u, fetched_at=T - dt.timedelta(hours=1))
                        for u in (OMAR, BEA, RIYA, MIA))
    # 253 reminders in 250 channels: more than one pass's batch of 200, so both processes must deliver;
    # C0CHAN0000 has a queue of 4, paced one per channel per pass
    made = seed(sessions, n_channels=250)
    made.update(seed_more(sessions, 3))
    slack.latency = 0.002  # Slack answers in about 2 ms, so the two passes overlap
    try:
        now, sent_by_process = T, []
        for _ in range(8):
            pair = [ticks(database_url, slack, now, playbook_file) for _ in range(2)]
            sent_by_process += [tick.finish() for tick in pair]
            if now == T:
                assert all(n > 0 for n in sent_by_process), sent_by_process  # both clocks delivered
            rows = outbox_rows(sessions)
            if not [r for r in rows if r.status == "pending" and r.next_attempt_at <= now + dt.timedelta(minutes=1)]:
                break
            now += dt.timedelta(minutes=1)
    finally:
        slack.latency = 0.0

    rows = outbox_rows(sessions)
    sent = [r for r in rows if r.status == "sent"]
    assert [r for r in rows if r.status == "failed"] == []
    # every row was reported sent by exactly one of the processes
    assert sum(sent_by_process) == len(sent)
    # Slack saw each posted row exactly once, and nothing else
    posts = [r for r in sent if r.method == "chat.postMessage"]
    assert Counter((c.args["channel"], c.args.get("text")) for c in slack.calls_for("chat.postMessage")) == Counter(
        (r.channel, r.payload.get("text")) for r in posts)
    assert len(slack.calls_for("files.completeUploadExternal")) == len([r for r in sent if r.method == "files.upload_v2"])
    assert Counter(c.args["text"] for c in slack.calls_for("chat.postMessage") if c.args["text"] in made) == Counter(
        {t: 1 for t in made})
    # the jobs ran in both processes, and still: one digest, one accept reminder / hand-over per lead
    digests = [r for r in rows if r.channel == DIGEST_CHANNEL and r.method == "chat.postMessage"]
    assert len(digests) == 1 and digests[0].status == "sent"
    lead_work = [r for r in rows if r.idempotency_key and r.subject_type in ("lead", "escalation")]
    assert lead_work and {r.status for r in lead_work} == {"sent"}  # the lead jobs' reminders, keyed, sent


def seed_more(sessions, n: int) -> dict[str, int]:
    """n more reminders into channel C0CHAN0000: one channel with a queue, paced over several passes."""
    made = {}
    with sessions() as session, session.begin():
        for i in range(n):
            text = f"queued reminder {i}"
            made[text] = post_once(session, key=reminder_key("action_reminder", ("action", 10_000 + i), "2026-12-01"),
                                   channel="C0CHAN0000", message={"text": text}, kind="action_reminder",
                                   subject=("action", 10_000 + i), now=T)
    return made


def test_a_tick_three_hours_before_the_wall_clock_delivers_everything_it_recorded(
        sessions, slack, database_url, ticks, tmp_path, make_partner, settings):
    """`tick --now T` with T in the past: what the pass records is stamped at T, so its own delivery
    (at T) sends it in the same run. Before the one clock, edits were stamped with the machine's time,
    three hours after the pass's, and stayed pending."""
    playbook_file = tmp_path / "playbook.yml"
    playbook_file.write_text(TEST_PLAYBOOK)
    playbook = parse_playbook(TEST_PLAYBOOK, str(playbook_file))
    at = clock.wall().replace(microsecond=0) - dt.timedelta(hours=3)
    handed_off = at - dt.timedelta(days=10)  # long past the accept SLA and the backup's grace, any weekday
    partner_id = make_partner()
    draft = HandoffDraft(partner_id=partner_id, direction="to_partner", company="Initech", domain=None,
                         contact_name=None, contact_email=None, consent=False, problem="Invoices by hand.",
                         value_proposition=None, next_steps="Call Tuesday.", estimated_value=None,
                         product_line=None, primary_owner_id=OMAR, backup_owner_id=BEA)
    from bot.slack import Slack

    with clock.travelled_to(handed_off):
        with sessions() as session, session.begin():
            lead_id = create_handoff(session, draft=draft, sender_id=RIYA, playbook=playbook, now=clock.now()).lead.id
        # the cards went out when the lead was handed off
        assert outbox.deliver(sessions, Slack.from_settings(settings)).sent

    tick = ticks(database_url, slack, at, playbook_file)
    reported = tick.finish()

    with sessions() as session:
        lead = session.get(Lead, lead_id)
        assert lead.primary_owner_id == BEA and lead.passed_to_backup_at == at  # the pass ran at T
        passed = session.scalars(select(AuditEvent).where(AuditEvent.action == "lead.passed_to_backup")).one()
        assert passed.at == at
        recorded = [r for r in session.scalars(select(OutboxMessage)) if r.created_at >= at]
    edits = [r for r in recorded if r.method == "chat.update"]
    # the cards already in Slack were edited by the pass (owner and channel copies) ...
    assert edits, [(r.method, r.kind) for r in recorded]
    # ... recorded on the tick's clock and sent by the same run, not left for three hours
    assert all(at <= r.next_attempt_at < at + dt.timedelta(minutes=1) for r in edits)
    assert {r.status for r in edits} == {"sent"}
    assert all(at <= r.sent_at < at + dt.timedelta(minutes=1) for r in edits)
    assert reported >= len(edits)
    assert len(slack.calls_for("chat.update")) == len(edits)


def posted(slack, made) -> Counter:
    return Counter(c.args["text"] for c in slack.calls_for("chat.postMessage") if c.args.get("text") in made)


def wait_for_posts(slack, made, n: int, process: Cli) -> None:
    deadline = time.monotonic() + 60
    while sum(posted(slack, made).values()) < n:
        assert process.proc.poll() is None, process.proc.communicate()
        assert time.monotonic() < deadline, f"{n} posts never went out: {posted(slack, made)}"
        time.sleep(0.01)


def test_a_clock_killed_mid_pass_repeats_at_most_the_post_in_flight(
        sessions, slack, database_url, clocks, ticks, tmp_path):
    """Issue 9 item 7: a clock SIGKILLed a few posts into its pass; once its claims lapse another clock
    sends the rest. Outcomes used to be recorded RECORD_EVERY = 50 at a time, so each of those posts
    went out again; now each is recorded as Slack answers, and only the one in flight can repeat."""
    playbook_path = tmp_path / "playbook.yml"
    playbook_path.write_text(TEST_PLAYBOOK)
    made = seed(sessions, n_channels=8, at=clock.wall())
    slack.latency = 0.3  # Slack answers each post in 0.3 s: the pass takes 2.4 s
    try:
        doomed = clocks(database_url, slack, playbook_path)
        wait_for_posts(slack, made, 3, doomed)
        assert doomed.signal(signal.SIGKILL) == -signal.SIGKILL
    finally:
        slack.latency = 0.0
    before = posted(slack, made)
    assert 3 <= sum(before.values()) < len(made), before  # stopped in the middle of its pass
    recorded = {r.payload["text"] for r in outbox_rows(sessions) if r.status == "sent"}
    assert recorded <= set(before) and len(set(before) - recorded) <= 1, (before, recorded)

    # another clock, once the dead one's claims have lapsed
    after = clock.wall() + dt.timedelta(seconds=CLAIM_SECONDS + 15)
    ticks(database_url, slack, after, playbook_path).finish()
    counts = posted(slack, made)
    assert set(counts) == set(made)  # nothing lost
    assert sum(n - 1 for n in counts.values()) <= 1, counts  # at most the post in flight went twice
    assert {r.status for r in outbox_rows(sessions)} == {"sent"}


@pytest.mark.parametrize("command", ["clock", "tick"])
def test_a_clock_stopped_by_sigterm_mid_pass_finishes_the_post_in_flight_and_repeats_nothing(
        command, sessions, slack, database_url, clocks, ticks, tmp_path):
    """Issue 9 item 7: every deploy sends SIGTERM. The process finishes the send in flight, records it,
    hands back what it had claimed and not sent, and exits 0 at once; the next clock repeats nothing."""
    playbook_path = tmp_path / "playbook.yml"
    playbook_path.write_text(TEST_PLAYBOOK)
    made = seed(sessions, n_channels=8, at=clock.wall())
    slack.latency = 0.3
    try:
        process = (clocks(database_url, slack, playbook_path) if command == "clock"
                   else ticks(database_url, slack, clock.wall(), playbook_path))
        wait_for_posts(slack, made, 3, process)
        signalled = time.monotonic()
        code = process.signal(signal.SIGTERM)
        took = time.monotonic() - signalled
    finally:
        slack.latency = 0.0
    assert code == 0, f"{command} exited {code}:\n{process.out}\n{process.err[-3000:]}"
    # the one send in flight (0.3 s), its record, the hand-back, then out (well inside a deploy's grace,
    # usually 30 s: about a second here, more when a job of the clock's first pass is still finishing)
    assert took < 10, took
    assert "stopped" in process.err, process.err[-3000:]
    before = posted(slack, made)
    assert 3 <= sum(before.values()) < len(made), before  # stopped in the middle of its pass
    rows = outbox_rows(sessions)
    # every post Slack took is recorded as sent, the one in flight included
    assert {r.payload["text"] for r in rows if r.status == "sent"} == set(before)
    # the rest were handed back: unclaimed and untried, so the next clock need not wait CLAIM_SECONDS
    assert all(r.claimed_until is None and r.attempts == 0 for r in rows if r.status == "pending")

    assert ticks(database_url, slack, clock.wall(), playbook_path).finish() == len(made) - len(before)
    assert posted(slack, made) == Counter({text: 1 for text in made})
