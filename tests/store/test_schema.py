"""Tests for dockyard.store.schema: tables, the schema version, migrations."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection

import dockyard.store.schema as schema
from dockyard.store import SchemaVersionError, Store, StoreError, register_migration
from dockyard.store.schema import UTCDateTime, as_utc, metadata


def raw(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run SQL on the database file with the sqlite3 module alone."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def columns(path: Path, table: str) -> list[str]:
    return [row[1] for row in raw(path, f"PRAGMA table_info({table})")]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "dockyard.db"


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
    make_store: Any, db_file: Path
) -> None:
    store = make_store()
    assert store.schema_version == schema.SCHEMA_VERSION == N
    assert raw(db_file, "SELECT id, version FROM dockyard_schema_version") == [(1, N)]
    tables = {row[0] for row in raw(db_file, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(metadata.tables) <= tables
    assert all(name.startswith("dockyard_") for name in metadata.tables)


def test_reopening_keeps_the_version_row(make_store: Any, db_file: Path) -> None:
    make_store().close()
    make_store().close()
    assert raw(db_file, "SELECT id, version FROM dockyard_schema_version") == [(1, N)]


def test_newer_database_is_refused(make_store: Any, db_file: Path) -> None:
    make_store().close()
    raw(db_file, f"UPDATE dockyard_schema_version SET version = {N + 1}")
    with pytest.raises(SchemaVersionError) as raised:
        make_store()
    error = raised.value
    assert error.message == (
        f"database schema {N + 1} is newer than this Dockyard ({N}); upgrade dockyard"
    )
    assert isinstance(error, StoreError)
    assert error.status == 500
    assert "pip install --upgrade dockyard" in (error.suggestion or "")
    assert raw(db_file, "SELECT version FROM dockyard_schema_version") == [(N + 1,)]


def test_registered_migration_runs_on_an_older_database(
    make_store: Any, db_file: Path, future: dict[int, schema.Migration]
) -> None:
    with Store(f"sqlite:///{db_file}", home=None) as old:
        assert old.schema_version == N + 1  # a new database is made at the current version...
    raw(db_file, f"UPDATE dockyard_schema_version SET version = {N}")  # ...so make it old
    ran: list[int] = []

    @register_migration(N + 1)
    def add_labels(conn: Connection) -> None:
        ran.append(1)
        conn.exec_driver_sql("ALTER TABLE dockyard_instances ADD COLUMN labels TEXT")

    assert future == {N + 1: add_labels}
    store = make_store()
    assert store.schema_version == N + 1
    assert ran == [1]
    assert "labels" in columns(db_file, "dockyard_instances")
    assert raw(db_file, "SELECT version FROM dockyard_schema_version") == [(N + 1,)]
    make_store()  # at version N + 1 already: nothing runs again
    assert ran == [1]


def test_new_database_is_created_at_the_current_version_without_migrating(
    make_store: Any, db_file: Path, future: dict[int, schema.Migration]
) -> None:
    future[N + 1] = lambda conn: pytest.fail("a new database needs no migration")
    assert make_store().schema_version == N + 1
    assert raw(db_file, "SELECT version FROM dockyard_schema_version") == [(N + 1,)]


def test_failing_migration_changes_nothing(
    make_store: Any, db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store().close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", N + 2)

    def add_column(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE dockyard_instances ADD COLUMN labels TEXT")

    def broken(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE dockyard_instances ADD COLUMN other TEXT")
        raise RuntimeError("the last migration is broken")

    monkeypatch.setattr(schema, "MIGRATIONS", {N + 1: add_column, N + 2: broken})
    with pytest.raises(RuntimeError, match="the last migration is broken"):
        make_store()
    # All or nothing: migration N + 1 rolled back with N + 2, DDL included.
    assert raw(db_file, "SELECT version FROM dockyard_schema_version") == [(N,)]
    assert not {"labels", "other"} & set(columns(db_file, "dockyard_instances"))


def test_missing_migration_is_a_clear_error(
    make_store: Any, db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store().close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", N + 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {N + 1: lambda conn: None})
    with pytest.raises(
        SchemaVersionError, match=f"no migration from database schema {N + 1} to {N + 2}"
    ):
        make_store()
    assert raw(db_file, "SELECT version FROM dockyard_schema_version") == [(N,)]


def test_schema_1_databases_get_the_task_tables(make_store: Any, db_file: Path) -> None:
    # A database as schema 1 left it: no task tables.
    make_store().close()
    raw(db_file, "DROP TABLE dockyard_task_deps")
    raw(db_file, "DROP TABLE dockyard_tasks")
    raw(db_file, "UPDATE dockyard_schema_version SET version = 1")
    store = make_store()
    assert store.schema_version == N
    assert "pending" in columns(db_file, "dockyard_tasks")
    assert "depends_on_seq" in columns(db_file, "dockyard_task_deps")
    assert store.tasks.counts()["waiting"] == 0


def test_register_migration_validates(future: dict[int, schema.Migration]) -> None:
    with pytest.raises(ValueError, match="migrations at 2"):
        register_migration(1)
    register_migration(2)(lambda conn: None)
    with pytest.raises(ValueError, match="two migrations to schema 2"):
        register_migration(2)(lambda conn: None)


def test_processes_starting_together_create_the_schema_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
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
    assert raw(tmp_path / "race.db", "SELECT id, version FROM dockyard_schema_version") == [(1, N)]


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
