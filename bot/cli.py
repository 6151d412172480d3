"""`partnerbot`: the operators' command line."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from bot.settings import Settings, SettingsError


def _settings() -> Settings:
    return Settings.from_env()


def _playbook(settings: Settings):
    from bot.compose import load_configured_playbook

    return load_configured_playbook(settings)


def _running(settings: Settings, playbook=None):
    """The command's services, built by the composition root (closed when the command ends)."""
    from bot.compose import running

    return running(settings, playbook=playbook)


def _check_database(settings: Settings) -> None:
    """Stop, in one line, unless the database answers and is at the code's migration head."""
    from bot.startup import check_schema

    check_schema(settings.database_url)


def cmd_serve(args) -> int:
    from bot.startup import DatabaseNotAnswering

    settings = _settings()
    settings.require_slack()
    _playbook(settings)
    try:
        _check_database(settings)
    except DatabaseNotAnswering as down:  # as the web process does: it serves, /healthz says 503 meanwhile
        print(f"partnerbot: {down} Serving anyway: /healthz answers 503 until it answers.", file=sys.stderr)
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
    SocketModeHandler(create_app(settings), settings.app_token).start()
    return 0


def cmd_clock(args) -> int:
    from scheduling.clock import run_clock

    settings = _settings()
    settings.require_slack(signing_secret=False)  # the clock sends; it receives no request to verify
    playbook = _playbook(settings)
    _check_database(settings)
    with _running(settings, playbook) as services:
        run_clock(services)
    return 0


def cmd_tick(args) -> int:
    from scheduling.clock import tick

    settings = _settings()
    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else None
    if now is not None and now.tzinfo is None:
        raise SettingsError("--now needs a time zone, like 2026-12-01T14:00:00Z.")
    _check_database(settings)
    with _running(settings) as services:
        report = tick(services, now=now)
    print(report.summary())
    return 1 if report.failed_jobs else 0


def cmd_digest(args) -> int:
    from scheduling.jobs.digest import on_demand

    settings = _settings()
    playbook = _playbook(settings)
    _check_database(settings)
    try:
        with _running(settings, playbook) as services:
            lines = on_demand(services, month=args.month, channels=args.channel, dry_run=args.dry_run,
                              chart_path=args.chart)
    except ValueError as error:
        raise SettingsError(str(error)) from None
    print("\n".join(lines))
    return 0


def cmd_db(args) -> int:
    from bot.startup import require_database
    from store import migrate

    settings = _settings()
    require_database(settings.database_url)  # one line if it does not answer (a failing migration keeps its stack)
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


def _csv_text(path: Path) -> str:
    if not path.is_file():
        raise SettingsError(f"{path}: no such file.")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise SettingsError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); "
                            "save it as CSV UTF-8.") from None


def _print_problems(path: Path, problems: list[tuple[int, str]]) -> None:
    print(f"{path}: nothing was imported; fix these rows and run it again:", file=sys.stderr)
    for line, message in problems:
        print(f"  {path}:{line}: {message}", file=sys.stderr)


def cmd_import_partners(args) -> int:
    from store.errors import ImportFailed
    from store.partners import import_partners_csv

    settings = _settings()
    playbook = _playbook(settings)
    _check_database(settings)
    path = Path(args.file)
    text = _csv_text(path)
    try:
        with _running(settings, playbook) as services, services.transaction() as session:
            report = import_partners_csv(session, text, playbook=playbook)
    except ImportFailed as failure:
        _print_problems(path, failure.problems)
        return 1
    print(f"{path}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged")
    return 0


