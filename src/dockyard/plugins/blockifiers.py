"""The shipped blockifiers: text and Markdown into paragraphs, CSV into rows.

Both decode the raw content with the ``charset`` parameter of its mime type
(``text/markdown; charset=latin-1``), UTF-8 when there is none; a byte-order mark is
dropped. Bytes that are not valid in that charset are a `ContentError` (422) naming the
byte offset; a mime type or charset the blockifier does not read is an
`UnsupportedContentTypeError` (415) listing the ones it does. The cutting itself is
`dockyard.plugins.text`'s.
"""

from __future__ import annotations

import codecs

from pydantic import Field, field_validator

import dockyard
from dockyard.plugins.errors import ContentError, UnsupportedContentTypeError
from dockyard.plugins.model import File
from dockyard.plugins.service import PluginRequest
from dockyard.plugins.text import blockify_csv, blockify_text
from dockyard.plugins.types import Blockifier, BlockifyInput, BlockifyOutput

__all__ = ["CsvBlockifier", "TextBlockifier"]

_TEXT_HANDLE = "text-blockifier"
_CSV_HANDLE = "csv-blockifier"
_MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")
_CSV_TYPES = ("text/csv", "application/csv")
_TSV_TYPE = "text/tab-separated-values"


def _parse_mime(mime_type: str) -> tuple[str, dict[str, str]]:
    """``("type/subtype", {parameter: value})`` of a mime type, names lower-cased."""
    main, *rest = mime_type.split(";")
    parameters: dict[str, str] = {}
    for parameter in rest:
        name, equals, value = parameter.partition("=")
        if equals:
            parameters[name.strip().lower()] = value.strip().strip('"')
    return main.strip().lower(), parameters


def _decode(content: bytes, mime_type: str, charset: str | None, plugin: str) -> str:
    """The content as text in ``charset`` (UTF-8 if None), without a byte-order mark.

    :raises UnsupportedContentTypeError: the charset is unknown (or not a text encoding).
    :raises ContentError: the content is not valid in the charset, naming the byte offset.
    """
    encoding = charset or "utf-8"
    try:
        text = content.decode(codecs.lookup(encoding).name)
    except LookupError:
        raise UnsupportedContentTypeError(
            f"{plugin} cannot decode {mime_type!r}: {encoding!r} is not a text encoding "
            "Python knows",
            suggestion="convert the content to UTF-8 and drop the charset parameter (or "
            "name a known one, e.g. charset=utf-8 or charset=latin-1)",
            details={"mime_type": mime_type, "charset": encoding},
        ) from None
    except UnicodeDecodeError as error:
        raise ContentError(
            f"{plugin} cannot read the content as {encoding}: byte {error.start} "
            f"(0x{content[error.start]:02x}) is invalid ({error.reason})",
            suggestion="send the text encoded as UTF-8, or name its real encoding in the "
            "mime type, e.g. 'text/plain; charset=latin-1'",
            details={"charset": encoding, "offset": error.start},
        ) from None
    return text.removeprefix("\ufeff")


class TextBlockifier(Blockifier):
    """Cuts plain text and Markdown into paragraph blocks (handle ``text-blockifier``).

    Reads ``text/plain``, ``text/markdown`` and ``text/x-markdown``, and any other
    ``text/*`` type as plain text (``text/csv`` included: one block per paragraph; use
    ``csv-blockifier`` for one block per row). Other types answer 415.

    Blocks are those of `dockyard.plugins.text.blockify_text`: one per paragraph, each an
    exact slice of the decoded text. In Markdown, a heading is a block of its own tagged
    ``heading`` (``name="h2"``, ``value=<title>``), the blocks under it carry ``section``
    tags, and a fenced code block is one block. The output file's ``mime_type`` is the
    input's without parameters.

    No config.
    """

    def run(self, request: PluginRequest[BlockifyInput]) -> BlockifyOutput:
        """Decode the content and cut it into paragraph blocks."""
        given = request.data.mime_type
        mime, parameters = _parse_mime(given)
        if not mime.startswith("text/") or mime == "text/":
            raise UnsupportedContentTypeError(
                f"{_TEXT_HANDLE} reads text/plain, text/markdown and text/x-markdown (and "
                f"any other text/* type as plain text), not {given!r}",
                suggestion="convert the content to text first, or give its real type if it "
                "is text (e.g. text/plain)",
                details={"mime_type": given, "accepted": ["text/plain", *_MARKDOWN_TYPES]},
            )
        text = _decode(request.data.content(), given, parameters.get("charset"), _TEXT_HANDLE)
        return BlockifyOutput(file=File(mime_type=mime, blocks=blockify_text(text, mime)))


class CsvBlockifier(Blockifier):
    """Cuts CSV into one block per data row, each column a tag (handle ``csv-blockifier``).

    Reads ``text/csv`` and ``application/csv`` with the configured delimiter, and
    ``text/tab-separated-values`` always with a tab. The first row is the header; each
    cell becomes ``Tag(kind="column", name=<header>, value=<cell>)``. Quoted fields may
    hold the delimiter and line breaks; malformed CSV (an unclosed quote, a row with the
    wrong number of fields) and an unknown ``text_column`` answer 422 (`ContentError`)
    saying where. Other types answer 415. The output file's ``mime_type`` is the input's
    without parameters; its blocks are ``text/plain``.

    Config:
        text_column: the header of the column holding each block's text; None (the
            default) joins all the row's cells with ``" | "``.
        delimiter: the field separator of ``text/csv``, exactly one character, not a
            quote or a line break (default ``","``; ``";"`` and ``"\\t"`` are common).
    """

    class Config(dockyard.Config):
        """The csv-blockifier's config (see the class)."""

        text_column: str | None = Field(
            default=None,
            description="Header of the column holding each block's text; none joins all cells.",
        )
        delimiter: str = Field(
            default=",", description="The field separator of text/csv: one character."
        )

        @field_validator("delimiter")
        @classmethod
        def _one_character(cls, value: str) -> str:
            if len(value) != 1 or value in ('"', "\r", "\n"):
                raise ValueError(
                    f"the delimiter must be exactly one character other than a quote or a "
                    f"line break, got {value!r}; e.g. ',' or ';' or '\\t'"
                )
            return value

    config: Config

    def run(self, request: PluginRequest[BlockifyInput]) -> BlockifyOutput:
        """Decode the content and cut it into one block per CSV row."""
        given = request.data.mime_type
        mime, parameters = _parse_mime(given)
        if mime not in (*_CSV_TYPES, _TSV_TYPE):
            raise UnsupportedContentTypeError(
                f"{_CSV_HANDLE} reads {', '.join(_CSV_TYPES)} and {_TSV_TYPE}, not {given!r}",
                suggestion="give the content's real type; for text that is not a table use "
                "text-blockifier",
                details={"mime_type": given, "accepted": [*_CSV_TYPES, _TSV_TYPE]},
            )
        text = _decode(request.data.content(), given, parameters.get("charset"), _CSV_HANDLE)
        delimiter = "\t" if mime == _TSV_TYPE else self.config.delimiter
        try:
            blocks = blockify_csv(text, self.config.text_column, delimiter)
        except ValueError as error:
            raise ContentError(
                f"{_CSV_HANDLE} cannot read the content as CSV: {error}",
                suggestion="fix the CSV, or the csv-blockifier's text_column and delimiter "
                "config to match it",
                details={"text_column": self.config.text_column, "delimiter": delimiter},
            ) from error
        return BlockifyOutput(file=File(mime_type=mime, blocks=blocks))
