"""`InstanceStorage`: the persistent key-value store private to one instance.

Values are JSON, stored as canonical JSON text. Keys live in namespaces: an instance's
root namespace is ``""``, and ``storage.namespace("search")`` opens a child (stored as
the path ``"search"``, its own child as ``"search/cache"``), so each mixin can have a
section of its own whose keys never collide with, nor show up in, another's.

Every call is one statement (``update``: one short transaction) on a pooled connection,
with statements built at import and compiled once per database, so a ``get`` costs one
indexed lookup and little Python (see `dockyard.store.database`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import and_, bindparam, delete, insert, select, update

from dockyard.store.codec import canonical_json, load_json
from dockyard.store.schema import MAX_KEY_LENGTH, MAX_NAMESPACE_LENGTH, storage

if TYPE_CHECKING:
    from dockyard.store.database import Database

__all__ = ["NAMESPACE_SEPARATOR", "InstanceStorage", "Namespace", "check_namespace_path"]

#: Joins namespace names into the stored path ("search/cache"); names may not contain it,
#: so two different (parent, name) pairs can never produce the same path.
NAMESPACE_SEPARATOR: Final = "/"

# Bind names are prefixed: an UPDATE may not reuse a column's name ("value", "key") as
# the name of a bind parameter in its WHERE clause.
_ROW = and_(
    storage.c.instance_id == bindparam("b_instance"),
    storage.c.namespace == bindparam("b_namespace"),
    storage.c.key == bindparam("b_key"),
)
_GET = select(storage.c.value).where(_ROW)
# FOR UPDATE locks the row against other writers until commit; SQLite has no row locks
# (and SQLAlchemy leaves the clause out there), where BEGIN IMMEDIATE locks the database.
_GET_FOR_UPDATE = _GET.with_for_update()
_INSERT = insert(storage).values(
    instance_id=bindparam("b_instance"),
    namespace=bindparam("b_namespace"),
    key=bindparam("b_key"),
    value=bindparam("b_value"),
)
_UPDATE = update(storage).where(_ROW).values(value=bindparam("b_value"))
_DELETE = delete(storage).where(_ROW)
_NAMESPACE = and_(
    storage.c.instance_id == bindparam("b_instance"),
    storage.c.namespace == bindparam("b_namespace"),
)
_ITEMS = select(storage.c.key, storage.c.value).where(_NAMESPACE).order_by(storage.c.key)
# A literal prefix as a range of keys, [prefix, successor): exact under SQLite's binary
# collation (UTF-8 bytes sort in code point order, as Python strings do), no LIKE
# wildcards to escape, and it walks the primary-key index.
_ITEMS_FROM = _ITEMS.where(storage.c.key >= bindparam("b_low"))
_ITEMS_RANGE = _ITEMS_FROM.where(storage.c.key < bindparam("b_high"))
# Elsewhere the collation may not sort by code point (PostgreSQL's "en_US" does not), so
# a range could miss keys: LIKE with escaped wildcards, re-checked in Python in case a
# collation makes LIKE case-insensitive.
_LIKE_ESCAPE: Final = "/"
_ITEMS_LIKE = _ITEMS.where(storage.c.key.like(bindparam("b_pattern"), escape=_LIKE_ESCAPE))


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching strings that start with ``prefix`` taken literally."""
    for special in (_LIKE_ESCAPE, "%", "_"):  # the escape character itself first
        prefix = prefix.replace(special, _LIKE_ESCAPE + special)
    return prefix + "%"


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"storage keys are str, not {type(key).__name__} ({key!r})")
    if not key:
        raise ValueError("storage key is empty: use a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(
            f"storage key {key[:40]!r}... is {len(key)} characters long; "
            f"the limit is {MAX_KEY_LENGTH}: hash long keys, or split them into namespaces"
        )
    return key


def check_namespace_path(path: object) -> str:
    """Validate a namespace path: ``""`` (the root) or non-empty names joined by ``/``,
    at most `MAX_NAMESPACE_LENGTH` characters. Returns it."""
    if not isinstance(path, str):
        raise TypeError(f"storage namespaces are str, not {type(path).__name__} ({path!r})")
    if path and not all(path.split(NAMESPACE_SEPARATOR)):
        raise ValueError(
            f"invalid storage namespace {path!r}: names joined by {NAMESPACE_SEPARATOR!r}, "
            "none empty"
        )
    if len(path) > MAX_NAMESPACE_LENGTH:
        raise ValueError(
            f"storage namespace {path[:40]!r}... is {len(path)} characters long; "
            f"the limit is {MAX_NAMESPACE_LENGTH}"
        )
    return path


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None if
    there is none: the prefix is all U+10FFFF)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:  # surrogates are not characters, and do not encode in UTF-8
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


