"""Helpers for testing packages, mixins and plugins in-process."""

from __future__ import annotations

from typing import Any

from dockyard.core.request import InvocableRequest, Invocation
from dockyard.core.response import InvocableResponse
from dockyard.core.service import Invocable

__all__ = ["call"]


def call(invocable: Invocable, verb: str, path: str, /, **arguments: Any) -> InvocableResponse:
    """Dispatch one request to ``invocable`` in-process, exactly as the server would.

    :param invocable: the package (or plugin) instance.
    :param verb: the HTTP verb, e.g. ``"POST"``.
    :param path: the route path, e.g. ``"greet"``.
    :param arguments: the call's keyword arguments (any names, ``verb`` and ``path`` included).
    :returns: the response; errors come back in it, never raised.
    """
    return invocable(
        InvocableRequest(
            invocation=Invocation(http_verb=verb, invocation_path=path, arguments=arguments)
        )
    )
