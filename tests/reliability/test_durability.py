"""Durability: what a ``dockyard serve`` acknowledged survives ``kill -9`` of the server,
on SQLite and on PostgreSQL (``DOCKYARD_TEST_POSTGRES_URL``, a database the tests may
wipe; without it the PostgreSQL half skips, or fails under ``CI=true``).

- Storage writes acknowledged over HTTP, with more in flight when the whole server
  (master and workers) is killed: after a restart every acknowledged one is there.
- A server killed during an instance's ``instance_init``: after a restart no request is
  served by the half-initialised instance (a 409 saying it is not ready) until the next
  ``use`` runs ``instance_init`` again, once the dead claim has lapsed.

Real servers in their own process groups; the helpers are in this file.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.store import Store
from dockyard.store.store import DEFAULT_INIT_STALE_AFTER

DOCKYARD = shutil.which("dockyard", path=str(Path(sys.executable).parent))
POSTGRES_ENV = "DOCKYARD_TEST_POSTGRES_URL"
START_TIMEOUT = 60.0
#: Acknowledged writes before the kill (more are in flight when it comes).
WRITES = 1000

#: The packages served (written to a file: ``dockyard serve FILE.py:Ledger ...``).
PACKAGES = '''
import os
import time
from pathlib import Path
from typing import Any

from dockyard import PackageService, get, post


class Ledger(PackageService):
    """A plain key-value ledger."""

    @post("put")
    def put(self, key: str, value: int) -> int:
        self.storage.set(key, value)
        return value

    @get("entries")
    def entries(self) -> dict[str, Any]:
        return dict(self.storage.items())


class SlowStart(PackageService):
    """instance_init writes half of its state, then waits while the hold file exists."""

    def instance_init(self) -> None:
        folder = Path(os.environ["DURABILITY_DIR"])
        self.storage.update("inits", lambda n: n + 1, 0)
        self.storage.set("half", True)
        (folder / "init-started").touch()
        while (folder / "hold-init").exists():
            time.sleep(0.05)
        self.storage.set("half", False)

    @get("status")
    def status(self) -> dict[str, Any]:
        return {"inits": self.storage.get("inits"), "half": self.storage.get("half")}
'''


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: an SQLite file, or the test PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'dockyard.db'}"
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        if in_ci():
            pytest.fail(f"{POSTGRES_ENV} is not set: CI runs the PostgreSQL tests (.ci/run)")
        pytest.skip(f"{POSTGRES_ENV} is not set (a PostgreSQL database the tests may wipe)")
    wipe_postgres(url)
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``dockyard serve`` of the packages above, on a fixed port, home and database, so
    a restart finds what the killed server left."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.database_url = database_url
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []
        source = folder / "durable_packages.py"
        source.write_text(textwrap.dedent(PACKAGES))
        self.targets = [f"{source}:Ledger", f"{source}:SlowStart"]

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.logs if p.exists())

    @property
    def key(self) -> str:
        key: str = json.loads((self.home / "credentials").read_text())["api_key"]
        return key

    def start(self) -> Server:
        assert DOCKYARD is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env.update(DOCKYARD_HOME=str(self.home), DURABILITY_DIR=str(self.folder))
        if not self.database_url.startswith("sqlite"):
            env["DOCKYARD_DATABASE_URL"] = self.database_url
        log = self.folder / f"server-{len(self.logs) + 1}.log"
        self.logs.append(log)
        command = [DOCKYARD, "serve", *self.targets, "--port", str(self.port), "--workers", "2"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"dockyard serve exited {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                if self.request("GET", "/__health__", key=None)[0] == 200:
                    return self
            assert time.monotonic() < deadline, f"the server did not start:\n{self.log()}"
            time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9`` the whole server (master and workers) and wait until it is gone."""
        process = self.process
        assert process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # until the orphaned workers are reaped too
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)

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

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=90)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "",
        connection: http.client.HTTPConnection | None = None,
    ) -> tuple[int, Any]:
        """One request; its status and JSON body. ``key``: the local key by default."""
        headers = {"Content-Type": "application/json"}
        key = self.key if key == "" else key
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        conn = connection or self.connect()
        try:
            conn.request(method, path, None if body is None else json.dumps(body), headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            if connection is None:
                conn.close()
        return response.status, json.loads(raw) if raw else None

    def use(self, package: str, instance: str) -> tuple[int, Any]:
        return self.request(
            "POST", "/__api__/instances", {"package": package, "instance": instance}
        )


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    if DOCKYARD is None:
        pytest.skip("the dockyard console script is missing")
    made = Server(tmp_path, database_url)
    yield made
    made.stop()


def test_acknowledged_writes_survive_kill_9(server: Server) -> None:
    server.start()
    assert server.use("ledger", "books")[0] == 200
    key = server.key
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    killed = threading.Event()
    enough = threading.Event()

    def write(thread: int) -> None:
        connection = server.connect()
        try:
            for n in range(WRITES):
                name = f"k-{thread}-{n}"
                try:
                    status, body = server.request(
                        "POST",
                        "/books/books/put",
                        {"key": name, "value": n},
                        key=key,
                        connection=connection,
                    )
                except (OSError, http.client.HTTPException):
                    assert killed.is_set(), "a write failed before the kill"
                    return
                assert status == 200, body
                with lock:
                    acknowledged[name] = n
                    if len(acknowledged) >= WRITES:
                        enough.set()
        finally:
            connection.close()

    writers = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for writer in writers:
        writer.start()
    try:
        assert enough.wait(120), f"only {len(acknowledged)} writes acknowledged"
        killed.set()
        server.kill()  # with writes in flight
    finally:
        killed.set()
        for writer in writers:
            writer.join(60)
    with lock:
        survivors = dict(acknowledged)
    assert len(survivors) >= WRITES

    server.start()
    status, entries = server.request("GET", "/books/books/entries")
    assert status == 200
    missing = sorted(set(survivors) - set(entries))
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    assert all(entries[name] == value for name, value in survivors.items())


def test_an_instance_killed_in_its_init_is_never_served_half_initialised(
    server: Server, tmp_path: Path
) -> None:
    server.start()
    hold = tmp_path / "hold-init"
    hold.touch()
    outcome: list[Any] = []

    def create() -> None:
        try:
            outcome.append(server.use("slow-start", "slow"))
        except (OSError, http.client.HTTPException) as error:
            outcome.append(error)

    creator = threading.Thread(target=create)
    creator.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not (tmp_path / "init-started").exists():
        assert time.monotonic() < deadline, f"instance_init did not start:\n{server.log()}"
        time.sleep(0.02)
    killed_at = time.monotonic()
    server.kill()
    creator.join(30)
    assert outcome
    assert isinstance(outcome[0], (OSError, http.client.HTTPException)), outcome
    with Store(server.database_url) as store:
        record = store.get_instance("slow", "slow")
        assert record is not None
        assert record.init_state == "initializing"  # a claim nobody holds any more
        assert store.storage(record.id).get("half") is True
    hold.unlink()  # the next instance_init runs through

    server.start()
    # Not served: a clear error, not the half-initialised instance.
    status, body = server.request("GET", "/slow/slow/status")
    assert status == 409, body
    error = body["error"]
    assert "not ready: initializing" in error["message"]
    assert error["code"]
    assert error["suggestion"]
    # The next use waits until the dead claim lapses, then runs instance_init again.
    status, body = server.use("slow-start", "slow")
    assert status == 200, body
    assert body["init_state"] == "ready"
    assert time.monotonic() - killed_at < DEFAULT_INIT_STALE_AFTER + 30
    assert server.request("GET", "/slow/slow/status") == (200, {"inits": 2, "half": False})
