"""Per-partner figures (store/metrics.py) against hand-computed expectations on a small fixture.

The playbook runs in America/New_York: October 2026 is [2026-10-01 04:00Z, 2026-11-01 04:00Z)
(EDT, UTC-4, until 2026-11-01 02:00 local). Every expectation below is worked out by hand from
the rows in `fixture`; the comments say how.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event

from store import metrics
from store.metrics import Figures
from store.models import ActionItem, Escalation, Lead, Partner

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_lead(pid, created, *, direction="to_partner", stage="handed_off", **kw) -> Lead:
    created = at(created)
    values = dict(partner_id=pid, direction=direction, company="Acme", problem="p", next_steps="n", stage=stage,
                  sender_id="U0REPRIYA", primary_owner_id="U0OWNEROMAR", accept_by=created + dt.timedelta(hours=8),
                  first_outreach_by=created + dt.timedelta(hours=24), created_at=created)
    for key, value in kw.items():
        values[key] = at(value) if isinstance(value, str) and key.endswith(("_at", "_by")) and "T" in value else value
    return Lead(**values)


def make_action(pid, *, due, created="2026-10-01T12:00:00", status="open", done_at=None, title="Act") -> ActionItem:
    return ActionItem(title=title, owner_id="U0OWNEROMAR", created_by="U0REPRIYA", due_date=dt.date.fromisoformat(due),
                      status=status, done_at=at(done_at) if done_at else None, partner_id=pid, created_at=at(created))


def make_escalation(*, created, lead_id=None, action_id=None, status="pending", decided_at=None) -> Escalation:
    return Escalation(kind="discount", about="Discount", reason="r", severity="low", requester_id="U0REPRIYA",
                      lead_id=lead_id, action_id=action_id, level_due_at=at(created) + dt.timedelta(hours=8),
                      status=status, decided_at=at(decided_at) if decided_at else None, created_at=at(created))


@pytest.fixture
def fixture(sessions):
    """Partner A (busy), B (one lead, nothing accepted), C (nothing at all)."""
    with sessions() as session, session.begin():
        a, b, c = (Partner(name=n, name_key=n.lower(), type="reseller", tier="silver", channel_id=None)
                   for n in ("Alpha", "Beta", "Gamma"))
        session.add_all([a, b, c])
        session.flush()
        leads = {
            # October, to partner, accepted after 4 h, outreach before its deadline (on time).
            # accept_hours is what accept_lead stores: business hours (here given by hand).
            "L1": make_lead(a.id, "2026-10-05T14:00:00", stage="contacted", accepted_at="2026-10-05T18:00:00",
                            accept_hours=4.0,
                            first_outreach_by="2026-10-06T14:00:00", first_outreach_at="2026-10-06T10:00:00"),
            # October, from partner, accepted after 26 h (10 business hours), outreach late; won in
            # October for 1000.50
            "L2": make_lead(a.id, "2026-10-12T14:00:00", direction="from_partner", stage="closed_won", accept_hours=10.0,
                            accepted_at="2026-10-13T16:00:00", first_outreach_by="2026-10-13T20:00:00",
                            first_outreach_at="2026-10-14T12:00:00", closed_at="2026-10-20T15:00:00",
                            closed_amount=Decimal("1000.50")),
            # 03:30Z on Nov 1 is 23:30 on Oct 31 in New York: October. Outreach due in November.
            "L3": make_lead(a.id, "2026-11-01T03:30:00", first_outreach_by="2026-11-02T14:00:00"),
            # October, declined: counts as handed off, its outreach deadline does not count
            "L4": make_lead(a.id, "2026-10-20T14:00:00", stage="declined", declined_at="2026-10-20T15:00:00",
                            first_outreach_by="2026-10-21T14:00:00"),
            # September, accepted after 1 h, outreach on time in September; won on Oct 3 for 500
            "L5": make_lead(a.id, "2026-09-10T14:00:00", stage="closed_won", accepted_at="2026-09-10T15:00:00",
                            accept_hours=1.0,
                            first_outreach_by="2026-09-11T14:00:00", first_outreach_at="2026-09-11T09:00:00",
                            closed_at="2026-10-03T15:00:00", closed_amount=Decimal(500)),
            # 03:00Z on Oct 1 is 23:00 on Sep 30 in New York: September. Outreach due Oct 1, never done.
            "L6": make_lead(a.id, "2026-10-01T03:00:00", first_outreach_by="2026-10-01T20:00:00"),
            # Beta: one October lead, not accepted, outreach missed
            "B1": make_lead(b.id, "2026-10-10T14:00:00", first_outreach_by="2026-10-11T14:00:00"),
        }
        session.add_all(leads.values())
        session.flush()
        actions = {
            "A1": make_action(a.id, due="2026-10-20", status="done", done_at="2026-10-15T15:00:00"),
            "A2": make_action(a.id, due="2026-10-25"),  # open at October's end, past due: overdue
            "A3": make_action(a.id, due="2026-10-28", created="2026-10-02T12:00:00", status="done",
                              done_at="2026-11-03T15:00:00"),  # done in November: overdue at October's end
            "A4": make_action(a.id, due="2026-10-05", status="cancelled"),  # cancelled: never counts
            "A5": make_action(a.id, due="2026-11-05"),  # not due yet at October's end
        }
        session.add_all(actions.values())
        session.flush()
        session.add_all([
            make_escalation(created="2026-10-07T15:00:00", lead_id=leads["L1"].id),  # opened Oct, still pending
            make_escalation(created="2026-10-09T15:00:00", action_id=actions["A2"].id, status="approved",
                            decided_at="2026-10-10T15:00:00"),  # opened and closed in October
            make_escalation(created="2026-09-20T15:00:00", lead_id=leads["L5"].id, status="rejected",
                            decided_at="2026-10-02T15:00:00"),  # September; closed before October's end
            make_escalation(created="2026-09-25T15:00:00", lead_id=leads["L6"].id, status="approved",
                            decided_at="2026-11-02T15:00:00"),  # September; open through October
        ])
        return {"a": a.id, "b": b.id, "c": c.id}


def test_october_figures_match_the_hand_count(sessions, playbook, fixture):
    with sessions() as session:
        october = metrics.month_figures(session, playbook, 2026, 10)
    a = october[fixture["a"]]
    assert (a.to_partner, a.from_partner, a.handed_off) == (3, 1, 4)  # L1, L3, L4 to; L2 from
    assert a.accepted == 2 and a.acceptance_rate == pytest.approx(0.5)  # L1, L2 of 4
    assert a.hours_to_accept == pytest.approx((4 + 10) / 2)  # the median of two: their mean
    assert (a.outreach_due, a.outreach_on_time) == (3, 1)  # L1 (on time), L2 (late), L6 (missed); L4 declined
    assert a.sla_hit_rate == pytest.approx(1 / 3)
    assert (a.wins, a.revenue) == (2, Decimal("1500.50"))  # L2 and L5 closed won in October
    assert (a.actions_done, a.actions_overdue) == (1, 2)  # A1 done; A2 and A3 overdue at the end
    assert (a.escalations_opened, a.escalations_open) == (2, 2)  # E1, E2 opened; E1, E4 open at the end


def test_september_is_cut_in_the_playbooks_time_zone(sessions, playbook, fixture):
    with sessions() as session:
        september = metrics.previous_month_figures(session, playbook, 2026, 10)
    a = september[fixture["a"]]
    assert (a.to_partner, a.from_partner, a.accepted) == (2, 0, 1)  # L5 and L6 (Sep 30 local); L5 accepted
    assert a.hours_to_accept == pytest.approx(1.0, abs=1e-3)
    assert (a.outreach_due, a.outreach_on_time, a.wins) == (1, 1, 0)  # L5 due Sep 11, on time
    assert (a.escalations_opened, a.escalations_open) == (2, 2)  # E3, E4; both undecided on Sep 30
    assert a.actions_done == 0 and a.actions_overdue == 0


def test_zero_is_not_no_data(sessions, playbook, fixture):
    with sessions() as session:
        october = metrics.month_figures(session, playbook, 2026, 10)
    beta = october[fixture["b"]]
    assert beta.acceptance_rate == 0.0 and beta.sla_hit_rate == 0.0  # one lead, not accepted, outreach missed
    assert beta.hours_to_accept is None  # nothing accepted: no time to accept, not 0 hours
    assert fixture["c"] not in october  # Gamma did nothing
    gamma = metrics.figures_of(october, fixture["c"])
    assert not gamma.has_data
    assert gamma.acceptance_rate is None and gamma.sla_hit_rate is None and gamma.value("acceptance_rate") is None


def test_a_month_with_no_data_at_all(sessions, playbook, fixture):
    with sessions() as session:
        assert metrics.month_figures(session, playbook, 2025, 1) == {}
        report = metrics.month_report(session, playbook, 2025, 1)
    assert not report.has_data and report.totals[-1].acceptance_rate is None


def test_many_periods_cost_three_queries(sessions, playbook, fixture, engine):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with sessions() as session:
            six = metrics.figures(session, metrics.last_months(playbook, 2026, 10, 6))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3  # leads, actions, escalations
    assert six[-1][fixture["a"]].handed_off == 4 and six[-2][fixture["a"]].handed_off == 2


def test_baseline_is_the_first_full_quarter(sessions, playbook, make_partner):
    delta = make_partner("Delta", channel_id=None)
    with sessions() as session, session.begin():
        # first lead May 15 -> first full quarter is Q3 (Jul–Sep): 6 leads there, 3 accepted
        session.add(make_lead(delta, "2026-05-15T14:00:00"))
        for month in (7, 8, 9):
            session.add(make_lead(delta, f"2026-{month:02d}-05T14:00:00", accepted_at=f"2026-{month:02d}-05T16:00:00"))
            session.add(make_lead(delta, f"2026-{month:02d}-06T14:00:00"))
    end_of_october = metrics.month_period(playbook, 2026, 10).end
    with sessions() as session:
        periods = metrics.baseline_periods(session, playbook, as_of=end_of_october)
        baseline = metrics.baseline_figures(session, playbook, as_of=end_of_october)[delta]
        early = metrics.baseline_periods(session, playbook, as_of=metrics.month_period(playbook, 2026, 8).end)
        custom = metrics.baseline_figures(session, playbook, as_of=end_of_october,
                                          overrides={delta: metrics.month_period(playbook, 2026, 5)})[delta]
    assert periods[delta].label == "2026-Q3" and periods[delta].months == 3
    assert baseline.handed_off == 6 and baseline.value("handed_off") == pytest.approx(2.0)  # 6 over 3 months
    assert baseline.acceptance_rate == pytest.approx(0.5)  # a rate is not divided by the months
    assert delta not in early  # Q3 is not over at the end of August: no baseline yet
    assert custom.handed_off == 1 and custom.value("handed_off") == 1.0  # May alone, set by hand


def test_a_quarter_starting_exactly_at_the_first_lead_is_the_baseline(playbook):
    july_first = dt.datetime(2026, 7, 1, tzinfo=playbook.tz)
    assert metrics._quarter_after(playbook, july_first).label == "2026-Q3"
    assert metrics._quarter_after(playbook, july_first + dt.timedelta(seconds=1)).label == "2026-Q4"
    assert metrics._quarter_after(playbook, dt.datetime(2026, 11, 5, tzinfo=playbook.tz)).label == "2027-Q1"


def figures(**values) -> Figures:
    return Figures(partner_id=1, **values)


def test_regression_needs_a_drop_against_both_the_month_before_and_the_baseline():
    now = figures(to_partner=5, outreach_due=4, outreach_on_time=4)
    before = figures(to_partner=10, outreach_due=4, outreach_on_time=4)
    baseline = Figures(partner_id=1, to_partner=24, outreach_due=12, outreach_on_time=12, months=3)  # 8 a month
    # 5 < 10 * 0.8 and 5 < 8 * 0.8: leads down; SLA rate 100% each time: not down
    assert metrics.regressions(now, before, baseline) == ["leads handed off"]
    # 5 is not below 6 * 0.8 = 4.8: not flagged, however far below the baseline
    assert metrics.regressions(now, figures(to_partner=6), baseline) == []
    # no baseline yet: a young partner is never flagged
    assert metrics.regressions(now, before, None) == []
    # the month before had no data to compare with (0 leads): no drop from nothing
    assert metrics.regressions(now, figures(), baseline) == []


def test_stagnation_is_three_flat_months():
    flat = [figures(to_partner=10), figures(to_partner=10), figures(to_partner=11)]  # mean 10.33, all within 10%
    assert metrics.stagnation(flat) == ["leads handed off"]
    moving = [figures(to_partner=10), figures(to_partner=10), figures(to_partner=13)]  # 13 is 2.67 above 11
    assert metrics.stagnation(moving) == []
    assert metrics.stagnation(flat[:2]) == []  # two months are not three
    assert metrics.stagnation([figures(), figures(to_partner=1), figures(to_partner=1)]) == []  # a month with no data


def test_the_charts_sla_series_covers_all_partners_month_by_month(sessions, playbook, fixture):
    with sessions() as session:
        series = metrics.sla_series(session, metrics.last_months(playbook, 2026, 10, 3))
    # August: no deadline (None, not 0%); September: L5 on time (1 of 1);
    # October: L1 on time, L2 late, L6 missed (Alpha) and B1 missed (Beta): 1 of 4
    assert series == [None, 1.0, 0.25]


def test_the_month_report_puts_it_together(sessions, playbook, fixture):
    with sessions() as session:
        report = metrics.month_report(session, playbook, 2026, 10)
    assert [p.label for p in report.periods] == ["2026-08", "2026-09", "2026-10"]
    assert len(report.chart_periods) == 6 and report.sla_series[-1] == 0.25
    alpha = report.partners[fixture["a"]]
    assert alpha.current.handed_off == 4 and alpha.previous.handed_off == 2
    assert alpha.baseline is None  # first lead Sep 10: its first full quarter (Q4) is not over
    assert alpha.regressions == [] and fixture["c"] not in report.partners
    assert report.totals[-1].handed_off == 5  # Alpha 4 + Beta 1
