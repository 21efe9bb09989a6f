"""Requests per second over real HTTP: Dockyard vs bare Flask vs FastAPI, and 10,000 instances.

Run by hand from the repository root (needs ``wrk``: ``apt-get install wrk``; makes the
peer venv ``bench/.venv-http`` with ``bench/setup_http_peers.sh`` on first use and
re-runs itself in it)::

    python bench/http.py                  # everything (about 8 minutes)
    python bench/http.py --skip-scaling   # the server comparison only
    python bench/http.py --skip-compare   # the 10,000-instance part only

What is measured
----------------

Every request is ``POST /my-package/my-package/do_something`` with the JSON body
``{"times": 3}``, ``Content-Type: application/json`` and ``Authorization: Bearer <key>``
(sent to every server, so every server reads the same bytes), answered ``{"done": 3}``.
The load generator is ``wrk -t1 -c16 -d5s`` (one thread, 16 keep-alive connections)
with a Lua script that sets the request and prints wrk's own summary as JSON. Every
server runs ONE worker process on a free loopback port, logs one access line per
request to a file, and is started before the first round and kept up to the end. Each
answer is checked once (status 200 and body ``{"done": 3}``) before the rounds, and
every wrk run must report no non-2xx/3xx response and no socket error, else the
benchmark stops.

Servers (``bench/peers/http_apps.py`` holds the peer apps):

- ``dockyard/granian``: ``dockyard serve examples/hello.py:MyPackage --workers 1`` (its
  defaults: granian, WSGI on 8 blocking threads, access log), auth ON; the instance
  ``my-package`` is created through the management API with the client
  (``Dockyard(url).use("my-package")``), the key read from ``$DOCKYARD_HOME/credentials``.
- ``flask/gunicorn``: a bare Flask handler doing the same JSON work (parse the body,
  check ``times`` is an int, ``jsonify({"done": times})``) under Dockyard's own gunicorn
  application (``dockyard.server.serve._Gunicorn``: identical settings by construction).
- ``fastapi/uvicorn``: FastAPI with a pydantic body model and an ``async def`` handler on
  ``uvicorn --workers 1`` with uvloop and httptools (``uvicorn[standard]``, what
  ``fastapi[standard]`` installs; uvicorn's default access log on).
- ``fastapi/uvicorn-h11``: the same on uvicorn's pure-Python fallback (asyncio loop,
  h11 parser), for reference.
- ``flask/granian``: the bare Flask app on the granian CLI with the settings ``dockyard
  serve`` gives it (``--interface wsgi --workers 1 --blocking-threads 8 --access-log``).
- ``dockyard/gunicorn``: ``dockyard serve ... --server gunicorn`` (gthread worker, 8
  threads, keep-alive 5 s), to compare the two servers ``dockyard serve`` offers.

One untimed warm-up round (2 s per server), then ``--rounds`` rounds (default 5); in
every round each server gets one wrk run, in an order rotated by one each round, so
machine noise and position hit every server alike. Reported: the median over rounds
of requests/s (and of wrk's median latency) per server, and the ratios Dockyard / bare
Flask (same server; target >= 0.85) and Dockyard / FastAPI (target >= 1.0).

Instance scaling (``--instances``, default 10,000): in a fresh ``$DOCKYARD_HOME`` the
instances ``i00000`` ... of the hello package are created in-process through
``Runtime.use`` (the path the management API takes, without 10,000 HTTP round trips)
before the server starts. Dockyard's app is then served on granian with ``dockyard
serve``'s settings, built by ``bench/peers/http_apps.py:dockyard_stats_app`` (``build_app``
as in ``dockyard serve``, plus ``GET /__bench__/stats`` reporting the worker's pid, how
many live instances its cache holds and how many objects its GC tracks) with a cache of
1,024 live instances (the default).

- Touch: 4 keep-alive connections call ``do_something`` once on every instance, taking
  handles in creation order (each call a cache miss: the instance is built from the
  store), then all again. The worker's RSS (``VmRSS`` of ``/proc/<worker>/status``),
  cached count and GC-tracked object count are read after start-up, after 1,024
  instances, after all and after the second pass. The same is repeated with a cache
  larger than the instance count, to show what the bound saves. Also reported: median
  latency of a cache miss on the first 1,000 vs the last 1,000 instances.
- First vs last: wrk on the first-created vs the last-created instance, interleaved
  rounds as above (both in the cache: the steady state). Target: last within 1.1x of
  first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as ``python bench/http.py``, this file's directory heads sys.path, and this file
# would shadow the standard library's ``http`` package (urllib, werkzeug and the
# Dockyard client import ``http.client``): drop it before anything imports ``http``.
# (For that reason modules that import it are imported inside functions below.)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

VENV = ROOT / "bench/.venv-http"
VENV_PYTHON = VENV / "bin/python"
PEERS = ROOT / "bench/peers"
TARGET = "examples/hello.py:MyPackage"
PACKAGE = "my-package"
PATH = f"/{PACKAGE}/{PACKAGE}/do_something"
BODY = '{"times": 3}'
EXPECTED = {"done": 3}
THREADS = 8  # Dockyard's default --threads; every threaded server gets the same
TARGET_VS_FLASK = 0.85
TARGET_VS_FASTAPI = 1.0
TARGET_LAST_VS_FIRST = 1.1
TOUCH_CONNECTIONS = 4

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {{"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, '
    .. '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


class BenchError(RuntimeError):
    """The benchmark cannot go on (a server failed, a response was not 200, ...)."""


# --- servers ---------------------------------------------------------------------------


_GIVEN: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1, never one given before in this run."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


@dataclass
class Server:
    """One server process (and its children), started in its own process group.

    :param name: how it is reported.
    :param argv: the command.
    :param env: extra environment.
    :param port: the loopback port it binds.
    :param key: the API key to send (Dockyard only; filled in after start).
    :param path: the path to load.
    """

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    key: str = "none"
    path: str = PATH
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, logs: Path, ready: Callable[[Server], bool], timeout: float = 90) -> None:
        """Start it and wait until ``ready(self)`` is true.

        :raises BenchError: if it exits or is not ready within ``timeout`` seconds.
        """
        self.log = logs / f"{self.name.replace('/', '-')}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")
            try:
                if ready(self):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass


def call(server: Server, path: str | None = None, body: str = BODY) -> tuple[int, bytes]:
    """One POST to ``server``; ``(status, body)``."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            "POST",
            path or server.path,
            body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {server.key}"},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def port_open(server: Server) -> bool:
    """Whether something accepts connections on the server's port."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=1):
        return True


def check_answer(server: Server) -> None:
    """One request must answer 200 ``{"done": 3}``.

    :raises BenchError: otherwise, with the answer and the server log.
    """
    status, raw = call(server)
    if status != 200 or json.loads(raw) != EXPECTED:
        raise BenchError(
            f"{server.name} answered {status} {raw[:300]!r} (expected 200 {EXPECTED}):\n"
            f"{server.tail()}"
        )


def rss_kib(pid: int) -> int:
    """``VmRSS`` of process ``pid``, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


