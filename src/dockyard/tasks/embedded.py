"""`InstanceTasks`: one instance's door to the task queue, and `Task` from a record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from dockyard.core.errors import ArgumentError
from dockyard.core.task import Task, TaskError, TaskLookup, TaskState
from dockyard.store.tasks import TaskQueue, TaskRecord

__all__ = ["InstanceTasks", "task_from_record"]


def task_from_record(record: TaskRecord, lookup: TaskLookup | None = None) -> Task:
    """The public `Task` for a stored task (bound to ``lookup`` if given)."""
    error = None
    if record.error_code is not None:
        error = TaskError(code=record.error_code, message=record.error_message or "")
    task = Task(
        id=record.id,
        state=TaskState(record.state),
        method=record.method,
        verb=record.verb,
        arguments=record.arguments,
        output=record.output,
        mime_type=record.mime_type,
        error=error,
        wait_on=list(record.wait_on),
        attempts=record.attempts,
        max_attempts=record.max_attempts,
        created_at=record.created_at,
        run_after=record.run_after,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )
    return task.bind(lookup) if lookup is not None else task


class InstanceTasks:
    """Schedules and looks up the tasks of one instance (a `TaskScheduler`).

    :param queue: the store's task queue.
    :param instance_id: the instance's id in the store.
    :param user: who schedules (recorded on each task; tasks run as the instance's owner).
    """

    def __init__(self, queue: TaskQueue, instance_id: int, user: str | None) -> None:
        self._queue = queue
        self._instance_id = instance_id
        self._user = user

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
        """Persist a new task of this instance."""
        try:
            plain = to_jsonable_python(dict(arguments))
        except PydanticSerializationError as exc:
            raise ArgumentError(
                f"invoke_later({method!r}): arguments must be JSON data to be stored: {exc}",
                suggestion="pass str, numbers, bools, lists, dicts or pydantic models",
            ) from None
        record = self._queue.create(
            instance_id=self._instance_id,
            user=self._user,
            verb=verb,
            method=method,
            arguments=plain,
            wait_on=wait_on,
            delay_ms=delay_ms,
            max_attempts=max_attempts,
        )
        return task_from_record(record, self)

    def get_task(self, task_id: str) -> Task:
        """The task ``task_id`` of this instance.

        :raises TaskNotFoundError: not a task of this instance.
        """
        return task_from_record(self._queue.get(task_id, self._instance_id), self)

    def cancel_task(self, task_id: str) -> Task:
        """Cancel a waiting task of this instance.

        :raises TaskStateError: it is running or done.
        """
        return task_from_record(self._queue.cancel(task_id, self._instance_id), self)
