"""The distributed task backend: RQ on Redis as the dispatch transport.

The store stays the single source of truth (records, dependencies, delays as
``run_after``, attempts, leases, outputs, failure propagation: all `TaskQueue`). Redis
only carries "task X may be due now" messages to ``dockyard worker`` processes on any
machine, replacing SQL polling for wake-ups (``docs/tasks-backends.md`` has the design
and why neither RQ nor Huey can hold the tasks themselves):

- `RedisDispatcher` is the store's `TaskDispatcher`: after a commit that may have made
  tasks due, one RQ job per task calls `run_task_job` with the task id, enqueued now, or
  at its ``run_after`` (rounded up to the second RQ's scheduler counts in) through RQ's
  scheduled-job registry.
- `run_task_job` runs in a worker process: `TaskQueue.claim_task` takes the task only
  if it is due, so a duplicated, stale or early message does nothing; then the same
  run/succeed/fail logic as the embedded worker (`execute_task`), with the lease renewed
  by a heartbeat thread. It never raises into RQ: a task's failure is recorded in SQL.
- `RedisTaskWorker` is one ``dockyard worker`` process: an RQ `SimpleWorker` (no fork
  per job) with RQ's scheduler, a heartbeat thread, and a sweeper thread that recovers
  the tasks of dead workers and re-dispatches due tasks nobody ran. That covers a crash
  between the SQL commit and the enqueue, a Redis that lost data, and RQ's own loss
  windows: messages are hints, and the sweeper re-derives them from SQL.

RQ's bookkeeping is throw-away: no results (``result_ttl=0``), failures kept briefly, no
``Retry``, no ``depends_on``. The RQ job id is ``<task id>-<attempts>-<random>``, so each
dispatch of a task is a distinct job (RQ ids allow no ``:``).

Import this module only with rq installed (``pip install 'dockyard[redis]'``); nothing
in ``dockyard`` imports it unless ``DOCKYARD_TASKS_URL`` is set.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.timeouts import BaseDeathPenalty

from dockyard.store.tasks import DueTask, TaskNotFoundError
from dockyard.tasks.backend import TASKS_URL_ENV, tasks_url
from dockyard.tasks.worker import execute_task, recover_dead, worker_name

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

__all__ = [
    "DEFAULT_QUEUE",
    "JOB_FUNCTION",
    "TARGETS_ENV",
    "RedisDispatcher",
    "RedisTaskWorker",
    "run_task_job",
    "run_worker",
    "shown_url",
]

logger = logging.getLogger("dockyard.tasks")

#: The RQ queue the messages go through.
DEFAULT_QUEUE: Final = "dockyard"
#: What each RQ job calls (by name: the enqueuing process need not import it).
JOB_FUNCTION: Final = "dockyard.tasks.redis.run_task_job"
#: The ``FILE.py:Class`` targets a worker process loads, separated by commas, when
#: `run_task_job` runs in a process that ``dockyard worker`` did not start (``rq worker``).
TARGETS_ENV: Final = "DOCKYARD_TASK_TARGETS"
#: Seconds RQ keeps the record of a job that failed in RQ itself (never a task's own
#: failure, which is in SQL): long enough to look at, short enough not to pile up.
FAILURE_TTL: Final = 300
#: Seconds between RQ's registry clean-ups in a worker; also how soon a worker takes over
#: the scheduler of one that died (RQ's default, 600 s, leaves delayed jobs to the sweeper
#: for that long).
MAINTENANCE_SECONDS: Final = 15
#: Most overdue tasks one sweep re-dispatches.
SWEEP_LIMIT: Final = 1000
#: Least seconds between two RQ worker heartbeats (RQ's worker TTL is minutes).
HEARTBEAT_SECONDS: Final = 5.0
#: Least seconds between two checks for ``rq suspend``.
SUSPENSION_CHECK_SECONDS: Final = 1.0
#: Least seconds between two starts of one worker process by ``--processes``.
RESTART_SECONDS: Final = 5.0


def shown_url(url: str) -> str:
    """``url`` fit for a log: its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def _due_at(run_after: datetime) -> datetime:
    # RQ scores scheduled jobs in whole seconds, truncated: rounding down could deliver
    # the message before the task is due (and the claim would refuse it).
    return datetime.fromtimestamp(math.ceil(run_after.timestamp()), timezone.utc)


