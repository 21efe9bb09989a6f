"""The Flask app (server/app.py) through Flask's test client: status codes, bodies,
headers and hooks in fine detail. The real-HTTP acceptance suite is
test_http_acceptance.py."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dockyard import Engine, hookimpl
from dockyard.runtime import Runtime
from dockyard.server import create_app
from dockyard.server.app import DEFAULT_MAX_BODY
from dockyard.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(home=tmp_path / "home") as opened:
        opened.ensure_user("local")
        opened.ensure_user("bob")
        yield opened


@pytest.fixture
def runtime(store: Store, kit: ModuleType) -> Runtime:
    return Runtime(store, packages={"hello": kit.Hello, "flaky": kit.Flaky})


@pytest.fixture(params=["fast-path", "flask"])
def app(request: pytest.FixtureRequest, runtime: Runtime) -> Flask:
    """The app, serving invocations on its WSGI fast path, and with a request hook that
    makes Flask serve everything: every test here must pass both ways."""
    app = create_app(runtime)
    if request.param == "flask":
        app.before_request(lambda: None)
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def key(store: Store) -> str:
    return store.create_key("local")[1]


@pytest.fixture
def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def hello(client: FlaskClient, auth: dict[str, str]) -> str:
    """The instance ``hello/hello``; its base path."""
    made = client.post("/__api__/instances", json={"package": "hello"}, headers=auth)
    assert made.status_code == 200, made.data
    return "/hello/hello"


def error_of(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/json"
    error: dict[str, Any] = response.get_json()["error"]
    assert set(error) == {"code", "message", "suggestion", "details"}
    return error


# --- success bodies --------------------------------------------------------------------------


def test_success_bodies_are_unwrapped_with_their_content_type(
    client: FlaskClient, hello: str, auth: dict[str, str]
) -> None:
    text = client.get(f"{hello}/say_hello?name=Ted", headers=auth)
    assert text.status_code == 200
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.data == b"Hello, Ted!"
    data = client.post(f"{hello}/do_something", json={"times": 2}, headers=auth)
    assert data.mimetype == "application/json"
    assert data.get_json() == {"done": 2}
    unicode = client.get(f"{hello}/say_hello", query_string={"name": "Zoë"}, headers=auth)
    assert unicode.data.decode("utf-8") == "Hello, Zoë!"


def test_the_request_id_is_echoed_on_success_and_error(
    client: FlaskClient, hello: str, auth: dict[str, str]
) -> None:
    headers = {**auth, "X-Request-Id": "abc-123"}
    assert client.get(f"{hello}/ping", headers=headers).headers["X-Request-Id"] == "abc-123"
    failed = client.post(f"{hello}/nope", json={}, headers=headers)
    assert failed.status_code == 404
    assert failed.headers["X-Request-Id"] == "abc-123"
    made = client.get(f"{hello}/ping").headers["X-Request-Id"]
    assert len(made) == 32


# --- 400 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "said"),
    [
        (b"{", "application/json", "not valid JSON"),
        (b"\xff\xfe", "application/json", "not valid JSON"),
        (b"[]", "application/json", "got list"),
        (b"null", "application/json", "got NoneType"),
        (b"1", "application/vnd.api+json", "got int"),
        (b"hello", "text/plain", "cannot read a text/plain body"),
        (b"<a/>", "application/xml", "cannot read a application/xml body"),
    ],
)
def test_400_for_a_body_that_is_not_arguments(
    client: FlaskClient,
    hello: str,
    auth: dict[str, str],
    body: bytes,
    content_type: str,
    said: str,
) -> None:
    response = client.post(
        f"{hello}/do_something", data=body, headers={**auth, "Content-Type": content_type}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "bad_request"
    assert said in error["message"]
    assert error["suggestion"]


def test_an_empty_json_body_means_no_arguments(
    client: FlaskClient, hello: str, auth: dict[str, str]
) -> None:
    response = client.post(
        f"{hello}/do_something", data=b"", headers={**auth, "Content-Type": "application/json"}
    )
    assert response.get_json() == {"done": 1}


# --- arguments ---------------------------------------------------------------------------------


def test_post_merges_query_form_and_json(
    client: FlaskClient, hello: str, auth: dict[str, str]
) -> None:
    url = f"{hello}/echo?a=q&b=q&c=q"
    assert client.post(url, json={"c": "j"}, headers=auth).get_json() == {
        "a": "q",
        "b": "q",
        "c": "j",
    }
    assert client.post(url, data={"b": "f"}, headers=auth).get_json() == {
        "a": "q",
        "b": "f",
        "c": "q",
    }
    multipart = client.post(
        url, data={"b": "m", "upload": (io.BytesIO(b"x"), "x.txt")}, headers=auth
    )
    assert multipart.get_json() == {"a": "q", "b": "m", "c": "q"}


def test_get_reads_the_query_only(client: FlaskClient, hello: str, auth: dict[str, str]) -> None:
    response = client.get(
        f"{hello}/say_hello?name=Query",
        data=json.dumps({"name": "Body"}),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.data == b"Hello, Query!"


def test_query_values_are_coerced_to_the_declared_types(
    client: FlaskClient, hello: str, auth: dict[str, str]
) -> None:
    assert client.post(f"{hello}/do_something?times=7", headers=auth).get_json() == {"done": 7}
    bad = client.post(f"{hello}/do_something?times=seven", headers=auth)
    assert bad.status_code == 422
    assert "times" in error_of(bad)["message"]


# --- 401 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer   ", "Basic abc", "Token dk_x", "dk_onlythekey", "Bearer nope"],
)
def test_401_for_every_kind_of_missing_or_bad_key(
    client: FlaskClient, hello: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in (
        ("POST", f"{hello}/do_something"),
        ("GET", "/__api__/instances"),
        ("GET", "/__api__/whoami"),
        ("GET", f"{hello}/__openapi__"),
    ):
        response = client.open(path, method=method, headers=headers)
        assert response.status_code == 401, (header, path)
        assert error_of(response)["code"] == "unauthorized"


def test_the_bearer_scheme_is_case_insensitive(client: FlaskClient, key: str) -> None:
    response = client.get("/__api__/whoami", headers={"Authorization": f"bearer {key}"})
    assert response.get_json() == {"user": "local"}


def test_a_revoked_key_is_refused(client: FlaskClient, store: Store) -> None:
    record, key = store.create_key("local", name="temp")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/__api__/whoami", headers=headers).status_code == 200
    store.revoke_key("local", record.id)
    refused = client.get("/__api__/whoami", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in error_of(refused)["message"]


def test_health_needs_no_key(client: FlaskClient) -> None:
    response = client.get("/__health__")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


# --- 403, 404, 405 -----------------------------------------------------------------------------


def test_instance_init_cannot_be_called_over_http(
    client: FlaskClient, hello: str, auth: dict[str, str]
) -> None:
    for path in (
        "__instance_init__",
        "__instance_init__/",
        "%20__instance_init__",
        "%09__instance_init__%20",
    ):
        response = client.post(f"{hello}/{path}", json={}, headers=auth)
        assert response.status_code == 403, path
        assert error_of(response)["code"] == "forbidden"
    assert client.get(f"{hello}/inits", headers=auth).get_json() == 1


def test_404_for_paths_outside_the_url_layout(client: FlaskClient, auth: dict[str, str]) -> None:
    for path in ("/", "/nothing", "/__api__/nothing/here/at/all"):
        response = client.get(path, headers=auth)
        assert response.status_code == 404, path
        assert error_of(response)["code"] in {"not_found", "instance_not_found"}


def test_404_for_another_users_instance_everywhere(
    client: FlaskClient, store: Store, hello: str
) -> None:
    bob = {"Authorization": f"Bearer {store.create_key('bob')[1]}"}
    for method, path in (
        ("POST", f"{hello}/do_something"),
        ("GET", f"{hello}/__openapi__"),
        ("GET", f"{hello}/__dir__"),
        ("GET", "/__api__/instances/hello/hello"),
        ("DELETE", "/__api__/instances/hello/hello"),
    ):
        response = client.open(path, method=method, headers=bob)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "instance_not_found"
    assert client.get("/__api__/instances", headers=bob).get_json() == []
    assert store.get_instance("hello", "hello") is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/__api__/instances"), ("POST", "/__health__"), ("PUT", "/__api__/whoami")],
)
def test_405_for_the_wrong_verb_on_server_routes(
    client: FlaskClient, auth: dict[str, str], method: str, path: str
) -> None:
    response = client.open(path, method=method, headers=auth)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_405_for_the_wrong_verb_on_a_package_route(
    client: FlaskClient, hello: str, auth: dict[str, str]
) -> None:
    response = client.delete(f"{hello}/say_hello", headers=auth)
    assert response.status_code == 405
    assert error_of(response)["details"] == {"allowed": ["GET"]}


# --- 409 ---------------------------------------------------------------------------------------


def test_409_for_a_conflicting_use(client: FlaskClient, hello: str, auth: dict[str, str]) -> None:
    config = client.post(
        "/__api__/instances",
        json={"package": "hello", "config": {"greeting": "Yo"}},
        headers=auth,
    )
    assert config.status_code == 409
    assert error_of(config)["details"]["differing"] == ["greeting"]
    version = client.post(
        "/__api__/instances", json={"package": "hello", "version": "3"}, headers=auth
    )
    assert version.status_code == 409
    assert "3" in error_of(version)["message"]


def test_409_for_another_users_workspace_or_handle(
    client: FlaskClient, store: Store, hello: str
) -> None:
    bob = {"Authorization": f"Bearer {store.create_key('bob')[1]}"}
    workspace = client.post(
        "/__api__/instances",
        json={"package": "hello", "instance": "bobs", "workspace": "hello"},
        headers=bob,
    )
    assert workspace.status_code == 409
    assert error_of(workspace)["code"] == "workspace_taken"
    assert "local" not in workspace.get_data(as_text=True)  # says nothing about the owner
    handle = client.post("/__api__/instances", json={"package": "hello"}, headers=bob)
    assert handle.status_code == 409
    assert error_of(handle)["code"] == "instance_conflict"
    assert store.list_instances("bob") == []


def test_409_for_an_instance_whose_init_failed(
    client: FlaskClient, auth: dict[str, str], tmp_path: Path
) -> None:
    body = {"package": "flaky", "config": {"marker": str(tmp_path / "m")}}
    first = client.post("/__api__/instances", json=body, headers=auth)
    assert first.status_code == 500
    assert error_of(first)["code"] == "instance_init_failed"
    for path in ("/flaky/flaky/status", "/flaky/flaky/__openapi__"):
        response = client.get(path, headers=auth)
        assert response.status_code == 409, path
        assert error_of(response)["code"] == "instance_init_failed"
    assert client.post("/__api__/instances", json=body, headers=auth).status_code == 200
    assert client.get("/flaky/flaky/status", headers=auth).get_json() == {"ready": True}


# --- 413 ---------------------------------------------------------------------------------------


def test_413_above_max_body(runtime: Runtime, auth: dict[str, str]) -> None:
    client = create_app(runtime, max_body=200).test_client()
    made = client.post("/__api__/instances", json={"package": "hello"}, headers=auth)
    assert made.status_code == 200
    small = client.post("/hello/hello/echo", json={"a": "x" * 100}, headers=auth)
    assert small.status_code == 200
    for kwargs in ({"json": {"a": "x" * 300}}, {"data": {"a": "x" * 300}}):
        big = client.post("/hello/hello/echo", headers=auth, **kwargs)  # type: ignore[arg-type]
        assert big.status_code == 413
        error = error_of(big)
        assert error["code"] == "payload_too_large"
        assert "200" in error["message"]


def test_the_default_body_limit_is_10_mib(app: Flask) -> None:
    assert DEFAULT_MAX_BODY == 10 * 1024 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] == DEFAULT_MAX_BODY


# --- 422 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({}, "package"),
        ({"package": 5}, "package"),
        ({"package": "hello", "config": "x"}, "config"),
        ({"package": "hello", "config": {"greting": "x"}}, "greting"),
        ({"package": "hello", "instance": "UPPER"}, "UPPER"),
    ],
)
def test_422_for_a_bad_use(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], said: str
) -> None:
    response = client.post("/__api__/instances", json=body, headers=auth)
    assert response.status_code == 422
    assert said in error_of(response)["message"]


# --- 500 ---------------------------------------------------------------------------------------


def test_500_in_a_method_has_an_id_and_no_text(
    client: FlaskClient, hello: str, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = client.post(f"{hello}/crash", headers=auth)
    assert response.status_code == 500
    error = error_of(response)
    assert b"SECRET-CRASH-DETAIL" not in response.data
    assert error["details"]["error_id"] in caplog.text
    assert "SECRET-CRASH-DETAIL" in caplog.text


def test_500_outside_a_method_has_an_id_and_no_text(
    client: FlaskClient,
    runtime: Runtime,
    hello: str,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SECRET-SERVER-DETAIL")

    monkeypatch.setattr(runtime, "invoke", broken)
    with caplog.at_level(logging.ERROR, logger="dockyard.server"):
        response = client.post(f"{hello}/do_something", headers=auth)
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    error_id = error["details"]["error_id"]
    assert error_id in error["message"]
    assert b"SECRET-SERVER-DETAIL" not in response.data
    assert error_id in caplog.text
    assert "SECRET-SERVER-DETAIL" in caplog.text


# --- management API ----------------------------------------------------------------------------


def test_management_api_round_trip(client: FlaskClient, auth: dict[str, str]) -> None:
    made = client.post(
        "/__api__/instances",
        json={"package": "hello", "instance": "mine", "workspace": "team"},
        headers=auth,
    )
    record = made.get_json()
    assert record["invocation_url"] == "http://localhost/team/mine/"
    assert (record["workspace"], record["handle"], record["owner"]) == ("team", "mine", "local")
    assert client.get("/__api__/instances/team/mine", headers=auth).get_json() == record
    assert client.get("/__api__/instances", headers=auth).get_json() == [record]
    form = client.post(
        "/__api__/instances",
        data={"package": "hello", "instance": "mine", "workspace": "team"},
        headers=auth,
    )
    assert form.get_json() == record  # a form body works too
    deleted = client.delete("/__api__/instances/team/mine", headers=auth)
    assert deleted.get_json() == {"deleted": True}
    assert client.get("/__api__/instances", headers=auth).get_json() == []


# --- hooks -------------------------------------------------------------------------------------


class Recorder:
    """Records every hook call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def dockyard_app_created(self, app: Any) -> None:
        self.calls.append(("app_created", app))

    @hookimpl
    def dockyard_instance_created(self, instance: Any) -> None:
        self.calls.append(("instance_created", instance.context.instance_handle))

    @hookimpl
    def dockyard_before_invoke(self, instance: Any, request: Any) -> None:
        context = request.context
        self.calls.append(
            ("before", (request.invocation.invocation_path, context.user, context.request_id))
        )

    @hookimpl
    def dockyard_after_invoke(self, instance: Any, request: Any, response: Any) -> None:
        self.calls.append(("after", (request.invocation.invocation_path, response.status)))


