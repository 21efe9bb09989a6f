"""``dockyard serve``: the app under gunicorn, and the local credentials.

The app is built in each worker process after the fork (never shared across it: a
database connection pool must not be), from a picklable description of what to serve.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from dockyard.client import LOCAL_USER, dockyard_home

__all__ = ["ServeOptions", "ensure_credentials", "run"]


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
    """

    targets: Sequence[str] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    threads: int = 8
    home: str = ".dockyard"
    max_body: int = 10 * 1024 * 1024
    cache_size: int = 1024
    extra: Mapping[str, Any] = field(default_factory=dict)


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


def build_app(options: ServeOptions) -> Any:
    """The WSGI app for ``options`` (called in each worker)."""
    from dockyard.cli import load_target
    from dockyard.core.discovery import is_handle
    from dockyard.runtime import Runtime, package_handle_for
    from dockyard.server.app import create_app
    from dockyard.store import Store

    packages = {}
    for target in options.targets:
        if ":" in target or not is_handle(target):
            cls = load_target(target)
            packages[package_handle_for(cls)] = cls
    runtime = Runtime(Store(home=options.home), packages=packages, cache_size=options.cache_size)
    for target in options.targets:
        if ":" not in target and is_handle(target):
            runtime.package(target)  # fail now, not at the first request
    return create_app(runtime, max_body=options.max_body)


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


def run(options: ServeOptions) -> None:
    """Serve until interrupted."""
    _Gunicorn(options).run()


def default_home() -> str:
    """The state directory ``dockyard serve`` uses."""
    return str(dockyard_home())
