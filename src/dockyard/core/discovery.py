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
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
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


def _project_key(dist: metadata.Distribution) -> str:
    """The normalised project name, from the ``.dist-info`` directory's name when it can
    (as importlib.metadata does), so distributions that are skipped cost no METADATA read."""
    name = getattr(dist, "_normalized_name", None) or dist.metadata["Name"] or ""
    return _normalise(name)


def _name_and_version(dist: metadata.Distribution) -> tuple[str, str]:
    """The distribution's ``Name`` and ``Version``, read from the header lines of its
    ``METADATA`` without the email parser: ``dist.metadata`` parses the whole file
    (the long description included) on every access and would cost listing more than
    everything else together."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields: dict[str, str] = {}
    for line in text.partition("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key in ("name", "version") and key not in fields:
            fields[key] = value.strip()
            if len(fields) == 2:
                break
    if len(fields) < 2:  # unusual metadata: let the real parser have a go
        parsed = dist.metadata
        fields.setdefault("name", parsed["Name"] or "")
        fields.setdefault("version", parsed["Version"] or "")
    return fields["name"] or "(unnamed)", fields["version"] or "0"


def _unique_entries(path: list[str]) -> list[str]:
    """``path`` without repeats of one directory (``sys.path`` often names one twice):
    a directory seen twice is not a distribution installed twice."""
    seen: set[str] = set()
    unique = []
    for entry in path:
        key = os.path.realpath(entry)
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


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
    from dockyard.core.service import PackageService

    if group == "dockyard.plugin_types":
        from dockyard.plugins.service import is_plugin_type

        if is_plugin_type(obj):
            return None
        return (
            f"it is {obj!r}, not a plugin type (a class declared as "
            "PluginService[InModel, OutModel] with route='path')"
        )
    if group == "dockyard.plugins":
        from dockyard.plugins.service import PluginService

        if (
            isinstance(obj, type)
            and issubclass(obj, PluginService)
            and obj.__dict__.get("plugin_type") is not obj
        ):
            return None
        return f"it is {obj!r}, not a plugin (a subclass of a plugin type implementing run)"
    expected: tuple[type, str] | None = {
        "dockyard.packages": (PackageService, "a PackageService subclass"),
        "dockyard.mixins": (PackageMixin, "a PackageMixin subclass"),
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

    :param kind: ``duplicate_name``, ``invalid_handle``, ``invalid_entry_point``,
        ``duplicate_distribution`` or ``load_failed``.
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
        checker: Callable[[str, Any], str | None] | None = None,
    ) -> None:
        self.strict = strict
        self._path = list(path) if path is not None else list(sys.path)
        self._types: Discovery | None = None
        self._groups = frozenset(groups)
        self._checker = checker if checker is not None else self._check
        self._problems: list[DiscoveryProblem] = []
        self._by_group: dict[str, dict[str, Component]] = {g: {} for g in self._groups}
        self._components: list[Component] = []
        self._scan(self._path)
        if strict and self._problems:
            raise self._strict_error()

    def __repr__(self) -> str:
        return f"<Discovery {len(self._components)} components, {len(self._problems)} problems>"

    # --- listing (metadata only) ----------------------------------------------------

    def _scan(self, path: list[str]) -> None:
        # normalised project name -> the copy first on the path
        first: dict[str, metadata.Distribution] = {}
        found: list[Component] = []
        for dist in metadata.distributions(path=_unique_entries(path)):
            # Cheap filter first: most distributions declare no Dockyard entry point,
            # and reading their METADATA would dominate the listing's cost.
            text = dist.read_text("entry_points.txt")
            declares = text is not None and "[dockyard." in text
            # Every distribution takes part in "first on the path wins" (as in
            # importlib.metadata.entry_points()), even one that declares no Dockyard
            # entry point: the copy it shadows is not the one Python imports.
            key = _project_key(dist)
            if key in first:
                if declares and not _same_editable_project(dist, first[key]):
                    self._shadowed(dist, first[key])
                continue
            if key:
                first[key] = dist
            if text is None or not declares:
                continue
            name, version = _name_and_version(dist)
            for group, ep_name, value in self._entry_points(text, name, version):
                provenance = Provenance(group, ep_name, value, name, version)
                entry_point = metadata.EntryPoint(name=ep_name, value=value, group=group)
                found.append(Component(provenance, entry_point, self._checker))
        found.sort(
            key=lambda c: (_normalise(c.provenance.distribution), c.name, c.provenance.group)
        )
        claims: dict[tuple[str, str], list[Component]] = {}
        for component in found:
            if self._register(component):
                claims.setdefault((component.provenance.group, component.name), []).append(
                    component
                )
        for claimants in claims.values():
            if len(claimants) > 1:
                self._conflict(claimants)

    def _entry_points(
        self, text: str, distribution: str, version: str
    ) -> Iterator[tuple[str, str, str]]:
        """``(group, name, value)`` of each entry point in our groups, parsed from the
        ``entry_points.txt`` already read (as importlib.metadata parses it); a malformed
        line is a problem of its distribution, not an exception that ends the listing."""
        group = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("[") and line.endswith("]"):
                group = line.strip("[]").strip()
                continue
            if group not in self._groups:
                continue
            name, sep, value = line.partition("=")
            if sep and name.strip() and value.strip():
                yield group, name.strip(), value.strip()
                continue
            self._problems.append(
                DiscoveryProblem(
                    "invalid_entry_point",
                    f"entry_points.txt of {distribution} {version}: line {line!r} in "
                    f"[{group}] is not 'name = module:attr'",
                    (),
                )
            )

    def _shadowed(self, dist: metadata.Distribution, used: metadata.Distribution) -> None:
        name, version = _name_and_version(dist)
        used_version = _name_and_version(used)[1]
        self._problems.append(
            DiscoveryProblem(
                "duplicate_distribution",
                f"distribution {name} is installed twice: {used_version} at "
                f"{used.locate_file('')} (used) and {version} at {dist.locate_file('')} "
                "(ignored, with its Dockyard entry points)",
                (),
            )
        )
        # _shadowed <- _scan <- __init__ <- the caller
        warnings.warn(self._problems[-1].message, DiscoveryWarning, stacklevel=4)

    def _register(self, component: Component) -> bool:
        """List ``component``; whether its name is valid (so it claims that name)."""
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
            return False
        self._by_group[p.group].setdefault(p.name, component)
        return True

    def _conflict(self, claimants: list[Component]) -> None:
        """Fail every claimant of one name, with one error naming them all."""
        first = claimants[0]
        each = [f"{c.provenance} ({c.provenance.value})" for c in claimants]
        listed = " and by ".join([", ".join(each[:-1]), each[-1]])
        error = ValueError(f"{first.kind} name {first.name!r} is claimed by {listed}")
        for component in claimants:
            component.fail("conflict", error)
        self._problems.append(
            DiscoveryProblem("duplicate_name", str(error), tuple(c.provenance for c in claimants))
        )

    # --- queries --------------------------------------------------------------------

    @property
    def problems(self) -> list[DiscoveryProblem]:
        """Every problem found so far (listing, and loading via `load_all` / `load`)."""
        return list(self._problems)

    def _check(self, group: str, obj: Any) -> str | None:
        """What a component must be, by group; a plugin's type must be registered too."""
        problem = _check_kind(group, obj)
        if problem is not None or group != "dockyard.plugins":
            return problem
        types = self.plugin_types()
        if obj.plugin_type in types.values():
            return None
        registered = ", ".join(sorted(types)) or "none"
        return (
            f"its plugin type {obj.plugin_type.__module__}.{obj.plugin_type.__qualname__} is "
            f"not registered in dockyard.plugin_types (registered: {registered})"
        )

    def plugin_types(self) -> dict[str, type]:
        """The registered plugin types that load, by name (failures are recorded).

        Read from the same path even when this discovery lists other groups only (a
        plugin's type must be checked whatever is listed).
        """
        if "dockyard.plugin_types" not in self._groups:
            if self._types is None:
                self._types = Discovery(self._path, groups=("dockyard.plugin_types",))
            return self._types.plugin_types()
        return {
            c.name: c.load()
            for c in self.load_all("dockyard.plugin_types")
            if c.status is ComponentStatus.LOADED
        }

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

    def report(self, problem: DiscoveryProblem) -> None:
        """Record a problem found by a user of the discovery (e.g. a hook that won't register).

        :raises DiscoveryError: in strict mode.
        """
        self._problems.append(problem)
        if self.strict:
            raise self._strict_error()

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


def _editable_project(dist: metadata.Distribution) -> Path | None:
    """The project directory of an editable install (from its ``direct_url.json``), or None."""
    # Imported here: only duplicated distributions get this far, and urllib is slow to import.
    import urllib.parse
    import urllib.request

    try:
        record = json.loads(dist.read_text("direct_url.json") or "null")
    except ValueError:
        return None
    if not isinstance(record, dict) or not (record.get("dir_info") or {}).get("editable"):
        return None
    url = urllib.parse.urlparse(str(record.get("url", "")))
    if url.scheme != "file":
        return None
    return Path(urllib.request.url2pathname(url.path)).resolve()


def _same_editable_project(one: metadata.Distribution, other: metadata.Distribution) -> bool:
    """Whether one copy is the build metadata an editable install left in its own project
    (``src/<name>.egg-info`` next to the installed ``.dist-info``): the same install, not two."""
    for editable, leftover in ((one, other), (other, one)):
        project = _editable_project(editable)
        if project is not None:
            location = Path(str(leftover.locate_file(""))).resolve()
            if location == project or project in location.parents:
                return True
    return False


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
