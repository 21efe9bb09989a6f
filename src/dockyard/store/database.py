"""The connection to the database, and everything that differs between databases.

Three ways of running statements, chosen per operation:

- `Database.fetch_one` / `fetch_all` / `execute`: one statement whose parameters are
  plain ints and strings, compiled once per database and run on a pooled DBAPI
  connection with no SQLAlchemy `Connection` around it. This is the path of every
  per-request operation (authentication, storage get/set/delete/items): SQLAlchemy's
  Core execution costs some 60-70 µs per statement in Python, this path about 15.
  Elsewhere than SQLite these statements run in the driver's autocommit mode: a driver
  in a transaction would send BEGIN and COMMIT around each, three round trips for one
  (on PostgreSQL that halved the time of a per-request check).
- ``with db.engine.connect()`` / ``db.engine.begin()``: Core, for the rest. On SQLite
  no ``BEGIN`` is sent by the driver (its transaction handling is off), so a single
  statement runs on its own, atomically, with no BEGIN/COMMIT round trips.
- ``with db.write()``: a read-modify-write transaction. On SQLite it starts with
  ``BEGIN IMMEDIATE``, taking the write lock up front: a plain (deferred) BEGIN takes
  it only at the first write, and if another connection wrote in between, SQLite
  fails the upgrade at once with "database is locked" instead of waiting (the busy
  timeout does not apply to it). Elsewhere it is an ordinary transaction, and code
  locks the rows it will change with ``SELECT ... FOR UPDATE``.

BEGIN IMMEDIATE is sent as a statement, not from a SQLAlchemy "begin" event listener
(the recipe in SQLAlchemy's SQLite docs): any connection event listener makes
SQLAlchemy dispatch events around every statement, which doubled the cost of a query.

SQLite connections run in WAL mode (readers never block the writer, nor it them), with
a 30 s busy timeout (concurrent writers wait their turn instead of failing),
``synchronous=NORMAL`` (safe with WAL: a power cut may lose the last commits, never
corrupt the file; it saves an fsync per commit) and foreign keys on.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, NamedTuple

from sqlalchemy import Table, create_engine, event, insert, update
from sqlalchemy.engine import URL, Connection, CursorResult, Engine
from sqlalchemy.exc import IntegrityError, NoSuchModuleError
from sqlalchemy.sql import ClauseElement

from dockyard.store.errors import StoreError
from dockyard.store.location import DATABASE_URL_ENV

__all__ = ["BUSY_TIMEOUT_MS", "Database"]

#: How long an SQLite connection waits for another's write lock before failing.
BUSY_TIMEOUT_MS: Final = 30_000

# Any fixed number: the PostgreSQL advisory lock held while the schema is checked or
# migrated, so two processes starting at once do not both create the tables.
_SCHEMA_LOCK_ID: Final = 0x646F636B


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Take transaction control away from the sqlite3 module (it would send its own,
    # deferred, BEGIN before DML and none before SELECT): statements outside an explicit
    # BEGIN then run on their own, and Database.write sends BEGIN IMMEDIATE. commit()
    # and rollback() still end a transaction we began, and do nothing otherwise. The
    # legacy mode is pinned where Python has the choice (3.12+), so a future default
    # cannot change this under us.
    if hasattr(dbapi_connection, "autocommit"):
        dbapi_connection.autocommit = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", -1)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    # WAL is a property of the file, set once by the first connection. Switching needs
    # an exclusive lock, and SQLite answers "database is locked" at once, without the
    # busy handler, when other connections race it (they do: processes or threads
    # opening a new database together), so retry by hand within the busy timeout.
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] in ("wal", "memory"):
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _dispose_in_child(ref: weakref.ReferenceType[Database]) -> None:
    db = ref()
    if db is not None:
        # Connections inherited from the parent must never be used by the child (two
        # processes on one SQLite handle corrupt its state); drop them without closing,
        # since closing would affect the parent's copies.
        db.engine.dispose(close=False)
        db.forget_read_connections()


class Prepared(NamedTuple):
    """A statement compiled for one database: its SQL, the order of its parameters
    (None when the driver takes them by name), and the values of parameters the
    statement fixed itself (``.values(namespace="")``)."""

    sql: str
    names: tuple[str, ...] | None
    fixed: Mapping[str, Any] = {}

    def bind(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """The parameters in the form the driver takes."""
        if self.fixed:
            values = {**self.fixed, **values}
        if self.names is None:
            return values
        return tuple([values[name] for name in self.names])


class Transaction:
    """Statements inside `Database.transaction`, on its raw DBAPI cursor (so the same
    terms as `Database.fetch_one` apply: int and str parameters, no conversions)."""

    __slots__ = ("_cursor", "_db")

    def __init__(self, db: Database, cursor: Any) -> None:
        self._db = db
        self._cursor = cursor

    def fetch_one(self, statement: ClauseElement, values: Mapping[str, Any]) -> Any:
        """The first row (a tuple) of a query, or None."""
        prepared = self._db.prepare(statement)
        self._cursor.execute(prepared.sql, prepared.bind(values))
        return self._cursor.fetchone()

    def execute(self, statement: ClauseElement, values: Mapping[str, Any]) -> int:
        """Run a writing statement; return the number of rows it changed."""
        prepared = self._db.prepare(statement)
        self._cursor.execute(prepared.sql, prepared.bind(values))
        count: int = self._cursor.rowcount
        return count

    def insert_unless_exists(self, statement: ClauseElement, values: Mapping[str, Any]) -> bool:
        """Run an INSERT; return False instead if its unique key exists, leaving the
        transaction usable (a savepoint, except under serialized writes, where no
        other transaction can have inserted the row since we looked)."""
        if self._db.serialized_writes:
            self.execute(statement, values)
            return True
        self._cursor.execute("SAVEPOINT dockyard_insert")
        try:
            self.execute(statement, values)
        except self._db.integrity_errors:
            self._cursor.execute("ROLLBACK TO SAVEPOINT dockyard_insert")
            return False
        self._cursor.execute("RELEASE SAVEPOINT dockyard_insert")
        return True


class Database:
    """An engine and the per-database choices made on top of it.

    :param url: the parsed SQLAlchemy URL.
    """

    def __init__(self, url: URL) -> None:
        self.url = url
        self.dialect: str = url.get_backend_name()
        #: True on SQLite: writers are serialized by the database lock (BEGIN IMMEDIATE),
        #: so two transactions never race to insert one row; elsewhere inserts that may
        #: race run in a savepoint and are retried as updates.
        self.serialized_writes = self.dialect == "sqlite"
        try:
            #: The engine. On SQLite its connections run each statement on its own unless
            #: a transaction is begun explicitly (see the module docstring).
            self.engine: Engine = create_engine(url)
        except ModuleNotFoundError as error:
            raise StoreError(
                f"the database driver for {url.drivername!r} is not installed ({error.name})",
                code="store_unavailable",
                suggestion=f"pip install the driver (for PostgreSQL: pip install psycopg), "
                f"or unset {DATABASE_URL_ENV} to use the embedded SQLite database",
            ) from error
        except NoSuchModuleError as error:
            raise StoreError(
                f"unknown kind of database {url.drivername!r}",
                code="invalid_database_url",
                suggestion="use a database SQLAlchemy supports, such as sqlite:///path or "
                "postgresql+psycopg://user@host/dbname",
            ) from error
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_connect)
        #: Whether the database has INSERT ... ON CONFLICT DO UPDATE (one-statement upsert).
        self.native_upsert = self.dialect in ("sqlite", "postgresql")
        self._upserts: dict[str, Any] = {}
        self._prepared: dict[int, Prepared] = {}
        # One connection per thread for single-statement reads (the per-request key and
        # instance checks): a pool checkout costs more than the query itself.
        self._reads = threading.local()
        self._read_connections: list[Any] = []
        self._read_lock = threading.Lock()
        #: The driver's unique-violation exception (the fast path sees driver errors).
        self.integrity_errors: type[Exception] = self.engine.dialect.loaded_dbapi.IntegrityError
        if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _dispose_in_child(ref))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a read-modify-write transaction, committed when the block
        ends (rolled back if it raises). On SQLite the database is write-locked from
        the start; elsewhere lock rows with ``SELECT ... FOR UPDATE``."""
        with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    def prepare(self, statement: ClauseElement) -> Prepared:
        """``statement`` compiled for this database, once (cached by identity: pass
        statements built once, at import, never per call)."""
        prepared = self._prepared.get(id(statement))
        if prepared is None:
            compiled: Any = statement.compile(dialect=self.engine.dialect)
            binds = compiled.binds  # rendered name -> parameter
            if any(bind.expanding for bind in binds.values()):
                # IN (...) lists are rendered per call; this path renders once.
                raise ValueError("expanding parameters (IN lists) need Core execution")
            names = tuple(compiled.positiontup or ()) if compiled.positional else None
            fixed = {name: bind.value for name, bind in binds.items() if not bind.required}
            prepared = Prepared(compiled.string, names, fixed)
            self._prepared[id(statement)] = prepared
        return prepared

    def _set_autocommit(self, conn: Any, on: bool) -> bool:
        """Switch the driver's autocommit of the raw connection ``conn``; whether the
        driver has one. Elsewhere than SQLite (whose connections run each statement on
        its own anyway) a driver outside autocommit sends BEGIN before a statement and
        COMMIT after it: three round trips instead of one for a single statement."""
        if self.dialect == "sqlite":
            return False
        dbapi = conn.dbapi_connection
        if dbapi is None or not hasattr(dbapi, "autocommit"):
            return False
        dbapi.autocommit = on
        return True

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        conn = self.engine.raw_connection()
        try:
            autocommit = self._set_autocommit(conn, True)
            try:
                cursor = conn.cursor()
                try:
                    yield cursor
                finally:
                    cursor.close()
                if not autocommit:
                    conn.commit()  # a no-op on SQLite, where each statement committed itself
            finally:
                if autocommit:
                    try:
                        # Back to transactions: the pool's other users (Core, `write`,
                        # `transaction`) expect them.
                        self._set_autocommit(conn, False)
                    except Exception:
                        conn.invalidate()  # a broken connection: the pool drops it
        finally:
            # Back to the pool, whose reset rolls back whatever an error left open.
            conn.close()

    def _read_connection(self) -> Any:
        reads = self._reads
        conn = getattr(reads, "conn", None)
        if conn is not None and reads.pid == os.getpid():
            return conn
        conn = self.engine.raw_connection()
        conn.detach()  # this thread's own from now on; dispose() closes it
        # It only ever runs single reads: each its own transaction, in one round trip.
        self._set_autocommit(conn, True)
        reads.conn, reads.pid = conn, os.getpid()
        with self._read_lock:
            self._read_connections.append(conn)
        return conn

    def forget_read_connections(self) -> None:
        """Drop (without closing) the per-thread read connections: after a fork they
        belong to the parent."""
        self._reads = threading.local()
        self._read_connections = []

    def fetch_one(self, statement: ClauseElement, values: Mapping[str, Any]) -> Any:
        """The first row (a tuple) of a query, or None; see the module docstring.

        Parameters go to the driver as they are, and results come back as the driver
        gives them: no type conversion happens on this path, so use it for statements
        with int and str parameters. Runs on this thread's read connection.
        """
        prepared = self.prepare(statement)
        conn = self._read_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(prepared.sql, prepared.bind(values))
                row = cursor.fetchone()
            finally:
                cursor.close()
            conn.commit()  # ends the read's transaction where the driver opened one
        except BaseException:
            # A connection in an unknown state is never reused.
            self._reads.conn = None
            with self._read_lock:
                if conn in self._read_connections:
                    self._read_connections.remove(conn)
            try:
                conn.close()
            finally:
                raise
        return row

    def fetch_all(self, statement: ClauseElement, values: Mapping[str, Any]) -> list[Any]:
        """Every row (tuples) of a query; same terms as `fetch_one`."""
        prepared = self.prepare(statement)
        with self._cursor() as cursor:
            cursor.execute(prepared.sql, prepared.bind(values))
            return list(cursor.fetchall())

    def execute(self, statement: ClauseElement, values: Mapping[str, Any]) -> int:
        """Run one writing statement and commit it; return the number of rows it
        changed. Same terms as `fetch_one`."""
        prepared = self.prepare(statement)
        with self._cursor() as cursor:
            cursor.execute(prepared.sql, prepared.bind(values))
            count: int = cursor.rowcount
        return count

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A read-modify-write transaction on the fast path (see `write` for the
        locking): committed when the block ends, rolled back if it raises."""
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                if self.dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                yield Transaction(self, cursor)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cursor.close()
        finally:
            conn.close()

    def upsert(self, table: Table, row: Mapping[str, Any]) -> None:
        """Write ``row`` into ``table``, replacing the row with the same primary key if
        there is one, atomically.

        One ``INSERT ... ON CONFLICT DO UPDATE`` where the database has it (SQLite,
        PostgreSQL); elsewhere an UPDATE, then an INSERT in a savepoint if no row was
        there, and the UPDATE again if another transaction inserted it meanwhile.
        """
        if self.native_upsert:
            self.execute(self._upsert_statement(table), row)
            return
        keys = [column.name for column in table.primary_key.columns]
        match = [table.c[name] == row[name] for name in keys]
        values = {name: value for name, value in row.items() if name not in keys}
        with self.engine.begin() as conn:
            while not conn.execute(update(table).where(*match).values(values)).rowcount:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(table), row)
                    return
                except IntegrityError:
                    continue  # inserted by someone else since our UPDATE: update it now

    def dispose(self) -> None:
        """Close every pooled connection, and the per-thread read connections."""
        with self._read_lock:
            connections, self._read_connections = self._read_connections, []
        for conn in connections:
            conn.close()
        self._reads = threading.local()
        self.engine.dispose()

    def lock_schema(self, conn: Connection) -> None:
        """Serialize schema checks and migrations between processes, until ``conn``'s
        transaction ends. (On SQLite, `write`'s BEGIN IMMEDIATE has done it already.)"""
        if self.dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_ID})")

    def insert_unless_exists(
        self, conn: Connection, table: Table, row: Mapping[str, Any]
    ) -> CursorResult[Any] | None:
        """Insert ``row`` into ``table`` within a transaction that must go on if it is a
        duplicate; return the insert's result, or None if the unique key exists.

        Under serialized writes a plain insert suffices: no other transaction can have
        inserted the row since we looked. Elsewhere a savepoint keeps a unique-key
        violation from aborting the whole transaction.
        """
        if self.serialized_writes:
            return conn.execute(insert(table), row)
        try:
            with conn.begin_nested():
                return conn.execute(insert(table), row)
        except IntegrityError:
            return None

    def _upsert_statement(self, table: Table) -> Any:
        # The cached statement per table: building it costs more than running it.
        statement = self._upserts.get(table.name)
        if statement is None:
            base: Any
            if self.dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                base = sqlite_insert(table)
            else:
                from sqlalchemy.dialects.postgresql import insert as postgresql_insert

                base = postgresql_insert(table)
            keys = [column.name for column in table.primary_key.columns]
            statement = base.on_conflict_do_update(
                index_elements=keys,
                set_={
                    column.name: base.excluded[column.name]
                    for column in table.columns
                    if column.name not in keys
                },
            )
            self._upserts[table.name] = statement
        return statement
