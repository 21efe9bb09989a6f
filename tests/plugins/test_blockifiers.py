"""Tests for dockyard.plugins.blockifiers: text-blockifier and csv-blockifier, called through
their route (input and output validated) on a real Markdown document and a real CSV."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from dockyard import ConfigError
from dockyard.core.discovery import Discovery
from dockyard.plugins import Blockifier
from dockyard.plugins.blockifiers import CsvBlockifier, TextBlockifier
from dockyard.plugins.errors import ContentError, UnsupportedContentTypeError
from dockyard.plugins.model import File
from dockyard.testing import call

GUIDE = """\
# Dockyard Guide

Dockyard builds HTTP services out of pip-installable packages.
Each package is a plain Python class.

## Installing

Install it with pip, then check the version:

```bash
pip install dockyard

# the console script comes with it
dockyard --version
```

## Configuring

Every package has a config, validated once when an instance is made.
A broken config never surfaces in the middle of a request.
"""

BOOKS = """\
title,author,year,notes
"Moby-Dick; or, The Whale",Herman Melville,1851,"Opens with ""Call me Ishmael.""
Long chapters on whaling."
Middlemarch,George Eliot,1871,"A study of provincial life, in eight books"

"The Left Hand of Darkness",Ursula K. Le Guin,1969,
"""


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def blockify(plugin: Blockifier, content: bytes, mime_type: str) -> File:
    response = call(plugin, "POST", "blockify", data=b64(content), mime_type=mime_type)
    assert response.status == 200, response.error
    return File.model_validate(response.data["file"])


def tags_of(file: File) -> list[list[tuple[str, str | None, Any]]]:
    return [[(t.kind, t.name, t.value) for t in block.tags] for block in file.blocks]


# --- text-blockifier -----------------------------------------------------------------------


def test_markdown_becomes_paragraph_blocks_with_heading_and_section_tags() -> None:
    file = blockify(TextBlockifier(), GUIDE.encode(), "text/markdown")
    assert file.mime_type == "text/markdown"
    texts = [block.text for block in file.blocks]
    fence_start = GUIDE.index("```bash")
    fence_end = GUIDE.index("```\n", fence_start + 3) + 3
    assert texts == [
        "# Dockyard Guide",
        "Dockyard builds HTTP services out of pip-installable packages.\n"
        "Each package is a plain Python class.",
        "## Installing",
        "Install it with pip, then check the version:",
        GUIDE[fence_start:fence_end],  # one block: its blank line and '#' line included
        "## Configuring",
        "Every package has a config, validated once when an instance is made.\n"
        "A broken config never surfaces in the middle of a request.",
    ]
    guide = ("section", "Dockyard Guide", None)
    assert tags_of(file) == [
        [("heading", "h1", "Dockyard Guide")],
        [guide],
        [("heading", "h2", "Installing")],
        [guide, ("section", "Installing", None)],
        [guide, ("section", "Installing", None)],
        [("heading", "h2", "Configuring")],
        [guide, ("section", "Configuring", None)],
    ]
    heading = file.blocks[2].tags[0]
    assert (heading.start_idx, heading.end_idx) == (0, len("## Installing"))
    assert {block.mime_type for block in file.blocks} == {"text/markdown"}


def test_x_markdown_and_charset_parameters_are_accepted() -> None:
    file = blockify(TextBlockifier(), GUIDE.encode(), "Text/X-Markdown; charset=UTF-8")
    assert file.mime_type == "text/x-markdown"
    assert file.blocks[0].tags[0].kind == "heading"


def test_plain_text_is_split_into_paragraphs_without_markdown_structure() -> None:
    file = blockify(TextBlockifier(), GUIDE.encode(), "text/plain")
    assert file.mime_type == "text/plain"
    assert file.blocks[0].text == "# Dockyard Guide"
    assert all(block.tags == [] for block in file.blocks)
    # The blank line inside the code fence splits it: plain text knows no fences.
    assert "pip install dockyard" in [block.text for block in file.blocks][4]


def test_other_text_types_are_read_as_plain_text() -> None:
    file = blockify(TextBlockifier(), BOOKS.encode(), "text/csv")
    assert file.mime_type == "text/csv"
    assert len(file.blocks) == 2  # paragraphs, not rows: that is csv-blockifier's job


def test_the_charset_parameter_decodes_and_a_bom_is_dropped() -> None:
    text = "Café au lait.\n\nNaïve résumé."
    latin = blockify(TextBlockifier(), text.encode("latin-1"), "text/plain; charset=latin-1")
    assert [b.text for b in latin.blocks] == ["Café au lait.", "Naïve résumé."]
    bom = blockify(TextBlockifier(), b"\xef\xbb\xbf" + GUIDE.encode(), "text/markdown")
    assert bom.blocks[0].text == "# Dockyard Guide"
    assert bom.blocks[0].tags[0].value == "Dockyard Guide"
    utf16 = blockify(TextBlockifier(), text.encode("utf-16"), 'text/plain; charset="utf-16"')
    assert [b.text for b in utf16.blocks] == ["Café au lait.", "Naïve résumé."]


def test_invalid_utf8_is_a_422_naming_the_byte_offset() -> None:
    content = "Café\n\n".encode() + b"caf\xe9 au lait"
    response = call(TextBlockifier(), "POST", "blockify", data=b64(content), mime_type="text/plain")
    assert response.status == 422
    error = response.error
    assert isinstance(error, ContentError)
    assert error.code == "invalid_content"
    offset = content.index(b"\xe9")
    assert f"byte {offset} (0xe9)" in error.message
    assert "text-blockifier" in error.message
    assert error.details["offset"] == offset
    assert "charset" in (error.suggestion or "")


@pytest.mark.parametrize("mime_type", ["application/pdf", "image/png", "markdown", "text/", ""])
def test_a_non_text_type_is_a_415_naming_the_accepted_types(mime_type: str) -> None:
    response = call(TextBlockifier(), "POST", "blockify", data=b64(b"%PDF"), mime_type=mime_type)
    assert response.status == 415
    error = response.error
    assert isinstance(error, UnsupportedContentTypeError)
    assert error.code == "unsupported_media_type"
    assert "text/markdown" in error.message
    assert repr(mime_type) in error.message


@pytest.mark.parametrize("charset", ["klingon", "rot13"])
def test_an_unknown_charset_is_a_415(charset: str) -> None:
    response = call(
        TextBlockifier(),
        "POST",
        "blockify",
        data=b64(b"hi"),
        mime_type=f"text/plain; charset={charset}",
    )
    assert response.status == 415
    assert response.error is not None
    assert charset in response.error.message


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"data": "not base64!", "mime_type": "text/plain"}, "data"),
        ({"data": b64(b"x")}, "mime_type"),
        ({"mime_type": "text/plain"}, "data"),
        ({"data": b64(b"x"), "mime_type": "text/plain", "extra": 1}, "extra"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(arguments: dict[str, Any], field: str) -> None:
    response = call(TextBlockifier(), "POST", "blockify", **arguments)
    assert response.status == 422
    assert response.error is not None
    assert field in [p["field"] for p in response.error.details["problems"]]


def test_empty_text_gives_a_file_without_blocks() -> None:
    file = blockify(TextBlockifier(), b"\n  \n", "text/markdown")
    assert file.blocks == []


# --- csv-blockifier ------------------------------------------------------------------------


def test_each_csv_row_is_a_block_tagged_with_its_columns() -> None:
    file = blockify(CsvBlockifier(), BOOKS.encode(), "text/csv")
    assert file.mime_type == "text/csv"
    assert len(file.blocks) == 3  # the blank line is skipped
    moby = file.blocks[0]
    notes = 'Opens with "Call me Ishmael."\nLong chapters on whaling.'
    assert moby.text == f"Moby-Dick; or, The Whale | Herman Melville | 1851 | {notes}"
    assert moby.mime_type == "text/plain"
    assert [(t.kind, t.name, t.value) for t in moby.tags] == [
        ("column", "title", "Moby-Dick; or, The Whale"),
        ("column", "author", "Herman Melville"),
        ("column", "year", "1851"),
        ("column", "notes", notes),
    ]
    assert file.blocks[2].tags[3].value == ""


def test_text_column_picks_each_blocks_text() -> None:
    plugin = CsvBlockifier(config={"text_column": "notes"})
    file = blockify(plugin, BOOKS.encode(), "application/csv; charset=utf-8")
    assert file.mime_type == "application/csv"
    assert [b.text for b in file.blocks] == [
        'Opens with "Call me Ishmael."\nLong chapters on whaling.',
        "A study of provincial life, in eight books",
        "",
    ]


def test_the_configured_delimiter_is_used_and_tsv_always_reads_tabs() -> None:
    semicolons = 'city;country\n"Lyon; Rhône";France\nPorto;Portugal\n'
    plugin = CsvBlockifier(config={"delimiter": ";", "text_column": "city"})
    assert [b.text for b in blockify(plugin, semicolons.encode(), "text/csv").blocks] == [
        "Lyon; Rhône",
        "Porto",
    ]
    tabs = "city\tcountry\nLyon, Rhône\tFrance\n"
    tsv = blockify(plugin, tabs.encode(), "text/tab-separated-values")
    assert [b.text for b in tsv.blocks] == ["Lyon, Rhône"]


def test_a_bom_before_the_header_is_dropped() -> None:
    plugin = CsvBlockifier(config={"text_column": "title"})
    file = blockify(plugin, b"\xef\xbb\xbf" + BOOKS.encode(), "text/csv")
    assert file.blocks[1].text == "Middlemarch"


def test_an_unknown_text_column_is_a_422_naming_it_and_the_columns() -> None:
    plugin = CsvBlockifier(config={"text_column": "summary"})
    response = call(plugin, "POST", "blockify", data=b64(BOOKS.encode()), mime_type="text/csv")
    assert response.status == 422
    error = response.error
    assert isinstance(error, ContentError)
    assert "'summary'" in error.message
    assert "'notes'" in error.message
    assert "csv-blockifier" in error.message


@pytest.mark.parametrize(
    ("csv_text", "says"),
    [
        ('title,author\n"Moby-Dick,Herman Melville\n', "malformed CSV"),
        ("title,author\nMiddlemarch,George Eliot,1871\n", "row 2"),
        ("", "empty"),
    ],
)
def test_malformed_csv_is_a_422_saying_where(csv_text: str, says: str) -> None:
    response = call(
        CsvBlockifier(), "POST", "blockify", data=b64(csv_text.encode()), mime_type="text/csv"
    )
    assert response.status == 422
    assert isinstance(response.error, ContentError)
    assert says in response.error.message


def test_invalid_utf8_csv_is_a_422() -> None:
    response = call(
        CsvBlockifier(), "POST", "blockify", data=b64(b"a,b\n\xff,1\n"), mime_type="text/csv"
    )
    assert response.status == 422
    assert isinstance(response.error, ContentError)
    assert "byte 4" in response.error.message


@pytest.mark.parametrize("mime_type", ["text/plain", "text/markdown", "application/json"])
def test_csv_blockifier_refuses_other_types_with_a_415(mime_type: str) -> None:
    response = call(CsvBlockifier(), "POST", "blockify", data=b64(b"a\n1\n"), mime_type=mime_type)
    assert response.status == 415
    assert response.error is not None
    assert "text/csv" in response.error.message
    assert "text-blockifier" in (response.error.suggestion or "")


@pytest.mark.parametrize("delimiter", [";;", '"', "\n", "\r"])
def test_a_bad_delimiter_is_a_config_error(delimiter: str) -> None:
    with pytest.raises(ConfigError, match="delimiter"):
        CsvBlockifier(config={"delimiter": delimiter})


def test_unknown_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="text_colum"):
        CsvBlockifier(config={"text_colum": "title"})
    with pytest.raises(ConfigError):
        TextBlockifier(config={"anything": 1})


# --- registration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"), [("text-blockifier", TextBlockifier), ("csv-blockifier", CsvBlockifier)]
)
def test_registered_through_the_installed_entry_points(name: str, cls: type) -> None:
    loaded = Discovery().load("dockyard.plugins", name)
    assert loaded is cls
    assert loaded.plugin_type is Blockifier