class RedisDispatcher:
    """Sends tasks that may be due to the RQ queue ``queue_name`` on ``url`` (a
    `TaskDispatcher`).

    :param url: ``redis://host:port/db``.
    :param queue_name: the RQ queue the workers listen on.
    """

    def __init__(self, url: str, queue_name: str = DEFAULT_QUEUE) -> None:
        self.url = url
        self.redis: Redis = Redis.from_url(url)
        self.queue = Queue(queue_name, connection=self.redis, serializer=JSONSerializer)

    def __repr__(self) -> str:
        return f"<RedisDispatcher {self.queue.name} on {shown_url(self.url)}>"

    def dispatch(self, tasks: Sequence[DueTask]) -> None:
        """Enqueue one job per task, in one round trip: at once if it is due, else in
        RQ's scheduled-job registry at its ``run_after`` (rounded up to the second)."""
        if not tasks:
            return
        now = datetime.now(timezone.utc)
        with self.redis.pipeline() as pipe:
            for task in tasks:
                job = self.queue.create_job(
                    JOB_FUNCTION,
                    args=(task.id,),
                    job_id=f"{task.id}-{task.attempts}-{uuid.uuid4().hex[:8]}",
                    description=f"dockyard task {task.id}",
                    timeout=-1,  # a task runs as long as it takes (its lease says it lives)
                    result_ttl=0,
                    failure_ttl=FAILURE_TTL,
                )
                if task.run_after > now:
                    self.queue.schedule_job(job, _due_at(task.run_after), pipeline=pipe)
                else:
                    self.queue.enqueue_job(job, pipeline=pipe)
            pipe.execute()

    def close(self) -> None:
        """Close the Redis connections."""
        self.redis.close()


# --- the worker process ------------------------------------------------------------------

#: The worker of this process, which `run_task_job` uses.
_current: RedisTaskWorker | None = None
_current_lock = threading.Lock()


def run_task_job(task_id: str) -> None:
    """The RQ job: run task ``task_id`` if it is due (else nothing), in this process's
    `RedisTaskWorker` (built from the environment on first use if ``dockyard worker``
    did not start this process). Never raises: a task's failure is recorded in SQL."""
    try:
        _process_worker().run_job(task_id)
    except Exception:
        # Leave the task to recovery (its lease, or a re-dispatch) rather than to RQ.
        logger.exception("running task %s failed", task_id)


def _process_worker() -> RedisTaskWorker:
    global _current
    with _current_lock:
        if _current is None:
            url = tasks_url()
            if url is None:
                raise RuntimeError(f"{TASKS_URL_ENV} is not set in this worker process")
            targets = [t.strip() for t in os.environ.get(TARGETS_ENV, "").split(",") if t.strip()]
            _current = RedisTaskWorker(_runtime_for(targets), url).start()
        return _current


def _runtime_for(targets: Sequence[str]) -> Runtime:
    """A `Runtime` on the store ``$DOCKYARD_HOME`` / ``DOCKYARD_DATABASE_URL`` names,
    serving ``targets`` (``FILE.py:Class`` or ``module:Class``) besides the installed
    packages."""
    from dockyard.cli import load_target
    from dockyard.core.discovery import is_handle
    from dockyard.runtime import Runtime, package_handle_for
    from dockyard.server.serve import default_home
    from dockyard.store import Store

    packages = {}
    for target in targets:
        if ":" in target or not is_handle(target):
            cls = load_target(target)
            packages[package_handle_for(cls)] = cls
    return Runtime(Store(home=default_home()), packages=packages)


