"""Scale-out: requests/s with 1, 2 and 4 server workers on SQLite and PostgreSQL, and the
rate of contended ``storage.update``.

Run by hand from the repository root, in the dev venv (needs ``wrk``)::

    python bench/scale.py --postgres postgresql+psycopg://user@127.0.0.1:5432/db

The PostgreSQL database is wiped (Dockyard's tables dropped) before each server starts;
without ``--postgres`` only SQLite is measured.

What is measured (each figure the median of ``--rounds`` wrk runs of ``--seconds`` s,
``wrk -t2 -c32``, against ``dockyard serve bench/scale.py:Scale --workers N`` with its
defaults: granian, 8 threads per worker, access log, auth on):

- ``POST .../do_something {"times": 3}``: the seed's route (an authenticated call that
  touches no storage): the scaling factor from 1 to 2 and 4 workers on this machine.
- ``POST .../bump``: ``self.storage.update("n", n + 1)`` on ONE key from every
  connection: the rate of a contended atomic read-modify-write, checked exact at the
  end (the counter equals the number of 200 answers).

wrk, the servers and the database share the machine: on 2 cores, more workers than
cores cannot scale, and wrk itself takes one. Quote ratios, not absolute figures.
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
import time
from pathlib import Path
from typing import Any

# Run as a script, this directory comes first on sys.path, and bench/http.py would
# shadow the standard library's http package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from dockyard import PackageService, post


class Scale(PackageService):
    """The seed's route and a contended counter."""

    @post("do_something")
    def do_something(self, times: int = 1) -> dict[str, int]:
        """The seed example's route."""
        return {"done": times}

    @post("bump")
    def bump(self) -> int:
        """Add one to the shared counter, atomically."""
        value: int = self.storage.update("n", lambda n: (n or 0) + 1, default=0)
        return value

    @post("count")
    def count(self) -> int:
        """The counter."""
        value: int = self.storage.get("n", 0)
        return value


LUA = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
done = function(summary, latency, requests)
  io.write(string.format('{{"requests": %d, "seconds": %f, "non2xx": %d, "errors": %d}}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wipe(url: str) -> None:
    from sqlalchemy import create_engine

    from dockyard.store.schema import metadata, schema_version

    engine = create_engine(url)
    with engine.begin() as conn:
        metadata.drop_all(conn)
        schema_version.drop(conn, checkfirst=True)
    engine.dispose()


class Server:
    """``dockyard serve bench/scale.py:Scale --workers N`` with a home of its own."""

    def __init__(self, workers: int, database: str | None) -> None:
        import urllib.request  # after the sys.path fix above (it imports http)

        self.home = Path(tempfile.mkdtemp(prefix="dockyard-bench-scale-"))
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
        env["DOCKYARD_HOME"] = str(self.home)
        if database is not None:
            wipe(database)
            env["DOCKYARD_DATABASE_URL"] = database
        dockyard = shutil.which("dockyard", path=str(Path(sys.executable).parent)) or "dockyard"
        command = [dockyard, "serve", f"{Path(__file__).resolve()}:Scale"]
        command += ["--workers", str(workers), "--port", str(self.port), "--task-workers", "0"]
        self.log = (self.home / "server.log").open("wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/__health__", timeout=2):
                    break
            except OSError as error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    message = f"the server did not start: see {self.home}/server.log"
                    raise SystemExit(message) from error
                time.sleep(0.1)
        self.key: str = json.loads((self.home / "credentials").read_text())["api_key"]
        self.call("POST", "/__api__/instances", {"package": "scale", "instance": "bench"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.request

        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body or {}).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def wrk(self, route: str, body: str, seconds: int) -> dict[str, Any]:
        script = self.home / f"{route}.lua"
        script.write_text(LUA.format(body=body, key=self.key))
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                "-c32",
                f"-d{seconds}s",
                "-s",
                str(script),
                f"{self.url}/bench/bench/{route}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        if result["non2xx"] or result["errors"]:
            raise SystemExit(f"wrk saw failures on {route}: {result}")
        return result

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(30)
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def measure(database: str | None, workers: int, rounds: int, seconds: int) -> tuple[float, float]:
    """Median requests/s of do_something and of bump; bump's count checked exact."""
    server = Server(workers, database)
    try:
        server.wrk("do_something", '{"times": 3}', 1)  # warm every worker
        seed = statistics.median(
            r["requests"] / r["seconds"]
            for r in (server.wrk("do_something", '{"times": 3}', seconds) for _ in range(rounds))
        )
        bumps = [server.wrk("bump", "{}", seconds) for _ in range(rounds)]
        total = sum(r["requests"] for r in bumps)
        counted = server.call("POST", "/bench/bench/count")
        # wrk stops counting at its deadline with up to 32 requests in flight, which the
        # server still completes: the counter may exceed the count by that much per run,
        # never fall short of it (that would be a lost update).
        if not total <= counted <= total + 32 * rounds:
            raise SystemExit(f"lost updates: {total} bumps answered 200, counter says {counted}")
        bump = statistics.median(r["requests"] / r["seconds"] for r in bumps)
        return seed, bump
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to wipe and use")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    databases: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.postgres:
        databases.append(("postgresql", args.postgres))
    print(f"{os.cpu_count()} CPUs; wrk -t2 -c32, medians of {args.rounds} x {args.seconds} s")
    print("| database | workers | do_something req/s | scaling | bump (contended update) req/s |")
    print("|---|---:|---:|---:|---:|")
    for name, url in databases:
        base = None
        for workers in args.workers:
            seed, bump = measure(url, workers, args.rounds, args.seconds)
            base = base or seed
            print(f"| {name} | {workers} | {seed:,.0f} | {seed / base:.2f}x | {bump:,.0f} |")


if __name__ == "__main__":
    main()
