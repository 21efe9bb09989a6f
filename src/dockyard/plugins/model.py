"""The data model typed plugins read and write: a `File` made of `Block` s, both carrying `Tag` s.

A file is split into blocks (paragraphs, table rows, ...) by an importer or blockifier;
taggers add tags to blocks (optionally pointing at a character span of the block's text)
or to the whole file. Every model is a plain pydantic model that round-trips through JSON
(``model_dump(mode="json")`` / ``model_validate``) and rejects unknown keys, so a typo in
a request body is an error instead of silently dropped data.

Spans are checked when a model is built: a tag whose span does not fit its block's text
is a validation error naming the tag, the block and the text length.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Block", "File", "Tag", "TagValue"]

#: What a tag may carry: a JSON object, or a JSON scalar, or nothing.
TagValue = dict[str, Any] | str | int | float | bool | None


def _new_id() -> str:
    return uuid.uuid4().hex


class Tag(BaseModel):
    """A piece of information about a block or a file, optionally about a span of its text.

    Examples: ``Tag(kind="heading", name="h2", value="Usage", start_idx=0, end_idx=9)``,
    ``Tag(kind="column", name="author", value="Ada")``, ``Tag(kind="section", name="Intro")``.

    :param kind: what sort of tag this is (``"heading"``, ``"email"``, ``"column"``, ...).
    :param name: a finer name within the kind (``"h2"``, a column header), or None.
    :param value: the tag's payload: a JSON object or scalar, or None.
    :param start_idx: first character of the span in the block's text (inclusive), or None
        when the tag is about the whole block or file.
    :param end_idx: end of the span (exclusive, as in Python slicing), or None. Set both
        ``start_idx`` and ``end_idx`` or neither; ``0 <= start_idx <= end_idx``.
    """

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="What sort of tag this is, e.g. 'heading', 'email', 'column'.")
    name: str | None = Field(
        default=None, description="A finer name within the kind, e.g. 'h2' or a column header."
    )
    value: TagValue = Field(default=None, description="The tag's payload: JSON object or scalar.")
    start_idx: int | None = Field(
        default=None, description="Span start in the block's text (inclusive), or None."
    )
    end_idx: int | None = Field(
        default=None, description="Span end in the block's text (exclusive), or None."
    )

    @model_validator(mode="after")
    def _check_span(self) -> Tag:
        if (self.start_idx is None) != (self.end_idx is None):
            raise ValueError(
                f"tag {self._label()} has start_idx={self.start_idx!r} and "
                f"end_idx={self.end_idx!r}: give both span ends, or neither for a tag "
                "about the whole block"
            )
        if self.start_idx is not None and self.end_idx is not None:
            if self.start_idx < 0:
                raise ValueError(
                    f"tag {self._label()} has start_idx={self.start_idx}: span indices are "
                    "character offsets and must be >= 0"
                )
            if self.start_idx > self.end_idx:
                raise ValueError(
                    f"tag {self._label()} has start_idx={self.start_idx} > "
                    f"end_idx={self.end_idx}: the span must not end before it starts"
                )
        return self

    @property
    def has_span(self) -> bool:
        """Whether the tag points at a span of text (both ``start_idx`` and ``end_idx`` set)."""
        return self.start_idx is not None

    def _label(self) -> str:
        """The tag's ``kind`` or ``kind/name``, quoted, as error messages show it."""
        return repr(self.kind if self.name is None else f"{self.kind}/{self.name}")


class Block(BaseModel):
    """A piece of a file's content (a paragraph, a heading, a table row...) and its tags.

    Span tags are checked against ``text``: every ``end_idx`` must be ``<= len(text)``.

    :param id: a unique identifier; a new random UUID4 (hex) unless given.
    :param text: the block's text; span tags index into it (Python string indices, i.e.
        code points).
    :param mime_type: how to read ``text``, e.g. ``"text/plain"`` or ``"text/markdown"``.
    :param tags: tags about the block, or about spans of its text.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=_new_id, description="Unique id; a new UUID4 hex by default.")
    text: str = Field(default="", description="The block's text; span tags index into it.")
    mime_type: str = Field(default="text/plain", description="How to read the text.")
    tags: list[Tag] = Field(
        default_factory=list, description="Tags about the block or spans of its text."
    )

    @model_validator(mode="after")
    def _check_spans(self) -> Block:
        length = len(self.text)
        for tag in self.tags:
            if tag.end_idx is not None and tag.end_idx > length:
                raise ValueError(
                    f"tag {tag._label()} on block {self.id!r} has span "
                    f"[{tag.start_idx}, {tag.end_idx}) but the block's text is only "
                    f"{length} characters long: spans index into the block's own text"
                )
        return self


class File(BaseModel):
    """A whole document: its blocks in reading order and tags about the file as a whole.

    File tags carry no span (a span only means something relative to one block's text):
    put span tags on the block they point into.

    :param id: a unique identifier; a new random UUID4 (hex) unless given.
    :param mime_type: the type of the original document, e.g. ``"text/markdown"``.
    :param blocks: the content, in reading order.
    :param tags: tags about the whole file (no spans).
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=_new_id, description="Unique id; a new UUID4 hex by default.")
    mime_type: str = Field(default="text/plain", description="Type of the original document.")
    blocks: list[Block] = Field(default_factory=list, description="The content, in order.")
    tags: list[Tag] = Field(default_factory=list, description="Tags about the whole file.")

    @model_validator(mode="after")
    def _check_file_tags(self) -> File:
        for tag in self.tags:
            if tag.has_span:
                raise ValueError(
                    f"file tag {tag._label()} on file {self.id!r} has a span "
                    f"[{tag.start_idx}, {tag.end_idx}): spans belong on block tags; move the "
                    "tag to the block whose text it points into, or drop start_idx/end_idx"
                )
        return self
