"""The public API: a sorted ``__all__`` whose every name is importable and documented."""

from __future__ import annotations

import inspect

import dockyard

# The names ../shared/DESIGN.md promises that exist so far (later issues add the rest).
CONTRACT = {
    "ArgSpec",
    "Config",
    "ConfigError",
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


def test_public_names_are_all_exported() -> None:
    public = {
        name
        for name, value in vars(dockyard).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(dockyard.__all__)
