"""`BlockifierMixin`: cutting imported files into blocks, chosen by mime type."""

from __future__ import annotations

import base64
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

import pytest

from dockyard import PackageMixin, PackageService
from dockyard.client import Dockyard, PackageInstance
from dockyard.mixins import BlockifierMixin, FileImporterMixin
from dockyard.mixins.errors import (
    FileNotFoundInStoreError,
    NoBlockifierError,
    NotReadyError,
    UnknownBlockifierError,
)
from dockyard.runtime import InstanceInitError

UseFn = Callable[..., PackageInstance]
StorageFn = Callable[[Dockyard, PackageInstance], Any]

MARKDOWN = "# Bees\n\nBees make honey.\n\n## Hives\n\nA hive holds a colony.\n"
CSV = "title,body\nFerries,Boats that carry people\nYachts,Boats for pleasure\n"


def test_requires_the_file_importer(packages: ModuleType) -> None:
    used = packages.Blocks.USED_MIXIN_CLASSES
    assert used == [FileImporterMixin, BlockifierMixin]
    paths = {m.path for m in packages.Blocks.spec.methods}
    assert {"/blockify_file", "/get_blocks", "/import_text"} <= paths


def test_markdown_is_cut_by_the_text_blockifier(packages: ModuleType, use: UseFn) -> None:
    blocks = use(packages.Blocks)
    file_id = blocks.invoke("import_text", text=MARKDOWN, mime_type="text/markdown")["id"]
    result = blocks.invoke("blockify_file", file_id=file_id)
    assert result["file_id"] == file_id
    assert result["blockifier"] == "text-blockifier"
    assert [b["text"] for b in result["blocks"]] == [
        "# Bees",
        "Bees make honey.",
        "## Hives",
        "A hive holds a colony.",
    ]
    assert {"id", "text", "mime_type", "tags"} <= set(result["blocks"][0])
    assert result["blocks"][0]["tags"][0]["kind"] == "heading"
    assert blocks.invoke("get_blocks", verb="GET", file_id=file_id) == result


def test_csv_is_cut_by_the_csv_blockifier_with_its_plugin_config(
    packages: ModuleType, use: UseFn
) -> None:
    config = {"blockifier": {"plugin_config": {"csv-blockifier": {"text_column": "body"}}}}
    blocks = use(packages.Blocks, config=config)
    file_id = blocks.invoke("import_text", text=CSV, mime_type="text/csv")["id"]
    result = blocks.invoke("blockify_file", file_id=file_id)
    assert result["blockifier"] == "csv-blockifier"
    assert [b["text"] for b in result["blocks"]] == [
        "Boats that carry people",
        "Boats for pleasure",
    ]


def test_reblockifying_replaces_the_blocks(
    packages: ModuleType, client: Dockyard, use: UseFn, storage: StorageFn
) -> None:
    blocks = use(packages.Blocks)
    file_id = blocks.invoke("import_text", text=CSV, mime_type="text/csv")["id"]
    by_row = blocks.invoke("blockify_file", file_id=file_id)
    assert len(by_row["blocks"]) == 2
    by_paragraph = blocks.invoke("blockify_file", file_id=file_id, blockifier="text-blockifier")
    assert by_paragraph["blockifier"] == "text-blockifier"
    assert len(by_paragraph["blocks"]) == 1
    assert blocks.invoke("get_blocks", verb="GET", file_id=file_id) == by_paragraph
    keys = [key for key, _ in storage(client, blocks).namespace("blockifier").items()]
    assert keys == [f"blocks/{file_id}"]


