"""Tests for dockyard.store.generation and the per-request caches of `Store` built on it:
cached answers are never stale, across processes too, and a writer that dies mid-way
turns the cache off instead of leaving it trusted."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dockyard.store import Store
from dockyard.store.generation import Generation, GenerationCache

from .conftest import StoreFactory

# --- the counter ------------------------------------------------------------------------------


def test_counter_file_starts_at_zero_and_is_private(tmp_path: Path) -> None:
    generation = Generation(tmp_path / "g")
    assert generation.current() == 0
    assert (tmp_path / "g").stat().st_mode & 0o777 == 0o600


def test_a_write_is_odd_while_in_progress_for_every_reader(tmp_path: Path) -> None:
    writer, reader = Generation(tmp_path / "g"), Generation(tmp_path / "g")
    with writer.writing():
        assert reader.current() is None
        assert writer.current() is None
    assert reader.current() == writer.current() == 2
    with writer.writing():
        pass
    assert reader.current() == 4


def test_a_failed_write_still_ends_the_odd_phase(tmp_path: Path) -> None:
    generation = Generation(tmp_path / "g")
    with pytest.raises(RuntimeError), generation.writing():
        raise RuntimeError("rolled back")
    assert generation.current() == 2


def test_a_writer_killed_mid_write_turns_caching_off_until_the_next_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "g"
    reader = Generation(path)
    script = textwrap.dedent(
        f"""
        import os
        from dockyard.store.generation import Generation
        with Generation({str(path)!r}).writing():
            os._exit(9)  # killed between its commit and its final bump
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False)
    assert done.returncode == 9
    assert reader.current() is None  # never trust the cache now
    with Generation(path).writing():  # the lock died with the process: no deadlock
        pass
    assert reader.current() == 4  # 1 (dead) -> 3 -> 4


def test_in_memory_counter_is_private_and_follows_the_same_rules() -> None:
    generation = Generation.for_sqlite(":memory:")
    assert generation.path is None
    assert generation.current() == 0
    with generation.writing():
        assert generation.current() is None
    assert generation.current() == 2


def test_for_sqlite_puts_the_counter_beside_the_database(tmp_path: Path) -> None:
    generation = Generation.for_sqlite(str(tmp_path / "x.db"))
    assert generation.path == tmp_path / "x.db-generation"
    assert generation.path.exists()


def test_disabled_counter_never_allows_caching() -> None:
    generation = Generation.disabled()
    assert generation.current() is None
    with generation.writing():
        assert generation.current() is None


# --- the cache --------------------------------------------------------------------------------


def test_cache_trusts_an_entry_only_under_its_generation(tmp_path: Path) -> None:
    generation = Generation(tmp_path / "g")
    cache: GenerationCache[str, int] = GenerationCache(generation)
    before = generation.current()
    cache.put("a", 1, before)
    assert cache.get("a", generation.current()) == 1
    with generation.writing():
        assert cache.get("a", generation.current()) is None
    assert cache.get("a", generation.current()) is None
    cache.put("b", 2, None)  # read while a write was in progress: not kept
    assert cache.get("b", generation.current()) is None


def test_a_fill_racing_an_invalidation_is_never_trusted(tmp_path: Path) -> None:
    generation = Generation(tmp_path / "g")
    cache: GenerationCache[str, str] = GenerationCache(generation)
    read_under = generation.current()  # a reader looks at the counter, then queries...
    with generation.writing():  # ...while another process revokes...
        pass
    cache.put("key", "old answer", read_under)  # ...and caches what it read before
    assert cache.get("key", generation.current()) is None


def test_cache_memory_is_bounded(tmp_path: Path) -> None:
    generation = Generation(tmp_path / "g")
    cache: GenerationCache[int, int] = GenerationCache(generation, max_entries=10)
    for i in range(1000):
        cache.put(i, i, 0)
        assert len(cache._entries) <= 10
    assert cache.get(999, 0) == 999


# --- the store's caches, across processes -----------------------------------------------------


def _in_another_process(url: str, code: str) -> None:
    script = f"from dockyard.store import Store\nstore = Store({url!r})\n" + code
    subprocess.run([sys.executable, "-c", script], check=True)


def test_revocation_in_another_process_takes_effect_at_the_next_request(
    make_store: StoreFactory, any_url: str
) -> None:
    store = make_store(any_url)
    store.ensure_user("alice")
    record, key = store.create_key("alice")
    for _ in range(3):  # cached from the second call on (where caching is on)
        assert store.authenticate(key) is not None
    _in_another_process(any_url, f"store.revoke_key('alice', {record.id})")
    assert store.authenticate(key) is None


def test_deletion_in_another_process_is_seen_at_the_next_check(
    make_store: StoreFactory, any_url: str
) -> None:
    store = make_store(any_url)
    store.ensure_user("alice")
    record = store.create_instance(
        owner="alice", workspace="w", handle="inst", package="p", version="1", config={}
    )
    for _ in range(3):
        assert store.instance_exists(record.id)
    _in_another_process(any_url, "store.delete_instance('alice', 'w', 'inst')")
    assert not store.instance_exists(record.id)


def test_caching_is_off_where_no_shared_counter_can_reach_every_process(
    any_store: Store,
) -> None:
    # A database server is reached from other machines: no file can carry the counter
    # to them, so every check asks the database (exact, at one indexed lookup).
    sqlite = any_store.engine.dialect.name == "sqlite"
    assert (any_store._generation.current() is not None) is sqlite
    any_store.ensure_user("alice")
    _, key = any_store.create_key("alice")
    assert any_store.authenticate(key) is not None
    assert any_store.authenticate(key) is not None
    assert bool(any_store._users_by_key._entries) is sqlite


def test_cached_answers_do_not_outlive_a_revocation_in_this_process(any_store: Store) -> None:
    store = any_store
    store.ensure_user("alice")
    record, key = store.create_key("alice")
    _, other = store.create_key("alice")
    assert store.authenticate(key) is not None
    assert store.authenticate(other) is not None
    store.revoke_key("alice", record.id)
    assert store.authenticate(key) is None
    assert store.authenticate(other) is not None  # the other key is re-read, still live


def test_unknown_keys_are_not_cached(any_store: Store) -> None:
    store = any_store
    store.ensure_user("alice")
    assert store.authenticate("dk_" + "a" * 43) is None
    assert store.authenticate("dk_" + "a" * 43) is None
    assert store._users_by_key._entries == {}
