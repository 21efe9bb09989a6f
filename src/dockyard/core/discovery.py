"""Entry-point discovery: find installed components, load them lazily, isolate failures.

Groups (see DESIGN "Entry points")::

    dockyard.packages      package handle -> module:PackageClass
    dockyard.mixins        mixin name     -> module:MixinClass
    dockyard.plugin_types  type name      -> module:PluginTypeBase
    dockyard.plugins       plugin handle  -> module:PluginClass
    dockyard.hooks         any name       -> module or object with @hookimpl functions

Listing reads distribution metadata only (``entry_points.txt``, and ``METADATA`` of
the distributions that declare a Dockyard entry point); it imports no component
code, and not even pydantic. A component is imported on first `Component.load`,
once. A component that fails to import, or is not the kind its group promises, is
recorded with its error and the phase it failed in, and the others still load;
``strict=True`` turns every problem into an error instead.

The order is deterministic: by normalised distribution name, then entry-point name.
"""

from __future__ import annotations

import enum
import importlib.metadata as metadata
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.core.errors import DockyardError

__all__ = [
    "GROUPS",
    "HANDLE_GROUPS",
    "Component",
    "ComponentLoadError",
    "ComponentNotFoundError",
    "ComponentStatus",
    "Discovery",
    "DiscoveryError",
    "DiscoveryProblem",
    "DiscoveryWarning",
    "Provenance",
    "distribution_of",
    "is_handle",
]

#: Entry-point group -> the kind of component it holds.
GROUPS: Mapping[str, str] = {
    "dockyard.packages": "package",
    "dockyard.mixins": "mixin",
    "dockyard.plugin_types": "plugin type",
    "dockyard.plugins": "plugin",
    "dockyard.hooks": "hooks",
}

#: Groups whose entry-point names are handles (they appear in URLs).
HANDLE_GROUPS = frozenset({"dockyard.packages", "dockyard.plugins"})

_HANDLE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")


def is_handle(name: str) -> bool:
    """Whether ``name`` is a valid handle: lowercase letters, digits and dashes, 1-64 chars,
    not starting or ending with a dash."""
    return bool(_HANDLE.match(name))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class DiscoveryWarning(UserWarning):
    """Something about the installed components deserves attention but broke nothing."""


class DiscoveryError(DockyardError, RuntimeError):
    """In strict mode: discovery found problems (every one is listed)."""

    default_code = "discovery_failed"
    default_status = 500


class ComponentNotFoundError(DockyardError, LookupError):
    """No installed component has that name in that group."""

    default_code = "component_not_found"
    default_status = 404


class ComponentLoadError(DockyardError, ImportError):
    """A component could not be loaded (it failed to import, is the wrong kind, or its
    name is ambiguous); names the distribution and the original error."""

    default_code = "component_load_failed"
    default_status = 500


@dataclass(frozen=True)
class Provenance:
    """Where a component comes from.

    :param group: the entry-point group.
    :param name: the entry-point name.
    :param value: ``module:attr``.
    :param distribution: the distribution's name as published.
    :param version: the distribution's version.
    """

    group: str
    name: str
    value: str
    distribution: str
    version: str

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}"


class ComponentStatus(str, enum.Enum):
    """Where a component is in its life: listed (not imported), loaded, or failed."""

    LISTED = "listed"
    LOADED = "loaded"
    FAILED = "failed"


def _check_kind(group: str, obj: Any) -> str | None:
    """Why ``obj`` is not what ``group`` promises, or None if it is."""
    # Imported here: checking needs the core classes, listing must not import them.
    from dockyard.core.mixin import PackageMixin
    from dockyard.core.service import Invocable, PackageService

    expected: tuple[type, str] | None = {
        "dockyard.packages": (PackageService, "a PackageService subclass"),
        "dockyard.mixins": (PackageMixin, "a PackageMixin subclass"),
        "dockyard.plugin_types": (Invocable, "an Invocable subclass"),
        "dockyard.plugins": (Invocable, "an Invocable subclass"),
    }.get(group)
    if expected is None:
        return None
    base, text = expected
    if isinstance(obj, type) and issubclass(obj, base):
        return None
    return f"it is {obj!r}, not {text}"


