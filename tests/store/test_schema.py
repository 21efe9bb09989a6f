"""Tests for dockyard.store.schema: tables, the schema version, migrations."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Connection

import dockyard.store.schema as schema
from dockyard.store import SchemaVersionError, Store, StoreError, register_migration
from dockyard.store.schema import UTCDateTime, as_utc, metadata


def raw(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run SQL on the database at ``url`` in a transaction of its own (no Store)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(sql)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def columns(url: str, table: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [column["name"] for column in inspect(conn).get_columns(table)]
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


#: The schema version of this code; the tests below pretend to be one or two later.
N = schema.SCHEMA_VERSION


@pytest.fixture
def future(monkeypatch: pytest.MonkeyPatch) -> dict[int, schema.Migration]:
    """Pretend this code is at schema N + 1, with an empty migration registry (returned)."""
    registry: dict[int, schema.Migration] = {}
    monkeypatch.setattr(schema, "MIGRATIONS", registry)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", N + 1)
    return registry


def test_new_database_gets_every_table_and_the_current_version(
    make_store: Any, any_url: str
) -> None:
    store = make_store(any_url)
    assert store.schema_version == schema.SCHEMA_VERSION == N
    assert raw(any_url, "SELECT id, version FROM dockyard_schema_version") == [(1, N)]
    assert set(metadata.tables) <= tables(any_url)
    assert all(name.startswith("dockyard_") for name in metadata.tables)


def test_reopening_keeps_the_version_row(make_store: Any, any_url: str) -> None:
    make_store(any_url).close()
    make_store(any_url).close()
    assert raw(any_url, "SELECT id, version FROM dockyard_schema_version") == [(1, N)]


def test_newer_database_is_refused(make_store: Any, any_url: str) -> None:
    make_store(any_url).close()
    raw(any_url, f"UPDATE dockyard_schema_version SET version = {N + 1}")
    with pytest.raises(SchemaVersionError) as raised:
        make_store(any_url)
    error = raised.value
    assert error.message == (
        f"database schema {N + 1} is newer than this Dockyard ({N}); upgrade dockyard"
    )
    assert isinstance(error, StoreError)
    assert error.status == 500
    assert "pip install --upgrade dockyard" in (error.suggestion or "")
    assert raw(any_url, "SELECT version FROM dockyard_schema_version") == [(N + 1,)]


def test_registered_migration_runs_on_an_older_database(
    make_store: Any, any_url: str, future: dict[int, schema.Migration]
) -> None:
    with Store(any_url) as old:
        assert old.schema_version == N + 1  # a new database is made at the current version...
    raw(any_url, f"UPDATE dockyard_schema_version SET version = {N}")  # ...so make it old
    ran: list[int] = []

    @register_migration(N + 1)
    def add_labels(conn: Connection) -> None:
        ran.append(1)
        conn.exec_driver_sql("ALTER TABLE dockyard_instances ADD COLUMN labels TEXT")

    assert future == {N + 1: add_labels}
    store = make_store(any_url)
    assert store.schema_version == N + 1
    assert ran == [1]
    assert "labels" in columns(any_url, "dockyard_instances")
    assert raw(any_url, "SELECT version FROM dockyard_schema_version") == [(N + 1,)]
    make_store(any_url)  # at version N + 1 already: nothing runs again
    assert ran == [1]


def test_new_database_is_created_at_the_current_version_without_migrating(
    make_store: Any, any_url: str, future: dict[int, schema.Migration]
) -> None:
    future[N + 1] = lambda conn: pytest.fail("a new database needs no migration")
    assert make_store(any_url).schema_version == N + 1
    assert raw(any_url, "SELECT version FROM dockyard_schema_version") == [(N + 1,)]


def test_failing_migration_changes_nothing(
    make_store: Any, any_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store(any_url).close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", N + 2)

    def add_column(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE dockyard_instances ADD COLUMN labels TEXT")

    def broken(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE dockyard_instances ADD COLUMN other TEXT")
        raise RuntimeError("the last migration is broken")

    monkeypatch.setattr(schema, "MIGRATIONS", {N + 1: add_column, N + 2: broken})
    with pytest.raises(RuntimeError, match="the last migration is broken"):
        make_store(any_url)
    # All or nothing: migration N + 1 rolled back with N + 2, DDL included.
    assert raw(any_url, "SELECT version FROM dockyard_schema_version") == [(N,)]
    assert not {"labels", "other"} & set(columns(any_url, "dockyard_instances"))


def test_missing_migration_is_a_clear_error(
    make_store: Any, any_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store(any_url).close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", N + 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {N + 1: lambda conn: None})
    with pytest.raises(
        SchemaVersionError, match=f"no migration from database schema {N + 1} to {N + 2}"
    ):
        make_store(any_url)
    assert raw(any_url, "SELECT version FROM dockyard_schema_version") == [(N,)]


def test_schema_1_databases_get_the_task_tables(make_store: Any, any_url: str) -> None:
    # A database as schema 1 left it: no task tables.
    make_store(any_url).close()
    raw(any_url, "DROP TABLE dockyard_task_deps")
    raw(any_url, "DROP TABLE dockyard_tasks")
    raw(any_url, "UPDATE dockyard_schema_version SET version = 1")
    store = make_store(any_url)
    assert store.schema_version == N
    assert "pending" in columns(any_url, "dockyard_tasks")
    assert "depends_on_seq" in columns(any_url, "dockyard_task_deps")
    assert store.tasks.counts()["waiting"] == 0


def test_register_migration_validates(future: dict[int, schema.Migration]) -> None:
    with pytest.raises(ValueError, match="migrations at 2"):
        register_migration(1)
    register_migration(2)(lambda conn: None)
    with pytest.raises(ValueError, match="two migrations to schema 2"):
        register_migration(2)(lambda conn: None)


def test_processes_starting_together_create_the_schema_once(any_url: str) -> None:
    url = any_url
    start = threading.Barrier(6)
    stores: list[Store] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            stores.append(Store(url))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=open_store) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for store in stores:
        store.close()
    assert errors == []
    assert len(stores) == 6
    assert raw(url, "SELECT id, version FROM dockyard_schema_version") == [(1, N)]


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# --- UTCDateTime -----------------------------------------------------------------------------


def test_utc_datetime_stores_naive_utc_and_reads_aware() -> None:
    column = UTCDateTime()
    dialect: Any = None
    paris = timezone(timedelta(hours=2))
    stored = column.process_bind_param(datetime(2024, 5, 1, 12, 0, tzinfo=paris), dialect)
    assert stored == datetime(2024, 5, 1, 10, 0)
    assert column.process_result_value(stored, dialect) == datetime(
        2024, 5, 1, 10, 0, tzinfo=timezone.utc
    )
    assert column.process_bind_param(None, dialect) is None
    assert column.process_result_value(None, dialect) is None
    with pytest.raises(ValueError, match="naive datetime"):
        column.process_bind_param(datetime(2024, 5, 1), dialect)


def test_as_utc_reads_sqlite_text() -> None:
    expected = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert as_utc("2024-05-01 10:00:00.123456") == expected
    assert as_utc(datetime(2024, 5, 1, 10, 0, 0, 123456)) == expected
    assert as_utc(expected.astimezone(timezone(timedelta(hours=-3)))) == expected
