"""Tests for dockyard.plugins.fetch: the root jail of file:// URLs against real files and
symlinks, and HTTP against a real local server (no mocks)."""

from __future__ import annotations

import base64
import contextlib
import os
import pickle
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard.plugins import fetch
from dockyard.plugins.fetch import (
    FetchError,
    OutsideRootError,
    TooLargeError,
    decode_base64,
    fetch_http,
    guess_mime_type,
    read_file_url,
)

GUIDE = b"# Guide\n\nRead me first.\n"


def test_module_exports_are_sorted_and_documented() -> None:
    assert fetch.__all__ == sorted(fetch.__all__)
    for name in fetch.__all__:
        value = getattr(fetch, name)
        if callable(value):
            assert value.__doc__, name


# --- file:// URLs ----------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``tmp_path/root`` holding ``docs/guide.md``; ``tmp_path/secret.txt`` lies outside it."""
    base = tmp_path / "root"
    (base / "docs").mkdir(parents=True)
    (base / "docs" / "guide.md").write_bytes(GUIDE)
    (tmp_path / "secret.txt").write_text("top secret")
    return base


def test_reads_a_file_under_the_root(root: Path) -> None:
    url = (root / "docs" / "guide.md").as_uri()
    assert url.startswith("file:///")
    assert read_file_url(url, root) == (GUIDE, "text/markdown")


def test_reads_with_localhost_host_percent_encoding_and_inner_dotdot(root: Path) -> None:
    (root / "docs" / "my notes.csv").write_text("a,b\n")
    url = "file://localhost" + (root / "docs" / "my notes.csv").as_uri().removeprefix("file://")
    assert "%20" in url
    assert read_file_url(url, root) == (b"a,b\n", "text/csv")
    # ".." that stays inside the root is fine.
    assert read_file_url(root.as_uri() + "/docs/../docs/guide.md", root)[0] == GUIDE


