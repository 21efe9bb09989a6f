"""Tests for dockyard.plugins.taggers: regex-tagger, called through its route on blocks of a
real document (as text-blockifier cut it)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from dockyard import ConfigError
from dockyard.core.discovery import Discovery
from dockyard.plugins import Tagger
from dockyard.plugins import taggers as taggers_module
from dockyard.plugins.blockifiers import TextBlockifier
from dockyard.plugins.model import Block, File, Tag
from dockyard.plugins.taggers import RegexTagger
from dockyard.testing import call

NOTICE = """\
# Release 2.4 of the harbour scheduler

The release shipped on 2024-03-18. Questions go to ops-team@harbour.example.org
or, for security issues, to security+reports@harbour.example.org before 2024-04-01.

## Known issues

Berth 7 reports twice after a restart; see ticket HARB-1123 (and HARB-1187).
"""

PATTERNS = {
    "contact/email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "date": r"\d{4}-\d{2}-\d{2}",
    "ticket/jira": r"\b[A-Z]+-\d+\b",
}


def notice_file() -> File:
    content = base64.b64encode(NOTICE.encode()).decode()
    response = call(TextBlockifier(), "POST", "blockify", data=content, mime_type="text/markdown")
    assert response.status == 200, response.error
    return File.model_validate(response.data["file"])


def tag(plugin: RegexTagger, file: File | dict[str, Any]) -> File:
    body = file.model_dump(mode="json") if isinstance(file, File) else file
    response = call(plugin, "POST", "tag", file=body)
    assert response.status == 200, response.error
    return File.model_validate(response.data["file"])


def test_every_match_is_tagged_with_its_exact_span() -> None:
    source = notice_file()
    tagged = tag(RegexTagger(config={"patterns": PATTERNS}), source)
    found: list[tuple[str, str | None, str]] = []
    for block in tagged.blocks:
        for t in block.tags:
            if t.kind in ("contact", "date", "ticket"):
                assert t.start_idx is not None
                assert t.end_idx is not None
                assert block.text[t.start_idx : t.end_idx] == t.value
                found.append((t.kind, t.name, block.text[t.start_idx : t.end_idx]))
    assert found == [
        ("date", None, "2024-03-18"),
        ("contact", "email", "ops-team@harbour.example.org"),
        ("contact", "email", "security+reports@harbour.example.org"),
        ("date", None, "2024-04-01"),
        ("ticket", "jira", "HARB-1123"),
        ("ticket", "jira", "HARB-1187"),
    ]
    # Every span is where the regex matches in the block's text.
    for block in tagged.blocks:
        spans = {(t.start_idx, t.end_idx) for t in block.tags if t.kind == "date"}
        assert spans == {m.span() for m in re.finditer(PATTERNS["date"], block.text)}


def test_existing_tags_are_kept_first_and_ids_unchanged() -> None:
    source = notice_file()
    tagged = tag(RegexTagger(config={"patterns": PATTERNS}), source)
    assert [b.id for b in tagged.blocks] == [b.id for b in source.blocks]
    assert tagged.id == source.id
    for before, after in zip(source.blocks, tagged.blocks, strict=True):
        assert after.tags[: len(before.tags)] == before.tags
    assert tagged.blocks[0].tags == [source.blocks[0].tags[0]]  # the heading: no match


def test_tagging_twice_adds_nothing_the_second_time() -> None:
    plugin = RegexTagger(config={"patterns": PATTERNS})
    once = tag(plugin, notice_file())
    twice = tag(plugin, once)
    assert twice == once


def test_blocks_without_text_and_file_tags_are_left_alone() -> None:
    file = File(
        tags=[Tag(kind="source", value="mail")],
        blocks=[Block(text=""), Block(text="on 2024-01-02", tags=[Tag(kind="lang", value="en")])],
    )
    tagged = tag(RegexTagger(config={"patterns": {"date": r"\d{4}-\d{2}-\d{2}"}}), file)
    assert tagged.tags == file.tags
    assert tagged.blocks[0].tags == []
    assert [(t.kind, t.value, t.start_idx, t.end_idx) for t in tagged.blocks[1].tags] == [
        ("lang", "en", None, None),
        ("date", "2024-01-02", 3, 13),
    ]


def test_empty_matches_tag_nothing_and_inline_flags_work() -> None:
    plugin = RegexTagger(config={"patterns": {"maybe": r"x*", "word/release": r"(?i)RELEASE"}})
    tagged = tag(plugin, File(blocks=[Block(text="A release, then another Release.")]))
    assert [(t.kind, t.start_idx, t.end_idx) for t in tagged.blocks[0].tags] == [
        ("word", 2, 9),
        ("word", 24, 31),
    ]


def test_the_patterns_are_compiled_once_when_the_plugin_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin = RegexTagger(config={"patterns": PATTERNS})

    def no_compiling(patterns: object) -> None:
        raise AssertionError("compiled per request")

    monkeypatch.setattr(taggers_module, "compile_patterns", no_compiling)
    tagged = tag(plugin, notice_file())
    assert any(t.kind == "date" for b in tagged.blocks for t in b.tags)


@pytest.mark.parametrize(
    ("patterns", "says"),
    [
        ({"date": r"\d{4}-(\d{2}"}, "'date'"),
        ({"ok": "a", "contact/email": "[unclosed"}, "'contact/email'"),
        ({"/email": "a"}, "'/email'"),
        ({"contact/": "a"}, "'contact/'"),
    ],
)
def test_a_bad_pattern_or_key_is_a_config_error_naming_the_key(
    patterns: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        RegexTagger(config={"patterns": patterns})


def test_patterns_are_required_and_must_be_strings() -> None:
    with pytest.raises(ConfigError, match="patterns"):
        RegexTagger()
    with pytest.raises(ConfigError, match="patterns"):
        RegexTagger(config={"patterns": {"date": 3}})


def test_invalid_input_is_a_422_naming_the_field() -> None:
    plugin = RegexTagger(config={"patterns": PATTERNS})
    bad = File(blocks=[Block(text="short")]).model_dump(mode="json")
    bad["blocks"][0]["tags"] = [{"kind": "x", "start_idx": 2, "end_idx": 40}]
    response = call(plugin, "POST", "tag", file=bad)
    assert response.status == 422
    assert response.error is not None
    assert [p["field"] for p in response.error.details["problems"]] == ["file.blocks.0"]
    not_a_file = call(plugin, "POST", "tag", file=["text"])
    assert not_a_file.status == 422
    assert not_a_file.error is not None
    assert [p["field"] for p in not_a_file.error.details["problems"]] == ["file"]


def test_registered_through_the_installed_entry_points() -> None:
    loaded = Discovery().load("dockyard.plugins", "regex-tagger")
    assert loaded is RegexTagger
    assert loaded.plugin_type is Tagger
