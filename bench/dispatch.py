"""Per-request dispatch cost and class-build time, Dockyard vs Steamship, in one run.

Run by hand from the repository root (installs the Steamship peer venv on first use)::

    python bench/dispatch.py            # Dockyard and Steamship side by side
    python bench/dispatch.py --no-peers # Dockyard only

What is measured, for packages of 1, 10, 100 and 1,000 ``@post`` routes
``say_hello_<i>(self, name: str) -> str``:

- Dockyard: build ``InvocableRequest(invocation=Invocation(...))`` and call
  ``instance(request)`` on an instance built once (Dockyard never builds an instance
  per request), argument validation and response included.
- Steamship (``bench/peers/steamship_dispatch.py``): its own ``internal_handler``,
  which constructs the package (cloning the route table) on every request.

Class build: defining 100 mixin classes of 10 routes each plus the package listing
them in ``USED_MIXIN_CLASSES`` (1,000 routes), and the package class alone.

Figures are medians over rounds of per-round means (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard import InvocableRequest, Invocation, PackageMixin, PackageService, post

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 9
ROUTE_COUNTS = (1, 10, 100, 1000)
REQUESTS_PER_ROUND = 20_000
TARGET_US_AT_1 = 15.0
TARGET_RATIO_1000 = 1.2
TARGET_BUILD_MS = 30.0


def make_route(name: str) -> Callable[..., str]:
    """An undecorated route function ``name(self, name: str) -> str``."""

    def route(self: Any, name: str) -> str:
        return f"Hello, {name}!"

    route.__name__ = route.__qualname__ = name
    return route


def make_package(route_count: int) -> type[PackageService]:
    """A package class with ``route_count`` POST routes."""
    body = {
        f"say_hello_{i}": post(f"say_hello_{i}")(make_route(f"say_hello_{i}"))
        for i in range(route_count)
    }
    return type(f"Bench{route_count}", (PackageService,), body)


def per_request_us() -> dict[int, float]:
    """Median over rounds of the mean µs per request to the middle route, per route count.

    Rounds are interleaved across route counts, so machine noise hits every count alike.
    """
    calls: dict[int, Callable[[], Any]] = {}
    for count in ROUTE_COUNTS:
        instance = make_package(count)()
        path = f"say_hello_{count // 2}"

        def call(instance: PackageService = instance, path: str = path) -> Any:
            return instance(
                InvocableRequest(
                    invocation=Invocation(
                        http_verb="POST", invocation_path=path, arguments={"name": "Ted"}
                    )
                )
            )

        assert call().data == "Hello, Ted!"
        calls[count] = call
    means: dict[int, list[float]] = {count: [] for count in ROUTE_COUNTS}
    for _ in range(ROUNDS):
        for count, call in calls.items():
            start = time.perf_counter()
            for _ in range(REQUESTS_PER_ROUND):
                call()
            means[count].append((time.perf_counter() - start) / REQUESTS_PER_ROUND * 1e6)
    return {count: statistics.median(values) for count, values in means.items()}


def build_ms(collect_garbage: bool) -> tuple[float, float]:
    """Median ms to define 100 mixins x 10 routes + the package; and the package alone.

    :param collect_garbage: leave the cyclic GC on while timing. A full collection that
        happens to fall inside a round costs as much as the build itself here (pydantic
        keeps ~10^5 objects alive), so rounds are also timed with it off, as timeit does.
    """
    totals, packages = [], []
    for round_ in range(ROUNDS):
        gc.collect()
        if not collect_garbage:
            gc.disable()
        try:
            start = time.perf_counter()
            mixins = [
                type(
                    f"Mixin{round_}_{m}",
                    (PackageMixin,),
                    {f"m{m}_r{r}": post(f"m{m}/r{r}")(make_route(f"m{m}_r{r}")) for r in range(10)},
                )
                for m in range(100)
            ]
            middle = time.perf_counter()
            package = type(f"Composed{round_}", (PackageService,), {"USED_MIXIN_CLASSES": mixins})
            end = time.perf_counter()
        finally:
            gc.enable()
        assert len(package.spec) == 1000 + 3, len(package.spec)  # + the built-in routes
        totals.append((end - start) * 1e3)
        packages.append((end - middle) * 1e3)
    return statistics.median(totals), statistics.median(packages)


def steamship() -> dict[str, Any] | None:
    """Steamship's figures, measured now in its own venv (None if it cannot be set up)."""
    setup = subprocess.run(["bash", str(ROOT / "bench/setup_peers.sh")], check=False)
    python = ROOT / "bench/.venv-steamship/bin/python"
    if setup.returncode != 0 or not python.exists():
        print("! Steamship peer venv could not be set up; Dockyard figures only", file=sys.stderr)
        return None
    out = subprocess.run(
        [str(python), str(ROOT / "bench/peers/steamship_dispatch.py")],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    """Measure, then print a table of medians and ratios, and the targets."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-peers", action="store_true", help="skip the Steamship side")
    options = parser.parse_args()

    ours = per_request_us()
    total_ms, package_ms = build_ms(collect_garbage=True)
    total_nogc_ms, package_nogc_ms = build_ms(collect_garbage=False)
    peer = None if options.no_peers else steamship()

    print(f"Per request (median of {ROUNDS} rounds; µs):")
    print(f"{'routes':>7}  {'dockyard':>9}  {'steamship':>10}  {'ratio':>8}")
    for n in ROUTE_COUNTS:
        theirs = peer["per_request_us"][str(n)] if peer else None
        ratio = f"{theirs / ours[n]:7.1f}x" if theirs else "-"
        print(f"{n:>7}  {ours[n]:9.2f}  {theirs if theirs else '-':>10}  {ratio:>8}")
    print()
    print("Class build, 100 mixins x 10 routes (median ms):")
    print(f"  dockyard, mixin classes + package: {total_ms:.2f} (GC off: {total_nogc_ms:.2f})")
    print(f"  dockyard, package class alone:     {package_ms:.2f} (GC off: {package_nogc_ms:.2f})")
    if peer:
        theirs = peer["build_1000_routes_ms"]
        ratio = theirs / total_ms
        print(f"  steamship, mixin classes + package: {theirs:.2f} ({ratio:.1f}x dockyard)")
    print()
    flat = ours[1000] / ours[1]
    print("Targets:")
    checks = [
        (
            f"<= {TARGET_US_AT_1} µs per request at 1 route",
            f"{ours[1]:.2f} µs",
            ours[1] <= TARGET_US_AT_1,
        ),
        (
            f"1,000 routes <= {TARGET_RATIO_1000}x of 1 route",
            f"{flat:.2f}x",
            flat <= TARGET_RATIO_1000,
        ),
        (
            f"1,000-route build <= {TARGET_BUILD_MS} ms",
            f"{total_ms:.2f} ms",
            total_ms <= TARGET_BUILD_MS,
        ),
    ]
    for label, value, ok in checks:
        print(f"  {label:<40} {value:>10}  {'ok' if ok else 'MISSED'}")
    if peer:
        print(f"\nSteamship {peer['version']}: {peer['notes']}")


if __name__ == "__main__":
    main()
