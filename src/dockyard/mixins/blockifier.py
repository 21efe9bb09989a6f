"""`BlockifierMixin` (entry point ``blockifier``): cuts imported files into blocks.

Routes:

- ``POST /blockify_file (file_id, blockifier=None)``: cut the file with a blockifier
  plugin (by default the one configured for its mime type) and store the blocks,
  replacing any stored before; returns them.
- ``GET /get_blocks (file_id)``: the stored blocks of a file.

Both return ``{"file_id", "blockifier", "mime_type", "blocks", "tags", "created_at"}``,
each block ``{"id", "text", "mime_type", "tags"}`` (tags as in `dockyard.plugins.Tag`).

Requires `FileImporterMixin` (the files), found on the package and read through its
methods. Storage (this mixin's namespace, ``blockifier``): ``blocks/{file_id}`` holds a
file's blocks, one value, so re-blockifying replaces them in one write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

import dockyard
from dockyard import DockyardError, PackageMixin, get, post
from dockyard.core.discovery import Discovery
from dockyard.mixins.common import check_file_id, essence, require_mixin, utc_now
from dockyard.mixins.errors import NoBlockifierError, NotReadyError, UnknownBlockifierError
from dockyard.mixins.files import FileImporterMixin
from dockyard.plugins import Blockifier

if TYPE_CHECKING:
    from dockyard.plugins.handle import PluginHandle

__all__ = ["DEFAULT_BLOCKIFIERS", "BlockifierMixin"]

#: The default mime type -> blockifier plugin mapping.
DEFAULT_BLOCKIFIERS: Mapping[str, str] = {
    "text/markdown": "text-blockifier",
    "text/plain": "text-blockifier",
    "text/x-markdown": "text-blockifier",
    "text/csv": "csv-blockifier",
}


def installed_blockifiers() -> list[str]:
    """The handles of the installed plugins that are blockifiers, sorted (loads plugins:
    only for error messages)."""
    discovery = Discovery()
    names: list[str] = []
    for component in discovery.load_all("dockyard.plugins"):
        try:
            loaded = component.load()
        except DockyardError:
            continue  # broken distributions are dockyard list's to report
        if isinstance(loaded, type) and issubclass(loaded, Blockifier):
            names.append(component.name)
    return sorted(names)


class BlockifierMixin(PackageMixin):
    """Cuts the files of `FileImporterMixin` into blocks with a blockifier plugin, chosen
    by the file's mime type, and stores them.

    The plugin is the one the config maps the file's type to: the exact ``type/subtype``
    first, then ``type/*``, then ``*/*``; a type with none is a 415 naming the configured
    types. A ``blockifier`` given per call overrides the mapping; one that is not an
    installed blockifier is a 422 listing the installed ones.

    Config (section ``blockifier``):
        blockifiers: mime type -> blockifier plugin handle (default: text/markdown,
            text/x-markdown and text/plain -> ``text-blockifier``, text/csv ->
            ``csv-blockifier``); keys may be ``type/*`` or ``*/*``.
        plugin_config: blockifier handle -> that plugin's config (default: none), e.g.
            ``{"csv-blockifier": {"text_column": "body"}}``.
    """

    REQUIRES: ClassVar[list[str | type[PackageMixin]]] = [FileImporterMixin]

    class Config(dockyard.Config):
        """The blockifier's config (see the class)."""

        blockifiers: dict[str, str] = Field(
            default_factory=lambda: dict(DEFAULT_BLOCKIFIERS),
            description="Mime type (or type/*, */*) -> blockifier plugin handle.",
        )
        plugin_config: dict[str, dict[str, Any]] = Field(
            default_factory=dict, description="Blockifier handle -> its plugin config."
        )

        @field_validator("blockifiers")
        @classmethod
        def _mime_keys(cls, mapping: dict[str, str]) -> dict[str, str]:
            # Matched against a file's lower-cased type without parameters.
            return {essence(key): handle for key, handle in mapping.items()}

    config: Config

    def instance_init(self) -> None:
        """Check that every configured blockifier is an installed blockifier plugin, so a
        bad config fails when the instance is made rather than at the first file."""
        for handle in sorted(set(self.config.blockifiers.values())):
            self._plugin(handle, where="the config's blockifiers")

    # --- Python API (for other mixins) ------------------------------------------------

    def choose(self, mime_type: str) -> str:
        """The blockifier handle configured for ``mime_type``.

        :raises NoBlockifierError: 415 if none is.
        """
        mapping = self.config.blockifiers
        main = essence(mime_type)
        for key in (main, f"{main.partition('/')[0]}/*", "*/*"):
            if key in mapping:
                return mapping[key]
        configured = sorted(mapping)
        raise NoBlockifierError(
            f"no blockifier is configured for mime type {main!r} (configured: "
            f"{', '.join(configured) or 'none'})",
            suggestion="pass blockifier=<handle> to blockify_file, or map the type in the "
            "blockifier.blockifiers config",
            details={"mime_type": main, "configured": configured},
        )

    def blockify(self, file_id: str, blockifier: str | None = None) -> dict[str, Any]:
        """Cut file ``file_id`` into blocks, store them (replacing any), return them.

        :param file_id: a file of the package's `FileImporterMixin`.
        :param blockifier: the plugin handle (default: the one configured for the type).
        :raises FileNotFoundInStoreError: 404 no such file.
        :raises NoBlockifierError: 415 no blockifier for the type.
        :raises UnknownBlockifierError: 422 not an installed blockifier.
        """
        files = require_mixin(self.package, FileImporterMixin, "blockify_file")
        record = files.file_record(file_id)
        handle = blockifier or self.choose(record["mime_type"])
        where = (
            "blockifier="
            if blockifier
            else f"the config's blockifiers[{essence(record['mime_type'])!r}]"
        )
        plugin = self._plugin(handle, where=where)
        cut = plugin.blockify(files.file_content(file_id), record["mime_type"])
        stored = {
            "file_id": record["id"],
            "blockifier": handle,
            "mime_type": cut.mime_type,
            "blocks": [block.model_dump(mode="json") for block in cut.blocks],
            "tags": [tag.model_dump(mode="json") for tag in cut.tags],
            "created_at": utc_now(),
        }
        self.storage.set(f"blocks/{record['id']}", stored)
        return stored

    def blocks_of(self, file_id: str) -> dict[str, Any] | None:
        """The stored blocks of ``file_id`` (as `blockify` returns them), or None if it
        was not blockified (or there is no such file)."""
        stored = self.storage.get(f"blocks/{check_file_id(file_id)}")
        return stored if isinstance(stored, dict) else None

    # --- routes -----------------------------------------------------------------------

    @post("blockify_file")
    def blockify_file(self, file_id: str, blockifier: str | None = None) -> dict[str, Any]:
        """Cut a file into blocks and store them, replacing any stored before.

        :param file_id: the id an import returned.
        :param blockifier: a blockifier plugin handle (default: the one configured for
            the file's mime type).
        :returns: ``file_id``, ``blockifier``, ``mime_type``, ``blocks`` (``id``, ``text``,
            ``mime_type``, ``tags``), ``tags`` (of the whole file), ``created_at``.
        """
        return self.blockify(file_id, blockifier)

    @get("get_blocks")
    def get_blocks(self, file_id: str) -> dict[str, Any]:
        """The stored blocks of a file (as blockify_file returned them).

        :param file_id: the id an import returned.
        """
        stored = self.blocks_of(file_id)
        if stored is None:
            # Say 404 for a file that does not exist, 409 for one not blockified yet.
            files = require_mixin(self.package, FileImporterMixin, "get_blocks")
            files.file_record(file_id)
            raise NotReadyError(
                f"file {file_id!r} has not been blockified",
                code="file_not_blockified",
                suggestion="call blockify_file first",
                details={"file_id": file_id},
            )
        return stored

    # --- internals --------------------------------------------------------------------

    def _plugin(self, handle: str, *, where: str) -> PluginHandle[Any, Any]:
        try:
            plugin = self.use_plugin(handle, config=self.config.plugin_config.get(handle))
        except DockyardError as exc:
            if exc.code != "component_not_found":
                raise  # e.g. its config is invalid: that error says it best
            plugin = None
        if plugin is None or plugin.plugin_type is not Blockifier:
            installed = installed_blockifiers()
            what = "not installed" if plugin is None else "not a blockifier"
            raise UnknownBlockifierError(
                f"{where} names {handle!r}, which is {what}; installed blockifiers: "
                f"{', '.join(installed) or 'none'}",
                suggestion="use one of the installed blockifiers, or pip install the "
                "distribution providing it",
                details={"blockifier": handle, "installed": installed},
            )
        return plugin
