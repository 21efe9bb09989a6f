"""Dockyard: build HTTP services out of pip-installable packages, mixins and typed plugins."""

from dockyard.core.arguments import ArgSpec
from dockyard.core.config import Config
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
from dockyard.core.mixin import PackageMixin
from dockyard.core.request import InvocableRequest, Invocation, InvocationContext
from dockyard.core.response import Http, InvocableResponse
from dockyard.core.routes import Verb, endpoint, get, post
from dockyard.core.service import Invocable, PackageService
from dockyard.core.spec import MethodSpec, PackageSpec

__version__ = "0.1.0"

__all__ = [
    "ArgSpec",
    "ArgumentError",
    "Config",
    "ConfigError",
    "DockyardError",
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
    "PackageMixin",
    "PackageService",
    "PackageSpec",
    "RouteConflictError",
    "RouteNotFoundError",
    "Verb",
    "endpoint",
    "get",
    "post",
]
