"""Many reps handing off the same customer at once: concurrent signed submissions, real database.

On Postgres the submissions run in concurrent transactions, so a submission's conflict check does
not see the leads that are being saved at the same moment; whatever the interleaving, once the
burst is over every pair of leads must be recorded as a conflict both ways, both partner managers
told about it, and every lead's latest card in Slack (owner DM and partner channel) must list all
the others. A submission whose process dies right after its commit leaves work behind that the
next change picks up.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations

import pytest
from sqlalchemy import select, update

from slackkit import simulator as s
from slackkit.simulator import SlackSimulator
from scheduling.clock import run_jobs
from store import clock, events, handoffs, outbox
from store.models import Lead, LeadConflict, LeadRefresh, OutboxMessage
from tests.conftest import RIYA, SIGNING_SECRET
from tests.helpers import handoff_form

BURST = 10  # every lead conflicts with the 9 others: all of them fit on a card (it lists 10)
DOMAIN = "hotaccount.com"


def _people(i: int) -> tuple[str, str, str]:
    """Partner i's channel and manager, and the owner of the lead handed to it."""
    return f"C0PARTNR{i:02d}", f"U0MANAGR{i:02d}", f"U0OWNER{i:02d}"


@pytest.fixture
def burst_partners(make_partner):
    ids = []
    for i in range(BURST):
        channel, manager, _ = _people(i)
        ids.append(make_partner(f"Partner {i:02d} Consulting", channel_id=channel, manager_id=manager))
    return ids


def _form(i: int, partner_id: int, domain: str = DOMAIN) -> dict:
    return handoff_form(partner_id, domain=s.text(f"https://www.{domain}/"), company=s.text("Hot Account Inc"),
                        primary_owner=s.user(_people(i)[2]), backup_owner=s.user(None))


def _submit_all_at_once(server: str, forms: list[dict]) -> list:
    """One connection per rep, every request released at the same instant."""
    sims = [SlackSimulator(f"{server}/slack/events", SIGNING_SECRET) for _ in forms]
    barrier = threading.Barrier(len(forms))

    def one(i: int):
        sims[i]._connection().connect()
        barrier.wait()
        try:
            return sims[i].submit("handoff_submit", forms[i], user_id=RIYA)
        finally:
            sims[i].close()

    with ThreadPoolExecutor(len(forms)) as pool:
        return list(pool.map(one, range(len(forms))))


def _latest_cards(slack, sessions, lead_id: int) -> dict[str, dict]:
    """What Slack shows now for each posted copy of a lead's card (owner DM, channel notice)."""
    with sessions() as session:
        posts = session.execute(select(OutboxMessage.kind, OutboxMessage.result_channel, OutboxMessage.result_ts).where(
            OutboxMessage.subject_type == "lead", OutboxMessage.subject_id == lead_id,
            OutboxMessage.method == "chat.postMessage", OutboxMessage.kind.in_(["lead_card", "lead_notice"]),
            OutboxMessage.status == "sent")).all()
    return {kind: slack.messages[(channel, ts)] for kind, channel, ts in posts}


def _conflict_line(message: dict) -> str:
    for block in message.get("blocks") or []:
        body = (block.get("text") or {}).get("text") or ""
        if "Possible conflict" in body:
            return body
    return ""


def _ref(lead_id: int) -> str:
    return f"L-{lead_id + 1000}"


def _settled(app, slack, sessions) -> None:
    """Everything the listeners handed to after-work is done, and nothing waits in the outbox."""
    app.services.drain()
    with sessions() as session:
        waiting = [(r.id, r.method, r.kind, r.status, r.last_error) for r in outbox.waiting(session)]
    assert waiting == [], waiting