class Namespace(str):
    """The path of a storage's namespace (a `str`: ``""`` for the root, else
    ``"name"`` or ``"parent/name"``), also callable to open a child namespace::

        storage.namespace == "search"
        cache = storage.namespace("cache")      # same as storage.child("cache")
    """

    _storage: InstanceStorage

    def __new__(cls, path: str, owner: InstanceStorage) -> Namespace:
        """Make the path ``path`` of ``owner``."""
        self = super().__new__(cls, path)
        self._storage = owner
        return self

    def __call__(self, name: str) -> InstanceStorage:
        """Open the child namespace ``name`` of the storage this path belongs to."""
        return self._storage.child(name)


class InstanceStorage:
    """A persistent key-value store private to one instance (and one namespace of it).

    Keys are non-empty strings; values are JSON (None, bool, int, finite float, str,
    lists, dicts with str keys), refused with a `TypeError` naming the key otherwise.
    Tuples are stored as JSON arrays and read back as lists.

    Get one from `Store.storage`; children from `namespace` / `child`.
    """

    __slots__ = ("_db", "_instance_id", "_path")

    def __init__(self, db: Database, instance_id: int, namespace: str = "") -> None:
        """Storage of instance ``instance_id`` in namespace path ``namespace`` (not
        checked to exist: `Store.storage` does that)."""
        self._db = db
        self._instance_id = instance_id
        self._path = check_namespace_path(namespace)

    @property
    def instance_id(self) -> int:
        """The id of the instance this storage belongs to."""
        return self._instance_id

    @property
    def namespace(self) -> Namespace:
        """This storage's namespace path (a str); call it with a name to open a child:
        ``storage.namespace("search")``."""
        return Namespace(self._path, self)

    def child(self, name: str) -> InstanceStorage:
        """The child namespace ``name``: its keys never collide with this namespace's
        (nor any other's), and ``items()`` of either never shows the other's keys."""
        if not isinstance(name, str):
            raise TypeError(f"namespace names are str, not {type(name).__name__} ({name!r})")
        if not name or NAMESPACE_SEPARATOR in name:
            raise ValueError(
                f"invalid namespace name {name!r}: use a non-empty name without "
                f"{NAMESPACE_SEPARATOR!r} (call namespace() again for a deeper level)"
            )
        path = f"{self._path}{NAMESPACE_SEPARATOR}{name}" if self._path else name
        return InstanceStorage(self._db, self._instance_id, path)

    def _params(self, key: str) -> dict[str, Any]:
        return {"b_instance": self._instance_id, "b_namespace": self._path, "b_key": key}

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` if there is none."""
        row = self._db.fetch_one(_GET, self._params(_check_key(key)))
        return default if row is None else load_json(row[0])

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON) under ``key``, replacing any value there."""
        text = canonical_json(value, f"storage key {_check_key(key)!r}")
        self._db.upsert(
            storage,
            {"instance_id": self._instance_id, "namespace": self._path, "key": key, "value": text},
        )

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was there."""
        return self._db.execute(_DELETE, self._params(_check_key(key))) > 0

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        """Every (key, value) of this namespace whose key starts with ``prefix`` (taken
        literally: ``%`` and ``_`` are characters like any other), sorted by key."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix is a str, not {type(prefix).__name__} ({prefix!r})")
        params: dict[str, Any] = {"b_instance": self._instance_id, "b_namespace": self._path}
        if not prefix:
            statement = _ITEMS
        elif self._db.dialect == "sqlite":
            params["b_low"] = prefix
            high = _successor(prefix)
            if high is None:
                statement = _ITEMS_FROM
            else:
                statement = _ITEMS_RANGE
                params["b_high"] = high
        else:
            statement = _ITEMS_LIKE
            params["b_pattern"] = _like_prefix(prefix)
        rows = self._db.fetch_all(statement, params)
        result = [(key, load_json(raw)) for key, raw in rows if key.startswith(prefix)]
        # ORDER BY follows the database's collation; the contract is code point order.
        result.sort(key=lambda item: item[0])
        return result

    def update(self, key: str, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace the value under ``key`` with ``fn(value)`` and return the
        new value; ``fn`` gets ``default`` when the key is missing.

        Atomic across threads and processes: the row (on SQLite, the database) stays
        write-locked from the read to the commit, so concurrent updates never lose one
        another's changes. Keep ``fn`` quick and free of side effects: other writers
        wait while it runs, and where rows are locked (not SQLite) it may run again if
        another transaction created the key meanwhile. If ``fn`` raises, nothing changes.
        """
        _check_key(key)
        params = self._params(key)
        what = f"storage key {key!r}"
        with self._db.transaction() as transaction:
            while True:
                row = transaction.fetch_one(_GET_FOR_UPDATE, params)
                new = fn(default if row is None else load_json(row[0]))
                params["b_value"] = canonical_json(new, what)
                if row is not None:
                    transaction.execute(_UPDATE, params)
                    return new
                if transaction.insert_unless_exists(_INSERT, params):
                    return new
                # Created by another transaction since the read (FOR UPDATE cannot lock a
                # row that does not exist yet): read it again, locked this time.

    def __repr__(self) -> str:
        return f"InstanceStorage(instance_id={self._instance_id}, namespace={self._path!r})"
