"""The shipped mixins are installed through Dockyard's own ``dockyard.mixins`` entry
points, found by discovery and ``dockyard list`` like anyone's, and composable by name."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

import dockyard.mixins
from dockyard import compose
from dockyard.cli import cli
from dockyard.core.discovery import Discovery
from dockyard.mixins import (
    BlockifierMixin,
    FileImporterMixin,
    IndexerMixin,
    IndexerPipelineMixin,
)

SHIPPED = {
    "blockifier": BlockifierMixin,
    "file-importer": FileImporterMixin,
    "indexer": IndexerMixin,
    "indexer-pipeline": IndexerPipelineMixin,
}


def test_discovery_finds_the_four_shipped_mixins() -> None:
    discovery = Discovery()
    names = set(discovery.names("dockyard.mixins"))
    assert set(SHIPPED) <= names
    for name, cls in SHIPPED.items():
        assert discovery.load("dockyard.mixins", name) is cls
        component = discovery.get("dockyard.mixins", name)
        assert component.provenance.distribution == "dockyard"


def test_dockyard_list_json_shows_them() -> None:
    done = CliRunner().invoke(cli, ["list", "--json", "--group", "mixins"])
    assert done.exit_code == 0, done.output
    listed = {
        c["name"]: c
        for c in json.loads(done.stdout)["components"]
        if c["distribution"] == "dockyard"
    }
    assert set(listed) == set(SHIPPED)
    for name, cls in SHIPPED.items():
        assert listed[name]["target"] == f"{cls.__module__}:{cls.__name__}"
        assert listed[name]["error"] is None


def test_each_has_its_own_config_section() -> None:
    keys = [cls.config_key for cls in SHIPPED.values()]
    assert sorted(keys) == ["blockifier", "file_importer", "indexer", "indexer_pipeline"]


def test_compose_by_name_adds_requirements_first() -> None:
    package = compose("by-name", mixins=["indexer-pipeline"])
    used = package.USED_MIXIN_CLASSES
    assert used == [
        FileImporterMixin,
        BlockifierMixin,
        IndexerMixin,
        IndexerPipelineMixin,
    ]


def test_all_is_sorted_and_every_name_documented() -> None:
    assert list(dockyard.mixins.__all__) == sorted(dockyard.mixins.__all__)
    for name in dockyard.mixins.__all__:
        assert getattr(dockyard.mixins, name).__doc__


def test_importing_one_mixin_does_not_import_numpy() -> None:
    code = (
        "import sys; from dockyard.mixins import FileImporterMixin, BlockifierMixin; "
        "print('numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
