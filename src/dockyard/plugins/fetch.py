"""The file importer's I/O: reading ``file://`` URLs under a root, fetching over HTTP(S),
decoding base64. Standard library only; no knowledge of services or plugins.

Every function returns ``(content bytes, mime type)`` or raises an exception whose
message says what was wrong and how to fix it:

- `OutsideRootError` (a `PermissionError`): a ``file://`` URL points outside the
  allowed root directory, however it gets there (``..``, symlinks, absolute paths,
  percent-encoding);
- `TooLargeError` (a `ValueError`): the content exceeds the size limit;
- `FetchError` (an `OSError`): an HTTP request failed (status, network, timeout).
"""

from __future__ import annotations

import base64
import binascii
import http.client
import mimetypes
import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FetchError",
    "OutsideRootError",
    "TooLargeError",
    "decode_base64",
    "fetch_http",
    "guess_mime_type",
    "read_file_url",
]

#: The default size limit of `read_file_url` and `fetch_http`: 10 MiB.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

_OCTET_STREAM = "application/octet-stream"
_CHUNK = 64 * 1024
# A private table with only Python's built-in types: the module-level functions also read
# the host's /etc/mime.types, which would make guesses differ between machines.
_MIME_TYPES = mimetypes.MimeTypes()
_MIME_OVERRIDES = {".md": "text/markdown", ".markdown": "text/markdown"}
# A compressed file's type is the compression's, not the type of what is inside it.
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}


class OutsideRootError(PermissionError):
    """A ``file://`` URL names a path outside the directory the importer may read.

    :param path: the path as requested (percent-decoded).
    :param root: the allowed root directory (resolved).
    :param resolved: where ``path`` leads once ``..`` and symlinks are resolved, if
        that differs from ``path``; shown in the message.
    """

    def __init__(
        self, path: Path | str, root: Path | str, resolved: Path | str | None = None
    ) -> None:
        self.path = Path(path)
        self.root = Path(root)
        self.resolved = None if resolved is None else Path(resolved)
        leads = (
            ""
            if self.resolved is None or self.resolved == self.path
            else f" (which resolves to {str(self.resolved)!r})"
        )
        super().__init__(
            f"refusing to read {str(self.path)!r}{leads}: it is outside the allowed root "
            f"{str(self.root)!r}; set the importer's root config to a directory that "
            "contains the file, or move the file under the root"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as cls(*args), and args holds only the message.
        return (type(self), (self.path, self.root, self.resolved))


class TooLargeError(ValueError):
    """Content exceeds the size limit.

    :param source: what was being read (a path or URL), for the message.
    :param size: its size in bytes, or None when only known to be over the limit (a
        streamed response without Content-Length).
    :param limit: the limit in bytes.
    """

    def __init__(self, source: str, size: int | None, limit: int) -> None:
        self.source = source
        self.size = size
        self.limit = limit
        amount = f"more than {limit}" if size is None else str(size)
        super().__init__(
            f"{source} is {amount} bytes, over the limit of {limit} bytes; raise the "
            "importer's max_bytes limit to accept it, or import a smaller file"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.source, self.size, self.limit))


class FetchError(OSError):
    """An HTTP(S) fetch failed: an error status, a network failure or a timeout.

    :param message: what went wrong, naming the URL.
    :param url: the URL requested.
    :param status: the HTTP status code, or None when no response arrived.
    """

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.url, self.status))


def guess_mime_type(name: str) -> str:
    """The mime type of a file name or URL path from its extension.

    ``.md`` and ``.markdown`` give ``text/markdown``; a compressed name (``a.csv.gz``)
    gives the compression's type (``application/gzip``); unknown extensions give
    ``application/octet-stream``. Uses Python's built-in table only, so the answer is the
    same on every machine.
    """
    suffix = Path(name).suffix.lower()
    if suffix in _MIME_OVERRIDES:
        return _MIME_OVERRIDES[suffix]
    mime, encoding = _MIME_TYPES.guess_type(name, strict=False)
    if encoding is not None:
        return _ENCODING_TYPES.get(encoding, _OCTET_STREAM)
    return mime or _OCTET_STREAM


