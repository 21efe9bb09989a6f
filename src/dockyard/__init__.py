"""Dockyard: build HTTP services out of pip-installable packages, mixins and typed plugins.

Names are imported on first use (PEP 562), so ``import dockyard`` and the CLI's listing
commands do not pay for pydantic until something needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard._lazy import lazy_exports

if TYPE_CHECKING:
    from dockyard.client import Dockyard, PackageInstance
    from dockyard.core.arguments import ArgSpec
    from dockyard.core.compose import compose
    from dockyard.core.config import Config
    from dockyard.core.engine import Engine
    from dockyard.core.errors import (
        ArgumentError,
        ConfigError,
        DockyardError,
        InternalError,
        InvocationError,
        MethodNotAllowedError,
        MixinError,
        RouteConflictError,
        RouteNotFoundError,
    )
    from dockyard.core.hooks import hookimpl
    from dockyard.core.mixin import PackageMixin
    from dockyard.core.request import InvocableRequest, Invocation, InvocationContext
    from dockyard.core.response import Http, InvocableResponse
    from dockyard.core.routes import Verb, endpoint, get, post
    from dockyard.core.service import Invocable, PackageService
    from dockyard.core.spec import MethodSpec, PackageSpec
    from dockyard.core.task import Task, TaskState

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ArgSpec": "dockyard.core.arguments",
    "ArgumentError": "dockyard.core.errors",
    "Config": "dockyard.core.config",
    "ConfigError": "dockyard.core.errors",
    "Dockyard": "dockyard.client",
    "DockyardError": "dockyard.core.errors",
    "Engine": "dockyard.core.engine",
    "Http": "dockyard.core.response",
    "InternalError": "dockyard.core.errors",
    "Invocable": "dockyard.core.service",
    "InvocableRequest": "dockyard.core.request",
    "InvocableResponse": "dockyard.core.response",
    "Invocation": "dockyard.core.request",
    "InvocationContext": "dockyard.core.request",
    "InvocationError": "dockyard.core.errors",
    "MethodNotAllowedError": "dockyard.core.errors",
    "MethodSpec": "dockyard.core.spec",
    "MixinError": "dockyard.core.errors",
    "PackageInstance": "dockyard.client",
    "PackageMixin": "dockyard.core.mixin",
    "PackageService": "dockyard.core.service",
    "PackageSpec": "dockyard.core.spec",
    "RouteConflictError": "dockyard.core.errors",
    "RouteNotFoundError": "dockyard.core.errors",
    "Task": "dockyard.core.task",
    "TaskState": "dockyard.core.task",
    "Verb": "dockyard.core.routes",
    "compose": "dockyard.core.compose",
    "endpoint": "dockyard.core.routes",
    "get": "dockyard.core.routes",
    "hookimpl": "dockyard.core.hooks",
    "post": "dockyard.core.routes",
}

__all__ = [
    "ArgSpec",
    "ArgumentError",
    "Config",
    "ConfigError",
    "Dockyard",
    "DockyardError",
    "Engine",
    "Http",
    "InternalError",
    "Invocable",
    "InvocableRequest",
    "InvocableResponse",
    "Invocation",
    "InvocationContext",
    "InvocationError",
    "MethodNotAllowedError",
    "MethodSpec",
    "MixinError",
    "PackageInstance",
    "PackageMixin",
    "PackageService",
    "PackageSpec",
    "RouteConflictError",
    "RouteNotFoundError",
    "Task",
    "TaskState",
    "Verb",
    "compose",
    "endpoint",
    "get",
    "hookimpl",
    "post",
]


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
