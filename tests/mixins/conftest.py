"""Fixtures of the shipped-mixin tests: an embedded client with task workers, packages
composed from the mixins (``packages.py``, loaded by path so ``dockyard serve`` can serve
the same file), a way to look at an instance's storage, and a real ``dockyard serve``
subprocess (a minimal copy of the helpers in ``tests/tasks/conftest.py``: test
directories cannot import each other)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dockyard import PackageService
from dockyard.client import Dockyard, PackageInstance
from dockyard.tasks import TaskWorker

#: The composed packages the tests use (a data file, loaded by path).
PACKAGES_PATH = Path(__file__).resolve().parent / "packages.py"


def fresh(prefix: str = "mix") -> str:
    """A handle no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def packages() -> ModuleType:
    """``tests/mixins/packages.py`` imported once (as ``dockyard_test_mixin_packages``)."""
    name = "dockyard_test_mixin_packages"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PACKAGES_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The state directory the test's clients share."""
    return tmp_path / "home"


def served_name(package: type[PackageService]) -> str:
    """The handle the tests serve ``package`` under: its class name, lower-cased."""
    return package.__name__.lower()


@pytest.fixture
def open_client(home: Path, packages: ModuleType) -> Iterator[Callable[..., Dockyard]]:
    """``open_client(task_workers=2)``: a new embedded client on the test's home (several
    may be open at once, like several processes), serving every package of
    ``packages.py``; all are closed at teardown."""
    clients: list[Dockyard] = []
    workers: list[TaskWorker] = []

    def open_(task_workers: int = 2) -> Dockyard:
        client = Dockyard(home=home, task_workers=0)
        # Served before a worker starts: a worker that claims a task of a package it
        # does not serve yet fails the task (a task scheduled by another client).
        for value in vars(packages).values():
            if isinstance(value, type) and issubclass(value, PackageService):
                client.runtime.packages[served_name(value)] = value
        if task_workers:
            workers.append(TaskWorker(client.runtime, threads=task_workers).start())
        clients.append(client)
        return client

    yield open_
    for worker in workers:
        worker.stop()
    for client in clients:
        client.close()


@pytest.fixture
def client(open_client: Callable[..., Dockyard]) -> Dockyard:
    """An embedded client with two task worker threads."""
    return open_client()


UseFn = Callable[..., PackageInstance]


@pytest.fixture
def use(client: Dockyard) -> UseFn:
    """``use(package_cls, config=None, handle=None, on=client)``: an instance of the class
    (served under the class's handle) on the test's client."""

    def use_(
        package: type[PackageService],
        config: dict[str, Any] | None = None,
        handle: str | None = None,
        on: Dockyard | None = None,
    ) -> PackageInstance:
        target = on or client
        name = served_name(package)
        target.runtime.packages[name] = package
        return target.use(name, handle or fresh(), config=config)

    return use_


def storage_of(client: Dockyard, instance: PackageInstance) -> Any:
    """The root storage of ``instance`` (its mixins' namespaces are children)."""
    return client.runtime.live(instance.workspace, instance.handle).invocable.storage


@pytest.fixture
def storage() -> Callable[[Dockyard, PackageInstance], Any]:
    """``storage(client, instance)``: the instance's root storage."""
    return storage_of


# --- a real server ------------------------------------------------------------------------

DOCKYARD = shutil.which("dockyard", path=str(Path(sys.executable).parent))
START_TIMEOUT = 30.0


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A ``dockyard serve tests/mixins/packages.py:DocSearch`` subprocess (its own process
    group and home) on a free loopback port."""

    home: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> str:
        key: str = json.loads((self.home / "credentials").read_text())["api_key"]
        return key

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One authenticated request with a JSON body; (status, decoded JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``dockyard serve tests/mixins/packages.py:DocSearch --task-workers 2`` (served as
    ``doc-search``), stopped when the module's tests are done."""
    if DOCKYARD is None:
        pytest.skip("the dockyard console script is missing")
    home = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env["DOCKYARD_HOME"] = str(home)
    log = home / "server.log"
    command = [DOCKYARD, "serve", f"{PACKAGES_PATH}:DocSearch", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--task-workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Server(home, port, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"dockyard serve exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(running.url + "/__health__", timeout=5) as response:
                if response.status == 200 and (home / "credentials").exists():
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"dockyard serve did not answer in time:\n{log.read_text()}")
        time.sleep(0.05)
    yield running
    running.stop()
