"""What a call carries: `Invocation`, `InvocationContext`, `InvocableRequest`.

These are plain slotted dataclasses: one is built per request, so they cost
nothing beyond their fields. `InvocableRequest.from_dict` reads the JSON wire
form (snake_case or the camelCase Steamship clients send).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REQUEST_CONTEXT", "InvocableRequest", "Invocation", "InvocationContext"]


@dataclass(slots=True, kw_only=True)
class Invocation:
    """The call itself.

    :param http_verb: ``"GET"``, ``"POST"``, ... (any case).
    :param invocation_path: the route path (``"greet"`` and ``"/greet"`` are the same).
    :param arguments: the keyword arguments.
    """

    http_verb: str = "POST"
    invocation_path: str = "/"
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class InvocationContext:
    """Who is calling, on which instance: filled by the server or client, empty in-process.

    :param instance_handle: the package instance's handle.
    :param workspace_handle: its workspace's handle.
    :param package_handle: the package's handle.
    :param user: the calling user's handle.
    :param request_id: this request's id.
    :param invocation_url: the instance's base URL.
    :param headers: the request headers.
    :param task_id: the background task this call runs as, if any.
    """

    instance_handle: str | None = None
    workspace_handle: str | None = None
    package_handle: str | None = None
    user: str | None = None
    request_id: str | None = None
    invocation_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    task_id: str | None = None


@dataclass(slots=True, kw_only=True)
class InvocableRequest:
    """A call to an invocable: ``instance(InvocableRequest(invocation=Invocation(...)))``.

    :param invocation: the call.
    :param context: who is calling, where; None in-process.
    """

    invocation: Invocation
    context: InvocationContext | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InvocableRequest:
        """Read the JSON wire form ``{"invocation": {"httpVerb", "invocationPath", "arguments"}}``.

        :raises ValueError: naming the field that is missing or of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ValueError("request must be an object with an 'invocation' object")
        raw = data.get("invocation")
        if not isinstance(raw, Mapping):
            raise ValueError("request must have an 'invocation' object")
        verb = raw.get("http_verb", raw.get("httpVerb", "POST"))
        path = raw.get("invocation_path", raw.get("invocationPath"))
        arguments = raw.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(verb, str):
            raise ValueError("invocation.httpVerb must be a string such as 'POST'")
        if not isinstance(path, str):
            raise ValueError("invocation.invocationPath must be a string such as 'greet'")
        if not isinstance(arguments, Mapping):
            raise ValueError("invocation.arguments must be an object of keyword arguments")
        return cls(
            invocation=Invocation(http_verb=verb, invocation_path=path, arguments=dict(arguments))
        )


#: The context of the request being served in this thread (or task), if any. The runtime
#: sets it around each dispatch, so a cached instance shared by many requests sees the
#: caller of the current one as ``self.context``.
REQUEST_CONTEXT: ContextVar[InvocationContext | None] = ContextVar(
    "dockyard_request_context", default=None
)
