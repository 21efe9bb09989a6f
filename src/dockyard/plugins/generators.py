"""The shipped generator: an extractive summary, sentences picked by TF-IDF.

The picking is `dockyard.plugins.text.extractive_summary`'s; this module reads the
options and turns sentences into blocks.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

import dockyard
from dockyard.core.errors import ArgumentError
from dockyard.plugins.model import Block
from dockyard.plugins.service import PluginRequest
from dockyard.plugins.text import extractive_summary
from dockyard.plugins.types import GenerateInput, GenerateOutput, Generator

__all__ = ["ExtractiveSummarizer"]

_HANDLE = "extractive-summarizer"
_OPTIONS = ("k",)


class ExtractiveSummarizer(Generator):
    """Summarises blocks by picking their ``k`` most informative sentences (handle
    ``extractive-summarizer``).

    The input blocks are read together, as one document: each block's text is split into
    sentences (a sentence never spans two blocks), every sentence is scored by the mean
    TF-IDF of its words over all the sentences of all the blocks, and the ``k`` best are
    kept in their original order (fewer if there are fewer sentences). Each chosen
    sentence is one output block, ``text/plain``, its text an exact slice of its input
    block's text. No input blocks give no output blocks.

    Options (the input's ``options``): ``{"k": n}`` with ``n`` a positive integer
    overrides the config's ``k`` for one call; an invalid ``k`` or any other key answers
    422 naming ``options.<key>``.

    Config:
        k: how many sentences to keep, >= 1 (default 3).
    """

    class Config(dockyard.Config):
        """The extractive-summarizer's config (see the class)."""

        k: int = Field(default=3, ge=1, description="How many sentences to keep.")

    config: Config

    def run(self, request: PluginRequest[GenerateInput]) -> GenerateOutput:
        """The ``k`` best sentences of the blocks, one block each, in original order."""
        k = self._k(request.data.options)
        texts = [block.text for block in request.data.blocks]
        sentences = extractive_summary(texts, k)
        return GenerateOutput(blocks=[Block(text=s, mime_type="text/plain") for s in sentences])

    def _k(self, options: dict[str, Any]) -> int:
        accepted = ", ".join(_OPTIONS)
        problems = [
            {"field": f"options.{key}", "problem": f"unknown option (accepted: {accepted})"}
            for key in options
            if key not in _OPTIONS
        ]
        value: object = options.get("k", self.config.k)
        # bool is an int subclass, but True is not a number of sentences.
        k = value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None
        if k is None:
            problems.append(
                {"field": "options.k", "problem": f"must be a positive integer, got {value!r}"}
            )
        if problems or k is None:
            listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
            raise ArgumentError(
                f"invalid options for {_HANDLE}: {listed}",
                suggestion='give options such as {"k": 3} (how many sentences to keep), or '
                "no options to use the configured k",
                details={"problems": problems},
            )
        return k