class RedisTaskWorker:
    """One worker process of the Redis backend: runs the tasks RQ delivers, one at a
    time, plus a heartbeat thread (renews the lease of the running task) and a sweeper
    thread (recovers lost tasks).

    :param runtime: where instances come from; its store's task queue dispatches
        through a `RedisDispatcher` on ``url`` (set here unless it has one).
    :param url: the Redis URL.
    :param queue_name: the RQ queue to listen on.
    :param lease_seconds: how long a claim holds without a heartbeat.
    :param sweep_seconds: time between sweeps.
    :param grace_seconds: how long a task may be due, with the RQ queue empty, before
        a sweep re-dispatches it (its message was lost).
    :param stale_seconds: the same while the queue has a backlog (its message is
        probably in it); also the least time between two re-dispatches of a task.
    :param retry_backoff: seconds before the first retry of a failing task (doubling).
    """

    def __init__(
        self,
        runtime: Runtime,
        url: str,
        *,
        queue_name: str = DEFAULT_QUEUE,
        lease_seconds: float = 30.0,
        sweep_seconds: float = 1.0,
        grace_seconds: float = 2.0,
        stale_seconds: float = 30.0,
        retry_backoff: float = 0.5,
    ) -> None:
        self.runtime = runtime
        self.queue = runtime.store.tasks
        existing = self.queue.dispatcher
        if (
            isinstance(existing, RedisDispatcher)
            and existing.url == url
            and existing.queue.name == queue_name
        ):
            self.dispatcher = existing
        else:
            self.dispatcher = RedisDispatcher(url, queue_name)
            self.queue.dispatcher = self.dispatcher
        self.name = worker_name()
        self.lease_seconds = lease_seconds
        self.sweep_seconds = sweep_seconds
        self.grace_seconds = grace_seconds
        self.stale_seconds = stale_seconds
        self.retry_backoff = retry_backoff
        self._stop = threading.Event()
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        prefix = f"dockyard:{queue_name}"
        self._sweep_key = f"{prefix}:sweep"
        self._redispatched_prefix = f"{prefix}:redispatched:"

    def __repr__(self) -> str:
        return f"<RedisTaskWorker {self.name} on {shown_url(self.dispatcher.url)}>"

    def start(self) -> RedisTaskWorker:
        """Recover the tasks of dead workers, start the heartbeat and sweeper threads
        (daemons); returns self. `run` calls it."""
        if self._threads:
            return self
        try:
            recover_dead(self.queue)
        except Exception:
            logger.exception("recovering the tasks of dead workers failed")
        for target, name in ((self._heartbeat, "heartbeat"), (self._sweeper, "sweeper")):
            thread = threading.Thread(target=target, name=f"dockyard-task-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads (a running task is `run`'s to finish)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def run(self, *, log_level: str = "WARNING") -> bool:
        """Work until SIGTERM or SIGINT (then finish the running task and return True):
        RQ's loop on this thread (the main one: RQ handles those signals), with RQ's
        scheduler, which moves delayed jobs to the queue when they are due. False if
        RQ's loop ended on its own (an error it logged)."""
        global _current
        with _current_lock:
            _current = self
        worker = _Worker(
            [self.dispatcher.queue],
            name=self.name.replace(":", "-"),
            connection=self.dispatcher.redis,
            serializer=JSONSerializer,
            maintenance_interval=MAINTENANCE_SECONDS,
            log_job_description=False,
            default_result_ttl=0,
        )
        # After RQ has forked its scheduler: a fork should not copy our threads.
        worker.on_scheduler_started = self.start
        try:
            worker.work(with_scheduler=True, logging_level=log_level)
        finally:
            self.stop()
            with _current_lock:
                if _current is self:
                    _current = None
        # RQ notes when it was asked to stop; without that, it gave up (e.g. Redis
        # failing in the middle of a job): say so, for a supervisor to restart it.
        return worker._shutdown_requested_date is not None

    # --- jobs ----------------------------------------------------------------------

    def run_job(self, task_id: str) -> bool:
        """Claim task ``task_id`` if due and run it; whether it ran."""
        task = self.queue.claim_task(task_id, self.name, self.lease_seconds)
        if task is None:
            self._not_claimed(task_id)
            return False
        with self._lock:
            self._running.add(task.id)
        try:
            execute_task(self.runtime, task, retry_backoff=self.retry_backoff)
        finally:
            with self._lock:
                self._running.discard(task.id)
        return True

    def _not_claimed(self, task_id: str) -> None:
        # A message for a task that ran, runs or was cancelled is stale: drop it. One
        # that came early (clocks apart, or sent by hand) is sent again for its time.
        try:
            task = self.queue.get(task_id)
        except TaskNotFoundError:
            return  # its instance was deleted
        early = task.run_after > datetime.now(timezone.utc)
        if task.state == "waiting" and task.pending == 0 and early:
            self.dispatcher.dispatch([DueTask(task.id, task.run_after, task.attempts)])

    # --- threads -------------------------------------------------------------------

    def _heartbeat(self) -> None:
        period = max(0.05, self.lease_seconds / 3)
        while not self._stop.wait(period):
            with self._lock:
                running = list(self._running)
            try:
                self.queue.renew(self.name, running, self.lease_seconds)
            except Exception:
                logger.exception("renewing task leases failed")

    def _sweeper(self) -> None:
        unreachable = False
        while not self._stop.wait(self.sweep_seconds):
            try:
                self.sweep()
            except RedisConnectionError as exc:
                # Once, not every second: the sweeps go on and catch up when it is back.
                if not unreachable:
                    logger.warning("Redis is unreachable (%s); sweeping on", exc)
                unreachable = True
                continue
            except Exception:
                logger.exception("sweeping the task queue failed")
            if unreachable:
                logger.warning("Redis is reachable again")
                unreachable = False

    def sweep(self) -> int:
        """Recover the tasks of dead workers (this host's at once, others' when their
        lease has passed; requeued tasks are dispatched), then, if no other process
        swept this period, re-dispatch due tasks nobody took: due for `grace_seconds`
        with the RQ queue empty, or for `stale_seconds`, and not re-dispatched in the
        last `stale_seconds`. How many were re-dispatched."""
        recover_dead(self.queue)
        redis = self.dispatcher.redis
        period_ms = max(1, int(self.sweep_seconds * 1000))
        if not redis.set(self._sweep_key, self.name, nx=True, px=period_ms):
            return 0
        backlog = self.dispatcher.queue.count
        wait = self.grace_seconds if backlog == 0 else self.stale_seconds
        before = datetime.now(timezone.utc) - timedelta(seconds=wait)
        overdue = self.queue.overdue(before, SWEEP_LIMIT)
        if not overdue:
            return 0
        with redis.pipeline(transaction=False) as pipe:
            for task in overdue:
                key = f"{self._redispatched_prefix}{task.id}"
                pipe.set(key, 1, nx=True, ex=max(1, math.ceil(self.stale_seconds)))
            fresh = pipe.execute()
        again = [task for task, marked in zip(overdue, fresh, strict=True) if marked]
        if again:
            logger.warning(
                "re-dispatching %d task(s) due for %.0f s that no worker took (lost "
                "messages, or a long backlog)",
                len(again),
                wait,
            )
            self.dispatcher.dispatch(again)
        return len(again)


# --- RQ, adapted -------------------------------------------------------------------------


class _NoTimeout(BaseDeathPenalty):
    """Tasks have no time limit in RQ (their lease is what says they are alive), and
    SIGALRM is left alone."""

    def setup_death_penalty(self) -> None:
        """Nothing to set up."""

    def cancel_death_penalty(self) -> None:
        """Nothing to cancel."""


class _Scheduler(RQScheduler):
    """RQ's scheduler process, which also stops when the worker that forked it is gone:
    after a ``kill -9`` of the worker it would otherwise run on, orphaned, holding the
    scheduler lock, for good."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parent_pid = os.getpid()

    def heartbeat(self) -> None:
        """Stop (at the loop's next turn, releasing the lock) once orphaned."""
        if os.getppid() != self._parent_pid:
            self._stop_requested = True
        super().heartbeat()  # type: ignore[no-untyped-call]


class _Worker(SimpleWorker):
    """RQ's `SimpleWorker` (jobs run in this process: no fork per job) with no job
    timeouts, the orphan-proof `_Scheduler`, and fewer Redis round trips per job.

    RQ costs some 25 round trips per job, which bounds a worker process to a few hundred
    jobs a second; the worker's own liveness bookkeeping is 10 of them: its heartbeat
    (three commands, sent one by one several times per job, to extend a TTL of minutes)
    and the ``rq suspend`` check. Both are thinned out here to once per
    `HEARTBEAT_SECONDS` / `SUSPENSION_CHECK_SECONDS`, which their TTL and purpose allow.
    """

    death_penalty_class = _NoTimeout
    #: Called once RQ's scheduler has been forked (or could not take the lock).
    on_scheduler_started: Any = None
    _last_beat = 0.0
    _last_suspension_check = 0.0

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's worker heartbeat, at most every `HEARTBEAT_SECONDS` when RQ sends it on
        its own (and then in one round trip); as RQ does within its own pipelines."""
        if pipeline is None and timeout is None:
            now = time.monotonic()
            if now - self._last_beat < HEARTBEAT_SECONDS:
                return
            self._last_beat = now
            with self.connection.pipeline() as pipe:
                super().heartbeat(None, pipe)
                pipe.execute()
            return
        super().heartbeat(timeout, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's ``rq suspend`` check, at most every `SUSPENSION_CHECK_SECONDS`."""
        now = time.monotonic()
        if now - self._last_suspension_check < SUSPENSION_CHECK_SECONDS:
            return
        self._last_suspension_check = now
        super().check_for_suspension(burst)

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        # RQ's own method with the scheduler class swapped (RQ has no hook for it).
        self.scheduler = _Scheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
                finally:
                    self.scheduler.release_locks()  # type: ignore[no-untyped-call]
                    self.scheduler.register_death()
            else:
                self.scheduler.start()  # type: ignore[no-untyped-call]
        if self.on_scheduler_started is not None:
            self.on_scheduler_started()


# --- dockyard worker ---------------------------------------------------------------------


def run_worker(
    runtime: Runtime,
    targets: Sequence[str],
    *,
    processes: int = 1,
    lease_seconds: float = 30.0,
) -> None:
    """``dockyard worker`` on the Redis backend: work in this process until SIGTERM or
    SIGINT, or with ``processes`` > 1 start that many worker processes (each loading
    ``targets`` itself) and restart any that dies, until SIGTERM or SIGINT.

    :raises SystemExit: (non-zero) the worker stopped on an error, not on request.
    """
    url = tasks_url()
    if url is None:
        raise RuntimeError(f"{TASKS_URL_ENV} is not set")
    if processes <= 1:
        worker = RedisTaskWorker(runtime, url, lease_seconds=lease_seconds)
        _banner(worker)
        try:
            stopped = worker.run()
        finally:
            runtime.store.close()
        if not stopped:
            raise SystemExit("the task worker stopped on an error (see above)")
        return
    runtime.store.close()  # each process opens its own
    _supervise(list(targets), processes, lease_seconds)


def _banner(worker: RedisTaskWorker) -> None:
    # The tests read the worker name from this line.
    url = shown_url(worker.dispatcher.url)
    print(f"task worker {worker.name} on {url} (one task at a time)", flush=True)


def _child_main(targets: list[str], lease_seconds: float) -> None:
    # A worker process of `run_worker(processes=N)` (spawned: nothing inherited).
    runtime = _runtime_for(targets)
    url = tasks_url()
    assert url is not None
    worker = RedisTaskWorker(runtime, url, lease_seconds=lease_seconds)
    _banner(worker)
    try:
        stopped = worker.run()
    finally:
        runtime.store.close()
    if not stopped:
        raise SystemExit(1)  # the supervisor starts another


def _supervise(targets: list[str], processes: int, lease_seconds: float) -> None:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no shared state
    stopping = threading.Event()

    def start(index: int) -> Any:
        process = context.Process(
            target=_child_main, args=(targets, lease_seconds), name=f"dockyard-worker-{index}"
        )
        process.start()
        return process

    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    children = [start(i) for i in range(processes)]
    started = [time.monotonic()] * processes
    try:
        while not stopping.wait(0.5):
            for index, child in enumerate(children):
                # One that dies at once (Redis down, a broken target) is not restarted
                # in a tight loop.
                if not child.is_alive() and time.monotonic() - started[index] >= RESTART_SECONDS:
                    logger.warning(
                        "task worker process %s exited (%s); starting another",
                        child.pid,
                        child.exitcode,
                    )
                    children[index] = start(index)
                    started[index] = time.monotonic()
    except KeyboardInterrupt:
        pass  # the children got the SIGINT too
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: a warm shutdown (the running task finishes)
        for child in children:
            child.join(60)
            if child.is_alive():
                child.kill()
                child.join()
