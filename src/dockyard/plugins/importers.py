"""The shipped file importer: text, base64 data, ``file://`` URLs under a root, http(s).

The reading is `dockyard.plugins.fetch`'s; this module decides what is accepted and maps
each failure to its `dockyard.plugins.errors` class:

=====================================================  ==============================  ====
what                                                   error                           HTTP
=====================================================  ==============================  ====
plain path, other scheme, file URL with a host or a    `ImportRefusedError`            403
query, file URLs without a root, http(s) when not
allowed, a file outside the root (``..``, symlink,
absolute path), a file the server may not read
no file at a ``file://`` URL inside the root, or a     `ImportNotFoundError`           404
directory
over ``max_bytes``                                     `ContentTooLargeError`          413
HTTP error status, network failure, timeout            `ImportFailedError`             502
the configured root is missing or not a directory      `ImportFailedError`             500
=====================================================  ==============================  ====
"""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

from pydantic import Field

import dockyard
from dockyard.plugins.errors import (
    ContentTooLargeError,
    ImportFailedError,
    ImportNotFoundError,
    ImportRefusedError,
)
from dockyard.plugins.fetch import (
    DEFAULT_MAX_BYTES,
    FetchError,
    OutsideRootError,
    TooLargeError,
    fetch_http,
    read_file_url,
)
from dockyard.plugins.service import PluginRequest
from dockyard.plugins.types import FileImporter, ImportInput, ImportOutput

__all__ = ["UrlImporter"]

_HANDLE = "file-importer"
_ACCEPTED = "file:///absolute/path (under the importer's root) or http(s)://host/path"


