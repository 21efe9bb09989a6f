"""Packages the background-task tests use (a data file, not a test module).

Loaded by path (``dockyard serve tests/tasks/jobs.py:Jobs``, or importlib in the tests),
so it imports nothing from the tests.
"""

from __future__ import annotations

import time
from typing import Any

from dockyard import DockyardError, PackageMixin, PackageService, Task, get, post


class Later(PackageMixin):
    """A mixin scheduling tasks of the package it is in."""

    @post("later")
    def later(self, item: Any, delay_ms: int = 0) -> Task:
        """Schedule the package's ``append(item)``; return the task."""
        return self.invoke_later("append", arguments={"item": item}, delay_ms=delay_ms)


class Jobs(PackageService):
    """Routes that schedule, chain, fail, retry and take their time."""

    USED_MIXIN_CLASSES = [Later]  # noqa: RUF012 (the seed API: a plain list)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_mixin(Later())

    # --- the seed pattern ---------------------------------------------------------

    @post("greet")
    def greet(self, name: str) -> str:
        """Greet someone by name."""
        return f"Hello, {name}!"

    @post("start")
    def start(self, name: str) -> Task:
        """Schedule a greeting, and a second one waiting on the first; return the second."""
        task_1 = self.invoke_later("greet", arguments={"name": name})
        task_2 = self.invoke_later("greet", wait_on_tasks=[task_1], arguments={"name": name})
        return task_2

    # --- a log in storage ---------------------------------------------------------

    @post("append")
    def append(self, item: Any) -> int:
        """Append ``item`` to the log (atomically); the log's new length."""
        log: list[Any] = self.storage.update("log", lambda v: [*v, item], default=[])
        return len(log)

    @get("log")
    def log(self) -> list[Any]:
        """The log."""
        value: list[Any] = self.storage.get("log", [])
        return value

    # --- failures and retries -----------------------------------------------------

    @post("boom")
    def boom(self) -> str:
        """An unexpected exception (a 500)."""
        raise RuntimeError("boom went the task")

    @post("bad", retries=3)
    def bad(self) -> str:
        """A deliberate client error (a 422): final, although the route allows retries."""
        raise DockyardError("this call can never work", code="bad_call", status=422)

    @post("flaky", retries=3)
    def flaky(self, key: str, fails: int) -> int:
        """Fail (a 500) until called more than ``fails`` times for ``key``; the count."""
        count: int = self.storage.update(f"flaky-{key}", lambda v: v + 1, default=0)
        if count <= fails:
            raise RuntimeError(f"flaky {key}: call {count} of {fails} failing ones")
        return count

    @get("calls")
    def calls(self, key: str) -> int:
        """How many times ``flaky`` ran for ``key``."""
        value: int = self.storage.get(f"flaky-{key}", 0)
        return value

    # --- time ---------------------------------------------------------------------

    @post("slow")
    def slow(self, seconds: float) -> str:
        """Record that this task started, sleep, then append "slow-done" to the log."""
        task_id = self.context.task_id or "-"
        self.storage.update("starts", lambda v: {**v, task_id: v.get(task_id, 0) + 1}, default={})
        time.sleep(seconds)
        self.append("slow-done")
        return "slept"

    @get("starts")
    def starts(self) -> dict[str, int]:
        """How many times each ``slow`` task started, by task id."""
        value: dict[str, int] = self.storage.get("starts", {})
        return value

    # --- context and graphs -------------------------------------------------------

    @post("whoami")
    def whoami(self) -> str | None:
        """The id of the task this call runs as (None outside a task)."""
        return self.context.task_id

    @post("chain")
    def chain(self, n: int) -> Task:
        """Schedule ``append(0..n-1)``, each waiting on the one before; return the last."""
        last: Task | None = None
        for i in range(n):
            wait_on = [last] if last is not None else None
            last = self.invoke_later("append", wait_on_tasks=wait_on, arguments={"item": i})
        assert last is not None
        return last

    @post("fan_in")
    def fan_in(self, n: int) -> Task:
        """Schedule ``append(0..n-1)`` and ``append("joined")`` waiting on all of them;
        return the join."""
        parts = [self.invoke_later("append", arguments={"item": i}) for i in range(n)]
        return self.invoke_later("append", wait_on_tasks=parts, arguments={"item": "joined"})
