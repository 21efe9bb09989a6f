"""Lifecycle hooks (pluggy): where third-party code may watch or shape what Dockyard does.

Table of contents — each hook, when it fires, and who fires it:

======================================================  ===========================================
``dockyard_package_composed(package_cls)``              a package class was built by `compose`
``dockyard_instance_created(instance)``                 an engine made a package or plugin instance
``dockyard_before_invoke(instance, request)``           a request is about to be dispatched
``dockyard_after_invoke(instance, request, response)``  a request was dispatched (errors included)
``dockyard_app_created(app)``                           the HTTP server's app was built
======================================================  ===========================================

Implementations come from the ``dockyard.hooks`` entry-point group (a module or
object with ``@hookimpl`` functions) and from explicit registration in code. There
is no global plugin manager: each engine or app makes its own with
`make_plugin_manager`. Registration validates a plugin completely before touching
the manager, so a plugin with one bad hook registers none of them (pluggy's own
``register()`` can leave a plugin half-registered).

A ``dockyard_before_invoke`` implementation may raise `DockyardError` to refuse a
call: the caller gets that error and its status, and the method does not run.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from dockyard.core.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.core.discovery import Discovery
    from dockyard.core.request import InvocableRequest
    from dockyard.core.response import InvocableResponse
    from dockyard.core.service import Invocable, PackageService

__all__ = [
    "DockyardHookSpecs",
    "HookRegistrationError",
    "hookimpl",
    "hookspec",
    "make_plugin_manager",
    "register_hooks",
]

PROJECT = "dockyard"

#: Marks a hook specification (Dockyard's own, in `DockyardHookSpecs`).
hookspec = pluggy.HookspecMarker(PROJECT)
#: Marks a hook implementation: ``@hookimpl def dockyard_instance_created(instance): ...``.
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookRegistrationError(DockyardError, ValueError):
    """A hook plugin cannot be registered (nothing of it was registered)."""

    default_code = "hook_registration_failed"
    default_status = 500


class DockyardHookSpecs:
    """The hooks Dockyard calls; implement any of them with ``@hookimpl``."""

    @hookspec
    def dockyard_package_composed(self, package_cls: type[PackageService]) -> None:
        """Called after `compose` built ``package_cls``, before anything uses it."""

    @hookspec
    def dockyard_instance_created(self, instance: Invocable) -> None:
        """Called after an engine constructed ``instance`` (and ran its instance_init, if asked)."""

    @hookspec
    def dockyard_before_invoke(self, instance: Invocable, request: InvocableRequest) -> None:
        """Called before dispatching ``request`` on ``instance``; raise DockyardError to refuse."""

    @hookspec
    def dockyard_after_invoke(
        self, instance: Invocable, request: InvocableRequest, response: InvocableResponse
    ) -> None:
        """Called after ``request`` was dispatched on ``instance``, with its ``response``."""

    @hookspec
    def dockyard_app_created(self, app: Any) -> None:
        """Called after the HTTP server built its ``app`` (a Flask app), before it serves."""


def _validate(pm: pluggy.PluginManager, plugin: object, name: str) -> list[str]:
    """Every hook implementation of ``plugin``, checked against the specs; raise if any is bad.

    Checks what pluggy's own ``register()`` would reject (unknown hook, an argument the
    hook does not pass, a wrapper that is not a generator), so that nothing is registered
    when something is wrong.
    """
    found: list[str] = []
    problems: list[str] = []
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        found.append(attr)
        hook_name = opts.get("specname") or attr
        shown = attr if hook_name == attr else f"{attr} (specname {hook_name})"
        caller = getattr(pm.hook, hook_name, None)
        spec = getattr(caller, "spec", None)
        if spec is None:
            known = ", ".join(sorted(n for n in vars(DockyardHookSpecs) if n.startswith(PROJECT)))
            problems.append(f"{shown} is not a Dockyard hook (hooks: {known})")
            continue
        impl = getattr(plugin, attr)
        params = [
            p.name
            for p in inspect.signature(impl).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        extra = [p for p in params if p not in spec.argnames]
        if extra:
            problems.append(
                f"{shown} takes {', '.join(extra)}, which the hook does not pass "
                f"(it passes {', '.join(spec.argnames)})"
            )
        wrapper = bool(opts.get("wrapper")) or bool(opts.get("hookwrapper"))
        if opts.get("wrapper") and opts.get("hookwrapper"):
            problems.append(f"{shown} is marked both wrapper=True and hookwrapper=True")
        elif wrapper and not inspect.isgeneratorfunction(impl):
            problems.append(f"{shown} is a wrapper but not a generator function (it must yield)")
    if problems:
        raise HookRegistrationError(
            f"hook plugin {name} cannot be registered: {'; '.join(problems)}",
            suggestion="fix the listed hook implementations; none of the plugin's hooks "
            "was registered",
            details={"plugin": name, "problems": problems},
        )
    if not found:
        raise HookRegistrationError(
            f"hook plugin {name} has no @hookimpl functions",
            suggestion="decorate its functions with dockyard.core.hooks.hookimpl",
        )
    return found


def register_hooks(pm: pluggy.PluginManager, plugin: object, name: str | None = None) -> str:
    """Register ``plugin``'s hook implementations: all of them, or none.

    :param pm: a manager from `make_plugin_manager`.
    :param plugin: a module, class or object with ``@hookimpl`` functions.
    :param name: the registration name (default: pluggy's, from the object).
    :returns: the name it was registered under.
    :raises HookRegistrationError: naming every bad hook; the manager is unchanged.
    """
    registration = name or pm.get_canonical_name(plugin)
    label = name or getattr(plugin, "__name__", None) or repr(plugin)
    if pm.is_registered(plugin):
        raise HookRegistrationError(f"hook plugin {label} is already registered")
    if pm.has_plugin(registration):
        raise HookRegistrationError(
            f"hook plugin {label}: the name {registration!r} is already registered "
            f"(by {pm.get_plugin(registration)!r})",
            suggestion="register it under another name",
        )
    _validate(pm, plugin, label)
    try:
        registered = pm.register(plugin, name=registration)
    except (pluggy.PluginValidationError, ValueError) as exc:
        # Older pluggy versions register hook by hook; undo whatever they did.
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        raise HookRegistrationError(
            f"hook plugin {label} cannot be registered: {exc}",
            suggestion="fix the hook implementation named; none of the plugin's hooks "
            "was registered",
            details={"plugin": label},
        ) from exc
    if registered is None:
        raise HookRegistrationError(
            f"hook plugin {label} is blocked in this plugin manager (nothing was registered)"
        )
    return registered


def make_plugin_manager(
    *,
    discovery: Discovery | None = None,
    plugins: Iterable[object] = (),
) -> pluggy.PluginManager:
    """A new plugin manager with Dockyard's hookspecs (one per engine or app, never global).

    :param discovery: load the ``dockyard.hooks`` entry points it found; a broken one is
        recorded in ``discovery.problems`` (or raises, if the discovery is strict).
    :param plugins: hook plugins to register explicitly, in order.
    :raises HookRegistrationError: if an explicit plugin is invalid.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(DockyardHookSpecs)
    if discovery is not None:
        from dockyard.core.discovery import ComponentLoadError, DiscoveryProblem

        for component in discovery.load_all("dockyard.hooks"):
            if component.error is not None:
                continue
            name = f"{component.provenance.distribution}:{component.name}"
            try:
                register_hooks(pm, component.load(), name=name)
            except (HookRegistrationError, ComponentLoadError) as exc:
                discovery.report(DiscoveryProblem("load_failed", str(exc), (component.provenance,)))
    for plugin in plugins:
        register_hooks(pm, plugin)
    return pm
