"""Alembic migrations against fresh databases: up, down, up again, and no drift from the models."""

from __future__ import annotations

import os
import secrets

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from store.db import make_engine, normalise_database_url
from store.migrate import current_revision, downgrade, head_revision, is_up_to_date, upgrade
from store.models import Base

CONFIGURED = os.environ.get("PARTNERBOT_TEST_DATABASE_URL")
KINDS = ["sqlite"] + (["configured"] if CONFIGURED and not CONFIGURED.startswith("sqlite") else [])


@pytest.fixture(params=KINDS)
def fresh_url(request, tmp_path):
    """A database nobody has migrated yet: a new SQLite file, or a new database on the configured server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    base = make_url(normalise_database_url(CONFIGURED))
    name = f"{base.database or 'test'}_mig_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(normalise_database_url(CONFIGURED), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _schema(url: str) -> dict[str, set[str]]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        inspector = inspect(engine)
        return {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}
    finally:
        engine.dispose()


def _model_schema() -> dict[str, set[str]]:
    return {name: {c.name for c in table.columns} for name, table in Base.metadata.tables.items()}


def _drift(url: str) -> list:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_url):
    models = _model_schema()
    assert {"partners", "leads", "handoffs", "lead_conflicts", "audit_events", "outbox"} <= set(models)
    assert _schema(fresh_url) == {}
    assert current_revision(fresh_url) is None

    upgrade(fresh_url, "head")
    schema = _schema(fresh_url)
    assert set(schema) == set(models) | {"alembic_version"}
    for table, columns in models.items():
        assert schema[table] == columns, table
    assert current_revision(fresh_url) == head_revision(fresh_url)
    assert is_up_to_date(fresh_url)

    downgrade(fresh_url, "base")
    assert set(_schema(fresh_url)) <= {"alembic_version"}  # Alembic keeps its own (empty) table
    assert current_revision(fresh_url) is None
    assert not is_up_to_date(fresh_url)

    upgrade(fresh_url, "head")
    schema = _schema(fresh_url)
    assert {t: schema[t] for t in models} == models
    assert is_up_to_date(fresh_url)


def test_migrated_schema_matches_the_models(fresh_url):
    """What `alembic check` does: autogenerate against the migrated database finds nothing to add."""
    upgrade(fresh_url, "head")
    assert _drift(fresh_url) == []


def test_drift_check_would_notice_a_missing_column(fresh_url):
    """The comparison above can fail: drop a column the models have and it is reported."""
    upgrade(fresh_url, "head")
    engine = make_engine(fresh_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events DROP COLUMN after"))
    finally:
        engine.dispose()
    drift = _drift(fresh_url)
    assert any(d[0] == "add_column" and d[2] == "audit_events" and d[3].name == "after" for d in drift), drift
