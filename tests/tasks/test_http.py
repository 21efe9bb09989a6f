"""Background tasks over REAL HTTP: a ``dockyard serve tests/tasks/jobs.py:Jobs``
subprocess (granian, 2 task threads) on a free loopback port; every check goes through
a socket (raw HTTP or the client with a URL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from dockyard import (
    ArgumentError,
    DockyardError,
    MethodNotAllowedError,
    RouteNotFoundError,
    Task,
    TaskState,
)
from dockyard.client import Dockyard
from dockyard.core.task import TaskWaitTimeout
from dockyard.store.tasks import TaskNotFoundError, TaskStateError

if TYPE_CHECKING:
    from conftest import Reply, Server

WAIT = 30.0
TASK_FIELDS = {
    "id",
    "state",
    "method",
    "verb",
    "arguments",
    "output",
    "mime_type",
    "error",
    "wait_on",
    "attempts",
    "max_attempts",
    "created_at",
    "run_after",
    "started_at",
    "finished_at",
}


def fresh(prefix: str = "jobs") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def server(serve: Callable[..., Server]) -> Server:
    return serve("--task-workers", "2")


@pytest.fixture(scope="module")
def bob(server: Server) -> str:
    """An API key of a second user, ``bob``, made with the CLI on the server's home."""
    done = server.cli("keys", "create", "--user", "bob", "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["user"] == "bob"
    key: str = created["key"]
    return key


@pytest.fixture
def base(server: Server) -> str:
    """The path of a new instance of ``jobs`` (``/ws/handle/``), made over HTTP."""
    handle = fresh()
    reply = server.request("POST", "/__api__/instances", {"package": "jobs", "instance": handle})
    assert reply.status == 200, reply.body
    return f"/{handle}/{handle}/"


def error_of(reply: Reply) -> dict[str, Any]:
    assert reply.headers["content-type"].startswith("application/json"), reply
    error: dict[str, Any] = reply.json()["error"]
    return error


def wait_raw(server: Server, base: str, task_id: str) -> dict[str, Any]:
    """Wait for a task through the client (a real HTTP poll), then read it raw."""
    handle = base.strip("/").split("/")[1]
    with Dockyard(url=server.url, api_key=server.key, task_workers=0) as client:
        client.use("jobs", handle).get_task(task_id).wait(WAIT)
    reply = server.request("GET", f"{base}__tasks__/{task_id}")
    assert reply.status == 200, reply.body
    data: dict[str, Any] = reply.json()
    return data


# --- the client over HTTP ----------------------------------------------------------------


def test_seed_pattern_through_the_client_over_http(server: Server) -> None:
    with Dockyard(url=server.url, api_key=server.key, task_workers=0) as client:
        instance = client.use("jobs", fresh())
        result = instance.invoke("start", name="Ted")
        assert result["state"] in ("waiting", "running", "succeeded")
        task = instance.get_task(result).wait(WAIT)
        assert task.state is TaskState.SUCCEEDED
        assert task.output == "Hello, Ted!"
        first = instance.get_task(task.wait_on[0])
        assert first.state is TaskState.SUCCEEDED
        assert first.output == "Hello, Ted!"


def test_context_task_id_over_http(server: Server) -> None:
    with Dockyard(url=server.url, api_key=server.key, task_workers=0) as client:
        instance = client.use("jobs", fresh())
        task = instance.invoke_later("whoami")
        assert isinstance(task, Task)
        assert task.result(WAIT) == task.id


def test_client_errors_over_http_are_the_same_classes(server: Server) -> None:
    with Dockyard(url=server.url, api_key=server.key, task_workers=0) as client:
        instance = client.use("jobs", fresh())
        with pytest.raises(RouteNotFoundError):
            instance.invoke_later("nope")
        with pytest.raises(MethodNotAllowedError):
            instance.invoke_later("greet", "GET", arguments={"name": "x"})
        with pytest.raises(ArgumentError) as missing:
            instance.invoke_later("greet", arguments={})
        assert "name" in str(missing.value)
        with pytest.raises(ArgumentError):
            instance.invoke_later("greet", arguments={"name": "x"}, delay_ms=-5)
        with pytest.raises(TaskNotFoundError):
            instance.invoke_later("greet", wait_on_tasks=["0" * 32], arguments={"name": "x"})
        with pytest.raises(TaskNotFoundError):
            instance.get_task("0" * 32)

        delayed = instance.invoke_later("greet", arguments={"name": "x"}, delay_ms=10_000)
        with pytest.raises(TaskWaitTimeout):
            delayed.wait(timeout=0.3)
        assert delayed.cancel().state is TaskState.CANCELLED
        with pytest.raises(TaskStateError) as conflict:
            delayed.cancel()
        assert conflict.value.status == 409
        with pytest.raises(DockyardError) as cancelled:
            delayed.result()
        assert cancelled.value.code == "cancelled"


# --- raw HTTP ----------------------------------------------------------------------------


def test_schedule_and_get_a_task_over_raw_http(server: Server, base: str) -> None:
    reply = server.request(
        "POST", f"{base}__tasks__", {"method": "greet", "arguments": {"name": "Raw"}}
    )
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    scheduled = reply.json()
    assert set(scheduled) == TASK_FIELDS
    assert scheduled["method"] == "/greet"
    assert scheduled["verb"] == "POST"
    assert scheduled["arguments"] == {"name": "Raw"}

    done = wait_raw(server, base, scheduled["id"])
    assert set(done) == TASK_FIELDS
    assert done["state"] == "succeeded"
    assert done["output"] == "Hello, Raw!"
    assert done["mime_type"] == "text/plain"
    assert done["attempts"] == 1
    assert done["max_attempts"] == 1
    assert done["error"] is None
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]

    # Waiting on it, with a delay, and a failing one.
    then = server.request(
        "POST",
        f"{base}__tasks__",
        {
            "method": "append",
            "arguments": {"item": "x"},
            "wait_on_tasks": [scheduled["id"]],
            "delay_ms": 100,
        },
    ).json()
    assert then["wait_on"] == [scheduled["id"]]
    assert wait_raw(server, base, then["id"])["output"] == 1
    boom = server.request("POST", f"{base}__tasks__", {"method": "boom"}).json()
    failed = wait_raw(server, base, boom["id"])
    assert failed["state"] == "failed"
    assert failed["error"]["code"] == "internal_error"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"method": "nope"}, 404, "not_found"),
        ({"method": "greet", "verb": "GET", "arguments": {"name": "x"}}, 405, "method_not_allowed"),
        ({"method": "greet", "arguments": {}}, 422, None),
        ({"method": "greet", "arguments": {"name": "x"}, "delay_ms": -1}, 422, None),
        ({"method": "greet", "arguments": {"name": "x"}, "delay_ms": 1.5}, 422, None),
        ({"method": "greet", "arguments": {"name": "x"}, "wait_on_tasks": ["0" * 32]}, 404, None),
        ({"arguments": {"name": "x"}}, 422, "invalid_arguments"),
        ({"method": "greet", "arguments": ["x"]}, 422, "invalid_arguments"),
        ({"method": "greet", "arguments": {"name": "x"}, "wait_on_tasks": "abc"}, 422, None),
    ],
)
def test_scheduling_errors_over_raw_http(
    server: Server, base: str, body: dict[str, Any], status: int, code: str | None
) -> None:
    reply = server.request("POST", f"{base}__tasks__", body)
    assert reply.status == status, reply.body
    error = error_of(reply)
    if code is not None:
        assert error["code"] == code
    if status == 404 and "wait_on_tasks" in body:
        assert error["code"] == "task_not_found"


