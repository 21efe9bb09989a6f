"""How background tasks (``invoke_later``) behave, whatever backend runs them.

One suite, parametrised by the `backend` fixture: each backend gives clients (several may
share its state, e.g. to close one and reopen) and fresh instances of the ``Jobs``
package (``jobs.py``). Every check waits for real (``Task.wait`` with generous
timeouts), never sleeps where a wait works.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

from dockyard import (
    ArgumentError,
    DockyardError,
    MethodNotAllowedError,
    RouteNotFoundError,
    Task,
    TaskState,
)
from dockyard.client import Dockyard, PackageInstance
from dockyard.store.tasks import TaskNotFoundError, TaskStateError

WAIT = 30.0  # seconds: generous, a wait returns as soon as the task is done


def fresh(prefix: str = "jobs") -> str:
    """A handle no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``check`` until it holds (for states no ``wait`` covers, e.g. "running")."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# --- backends ----------------------------------------------------------------------------


class EmbeddedBackend:
    """Tasks in the store's SQL tables (`TaskQueue`), run by the worker threads of the
    embedded client (``Dockyard(home=..., task_workers=2)``)."""

    def __init__(self, jobs: ModuleType, root: Path, request: pytest.FixtureRequest) -> None:
        self.jobs = jobs
        self.home = root / "embedded-home"
        self.clients: list[Dockyard] = []
        self.client = self.open()

    def open(self) -> Dockyard:
        """A new client on the same state (its own task workers)."""
        client = Dockyard(home=self.home, task_workers=2)
        client.runtime.packages["jobs"] = self.jobs.Jobs
        self.clients.append(client)
        return client

    def instance(
        self, client: Dockyard | None = None, handle: str | None = None
    ) -> PackageInstance:
        """A (new, unless ``handle`` names one) instance of ``jobs``."""
        return (client or self.client).use("jobs", handle or fresh())

    def task_count(self) -> int:
        """How many tasks exist (any state, any instance)."""
        return sum(self.client.runtime.store.tasks.counts().values())

    def close(self) -> None:
        for client in self.clients:
            client.close()


class RedisBackend(EmbeddedBackend):
    """The same SQL tables, with "task X may be due" messages going through RQ on a real
    Redis (``DOCKYARD_TEST_REDIS_URL``, see ``conftest.py``) to two real ``dockyard worker
    tests/tasks/jobs.py:Jobs`` processes on the same home, which run the tasks; the
    clients (``DOCKYARD_TASKS_URL`` set, ``task_workers=0``) only schedule."""

    def __init__(self, jobs: ModuleType, root: Path, request: pytest.FixtureRequest) -> None:
        url = request.getfixturevalue("redis_url")  # no Redis: skipped (failed under CI)
        start = request.getfixturevalue("redis_workers")
        request.getfixturevalue("monkeypatch").setenv("DOCKYARD_TASKS_URL", url)
        self.jobs = jobs
        self.home = root / "redis-home"
        self.clients = []
        self.client = self.open()
        # Stopped by the redis_workers fixture, after the clients close.
        self.workers = [start(self.home, ready=False) for _ in range(2)]
        for worker in self.workers:
            worker.wait_ready()

    def open(self) -> Dockyard:
        """A new client on the same state (it runs no tasks: the workers do)."""
        client = Dockyard(home=self.home, task_workers=0)
        client.runtime.packages["jobs"] = self.jobs.Jobs
        self.clients.append(client)
        return client


#: Backend name -> factory(jobs module, a tmp directory, the fixture request). One line
#: per backend.
BACKENDS: dict[str, Callable[[ModuleType, Path, pytest.FixtureRequest], EmbeddedBackend]] = {
    "embedded": EmbeddedBackend,
    "redis": RedisBackend,
}


@pytest.fixture(params=list(BACKENDS))
def backend(
    request: pytest.FixtureRequest, jobs: ModuleType, tmp_path: Path
) -> Iterator[EmbeddedBackend]:
    """A backend: ``backend.client``, ``backend.instance()``, ``backend.open()``."""
    made = BACKENDS[request.param](jobs, tmp_path, request)
    yield made
    made.close()


@pytest.fixture
def instance(backend: EmbeddedBackend) -> PackageInstance:
    """A fresh ``jobs`` instance."""
    return backend.instance()


# --- the seed pattern --------------------------------------------------------------------


