"""Fixtures of the background-task tests: the ``Jobs`` packages (``jobs.py``, loaded by
path) and real ``dockyard serve`` subprocesses serving them.

The server helpers are a minimal copy of ``tests/server/test_http_acceptance.py`` (test
modules cannot import each other).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

#: The packages the task tests use (a data file, loaded by path).
JOBS_PATH = Path(__file__).resolve().parent / "jobs.py"
DOCKYARD = shutil.which("dockyard", path=str(Path(sys.executable).parent))
START_TIMEOUT = 30.0
SERVER_ENV_DROPPED = ("DOCKYARD_URL", "DOCKYARD_API_KEY", "DOCKYARD_DATABASE_URL")


@pytest.fixture(scope="session")
def jobs() -> ModuleType:
    """``tests/tasks/jobs.py`` imported once (as ``dockyard_test_jobs``)."""
    name = "dockyard_test_jobs"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, JOBS_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # annotations resolve through sys.modules
    spec.loader.exec_module(module)
    return module


# --- real servers ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_DROPPED}
    env["DOCKYARD_HOME"] = str(home)
    return env


@dataclass
class Reply:
    """An HTTP response: status, lower-cased headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


_LOCAL = object()  # "the server's local key"


class Server:
    """One ``dockyard serve tests/tasks/jobs.py:Jobs`` subprocess in its own process
    group, on a fixed port (a restart keeps it) and home."""

    def __init__(self, home: Path, *options: str) -> None:
        self.home = home
        self.options = options
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.logs: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> str:
        key: str = json.loads((self.home / "credentials").read_text())["api_key"]
        return key

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def start(self) -> Server:
        assert DOCKYARD is not None
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        log_path = self.home / f"server-{self.starts}.log"
        self.logs.append(log_path)
        command = [DOCKYARD, "serve", f"{JOBS_PATH}:Jobs", "--port", str(self.port)]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, *self.options],
                env=server_env(self.home),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes it all
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"dockyard serve exited {code}:\n{self.log()}")
            try:
                if self.request("GET", "/__health__", key=None).status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockyard serve did not answer in time:\n{self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9`` the whole process group (master and workers), and reap it."""
        process = self.process
        assert process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
        # The worker processes (children of the dead master) are reparented to PID 1
        # and stay zombies until it reaps them: wait for that (a few seconds at most),
        # so what a restart finds does not depend on how quickly PID 1 reaps.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            self.request("GET", "/__health__", key=None)
            raise AssertionError("the killed server still answers")

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: Any = _LOCAL,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request over a new connection. ``body``: bytes as they are, anything
        else as JSON; ``key``: the local key (default), a key, or None for none."""
        sent = dict(headers or {})
        data: bytes | None = None
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if key is _LOCAL:
            key = self.key
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real ``dockyard`` console script on this server's home."""
        assert DOCKYARD is not None
        return subprocess.run(
            [DOCKYARD, *args],
            env=server_env(self.home),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Start ``dockyard serve tests/tasks/jobs.py:Jobs *options`` with a home of its own
    (or ``home=``); every server started is stopped when the module's tests are done."""
    if DOCKYARD is None:
        pytest.skip("the dockyard console script is missing")
    started: list[Server] = []

    def start(*options: str, home: Path | None = None) -> Server:
        server = Server(home or tmp_path_factory.mktemp("served"), *options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


# --- the Redis backend (dockyard.tasks.redis) ---------------------------------------------

#: A Redis the tests may wipe (``redis://127.0.0.1:6390/0``): every test using it empties
#: its database first. ``.ci/run`` starts one.
REDIS_ENV = "DOCKYARD_TEST_REDIS_URL"
#: What selects the Redis backend in the processes under test.
TASKS_URL_ENV = "DOCKYARD_TASKS_URL"


def redis_url_or_skip() -> str:
    """``$DOCKYARD_TEST_REDIS_URL``; without it the test is skipped, or fails under CI
    (``CI=true``), which must run the Redis backend's tests."""
    url = os.environ.get(REDIS_ENV, "").strip()
    if not url:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{REDIS_ENV} is not set: CI runs the Redis tests (.ci/run starts one)")
        pytest.skip(f"{REDIS_ENV} is not set (a Redis the tests may wipe)")
    return url


@pytest.fixture
def redis_url() -> str:
    """``$DOCKYARD_TEST_REDIS_URL``, its database emptied."""
    url = redis_url_or_skip()
    from redis import Redis

    with Redis.from_url(url) as client:
        client.flushdb()
    return url


class Worker:
    """One ``dockyard worker tests/tasks/jobs.py:Jobs *options`` subprocess on the Redis
    backend, in its own process group (with the scheduler process RQ forks)."""

    def __init__(self, home: Path, url: str, *options: str) -> None:
        self.home = home
        self.url = url
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.logs: list[Path] = []

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    @property
    def name(self) -> str:
        """The worker name of the latest start (``host:pid:random``), which claims tasks."""
        banner = self.logs[-1].read_text(errors="replace") if self.logs else ""
        for line in banner.splitlines():
            if line.startswith("task worker "):
                return line.split()[2]
        raise AssertionError(f"no worker banner yet:\n{banner}")

    def start(self, *, ready: bool = True) -> Worker:
        """Start it; with ``ready``, return once RQ has registered it (it takes jobs)."""
        assert DOCKYARD is not None
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        log_path = self.home / f"worker-{self.starts}-{uuid.uuid4().hex[:6]}.log"
        self.logs.append(log_path)
        env = {**server_env(self.home), TASKS_URL_ENV: self.url}
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [DOCKYARD, "worker", f"{JOBS_PATH}:Jobs", *self.options],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if ready:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        from redis import Redis

        process = self.process
        assert process is not None
        deadline = time.monotonic() + START_TIMEOUT
        with Redis.from_url(self.url) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"dockyard worker exited {process.returncode}:\n{self.log()}"
                    )
                try:
                    key = f"rq:worker:{self.name.replace(':', '-')}"
                    if client.exists(key):
                        return
                except AssertionError:
                    pass  # no banner yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dockyard worker did not start in time:\n{self.log()}")
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """``kill -9`` its process group (the worker and RQ's scheduler), and reap it."""
        process = self.process
        assert process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)

    def stop(self) -> None:
        """SIGTERM (a warm shutdown: the running task finishes), then make sure."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def redis_workers(redis_url: str) -> Iterator[Callable[..., Worker]]:
    """``start(home, *options, ready=True)``: a `Worker` on ``home`` and the test Redis;
    every worker started is stopped at teardown."""
    if DOCKYARD is None:
        pytest.skip("the dockyard console script is missing")
    started: list[Worker] = []

    def start(home: Path, *options: str, ready: bool = True) -> Worker:
        worker = Worker(home, redis_url, *options)
        started.append(worker)
        return worker.start(ready=ready)

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_worker() -> Iterator[Callable[..., Worker]]:
    """``start(home, url, *options, ready=True)``: a `Worker` on ``home`` and the Redis
    at ``url``; every worker started is stopped at teardown."""
    if DOCKYARD is None:
        pytest.skip("the dockyard console script is missing")
    started: list[Worker] = []

    def start(home: Path, url: str, *options: str, ready: bool = True) -> Worker:
        worker = Worker(home, url, *options)
        started.append(worker)
        return worker.start(ready=ready)

    yield start
    for worker in started:
        worker.stop()


class PrivateRedis:
    """A redis-server of the test's own on a free port (no persistence: a restart comes
    back empty, as after a crash of an in-memory Redis)."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI", "").lower() in ("true", "1"):
                pytest.fail("redis-server is missing: CI installs it (.ci/run)")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from redis import Redis
        from redis.exceptions import ConnectionError as RedisConnectionError

        client = Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except RedisConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=15)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()
