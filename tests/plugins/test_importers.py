"""Tests for dockyard.plugins.importers: file-importer, called through its route, reading
real files under a temporary root and fetching from a real HTTP server on loopback."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dockyard import ConfigError
from dockyard.core.discovery import Discovery
from dockyard.core.errors import DockyardError
from dockyard.plugins import FileImporter
from dockyard.plugins.errors import (
    ContentTooLargeError,
    ImportFailedError,
    ImportNotFoundError,
    ImportRefusedError,
)
from dockyard.plugins.importers import UrlImporter
from dockyard.testing import call

GUIDE = "# Guide\n\nImport files into Dockyard — safely.\n".encode()
LIMIT = 64


def imported(plugin: UrlImporter, **arguments: Any) -> tuple[bytes, str]:
    response = call(plugin, "POST", "import", **arguments)
    assert response.status == 200, response.error
    return base64.b64decode(response.data["data"]), response.data["mime_type"]


def failure(plugin: UrlImporter, **arguments: Any) -> DockyardError:
    response = call(plugin, "POST", "import", **arguments)
    assert response.status >= 400, response.data
    assert response.error is not None
    assert response.error.status == response.status
    return response.error


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root directory with a guide, a sub-directory, and a secret file next to it."""
    base = tmp_path / "root"
    (base / "docs").mkdir(parents=True)
    (base / "docs" / "guide.md").write_bytes(GUIDE)
    (base / "my notes.txt").write_text("spaces and all\n")
    (base / "big.csv").write_bytes(b"x" * (LIMIT + 1))
    (tmp_path / "secret.txt").write_text("outside the root\n")
    return base


def url_of(path: Path) -> str:
    return path.as_uri()


# --- text and data --------------------------------------------------------------------------


def test_text_is_imported_as_utf8_typed_text_plain_unless_told() -> None:
    text = "Grüße aus dem Hafen"
    assert imported(UrlImporter(), text=text) == (text.encode(), "text/plain")
    assert imported(UrlImporter(), text=text, mime_type="text/markdown") == (
        text.encode(),
        "text/markdown",
    )


def test_base64_data_is_imported_as_given() -> None:
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    response = call(UrlImporter(), "POST", "import", data=data)
    assert response.status == 200, response.error
    assert response.data == {"data": data, "mime_type": "application/octet-stream"}
    assert imported(UrlImporter(), data=data, mime_type="image/png")[1] == "image/png"


@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT])
def test_content_up_to_max_bytes_is_accepted(size: int) -> None:
    plugin = UrlImporter(config={"max_bytes": LIMIT})
    assert imported(plugin, data=base64.b64encode(b"d" * size).decode())[0] == b"d" * size
    assert imported(plugin, text="t" * size)[0] == b"t" * size


def test_text_and_data_over_max_bytes_are_a_413() -> None:
    plugin = UrlImporter(config={"max_bytes": LIMIT})
    # 33 characters but 66 bytes in UTF-8: the limit is on bytes.
    error = failure(plugin, text="é" * 33)
    assert isinstance(error, ContentTooLargeError)
    assert (error.status, error.code) == (413, "content_too_large")
    assert "66 bytes" in error.message
    assert "max_bytes" in (error.suggestion or "")
    error = failure(plugin, data=base64.b64encode(b"d" * (LIMIT + 1)).decode())
    assert isinstance(error, ContentTooLargeError)
    assert f"{LIMIT + 1} bytes" in error.message


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "(body)"),
        ({"text": "a", "data": "YQ=="}, "(body)"),
        ({"data": "not base64!"}, "data"),
        ({"url": 3}, "url"),
        ({"text": "a", "path": "/etc/passwd"}, "path"),
    ],
)
def test_invalid_input_is_a_422(arguments: dict[str, Any], field: str) -> None:
    error = failure(UrlImporter(), **arguments)
    assert error.status == 422
    assert field in [p["field"] for p in error.details["problems"]]
    if field == "(body)":
        assert "give exactly one of url, text or data" in error.message


# --- file:// ------------------------------------------------------------------------------


def test_a_file_url_under_the_root_is_read_with_its_guessed_type(root: Path) -> None:
    plugin = UrlImporter(config={"root": str(root)})
    guide = url_of(root / "docs" / "guide.md")
    assert imported(plugin, url=guide) == (GUIDE, "text/markdown")
    assert imported(plugin, url=guide, mime_type="text/plain") == (GUIDE, "text/plain")
    notes = url_of(root / "my notes.txt")
    assert "%20" in notes
    assert imported(plugin, url=notes) == (b"spaces and all\n", "text/plain")
    # '..' that stays inside the root is fine.
    inside = f"{url_of(root / 'docs')}/../docs/guide.md"
    assert imported(plugin, url=inside)[0] == GUIDE


