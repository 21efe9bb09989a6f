"""`FileImporterMixin` (entry point ``file-importer``): files imported into an instance.

Routes:

- ``POST /import_text (text, mime_type="text/plain")``: the text, stored as UTF-8.
- ``POST /import_url (url, mime_type=None)``: content read by an importer plugin (default
  the shipped ``file-importer``: ``file://`` under ``root``, http(s) if ``allow_http``).
- ``POST /import_data (data, mime_type)``: base64 content (whitespace ignored).
- ``GET /get_file (file_id)``: the file's record, plus its content: as text
  (``"encoding": "text"``) for text types that decode, else base64 (``"encoding": "base64"``).
- ``POST /list_files``: every file's record, oldest first.

Each import returns the stored file's record: ``id``, ``mime_type``, ``size`` (bytes),
``source`` (``"text"``, ``"data"`` or the URL), ``sha256`` and ``created_at``.

Storage (this mixin's namespace, ``file_importer``): ``file/{id}`` holds the record;
``data/{id}/{n:06d}`` the content's n-th piece of at most ``chunk_bytes`` bytes, as base64,
so no single value grows with the file. The pieces are written before the record, so a
file that is listed is complete (in every process).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Any

from pydantic import Field

import dockyard
from dockyard import ConfigError, PackageMixin, get, post
from dockyard.mixins.common import (
    check_file_id,
    essence,
    new_file_id,
    normalize_mime_type,
    utc_now,
)
from dockyard.mixins.errors import (
    FileNotFoundInStoreError,
    FileTooLargeError,
    InvalidFileDataError,
)
from dockyard.plugins import FileImporter

if TYPE_CHECKING:
    from dockyard.plugins.handle import PluginHandle

__all__ = ["DEFAULT_CHUNK_BYTES", "DEFAULT_MAX_BYTES", "FileImporterMixin"]

#: The default ``max_bytes``: 10 MiB.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: The default ``chunk_bytes``: 512 KiB of content per stored value.
DEFAULT_CHUNK_BYTES = 512 * 1024
#: The importer plugin's handle whose config takes ``root``, ``allow_http``, ...
SHIPPED_IMPORTER = "file-importer"
# Types whose content get_file returns as text (besides text/*), when it decodes.
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/csv",
        "application/x-ndjson",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
    }
)
_RECORD_FIELDS = ("id", "mime_type", "size", "source", "sha256", "created_at")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record without its bookkeeping (the number of pieces)."""
    return {name: record.get(name) for name in _RECORD_FIELDS}


def _is_text(mime_type: str) -> bool:
    main = essence(mime_type)
    return main.startswith("text/") or main in _TEXT_TYPES or main.endswith(("+json", "+xml"))


def _charset(mime_type: str) -> str:
    for parameter in mime_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"


