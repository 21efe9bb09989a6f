"""Tests for dockyard.store.codec: canonical JSON, and refusing what is not JSON."""

from __future__ import annotations

import enum
import math
from typing import Any

import pytest

from dockyard.store.codec import canonical_json, check_json, load_json


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


def test_canonical_form() -> None:
    assert canonical_json({"b": 1, "a": [1, 2.5, None, True]}) == '{"a":[1,2.5,null,true],"b":1}'
    assert canonical_json({"z": {"y": 1, "x": 2}}) == '{"z":{"x":2,"y":1}}'
    assert canonical_json("é✓") == '"é✓"'
    assert canonical_json((1, (2,))) == "[1,[2]]"


def test_equal_values_have_one_text() -> None:
    assert canonical_json({"a": 1, "b": {"c": 2, "d": 3}}) == canonical_json(
        {"b": {"d": 3, "c": 2}, "a": 1}
    )


@pytest.mark.parametrize(
    "value", [None, 0, -1, 2**70, 0.1, 1e300, "", "x", [], {}, [{"a": [{"b": None}]}], True]
)
def test_round_trip(value: Any) -> None:
    assert load_json(canonical_json(value)) == value


def test_subclasses_of_json_types_are_accepted() -> None:
    assert canonical_json({"c": Colour.RED, "n": Name("x")}) == '{"c":1,"n":"x"}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "value nan is not a finite number"),
        (-math.inf, "value -inf is not a finite number"),
        ({"a": b"x"}, "value['a'] is a bytes"),
        ([0, [1, {2}]], "value[1][1] is a set"),
        ({None: 1}, "value has a NoneType key None"),
        ({"k": {(1, 2): 3}}, "value['k'] has a tuple key (1, 2)"),
        (print, "value is a builtin_function_or_method"),
    ],
)
def test_non_json_is_refused_with_its_path(value: Any, message: str) -> None:
    with pytest.raises(TypeError) as raised:
        check_json(value, "config of x")
    assert str(raised.value).startswith(f"config of x: {message}; JSON values are")
    with pytest.raises(TypeError, match="thing"):
        canonical_json(value, "thing")
