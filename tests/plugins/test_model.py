"""Tests for dockyard.plugins.model: span rules of tags, blocks and files, and JSON round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from dockyard.plugins import model
from dockyard.plugins.model import Block, File, Tag


def test_all_is_sorted_and_every_class_and_field_is_documented() -> None:
    assert model.__all__ == sorted(model.__all__)
    assert model.__doc__
    for cls in (Tag, Block, File):
        assert cls.__doc__, cls
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name} has no description"
            assert f":param {name}:" in cls.__doc__, f"{cls.__name__} does not document {name}"


# --- Tag -------------------------------------------------------------------------------------


def test_tag_defaults_and_values_of_every_allowed_type() -> None:
    assert Tag(kind="k").model_dump() == {
        "kind": "k",
        "name": None,
        "value": None,
        "start_idx": None,
        "end_idx": None,
    }
    for value in ({"a": [1, 2]}, "s", 3, 2.5, True, False):
        tag = Tag(kind="k", value=value)
        assert tag.value == value
        assert type(tag.value) is type(value)  # True stays a bool, 3 an int


def test_tag_span_with_both_ends_is_accepted_including_empty_span() -> None:
    assert Tag(kind="k", start_idx=0, end_idx=0).has_span
    assert Tag(kind="k", start_idx=2, end_idx=7).end_idx == 7
    assert not Tag(kind="k").has_span


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (3, None, "give both span ends, or neither"),
        (None, 3, "give both span ends, or neither"),
        (-1, 3, "must be >= 0"),
        (5, 4, "must not end before it starts"),
    ],
)
def test_tag_bad_span_is_a_clear_error(start: int | None, end: int | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        Tag(kind="email", name="work", start_idx=start, end_idx=end)
    assert "'email/work'" in str(caught.value)


def test_tag_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Tag.model_validate({"kind": "k", "start": 1})


# --- Block -----------------------------------------------------------------------------------


def test_block_defaults_give_a_fresh_hex_id_each_time() -> None:
    one, two = Block(), Block()
    assert one.id != two.id
    assert len(one.id) == 32
    int(one.id, 16)
    assert (one.text, one.mime_type, one.tags) == ("", "text/plain", [])
    one.tags.append(Tag(kind="k"))
    assert two.tags == []  # no shared mutable default


def test_block_span_up_to_the_end_of_the_text_is_accepted() -> None:
    text = "Write to ada@example.org"
    block = Block(text=text, tags=[Tag(kind="email", start_idx=9, end_idx=len(text))])
    tag = block.tags[0]
    assert text[tag.start_idx : tag.end_idx] == "ada@example.org"


def test_block_span_past_the_text_names_tag_block_and_length() -> None:
    with pytest.raises(ValidationError) as caught:
        Block(id="b1", text="short", tags=[Tag(kind="heading", name="h1", start_idx=0, end_idx=6)])
    message = str(caught.value)
    assert "'heading/h1'" in message
    assert "'b1'" in message
    assert "5 characters" in message


def test_block_span_is_checked_when_validating_json_too() -> None:
    raw = {"id": "b", "text": "abc", "tags": [{"kind": "k", "start_idx": 1, "end_idx": 4}]}
    with pytest.raises(ValidationError, match="only 3 characters long"):
        Block.model_validate_json(json.dumps(raw))


def test_block_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Block.model_validate({"text": "x", "body": "y"})


# --- File ------------------------------------------------------------------------------------


def test_file_round_trips_through_json() -> None:
    value: dict[str, Any] = {"lang": "en", "scores": [0.5, 1]}
    original = File(
        mime_type="text/markdown",
        tags=[Tag(kind="meta", name="info", value=value)],
        blocks=[
            Block(
                text="# Title",
                tags=[Tag(kind="heading", name="h1", value="Title", start_idx=0, end_idx=7)],
            ),
            Block(text="Body.", tags=[Tag(kind="section", name="Title"), Tag(kind="n", value=1.5)]),
        ],
    )
    dumped = json.dumps(original.model_dump(mode="json"))
    assert File.model_validate_json(dumped) == original
    assert File.model_validate(json.loads(dumped)) == original


def test_file_tags_must_not_have_spans() -> None:
    with pytest.raises(ValidationError, match="spans belong on block tags") as caught:
        File(id="f1", tags=[Tag(kind="email", start_idx=0, end_idx=3)])
    assert "'f1'" in str(caught.value)
    assert "'email'" in str(caught.value)


def test_file_rejects_unknown_keys_and_a_bad_nested_block() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        File.model_validate({"blocks": [], "title": "x"})
    with pytest.raises(ValidationError, match="only 2 characters long"):
        File.model_validate(
            {"blocks": [{"text": "ab", "tags": [{"kind": "k", "start_idx": 0, "end_idx": 9}]}]}
        )
