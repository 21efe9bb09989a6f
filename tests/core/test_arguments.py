"""Tests for dockyard.core.arguments: argument specs and validation, built once per route.

This module uses ``from __future__ import annotations`` on purpose: every annotation
below is a string, so the packages here prove that string annotations (naming a
module-level enum and pydantic model) are resolved into working validators and specs.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import dockyard.core.arguments as arguments_module
from dockyard import (
    ArgSpec,
    ArgumentError,
    InvocableRequest,
    InvocableResponse,
    Invocation,
    PackageService,
    post,
)
from dockyard.core.arguments import build_arguments


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int


class Opaque:
    """A class pydantic has no schema for."""


class Shapes(PackageService):
    @post("add")
    def add(self, a: int, b: int = 1) -> int:
        return a + b

    @post("paint")
    def paint(self, color: Color, size: Literal["s", "m"] = "s") -> str:
        assert isinstance(color, Color)
        return f"{color.value}/{size}"

    @post("move")
    def move(self, point: Point, by: int | None = None) -> dict[str, Any]:
        assert isinstance(point, Point)
        return {"x": point.x + (by or 0), "y": point.y}

    @post("tag")
    def tag(self, label: str, anything=None, **extra: Any) -> dict[str, Any]:
        return {"label": label, "anything": anything, **extra}


def _call(path: str, **arguments: Any) -> InvocableResponse:
    invocation = Invocation(http_verb="POST", invocation_path=path, arguments=arguments)
    return Shapes()(InvocableRequest(invocation=invocation))


def _problems(response: InvocableResponse) -> dict[str, str]:
    assert isinstance(response.error, ArgumentError)
    return {p["field"]: p["problem"] for p in response.error.details["problems"]}


@pytest.mark.parametrize(
    ("path", "arguments", "expected"),
    [
        ("add", {"a": "5"}, 6),
        ("add", {"a": 2, "b": "40"}, 42),
        ("paint", {"color": "blue"}, "blue/s"),
        ("paint", {"color": "red", "size": "m"}, "red/m"),
        ("move", {"point": {"x": "1", "y": 2}, "by": "3"}, {"x": 4, "y": 2}),
        ("move", {"point": {"x": 1, "y": 2}, "by": None}, {"x": 1, "y": 2}),
    ],
)
def test_arguments_are_coerced_against_string_annotations(
    path: str, arguments: dict[str, Any], expected: Any
) -> None:
    response = _call(path, **arguments)
    assert response.error is None
    assert response.data == expected


def test_missing_required_argument_is_a_422_naming_it() -> None:
    response = _call("add", b=2)

    assert response.status == 422
    assert isinstance(response.error, ArgumentError)
    assert "a: missing required argument" in response.error.message
    assert "POST /add" in response.error.message
    assert _problems(response) == {"a": "missing required argument"}


def test_unknown_argument_is_a_422_naming_it_and_the_accepted_ones() -> None:
    response = _call("add", a=1, c=3)

    assert response.status == 422
    assert response.error is not None
    assert "c: unknown argument" in response.error.message
    assert response.error.suggestion == "accepted arguments: a (int, required), b (int, default 1)"
    assert [a["name"] for a in response.error.details["accepted"]] == ["a", "b"]


def test_kwargs_method_accepts_extra_arguments_unvalidated() -> None:
    response = _call("tag", label="x", anything=[1], colour="red", n=2)
    assert response.data == {"label": "x", "anything": [1], "colour": "red", "n": 2}


def test_every_problem_is_listed_at_once() -> None:
    response = _call("move", by="far", point={"x": "one"}, speed=9)

    assert response.status == 422
    assert _problems(response) == {
        "point.x": "Input should be a valid integer, unable to parse string as an integer",
        "point.y": "Field required",
        "by": "Input should be a valid integer, unable to parse string as an integer",
        "speed": "unknown argument",
    }
    assert response.error is not None
    for field in ("point.x", "point.y", "by", "speed"):
        assert f"{field}: " in response.error.message


def test_invalid_enum_value_is_a_422_with_the_input() -> None:
    response = _call("paint", color="green")

    assert response.status == 422
    assert response.error is not None
    assert "color: Input should be 'red' or 'blue' (got 'green')" in response.error.message


def test_arg_specs_describe_kinds_defaults_and_enum_values() -> None:
    specs = {m.path: m for m in Shapes.spec.methods}

    assert specs["/add"].args == (
        ArgSpec("a", "int", required=True),
        ArgSpec("b", "int", required=False, default=1),
    )
    assert specs["/add"].returns == "int"
    assert specs["/paint"].args == (
        ArgSpec("color", "enum", required=True, values=("red", "blue")),
        ArgSpec("size", "enum", required=False, default="s", values=("s", "m")),
    )
    assert specs["/move"].args == (
        ArgSpec("point", "Point", required=True),
        ArgSpec("by", "int | None", required=False, default=None),
    )
    assert specs["/move"].returns == "dict[str, Any]"
    assert specs["/tag"].args == (
        ArgSpec("label", "str", required=True),
        ArgSpec("anything", "any", required=False, default=None),
    )
    assert specs["/paint"].to_dict()["args"][0] == {
        "name": "color",
        "kind": "enum",
        "required": True,
        "default": None,
        "values": ["red", "blue"],
    }


def test_annotation_pydantic_cannot_validate_is_a_type_error_at_class_definition() -> None:
    def define() -> None:
        class Bad(PackageService):
            @post("use")
            def use(self, thing: Opaque) -> None: ...

    with pytest.raises(TypeError, match=r"Bad\.use: parameter 'thing' is annotated .*Opaque"):
        define()


def test_unresolvable_annotation_is_a_type_error_at_class_definition() -> None:
    def define() -> None:
        class Bad(PackageService):
            @post("use")
            def use(self, thing: Missing) -> None: ...  # noqa: F821

    with pytest.raises(TypeError, match=r"'Missing' of .*Bad\.use\(thing\).* at module level"):
        define()


def test_positional_only_parameter_is_a_type_error() -> None:
    def define() -> None:
        class Bad(PackageService):
            @post("use")
            def use(self, n: int, /) -> None: ...

    with pytest.raises(TypeError, match=r"Bad\.use has positional-only parameter 'n'.*'/'"):
        define()


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The annotations a pydantic TypeAdapter is built for from now on."""
    annotations: list[Any] = []
    real = arguments_module.TypeAdapter

    def counting(annotation: Any, *args: Any, **kwargs: Any) -> Any:
        annotations.append(annotation)
        return real(annotation, *args, **kwargs)

    monkeypatch.setattr(arguments_module, "TypeAdapter", counting)
    return annotations


