"""`Engine`: installed components + one plugin manager -> package classes and instances.

The server and the client each own one engine: it is where lifecycle hooks are
wired to what they watch. Instances it creates run ``dockyard_before_invoke`` and
``dockyard_after_invoke`` around every call.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from dockyard.core.compose import compose
from dockyard.core.discovery import Discovery
from dockyard.core.hooks import make_plugin_manager
from dockyard.core.mixin import PackageMixin
from dockyard.core.request import InvocationContext
from dockyard.core.service import Invocable, PackageService

if TYPE_CHECKING:
    import pluggy

__all__ = ["Engine"]


class Engine:
    """Builds packages and instances from installed components, firing lifecycle hooks.

    :param discovery: the installed components (default: those on ``sys.path``).
    :param plugin_manager: the hooks (default: a new manager loading ``dockyard.hooks``
        entry points from ``discovery``, plus ``hooks``).
    :param hooks: hook plugins to register explicitly (with the default manager; giving
        both ``hooks`` and ``plugin_manager`` is a `TypeError`).
    :param strict: make the default discovery strict (any problem raises).
    """

    def __init__(
        self,
        *,
        discovery: Discovery | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        hooks: Iterable[object] = (),
        strict: bool = False,
    ) -> None:
        hooks = list(hooks)
        if plugin_manager is not None and hooks:
            # Registering them into a given manager would change it for every other
            # engine sharing it; ignoring them would drop them silently.
            raise TypeError(
                "Engine takes hooks= or plugin_manager=, not both: register the hooks "
                "in that manager with register_hooks(), or leave plugin_manager out"
            )
        self.discovery = discovery if discovery is not None else Discovery(strict=strict)
        if plugin_manager is None:
            plugin_manager = make_plugin_manager(discovery=self.discovery, plugins=hooks)
        self.plugin_manager = plugin_manager

    def package_class(self, handle: str) -> type[PackageService]:
        """The installed package ``handle`` (loaded on first use).

        :raises ComponentNotFoundError: listing the installed packages.
        :raises ComponentLoadError: naming the distribution and the original error.
        """
        package: type[PackageService] = self.discovery.load("dockyard.packages", handle)
        return package

    def plugin_class(self, handle: str) -> type[Invocable]:
        """The installed plugin ``handle`` (loaded on first use; its plugin type checked).

        :raises ComponentNotFoundError: listing the installed plugins.
        :raises ComponentLoadError: naming the distribution and the original error.
        """
        plugin: type[Invocable] = self.discovery.load("dockyard.plugins", handle)
        return plugin

    def compose(
        self,
        handle: str,
        mixins: Sequence[str | type[PackageMixin]],
        base: type[PackageService] = PackageService,
        config: Mapping[str, Any] | None = None,
    ) -> type[PackageService]:
        """`compose` with this engine's components and hooks."""
        return compose(
            handle,
            mixins,
            base,
            config,
            discovery=self.discovery,
            plugin_manager=self.plugin_manager,
            module=sys._getframe(1).f_globals.get("__name__"),
        )

    def create(
        self,
        package: str | type[Invocable],
        *,
        config: Mapping[str, Any] | BaseModel | None = None,
        context: InvocationContext | None = None,
        init: bool = False,
    ) -> Invocable:
        """Construct an instance wired to this engine's hooks.

        :param package: an installed package handle, or an invocable class.
        :param config: its config (validated now: a `ConfigError` lists every bad field).
        :param context: its invocation context.
        :param init: run ``instance_init()`` (do so once per persistent instance).
        """
        cls = self.package_class(package) if isinstance(package, str) else package
        instance = cls(config=config, context=context)
        instance._hooks = self.plugin_manager.hook
        instance._engine = self
        if init:
            instance.instance_init()
        self.plugin_manager.hook.dockyard_instance_created(instance=instance)
        return instance
