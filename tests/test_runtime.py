"""`Runtime` (runtime.py): persistent instances over a store, in-process.

The packages are ``tests/server/packages/kit.py`` (the `kit` fixture) plus a few defined
here for timing-sensitive cases.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from dockyard import (
    ConfigError,
    DockyardError,
    Engine,
    PackageService,
    get,
    hookimpl,
    post,
)
from dockyard.core.discovery import ComponentNotFoundError, Discovery
from dockyard.core.response import InvocableResponse
from dockyard.runtime import (
    InstanceConflictError,
    InstanceInitError,
    InstanceNotFoundError,
    Runtime,
    package_handle_for,
)
from dockyard.store import InvalidHandleError, Store

if TYPE_CHECKING:
    from conftest import DistFactory


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(home=tmp_path / "home") as opened:
        for user in ("local", "bob"):
            opened.ensure_user(user)
        yield opened


@pytest.fixture
def runtime(store: Store, kit: ModuleType) -> Runtime:
    return Runtime(store, packages={"hello": kit.Hello, "flaky": kit.Flaky, "mixed": kit.Mixed})


def call(
    runtime: Runtime,
    handle: str,
    verb: str,
    method: str,
    user: str | None = "local",
    workspace: str | None = None,
    **arguments: Any,
) -> InvocableResponse:
    return runtime.invoke(user, workspace or handle, handle, verb, method, arguments)


def value(response: InvocableResponse) -> Any:
    assert response.error is None, response.error
    return response.data


# --- use: creation, init once, same instance ---------------------------------------------


def test_use_creates_initialises_once_and_returns_the_same_instance(runtime: Runtime) -> None:
    first = runtime.use("local", "hello", "greeter")
    assert (first.workspace, first.handle, first.package) == ("greeter", "greeter", "hello")
    assert first.owner == "local"
    assert first.init_state == "ready"
    assert first.config == {"greeting": "Hello"}  # validated, with defaults, frozen
    assert first.version == "0+local"
    second = runtime.use("local", "hello", "greeter")
    assert second.id == first.id
    assert value(call(runtime, "greeter", "GET", "inits")) == 1
    assert value(call(runtime, "greeter", "GET", "say_hello", name="Ted")) == "Hello, Ted!"


def test_default_instance_handle_is_the_package_and_workspace_the_instance(
    runtime: Runtime,
) -> None:
    record = runtime.use("local", "hello")
    assert (record.workspace, record.handle) == ("hello", "hello")
    other = runtime.use("local", "hello", "second")
    assert (other.workspace, other.handle) == ("second", "second")
    placed = runtime.use("local", "hello", "third", workspace="team")
    assert (placed.workspace, placed.handle) == ("team", "third")


def test_instance_init_runs_once_under_concurrent_first_uses(runtime: Runtime) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def use() -> None:
        try:
            barrier.wait()
            runtime.use("local", "hello", "crowd")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert value(call(runtime, "crowd", "GET", "inits")) == 1


def test_a_new_runtime_on_the_same_database_finds_the_instance(
    runtime: Runtime, store: Store, kit: ModuleType
) -> None:
    runtime.use("local", "hello", "kept", config={"greeting": "Hey"})
    call(runtime, "kept", "POST", "bump")
    with Store(url=store.url) as again:
        later = Runtime(again, packages={"hello": kit.Hello})
        record = later.use("local", "hello", "kept")
        assert record.config == {"greeting": "Hey"}
        assert value(call(later, "kept", "GET", "inits")) == 1
        assert value(call(later, "kept", "POST", "bump")) == 2
        assert value(call(later, "kept", "GET", "say_hello")) == "Hey, World!"


# --- use: conflicts and validation ---------------------------------------------------------


def test_a_different_config_is_a_conflict_naming_the_keys(runtime: Runtime) -> None:
    runtime.use("local", "hello", "cfg", config={"greeting": "Hi"})
    assert runtime.use("local", "hello", "cfg", config={"greeting": "Hi"}).config == {
        "greeting": "Hi"
    }
    assert runtime.use("local", "hello", "cfg").config == {"greeting": "Hi"}
    with pytest.raises(InstanceConflictError) as raised:
        runtime.use("local", "hello", "cfg", config={"greeting": "Yo"})
    error = raised.value
    assert (error.status, error.code) == (409, "instance_conflict")
    assert "greeting" in error.message
    assert error.details == {
        "differing": ["greeting"],
        "existing": {"greeting": "Hi"},
        "asked": {"greeting": "Yo"},
    }
    # {} means "the defaults", which differ from the stored "Hi".
    with pytest.raises(InstanceConflictError):
        runtime.use("local", "hello", "cfg", config={})


def test_the_defaults_given_explicitly_are_the_same_config(runtime: Runtime) -> None:
    runtime.use("local", "hello", "dflt")
    assert runtime.use("local", "hello", "dflt", config={"greeting": "Hello"}).handle == "dflt"
    assert runtime.use("local", "hello", "dflt", config={}).handle == "dflt"


def test_a_version_pin_must_match_the_installed_version(runtime: Runtime) -> None:
    with pytest.raises(InstanceConflictError) as raised:
        runtime.use("local", "hello", "pinned", version="2.0")
    assert raised.value.details == {"asked": "2.0", "installed": "0+local"}
    assert "2.0" in raised.value.message
    assert runtime.use("local", "hello", "pinned", version="0+local").version == "0+local"


def test_an_installed_package_records_its_distribution_version(
    store: Store, make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"hellodist_{make_dist.tag}"
    root = make_dist(
        "hello-dist",
        "1.4",
        entry_points={"dockyard.packages": {"greeter": f"{module}:Greeter"}},
        modules={
            module: """
                from dockyard import PackageService, get

                class Greeter(PackageService):
                    @get("hi")
                    def hi(self) -> str:
                        return "hi"
            """
        },
    )
    monkeypatch.syspath_prepend(str(root))
    runtime = Runtime(store, Engine(discovery=Discovery(path=[str(root)])))
    record = runtime.use("local", "greeter", version="1.4")
    assert record.version == "1.4"
    assert value(call(runtime, "greeter", "GET", "hi")) == "hi"
    with pytest.raises(InstanceConflictError) as raised:
        runtime.use("local", "greeter", version="1.5")
    assert raised.value.details == {"asked": "1.5", "installed": "1.4"}


def test_an_existing_instance_of_another_version_is_a_conflict(
    runtime: Runtime, store: Store
) -> None:
    store.create_instance(
        owner="local", workspace="old", handle="old", package="hello", version="0.9", config={}
    )
    with pytest.raises(InstanceConflictError) as raised:
        runtime.use("local", "hello", "old", version="0+local")
    assert raised.value.details == {"existing": "0.9", "asked": "0+local"}


def test_another_package_under_the_same_handle_is_a_conflict(runtime: Runtime) -> None:
    runtime.use("local", "hello", "taken")
    with pytest.raises(InstanceConflictError) as raised:
        runtime.use("local", "mixed", "taken")
    assert raised.value.details == {"existing": "hello", "asked": "mixed"}


def test_another_users_handle_is_a_conflict_and_stays_theirs(runtime: Runtime) -> None:
    runtime.use("bob", "hello", "bobs")
    with pytest.raises(InstanceConflictError):
        runtime.use("local", "hello", "bobs")
    assert runtime.store.get_instance("bobs", "bobs").owner == "bob"  # type: ignore[union-attr]


def test_invalid_config_lists_the_field(runtime: Runtime) -> None:
    with pytest.raises(ConfigError) as raised:
        runtime.use("local", "hello", "bad", config={"greting": "x"})
    assert raised.value.status == 422
    assert "greting" in raised.value.message
    assert runtime.store.get_instance("bad", "bad") is None  # nothing was created
    with pytest.raises(ConfigError) as missing:
        runtime.use("local", "flaky", "no-marker")
    assert "marker" in missing.value.message


@pytest.mark.parametrize(
    ("package", "instance", "workspace"),
    [("Hello", None, None), ("hello", "Bad_Name", None), ("hello", "ok", "-dash"), ("", "x", "x")],
)
def test_invalid_handles_are_refused(
    runtime: Runtime, package: str, instance: str | None, workspace: str | None
) -> None:
    with pytest.raises(InvalidHandleError) as raised:
        runtime.use("local", package, instance, workspace=workspace)
    assert raised.value.status == 422
    assert raised.value.code == "invalid_handle"


def test_an_unknown_package_lists_what_is_served(runtime: Runtime) -> None:
    with pytest.raises(ComponentNotFoundError) as raised:
        runtime.use("local", "nope")
    assert raised.value.status == 404
    assert "hello" in (raised.value.suggestion or "")
    assert {"hello", "flaky", "mixed"} <= set(raised.value.details["available"])


# --- instance_init failures ----------------------------------------------------------------


def test_a_failing_instance_init_is_recorded_and_retried(runtime: Runtime, tmp_path: Path) -> None:
    config = {"marker": str(tmp_path / "marker")}
    with pytest.raises(InstanceInitError) as raised:
        runtime.use("local", "flaky", "fl", config=config)
    error = raised.value
    assert (error.status, error.code) == (500, "instance_init_failed")
    error_id = error.details["error_id"]
    assert error_id in error.message
    assert "SECRET-INIT-DETAIL" not in str(error)
    record = runtime.store.get_instance("fl", "fl")
    assert record is not None
    assert record.init_state == "failed"
    assert error_id in (record.init_error or "")
    # Not served while failed (and not cached).
    response = call(runtime, "fl", "GET", "status")
    assert response.error is not None
    assert response.error.code == "instance_init_failed"
    assert runtime.cached() == 0
    # Who may not see the instance learns nothing about its state.
    for user, status in (("bob", 404), (None, 401)):
        hidden = call(runtime, "fl", "GET", "status", user=user)
        assert hidden.error is not None
        assert hidden.error.status == status, user
        assert "fl" not in hidden.error.message or status == 404
        assert "failed" not in hidden.error.message
    # The next use retries, and succeeds.
    assert runtime.use("local", "flaky", "fl", config=config).init_state == "ready"
    assert value(call(runtime, "fl", "GET", "status")) == {"ready": True}


class Refusing(PackageService):
    """instance_init raises a DockyardError: its message is meant for the caller."""

    def instance_init(self) -> None:
        raise DockyardError("the upstream API key is missing", suggestion="set it")

    @get("hi")
    def hi(self) -> str:
        return "hi"


def test_a_dockyard_error_in_instance_init_reaches_the_caller(store: Store) -> None:
    runtime = Runtime(store, packages={"refusing": Refusing})
    with pytest.raises(InstanceInitError) as raised:
        runtime.use("local", "refusing")
    assert "the upstream API key is missing" in raised.value.message


class Unbuildable(PackageService):
    """Its constructor fails (a bug, or a dependency gone since the instance was made)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        raise RuntimeError("SECRET-CONSTRUCTOR-DETAIL")