def test_seed_pattern_a_task_waiting_on_a_task(instance: PackageInstance) -> None:
    returned = instance.invoke("start", name="Ted")
    # A route returning a Task answers with the task as JSON.
    assert isinstance(returned, dict)
    assert returned["state"] == "waiting"
    assert returned["method"] == "/greet"
    assert returned["arguments"] == {"name": "Ted"}
    assert len(returned["wait_on"]) == 1

    task_2 = instance.get_task(returned).wait(WAIT)
    assert task_2.id == returned["id"]
    assert task_2.state is TaskState.SUCCEEDED
    assert task_2.output == "Hello, Ted!"
    assert task_2.mime_type == "text/plain"
    assert task_2.error is None
    assert task_2.attempts == 1

    task_1 = instance.get_task(task_2.wait_on[0])
    assert task_1.state is TaskState.SUCCEEDED
    assert task_1.output == "Hello, Ted!"
    assert task_1.wait_on == []
    # task_2 started only after task_1 had finished.
    assert task_1.finished_at is not None
    assert task_2.started_at is not None
    assert task_1.finished_at <= task_2.started_at
    # The id alone finds it too; result() is the output.
    assert instance.get_task(task_2.id).result(WAIT) == "Hello, Ted!"


def test_a_task_scheduled_from_the_client(instance: PackageInstance) -> None:
    task = instance.invoke_later("greet", arguments={"name": "Ann"})
    assert isinstance(task, Task)
    assert task.state is TaskState.WAITING
    assert task.created_at == task.run_after
    assert task.result(WAIT) == "Hello, Ann!"
    assert task.state is TaskState.SUCCEEDED
    assert task.created_at <= task.started_at <= task.finished_at  # type: ignore[operator]


def test_context_task_id_inside_a_task_is_the_task_id(instance: PackageInstance) -> None:
    task = instance.invoke_later("whoami")
    assert task.result(WAIT) == task.id
    # A direct call is no task.
    assert instance.invoke("whoami") is None


def test_a_mixin_schedules_tasks_of_its_package(instance: PackageInstance) -> None:
    returned = instance.invoke("later", item="from the mixin", delay_ms=50)
    task = instance.get_task(returned).wait(WAIT)
    assert task.state is TaskState.SUCCEEDED
    assert task.method == "/append"
    assert task.output == 1
    assert instance.invoke("log", "GET") == ["from the mixin"]


# --- scheduling errors are immediate -----------------------------------------------------


def test_scheduling_errors_are_raised_at_once(
    backend: EmbeddedBackend, instance: PackageInstance
) -> None:
    before = backend.task_count()

    with pytest.raises(RouteNotFoundError) as unknown:
        instance.invoke_later("nope", arguments={"name": "x"})
    assert unknown.value.status == 404

    with pytest.raises(MethodNotAllowedError) as wrong_verb:
        instance.invoke_later("greet", "GET", arguments={"name": "x"})
    assert wrong_verb.value.status == 405

    with pytest.raises(ArgumentError) as missing:
        instance.invoke_later("greet", arguments={})
    assert missing.value.status == 422
    assert "name" in str(missing.value)

    with pytest.raises(ArgumentError) as wrong_type:
        instance.invoke_later("slow", arguments={"seconds": "a while"})
    assert wrong_type.value.status == 422
    assert "seconds" in str(wrong_type.value)

    with pytest.raises(ArgumentError) as unexpected:
        instance.invoke_later("greet", arguments={"name": "x", "shout": True})
    assert unexpected.value.status == 422
    assert "shout" in str(unexpected.value)

    for delay in (-1, 1.5, True, "100"):
        with pytest.raises(ArgumentError) as bad_delay:
            instance.invoke_later("greet", arguments={"name": "x"}, delay_ms=delay)  # type: ignore[arg-type]
        assert bad_delay.value.status == 422, delay
        assert "delay_ms" in str(bad_delay.value)

    with pytest.raises(TaskNotFoundError) as unknown_task:
        instance.invoke_later("greet", wait_on_tasks=["0" * 32], arguments={"name": "x"})
    assert unknown_task.value.status == 404
    assert unknown_task.value.code == "task_not_found"
    assert "0" * 32 in str(unknown_task.value)

    # Nothing was scheduled by any of them.
    assert backend.task_count() == before


def test_a_delay_of_zero_or_none_runs_at_once(instance: PackageInstance) -> None:
    for delay in (0, None):
        task = instance.invoke_later("greet", arguments={"name": "x"}, delay_ms=delay)
        assert task.run_after == task.created_at
        assert task.result(WAIT) == "Hello, x!"


# --- graphs ------------------------------------------------------------------------------


def test_a_chain_of_100_tasks_runs_in_order(instance: PackageInstance) -> None:
    last = instance.get_task(instance.invoke("chain", n=100)).wait(60)
    assert last.state is TaskState.SUCCEEDED
    assert last.output == 100
    assert last.arguments == {"item": 99}
    assert len(last.wait_on) == 1
    assert instance.invoke("log", "GET") == list(range(100))


