"""Route decorators: ``@get``, ``@post``, ``@endpoint``, and the records they leave.

A decorator stores ONE typed record, a `RouteMarker`, under ONE attribute
(`ROUTE_ATTR`) of the function, and returns the function itself: the class
machinery in `dockyard.core.service` collects the markers once per class.
Stacking decorators (``@get("x")`` over ``@post("x")``) adds routes to the same
marker, so one method can answer several verbs.
"""

from __future__ import annotations

import enum
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FunctionType, MappingProxyType
from typing import Any, TypeVar

__all__ = [
    "ROUTE_ATTR",
    "ConfigValue",
    "Route",
    "RouteMarker",
    "Verb",
    "endpoint",
    "get",
    "normalize_path",
    "post",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The one attribute a route decorator sets on a function.
ROUTE_ATTR = "dockyard_route"

_ASYNC_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE

#: The JSON-primitive values route config may hold.
ConfigValue = str | bool | int | float


class Verb(str, enum.Enum):
    """HTTP verbs a route may answer."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"

    @classmethod
    def parse(cls, verb: Verb | str) -> Verb:
        """Return the `Verb` for ``verb`` (any case); raise ValueError naming the accepted ones."""
        if isinstance(verb, Verb):
            return verb
        try:
            return _VERBS[verb.upper()]
        except (KeyError, AttributeError):
            accepted = ", ".join(v.value for v in cls)
            raise ValueError(f"unknown HTTP verb {verb!r}; use one of {accepted}") from None


_VERBS = {v.value: v for v in Verb}


def normalize_path(path: str) -> str:
    """Return ``path`` with exactly one leading slash and no empty segments.

    ``"greet"``, ``"/greet"``, ``"//greet"`` and ``"greet/"`` all become ``"/greet"``.

    :param path: a route path as written by a user or sent by a client.
    :raises ValueError: if the path is empty or not a string.
    """
    if not isinstance(path, str):
        raise ValueError(f"route path must be a string, got {type(path).__name__}")
    # Fast path: already normal (the common case on every request).
    if len(path) > 1 and path[0] == "/" and path[-1] != "/" and "//" not in path:  # noqa: SIM102
        if path == path.strip():
            return path
    segments = [s for s in path.strip().split("/") if s]
    if not segments:
        raise ValueError(f"route path {path!r} is empty; give a name such as 'greet'")
    return "/" + "/".join(segments)


@dataclass(frozen=True)
class Route:
    """One (verb, path) a function answers, with its config.

    :param verb: the HTTP verb.
    :param path: the normalised path.
    :param config: JSON-primitive options (``public``, ``timeout``, ...), read-only.
    """

    verb: Verb
    path: str
    config: Mapping[str, ConfigValue]

    @property
    def public(self) -> bool:
        """Whether the route may be called without an API key."""
        return bool(self.config.get("public", False))


@dataclass(frozen=True)
class RouteMarker:
    """The record a route decorator leaves on a function: every route it answers."""

    routes: tuple[Route, ...]


def _check_config(config: Mapping[str, Any], where: str) -> dict[str, ConfigValue]:
    checked: dict[str, ConfigValue] = {}
    for key, value in config.items():
        if not isinstance(value, (str, bool, int, float)) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise TypeError(
                f"{where}: route config {key}={value!r} is a {type(value).__name__}; "
                "route config values must be JSON primitives (str, bool, int, finite float)"
            )
        checked[key] = value
    if "public" in checked and not isinstance(checked["public"], bool):
        raise TypeError(f"{where}: route config public={checked['public']!r} must be True or False")
    return checked


def endpoint(verb: Verb | str, path: str, **config: Any) -> Callable[[F], F]:
    """Mark a method as the handler of ``verb path``.

    :param verb: ``Verb.GET``, ``"post"``, ...
    :param path: the route path; normalised (``"greet"`` and ``"/greet"`` are one route).
    :param config: JSON-primitive options, e.g. ``public=True`` (callable without an
        API key) or ``timeout=10``. Any other value is a TypeError here, never dropped.
    :raises TypeError: for non-primitive config, or when decorating a non-function.
    :raises ValueError: for an unknown verb or an empty path.
    """
    parsed_verb = Verb.parse(verb)
    normal = normalize_path(path)
    where = f"@{parsed_verb.value.lower()}({path!r})"
    route = Route(parsed_verb, normal, MappingProxyType(_check_config(config, where)))

    def decorate(func: F) -> F:
        if not isinstance(func, FunctionType):
            raise TypeError(
                f"{where} decorates {func!r}; routes must decorate plain methods defined with def"
            )
        if func.__code__.co_flags & _ASYNC_FLAGS:
            raise TypeError(
                f"{where} decorates async function {func.__qualname__}; "
                "Dockyard routes are synchronous: define it with def"
            )
        marker: RouteMarker | None = getattr(func, ROUTE_ATTR, None)
        routes = marker.routes if marker is not None else ()
        if any((r.verb, r.path) == (route.verb, route.path) for r in routes):
            raise TypeError(
                f"{where} is applied twice to {func.__qualname__}; remove one decorator"
            )
        setattr(func, ROUTE_ATTR, RouteMarker((*routes, route)))
        return func

    return decorate


def get(path: str, **config: Any) -> Callable[[F], F]:
    """Mark a method as the handler of ``GET path``; see `endpoint`."""
    return endpoint(Verb.GET, path, **config)


def post(path: str, **config: Any) -> Callable[[F], F]:
    """Mark a method as the handler of ``POST path``; see `endpoint`."""
    return endpoint(Verb.POST, path, **config)
