"""`partnerbot`, the operators' command line: run in-process through bot.cli.main (and once as a
real process), against a fresh SQLite file per test, with the environment set per test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, inspect, select

from bot.cli import main
from bot.manifest import manifest_yaml
from bot.settings import Settings, SettingsError
from store.db import make_engine
from bot.compose import session_factory
from store.models import OutboxMessage, Partner
from store import clock

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOD_CSV = FIXTURES / "partners_good.csv"
BAD_CSV = FIXTURES / "partners_bad.csv"
BAD_CSV_LINES = [3, 4, 5]  # see tests/fixtures/README.md
EXAMPLE_PLAYBOOK = REPO / "playbook.example.yml"
SETTINGS_VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "DATABASE_URL",
                      "PLAYBOOK_PATH", "PORT", "PUBLIC_URL", "WEB_CONCURRENCY", "LOG_LEVEL")


@pytest.fixture
def database_file(tmp_path, monkeypatch) -> Path:
    """A clean environment whose DATABASE_URL is a SQLite file that does not exist yet; cwd is tmp_path."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)  # a stray default (sqlite:///partnerbot.db) would land here, not in the repo
    return path


@pytest.fixture(autouse=True)
def exec_calls(monkeypatch) -> list[list[str]]:
    """`serve` ends by exec'ing gunicorn; record the call instead of replacing the test process."""
    calls: list[list[str]] = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: calls.append(list(argv)))
    return calls


