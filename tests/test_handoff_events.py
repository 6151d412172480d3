"""Lead operations say what happened as domain events (store.events.leads) and render nothing: the
recorder turns them into outbox rows at the commit, with messages.handoff's and messages.reminders'
renderers. The renderers as data: who gets which message, keyed and timed as the store decided."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from messages import handoff as lead_messages
from messages import reminders as reminder_messages
from store import events, handoffs
from store.events import Post, Refresh
from store.events.leads import (
    ConflictsFound,
    FirstOutreachLogged,
    LeadAccepted,
    LeadCardsChanged,
    LeadDeclined,
    LeadHandedOff,
    LeadPassedToBackup,
    Reach,
)
from store.handoffs import HandoffDraft
from store.models import OutboxMessage
from tests.conftest import BEA, MIA, OMAR, RIYA

NY = ZoneInfo("America/New_York")
MONDAY = dt.datetime(2026, 11, 16, 10, 0, tzinfo=NY)


def _draft(partner_id, *, domain="acme.com", backup=BEA) -> HandoffDraft:
    return HandoffDraft(partner_id=partner_id, direction="to_partner", company="Acme Corp", domain=domain,
                        contact_name=None, contact_email=None, consent=False, problem="Invoices by hand.",
                        value_proposition=None, next_steps="Intro call.", estimated_value=None, product_line=None,
                        primary_owner_id=OMAR, backup_owner_id=backup)


def _count(session) -> int:
    return session.scalar(select(func.count(OutboxMessage.id)))


def _rows(sessions, ids) -> list[tuple[str, str, str | None]]:
    with sessions() as session:
        return [(r.kind, r.method, r.audience) for r in (session.get(OutboxMessage, i) for i in ids)]


def test_a_handoff_records_events_and_its_messages_are_written_at_the_commit(sessions, playbook, make_partner):
    first_partner = make_partner("Globex Partners", manager_id=MIA)
    other_partner = make_partner("Initech Partners", channel_id=None, manager_id="U0MANAGERIVY")
    with sessions() as session, session.begin():
        handoffs.create_handoff(session, draft=_draft(first_partner), sender_id=RIYA, playbook=playbook, now=MONDAY)
    first = events.written(session)
    assert _rows(sessions, first) == [("lead_card", "chat.postMessage", OMAR),
                                      ("sender_confirmation", "chat.postMessage", RIYA),
                                      ("lead_notice", "chat.postMessage", "C0GLOBEX01")]

    # The same customer for another partner, in one transaction as the CSV import does it: the other
    # lead's cards are refreshed in the same unit of work, after both managers are told.
    with sessions() as session, session.begin():
        before = _count(session)
        result = handoffs.create_handoff(session, draft=_draft(other_partner), sender_id=RIYA, playbook=playbook,
                                         now=MONDAY)
        said = events.pending(session)
        assert [type(e) for e in said] == [LeadHandedOff, ConflictsFound, LeadCardsChanged]
        assert said[0].partner_channel_id is None and said[0].lead.conflicts[0].ref == "L-1001"
        assert [o.ref for o in said[1].others] == ["L-1001"] and [v.ref for v in said[2].leads] == ["L-1001"]
        assert _count(session) == before  # nothing rendered inside the operation
    second = events.written(session)
    assert result.lead.ref == "L-1002"
    assert _rows(sessions, second) == [("lead_card", "chat.postMessage", OMAR),
                                       ("sender_confirmation", "chat.postMessage", RIYA),
                                       ("conflict_notice", "chat.postMessage", "U0MANAGERIVY"),
                                       ("conflict_notice", "chat.postMessage", MIA),
                                       ("lead_card", "chat.postMessage", OMAR),  # L-1001's cards, not sent yet:
                                       ("lead_notice", "chat.postMessage", "C0GLOBEX01")]  # re-rendered in place
    assert set(second[-2:]) == set(first[::2])


def test_decisions_record_events_and_a_rolled_back_one_writes_nothing(sessions, playbook, make_partner):
    partner = make_partner()
    with sessions() as session, session.begin():
        lead_id = handoffs.create_handoff(session, draft=_draft(partner), sender_id=RIYA, playbook=playbook,
                                          now=MONDAY).lead.id
    events.written(session)

    with sessions() as session:
        with session.begin():
            handoffs.accept_lead(session, lead_id=lead_id, user_id=OMAR, playbook=playbook, now=MONDAY)
            session.rollback()
        assert events.pending(session) == [] and events.written(session) == []

    with sessions() as session, session.begin():
        handoffs.accept_lead(session, lead_id=lead_id, user_id=OMAR, playbook=playbook, now=MONDAY)
        (accepted,) = events.pending(session)
        assert isinstance(accepted, LeadAccepted) and accepted.lead.stage == "accepted"
    assert [k for k, _, _ in _rows(sessions, events.written(session))] == ["lead_card", "lead_notice", "lead_accepted"]

    with sessions() as session, session.begin():
        handoffs.log_first_outreach(session, lead_id=lead_id, user_id=OMAR, playbook=playbook, now=MONDAY)
        (logged,) = events.pending(session)
        assert isinstance(logged, FirstOutreachLogged) and logged.lead.stage == "contacted"
    assert [k for k, _, _ in _rows(sessions, events.written(session))] == ["lead_card", "lead_notice"]

    with sessions() as session, session.begin():
        other = handoffs.create_handoff(session, draft=_draft(partner, domain=None), sender_id=RIYA,
                                        playbook=playbook, now=MONDAY).lead.id
    events.written(session)
    with sessions() as session, session.begin():
        handoffs.decline_lead(session, lead_id=other, user_id=OMAR, reason="Not ours", playbook=playbook, now=MONDAY)
        (declined,) = events.pending(session)
        assert isinstance(declined, LeadDeclined) and declined.lead.decline_reason == "Not ours"
    assert [k for k, _, _ in _rows(sessions, events.written(session))] == ["lead_card", "lead_notice", "lead_declined"]


def test_the_pass_to_the_backup_as_data(sessions, playbook, make_partner):
    partner = make_partner()
    with sessions() as session, session.begin():
        lead = handoffs.create_handoff(session, draft=_draft(partner), sender_id=RIYA, playbook=playbook,
                                       now=MONDAY).lead
        view = handoffs.lead_view(session, lead, playbook)
    at = MONDAY + dt.timedelta(days=2)
    opens = at + dt.timedelta(hours=1)
    event = LeadPassedToBackup(lead=view, from_owner_id="U0FIRSTOWNR", missed=MONDAY, at=at,
                               new_owner=Reach(OMAR, "k:new", opens), first_owner=Reach("U0FIRSTOWNR", "k:first", opens),
                               sender=Reach(RIYA, "k:sender", at))
    refresh, *posts = reminder_messages.on_passed_to_backup(event)
    assert isinstance(refresh, Refresh) and refresh.kinds == lead_messages.CARD_KINDS
    assert all(isinstance(p, Post) for p in posts)
    assert [(p.channel, p.kind, p.key, p.not_before) for p in posts] == [
        (OMAR, "lead_card", "k:new", opens), ("U0FIRSTOWNR", "lead_passed", "k:first", opens),
        (RIYA, "lead_passed", "k:sender", at)]
    without_sender = reminder_messages.on_passed_to_backup(
        LeadPassedToBackup(**{**event.__dict__, "sender": None}))
    assert [p.channel for p in without_sender[1:]] == [OMAR, "U0FIRSTOWNR"]


def test_every_lead_event_has_a_renderer():
    from messages.events import RENDERERS
    from store.events import Event
    from store.events import leads

    lead_events = {v for v in vars(leads).values() if isinstance(v, type) and issubclass(v, Event) and v is not Event}
    assert lead_events - set(RENDERERS) == set()
