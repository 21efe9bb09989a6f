"""The shipped embedder: feature hashing, no model to download.

The vectors are `dockyard.plugins.hashing.hashing_embed`'s: unit length (all zeros for a
text without words), the same in every process and on every machine.
"""

from __future__ import annotations

from pydantic import Field, field_validator

import dockyard
from dockyard.plugins.hashing import hashing_embed
from dockyard.plugins.service import PluginRequest
from dockyard.plugins.types import Embedder, EmbedInput, EmbedOutput

__all__ = ["HashingEmbedder"]

# The largest ``dimensions`` the config accepts.
_MAX_DIMENSIONS = 65536


class HashingEmbedder(Embedder):
    """Embeds texts by hashing their word and character n-grams (handle ``hashing-embedder``).

    Each text gets a unit-length vector of ``dimensions`` floats; texts sharing words or
    word pieces have a high cosine similarity (their dot product). Deterministic across
    processes, machines and Python versions, so vectors stored by one worker compare with
    vectors computed by another, as long as the config is the same. No model, no
    vocabulary, no training.

    Config:
        dimensions: the vector length, 1 to 65536 (default 256); more dimensions mean
            fewer hash collisions.
        word_ngrams: ``(min, max)`` sizes of the word n-grams hashed (default ``(1, 2)``:
            words and word pairs); ``1 <= min <= max``.
        char_ngrams: ``(min, max)`` sizes of the character n-grams of each word hashed
            (default ``(3, 5)``); ``1 <= min <= max``.
    """

    class Config(dockyard.Config):
        """The hashing-embedder's config (see the class)."""

        dimensions: int = Field(
            default=256, ge=1, le=_MAX_DIMENSIONS, description="Vector length (1 to 65536)."
        )
        word_ngrams: tuple[int, int] = Field(
            default=(1, 2), description="(min, max) word n-gram sizes, 1 <= min <= max."
        )
        char_ngrams: tuple[int, int] = Field(
            default=(3, 5), description="(min, max) character n-gram sizes, 1 <= min <= max."
        )

        @field_validator("word_ngrams", "char_ngrams")
        @classmethod
        def _range(cls, bounds: tuple[int, int]) -> tuple[int, int]:
            low, high = bounds
            if not 1 <= low <= high:
                raise ValueError(
                    f"{list(bounds)} is not an n-gram range: give [min, max] with "
                    "1 <= min <= max, e.g. [1, 2]"
                )
            return bounds

    config: Config

    def run(self, request: PluginRequest[EmbedInput]) -> EmbedOutput:
        """One vector per text, in order."""
        config = self.config
        vectors = hashing_embed(
            request.data.texts,
            config.dimensions,
            word_ngrams=config.word_ngrams,
            char_ngrams=config.char_ngrams,
        )
        # Not validated here: the route validates the output once on its way out, and
        # checking every float twice would double the cost for large batches.
        return EmbedOutput.model_construct(vectors=vectors)