class Component:
    """One discovered entry point: its provenance, status, and (once loaded) its object."""

    __slots__ = (
        "_checker",
        "_entry_point",
        "_failure",
        "_object",
        "_phase",
        "provenance",
        "status",
    )

    def __init__(
        self,
        provenance: Provenance,
        entry_point: metadata.EntryPoint,
        checker: Callable[[str, Any], str | None],
    ) -> None:
        self.provenance = provenance
        self.status = ComponentStatus.LISTED
        self._entry_point = entry_point
        self._checker = checker
        self._object: Any = None
        self._failure: BaseException | None = None
        self._phase: str | None = None

    def __repr__(self) -> str:
        p = self.provenance
        where = f"{p.group}:{p.name} = {p.value} [{p.distribution} {p.version}]"
        return f"<Component {where} {self.status.value}>"

    @property
    def kind(self) -> str:
        """``package``, ``mixin``, ``plugin type``, ``plugin`` or ``hooks``."""
        return GROUPS.get(self.provenance.group, self.provenance.group)

    @property
    def name(self) -> str:
        """The entry-point name."""
        return self.provenance.name

    @property
    def error(self) -> BaseException | None:
        """The original error, when failed."""
        return self._failure

    @property
    def phase(self) -> str | None:
        """Where it failed: ``handle``, ``conflict``, ``import`` or ``check``."""
        return self._phase

    @property
    def reason(self) -> str | None:
        """One line saying why it failed, or None."""
        if self._failure is None:
            return None
        return f"{self._phase}: {type(self._failure).__name__}: {self._failure}"

    def fail(self, phase: str, error: BaseException) -> None:
        """Record a failure (discovery does this for handles and conflicts)."""
        self.status = ComponentStatus.FAILED
        self._phase = phase
        self._failure = error

    def load(self) -> Any:
        """Import the component (once) and return it.

        :raises ComponentLoadError: naming the distribution, the phase and the original error.
        """
        if self.status is ComponentStatus.LOADED:
            return self._object
        if self.status is ComponentStatus.LISTED:
            try:
                obj = self._entry_point.load()
            except (Exception, SystemExit) as exc:
                self.fail("import", exc)
            else:
                problem = self._checker(self.provenance.group, obj)
                if problem is None:
                    self._object = obj
                    self.status = ComponentStatus.LOADED
                    return obj
                self.fail("check", TypeError(problem))
        raise self._load_error()

    def _load_error(self) -> ComponentLoadError:
        p = self.provenance
        suggestion = {
            "import": f"fix or reinstall {p.distribution}, or uninstall it",
            "check": f"point the entry point at {_KIND_HINT.get(p.group, 'the right object')}",
            "handle": "rename the entry point: lowercase letters, digits and dashes, 1-64 chars",
            "conflict": "uninstall one of the distributions, or rename one entry point",
        }.get(self._phase or "")
        return ComponentLoadError(
            f"{self.kind} {p.name!r} ({p.value}) from {p.distribution} {p.version} could not be "
            f"loaded ({self._phase}): {type(self._failure).__name__}: {self._failure}",
            suggestion=suggestion,
            details={
                "group": p.group,
                "name": p.name,
                "value": p.value,
                "distribution": p.distribution,
                "version": p.version,
                "phase": self._phase,
            },
        )


_KIND_HINT = {
    "dockyard.packages": "a PackageService subclass",
    "dockyard.mixins": "a PackageMixin subclass",
    "dockyard.plugin_types": "a plugin type class",
    "dockyard.plugins": "a plugin class",
}


@dataclass(frozen=True)
class DiscoveryProblem:
    """A problem found while listing or loading (reported, never silently dropped).

    :param kind: ``duplicate_name``, ``invalid_handle``, ``duplicate_distribution`` or
        ``load_failed``.
    :param message: what, where, and how to fix it.
    :param components: the provenances involved.
    """

    kind: str
    message: str
    components: tuple[Provenance, ...]


