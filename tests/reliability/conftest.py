"""Opt-in fixtures of the reliability suite: real ``dockyard serve`` processes serving
the example packages, and a raw HTTP client that can send anything.

Nothing here is autouse; a test asks for what it needs:

- ``reliability_server`` (session): granian serving the examples (see `EXAMPLE_TARGETS`);
- ``reliability_servers`` (session): a `ServerPool` starting one such server per WSGI
  server on first use (``pool.get("gunicorn")``), for tests run on both.

The examples with entry points (``examples/classifiers``, ``examples/docsearch``) are
installed for the servers as real ``.dist-info`` directories (their entry points read from
their own ``pyproject.toml``) whose code is the example's ``src/``, as
``tests/plugins/test_third_party.py`` installs them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FUZZABLE = Path(__file__).resolve().parent / "packages" / "fuzzable.py"
#: The distributions among the examples (installed for the servers).
EXAMPLE_DISTRIBUTIONS = ("classifiers", "docsearch")
#: What the reliability servers serve: every example package, the test packages, and (as
#: installed) the example plugin ``keyword-sentiment`` and Dockyard's shipped plugins.
EXAMPLE_TARGETS = (
    f"{EXAMPLES / 'hello.py'}:MyPackage",
    f"{FUZZABLE}:Shelf",
    f"{FUZZABLE}:Kiosk",
    "review-desk",
    "docsearch",
)
#: Requests above this many bytes are refused with 413 (``--max-body``; 1 MiB keeps the
#: oversize cases cheap).
MAX_BODY = 1024 * 1024
DOCKYARD = shutil.which("dockyard", path=str(Path(sys.executable).parent))
START_TIMEOUT = 30.0
_DROPPED_ENV = ("DOCKYARD_URL", "DOCKYARD_API_KEY", "DOCKYARD_DATABASE_URL", "DOCKYARD_TASKS_URL")


def fresh(prefix: str) -> str:
    """A handle no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def install_examples(site: Path) -> list[Path]:
    """Install the example distributions into ``site`` (a ``sys.path`` entry) as
    ``.dist-info`` directories; return the ``sys.path`` entries that make them work."""
    site.mkdir(parents=True, exist_ok=True)
    paths = [site]
    for example in EXAMPLE_DISTRIBUTIONS:
        folder = EXAMPLES / example
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        stem = f"{re.sub(r'[-_.]+', '_', project['name'])}-{project['version']}"
        info = site / f"{stem}.dist-info"
        info.mkdir()
        groups = project.get("entry-points", {})
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
        )
        (info / "entry_points.txt").write_text(
            "".join(
                f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in names.items())
                for group, names in groups.items()
            )
        )
        (info / "RECORD").write_text("")
        paths.append(folder / "src")
    return paths


@dataclass
class Reply:
    """One HTTP response: status, headers (names lower-cased), body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.content_type} {self.body[:300]!r}>"


@dataclass
class Served:
    """One ``dockyard serve`` subprocess (its own home, a free port); `stop` leaves
    nothing running."""

    home: Path
    pythonpath: str
    server: str = "granian"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.home / f"serve-{self.server}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> str:
        """The local user's API key, from ``$DOCKYARD_HOME/credentials``."""
        key: str = json.loads((self.home / "credentials").read_text())["api_key"]
        return key

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(DOCKYARD_HOME=str(self.home), PYTHONPATH=self.pythonpath, PYTHONNOUSERSITE="1")
        return env

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        assert DOCKYARD is not None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        command = [
            DOCKYARD,
            "serve",
            *EXAMPLE_TARGETS,
            "--port",
            str(self.port),
            "--server",
            self.server,
            "--threads",
            "4",
            "--task-workers",
            "1",
            "--max-body",
            str(MAX_BODY),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: workers die with it
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dockyard serve exited {self.process.returncode}:\n{self.log()}"
                )
            with contextlib.suppress(OSError):
                if self.send("GET", "/__health__").status == 200:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockyard serve did not answer in time:\n{self.log()}")
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
            os.killpg(process.pid, signal.SIGKILL)  # workers left behind, if any
        self.process = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the ``dockyard`` command on this server's home."""
        assert DOCKYARD is not None
        return subprocess.run(
            [DOCKYARD, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def new_key(self, user: str) -> str:
        """A new API key of ``user`` (created if new), made with ``dockyard keys create``."""
        done = self.cli("keys", "create", "--user", user, "--json")
        assert done.returncode == 0, done.stderr
        key: str = json.loads(done.stdout)["key"]
        return key

    def send(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        raw_headers: bytes = b"",
        content_length: bool = True,
    ) -> Reply:
        """One request over a new socket, sent exactly as given (no URL or header
        normalising: ``..``, ``%00`` and bytes that are no Latin-1 go out as they are).

        A server may answer (413, say) and close before reading the whole body: the
        send then stops, and the answer is read all the same.
        """
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Connection: close"]
        sent = dict(headers or {})
        if content_length and (body or method not in ("GET", "HEAD")):
            sent.setdefault("Content-Length", str(len(body)))
        lines.extend(f"{name}: {value}" for name, value in sent.items())
        head = "\r\n".join(lines).encode("latin-1") + b"\r\n" + raw_headers + b"\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(head + body)
            response = http.client.HTTPResponse(sock, method=method)
            response.begin()
            data = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A request with ``payload`` as JSON (if given) and ``key`` as a Bearer key."""
        sent = dict(headers or {})
        body = b""
        if payload is not None:
            body = json.dumps(payload).encode()
            sent.setdefault("Content-Type", "application/json")
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        return self.send(method, path, body, sent)

    def use(self, handle: str, instance: str, config: Any = None, *, plugin: bool = False) -> str:
        """Create (or get) an instance of package (or plugin) ``handle`` for the local user;
        returns its base path ``/{workspace}/{instance}/``."""
        body = {"plugin" if plugin else "package": handle, "instance": instance, "config": config}
        reply = self.call("POST", "/__api__/instances", body, key=self.key)
        assert reply.status == 200, reply
        record = reply.json()
        return f"/{record['workspace']}/{record['handle']}/"


class ServerPool:
    """Reliability servers started on first use, one per WSGI server, all stopped at the
    end of the session."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._pythonpath: str | None = None
        self._servers: dict[str, Served] = {}

    def get(self, server: str = "granian") -> Served:
        if DOCKYARD is None:
            pytest.skip("the dockyard console script is missing")
        if server not in self._servers:
            if self._pythonpath is None:
                paths = install_examples(self._factory.mktemp("site-packages"))
                self._pythonpath = os.pathsep.join(str(p) for p in paths)
            served = Served(self._factory.mktemp(f"home-{server}"), self._pythonpath, server)
            try:
                served.start()
            except BaseException:
                served.stop()
                raise
            self._servers[server] = served
        return self._servers[server]

    def stop(self) -> None:
        for served in self._servers.values():
            served.stop()


@pytest.fixture(scope="session")
def reliability_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    """A `ServerPool` of reliability servers (granian, gunicorn), started on first use."""
    pool = ServerPool(tmp_path_factory)
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def reliability_server(reliability_servers: ServerPool) -> Served:
    """The reliability server on granian (Dockyard's default WSGI server)."""
    return reliability_servers.get("granian")
