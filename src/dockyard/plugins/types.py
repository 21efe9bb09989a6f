"""The plugin types that ship with Dockyard, and their input and output models.

Each is registered in the ``dockyard.plugin_types`` entry-point group exactly as a third
party's would be. Route: input -> output:

- `FileImporter` ``POST /import``: a URL, a text, or base64 data (+ mime type) -> raw data
  (base64) + mime type.
- `Blockifier` ``POST /blockify``: raw data (base64) + mime type -> a `File` with blocks
  and tags.
- `Tagger` ``POST /tag``: a `File` -> the `File` with tags added.
- `Embedder` ``POST /embed``: texts -> one vector per text, all of one dimension.
- `Generator` ``POST /generate``: blocks + options -> blocks.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dockyard.plugins.model import Block, File
from dockyard.plugins.service import PluginService

__all__ = [
    "Blockifier",
    "BlockifyInput",
    "BlockifyOutput",
    "EmbedInput",
    "EmbedOutput",
    "Embedder",
    "FileImporter",
    "GenerateInput",
    "GenerateOutput",
    "Generator",
    "ImportInput",
    "ImportOutput",
    "TagInput",
    "TagOutput",
    "Tagger",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64 (standard alphabet, padded)") from None
    return value


class ImportInput(_Model):
    """What to import: exactly one of ``url``, ``text`` or ``data``."""

    url: str | None = Field(default=None, description="A file:// or http(s):// URL to read.")
    text: str | None = Field(default=None, description="The content itself, as text.")
    data: str | None = Field(default=None, description="The content itself, base64-encoded.")
    mime_type: str | None = Field(
        default=None, description="The content's type (guessed from the URL if not given)."
    )

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        return None if value is None else _check_base64(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> ImportInput:
        given = [name for name in ("url", "text", "data") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of url, text or data"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class _RawContent(_Model):
    """Raw content travelling as base64 with its mime type."""

    data: str = Field(description="The content, base64-encoded.")
    mime_type: str = Field(description="The content's type, e.g. text/markdown or text/csv.")

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str) -> str:
        return _check_base64(value)

    def content(self) -> bytes:
        """The content as bytes."""
        return base64.b64decode(self.data)


class ImportOutput(_RawContent):
    """Imported raw content."""


class BlockifyInput(_RawContent):
    """Raw content to cut into blocks."""


class BlockifyOutput(_Model):
    """The content as a file of blocks."""

    file: File


class TagInput(_Model):
    """A file to tag."""

    file: File


class TagOutput(_Model):
    """The file with tags added."""

    file: File


class EmbedInput(_Model):
    """Texts to embed."""

    texts: list[str] = Field(description="The texts, one vector each.")


class EmbedOutput(_Model):
    """One vector per text, all of one dimension."""

    vectors: list[list[float]] = Field(description="The vectors, in the order of the texts.")

    @field_validator("vectors")
    @classmethod
    def _one_dimension(cls, vectors: list[list[float]]) -> list[list[float]]:
        sizes = sorted({len(v) for v in vectors})
        if len(sizes) > 1:
            raise ValueError(f"vectors must all have one dimension, got dimensions {sizes}")
        return vectors


class GenerateInput(_Model):
    """Blocks to generate from, and options for the generator."""

    blocks: list[Block] = Field(description="The input blocks.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Generator options (each generator documents its own)."
    )


class GenerateOutput(_Model):
    """Generated blocks."""

    blocks: list[Block]


class FileImporter(PluginService[ImportInput, ImportOutput], route="import"):
    """Reads content from a URL, or takes it as text or base64 data."""


class Blockifier(PluginService[BlockifyInput, BlockifyOutput], route="blockify"):
    """Cuts raw content into a file of blocks with tags."""


class Tagger(PluginService[TagInput, TagOutput], route="tag"):
    """Adds tags to a file's blocks."""


class Embedder(PluginService[EmbedInput, EmbedOutput], route="embed"):
    """Turns texts into vectors of one dimension."""


class Generator(PluginService[GenerateInput, GenerateOutput], route="generate"):
    """Generates blocks from blocks."""
