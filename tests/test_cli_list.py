"""``dockyard list``: the real console script, run against real installed distributions.

Each test installs tiny distributions into a temporary directory (``make_dist``) and
runs the ``dockyard`` console script of this venv with ``PYTHONPATH`` pointing there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import DistFactory

MIXIN_SOURCE = """
from dockyard import PackageMixin, PackageService

class Mixin(PackageMixin):
    pass

class Package(PackageService):
    pass
"""


@dataclass
class Installed:
    """A directory of installed distributions and what is in it."""

    root: Path
    good: str  # module of "good-mixins"
    broken: str  # module of "broken-dist": writes `marker` on import, then raises
    marker: Path


@pytest.fixture
def installed(make_dist: DistFactory, tmp_path: Path) -> Installed:
    good, broken = f"good_{make_dist.tag}", f"broken_{make_dist.tag}"
    marker = tmp_path / "broken-was-imported"
    make_dist(
        "good-mixins",
        "1.2",
        entry_points={
            "dockyard.mixins": {"greeter": f"{good}:Mixin"},
            "dockyard.packages": {"hello": f"{good}:Package"},
        },
        modules={good: MIXIN_SOURCE},
    )
    root = make_dist(
        "broken-dist",
        "0.3",
        entry_points={"dockyard.mixins": {"broken": f"{broken}:Mixin"}},
        modules={
            broken: f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('broken on purpose')\n"
        },
    )
    return Installed(root, good, broken, marker)


def dockyard_script() -> str:
    script = shutil.which("dockyard", path=str(Path(sys.executable).parent))
    assert script is not None, "the dockyard console script is not installed in this venv"
    return script


def run(root: Path, *args: str, python: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``dockyard ARGS`` (or ``python ARGS``) with ``root`` on ``PYTHONPATH``."""
    command = [sys.executable, *args] if python else [dockyard_script(), *args]
    python_path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        command,
        env={**os.environ, "PYTHONPATH": python_path, "PYTHONNOUSERSITE": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def rows(stdout: str, names: set[str]) -> dict[str, list[str]]:
    """Table rows (split on whitespace, kinds here have no spaces) whose NAME is in ``names``."""
    found = {}
    for line in stdout.splitlines()[1:]:
        cells = line.split(maxsplit=5)
        if len(cells) >= 2 and cells[1] in names:
            found[cells[1]] = cells
    return found


def test_table_shows_kind_name_distribution_version_target_and_status(
    installed: Installed,
) -> None:
    done = run(installed.root, "list")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == [
        "KIND",
        "NAME",
        "DISTRIBUTION",
        "VERSION",
        "TARGET",
        "STATUS",
    ]
    assert rows(done.stdout, {"broken", "greeter", "hello"}) == {
        "broken": ["mixin", "broken", "broken-dist", "0.3", f"{installed.broken}:Mixin", "listed"],
        "greeter": ["mixin", "greeter", "good-mixins", "1.2", f"{installed.good}:Mixin", "listed"],
        "hello": ["package", "hello", "good-mixins", "1.2", f"{installed.good}:Package", "listed"],
    }
    # Sorted by distribution: broken-dist before good-mixins.
    first_table = done.stdout.split("\n\n")[0]
    names = [line.split()[1] for line in first_table.splitlines()[1:]]
    assert names.index("broken") < names.index("greeter") < names.index("hello")


def test_listing_imports_no_component(installed: Installed) -> None:
    for args in (["list"], ["list", "--json"], ["list", "--group", "mixins"]):
        done = run(installed.root, *args)
        assert done.returncode == 0, done.stderr
        assert not installed.marker.exists(), f"dockyard {' '.join(args)} imported a component"
    # The marker does work: --load imports the module.
    run(installed.root, "list", "--load")
    assert installed.marker.exists()


def test_json_output(installed: Installed) -> None:
    done = run(installed.root, "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert set(listed) == {"components", "plugins_by_type", "problems"}
    assert listed["problems"] == []
    ours = {
        c["name"]: c for c in listed["components"] if c["name"] in {"broken", "greeter", "hello"}
    }
    assert ours["greeter"] == {
        "kind": "mixin",
        "group": "dockyard.mixins",
        "name": "greeter",
        "distribution": "good-mixins",
        "version": "1.2",
        "target": f"{installed.good}:Mixin",
        "status": "listed",
        "error": None,
    }
    assert (ours["hello"]["kind"], ours["hello"]["group"]) == ("package", "dockyard.packages")
    assert ours["broken"]["status"] == "listed"


@pytest.mark.parametrize("group", ["mixins", "dockyard.mixins"])
def test_group_option_restricts_the_listing(installed: Installed, group: str) -> None:
    done = run(installed.root, "list", "--json", "--group", group)
    assert done.returncode == 0, done.stderr
    components = json.loads(done.stdout)["components"]
    assert {c["group"] for c in components} == {"dockyard.mixins"}
    assert {"broken", "greeter"} <= {c["name"] for c in components}


def test_unknown_group_is_a_usage_error(installed: Installed) -> None:
    done = run(installed.root, "list", "--group", "mixinz")
    assert done.returncode == 2
    assert "unknown group 'mixinz'" in done.stderr
    assert "dockyard.mixins" in done.stderr


def test_load_shows_failures_with_their_reason(installed: Installed) -> None:
    done = run(installed.root, "list", "--load")
    assert done.returncode == 0, done.stderr
    found = rows(done.stdout, {"broken", "greeter", "hello"})
    assert found["greeter"][5] == "loaded"
    assert found["hello"][5] == "loaded"
    assert found["broken"][5] == "failed (import: RuntimeError: broken on purpose)"
    assert "Problem: mixin 'broken'" in done.stderr
    assert "broken-dist 0.3" in done.stderr

    done = run(installed.root, "list", "--load", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    broken = next(c for c in listed["components"] if c["name"] == "broken")
    assert broken["status"] == "failed"
    assert broken["error"] == "import: RuntimeError: broken on purpose"
    assert [p["kind"] for p in listed["problems"]] == ["load_failed"]
    assert "broken-dist 0.3" in listed["problems"][0]["message"]


def test_strict_exits_non_zero_when_something_is_broken(
    installed: Installed, make_dist: DistFactory
) -> None:
    done = run(installed.root, "list", "--load", "--strict")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Error: 1 problem(s)" in done.stderr
    assert "broken-dist 0.3" in done.stderr
    assert "broken on purpose" in done.stderr

    # Listing problems fail --strict without --load (and without importing anything).
    installed.marker.unlink()
    make_dist("rival", "9.0", entry_points={"dockyard.mixins": {"greeter": "rival:Mixin"}})
    assert run(installed.root, "list").returncode == 0
    done = run(installed.root, "list", "--strict")
    assert done.returncode == 1
    assert "good-mixins 1.2" in done.stderr
    assert "rival 9.0" in done.stderr
    assert not installed.marker.exists()


def test_strict_exits_zero_when_all_is_well(make_dist: DistFactory) -> None:
    mod = f"fine_{make_dist.tag}"
    root = make_dist(
        "fine",
        entry_points={"dockyard.mixins": {"fine": f"{mod}:Mixin"}},
        modules={mod: MIXIN_SOURCE},
    )
    done = run(root, "list", "--load", "--strict")
    assert done.returncode == 0, done.stderr
    assert rows(done.stdout, {"fine"})["fine"][5] == "loaded"


def test_listing_in_process_imports_neither_components_nor_pydantic(installed: Installed) -> None:
    # --no-types: plugins are not imported to tell their type either.
    code = (
        "import sys\n"
        "from dockyard.core.discovery import Discovery\n"
        "discovery = Discovery()\n"
        "names = [c.name for c in discovery.components()]\n"
        "assert {'broken', 'greeter', 'hello'} <= set(names), names\n"
        "from dockyard.cli import cli\n"
        "cli.main(['list', '--json', '--no-types'], standalone_mode=False)\n"
        f"print('component modules:', {installed.good!r} in sys.modules, "
        f"{installed.broken!r} in sys.modules)\n"
        "print('pydantic:', 'pydantic' in sys.modules)\n"
    )
    done = run(installed.root, "-c", code, python=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["component modules: False False", "pydantic: False"]
    assert not installed.marker.exists()


PLUGIN_SOURCE = """
from dockyard.plugins import PluginRequest, Tagger
from dockyard.plugins.types import TagInput, TagOutput


class Noop(Tagger):
    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        return TagOutput(file=request.data.file)
"""


def test_plugins_are_listed_by_plugin_type(make_dist: DistFactory) -> None:
    good, bad = f"tagplug_{make_dist.tag}", f"badplug_{make_dist.tag}"
    make_dist(
        "tag-plugins",
        "2.0",
        entry_points={"dockyard.plugins": {"noop-tagger": f"{good}:Noop"}},
        modules={good: PLUGIN_SOURCE},
    )
    root = make_dist(
        "bad-plugins",
        "0.1",
        entry_points={"dockyard.plugins": {"bad-plugin": f"{bad}:Plugin"}},
        modules={bad: "raise RuntimeError('broken on purpose')\n"},
    )
    done = run(root, "list", "--json", "--group", "plugins")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    by_type = listed["plugins_by_type"]
    assert "noop-tagger" in by_type["tagger"]
    assert "regex-tagger" in by_type["tagger"]
    assert list(by_type)[-1] == "(unknown: see its status)"
    assert by_type["(unknown: see its status)"] == ["bad-plugin"]
    ours = {c["name"]: c for c in listed["components"]}
    assert ours["noop-tagger"]["plugin_type"] == "tagger"
    assert ours["bad-plugin"]["status"] == "failed"
    assert "broken on purpose" in ours["bad-plugin"]["error"]

    table = run(root, "list").stdout
    tagger_section = table.split("Plugins of type tagger:")[1].split("\n\n")[0]
    assert "noop-tagger" in tagger_section
    assert "tag-plugins" in tagger_section
    assert "bad-plugin" in table.split("Plugins of type (unknown: see its status):")[1]
    # The first table (packages, mixins, plugin types...) lists no plugin.
    assert "noop-tagger" not in table.split("\n\n")[0]
    # --strict fails on the plugin that does not load, naming it.
    strict = run(root, "list", "--strict")
    assert strict.returncode == 1
    assert "bad-plugin" in strict.stderr
