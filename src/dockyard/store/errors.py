"""Errors raised by the store.

Each derives from `StoreError` (and so from `DockyardError`) and from the builtin it
means, so ``except LookupError`` keeps working for callers that do not know Dockyard::

    StoreError (DockyardError, RuntimeError)             500: the database cannot be used
    ├── SchemaVersionError (StoreError)                  500: schema too new, or no migration
    ├── InvalidHandleError (StoreError, ValueError)      422: a handle breaks the rules
    ├── UserExistsError (StoreError, ValueError)         409: the user handle is taken
    ├── WorkspaceTakenError (StoreError, ValueError)     409: another user owns the workspace
    ├── InstanceExistsError (StoreError, ValueError)     409: it exists (carried as .existing)
    ├── UserNotFoundError (StoreError, LookupError)      404
    ├── ApiKeyNotFoundError (StoreError, LookupError)    404
    └── InstanceNotFoundError (StoreError, LookupError)  404
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.core.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.store.records import InstanceRecord

__all__ = [
    "ApiKeyNotFoundError",
    "InstanceExistsError",
    "InstanceNotFoundError",
    "InvalidHandleError",
    "SchemaVersionError",
    "StoreError",
    "UserExistsError",
    "UserNotFoundError",
    "WorkspaceTakenError",
]

HANDLE_RULES = "lowercase letters, digits and dashes, 1-64 characters, no leading or trailing dash"


class StoreError(DockyardError, RuntimeError):
    """The store cannot do what was asked: a database that cannot be opened, an unusable
    URL, or any more specific store error below."""

    default_code = "store_error"
    default_status = 500


class SchemaVersionError(StoreError):
    """The database schema is newer than this Dockyard knows, or no migration leads from
    its version to the current one."""

    default_code = "schema_version"


class InvalidHandleError(StoreError, ValueError):
    """A user, workspace or instance handle breaks the handle rules.

    :param kind: what the handle names ("user", "workspace", "instance").
    :param handle: the rejected value.
    """

    default_code = "invalid_handle"
    default_status = 422

    def __init__(self, kind: str, handle: object) -> None:
        self.kind = kind
        self.handle = handle
        super().__init__(
            f"invalid {kind} handle {handle!r}",
            suggestion=f"use {HANDLE_RULES}",
            details={"kind": kind, "handle": repr(handle)},
        )


class UserExistsError(StoreError, ValueError):
    """A user with this handle exists already."""

    default_code = "user_exists"
    default_status = 409

    def __init__(self, handle: str) -> None:
        self.handle = handle
        super().__init__(
            f"user {handle!r} exists already",
            suggestion="pick another handle, or use ensure_user to reuse the existing user",
            details={"user": handle},
        )


class WorkspaceTakenError(StoreError, ValueError):
    """The workspace handle belongs to another user.

    The message says nothing about that user: workspace handles are global, and who owns
    one is not the caller's business.
    """

    default_code = "workspace_taken"
    default_status = 409

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        super().__init__(
            f"workspace handle taken: {workspace!r} belongs to another user",
            suggestion="choose another workspace handle",
            details={"workspace": workspace},
        )


class InstanceExistsError(StoreError, ValueError):
    """An instance with this (workspace, handle) exists already.

    :param existing: the record of the existing instance, so the caller can compare
        configs and versions (and reuse it when they match) without another query.
    """

    default_code = "instance_exists"
    default_status = 409

    def __init__(self, existing: InstanceRecord) -> None:
        self.existing = existing
        super().__init__(
            f"instance {existing.workspace}/{existing.handle} exists already "
            f"(package {existing.package} {existing.version})",
            suggestion="use the existing instance, or choose another instance handle",
            details={"workspace": existing.workspace, "instance": existing.handle},
        )


class UserNotFoundError(StoreError, LookupError):
    """No user has this handle."""

    default_code = "user_not_found"
    default_status = 404

    def __init__(self, handle: str) -> None:
        self.handle = handle
        super().__init__(
            f"no user {handle!r}",
            suggestion="create the user first (Store.ensure_user or Store.create_user)",
            details={"user": handle},
        )


class ApiKeyNotFoundError(StoreError, LookupError):
    """The user has no API key with this id or prefix."""

    default_code = "api_key_not_found"
    default_status = 404

    def __init__(self, user: str, key: str | int) -> None:
        self.user = user
        self.key = key
        super().__init__(
            f"user {user!r} has no API key {key!r}",
            suggestion="list the user's keys (dockyard keys list) for their ids and prefixes",
            details={"user": user, "key": key},
        )


class InstanceNotFoundError(StoreError, LookupError):
    """No instance has this id."""

    default_code = "instance_id_not_found"
    default_status = 404

    def __init__(self, instance_id: int) -> None:
        self.instance_id = instance_id
        super().__init__(
            f"no instance with id {instance_id}",
            suggestion="the instance was deleted, or the id is wrong; look it up by handle again",
            details={"instance_id": instance_id},
        )
