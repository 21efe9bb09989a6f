"""``dockyard serve``: the app under a production WSGI server, and the local credentials.

Two servers, chosen side by side in ``bench/http.py`` (figures in ``bench/RESULTS.md``):

- ``granian`` (the default): a Rust HTTP server running the WSGI app on a pool of
  blocking threads. Dockyard's app serves about twice the requests per second on it
  than on gunicorn, and more than FastAPI on uvicorn.
- ``gunicorn`` (``--server gunicorn``): the pure-Python pre-fork server, its ``gthread``
  worker; for platforms granian has no wheel for, or operators who know it.

Either way the app is built in each worker process (never shared across a fork: a
database connection pool must not be), from a description of what to serve, and every
request is logged on one access-log line.
"""

from __future__ import annotations

import atexit
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from dockyard.client import LOCAL_USER, dockyard_home

__all__ = ["SERVERS", "ServeOptions", "ensure_credentials", "run"]

#: The WSGI servers ``dockyard serve --server`` runs; the first is the default.
SERVERS = ("granian", "gunicorn")

# How `run` hands the options to granian's workers, which build the app from an import
# path ("module:factory") and so can be given nothing else.
_OPTIONS_ENV = "DOCKYARD_SERVE_OPTIONS"

# One line per request: when, who, the request line with its query, status, duration.
_GRANIAN_ACCESS_FORMAT = (
    '[%(time)s] %(addr)s "%(method)s %(path)s?%(query_string)s %(protocol)s" '
    "%(status)d %(dt_ms).1fms"
)


@dataclass(frozen=True)
class ServeOptions:
    """What to serve, and how.

    :param targets: package handles, ``module:Class`` or ``file.py:Class``.
    :param host: interface to bind.
    :param port: port to bind (0: any free one).
    :param workers: worker processes.
    :param threads: threads per worker.
    :param home: the state directory.
    :param max_body: largest request body, bytes.
    :param cache_size: live instances cached per worker.
    :param server: the WSGI server, one of `SERVERS`.
    :param task_workers: background-task threads per worker process (0: none).
    :param extra: further gunicorn settings (``--server gunicorn`` only).
    """

    targets: Sequence[str] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    threads: int = 8
    home: str = ".dockyard"
    max_body: int = 10 * 1024 * 1024
    cache_size: int = 1024
    server: str = SERVERS[0]
    task_workers: int = 2
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise ValueError(f"unknown server {self.server!r}; choose one of {', '.join(SERVERS)}")


def ensure_credentials(home: str | Path, url: str) -> tuple[str, bool]:
    """The local user's API key, created (and written to ``home/credentials``, mode 0600)
    on first start; ``(key, created)``.

    An existing credentials file is kept while its key still authenticates; its URL is
    updated to ``url``.
    """
    from dockyard.store import Store

    path = Path(home) / "credentials"
    store = Store(home=home)
    try:
        store.ensure_user(LOCAL_USER)
        key: str | None = None
        try:
            key = json.loads(path.read_text()).get("api_key")
        except (OSError, ValueError, AttributeError):
            key = None
        created = False
        if not key or store.authenticate(key) is None:
            _, key = store.create_key(LOCAL_USER, name="local credentials")
            created = True
    finally:
        store.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": url, "api_key": key, "user": LOCAL_USER}, out)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_TRUNC
    return key, created


def build_app(options: ServeOptions, *, check_only: bool = False) -> Any:
    """The WSGI app for ``options`` (called in each worker process, which also starts its
    background-task threads; ``check_only``: just check that the targets load)."""
    from dockyard.cli import load_target
    from dockyard.core.discovery import ComponentNotFoundError, is_handle
    from dockyard.runtime import Runtime, package_handle_for
    from dockyard.server.app import create_app
    from dockyard.store import Store
    from dockyard.tasks.backend import attach_backend

    packages = {}
    for target in options.targets:
        if ":" in target or not is_handle(target):
            cls = load_target(target)
            packages[package_handle_for(cls)] = cls
    runtime = Runtime(Store(home=options.home), packages=packages, cache_size=options.cache_size)
    discovery = runtime.engine.discovery
    for target in options.targets:
        if ":" not in target and is_handle(target):
            # Fail now, not at the first request.
            if target in discovery.names("dockyard.packages"):
                runtime.package(target)
            elif target in discovery.names("dockyard.plugins"):
                runtime.plugin(target)
            else:
                raise ComponentNotFoundError(
                    f"no package or plugin {target!r} is installed",
                    suggestion="install it, or serve one of: "
                    + ", ".join(
                        sorted(
                            {
                                *discovery.names("dockyard.packages"),
                                *discovery.names("dockyard.plugins"),
                            }
                        )
                    ),
                    details={"target": target},
                )
    app = create_app(runtime, max_body=options.max_body)
    # DOCKYARD_TASKS_URL: this process schedules and dispatches; workers run the tasks.
    distributed = attach_backend(runtime.store)
    if options.task_workers and not check_only and not distributed:
        from dockyard.tasks import TaskWorker

        worker = TaskWorker(runtime, threads=options.task_workers).start()
        # A clean shutdown lets running tasks finish (a killed worker's tasks are re-run
        # by the next worker to start on this host, or when their lease runs out).
        atexit.register(worker.stop, 5.0)
        app.extensions["dockyard.tasks"] = worker
    return app


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        settings = {
            "bind": f"{self.options.host}:{self.options.port}",
            "workers": self.options.workers,
            "threads": self.options.threads,
            "worker_class": "gthread",
            "accesslog": "-",
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
            "errorlog": "-",
            "preload_app": False,
            "keepalive": 5,
            **dict(self.options.extra),
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return build_app(self.options)


def granian_app() -> Any:
    """The WSGI app of one granian worker, built from the options `run` left in the
    environment (granian's ``factory`` target)."""
    raw = json.loads(os.environ[_OPTIONS_ENV])
    raw["targets"] = tuple(raw["targets"])
    return build_app(ServeOptions(**raw))


def _run_granian(options: ServeOptions) -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    described = asdict(options)
    del described["extra"]
    os.environ[_OPTIONS_ENV] = json.dumps(described)
    Server(
        f"{__name__}:granian_app",
        address=options.host,
        port=options.port,
        interface=Interfaces.WSGI,
        workers=options.workers,
        blocking_threads=options.threads,
        factory=True,
        log_access=True,
        log_access_format=_GRANIAN_ACCESS_FORMAT,
        respawn_failed_workers=True,
        websockets=False,
    ).serve()


def run(options: ServeOptions) -> None:
    """Serve until interrupted (SIGINT or SIGTERM)."""
    if options.server == "gunicorn":
        _Gunicorn(options).run()
    else:
        _run_granian(options)


def default_home() -> str:
    """The state directory ``dockyard serve`` uses."""
    return str(dockyard_home())
