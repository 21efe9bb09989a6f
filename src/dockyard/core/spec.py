"""The route table: `MethodSpec` (one route), `PackageSpec` (all of a class's routes).

A class's spec is built once, when the class is defined, and then frozen. An
instance shares it until the instance adds a route of its own (`add_mixin`,
`add_api_route`); it then gets a private copy (copy-on-write), so neither the
class nor any other instance ever sees that route, and a request costs one dict
lookup whatever the number of routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from dockyard.core.arguments import ArgSpec, ArgumentValidator
from dockyard.core.discovery import distribution_of
from dockyard.core.errors import RouteConflictError
from dockyard.core.routes import ConfigValue, Verb, normalize_path

__all__ = ["ArgSpec", "MethodSpec", "PackageSpec", "qualified_name"]


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, as errors and `/__dir__` name it."""
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True, eq=False)
class MethodSpec:
    """One route: what answers ``verb path``, and how its arguments are checked.

    :param verb: the HTTP verb.
    :param path: the normalised path.
    :param name: the method name the route binds to (overrides of it run instead).
    :param owner: the class that defined the function (a package or a mixin class).
    :param doc: the method's docstring.
    :param returns: the return annotation, described.
    :param config: the route's JSON-primitive config (``public``, ``timeout``, ...).
    :param args: the arguments, in signature order.
    :param validator: validates a call's arguments (built once, here).
    :param origin: where the owner comes from (``"dist 1.2"``), for error messages;
        by default looked up from the installed distributions when needed.
    """

    verb: Verb
    path: str
    name: str
    owner: type
    doc: str | None
    returns: str | None
    config: Mapping[str, ConfigValue]
    args: tuple[ArgSpec, ...]
    validator: ArgumentValidator = field(repr=False)
    origin: str | None = None

    @property
    def class_name(self) -> str:
        """Qualified name of the defining class."""
        return qualified_name(self.owner)

    @property
    def public(self) -> bool:
        """Whether the route may be called without an API key."""
        return bool(self.config.get("public", False))

    def describe_origin(self) -> str:
        """``pkg.mod.Class.method``, plus the distribution and version that installed it."""
        text = f"{self.class_name}.{self.name}"
        origin = self.origin or distribution_of(self.owner)
        return f"{text} (from {origin})" if origin else text

    def to_dict(self) -> dict[str, Any]:
        """The route as JSON for `/__dir__`."""
        return {
            "path": self.path,
            "verb": self.verb.value,
            "name": self.name,
            "doc": self.doc,
            "returns": self.returns,
            "class_name": self.class_name,
            "config": dict(self.config),
            "args": [a.to_dict() for a in self.args],
        }


_Key = tuple[Verb, str]


