"""The store's records: immutable snapshots of rows, detached from the database.

They hold plain values only (no session, no lazy loading), so they can be cached,
passed between threads and compared freely. Timestamps are timezone-aware, in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

__all__ = [
    "INIT_STATES",
    "ApiKey",
    "InitState",
    "InstanceRecord",
    "User",
]

#: The states of an instance's ``instance_init``.
InitState = Literal["pending", "initializing", "ready", "failed"]

#: Every `InitState`, in lifecycle order.
INIT_STATES: Final = ("pending", "initializing", "ready", "failed")


@dataclass(frozen=True, slots=True)
class User:
    """A user: owns workspaces (and so instances) and API keys."""

    id: int
    handle: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's public facts. The key itself is never stored, and its hash never
    leaves the store.

    :ivar prefix: the first characters after ``dk_``: not secret, enough to tell keys apart
        in listings and to find a key's row without scanning.
    """

    id: int
    user: str
    prefix: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked (and so no longer authenticates)."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """A package instance: its handles, package, frozen config and ``instance_init`` state.

    ``config`` is a fresh dict per record (decoded from the stored canonical JSON), so
    changing it changes nothing in the store; it is left out of the hash.
    """

    id: int
    owner: str
    workspace: str
    handle: str
    package: str
    version: str
    config: dict[str, Any] = field(hash=False)
    init_state: str
    init_error: str | None
    created_at: datetime
    updated_at: datetime
