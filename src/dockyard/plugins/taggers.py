"""The shipped tagger: regular expressions to span tags.

The rules are compiled once per plugin instance, when it is made (a rule that does not
compile is a `ConfigError` naming its key); tagging is `dockyard.plugins.text`'s
`apply_patterns`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, field_validator

import dockyard
from dockyard.core.request import InvocationContext
from dockyard.plugins.service import PluginRequest
from dockyard.plugins.text import CompiledPattern, apply_patterns, compile_patterns
from dockyard.plugins.types import Tagger, TagInput, TagOutput

__all__ = ["RegexTagger"]


class RegexTagger(Tagger):
    """Tags every match of configured regular expressions (handle ``regex-tagger``).

    Each rule tags every non-empty match in every block that has text with
    ``Tag(kind, name, value=<matched text>, start_idx, end_idx)``, the span indexing the
    block's text exactly (``block.text[start_idx:end_idx] == value``). Matches of one rule
    do not overlap; matches of different rules may. The block's existing tags are kept,
    first; a tag equal to one the block already has is not added again, so tagging a
    file twice changes nothing. File tags are untouched.

    Config:
        patterns: ``{"kind/name": regex}`` or ``{"kind": regex}`` (the tag's name is then
            None), e.g. ``{"contact/email": r"[\\w.+-]+@[\\w-]+\\.[\\w.]+"}``. Python `re`
            syntax; flags go inline (``(?i)``). Required; a malformed key or a regex that
            does not compile is a `ConfigError` naming the key.
    """

    class Config(dockyard.Config):
        """The regex-tagger's config (see the class)."""

        patterns: dict[str, str] = Field(
            description="Rules: 'kind/name' or 'kind' -> Python regular expression.",
        )

        @field_validator("patterns")
        @classmethod
        def _compiles(cls, patterns: dict[str, str]) -> dict[str, str]:
            compile_patterns(patterns)  # raises ValueError naming the key
            return patterns

    config: Config

    def __init__(
        self,
        config: Mapping[str, Any] | BaseModel | None = None,
        context: InvocationContext | None = None,
    ) -> None:
        super().__init__(config=config, context=context)
        self._compiled: list[CompiledPattern] = compile_patterns(self.config.patterns)

    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        """Add a span tag for every match of every rule to every block with text."""
        file = request.data.file
        for block in file.blocks:
            if not block.text:
                continue
            # New tags carry a string value and a span: only such tags can repeat one.
            have = {
                (t.kind, t.name, t.value, t.start_idx, t.end_idx)
                for t in block.tags
                if isinstance(t.value, str) and t.has_span
            }
            block.tags.extend(
                tag
                for tag in apply_patterns(block.text, self._compiled)
                if (tag.kind, tag.name, tag.value, tag.start_idx, tag.end_idx) not in have
            )
        return TagOutput(file=file)
