"""Steamship (PyPI ``steamship``) package-framework dispatch cost, for side-by-side ratios.

Run with the peer venv made by ``bench/setup_peers.sh``::

    bench/.venv-steamship/bin/python bench/peers/steamship_dispatch.py

Prints one JSON object:

- ``per_request_us``: for packages of 1, 10, 100 and 1,000 ``@post`` routes, the median
  (over rounds) of the mean microseconds per request. A request is one call of Steamship's
  own ``steamship.invocable.lambda_handler.internal_handler`` -- the in-process part of the
  deployed handler (``safe_handler`` -> ``handler`` -> ``internal_handler``): parse the
  event into an ``InvocableRequest``, construct the ``PackageService`` subclass (which
  clones the class's whole route table), call ``instance(request)`` for
  ``say_hello_<i>(self, name: str) -> str`` and wrap the result in an
  ``InvocableResponse``. The event carries only the invocation. Left out: the outer
  ``handler``'s logging setup, its per-request ``Steamship`` client construction and
  response serialisation, and the parsing of the ``clientConfig`` a real engine event
  also carries. The client is built once, offline (``trust_workspace_config=True``
  skips the workspace fetch, so no network call is made).
- ``build_1000_routes_ms``: median milliseconds to define 100 ``PackageMixin`` subclasses of
  10 ``@post`` routes each and a ``PackageService`` subclass using them through
  ``USED_MIXIN_CLASSES`` (1,000 routes, scanned in ``__init_subclass__``).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from steamship import Configuration, Steamship
from steamship.invocable import InvocationContext, PackageService, post
from steamship.invocable.lambda_handler import internal_handler
from steamship.invocable.package_mixin import PackageMixin

ROUNDS = 7
ROUTE_COUNTS = (1, 10, 100, 1000)
REQUESTS_PER_ROUND = {1: 1000, 10: 600, 100: 80, 1000: 8}
CLIENT_CONFIG = {
    "apiKey": "offline-benchmark-key",
    "apiBase": "http://localhost:1/api/v1/",
    "workspaceHandle": "bench",
    "workspaceId": "bench-id",
}  # for the client built once in main(); requests carry only the invocation


def make_route(method_name: str) -> Callable[..., str]:
    """An undecorated route function ``method_name(self, name: str) -> str``."""

    def route(self: Any, name: str) -> str:
        return f"Hello, {name}!"

    route.__name__ = route.__qualname__ = method_name
    return route


def make_package(route_count: int) -> type[PackageService]:
    """A PackageService subclass with ``route_count`` @post routes ``say_hello_<i>``."""
    names = [f"say_hello_{i}" for i in range(route_count)]
    routes = {name: post(name)(make_route(name)) for name in names}
    return type(f"Hello{route_count}", (PackageService,), routes)


def build_mixin_package(routes: list[list[Callable[..., str]]]) -> type[PackageService]:
    """Define one mixin per inner list (one @post route per function) and a package using them."""
    mixins = [
        type(
            f"Mixin{m}",
            (PackageMixin,),
            {fn.__name__: post(f"mixin_{m}/{fn.__name__}")(fn) for fn in fns},
        )
        for m, fns in enumerate(routes)
    ]
    return type("MixedPackage", (PackageService,), {"USED_MIXIN_CLASSES": mixins})


def per_request_us(route_count: int, client: Steamship, context: InvocationContext) -> float:
    """Median over ROUNDS of the mean microseconds for one ``internal_handler`` request."""
    package = make_package(route_count)
    event: dict[str, Any] = {
        "invocation": {
            "httpVerb": "POST",
            "invocationPath": f"say_hello_{route_count - 1}",
            "arguments": {"name": "world"},
            "config": {},
        },
    }

    def request() -> Any:
        return internal_handler(lambda: package, event, client, context)

    response = request()  # warm-up, and a check that the route really ran
    assert response.data == "Hello, world!", response
    n = REQUESTS_PER_ROUND[route_count]
    means = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            request()
        means.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(means)


def build_1000_routes_ms() -> float:
    """Median over ROUNDS of the milliseconds to define the 100 x 10 mixin package."""
    routes = [[make_route(f"r{r}") for r in range(10)] for _ in range(100)]
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        package = build_mixin_package(routes)
        times.append((time.perf_counter() - start) * 1e3)
        mixin_routes = package._package_spec.method_mappings["POST"]
        assert sum(path.startswith("/mixin_") for path in mixin_routes) == 1000
    return statistics.median(times)


def main() -> None:
    config = Configuration(**CLIENT_CONFIG)
    client = Steamship(config=config, trust_workspace_config=True)  # offline: no workspace fetch
    context = InvocationContext(invocable_handle="hello", invocable_type="package")
    result = {
        "per_request_us": {
            str(n): round(per_request_us(n, client, context), 1) for n in ROUTE_COUNTS
        },
        "build_1000_routes_ms": round(build_1000_routes_ms(), 2),
        "version": version("steamship"),
        "notes": (
            "per_request_us: median of 7 per-round means of Steamship's own internal_handler on "
            "an invocation-only event: InvocableRequest.parse_obj -> PackageService subclass "
            "constructed per request (clones its whole route table) -> instance(request) on a "
            "1-string-arg @post route -> InvocableResponse.from_obj. Offline Steamship client "
            "built "
            "once; outer handler() logging setup, per-request client construction, clientConfig "
            "parsing and response serialisation left out; root logger at default WARNING. "
            "build_1000_routes_ms: median of 7 definitions of 100 PackageMixin subclasses x 10 "
            "@post routes plus a PackageService subclass listing them in USED_MIXIN_CLASSES "
            "(mixin-class creation included)."
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
