"""`Task` and `TaskState`: what ``invoke_later`` returns, and the contract of whatever
runs tasks (`TaskScheduler`).

A `Task` is a plain pydantic model (it travels as JSON: a route may return it) that can
be bound to something able to look it up again; bound, ``refresh``, ``wait`` and
``cancel`` work. ``invoke_later`` returns bound tasks, and so does the client.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from dockyard.core.errors import DockyardError

__all__ = [
    "MAX_DELAY_MS",
    "Task",
    "TaskError",
    "TaskLookup",
    "TaskScheduler",
    "TaskState",
    "TaskWaitTimeout",
]

#: The longest ``delay_ms`` a task may be scheduled with: ten years (a run-after time
#: must stay a date the store can hold).
MAX_DELAY_MS = 10 * 365 * 24 * 60 * 60 * 1000


class TaskState(str, enum.Enum):
    """Where a task is in its life."""

    WAITING = "waiting"  # for its time, its dependencies, or a worker
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        """Whether the task will not change any more."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)


class TaskError(BaseModel):
    """Why a task failed: the error's code and message (as an HTTP error would say)."""

    code: str
    message: str


class TaskWaitTimeout(DockyardError, TimeoutError):
    """`Task.wait` gave up before the task finished."""

    default_code = "task_wait_timeout"
    default_status = 504


class TaskLookup(Protocol):
    """Looks tasks up again (what a bound `Task` refreshes and cancels through)."""

    def get_task(self, task_id: str) -> Task:
        """The task's current state."""

    def cancel_task(self, task_id: str) -> Task:
        """Cancel it (waiting tasks only); its state after that."""


class TaskScheduler(TaskLookup, Protocol):
    """Schedules tasks on one instance (what the runtime attaches to an instance)."""

    def schedule(
        self,
        *,
        verb: str,
        method: str,
        arguments: Mapping[str, Any],
        wait_on: Sequence[str],
        delay_ms: int,
        max_attempts: int,
    ) -> Task:
        """Persist a new task and return it."""


class Task(BaseModel):
    """A background task: a method of one instance, run later by a worker.

    Attributes:
        id: its id (``get_task(id)`` finds it again).
        state: a `TaskState`.
        method: the route path it calls (``"/greet"``); verb: its verb.
        arguments: the (validated) arguments it is called with.
        output: the method's return value as JSON data (a str for text), once succeeded.
        mime_type: the output's type.
        error: code and message, once failed or cancelled (a retried attempt's last
            error while it waits to run again).
        wait_on: ids of the tasks it waits on.
        attempts: how many times it started; max_attempts: how many it may (1 + retries).
        created_at, run_after (earliest start), started_at (latest), finished_at.
    """

    model_config = ConfigDict(frozen=False)

    id: str
    state: TaskState
    method: str
    verb: str = "POST"
    arguments: dict[str, Any] = Field(default_factory=dict)
    output: Any = None
    mime_type: str | None = None
    error: TaskError | None = None
    wait_on: list[str] = Field(default_factory=list)
    attempts: int = 0
    max_attempts: int = 1
    created_at: datetime
    run_after: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    _lookup: TaskLookup | None = PrivateAttr(default=None)

    def bind(self, lookup: TaskLookup) -> Task:
        """Attach what ``refresh``/``wait``/``cancel`` go through; returns the task."""
        self._lookup = lookup
        return self

    def _bound(self) -> TaskLookup:
        if self._lookup is None:
            raise DockyardError(
                f"task {self.id} is not bound to an instance",
                code="task_unbound",
                suggestion="get it with instance.get_task(id) (client) to refresh or wait",
            )
        return self._lookup

    def _update(self, other: Task) -> Task:
        for name in type(self).model_fields:
            setattr(self, name, getattr(other, name))
        return self

    def refresh(self) -> Task:
        """Read the task's current state into this object; returns it."""
        return self._update(self._bound().get_task(self.id))

    def cancel(self) -> Task:
        """Cancel the task (only while it waits); returns it, refreshed.

        :raises TaskStateError: it is running or finished (409).
        """
        return self._update(self._bound().cancel_task(self.id))

    def wait(self, timeout: float | None = 60.0, poll: float = 0.02) -> Task:
        """Wait until the task is done (succeeded, failed or cancelled); returns it.

        :param timeout: seconds to wait at most (None: for ever).
        :param poll: seconds between looks, growing to 0.5 s for a long wait.
        :raises TaskWaitTimeout: it is not done after ``timeout`` seconds.
        """
        lookup = self._bound()
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = poll
        while not self.state.done:
            if deadline is not None and time.monotonic() >= deadline:
                raise TaskWaitTimeout(
                    f"task {self.id} is still {self.state.value} after {timeout} s",
                    suggestion="wait longer, or check that a worker runs (dockyard serve, "
                    "dockyard worker, or an embedded client with task workers)",
                    details={"state": self.state.value},
                )
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, 0.5)
            self._update(lookup.get_task(self.id))
        return self

    def result(self, timeout: float | None = 60.0) -> Any:
        """Wait, then return the output; raise the task's error if it did not succeed.

        :raises DockyardError: with the task's error code and message.
        """
        self.wait(timeout)
        if self.state is TaskState.SUCCEEDED:
            return self.output
        error = self.error or TaskError(code="task_failed", message=f"task {self.id} failed")
        raise DockyardError(f"task {self.id} {self.state.value}: {error.message}", code=error.code)
