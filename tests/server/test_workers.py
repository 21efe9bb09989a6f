"""``dockyard serve --workers 4`` on PostgreSQL and Redis, driven concurrently over HTTP.

One real server (four worker processes, eight threads each) on the PostgreSQL database
of ``DOCKYARD_TEST_POSTGRES_URL`` with the Redis backend of ``DOCKYARD_TEST_REDIS_URL``
(both wiped first; without them these tests skip, or fail under ``CI=true``), and two
``dockyard worker`` processes running the background tasks:

- many threads creating one instance at once make one instance, initialised once;
- 4 x 8 threads x 250 increments of a storage counter, spread over every worker
  process, end at exactly 8,000, each increment having seen a different value;
- tasks scheduled over HTTP run in the ``dockyard worker`` processes, each once;
- a key revoked elsewhere is refused by every worker process at once.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard.store import Store

DOCKYARD = shutil.which("dockyard", path=str(Path(sys.executable).parent))
POSTGRES_ENV = "DOCKYARD_TEST_POSTGRES_URL"
REDIS_ENV = "DOCKYARD_TEST_REDIS_URL"
START_TIMEOUT = 60.0
WORKERS = 4

#: The package served (written to a file: ``dockyard serve FILE.py:Counter``).
PACKAGE = '''
import os
import time
from typing import Any

from dockyard import PackageService, get, post


class Counter(PackageService):
    """A storage counter, an init that counts its runs, and a task to run elsewhere."""

    def instance_init(self) -> None:
        self.storage.update("inits", lambda n: n + 1, 0)
        time.sleep(0.5)  # a wide window for the other creators

    @post("bump")
    def bump(self) -> dict[str, int]:
        """Increment the counter; its new value, and which process did it."""
        return {"n": self.storage.update("n", lambda n: n + 1, 0), "pid": os.getpid()}

    @get("state")
    def state(self) -> dict[str, Any]:
        return {
            "n": self.storage.get("n", 0),
            "inits": self.storage.get("inits", 0),
            "done": self.storage.get("done", []),
        }

    @post("work")
    def work(self, item: int) -> dict[str, int]:
        """A background task: record ``item``; which process ran it."""
        self.storage.update("done", lambda done: [*done, item], [])
        return {"item": item, "pid": os.getpid()}
'''


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def required_url(name: str, what: str) -> str:
    """``$name``; without it the test is skipped, or fails under CI."""
    url = os.environ.get(name, "").strip()
    if not url:
        if in_ci():
            pytest.fail(f"{name} is not set: CI runs the {what} tests (.ci/run starts one)")
        pytest.skip(f"{name} is not set (a {what} database the tests may wipe)")
    return url


def wipe_postgres(url: str) -> None:
    from sqlalchemy import create_engine

    from dockyard.store.schema import metadata, schema_version

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn)
            schema_version.drop(conn, checkfirst=True)
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """The running server and workers, and how to reach them."""

    port: int
    home: Path
    database_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def key(self) -> str:
        key: str = json.loads((self.home / "credentials").read_text())["api_key"]
        return key

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.logs if p.exists())

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "",
        connection: http.client.HTTPConnection | None = None,
    ) -> tuple[int, Any]:
        """One request (on ``connection``, else a new one); status and JSON body. ``key``:
        the local key by default, or the one given, or None for none."""
        headers = {"Content-Type": "application/json"}
        key = self.key if key == "" else key
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode()
        conn = connection or self.connect()
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            if connection is None:
                conn.close()
        return response.status, json.loads(raw) if raw else None


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its children
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``dockyard serve --workers 4`` and ``dockyard worker --processes 2`` on the test
    PostgreSQL database and Redis."""
    if DOCKYARD is None:
        pytest.skip("the dockyard console script is missing")
    database_url = required_url(POSTGRES_ENV, "PostgreSQL")
    redis_url = required_url(REDIS_ENV, "Redis")
    wipe_postgres(database_url)
    from redis import Redis

    with Redis.from_url(redis_url) as client:
        client.flushdb()
    home = tmp_path_factory.mktemp("workers")
    package = home / "counter_package.py"
    package.write_text(textwrap.dedent(PACKAGE))
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKYARD_URL", "DOCKYARD_API_KEY")}
    env.update(
        DOCKYARD_HOME=str(home),
        DOCKYARD_DATABASE_URL=database_url,
        DOCKYARD_TASKS_URL=redis_url,
    )
    served = Served(free_port(), home, database_url)
    target = f"{package}:Counter"
    serve = [DOCKYARD, "serve", target, "--port", str(served.port), "--workers", str(WORKERS)]
    try:
        served.logs.append(home / "serve.log")
        served.processes.append(start([*serve, "--threads", "8"], env, served.logs[-1]))
        served.logs.append(home / "worker.log")
        worker = [DOCKYARD, "worker", target, "--processes", "2"]
        served.processes.append(start(worker, env, served.logs[-1]))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for process in served.processes:
                if process.poll() is not None:
                    pytest.fail(f"a process exited {process.returncode}:\n{served.log()}")
            with contextlib.suppress(OSError, ValueError, KeyError):
                if served.request("GET", "/__api__/whoami")[0] == 200:
                    break
            assert time.monotonic() < deadline, f"the server did not start:\n{served.log()}"
            time.sleep(0.1)
        yield served
    finally:
        for process in served.processes:
            stop(process)


