"""Dockyard's persistence: users, API keys, workspaces, instances and per-instance data,
on SQLAlchemy (an SQLite file under ``$DOCKYARD_HOME`` by default, any SQLAlchemy URL
through ``DOCKYARD_DATABASE_URL``).

Importing this package runs nothing: names load on first use (PEP 562), so code that
only needs the error classes does not import SQLAlchemy, and no engine or file exists
until a `Store` is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard._lazy import lazy_exports

if TYPE_CHECKING:
    from dockyard.store.codec import canonical_json
    from dockyard.store.errors import (
        ApiKeyNotFoundError,
        InstanceExistsError,
        InstanceNotFoundError,
        InvalidHandleError,
        SchemaVersionError,
        StoreError,
        UserExistsError,
        UserNotFoundError,
        WorkspaceTakenError,
    )
    from dockyard.store.records import INIT_STATES, ApiKey, InitState, InstanceRecord, User
    from dockyard.store.schema import SCHEMA_VERSION, register_migration
    from dockyard.store.storage import InstanceStorage, Namespace
    from dockyard.store.store import Store

# name -> module that defines it
_EXPORTS: dict[str, str] = {
    "INIT_STATES": "dockyard.store.records",
    "SCHEMA_VERSION": "dockyard.store.schema",
    "ApiKey": "dockyard.store.records",
    "ApiKeyNotFoundError": "dockyard.store.errors",
    "InitState": "dockyard.store.records",
    "InstanceExistsError": "dockyard.store.errors",
    "InstanceNotFoundError": "dockyard.store.errors",
    "InstanceRecord": "dockyard.store.records",
    "InstanceStorage": "dockyard.store.storage",
    "InvalidHandleError": "dockyard.store.errors",
    "Namespace": "dockyard.store.storage",
    "SchemaVersionError": "dockyard.store.errors",
    "Store": "dockyard.store.store",
    "StoreError": "dockyard.store.errors",
    "User": "dockyard.store.records",
    "UserExistsError": "dockyard.store.errors",
    "UserNotFoundError": "dockyard.store.errors",
    "WorkspaceTakenError": "dockyard.store.errors",
    "canonical_json": "dockyard.store.codec",
    "register_migration": "dockyard.store.schema",
}

__all__ = [
    "INIT_STATES",
    "SCHEMA_VERSION",
    "ApiKey",
    "ApiKeyNotFoundError",
    "InitState",
    "InstanceExistsError",
    "InstanceNotFoundError",
    "InstanceRecord",
    "InstanceStorage",
    "InvalidHandleError",
    "Namespace",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "User",
    "UserExistsError",
    "UserNotFoundError",
    "WorkspaceTakenError",
    "canonical_json",
    "register_migration",
]


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