def cmd_import_leads(args) -> int:
    from store import events, lead_import
    from store.errors import DomainError, ImportFailed

    settings = _settings()
    playbook = _playbook(settings)
    _check_database(settings)
    path = Path(args.file)
    if path.is_file() and path.stat().st_size > lead_import.MAX_BYTES:  # refused unread
        print(f"{path}: nothing was imported: at {path.stat().st_size / 1e6:,.1f} MB it is more than one import takes "
              f"({lead_import.MAX_BYTES / 1e6:,.0f} MB, up to {lead_import.MAX_ROWS:,} leads); split it into smaller "
              "files — each is imported all or nothing.", file=sys.stderr)
        return 1
    text = _csv_text(path)
    sender = lead_import.slack_user_id(args.sender) if args.sender else None
    if args.sender and not sender:
        raise SettingsError(f"--sender must be a Slack user id, like U0123ABCD (got {args.sender!r}).")

    def progress(done: int, total: int) -> None:
        print(f"{path}: {total:,} rows checked; handing off {total:,} leads…" if done == 0 else
              f"{path}: {done:,} of {total:,} handed off", file=sys.stderr, flush=True)

    with _running(settings, playbook) as services:
        try:
            with services.transaction() as session:
                report = lead_import.import_leads_csv(session, text, playbook=playbook, sender=sender,
                                                      progress=progress)
            outbox_ids = sorted(set(report.outbox_ids + events.written(session)))
        except ImportFailed as failure:
            _print_problems(path, failure.problems)
            return 1
        except DomainError as error:  # e.g. a partner deleted while the file was being imported
            print(f"{path}: nothing was imported: {error}", file=sys.stderr)
            return 1
        _print_import(path, report)
        if outbox_ids and settings.bot_token:
            # As /handoff and the clock do: the owners (and senders) who use the App Home see the new leads.
            services.deliver_import(outbox_ids)
        with services.sessions() as session:
            state = lead_import.delivery_state(session, outbox_ids)
    _print_delivery(state, has_token=bool(settings.bot_token))
    return 0


def _few(items: list[str], limit: int = 10) -> str:
    return ", ".join(items if len(items) <= limit else [*items[:limit - 1], "…", items[-1]])


def _print_import(path: Path, report, *, detail: int = 50) -> None:
    if not report.refs:
        print(f"{path}: the file has no rows; nothing was imported.")
        return
    conflicted = f" ({_few(list(report.conflicts))})" if report.conflicts else ""
    print(f"{path}: {len(report.refs)} lead(s) imported ({_few(report.refs)}), "
          f"{len(report.conflicts)} with possible conflicts{conflicted}, {len(report.duplicates)} likely duplicate(s)")
    lines = [f"  {lead} may conflict with {', '.join(others)} (the partner managers are told)"
             for lead, others in report.conflicts.items()]
    lines += [f"  {lead} looks like a duplicate of {', '.join(others)} (same partner and domain)"
              for lead, others in report.duplicates.items()]
    for line in lines[:detail] + ([f"  … and {len(lines) - detail} more"] if len(lines) > detail else []):
        print(line)
    if report.ignored_columns:
        print(f"  ignored export-only column(s): {', '.join(report.ignored_columns)}")


def _print_delivery(state, *, has_token: bool) -> None:
    cards, everything = state["lead_card"], state["all"]
    if not everything.sent + everything.waiting + everything.failed:
        return
    print(f"Slack: owner cards {cards.sent} sent, {cards.waiting} waiting; "
          f"all messages {everything.sent} sent, {everything.waiting} waiting"
          + (f", {everything.failed} failed" if everything.failed else ""))
    if everything.waiting:
        why = ("SLACK_BOT_TOKEN is not set" if not has_token else "Slack did not take them now")
        print(f"  {everything.waiting} message(s) wait in the outbox ({why}); the clock (`partnerbot clock`) sends "
              "them — `partnerbot outbox` lists them.")
    if everything.failed:
        print("  Slack refused some messages for good; `partnerbot outbox` shows why.")


def _since(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"--since must be a date like 2026-11-03 (got {text!r}).") from None