class PackageSpec:
    """The route table of a package (or mixin) class or instance.

    :param name: the package name.
    :param doc: the package docstring.
    :param version: the package version, when known.
    :param used_mixins: mixin classes whose routes are scanned in.
    :param config_model: the pydantic model config is validated against.
    :param config_params: the config parameters, described for `/__dir__`.
    """

    def __init__(
        self,
        name: str,
        doc: str | None = None,
        version: str | None = None,
        used_mixins: Iterable[type] = (),
        config_model: type[BaseModel] | None = None,
        config_params: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.name = name
        self.doc = doc
        self.version = version
        self.used_mixins: tuple[type, ...] = tuple(used_mixins)
        self.config_model = config_model
        self.config_params: tuple[Mapping[str, Any], ...] = tuple(config_params)
        self._routes: dict[_Key, MethodSpec] = {}
        self._verbs_by_path: dict[str, list[Verb]] = {}
        self._sorted: list[MethodSpec] | None = None
        self._frozen = False

    def __repr__(self) -> str:
        return f"<PackageSpec {self.name!r} with {len(self._routes)} routes>"

    def __len__(self) -> int:
        return len(self._routes)

    @property
    def frozen(self) -> bool:
        """Whether the spec is a class's (read-only; instances copy it to change it)."""
        return self._frozen

    @property
    def methods(self) -> list[MethodSpec]:
        """All routes, sorted by path then verb."""
        if self._sorted is None:
            self._sorted = sorted(self._routes.values(), key=lambda m: (m.path, m.verb.value))
        return list(self._sorted)

    def get_method(self, verb: Verb | str, path: str) -> MethodSpec | None:
        """The route answering ``verb path``, or None.

        :param verb: a `Verb` or its name in any case.
        :param path: the path, normalised here (``"greet"`` finds ``"/greet"``).
        """
        try:
            key = (Verb.parse(verb), normalize_path(path))
        except ValueError:
            return None
        return self._routes.get(key)

    def route(self, verb: Verb, path: str) -> MethodSpec | None:
        """The route for an already parsed verb and normalised path, or None (dispatch's lookup)."""
        return self._routes.get((verb, path))

    def verbs_for(self, path: str) -> list[Verb]:
        """The verbs some route answers at the (normalised) ``path``; empty if none."""
        return list(self._verbs_by_path.get(path, ()))

    def add_methods(
        self,
        methods: Iterable[MethodSpec],
        *,
        where: str,
        permit_overwrite_of_existing_methods: bool = False,
        may_replace: Callable[[MethodSpec, MethodSpec], bool] | None = None,
    ) -> None:
        """Add routes, all or none.

        Every route is checked before any is added: a clash (with the table, or
        between two of ``methods``) raises and leaves the spec unchanged.

        :param methods: the routes to add.
        :param where: names the package in error messages.
        :param permit_overwrite_of_existing_methods: replace clashing routes on purpose.
        :param may_replace: ``(existing, new) -> bool``: whether ``new`` may silently
            take ``existing``'s place (e.g. a mixin instance filling its own placeholder).
        :raises RouteConflictError: carrying both `MethodSpec`s of the first clash.
        :raises TypeError: if the spec is frozen.
        """
        if self._frozen:
            raise TypeError(
                f"{self!r} belongs to a class and is read-only; add routes to an instance "
                "(add_mixin / add_api_route), or declare them on a subclass"
            )
        batch: dict[_Key, MethodSpec] = {}
        for method in methods:
            key = (method.verb, method.path)
            if key in batch and batch[key] is not method:
                raise RouteConflictError(batch[key], method, where=where)
            existing = self._routes.get(key)
            if (
                existing is not None
                and existing is not method
                and not permit_overwrite_of_existing_methods
                and not (may_replace is not None and may_replace(existing, method))
            ):
                raise RouteConflictError(existing, method, where=where)
            batch[key] = method
        for key, method in batch.items():
            self._put(key, method)

    def _put(self, key: _Key, method: MethodSpec) -> None:
        if key not in self._routes:
            self._verbs_by_path.setdefault(key[1], []).append(key[0])
        self._routes[key] = method
        self._sorted = None

    def copy(self) -> PackageSpec:
        """An unfrozen copy sharing the (immutable) `MethodSpec`s."""
        clone = PackageSpec(
            self.name,
            self.doc,
            self.version,
            self.used_mixins,
            self.config_model,
            self.config_params,
        )
        clone._routes = dict(self._routes)
        clone._verbs_by_path = {p: list(v) for p, v in self._verbs_by_path.items()}
        clone._sorted = self._sorted
        return clone

    def freeze(self) -> PackageSpec:
        """Make the spec read-only and return it."""
        self._frozen = True
        return self

    def to_dict(self) -> dict[str, Any]:
        """What `/__dir__` returns."""
        return {
            "name": self.name,
            "doc": self.doc,
            "version": self.version,
            "used_mixins": [qualified_name(m) for m in self.used_mixins],
            "config": [dict(p) for p in self.config_params],
            "methods": [m.to_dict() for m in self.methods],
        }
