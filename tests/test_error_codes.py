"""Every error class has its own code, so clients can map an HTTP error back to its class."""

from __future__ import annotations

import json

import dockyard.client
import dockyard.core.discovery
import dockyard.core.hooks
import dockyard.mixins.errors
import dockyard.plugins.errors
import dockyard.runtime
import dockyard.store.errors
from dockyard.core.errors import DockyardError


def _all_subclasses(cls: type[DockyardError]) -> list[type[DockyardError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def test_error_codes_are_unique() -> None:
    by_code: dict[str, list[str]] = {}
    for cls in _all_subclasses(DockyardError):
        if cls.__module__.startswith("dockyard."):
            by_code.setdefault(cls.default_code, []).append(cls.__qualname__)
    shared = {code: names for code, names in by_code.items() if len(set(names)) > 1}
    assert shared == {}


def test_client_maps_every_code_back_to_its_class() -> None:
    for cls in _all_subclasses(DockyardError):
        if cls.__module__.startswith("dockyard."):
            body = json.dumps({"error": {"code": cls.default_code, "message": "m"}}).encode()
            error = dockyard.client.error_from_body(cls.default_status, body)
            assert type(error) is cls
            assert (error.message, error.status) == ("m", cls.default_status)
