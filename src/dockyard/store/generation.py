"""Exact caching of the per-request checks (API key -> user, instance still exists).

Every request checks its API key and that its cached instance was not deleted by another
process. Asking the database each time costs two statements per request, and under a
threaded server each one gives up the GIL and waits to get it back behind the other
threads: measured, they cost a third of a worker's throughput. Yet the answers change
only when a key is revoked or an instance deleted, which is rare.

So writers that can invalidate an answer publish it: a *generation* counter shared by
every process on the database, kept in a small file next to an SQLite database and
read through ``mmap`` (a memory read: no system call, no GIL release). Readers tag what
they cache with the generation read *before* querying, and trust an entry only while
the counter still shows that tag.

The counter works like a sequence lock. A writer, holding an exclusive ``flock`` on the
file for its whole transaction, sets the counter to the next odd number, commits, then
sets it to the next even number. Readers never trust (nor fill) the cache while the
counter is odd. Hence:

- a request that starts after a revocation or deletion has returned sees a new even
  counter, misses, and asks the database: revocation takes effect on every worker
  process at their next request, exactly as without the cache;
- a writer killed between its commit and its final bump leaves the counter odd, so the
  cache stays off (every request asks the database) until the next such writer
  finishes: never a stale answer.

Only positive answers are cached (a known key, an existing instance): creating keys and
instances invalidates nothing. Where no shared file can serve every process (a database
server such as PostgreSQL, reached from several machines) or ``fcntl`` is missing, the
cache is off and every request asks the database.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Generic, TypeVar

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DEFAULT_MAX_ENTRIES", "Generation", "GenerationCache"]

K = TypeVar("K")
V = TypeVar("V")

#: Entries a `GenerationCache` holds before it starts over (bounds its memory).
DEFAULT_MAX_ENTRIES = 4096

_SIZE = 8


class Generation:
    """The counter of invalidating writes to one database.

    :param path: the counter file, shared by every process on the database (created,
        mode 0600, if missing); None for a counter private to this process (an
        in-memory database, which no other process can see).
    :param enabled: False turns caching off (`current` is always None).
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, enabled: bool = True) -> None:
        self.path = None if path is None else Path(path)
        self._map: mmap.mmap | None = None
        self._local = 0
        self._local_lock = threading.Lock()
        self.enabled = enabled and (path is None or fcntl is not None)
        if self.enabled and self.path is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                with _flocked(fd):
                    if os.fstat(fd).st_size < _SIZE:
                        os.ftruncate(fd, _SIZE)  # zero-filled: generation 0
                # MAP_SHARED: every process's map shows the same bytes, also after fork.
                self._map = mmap.mmap(fd, _SIZE)
            finally:
                os.close(fd)

    @classmethod
    def for_sqlite(cls, database: str | None) -> Generation:
        """The counter for an SQLite database: beside the file (``<file>-generation``),
        or private to this process for an in-memory one."""
        if not database or database == ":memory:" or database.startswith("file:"):
            return cls(None)
        return cls(f"{Path(database).expanduser().resolve()}-generation")

    @classmethod
    def disabled(cls) -> Generation:
        """A counter that turns caching off (for databases other processes reach over
        the network, where no shared file can carry it)."""
        return cls(None, enabled=False)

    def current(self) -> int | None:
        """The counter, or None when cached answers must not be trusted (caching is off,
        or a write is in progress or died mid-way)."""
        if not self.enabled:
            return None
        value = self._local if self._map is None else int.from_bytes(self._map[:_SIZE], "little")
        return None if value & 1 else value

    def writing(self) -> AbstractContextManager[None]:
        """Wrap a transaction that revokes a key or deletes an instance: the counter is
        odd from before it starts until after it commits (or fails)."""
        if not self.enabled:
            return nullcontext()
        return self._writing()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        if self.path is None:
            with self._local_lock:
                self._local = self._local + 1 | 1
                try:
                    yield
                finally:
                    self._local += 1
            return
        assert self._map is not None
        # A descriptor per write: flock is per open file description, which a forked
        # child would otherwise share with its parent.
        fd = os.open(self.path, os.O_RDWR)
        try:
            with _flocked(fd):
                self._store((self._load() + 1) | 1)
                try:
                    yield
                finally:
                    self._store(self._load() + 1)
        finally:
            os.close(fd)

    def _load(self) -> int:
        assert self._map is not None
        return int.from_bytes(self._map[:_SIZE], "little")

    def _store(self, value: int) -> None:
        assert self._map is not None
        self._map[:_SIZE] = value.to_bytes(_SIZE, "little")


@contextmanager
def _flocked(fd: int) -> Iterator[None]:
    assert fcntl is not None
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class GenerationCache(Generic[K, V]):
    """Answers trusted while the `Generation` they were read under is current.

    Lock-free: each entry carries its generation, so a fill racing an invalidation is
    simply never trusted.

    :param generation: the counter.
    :param max_entries: the size at which the cache is emptied (keeps memory bounded
        whatever callers ask).
    """

    def __init__(self, generation: Generation, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.generation = generation
        self.max_entries = max_entries
        self._entries: dict[K, tuple[V, int]] = {}

    def get(self, key: K, generation: int | None) -> V | None:
        """The answer cached for ``key`` under ``generation`` (from `Generation.current`,
        read just before), or None."""
        if generation is None:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[1] != generation:
            return None
        return entry[0]

    def put(self, key: K, value: V, generation: int | None) -> None:
        """Remember ``value`` for ``key``, read from the database under ``generation``
        (read before the query)."""
        if generation is None:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (value, generation)
