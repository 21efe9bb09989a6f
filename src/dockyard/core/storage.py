"""The key-value storage protocol packages and mixins see as ``self.storage``.

Core defines only the shape; the store (`dockyard.store`) implements it. A package
instance made by the runtime gets storage private to it; each mixin sees its own
namespace of it (named by its ``config_key``), so two mixins never clash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["KeyValueStorage"]


class KeyValueStorage(Protocol):
    """Persistent JSON key-value storage of one instance (or one namespace of it)."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key``."""

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether it existed."""

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        """``(key, value)`` pairs whose key starts with ``prefix``, sorted by key."""

    def update(self, key: str, fn: Callable[[Any], Any], default: Any = None) -> Any:
        """Atomically replace the value with ``fn(value)`` (``fn(default)`` if missing)."""

    def namespace(self, name: str) -> KeyValueStorage:
        """A child namespace whose keys never collide with this one's."""
