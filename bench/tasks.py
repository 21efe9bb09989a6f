"""Background tasks (invoke_later): throughput, idle latency and a 100-deep chain.

Run by hand from the repository root, in the dev venv::

    python bench/tasks.py                 # about half a minute
    python bench/tasks.py --tasks 2000    # a shorter run

What is measured (embedded backend: tasks in the SQLite store of a fresh
``$DOCKYARD_HOME``, run by a `TaskWorker` in this process, exactly as ``dockyard serve``
and the embedded client run them):

- **Throughput** (target >= 500 tasks/s): ``--tasks`` (default 5,000) no-op tasks
  (``@post("noop")`` returning None) are scheduled with ``invoke_later`` while no worker
  runs; then a worker with ``--threads`` (default 2) threads starts, and the clock runs
  until the last one has succeeded. Reported: tasks/s for scheduling and for running.
- **Submit-to-start latency when idle** (target p50 <= 20 ms): with the worker idle
  (waiting for work), one task is scheduled and waited for, 200 times in a row; the
  latency is the task's ``started_at - created_at`` as the store records them (one
  clock). The worker is woken in-process by the scheduling; a task scheduled by another
  process is seen at the next poll (``poll_seconds``, 0.2 s by default).
- **A 100-deep chain**: 100 tasks, each waiting on the one before, scheduled at once;
  the time from scheduling the first to the last one's ``finished_at``.

With ``--redis redis://host:port/db`` the same three figures are measured on the Redis
backend (`dockyard.tasks.redis`): the tasks are in the SQLite store of a fresh home, and
``--processes`` (default 2) real ``dockyard worker`` processes run them, woken by RQ
messages (this process schedules and dispatches, as ``dockyard serve`` would). For
throughput the tasks are scheduled (and their messages queued) before the workers
start, and the clock runs from the first task's start to the last one's end as the
store records them (worker start-up excluded; the wall time including it is printed
too). The RQ queue ``dockyard`` on that Redis is emptied first: use a Redis (or db)
of its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, this directory comes first on sys.path, and bench/http.py would
# shadow the standard library's http package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from dockyard import PackageService, Task, TaskState, post
from dockyard.runtime import Runtime
from dockyard.store import Store
from dockyard.tasks import TaskWorker


class Bench(PackageService):
    """No-op tasks."""

    @post("noop")
    def noop(self) -> None:
        """Do nothing."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_and_chains(package: Any) -> None:
    """The idle submit-to-start latency and the 100-deep chains (either backend)."""
    latencies = []
    for _ in range(200):
        task = package.invoke_later("noop").wait(10)
        assert task.state is TaskState.SUCCEEDED
        assert task.started_at is not None
        latencies.append((task.started_at - task.created_at).total_seconds() * 1e3)
    print(
        f"idle submit-to-start latency over 200 tasks: p50 **{statistics.median(latencies):.1f} "
        f"ms** (target <= 20), p95 {percentile(latencies, 0.95):.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )

    chains = []
    for _ in range(3):
        tasks: list[Task] = []
        for _ in range(100):
            tasks.append(package.invoke_later("noop", wait_on_tasks=tasks[-1:]))
        last = tasks[-1].wait(60)
        first = tasks[0].refresh()
        assert last.state is TaskState.SUCCEEDED
        assert last.finished_at is not None
        chains.append((last.finished_at - first.created_at).total_seconds())
    print(
        f"100-deep chain, first scheduled to last finished: median "
        f"**{statistics.median(chains) * 1e3:.0f} ms** over 3 runs "
        f"({', '.join(f'{c * 1e3:.0f}' for c in chains)} ms)"
    )


def main_redis(url: str, tasks: int, processes: int) -> None:
    """The Redis backend: ``processes`` ``dockyard worker`` subprocesses."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from dockyard.tasks.backend import TASKS_URL_ENV, attach_backend
    from dockyard.tasks.redis import DEFAULT_QUEUE, RedisDispatcher

    os.environ[TASKS_URL_ENV] = url
    home = tempfile.mkdtemp(prefix="dockyard-bench-tasks-redis-")
    store = Store(home=home)
    store.ensure_user("local")
    attach_backend(store)
    dispatcher = store.tasks.dispatcher
    assert isinstance(dispatcher, RedisDispatcher)
    queue: Queue = dispatcher.queue
    assert queue.name == DEFAULT_QUEUE
    queue.empty()
    dispatcher.redis.delete(ScheduledJobRegistry(queue=queue).key)
    runtime = Runtime(store, packages={"bench": Bench})
    runtime.use("local", "bench")
    package = runtime.live("bench", "bench").invocable

    start = time.perf_counter()
    for _ in range(tasks):
        package.invoke_later("noop")
    scheduled = time.perf_counter() - start
    print(
        f"scheduled {tasks:,} tasks (SQL insert + RQ enqueue each) in {scheduled:.2f} s: "
        f"{tasks / scheduled:,.0f}/s; {queue.count:,} messages queued"
    )

    dockyard = shutil.which("dockyard", path=str(Path(sys.executable).parent)) or "dockyard"
    env = {**os.environ, "DOCKYARD_HOME": home}
    env.pop("DOCKYARD_DATABASE_URL", None)
    workers = [
        subprocess.Popen(
            [dockyard, "worker", f"{Path(__file__).resolve()}:Bench"],
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(processes)
    ]
    try:
        wall = time.perf_counter()
        while store.tasks.counts()["succeeded"] < tasks:
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a dockyard worker exited")
            time.sleep(0.05)
        wall = time.perf_counter() - wall
        first, last = span(store)
        ran = (last - first).total_seconds()
        print(
            f"ran {tasks:,} tasks with {processes} worker processes in {ran:.2f} s (first "
            f"start to last end): **{tasks / ran:,.0f} tasks/s** (target >= 1,000); "
            f"{wall:.2f} s wall including worker start-up"
        )
        latency_and_chains(package)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
        store.close()


def span(store: Store) -> tuple[Any, Any]:
    """The first ``started_at`` and last ``finished_at`` of the tasks."""
    from sqlalchemy import func, select

    from dockyard.store.schema import tasks as tasks_table

    with store.tasks._db.engine.connect() as conn:
        first, last = conn.execute(
            select(func.min(tasks_table.c.started_at), func.max(tasks_table.c.finished_at))
        ).one()
    return first, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--redis", metavar="URL", help="measure the Redis backend on URL")
    parser.add_argument("--processes", type=int, default=2, help="dockyard workers (--redis)")
    args = parser.parse_args()
    if args.redis:
        main_redis(args.redis, args.tasks, args.processes)
        return

    home = tempfile.mkdtemp(prefix="dockyard-bench-tasks-")
    store = Store(home=home)
    store.ensure_user("local")
    runtime = Runtime(store, packages={"bench": Bench})
    runtime.use("local", "bench")
    package = runtime.live("bench", "bench").invocable

    start = time.perf_counter()
    for _ in range(args.tasks):
        package.invoke_later("noop")
    scheduled = time.perf_counter() - start
    print(f"scheduled {args.tasks:,} tasks in {scheduled:.2f} s: {args.tasks / scheduled:,.0f}/s")

    worker = TaskWorker(runtime, threads=args.threads).start()
    start = time.perf_counter()
    while store.tasks.counts()["succeeded"] < args.tasks:
        time.sleep(0.05)
    ran = time.perf_counter() - start
    print(
        f"ran {args.tasks:,} tasks with {args.threads} threads in {ran:.2f} s: "
        f"**{args.tasks / ran:,.0f} tasks/s** (target >= 500)"
    )

    latency_and_chains(package)
    worker.stop()
    store.close()


if __name__ == "__main__":
    main()