def test_a_burst_of_same_domain_submissions_records_every_conflict_on_every_card(
        app, server, slack, sessions, burst_partners):
    answers = _submit_all_at_once(server, [_form(i, p) for i, p in enumerate(burst_partners)])
    assert [(a.status, a.body) for a in answers] == [(200, "")] * BURST  # every modal closed: saved
    _settled(app, slack, sessions)

    with sessions() as session:
        leads = {lead.id: lead for lead in session.scalars(select(Lead).where(Lead.domain == DOMAIN))}
        pairs = set(session.execute(select(LeadConflict.lead_id, LeadConflict.other_lead_id)).all())
    assert len(leads) == BURST
    expected = {(a, b) for a in leads for b in leads if a != b}
    assert sorted(expected - pairs) == [], "conflicts not recorded"
    assert pairs <= expected

    partner_index = {p: i for i, p in enumerate(burst_partners)}
    for lead_id, lead in leads.items():
        others = sorted(o for o in leads if o != lead_id)
        cards = _latest_cards(slack, sessions, lead_id)
        assert set(cards) == {"lead_card", "lead_notice"}, cards.keys()
        for kind, message in cards.items():
            line = _conflict_line(message)
            missing = [_ref(o) for o in others if f"{_ref(o)} (" not in line]
            assert missing == [], f"{_ref(lead_id)}'s {kind} does not list {missing}: {line!r}"
        # the card went to the lead's owner and its partner's channel
        channel, _, owner = _people(partner_index[lead.partner_id])
        assert cards["lead_notice"]["channel"] == channel and cards["lead_card"]["channel"] == f"D{owner}"

    # Both partner managers of every pair were told about that pair.
    notices = [c for c in slack.calls_for("chat.postMessage") if c.args["channel"].startswith("DU0MANAGR")
               or c.args["channel"].startswith("U0MANAGR")]
    told: dict[str, list[str]] = {}
    for call in notices:
        told.setdefault(call.args["channel"].removeprefix("D"), []).append(call.args["text"])
    for a, b in combinations(sorted(leads), 2):
        for lead_id in (a, b):
            manager = _people(partner_index[leads[lead_id].partner_id])[1]
            assert any(_ref(a) in text and _ref(b) in text for text in told.get(manager, [])), \
                f"{manager} was not told that {_ref(a)} and {_ref(b)} conflict: {told.get(manager)}"


@pytest.mark.parametrize("finisher", ["a later submission", "the clock"])
def test_work_left_by_a_process_that_died_after_its_commit_is_picked_up_by_the_next_change(
        app, server, simulator, slack, sessions, burst_partners, playbook, finisher):
    """Lead A is saved but its process dies before it looks again for conflicts committed meanwhile
    and refreshes the other leads' cards. A later submission on any domain, or the clock's next pass
    (when nobody hands anything off), finishes that work."""
    # Two reps save leads for partners 0 and 1 at the same moment: neither check sees the other lead.
    forms = [_flat(_form(i, burst_partners[i])) for i in (0, 1)]
    with sessions() as one, sessions() as two:
        one.begin()
        two.begin()
        handoffs.create_handoff(one, draft=handoffs.validate_draft(forms[0], playbook=playbook),
                                sender_id=RIYA, playbook=playbook, settle_later=True)
        if one.get_bind().dialect.name == "sqlite":
            one.commit()  # SQLite has one writer at a time: there the two cannot overlap
        handoffs.create_handoff(two, draft=handoffs.validate_draft(forms[1], playbook=playbook),
                                sender_id=RIYA, playbook=playbook, settle_later=True)
        two.commit()
        if one.in_transaction():
            one.commit()
        written = events.written(one) + events.written(two)
    # Both processes die right here: their own messages go out (the clock sends them), nothing else ran.
    outbox.deliver(sessions, app.services.slack, ids=written)
    with sessions() as session, session.begin():  # ...a while ago
        session.execute(update(LeadRefresh).values(created_at=clock.now() - dt.timedelta(minutes=5)))

    if finisher == "the clock":
        if sessions.kw["bind"].dialect.name != "postgresql":
            pytest.skip("SQLite does a handoff's whole work in its own transaction: nothing is left for the clock")
        report = run_jobs(sessions, app.services.slack, playbook, now=clock.now())
        assert report.done.get("lead_refreshes_settled"), report.done
        outbox.deliver(sessions, app.services.slack)
    else:
        answer = simulator.submit("handoff_submit", _form(2, burst_partners[2], domain="elsewhere.com"), user_id=RIYA)
        assert answer.status == 200 and answer.body == ""
    _settled(app, slack, sessions)

    with sessions() as session:
        a, b = sorted(session.scalars(select(Lead.id).where(Lead.domain == DOMAIN)))
        pairs = set(session.execute(select(LeadConflict.lead_id, LeadConflict.other_lead_id)).all())
    assert pairs == {(a, b), (b, a)}
    for lead_id, other in ((a, b), (b, a)):
        cards = _latest_cards(slack, sessions, lead_id)
        assert set(cards) == {"lead_card", "lead_notice"}
        for kind, message in cards.items():
            assert f"{_ref(other)} (" in _conflict_line(message), (kind, message)
    for manager in (_people(0)[1], _people(1)[1]):
        assert any(_ref(a) in c.args["text"] and _ref(b) in c.args["text"]
                   for c in slack.calls_for("chat.postMessage") if c.args["channel"] == manager)
    with sessions() as session:
        assert session.scalars(select(LeadRefresh)).all() == []  # nothing left to do


