"""`compose`: build a package class out of mixins, given by class or entry-point name.

::

    SearchPackage = compose("doc-search", mixins=["file-importer", "indexer"])

is the whole package: point a ``dockyard.packages`` entry point at ``SearchPackage``
and it is installable. The composed class:

- lists the mixins (and everything they ``REQUIRES``, transitively) in
  ``USED_MIXIN_CLASSES``, in a stable topological order: requirements first, then
  the order given. `instance_init` runs in that order;
- has a config model with one section per mixin, under the mixin's ``config_key``,
  typed with the mixin's own ``Config`` model; `/__dir__` lists ``section.field``;
- constructs each mixin from its section (``Mixin(config=section)``) and adds it.

Everything is checked when ``compose`` runs: unknown or broken mixins, a missing
requirement or a cycle (the chain is named), a route clash (both classes and both
distributions are named), two mixins sharing a config section, and invalid defaults.
"""

from __future__ import annotations

import copy
import inspect
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo

from dockyard.core.config import validate_config
from dockyard.core.discovery import Discovery, is_handle
from dockyard.core.errors import ConfigError, DockyardError, MixinError
from dockyard.core.mixin import PackageMixin
from dockyard.core.request import InvocationContext
from dockyard.core.service import PackageService
from dockyard.core.spec import qualified_name

if TYPE_CHECKING:
    import pluggy

__all__ = ["compose", "resolve_mixins"]

_MIXINS = "dockyard.mixins"


def _label(item: str | type) -> str:
    return repr(item) if isinstance(item, str) else qualified_name(item)


def resolve_mixins(
    mixins: Sequence[str | type[PackageMixin]], discovery: Discovery | None = None
) -> list[type[PackageMixin]]:
    """Resolve names to classes, add requirements, and order them (requirements first).

    The order is stable: depth-first over ``mixins`` as given, each mixin after what it
    ``REQUIRES``; a mixin reached twice appears once.

    :param mixins: mixin classes or ``dockyard.mixins`` entry-point names.
    :param discovery: where names are looked up (default: a fresh `Discovery`, made only
        if a name is given).
    :raises MixinError: for a missing requirement or a cycle, naming the chain; for a
        name that is not installed or fails to load, naming the distribution and error.
    """
    order: list[type[PackageMixin]] = []
    state: dict[type, str] = {}
    found: Discovery | None = discovery

    def load(name: str, chain: list[str]) -> type[PackageMixin]:
        nonlocal found
        if found is None:
            found = Discovery()
        try:
            mixin: type[PackageMixin] = found.load(_MIXINS, name)
        except DockyardError as exc:
            via = f"{' -> '.join(chain)} requires {name!r}, but " if chain else ""
            raise MixinError(
                f"{via}mixin {name!r} cannot be used: {exc.message}",
                code="mixin_unavailable",
                suggestion=exc.suggestion,
                details={"chain": [*chain, name], **(exc.details or {})},
            ) from exc
        return mixin

    def visit(item: str | type[PackageMixin], chain: list[str]) -> None:
        if isinstance(item, str):
            mixin = load(item, chain)
        elif isinstance(item, type) and issubclass(item, PackageMixin):
            mixin = item
        else:
            where = f" (required by {chain[-1]})" if chain else ""
            raise MixinError(
                f"{item!r}{where} is not a PackageMixin subclass or a mixin entry-point name",
                suggestion="give mixin classes or the names they are installed under",
            )
        label = qualified_name(mixin) if not isinstance(item, str) else f"{item!r}"
        if state.get(mixin) == "done":
            return
        if state.get(mixin) == "visiting":
            raise MixinError(
                f"mixin requirements form a cycle: {' -> '.join([*chain, label])}",
                code="mixin_cycle",
                suggestion="remove one of the REQUIRES entries in that chain",
                details={"chain": [*chain, label]},
            )
        state[mixin] = "visiting"
        for required in mixin.REQUIRES:
            visit(required, [*chain, label])
        state[mixin] = "done"
        order.append(mixin)

    for item in mixins:
        visit(item, [])
    return order


def _class_name(handle: str) -> str:
    return "".join(part.capitalize() for part in handle.split("-")) or "Composed"


