"""A third party's plugin type, a plugin of it and a package using it, from the example
distribution ``examples/classifiers``: discovered through its real entry points,
listed by ``dockyard list`` under its plugin type, and used from a package, from the
client and by handle from the CLI.

The distribution is installed as a real ``.dist-info`` (entry points read from the
example's own ``pyproject.toml``) whose code is the example's ``src/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dockyard.client import Dockyard, PluginInstance
from dockyard.core.discovery import Discovery
from dockyard.plugins.service import is_plugin_type

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

if TYPE_CHECKING:
    from conftest import DistFactory

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "classifiers"
DOCKYARD = Path(sys.executable).parent / "dockyard"


@pytest.fixture
def installed(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """The example installed; yields the PYTHONPATH that sees it."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    root = make_dist(project["name"], project["version"], entry_points=project["entry-points"])
    src = EXAMPLE / "src"
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("DOCKYARD_HOME", str(tmp_path / "home"))
    yield os.pathsep.join([str(root), str(src)])
    for name in [m for m in sys.modules if m.split(".")[0] == "dockyard_classifiers"]:
        del sys.modules[name]


def dockyard(pythonpath: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": pythonpath, "PYTHONNOUSERSITE": "1"}
    return subprocess.run(
        [str(DOCKYARD), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_plugin_type_and_plugin_are_discovered(installed: str) -> None:
    discovery = Discovery()
    types = discovery.plugin_types()
    classifier = types["classifier"]
    assert is_plugin_type(classifier)
    assert classifier.plugin_route == "/classify"  # type: ignore[attr-defined]
    plugin = discovery.load("dockyard.plugins", "keyword-sentiment")
    assert plugin.plugin_type is classifier
    provenance = discovery.get("dockyard.plugins", "keyword-sentiment").provenance
    assert (provenance.distribution, provenance.version) == ("dockyard-classifiers", "0.1.0")
    assert [p.message for p in discovery.problems] == []


def test_dockyard_list_shows_the_plugin_under_its_type(installed: str) -> None:
    done = dockyard(installed, "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["plugins_by_type"]["classifier"] == ["keyword-sentiment"]
    by_name = {c["name"]: c for c in listed["components"]}
    assert by_name["keyword-sentiment"]["plugin_type"] == "classifier"
    assert by_name["keyword-sentiment"]["distribution"] == "dockyard-classifiers"
    assert by_name["classifier"]["kind"] == "plugin type"
    # The shipped plugins are grouped the same way, by their own (shipped) types.
    assert "regex-tagger" in listed["plugins_by_type"]["tagger"]

    table = dockyard(installed, "list").stdout
    section = table.split("Plugins of type classifier:")[1].split("\n\n")[0]
    assert "keyword-sentiment" in section
    assert "dockyard_classifiers.sentiment:KeywordSentiment" in section
    assert "regex-tagger" not in section


def test_a_package_uses_the_third_party_plugin(installed: str) -> None:
    with Dockyard() as client:
        desk = client.use("review-desk", config={"also_positive": ["cosy"]})
        assert desk.invoke("review", text="A cosy, friendly place") == {
            "label": "positive",
            "score": 1.0,
        }
        assert desk.invoke("review", text="Cold soup and rude staff")["label"] == "negative"
        assert desk.invoke("review", text="It was a Tuesday")["label"] == "neutral"
        assert desk.invoke("tally", "GET") == {"positive": 1, "negative": 1, "neutral": 1}


def test_the_client_runs_the_plugin_with_its_typed_output(installed: str) -> None:
    from dockyard_classifiers.types import ClassifyOutput  # type: ignore[import-not-found]

    with Dockyard() as client:
        sentiment = client.use_plugin("keyword-sentiment", config={"negative": ["meh"]})
        assert isinstance(sentiment, PluginInstance)
        out = sentiment.run({"text": "meh, and meh again"})
        assert isinstance(out, ClassifyOutput)
        assert (out.label, out.score) == ("negative", 1.0)
        with pytest.raises(TypeError, match=r"tag\(\) is for Tagger plugins"):
            sentiment.tag({"blocks": []})


def test_the_cli_invokes_the_plugin_by_handle(installed: str) -> None:
    done = dockyard(installed, "invoke", "keyword-sentiment", "classify", "text=great and tasty")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["label"] == "positive"
    done = dockyard(installed, "invoke", "keyword-sentiment", "classify", "text=")
    assert done.returncode == 1
    assert "text" in done.stderr
