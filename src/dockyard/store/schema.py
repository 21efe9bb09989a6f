"""The database schema: tables, its version, and the migrations between versions.

A new database gets every table and a `schema_version` row saying `SCHEMA_VERSION`.
An existing one at an older version is brought up to date by running, in order, the
migration registered for each later version (`register_migration`), all in one
transaction so a failed migration leaves the database as it was. A database at a newer
version than this code knows is refused: the code cannot know what changed.

Tables are prefixed ``dockyard_`` so a database shared with other applications (a
PostgreSQL database named by ``DOCKYARD_DATABASE_URL``) has no clash over ``users``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from dockyard.store.errors import SchemaVersionError

if TYPE_CHECKING:
    from dockyard.store.database import Database

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_NAMESPACE_LENGTH",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "UTCDateTime",
    "api_keys",
    "as_utc",
    "instances",
    "metadata",
    "migrate",
    "read_version",
    "register_migration",
    "schema_version",
    "storage",
    "task_deps",
    "tasks",
    "users",
    "workspaces",
]

#: The schema version this code writes and reads. Bump it together with a migration.
SCHEMA_VERSION = 2

#: A migration: brings a database at ``version - 1`` to ``version``, given a connection
#: inside the (locked) migration transaction. It must not commit.
Migration = Callable[[Connection], None]

#: version -> the migration that produces it. Filled by `register_migration`.
MIGRATIONS: dict[int, Migration] = {}

#: Longest storage key, in characters: the key is part of an index, and an index entry
#: has a size limit in PostgreSQL (about 2.7 kB); better a clear error here than there.
MAX_KEY_LENGTH = 512
#: Longest storage namespace path, in characters (indexed too).
MAX_NAMESPACE_LENGTH = 255


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored as a naive UTC ``DATETIME``.

    SQLite has no time zones and PostgreSQL's ``timestamp`` has none either: storing UTC
    without an offset gives the same text/value everywhere, and times compare correctly
    in SQL (the stale-claim check compares them).
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Convert an aware datetime to naive UTC; refuse naive ones (their zone is a guess)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one (UTC)")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        """Mark a stored (naive UTC) datetime as UTC."""
        return None if value is None else as_utc(value)


def as_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from a stored one: a naive UTC datetime, or (from SQLite,
    read without SQLAlchemy's conversion) its ISO text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# Named constraints, so a later migration can drop or alter them by name on any database.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

#: One row (id 1) holding the schema version.
schema_version = Table(
    "dockyard_schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

users = Table(
    "dockyard_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("handle", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# sqlite_autoincrement: ids of deleted rows are never handed out again, so an id held
# by a cache or a log can never come to mean another key or instance.
api_keys = Table(
    "dockyard_api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "user_id",
        ForeignKey("dockyard_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # Unique: authentication finds a key's row by prefix in one index lookup.
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("name", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    sqlite_autoincrement=True,
)

workspaces = Table(
    "dockyard_workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("handle", String(64), nullable=False, unique=True),
    Column(
        "owner_id",
        ForeignKey("dockyard_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)

instances = Table(
    "dockyard_instances",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "workspace_id",
        ForeignKey("dockyard_workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("handle", String(64), nullable=False),
    Column("package", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("config", Text, nullable=False),  # canonical JSON
    Column("init_state", String(16), nullable=False),
    Column("init_error", Text),
    # When the current "initializing" claim was taken: a claim older than the stale
    # limit belongs to a process that died, and may be taken over.
    Column("init_claimed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("workspace_id", "handle"),
    sqlite_autoincrement=True,
)

storage = Table(
    "dockyard_storage",
    metadata,
    Column(
        "instance_id",
        ForeignKey("dockyard_instances.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("namespace", String(MAX_NAMESPACE_LENGTH), nullable=False),
    Column("key", String(MAX_KEY_LENGTH), nullable=False),
    Column("value", Text, nullable=False),  # canonical JSON
    # The primary key is the lookup index of get/set and the ordered range of items().
    PrimaryKeyConstraint("instance_id", "namespace", "key"),
)


# Background tasks (invoke_later). `seq` orders tasks that are due at the same time
# (first scheduled, first run); `id` is what callers see. A task is claimable when it is
# waiting, its `pending` dependencies are 0 and `run_after` has passed; a running task
# whose `lease_until` has passed belongs to a worker that died, and is claimable again.
tasks = Table(
    "dockyard_tasks",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("id", String(32), nullable=False, unique=True),
    Column(
        "instance_id",
        ForeignKey("dockyard_instances.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("scheduled_by", String(64)),  # the user whose call scheduled it
    Column("verb", String(8), nullable=False),
    Column("method", Text, nullable=False),
    Column("arguments", Text, nullable=False),  # canonical JSON
    Column("state", String(16), nullable=False),
    Column("pending", Integer, nullable=False),  # dependencies not yet succeeded
    Column("run_after", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("lost_runs", Integer, nullable=False),  # runs whose worker died
    Column("output", Text),  # JSON
    Column("mime_type", Text),
    Column("error_code", Text),
    Column("error_message", Text),
    Column("worker", Text),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    sqlite_autoincrement=True,
)
Index("ix_dockyard_tasks_due", tasks.c.state, tasks.c.pending, tasks.c.run_after, tasks.c.seq)

task_deps = Table(
    "dockyard_task_deps",
    metadata,
    Column("task_seq", ForeignKey("dockyard_tasks.seq", ondelete="CASCADE"), nullable=False),
    Column(
        "depends_on_seq",
        ForeignKey("dockyard_tasks.seq", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    PrimaryKeyConstraint("task_seq", "depends_on_seq"),
)


def register_migration(version: int) -> Callable[[Migration], Migration]:
    """Register the decorated function as the migration producing schema ``version``
    (from ``version - 1``)::

        @register_migration(2)
        def add_instance_labels(conn: Connection) -> None:
            conn.exec_driver_sql("ALTER TABLE dockyard_instances ADD COLUMN labels TEXT")
    """
    if version < 2:
        raise ValueError(f"migration to schema {version}: versions start at 1, migrations at 2")

    def register(migration: Migration) -> Migration:
        if version in MIGRATIONS:
            raise ValueError(
                f"two migrations to schema {version}: {MIGRATIONS[version]!r} and {migration!r}"
            )
        MIGRATIONS[version] = migration
        return migration

    return register


def read_version(conn: Connection) -> int | None:
    """The database's schema version, or None for a database without Dockyard tables."""
    if not inspect(conn).has_table(schema_version.name):
        return None
    version = conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1))
    return version.scalar_one_or_none()