def _file_url_path(url: str) -> Path:
    """The absolute local path a ``file://`` URL names, percent-decoded."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "file":
        raise ValueError(
            f"{url!r} is not a file:// URL; give file:///absolute/path (this reader does "
            "not take plain paths or other schemes)"
        )
    if parts.netloc not in ("", "localhost"):
        raise ValueError(
            f"file URL {url!r} names host {parts.netloc!r}; only local files can be read: "
            "write file:///absolute/path (three slashes)"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(
            f"file URL {url!r} has a query or fragment; percent-encode '?' as %3F and "
            "'#' as %23 if they are part of the file name"
        )
    # Decoding first means "%2e%2e" is a real ".." before resolving, so it cannot slip
    # past the root check.
    decoded = urllib.request.url2pathname(parts.path)
    if "\x00" in decoded:
        raise ValueError(f"file URL {url!r} contains a NUL byte (%00), which no path can hold")
    path = Path(decoded)
    if not path.is_absolute():
        raise ValueError(
            f"file URL {url!r} has the relative path {decoded!r}; write the absolute "
            "path: file:///absolute/path"
        )
    return path


def read_file_url(url: str, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, str]:
    """Read a local file named by a ``file://`` URL, only if it lies under ``root``.

    Only ``file:///absolute/path`` URLs (host empty or ``localhost``) are accepted, not
    plain paths. The path is percent-decoded, then resolved (``..`` and every symlink
    followed); a file whose resolved path is not inside ``root.resolve()`` is refused,
    whether or not it exists, so the error reveals nothing about files outside the root.
    The final component is opened without following symlinks, so one swapped in after
    the check is refused too.

    :param url: e.g. ``"file:///srv/docs/guide.md"``.
    :param root: the directory the file must be in (at any depth).
    :param max_bytes: the size limit.
    :returns: the file's bytes and its mime type from its name (`guess_mime_type`).
    :raises ValueError: if the URL is not an absolute local ``file://`` URL.
    :raises OutsideRootError: if the file is outside ``root``.
    :raises FileNotFoundError: if ``root`` or the file does not exist.
    :raises NotADirectoryError: if ``root`` is not a directory.
    :raises IsADirectoryError: if the path is a directory.
    :raises TooLargeError: if the file has more than ``max_bytes`` bytes.
    """
    path = _file_url_path(url)
    try:
        allowed = root.resolve(strict=True)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"the importer's root directory {str(root)!r} does not exist; create it or "
            "set the root config to an existing directory"
        ) from error
    if not allowed.is_dir():
        raise NotADirectoryError(
            f"the importer's root {str(root)!r} is not a directory; set the root config "
            "to the directory holding the files to import"
        )
    # Checked before the existence of the file so that probing outside the root cannot
    # tell existing files from missing ones.
    target = path.resolve()
    if not target.is_relative_to(allowed):
        raise OutsideRootError(path, allowed, target)
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"no file at {str(path)!r} (from {url!r}); check the path and that the file "
            f"exists under the root {str(allowed)!r}"
        ) from error
    if not resolved.is_relative_to(allowed):  # a symlink created since the check above
        raise OutsideRootError(path, allowed, resolved)
    if resolved.is_dir():
        raise IsADirectoryError(f"{str(resolved)!r} (from {url!r}) is a directory, not a file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(resolved, flags)
    except OSError as error:
        if os.path.islink(resolved):  # swapped for a symlink since it was resolved
            raise OutsideRootError(path, allowed, os.path.realpath(resolved)) from error
        raise
    with open(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(
                f"{str(resolved)!r} (from {url!r}) is not a regular file (a device, pipe "
                "or socket); only regular files can be imported"
            )
        if info.st_size > max_bytes:
            raise TooLargeError(str(resolved), info.st_size, max_bytes)
        data = file.read(max_bytes + 1)  # the file may have grown since fstat
    if len(data) > max_bytes:
        raise TooLargeError(str(resolved), None, max_bytes)
    return data, guess_mime_type(path.name)


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to http and https (urllib also allows ftp)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            fp.close()  # urllib closes it only when the redirect is followed
            raise FetchError(
                f"{req.full_url} redirected ({code}) to {newurl!r}, which is not an "
                "http(s) URL; fetch the final URL directly if it is meant to be read",
                req.full_url,
                code,
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_http(
    url: str, *, timeout: float = 10.0, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, str]:
    """GET an ``http://`` or ``https://`` URL (following redirects to http(s) URLs).

    The size limit is checked against ``Content-Length`` before reading, and again while
    reading (at most ``max_bytes + 1`` bytes are read), since the header may be missing
    or wrong. ``timeout`` bounds each network operation and also the whole download, so a
    server trickling bytes cannot hold the caller longer than about ``timeout`` seconds.
    Proxies come from the usual environment variables (``https_proxy``...).

    :param url: the URL.
    :param timeout: seconds.
    :param max_bytes: the size limit.
    :returns: the body and its mime type: the ``Content-Type`` header without its
        parameters (``text/html; charset=utf-8`` gives ``text/html``), or if there is
        none a guess from the URL's path (`guess_mime_type`).
    :raises ValueError: if the URL is not http(s).
    :raises FetchError: on an HTTP error status (its ``status`` attribute), a network
        error or a timeout; the message names the URL.
    :raises TooLargeError: if the body has more than ``max_bytes`` bytes.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"{url!r} is not an http:// or https:// URL; give a full URL such as "
            "https://example.com/file.txt"
        )
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": "dockyard-importer"})
    try:
        # A new opener per call: its proxy handler reads the proxy environment variables
        # when built, and they may change while the process runs.
        opener = urllib.request.build_opener(_SameSchemeRedirects())
        with opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.strip().isdigit() and int(length) > max_bytes:
                raise TooLargeError(url, int(length), max_bytes)
            chunks: list[bytes] = []
            received = 0
            while received <= max_bytes:
                if time.monotonic() > deadline:
                    raise FetchError(
                        f"GET {url} took longer than {timeout} s to download; raise the "
                        "timeout or fetch a smaller file",
                        url,
                    )
                # read1: whatever has arrived (read(n) would block until n bytes or EOF,
                # letting a trickling server run past the deadline).
                chunk = response.read1(min(_CHUNK, max_bytes + 1 - received))
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
            content_type = response.headers.get("Content-Type", "")
            final_url = response.url  # after redirects
    except urllib.error.HTTPError as error:
        with error:  # closes the error response's connection
            raise FetchError(
                f"GET {url} failed: HTTP {error.code} {error.reason}", url, error.code
            ) from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise FetchError(
                f"GET {url} timed out after {timeout} s waiting for the server; check the "
                "URL or raise the timeout",
                url,
            ) from error
        raise FetchError(f"GET {url} failed: {error.reason}", url) from error
    except TimeoutError as error:
        raise FetchError(
            f"GET {url} timed out after {timeout} s waiting for the server; check the "
            "URL or raise the timeout",
            url,
        ) from error
    except FetchError:
        raise
    except (OSError, http.client.HTTPException) as error:  # e.g. connection reset, truncated
        raise FetchError(f"GET {url} failed: {error!r}", url) from error
    if received > max_bytes:
        raise TooLargeError(url, None, max_bytes)
    mime = content_type.partition(";")[0].strip().lower()
    final_path = urllib.parse.urlsplit(final_url).path
    return b"".join(chunks), mime or guess_mime_type(urllib.parse.unquote(final_path))


def decode_base64(data: str) -> bytes:
    """Decode standard base64 (RFC 4648 alphabet ``A-Z a-z 0-9 + /``, ``=`` padding).

    Strict: any other character, including whitespace and line breaks, and missing or
    misplaced padding, is an error rather than being skipped.

    :raises ValueError: naming the problem, if ``data`` is not valid base64.
    """
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        hint = ""
        if any(c in data for c in "-_"):
            hint = "; it looks URL-safe ('-' and '_'): convert them to '+' and '/'"
        elif any(c.isspace() for c in data):
            hint = "; remove the whitespace and line breaks"
        raise ValueError(
            f"invalid base64 data ({len(data)} characters): {error}; expected the standard "
            f"alphabet A-Z a-z 0-9 + / with '=' padding to a multiple of 4 characters{hint}"
        ) from error
