"""Crash recovery: a ``dockyard serve`` killed with ``kill -9`` while tasks run loses
none of them once it is restarted, and a task whose worker keeps dying fails instead
of being re-run for ever.

Delivery is AT-LEAST-ONCE: a task that was running when its worker died runs again
from the start (its first run's side effects, e.g. the ``starts`` counter of
``Jobs.slow``, stay). A lost run is not counted as an attempt (``attempts``), but after
`LOST_RUN_LIMIT` lost runs the task fails with ``worker_lost``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from dockyard import TaskState
from dockyard.client import Dockyard
from dockyard.runtime import Runtime
from dockyard.store import Store
from dockyard.store.tasks import LOST_RUN_LIMIT, TaskQueue, TaskRecord
from dockyard.tasks import TaskWorker

if TYPE_CHECKING:
    from conftest import Server, Worker

WAIT = 60.0

#: Backend name -> extra ``dockyard serve`` options selecting it. One line per backend.
SERVER_BACKENDS: dict[str, tuple[str, ...]] = {
    "embedded": (),
    # DOCKYARD_TASKS_URL set (see Deployment): tasks run in `dockyard worker` processes.
    "redis": (),
}


class Deployment:
    """What runs the tasks of a served home: the server's own task threads (embedded),
    or, on the Redis backend, also two ``dockyard worker`` processes, killed and
    restarted with it."""

    def __init__(self, server: Server, workers: list[Worker]) -> None:
        self.server = server
        self.workers = workers

    def kill(self) -> None:
        """``kill -9`` every process (workers first: the tasks run there)."""
        for worker in self.workers:
            worker.kill()
        self.server.kill()

    def start(self) -> None:
        """Restart every process on the same home."""
        self.server.start()
        for worker in self.workers:
            worker.start()

    def log(self) -> str:
        return self.server.log() + "".join(worker.log() for worker in self.workers)


def deploy(
    serve: Callable[..., Server], backend: str, request: pytest.FixtureRequest
) -> Deployment:
    """A server (and on the Redis backend its workers) for ``backend``."""
    if backend != "redis":
        return Deployment(serve("--task-workers", "2", *SERVER_BACKENDS[backend]), [])
    url = request.getfixturevalue("redis_url")  # no Redis: skipped (failed under CI)
    start = request.getfixturevalue("redis_workers")
    request.getfixturevalue("monkeypatch").setenv("DOCKYARD_TASKS_URL", url)
    server = serve("--task-workers", "2", *SERVER_BACKENDS[backend])
    return Deployment(server, [start(server.home) for _ in range(2)])


def fresh(prefix: str = "jobs") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def until(check: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not reached in time"
        time.sleep(0.02)


@pytest.mark.parametrize("backend", list(SERVER_BACKENDS))
def test_kill_9_while_tasks_run_loses_none(
    serve: Callable[..., Server], backend: str, request: pytest.FixtureRequest
) -> None:
    deployment = deploy(serve, backend, request)
    server = deployment.server
    handle = fresh()
    with Dockyard(url=server.url, api_key=server.key, task_workers=0) as client:
        instance = client.use("jobs", handle)
        slow = [instance.invoke_later("slow", arguments={"seconds": 0.3}) for _ in range(20)]
        delayed = [
            instance.invoke_later("append", arguments={"item": f"delayed-{i}"}, delay_ms=1500)
            for i in range(3)
        ]
        # After the slow ones, and only if they all succeed.
        last = instance.invoke_later("append", wait_on_tasks=slow, arguments={"item": "after-slow"})
        # Kill as soon as a task is inside its method (it recorded its start).
        started: dict[str, int] = {}

        def some_started() -> bool:
            started.update(instance.invoke("starts", "GET"))
            return bool(started)

        until(some_started, what="a slow task starting")
    deployment.kill()

    # What the killed server left: tasks still marked running by its (dead) worker.
    store = Store(home=server.home)
    try:
        left = {t.id: store.tasks.get(t.id) for t in [*slow, *delayed, last]}
    finally:
        store.close()
    running = {task_id for task_id, record in left.items() if record.state == "running"}
    assert running, "the kill should have caught a task running"
    assert all(left[t.id].state != "succeeded" for t in delayed)
    interrupted = running & set(started)  # inside their method when killed
    assert interrupted, (running, started)

    deployment.start()  # same home, same port
    with Dockyard(url=server.url, api_key=server.key, task_workers=0) as client:
        instance = client.use("jobs", handle)
        done = [instance.get_task(t.id).wait(WAIT) for t in [*slow, *delayed, last]]
        assert {t.state for t in done} == {TaskState.SUCCEEDED}, [
            (t.id, t.state, t.error) for t in done if t.state is not TaskState.SUCCEEDED
        ]
        # A lost run is not an attempt: the re-run one counts one attempt.
        for task in done:
            if task.id in interrupted:
                assert task.attempts == 1, task
        for task in done[20:23]:
            assert task.started_at is not None
            assert task.started_at >= task.run_after
        starts = instance.invoke("starts", "GET")
        log = instance.invoke("log", "GET")

    # Every slow task ran at least once; those killed inside their method ran again.
    assert set(starts) == {t.id for t in slow}
    assert all(n >= 1 for n in starts.values())
    for task_id in interrupted:
        assert starts[task_id] >= 2, (task_id, starts)
    assert log.count("slow-done") >= 20
    assert sorted(item for item in log if item.startswith("delayed-")) == [
        "delayed-0",
        "delayed-1",
        "delayed-2",
    ]
    # The killed runs are gone with their process: every slow-done precedes after-slow.
    assert log.count("after-slow") == 1
    assert log.index("after-slow") > max(i for i, item in enumerate(log) if item == "slow-done")
    # Nothing is stuck.
    store = Store(home=server.home)
    try:
        counts = store.tasks.counts()
    finally:
        store.close()
    assert counts["running"] == 0
    assert counts["waiting"] == 0
    assert counts["succeeded"] == 24
    assert "re-running the tasks of dead workers" in deployment.log()


# --- a worker that keeps dying -----------------------------------------------------------


def dead_pid() -> int:
    """The pid of a process of this host that has exited."""
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait(timeout=30)
    return probe.pid


@pytest.fixture
def runtime(jobs: ModuleType, tmp_path: Path) -> Iterator[Runtime]:
    store = Store(home=tmp_path / "home")
    store.ensure_user("alice")
    made = Runtime(store, packages={"jobs": jobs.Jobs})
    yield made
    store.close()


def test_a_task_whose_worker_keeps_dying_fails_with_worker_lost(runtime: Runtime) -> None:
    record = runtime.use("alice", "jobs", "lost")
    queue: TaskQueue = runtime.store.tasks
    task = queue.create(
        instance_id=record.id,
        user="alice",
        verb="POST",
        method="/greet",
        arguments={"name": "x"},
        max_attempts=4,
    )
    dependent = queue.create(
        instance_id=record.id,
        user="alice",
        verb="POST",
        method="/greet",
        arguments={"name": "y"},
        wait_on=[task.id],
    )
    # A worker that is not started: recover() is what its start and heartbeat run.
    worker = TaskWorker(runtime, threads=1, lease_seconds=30.0)
    host = socket.gethostname()
    claimed: list[TaskRecord] = []
    for lost in range(LOST_RUN_LIMIT):
        # A worker of this host claims it (with a long lease) and is killed.
        name = f"{host}:{dead_pid()}:{uuid.uuid4().hex[:8]}"
        batch = queue.claim(name, 30.0)
        assert [t.id for t in batch] == [task.id]
        claimed.append(batch[0])
        assert batch[0].lost_runs == lost
        assert worker.recover() == 1  # its pid is gone: requeued (or failed) at once
    failed = queue.get(task.id)
    assert failed.state == "failed"
    assert failed.error_code == "worker_lost"
    assert str(LOST_RUN_LIMIT) in (failed.error_message or "")
    assert queue.claim("next", 30.0) == []
    gone = queue.get(dependent.id)
    assert gone.state == "failed"
    assert gone.error_code == "dependency_failed"
    assert task.id in (gone.error_message or "")
    # A late outcome from one of the dead runs changes nothing.
    assert not queue.succeed(claimed[-1], "late", "text/plain")
    assert queue.get(task.id).state == "failed"


@pytest.mark.skipif(
    sys.platform != "linux", reason="zombies are told from /proc (elsewhere: alive until reaped)"
)
def test_a_worker_whose_process_is_an_unreaped_zombie_is_dead(runtime: Runtime) -> None:
    # Regression: a pid probe with os.kill(pid, 0) alone succeeds for a zombie (exited,
    # not yet reaped). The workers of a kill -9'd `dockyard serve` are children of its
    # master and stay zombies until PID 1 reaps them (seconds in containers whose PID 1
    # is no real init; never with some): a restarted server's start-up recover() left
    # their tasks running until a later heartbeat or the end of their lease.
    record = runtime.use("alice", "jobs", "zombie")
    queue = runtime.store.tasks
    task = queue.create(
        instance_id=record.id, user="alice", verb="POST", method="/greet", arguments={"name": "x"}
    )
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Wait for it to exit, without reaping it: a zombie.
        os.waitid(os.P_PID, probe.pid, os.WEXITED | os.WNOWAIT)
        name = f"{socket.gethostname()}:{probe.pid}:{uuid.uuid4().hex[:8]}"
        assert [t.id for t in queue.claim(name, 30.0)] == [task.id]
        assert TaskWorker(runtime, threads=1).recover() == 1
        assert queue.get(task.id).state == "waiting"
    finally:
        probe.wait(timeout=30)


def test_a_live_workers_tasks_are_not_taken(runtime: Runtime) -> None:
    record = runtime.use("alice", "jobs", "alive")
    queue = runtime.store.tasks
    task = queue.create(
        instance_id=record.id, user="alice", verb="POST", method="/greet", arguments={"name": "x"}
    )
    # Held by a worker of this very process (alive), and by one of another host whose
    # lease holds: neither is requeued.
    here = f"{socket.gethostname()}:{os.getpid()}:live"
    assert [t.id for t in queue.claim(here, 30.0)] == [task.id]
    other = queue.create(
        instance_id=record.id, user="alice", verb="POST", method="/greet", arguments={"name": "y"}
    )
    assert [t.id for t in queue.claim("elsewhere:1:abc", 30.0)] == [other.id]
    worker = TaskWorker(runtime, threads=1)
    assert worker.recover() == 0
    assert queue.get(task.id).state == "running"
    assert queue.get(other.id).state == "running"


def test_an_expired_lease_of_another_host_is_requeued_and_run(runtime: Runtime) -> None:
    record = runtime.use("alice", "jobs", "expired")
    queue = runtime.store.tasks
    task = queue.create(
        instance_id=record.id, user="alice", verb="POST", method="/greet", arguments={"name": "z"}
    )
    # Another host's worker (its pid cannot be checked) took it with a short lease.
    assert [t.id for t in queue.claim("elsewhere:1:abc", 0.05)] == [task.id]
    worker = TaskWorker(runtime, threads=1, lease_seconds=0.3, poll_seconds=0.05).start()
    try:
        done = _wait_done(queue, task.id)
    finally:
        worker.stop()
    assert done.state == "succeeded"
    assert done.output == "Hello, z!"
    assert done.worker == worker.name
    assert done.lost_runs == 1
    assert done.attempts == 1


def _wait_done(queue: TaskQueue, task_id: str) -> Any:
    box: list[TaskRecord] = []

    def finished() -> bool:
        box[:] = [queue.get(task_id)]
        return box[0].state in ("succeeded", "failed", "cancelled")

    until(finished, timeout=WAIT, what=f"task {task_id} finishing")
    return box[0]