def test_an_instance_that_cannot_be_built_fails_its_init_and_is_not_left_claimed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dockyard.runtime.INIT_WAIT_SECONDS", 0.5)
    runtime = Runtime(store, packages={"unbuildable": Unbuildable})
    for _ in range(2):  # and again: retried, not stuck "initializing"
        with pytest.raises(InstanceInitError) as raised:
            runtime.use("local", "unbuildable")
        assert "SECRET-CONSTRUCTOR-DETAIL" not in str(raised.value)
        assert "still initialising" not in raised.value.message
        record = store.get_instance("unbuildable", "unbuildable")
        assert record is not None
        assert record.init_state == "failed"


class Slow(PackageService):
    """instance_init waits until the test lets it finish."""

    started = threading.Event()
    release = threading.Event()

    def instance_init(self) -> None:
        type(self).started.set()
        assert type(self).release.wait(30)
        self.storage.set("initialised", True)

    @get("initialised")
    def initialised(self) -> bool:
        return bool(self.storage.get("initialised", False))


def test_an_instance_is_not_served_while_its_init_runs(store: Store) -> None:
    runtime = Runtime(store, packages={"slow": Slow})
    Slow.started.clear()
    Slow.release.clear()
    errors: list[BaseException] = []

    def use() -> None:
        try:
            runtime.use("local", "slow")
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=use)
    thread.start()
    try:
        assert Slow.started.wait(30)
        during = call(runtime, "slow", "GET", "initialised")
    finally:
        Slow.release.set()
        thread.join(30)
    assert not errors
    # Never a half-initialised instance serving requests.
    assert during.error is not None, during.data
    assert during.error.code == "instance_init_failed"
    assert "initializing" in during.error.message
    assert value(call(runtime, "slow", "GET", "initialised")) is True


