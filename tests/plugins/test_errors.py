"""Tests for dockyard.plugins.errors: each error's code, status and builtin base."""

from __future__ import annotations

import json

import pytest

import dockyard.client
import dockyard.plugins.errors as plugin_errors
from dockyard.core.errors import ArgumentError, DockyardError, InvocationError
from dockyard.plugins.errors import (
    ContentError,
    ContentTooLargeError,
    ImportFailedError,
    ImportNotFoundError,
    ImportRefusedError,
    UnsupportedContentTypeError,
)

EXPECTED = [
    (ContentError, "invalid_content", 422, (ArgumentError, ValueError)),
    (UnsupportedContentTypeError, "unsupported_media_type", 415, (InvocationError, ValueError)),
    (ImportRefusedError, "import_refused", 403, (InvocationError, PermissionError)),
    (ImportFailedError, "import_failed", 502, (InvocationError, OSError)),
    (ImportNotFoundError, "import_not_found", 404, (ImportFailedError, FileNotFoundError)),
    (ContentTooLargeError, "content_too_large", 413, (InvocationError, ValueError)),
]


def test_every_exported_error_is_listed() -> None:
    assert sorted(plugin_errors.__all__) == sorted(cls.__name__ for cls, *_ in EXPECTED)


@pytest.mark.parametrize(("cls", "code", "status", "bases"), EXPECTED)
def test_code_status_and_bases(
    cls: type[DockyardError], code: str, status: int, bases: tuple[type, ...]
) -> None:
    error = cls("what went wrong", suggestion="how to fix it", details={"url": "x"})
    assert (error.code, error.status) == (code, status)
    assert isinstance(error, bases)
    assert str(error) == "what went wrong (how to fix it)"
    assert error.to_dict()["error"]["code"] == code
    with pytest.raises(bases[-1]):
        raise error


def test_a_status_may_be_given() -> None:
    assert ImportFailedError("root missing", status=500).status == 500


def test_codes_are_unique_among_all_dockyard_errors() -> None:
    def subclasses(cls: type[DockyardError]) -> list[type[DockyardError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in subclasses(sub))]

    ours = {cls.default_code for cls, *_ in EXPECTED}
    others = [
        cls
        for cls in subclasses(DockyardError)
        if cls.__module__.startswith("dockyard.") and cls.__module__ != plugin_errors.__name__
    ]
    assert ours.isdisjoint(cls.default_code for cls in others)


@pytest.mark.parametrize(("cls", "code", "status", "bases"), EXPECTED)
def test_the_client_maps_each_code_back_to_its_class(
    cls: type[DockyardError], code: str, status: int, bases: tuple[type, ...]
) -> None:
    body = json.dumps({"error": {"code": code, "message": "m", "suggestion": "s"}}).encode()
    error = dockyard.client.error_from_body(status, body)
    assert type(error) is cls
    assert (error.message, error.status, error.suggestion) == ("m", status, "s")
