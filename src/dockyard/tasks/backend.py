"""Which backend runs background tasks: embedded (the default) or Redis.

- **Embedded** (``DOCKYARD_TASKS_URL`` unset): every process with a `Runtime` (``dockyard
  serve``, ``dockyard worker``, the embedded client) runs `TaskWorker` threads, which
  poll the store and are woken in-process.
- **Redis** (``DOCKYARD_TASKS_URL=redis://host:port/db``): the store stays the source of
  truth, and "task X may be due" messages go through RQ on that Redis to ``dockyard
  worker`` processes on any machine (`dockyard.tasks.redis`). Servers and clients only
  schedule; they run no task threads.

`attach_backend` is the hook the server, the client and the worker call on the store
they build. rq and redis are imported only when a Redis URL is configured.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from dockyard.core.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.store import Store
    from dockyard.store.tasks import TaskDispatcher

__all__ = ["TASKS_URL_ENV", "attach_backend", "build_dispatcher", "tasks_url"]

#: The environment variable naming the Redis of the distributed backend.
TASKS_URL_ENV: Final = "DOCKYARD_TASKS_URL"

_SCHEMES: Final = ("redis://", "rediss://", "unix://")


def tasks_url() -> str | None:
    """The Redis URL of the distributed backend (``$DOCKYARD_TASKS_URL``), or None for
    the embedded backend."""
    return os.environ.get(TASKS_URL_ENV, "").strip() or None


def build_dispatcher(url: str | None = None) -> TaskDispatcher | None:
    """The dispatcher for ``url`` (default: `tasks_url`); None for the embedded backend.

    :raises DockyardError: the URL is not a Redis URL, or rq is not installed.
    """
    url = url or tasks_url()
    if url is None:
        return None
    if not url.startswith(_SCHEMES):
        raise DockyardError(
            f"{TASKS_URL_ENV}={url!r} is not a Redis URL",
            code="invalid_tasks_url",
            suggestion="set it to redis://host:port/db, or unset it for the embedded backend",
        )
    try:
        from dockyard.tasks.redis import RedisDispatcher
    except ModuleNotFoundError as exc:
        raise DockyardError(
            f"{TASKS_URL_ENV} is set but {exc.name} is not installed",
            code="tasks_backend_unavailable",
            suggestion="pip install 'dockyard[redis]', or unset "
            f"{TASKS_URL_ENV} for the embedded backend",
        ) from exc
    return RedisDispatcher(url)


def attach_backend(store: Store) -> bool:
    """Attach the configured dispatcher to ``store.tasks``; whether tasks run in other
    processes (True with a Redis URL: start no `TaskWorker` threads then)."""
    dispatcher = build_dispatcher()
    if dispatcher is None:
        return False
    store.tasks.dispatcher = dispatcher
    return True
