"""`TaskWorker`: threads that claim due tasks from the store and run them.

Each thread loops: claim the oldest due task, run it on its instance (through the
runtime, with a context carrying the task id), record the outcome. With nothing due it
waits for a wake-up from this process (a task scheduled or finished here) or until the
next delayed task is due, at most ``poll_seconds`` (tasks scheduled by other processes
are seen then). A heartbeat thread renews the leases of the tasks it runs and expires
those of dead workers on this host (a ``kill -9``'d process), so their tasks run again
at once instead of when their lease runs out.

Outcomes (`execute_task`, shared with the Redis backend's job function): a result
succeeds the task (JSON as is, text as a str, bytes base64-encoded with their mime
type); an error with status >= 500 (a bug, an unexpected exception) is retried with
exponential backoff while attempts remain (``@post(..., retries=N)``); a 4xx error is
final (the same call would fail the same way).
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from dockyard.core.response import MimeTypes
from dockyard.store.tasks import TaskQueue, TaskRecord

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

__all__ = ["TaskWorker", "execute_task", "recover_dead", "worker_name"]

logger = logging.getLogger("dockyard.tasks")

#: Longest wait between retries of a failing task, in seconds.
MAX_BACKOFF: Final = 60.0


def worker_name() -> str:
    """A name unique to this worker: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(name: str) -> bool:
    """Whether ``name`` is a worker of this host whose process is gone."""
    host, _, rest = name.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    # A process that exited but was not reaped yet (its parent was killed too, and PID 1
    # has not reaped it: seconds, or for ever without a real init) still answers kill 0.
    # Linux says so in /proc; elsewhere it counts as alive until reaped.
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (comm) S ...": comm may hold spaces and parentheses; the state follows
            # the last ")".
            return stat.read().rpartition(b")")[2].split()[:1] == [b"Z"]
    except OSError:
        return False


def recover_dead(queue: TaskQueue) -> int:
    """Requeue the tasks of dead workers: of this host at once (their process is gone),
    of any host once their lease has passed; how many tasks that freed."""
    dead = [w for w in queue.running_workers() if _dead_here(w)]
    if dead:
        logger.warning("re-running the tasks of dead workers %s", ", ".join(dead))
        return queue.release_dead(dead)
    return queue.requeue_expired()


def execute_task(
    runtime: Runtime,
    task: TaskRecord,
    *,
    retry_backoff: float = 0.5,
    succeed: Callable[[TaskRecord, Any, str], None] | None = None,
) -> None:
    """Run ``task`` (claimed by ``task.worker``) on its instance and record the outcome
    in the store: success, a retry after a backoff (a 5xx error while attempts remain;
    ``retry_backoff`` seconds before the first, doubling), or failure. Never raises for
    the task's own errors (they are its outcome).

    :param succeed: given, it is handed each success ``(task, output, mime_type)`` to
        record (a worker batching its commits) instead of `TaskQueue.succeed`.
    """
    queue = runtime.store.tasks
    try:
        response = runtime.run_task(task)
    except Exception as exc:  # the runtime itself failed: retry like a 500
        logger.exception("task %s could not be run", task.id)
        _failed(
            queue, task, "internal_error", f"the task could not be run: {exc}", 500, retry_backoff
        )
        return
    if response.error is not None:
        error = response.error
        _failed(queue, task, error.code, error.message, error.status, retry_backoff)
        return
    data, mime = response.data, response.mime_type
    if isinstance(data, bytes):
        data = base64.b64encode(data).decode("ascii")
        mime = mime or MimeTypes.BINARY
    if succeed is not None:
        succeed(task, data, mime)
    elif not queue.succeed(task, data, mime):
        logger.warning("task %s finished after its lease passed; its result is dropped", task.id)


def _failed(
    queue: TaskQueue, task: TaskRecord, code: str, message: str, status: int, backoff: float
) -> None:
    retry_in = None
    if status >= 500:
        retry_in = min(MAX_BACKOFF, backoff * 2 ** max(0, task.attempts - 1))
    if not queue.fail(task, code, message, retry_in):
        logger.warning("task %s failed after its lease passed", task.id)


class TaskWorker:
    """Runs due tasks in ``threads`` threads until `stop`.

    :param runtime: where instances come from (and the store with the task queue).
    :param threads: how many tasks run at once.
    :param lease_seconds: how long a claim holds without a heartbeat.
    :param poll_seconds: longest idle wait before looking for tasks again.
    :param retry_backoff: seconds before the first retry (doubling each time).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        threads: int = 2,
        lease_seconds: float = 30.0,
        poll_seconds: float = 0.2,
        retry_backoff: float = 0.5,
    ) -> None:
        if threads < 1:
            raise ValueError("a task worker needs at least one thread")
        self.runtime = runtime
        self.queue = runtime.store.tasks
        self.name = worker_name()
        self.threads = threads
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.retry_backoff = retry_backoff
        self._stop = threading.Event()
        # task id -> how many of our threads run it: a run whose lease passed may still be
        # going when another of our threads claims the task again, and the first to end
        # must not stop the heartbeat renewing the other's lease.
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"<TaskWorker {self.name} threads={self.threads}>"

    def start(self) -> TaskWorker:
        """Start the threads (daemons: they never keep the process alive); returns self."""
        if self._threads:
            return self
        self.recover()
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"dockyard-task-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        beat = threading.Thread(target=self._heartbeat, name="dockyard-task-heartbeat", daemon=True)
        beat.start()
        self._threads.append(beat)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking tasks; wait up to ``timeout`` s for the running ones to finish."""
        self._stop.set()
        with self.queue.wakeup:
            self.queue.wakeup.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def recover(self) -> int:
        """Requeue the tasks of dead workers: of this host at once (their process is
        gone), of any host once their lease has passed; how many tasks that freed."""
        return recover_dead(self.queue)

    # --- the threads ---------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.queue.claim(self.name, self.lease_seconds)
            except Exception:
                logger.exception("claiming a task failed; retrying")
                self._stop.wait(self.poll_seconds)
                continue
            if not claimed:
                self._idle()
                continue
            task = claimed[0]
            with self._lock:
                self._running[task.id] += 1
            try:
                self._run(task)
            finally:
                with self._lock:
                    self._running[task.id] -= 1
                    if self._running[task.id] <= 0:
                        del self._running[task.id]

    def _idle(self) -> None:
        wait = self.poll_seconds
        try:
            due = self.queue.next_due()
        except Exception:
            due = None
        if due is not None:
            wait = min(wait, max(0.0, (due - datetime.now(timezone.utc)).total_seconds()))
        if wait <= 0:
            return
        with self.queue.wakeup:
            if not self._stop.is_set():
                self.queue.wakeup.wait(wait)

    def _heartbeat(self) -> None:
        period = max(0.05, self.lease_seconds / 3)
        while not self._stop.wait(period):
            with self._lock:
                running = list(self._running)
            try:
                self.queue.renew(self.name, running, self.lease_seconds)
                self.recover()
            except Exception:
                logger.exception("renewing task leases failed")

    def _run(self, task: TaskRecord) -> None:
        execute_task(self.runtime, task, retry_backoff=self.retry_backoff)
