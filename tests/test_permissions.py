"""Refusals name people, moments and typed text as data (store.errors.Words): store formats none of it,
messages.words shows it as Slack does (mentions, dates in each reader's zone, escaped text), and the
same words read plainly without Slack."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from messages import words
from store import errors, permissions
from store.errors import Day, Moment, NotAllowed, Person, Typed, Words
from store.models import Partner
from tests.conftest import BEA, MIA, NOAH, OMAR, STAN

NY = ZoneInfo("America/New_York")


def _refusal(call) -> Words:
    with pytest.raises(NotAllowed) as refused:
        call()
    return refused.value.args[0]


@pytest.mark.parametrize("allowed, named", [
    ((OMAR,), f"<@{OMAR}>"),
    ((OMAR, BEA), f"<@{OMAR}> or <@{BEA}>"),
    ((OMAR, BEA, MIA), f"<@{OMAR}>, <@{BEA}> or <@{MIA}>"),
    ((), "an admin of the playbook"),
])
def test_a_refusal_names_who_can_as_people(allowed, named):
    said = _refusal(lambda: permissions.require_one_of(STAN, allowed, doing="accept L-1001", why="they own it"))
    assert said == f"Only {named} can accept L-1001 — they own it."
    assert [p.user_id for p in said.parts if isinstance(p, Person)] == list(allowed)
    assert "<@" not in errors.plain(said.parts)  # the same words without Slack
    assert errors.plain(said.parts).startswith("Only " + (f"@{allowed[0]}" if allowed else "an admin"))


def test_a_partners_name_in_a_refusal_is_typed_text_escaped_for_slack(sessions, playbook, make_partner):
    partner_id = make_partner("Zeta & <!channel>", manager_id=MIA)
    with sessions() as session:
        partner = session.get(Partner, partner_id)
        said = _refusal(lambda: permissions.require_partner_editor(session, NOAH, playbook=playbook, partner=partner))
    assert Typed("Zeta & <!channel>") in said.parts
    assert "change Zeta &amp; &lt;!channel&gt; — a partner's tier" in said and "<!channel>" not in said
    assert f"its partner manager (<@{MIA}>)" in said
    assert "change Zeta & <!channel> — " in errors.plain(said.parts)


def test_words_show_moments_days_and_bold_names_the_slack_way():
    at = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)
    said = Words("Done by ", Person(OMAR), " ", Moment(at, NY), ", due ", Day(dt.date(2026, 11, 20)), ": ",
                 Typed("<b>", bold=True), "")
    assert said == (f"Done by <@{OMAR}> <!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|Mon 16 Nov "
                    "10:00 EST>, due Fri 20 Nov 2026: *&lt;b&gt;*")
    assert said == words.mrkdwn(said.parts)
    assert errors.plain(said.parts) == f"Done by @{OMAR} 2026-11-16T10:00-05:00, due 2026-11-20: <b>"
    assert Words(said, ".").parts == (*said.parts, ".")  # words inside words are taken apart
