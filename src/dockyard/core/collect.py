"""Collecting a class's routes, once, when the class is defined.

The rules (each one checked here, at class definition, never at request time):

- A route is a function in the class body carrying a `RouteMarker`; it binds by
  attribute name, so an override of that name - decorated or not - runs instead,
  and the route's arguments are re-read from the override.
- A class's own routes, and the routes of the mixins it lists in
  ``USED_MIXIN_CLASSES``, override routes inherited from its bases with the same
  (verb, path), whatever the method is called.
- Two routes with one (verb, path) in one class (its own or its mixins') are a
  `RouteConflictError`; so are two inherited from unrelated bases, unless the
  class overrides that route itself. From related bases the more derived wins,
  as Python's attribute lookup would.
- Paths starting with ``/__`` are reserved for Dockyard's built-in routes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dockyard.core.arguments import build_arguments, class_namespace
from dockyard.core.errors import MixinError, RouteConflictError
from dockyard.core.routes import ROUTE_ATTR, RouteMarker, Verb
from dockyard.core.spec import MethodSpec, PackageSpec, qualified_name

__all__ = ["collect_routes", "merge_used_mixins"]

_Key = tuple[Verb, str]


def _doc(func: Callable[..., Any]) -> str | None:
    return inspect.cleandoc(func.__doc__) if func.__doc__ else None


def _method_specs(
    cls: type,
    name: str,
    func: Callable[..., Any],
    marker: RouteMarker,
    namespace: dict[str, Any],
    class_name: str,
) -> list[MethodSpec]:
    routes = ", ".join([f"{r.verb.value} {r.path}" for r in marker.routes])
    where = f"{routes} ({class_name}.{name})"
    args, validator, returns = build_arguments(func, cls, where, namespace)
    doc = _doc(func)
    return [
        MethodSpec(
            verb=route.verb,
            path=route.path,
            name=name,
            owner=cls,
            doc=doc,
            returns=returns,
            config=route.config,
            args=args,
            validator=validator,
        )
        for route in marker.routes
    ]


def _rebind(cls: type, method: MethodSpec, func: Callable[..., Any]) -> MethodSpec:
    """The inherited route ``method``, re-read from ``cls``'s override of its function."""
    where = f"{method.verb.value} {method.path} ({qualified_name(cls)}.{method.name})"
    args, validator, returns = build_arguments(func, cls, where)
    return MethodSpec(
        verb=method.verb,
        path=method.path,
        name=method.name,
        owner=cls,
        doc=_doc(func) or method.doc,
        returns=returns,
        config=method.config,
        args=args,
        validator=validator,
        origin=method.origin,
    )


def _base_routes(base: type) -> Iterable[MethodSpec]:
    spec = base.__dict__.get("spec")
    if isinstance(spec, PackageSpec):
        return spec.methods
    if base is object:
        return ()
    # A plain helper class (not a Dockyard class) may still carry decorated methods.
    return collect_routes(base, (), reserved_ok=False).values()


