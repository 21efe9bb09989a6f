"""`Store`: users, API keys, workspaces, instances, and the door to instance storage.

Every method is one short transaction on a pooled connection; statements are built
once, at import. Reads and single-statement writes run as single atomic statements;
read-modify-write operations take the write lock first (see `dockyard.store.database`).

Ownership: a workspace belongs to the user who created it; its instances belong to that
user. `get_instance` answers for any owner (the server decides who may see what);
`delete_instance` acts only on the caller's own.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Final

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from dockyard.core.discovery import is_handle
from dockyard.store.codec import canonical_json, load_json
from dockyard.store.database import Database
from dockyard.store.errors import (
    ApiKeyNotFoundError,
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidHandleError,
    StoreError,
    UserExistsError,
    UserNotFoundError,
    WorkspaceTakenError,
)
from dockyard.store.generation import Generation, GenerationCache
from dockyard.store.keys import KEY_MARKER, hash_key, key_prefix, new_key
from dockyard.store.location import (
    DATABASE_URL_ENV,
    HOME_ENV,
    parse_url,
    prepare_sqlite_dir,
    resolve_url,
)
from dockyard.store.records import ApiKey, InstanceRecord, User
from dockyard.store.schema import (
    api_keys,
    as_utc,
    instances,
    migrate,
    storage,
    users,
    workspaces,
)
from dockyard.store.storage import InstanceStorage, check_namespace_path
from dockyard.store.tasks import TaskQueue

__all__ = ["DEFAULT_INIT_STALE_AFTER", "Store"]

#: Seconds after which an "initializing" claim is presumed abandoned (its process died)
#: and may be taken over by the next `Store.claim_init`. A live claimer renews its claim
#: (`Store.renew_init`) well within this (the runtime: every quarter of it) for as long
#: as its ``instance_init`` runs, so a long init is never taken over, and a killed one is
#: re-run this long after its process died.
DEFAULT_INIT_STALE_AFTER: Final = 20.0

# Retries of an operation whose unique key was taken by a concurrent transaction between
# our read and our write (never on SQLite, where writers are serialized), or whose new
# random key prefix collided with an existing one (48 random bits: never, in practice).
_ATTEMPTS: Final = 3


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _check_handle(kind: str, handle: object) -> str:
    if not isinstance(handle, str) or not is_handle(handle):
        raise InvalidHandleError(kind, handle)
    return handle


# --- statements -------------------------------------------------------------------------

_USER = select(users.c.id, users.c.handle, users.c.created_at).where(
    users.c.handle == bindparam("b_handle")
)
_USER_ID = select(users.c.id).where(users.c.handle == bindparam("b_handle"))

_KEY_COLUMNS = (
    api_keys.c.id,
    users.c.handle.label("user"),
    api_keys.c.prefix,
    api_keys.c.name,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)
_KEYS_FROM = api_keys.join(users, api_keys.c.user_id == users.c.id)
_KEYS_OF_USER = (
    select(*_KEY_COLUMNS)
    .select_from(_KEYS_FROM)
    .where(users.c.handle == bindparam("b_user"))
    .order_by(api_keys.c.id)
)
# Locked (elsewhere than SQLite) for revocation, a read-modify-write.
_KEY_BY_ID = _KEYS_OF_USER.where(api_keys.c.id == bindparam("b_id")).with_for_update(of=api_keys)
_KEY_BY_PREFIX = _KEYS_OF_USER.where(api_keys.c.prefix == bindparam("b_prefix")).with_for_update(
    of=api_keys
)
_REVOKE = (
    update(api_keys)
    .where(api_keys.c.id == bindparam("b_id"), api_keys.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("b_now"))
)
# The whole of authentication: one lookup through the unique prefix index.
_AUTHENTICATE = (
    select(
        users.c.id,
        users.c.handle,
        users.c.created_at,
        api_keys.c.key_hash,
        api_keys.c.revoked_at,
    )
    .select_from(_KEYS_FROM)
    .where(api_keys.c.prefix == bindparam("b_prefix"))
)

_INSTANCE_EXISTS = select(instances.c.id).where(instances.c.id == bindparam("b_id"))

_WORKSPACE = select(workspaces.c.id, workspaces.c.owner_id).where(
    workspaces.c.handle == bindparam("b_workspace")
)
_WORKSPACE_LOCKED = _WORKSPACE.with_for_update()

_INSTANCES_FROM = instances.join(workspaces, instances.c.workspace_id == workspaces.c.id).join(
    users, workspaces.c.owner_id == users.c.id
)
_INSTANCE = select(
    instances.c.id,
    users.c.handle.label("owner"),
    workspaces.c.handle.label("workspace"),
    instances.c.handle,
    instances.c.package,
    instances.c.version,
    instances.c.config,
    instances.c.init_state,
    instances.c.init_error,
    instances.c.created_at,
    instances.c.updated_at,
).select_from(_INSTANCES_FROM)
_INSTANCE_BY_HANDLE = _INSTANCE.where(
    workspaces.c.handle == bindparam("b_workspace"),
    instances.c.handle == bindparam("b_handle"),
)
_INSTANCE_BY_ID = _INSTANCE.where(instances.c.id == bindparam("b_id"))
_INSTANCES_OF_OWNER = _INSTANCE.where(users.c.handle == bindparam("b_owner")).order_by(
    workspaces.c.handle, instances.c.handle
)
_OWN_INSTANCE_ID = (
    select(instances.c.id)
    .select_from(_INSTANCES_FROM)
    .where(
        users.c.handle == bindparam("b_owner"),
        workspaces.c.handle == bindparam("b_workspace"),
        instances.c.handle == bindparam("b_handle"),
    )
    .with_for_update(of=instances)
)
_DELETE_DATA = delete(storage).where(storage.c.instance_id == bindparam("b_id"))
_DELETE_INSTANCE = delete(instances).where(instances.c.id == bindparam("b_id"))
# The claim is one conditional UPDATE: atomic on every database, so of any number of
# concurrent claimers exactly one sees a changed row.
_CLAIM = (
    update(instances)
    .where(
        instances.c.id == bindparam("b_id"),
        or_(
            instances.c.init_state.in_(("pending", "failed")),
            and_(
                instances.c.init_state == "initializing",
                or_(
                    instances.c.init_claimed_at.is_(None),
                    instances.c.init_claimed_at < bindparam("b_cutoff"),
                ),
            ),
        ),
    )
    .values(
        init_state="initializing",
        init_claimed_at=bindparam("b_claimed"),
        updated_at=bindparam("b_updated"),
    )
)
_RENEW = (
    update(instances)
    .where(instances.c.id == bindparam("b_id"), instances.c.init_state == "initializing")
    .values(init_claimed_at=bindparam("b_claimed"))
)
_FINISH = (
    update(instances)
    .where(instances.c.id == bindparam("b_id"))
    .values(
        init_state=bindparam("b_state"),
        init_error=bindparam("b_error"),
        init_claimed_at=None,
        updated_at=bindparam("b_updated"),
    )
)


def _new_id(result: CursorResult[Any]) -> int:
    # The id the database gave the row just inserted.
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every insert here has an integer primary key
        raise StoreError("the database returned no id for a new row")
    new_id: int = key[0]
    return new_id


# Rows are typed Any: SQLAlchemy 2.0 and 2.1 type Row differently, and the columns are
# named by the statements above.
def _user(row: Any) -> User:
    return User(id=row.id, handle=row.handle, created_at=row.created_at)


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        user=row.user,
        prefix=row.prefix,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _instance(row: Any) -> InstanceRecord:
    return InstanceRecord(
        id=row.id,
        owner=row.owner,
        workspace=row.workspace,
        handle=row.handle,
        package=row.package,
        version=row.version,
        config=load_json(row.config),
        init_state=row.init_state,
        init_error=row.init_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class Store:
    """Dockyard's persistent state: users, API keys, workspaces, instances and their data.

    :param url: a SQLAlchemy database URL. Default: ``$DOCKYARD_DATABASE_URL``, else the
        SQLite file ``dockyard.db`` in ``home``.
    :param home: the Dockyard home directory (default ``$DOCKYARD_HOME``, else
        ``./.dockyard``), created with mode 0700 if missing. Ignored when a URL is given.
    :param init_stale_after: seconds after which an ``initializing`` claim not renewed
        since is presumed abandoned (see `claim_init` and `renew_init`).
    :raises StoreError: the URL is invalid, its driver is missing, the database cannot be
        opened, or its schema is newer than this Dockyard (`SchemaVersionError`).

    Creating a Store opens the database and creates or migrates its schema; `close` (or
    a ``with`` block) releases its connections. One Store is safe to share between
    threads; processes each open their own.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        init_stale_after: float = DEFAULT_INIT_STALE_AFTER,
    ) -> None:
        #: The database URL in use (as given: may hold a password; repr() hides it).
        self.url: str = resolve_url(url, home)
        #: Seconds after which an "initializing" claim may be taken over.
        self.init_stale_after = init_stale_after
        parsed = parse_url(self.url)
        prepare_sqlite_dir(parsed)
        self._db = Database(parsed)
        generation = (
            Generation.for_sqlite(parsed.database)
            if self._db.dialect == "sqlite"
            else Generation.disabled()
        )
        # Exact caches of the per-request checks; see dockyard.store.generation.
        self._generation = generation
        self._users_by_key: GenerationCache[str, User] = GenerationCache(generation)
        self._live_instances: GenerationCache[int, bool] = GenerationCache(generation)
        #: The background tasks of every instance (invoke_later).
        self.tasks = TaskQueue(self._db)
        try:
            #: The schema version of the database (after migration).
            self.schema_version: int = migrate(self._db)
        except DBAPIError as error:
            self._db.dispose()
            where = parsed.render_as_string(hide_password=True)
            raise StoreError(
                f"cannot open the database {where}: {error.orig}",
                code="store_unavailable",
                suggestion=f"check {DATABASE_URL_ENV} (or {HOME_ENV}): the database must be "
                "reachable and writable",
            ) from error
        except BaseException:
            self._db.dispose()
            raise

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for tools and tests (the methods are the contract).

        On SQLite its connections run each statement on its own (the driver's implicit
        BEGIN is off): for a multi-statement transaction, execute ``BEGIN`` (or
        ``BEGIN IMMEDIATE`` to write) first, inside ``engine.begin()``.
        """
        return self._db.engine

    def close(self) -> None:
        """Close every pooled connection. Using the store afterwards opens new ones."""
        self._db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._db.url.render_as_string(hide_password=True)!r})"

    # --- users ---------------------------------------------------------------------

    def create_user(self, handle: str) -> User:
        """Create the user ``handle``.

        :raises InvalidHandleError: ``handle`` is not a handle (lowercase letters, digits,
            dashes; 1-64 characters).
        :raises UserExistsError: the handle is taken (409).
        """
        _check_handle("user", handle)
        created_at = _now()
        try:
            with self._db.engine.begin() as conn:
                result = conn.execute(insert(users), {"handle": handle, "created_at": created_at})
        except IntegrityError:
            raise UserExistsError(handle) from None
        return User(id=_new_id(result), handle=handle, created_at=created_at)

    def get_user(self, handle: str) -> User | None:
        """The user ``handle``, or None."""
        with self._db.engine.connect() as conn:
            row = conn.execute(_USER, {"b_handle": handle}).first()
        return None if row is None else _user(row)

    def ensure_user(self, handle: str) -> User:
        """The user ``handle``, created if missing."""
        for _ in range(_ATTEMPTS):
            user = self.get_user(handle)
            if user is not None:
                return user
            try:
                return self.create_user(handle)
            except UserExistsError:
                continue  # created concurrently: read it
        raise StoreError(f"user {handle!r} is created and gone again repeatedly")

    # --- API keys ------------------------------------------------------------------

    def create_key(self, user: str, name: str | None = None) -> tuple[ApiKey, str]:
        """Create an API key for ``user``; return its record and the plaintext key.

        The plaintext is returned this once and never stored: only its SHA-256 and its
        non-secret prefix are kept.

        :param name: a label for listings ("laptop", "ci").
        :raises UserNotFoundError: no such user.
        """
        if name is not None and not isinstance(name, str):
            raise TypeError(f"key name is a str or None, not {type(name).__name__}")
        for _ in range(_ATTEMPTS):
            key = new_key()
            created_at = _now()
            try:
                with self._db.engine.begin() as conn:
                    user_id = conn.execute(_USER_ID, {"b_handle": user}).scalar()
                    if user_id is None:
                        raise UserNotFoundError(user)
                    result = conn.execute(
                        insert(api_keys),
                        {
                            "user_id": user_id,
                            "prefix": key.prefix,
                            "key_hash": key.hash,
                            "name": name,
                            "created_at": created_at,
                        },
                    )
            except IntegrityError:
                continue  # the random prefix is taken: draw another key
            record = ApiKey(
                id=_new_id(result),
                user=user,
                prefix=key.prefix,
                name=name,
                created_at=created_at,
                revoked_at=None,
            )
            return record, key.plaintext
        raise StoreError(f"could not create an API key for {user!r}: key prefixes keep clashing")

    def authenticate(self, key: str) -> User | None:
        """The user whose live API key ``key`` is, or None (unknown, revoked, malformed).

        One indexed lookup by the key's prefix, then a constant-time hash comparison.
        """
        prefix = key_prefix(key)
        if prefix is None:
            return None
        # Cached by the key's hash, so no lookup ever compares the secret itself.
        digest = hash_key(key)
        generation = self._generation.current()
        user = self._users_by_key.get(digest, generation)
        if user is not None:
            return user
        row = self._db.fetch_one(_AUTHENTICATE, {"b_prefix": prefix})
        if row is None:
            return None
        user_id, handle, created_at, key_hash, revoked_at = row
        if not hmac.compare_digest(digest, key_hash) or revoked_at is not None:
            return None
        user = User(id=user_id, handle=handle, created_at=as_utc(created_at))
        self._users_by_key.put(digest, user, generation)
        return user

    def list_keys(self, user: str) -> list[ApiKey]:
        """The API keys of ``user``, revoked ones included, oldest first ([] for an
        unknown user)."""
        with self._db.engine.connect() as conn:
            rows = conn.execute(_KEYS_OF_USER, {"b_user": user}).all()
        return [_api_key(row) for row in rows]

    def revoke_key(self, user: str, key_id_or_prefix: str | int) -> ApiKey:
        """Revoke one of ``user``'s API keys, named by id (int) or prefix (str; the whole
        key, or the prefix with ``dk_``, work too). Revoking a revoked key changes nothing.

        :raises ApiKeyNotFoundError: ``user`` has no such key (404).
        """
        if isinstance(key_id_or_prefix, bool) or not isinstance(key_id_or_prefix, (int, str)):
            raise TypeError(
                f"a key is named by its id (int) or prefix (str), "
                f"not {type(key_id_or_prefix).__name__}"
            )
        if isinstance(key_id_or_prefix, int):
            statement, params = _KEY_BY_ID, {"b_user": user, "b_id": key_id_or_prefix}
        else:
            prefix = key_prefix(key_id_or_prefix) or key_id_or_prefix.removeprefix(KEY_MARKER)
            statement, params = _KEY_BY_PREFIX, {"b_user": user, "b_prefix": prefix}
        with self._generation.writing(), self._db.write() as conn:
            row = conn.execute(statement, params).first()
            if row is None:
                raise ApiKeyNotFoundError(user, key_id_or_prefix)
            record = _api_key(row)
            if record.revoked_at is None:
                now = _now()
                conn.execute(_REVOKE, {"b_id": record.id, "b_now": now})
                record = ApiKey(
                    id=record.id,
                    user=record.user,
                    prefix=record.prefix,
                    name=record.name,
                    created_at=record.created_at,
                    revoked_at=now,
                )
        return record

    # --- instances -----------------------------------------------------------------

    def create_instance(
        self,
        *,
        owner: str,
        workspace: str,
        handle: str,
        package: str,
        version: str,
        config: Mapping[str, Any],
    ) -> InstanceRecord:
        """Create instance ``workspace/handle`` of ``package`` ``version`` for ``owner``,
        with its ``config`` frozen (stored as canonical JSON). Its init state is
        ``pending``; the workspace is created, owned by ``owner``, if missing.

        :raises InvalidHandleError: ``workspace`` or ``handle`` is not a handle (422).
        :raises UserNotFoundError: no user ``owner`` (404).
        :raises WorkspaceTakenError: the workspace belongs to another user (409).
        :raises InstanceExistsError: the instance exists; ``.existing`` is its record (409).
        :raises TypeError: ``config`` is not a JSON object.
        """
        _check_handle("workspace", workspace)
        _check_handle("instance", handle)
        for what, value in (("package", package), ("version", version)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"instance {what} must be a non-empty str, not {value!r}")
        if not isinstance(config, Mapping):
            raise TypeError(f"instance config must be a mapping, not {type(config).__name__}")
        config_json = canonical_json(dict(config), f"config of instance {workspace}/{handle}")
        for _ in range(_ATTEMPTS):
            try:
                return self._create_instance(
                    owner, workspace, handle, package, version, config_json
                )
            except IntegrityError:
                # A concurrent transaction created the workspace or the instance between
                # our read and our insert (not on SQLite): run again to see which.
                continue
        raise StoreError(f"could not create instance {workspace}/{handle}: it keeps conflicting")

    def _create_instance(
        self,
        owner: str,
        workspace: str,
        handle: str,
        package: str,
        version: str,
        config_json: str,
    ) -> InstanceRecord:
        now = _now()
        by_handle = {"b_workspace": workspace, "b_handle": handle}
        with self._db.write() as conn:
            owner_id = conn.execute(_USER_ID, {"b_handle": owner}).scalar()
            if owner_id is None:
                raise UserNotFoundError(owner)
            found = conn.execute(_WORKSPACE_LOCKED, {"b_workspace": workspace}).first()
            if found is None:
                conn.execute(
                    insert(workspaces),
                    {"handle": workspace, "owner_id": owner_id, "created_at": now},
                )
                found = conn.execute(_WORKSPACE, {"b_workspace": workspace}).one()
            # Ownership before existence: another user's instances stay unseen.
            if found.owner_id != owner_id:
                raise WorkspaceTakenError(workspace)
            existing = conn.execute(_INSTANCE_BY_HANDLE, by_handle).first()
            if existing is not None:
                raise InstanceExistsError(_instance(existing))
            result = self._db.insert_unless_exists(
                conn,
                instances,
                {
                    "workspace_id": found.id,
                    "handle": handle,
                    "package": package,
                    "version": version,
                    "config": config_json,
                    "init_state": "pending",
                    "init_error": None,
                    "init_claimed_at": None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            if result is None:
                existing = conn.execute(_INSTANCE_BY_HANDLE, by_handle).one()
                raise InstanceExistsError(_instance(existing))
        return InstanceRecord(
            id=_new_id(result),
            owner=owner,
            workspace=workspace,
            handle=handle,
            package=package,
            version=version,
            config=load_json(config_json),
            init_state="pending",
            init_error=None,
            created_at=now,
            updated_at=now,
        )

    def get_instance(self, workspace: str, handle: str) -> InstanceRecord | None:
        """Instance ``workspace/handle`` whoever owns it, or None."""
        with self._db.engine.connect() as conn:
            row = conn.execute(
                _INSTANCE_BY_HANDLE, {"b_workspace": workspace, "b_handle": handle}
            ).first()
        return None if row is None else _instance(row)

    def instance_exists(self, instance_id: int) -> bool:
        """Whether the instance ``instance_id`` still exists (one primary-key lookup).

        Ids are never reused, so a deleted and re-created instance has a new id: a cache
        holding the old one learns here that it is stale.
        """
        generation = self._generation.current()
        if self._live_instances.get(instance_id, generation):
            return True
        if self._db.fetch_one(_INSTANCE_EXISTS, {"b_id": instance_id}) is None:
            return False
        self._live_instances.put(instance_id, True, generation)
        return True

    def get_instance_by_id(self, instance_id: int) -> InstanceRecord | None:
        """Instance ``instance_id``, or None."""
        with self._db.engine.connect() as conn:
            row = conn.execute(_INSTANCE_BY_ID, {"b_id": instance_id}).first()
        return None if row is None else _instance(row)

    def list_instances(self, owner: str) -> list[InstanceRecord]:
        """The instances of ``owner``, sorted by workspace, then handle."""
        with self._db.engine.connect() as conn:
            rows = conn.execute(_INSTANCES_OF_OWNER, {"b_owner": owner}).all()
        records = [_instance(row) for row in rows]
        # The database's collation may not sort "-" by code point; the contract does.
        records.sort(key=lambda record: (record.workspace, record.handle))
        return records

    def delete_instance(self, owner: str, workspace: str, handle: str) -> bool:
        """Delete ``owner``'s instance ``workspace/handle`` and all its stored data;
        return whether there was one (False too for another user's instance)."""
        params = {"b_owner": owner, "b_workspace": workspace, "b_handle": handle}
        with self._generation.writing(), self._db.write() as conn:
            instance_id = conn.execute(_OWN_INSTANCE_ID, params).scalar()
            if instance_id is None:
                return False
            # Explicitly, not through ON DELETE CASCADE: that needs foreign keys switched
            # on, which not every database connection has.
            conn.execute(_DELETE_DATA, {"b_id": instance_id})
            conn.execute(_DELETE_INSTANCE, {"b_id": instance_id})
        return True

    def claim_init(self, instance_id: int, *, stale_after: float | None = None) -> bool:
        """Claim the right to run ``instance_init`` for an instance; True means the
        caller must run it, then report with `finish_init`.

        Atomic: of any number of concurrent claimers, exactly one gets True. Claimable are
        instances ``pending`` or ``failed`` (a retry), and ``initializing`` ones whose
        claim was neither taken nor renewed (`renew_init`) in the last ``stale_after``
        seconds (default `init_stale_after`): their claimer is presumed dead.

        :raises InstanceNotFoundError: no instance has this id.
        """
        now = _now()
        stale = self.init_stale_after if stale_after is None else stale_after
        params = {
            "b_id": instance_id,
            "b_cutoff": now - timedelta(seconds=stale),
            "b_claimed": now,
            "b_updated": now,
        }
        with self._db.engine.begin() as conn:
            claimed = conn.execute(_CLAIM, params).rowcount == 1
            if claimed:
                return True
            if conn.execute(_INSTANCE_EXISTS, {"b_id": instance_id}).first() is None:
                raise InstanceNotFoundError(instance_id)
        return False

    def renew_init(self, instance_id: int) -> bool:
        """Renew the ``initializing`` claim of an instance (its claimer's heartbeat): it
        is taken over only `init_stale_after` seconds after the last renewal. False if the
        instance is not initializing (any more)."""
        params = {"b_id": instance_id, "b_claimed": _now()}
        with self._db.engine.begin() as conn:
            return conn.execute(_RENEW, params).rowcount == 1

    def finish_init(self, instance_id: int, error: str | None) -> InstanceRecord:
        """Record the outcome of ``instance_init``: ``ready`` when ``error`` is None,
        else ``failed`` with ``error`` as its message (the next `claim_init` may retry).

        :raises InstanceNotFoundError: no instance has this id.
        """
        if error is not None and not isinstance(error, str):
            raise TypeError(f"error is a str or None, not {type(error).__name__}")
        params = {
            "b_id": instance_id,
            "b_state": "ready" if error is None else "failed",
            "b_error": error,
            "b_updated": _now(),
        }
        with self._db.write() as conn:
            if not conn.execute(_FINISH, params).rowcount:
                raise InstanceNotFoundError(instance_id)
            row = conn.execute(_INSTANCE_BY_ID, {"b_id": instance_id}).one()
        return _instance(row)

    # --- data ----------------------------------------------------------------------

    def storage(self, instance_id: int, namespace: str = "") -> InstanceStorage:
        """The key-value storage of instance ``instance_id``, in namespace path
        ``namespace`` (``""``: the root; ``"a/b"``: child ``b`` of child ``a``).

        :raises InstanceNotFoundError: no instance has this id.
        """
        check_namespace_path(namespace)
        if self._db.fetch_one(_INSTANCE_EXISTS, {"b_id": instance_id}) is None:
            raise InstanceNotFoundError(instance_id)
        return InstanceStorage(self._db, instance_id, namespace)