class UrlImporter(FileImporter):
    """Imports content given as text or base64 data, or read from a URL (handle
    ``file-importer``).

    Give exactly one of:

    - ``text``: imported as its UTF-8 bytes, typed ``mime_type`` or ``text/plain``;
    - ``data`` (base64): imported as given, typed ``mime_type`` or
      ``application/octet-stream``;
    - ``url``: ``file:///absolute/path`` for a file under ``root`` (at any depth; ``..``
      and symlinks are resolved first, so neither can lead out, and a refusal never says
      whether a file outside the root exists), or ``http://`` / ``https://`` (redirects
      followed to http(s) URLs only). The type is ``mime_type`` if given, else the HTTP
      ``Content-Type``, else a guess from the name. Plain paths (``/etc/passwd``,
      ``../x``) and every other scheme (``ftp:``, ``data:``...) are refused.

    Every way in is held to ``max_bytes``. Note that http(s) URLs may name any host the
    server can reach, internal ones included: set ``allow_http`` to false where callers
    must not make the server fetch for them.

    Config:
        root: the directory ``file://`` URLs must lie in; None (the default) refuses
            ``file://`` URLs. A relative path is relative to the server's working
            directory.
        timeout: seconds an http(s) fetch may take, > 0 (default 10).
        max_bytes: the most bytes imported, > 0 (default 10 MiB).
        allow_http: whether ``http://`` and ``https://`` URLs are fetched (default true).
    """

    class Config(dockyard.Config):
        """The file-importer's config (see the class)."""

        root: str | None = Field(
            default=None, description="Directory file:// URLs must lie in; none refuses them."
        )
        timeout: float = Field(default=10.0, gt=0, description="Seconds an http(s) fetch may take.")
        max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0, description="Most bytes imported.")
        allow_http: bool = Field(default=True, description="Whether http(s) URLs are fetched.")

    config: Config

    def run(self, request: PluginRequest[ImportInput]) -> ImportOutput:
        """Import the text, the data, or what the URL names."""
        given = request.data
        if given.text is not None:
            content = given.text.encode("utf-8")
            self._check_size(len(content), "the text")
            return ImportOutput(
                data=base64.b64encode(content).decode("ascii"),
                mime_type=given.mime_type or "text/plain",
            )
        if given.data is not None:
            # base64 carries 3 bytes in every 4 characters, less the padding.
            size = len(given.data) // 4 * 3 - given.data[-2:].count("=")
            self._check_size(size, "the data")
            return ImportOutput(
                data=given.data, mime_type=given.mime_type or "application/octet-stream"
            )
        assert given.url is not None  # ImportInput holds exactly one of the three
        content, mime = self._read_url(given.url)
        return ImportOutput(
            data=base64.b64encode(content).decode("ascii"), mime_type=given.mime_type or mime
        )

    def _check_size(self, size: int, what: str) -> None:
        limit = self.config.max_bytes
        if size > limit:
            raise ContentTooLargeError(
                f"{_HANDLE}: {what} is {size} bytes, over the limit of {limit} bytes",
                suggestion="import a smaller file, or raise the importer's max_bytes config",
                details={"size": size, "limit": limit},
            )

    def _read_url(self, url: str) -> tuple[bytes, str]:
        try:
            scheme = urllib.parse.urlsplit(url).scheme.lower()
        except ValueError:  # e.g. an unclosed '[' in the host
            scheme = "?"
        if scheme == "file":
            return self._read_file(url)
        if scheme in ("http", "https"):
            return self._fetch(url)
        what = {"": "a plain path, not a URL", "?": "not a well-formed URL"}.get(
            scheme, f"a {scheme}: URL"
        )
        raise ImportRefusedError(
            f"{_HANDLE} refuses {url!r}: it is {what}; it reads {_ACCEPTED}",
            suggestion="give a file:// or http(s):// URL, or send the content itself as "
            "text or base64 data",
            details={"url": url},
        )

    def _read_file(self, url: str) -> tuple[bytes, str]:
        if self.config.root is None:
            raise ImportRefusedError(
                f"{_HANDLE} refuses {url!r}: file:// URLs are disabled because the importer "
                "has no root directory configured",
                suggestion="set the importer's root config to the directory holding the "
                "files to import, or send the content itself as text or base64 data",
                details={"url": url},
            )
        root = Path(self.config.root)
        try:
            return read_file_url(url, root, max_bytes=self.config.max_bytes)
        except TooLargeError as error:
            raise self._too_large(url, error) from None
        except OutsideRootError:
            # Said the same way whether or not the file exists, and without where a
            # symlink leads: nothing about the outside is revealed.
            raise ImportRefusedError(
                f"{_HANDLE} refuses {url!r}: it is outside the importer's root directory "
                f"{self.config.root!r}",
                suggestion="import a file under the root, or set the importer's root config "
                "to a directory that contains it",
                details={"url": url, "root": self.config.root},
            ) from None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
            if not root.is_dir():
                raise ImportFailedError(
                    f"{_HANDLE} cannot read {url!r}: its root directory {self.config.root!r} "
                    "does not exist or is not a directory",
                    status=500,
                    suggestion="the server's operator must create the root directory or set "
                    "the importer's root config to an existing one",
                    details={"url": url, "root": self.config.root},
                ) from None
            what = "a directory" if isinstance(error, IsADirectoryError) else "not there"
            raise ImportNotFoundError(
                f"{_HANDLE} found no file at {url!r}: it is {what}",
                suggestion="check the path (percent-encoded, absolute: file:///dir/name) "
                "and that the file exists under the importer's root",
                details={"url": url},
            ) from None
        except PermissionError:
            raise ImportRefusedError(
                f"{_HANDLE} may not read {url!r}: the server has no permission to read it",
                suggestion="make the file readable by the server's user",
                details={"url": url},
            ) from None
        except ValueError as error:  # not an absolute local file URL, or not a regular file
            raise ImportRefusedError(
                f"{_HANDLE} refuses {url!r}: {error}",
                suggestion=f"give a URL of the form {_ACCEPTED}",
                details={"url": url},
            ) from None
        except OSError as error:
            raise ImportFailedError(
                f"{_HANDLE} cannot read {url!r}: {error.strerror or error}",
                suggestion="check the file, then retry",
                details={"url": url},
            ) from None

    def _fetch(self, url: str) -> tuple[bytes, str]:
        if not self.config.allow_http:
            raise ImportRefusedError(
                f"{_HANDLE} refuses {url!r}: this importer does not fetch http(s) URLs "
                "(its allow_http config is false)",
                suggestion="send the content itself as text or base64 data, or use an "
                "importer that allows http(s)",
                details={"url": url},
            )
        try:
            return fetch_http(url, timeout=self.config.timeout, max_bytes=self.config.max_bytes)
        except TooLargeError as error:
            raise self._too_large(url, error) from None
        except FetchError as error:
            raise ImportFailedError(
                f"{_HANDLE} could not fetch {url!r}: {error}",
                suggestion="check the URL and that its server answers; retry later if it "
                "was a timeout or a network failure",
                details={"url": url, "upstream_status": error.status},
            ) from None
        except ValueError as error:  # e.g. http:///path: no host
            raise ImportRefusedError(
                f"{_HANDLE} refuses {url!r}: {error}",
                suggestion=f"give a URL of the form {_ACCEPTED}",
                details={"url": url},
            ) from None

    def _too_large(self, url: str, error: TooLargeError) -> ContentTooLargeError:
        amount = f"more than {error.limit}" if error.size is None else str(error.size)
        return ContentTooLargeError(
            f"{_HANDLE}: {url!r} is {amount} bytes, over the limit of {error.limit} bytes",
            suggestion="import a smaller file, or raise the importer's max_bytes config",
            details={"url": url, "size": error.size, "limit": error.limit},
        )
