"""Tests for dockyard.tasks.redis: the Redis backend, where the store holds the tasks and
RQ on Redis carries "tasks may be due" wake-ups to ``dockyard worker`` processes.

On a real Redis (``DOCKYARD_TEST_REDIS_URL``: a database the tests may wipe; without it
these tests skip, or fail under ``CI=true``) with real ``dockyard worker
tests/tasks/jobs.py:Jobs`` subprocesses. The tests of `TaskQueue`'s dispatch hooks and
of `TaskQueue.claim_task` need no Redis.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from dockyard import DockyardError, TaskState
from dockyard.client import Dockyard, PackageInstance
from dockyard.runtime import Runtime
from dockyard.store import InstanceRecord, Store
from dockyard.store.tasks import DueTask, TaskQueue, TaskRecord
from dockyard.tasks import redis as redis_backend
from dockyard.tasks.backend import TASKS_URL_ENV, attach_backend, build_dispatcher, tasks_url
from dockyard.tasks.redis import (
    DEFAULT_QUEUE,
    JOB_FUNCTION,
    RedisDispatcher,
    RedisTaskWorker,
    run_wake_job,
    shown_url,
)

if TYPE_CHECKING:
    from conftest import PrivateRedis, Server, Worker

WAIT = 30.0
DOCKYARD = Path(sys.executable).parent / "dockyard"
JOBS_PATH = Path(__file__).resolve().parent / "jobs.py"


def fresh(prefix: str = "jobs") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def until(check: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not reached in time"
        time.sleep(0.02)


def now() -> datetime:
    return datetime.now(timezone.utc)


# --- TaskQueue: what it dispatches, and when (a recording dispatcher, no Redis) ------------


class Recorder:
    """A dispatcher that records what it is sent, and what the store held meanwhile."""

    def __init__(self, queue: TaskQueue) -> None:
        self.queue = queue
        self.sent: list[DueTask] = []
        self.states: list[str] = []

    def dispatch(self, tasks: Sequence[DueTask]) -> None:
        self.sent.extend(tasks)
        # Read on another connection: what was committed (a dispatch inside the write
        # transaction would find the old state, or nothing).
        self.states.extend(self.queue.get(t.id).state for t in tasks)

    def take(self) -> list[str]:
        ids = [t.id for t in self.sent]
        self.sent.clear()
        return ids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(home=tmp_path / "home")
    yield made
    made.close()


@pytest.fixture
def instance(store: Store) -> InstanceRecord:
    store.ensure_user("alice")
    return store.create_instance(
        owner="alice", workspace="ws", handle="one", package="pkg", version="1.0", config={}
    )


def add(
    queue: TaskQueue,
    instance: InstanceRecord,
    *,
    wait_on: Sequence[TaskRecord] = (),
    delay_ms: int = 0,
    max_attempts: int = 1,
) -> TaskRecord:
    return queue.create(
        instance_id=instance.id,
        user="alice",
        verb="POST",
        method="/m",
        arguments={},
        wait_on=[t.id for t in wait_on],
        delay_ms=delay_ms,
        max_attempts=max_attempts,
    )


def claim(queue: TaskQueue, task: TaskRecord, worker: str = "w", lease: float = 30.0) -> TaskRecord:
    claimed = queue.claim_task(task.id, worker, lease)
    assert claimed is not None
    return claimed


def test_the_queue_dispatches_what_may_be_due_after_commit(
    store: Store, instance: InstanceRecord
) -> None:
    queue = store.tasks
    recorder = Recorder(queue)
    queue.dispatcher = recorder

    # create: a task with nothing pending, at its run_after (delayed or not).
    a = add(queue, instance)
    later = add(queue, instance, delay_ms=5000)
    assert recorder.sent == [
        DueTask(a.id, a.run_after, 0),
        DueTask(later.id, later.run_after, 0),
    ]
    assert recorder.states == ["waiting", "waiting"]  # committed before the dispatch
    recorder.take()
    # ... not one waiting on others, nor one failed at once by a failed dependency.
    b = add(queue, instance)
    recorder.take()
    join = add(queue, instance, wait_on=[a, b])
    assert recorder.take() == []

    # succeed: the dependents whose last dependency it was.
    assert queue.succeed(claim(queue, a), 1, "application/json")
    assert recorder.take() == []  # join still waits on b
    assert queue.succeed(claim(queue, b), 2, "application/json")
    assert recorder.take() == [join.id]

    # fail with a retry: the task again, at its new run_after; for good: nothing.
    retried = add(queue, instance, max_attempts=2)
    recorder.take()
    before = now()
    assert queue.fail(claim(queue, retried), "boom", "boom", retry_in=3.0)
    [again] = recorder.sent
    recorder.take()
    assert again.id == retried.id
    assert again.run_after >= before + timedelta(seconds=3)
    assert again.run_after == queue.get(retried.id).run_after
    dependent = add(queue, instance, wait_on=[later])
    assert queue.cancel(later.id, instance.id).state == "cancelled"
    assert queue.get(dependent.id).state == "failed"
    assert recorder.take() == []
    failed_dep = add(queue, instance, wait_on=[later])
    assert failed_dep.state == "failed"
    assert recorder.take() == []

    # requeue: tasks whose worker died, due at once.
    lost = add(queue, instance)
    recorder.take()
    claim(queue, lost, "dead-worker", 0.01)
    time.sleep(0.05)
    assert queue.requeue_expired() == 1
    [requeued] = recorder.sent
    assert requeued.id == lost.id
    assert requeued.run_after <= now()
    recorder.take()
    claim(queue, lost, "gone-worker", 30.0)
    assert queue.release_dead(["gone-worker"]) == 1
    assert recorder.take() == [lost.id]
    assert recorder.states[-1] == "waiting"


def test_a_failing_dispatcher_fails_no_write(
    store: Store, instance: InstanceRecord, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def dispatch(self, tasks: Sequence[DueTask]) -> None:
            raise ConnectionError("redis is down")

    queue = store.tasks
    queue.dispatcher = Broken()
    with caplog.at_level(logging.WARNING, "dockyard.tasks"):
        task = add(queue, instance)
    # Scheduled all the same (a sweep sends it once Redis is back).
    assert queue.get(task.id).state == "waiting"
    assert "dispatching 1 task(s) failed" in caplog.text
    assert queue.succeed(claim(queue, task), "ok", "text/plain")


def test_claim_task_claims_that_task_only_if_it_is_due(
    store: Store, instance: InstanceRecord
) -> None:
    queue = store.tasks
    task = add(queue, instance)
    other = add(queue, instance)
    delayed = add(queue, instance, delay_ms=400)
    dependent = add(queue, instance, wait_on=[task])

    assert queue.claim_task("0" * 32, "w", 30.0) is None  # no such task
    assert queue.claim_task(delayed.id, "w", 30.0) is None  # early
    assert queue.claim_task(dependent.id, "w", 30.0) is None  # waits on task

    before = now()
    claimed = queue.claim_task(task.id, "w", 10.0)
    assert claimed is not None
    assert (claimed.id, claimed.state, claimed.worker) == (task.id, "running", "w")
    assert claimed.attempts == 1
    assert claimed.started_at is not None
    assert before <= claimed.started_at <= now()
    assert claimed.lease_until == claimed.started_at + timedelta(seconds=10)
    assert queue.get(task.id) == claimed
    assert queue.get(other.id).state == "waiting"  # exactly that task

    assert queue.claim_task(task.id, "w2", 30.0) is None  # running: a duplicate message
    assert queue.succeed(claimed, "done", "text/plain")
    assert queue.claim_task(task.id, "w2", 30.0) is None  # done: a stale message
    assert queue.get(task.id).attempts == 1

    # Released by its dependency's success, and due: now it can be claimed.
    assert queue.claim_task(dependent.id, "w", 30.0) is not None

    # The delayed one, once due.
    until(lambda: now() >= delayed.run_after, timeout=5)
    late = queue.claim_task(delayed.id, "w", 30.0)
    assert late is not None
    assert late.started_at is not None
    assert late.started_at >= delayed.run_after

    # Cancelled: never.
    cancelled = add(queue, instance)
    queue.cancel(cancelled.id, instance.id)
    assert queue.claim_task(cancelled.id, "w", 30.0) is None


def test_claim_task_takes_a_requeued_task_again(store: Store, instance: InstanceRecord) -> None:
    queue = store.tasks
    task = add(queue, instance)
    first = claim(queue, task, "w1", 0.01)
    time.sleep(0.05)
    assert queue.requeue_expired() == 1
    second = claim(queue, task, "w2")
    assert (second.attempts, second.lost_runs) == (1, 1)
    assert not queue.succeed(first, "stale", "text/plain")  # the lost run is fenced off
    assert queue.succeed(second, "current", "text/plain")
    assert queue.get(task.id).output == "current"


# --- configuration -----------------------------------------------------------------------


def test_the_backend_is_chosen_by_the_environment(
    monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.delenv(TASKS_URL_ENV, raising=False)
    assert tasks_url() is None
    assert build_dispatcher() is None
    assert not attach_backend(store)
    assert store.tasks.dispatcher is None

    monkeypatch.setenv(TASKS_URL_ENV, "http://localhost:6379")
    with pytest.raises(DockyardError) as bad:
        build_dispatcher()
    assert bad.value.code == "invalid_tasks_url"
    assert TASKS_URL_ENV in str(bad.value)

    # Building a dispatcher connects to nothing yet.
    monkeypatch.setenv(TASKS_URL_ENV, " redis://127.0.0.1:1/3 ")
    assert tasks_url() == "redis://127.0.0.1:1/3"
    assert attach_backend(store)
    dispatcher = store.tasks.dispatcher
    assert isinstance(dispatcher, RedisDispatcher)
    assert dispatcher.queue.name == DEFAULT_QUEUE
    dispatcher.close()


def test_urls_are_logged_without_their_password() -> None:
    assert shown_url("redis://127.0.0.1:6390/0") == "redis://127.0.0.1:6390/0"
    assert shown_url("redis://:s3cret@cache:6379/2") == "redis://:***@cache:6379/2"
    assert shown_url("rediss://app:s3cret@cache/0") == "rediss://app:***@cache/0"
    assert "s3cret" not in repr(RedisDispatcher("redis://:s3cret@cache:6379/2"))


def test_importing_dockyard_imports_neither_rq_nor_redis() -> None:
    code = (
        "import sys, dockyard, dockyard.client, dockyard.runtime, dockyard.tasks, "
        "dockyard.tasks.backend, dockyard.server.serve, dockyard.cli\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('rq', 'redis'))\n"
        "assert not loaded, loaded"
    )
    env = {k: v for k, v in os.environ.items() if k != TASKS_URL_ENV}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_a_bad_tasks_url_stops_the_worker_command(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKYARD_HOME": str(tmp_path), TASKS_URL_ENV: "amqp://x"}
    env.pop("DOCKYARD_DATABASE_URL", None)
    done = subprocess.run(
        [str(DOCKYARD), "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "invalid_tasks_url" in done.stderr or "not a Redis URL" in done.stderr


def test_run_wake_job_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise RuntimeError("no store")

    monkeypatch.setattr(redis_backend, "_process_worker", broken)
    run_wake_job()  # logged, not raised: RQ never sees a task's trouble


# --- RedisDispatcher on a real Redis -------------------------------------------------------


def rq_queue(url: str) -> Queue:
    return Queue(DEFAULT_QUEUE, connection=Redis.from_url(url), serializer=JSONSerializer)


def queued(url: str) -> list[tuple[str, Any]]:
    """(job id, job args) of the jobs waiting in the queue, in order."""
    queue = rq_queue(url)
    return [(job.id, job.args) for job in queue.get_jobs()]


def scheduled(url: str) -> dict[str, tuple[Any, float]]:
    """job id -> (args, score) of the scheduled jobs."""
    queue = rq_queue(url)
    registry = ScheduledJobRegistry(queue=queue)
    connection = queue.connection
    out = {}
    for job_id in registry.get_job_ids():
        job = queue.fetch_job(job_id)
        assert job is not None
        score = connection.zscore(registry.key, job_id)
        assert score is not None
        out[job_id] = (job.args, score)
    return out


def test_the_dispatcher_rings_once_for_due_tasks_and_schedules_delayed_ones(
    redis_url: str,
) -> None:
    dispatcher = RedisDispatcher(redis_url)
    due = DueTask(uuid.uuid4().hex, now() - timedelta(seconds=1), 0)
    also_due = DueTask(uuid.uuid4().hex, now(), 3)
    # Whole seconds away, so both fall in one second of RQ's and the third in another.
    second = math.ceil(now().timestamp()) + 5
    later = DueTask(uuid.uuid4().hex, datetime.fromtimestamp(second - 0.7, timezone.utc), 2)
    same_second = DueTask(uuid.uuid4().hex, datetime.fromtimestamp(second - 0.2, timezone.utc), 0)
    next_second = DueTask(uuid.uuid4().hex, datetime.fromtimestamp(second + 0.5, timezone.utc), 0)
    dispatcher.dispatch([due, also_due, later, same_second, next_second])
    dispatcher.dispatch([])  # nothing to do

    # One wake-up for everything due now: a job running the drain, with no arguments.
    [(job_id, args)] = queued(redis_url)
    assert args == []
    assert job_id.startswith("wake-")
    job = rq_queue(redis_url).fetch_job(job_id)
    assert job is not None
    assert job.func_name == JOB_FUNCTION
    assert job.timeout == -1
    assert job.result_ttl == 0

    # One scheduled wake-up per second (RQ counts whole seconds: rounded up, never early).
    assert {job: score for job, (_, score) in scheduled(redis_url).items()} == {
        f"wake-at-{second}": second,
        f"wake-at-{second + 1}": second + 1,
    }

    # While a wake-up waits for a worker, more due tasks ring no other ...
    dispatcher.dispatch([due])
    dispatcher.dispatch([also_due, due])
    assert len(queued(redis_url)) == 1
    # ... once a worker has taken it (`answer`), the next due task rings again.
    dispatcher.answer()
    dispatcher.dispatch([also_due])
    assert len(queued(redis_url)) == 2
    # A forced ring (the sweeper's) enqueues one whatever the bell says.
    assert dispatcher.ring(force=True)
    assert not dispatcher.ring()
    assert len(queued(redis_url)) == 3
    # A bell nobody answers (its worker died holding it) times out.
    ttl = dispatcher.redis.pttl(dispatcher.bell_key)
    assert 0 < ttl <= redis_backend.BELL_MS
    dispatcher.close()


def test_the_store_rings_through_redis_on_create_succeed_retry_and_requeue(
    redis_url: str, store: Store, instance: InstanceRecord
) -> None:
    queue = store.tasks
    dispatcher = RedisDispatcher(redis_url)
    queue.dispatcher = dispatcher

    def wakeups() -> int:
        count = len(queued(redis_url))
        rq_queue(redis_url).empty()
        dispatcher.answer()
        return count

    parent = add(queue, instance)
    assert wakeups() == 1
    child = add(queue, instance, wait_on=[parent])
    assert wakeups() == 0  # not due: it waits on parent

    assert queue.succeed(claim(queue, parent), "ok", "text/plain")
    assert wakeups() == 1  # child is due now
    assert queue.get(child.id).pending == 0

    flaky = add(queue, instance, max_attempts=3)
    wakeups()
    assert queue.fail(claim(queue, flaky), "oops", "oops", retry_in=4.0)
    assert wakeups() == 0
    [(job_id, (_, score))] = scheduled(redis_url).items()
    assert job_id == f"wake-at-{int(score)}"
    assert score == math.ceil(queue.get(flaky.id).run_after.timestamp())

    lost = add(queue, instance)
    wakeups()
    claim(queue, lost, "dead", 0.01)
    time.sleep(0.05)
    assert queue.requeue_expired() == 1
    assert wakeups() == 1


# --- real dockyard worker processes --------------------------------------------------------


class Setup:
    """A home shared by the test's client (which schedules and dispatches) and its
    ``dockyard worker`` processes."""

    def __init__(self, home: Path, url: str, jobs: ModuleType, start: Callable[..., Worker]):
        self.home = home
        self.url = url
        self._start = start
        self.client = Dockyard(home=home, task_workers=0)
        self.client.runtime.packages["jobs"] = jobs.Jobs
        dispatcher = self.client.runtime.store.tasks.dispatcher
        assert isinstance(dispatcher, RedisDispatcher)
        self.dispatcher = dispatcher
        self.queue = self.client.runtime.store.tasks

    def worker(self, *options: str, ready: bool = True) -> Worker:
        return self._start(self.home, *options, ready=ready)

    def instance(self) -> PackageInstance:
        return self.client.use("jobs", fresh())

    def record(self, task_id: str) -> TaskRecord:
        return self.queue.get(task_id)


@pytest.fixture
def setup(
    redis_url: str,
    redis_workers: Callable[..., Worker],
    jobs: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Setup]:
    monkeypatch.setenv(TASKS_URL_ENV, redis_url)
    made = Setup(tmp_path / "home", redis_url, jobs, redis_workers)
    yield made
    made.client.close()


def test_tasks_run_in_a_dockyard_worker_not_in_the_client(setup: Setup) -> None:
    instance = setup.instance()
    task = instance.invoke_later("whoami")
    time.sleep(0.5)
    # The client runs no task threads with a Redis URL (task_workers notwithstanding).
    assert task.refresh().state is TaskState.WAITING
    worker = setup.worker()
    assert task.result(WAIT) == task.id
    assert setup.record(task.id).worker == worker.name

    # Chains and fan-ins go through dispatches by the worker itself.
    last = instance.get_task(instance.invoke("chain", n=20)).wait(WAIT)
    assert last.state is TaskState.SUCCEEDED
    assert instance.invoke("log", "GET") == list(range(20))
    join = instance.get_task(instance.invoke("fan_in", n=10)).wait(WAIT)
    assert join.output == 31


def test_spurious_wake_ups_run_nothing_twice(setup: Setup) -> None:
    setup.worker()
    instance = setup.instance()
    task = instance.invoke_later("append", arguments={"item": "once"}).wait(WAIT)
    assert task.state is TaskState.SUCCEEDED
    for _ in range(3):
        setup.dispatcher.ring(force=True)
    # One worker takes its wake-ups in order: once this is done, so are the others.
    sentinel = instance.invoke_later("append", arguments={"item": "sentinel"}).wait(WAIT)
    assert sentinel.state is TaskState.SUCCEEDED
    until(lambda: queued(setup.url) == [], what="the wake-ups taken")
    assert instance.invoke("log", "GET") == ["once", "sentinel"]
    again = instance.get_task(task.id)
    assert (again.attempts, again.started_at, again.output) == (1, task.started_at, 1)


def test_an_early_wake_up_leaves_a_delayed_task_for_its_time(setup: Setup) -> None:
    setup.worker()
    instance = setup.instance()
    delayed = instance.invoke_later("append", arguments={"item": "delayed"}, delay_ms=2500)
    assert len(scheduled(setup.url)) == 1  # in RQ's scheduled registry, for its time
    setup.dispatcher.ring(force=True)  # a worker drains now: the task is not due
    sentinel = instance.invoke_later("append", arguments={"item": "sentinel"}).wait(WAIT)
    assert sentinel.state is TaskState.SUCCEEDED
    assert delayed.refresh().state is TaskState.WAITING
    assert instance.invoke("log", "GET") == ["sentinel"]

    done = delayed.wait(WAIT)
    assert done.state is TaskState.SUCCEEDED
    assert done.attempts == 1
    assert done.started_at is not None
    assert done.started_at >= done.run_after
    assert instance.invoke("log", "GET") == ["sentinel", "delayed"]


def test_retries_are_dispatched_again_with_their_backoff(setup: Setup) -> None:
    setup.worker()
    instance = setup.instance()
    task = instance.invoke_later("flaky", arguments={"key": "r", "fails": 2}).wait(WAIT)
    assert task.state is TaskState.SUCCEEDED
    assert task.attempts == 3
    assert task.error is None
    assert instance.invoke("calls", "GET", key="r") == 3


def test_kill_9_of_a_worker_mid_task_then_a_restart_loses_nothing(setup: Setup) -> None:
    first = setup.worker()
    instance = setup.instance()
    slow = instance.invoke_later("slow", arguments={"seconds": 3.0})
    delayed = instance.invoke_later("append", arguments={"item": "delayed"}, delay_ms=2000)
    until(lambda: slow.id in instance.invoke("starts", "GET"), what="the slow task starting")
    assert setup.record(slow.id).worker == first.name
    first.kill()

    # While no worker runs, tasks are scheduled (their messages wait in Redis).
    queued_meanwhile = [
        instance.invoke_later("append", arguments={"item": f"meanwhile-{i}"}) for i in range(3)
    ]
    assert setup.record(slow.id).state == "running"  # held by the dead worker

    second = setup.worker()  # same home: it finds the dead worker's task at once
    done = slow.wait(WAIT)
    assert done.state is TaskState.SUCCEEDED
    record = setup.record(slow.id)
    assert record.worker == second.name
    assert (record.attempts, record.lost_runs) == (1, 1)
    assert instance.invoke("starts", "GET") == {slow.id: 2}  # at least once: it ran again

    # The delayed task spans the restart (the killed worker's scheduler took its lock
    # with it: the sweeper sends it once it is overdue).
    late = delayed.wait(WAIT)
    assert late.state is TaskState.SUCCEEDED
    assert late.started_at is not None
    assert late.started_at >= late.run_after
    for task in queued_meanwhile:
        assert task.wait(WAIT).state is TaskState.SUCCEEDED
    log = instance.invoke("log", "GET")
    assert sorted(log) == sorted(
        ["slow-done", "delayed", "meanwhile-0", "meanwhile-1", "meanwhile-2"]
    )
    counts = setup.queue.counts()
    assert (counts["running"], counts["waiting"]) == (0, 0)
    assert "re-running the tasks of dead workers" in second.log()


def test_tasks_whose_messages_were_lost_are_run_by_the_sweeper(setup: Setup) -> None:
    worker = setup.worker()
    instance = setup.instance()
    # Committed, then the process died before the enqueue: a store with no dispatcher.
    silent = Store(home=setup.home)
    try:
        record = silent.get_instance(instance.workspace, instance.handle)
        assert record is not None
        lost = silent.tasks.create(
            instance_id=record.id,
            user="local",
            verb="POST",
            method="/append",
            arguments={"item": "lost"},
        )
    finally:
        silent.close()
    # A delayed task whose scheduled message Redis then loses.
    delayed = instance.invoke_later("append", arguments={"item": "flushed"}, delay_ms=500)
    Redis.from_url(setup.url).flushdb()

    assert instance.get_task(lost.id).wait(WAIT).state is TaskState.SUCCEEDED
    assert delayed.wait(WAIT).state is TaskState.SUCCEEDED
    assert sorted(instance.invoke("log", "GET")) == ["flushed", "lost"]
    assert "re-dispatching" in worker.log()


def test_dockyard_serve_with_a_redis_url_schedules_but_runs_no_tasks(
    setup: Setup, serve: Callable[..., Server]
) -> None:
    server = serve("--task-workers", "2")  # ignored: tasks run in dockyard workers
    with Dockyard(url=server.url, api_key=server.key, task_workers=0) as client:
        instance = client.use("jobs", fresh())
        task = instance.invoke_later("greet", arguments={"name": "over http"})
        time.sleep(1.0)
        assert task.refresh().state is TaskState.WAITING
        setup._start(server.home)
        assert task.result(WAIT) == "Hello, over http!"


def test_dockyard_worker_processes_starts_and_stops_that_many(setup: Setup) -> None:
    parent = setup.worker("--processes", "2", ready=False)
    connection = Redis.from_url(setup.url)

    def registered() -> int:
        return sum(1 for _ in connection.scan_iter("rq:worker:*"))

    until(lambda: registered() == 2, what="two RQ workers registered")
    instance = setup.instance()
    tasks = [instance.invoke_later("slow", arguments={"seconds": 0.5}) for _ in range(4)]
    until(lambda: len(instance.invoke("starts", "GET")) >= 2, what="two tasks at once")
    assert all(t.wait(WAIT).state is TaskState.SUCCEEDED for t in tasks)
    workers = {setup.record(t.id).worker for t in tasks}
    assert len(workers) == 2

    assert parent.process is not None
    parent.process.send_signal(signal.SIGTERM)
    assert parent.process.wait(timeout=60) == 0

    def alive() -> int:
        # RQ marks a worker that stopped with a death date.
        return sum(
            1 for key in connection.scan_iter("rq:worker:*") if not connection.hexists(key, "death")
        )

    until(lambda: alive() == 0, what="both worker processes stopped")


def test_a_worker_process_of_rq_alone_runs_tasks_from_the_environment(
    setup: Setup, tmp_path: Path
) -> None:
    # `rq worker` (no dockyard worker): run_wake_job builds its worker from the
    # environment, the targets from DOCKYARD_TASK_TARGETS.
    rq_cli = Path(sys.executable).parent / "rq"
    env = {
        **os.environ,
        "DOCKYARD_HOME": str(setup.home),
        TASKS_URL_ENV: setup.url,
        redis_backend.TARGETS_ENV: f"{JOBS_PATH}:Jobs",
    }
    env.pop("DOCKYARD_DATABASE_URL", None)
    instance = setup.instance()
    task = instance.invoke_later("greet", arguments={"name": "rq"})
    with (tmp_path / "rq.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(rq_cli),
                "worker",
                "--burst",
                "--url",
                setup.url,
                "--serializer",
                "json",
                "--worker-class",
                "rq.SimpleWorker",
                DEFAULT_QUEUE,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        assert process.wait(timeout=60) == 0
    assert task.result(WAIT) == "Hello, rq!"


@contextlib.contextmanager
def local_worker(setup: Setup, jobs: ModuleType, **options: Any) -> Iterator[RedisTaskWorker]:
    """A `RedisTaskWorker` of this process on the setup's home (its parts without RQ's
    loop: sweeps only when called)."""
    runtime = Runtime(Store(home=setup.home), packages={"jobs": jobs.Jobs})
    worker = RedisTaskWorker(runtime, setup.url, sweep_seconds=60.0, **options)
    try:
        yield worker
    finally:
        worker.stop()
        runtime.store.close()


def test_a_redis_task_worker_in_process(setup: Setup, jobs: ModuleType) -> None:
    # The worker's parts without RQ's loop: drain, run_one, the sweeper, stop.
    with local_worker(setup, jobs) as worker:
        instance = setup.instance()
        task = instance.invoke_later("greet", arguments={"name": "here"})
        assert len(queued(setup.url)) == 1
        assert worker.drain() == 1
        assert task.refresh().output == "Hello, here!"
        assert worker.drain() == 0  # nothing due
        assert not worker.run_one(task.id)  # done
        assert not worker.run_one("0" * 32)  # unknown
        later = instance.invoke_later("greet", arguments={"name": "later"}, delay_ms=60_000)
        assert not worker.run_one(later.id)  # not due
        assert worker.drain() == 0

        # Overdue and nobody woken: a sweep rings, even with the bell rung (lost).
        rq_queue(setup.url).empty()
        overdue = instance.invoke_later("greet", arguments={"name": "swept"})
        rq_queue(setup.url).empty()
        assert worker.sweep() is False  # not overdue yet (the grace period)
        time.sleep(worker.grace_seconds + 0.1)
        Redis.from_url(setup.url).delete(worker._sweep_key)
        assert worker.sweep() is True
        assert len(queued(setup.url)) == 1
        assert worker.sweep() is False  # another sweep this period: not again
        assert worker.drain() == 1
        assert overdue.refresh().output == "Hello, swept!"


def test_a_drain_batches_short_tasks_and_records_every_outcome(
    setup: Setup, jobs: ModuleType
) -> None:
    # A drain long enough for all of them, however loaded the machine.
    with local_worker(setup, jobs, drain_seconds=120.0) as worker:
        instance = setup.instance()
        assert worker._batch_size() == 1  # the pace is unknown: one at a time
        tasks = []
        for i in range(300):
            # Failures (a 500, no retries: final) among successes: each outcome its own.
            if i % 50 == 7:
                tasks.append(instance.invoke_later("boom"))
            else:
                tasks.append(instance.invoke_later("greet", arguments={"name": str(i)}))
        assert worker.drain() == 300
        assert worker._batch_size() > 1  # greetings are short: claimed several at a time
        for i, task in enumerate(tasks):
            done = task.refresh()
            if i % 50 == 7:
                assert done.state is TaskState.FAILED
            else:
                assert (done.state, done.output, done.attempts) == (
                    TaskState.SUCCEEDED,
                    f"Hello, {i}!",
                    1,
                )
        assert setup.queue.counts()["running"] == 0

        # A slow task is not batched: the pace it sets claims one at a time again.
        slow = instance.invoke_later("slow", arguments={"seconds": 0.2})
        assert worker.drain() == 1
        assert slow.refresh().state is TaskState.SUCCEEDED
        assert worker._batch_size() == 1


# --- Redis itself killed ---------------------------------------------------------------


def test_kill_9_of_redis_mid_queue_then_a_restart_loses_nothing(
    private_redis: PrivateRedis,
    start_worker: Callable[..., Worker],
    jobs: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(TASKS_URL_ENV, private_redis.url)
    home = tmp_path / "home"
    client = Dockyard(home=home, task_workers=0)
    client.runtime.packages["jobs"] = jobs.Jobs
    start_worker(home, private_redis.url, "--processes", "2", ready=False)
    try:
        instance = client.use("jobs", fresh())
        slow = instance.invoke_later("slow", arguments={"seconds": 2.0})
        until(lambda: slow.id in instance.invoke("starts", "GET"), what="the slow task starting")

        private_redis.kill()  # mid-task, mid-queue
        # Scheduled while Redis is down: committed in SQL, the wake-up fails (logged).
        with caplog.at_level(logging.WARNING, logger="dockyard.tasks"):
            meanwhile = [
                instance.invoke_later("append", arguments={"item": f"meanwhile-{i}"})
                for i in range(3)
            ]
            delayed = instance.invoke_later("append", arguments={"item": "delayed"}, delay_ms=1500)
        assert "a sweep will send them" in caplog.text

        # The running task finishes and records its outcome: SQL needs no Redis.
        assert slow.wait(WAIT).state is TaskState.SUCCEEDED

        private_redis.start()  # back, empty: every wake-up it held is gone
        for task in [*meanwhile, delayed]:
            assert task.wait(WAIT).state is TaskState.SUCCEEDED
        assert instance.invoke("starts", "GET") == {slow.id: 1}  # ran once
        assert sorted(instance.invoke("log", "GET")) == sorted(
            ["slow-done", "delayed", "meanwhile-0", "meanwhile-1", "meanwhile-2"]
        )
        # And the workers serve new tasks as before.
        assert instance.invoke_later("greet", arguments={"name": "again"}).result(WAIT) == (
            "Hello, again!"
        )
        counts = client.runtime.store.tasks.counts()
        assert (counts["running"], counts["waiting"], counts["failed"]) == (0, 0, 0)
    finally:
        client.close()


def test_a_drain_hands_back_to_rq_after_its_time_and_rings_for_the_rest(
    setup: Setup, jobs: ModuleType
) -> None:
    with local_worker(setup, jobs, drain_seconds=0.1) as worker:
        instance = setup.instance()
        tasks = [instance.invoke_later("slow", arguments={"seconds": 0.3}) for _ in range(3)]
        rq_queue(setup.url).empty()
        setup.dispatcher.answer()
        # Each drain outlasts its 0.1 s with its first task, and rings for the rest.
        for left in (2, 1):
            assert worker.drain() == 1
            assert len(queued(setup.url)) == 1
            assert sum(t.refresh().state is TaskState.WAITING for t in tasks) == left
            rq_queue(setup.url).empty()
        assert worker.drain() == 1
        assert queued(setup.url) == []  # nothing more was due: no ring
        assert all(t.refresh().state is TaskState.SUCCEEDED for t in tasks)
        # Asked to stop (SIGTERM to RQ): a drain claims nothing more.
        late = instance.invoke_later("greet", arguments={"name": "late"})
        worker.stopping.set()
        assert worker.drain() == 0
        assert late.refresh().state is TaskState.WAITING