def test_no_validator_is_built_during_requests(built: list[Any]) -> None:
    for _ in range(3):
        assert _call("add", a="1").data == 2
        assert _call("paint", color="red").data == "red/s"
        assert _call("move", point={"x": 1, "y": 1}).data == {"x": 1, "y": 1}
        assert _call("add").status == 422
    assert built == []


def test_routes_with_one_annotation_share_one_validator(built: list[Any]) -> None:
    class Shared(PackageService):
        @post("one")
        def one(self, mode: Literal["shared-only-here"]) -> str:
            return mode

        @post("two")
        def two(self, mode: Literal["shared-only-here"], other: Literal["shared-only-here"]) -> str:
            return mode

    assert built == [Literal["shared-only-here"]]
    invocation = Invocation(invocation_path="two", arguments={"mode": "shared-only-here"})
    response = Shared()(InvocableRequest(invocation=invocation))
    assert response.error is not None
    assert _problems(response) == {"other": "missing required argument"}


def _takes(self: Any, n: int, *rest: Any, flag: bool = False, **extra: Any) -> None: ...


def test_build_arguments_directly() -> None:
    specs, validator, returns = build_arguments(_takes, Shapes, "POST /takes (here)")

    assert specs == (
        ArgSpec("n", "int", required=True),
        ArgSpec("flag", "bool", required=False, default=False),
    )
    assert returns == "None"
    assert validator.validate({"n": "5", "flag": "true", "more": 1}) == {
        "n": 5,
        "flag": True,
        "more": 1,
    }
    with pytest.raises(ArgumentError, match=r"invalid arguments for POST /takes \(here\): n: "):
        validator.validate({"flag": "maybe"})


def test_build_arguments_needs_self() -> None:
    def bare() -> None: ...

    with pytest.raises(TypeError, match=r"Shapes\.bare must take self as its first parameter"):
        build_arguments(bare, Shapes, "POST /bare")


def _structured(
    self: Any, numbers: list[int], labels: dict[str, str] | None = None, note: str = ""
) -> None: ...


def test_structured_values_sent_as_json_text_are_decoded() -> None:
    _, validator, _ = build_arguments(_structured, Shapes, "GET /structured")
    assert validator.validate({"numbers": "[1, 2]", "labels": '{"a": "b"}'}) == {
        "numbers": [1, 2],
        "labels": {"a": "b"},
    }
    assert validator.validate({"numbers": "[]", "labels": "null"}) == {
        "numbers": [],
        "labels": None,
    }
    # A str argument keeps its text, JSON-looking or not.
    assert validator.validate({"numbers": [3], "note": "[1, 2]"})["note"] == "[1, 2]"


def test_json_text_that_still_does_not_fit_reports_the_value_as_sent() -> None:
    _, validator, _ = build_arguments(_structured, Shapes, "GET /structured")
    for sent in ('["x"]', "[1, x]", '"[1]"', ""):
        with pytest.raises(ArgumentError) as raised:
            validator.validate({"numbers": sent})
        [problem] = raised.value.details["problems"]
        assert problem["field"].startswith("numbers")
        assert problem["input"] == repr(sent)
