"""`IndexerPipelineMixin`: import -> blockify -> index as background tasks, run by the
embedded client's task workers (and by ``dockyard serve`` over real HTTP)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from dockyard import ArgumentError, TaskState
from dockyard.client import Dockyard, PackageInstance
from dockyard.mixins import (
    BlockifierMixin,
    FileImporterMixin,
    IndexerMixin,
    IndexerPipelineMixin,
)
from dockyard.mixins.errors import FileNotFoundInStoreError, FileTooLargeError

if TYPE_CHECKING:
    from conftest import Server

UseFn = Callable[..., PackageInstance]
WAIT = 30.0

MARKDOWN = (
    "# Harbour\n\nFerries and yachts are moored at the north pier.\n\n"
    "## Garden\n\nTurn the compost heap weekly.\n"
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def finish(instance: PackageInstance, task: dict[str, Any]) -> Any:
    """Wait for ``task`` (as a route returned it) to be done; the task."""
    return instance.get_task(task).wait(WAIT)


def test_requires_the_three_other_mixins(packages: ModuleType) -> None:
    used = packages.DocSearch.USED_MIXIN_CLASSES
    assert used == [
        FileImporterMixin,
        BlockifierMixin,
        IndexerMixin,
        IndexerPipelineMixin,
    ]


def test_index_data_runs_blockify_and_index_as_tasks(packages: ModuleType, use: UseFn) -> None:
    docs = use(packages.DocSearch)
    returned = docs.invoke("index_data", data=b64(MARKDOWN), mime_type="text/markdown")
    assert returned["method"] == "/indexer_pipeline/index"
    assert len(returned["wait_on"]) == 1
    file_id = returned["arguments"]["file_id"]
    task = finish(docs, returned)
    assert task.state is TaskState.SUCCEEDED, task.error
    assert task.output == {"file_id": file_id, "indexed": 2, "embedder": "hashing-embedder"}

    status = docs.invoke("file_status", verb="GET", file_id=file_id)
    assert status["status"] == "indexed"
    assert status["error"] is None
    assert len(status["tasks"]) == 2
    assert status["tasks"][-1] == returned["id"]
    blockify = docs.get_task(status["tasks"][0])
    assert blockify.method == "/indexer_pipeline/blockify"
    assert blockify.state is TaskState.SUCCEEDED

    [hit] = docs.invoke("search_index", query="where are the yachts moored", k=1)
    assert hit["file_id"] == file_id
    assert hit["text"] == "Ferries and yachts are moored at the north pier."
    assert docs.invoke("get_file", verb="GET", file_id=file_id)["content"] == MARKDOWN


def test_index_url_imports_in_a_task_too(packages: ModuleType, use: UseFn, tmp_path: Path) -> None:
    (tmp_path / "harbour.md").write_text(MARKDOWN)
    docs = use(packages.DocSearch, config={"file_importer": {"root": str(tmp_path)}})
    url = (tmp_path / "harbour.md").as_uri()
    returned = docs.invoke("index_url", url=url)
    file_id = returned["arguments"]["file_id"]
    assert finish(docs, returned).state is TaskState.SUCCEEDED
    status = docs.invoke("file_status", verb="GET", file_id=file_id)
    assert status["status"] == "indexed"
    methods = [docs.get_task(task_id).method for task_id in status["tasks"]]
    assert methods == [
        "/indexer_pipeline/import_url",
        "/indexer_pipeline/blockify",
        "/indexer_pipeline/index",
    ]
    record = docs.invoke("get_file", verb="GET", file_id=file_id)
    assert (record["source"], record["mime_type"]) == (url, "text/markdown")
    assert docs.invoke("search_index", query="compost heap", k=1)[0]["file_id"] == file_id


def test_an_unsupported_type_ends_in_failed_with_the_reason(
    packages: ModuleType, use: UseFn
) -> None:
    docs = use(packages.DocSearch)
    returned = docs.invoke("index_data", data=b64("%PDF-1.4"), mime_type="application/pdf")
    file_id = returned["arguments"]["file_id"]
    last = finish(docs, returned)
    assert last.state is TaskState.FAILED
    assert last.error is not None
    assert last.error.code == "dependency_failed"  # the index step never ran
    status = docs.invoke("file_status", verb="GET", file_id=file_id)
    assert status["status"].startswith("failed: ")
    assert "application/pdf" in status["status"]
    assert status["error"]["code"] == "no_blockifier_for_type"
    blockify = docs.get_task(status["tasks"][0])
    assert blockify.state is TaskState.FAILED
    assert blockify.error is not None
    assert blockify.error.code == "no_blockifier_for_type"
    assert docs.invoke("search_index", query="pdf") == []


def test_a_failing_import_ends_in_failed_with_the_reason(
    packages: ModuleType, use: UseFn, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.md").write_text("no")
    docs = use(packages.DocSearch, config={"file_importer": {"root": str(root)}})
    returned = docs.invoke("index_url", url=(tmp_path / "outside.md").as_uri())
    assert finish(docs, returned).state is TaskState.FAILED
    status = docs.invoke("file_status", verb="GET", file_id=returned["arguments"]["file_id"])
    assert status["status"].startswith("failed: ")
    assert "outside" in status["status"]
    assert status["error"]["code"] == "import_refused"
    assert docs.invoke("list_files") == []


def test_statuses_before_the_tasks_run_and_after(
    packages: ModuleType, open_client: Callable[..., Dockyard], use: UseFn, tmp_path: Path
) -> None:
    (tmp_path / "a.md").write_text(MARKDOWN)
    config = {"file_importer": {"root": str(tmp_path)}}
    idle = open_client(task_workers=0)  # schedules, runs nothing
    docs = use(packages.DocSearch, config=config, on=idle)
    by_url = docs.invoke("index_url", url=(tmp_path / "a.md").as_uri())["arguments"]["file_id"]
    by_data = docs.invoke("index_data", data=b64("some text"), mime_type="text/plain")
    data_id = by_data["arguments"]["file_id"]
    assert docs.invoke("file_status", verb="GET", file_id=by_url)["status"] == "importing"
    assert docs.invoke("file_status", verb="GET", file_id=data_id)["status"] == "blockifying"

    working = open_client(task_workers=2)  # another "process", with workers
    other = use(packages.DocSearch, config=config, handle=docs.handle, on=working)
    done = finish(other, by_data)
    assert done.state is TaskState.SUCCEEDED, (
        docs.invoke("file_status", verb="GET", file_id=data_id),
        done.error,
    )
    for file_id in (by_url, data_id):
        tasks = docs.invoke("file_status", verb="GET", file_id=file_id)["tasks"]
        done = finish(other, {"id": tasks[-1]})
        assert done.state is TaskState.SUCCEEDED, (
            docs.invoke("file_status", verb="GET", file_id=file_id),
            [other.get_task(t).error for t in tasks],
        )
        assert docs.invoke("file_status", verb="GET", file_id=file_id)["status"] == "indexed"


def test_bad_data_is_refused_at_once(packages: ModuleType, use: UseFn) -> None:
    docs = use(packages.DocSearch, config={"file_importer": {"max_bytes": 4}})
    with pytest.raises(ArgumentError):
        docs.invoke("index_data", data="%%%", mime_type="text/plain")
    with pytest.raises(ArgumentError):
        docs.invoke("index_data", data=b64("ok"), mime_type="not a type")
    with pytest.raises(FileTooLargeError):
        docs.invoke("index_data", data=b64("too long"), mime_type="text/plain")
    assert docs.invoke("list_files") == []


def test_file_status_of_unknown_and_directly_imported_files(
    packages: ModuleType, use: UseFn
) -> None:
    docs = use(packages.DocSearch)
    with pytest.raises(FileNotFoundInStoreError):
        docs.invoke("file_status", verb="GET", file_id=uuid.uuid4().hex)
    record = docs.invoke("import_text", text="plain")
    status = docs.invoke("file_status", verb="GET", file_id=record["id"])
    assert status["status"] == "imported"


def test_the_mixins_storage_namespaces_do_not_clash(
    packages: ModuleType, client: Dockyard, use: UseFn
) -> None:
    """Importer and indexer both keep ``file/{id}`` keys: each in its own namespace."""
    docs = use(packages.DocSearch)
    returned = docs.invoke("index_data", data=b64(MARKDOWN), mime_type="text/markdown")
    file_id = returned["arguments"]["file_id"]
    assert finish(docs, returned).state is TaskState.SUCCEEDED
    root = client.runtime.live(docs.workspace, docs.handle).invocable.storage
    assert root.items() == []  # nothing outside the mixins' namespaces
    importer = root.namespace("file_importer").get(f"file/{file_id}")
    indexer = root.namespace("indexer").get(f"file/{file_id}")
    assert importer["mime_type"] == "text/markdown"
    assert set(indexer) == {"generation", "chunks", "count"}
    assert root.namespace("blockifier").get(f"blocks/{file_id}")["file_id"] == file_id
    assert root.namespace("indexer_pipeline").get(f"status/{file_id}")["status"] == "indexed"
    # Everything still reads back through the routes.
    assert docs.invoke("get_file", verb="GET", file_id=file_id)["content"] == MARKDOWN
    assert len(docs.invoke("get_blocks", verb="GET", file_id=file_id)["blocks"]) == 4


# --- over real HTTP --------------------------------------------------------------------


def test_the_pipeline_over_real_http(server: Server) -> None:
    handle = f"docs-{uuid.uuid4().hex[:8]}"
    with Dockyard(url=server.url, api_key=server.key, task_workers=0) as remote:
        docs = remote.use("doc-search", handle)
        returned = docs.invoke("index_data", data=b64(MARKDOWN), mime_type="text/markdown")
        file_id = returned["arguments"]["file_id"]
        assert docs.get_task(returned).wait(WAIT).state is TaskState.SUCCEEDED
        assert docs.invoke("file_status", verb="GET", file_id=file_id)["status"] == "indexed"
        [hit] = docs.invoke("search_index", query="yachts at the pier", k=1)
        assert hit["file_id"] == file_id
        assert set(hit) == {"score", "text", "file_id", "block_id", "metadata"}

        # The synchronous routes, one by one.
        record = docs.invoke("import_text", text="Sourdough needs a starter.")
        assert docs.invoke("blockify_file", file_id=record["id"])["blockifier"] == "text-blockifier"
        assert docs.invoke("index_file", file_id=record["id"])["indexed"] == 1
        assert (
            docs.invoke("search_index", query="sourdough starter", k=1)[0]["file_id"]
            == (record["id"])
        )
        failed = docs.invoke("index_data", data=b64("x"), mime_type="image/png")
        assert docs.get_task(failed).wait(WAIT).state is TaskState.FAILED
        status = docs.invoke("file_status", verb="GET", file_id=failed["arguments"]["file_id"])
        assert status["status"].startswith("failed: no blockifier")

    # Errors as JSON bodies with their status: 404 unknown file, 422 bad base64.
    code, body = server.request("POST", f"/{handle}/{handle}/blockify_file", {"file_id": "0" * 32})
    assert code == 404
    assert body["error"]["code"] == "file_not_found"
    assert body["error"]["suggestion"]
    code, body = server.request(
        "POST", f"/{handle}/{handle}/import_data", {"data": "@@", "mime_type": "text/plain"}
    )
    assert (code, body["error"]["code"]) == (422, "invalid_file_data")