def test_an_unknown_blockifier_is_a_422_naming_the_installed_ones(
    packages: ModuleType, use: UseFn
) -> None:
    blocks = use(packages.Blocks)
    file_id = blocks.invoke("import_text", text="x")["id"]
    for handle, what in (("no-such", "not installed"), ("hashing-embedder", "not a blockifier")):
        with pytest.raises(UnknownBlockifierError) as caught:
            blocks.invoke("blockify_file", file_id=file_id, blockifier=handle)
        error = caught.value
        assert (error.status, error.code) == (422, "unknown_blockifier")
        assert what in error.message
        assert "csv-blockifier" in error.message
        assert "text-blockifier" in error.message
        assert "hashing-embedder" not in error.details["installed"]
    with pytest.raises(NotReadyError):  # nothing was stored
        blocks.invoke("get_blocks", verb="GET", file_id=file_id)


def test_a_type_without_a_blockifier_is_a_415(packages: ModuleType, use: UseFn) -> None:
    blocks = use(packages.Blocks)
    data = base64.b64encode(b"%PDF-1.4").decode()
    file_id = blocks.invoke("import_data", data=data, mime_type="application/pdf")["id"]
    with pytest.raises(NoBlockifierError) as caught:
        blocks.invoke("blockify_file", file_id=file_id)
    error = caught.value
    assert (error.status, error.code) == (415, "no_blockifier_for_type")
    assert "application/pdf" in error.message
    assert "text/markdown" in error.message
    assert error.suggestion


def test_mime_types_match_exactly_then_by_wildcard(packages: ModuleType, use: UseFn) -> None:
    config = {
        "blockifier": {"blockifiers": {"TEXT/*": "text-blockifier", "text/csv": "csv-blockifier"}}
    }
    blocks = use(packages.Blocks, config=config)
    html = blocks.invoke("import_text", text="<p>hi</p>", mime_type="text/html")["id"]
    assert blocks.invoke("blockify_file", file_id=html)["blockifier"] == "text-blockifier"
    csv = blocks.invoke("import_text", text=CSV, mime_type="text/csv; charset=utf-8")["id"]
    assert blocks.invoke("blockify_file", file_id=csv)["blockifier"] == "csv-blockifier"


def test_unknown_and_unblockified_files(packages: ModuleType, use: UseFn) -> None:
    blocks = use(packages.Blocks)
    with pytest.raises(FileNotFoundInStoreError):
        blocks.invoke("blockify_file", file_id="f" * 32)
    with pytest.raises(FileNotFoundInStoreError):
        blocks.invoke("get_blocks", verb="GET", file_id="f" * 32)
    file_id = blocks.invoke("import_text", text="x")["id"]
    with pytest.raises(NotReadyError) as caught:
        blocks.invoke("get_blocks", verb="GET", file_id=file_id)
    assert (caught.value.status, caught.value.code) == (409, "file_not_blockified")


def test_a_configured_blockifier_that_is_not_installed_fails_at_creation(
    packages: ModuleType, use: UseFn
) -> None:
    config = {"blockifier": {"blockifiers": {"text/plain": "no-such-blockifier"}}}
    with pytest.raises(InstanceInitError, match="no-such-blockifier"):
        use(packages.Blocks, config=config)


def test_the_importer_it_finds_may_be_a_subclass(use: UseFn) -> None:
    class UpperImporter(FileImporterMixin):
        """Stores text upper-cased."""

        config_key = "file_importer"

        def store_file(
            self, content: bytes, mime_type: str, *, source: str, file_id: str | None = None
        ) -> dict[str, Any]:
            return super().store_file(content.upper(), mime_type, source=source, file_id=file_id)

    # compose would add FileImporterMixin too (it is what BlockifierMixin REQUIRES, by
    # class), so the package is written by hand.
    class UpperBlocks(PackageService):
        USED_MIXIN_CLASSES: ClassVar[list[type[PackageMixin]]] = [UpperImporter, BlockifierMixin]

        def __init__(self, config: Any = None, context: Any = None) -> None:
            super().__init__(config=config, context=context)
            self.add_mixin(UpperImporter())
            self.add_mixin(BlockifierMixin())

    package = UpperBlocks
    instance = use(package)
    file_id = instance.invoke("import_text", text="quiet")["id"]
    assert [b["text"] for b in instance.invoke("blockify_file", file_id=file_id)["blocks"]] == [
        "QUIET"
    ]