def collect_routes(
    cls: type, level_mixins: Sequence[type], *, reserved_ok: bool
) -> dict[_Key, MethodSpec]:
    """Return ``cls``'s route table, applying the rules in the module docs.

    :param cls: the class being defined.
    :param level_mixins: the mixin classes ``cls`` itself lists in ``USED_MIXIN_CLASSES``.
    :param reserved_ok: whether ``/__`` paths are allowed (Dockyard's own base classes).
    :raises RouteConflictError: for two routes on one (verb, path) that neither overrides.
    :raises TypeError: for a route method shadowed by a non-function, or a bad signature.
    :raises ValueError: for a reserved path.
    """
    where = qualified_name(cls)

    inherited: dict[_Key, MethodSpec] = {}
    unresolved: dict[_Key, tuple[MethodSpec, MethodSpec]] = {}
    for base in cls.__bases__:
        for method in _base_routes(base):
            key = (method.verb, method.path)
            previous = inherited.get(key)
            if previous is None or previous is method or issubclass(method.owner, previous.owner):
                inherited[key] = method
                if previous is not None and previous is not method:
                    unresolved.pop(key, None)
            elif not issubclass(previous.owner, method.owner):
                unresolved[key] = (previous, method)

    body = cls.__dict__
    mro = cls.__mro__
    for key, method in inherited.items():
        if method.name in body and method.owner in mro:
            override = body[method.name]
            if not inspect.isfunction(override):
                raise TypeError(
                    f"{where}.{method.name} is {override!r}, which shadows the route "
                    f"{method.verb.value} {method.path} of {method.class_name}; define it as a "
                    "method, or rename the attribute"
                )
            inherited[key] = _rebind(cls, method, override)

    level: dict[_Key, MethodSpec] = {}
    namespace = class_namespace(cls)
    for name, value in body.items():
        marker = getattr(value, ROUTE_ATTR, None) if inspect.isfunction(value) else None
        if not isinstance(marker, RouteMarker):
            continue
        for method in _method_specs(cls, name, value, marker, namespace, where):
            key = (method.verb, method.path)
            if method.path.startswith("/__") and not reserved_ok:
                raise ValueError(
                    f"{where}.{name}: route path {method.path!r} is reserved for Dockyard's "
                    "built-in routes (paths starting with '/__'); choose another path"
                )
            if key in level:
                raise RouteConflictError(level[key], method, where=where)
            level[key] = method
    via: dict[_Key, type] = {}
    for mixin in level_mixins:
        mixin_spec: PackageSpec = mixin.spec  # type: ignore[attr-defined]
        for method in mixin_spec.methods:
            key = (method.verb, method.path)
            if key in level:
                other = via.get(key)
                raise RouteConflictError(
                    level[key],
                    method,
                    where=where,
                    suggestion=(
                        f"mixins {qualified_name(other)} and {qualified_name(mixin)} both "
                        "bring it; list only one of them, or override the route in "
                        f"{cls.__qualname__}"
                    )
                    if other is not None
                    else None,
                )
            level[key] = method
            via[key] = mixin

    for key, (first, second) in unresolved.items():
        if key not in level:
            raise RouteConflictError(
                first,
                second,
                where=where,
                suggestion=(
                    f"both bases of {cls.__qualname__} define it; define the route in "
                    f"{cls.__qualname__} itself to choose"
                ),
            )
    inherited.update(level)
    return inherited


def merge_used_mixins(cls: type, mixin_base: type) -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Return ``(all used mixins, mixins listed by cls itself)`` for a package class.

    Mixins listed by ``cls`` replace inherited ones they subclass.

    :raises MixinError: for a listed non-mixin, a duplicate, or a mixin listed beside its subclass.
    """
    where = qualified_name(cls)
    listed = cls.__dict__.get("USED_MIXIN_CLASSES")
    own: list[type] = []
    if listed is not None:
        if isinstance(listed, (str, bytes)) or not isinstance(listed, Iterable):
            raise MixinError(
                f"{where}.USED_MIXIN_CLASSES must be a list of PackageMixin subclasses, "
                f"got {listed!r}"
            )
        for mixin in listed:
            if not (isinstance(mixin, type) and issubclass(mixin, mixin_base)):
                raise MixinError(
                    f"{where}.USED_MIXIN_CLASSES lists {mixin!r}, which is not a "
                    "PackageMixin subclass",
                    suggestion="list mixin classes (not instances, not packages)",
                )
            for other in own:
                if issubclass(mixin, other) or issubclass(other, mixin):
                    raise MixinError(
                        f"{where}.USED_MIXIN_CLASSES lists both {qualified_name(other)} and "
                        f"{qualified_name(mixin)}",
                        suggestion=(
                            "list each mixin once; a subclass already brings its base's routes"
                        ),
                    )
            own.append(mixin)
    used: list[type] = []
    for base in cls.__mro__[1:]:
        spec = base.__dict__.get("spec")
        if isinstance(spec, PackageSpec):
            for mixin in spec.used_mixins:
                if mixin not in used and not any(issubclass(m, mixin) for m in own):
                    used.append(mixin)
    used.extend(m for m in own if m not in used)
    return tuple(used), tuple(own)
