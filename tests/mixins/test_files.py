"""`FileImporterMixin`: importing text, data and URLs, reading files back, errors."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dockyard import ArgumentError, DockyardError, compose
from dockyard.client import Dockyard, PackageInstance
from dockyard.mixins import FileImporterMixin
from dockyard.mixins.errors import (
    FileNotFoundInStoreError,
    FileTooLargeError,
    InvalidFileDataError,
)
from dockyard.runtime import InstanceInitError

UseFn = Callable[..., PackageInstance]
StorageFn = Callable[[Dockyard, PackageInstance], Any]

RECORD_KEYS = {"id", "mime_type", "size", "source", "sha256", "created_at"}


def test_the_importer_works_alone(packages: ModuleType) -> None:
    used = packages.FilesOnly.USED_MIXIN_CLASSES
    assert used == [FileImporterMixin]
    paths = {m.path for m in packages.FilesOnly.spec.methods}
    assert {"/import_text", "/import_url", "/import_data", "/get_file", "/list_files"} <= paths


def test_import_text_returns_the_record_and_get_file_the_text(
    packages: ModuleType, use: UseFn
) -> None:
    files = use(packages.FilesOnly)
    record = files.invoke("import_text", text="héllo\n", mime_type="Text/Markdown")
    assert set(record) == RECORD_KEYS
    assert record["mime_type"] == "text/markdown"
    assert record["size"] == len("héllo\n".encode())
    assert record["source"] == "text"
    assert record["sha256"] == hashlib.sha256("héllo\n".encode()).hexdigest()
    got = files.invoke("get_file", verb="GET", file_id=record["id"])
    assert got == {**record, "encoding": "text", "content": "héllo\n"}


def test_import_text_defaults_to_text_plain(packages: ModuleType, use: UseFn) -> None:
    files = use(packages.FilesOnly)
    assert files.invoke("import_text", text="x")["mime_type"] == "text/plain"


def test_import_data_round_trips_binary_content_as_base64(packages: ModuleType, use: UseFn) -> None:
    files = use(packages.FilesOnly)
    content = bytes(range(256)) * 3
    encoded = base64.b64encode(content).decode()
    # Line breaks, as MIME encoders write them, are ignored.
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    record = files.invoke("import_data", data=wrapped, mime_type="application/octet-stream")
    assert record["size"] == len(content)
    assert record["source"] == "data"
    got = files.invoke("get_file", verb="GET", file_id=record["id"])
    assert got["encoding"] == "base64"
    assert base64.b64decode(got["content"]) == content


def test_get_file_falls_back_to_base64_for_text_that_does_not_decode(
    packages: ModuleType, use: UseFn
) -> None:
    files = use(packages.FilesOnly)
    content = b"caf\xe9"  # latin-1, not UTF-8
    data = base64.b64encode(content).decode()
    plain = files.invoke("import_data", data=data, mime_type="text/plain")
    got = files.invoke("get_file", verb="GET", file_id=plain["id"])
    assert got["encoding"] == "base64"
    assert base64.b64decode(got["content"]) == content
    # With its charset named, it is text.
    latin = files.invoke("import_data", data=data, mime_type="text/plain; charset=latin-1")
    assert latin["mime_type"] == "text/plain; charset=latin-1"
    assert files.invoke("get_file", verb="GET", file_id=latin["id"])["content"] == "café"


def test_list_files_lists_records_oldest_first(packages: ModuleType, use: UseFn) -> None:
    files = use(packages.FilesOnly)
    assert files.invoke("list_files") == []
    first = files.invoke("import_text", text="one")
    second = files.invoke("import_data", data=base64.b64encode(b"two").decode(), mime_type="a/b")
    assert files.invoke("list_files") == [first, second]


def test_bad_base64_is_a_422(packages: ModuleType, use: UseFn) -> None:
    files = use(packages.FilesOnly)
    with pytest.raises(InvalidFileDataError) as caught:
        files.invoke("import_data", data="not base64!", mime_type="text/plain")
    assert isinstance(caught.value, ArgumentError)
    assert (caught.value.status, caught.value.code) == (422, "invalid_file_data")
    assert caught.value.suggestion
    assert files.invoke("list_files") == []


@pytest.mark.parametrize("mime_type", ["", "text", "text/", "/plain", "text plain"])
def test_a_malformed_mime_type_is_a_422(packages: ModuleType, use: UseFn, mime_type: str) -> None:
    files = use(packages.FilesOnly)
    with pytest.raises(ArgumentError) as caught:
        files.invoke("import_text", text="x", mime_type=mime_type)
    assert caught.value.status == 422


def test_an_unknown_file_id_is_a_404_with_code_and_suggestion(
    packages: ModuleType, use: UseFn
) -> None:
    files = use(packages.FilesOnly)
    with pytest.raises(FileNotFoundInStoreError) as caught:
        files.invoke("get_file", verb="GET", file_id="0" * 32)
    error = caught.value
    assert (error.status, error.code) == (404, "file_not_found")
    assert "import" in (error.suggestion or "")


@pytest.mark.parametrize("file_id", ["../x", "a/b", "x" * 65, ""])
def test_a_malformed_file_id_is_a_422(packages: ModuleType, use: UseFn, file_id: str) -> None:
    files = use(packages.FilesOnly)
    with pytest.raises(ArgumentError) as caught:
        files.invoke("get_file", verb="GET", file_id=file_id)
    assert caught.value.status == 422


def test_content_over_max_bytes_is_a_413(packages: ModuleType, use: UseFn) -> None:
    files = use(packages.FilesOnly, config={"file_importer": {"max_bytes": 8}})
    assert files.invoke("import_text", text="12345678")["size"] == 8
    with pytest.raises(FileTooLargeError) as caught:
        files.invoke("import_text", text="123456789")
    assert (caught.value.status, caught.value.code) == (413, "file_too_large")
    assert caught.value.details == {"size": 9, "limit": 8}
    # Data is measured before it is decoded: even invalid base64 that is too long is a 413.
    with pytest.raises(FileTooLargeError):
        files.invoke("import_data", data="!" * 400, mime_type="text/plain")


def test_content_is_stored_in_pieces_of_chunk_bytes(
    packages: ModuleType, client: Dockyard, use: UseFn, storage: StorageFn
) -> None:
    files = use(packages.FilesOnly, config={"file_importer": {"chunk_bytes": 4}})
    record = files.invoke("import_text", text="0123456789")
    namespace = storage(client, files).namespace("file_importer")
    pieces = namespace.items(f"data/{record['id']}/")
    assert [base64.b64decode(value) for _, value in pieces] == [b"0123", b"4567", b"89"]
    assert files.invoke("get_file", verb="GET", file_id=record["id"])["content"] == "0123456789"

    # Storing again under the same id (a retried pipeline step) drops left-over pieces.
    mixin = client.runtime.live(files.workspace, files.handle).invocable.mixins[0]
    assert isinstance(mixin, FileImporterMixin)
    mixin.store_file(b"abc", "text/plain", source="text", file_id=record["id"])
    assert [base64.b64decode(v) for _, v in namespace.items(f"data/{record['id']}/")] == [b"abc"]
    assert mixin.file_content(record["id"]) == b"abc"


def test_import_url_reads_files_under_the_configured_root(
    packages: ModuleType, use: UseFn, tmp_path: Path
) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "notes.md").write_text("# Notes\n\nSome text.\n")
    (tmp_path / "secret.txt").write_text("no")
    files = use(packages.FilesOnly, config={"file_importer": {"root": str(root)}})
    url = (root / "notes.md").as_uri()
    record = files.invoke("import_url", url=url)
    assert record["source"] == url
    assert record["mime_type"] == "text/markdown"
    assert files.invoke("get_file", verb="GET", file_id=record["id"])["content"].startswith("# N")
    forced = files.invoke("import_url", url=url, mime_type="text/plain")
    assert forced["mime_type"] == "text/plain"

    with pytest.raises(DockyardError) as caught:
        files.invoke("import_url", url=(tmp_path / "secret.txt").as_uri())
    assert (caught.value.status, caught.value.code) == (403, "import_refused")


def test_import_url_passes_allow_http_and_max_bytes_to_the_importer(
    packages: ModuleType, use: UseFn, tmp_path: Path
) -> None:
    (tmp_path / "big.txt").write_text("x" * 100)
    config = {"root": str(tmp_path), "allow_http": False, "max_bytes": 50}
    files = use(packages.FilesOnly, config={"file_importer": config})
    with pytest.raises(DockyardError) as refused:
        files.invoke("import_url", url="http://127.0.0.1:9/x")
    assert (refused.value.status, refused.value.code) == (403, "import_refused")
    assert "allow_http" in refused.value.message
    with pytest.raises(DockyardError) as large:
        files.invoke("import_url", url=(tmp_path / "big.txt").as_uri())
    assert large.value.status == 413


def test_file_urls_are_refused_without_a_root(packages: ModuleType, use: UseFn) -> None:
    files = use(packages.FilesOnly)
    with pytest.raises(DockyardError) as caught:
        files.invoke("import_url", url="file:///etc/passwd")
    assert caught.value.status == 403


def test_an_importer_that_is_not_one_fails_the_instance_at_creation(
    packages: ModuleType, use: UseFn
) -> None:
    with pytest.raises(InstanceInitError, match="not a file importer"):
        use(packages.FilesOnly, config={"file_importer": {"importer": "hashing-embedder"}})
    with pytest.raises(InstanceInitError, match="no-such-importer"):
        use(packages.FilesOnly, config={"file_importer": {"importer": "no-such-importer"}})


def test_importer_config_reaches_the_importer_plugin(
    packages: ModuleType, use: UseFn, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("0123456789")
    config = {"root": str(tmp_path), "importer_config": {"max_bytes": 5}}
    files = use(packages.FilesOnly, config={"file_importer": config})
    with pytest.raises(DockyardError) as caught:
        files.invoke("import_url", url=(tmp_path / "a.txt").as_uri())
    assert caught.value.status == 413


def test_config_is_a_section_of_its_own() -> None:
    package = compose("files-config", mixins=[FileImporterMixin])
    names = {p["name"] for p in package.spec.to_dict()["config"]}
    assert {"file_importer.root", "file_importer.allow_http", "file_importer.max_bytes"} <= names