def test_a_submission_does_not_wait_for_locks_held_on_another_leads_cards(
        app, server, simulator, slack, sessions, engine, burst_partners, playbook):
    """A slow transaction holds the row locks of lead 1's waiting cards (as a deliverer recording them,
    or an Accept re-rendering them, does for a moment). A rep handing off the same customer for
    another partner gets the modal closed at once, not when that transaction ends; lead 1's cards
    name the new lead once it has."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks: SQLite has one writer at a time, so there a handoff waits for any writer")
    with sessions() as session, session.begin():  # lead 1, whose cards have not gone out yet
        handoffs.create_handoff(session, draft=handoffs.validate_draft(_flat(_form(0, burst_partners[0])),
                                                                       playbook=playbook),
                                sender_id=RIYA, playbook=playbook)
    first_written = events.written(session)
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(update(OutboxMessage).where(OutboxMessage.subject_id == 1).values(attempts=OutboxMessage.attempts))
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(simulator.submit, "handoff_submit", _form(1, burst_partners[1]), user_id=RIYA)
        try:
            answer = pending.result(timeout=10)  # while lead 1's cards are still locked
        finally:
            blocker.rollback()
            blocker.close()
        answer = pending.result()
    assert answer.status == 200 and answer.body == ""
    app.services.drain()
    outbox.deliver(sessions, app.services.slack, ids=first_written)  # the clock sends lead 1's own
    _settled(app, slack, sessions)
    cards = _latest_cards(slack, sessions, 1)
    assert set(cards) == {"lead_card", "lead_notice"}
    for kind, message in cards.items():
        assert "L-1002 (" in _conflict_line(message), (kind, message)


def test_a_card_on_its_way_to_slack_is_not_rewritten_until_it_has_landed(
        app, slack, sessions, burst_partners, playbook, monkeypatch):
    """Lead 1's card is claimed by a deliverer (being sent) when lead 2 conflicts with it. The refresh
    leaves that row alone while the claim lasts (a deliverer marks a row sent in steps: a payload
    written in between would be marked sent and never go out) and keeps the work for later."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite does a handoff's whole work in its own transaction (one writer at a time): no settle()")
    monkeypatch.setattr(handoffs, "IN_FLIGHT_WAIT_SECONDS", 0.2)  # do not wait out the whole claim here

    def handoff(i: int):
        with sessions() as session, session.begin():
            return handoffs.create_handoff(session, draft=handoffs.validate_draft(
                _flat(_form(i, burst_partners[i])), playbook=playbook), sender_id=RIYA, playbook=playbook,
                settle_later=True)

    first = handoff(0)
    with sessions() as session, session.begin():  # a deliverer's claim on lead 1's owner card
        card = session.scalars(select(OutboxMessage).where(OutboxMessage.subject_id == first.lead.id,
                                                           OutboxMessage.kind == "lead_card")).one()
        card.claimed_until = clock.now() + dt.timedelta(seconds=60)
    second = handoff(1)
    handoffs.settle(sessions, playbook=playbook, lead_ids=[second.lead.id])
    with sessions() as session:
        claimed = session.get(OutboxMessage, card.id)
        assert (claimed.version, claimed.payload) == (1, card.payload)  # untouched while in flight
        assert session.scalars(select(LeadRefresh.lead_id).where(LeadRefresh.kind == "cards")).all() == [first.lead.id]

    with sessions() as session, session.begin():  # the send failed and was recorded: back to waiting
        session.get(OutboxMessage, card.id).claimed_until = None
        session.execute(update(LeadRefresh).values(created_at=clock.now() - dt.timedelta(minutes=1)))  # a while ago
    ids = handoffs.settle(sessions, playbook=playbook)  # the next settle, any handoff's
    with sessions() as session:
        refreshed = session.get(OutboxMessage, card.id)
        assert refreshed.version == 2 and card.id in ids
        assert "L-1002 (" in _conflict_line(refreshed.payload)
        assert session.scalars(select(LeadRefresh)).all() == []


def _flat(state: dict) -> dict:
    """A modal state as the handler reads it (block id -> value), for calling the store directly."""
    from messages.fields import read_state

    form = read_state(state["values"])
    form["consent"] = "yes" in (form.get("consent") or [])
    return form