def create(served: Served, instance: str) -> tuple[int, Any]:
    return served.request(
        "POST", "/__api__/instances", {"package": "counter", "instance": instance}
    )


def concurrently(threads: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(0..threads-1)`` in as many threads, released together; the results in order."""
    barrier = threading.Barrier(threads)

    def run(index: int) -> Any:
        barrier.wait()
        return fn(index)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


# --- the tests ---------------------------------------------------------------------------


def test_many_threads_creating_one_instance_make_one_initialised_once(served: Served) -> None:
    results = concurrently(24, lambda _: create(served, "shared"))
    assert {status for status, _ in results} == {200}, results
    assert len({body["created_at"] for _, body in results}) == 1  # one instance
    assert {body["init_state"] for _, body in results} == {"ready"}
    status, state = served.request("GET", "/shared/shared/state")
    assert (status, state["inits"]) == (200, 1)
    status, listed = served.request("GET", "/__api__/instances")
    assert status == 200
    assert [item["handle"] for item in listed] == ["shared"]


def test_concurrent_increments_over_every_worker_are_exact(served: Served) -> None:
    assert create(served, "tally")[0] == 200
    clients, threads, rounds = 4, 8, 250
    key = served.key

    def bump_many(_: int) -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []
        connection = served.connect()
        try:
            for n in range(rounds):
                if n % 25 == 0:  # new connections now and then: spread over the workers
                    connection.close()
                    connection = served.connect()
                status, body = served.request(
                    "POST", "/tally/tally/bump", {}, key=key, connection=connection
                )
                assert status == 200, body
                seen.append((body["n"], body["pid"]))
        finally:
            connection.close()
        return seen

    started = time.monotonic()
    results = concurrently(clients * threads, bump_many)
    elapsed = time.monotonic() - started
    values = [n for seen in results for n, _ in seen]
    pids = {pid for seen in results for _, pid in seen}
    total = clients * threads * rounds
    assert total == 8000
    assert sorted(values) == list(range(1, total + 1))  # every increment saw its own value
    assert served.request("GET", "/tally/tally/state")[1]["n"] == total
    assert len(pids) == WORKERS, f"served by {len(pids)} of {WORKERS} workers"
    print(f"{total} increments in {elapsed:.1f} s over {len(pids)} worker processes")


def test_tasks_scheduled_over_http_run_in_worker_processes(served: Served) -> None:
    assert create(served, "jobs")[0] == 200
    count = 40
    scheduled = concurrently(
        count,
        lambda i: served.request(
            "POST", "/jobs/jobs/__tasks__", {"method": "work", "arguments": {"item": i}}
        ),
    )
    assert {status for status, _ in scheduled} == {200}, scheduled
    ids = [body["id"] for _, body in scheduled]
    deadline = time.monotonic() + 60
    pending = set(ids)
    outputs: dict[str, Any] = {}
    while pending:
        for task_id in sorted(pending):
            status, task = served.request("GET", f"/jobs/jobs/__tasks__/{task_id}")
            assert status == 200, task
            assert task["state"] in ("waiting", "running", "succeeded"), task
            if task["state"] == "succeeded":
                outputs[task_id] = task["output"]
                pending.discard(task_id)
        assert time.monotonic() < deadline, f"{len(pending)} tasks never ran:\n{served.log()}"
        time.sleep(0.1)
    assert sorted(output["item"] for output in outputs.values()) == list(range(count))
    done = served.request("GET", "/jobs/jobs/state")[1]["done"]
    assert sorted(done) == list(range(count))  # each ran once
    # Run by the worker processes (their process group: started with a session of their
    # own), never by the servers, which only schedule when DOCKYARD_TASKS_URL is set.
    serve, worker = served.processes
    task_pids = {output["pid"] for output in outputs.values()}
    assert {os.getpgid(pid) for pid in task_pids} == {worker.pid}
    server_pids = {
        served.request("POST", "/jobs/jobs/bump", {})[1]["pid"] for _ in range(4 * WORKERS)
    }
    assert {os.getpgid(pid) for pid in server_pids} == {serve.pid}


def test_a_key_revoked_elsewhere_is_refused_by_every_worker_at_once(served: Served) -> None:
    with Store(served.database_url) as store:
        record, key = store.create_key("local", "revoke-me")
        # Warm every worker's view of the key (new connections spread over the workers).
        for _ in range(8 * WORKERS):
            assert served.request("GET", "/__api__/whoami", key=key) == (200, {"user": "local"})
        store.revoke_key("local", record.id)
    statuses = concurrently(
        8 * WORKERS, lambda _: served.request("GET", "/__api__/whoami", key=key)
    )
    assert {status for status, _ in statuses} == {401}
    assert served.request("GET", "/__api__/whoami")[0] == 200  # the local key still works