def test_a_symlink_inside_the_root_to_a_file_inside_it_is_read(root: Path) -> None:
    (root / "latest.md").symlink_to(root / "docs" / "guide.md")
    plugin = UrlImporter(config={"root": str(root)})
    assert imported(plugin, url=url_of(root / "latest.md")) == (GUIDE, "text/markdown")


def assert_refused_outside(error: DockyardError, url: str) -> None:
    assert isinstance(error, ImportRefusedError)
    assert isinstance(error, PermissionError)
    assert (error.status, error.code) == (403, "import_refused")
    assert url in error.message
    assert "outside the importer's root" in error.message


def test_dotdot_escapes_are_refused_whether_or_not_the_file_exists(root: Path) -> None:
    plugin = UrlImporter(config={"root": str(root)})
    messages = []
    for name in ("secret.txt", "no-such-file.txt"):
        for url in (f"{url_of(root)}/../{name}", f"{url_of(root)}/docs/%2e%2e/%2E%2E/{name}"):
            error = failure(plugin, url=url)
            assert_refused_outside(error, url)
            messages.append(error.message.replace(url, "URL").replace(name, "NAME"))
    # The same words for an existing and a missing file: nothing is revealed.
    assert len(set(messages)) == 1


def test_a_symlink_inside_the_root_pointing_outside_is_refused(root: Path) -> None:
    secret = root.parent / "secret.txt"
    (root / "docs" / "shortcut.txt").symlink_to(secret)
    (root / "escape").symlink_to(root.parent)
    plugin = UrlImporter(config={"root": str(root)})
    for url in (url_of(root / "docs" / "shortcut.txt"), f"{url_of(root)}/escape/secret.txt"):
        error = failure(plugin, url=url)
        assert_refused_outside(error, url)
        assert str(secret) not in error.message  # where the link leads is not said


def test_an_absolute_path_outside_the_root_is_refused(root: Path) -> None:
    plugin = UrlImporter(config={"root": str(root)})
    for url in ("file:///etc/passwd", "file://localhost/etc/passwd", "file:/etc/passwd"):
        assert_refused_outside(failure(plugin, url=url), url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/etc/passwd", "a plain path, not a URL"),
        ("../secret.txt", "a plain path, not a URL"),
        ("docs/guide.md", "a plain path, not a URL"),
        ("ftp://example.com/file.txt", "a ftp: URL"),
        ("data:text/plain,hello", "a data: URL"),
        ("javascript:alert(1)", "a javascript: URL"),
        ("http://[::1/x", "not a well-formed URL"),
    ],
)
def test_plain_paths_and_other_schemes_are_refused(root: Path, url: str, says: str) -> None:
    error = failure(UrlImporter(config={"root": str(root)}), url=url)
    assert isinstance(error, ImportRefusedError)
    assert error.status == 403
    assert repr(url) in error.message
    assert says in error.message
    assert "file:///absolute/path" in error.message


@pytest.mark.parametrize(
    "url",
    ["file://otherhost/etc/passwd", "file:///guide.md?x=1", "file:docs/guide.md"],
)
def test_file_urls_that_are_not_absolute_local_paths_are_refused(root: Path, url: str) -> None:
    error = failure(UrlImporter(config={"root": str(root)}), url=url)
    assert isinstance(error, ImportRefusedError)
    assert repr(url) in error.message


def test_file_urls_without_a_root_are_refused(root: Path) -> None:
    error = failure(UrlImporter(), url=url_of(root / "docs" / "guide.md"))
    assert isinstance(error, ImportRefusedError)
    assert "no root directory configured" in error.message
    assert "root config" in (error.suggestion or "")


def test_a_missing_file_or_a_directory_inside_the_root_is_a_404(root: Path) -> None:
    plugin = UrlImporter(config={"root": str(root)})
    for url, says in (
        (url_of(root / "docs" / "missing.md"), "not there"),
        (url_of(root / "docs" / "guide.md" / "below"), "not there"),
        (url_of(root / "docs"), "a directory"),
    ):
        error = failure(plugin, url=url)
        assert isinstance(error, ImportNotFoundError)
        assert isinstance(error, FileNotFoundError)
        assert (error.status, error.code) == (404, "import_not_found")
        assert says in error.message