def _merge(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in given.items():
        if isinstance(value, BaseModel):
            # A complete section given as a model: its values, as the section's model
            # (which may bake in compose defaults) would read them.
            merged[key] = value.model_dump(by_alias=True)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _name_sections(error: ConfigError, sections: Mapping[str, type]) -> ConfigError:
    problems = (error.details or {}).get("problems", [])
    for problem in problems:
        section = str(problem.get("field", "")).partition(".")[0]
        if section in sections:
            problem["mixin"] = qualified_name(sections[section])
    if not any("mixin" in p for p in problems):
        return error
    listed = "; ".join(
        f"{p['field']}" + (f" (mixin {p['mixin']})" if "mixin" in p else "") + f": {p['problem']}"
        for p in problems
    )
    owner = error.message.partition(":")[0]
    return ConfigError(
        f"{owner}: {listed}", suggestion=error.suggestion, details={"problems": problems}
    )


def _raise_unless_only_missing(error: ConfigError, given: Mapping[str, Any]) -> None:
    """Raise ``error``'s problems, unless all of them are fields left out of ``given``
    (which the instance's config must then give): those are not listed."""
    problems = [
        problem
        for problem in (error.details or {}).get("problems", [])
        if problem.get("problem") != "Field required"
        or str(problem.get("field", "")).partition(".")[0] in given
    ]
    if not problems:
        return
    owner = error.message.partition(": ")[0]
    listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    raise ConfigError(
        f"{owner}: {listed}", suggestion=error.suggestion, details={"problems": problems}
    )


def _default_field(info: FieldInfo, value: Any) -> FieldInfo:
    """``info`` (type constraints, alias, description kept) with ``value`` as its default."""
    field = copy.copy(info)
    field.default = value
    field.default_factory = None
    field.validate_default = True  # coerced like a given value ("5" -> 5)
    attributes = dict(getattr(info, "_attributes_set", {}))
    attributes.pop("default_factory", None)
    field._attributes_set = {**attributes, "default": value, "validate_default": True}
    return field


def _with_defaults(model: type[BaseModel], values: Mapping[str, Any]) -> type[BaseModel]:
    """A subclass of ``model`` whose fields named in ``values`` default to them."""
    fields: dict[str, Any] = {
        key: (model.model_fields[key].annotation, _default_field(model.model_fields[key], value))
        for key, value in values.items()
        if key in model.model_fields
    }
    if not fields:
        return model
    derived: type[BaseModel] = create_model(
        model.__name__, __base__=model, __module__=model.__module__, **fields
    )
    return derived


def compose(
    handle: str,
    mixins: Sequence[str | type[PackageMixin]],
    base: type[PackageService] = PackageService,
    config: Mapping[str, Any] | None = None,
    *,
    discovery: Discovery | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    doc: str | None = None,
    module: str | None = None,
) -> type[PackageService]:
    """Build a package class from mixins.

    :param handle: the package handle (lowercase letters, digits, dashes); names the class.
    :param mixins: mixin classes or ``dockyard.mixins`` entry-point names.
    :param base: the package class to extend (its own routes and config are kept).
    :param config: defaults baked into the class: ``{section: {field: value}}`` for mixins,
        ``{field: value}`` for the base's own config; an instance's config is merged over them.
    :param discovery: where mixin names are looked up (default: the installed ones).
    :param plugin_manager: its ``dockyard_package_composed`` hook is called with the class.
    :param doc: the class docstring (default: one naming the mixins).
    :param module: the class's ``__module__`` (default: the caller's module, as
        `collections.namedtuple` does), so errors name where the package is defined.
    :returns: a new `PackageService` subclass.
    :raises MixinError: unknown/broken mixins, missing requirements, cycles, shared sections,
        mixins that cannot be constructed from their config.
    :raises RouteConflictError: two mixins (or a mixin and the base) on one (verb, path).
    :raises ConfigError: invalid defaults, naming the mixin.
    """
    if not is_handle(handle):
        raise ValueError(
            f"package handle {handle!r} is invalid: use lowercase letters, digits and dashes "
            "(1-64 chars), e.g. 'doc-search'"
        )
    ordered = resolve_mixins(mixins, discovery)
    base_model = base.config_cls()
    sections: dict[str, type[PackageMixin]] = {}
    for mixin in ordered:
        key = mixin.config_key
        if key.startswith("_") or hasattr(BaseModel, key):
            raise MixinError(
                f"mixin {qualified_name(mixin)}'s config_key {key!r} cannot name a config "
                "section (it starts with an underscore or is a pydantic model attribute)",
                suggestion=f"set another config_key on {mixin.__name__}, e.g. "
                f"{key.strip('_') or 'section'}_config",
            )
        if key in base_model.model_fields:
            raise MixinError(
                f"mixin {qualified_name(mixin)}'s config section {key!r} collides with the "
                f"config field {key!r} of {qualified_name(base)}",
                suggestion=f"set a different config_key on {mixin.__name__}",
            )
        if key in sections:
            raise MixinError(
                f"mixins {qualified_name(sections[key])} and {qualified_name(mixin)} share the "
                f"config section {key!r}",
                suggestion=f"set a different config_key on one of them (e.g. {mixin.__name__})",
            )
        init = inspect.signature(mixin.__init__).parameters
        if "config" not in init and not any(p.kind is p.VAR_KEYWORD for p in init.values()):
            raise MixinError(
                f"mixin {qualified_name(mixin)} cannot be composed: its __init__ does not "
                "accept config=",
                suggestion="accept config=None in __init__ and pass it to "
                "super().__init__(config=config)",
            )
        sections[key] = mixin

    defaults = dict(config or {})
    unknown = [k for k in defaults if k not in sections and k not in base_model.model_fields]
    if unknown:
        accepted = ", ".join([*base_model.model_fields, *sections]) or "none"
        raise ConfigError(
            f"compose({handle!r}) config has unknown keys: {', '.join(map(str, unknown))}",
            suggestion=f"accepted keys: {accepted}",
        )
    fields: dict[str, Any] = {}
    for key, mixin in sections.items():
        section_model = mixin.config_cls()
        given = defaults.get(key, {})
        if not isinstance(given, Mapping):
            raise ConfigError(
                f"compose({handle!r}) config section {key!r} (mixin {qualified_name(mixin)}) "
                f"must be a mapping, got {type(given).__name__}"
            )
        owner = f"mixin {qualified_name(mixin)} (config section {key!r})"
        try:
            default: Any = validate_config(section_model, given, owner=owner)
        except ConfigError as exc:
            _raise_unless_only_missing(exc, given)
            # The instance's config must complete this section; what compose gave is
            # baked into the section's model as defaults (so /__dir__ shows them).
            default = ...
            section_model = _with_defaults(section_model, given)
        fields[key] = (section_model, Field(default, description=f"config of {owner}"))
    base_given = {k: v for k, v in defaults.items() if k in base_model.model_fields}
    if base_given:
        try:
            checked = validate_config(base_model, base_given, owner=f"compose({handle!r}) defaults")
        except ConfigError as exc:
            _raise_unless_only_missing(exc, base_given)
        else:  # complete: bake in the coerced values ("5" -> 5)
            base_given = {k: getattr(checked, k) for k in base_given}
        for key, value in base_given.items():
            info = base_model.model_fields[key]
            fields[key] = (info.annotation, _default_field(info, value))
    model: type[BaseModel] = create_model(
        f"{_class_name(handle)}Config", __base__=base_model, **fields
    )
    section_defaults = {k: v for k, v in defaults.items() if k in sections}

    def __init__(
        self: PackageService,
        config: Mapping[str, Any] | BaseModel | None = None,
        context: InvocationContext | None = None,
    ) -> None:
        merged: Mapping[str, Any] | BaseModel | None = config
        if isinstance(config, Mapping) or config is None:
            merged = _merge(section_defaults, config or {})
        try:
            base.__init__(self, config=merged, context=context)
        except ConfigError as exc:
            raise _name_sections(exc, sections) from None
        for key, mixin in sections.items():
            self.add_mixin(mixin(config=getattr(self.config, key)))

    names = ", ".join(qualified_name(m) for m in ordered) or "no mixins"
    namespace: dict[str, Any] = {
        "__init__": __init__,
        "__doc__": doc or f"Package {handle!r}, composed of {names}.",
        "__module__": module or sys._getframe(1).f_globals.get("__name__", __name__),
        "USED_MIXIN_CLASSES": ordered,
        "Config": model,
        "config_cls": classmethod(lambda cls: model),
    }
    package = type(_class_name(handle), (base,), namespace)
    if plugin_manager is not None:
        plugin_manager.hook.dockyard_package_composed(package_cls=package)
    return package
