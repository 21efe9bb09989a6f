"""Tests for dockyard.store.database: the fast statement path, transactions, and the
code paths of databases without native upsert or serialized writes, run on SQLite."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import bindparam, insert, select

from dockyard.store import InstanceRecord, Store
from dockyard.store.database import Prepared
from dockyard.store.schema import storage, users

_USER_BY_HANDLE = select(users.c.id, users.c.handle).where(users.c.handle == bindparam("h"))


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on each database available (`any_store`)."""
    return any_store


def row(instance: InstanceRecord, key: str, value: str) -> dict[str, object]:
    return {"instance_id": instance.id, "namespace": "", "key": key, "value": value}


def test_prepared_binds_positional_and_named() -> None:
    assert Prepared("?", ("b", "a")).bind({"a": 1, "b": 2}) == (2, 1)
    assert Prepared("%(a)s", None).bind({"a": 1}) == {"a": 1}


def test_prepare_keeps_fixed_values_and_refuses_in_lists(store: Store) -> None:
    statement = select(users.c.id).where(users.c.handle == "alice", users.c.id == bindparam("i"))
    assert "alice" in store._db.prepare(statement).fixed.values()
    alice = store.ensure_user("alice")
    assert store._db.fetch_one(statement, {"i": alice.id}) == (alice.id,)
    with pytest.raises(ValueError, match="IN lists"):
        store._db.prepare(select(users.c.id).where(users.c.handle.in_(["a", "b"])))


def test_prepare_compiles_once_per_statement(store: Store) -> None:
    db = store._db
    first = db.prepare(_USER_BY_HANDLE)
    assert db.prepare(_USER_BY_HANDLE) is first
    assert first.names in {("h",), None}  # positional (SQLite) or by name (psycopg)
    assert "dockyard_users" in first.sql


def test_fast_path_reads_and_writes(store: Store) -> None:
    db = store._db
    alice = store.ensure_user("alice")
    assert db.fetch_one(_USER_BY_HANDLE, {"h": "alice"}) == (alice.id, "alice")
    assert db.fetch_one(_USER_BY_HANDLE, {"h": "bob"}) is None
    assert db.fetch_all(_USER_BY_HANDLE, {"h": "alice"}) == [(alice.id, "alice")]


def test_single_statements_commit_alone_and_leave_transactions_to_the_rest(
    store: Store, instance: InstanceRecord
) -> None:
    # Elsewhere than SQLite the fast path runs in the driver's autocommit (one round
    # trip a statement, not BEGIN + statement + COMMIT), and gives pooled connections
    # back in transaction mode: transactions that fail still roll back.
    db = store._db
    data = store.storage(instance.id)
    data.set("a", 1)  # Database.execute, on a pooled connection
    assert data.items() == [("a", 1)]  # Database.fetch_all, likewise
    assert data.get("a") == 1  # Database.fetch_one, on this thread's read connection

    def write_then_fail() -> None:
        with db.write() as conn:
            conn.execute(insert(storage), row(instance, "b", "2"))
            raise RuntimeError("abort")

    def transact_then_fail() -> None:
        with db.transaction() as transaction:
            transaction.execute(insert(storage), row(instance, "c", "3"))
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        write_then_fail()
    with pytest.raises(RuntimeError, match="abort"):
        transact_then_fail()
    assert data.items() == [("a", 1)]
    if store.engine.dialect.name == "sqlite":
        return
    assert db._read_connection().dbapi_connection.autocommit is True
    pooled = [store.engine.raw_connection() for _ in range(3)]
    try:
        assert [conn.dbapi_connection.autocommit for conn in pooled] == [False] * 3
    finally:
        for conn in pooled:
            conn.close()


def test_transaction_rolls_back_on_error(store: Store, instance: InstanceRecord) -> None:
    db = store._db
    add = insert(storage).values(
        instance_id=bindparam("i"), namespace="", key=bindparam("k"), value="1"
    )

    def write_then_fail() -> None:
        with db.transaction() as transaction:
            transaction.execute(add, {"i": instance.id, "k": "a"})
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        write_then_fail()
    assert store.storage(instance.id).items() == []
    with db.transaction() as transaction:
        assert transaction.execute(add, {"i": instance.id, "k": "a"}) == 1
    assert store.storage(instance.id).items() == [("a", 1)]


def test_savepoint_insert_path_keeps_the_transaction(
    store: Store, instance: InstanceRecord
) -> None:
    db = store._db
    db.serialized_writes = False  # take the path of databases with row locks
    add = insert(storage)
    with db.transaction() as transaction:
        assert transaction.insert_unless_exists(add, row(instance, "a", "1")) is True
        assert transaction.insert_unless_exists(add, row(instance, "a", "2")) is False
        assert transaction.insert_unless_exists(add, row(instance, "b", "3")) is True
    assert store.storage(instance.id).items() == [("a", 1), ("b", 3)]
    with store.engine.begin() as conn:
        assert db.insert_unless_exists(conn, storage, row(instance, "b", "4")) is None
        assert db.insert_unless_exists(conn, storage, row(instance, "c", "5")) is not None
    assert store.storage(instance.id).items() == [("a", 1), ("b", 3), ("c", 5)]


def test_update_without_serialized_writes(store: Store, instance: InstanceRecord) -> None:
    store._db.serialized_writes = False
    data = store.storage(instance.id)
    assert data.update("n", lambda n: n + 1, 0) == 1
    assert data.update("n", lambda n: n + 1, 0) == 2


def test_generic_upsert_path(store: Store, instance: InstanceRecord) -> None:
    store._db.native_upsert = False  # take the path of databases without ON CONFLICT
    data = store.storage(instance.id)
    data.set("k", 1)
    data.set("k", {"a": 2})
    assert data.items() == [("k", {"a": 2})]
    start = threading.Barrier(4)

    def write(value: int) -> None:
        start.wait()
        data.set("shared", value)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert data.get("shared") in range(4)


def test_lock_schema_is_a_no_op_on_sqlite(store: Store) -> None:
    with store._db.write() as conn:
        store._db.lock_schema(conn)
