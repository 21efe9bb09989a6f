"""dockyard.testing: in-process helpers for package authors."""

from __future__ import annotations

from dockyard import PackageService, post
from dockyard.testing import call


class Echo(PackageService):
    @post("echo")
    def echo(self, verb: str, path: str) -> list[str]:
        return [verb, path]


def test_call_dispatches_and_passes_any_argument_name() -> None:
    response = call(Echo(), "post", "/echo", verb="GET", path="x")
    assert (response.status, response.data) == (200, ["GET", "x"])


def test_call_returns_errors_in_the_response() -> None:
    response = call(Echo(), "GET", "echo")
    assert response.status == 405
    assert response.error is not None
