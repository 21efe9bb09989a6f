"""The public API: a sorted ``__all__`` whose every name is importable and documented."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import dockyard

# The names ../shared/DESIGN.md promises that exist so far (later issues add the rest).
CONTRACT = {
    "ArgSpec",
    "Config",
    "ConfigError",
    "Dockyard",
    "PackageInstance",
    "compose",
    "DockyardError",
    "Invocable",
    "InvocableRequest",
    "InvocableResponse",
    "Invocation",
    "InvocationContext",
    "InvocationError",
    "MethodSpec",
    "PackageMixin",
    "PackageService",
    "PackageSpec",
    "RouteConflictError",
    "Verb",
    "endpoint",
    "get",
    "post",
}


def test_all_is_sorted_and_unique() -> None:
    assert list(dockyard.__all__) == sorted(set(dockyard.__all__))


def test_all_names_exist_and_are_documented() -> None:
    for name in dockyard.__all__:
        member = getattr(dockyard, name)
        assert inspect.getdoc(member), f"dockyard.{name} has no docstring"


def test_contract_names_are_exported() -> None:
    assert set(dockyard.__all__) >= CONTRACT, CONTRACT - set(dockyard.__all__)


def test_exports_map_matches_all_and_each_name_comes_from_its_module() -> None:
    assert set(dockyard._EXPORTS) == set(dockyard.__all__)
    for name, module in dockyard._EXPORTS.items():
        value = getattr(dockyard, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == module
        assert getattr(importlib.import_module(module), name) is getattr(dockyard, name)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        dockyard.Nope  # noqa: B018


def test_import_is_light() -> None:
    """Importing dockyard (as the CLI's listing does) must not import pydantic."""
    code = "import sys, dockyard; print('pydantic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
