"""Tests for dockyard.core.request: Invocation, InvocationContext, InvocableRequest.from_dict."""

from typing import Any

import pytest

from dockyard import InvocableRequest, Invocation, InvocationContext, PackageService, post


class Echo(PackageService):
    @post("echo")
    def echo(self, word: str) -> str:
        return word


def test_defaults() -> None:
    request = InvocableRequest(invocation=Invocation())

    assert request.invocation == Invocation(http_verb="POST", invocation_path="/", arguments={})
    assert request.context is None
    assert InvocationContext().headers == {}
    assert Invocation().arguments is not Invocation().arguments


def test_fields_are_keyword_only_and_slotted() -> None:
    with pytest.raises(TypeError, match="positional argument"):
        Invocation("GET", "greet")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Invocation().typo = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "invocation",
    [
        {"httpVerb": "GET", "invocationPath": "greet", "arguments": {"n": 1}},
        {"http_verb": "GET", "invocation_path": "greet", "arguments": {"n": 1}},
    ],
    ids=["camelCase", "snake_case"],
)
def test_from_dict_reads_both_spellings(invocation: dict[str, Any]) -> None:
    request = InvocableRequest.from_dict({"invocation": invocation})

    assert request.invocation == Invocation(
        http_verb="GET", invocation_path="greet", arguments={"n": 1}
    )


def test_from_dict_defaults_verb_and_arguments() -> None:
    request = InvocableRequest.from_dict({"invocation": {"invocationPath": "echo"}})

    assert request.invocation == Invocation(http_verb="POST", invocation_path="echo", arguments={})


def test_from_dict_copies_arguments_and_dispatches() -> None:
    arguments = {"word": "hi"}
    request = InvocableRequest.from_dict(
        {"invocation": {"invocationPath": "echo", "arguments": arguments}}
    )
    arguments["word"] = "changed"

    assert Echo()(request).data == "hi"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "request must have an 'invocation' object"),
        ({"invocation": "echo"}, "request must have an 'invocation' object"),
        (["invocation"], "request must be an object with an 'invocation' object"),
        ({"invocation": {}}, r"invocation\.invocationPath must be a string"),
        ({"invocation": {"invocationPath": 3}}, r"invocation\.invocationPath must be a string"),
        (
            {"invocation": {"invocationPath": "echo", "httpVerb": 1}},
            r"invocation\.httpVerb must be a string",
        ),
        (
            {"invocation": {"invocationPath": "echo", "arguments": ["hi"]}},
            r"invocation\.arguments must be an object",
        ),
        (
            {"invocation": {"invocationPath": "echo", "arguments": ""}},
            r"invocation\.arguments must be an object",
        ),
    ],
)
def test_from_dict_rejects_missing_or_ill_typed_fields(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InvocableRequest.from_dict(data)