def test_the_server_fires_the_app_and_invoke_hooks(store: Store, kit: ModuleType, key: str) -> None:
    recorder = Recorder()
    runtime = Runtime(store, Engine(hooks=[recorder]), packages={"hello": kit.Hello})
    app = create_app(runtime)
    assert recorder.calls == [("app_created", app)]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}", "X-Request-Id": "rid-9"}
    client.post(
        "/__api__/instances", json={"package": "hello", "instance": "hooked"}, headers=headers
    )
    recorder.calls.clear()
    assert client.post("/hooked/hooked/do_something", json={}, headers=headers).status_code == 200
    assert client.post("/hooked/hooked/crash", headers=headers).status_code == 500
    assert recorder.calls == [
        ("before", ("/do_something", "local", "rid-9")),
        ("after", ("/do_something", 200)),
        ("before", ("/crash", "local", "rid-9")),
        ("after", ("/crash", 500)),
    ]


class Gatekeeper:
    """Refuses every call to /do_something."""

    @hookimpl
    def dockyard_before_invoke(self, instance: Any, request: Any) -> None:
        from dockyard import DockyardError

        if request.invocation.invocation_path == "/do_something":
            raise DockyardError("closed today", code="closed", status=403)


def test_a_before_invoke_hook_can_refuse_a_call_over_http(
    store: Store, kit: ModuleType, key: str
) -> None:
    runtime = Runtime(store, Engine(hooks=[Gatekeeper()]), packages={"hello": kit.Hello})
    client = create_app(runtime).test_client()
    headers = {"Authorization": f"Bearer {key}"}
    client.post("/__api__/instances", json={"package": "hello"}, headers=headers)
    refused = client.post("/hello/hello/do_something", headers=headers)
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "closed"
    assert client.get("/hello/hello/ping").data == b"pong"