def test_unknown_task_over_raw_http(server: Server, base: str) -> None:
    for method, path in (("GET", "x" * 32), ("POST", f"{'x' * 32}/cancel")):
        reply = server.request(method, f"{base}__tasks__/{path}", {} if method == "POST" else None)
        assert reply.status == 404, reply.body
        assert error_of(reply)["code"] == "task_not_found"


def test_cancel_over_raw_http(server: Server, base: str) -> None:
    delayed = server.request(
        "POST",
        f"{base}__tasks__",
        {"method": "append", "arguments": {"item": "never"}, "delay_ms": 10_000},
    ).json()
    dependent = server.request(
        "POST",
        f"{base}__tasks__",
        {"method": "append", "arguments": {"item": 1}, "wait_on_tasks": [delayed["id"]]},
    ).json()
    reply = server.request("POST", f"{base}__tasks__/{delayed['id']}/cancel", {})
    assert reply.status == 200, reply.body
    cancelled = reply.json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["error"]["code"] == "cancelled"
    got = server.request("GET", f"{base}__tasks__/{dependent['id']}").json()
    assert got["state"] == "failed"
    assert got["error"]["code"] == "dependency_failed"
    assert delayed["id"] in got["error"]["message"]

    again = server.request("POST", f"{base}__tasks__/{delayed['id']}/cancel", {})
    assert again.status == 409
    assert error_of(again)["code"] == "task_state_conflict"


def test_another_users_key_sees_no_tasks(server: Server, base: str, bob: str) -> None:
    delayed = server.request(
        "POST",
        f"{base}__tasks__",
        {"method": "append", "arguments": {"item": "mine"}, "delay_ms": 10_000},
    ).json()
    task_path = f"{base}__tasks__/{delayed['id']}"
    for method, path, body in (
        ("GET", task_path, None),
        ("POST", f"{task_path}/cancel", {}),
        ("POST", f"{base}__tasks__", {"method": "greet", "arguments": {"name": "bob"}}),
    ):
        reply = server.request(method, path, body, key=bob)
        assert reply.status == 404, (method, path, reply.body)
    # Not cancelled by bob's attempt.
    assert server.request("GET", task_path).json()["state"] == "waiting"

    # bob's own instance cannot reach the task either (nor wait on it).
    mine = fresh("bob")
    made = server.request(
        "POST", "/__api__/instances", {"package": "jobs", "instance": mine}, key=bob
    )
    assert made.status == 200, made.body
    bobs = f"/{mine}/{mine}/"
    assert server.request("GET", f"{bobs}__tasks__/{delayed['id']}", key=bob).status == 404
    cancel = server.request("POST", f"{bobs}__tasks__/{delayed['id']}/cancel", {}, key=bob)
    assert cancel.status == 404
    waiting = server.request(
        "POST",
        f"{bobs}__tasks__",
        {"method": "greet", "arguments": {"name": "b"}, "wait_on_tasks": [delayed["id"]]},
        key=bob,
    )
    assert waiting.status == 404
    assert error_of(waiting)["code"] == "task_not_found"
    # No key at all: 401.
    assert server.request("GET", task_path, key=None).status == 401
    server.request("POST", f"{task_path}/cancel", {})