def test_a_missing_root_is_a_500_for_the_operator(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    error = failure(UrlImporter(config={"root": str(missing)}), url=url_of(missing / "a.txt"))
    assert isinstance(error, ImportFailedError)
    assert not isinstance(error, ImportNotFoundError)
    assert (error.status, error.code) == (500, "import_failed")
    assert "root directory" in error.message


def test_a_file_over_max_bytes_is_a_413(root: Path) -> None:
    plugin = UrlImporter(config={"root": str(root), "max_bytes": LIMIT})
    error = failure(plugin, url=url_of(root / "big.csv"))
    assert isinstance(error, ContentTooLargeError)
    assert f"{LIMIT + 1} bytes" in error.message
    assert imported(plugin, url=url_of(root / "docs" / "guide.md"))[0] == GUIDE


# --- http(s) ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Routes of the test server; see `server`."""

    release: threading.Event

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if self.path == "/guide":
                self._send(200, GUIDE, {"Content-Type": "text/markdown; charset=utf-8"})
            elif self.path == "/books.csv":  # no Content-Type: guessed from the path
                self._send(200, b"title\nMiddlemarch\n", {})
            elif self.path == "/big":
                self._send(200, b"b" * (LIMIT + 1), {"Content-Type": "text/plain"})
            elif self.path == "/slow":
                self.release.wait(5)
                self._send(200, b"late", {"Content-Type": "text/plain"})
            else:
                self._send(404, b"no such thing", {"Content-Type": "text/plain"})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real HTTP server on a free loopback port, in a thread; yields its base URL."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    release = threading.Event()
    handler = type("Handler", (_Handler,), {"release": release})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_an_http_url_is_fetched_with_its_content_type(server: str) -> None:
    assert imported(UrlImporter(), url=f"{server}/guide") == (GUIDE, "text/markdown")
    assert imported(UrlImporter(), url=f"{server}/books.csv") == (
        b"title\nMiddlemarch\n",
        "text/csv",
    )
    assert imported(UrlImporter(), url=f"{server}/guide", mime_type="text/plain")[1] == "text/plain"


def test_an_http_body_over_max_bytes_is_a_413(server: str) -> None:
    plugin = UrlImporter(config={"max_bytes": LIMIT})
    error = failure(plugin, url=f"{server}/big")
    assert isinstance(error, ContentTooLargeError)
    assert (error.status, error.code) == (413, "content_too_large")
    assert f"{server}/big" in error.message
    assert error.details["limit"] == LIMIT


def test_an_upstream_404_is_a_502_naming_the_url_and_status(server: str) -> None:
    error = failure(UrlImporter(), url=f"{server}/gone")
    assert isinstance(error, ImportFailedError)
    assert isinstance(error, OSError)
    assert (error.status, error.code) == (502, "import_failed")
    assert f"{server}/gone" in error.message
    assert "HTTP 404" in error.message
    assert error.details["upstream_status"] == 404


def test_a_timeout_is_a_502(server: str) -> None:
    error = failure(UrlImporter(config={"timeout": 0.2}), url=f"{server}/slow")
    assert isinstance(error, ImportFailedError)
    assert error.status == 502
    assert "timed out" in error.message


def test_a_server_that_is_not_there_is_a_502() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = failure(UrlImporter(config={"timeout": 2}), url=f"http://127.0.0.1:{port}/x")
    assert isinstance(error, ImportFailedError)
    assert error.details["upstream_status"] is None


def test_http_is_refused_when_not_allowed(server: str) -> None:
    plugin = UrlImporter(config={"allow_http": False})
    for url in (f"{server}/guide", "https://example.com/guide"):
        error = failure(plugin, url=url)
        assert isinstance(error, ImportRefusedError)
        assert "allow_http" in error.message
    assert imported(plugin, text="still fine")[0] == b"still fine"


def test_an_http_url_without_a_host_is_refused() -> None:
    error = failure(UrlImporter(), url="http:///guide")
    assert isinstance(error, ImportRefusedError)


# --- config and registration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.5}, "timeout"),
        ({"max_bytes": 0}, "max_bytes"),
        ({"allow_http": "perhaps"}, "allow_http"),
        ({"rooot": "/srv"}, "rooot"),
    ],
)
def test_bad_config_is_a_config_error(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        UrlImporter(config=config)


def test_registered_through_the_installed_entry_points() -> None:
    loaded = Discovery().load("dockyard.plugins", "file-importer")
    assert loaded is UrlImporter
    assert loaded.plugin_type is FileImporter