def test_root_given_through_a_symlink_and_relative_path(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    assert read_file_url((alias / "docs" / "guide.md").as_uri(), alias)[0] == GUIDE
    monkeypatch.chdir(tmp_path)
    assert read_file_url((root / "docs" / "guide.md").as_uri(), Path("root"))[0] == GUIDE


def test_symlink_inside_the_root_to_a_file_inside_is_followed(root: Path) -> None:
    (root / "latest.md").symlink_to(root / "docs" / "guide.md")
    assert read_file_url((root / "latest.md").as_uri(), root) == (GUIDE, "text/markdown")


def _refused(url: str, root: Path) -> OutsideRootError:
    with pytest.raises(OutsideRootError) as caught:
        read_file_url(url, root)
    error = caught.value
    assert isinstance(error, PermissionError)
    message = str(error)
    assert str(root.resolve()) in message
    assert "set the importer's root config" in message
    return error


def test_dotdot_escape_is_refused(root: Path, tmp_path: Path) -> None:
    error = _refused(root.as_uri() + "/docs/../../secret.txt", root)
    assert error.path == root / "docs" / ".." / ".." / "secret.txt"
    assert error.resolved == tmp_path.resolve() / "secret.txt"
    assert str(error.resolved) in str(error)


def test_percent_encoded_dotdot_escape_is_refused(root: Path) -> None:
    _refused(root.as_uri() + "/%2e%2e/secret.txt", root)
    _refused(root.as_uri() + "/docs/%2E%2E%2F%2E%2E%2Fsecret.txt", root)


def test_absolute_path_outside_is_refused(root: Path, tmp_path: Path) -> None:
    error = _refused((tmp_path / "secret.txt").as_uri(), root)
    assert error.path == tmp_path / "secret.txt"
    _refused("file:///etc/passwd", root)


def test_a_sibling_directory_sharing_the_prefix_is_outside(root: Path, tmp_path: Path) -> None:
    sibling = tmp_path / "root-other"  # "root-other" starts with "root" but is not under it
    sibling.mkdir()
    (sibling / "x.txt").write_text("x")
    _refused((sibling / "x.txt").as_uri(), root)


def test_symlink_inside_the_root_pointing_outside_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "docs" / "innocent.txt").symlink_to(tmp_path / "secret.txt")
    error = _refused((root / "docs" / "innocent.txt").as_uri(), root)
    assert "which resolves to" in str(error)
    assert str(tmp_path.resolve() / "secret.txt") in str(error)
    (root / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    _refused((root / "linked-dir" / "secret.txt").as_uri(), root)


def test_outside_paths_are_refused_whether_or_not_they_exist(root: Path, tmp_path: Path) -> None:
    # The same error for both, so the importer cannot be used to probe for files.
    _refused((tmp_path / "no-such-file.txt").as_uri(), root)
    _refused(root.as_uri() + "/../no-such-file.txt", root)


def test_missing_file_inside_the_root(root: Path) -> None:
    url = (root / "docs" / "nope.md").as_uri()
    with pytest.raises(FileNotFoundError, match="no file at") as caught:
        read_file_url(url, root)
    assert url in str(caught.value)


def test_missing_or_non_directory_root(root: Path, tmp_path: Path) -> None:
    url = (root / "docs" / "guide.md").as_uri()
    with pytest.raises(FileNotFoundError, match=r"root directory .* does not exist"):
        read_file_url(url, tmp_path / "missing")
    with pytest.raises(NotADirectoryError, match="is not a directory; set the root config"):
        read_file_url(url, root / "docs" / "guide.md")


def test_directory_and_fifo_are_not_read(root: Path) -> None:
    with pytest.raises(IsADirectoryError, match="is a directory, not a file"):
        read_file_url((root / "docs").as_uri(), root)
    fifo = root / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        read_file_url(fifo.as_uri(), root)  # would block forever if opened for reading


def test_size_limit(root: Path) -> None:
    url = (root / "docs" / "guide.md").as_uri()
    assert read_file_url(url, root, max_bytes=len(GUIDE))[0] == GUIDE
    with pytest.raises(TooLargeError) as caught:
        read_file_url(url, root, max_bytes=len(GUIDE) - 1)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.size, error.limit) == (len(GUIDE), len(GUIDE) - 1)
    assert f"is {len(GUIDE)} bytes, over the limit of {len(GUIDE) - 1} bytes" in str(error)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/etc/passwd", "is not a file:// URL"),
        ("docs/guide.md", "is not a file:// URL"),
        ("https://example.com/x", "is not a file:// URL"),
        ("file://docs/guide.md", "names host 'docs'"),
        ("file:docs/guide.md", "has the relative path 'docs/guide.md'"),
        ("file:///srv/a.txt?x=1", "has a query or fragment"),
        ("file:///srv/a#b.txt", "has a query or fragment"),
        ("file:///srv/a%00.txt", "NUL byte"),
    ],
)
def test_malformed_file_urls(root: Path, url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_file_url(url, root)


def test_guess_mime_type() -> None:
    assert guess_mime_type("notes.md") == "text/markdown"
    assert guess_mime_type("NOTES.MARKDOWN") == "text/markdown"
    assert guess_mime_type("table.csv") == "text/csv"
    assert guess_mime_type("page.html") == "text/html"
    assert guess_mime_type("table.csv.gz") == "application/gzip"
    assert guess_mime_type("README") == "application/octet-stream"
    assert guess_mime_type("blob.zzz-unknown") == "application/octet-stream"


def test_errors_survive_pickling() -> None:
    for error in (
        OutsideRootError(Path("/r/../x"), Path("/r"), Path("/x")),
        TooLargeError("file:///x", None, 10),
        FetchError("GET u failed: HTTP 404 Not Found", "u", 404),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert vars(copy) == vars(error)


# --- base64 ----------------------------------------------------------------------------------


def test_decode_base64_round_trip() -> None:
    data = bytes(range(256)) * 3
    assert decode_base64(base64.b64encode(data).decode()) == data
    assert decode_base64("") == b""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("aGVsbG8", "Incorrect padding"),
        ("aGVs bG8=", "remove the whitespace"),
        ("aGVsbG8=\n", "remove the whitespace"),
        ("-_-_", "URL-safe"),
        ("aGVsbG8=aGVsbG8=", "invalid base64 data"),
        ("héllo===", "invalid base64 data"),
    ],
)
def test_decode_base64_is_strict(data: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        decode_base64(data)
    assert "expected the standard alphabet" in str(caught.value)


# --- HTTP ------------------------------------------------------------------------------------

LIMIT = 1000


class _Handler(BaseHTTPRequestHandler):
    """Routes of the test server; see `server`."""

    release: threading.Event  # set at teardown, so slow handlers stop waiting

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        # The client may have given up (the timeout tests): then there is no one to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route()

    def _route(self) -> None:
        path = self.path
        if path == "/guide.txt":
            self._send(200, b"hello", {"Content-Type": "text/plain; charset=utf-8"})
        elif path == "/notes.md":  # no Content-Type: guessed from the URL
            self._send(200, GUIDE, {"Content-Length": str(len(GUIDE))})
        elif path == "/blob":
            self._send(200, b"\x00\x01", {})
        elif path == "/exact":
            self._send(200, b"x" * LIMIT, {"Content-Type": "Text/CSV", "Content-Length": "1000"})
        elif path == "/declared-too-large":
            body = b"x" * (LIMIT + 1)
            self._send(200, body, {"Content-Type": "text/plain", "Content-Length": str(len(body))})
        elif path == "/streamed-too-large":  # no Content-Length: the body ends at EOF
            self._send(200, b"y" * (LIMIT * 5), {"Content-Type": "text/plain"})
        elif path == "/lying-length":  # claims to be small, sends more
            self._send(200, b"z" * (LIMIT * 5), {"Content-Length": "10"})
        elif path == "/slow":
            self.release.wait(5)
            self._send(200, b"late", {"Content-Type": "text/plain"})
        elif path == "/trickle":
            self.send_response(200)
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"t")
                self.wfile.flush()
                if self.release.wait(0.05):
                    return
        elif path == "/redirect":
            self._send(302, b"", {"Location": "/notes.md"})
        elif path == "/redirect-ftp":
            self._send(302, b"", {"Location": "ftp://127.0.0.1/x"})
        else:
            self._send(404, b"no such thing", {"Content-Type": "text/plain"})


