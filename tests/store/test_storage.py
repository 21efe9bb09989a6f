"""Tests for dockyard.store.storage: the per-instance key-value store."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dockyard.store import InstanceNotFoundError, InstanceRecord, InstanceStorage, Store
from dockyard.store.schema import MAX_KEY_LENGTH, storage
from dockyard.store.storage import _successor


@pytest.fixture
def data(any_store: Store, instance: InstanceRecord) -> InstanceStorage:
    """The root storage of the ``instance`` fixture."""
    return any_store.storage(instance.id)


def raw_rows(store: Store) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(storage).order_by(storage.c.key))]


# --- get / set / delete -------------------------------------------------------------------


def test_get_missing_returns_default(data: InstanceStorage) -> None:
    assert data.get("nope") is None
    assert data.get("nope", 7) == 7


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -3,
        2**62,
        1.5,
        "",
        "héllo ✓",
        [],
        [1, "a", None],
        {},
        {"b": {"c": [1]}},
    ],
)
def test_set_then_get_round_trips_json_values(data: InstanceStorage, value: Any) -> None:
    data.set("k", value)
    assert data.get("k", "default") == value


def test_stored_null_is_not_missing(data: InstanceStorage) -> None:
    data.set("k", None)
    assert data.get("k", "default") is None
    assert data.items() == [("k", None)]


def test_set_replaces_and_stores_canonical_json(any_store: Store, data: InstanceStorage) -> None:
    data.set("k", {"b": 1, "a": [1, 2]})
    data.set("k", {"z": "é", "a": 1.5})
    assert data.get("k") == {"a": 1.5, "z": "é"}
    [(_, namespace, key, value)] = raw_rows(any_store)
    assert (namespace, key, value) == ("", "k", '{"a":1.5,"z":"é"}')


def test_tuples_are_stored_as_lists(data: InstanceStorage) -> None:
    data.set("k", (1, (2, 3)))
    assert data.get("k") == [1, [2, 3]]


def test_get_returns_a_fresh_value_each_time(data: InstanceStorage) -> None:
    data.set("k", {"a": [1]})
    first = data.get("k")
    first["a"].append(2)
    assert data.get("k") == {"a": [1]}


def test_delete(data: InstanceStorage) -> None:
    data.set("k", 1)
    assert data.delete("k") is True
    assert data.get("k") is None
    assert data.delete("k") is False


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({1, 2}, "value is a set"),
        (object(), "value is a object"),
        (b"bytes", "value is a bytes"),
        (math.nan, "value nan is not a finite number"),
        (math.inf, "value inf is not a finite number"),
        ({"a": [1, {"b": {3}}]}, "value['a'][1]['b'] is a set"),
        ({1: "a"}, "value has a int key 1"),
        ({"ok": {2.5: "a"}}, "value['ok'] has a float key 2.5"),
    ],
)
def test_non_json_values_are_refused_naming_the_key(
    data: InstanceStorage, value: Any, problem: str
) -> None:
    with pytest.raises(TypeError, match=r"storage key 'k'") as raised:
        data.set("k", value)
    assert problem in str(raised.value)
    assert data.get("k") is None


@pytest.mark.parametrize(
    ("key", "error"),
    [(1, TypeError), (None, TypeError), (b"k", TypeError), ("", ValueError)],
)
def test_keys_must_be_non_empty_strings(data: InstanceStorage, key: Any, error: type) -> None:
    for call in (
        lambda: data.get(key),
        lambda: data.set(key, 1),
        lambda: data.delete(key),
        lambda: data.update(key, lambda v: v),
    ):
        with pytest.raises(error):
            call()


def test_key_length_is_limited_with_a_clear_error(data: InstanceStorage) -> None:
    data.set("k" * MAX_KEY_LENGTH, 1)
    with pytest.raises(ValueError, match=f"the limit is {MAX_KEY_LENGTH}"):
        data.set("k" * (MAX_KEY_LENGTH + 1), 1)


def test_storage_of_unknown_instance_is_404(any_store: Store) -> None:
    with pytest.raises(InstanceNotFoundError) as raised:
        any_store.storage(12345)
    assert raised.value.status == 404
    assert isinstance(raised.value, LookupError)


# --- items ------------------------------------------------------------------------------


def test_items_sorted_by_key(data: InstanceStorage) -> None:
    for key in ["b", "a", "c/1", "A", "é", "a0"]:
        data.set(key, key.upper())
    assert [key for key, _ in data.items()] == sorted(["b", "a", "c/1", "A", "é", "a0"])
    assert data.items()[0] == ("A", "A")


def test_items_prefix_is_literal_with_like_wildcards(data: InstanceStorage) -> None:
    keys = ["100%", "100%x", "1000", "100", "a_b", "a_c", "axb", "a%b", "a\\b", "a/b", "a//b"]
    for key in keys:
        data.set(key, key)
    assert [k for k, _ in data.items("100%")] == ["100%", "100%x"]
    assert [k for k, _ in data.items("a_")] == ["a_b", "a_c"]
    assert [k for k, _ in data.items("a%")] == ["a%b"]
    assert [k for k, _ in data.items("a\\")] == ["a\\b"]
    assert [k for k, _ in data.items("a/")] == ["a//b", "a/b"]
    assert [k for k, _ in data.items("a//")] == ["a//b"]
    assert data.items("zzz") == []


def test_items_prefix_is_case_sensitive(data: InstanceStorage) -> None:
    for key in ["Abc", "abc", "ABC"]:
        data.set(key, 1)
    assert [k for k, _ in data.items("ab")] == ["abc"]
    assert [k for k, _ in data.items("A")] == ["ABC", "Abc"]


def test_items_prefix_at_the_end_of_unicode(data: InstanceStorage) -> None:
    top = "\U0010ffff"
    for key in ["a", f"a{top}", f"a{top}{top}x", "b", f"{top}", f"{top}a", "\ud7ff", "\ue000"]:
        data.set(key, 1)
    assert [k for k, _ in data.items(f"a{top}")] == [f"a{top}", f"a{top}{top}x"]
    assert [k for k, _ in data.items(top)] == [top, f"{top}a"]
    assert [k for k, _ in data.items("\ud7ff")] == ["\ud7ff"]


def test_successor() -> None:
    assert _successor("ab") == "ac"
    assert _successor("a\U0010ffff") == "b"
    assert _successor("\U0010ffff") is None
    assert _successor("\ud7ff") == "\ue000"


def test_items_prefix_must_be_a_string(data: InstanceStorage) -> None:
    with pytest.raises(TypeError):
        data.items(1)  # type: ignore[arg-type]


# --- namespaces and instances ---------------------------------------------------------------


def test_namespaces_are_isolated(data: InstanceStorage) -> None:
    search = data.namespace("search")
    cache = search.namespace("cache")
    other = data.child("other")
    for storage_, value in [(data, "root"), (search, "search"), (cache, "cache"), (other, "o")]:
        storage_.set("k", value)
        storage_.set(f"only-{value}", 1)
    assert data.get("k") == "root"
    assert search.get("k") == "search"
    assert cache.get("k") == "cache"
    assert other.get("k") == "o"
    assert data.items() == [("k", "root"), ("only-root", 1)]
    assert search.items() == [("k", "search"), ("only-search", 1)]
    assert cache.items("only") == [("only-cache", 1)]
    assert search.delete("k")
    assert data.get("k") == "root"
    assert cache.get("k") == "cache"


def test_namespace_is_a_path_string_and_callable(any_store: Store, data: InstanceStorage) -> None:
    assert data.namespace == ""
    search = data.namespace("search")
    assert search.namespace == "search"
    assert isinstance(search.namespace, str)
    assert search.namespace("cache").namespace == "search/cache"
    # Opening the same path from the store reaches the same keys.
    search.namespace("cache").set("k", 1)
    assert any_store.storage(data.instance_id, "search/cache").get("k") == 1


@pytest.mark.parametrize("name", ["", "a/b", "/"])
def test_namespace_names_are_validated(data: InstanceStorage, name: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        data.namespace(name)
    with pytest.raises(TypeError):
        data.namespace(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/", "a/", "/a", "a//b"])
def test_namespace_paths_are_validated(
    any_store: Store, instance: InstanceRecord, path: str
) -> None:
    with pytest.raises(ValueError, match="namespace"):
        any_store.storage(instance.id, path)


def test_namespace_cannot_be_confused_with_key_text(data: InstanceStorage) -> None:
    # A key containing "/" in the root never shows up in a namespace, nor the reverse.
    data.set("a/b", "root")
    data.namespace("a").set("b", "child")
    assert data.get("a/b") == "root"
    assert data.namespace("a").get("b") == "child"
    assert data.items() == [("a/b", "root")]


def test_instances_are_isolated(any_store: Store, instance: InstanceRecord) -> None:
    other = any_store.create_instance(
        owner="alice", workspace="ws", handle="two", package="pkg", version="1.0", config={}
    )
    mine, theirs = any_store.storage(instance.id), any_store.storage(other.id)
    mine.set("k", 1)
    theirs.set("k", 2)
    theirs.update("n", lambda n: n + 1, 0)
    assert (mine.get("k"), theirs.get("k")) == (1, 2)
    assert mine.items() == [("k", 1)]
    assert mine.get("n") is None


def test_delete_instance_deletes_its_data(any_store: Store, instance: InstanceRecord) -> None:
    data = any_store.storage(instance.id)
    data.set("k", 1)
    data.namespace("ns").set("k", 2)
    assert any_store.delete_instance("alice", "ws", "one")
    with any_store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(storage)).scalar() == 0


# --- update ---------------------------------------------------------------------------------


def test_update_missing_key_gets_default(data: InstanceStorage) -> None:
    assert data.update("n", lambda n: n + 1, 10) == 11
    assert data.update("n", lambda n: n + 1, 10) == 12
    assert data.update("list", lambda v: [*(v or []), "x"]) == ["x"]
    assert data.get("n") == 12


def test_update_returns_what_fn_returned_and_stores_canonical_json(
    any_store: Store, data: InstanceStorage
) -> None:
    assert data.update("k", lambda _: {"b": 2, "a": 1}) == {"b": 2, "a": 1}
    [(_, _, _, value)] = raw_rows(any_store)
    assert value == '{"a":1,"b":2}'


def test_update_that_raises_changes_nothing(data: InstanceStorage) -> None:
    data.set("n", 1)

    def fail(_: Any) -> Any:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        data.update("n", fail)
    with pytest.raises(RuntimeError):
        data.update("missing", fail)
    assert data.get("n") == 1
    assert data.items() == [("n", 1)]
    # The store still works: the failed transactions released their locks.
    assert data.update("n", lambda n: n + 1) == 2


def test_update_refuses_non_json_results_naming_the_key(data: InstanceStorage) -> None:
    data.set("n", 1)
    with pytest.raises(TypeError, match=r"storage key 'n'.*set"):
        data.update("n", lambda _: {1, 2})
    assert data.get("n") == 1


def test_update_is_atomic_across_threads(data: InstanceStorage) -> None:
    threads, rounds = 8, 250
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                data.update("counter", lambda n: n + 1, 0)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert data.get("counter") == threads * rounds


WORKER = """
import pathlib, sys, time
from dockyard.store import Store

