"""What a process checks before it serves: that the database answers, and is at the code's migration.

Each failure is a SettingsError whose message is one line saying what to do; a database that does
not answer is its own kind (DatabaseNotAnswering), because the web process serves anyway (its
/healthz says 503 until the database answers) while one-shot commands stop.
"""

from __future__ import annotations

import logging

from bot.settings import SettingsError
from store.db import make_engine, normalise_database_url

log = logging.getLogger("partnerbot")


class DatabaseNotAnswering(SettingsError):
    """The database could not be reached; the message names it (without its password) and why."""


def not_answering(database_url: str, error: BaseException) -> DatabaseNotAnswering:
    from sqlalchemy.engine import make_url

    cause = getattr(error, "orig", None) or error
    why = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
    where = make_url(database_url).render_as_string(hide_password=True)
    return DatabaseNotAnswering(f"The database at {where} is not answering ({why}). "
                                "Check DATABASE_URL and that the database is up.")


def require_database(database_url: str) -> None:
    """Raise DatabaseNotAnswering unless a connection to the database can be made and used."""
    database_url = normalise_database_url(database_url)
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    # A few seconds at most: a host that drops packets must not hold a worker's boot past gunicorn's timeout.
    quick = {"connect_args": {"connect_timeout": 5}} if database_url.startswith("postgresql") else {}
    engine = make_engine(database_url, **quick)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        raise not_answering(database_url, error) from None
    finally:
        engine.dispose()


def check_schema(database_url: str, *, stop_if_ahead: bool = True) -> None:
    """Stop (SettingsError) unless the database is at the code's migration head.

    A database behind the code always stops the start. One ahead of it (a newer release has
    migrated it while this one still runs) stops only when `stop_if_ahead`: a web worker of the old
    release that restarts then keeps serving rather than taking the process down.
    Raises DatabaseNotAnswering when the database cannot be reached at all.
    """
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from store.migrate import alembic_config, current_revision

    require_database(database_url)
    current = current_revision(database_url)
    scripts = ScriptDirectory.from_config(alembic_config(database_url))
    head = scripts.get_current_head()
    if current == head:
        return
    try:
        known = current is None or scripts.get_revision(current) is not None
    except CommandError:
        known = False
    if known:
        raise SettingsError(f"The database is at migration {current or 'none'}, the code needs {head}. "
                            "Run `partnerbot db upgrade` first.")
    if stop_if_ahead:
        raise SettingsError(f"The database is at migration {current}, which this code does not know (it needs "
                            f"{head}): a newer release has migrated it. Run that release, or downgrade the database.")
    log.warning("The database is at migration %s, newer than this code's %s; serving anyway.", current, head)