# --- invoke: who may call what -----------------------------------------------------------


def test_invoke_needs_a_user_except_on_public_routes(runtime: Runtime) -> None:
    runtime.use("local", "hello", "pub")
    refused = call(runtime, "pub", "POST", "bump", user=None)
    assert refused.error is not None
    assert (refused.error.status, refused.error.code) == (401, "unauthorized")
    assert value(call(runtime, "pub", "GET", "ping", user=None)) == "pong"
    # An unknown instance looks the same as a known one to a caller without a key.
    unknown = call(runtime, "nobody-here", "POST", "bump", user=None)
    assert unknown.error is not None
    assert unknown.error.status == 401


def test_another_users_instance_is_not_found(runtime: Runtime) -> None:
    runtime.use("bob", "hello", "private")
    theirs = call(runtime, "private", "POST", "bump", user="local")
    missing = call(runtime, "not-there", "POST", "bump", user="local")
    for response in (theirs, missing):
        assert response.error is not None
        assert isinstance(response.error, InstanceNotFoundError)
        assert response.error.status == 404
    assert value(call(runtime, "private", "POST", "bump", user="bob")) == 1
    # Public routes are public to every user.
    assert value(call(runtime, "private", "GET", "ping", user="local")) == "pong"


def test_instance_init_cannot_be_invoked(runtime: Runtime) -> None:
    runtime.use("local", "hello", "guarded")
    for path in ("__instance_init__", "/__instance_init__"):
        response = call(runtime, "guarded", "POST", path)
        assert response.error is not None
        assert (response.error.status, response.error.code) == (403, "forbidden")
    assert value(call(runtime, "guarded", "GET", "inits")) == 1


