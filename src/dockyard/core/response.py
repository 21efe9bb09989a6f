"""What a call returns: `InvocableResponse` (data + mime type + HTTP status, or an error).

A method may return an `InvocableResponse` or a plain value, mapped by
`InvocableResponse.from_value`:

==============================================  ==============================
returned                                        data / mime type
==============================================  ==============================
``str``                                         the text / ``text/plain``
``dict``, ``list``, number, bool, pydantic      JSON value / ``application/json``
model, dataclass, enum, datetime...
``bytes``, ``bytearray``, ``BytesIO``           the bytes / ``application/octet-stream``
``None``                                        ``null`` / ``application/json``
==============================================  ==============================

JSON data is converted to JSON-native values here, so an in-process caller sees
exactly what an HTTP caller would.
"""

from __future__ import annotations

import io
import json as _json
import math
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from dockyard.core.errors import DockyardError

__all__ = ["Http", "InvocableResponse", "MimeTypes"]


class MimeTypes:
    """The mime types Dockyard infers."""

    TEXT = "text/plain"
    JSON = "application/json"
    BINARY = "application/octet-stream"


@dataclass(slots=True)
class Http:
    """HTTP facts of a response.

    :param status: the status code.
    :param headers: extra response headers.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


_UNSET: Any = object()
_BINARY_TYPES = (bytes, bytearray, memoryview)


def _to_json(value: Any) -> Any:
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise TypeError(
            f"cannot send a {type(value).__name__} as JSON ({exc}); return str, bytes, "
            "JSON values, dataclasses or pydantic models"
        ) from None


class InvocableResponse:
    """The result of a call.

    Give at most one of ``data``, ``string``, ``json``, ``_bytes``.

    :param data: any value, its mime type inferred (see the module docs).
    :param string: text, sent as ``text/plain`` unless ``mime_type`` says otherwise.
    :param json: a value sent as JSON.
    :param _bytes: bytes or a binary file object, sent as ``application/octet-stream``
        unless ``mime_type`` says otherwise.
    :param mime_type: the Content-Type to send.
    :param http: status and headers (default 200).
    :param error: the error, for a failed call.
    """

    __slots__ = ("_text", "data", "error", "http", "mime_type")

    def __init__(
        self,
        data: Any = _UNSET,
        string: str | None = None,
        json: Any = _UNSET,
        _bytes: bytes | bytearray | memoryview | io.IOBase | None = None,
        mime_type: str | None = None,
        http: Http | None = None,
        error: DockyardError | None = None,
    ) -> None:
        given = [
            name
            for name, present in (
                ("data", data is not _UNSET),
                ("string", string is not None),
                ("json", json is not _UNSET),
                ("_bytes", _bytes is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise TypeError(
                f"InvocableResponse takes one of data, string, json, _bytes; got {', '.join(given)}"
            )
        inferred: str = MimeTypes.JSON
        value: Any = None
        if string is not None:
            if not isinstance(string, str):
                raise TypeError(
                    f"InvocableResponse(string=...) needs a str, got {type(string).__name__}"
                )
            value, inferred = string, MimeTypes.TEXT
        elif json is not _UNSET:
            value = _to_json(json)
        elif _bytes is not None:
            value, inferred = _read_bytes(_bytes), MimeTypes.BINARY
        elif data is not _UNSET:
            value, inferred = _infer(data)
        self.data: Any = value
        # A text body (string=, or a plain str) is sent as is, whatever mime type it claims.
        self._text = inferred == MimeTypes.TEXT
        self.mime_type: str = mime_type or inferred
        self.http: Http = http if http is not None else Http(status=error.status if error else 200)
        self.error: DockyardError | None = error

    @classmethod
    def from_value(cls, value: Any) -> InvocableResponse:
        """The response for a method's plain return value (an `InvocableResponse` as is)."""
        if isinstance(value, InvocableResponse):
            return value
        response = cls.__new__(cls)
        response.data, response.mime_type = _infer(value)
        response._text = response.mime_type == MimeTypes.TEXT
        response.http = Http()
        response.error = None
        return response

    @classmethod
    def from_error(cls, error: DockyardError) -> InvocableResponse:
        """The response for a failed call: status from the error, no data."""
        return cls(error=error, http=Http(status=error.status))

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.http.status

    @property
    def ok(self) -> bool:
        """True unless the response carries an error."""
        return self.error is None

    def encode(self) -> bytes:
        """The body as sent over HTTP: the error JSON, the text, the bytes, or the JSON data."""
        if self.error is not None:
            return _json.dumps(self.error.to_dict()).encode()
        if isinstance(self.data, bytes):
            return self.data
        if self._text:
            return str(self.data).encode()
        try:
            return _json.dumps(self.data, allow_nan=False).encode()
        except ValueError:
            # NaN and the infinities are not JSON: they are sent as null, as pydantic
            # and JavaScript's JSON.stringify send them.
            return _json.dumps(_finite(self.data), allow_nan=False).encode()

    def __repr__(self) -> str:
        if self.error is not None:
            return f"<InvocableResponse {self.status} error={self.error.code!r}>"
        return f"<InvocableResponse {self.status} {self.mime_type} {self.data!r:.60}>"


def _finite(value: Any) -> Any:
    """``value`` (JSON data) with every NaN or infinite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _read_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, io.BytesIO):
        return value.getvalue()
    if isinstance(value, io.IOBase):
        data = value.read()
        if isinstance(data, bytes):
            return data
    raise TypeError(f"expected bytes or a binary file object, got {type(value).__name__}")


def _infer(value: Any) -> tuple[Any, str]:
    kind = type(value)
    if kind is str:
        return value, MimeTypes.TEXT
    if value is None or kind is bool or kind is int or kind is float:
        return value, MimeTypes.JSON
    if isinstance(value, (*_BINARY_TYPES, io.IOBase)):
        return _read_bytes(value), MimeTypes.BINARY
    # Everything else, str subclasses (StrEnum members) included, travels as JSON.
    return _to_json(value), MimeTypes.JSON
