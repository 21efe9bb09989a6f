"""The Dockyard error hierarchy.

Every error Dockyard raises on purpose derives from `DockyardError`, and each
subclass also derives from the builtin exception it means, so ``except ValueError``
keeps working for callers that do not know Dockyard::

    DockyardError (Exception)                       500 unless told otherwise
    ├── RouteConflictError (DockyardError, ValueError)       two routes claim one (verb, path)
    ├── ConfigError (DockyardError, ValueError)              422: config invalid or missing
    ├── MixinError (DockyardError, TypeError)                a mixin misused (listed, never added)
    └── InvocationError (DockyardError)                      a call that cannot be served
        ├── ArgumentError (InvocationError, ValueError)      422: arguments invalid
        ├── RouteNotFoundError (InvocationError, LookupError)  404: no such path
        ├── MethodNotAllowedError (InvocationError, LookupError)  405: path exists, verb does not
        ├── InternalError (InvocationError)                  500: an unexpected exception, by id
        └── PluginOutputError (InvocationError, TypeError)   500: a plugin returned the wrong shape

An error carries a machine-readable ``code``, an HTTP ``status``, a human
``message`` saying what went wrong and where, a ``suggestion`` saying how to fix
it, and JSON ``details``.  `DockyardError.to_dict` is the body the HTTP layer
sends: ``{"error": {"code", "message", "suggestion", "details"}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.core.spec import MethodSpec

__all__ = [
    "ArgumentError",
    "ConfigError",
    "DockyardError",
    "InternalError",
    "InvocationError",
    "MethodNotAllowedError",
    "MixinError",
    "PluginOutputError",
    "RouteConflictError",
    "RouteNotFoundError",
]


class DockyardError(Exception):
    """Base class of every error Dockyard raises on purpose.

    Raise it (or a subclass) from a package method to answer with that status:
    the message, code and suggestion reach the caller as they are.

    :param message: what went wrong, and where.
    :param code: a stable machine-readable identifier (``snake_case``).
    :param status: the HTTP status the error maps to.
    :param suggestion: how to fix it, addressed to whoever can.
    :param details: JSON-serialisable extra facts (field names, accepted values...).
    """

    default_code: str = "dockyard_error"
    default_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        suggestion: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.status = status if status is not None else self.default_status
        self.suggestion = suggestion
        self.details = details

    def __str__(self) -> str:
        if self.suggestion:
            return f"{self.message} ({self.suggestion})"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON body sent over HTTP."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "suggestion": self.suggestion,
                "details": self.details,
            }
        }


class RouteConflictError(DockyardError, ValueError):
    """Two routes claim the same (verb, path) and neither may override the other.

    :param existing: the `MethodSpec` already registered.
    :param duplicate: the `MethodSpec` that tried to take its place.
    """

    default_code = "route_conflict"
    default_status = 500

    def __init__(
        self,
        existing: MethodSpec,
        duplicate: MethodSpec,
        *,
        where: str,
        suggestion: str | None = None,
    ) -> None:
        self.existing = existing
        self.duplicate = duplicate
        message = (
            f"route conflict in {where}: {duplicate.verb.value} {duplicate.path} is defined by "
            f"{duplicate.describe_origin()} and by {existing.describe_origin()}"
        )
        super().__init__(
            message,
            suggestion=suggestion
            or (
                "rename one of the paths, or override the route in a subclass; "
                "add_mixin/scan_mixin accept permit_overwrite_of_existing_methods=True "
                "to replace it on purpose"
            ),
            details={
                "verb": duplicate.verb.value,
                "path": duplicate.path,
                "existing": existing.describe_origin(),
                "duplicate": duplicate.describe_origin(),
            },
        )


class ConfigError(DockyardError, ValueError):
    """Config given to an invocable is invalid or incomplete (every bad field is listed)."""

    default_code = "invalid_config"
    default_status = 422


class MixinError(DockyardError, TypeError):
    """A mixin is misused: listed but never added, added twice, or not a mixin."""

    default_code = "mixin_error"
    default_status = 500


class InvocationError(DockyardError):
    """A request that cannot be served as asked."""

    default_code = "invocation_error"
    default_status = 400


class ArgumentError(InvocationError, ValueError):
    """Arguments of a call are missing, unknown or of the wrong type (every problem is listed)."""

    default_code = "invalid_arguments"
    default_status = 422


class RouteNotFoundError(InvocationError, LookupError):
    """No route has the requested path."""

    default_code = "not_found"
    default_status = 404


class MethodNotAllowedError(InvocationError, LookupError):
    """The path exists, but not for the requested HTTP verb."""

    default_code = "method_not_allowed"
    default_status = 405


class InternalError(InvocationError):
    """A method raised an unexpected exception; the traceback is logged under ``error_id``.

    :param error_id: the identifier under which the traceback was logged.
    """

    default_code = "internal_error"
    default_status = 500

    def __init__(self, message: str, *, error_id: str) -> None:
        self.error_id = error_id
        super().__init__(
            message,
            suggestion=f"this is a bug in the service; its log has the traceback under {error_id}",
            details={"error_id": error_id},
        )


class PluginOutputError(InvocationError, TypeError):
    """A plugin's ``run`` returned something that is not its plugin type's output: a bug
    in the plugin, not the caller's fault (500), named with the plugin and the field."""

    default_code = "plugin_output_invalid"
    default_status = 500
