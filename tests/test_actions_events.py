"""Action items say what happened as domain events (store.events.actions) and render nothing: the
recorder turns them into outbox rows at the commit, with messages.actions' renderers. The renderers
as data: who gets which message; an action's link as data, shown (escaped) by messages."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from messages import actions as views
from store import actions, clock, events
from store.events import Post, Refresh
from store.events.actions import ActionCreated, ActionDone, ActionReassigned
from store.models import OutboxMessage
from store.views import ActionLink, ActionView
from tests.conftest import BEA, MIA, OMAR, RIYA

NY = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)


def _count(session) -> int:
    return session.scalar(select(func.count(OutboxMessage.id)))


def _create(sessions, playbook, *, link=None) -> int:
    draft = actions.ActionDraft(title="Run a workshop", owner_id=OMAR, due_date=clock.today(NY),
                                success_criteria="Ten reps certified", impact_estimate=None, priority="high", link=link)
    with sessions() as session, session.begin():
        action = actions.create_action(session, draft=draft, creator_id=RIYA, playbook=playbook).action
        assert [type(e) for e in events.pending(session)] == [ActionCreated]
        assert _count(session) == 0  # nothing rendered inside the operation
    written = events.written(session)
    with sessions() as session:
        rows = [session.get(OutboxMessage, i) for i in written]
        assert [(r.kind, r.audience) for r in rows] == [("action_card", OMAR), ("action_created", RIYA)]
    return action.id


def test_done_records_an_event_and_its_messages_are_written_at_the_commit(sessions, playbook):
    action_id = _create(sessions, playbook)
    with sessions() as session, session.begin():
        before = _count(session)
        actions.done_action(session, action_id=action_id, user_id=OMAR, playbook=playbook, outcome="All ten")
        (event,) = events.pending(session)
        assert isinstance(event, ActionDone) and event.by == OMAR
        assert (event.action.status, event.action.done_by, event.action.outcome) == ("done", OMAR, "All ten")
        assert _count(session) == before
    written = events.written(session)
    with sessions() as session:
        rows = [session.get(OutboxMessage, i) for i in written]
        # the owner's card (not sent yet) is re-rendered in place; the creator is told
        assert [(r.kind, r.audience) for r in rows] == [("action_card", OMAR), ("action_done", RIYA)]
        assert "Done by <@U0OWNEROMAR>" in str(rows[0].payload)
        assert _count(session) == 3


def test_a_rolled_back_operation_writes_nothing(sessions, playbook):
    action_id = _create(sessions, playbook)
    with sessions() as session:
        with session.begin():
            before = _count(session)
        session.begin()
        actions.done_action(session, action_id=action_id, user_id=OMAR, playbook=playbook)
        session.rollback()
        assert events.pending(session) == [] and events.written(session) == []
        assert _count(session) == before


def _view(**overrides) -> ActionView:
    fields = dict(id=3, ref="A-1003", title="Run a workshop", owner_id=BEA, created_by=RIYA, due_date=dt.date(2026, 11, 20),
                  success_criteria=None, impact_estimate=None, priority="medium", status="open", snoozed_until=None,
                  outcome=None, done_at=None, done_by=None, link=None, zone=NY)
    fields.update(overrides)
    return ActionView(**fields)


def _posts(said) -> list[tuple[str, str]]:
    return [(p.kind, p.channel) for p in said if isinstance(p, Post)]


def test_reassigning_refreshes_the_cards_gives_the_new_owner_one_and_tells_the_others():
    said = views.on_reassigned(ActionReassigned(action=_view(), by=MIA, previous_owner=OMAR, at=NOW))
    assert isinstance(said[0], Refresh) and said[0].subject == ("action", 3) and said[0].kinds == ("action_card",)
    assert _posts(said) == [("action_card", BEA), ("action_reassigned", OMAR), ("action_reassigned", RIYA)]
    # the one who reassigned it is not told what they did; the creator reassigning is not told twice
    said = views.on_reassigned(ActionReassigned(action=_view(), by=RIYA, previous_owner=OMAR, at=NOW))
    assert _posts(said) == [("action_card", BEA), ("action_reassigned", OMAR)]


def test_creating_your_own_action_sends_only_the_card():
    said = views.on_created(ActionCreated(action=_view(owner_id=RIYA), by=RIYA, at=NOW))
    assert _posts(said) == [("action_card", RIYA)]
    assert said[0].subject == ("action", 3) and said[0].audience == RIYA


def test_a_link_is_data_and_messages_shows_it_escaped():
    partner = "Globex & <!channel>"
    assert views.link_text(None) is None
    assert views.link_text(ActionLink(kind="partner", ref=None, partner=partner)) == "Partner Globex &amp; &lt;!channel&gt;"
    assert views.link_text(ActionLink(kind="lead", ref="L-1001", partner=partner, company="<Acme>")) == \
        "Lead L-1001 · &lt;Acme&gt; (Globex &amp; &lt;!channel&gt;)"
    assert views.link_text(ActionLink(kind="issue", ref="P-1002", partner="Globex", category="enablement")) == \
        "Issue P-1002 · Enablement resources (Globex)"
    card = views.action_card(_view(link=ActionLink(kind="partner", ref=None, partner=partner)), audience=BEA, now=NOW)
    assert ":link: Partner Globex &amp; &lt;!channel&gt;" in str(card) and "<!channel>" not in str(card)


def test_the_store_reads_the_link_of_each_kind(sessions, playbook, make_partner):
    globex = make_partner("Globex & <!channel>")
    action_id = _create(sessions, playbook, link=("partner", globex))
    with sessions() as session:
        view = actions.action_view(session, actions.get_action(session, action_id), playbook)
    assert view.link == ActionLink(kind="partner", ref=None, partner="Globex & <!channel>")