# --- the request as packages see it ----------------------------------------------------------


def test_packages_see_headers_without_the_callers_credentials(
    client: FlaskClient, hello: str, auth: dict[str, str]
) -> None:
    response = client.get(
        f"{hello}/headers", headers={**auth, "X-Probe": "p1", "Cookie": "session=secret"}
    )
    assert response.status_code == 200
    seen = response.get_json()
    assert seen["all"]["X-Probe"] == "p1"
    assert seen["x_probe_lowercase"] == "p1"  # names are case-insensitive
    assert seen["has_authorization"] is False
    assert not {"Authorization", "Cookie"} & set(seen["all"])
    assert auth["Authorization"].split()[1] not in json.dumps(seen)


# --- the fast path and Flask answer alike -----------------------------------------------------

ODD_REQUESTS = [
    ("POST", "/hello/hello/do_something"),
    ("GET", "/hello/hello/say_hello?name=Ann"),
    ("POST", "/hello/hello/do_something/"),
    ("POST", "/hello/hello//do_something"),
    ("POST", "/hello//hello/do_something"),
    ("POST", "//hello/hello/do_something"),
    ("POST", "/hello/hello/a//b"),
    ("POST", "/hello/hello/__openapi__"),
    ("GET", "/hello/hello/__openapi__"),
    ("POST", "/__api__/instances/hello/hello"),
    ("POST", "/__x__/hello/do_something"),
    ("POST", "/nobody/nothing/do_something"),
    ("HEAD", "/hello/hello/say_hello"),
    ("OPTIONS", "/hello/hello/say_hello"),
    ("PUT", "/hello/hello/do_something"),
    ("GET", "/hello/hello/caf%C3%A9"),
    ("POST", "/hello/hello/%2e%2e/x"),
]


