"""Logging is set up once per process (bot/logs.py): a level and a format from the environment, a
timestamp and what the line is about on every line, and no secret in any of them."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from bot.cli import main
from bot.logs import LoggingError, configure
from store.log_context import about
from tests.conftest import RIYA, SIGNING_SECRET, TOKEN


@pytest.fixture
def lines():
    """Everything logged while the test runs, as the process would write it (text, DEBUG and up)."""
    stream = io.StringIO()
    handler = configure({"LOG_LEVEL": "DEBUG"}, stream=stream)
    yield lambda: stream.getvalue().splitlines()
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)


def test_a_whole_scenario_logs_no_token_and_no_signing_secret(lines, simulator, slack, make_partner):
    make_partner("Globex Partners")
    simulator.command("/handoff", "Acme", user_id=RIYA)
    simulator.command("/partner", "list", user_id=RIYA)
    # A request with a bad signature (Bolt used to log the body of one) and one with a malformed timestamp.
    assert simulator.post("command=%2Fhandoff&user_id=U0REPRIYA", signature="v0=" + "0" * 64).status == 401
    assert simulator.post("command=%2Fhandoff", timestamp="abc").status == 401
    logged = lines()
    assert logged, "DEBUG logging wrote nothing: the test would prove nothing"
    assert not [line for line in logged if TOKEN in line or SIGNING_SECRET in line]


def test_request_lines_say_whose_request_and_which_command(lines, simulator, slack):
    simulator.command("/partner", "help", user_id=RIYA)
    about_it = [line for line in lines() if f"user={RIYA}" in line and "command=/partner" in line]
    assert about_it, lines()[-20:]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ", line) for line in about_it)  # a timestamp


def test_json_lines_carry_time_level_and_what_they_are_about():
    stream = io.StringIO()
    handler = configure({"LOG_FORMAT": "json"}, stream=stream)
    try:
        with about(job="lead_accept_deadlines", ref="L-1042"):
            logging.getLogger("partnerbot.clock").info("passed %d leads to their backup", 2)
        logging.getLogger("apscheduler.executors.default").info("Running job ... (chatter)")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    [line] = stream.getvalue().splitlines()  # APScheduler's per-run line is below INFO's bar
    record = json.loads(line)
    assert record["message"] == "passed 2 leads to their backup"
    assert (record["level"], record["logger"]) == ("INFO", "partnerbot.clock")
    assert (record["job"], record["ref"]) == ("lead_accept_deadlines", "L-1042")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", record["time"])


@pytest.mark.parametrize("env, named", [({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"), ({"LOG_FORMAT": "xml"}, "LOG_FORMAT")])
def test_a_bad_log_setting_is_a_one_line_error(env, named, monkeypatch, capsys):
    with pytest.raises(LoggingError, match=named):
        configure(env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["outbox"]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