# --- wrk -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    """One wrk run's summary."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


def wrk(server: Server, scripts: Path, seconds: float, connections: int) -> WrkResult:
    """Load ``server`` with ``wrk -t1 -c<connections> -d<seconds>s``.

    :raises BenchError: on any non-2xx/3xx response or socket error.
    """
    script = scripts / f"{server.key}.lua"
    if not script.exists():
        script.write_text(WRK_SCRIPT.format(body=BODY, key=server.key))
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            server.url + server.path,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise BenchError(f"wrk printed no summary for {server.name}:\n{out}")
    summary = json.loads(line[len("BENCH ") :])
    errors = {k: summary[k] for k in ("non2xx", "connect", "read", "write", "timeout")}
    if any(errors.values()) or not summary["requests"]:
        raise BenchError(
            f"wrk against {server.name}: {summary['requests']} requests, errors {errors}\n"
            f"{out}\n{server.tail()}"
        )
    return WrkResult(
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1e3,
        p99_ms=summary["p99_us"] / 1e3,
    )


def interleaved(
    servers: Sequence[Server], scripts: Path, rounds: int, seconds: float, connections: int
) -> dict[str, list[WrkResult]]:
    """One warm-up round (2 s each, discarded), then ``rounds`` rounds of one wrk run per
    server, the order rotated by one each round."""
    for server in servers:
        wrk(server, scripts, 2, connections)
    results: dict[str, list[WrkResult]] = {s.name: [] for s in servers}
    for round_ in range(rounds):
        order = [*servers[round_ % len(servers) :], *servers[: round_ % len(servers)]]
        for server in order:
            result = wrk(server, scripts, seconds, connections)
            results[server.name].append(result)
        figures = ", ".join(f"{s.name} {results[s.name][-1].rps:,.0f}" for s in servers)
        print(f"  round {round_ + 1}/{rounds}: {figures} req/s", flush=True)
    return results


