"""Tests for dockyard.core.response: InvocableResponse and plain return values."""

import enum
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from dockyard import (
    DockyardError,
    Http,
    InternalError,
    InvocableRequest,
    InvocableResponse,
    Invocation,
    PackageService,
    post,
)

TEXT, JSON, BINARY = "text/plain", "application/json", "application/octet-stream"


class Point(BaseModel):
    x: int
    y: int


@dataclass
class Span:
    start: date
    label: str


class Mood(enum.Enum):
    HAPPY = "happy"


class Returns(PackageService):
    """Returns whatever it was built with."""

    def __init__(self, result: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result

    @post("value")
    def value(self) -> Any:
        return self.result


def _returned(value: Any) -> InvocableResponse:
    request = InvocableRequest(invocation=Invocation(invocation_path="value"))
    return Returns(result=value)(request)


@pytest.mark.parametrize(
    ("value", "data", "mime_type"),
    [
        ("hello", "hello", TEXT),
        ({"a": [1, 2]}, {"a": [1, 2]}, JSON),
        ([1, "x", None], [1, "x", None], JSON),
        (3, 3, JSON),
        (2.5, 2.5, JSON),
        (True, True, JSON),
        (Point(x=1, y=2), {"x": 1, "y": 2}, JSON),
        ({"p": Point(x=0, y=1)}, {"p": {"x": 0, "y": 1}}, JSON),
        (datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05", JSON),
        (Span(date(2024, 5, 6), "may"), {"start": "2024-05-06", "label": "may"}, JSON),
        (Mood.HAPPY, "happy", JSON),
        (b"\x00\x01", b"\x00\x01", BINARY),
        (bytearray(b"ab"), b"ab", BINARY),
        (io.BytesIO(b"xy"), b"xy", BINARY),
        (None, None, JSON),
    ],
    ids=lambda v: type(v).__name__,
)
def test_plain_return_values_are_mapped(value: Any, data: Any, mime_type: str) -> None:
    response = _returned(value)

    assert response.error is None
    assert response.status == 200
    assert response.mime_type == mime_type
    assert response.data == data
    assert type(response.data) is type(data)


def test_returning_a_value_with_no_json_form_is_an_internal_error() -> None:
    response = _returned(object())

    assert response.status == 500
    assert isinstance(response.error, InternalError)
    assert response.data is None


def test_returned_response_is_kept_as_is() -> None:
    given = InvocableResponse(string="made", http=Http(status=201, headers={"X-Id": "7"}))
    response = _returned(given)

    assert response is given
    assert (response.status, response.http.headers, response.data) == (201, {"X-Id": "7"}, "made")


@pytest.mark.parametrize(
    ("kwargs", "data", "mime_type"),
    [
        ({"data": "text"}, "text", TEXT),
        ({"data": {"k": 1}}, {"k": 1}, JSON),
        ({"data": None}, None, JSON),
        ({"string": "text"}, "text", TEXT),
        ({"json": "text"}, "text", JSON),
        ({"json": Point(x=1, y=1)}, {"x": 1, "y": 1}, JSON),
        ({"_bytes": b"raw"}, b"raw", BINARY),
        ({"_bytes": io.BytesIO(b"raw")}, b"raw", BINARY),
        ({"string": "<p/>", "mime_type": "text/html"}, "<p/>", "text/html"),
        ({"_bytes": b"\x89PNG", "mime_type": "image/png"}, b"\x89PNG", "image/png"),
        ({"data": b"\x89PNG", "mime_type": "image/png"}, b"\x89PNG", "image/png"),
        ({}, None, JSON),
    ],
)
def test_constructor_infers_or_takes_the_mime_type(
    kwargs: dict[str, Any], data: Any, mime_type: str
) -> None:
    response = InvocableResponse(**kwargs)

    assert (response.data, response.mime_type) == (data, mime_type)
    assert (response.status, response.ok, response.http.headers) == (200, True, {})


def test_http_status_is_kept() -> None:
    response = InvocableResponse(json={"id": 1}, http=Http(status=201))
    assert response.http.status == 201
    assert response.status == 201


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"data": 1, "json": 2}, "data, json"),
        ({"string": "a", "_bytes": b"a"}, "string, _bytes"),
        ({"data": None, "string": "a", "json": None}, "data, string, json"),
    ],
)
def test_giving_two_bodies_is_a_type_error(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(TypeError, match=f"takes one of data, string, json, _bytes; got {named}$"):
        InvocableResponse(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"string": 5}, r"string=\.\.\.\) needs a str, got int"),
        ({"json": object()}, r"cannot send a object as JSON"),
        ({"_bytes": io.StringIO("text")}, r"expected bytes or a binary file object, got StringIO"),
    ],
)
def test_bodies_of_the_wrong_type_are_type_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        InvocableResponse(**kwargs)


def test_from_error_takes_the_error_status() -> None:
    error = DockyardError("teapot", code="teapot", status=418)
    response = InvocableResponse.from_error(error)

    assert (response.status, response.ok, response.data) == (418, False, None)
    assert response.error is error


@pytest.mark.parametrize(
    ("response", "body"),
    [
        (InvocableResponse(string="héllo"), "héllo".encode()),
        (InvocableResponse(data={"a": [1]}), b'{"a": [1]}'),
        (InvocableResponse(json="quoted"), b'"quoted"'),
        (InvocableResponse(data=None), b"null"),
        (InvocableResponse(_bytes=b"\x00raw"), b"\x00raw"),
        (
            InvocableResponse.from_error(DockyardError("nope", code="no", suggestion="stop")),
            b'{"error": {"code": "no", "message": "nope", "suggestion": "stop", "details": null}}',
        ),
    ],
    ids=["text", "json", "json-string", "null", "bytes", "error"],
)
def test_encode_gives_the_http_body(response: InvocableResponse, body: bytes) -> None:
    assert response.encode() == body


def test_text_body_claiming_json_is_sent_as_is_not_encoded_twice() -> None:
    raw = '{"a": 1}'
    assert InvocableResponse(string=raw, mime_type="application/json").encode() == raw.encode()
    assert InvocableResponse(json=raw).encode() == b'"{\\"a\\": 1}"'
