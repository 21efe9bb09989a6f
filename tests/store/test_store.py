"""Tests for dockyard.store.store: users, workspaces, instances and their init state."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

import dockyard.store
from dockyard.core.errors import DockyardError
from dockyard.store import (
    InstanceExistsError,
    InstanceNotFoundError,
    InstanceRecord,
    InvalidHandleError,
    Store,
    StoreError,
    User,
    UserExistsError,
    UserNotFoundError,
    WorkspaceTakenError,
)
from dockyard.store.schema import instances

T = TypeVar("T")


def race(threads: int, fn: Callable[[], T]) -> list[T | BaseException]:
    """Run ``fn`` in ``threads`` threads released at once; their results or errors."""
    start = threading.Barrier(threads)
    results: list[T | BaseException] = [RuntimeError("did not run")] * threads

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = fn()
        except BaseException as error:
            results[index] = error

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def create(store: Store, handle: str = "one", **kwargs: Any) -> InstanceRecord:
    fields: dict[str, Any] = {
        "owner": "alice",
        "workspace": "ws",
        "handle": handle,
        "package": "pkg",
        "version": "1.0",
        "config": {},
    }
    fields.update(kwargs)
    return store.create_instance(**fields)


@pytest.fixture
def users(any_store: Store) -> Store:
    any_store.ensure_user("alice")
    any_store.ensure_user("bob")
    return any_store


# --- the package ------------------------------------------------------------------------------


def test_importing_the_package_runs_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, dockyard.store\n"
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'\n"
        "from dockyard.store import StoreError\n"
        "assert 'sqlalchemy' not in sys.modules, 'errors need no sqlalchemy'\n"
        "import dockyard.store.store\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)
    assert list(tmp_path.iterdir()) == []


def isort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions, each alphabetical."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_every_name_is_documented() -> None:
    assert dockyard.store.__all__ == sorted(set(dockyard.store.__all__), key=isort_key)
    assert set(dockyard.store._EXPORTS) == set(dockyard.store.__all__)
    for name in dockyard.store.__all__:
        value = getattr(dockyard.store, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
    with pytest.raises(AttributeError):
        dockyard.store.nope  # noqa: B018


# --- users ------------------------------------------------------------------------------------


def test_create_get_ensure_user(any_store: Store) -> None:
    alice = any_store.create_user("alice")
    assert isinstance(alice, User)
    assert alice.handle == "alice"
    assert alice.created_at.tzinfo == timezone.utc
    assert any_store.get_user("alice") == alice
    assert any_store.ensure_user("alice") == alice
    assert any_store.get_user("bob") is None
    bob = any_store.ensure_user("bob")
    assert bob.id != alice.id
    assert any_store.get_user("bob") == bob


def test_duplicate_user_is_409(any_store: Store) -> None:
    any_store.create_user("alice")
    with pytest.raises(UserExistsError) as raised:
        any_store.create_user("alice")
    error = raised.value
    assert (error.status, error.code) == (409, "user_exists")
    assert isinstance(error, DockyardError)
    assert isinstance(error, ValueError)
    assert "alice" in error.message
    assert error.suggestion


@pytest.mark.parametrize("handle", ["", "Alice", "a_b", "a b", "-a", "a-", "a" * 65, "é", None, 7])
def test_invalid_user_handles_are_422(any_store: Store, handle: Any) -> None:
    with pytest.raises(InvalidHandleError) as raised:
        any_store.create_user(handle)
    assert raised.value.status == 422
    assert isinstance(raised.value, ValueError)
    assert "lowercase letters, digits and dashes" in str(raised.value)


def test_valid_handle_edges(any_store: Store) -> None:
    for handle in ["a", "0", "a-b", "a" * 64, "1-2-3"]:
        assert any_store.create_user(handle).handle == handle


def test_ensure_user_races_create_one_user(any_store: Store) -> None:
    results = race(8, lambda: any_store.ensure_user("racer"))
    assert all(isinstance(r, User) for r in results), results
    assert len({r.id for r in results if isinstance(r, User)}) == 1


# --- instances ---------------------------------------------------------------------------------


def test_create_and_get_instance(users: Store) -> None:
    record = create(users, config={"b": 1, "a": {"y": [1, 2], "x": None}})
    assert record.owner == "alice"
    assert record.workspace == "ws"
    assert record.handle == "one"
    assert (record.package, record.version) == ("pkg", "1.0")
    assert record.config == {"a": {"x": None, "y": [1, 2]}, "b": 1}
    assert (record.init_state, record.init_error) == ("pending", None)
    assert record.created_at == record.updated_at
    assert record.created_at.tzinfo == timezone.utc
    assert users.get_instance("ws", "one") == record
    assert users.get_instance_by_id(record.id) == record
    assert users.get_instance("ws", "two") is None
    assert users.get_instance("other", "one") is None
    assert users.get_instance_by_id(record.id + 100) is None


def test_config_is_stored_as_canonical_json(users: Store) -> None:
    create(users, config={"b": 1, "a": {"é": 1.5, "c": [True, None]}})
    with users.engine.connect() as conn:
        stored = conn.execute(select(instances.c.config)).scalar_one()
    assert stored == '{"a":{"c":[true,null],"é":1.5},"b":1}'


def test_config_equality_is_exact_whatever_the_key_order(users: Store) -> None:
    given = {"z": 1, "a": {"k2": [1, {"q": 2, "p": 1}], "k1": "v"}}
    record = create(users, config=given)
    reordered = {"a": {"k1": "v", "k2": [1, {"p": 1, "q": 2}]}, "z": 1}
    assert record.config == given == reordered
    assert users.get_instance("ws", "one").config == reordered  # type: ignore[union-attr]
    assert dockyard.store.canonical_json(given) == dockyard.store.canonical_json(reordered)


def test_config_is_frozen_in_the_store(users: Store) -> None:
    config = {"a": [1]}
    record = create(users, config=config)
    config["a"].append(2)
    record.config["a"].append(3)
    assert users.get_instance("ws", "one").config == {"a": [1]}  # type: ignore[union-attr]


@pytest.mark.parametrize("config", [{"a": {1, 2}}, {1: "a"}, {"a": float("nan")}])
def test_non_json_config_is_a_type_error(users: Store, config: Any) -> None:
    with pytest.raises(TypeError, match="config of instance ws/one"):
        create(users, config=config)
    with pytest.raises(TypeError, match="mapping"):
        create(users, config=[1])
    assert users.get_instance("ws", "one") is None


def test_create_instance_checks_its_fields(users: Store) -> None:
    with pytest.raises(InvalidHandleError, match="workspace"):
        create(users, workspace="Bad")
    with pytest.raises(InvalidHandleError, match="instance"):
        create(users, handle="bad_handle")
    with pytest.raises(TypeError, match="package"):
        create(users, package="")
    with pytest.raises(TypeError, match="version"):
        create(users, version=None)
    with pytest.raises(UserNotFoundError):
        create(users, owner="ghost")


def test_existing_instance_is_409_carrying_the_record(users: Store) -> None:
    record = create(users, config={"a": 1})
    with pytest.raises(InstanceExistsError) as raised:
        create(users, config={"a": 2}, version="2.0")
    error = raised.value
    assert (error.status, error.code) == (409, "instance_exists")
    assert error.existing == record
    assert isinstance(error, ValueError)
    assert isinstance(error, StoreError)
    assert "ws/one" in error.message


def test_workspace_of_another_user_is_409_without_details(users: Store) -> None:
    create(users, owner="alice", workspace="shared", handle="one")
    for handle in ["one", "two"]:  # whether or not the instance exists: same answer
        with pytest.raises(WorkspaceTakenError) as raised:
            create(users, owner="bob", workspace="shared", handle=handle)
        error = raised.value
        assert (error.status, error.code) == (409, "workspace_taken")
        assert "workspace handle taken" in error.message
        assert "alice" not in str(error)
        assert "alice" not in repr(error.to_dict())
    assert [r.handle for r in users.list_instances("bob")] == []


def test_one_user_many_workspaces_and_instances(users: Store) -> None:
    create(users, workspace="zeta", handle="b")
    create(users, workspace="alpha", handle="c")
    create(users, workspace="zeta", handle="a")
    create(users, workspace="alpha-2", handle="x")
    create(users, owner="bob", workspace="bobs", handle="a")
    listed = users.list_instances("alice")
    assert [(r.workspace, r.handle) for r in listed] == [
        ("alpha", "c"),
        ("alpha-2", "x"),
        ("zeta", "a"),
        ("zeta", "b"),
    ]
    assert all(r.owner == "alice" for r in listed)
    assert [r.handle for r in users.list_instances("bob")] == ["a"]
    assert users.list_instances("nobody") == []


def test_instance_handle_may_repeat_across_workspaces(users: Store) -> None:
    one = create(users, workspace="ws1", handle="same")
    two = create(users, workspace="ws2", handle="same")
    assert one.id != two.id


def test_get_instance_answers_for_any_owner(users: Store) -> None:
    create(users, owner="bob", workspace="bobs", handle="one")
    assert users.get_instance("bobs", "one").owner == "bob"  # type: ignore[union-attr]


def test_delete_instance(users: Store) -> None:
    record = create(users)
    assert users.delete_instance("bob", "ws", "one") is False  # not bob's
    assert users.delete_instance("alice", "ws", "nope") is False
    assert users.get_instance("ws", "one") == record
    assert users.delete_instance("alice", "ws", "one") is True
    assert users.get_instance("ws", "one") is None
    assert users.delete_instance("alice", "ws", "one") is False
    # The handle is free again; the workspace stays alice's.
    again = create(users)
    assert again.id != record.id  # ids are never reused
    with pytest.raises(WorkspaceTakenError):
        create(users, owner="bob")


def test_concurrent_creation_of_one_instance(users: Store) -> None:
    results = race(8, lambda: create(users, config={"n": 1}))
    made = [r for r in results if isinstance(r, InstanceRecord)]
    exists = [r for r in results if isinstance(r, InstanceExistsError)]
    assert len(made) == 1, results
    assert len(exists) == 7, results
    assert all(error.existing == made[0] for error in exists)


# --- instance_init state --------------------------------------------------------------------


def test_claim_and_finish_ready(users: Store) -> None:
    record = create(users)
    assert users.claim_init(record.id) is True
    assert users.get_instance("ws", "one").init_state == "initializing"  # type: ignore[union-attr]
    assert users.claim_init(record.id) is False
    done = users.finish_init(record.id, None)
    assert (done.init_state, done.init_error) == ("ready", None)
    assert done.updated_at > record.updated_at
    assert users.claim_init(record.id) is False
    assert users.get_instance("ws", "one") == done


def test_failed_init_is_recorded_and_retried(users: Store) -> None:
    record = create(users)
    assert users.claim_init(record.id)
    failed = users.finish_init(record.id, "ValueError: no index")
    assert (failed.init_state, failed.init_error) == ("failed", "ValueError: no index")
    assert users.claim_init(record.id) is True  # the retry
    again = users.get_instance_by_id(record.id)
    assert again is not None
    assert again.init_state == "initializing"
    ready = users.finish_init(record.id, None)
    assert (ready.init_state, ready.init_error) == ("ready", None)


def test_exactly_one_of_many_concurrent_claimers_wins(users: Store) -> None:
    record = create(users)
    results = race(8, lambda: users.claim_init(record.id))
    assert sorted(results, key=str) == [False] * 7 + [True]
    users.finish_init(record.id, "boom")
    results = race(8, lambda: users.claim_init(record.id))
    assert results.count(True) == 1
    assert results.count(False) == 7


def test_stale_initializing_claim_is_taken_over(make_store: Any, any_url: str) -> None:
    store = make_store(any_url, init_stale_after=300)
    store.ensure_user("alice")
    record = create(store)
    assert store.claim_init(record.id)
    assert store.claim_init(record.id) is False  # fresh claim: wait for it
    assert store.claim_init(record.id, stale_after=0) is True  # presumed dead: take over
    assert store.claim_init(record.id) is False
    impatient = make_store(any_url, init_stale_after=0)
    assert impatient.claim_init(record.id) is True


def test_a_renewed_claim_is_not_stale(users: Store) -> None:
    record = create(users)
    assert users.renew_init(record.id) is False  # pending: nothing to renew
    assert users.claim_init(record.id)
    time.sleep(0.5)
    assert users.renew_init(record.id) is True
    # Claimed 0.5 s ago, but renewed just now: not stale after 0.4 s.
    assert users.claim_init(record.id, stale_after=0.4) is False
    time.sleep(0.5)
    assert users.claim_init(record.id, stale_after=0.4) is True  # not renewed since
    users.finish_init(record.id, None)
    assert users.renew_init(record.id) is False  # ready: nothing to renew
    assert users.get_instance_by_id(record.id).init_state == "ready"  # type: ignore[union-attr]
    assert users.renew_init(424242) is False


def test_claim_and_finish_unknown_instance_is_404(users: Store) -> None:
    with pytest.raises(InstanceNotFoundError):
        users.claim_init(424242)
    with pytest.raises(InstanceNotFoundError) as raised:
        users.finish_init(424242, None)
    assert raised.value.status == 404
    with pytest.raises(TypeError):
        users.finish_init(1, 3)  # type: ignore[arg-type]


# --- lifetime ---------------------------------------------------------------------------------


def test_everything_survives_reopening(make_store: Any, any_url: str) -> None:
    first = make_store(any_url)
    first.ensure_user("alice")
    _, key = first.create_key("alice", "k")
    record = create(first, config={"a": 1})
    first.claim_init(record.id)
    ready = first.finish_init(record.id, None)
    first.close()
    with make_store(any_url) as second:
        assert second.get_instance("ws", "one") == ready
        assert second.authenticate(key) == second.get_user("alice")
        assert [k.name for k in second.list_keys("alice")] == ["k"]


def test_store_is_usable_after_close(any_store: Store) -> None:
    any_store.ensure_user("alice")
    any_store.authenticate(any_store.create_key("alice")[1])  # opens a read connection
    any_store.close()
    assert any_store.get_user("alice") is not None
    _, key = any_store.create_key("alice")
    assert any_store.authenticate(key) == any_store.get_user("alice")


def test_repr_hides_the_password() -> None:
    from dockyard.store.database import Database
    from dockyard.store.location import parse_url

    url = parse_url("postgresql://me:s3cret@localhost/db")
    assert "s3cret" not in url.render_as_string(hide_password=True)
    assert Database.__doc__


def test_instance_exists_follows_deletion_and_ids_are_not_reused(any_url: str) -> None:
    with Store(any_url) as store:
        store.ensure_user("ann")
        first = store.create_instance(
            owner="ann", workspace="w", handle="i", package="p", version="1", config={}
        )
        assert store.instance_exists(first.id)
        assert store.delete_instance("ann", "w", "i")
        assert not store.instance_exists(first.id)
        again = store.create_instance(
            owner="ann", workspace="w", handle="i", package="p", version="1", config={}
        )
        assert again.id != first.id
        assert store.instance_exists(again.id)