@pytest.fixture
def server() -> Iterator[str]:
    """A real HTTP server on a free loopback port, in a thread; yields its base URL."""
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
        httpd.server_close()  # joins the handler threads
        thread.join()


def test_fetches_a_body_and_its_content_type_without_parameters(server: str) -> None:
    assert fetch_http(f"{server}/guide.txt") == (b"hello", "text/plain")


def test_mime_type_is_guessed_from_the_url_without_content_type(server: str) -> None:
    assert fetch_http(f"{server}/notes.md") == (GUIDE, "text/markdown")
    assert fetch_http(f"{server}/blob") == (b"\x00\x01", "application/octet-stream")


def test_redirects_are_followed_and_the_final_url_names_the_type(server: str) -> None:
    assert fetch_http(f"{server}/redirect") == (GUIDE, "text/markdown")


def test_redirect_to_another_scheme_is_refused(server: str) -> None:
    with pytest.raises(FetchError, match=re.escape("redirected (302) to 'ftp://127.0.0.1/x'")):
        fetch_http(f"{server}/redirect-ftp")


def test_http_error_names_status_and_url(server: str) -> None:
    url = f"{server}/missing"
    with pytest.raises(FetchError) as caught:
        fetch_http(url)
    error = caught.value
    assert isinstance(error, OSError)
    assert (error.status, error.url) == (404, url)
    assert str(error) == f"GET {url} failed: HTTP 404 Not Found"


def test_body_of_exactly_the_limit_is_accepted(server: str) -> None:
    assert fetch_http(f"{server}/exact", max_bytes=LIMIT) == (b"x" * LIMIT, "text/csv")


def test_declared_content_length_over_the_limit(server: str) -> None:
    with pytest.raises(TooLargeError) as caught:
        fetch_http(f"{server}/declared-too-large", max_bytes=LIMIT)
    assert (caught.value.size, caught.value.limit) == (LIMIT + 1, LIMIT)
    assert f"is {LIMIT + 1} bytes, over the limit of {LIMIT} bytes" in str(caught.value)


def test_streamed_body_over_the_limit(server: str) -> None:
    with pytest.raises(TooLargeError, match=f"is more than {LIMIT} bytes") as caught:
        fetch_http(f"{server}/streamed-too-large", max_bytes=LIMIT)
    assert caught.value.size is None
    # A Content-Length that lies low cannot smuggle in more either: urllib stops at it.
    assert fetch_http(f"{server}/lying-length", max_bytes=LIMIT)[0] == b"z" * 10


def test_slow_response_times_out(server: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.3 s") as caught:
        fetch_http(f"{server}/slow", timeout=0.3)
    assert time.monotonic() - started < 3
    assert caught.value.status is None


def test_trickling_response_is_bounded_by_the_timeout_overall(server: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"took longer than 0\.5 s to download"):
        fetch_http(f"{server}/trickle", timeout=0.5)
    assert time.monotonic() - started < 2  # the whole trickle would take 2.5 s


def test_connection_refused_is_a_fetch_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.
    with pytest.raises(FetchError, match=f"GET http://127.0.0.1:{port}/x failed"):
        fetch_http(f"http://127.0.0.1:{port}/x", timeout=2)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///x", "x"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(ValueError, match="is not an http:// or https:// URL"):
        fetch_http(url)