def test_errors_come_back_in_the_response(runtime: Runtime) -> None:
    runtime.use("local", "hello", "errs")
    cases = {
        ("POST", "nope"): 404,
        ("GET", "do_something"): 405,
        ("POST", "crash"): 500,
        ("POST", "refuse"): 418,
    }
    for (verb, method), status in cases.items():
        response = call(runtime, "errs", verb, method)
        assert response.error is not None, method
        assert response.error.status == status, method
    bad = call(runtime, "errs", "POST", "do_something", times="many")
    assert bad.error is not None
    assert bad.error.status == 422
    assert "times" in bad.error.message


def test_the_context_is_the_current_requests(runtime: Runtime) -> None:
    runtime.use("local", "hello", "ctx", workspace="ws")
    response = runtime.invoke(
        "local",
        "ws",
        "ctx",
        "GET",
        "whoami",
        {},
        headers={"X-Probe": "p"},
        invocation_url="http://example/ws/ctx/",
        request_id="rid-1",
    )
    assert value(response) == {
        "instance": "ctx",
        "workspace": "ws",
        "package": "hello",
        "user": "local",
        "request_id": "rid-1",
        "invocation_url": "http://example/ws/ctx/",
        "probe_header": "p",
    }
    generated = value(runtime.invoke("local", "ws", "ctx", "GET", "whoami", {}))
    assert generated["request_id"]
    assert generated["request_id"] != "rid-1"
    # Outside a request the instance has its own context (no request id, no user's call).
    live = runtime.live("ws", "ctx")
    assert live.invocable.context.request_id is None
    assert live.invocable.context.instance_handle == "ctx"


class Rendezvous(PackageService):
    """Two calls meet inside the method, then report the request id each one sees."""

    barrier = threading.Barrier(2)

    @post("meet")
    def meet(self) -> str:
        type(self).barrier.wait(10)
        return self.context.request_id or ""


