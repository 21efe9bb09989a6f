"""`dockyard.mixins.errors`: statuses, codes distinct from every other Dockyard code, and
the builtin exception each one also is."""

from __future__ import annotations

import importlib

import pytest

from dockyard import ArgumentError, DockyardError
from dockyard.mixins import errors

EXPECTED = {
    errors.InvalidFileDataError: (422, ValueError),
    errors.UnknownBlockifierError: (422, ValueError),
    errors.FileNotFoundInStoreError: (404, LookupError),
    errors.FileTooLargeError: (413, ValueError),
    errors.NoBlockifierError: (415, ValueError),
    errors.NotReadyError: (409, LookupError),
}


def _all_error_classes() -> list[type[DockyardError]]:
    found: list[type[DockyardError]] = []
    queue: list[type[DockyardError]] = [DockyardError]
    while queue:
        cls = queue.pop()
        found.append(cls)
        queue.extend(cls.__subclasses__())
    return found


def test_every_error_is_exported_and_listed() -> None:
    assert sorted(errors.__all__) == sorted(cls.__name__ for cls in EXPECTED)


@pytest.mark.parametrize(("cls", "expected"), EXPECTED.items())
def test_status_and_builtin(cls: type[DockyardError], expected: tuple[int, type]) -> None:
    status, builtin = expected
    error = cls("what", suggestion="how")
    assert error.status == status
    assert isinstance(error, builtin)
    assert error.to_dict()["error"]["suggestion"] == "how"
    assert cls.__doc__


def test_the_422s_are_argument_errors() -> None:
    assert issubclass(errors.InvalidFileDataError, ArgumentError)
    assert issubclass(errors.UnknownBlockifierError, ArgumentError)


def test_codes_are_distinct_from_every_other_dockyard_code() -> None:
    # Loaded so that the runtime's, store's and plugins' errors are subclasses too.
    for module in ("dockyard.client", "dockyard.plugins.errors", "dockyard.runtime"):
        importlib.import_module(module)

    ours = {cls.default_code: cls for cls in EXPECTED}
    assert len(ours) == len(EXPECTED)
    for cls in _all_error_classes():
        if cls.default_code in ours:
            assert issubclass(cls, ours[cls.default_code]), (cls, cls.default_code)