def migrate(
    db: Database,
    target: int | None = None,
    migrations: dict[int, Migration] | None = None,
) -> int:
    """Bring the database to schema ``target`` (default `SCHEMA_VERSION`) and return it.

    Runs in one write-locked transaction, so processes starting together neither create
    the tables twice nor run a migration twice, and a failing migration changes nothing.

    :param migrations: version -> migration (default `MIGRATIONS`).
    :raises SchemaVersionError: the database is newer than ``target``, or a migration on
        the way is missing.
    """
    # Looked up at call time, not bound as defaults, so a registration made after this
    # module was imported (or a test's replacement) is seen.
    target = SCHEMA_VERSION if target is None else target
    migrations = MIGRATIONS if migrations is None else migrations
    with db.write() as conn:
        db.lock_schema(conn)
        current = read_version(conn)
        if current is None:
            # A new database: today's tables directly, no need to replay history.
            metadata.create_all(conn)
            conn.execute(schema_version.insert().values(id=1, version=target))
            return target
        if current > target:
            raise SchemaVersionError(
                f"database schema {current} is newer than this Dockyard ({target}); "
                "upgrade dockyard",
                suggestion="pip install --upgrade dockyard, or point DOCKYARD_DATABASE_URL "
                "(or DOCKYARD_HOME) at another database",
                details={"database": current, "code": target},
            )
        for version in range(current + 1, target + 1):
            migration = migrations.get(version)
            if migration is None:
                raise SchemaVersionError(
                    f"no migration from database schema {version - 1} to {version}",
                    suggestion="this Dockyard release is broken; report it, or install the "
                    "release that created the database",
                    details={"database": current, "code": target},
                )
            migration(conn)
            conn.execute(
                update(schema_version).where(schema_version.c.id == 1).values(version=version)
            )
        return target


@register_migration(2)
def _add_tasks(conn: Connection) -> None:
    """Schema 2: the background task tables (invoke_later)."""
    tasks.create(conn)
    task_deps.create(conn)
