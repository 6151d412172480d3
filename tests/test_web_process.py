"""The real `web:` line of the Procfile, run as a process: gunicorn serving the app."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bot.simulate import SlackSimulator
from bot.slack_standin import SlackStandin
from tests.conftest import RIYA, SIGNING_SECRET, TOKEN

ROOT = Path(__file__).resolve().parents[1]
DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/x"  # nothing listens on port 1


def _web_command() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("the Procfile has no web: line")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "DATABASE_URL",
                        "PORT", "WEB_CONCURRENCY", "PLAYBOOK_PATH")}
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


class WebProcess:
    def __init__(self, env: dict):
        self.port = int(env["PORT"])
        self.proc = subprocess.Popen(["bash", "-c", _web_command()], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"web process exited with {self.proc.returncode}:\n{err.decode()[-3000:]}")
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("web process did not start listening in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the group of the process this test started
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def standin():
    with SlackStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture
def start_web():
    started: list[WebProcess] = []

    def start(**env) -> WebProcess:
        process = WebProcess(_env(PORT=str(_free_port()), WEB_CONCURRENCY="1", **env))
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


def test_procfile_web_process_serves_slack_and_health(start_web, standin, database_url):
    web = start_web(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=standin.url,
                    DATABASE_URL=database_url)
    web.wait_until_serving()

    status, body = web.get("/healthz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"

    simulator = SlackSimulator(f"http://127.0.0.1:{web.port}/slack/events", SIGNING_SECRET,
                               response_url=standin.response_url("cmd"))
    try:
        answer = simulator.command("/handoff", "Acme Corp", user_id=RIYA)
        assert answer.status == 200, answer.body
        view = standin.wait_for("views.open", timeout=10)[0].args["view"]
        assert view["callback_id"] == "handoff_submit"

        forged = simulator.post("command=%2Fhandoff&text=x&user_id=U0X", signature="v0=" + "0" * 64)
        assert forged.status == 401
        assert len(standin.calls_for("views.open")) == 1  # the forged request opened nothing
    finally:
        simulator.close()

    assert web.get("/slack/events")[0] == 405
    assert web.get("/no/such/path")[0] == 404
    assert web.get("/")[0] == 404


def test_health_is_503_when_the_database_does_not_answer(start_web, standin):
    web = start_web(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=standin.url,
                    DATABASE_URL=DEAD_DATABASE)
    web.wait_until_serving()
    status, body = web.get("/healthz")
    assert status == 503, body
    assert json.loads(body)["status"] != "ok"


def test_start_without_a_bot_token_exits_non_zero_naming_it(start_web, standin, database_url):
    web = start_web(SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=standin.url, DATABASE_URL=database_url)
    try:
        web.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("the web process kept running without SLACK_BOT_TOKEN") from None
    stderr = web.proc.stderr.read().decode()
    assert web.proc.returncode != 0
    assert "SLACK_BOT_TOKEN" in stderr, stderr[-3000:]