def median_rps(results: Sequence[WrkResult]) -> float:
    """Median requests/s over rounds."""
    return statistics.median(r.rps for r in results)


def median_p50(results: Sequence[WrkResult]) -> float:
    """Median over rounds of wrk's median latency, ms."""
    return statistics.median(r.p50_ms for r in results)


# --- the server comparison -----------------------------------------------------------


def bin_(name: str) -> str:
    """A console script of the bench venv."""
    return str(VENV / "bin" / name)


def use_instance(server: Server, home: Path) -> None:
    """Create (use) the hello instance through the management API; set the server's key
    from ``home/credentials``."""
    from dockyard.client import Dockyard, read_credentials

    credentials = read_credentials(home)
    if not credentials:
        raise BenchError(f"{server.name} wrote no credentials in {home}:\n{server.tail()}")
    server.key = credentials["api_key"]
    with Dockyard(url=server.url, api_key=server.key, home=home) as client:
        instance = client.use(PACKAGE)
    assert (instance.workspace, instance.handle) == (PACKAGE, PACKAGE), instance


def granian_argv(target: str, port: int) -> list[str]:
    """granian, WSGI, one worker, ``THREADS`` blocking threads, access log on."""
    return [
        bin_("granian"),
        "--interface",
        "wsgi",
        "--workers",
        "1",
        "--blocking-threads",
        str(THREADS),
        "--access-log",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--working-dir",
        str(PEERS),
        target,
    ]


