"""`PackageMixin`: a reusable bundle of routes and state that packages compose in."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from dockyard.core.collect import collect_routes
from dockyard.core.spec import PackageSpec

__all__ = ["PackageMixin"]


class PackageMixin:
    """Base class of mixins: declare routes with ``@get``/``@post`` exactly as on a package.

    A package lists the mixin class in ``USED_MIXIN_CLASSES`` (so its routes are in
    the package's spec from class definition on) and binds an instance in its
    ``__init__`` with ``self.add_mixin(MyMixin(...))``.

    Attributes:
        spec: the mixin's routes, built when the class is defined.
    """

    spec: ClassVar[PackageSpec] = PackageSpec("PackageMixin").freeze()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = PackageSpec(cls.__name__, doc=inspect.cleandoc(cls.__doc__) if cls.__doc__ else None)
        routes = collect_routes(cls, (), reserved_ok=False)
        spec.add_methods(routes.values(), where=cls.__qualname__)
        cls.spec = spec.freeze()

    def instance_init(self) -> None:
        """Called once when the package instance using this mixin is created.

        Override to set up state (storage, indexes...); the default does nothing.
        """