def test_a_fan_in_of_50_tasks_into_one(instance: PackageInstance) -> None:
    join = instance.get_task(instance.invoke("fan_in", n=50)).wait(60)
    assert join.state is TaskState.SUCCEEDED
    assert join.output == 51
    assert len(join.wait_on) == 50
    assert len(set(join.wait_on)) == 50
    log = instance.invoke("log", "GET")
    assert log[-1] == "joined"
    assert sorted(log[:-1]) == list(range(50))
    parts = [instance.get_task(task_id) for task_id in join.wait_on]
    assert {p.state for p in parts} == {TaskState.SUCCEEDED}
    assert sorted(p.arguments["item"] for p in parts) == list(range(50))
    # All finished before the join started.
    assert join.started_at is not None
    assert all(p.finished_at is not None and p.finished_at <= join.started_at for p in parts)


def test_waiting_on_a_task_given_twice_or_already_done(instance: PackageInstance) -> None:
    first = instance.invoke_later("append", arguments={"item": "a"}).wait(WAIT)
    assert first.state is TaskState.SUCCEEDED
    # Waiting on a task that already succeeded (twice, by object and id) runs at once.
    then = instance.invoke_later("append", wait_on_tasks=[first, first.id], arguments={"item": "b"})
    assert then.wait_on == [first.id]
    assert then.result(WAIT) == 2
    assert instance.invoke("log", "GET") == ["a", "b"]


# --- delays ------------------------------------------------------------------------------


def test_a_delayed_task_does_not_start_early(instance: PackageInstance) -> None:
    task = instance.invoke_later("greet", arguments={"name": "later"}, delay_ms=600)
    assert task.run_after - task.created_at == timedelta(milliseconds=600)
    assert task.wait(WAIT).state is TaskState.SUCCEEDED
    assert task.started_at is not None
    assert task.started_at >= task.run_after
    assert (task.started_at - task.created_at).total_seconds() >= 0.55


def test_a_delay_is_persisted_across_clients(backend: EmbeddedBackend) -> None:
    first = backend.client
    instance = backend.instance(first)
    task = instance.invoke_later("append", arguments={"item": "delayed"}, delay_ms=1500)
    task_id, handle = task.id, instance.handle
    assert task.run_after - task.created_at == timedelta(milliseconds=1500)
    first.close()  # its workers stop long before the task is due

    second = backend.open()
    again = backend.instance(second, handle)
    assert again.get_task(task_id).state is TaskState.WAITING
    done = again.get_task(task_id).wait(WAIT)
    assert done.state is TaskState.SUCCEEDED
    assert done.started_at is not None
    assert done.started_at >= done.run_after
    assert again.invoke("log", "GET") == ["delayed"]


# --- failures ----------------------------------------------------------------------------


def test_a_failure_propagates_to_dependents_transitively(instance: PackageInstance) -> None:
    # Delayed a little so the dependents are scheduled while it still waits.
    boom = instance.invoke_later("boom", delay_ms=300)
    child = instance.invoke_later("greet", wait_on_tasks=[boom], arguments={"name": "c"})
    grandchild = instance.invoke_later("greet", wait_on_tasks=[child], arguments={"name": "g"})
    sibling = instance.invoke_later("greet", arguments={"name": "s"})
    both = instance.invoke_later("greet", wait_on_tasks=[sibling, boom], arguments={"name": "b"})

    assert grandchild.wait(WAIT).state is TaskState.FAILED
    boom.wait(WAIT)
    assert boom.state is TaskState.FAILED
    assert boom.error is not None
    assert boom.error.code == "internal_error"
    assert boom.attempts == 1  # a route without retries runs once

    child.refresh()
    assert child.state is TaskState.FAILED
    assert child.error is not None
    assert child.error.code == "dependency_failed"
    assert boom.id in child.error.message
    assert child.attempts == 0  # never run
    assert child.started_at is None

    assert grandchild.error is not None
    assert grandchild.error.code == "dependency_failed"
    assert child.id in grandchild.error.message
    assert grandchild.attempts == 0

    assert both.wait(WAIT).state is TaskState.FAILED
    assert both.error is not None
    assert boom.id in both.error.message
    assert sibling.wait(WAIT).state is TaskState.SUCCEEDED

    with pytest.raises(DockyardError) as raised:
        boom.result(WAIT)
    assert raised.value.code == "internal_error"

    # A task scheduled after its dependency failed fails at once, without running.
    late = instance.invoke_later("greet", wait_on_tasks=[boom], arguments={"name": "late"})
    assert late.state is TaskState.FAILED
    assert late.error is not None
    assert late.error.code == "dependency_failed"
    assert boom.id in late.error.message
    assert instance.get_task(late.id).state is TaskState.FAILED


