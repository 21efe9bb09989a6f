"""The distributed task backend: RQ on Redis as the wake-up transport.

The store stays the single source of truth (records, dependencies, delays as
``run_after``, attempts, leases, outputs, failure propagation: all `TaskQueue`), and it
is also the queue: workers take tasks with `TaskQueue.claim`, as the embedded backend's
threads do. Redis replaces SQL polling for wake-ups, across machines: RQ carries
"tasks may be due" jobs (``docs/tasks-backends.md`` has the design, and why neither RQ
nor Huey can hold the tasks themselves):

- `RedisDispatcher` is the store's `TaskDispatcher`. After a commit that made tasks due
  it rings a *bell*: one RQ job (`run_wake_job`), enqueued only if no other is waiting
  (a Redis key set with ``NX`` says one is), so a burst of 5,000 tasks costs one RQ job,
  not 5,000 (RQ spends some 4.5 ms of CPU on each job: one job per task bounded two
  worker processes to about 200 tasks a second). A task due later gets a wake-up job in
  RQ's scheduled-job registry at its ``run_after`` (rounded up to the second RQ's
  scheduler counts in), one per second however many tasks fall in it.
- `run_wake_job` runs in a worker process and *drains*: it claims due tasks from the
  store one at a time and runs each (`execute_task`, the embedded worker's own
  run/succeed/fail logic, the lease renewed by a heartbeat thread), until none is due
  (or `DRAIN_SECONDS` passed: then it rings again and hands back to RQ's loop, which
  keeps RQ's scheduler, heartbeats and signals served). Having claimed one task it rings
  the bell if more are due, so idle workers join in. A task made due while a drain runs
  (a chain's next link) is claimed by that drain directly: no Redis round trip at all.
  It never raises into RQ: a task's failure is recorded in SQL.
- `RedisTaskWorker` is one ``dockyard worker`` process: an RQ `SimpleWorker` (no fork
  per job) with RQ's scheduler, a heartbeat thread, and a sweeper thread that recovers
  the tasks of dead workers and rings for tasks overdue with nobody woken. That covers a
  crash between the SQL commit and the ring, a Redis that lost data, a worker killed
  holding the bell, and RQ's own loss windows: wake-ups are hints, re-derived from SQL.

RQ's bookkeeping is throw-away: no results (``result_ttl=0``), failures kept briefly, no
``Retry``, no ``depends_on``.

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
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.timeouts import BaseDeathPenalty

from dockyard.store.tasks import DueTask, TaskRecord
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
    "run_wake_job",
    "run_worker",
    "shown_url",
]

logger = logging.getLogger("dockyard.tasks")

#: The RQ queue the wake-up jobs go through.
DEFAULT_QUEUE: Final = "dockyard"
#: What each RQ job calls (by name: the enqueuing process need not import it).
JOB_FUNCTION: Final = "dockyard.tasks.redis.run_wake_job"
#: The ``FILE.py:Class`` targets a worker process loads, separated by commas, when
#: `run_wake_job` runs in a process that ``dockyard worker`` did not start (``rq worker``).
TARGETS_ENV: Final = "DOCKYARD_TASK_TARGETS"
#: Seconds RQ keeps the record of a job that failed in RQ itself (never a task's own
#: failure, which is in SQL): long enough to look at, short enough not to pile up.
FAILURE_TTL: Final = 300
#: Seconds between RQ's registry clean-ups in a worker; also how soon a worker takes over
#: the scheduler of one that died (RQ's default, 600 s, leaves delayed jobs to the sweeper
#: for that long).
MAINTENANCE_SECONDS: Final = 15
#: Longest a drain runs before it rings again and returns to RQ's loop.
DRAIN_SECONDS: Final = 1.0
#: About how long a batch of claimed tasks should take to run (see `RedisTaskWorker.drain`).
BATCH_SECONDS: Final = 0.02
#: Most tasks one claim takes.
MAX_BATCH: Final = 32
#: Milliseconds the bell stays rung without a worker answering: a wake-up job lost with
#: its worker (or its Redis) blocks further rings no longer than this (the sweeper rings
#: for overdue tasks anyway).
BELL_MS: Final = 10_000
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
    # the wake-up before the task is due (and the drain would find nothing to claim).
    return datetime.fromtimestamp(math.ceil(run_after.timestamp()), timezone.utc)


class RedisDispatcher:
    """Wakes the workers listening on the RQ queue ``queue_name`` on ``url`` when tasks
    become due (a `TaskDispatcher`).

    :param url: ``redis://host:port/db``.
    :param queue_name: the RQ queue the workers listen on.
    """

    def __init__(self, url: str, queue_name: str = DEFAULT_QUEUE) -> None:
        self.url = url
        self.redis: Redis = Redis.from_url(url)
        self.queue = Queue(queue_name, connection=self.redis, serializer=JSONSerializer)
        #: Set (with a TTL) while a wake-up job waits in the queue for a worker.
        self.bell_key = f"dockyard:{queue_name}:bell"

    def __repr__(self) -> str:
        return f"<RedisDispatcher {self.queue.name} on {shown_url(self.url)}>"

    def dispatch(self, tasks: Sequence[DueTask]) -> None:
        """Ring the bell if any of ``tasks`` is due now; schedule a wake-up in RQ's
        scheduled-job registry for each second in which one of the others falls due."""
        if not tasks:
            return
        now = datetime.now(timezone.utc)
        later = sorted({_due_at(t.run_after) for t in tasks if t.run_after > now})
        if later:
            with self.redis.pipeline() as pipe:
                for when in later:
                    # One job id per second: tasks due in the same second share it.
                    job = self._job(f"wake-at-{int(when.timestamp())}")
                    self.queue.schedule_job(job, when, pipeline=pipe)
                pipe.execute()
        if len(later) < len(tasks):
            self.ring()

    def ring(self, *, force: bool = False) -> bool:
        """Enqueue a wake-up job unless one already waits for a worker (or ``force``);
        whether one was enqueued."""
        rung = self.redis.set(self.bell_key, 1, nx=not force, px=BELL_MS)
        if not rung:
            return False
        self.queue.enqueue_job(self._job(f"wake-{uuid.uuid4().hex[:12]}"))
        return True

    def answer(self) -> None:
        """Say that a worker took the waiting wake-up job (the next ring enqueues one)."""
        self.redis.delete(self.bell_key)

    def _job(self, job_id: str) -> Any:
        return self.queue.create_job(
            JOB_FUNCTION,
            job_id=job_id,
            description="dockyard: run due tasks",
            timeout=-1,  # a drain runs as long as its tasks do (their leases say they live)
            result_ttl=0,
            failure_ttl=FAILURE_TTL,
        )

    def close(self) -> None:
        """Close the Redis connections."""
        self.redis.close()


# --- the worker process ------------------------------------------------------------------

#: The worker of this process, which `run_wake_job` uses.
_current: RedisTaskWorker | None = None
_current_lock = threading.Lock()


def run_wake_job() -> None:
    """The RQ job: run due tasks (`RedisTaskWorker.drain`) in this process's
    `RedisTaskWorker` (built from the environment on first use if ``dockyard worker``
    did not start this process). Never raises: a task's failure is recorded in SQL."""
    try:
        _process_worker().drain()
    except Exception:
        # Leave the tasks to recovery (their leases, or the sweeper) rather than to RQ.
        logger.exception("running due tasks failed")


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
    """One worker process of the Redis backend: runs due tasks, one at a time, when RQ
    delivers a wake-up, plus a heartbeat thread (renews the lease of the running task)
    and a sweeper thread (recovers lost tasks, rings for overdue ones).

    :param runtime: where instances come from; its store's task queue dispatches
        through a `RedisDispatcher` on ``url`` (set here unless it has one).
    :param url: the Redis URL.
    :param queue_name: the RQ queue to listen on.
    :param lease_seconds: how long a claim holds without a heartbeat.
    :param sweep_seconds: time between sweeps.
    :param grace_seconds: how long a task may be due and waiting before a sweep rings
        for it (its wake-up was lost, or every worker is busy).
    :param retry_backoff: seconds before the first retry of a failing task (doubling).
    :param drain_seconds: longest a drain runs before handing back to RQ's loop.
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
        retry_backoff: float = 0.5,
        drain_seconds: float = DRAIN_SECONDS,
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
        self.retry_backoff = retry_backoff
        self.drain_seconds = drain_seconds
        self._stop = threading.Event()
        #: Set when RQ is asked to stop: a drain claims nothing more.
        self.stopping = threading.Event()
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # Seconds a task takes here (a moving average), which sizes the batches.
        self._task_seconds: float | None = None
        self._sweep_key = f"dockyard:{queue_name}:sweep"

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
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def run(self, *, log_level: str = "WARNING") -> bool:
        """Work until SIGTERM or SIGINT (then finish the running task and return True):
        RQ's loop on this thread (the main one: RQ handles those signals), with RQ's
        scheduler, which moves delayed wake-ups to the queue when they are due. False if
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
        worker.on_stop_requested = self.stopping.set
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

    def drain(self) -> int:
        """Claim and run due tasks until none is due, the worker is asked to stop, or
        `drain_seconds` passed (then ring again, so the rest is not left waiting); how
        many ran.

        Tasks are claimed, and their successes committed, in batches sized to take about
        `BATCH_SECONDS` at the pace tasks have run here (one at a time while they are
        slow or the pace is unknown, up to `MAX_BATCH`): short tasks cost two
        transactions per batch, not per task, and a slow task is never held back by
        others claimed with it. The price, for short tasks only: a batch's tasks show
        ``running`` from its claim and finish at its commit, at most some
        `BATCH_SECONDS` apart from when each really started and ended.
        """
        # First, so that a task made due from now on rings for another wake-up: one
        # committed before this is claimed below.
        try:
            self.dispatcher.answer()
        except RedisError as exc:
            logger.warning("could not reach Redis (%s); running due tasks anyway", exc)
        deadline = time.monotonic() + self.drain_seconds
        ran = 0
        while not self.stopping.is_set():
            claimed = self.queue.claim(self.name, self.lease_seconds, self._batch_size())
            if not claimed:
                break
            if ran == 0 and self._more_due():
                self._ring()  # an idle worker may help with the rest
            self._run_batch(claimed)
            ran += len(claimed)
            if time.monotonic() >= deadline:
                if not self.stopping.is_set() and self._more_due():
                    self._ring()
                break
        return ran

    def _ring(self) -> None:
        # With Redis gone, the drain goes on with what SQL says is due (the sweeper rings
        # when Redis is back); tasks claimed and not run would wait for their lease.
        try:
            self.dispatcher.ring()
        except RedisError as exc:
            logger.warning("could not ring for more workers (%s); running on", exc)

    def _batch_size(self) -> int:
        pace = self._task_seconds
        if pace is None or pace >= BATCH_SECONDS:
            return 1
        return max(1, min(MAX_BATCH, int(BATCH_SECONDS / max(pace, 1e-6))))

    def _run_batch(self, claimed: Sequence[TaskRecord]) -> None:
        successes: list[tuple[TaskRecord, Any, str]] = []
        with self._lock:
            self._running.update(task.id for task in claimed)
        try:
            for task in claimed:
                started = time.monotonic()
                execute_task(
                    self.runtime,
                    task,
                    retry_backoff=self.retry_backoff,
                    succeed=lambda *success: successes.append(success),
                )
                took = time.monotonic() - started
                previous = self._task_seconds
                self._task_seconds = took if previous is None else 0.8 * previous + 0.2 * took
            self._commit(successes)
        finally:
            with self._lock:
                self._running.difference_update(task.id for task in claimed)

    def _commit(self, successes: Sequence[tuple[TaskRecord, Any, str]]) -> None:
        try:
            held = self.queue.succeed_many(successes)
        except Exception:
            # One bad output must not lose the others' successes: one at a time.
            logger.exception("recording %d successes at once failed", len(successes))
            held = []
            for task, output, mime in successes:
                try:
                    held.append(self.queue.succeed(task, output, mime))
                except Exception:
                    logger.exception("recording the success of task %s failed", task.id)
                    held.append(True)
        for (task, _, _), ok in zip(successes, held, strict=True):
            if not ok:
                logger.warning(
                    "task %s finished after its lease passed; its result is dropped", task.id
                )

    def run_one(self, task_id: str) -> bool:
        """Claim task ``task_id`` if it is due and run it; whether it ran (for tests and
        tools: workers take tasks with `drain`)."""
        task = self.queue.claim_task(task_id, self.name, self.lease_seconds)
        if task is None:
            return False
        self._run_batch([task])
        return True

    def _more_due(self) -> bool:
        due = self.queue.next_due()
        return due is not None and due <= datetime.now(timezone.utc)

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

    def sweep(self) -> bool:
        """Recover the tasks of dead workers (this host's at once, others' when their
        lease has passed; the requeued tasks ring), then, if no other process swept this
        period, ring for tasks due for `grace_seconds` and still waiting, even if the
        bell says a wake-up is queued (it may be lost); whether it rang so."""
        recover_dead(self.queue)
        redis = self.dispatcher.redis
        period_ms = max(1, int(self.sweep_seconds * 1000))
        if not redis.set(self._sweep_key, self.name, nx=True, px=period_ms):
            return False
        before = datetime.now(timezone.utc) - timedelta(seconds=self.grace_seconds)
        if not self.queue.overdue(before, 1):
            return False
        if self.dispatcher.queue.count == 0 and not self.queue.running_workers():
            # A task due for a while, nothing queued and nobody draining: its wake-up was
            # lost (a backlog that busy workers are draining is no news).
            logger.warning(
                "re-dispatching: tasks due for %.0f s and no wake-up queued (lost in "
                "Redis, or with a worker); ringing",
                self.grace_seconds,
            )
        self.dispatcher.ring(force=True)
        return True


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
    #: Called when RQ is asked to stop (SIGTERM, SIGINT), before it waits for the job.
    on_stop_requested: Any = None
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

    def request_stop(self, signum: int, frame: Any) -> None:
        """RQ's warm shutdown, telling the running drain first (it claims no more)."""
        if self.on_stop_requested is not None:
            self.on_stop_requested()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

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