def compare(work: Path, rounds: int, seconds: float, connections: int) -> None:
    """The side-by-side comparison; prints the table and the targets."""
    home, granian_home = work / "home-gunicorn", work / "home-granian"
    python = str(VENV_PYTHON)
    apps = str(PEERS / "http_apps.py")

    def uvicorn(port: int, loop: str, http: str) -> list[str]:
        return [
            bin_("uvicorn"),
            "http_apps:fastapi_app",
            "--app-dir",
            str(PEERS),
            "--workers",
            "1",
            "--loop",
            loop,
            "--http",
            http,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]

    servers: list[Server] = []
    for name in (
        "dockyard/gunicorn",
        "flask/gunicorn",
        "fastapi/uvicorn",
        "fastapi/uvicorn-h11",
        "dockyard/granian",
        "flask/granian",
    ):
        port = free_port()
        env: dict[str, str] = {}
        if name.startswith("dockyard/"):
            argv = [bin_("dockyard"), "serve", TARGET, "--workers", "1"]
            argv += ["--server", name.split("/")[1], "--host", "127.0.0.1", "--port", str(port)]
            env = {"DOCKYARD_HOME": str(home if name == "dockyard/gunicorn" else granian_home)}
        elif name == "flask/gunicorn":
            argv = [python, apps, "flask", "--port", str(port)]
        elif name == "fastapi/uvicorn":
            argv = uvicorn(port, "uvloop", "httptools")
        elif name == "fastapi/uvicorn-h11":
            argv = uvicorn(port, "asyncio", "h11")
        else:
            argv = [*granian_argv("http_apps:flask_app", port), "--factory"]
        servers.append(Server(name, argv, port=port, env=env))
    try:
        for server in servers:
            print(f"starting {server.name} on {server.url}", flush=True)
            server.start(work, port_open)
            if server.name.startswith("dockyard/"):
                use_instance(server, home if server.name == "dockyard/gunicorn" else granian_home)
        for server in servers:
            if not server.name.startswith("dockyard/"):
                server.key = servers[0].key  # the same request bytes everywhere
            check_answer(server)
        scripts = work / "wrk"
        scripts.mkdir(exist_ok=True)
        print(
            f"wrk -t1 -c{connections} -d{seconds:g}s, POST {PATH} {BODY}: 1 warm-up round, "
            f"{rounds} rounds",
            flush=True,
        )
        results = interleaved(servers, scripts, rounds, seconds, connections)
        for server in servers:
            if server.process is None or server.process.poll() is not None:
                raise BenchError(f"{server.name} died during the rounds:\n{server.tail()}")
    finally:
        for server in servers:
            server.stop()

    rps = {name: median_rps(r) for name, r in results.items()}
    print()
    print(f"Requests/s, median of {rounds} rounds (one worker each; wrk median latency):")
    print(f"  {'server':<22} {'req/s':>9} {'p50 ms':>8}  rounds (req/s)")
    for name, runs in results.items():
        each = " ".join(f"{r.rps:,.0f}" for r in runs)
        print(f"  {name:<22} {rps[name]:>9,.0f} {median_p50(runs):>8.2f}  {each}")
    print()
    checks = [
        ("dockyard/gunicorn", "flask/gunicorn", TARGET_VS_FLASK),
        ("dockyard/gunicorn", "fastapi/uvicorn", TARGET_VS_FASTAPI),
        ("dockyard/granian", "flask/granian", TARGET_VS_FLASK),
        ("dockyard/granian", "fastapi/uvicorn", TARGET_VS_FASTAPI),
    ]
    print("Ratios (targets from issue 4):")
    for ours, theirs, target in checks:
        ratio = rps[ours] / rps[theirs]
        verdict = "ok" if ratio >= target else "MISSED"
        print(f"  {ours + ' / ' + theirs:<40} {ratio:5.2f}x  (target >= {target}) {verdict}")
    print("For reference, the bare peers:")
    for ours, theirs in (
        ("flask/gunicorn", "fastapi/uvicorn"),
        ("flask/granian", "fastapi/uvicorn"),
        ("flask/granian", "fastapi/uvicorn-h11"),
    ):
        print(f"  {ours + ' / ' + theirs:<40} {rps[ours] / rps[theirs]:5.2f}x")
    print("Servers:")
    for ours, theirs in (
        ("dockyard/granian", "dockyard/gunicorn"),
        ("flask/granian", "flask/gunicorn"),
    ):
        print(f"  {ours + ' / ' + theirs:<40} {rps[ours] / rps[theirs]:5.2f}x")
    ratio = rps["fastapi/uvicorn"] / rps["fastapi/uvicorn-h11"]
    print(f"  {'fastapi/uvicorn / fastapi/uvicorn-h11':<40} {ratio:5.2f}x")


# --- instance scaling ----------------------------------------------------------------


def create_instances(home: Path, count: int) -> list[str]:
    """Create ``count`` hello instances in ``home`` in-process through ``Runtime.use`` (the
    path the management API takes); their handles, in creation order."""
    from dockyard.cli import load_target
    from dockyard.client import LOCAL_USER
    from dockyard.runtime import Runtime
    from dockyard.store import Store

    cls = load_target(str(ROOT / "examples/hello.py") + ":MyPackage")
    store = Store(home=home)
    try:
        store.ensure_user(LOCAL_USER)
        runtime = Runtime(store, packages={PACKAGE: cls}, cache_size=1)
        handles = [f"i{i:05d}" for i in range(count)]
        start = time.perf_counter()
        for handle in handles:
            runtime.use(LOCAL_USER, PACKAGE, handle)
        elapsed = time.perf_counter() - start
    finally:
        store.close()
    print(f"  created {count:,} instances in {elapsed:.1f} s ({count / elapsed:,.0f}/s)")
    return handles


@dataclass
class TouchReport:
    """RSS and cache figures of one touch run, by sample label."""

    cache_size: int
    rss_kib: dict[str, int] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    miss_ms_first: float = 0.0
    miss_ms_last: float = 0.0
    pass_seconds: float = 0.0


def stats(server: Server) -> dict[str, int]:
    """``GET /__bench__/stats`` of the scaling server."""
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/__bench__/stats", timeout=60) as response:
        data: dict[str, int] = json.loads(response.read())
        return data