def cmd_export(args) -> int:
    from store import exports
    from store.errors import NotFound

    settings = _settings()
    playbook = _playbook(settings)
    since = _since(args.since)
    _check_database(settings)
    with _running(settings, playbook) as services:
        with services.sessions() as session:
            try:
                filters = exports.make_filters(session, playbook=playbook, since=since, partner=args.partner)
            except NotFound as error:
                print(f"partnerbot: --partner: {error}", file=sys.stderr)
                return 1
            if not args.output:
                try:
                    exports.write_csv(session, args.kind, sys.stdout, filters)
                    sys.stdout.flush()
                except BrokenPipeError:  # `partnerbot export leads | head`: the reader has what it wanted
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                except OSError as error:  # a full disk: say so once (and not again when Python exits)
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    print(f"partnerbot: standard output: {error.strerror}; the export is incomplete.", file=sys.stderr)
                    return 1
                return 0
            try:
                # A file gets a UTF-8 byte order mark so Excel shows accents right; stdout stays plain for pipes.
                out = open(args.output, "w", encoding="utf-8-sig", newline="")
            except OSError as error:
                raise SettingsError(f"--output {args.output}: {error.strerror}.") from None
            try:
                with out:
                    count = exports.write_csv(session, args.kind, out, filters)
            except OSError as error:  # e.g. the disk filled up
                print(f"partnerbot: --output {args.output}: {error.strerror}; the file is incomplete.", file=sys.stderr)
                return 1
    print(f"{args.output}: {count} {args.kind} written")
    return 0


def cmd_outbox(args) -> int:
    from store import outbox

    from store.playbook import default_playbook

    settings = _settings()
    _check_database(settings)
    # Listing the outbox reads no rule: a broken playbook file must not hide what waits to be sent.
    with _running(settings, default_playbook()) as services, services.sessions() as session:
        rows = outbox.waiting(session)
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


def _export_kinds() -> list[str]:
    from store.exports import EXPORTS

    return list(EXPORTS)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("partnerbot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="partnerbot", description="Runs a partner co-selling playbook in Slack.",
        epilog="Reads from the environment (or a .env file): SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN, "
               "SLACK_API_URL, DATABASE_URL, PLAYBOOK_PATH, PORT, PUBLIC_URL, LOG_LEVEL, LOG_FORMAT. "
               "`partnerbot COMMAND --help` says what a command does.")
    parser.add_argument("--version", action="version", version=f"partnerbot {_version()}")
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
    p = sub.add_parser("import", help="import partners or leads from CSV (all rows or none)")
    kinds = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = kinds.add_parser("partners", help="add or update partners (by name)")
    p.add_argument("file", help="CSV with the header name,type,tier,market,product_lines,channel_id,manager_id")
    p.set_defaults(func=cmd_import_partners)
    p = kinds.add_parser("leads", help="hand off leads in bulk, as /handoff does, and send the owners' cards "
                                       "(up to 10 MB and 10,000 rows a file)")
    p.add_argument("file", help="CSV with the /handoff form's fields as columns (see README: CSV in and out)")
    p.add_argument("--sender", help="Slack user id of who hands the leads off, for rows without a sender cell")
    p.set_defaults(func=cmd_import_leads)
    p = sub.add_parser("export", help="write leads, actions, escalations or scorecards as CSV")
    p.add_argument("kind", choices=_export_kinds(), help="what to export")
    p.add_argument("--since", help="only what was created on or after this date (YYYY-MM-DD, playbook time zone); "
                                   "scorecards: every month from this date's to the last full month")
    p.add_argument("--partner", help="only this partner's (its name, any case)")
    p.add_argument("--output", help="write to this file (default: standard output)")
    p.set_defaults(func=cmd_export)
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
    from bot.logs import LoggingError, configure
    from store.playbook import PlaybookError

    args = build_parser().parse_args(argv)
    try:
        configure()
        return args.func(args)
    except (SettingsError, PlaybookError, LoggingError) as error:
        print(f"partnerbot: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
