"""Tests for dockyard.core.task: the `Task` model, `TaskState` and waiting."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest

from dockyard import DockyardError, Task, TaskState
from dockyard.core.task import TaskError, TaskWaitTimeout


def make(task_id: str = "t1", state: TaskState = TaskState.WAITING, **fields: Any) -> Task:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    return Task(id=task_id, state=state, method="/greet", created_at=now, run_after=now, **fields)


class FakeLookup:
    """A `TaskLookup` over a script: ``get_task`` returns the next state (the last one
    for ever after), ``cancel_task`` returns the task cancelled."""

    def __init__(self, *states: TaskState, **done: Any) -> None:
        self.states = list(states)
        self.done = done
        self.gets = 0
        self.cancels: list[str] = []

    def get_task(self, task_id: str) -> Task:
        state = self.states[min(self.gets, len(self.states) - 1)]
        self.gets += 1
        return make(task_id, state, **(self.done if state.done else {}))

    def cancel_task(self, task_id: str) -> Task:
        self.cancels.append(task_id)
        return make(
            task_id, TaskState.CANCELLED, error=TaskError(code="cancelled", message="cancelled")
        )


@pytest.mark.parametrize(
    ("state", "done"),
    [
        (TaskState.WAITING, False),
        (TaskState.RUNNING, False),
        (TaskState.SUCCEEDED, True),
        (TaskState.FAILED, True),
        (TaskState.CANCELLED, True),
    ],
)
def test_state_done(state: TaskState, done: bool) -> None:
    assert state.done is done
    assert TaskState(state.value) is state


def test_a_task_round_trips_as_json() -> None:
    task = make(arguments={"name": "Ted"}, wait_on=["a", "b"], max_attempts=4)
    again = Task.model_validate_json(task.model_dump_json())
    assert again == task
    data = task.model_dump(mode="json")
    assert data["state"] == "waiting"
    assert data["created_at"] == "2030-01-01T00:00:00Z"
    assert data["error"] is None


def test_an_unbound_task_says_how_to_bind_it() -> None:
    task = make()
    for action in (task.refresh, task.cancel, task.wait, task.result):
        with pytest.raises(DockyardError) as raised:
            action()
        assert raised.value.code == "task_unbound"
        assert "t1" in raised.value.message
        assert raised.value.suggestion is not None
        assert "get_task" in raised.value.suggestion


def test_refresh_reads_the_current_state_into_the_same_object() -> None:
    lookup = FakeLookup(TaskState.SUCCEEDED, output="Hello!", attempts=1)
    task = make().bind(lookup)
    assert task.refresh() is task
    assert task.state is TaskState.SUCCEEDED
    assert task.output == "Hello!"
    assert task.attempts == 1
    assert lookup.gets == 1


def test_cancel_goes_through_the_lookup() -> None:
    lookup = FakeLookup(TaskState.WAITING)
    task = make("t9").bind(lookup)
    assert task.cancel() is task
    assert lookup.cancels == ["t9"]
    assert task.state is TaskState.CANCELLED


def test_wait_polls_until_done() -> None:
    lookup = FakeLookup(TaskState.WAITING, TaskState.RUNNING, TaskState.SUCCEEDED, output=3)
    task = make().bind(lookup)
    assert task.wait(timeout=5, poll=0.001) is task
    assert task.state is TaskState.SUCCEEDED
    assert task.output == 3
    assert lookup.gets == 3


def test_wait_on_a_done_task_does_not_look_it_up() -> None:
    lookup = FakeLookup(TaskState.RUNNING)
    task = make(state=TaskState.FAILED).bind(lookup)
    assert task.wait(timeout=0) is task
    assert lookup.gets == 0


def test_wait_times_out() -> None:
    task = make().bind(FakeLookup(TaskState.RUNNING))
    started = time.monotonic()
    with pytest.raises(TaskWaitTimeout) as raised:
        task.wait(timeout=0.2, poll=0.01)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2.0
    error = raised.value
    assert isinstance(error, TimeoutError)
    assert (error.code, error.status) == ("task_wait_timeout", 504)
    assert error.details == {"state": "running"}
    assert "t1" in error.message
    assert task.state is TaskState.RUNNING


def test_result_returns_the_output() -> None:
    task = make().bind(FakeLookup(TaskState.SUCCEEDED, output={"x": 1}))
    assert task.result(timeout=5) == {"x": 1}


def test_result_raises_the_tasks_error() -> None:
    error = TaskError(code="dependency_failed", message="task a, which it waited on, failed")
    task = make().bind(FakeLookup(TaskState.FAILED, error=error))
    with pytest.raises(DockyardError) as raised:
        task.result(timeout=5)
    assert raised.value.code == "dependency_failed"
    assert "t1" in raised.value.message
    assert "task a, which it waited on, failed" in raised.value.message


def test_result_of_a_failed_task_without_an_error() -> None:
    task = make(state=TaskState.FAILED).bind(FakeLookup(TaskState.FAILED))
    with pytest.raises(DockyardError) as raised:
        task.result()
    assert raised.value.code == "task_failed"


def test_result_times_out_like_wait() -> None:
    task = make().bind(FakeLookup(TaskState.WAITING))
    with pytest.raises(TaskWaitTimeout):
        task.result(timeout=0.05)