url, instance_id, rounds, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
folder = pathlib.Path(folder)
store = Store(url)
data = store.storage(instance_id)
(folder / f"ready-{sys.argv[5]}").touch()
while not (folder / "go").exists():  # start together, so the updates interleave
    time.sleep(0.001)
for _ in range(rounds):
    data.update("counter", lambda n: n + 1, 0)
store.close()
"""


def test_update_is_atomic_across_processes(
    any_store: Store, instance: InstanceRecord, tmp_path: Path
) -> None:
    processes, rounds = 2, 200
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                any_store.url,
                str(instance.id),
                str(rounds),
                str(tmp_path),
                str(n),
            ],
        )
        for n in range(processes)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < processes:
            assert time.monotonic() < deadline, "workers did not start"
            assert all(worker.poll() is None for worker in workers), "a worker died"
            time.sleep(0.01)
        (tmp_path / "go").touch()
        for worker in workers:
            assert worker.wait(timeout=120) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:  # pragma: no cover - only after a failure above
                worker.kill()
                worker.wait()
    assert any_store.storage(instance.id).get("counter") == processes * rounds


# --- persistence ------------------------------------------------------------------------------


def test_data_survives_reopening_the_store(make_store: Any, any_url: str) -> None:
    first = make_store(any_url)
    first.ensure_user("alice")
    record = first.create_instance(
        owner="alice", workspace="ws", handle="one", package="pkg", version="1.0", config={}
    )
    first.storage(record.id).set("k", {"v": [1, 2]})
    first.storage(record.id).namespace("ns").update("n", lambda n: n + 1, 0)
    first.close()

    second = make_store(any_url)
    again = second.get_instance("ws", "one")
    assert again is not None
    assert again.id == record.id
    assert second.storage(again.id).get("k") == {"v": [1, 2]}
    assert second.storage(again.id, "ns").get("n") == 1
    assert json.loads(json.dumps(second.storage(again.id).items())) == [["k", {"v": [1, 2]}]]
