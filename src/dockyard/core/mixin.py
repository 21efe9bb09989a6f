"""`PackageMixin`: a reusable bundle of routes, config and state that packages compose in."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from dockyard.core.collect import collect_routes
from dockyard.core.config import describe_config, nested_config_model, validate_config
from dockyard.core.errors import MixinError
from dockyard.core.spec import PackageSpec, qualified_name

if TYPE_CHECKING:
    from dockyard.core.request import InvocationContext
    from dockyard.core.routes import Verb
    from dockyard.core.service import Invocable, PackageService
    from dockyard.core.storage import KeyValueStorage
    from dockyard.core.task import Task
    from dockyard.plugins.handle import PluginHandle

__all__ = ["PackageMixin"]


def _default_config_key(name: str) -> str:
    base = name[: -len("Mixin")] if name.endswith("Mixin") and name != "Mixin" else name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base).lower()


class PackageMixin:
    """Base class of mixins: declare routes with ``@get``/``@post`` exactly as on a package.

    A package lists the mixin class in ``USED_MIXIN_CLASSES`` (so its routes are in
    the package's spec from class definition on) and binds an instance in its
    ``__init__`` with ``self.add_mixin(MyMixin(...))`` — or `compose` does both.

    :param config: the mixin's config section, validated into its ``Config`` model
        (a `ConfigError` names the mixin and every bad field).

    Attributes:
        spec: the mixin's routes, built when the class is defined.
        REQUIRES: mixins (classes or entry-point names) this one needs; `compose` adds them.
        config_key: the mixin's section in a composed package's config (default: the class
            name in snake_case without ``Mixin``: ``FileImporterMixin`` -> ``file_importer``).
        config: the validated config (when constructed through this ``__init__``).
    """

    spec: ClassVar[PackageSpec] = PackageSpec("PackageMixin").freeze()
    REQUIRES: ClassVar[Sequence[str | type[PackageMixin]]] = ()
    config_key: ClassVar[str] = ""
    config: BaseModel

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_key" not in cls.__dict__:
            cls.config_key = _default_config_key(cls.__name__)
        if not cls.config_key.isidentifier():
            raise TypeError(
                f"{qualified_name(cls)}.config_key {cls.config_key!r} must be a Python "
                "identifier (it names the mixin's config section)"
            )
        model = cls.config_cls()
        spec = PackageSpec(
            cls.__name__,
            doc=inspect.cleandoc(cls.__doc__) if cls.__doc__ else None,
            config_model=model,
            config_params=describe_config(model),
        )
        routes = collect_routes(cls, (), reserved_ok=False)
        spec.add_methods(routes.values(), where=cls.__qualname__)
        cls.spec = spec.freeze()

    def __init__(self, config: Mapping[str, Any] | BaseModel | None = None) -> None:
        cls = type(self)
        self.config = validate_config(
            cls.config_cls(),
            config,
            owner=f"mixin {qualified_name(cls)} (config section {cls.config_key!r})",
        )

    @classmethod
    def config_cls(cls) -> type[BaseModel]:
        """The mixin's config model: its nested ``Config`` class, if it declares one."""
        return nested_config_model(cls)

    def bind_package(self, package: PackageService) -> None:
        """Remember the package this mixin was added to (`PackageService.add_mixin` calls it)."""
        self._package = package

    @property
    def package(self) -> PackageService:
        """The package instance this mixin was added to.

        :raises MixinError: before `PackageService.add_mixin`.
        """
        package: PackageService | None = getattr(self, "_package", None)
        if package is None:
            raise MixinError(
                f"{type(self).__qualname__} has not been added to a package yet",
                suggestion="use self.package / self.storage in routes or instance_init, "
                "after the package called self.add_mixin(...)",
            )
        return package

    @property
    def storage(self) -> KeyValueStorage:
        """This mixin's own namespace (its ``config_key``) of the package's storage."""
        return self.package.storage.namespace(type(self).config_key)

    def invoke_later(
        self,
        method: str,
        verb: Verb | str = "POST",
        wait_on_tasks: list[Task | str] | None = None,
        arguments: Mapping[str, Any] | None = None,
        delay_ms: int | None = None,
    ) -> Task:
        """Schedule a method of the package this mixin is in (see
        `PackageService.invoke_later`)."""
        return self.package.invoke_later(method, verb, wait_on_tasks, arguments, delay_ms)

    def use_plugin(
        self, plugin: str | type[Invocable], config: Mapping[str, Any] | None = None
    ) -> PluginHandle[Any, Any]:
        """A handle on an installed plugin, running in-process (see
        `PackageService.use_plugin`; made with the package's engine)."""
        return self.package.use_plugin(plugin, config)

    @property
    def context(self) -> InvocationContext:
        """The package's invocation context (the current request's while one is served)."""
        return self.package.context

    def instance_init(self) -> None:
        """Called once when the package instance using this mixin is created.

        Override to set up state (storage, indexes...); the default does nothing.
        """
