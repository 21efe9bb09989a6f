"""Bad input over real HTTP, on both WSGI servers ``dockyard serve`` runs: every case
gets its documented 4xx with a clear error body, ``{"error": {"code", "message",
"suggestion", "details"}}`` as JSON, and never a 5xx.

Requests go out through a raw socket (`Served.send`), byte for byte as written here: no
client library normalises ``..``, escapes ``%00`` or refuses a header that is no Latin-1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Reply, Served, ServerPool

#: The reliability servers' ``--max-body`` (see conftest.MAX_BODY).
MAX_BODY = 1024 * 1024
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    """One bad request. In ``path``, ``{hello}`` and ``{kiosk}`` stand for the base paths
    (``/ws/inst/``) of an instance of each; in header values, ``{key}`` for the local key.

    :param auth: send ``Authorization: Bearer {key}`` unless ``headers`` has its own.
    :param allow: for a 405, the ``Allow`` header expected (RFC 9110 requires one).
    :param message: a fragment the error message must contain (case-insensitive).
    """

    method: str
    path: str
    status: int
    code: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    raw_headers: bytes = b""
    auth: bool = True
    allow: str | None = None
    message: str = ""
    content_length: bool = True


def _deep(depth: int) -> bytes:
    return b'{"times": ' + b"[" * depth + b"]" * depth + b"}"


def _chunked(data: bytes, size: int = 64 * 1024) -> bytes:
    """``data`` in the chunked transfer coding."""
    parts = [
        b"%x\r\n" % len(data[i : i + size]) + data[i : i + size] + b"\r\n"
        for i in range(0, len(data), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


OVERSIZE = b'{"times": "' + b"x" * MAX_BODY + b'"}'

CASES: dict[str, Case] = {
    # --- malformed JSON ---------------------------------------------------------------------
    "malformed json": Case(
        "POST",
        "{hello}do_something",
        400,
        "bad_request",
        b'{"times": ',
        JSON,
        message="not valid JSON",
    ),
    "truncated json": Case("POST", "{hello}do_something", 400, "bad_request", b'{"times": 1', JSON),
    "trailing garbage": Case(
        "POST", "{hello}do_something", 400, "bad_request", b'{"times": 1} {"times": 2}', JSON
    ),
    "json array body": Case(
        "POST",
        "{hello}do_something",
        400,
        "bad_request",
        b"[1, 2]",
        JSON,
        message="must be an object",
    ),
    "json string body": Case("POST", "{hello}do_something", 400, "bad_request", b'"times"', JSON),
    "json null body": Case("POST", "{hello}do_something", 400, "bad_request", b"null", JSON),
    "single quotes": Case("POST", "{hello}do_something", 400, "bad_request", b"{'times': 1}", JSON),
    "NaN literal": Case(
        "POST",
        "{hello}do_something",
        400,
        "bad_request",
        b'{"times": NaN}',
        JSON,
        message="NaN is not a JSON value",
    ),
    "Infinity literal": Case(
        "POST",
        "{kiosk}tally",
        400,
        "bad_request",
        b'{"counts": {"a": 1}, "weights": [-Infinity]}',
        JSON,
    ),
    # --- huge numbers -----------------------------------------------------------------------
    "number beyond a float": Case(
        "POST",
        "{kiosk}pin",
        400,
        "bad_request",
        b'{"key": "k", "value": 1e999}',
        JSON,
        message="too large",
    ),
    "5000-digit integer": Case(
        "POST", "{hello}do_something", 400, "bad_request", b'{"times": ' + b"9" * 5000 + b"}", JSON
    ),
    "huge int for a bounded int": Case(
        "POST",
        "{kiosk}echo_flags",
        422,
        "invalid_arguments",
        b'{"repeat": ' + b"9" * 40 + b"}",
        JSON,
        message="repeat",
    ),
    "float for an int": Case(
        "POST",
        "{hello}do_something",
        422,
        "invalid_arguments",
        b'{"times": 1.5}',
        JSON,
        message="times",
    ),
    # --- deep nesting -----------------------------------------------------------------------
    "nesting past the stack": Case(
        "POST",
        "{hello}do_something",
        400,
        "bad_request",
        _deep(100_000),
        JSON,
        message="levels deep",
    ),
    "nesting past the limit": Case(
        "POST",
        "{kiosk}pin",
        400,
        "bad_request",
        b'{"key": "k", "value": ' + b"[" * 150 + b"]" * 150 + b"}",
        JSON,
        message="levels deep",
    ),
    "deep JSON text in a query": Case(
        "GET",
        "{kiosk}average?numbers=" + "[" * 1500 + "]" * 1500,
        422,
        "invalid_arguments",
        message="numbers",
    ),
    # --- text that is no text ---------------------------------------------------------------
    "invalid utf-8 in json": Case(
        "POST", "{kiosk}pin", 400, "bad_request", b'{"key": "k", "value": "\xff\xfe"}', JSON
    ),
    "lone surrogate escape": Case(
        "POST",
        "{kiosk}pin",
        400,
        "bad_request",
        b'{"key": "k", "value": "\\ud800"}',
        JSON,
        message="surrogate",
    ),
    "lone surrogate key": Case(
        "POST",
        "{kiosk}tally",
        400,
        "bad_request",
        b'{"counts": {"\\udfff": 1}}',
        JSON,
        message="surrogate",
    ),
    # --- content types ----------------------------------------------------------------------
    "text/plain body": Case(
        "POST",
        "{hello}do_something",
        400,
        "bad_request",
        b'{"times": 2}',
        {"Content-Type": "text/plain"},
        message="text/plain",
    ),
    "xml body": Case(
        "POST",
        "{hello}do_something",
        400,
        "bad_request",
        b"<times>2</times>",
        {"Content-Type": "application/xml"},
    ),
    "body without a content type": Case(
        "POST", "{hello}do_something", 400, "bad_request", b'{"times": 2}'
    ),
    "form with a bad value": Case(
        "POST",
        "{hello}do_something",
        422,
        "invalid_arguments",
        b"times=%ZZ",
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
    # --- oversize bodies --------------------------------------------------------------------
    "oversize json body": Case(
        "POST", "{hello}do_something", 413, "payload_too_large", OVERSIZE, JSON
    ),
    "oversize form body": Case(
        "POST",
        "{hello}do_something",
        413,
        "payload_too_large",
        b"times=" + b"1" * MAX_BODY,
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
    "oversize chunked body": Case(
        "POST",
        "{hello}do_something",
        413,
        "payload_too_large",
        _chunked(OVERSIZE),
        {**JSON, "Transfer-Encoding": "chunked"},
        content_length=False,
    ),
    "oversize chunked form": Case(
        "POST",
        "{hello}do_something",
        413,
        "payload_too_large",
        _chunked(b"times=" + b"1" * MAX_BODY),
        {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"},
        content_length=False,
    ),
    "content-length beyond the limit": Case(
        "POST",
        "{hello}do_something",
        413,
        "payload_too_large",
        b"",
        {**JSON, "Content-Length": str(10 * MAX_BODY)},
    ),
    # --- handles and paths ------------------------------------------------------------------
    "overlong handles": Case(
        "GET", "/" + "a" * 300 + "/" + "b" * 300 + "/say_hello", 404, "instance_not_found"
    ),
    "dot-dot workspace": Case("GET", "/../x/say_hello", 404, "instance_not_found"),
    "dot-dot in the method": Case("GET", "{hello}../../x", 404, "not_found"),
    "encoded dot-dot handle": Case("GET", "/%2e%2e/%2E%2E/say_hello", 404, "instance_not_found"),
    "encoded slash and dot-dot": Case("GET", "{hello}%2e%2e%2f%2e%2e%2fetc", 404, "not_found"),
    "null byte in a handle": Case("GET", "/x%00/y/say_hello", 404, "instance_not_found"),
    "null byte in the method": Case("GET", "{hello}say%00hello", 404, "not_found"),
    "upper-case handle": Case("GET", "/Hello/Hello/say_hello", 404, "instance_not_found"),
    "unknown method": Case("POST", "{hello}no_such_route", 404, "not_found", message="no route"),
    "handle not made of handle characters": Case(
        "POST",
        "/__api__/instances",
        422,
        "invalid_handle",
        json.dumps({"package": "my-package", "instance": "../x"}).encode(),
        JSON,
    ),
    "overlong handle on use": Case(
        "POST",
        "/__api__/instances",
        422,
        "invalid_handle",
        json.dumps({"package": "my-package", "instance": "x" * 65}).encode(),
        JSON,
    ),
    "package that is not a string": Case(
        "POST", "/__api__/instances", 422, "invalid_arguments", b'{"package": 5}', JSON
    ),
    "unknown package": Case(
        "POST",
        "/__api__/instances",
        404,
        "component_not_found",
        b'{"package": "no-such-package"}',
        JSON,
    ),
    # --- verbs ------------------------------------------------------------------------------
    "GET on a POST route": Case(
        "GET", "{hello}do_something", 405, "method_not_allowed", allow="POST"
    ),
    "PUT on a GET route": Case(
        "PUT", "{hello}say_hello", 405, "method_not_allowed", allow="GET, HEAD"
    ),
    "DELETE on a GET route": Case(
        "DELETE", "{hello}say_hello", 405, "method_not_allowed", allow="GET, HEAD"
    ),
    "TRACE on a route": Case(
        "TRACE", "{hello}do_something", 405, "method_not_allowed", allow="POST"
    ),
    "OPTIONS on a route": Case(
        "OPTIONS", "{hello}say_hello", 405, "method_not_allowed", allow="GET, HEAD"
    ),
    "made-up verb": Case("BREW", "{hello}say_hello", 405, "method_not_allowed"),
    "GET on the task route": Case(
        "GET", "{hello}__tasks__", 405, "method_not_allowed", allow="POST"
    ),
    "PUT on the openapi route": Case(
        "PUT", "{hello}__openapi__", 405, "method_not_allowed", allow="GET, HEAD"
    ),
    "DELETE on the instance list": Case(
        "DELETE", "/__api__/instances", 405, "method_not_allowed", allow="GET, HEAD, POST"
    ),
    "invoking instance_init": Case("POST", "{hello}__instance_init__", 403, "forbidden"),
    # --- the Authorization header -----------------------------------------------------------
    "no Authorization": Case("POST", "{hello}do_something", 401, "unauthorized", auth=False),
    "Basic scheme": Case(
        "POST", "{hello}do_something", 401, "unauthorized", headers={"Authorization": "Basic {key}"}
    ),
    "Bearer without a key": Case(
        "POST", "{hello}do_something", 401, "unauthorized", headers={"Authorization": "Bearer "}
    ),
    "key without a scheme": Case(
        "POST", "{hello}do_something", 401, "unauthorized", headers={"Authorization": "{key}"}
    ),
    "two tokens": Case(
        "POST",
        "{hello}do_something",
        401,
        "unauthorized",
        headers={"Authorization": "Bearer {key} {key}"},
    ),
    "garbled key": Case(
        "POST",
        "{hello}do_something",
        401,
        "unauthorized",
        headers={"Authorization": "Bearer dk_!!not*a*key!!"},
    ),
    "well-formed unknown key": Case(
        "POST",
        "{hello}do_something",
        401,
        "unauthorized",
        headers={"Authorization": "Bearer dk_" + "A" * 43},
    ),
    "key with bytes that are no text": Case(
        "POST",
        "{hello}do_something",
        401,
        "unauthorized",
        raw_headers=b"Authorization: Bearer dk_\xff\xfe\x80\r\n",
        auth=False,
    ),
    "truncated key": Case(
        "POST",
        "{hello}do_something",
        401,
        "unauthorized",
        headers={"Authorization": "Bearer {key:-5}"},
    ),
    "4 KB key": Case(
        "POST",
        "{hello}do_something",
        401,
        "unauthorized",
        headers={"Authorization": "Bearer dk_" + "a" * 4000},
    ),
    "no key for the management API": Case(
        "GET", "/__api__/instances", 401, "unauthorized", auth=False
    ),
    # --- task scheduling --------------------------------------------------------------------
    "task waiting on a non-id": Case(
        "POST",
        "{hello}__tasks__",
        422,
        "invalid_arguments",
        b'{"method": "do_something", "wait_on_tasks": [{}]}',
        JSON,
    ),
    "task delayed past ten years": Case(
        "POST",
        "{hello}__tasks__",
        422,
        "invalid_arguments",
        b'{"method": "do_something", "delay_ms": 10000000000000000}',
        JSON,
        message="delay_ms",
    ),
    "task with an empty method": Case(
        "POST", "{hello}__tasks__", 422, "invalid_arguments", b'{"method": ""}', JSON
    ),
    "task of an unknown route": Case(
        "POST", "{hello}__tasks__", 404, "not_found", b'{"method": "nope"}', JSON
    ),
    "task with the wrong verb": Case(
        "POST",
        "{hello}__tasks__",
        405,
        "method_not_allowed",
        b'{"method": "say_hello", "verb": "POST"}',
        JSON,
    ),
    "task body that is a list": Case("POST", "{hello}__tasks__", 400, "bad_request", b"[]", JSON),
    "unknown task id": Case("GET", "{hello}__tasks__/no-such-task", 404, "task_not_found"),
    "slash in a task id": Case("GET", "{hello}__tasks__/%2e%2e%2f1", 404, "not_found"),
}


def _fill(text: str, key: str) -> str:
    return text.replace("{key:-5}", key[:-5]).replace("{key}", key)


@dataclass
class Target:
    """A reliability server and the base paths of the instances the cases use."""

    served: Served
    bases: dict[str, str]


@pytest.fixture(scope="module", params=["granian", "gunicorn"])
def target(request: pytest.FixtureRequest, reliability_servers: ServerPool) -> Target:
    """A reliability server of each kind, with an instance of hello and one of kiosk."""
    served = reliability_servers.get(request.param)
    bases = {
        "hello": served.use("my-package", "bad-hello"),
        "kiosk": served.use("kiosk", "bad-kiosk"),
    }
    return Target(served, bases)


def _send(target: Target, case: Case) -> Reply:
    served = target.served
    key = served.key
    path = case.path.format(**target.bases) if case.path.startswith("{") else case.path
    headers = {name: _fill(value, key) for name, value in case.headers.items()}
    if case.auth:
        headers.setdefault("Authorization", f"Bearer {key}")
    return served.send(
        case.method,
        path,
        case.body,
        headers,
        raw_headers=case.raw_headers,
        content_length=case.content_length,
    )


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert all(400 <= case.status < 500 for case in CASES.values())


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_its_documented_4xx(target: Target, name: str) -> None:
    case = CASES[name]
    reply = _send(target, case)
    assert reply.status < 500, reply
    assert reply.status == case.status, reply
    assert reply.content_type.split(";")[0] == "application/json", reply
    body = reply.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "suggestion", "details"}, error
    assert error["code"] == case.code, error
    assert isinstance(error["message"], str), error
    assert error["message"].strip(), error
    assert case.message.lower() in error["message"].lower(), error
    if case.status == 405:
        assert reply.headers.get("allow"), reply.headers  # RFC 9110 15.5.6
        if case.allow is not None:
            assert reply.headers["allow"] == case.allow
    if case.status == 401:
        assert reply.headers.get("www-authenticate", "").startswith("Bearer"), reply.headers
    # The caller's key is never echoed back.
    assert target.served.key.encode() not in reply.body


def test_the_server_is_still_well_after_the_bad_input(target: Target) -> None:
    served = target.served
    hello = target.bases["hello"]
    reply = served.call("POST", f"{hello}do_something", {"times": 2}, key=served.key)
    assert (reply.status, reply.json()) == (200, {"done": 2})
    assert served.send("GET", "/__health__").status == 200
    assert "Traceback" not in served.log()