def test_a_4xx_error_is_final_even_with_retries(instance: PackageInstance) -> None:
    task = instance.invoke_later("bad").wait(WAIT)
    assert task.state is TaskState.FAILED
    assert task.max_attempts == 4
    assert task.attempts == 1
    assert task.error is not None
    assert task.error.code == "bad_call"
    assert task.error.message == "this call can never work"
    with pytest.raises(DockyardError) as raised:
        task.result()
    assert raised.value.code == "bad_call"


def test_a_5xx_error_is_retried_until_it_succeeds(instance: PackageInstance) -> None:
    task = instance.invoke_later("flaky", arguments={"key": "k", "fails": 2})
    assert task.max_attempts == 4  # 1 + retries=3 of the route
    assert task.wait(WAIT).state is TaskState.SUCCEEDED
    assert task.attempts == 3
    assert task.output == 3
    assert instance.invoke("calls", "GET", key="k") == 3


def test_a_task_that_succeeds_on_a_retry_reports_no_error(instance: PackageInstance) -> None:
    # Regression: succeed() once kept the error of the failed attempts before it.
    task = instance.invoke_later("flaky", arguments={"key": "e", "fails": 1}).wait(WAIT)
    assert task.state is TaskState.SUCCEEDED
    assert task.error is None


def test_a_5xx_error_fails_for_good_when_attempts_run_out(instance: PackageInstance) -> None:
    task = instance.invoke_later("flaky", arguments={"key": "k", "fails": 5}).wait(WAIT)
    assert task.state is TaskState.FAILED
    assert task.attempts == 4
    assert task.error is not None
    assert task.error.code == "internal_error"
    assert instance.invoke("calls", "GET", key="k") == 4


# --- cancel ------------------------------------------------------------------------------


def test_cancel_a_waiting_task_fails_its_dependents(instance: PackageInstance) -> None:
    delayed = instance.invoke_later("append", arguments={"item": "never"}, delay_ms=5000)
    dependent = instance.invoke_later("append", wait_on_tasks=[delayed], arguments={"item": 1})

    cancelled = delayed.cancel()
    assert cancelled is delayed
    assert delayed.state is TaskState.CANCELLED
    assert delayed.error is not None
    assert delayed.error.code == "cancelled"
    assert delayed.finished_at is not None
    assert instance.get_task(delayed.id).state is TaskState.CANCELLED

    # Its dependent failed with it, at once.
    dependent.refresh()
    assert dependent.state is TaskState.FAILED
    assert dependent.error is not None
    assert dependent.error.code == "dependency_failed"
    assert delayed.id in dependent.error.message
    assert "cancelled" in dependent.error.message

    # And so does a task scheduled on it later.
    late = instance.invoke_later("append", wait_on_tasks=[delayed], arguments={"item": 2})
    assert late.state is TaskState.FAILED
    assert delayed.id in (late.error.message if late.error else "")

    # Cancelling again: it is done.
    with pytest.raises(TaskStateError) as again:
        delayed.cancel()
    assert again.value.status == 409
    assert again.value.code == "task_state_conflict"
    with pytest.raises(DockyardError) as raised:
        delayed.result(WAIT)
    assert raised.value.code == "cancelled"
    assert instance.invoke("log", "GET") == []


def test_cancel_a_finished_or_running_task_is_a_conflict(instance: PackageInstance) -> None:
    done = instance.invoke_later("greet", arguments={"name": "x"}).wait(WAIT)
    with pytest.raises(TaskStateError) as finished:
        done.cancel()
    assert finished.value.status == 409
    assert instance.get_task(done.id).state is TaskState.SUCCEEDED

    running = instance.invoke_later("slow", arguments={"seconds": 1.0})
    until(lambda: running.refresh().state is not TaskState.WAITING)
    with pytest.raises(TaskStateError) as busy:
        running.cancel()
    assert busy.value.status == 409
    assert busy.value.details == {"state": "running"}
    assert running.wait(WAIT).state is TaskState.SUCCEEDED


# --- instances keep their tasks to themselves ---------------------------------------------


def test_tasks_of_another_instance_are_not_found(backend: EmbeddedBackend) -> None:
    mine, theirs = backend.instance(), backend.instance()
    task = mine.invoke_later("append", arguments={"item": "mine"}, delay_ms=5000)

    with pytest.raises(TaskNotFoundError) as waited:
        theirs.invoke_later("append", wait_on_tasks=[task], arguments={"item": "theirs"})
    assert waited.value.status == 404
    with pytest.raises(TaskNotFoundError) as got:
        theirs.get_task(task.id)
    assert got.value.status == 404
    with pytest.raises(TaskNotFoundError):
        theirs.get_task_lookup().cancel_task(task.id)
    with pytest.raises(TaskNotFoundError):
        mine.get_task("0" * 32)

    # Still mine, untouched.
    assert mine.get_task(task.id).state is TaskState.WAITING
    task.cancel()
