"""`partnerbot`: the operators' command line."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from bot.settings import Settings, SettingsError


def _settings() -> Settings:
    return Settings.from_env()


def _playbook(settings: Settings):
    from bot.app import load_configured_playbook

    return load_configured_playbook(settings)


def _check_database(settings: Settings) -> None:
    from store.migrate import current_revision, head_revision

    current, head = current_revision(settings.database_url), head_revision(settings.database_url)
    if current != head:
        raise SettingsError(f"The database is at migration {current or 'none'}, the code needs {head}. "
                            "Run `partnerbot db upgrade` first.")


def cmd_serve(args) -> int:
    settings = _settings()
    settings.require_slack()
    _playbook(settings)
    _check_database(settings)
    port = args.port or settings.port
    if not 1 <= port <= 65535:
        raise SettingsError(f"--port must be between 1 and 65535 (got {port}).")
    argv = ["gunicorn", "bot.web:application()", "--bind", f"{args.host}:{port}", "--worker-class", "gthread",
            "--workers", str(args.workers), "--threads", "8", "--timeout", "30", "--access-logfile", "-"]
    os.execvp(argv[0], argv)
    return 0


def cmd_socket(args) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app

    settings = _settings()
    settings.require_slack(socket_mode=True)
    _playbook(settings)
    _check_database(settings)
    SocketModeHandler(create_app(settings), settings.slack_app_token).start()
    return 0


def cmd_clock(args) -> int:
    from scheduling.clock import run_clock

    settings = _settings()
    settings.require_slack()
    _playbook(settings)
    _check_database(settings)
    run_clock(settings)
    return 0


def cmd_tick(args) -> int:
    from scheduling.clock import tick

    settings = _settings()
    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else None
    if now is not None and now.tzinfo is None:
        raise SettingsError("--now needs a time zone, like 2026-12-01T14:00:00Z.")
    report = tick(settings, now=now)
    print(report.summary())
    return 1 if report.failed_jobs else 0


def cmd_digest(args) -> int:
    from scheduling.jobs.digest import on_demand

    settings = _settings()
    playbook = _playbook(settings)
    _check_database(settings)
    try:
        lines = on_demand(settings, playbook, month=args.month, channels=args.channel, dry_run=args.dry_run,
                          chart_path=args.chart)
    except ValueError as error:
        raise SettingsError(str(error)) from None
    print("\n".join(lines))
    return 0


def cmd_db(args) -> int:
    from store import migrate

    settings = _settings()
    if args.action == "upgrade":
        migrate.upgrade(settings.database_url, args.revision or "head")
        print(f"database at {migrate.current_revision(settings.database_url)}")
    elif args.action == "downgrade":
        if not args.revision:
            raise SettingsError("Say which revision to go down to, e.g. `partnerbot db downgrade base`.")
        migrate.downgrade(settings.database_url, args.revision)
        print(f"database at {migrate.current_revision(settings.database_url) or 'base'}")
    else:
        current, head = migrate.current_revision(settings.database_url), migrate.head_revision(settings.database_url)
        print(f"current {current or 'none'}, head {head}" + ("" if current == head else " — run `partnerbot db upgrade`"))
    return 0


def cmd_import(args) -> int:
    from store.db import make_engine, make_session_factory, transaction
    from store.errors import ImportFailed
    from store.partners import import_partners_csv

    settings = _settings()
    playbook = _playbook(settings)
    _check_database(settings)
    path = Path(args.file)
    if not path.exists():
        raise SettingsError(f"{path}: no such file.")
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            report = import_partners_csv(session, path.read_text(encoding="utf-8-sig"), playbook=playbook)
    except ImportFailed as failure:
        print(f"{path}: nothing was imported; fix these rows and run it again:", file=sys.stderr)
        for line, message in failure.problems:
            print(f"  {path}:{line}: {message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{path}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged")
    return 0


def cmd_outbox(args) -> int:
    from store import outbox
    from store.db import make_engine, make_session_factory

    settings = _settings()
    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        rows = outbox.waiting(session)
    engine.dispose()
    if not rows:
        print("The outbox is empty: every message has been sent.")
        return 0
    print(f"{len(rows)} message(s) waiting:")
    for row in rows:
        print(f"  #{row.id} {row.status:<7} {row.method} to {row.channel} ({row.kind}) attempts={row.attempts} "
              f"next={row.next_attempt_at:%Y-%m-%d %H:%M:%SZ} last error: {row.last_error or '-'}")
    return 0


def cmd_playbook(args) -> int:
    from store.playbook import load_playbook

    playbook = load_playbook(args.file)
    print(f"{args.file}: OK — {len(playbook.tiers)} tiers, {len(playbook.escalation.levels)} escalation level(s), "
          f"time zone {playbook.timezone}")
    return 0


def cmd_manifest(args) -> int:
    from bot.manifest import manifest_yaml

    print(manifest_yaml(args.url or _settings().public_url, socket_mode=args.socket), end="")
    return 0


def cmd_demo(args) -> int:
    from bot.demo import run_demo

    return run_demo(database=args.database, keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="partnerbot", description="Runs a partner co-selling playbook in Slack.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("demo", help="play a whole handoff against a local stand-in of Slack and print what people see")
    p.add_argument("--database", help="database URL (default: a fresh SQLite file in a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the demo's database and print where it is")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("serve", help="serve Slack's HTTP requests with gunicorn (production)")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    p.set_defaults(func=cmd_serve)
    sub.add_parser("socket", help="connect over Socket Mode (development without a public URL)").set_defaults(func=cmd_socket)
    sub.add_parser("clock", help="run the scheduler process (delivers what waits in the outbox)").set_defaults(func=cmd_clock)
    p = sub.add_parser("tick", help="run one pass of the due work and exit")
    p.add_argument("--now", help="the instant to run at, ISO 8601 with zone (default: now)")
    p.set_defaults(func=cmd_tick)
    p = sub.add_parser("digest", help="render (--dry-run) or post one month's partner digest")
    p.add_argument("--month", required=True, help="the month, e.g. 2026-10")
    p.add_argument("--channel", action="append", help="channel id to post to (repeatable; default: the playbook's)")
    p.add_argument("--dry-run", action="store_true", help="print the digest and write its chart to a file; post nothing")
    p.add_argument("--chart", help="where --dry-run writes the chart (default: ./partner-digest-MONTH.png)")
    p.set_defaults(func=cmd_digest)
    p = sub.add_parser("db", help="database migrations")
    p.add_argument("action", choices=["upgrade", "downgrade", "current"])
    p.add_argument("revision", nargs="?")
    p.set_defaults(func=cmd_db)
    p = sub.add_parser("import", help="import partners from CSV")
    p.add_argument("what", choices=["partners"])
    p.add_argument("file")
    p.set_defaults(func=cmd_import)
    sub.add_parser("outbox", help="list Slack messages waiting to be sent").set_defaults(func=cmd_outbox)
    p = sub.add_parser("playbook", help="check a playbook file")
    p.add_argument("action", choices=["check"])
    p.add_argument("file")
    p.set_defaults(func=cmd_playbook)
    p = sub.add_parser("manifest", help="print the Slack app manifest for your URL")
    p.add_argument("--url", help="the public base URL (default: PUBLIC_URL)")
    p.add_argument("--socket", action="store_true", help="for Socket Mode (no request URLs)")
    p.set_defaults(func=cmd_manifest)
    return parser


def main(argv: list[str] | None = None) -> int:
    from store.playbook import PlaybookError

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SettingsError, PlaybookError) as error:
        print(f"partnerbot: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