@pytest.fixture
def run(capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def migrated(database_file, run) -> str:
    code, _out, err = run("db", "upgrade")
    assert code == 0, err
    return os.environ["DATABASE_URL"]


def head_revision_from_files() -> str:
    """The newest migration, read from the migration files themselves."""
    revisions, parents = set(), set()
    for path in (REPO / "store" / "migrations" / "versions").glob("*.py"):
        source = path.read_text()
        revisions.add(re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", source, re.M)[1])
        parent = re.search(r"^down_revision\s*=\s*['\"]([^'\"]+)['\"]", source, re.M)
        if parent:
            parents.add(parent[1])
    heads = revisions - parents
    assert len(heads) == 1, heads
    return heads.pop()


def count_partners(url: str) -> int:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return session.scalar(select(func.count(Partner.id)))
    finally:
        engine.dispose()


def partner_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return set(session.scalars(select(Partner.name)))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def data_rows(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8-sig").splitlines()[1:] if line.strip()]


# --------------------------------------------------------------------------- playbook check


def test_playbook_check_passes_the_example_and_summarises_it(run):
    example = yaml.safe_load(EXAMPLE_PLAYBOOK.read_text())
    code, out, err = run("playbook", "check", str(EXAMPLE_PLAYBOOK))
    assert code == 0, err
    assert str(EXAMPLE_PLAYBOOK) in out and "OK" in out
    assert f"{len(example['tiers'])} tiers" in out
    assert f"{len(example['escalation']['levels'])} escalation level(s)" in out
    assert example["timezone"] in out


def test_playbook_check_on_a_bad_file_exits_2_naming_file_and_lines(run, tmp_path):
    lines = [
        "timezone: America/New_York",
        "tiers: [silver, gold]",
        "buisness_hours:",                           # misspelt key
        '  start: "09:00"',
        "sla:",
        "  default: {accept_within_hours: -2}",      # must be greater than 0
    ]
    bad = tmp_path / "playbook.yml"
    bad.write_text("\n".join(lines) + "\n")
    code, out, err = run("playbook", "check", str(bad))
    assert code == 2
    assert out == ""
    for marker in ("buisness_hours", "accept_within_hours"):
        line = next(i for i, text in enumerate(lines, start=1) if marker in text)
        assert any(str(bad) in row and f"line {line}" in row and marker in row for row in err.splitlines()), err
    assert "Traceback" not in err


def test_playbook_check_on_a_missing_file_exits_2(run, tmp_path):
    missing = tmp_path / "nope.yml"
    code, _out, err = run("playbook", "check", str(missing))
    assert code == 2
    assert str(missing) in err


# --------------------------------------------------------------------------- db


def test_db_current_before_and_after_upgrade(database_file, run):
    head = head_revision_from_files()
    code, out, err = run("db", "current")
    assert code == 0, err
    assert "current none" in out and f"head {head}" in out
    assert "partnerbot db upgrade" in out

    code, out, err = run("db", "upgrade")
    assert code == 0, err
    assert head in out

    code, out, err = run("db", "current")
    assert code == 0, err
    assert out.strip() == f"current {head}, head {head}"
    assert "partners" in table_names(os.environ["DATABASE_URL"])


def test_db_downgrade_base_then_upgrade_again(migrated, run):
    head = head_revision_from_files()
    code, out, err = run("db", "downgrade", "base")
    assert code == 0, err
    assert "base" in out
    assert not {"partners", "leads", "outbox", "audit_events"} & table_names(migrated)
    _code, out, _err = run("db", "current")
    assert "current none" in out

    code, out, err = run("db", "upgrade")
    assert code == 0, err
    assert {"partners", "leads", "outbox", "audit_events"} <= table_names(migrated)
    _code, out, _err = run("db", "current")
    assert out.strip() == f"current {head}, head {head}"


def test_db_downgrade_without_a_revision_is_a_usage_error(migrated, run):
    code, _out, err = run("db", "downgrade")
    assert code == 2
    assert "downgrade base" in err
    assert "partners" in table_names(migrated)  # nothing was dropped


# --------------------------------------------------------------------------- import partners


def test_import_partners_good_file_prints_counts(migrated, run):
    rows = data_rows(GOOD_CSV)
    code, out, err = run("import", "partners", str(GOOD_CSV))
    assert code == 0, err
    assert f"{len(rows)} added, 0 updated, 0 unchanged" in out
    assert partner_names(migrated) == {row.split(",")[0] for row in rows}

    code, out, err = run("import", "partners", str(GOOD_CSV))  # again: same file, nothing changes
    assert code == 0, err
    assert f"0 added, 0 updated, {len(rows)} unchanged" in out
    assert count_partners(migrated) == len(rows)


def test_import_partners_bad_file_lists_every_bad_line_and_applies_nothing(migrated, run):
    lines = BAD_CSV.read_text().splitlines()
    assert "diamond" in lines[BAD_CSV_LINES[0] - 1] and lines[BAD_CSV_LINES[1] - 1].endswith(",mia")
    assert len(lines[BAD_CSV_LINES[2] - 1].split(",")) != len(lines[0].split(","))

    code, out, err = run("import", "partners", str(BAD_CSV))
    assert code == 1
    assert "added" not in out
    reported = sorted({int(n) for n in re.findall(rf"{re.escape(str(BAD_CSV))}:(\d+):", err)})
    assert reported == BAD_CSV_LINES
    assert "nothing was imported" in err
    assert count_partners(migrated) == 0  # not even the good rows on lines 2 and 6


def test_import_partners_bad_file_leaves_existing_partners_alone(migrated, run):
    run("import", "partners", str(GOOD_CSV))
    before = partner_names(migrated)
    code, _out, _err = run("import", "partners", str(BAD_CSV))
    assert code == 1
    assert partner_names(migrated) == before


def test_import_partners_missing_file_exits_2(migrated, run, tmp_path):
    missing = tmp_path / "nope.csv"
    code, _out, err = run("import", "partners", str(missing))
    assert code == 2
    assert str(missing) in err


def test_import_partners_before_migrating_says_to_upgrade(database_file, run):
    code, _out, err = run("import", "partners", str(GOOD_CSV))
    assert code == 2
    assert "partnerbot db upgrade" in err


def test_import_partners_with_a_broken_playbook_names_the_playbook(migrated, run, tmp_path, monkeypatch):
    playbook = tmp_path / "playbook.yml"
    playbook.write_text("tiers: [silver, gold]\nsla:\n  tiers:\n    diamond: {accept_within_hours: 2}\n")
    monkeypatch.setenv("PLAYBOOK_PATH", str(playbook))
    code, _out, err = run("import", "partners", str(GOOD_CSV))
    assert code == 2
    assert str(playbook) in err and "diamond" in err
    assert count_partners(migrated) == 0


# --------------------------------------------------------------------------- outbox


def test_outbox_empty(migrated, run):
    code, out, err = run("outbox")
    assert code == 0, err
    assert "empty" in out


def test_outbox_is_listed_even_when_the_playbook_file_is_broken(migrated, run, tmp_path, monkeypatch):
    broken = tmp_path / "playbook.yml"
    broken.write_text("timezone: Mars/Olympus_Mons\n")
    monkeypatch.setenv("PLAYBOOK_PATH", str(broken))
    code, _out, err = run("export", "leads")
    assert code == 2 and "playbook.yml" in err  # a command that uses the rules says what is wrong with them
    code, out, err = run("outbox")
    assert code == 0, err
    assert "empty" in out


def test_outbox_lists_pending_and_failed_rows_only(migrated, run):
    engine = make_engine(migrated)
    try:
        with session_factory(engine)() as session, session.begin():
            rows = {
                "pending": OutboxMessage(method="chat.postMessage", channel="C0PENDING1", payload={"text": "hi"},
                                         kind="partner_added", next_attempt_at=clock.now()),
                "failed": OutboxMessage(method="chat.update", channel="D0FAILED01", payload={"text": "x"},
                                        kind="lead_card", status="failed", attempts=3,
                                        last_error="200 channel_not_found", next_attempt_at=clock.now()),
                "sent": OutboxMessage(method="chat.postMessage", channel="C0SENT0001", payload={"text": "ok"},
                                      kind="lead_notice", status="sent", attempts=1, next_attempt_at=clock.now()),
            }
            session.add_all(rows.values())
            session.flush()
            ids = {status: row.id for status, row in rows.items()}
    finally:
        engine.dispose()

    code, out, err = run("outbox")
    assert code == 0, err
    assert "2 message(s) waiting" in out
    pending = next(line for line in out.splitlines() if f"#{ids['pending']} " in line)
    assert "pending" in pending and "chat.postMessage" in pending and "C0PENDING1" in pending
    assert "partner_added" in pending and "attempts=0" in pending
    failed = next(line for line in out.splitlines() if f"#{ids['failed']} " in line)
    assert "failed" in failed and "D0FAILED01" in failed and "channel_not_found" in failed and "attempts=3" in failed
    assert "C0SENT0001" not in out and f"#{ids['sent']} " not in out


# --------------------------------------------------------------------------- manifest


def test_manifest_for_a_url(run):
    url = "https://x.example.com"
    code, out, err = run("manifest", "--url", url)
    assert code == 0, err
    manifest = yaml.safe_load(out)
    events = f"{url}/slack/events"
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {"/handoff", "/partner", "/action", "/escalate"}
    assert all(c["url"] == events for c in commands.values())
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"] == events
    assert interactivity["message_menu_options_url"] == events
    assert manifest["settings"]["event_subscriptions"]["request_url"] == events
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert {"commands", "chat:write"} <= set(scopes)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_manifest_url_with_a_trailing_slash(run):
    _code, out, _err = run("manifest", "--url", "https://x.example.com/")
    assert "https://x.example.com/slack/events" in out and "//slack/events" not in out


def test_manifest_for_socket_mode_has_no_urls(run):
    code, out, err = run("manifest", "--socket", "--url", "https://x.example.com")
    assert code == 0, err
    manifest = yaml.safe_load(out)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert all("url" not in c for c in manifest["features"]["slash_commands"])
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert "request_url" not in manifest["settings"]["event_subscriptions"]
    body = "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    assert "http" not in body


def test_repo_manifest_file_is_what_the_code_generates(run, database_file):
    on_disk = (REPO / "manifest.yml").read_text()
    assert on_disk == manifest_yaml()
    code, out, _err = run("manifest")  # PUBLIC_URL unset: the default URL, as in the file
    assert code == 0
    assert out == on_disk


def test_manifest_uses_public_url(run, database_file, monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://bot.acme.example/")
    _code, out, _err = run("manifest")
    commands = yaml.safe_load(out)["features"]["slash_commands"]
    assert {c["url"] for c in commands} == {"https://bot.acme.example/slack/events"}


# --------------------------------------------------------------------------- serve and settings


def test_serve_without_a_bot_token_exits_2_naming_it(run, database_file, monkeypatch, exec_calls):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "a-secret")
    code, _out, err = run("serve")
    assert code == 2
    assert "SLACK_BOT_TOKEN" in err
    assert "SLACK_SIGNING_SECRET" not in err  # it is set
    assert exec_calls == []


def test_serve_on_a_database_not_migrated_says_to_run_upgrade(run, database_file, monkeypatch, exec_calls):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-3")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "a-secret")
    code, _out, err = run("serve")
    assert code == 2
    assert "partnerbot db upgrade" in err
    assert exec_calls == []


def test_serve_when_ready_starts_gunicorn_on_port(run, migrated, monkeypatch, exec_calls):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-3")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "a-secret")
    monkeypatch.setenv("PORT", "8123")
    code, _out, err = run("serve")
    assert code == 0, err
    assert len(exec_calls) == 1
    argv = exec_calls[0]
    assert argv[0] == "gunicorn"
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:8123"


def test_postgres_scheme_is_normalised():
    settings = Settings.from_env({"DATABASE_URL": "postgres://bob:pw@db.example.com:5432/partners"})
    assert settings.database_url == "postgresql+psycopg://bob:pw@db.example.com:5432/partners"
    settings = Settings.from_env({"DATABASE_URL": "postgresql://bob:pw@db.example.com/partners"})
    assert settings.database_url == "postgresql+psycopg://bob:pw@db.example.com/partners"


def test_postgres_scheme_is_normalised_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h:5432/d")
    assert Settings.from_env().database_url == "postgresql+psycopg://u@h:5432/d"


def test_a_malformed_database_url_is_a_clear_error(run, database_file, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "not a database url")
    code, _out, err = run("db", "current")
    assert code == 2
    assert "DATABASE_URL" in err and "Traceback" not in err


@pytest.mark.parametrize("port", ["web", "3000abc", "80.5"])
def test_a_port_that_is_not_a_number_is_a_clear_error(port, run, database_file, monkeypatch, exec_calls):
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({"PORT": port})
    monkeypatch.setenv("PORT", port)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-3")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "a-secret")
    code, _out, err = run("serve")
    assert code == 2
    assert "PORT" in err and repr(port) in err and "Traceback" not in err
    assert exec_calls == []


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_a_clear_error(port):
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({"PORT": port})


@pytest.mark.parametrize("url", ["http://slack.com/api/", "http://10.0.0.7:8080/api/", "http://127.example.com/",
                                 "ftp://slack.com/api/", "slack.com/api/", "https:///api/", "https://[::1/api/"])
def test_a_slack_api_url_the_token_would_travel_in_clear_to_is_refused(url, run, database_file, monkeypatch,
                                                                      exec_calls):
    with pytest.raises(SettingsError, match="SLACK_API_URL"):
        Settings.from_env({"SLACK_API_URL": url})
    monkeypatch.setenv("SLACK_API_URL", url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-3")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "a-secret")
    code, _out, err = run("serve")
    assert code == 2
    assert "SLACK_API_URL" in err and "https://" in err and "Traceback" not in err
    assert exec_calls == []


@pytest.mark.parametrize("url", ["https://slack.com/api", "https://slack.example.com:8443/api/",
                                 "http://127.0.0.1:9999/api/", "http://localhost:3001/api/", "http://[::1]:3001/api/",
                                 "http://127.0.0.2/api/"])
def test_https_and_a_stand_in_on_this_machine_are_fine(url):
    assert Settings.from_env({"SLACK_API_URL": url}).slack_api_url == url.rstrip("/") + "/"


# --------------------------------------------------------------------------- as a real process


def _process_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env["DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_as_a_process_checks_playbooks_with_exit_codes(tmp_path):
    env = _process_env(f"sqlite:///{tmp_path / 'process.db'}")
    good = _cli("playbook", "check", "playbook.example.yml", env=env)
    assert good.returncode == 0, good.stderr
    assert "playbook.example.yml: OK" in good.stdout

    bad = tmp_path / "bad.yml"
    bad.write_text("timezone: Mars/Olympus_Mons\n")
    result = _cli("playbook", "check", str(bad), env=env)
    assert result.returncode == 2
    assert f"{bad} line 1" in result.stderr and "Traceback" not in result.stderr


def test_cli_as_a_process_migrates_and_rejects_a_bad_import(tmp_path):
    url = f"sqlite:///{tmp_path / 'process.db'}"
    env = _process_env(url)
    upgraded = _cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    result = _cli("import", "partners", str(BAD_CSV), env=env)
    assert result.returncode == 1
    assert sorted({int(n) for n in re.findall(rf"{re.escape(str(BAD_CSV))}:(\d+):", result.stderr)}) == BAD_CSV_LINES
    assert count_partners(url) == 0
    good = _cli("import", "partners", str(GOOD_CSV), env=env)
    assert good.returncode == 0, good.stderr
    assert f"{len(data_rows(GOOD_CSV))} added" in good.stdout


def test_settings_never_show_their_secrets():
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1-2-tokenvalue", "SLACK_SIGNING_SECRET": "signingvalue",
                                  "SLACK_APP_TOKEN": "xapp-appvalue",
                                  "DATABASE_URL": "postgresql://partnerbot:dbpasswordvalue@db.example.com/partners"})
    assert settings.bot_token == "xoxb-1-2-tokenvalue" and settings.signing_secret == "signingvalue"
    for shown in (repr(settings), str(settings), f"{settings!r}"):
        assert "tokenvalue" not in shown and "signingvalue" not in shown and "appvalue" not in shown
        assert "dbpasswordvalue" not in shown
    assert "tokenvalue" not in settings.model_dump_json() and "signingvalue" not in settings.model_dump_json()


def test_settings_come_from_a_dot_env_file_and_the_environment_wins(tmp_path, monkeypatch):
    for name in ("SLACK_BOT_TOKEN", "PORT", "PLAYBOOK_PATH"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nPORT=4100\nPLAYBOOK_PATH=ops/playbook.yml\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORT", "4200")
    settings = Settings.from_env()
    assert settings.bot_token == "xoxb-from-dotenv"
    assert settings.playbook_path == "ops/playbook.yml"
    assert settings.port == 4200


@pytest.mark.parametrize("command", [("outbox",), ("tick",), ("export", "leads")])
def test_commands_on_an_unmigrated_database_say_what_to_run(command, database_file, run):
    code, out, err = run(*command)
    assert code == 2, out
    assert "partnerbot db upgrade" in err and "Traceback" not in err and "OperationalError" not in err


@pytest.mark.parametrize("url", ["mysql://bob:pw@db.example.com/partners", "oracle://db.example.com/x"])
def test_a_database_other_than_sqlite_or_postgres_is_a_clear_error(url, database_file, monkeypatch, run):
    with pytest.raises(SettingsError, match="SQLite or Postgres"):
        Settings.from_env({"DATABASE_URL": url})
    monkeypatch.setenv("DATABASE_URL", url)
    code, _out, err = run("outbox")
    assert code == 2 and "DATABASE_URL" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_clock_needs_the_bot_token_but_not_the_signing_secret():
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1-2-3"})
    settings.require_slack(signing_secret=False)  # what `partnerbot clock` asks: it verifies no request
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        settings.require_slack()  # what `serve` asks
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN"):
        Settings.from_env({"SLACK_SIGNING_SECRET": "s"}).require_slack(signing_secret=False)


def test_version_names_the_installed_release(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"partnerbot {version('partnerbot')}"


def test_help_names_the_environment_it_reads(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in ("SLACK_BOT_TOKEN", "DATABASE_URL", "PLAYBOOK_PATH", "LOG_LEVEL", "LOG_FORMAT"))
