"""The real `web:` line of the Procfile, run as a process: gunicorn serving the app."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from slackkit.simulator import SlackSimulator
from slackkit.webapi import SlackStandin
from tests.conftest import RIYA, SIGNING_SECRET, TOKEN, scratch_database

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


def post_streaming(host: str, port: int, body: bytes, headers: dict[str, str]) -> int:
    """POST a large body to /slack/events in pieces, as a client does, and return the status the
    server answered, also when it answered early and closed before the body was all sent."""
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Length": str(len(body))}.items())
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(f"POST /slack/events HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode())
        try:
            for start in range(0, len(body), 64 << 10):
                sock.sendall(body[start:start + (64 << 10)])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server has answered and closed: read what it said
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
    status_line = answer.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith("HTTP/1."), answer[:200]
    return int(status_line.split()[1])


class WebProcess:
    def __init__(self, env: dict):
        self.port = int(env["PORT"])
        # Files, not pipes: a pipe nobody reads fills up and stalls the server.
        self._out, self._err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["bash", "-c", _web_command()], cwd=ROOT, env=env, stdout=self._out,
                                     stderr=self._err, start_new_session=True)

    @property
    def master(self) -> int:
        return self.proc.pid  # bash -c execs the Procfile's single command: this is gunicorn's master

    def workers(self) -> list[int]:
        try:
            return [int(pid) for pid in Path(f"/proc/{self.master}/task/{self.master}/children").read_text().split()]
        except FileNotFoundError:
            return []

    def wait_for_workers(self, count: int = 1, *, other_than: tuple[int, ...] = (), timeout: float = 30.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"web process exited with {self.proc.returncode}:\n{self.stderr()[-3000:]}")
            pids = [pid for pid in self.workers() if pid not in other_than]
            if len(pids) >= count:
                return pids
            time.sleep(0.05)
        raise AssertionError("no worker came up in time")

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", "/slack/events", body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def post_streaming(self, body: bytes, headers: dict[str, str]) -> int:
        return post_streaming("127.0.0.1", self.port, body, headers)

    def simulator(self, standin: SlackStandin) -> SlackSimulator:
        return SlackSimulator(f"http://127.0.0.1:{self.port}/slack/events", SIGNING_SECRET,
                              response_url=standin.response_url("cmd"))

    def stderr(self) -> str:
        """What the process has written to stderr so far (gunicorn's and the app's logs)."""
        if self._err.closed:
            return self.stderr_at_stop
        self._err.seek(0)
        return self._err.read().decode("utf-8", "replace")

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
                raise AssertionError(f"web process exited with {self.proc.returncode}:\n{self.stderr()[-3000:]}")
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
        self.stderr_at_stop = self.stderr()
        for stream in (self._out, self._err):
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
    stderr = web.stderr()
    assert web.proc.returncode != 0
    assert "SLACK_BOT_TOKEN" in stderr, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]  # what to set, not a stack


def _slack_env(standin: SlackStandin, database_url: str) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": standin.url,
            "DATABASE_URL": database_url}


def _signed(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def _opens_the_handoff_form(web: WebProcess, standin: SlackStandin) -> None:
    simulator = web.simulator(standin)
    try:
        answer = simulator.command("/handoff", "Acme Corp", user_id=RIYA)
        assert answer.status == 200, answer
        view = standin.wait_for("views.open", timeout=10)[-1].args["view"]
        assert view["callback_id"] == "handoff_submit"
    finally:
        simulator.close()


# --- 1. a Slack outage neither stops a start nor takes the process down when a worker restarts ----------

def test_a_fresh_start_while_slack_answers_500_serves(start_web, standin, database_url):
    standin.fail_rate(1.0, method="auth.test", statuses=(500,))
    web = start_web(**_slack_env(standin, database_url))
    web.wait_until_serving()
    assert web.get("/healthz")[0] == 200
    _opens_the_handoff_form(web, standin)


def test_a_worker_restarting_while_slack_answers_500_boots_and_serves(start_web, standin, database_url):
    web = start_web(**_slack_env(standin, database_url))
    web.wait_until_serving()
    _opens_the_handoff_form(web, standin)
    standin.fail_rate(1.0, method="auth.test", statuses=(500,))  # Slack's API goes down

    [worker] = web.wait_for_workers(1)
    os.kill(worker, signal.SIGKILL)  # a worker dies (out of memory, a timeout, a deploy's restart)
    web.wait_for_workers(1, other_than=(worker,))
    time.sleep(2)  # long enough for a replacement that fails to boot to take the master down with it
    assert web.proc.poll() is None, web.stderr()[-3000:]
    web.wait_until_serving()
    assert web.get("/healthz")[0] == 200
    _opens_the_handoff_form(web, standin)


# --- 5. unsigned junk: 401, and not a line of traceback -------------------------------------------------

JUNK = [b"payload=\xff\xfe\xfd", bytes(range(256)), b"payload=not-json", b"payload=%7B%22type%22%3A%22block",
        b"payload=%5B1%2C2%5D", b"[1, 2, 3]", b'{"type": "event_callback", "event": {', b"payload=%ZZ%", b""]


def test_unsigned_junk_is_401_and_leaves_no_traceback(start_web, standin, database_url):
    web = start_web(**_slack_env(standin, database_url))
    web.wait_until_serving()
    for body in JUNK:
        for content_type in ("application/x-www-form-urlencoded", "application/json"):
            status, _ = web.post(body, {"Content-Type": content_type, "X-Slack-Signature": "v0=" + "ab" * 32,
                                        "X-Slack-Request-Timestamp": str(int(time.time()))})
            assert status == 401, (body, status)
        status, _ = web.post(body, {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"})
        assert status == 401, (body, status)
    assert web.get("/healthz")[0] == 200
    web.stop()
    assert "Traceback" not in web.stderr(), web.stderr()[-3000:]
    assert standin.calls == []


# --- 6. a body over 1 MiB is refused before it is read -----------------------------------------------

def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_a_signed_10_mib_body_is_413_and_the_worker_does_not_grow(start_web, standin, database_url):
    web = start_web(**_slack_env(standin, database_url))
    web.wait_until_serving()
    _opens_the_handoff_form(web, standin)  # the worker has served once: its memory is settled
    [worker] = web.wait_for_workers(1)
    before = _rss_kib(worker)
    body = urlencode({"command": "/handoff", "user_id": RIYA, "trigger_id": "1.t", "text": "x" * (10 << 20)}).encode()
    started = time.monotonic()
    status = web.post_streaming(body, _signed(body))
    seconds = time.monotonic() - started
    after = _rss_kib(worker)
    print(f"10 MiB signed body: {status} in {seconds:.2f}s; worker RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB")
    assert status == 413
    assert after - before < 5 * 1024, (before, after)  # the body was never held (it is 10 MiB)
    assert web.get("/healthz")[0] == 200
    assert web.workers() == [worker]


# --- 10. an unmigrated database stops the start, in one line ---------------------------------------------

@pytest.fixture
def empty_database(database_url, tmp_path):
    """A database of this run's kind with nothing in it (never migrated)."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with scratch_database(database_url, "empty") as url:
        yield url


def test_an_unmigrated_database_stops_the_start_in_one_line(start_web, standin, empty_database):
    web = start_web(**_slack_env(standin, empty_database))
    try:
        web.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the web process serves an unmigrated database: {web.get('/healthz')}") from None
    stderr = web.stderr()
    assert web.proc.returncode != 0
    assert "Traceback" not in stderr, stderr[-3000:]
    [line] = [line for line in stderr.splitlines() if line.startswith("partnerbot:")]
    assert "partnerbot db upgrade" in line, stderr[-3000:]