class FileImporterMixin(PackageMixin):
    """Imports files (text, base64 data, or a URL through an importer plugin) into the
    instance's storage, and reads them back.

    Works alone. Other mixins (the blockifier) read files through `file_record` and
    `file_content`, never through this mixin's storage namespace.

    Config (section ``file_importer``):
        importer: the importer plugin reading URLs (default ``file-importer``).
        root: for the shipped importer: the directory ``file://`` URLs must lie in; none
            (the default) refuses ``file://`` URLs.
        allow_http: for the shipped importer: whether http(s) URLs are fetched (default true).
        timeout: for the shipped importer: seconds an http(s) fetch may take (default 10).
        max_bytes: the largest file imported, any way (default 10 MiB); more is a 413.
        chunk_bytes: content bytes per stored value (default 512 KiB).
        importer_config: more config for the importer plugin, merged over the above
            (for another importer, its whole config: the four above go to the shipped one only).
    """

    class Config(dockyard.Config):
        """The file importer's config (see the class)."""

        importer: str = Field(
            default=SHIPPED_IMPORTER, description="Importer plugin handle reading URLs."
        )
        root: str | None = Field(
            default=None, description="Directory file:// URLs must lie in; none refuses them."
        )
        allow_http: bool = Field(default=True, description="Whether http(s) URLs are fetched.")
        timeout: float = Field(default=10.0, gt=0, description="Seconds an http(s) fetch may take.")
        max_bytes: int = Field(
            default=DEFAULT_MAX_BYTES, gt=0, description="Largest file imported, in bytes."
        )
        chunk_bytes: int = Field(
            default=DEFAULT_CHUNK_BYTES, gt=0, description="Content bytes per stored value."
        )
        importer_config: dict[str, Any] = Field(
            default_factory=dict, description="More config for the importer plugin."
        )

    config: Config

    def instance_init(self) -> None:
        """Check that the configured importer is an installed importer plugin, so a bad
        config fails when the instance is made rather than at the first import."""
        self._importer()

    # --- Python API (for other mixins) ------------------------------------------------

    def store_file(
        self, content: bytes, mime_type: str, *, source: str, file_id: str | None = None
    ) -> dict[str, Any]:
        """Store ``content`` as a file and return its record.

        :param content: the bytes.
        :param mime_type: their type (normalised; 422 if not ``type/subtype``).
        :param source: where they came from (``"text"``, ``"data"``, a URL).
        :param file_id: the id to store under (default: a new one); storing again under
            an id replaces that file (what a retried pipeline step does).
        :raises FileTooLargeError: 413 over ``max_bytes``.
        """
        mime = normalize_mime_type(mime_type)
        self._check_size(len(content), "the content")
        file_id = new_file_id() if file_id is None else check_file_id(file_id)
        storage = self.storage
        step = self.config.chunk_bytes
        pieces = max(1, -(-len(content) // step))
        for index in range(pieces):
            piece = content[index * step : (index + 1) * step]
            storage.set(f"data/{file_id}/{index:06d}", base64.b64encode(piece).decode("ascii"))
        record = {
            "id": file_id,
            "mime_type": mime,
            "size": len(content),
            "source": source,
            "sha256": hashlib.sha256(content).hexdigest(),
            "created_at": utc_now(),
            "pieces": pieces,
        }
        previous = storage.get(f"file/{file_id}")
        storage.set(f"file/{file_id}", record)
        if isinstance(previous, dict):
            # A replaced file may have had more pieces: drop the ones left over.
            for index in range(pieces, int(previous.get("pieces", 0))):
                storage.delete(f"data/{file_id}/{index:06d}")
        return _public(record)

    def file_record(self, file_id: str) -> dict[str, Any]:
        """The record of file ``file_id`` (``id``, ``mime_type``, ``size``, ``source``,
        ``sha256``, ``created_at``).

        :raises FileNotFoundInStoreError: 404 if there is no such file.
        """
        return _public(self._record(file_id))

    def file_content(self, file_id: str) -> bytes:
        """The content of file ``file_id``.

        :raises FileNotFoundInStoreError: 404 if there is no such file.
        """
        return self._content(self._record(file_id))

    def decode_data(self, data: str) -> bytes:
        """Base64 ``data`` (standard alphabet; whitespace ignored) as bytes, size checked
        before decoding.

        :raises InvalidFileDataError: 422 if it is not base64.
        :raises FileTooLargeError: 413 over ``max_bytes``.
        """
        compact = "".join(data.split())
        # base64 carries 3 bytes in every 4 characters, less the padding.
        self._check_size(len(compact) // 4 * 3 - compact[-2:].count("="), "the data")
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidFileDataError(
                "data is not valid base64 (standard alphabet, padded with '=')",
                suggestion="encode the bytes with standard base64, e.g. base64.b64encode(data)",
            ) from None

    def fetch_url(
        self, url: str, *, mime_type: str | None = None, file_id: str | None = None
    ) -> dict[str, Any]:
        """Read ``url`` with the importer plugin, store it as a file, return its record.

        :param url: the URL (what the importer accepts: for the shipped one, ``file://``
            under ``root`` or http(s)).
        :param mime_type: the content's type (default: what the importer says).
        :param file_id: the id to store under (default: a new one).
        :raises DockyardError: the importer's errors (403 refused, 404, 413, 502...).
        """
        given = None if mime_type is None else normalize_mime_type(mime_type)
        imported = self._importer().import_(url, mime_type=given)
        return self.store_file(imported.content(), imported.mime_type, source=url, file_id=file_id)

    # --- routes -----------------------------------------------------------------------

    @post("import_text")
    def import_text(self, text: str, mime_type: str = "text/plain") -> dict[str, Any]:
        """Import ``text`` (stored as UTF-8) as a file of type ``mime_type``.

        :param text: the content.
        :param mime_type: its type (default text/plain).
        :returns: the file's record (``id``, ``mime_type``, ``size``, ``source``, ...).
        """
        return self.store_file(text.encode("utf-8"), mime_type, source="text")

    @post("import_url")
    def import_url(self, url: str, mime_type: str | None = None) -> dict[str, Any]:
        """Import what ``url`` names, read by the configured importer plugin.

        :param url: ``file:///path`` under the configured root, or an http(s) URL.
        :param mime_type: the content's type (default: the server's or a guess from the name).
        :returns: the file's record.
        """
        return self.fetch_url(url, mime_type=mime_type)

    @post("import_data")
    def import_data(self, data: str, mime_type: str) -> dict[str, Any]:
        """Import base64 ``data`` as a file of type ``mime_type``.

        :param data: the content, base64-encoded (standard alphabet).
        :param mime_type: its type, e.g. text/csv or application/pdf.
        :returns: the file's record.
        """
        mime = normalize_mime_type(mime_type)
        return self.store_file(self.decode_data(data), mime, source="data")

    @get("get_file")
    def get_file(self, file_id: str) -> dict[str, Any]:
        """A file's record and content.

        :param file_id: the id an import returned.
        :returns: the record plus ``encoding`` and ``content``: the content as text
            (``"text"``) when the type is text (text/*, JSON, XML...) and it decodes in its
            charset (UTF-8 by default), else as base64 (``"base64"``).
        """
        record = self._record(file_id)
        content = self._content(record)
        result = _public(record)
        if _is_text(record["mime_type"]):
            try:
                result.update(
                    encoding="text", content=content.decode(_charset(record["mime_type"]))
                )
                return result
            except (LookupError, UnicodeDecodeError):
                pass  # not text after all: base64 below
        result.update(encoding="base64", content=base64.b64encode(content).decode("ascii"))
        return result

    @post("list_files")
    def list_files(self) -> list[dict[str, Any]]:
        """Every file's record (no content), oldest first."""
        records = [record for _, record in self.storage.items("file/")]
        records.sort(key=lambda record: (record["created_at"], record["id"]))
        return [_public(record) for record in records]

    # --- internals --------------------------------------------------------------------

    def _record(self, file_id: str) -> dict[str, Any]:
        record = self.storage.get(f"file/{check_file_id(file_id)}")
        if not isinstance(record, dict):
            raise FileNotFoundInStoreError(
                f"no file {file_id!r} in this instance",
                suggestion="import it first (import_text, import_url, import_data); "
                "list_files lists the files there are",
                details={"file_id": file_id},
            )
        return record

    def _content(self, record: dict[str, Any]) -> bytes:
        storage = self.storage
        file_id = record["id"]
        pieces = [storage.get(f"data/{file_id}/{index:06d}") for index in range(record["pieces"])]
        return b"".join(base64.b64decode(piece) for piece in pieces if piece is not None)

    def _check_size(self, size: int, what: str) -> None:
        limit = self.config.max_bytes
        if size > limit:
            raise FileTooLargeError(
                f"{what} is {size} bytes, over the file importer's limit of {limit} bytes",
                suggestion="import a smaller file, or raise the file_importer.max_bytes config",
                details={"size": size, "limit": limit},
            )

    def _importer(self) -> PluginHandle[Any, Any]:
        config = self.config
        plugin_config: dict[str, Any] = {}
        if config.importer == SHIPPED_IMPORTER:
            plugin_config = {
                "root": config.root,
                "allow_http": config.allow_http,
                "timeout": config.timeout,
                "max_bytes": config.max_bytes,
            }
        plugin_config.update(config.importer_config)
        handle = self.use_plugin(config.importer, config=plugin_config)
        if handle.plugin_type is not FileImporter:
            raise ConfigError(
                f"file_importer.importer {config.importer!r} is not a file importer plugin",
                suggestion="set file_importer.importer to an installed FileImporter plugin, "
                f"e.g. {SHIPPED_IMPORTER!r}",
            )
        return handle