@pytest.mark.parametrize(("verb", "path"), ODD_REQUESTS)
def test_fast_path_and_flask_answer_every_request_alike(
    runtime: Runtime, auth: dict[str, str], verb: str, path: str
) -> None:
    fast = create_app(runtime)
    flask = create_app(runtime)
    flask.before_request(lambda: None)
    fast.test_client().post("/__api__/instances", json={"package": "hello"}, headers=auth)
    answers = []
    for app in (fast, flask):
        response = app.test_client().open(path, method=verb, headers=auth, json={"times": 2})
        headers = {k: v for k, v in response.headers.items() if k != "X-Request-Id"}
        answers.append((response.status_code, response.data, headers))
    assert answers[0] == answers[1]


def test_the_fast_path_steps_aside_for_rules_added_later(
    runtime: Runtime, auth: dict[str, str]
) -> None:
    runtime.use("local", "hello")
    plain = create_app(runtime).test_client()
    assert plain.post("/hello/hello/metrics", headers=auth).status_code == 404
    app = create_app(runtime)  # a dockyard_app_created hook could do this
    app.add_url_rule("/hello/hello/metrics", "metrics", lambda: "42", methods=["POST"])
    client = app.test_client()
    assert client.post("/hello/hello/metrics", headers=auth).data == b"42"
    assert client.post("/hello/hello/do_something", headers=auth).get_json() == {"done": 1}


def test_the_fast_path_steps_aside_for_request_signals(
    runtime: Runtime, auth: dict[str, str]
) -> None:
    from flask import request_started

    app = create_app(runtime)
    seen: list[str] = []

    def started(sender: Any, **extra: Any) -> None:
        seen.append("started")

    client = app.test_client()
    client.post("/__api__/instances", json={"package": "hello"}, headers=auth)
    seen.clear()
    with request_started.connected_to(started, app):
        assert client.post("/hello/hello/do_something", headers=auth).status_code == 200
    assert seen == ["started"]