def test_concurrent_requests_each_see_their_own_context(store: Store) -> None:
    runtime = Runtime(store, packages={"rendezvous": Rendezvous})
    runtime.use("local", "rendezvous")
    seen: dict[str, Any] = {}

    def meet(request_id: str) -> None:
        response = runtime.invoke(
            "local", "rendezvous", "rendezvous", "POST", "meet", {}, request_id=request_id
        )
        seen[request_id] = response.data if response.error is None else response.error

    threads = [threading.Thread(target=meet, args=(rid,)) for rid in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen == {"first": "first", "second": "second"}


# --- storage -------------------------------------------------------------------------------


def test_instances_have_separate_storage(runtime: Runtime) -> None:
    runtime.use("local", "hello", "one")
    runtime.use("local", "hello", "two")
    for _ in range(3):
        call(runtime, "one", "POST", "bump")
    call(runtime, "two", "POST", "bump")
    assert value(call(runtime, "one", "GET", "counter")) == 3
    assert value(call(runtime, "two", "GET", "counter")) == 1


def test_each_mixin_stores_in_its_own_namespace(runtime: Runtime) -> None:
    runtime.use("local", "mixed")
    assert value(call(runtime, "mixed", "POST", "own")) == 10
    assert value(call(runtime, "mixed", "POST", "tally")) == 1
    assert value(call(runtime, "mixed", "POST", "own")) == 20
    assert value(call(runtime, "mixed", "POST", "tally")) == 2
    storage = runtime.live("mixed", "mixed").invocable.storage
    assert storage.items() == [("n", 20)]
    assert storage.namespace("tally").items() == [("n", 2)]


def test_delete_removes_the_instance_its_data_and_its_cache_entry(runtime: Runtime) -> None:
    runtime.use("local", "hello", "doomed")
    call(runtime, "doomed", "POST", "bump")
    assert runtime.cached() == 1
    assert runtime.delete("bob", "doomed", "doomed") is False  # not bob's
    assert value(call(runtime, "doomed", "GET", "counter")) == 1
    assert runtime.delete("local", "doomed", "doomed") is True
    assert runtime.cached() == 0
    gone = call(runtime, "doomed", "GET", "counter")
    assert gone.error is not None
    assert gone.error.status == 404
    assert runtime.delete("local", "doomed", "doomed") is False
    runtime.use("local", "hello", "doomed")
    assert value(call(runtime, "doomed", "GET", "counter")) == 0
    assert value(call(runtime, "doomed", "GET", "inits")) == 1


# --- the live-instance cache ---------------------------------------------------------------


def test_the_cache_is_bounded_and_evicted_instances_still_answer(
    store: Store, kit: ModuleType
) -> None:
    runtime = Runtime(store, packages={"hello": kit.Hello}, cache_size=3)
    handles = [f"lru-{i}" for i in range(5)]
    for i, handle in enumerate(handles):
        runtime.use("local", "hello", handle, config={"greeting": f"G{i}"})
        assert runtime.cached() <= 3
    for _ in range(2):
        for i, handle in enumerate(handles):
            assert value(call(runtime, handle, "GET", "say_hello", name="x")) == f"G{i}, x!"
            assert value(call(runtime, handle, "POST", "bump")) in (1, 2)
            assert runtime.cached() <= 3
    for handle in handles:
        assert value(call(runtime, handle, "GET", "counter")) == 2
        assert value(call(runtime, handle, "GET", "inits")) == 1
    assert runtime.cached() == 3


def test_the_least_recently_used_instance_goes_first(store: Store, kit: ModuleType) -> None:
    created: list[str] = []

    class Watch:
        @hookimpl
        def dockyard_instance_created(self, instance: Any) -> None:
            created.append(instance.context.instance_handle)

    runtime = Runtime(store, Engine(hooks=[Watch()]), packages={"hello": kit.Hello}, cache_size=2)
    for handle in ("a", "b"):
        runtime.use("local", "hello", handle)
    call(runtime, "a", "GET", "ping")  # a is now the most recent
    runtime.use("local", "hello", "c")  # evicts b, not a
    created.clear()
    call(runtime, "a", "GET", "ping")
    call(runtime, "c", "GET", "ping")
    assert created == []
    call(runtime, "b", "GET", "ping")
    assert created == ["b"]


def test_a_cached_instance_is_never_rebuilt_per_request(store: Store, kit: ModuleType) -> None:
    created: list[Any] = []

    class Watch:
        @hookimpl
        def dockyard_instance_created(self, instance: Any) -> None:
            created.append(instance)

    runtime = Runtime(store, Engine(hooks=[Watch()]), packages={"hello": kit.Hello})
    runtime.use("local", "hello", "hot")
    before = len(created)
    for _ in range(50):
        value(call(runtime, "hot", "GET", "ping"))
    assert len(created) == before
    assert runtime.live("hot", "hot").invocable is runtime.live("hot", "hot").invocable


def test_cache_size_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError, match="cache_size"):
        Runtime(store, cache_size=0)


# --- handles of served classes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "handle"),
    [
        ("Hello", "hello"),
        ("MyPackage", "my-package"),
        ("HTTPServer", "httpserver"),
        ("My_Package2", "my-package2"),
        ("X" * 80, "x" * 64),
    ],
)
def test_package_handle_for_a_class(name: str, handle: str) -> None:
    assert package_handle_for(type(name, (), {})) == handle
