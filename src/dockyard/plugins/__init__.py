"""Typed plugins: importers, blockifiers, taggers, embedders and generators over files of
tagged blocks.

Writing a plugin is: subclass a plugin type, implement ``run``, declare one entry point
in ``dockyard.plugins``. Writing a plugin type is: subclass
``PluginService[InModel, OutModel]`` with ``route="path"`` and register it in
``dockyard.plugin_types``. Names load on first use, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard._lazy import lazy_exports

if TYPE_CHECKING:
    from dockyard.plugins.model import Block, File, Tag
    from dockyard.plugins.service import PluginRequest, PluginService
    from dockyard.plugins.types import Blockifier, Embedder, FileImporter, Generator, Tagger

__all__ = [
    "Block",
    "Blockifier",
    "Embedder",
    "File",
    "FileImporter",
    "Generator",
    "PluginRequest",
    "PluginService",
    "Tag",
    "Tagger",
]

_EXPORTS: dict[str, str] = {
    "Block": "dockyard.plugins.model",
    "File": "dockyard.plugins.model",
    "Tag": "dockyard.plugins.model",
    "PluginRequest": "dockyard.plugins.service",
    "PluginService": "dockyard.plugins.service",
    "Blockifier": "dockyard.plugins.types",
    "Embedder": "dockyard.plugins.types",
    "FileImporter": "dockyard.plugins.types",
    "Generator": "dockyard.plugins.types",
    "Tagger": "dockyard.plugins.types",
}

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
