"""`partnerbot demo` plays the whole handoff through the real app and prints what people see."""

import datetime as dt

import time_machine

from bot.cli import main

# A Friday, 13:00 in Chicago: Omar's 8 business hours to accept run over the weekend into Monday.
FRIDAY_AFTERNOON = dt.datetime(2027, 1, 15, 19, 0, tzinfo=dt.UTC)


def test_demo_plays_a_whole_handoff(capsys):
    with time_machine.travel(FRIDAY_AFTERNOON, tick=True):
        assert main(["demo"]) == 0
    out = capsys.readouterr().out
    # the refused first try, inline
    assert "contact_email: That doesn't look like an email address" in out
    # the owner's card with its deadlines in the owner's own zone (Omar is in Chicago)
    assert "Accept by Mon" in out and "CST" in out
    # the stranger is refused, the double click says what happened
    assert "Only @Omar or @Bea can accept L-1001" in out
    assert "L-1001 was already accepted by @Omar" in out
    # the card edits, the conflict notice to both managers, and a clean outbox
    assert "First outreach logged by @Omar" in out and "on time" in out
    assert out.count("Possible channel conflict on acme.com") == 2
    assert "2 leads;" in out and "0 waiting" in out