class Discovery:
    """The Dockyard components installed in an environment.

    :param path: where to look for distributions (default: ``sys.path``).
    :param strict: raise `DiscoveryError` for any problem instead of recording it.
    :param groups: the groups to read (default: all of `GROUPS`).
    """

    def __init__(
        self,
        path: Iterable[str] | None = None,
        *,
        strict: bool = False,
        groups: Iterable[str] = tuple(GROUPS),
        checker: Callable[[str, Any], str | None] = _check_kind,
    ) -> None:
        self.strict = strict
        self._groups = frozenset(groups)
        self._checker = checker
        self._problems: list[DiscoveryProblem] = []
        self._by_group: dict[str, dict[str, Component]] = {g: {} for g in self._groups}
        self._components: list[Component] = []
        self._scan(list(path) if path is not None else list(sys.path))
        if strict and self._problems:
            raise self._strict_error()

    def __repr__(self) -> str:
        return f"<Discovery {len(self._components)} components, {len(self._problems)} problems>"

    # --- listing (metadata only) ----------------------------------------------------

    def _scan(self, path: list[str]) -> None:
        seen: dict[str, tuple[str, str]] = {}
        found: list[Component] = []
        for dist in metadata.distributions(path=path):
            # Cheap filter first: most distributions declare no Dockyard entry point,
            # and reading their METADATA would dominate the listing's cost.
            text = dist.read_text("entry_points.txt")
            if not text or "[dockyard." not in text:
                continue
            name = dist.metadata["Name"] or "(unnamed)"
            version = dist.version or "0"
            key = _normalise(name)
            location = str(dist.locate_file(""))
            if key in seen:
                first_version, first_location = seen[key]
                self._problems.append(
                    DiscoveryProblem(
                        "duplicate_distribution",
                        f"distribution {name} is installed twice: {first_version} at "
                        f"{first_location} (used) and {version} at {location} (ignored)",
                        (),
                    )
                )
                warnings.warn(self._problems[-1].message, DiscoveryWarning, stacklevel=3)
                continue
            seen[key] = (version, location)
            for ep in dist.entry_points:
                if ep.group in self._groups:
                    provenance = Provenance(ep.group, ep.name, ep.value, name, version)
                    found.append(Component(provenance, ep, self._checker))
        found.sort(
            key=lambda c: (_normalise(c.provenance.distribution), c.name, c.provenance.group)
        )
        for component in found:
            self._register(component)

    def _register(self, component: Component) -> None:
        p = component.provenance
        self._components.append(component)
        if p.group in HANDLE_GROUPS and not is_handle(p.name):
            error = ValueError(
                f"{p.name!r} is not a valid handle (lowercase letters, digits and dashes, "
                "1-64 chars, no leading or trailing dash)"
            )
            component.fail("handle", error)
            self._problems.append(
                DiscoveryProblem(
                    "invalid_handle",
                    f"{component.kind} entry point {p.name!r} of {p}: {error}",
                    (p,),
                )
            )
            return
        group = self._by_group[p.group]
        other = group.get(p.name)
        if other is None:
            group[p.name] = component
            return
        o = other.provenance
        error = ValueError(
            f"{component.kind} name {p.name!r} is claimed by {o.distribution} {o.version} "
            f"({o.value}) and by {p.distribution} {p.version} ({p.value})"
        )
        other.fail("conflict", error)
        component.fail("conflict", error)
        self._problems.append(DiscoveryProblem("duplicate_name", str(error), (o, p)))

    # --- queries --------------------------------------------------------------------

    @property
    def problems(self) -> list[DiscoveryProblem]:
        """Every problem found so far (listing, and loading via `load_all` / `load`)."""
        return list(self._problems)

    def components(self, group: str | None = None) -> list[Component]:
        """The discovered components (of ``group``), in deterministic order."""
        if group is None:
            return list(self._components)
        self._check_group(group)
        return [c for c in self._components if c.provenance.group == group]

    def names(self, group: str) -> list[str]:
        """The names in ``group``, sorted."""
        self._check_group(group)
        return sorted(self._by_group[group])

    def get(self, group: str, name: str) -> Component:
        """The component ``name`` in ``group`` (not loaded).

        :raises ComponentNotFoundError: listing the names that do exist.
        """
        self._check_group(group)
        component = self._by_group[group].get(name)
        if component is None:
            available = ", ".join(self.names(group)) or "none"
            raise ComponentNotFoundError(
                f"no {GROUPS.get(group, group)} named {name!r} is installed (group {group})",
                suggestion=f"pip install the distribution that provides it; installed: {available}",
                details={"group": group, "name": name, "available": self.names(group)},
            )
        return component

    def load(self, group: str, name: str) -> Any:
        """Load and return the component ``name`` in ``group``.

        :raises ComponentNotFoundError: if there is none.
        :raises ComponentLoadError: naming the distribution and the original error.
        """
        component = self.get(group, name)
        try:
            return component.load()
        except ComponentLoadError:
            self._record_failure(component)
            raise

    def load_all(self, group: str | None = None) -> list[Component]:
        """Load every component (of ``group``); failures are recorded, not raised.

        :raises DiscoveryError: in strict mode, listing every failure.
        """
        components = self.components(group)
        for component in components:
            if component.status is ComponentStatus.LISTED:
                try:
                    component.load()
                except ComponentLoadError:
                    self._record_failure(component)
        if self.strict and self._problems:
            raise self._strict_error()
        return components

    def _record_failure(self, component: Component) -> None:
        if component.phase in ("import", "check") and not any(
            p.kind == "load_failed" and p.components == (component.provenance,)
            for p in self._problems
        ):
            self._problems.append(
                DiscoveryProblem(
                    "load_failed", component._load_error().message, (component.provenance,)
                )
            )

    def _check_group(self, group: str) -> None:
        if group not in self._groups:
            raise ValueError(
                f"unknown entry-point group {group!r}; Dockyard's groups are "
                f"{', '.join(sorted(self._groups))}"
            )

    def _strict_error(self) -> DiscoveryError:
        listed = "; ".join(p.message for p in self._problems)
        return DiscoveryError(
            f"{len(self._problems)} problem(s) with installed Dockyard components: {listed}",
            suggestion="fix or uninstall the distributions named, or run without --strict",
            details={"problems": [{"kind": p.kind, "message": p.message} for p in self._problems]},
        )


def distribution_of(cls: type) -> str | None:
    """``"name version"`` of the installed distribution that provides ``cls``'s module, or None.

    Used in error messages only (it reads every distribution's file list on a miss).
    """
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    top = cls.__module__.partition(".")[0]
    names = metadata.packages_distributions().get(top, [])
    for name in dict.fromkeys(names):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if len(names) == 1 or filename is None:
            return f"{dist.metadata['Name']} {dist.version}"
        for file in dist.files or ():
            if str(dist.locate_file(file)) == filename:
                return f"{dist.metadata['Name']} {dist.version}"
    return None
