"""Cost of listing installed components: ``dockyard list`` vs a bare ``entry_points()`` call.

Run by hand from the repository root, with the venv Dockyard is installed in::

    python bench/discovery.py

What is measured, with 200 synthetic installed distributions in a temporary directory
(``bench-mixin-NNN``, one ``dockyard.mixins`` entry point each, pointing at a module
that would import Dockyard and define a mixin) on ``PYTHONPATH``, each as a whole
process, wall time around ``subprocess.run``:

- ``dockyard list`` and ``dockyard list --json``: the console script of the venv
  ``sys.executable`` belongs to;
- ``python -c "import importlib.metadata as m; m.entry_points(group='dockyard.mixins')"``,
  the floor: the same interpreter start-up plus the same metadata scan, nothing else;
- ``python -c "from dockyard.core.discovery import Discovery; Discovery()"``, for
  reference: the listing without the command line (click) around it;
- ``python -c pass``, for reference: interpreter start-up alone.

Every process reads and writes its bytecode cache in the temporary directory
(``PYTHONPYCACHEPREFIX``; ``PYTHONDONTWRITEBYTECODE`` is dropped), and the first, untimed
run of each command fills it: an installed Dockyard runs from ``.pyc`` files too.
Rounds are interleaved (every command once per round) and figures are medians over
rounds, so machine noise hits every command alike. Target: ``dockyard list`` <= 1.5x
the bare ``entry_points()`` call.

Then, in one subprocess, the synthetic component modules in `sys.modules` are counted
before and after ``Discovery()`` (listing must import none), and after loading one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DISTRIBUTIONS = 200
ROUNDS = 15
TARGET_RATIO = 1.5
PREFIX = "bench_mixin_"

MODULE_SOURCE = """\
from dockyard import PackageMixin


class Mixin(PackageMixin):
    pass
"""

IMPORT_CHECK = f"""\
import json, sys
def count():
    return sum(name.startswith({PREFIX!r}) for name in sys.modules)
before = count()
from dockyard.core.discovery import Discovery
discovery = Discovery()
listed = len(discovery.components("dockyard.mixins"))
after_listing = count()
pydantic_after_listing = "pydantic" in sys.modules
discovery.load("dockyard.mixins", discovery.names("dockyard.mixins")[0])
after_one_load = count()
print(json.dumps({{"listed": listed, "before": before, "after_listing": after_listing,
       "pydantic_after_listing": pydantic_after_listing, "after_one_load": after_one_load}}))
"""


def install(root: Path, count: int) -> None:
    """Write ``count`` installed distributions (dist-info + one module each) into ``root``."""
    for i in range(count):
        module = f"{PREFIX}{i:03d}"
        (root / f"{module}.py").write_text(MODULE_SOURCE)
        info = root / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: bench-mixin-{i:03d}\nVersion: 1.0\n"
        )
        (info / "entry_points.txt").write_text(f"[dockyard.mixins]\nm{i:03d} = {module}:Mixin\n")
        (info / "top_level.txt").write_text(f"{module}\n")
        (info / "RECORD").write_text(
            f"{module}.py,,\n"
            + "".join(
                f"{info.name}/{name},,\n"
                for name in ("METADATA", "entry_points.txt", "top_level.txt", "RECORD")
            )
        )


def commands() -> dict[str, list[str]]:
    """The commands timed, by label."""
    script = shutil.which("dockyard", path=str(Path(sys.executable).parent))
    if script is None:
        sys.exit(f"no dockyard console script next to {sys.executable}; pip install -e . first")
    bare = "import importlib.metadata as m; m.entry_points(group='dockyard.mixins')"
    listing = "from dockyard.core.discovery import Discovery; Discovery()"
    return {
        "dockyard list": [script, "list"],
        "dockyard list --json": [script, "list", "--json"],
        "python: entry_points(group=...)": [sys.executable, "-c", bare],
        "python: Discovery(), no CLI": [sys.executable, "-c", listing],
        "python -c pass": [sys.executable, "-c", "pass"],
    }


def check(env: dict[str, str], timed: dict[str, list[str]]) -> None:
    """Fail loudly unless every command works and ``dockyard list`` sees every component."""
    for command in timed.values():
        subprocess.run(command, env=env, check=True, capture_output=True)
    listed = subprocess.run(
        timed["dockyard list --json"], env=env, check=True, capture_output=True, text=True
    )
    mine = [c for c in json.loads(listed.stdout)["components"] if c["name"].startswith("m")]
    assert len(mine) >= DISTRIBUTIONS, len(mine)
    assert all(c["status"] == "listed" for c in mine)


def wall_ms(env: dict[str, str], timed: dict[str, list[str]]) -> dict[str, float]:
    """Median over interleaved rounds of each command's wall time, in ms."""
    times: dict[str, list[float]] = {label: [] for label in timed}
    for _ in range(ROUNDS):
        for label, command in timed.items():
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
            times[label].append((time.perf_counter() - start) * 1e3)
    return {label: statistics.median(values) for label, values in times.items()}


def imports(env: dict[str, str]) -> dict[str, object]:
    """Synthetic component modules in `sys.modules` around ``Discovery()``, in a subprocess."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK], env=env, check=True, capture_output=True, text=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    """Install, check, measure, print."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-discovery-") as tmp:
        root = Path(tmp)
        install(root, DISTRIBUTIONS)
        env = {**os.environ, "PYTHONPATH": str(root), "PYTHONNOUSERSITE": "1"}
        # Installed software runs from bytecode caches: let the warm-up runs write them
        # (into the temporary directory, not the source tree) even where the shell sets
        # PYTHONDONTWRITEBYTECODE, or every run would compile Dockyard's sources anew.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        timed = commands()
        check(env, timed)  # also warms the page cache and writes the .pyc files
        medians = wall_ms(env, timed)
        modules = imports(env)

    print(
        f"{DISTRIBUTIONS} installed distributions, one dockyard.mixins entry point each; "
        f"{sys.executable} (Python {sys.version.split()[0]})"
    )
    print(f"Wall time per process (median of {ROUNDS} interleaved rounds; ms):")
    floor = medians["python: entry_points(group=...)"]
    for label, ms in medians.items():
        print(f"  {label:<34} {ms:8.1f}  {ms / floor:5.2f}x")
    ratio = medians["dockyard list"] / floor
    print()
    print("Listing imports no component:")
    print(f"  components listed by Discovery():        {modules['listed']}")
    print(f"  component modules in sys.modules before: {modules['before']}")
    print(f"  ... after Discovery():                   {modules['after_listing']}")
    print(f"  ... after loading one component:         {modules['after_one_load']}")
    print(f"  pydantic imported by listing:            {modules['pydantic_after_listing']}")
    print()
    print("Targets:")
    checks = [
        (
            f"dockyard list <= {TARGET_RATIO}x entry_points()",
            f"{ratio:.2f}x",
            ratio <= TARGET_RATIO,
        ),
        (
            "listing imports no component module",
            str(modules["after_listing"]),
            modules["after_listing"] == 0,
        ),
    ]
    for label, value, ok in checks:
        print(f"  {label:<40} {value:>8}  {'ok' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