def touch(server: Server, handles: Sequence[str], report: TouchReport) -> None:
    """Call ``do_something`` on every instance, twice over, over ``TOUCH_CONNECTIONS``
    keep-alive connections (each takes the next handle in creation order), reading the
    worker's RSS, cached count and GC-tracked objects at the start, after 1,024
    instances, after all and after the second pass."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {server.key}"}
    latencies = [0.0] * len(handles)
    lock = threading.Lock()

    def sample(label: str) -> None:
        data = stats(server)
        report.rss_kib[label] = rss_kib(data["pid"])
        report.cached[label] = data["cached"]
        report.objects[label] = data["objects"]

    def run(indices: Sequence[int]) -> None:
        pending = iter(indices)

        def connection_loop() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            try:
                while True:
                    with lock:
                        i = next(pending, None)
                    if i is None:
                        return
                    handle = handles[i]
                    began = time.perf_counter()
                    connection.request("POST", f"/{handle}/{handle}/do_something", BODY, headers)
                    response = connection.getresponse()
                    raw = response.read()
                    latencies[i] = time.perf_counter() - began
                    if response.status != 200 or json.loads(raw) != EXPECTED:
                        raise BenchError(f"{handle}: {response.status} {raw[:300]!r}")
            finally:
                connection.close()

        with ThreadPoolExecutor(TOUCH_CONNECTIONS) as pool:
            for future in [pool.submit(connection_loop) for _ in range(TOUCH_CONNECTIONS)]:
                future.result()

    sample("start")
    bound = min(1024, len(handles))
    start = time.perf_counter()
    run(range(bound))
    sample(f"after {bound:,}")
    run(range(bound, len(handles)))
    report.pass_seconds = time.perf_counter() - start
    sample(f"after {len(handles):,}")
    window = min(1000, len(handles))
    report.miss_ms_first = statistics.median(latencies[:window]) * 1e3
    report.miss_ms_last = statistics.median(latencies[-window:]) * 1e3
    run(range(len(handles)))
    sample("2nd pass")


def scaling(
    work: Path, count: int, rounds: int, seconds: float, connections: int
) -> list[TouchReport]:
    """The 10,000-instance part; prints its tables and the target."""
    from dockyard.server.serve import ensure_credentials

    home = work / "home-scaling"
    print(f"instance scaling: {count:,} instances in {home}", flush=True)
    handles = create_instances(home, count)
    reports: list[TouchReport] = []
    first_last: dict[str, list[WrkResult]] = {}
    for cache_size in (1024, max(2048, 2 * count)):
        port = free_port()
        key, _ = ensure_credentials(home, f"http://127.0.0.1:{port}")
        server = Server(
            f"dockyard-cache-{cache_size}",
            [*granian_argv("http_apps:dockyard_stats_app", port), "--factory"],
            env={
                "DOCKYARD_HOME": str(home),
                "BENCH_DOCKYARD_TARGET": TARGET,
                "BENCH_CACHE_SIZE": str(cache_size),
            },
            port=port,
            key=key,
        )
        report = TouchReport(cache_size)
        try:
            print(f"  serving with --cache-size {cache_size} on {server.url}", flush=True)
            server.start(work, port_open)
            server.path = f"/{handles[0]}/{handles[0]}/do_something"
            check_answer(server)
            touch(server, handles, report)
            if cache_size == 1024:
                scripts = work / "wrk"
                scripts.mkdir(exist_ok=True)
                first = Server("first", [], port=port, key=key, path=server.path)
                last = Server(
                    "last",
                    [],
                    port=port,
                    key=key,
                    path=f"/{handles[-1]}/{handles[-1]}/do_something",
                )
                first.log = last.log = server.log
                print(f"  first ({handles[0]}) vs last ({handles[-1]}) instance:", flush=True)
                first_last = interleaved([first, last], scripts, rounds, seconds, connections)
            if server.process is None or server.process.poll() is not None:
                raise BenchError(f"{server.name} died:\n{server.tail()}")
        finally:
            server.stop()
        reports.append(report)

    print()
    print(
        f"Instance scaling ({count:,} instances of {PACKAGE}, "
        "one granian worker as dockyard serve runs it):"
    )
    rps_first, rps_last = median_rps(first_last["first"]), median_rps(first_last["last"])
    lat_first, lat_last = median_p50(first_last["first"]), median_p50(first_last["last"])
    print(f"  {'instance':<16} {'req/s':>9} {'p50 ms':>8}")
    print(f"  {'first ' + handles[0]:<16} {rps_first:>9,.0f} {lat_first:>8.2f}")
    print(f"  {'last ' + handles[-1]:<16} {rps_last:>9,.0f} {lat_last:>8.2f}")
    slower = rps_first / rps_last
    verdict = "ok" if slower <= TARGET_LAST_VS_FIRST else "MISSED"
    print(f"  last is {slower:.3f}x slower than first (target <= {TARGET_LAST_VS_FIRST}) {verdict}")
    print()
    print(
        "Worker RSS in MiB (cached live instances; objects the GC tracks), touching every "
        "instance in creation order, then all again:"
    )
    labels = list(reports[0].rss_kib)
    print(f"  {'--cache-size':>12}  " + "  ".join(f"{label:>28}" for label in labels))
    for report in reports:
        cells = [
            f"{report.rss_kib[label] / 1024:.1f} ({report.cached[label]:,}; "
            f"{report.objects[label]:,})"
            for label in labels
        ]
        print(f"  {report.cache_size:>12}  " + "  ".join(f"{c:>28}" for c in cells))
    bounded, unbounded = reports
    after_bound = f"after {min(1024, count):,}"
    grow = (bounded.rss_kib["2nd pass"] - bounded.rss_kib[after_bound]) / 1024
    grow_unbounded = (unbounded.rss_kib["2nd pass"] - unbounded.rss_kib[after_bound]) / 1024
    per_instance = grow_unbounded * 1024 / max(1, count - min(1024, count))
    print(
        f"  growth from {min(1024, count):,} touched to the end of the 2nd pass: "
        f"{grow:+.1f} MiB with --cache-size 1024, {grow_unbounded:+.1f} MiB when all stay "
        f"cached (~{per_instance:.1f} KiB per live instance)"
    )
    print(
        f"  Cache misses, first pass ({TOUCH_CONNECTIONS} connections): median latency on the "
        "first vs the last 1,000 instances; worker time per miss"
    )
    for report in reports:
        print(
            f"    --cache-size {report.cache_size}: {report.miss_ms_first:.1f} vs "
            f"{report.miss_ms_last:.1f} ms; {report.pass_seconds / count * 1e3:.2f} ms per "
            f"miss ({report.pass_seconds:.1f} s for {count:,})"
        )
    return reports


# --- main ----------------------------------------------------------------------------


def in_venv() -> bool:
    """Whether this interpreter is the bench venv's."""
    return Path(sys.prefix).resolve() == VENV.resolve()


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=5, help="wrk -d per run (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c (default 16)")
    parser.add_argument("--instances", type=int, default=10_000, help="for the scaling part")
    parser.add_argument("--skip-compare", action="store_true", help="no server comparison")
    parser.add_argument("--skip-scaling", action="store_true", help="no instance scaling")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()

    if shutil.which("wrk") is None:
        sys.exit(
            "bench/http.py needs the wrk load generator, which is not on PATH: install it "
            "with 'apt-get install wrk' (Debian/Ubuntu) or from https://github.com/wg/wrk"
        )
    if not in_venv():
        subprocess.run(["bash", str(ROOT / "bench/setup_http_peers.sh")], check=True)
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__)), *sys.argv[1:]])
    os.environ.pop("DOCKYARD_DATABASE_URL", None)
    os.environ.pop("DOCKYARD_URL", None)
    os.environ.pop("DOCKYARD_API_KEY", None)

    import dockyard

    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-http-"))
    print(f"Dockyard {dockyard.__version__}, Python {sys.version.split()[0]}; work dir {work}")
    try:
        if not options.skip_compare:
            compare(work, options.rounds, options.seconds, options.connections)
            print()
        if not options.skip_scaling:
            scaling(work, options.instances, options.rounds, options.seconds, options.connections)
    except BenchError as exc:
        sys.exit(f"FAILED: {exc}")
    finally:
        if options.keep:
            print(f"(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
