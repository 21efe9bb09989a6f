"""Invocable / PackageService: construction, dispatch, instance_init, add_api_route, builtins."""

# USED_MIXIN_CLASSES is a plain list by design (the seed API).
# ruff: noqa: RUF012

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from dockyard import (
    Config,
    DockyardError,
    Invocable,
    InvocationContext,
    MethodNotAllowedError,
    PackageMixin,
    PackageService,
    PackageSpec,
    RouteConflictError,
    RouteNotFoundError,
    get,
    post,
)
from dockyard.testing import call

REPO_ROOT = Path(__file__).parents[2]


class Recorder(PackageMixin):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def instance_init(self) -> None:
        self.log.append(self.name)


class First(Recorder):
    @get("first")
    def first(self) -> str:
        return self.name


class Second(Recorder):
    @get("second")
    def second(self) -> str:
        return self.name


class Third(Recorder):
    @get("third")
    def third(self) -> str:
        return self.name


class Pkg(PackageService):
    """A package with two routes and three mixins."""

    USED_MIXIN_CLASSES = [First, Second]

    def __init__(self, log: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        log = log if log is not None else []
        # added in the reverse of the listed order
        self.add_mixin(Second("second", log))
        self.add_mixin(First("first", log))

    @get("say")
    def say(self, word: str = "hi") -> str:
        return word

    @post("boom")
    def boom(self, dockyard_error: bool = False) -> str:
        if dockyard_error:
            raise DockyardError("teapot here", code="teapot", status=418)
        raise RuntimeError("secret internals")


# --- instance_init --------------------------------------------------------------------------


def test_instance_init_runs_each_mixin_in_add_order() -> None:
    log: list[str] = []
    inst = Pkg(log)
    inst.add_mixin(Third("third", log))
    assert log == []  # construction does not run it
    inst.instance_init()
    assert log == ["second", "first", "third"]


def test_post_instance_init_route_runs_instance_init() -> None:
    log: list[str] = []
    inst = Pkg(log)
    response = call(inst, "POST", "__instance_init__")
    assert (response.status, response.data) == (200, True)
    assert log == ["second", "first"]
    assert call(inst, "GET", "__instance_init__").status == 405


def test_override_of_instance_init_calling_super_still_runs_the_mixins() -> None:
    class Own(Pkg):
        def instance_init(self) -> None:
            self.mixins[0].log.append("own")
            super().instance_init()

    log: list[str] = []
    inst = Own(log)
    assert call(inst, "POST", "/__instance_init__").data is True
    assert log == ["own", "second", "first"]


def test_mixins_list_belongs_to_each_instance() -> None:
    one, two = Pkg(), Pkg()
    assert one.mixins is not two.mixins
    one.add_mixin(Third("third", []))
    assert [type(m) for m in one.mixins] == [Second, First, Third]
    assert [type(m) for m in two.mixins] == [Second, First]
    assert one.mixins[0] is not two.mixins[0]


# --- dispatch -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "path"), [("GET", "say"), ("get", "/say"), ("Get", "//say/"), ("GET", " say ")]
)
def test_dispatch_normalises_verb_and_path(verb: str, path: str) -> None:
    response = call(Pkg(), verb, path, word="yo")
    assert (response.status, response.data, response.mime_type) == (200, "yo", "text/plain")


def test_unknown_path_is_404_listing_available_routes() -> None:
    response = call(Pkg(), "GET", "nope")
    assert response.status == 404
    err = response.error
    assert isinstance(err, RouteNotFoundError)
    assert err.message == "no route GET /nope on Pkg"
    for route in ["GET /say", "POST /boom", "GET /first", "GET /second", "GET /__dir__"]:
        assert route in err.suggestion
        assert route in err.details["available"]


def test_unknown_verb_on_a_known_path_is_405_naming_the_allowed_verbs() -> None:
    response = call(Pkg(), "FETCH", "say")
    assert response.status == 405
    assert isinstance(response.error, MethodNotAllowedError)
    assert "unknown HTTP verb 'FETCH'" in response.error.message
    assert response.error.suggestion == "call it with GET"


def test_unknown_verb_on_an_unknown_path_is_404() -> None:
    response = call(Pkg(), "FETCH", "nowhere")
    assert response.status == 404
    assert "unknown HTTP verb 'FETCH'" in response.error.message
    assert "GET /say" in response.error.suggestion


def test_404_listing_is_capped_for_many_routes() -> None:
    many = {f"r{i:02}": get(f"r{i:02}")(lambda self: None) for i in range(40)}
    inst = type("Many", (PackageService,), many)()
    suggestion = call(inst, "GET", "missing").error.suggestion
    assert "GET /r00" in suggestion
    assert "GET /r39" not in suggestion
    assert "more; GET /__dir__ lists all" in suggestion


def test_known_path_with_the_wrong_verb_is_405_naming_the_allowed_verb() -> None:
    response = call(Pkg(), "POST", "say")
    assert response.status == 405
    err = response.error
    assert isinstance(err, MethodNotAllowedError)
    assert "/say on Pkg does not answer POST" in err.message
    assert err.suggestion == "call it with GET"
    assert err.details == {"allowed": ["GET"]}


def test_errors_raised_by_a_method_become_responses(caplog: pytest.LogCaptureFixture) -> None:
    inst = Pkg()
    teapot = call(inst, "POST", "boom", dockyard_error=True)
    assert (teapot.status, teapot.error.code, teapot.error.message) == (
        418,
        "teapot",
        "teapot here",
    )
    with caplog.at_level(logging.ERROR, logger="dockyard"):
        crash = call(inst, "POST", "boom")
    assert crash.status == 500
    assert crash.error.code == "internal_error"
    error_id = crash.error.details["error_id"]
    assert error_id in crash.error.message
    assert "Pkg.boom" in crash.error.message
    assert "secret internals" not in json.dumps(crash.error.to_dict())
    assert error_id in caplog.text
    assert "secret internals" in caplog.text


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_dir_returns_the_instance_spec_including_instance_added_routes(verb: str) -> None:
    inst = Pkg()
    inst.add_mixin(Third("third", []))
    data = call(inst, verb, "__dir__").data
    assert data == inst.spec.to_dict()
    assert json.loads(json.dumps(data)) == data
    routes = {(m["verb"], m["path"]) for m in data["methods"]}
    assert {("GET", "/third"), ("GET", "/say"), ("POST", "/__instance_init__")} <= routes
    assert data["name"] == "Pkg"
    assert data["doc"] == "A package with two routes and three mixins."
    assert ("GET", "/third") not in {
        (m["verb"], m["path"]) for m in call(Pkg(), verb, "__dir__").data["methods"]
    }


@pytest.mark.parametrize("base", [Invocable, PackageService])
def test_every_invocable_has_the_builtin_routes(base: type) -> None:
    class Bare(base):  # type: ignore[misc,valid-type]
        pass

    routes = {(m.verb.value, m.path) for m in Bare.spec.methods}
    assert routes == {("GET", "/__dir__"), ("POST", "/__dir__"), ("POST", "/__instance_init__")}
    assert call(Bare(), "POST", "__instance_init__").data is True
    assert call(Bare(), "GET", "__dir__").data["methods"] == Bare.spec.to_dict()["methods"]


# --- construction ---------------------------------------------------------------------------


class Greeter(PackageService):
    class Config(Config):
        greeting: str = "Hello"

    @get("greet")
    def greet(self) -> str:
        return f"{self.config.greeting} from {self.context.instance_handle}"


def test_construction_takes_config_and_context_keywords() -> None:
    context = InvocationContext(instance_handle="my-instance")
    inst = Greeter(config={"greeting": "Hey"}, context=context)
    assert inst.context is context
    assert inst.config.greeting == "Hey"
    assert call(inst, "GET", "greet").data == "Hey from my-instance"
    default = Greeter(config=None, context=None)
    assert default.config.greeting == "Hello"
    assert isinstance(default.context, InvocationContext)
    bare = PackageService(config=None, context=None)
    assert bare.spec is PackageService.spec
    assert bare.mixins == []


def test_package_init_forgetting_super_init_is_a_clear_error() -> None:
    class Forgetful(PackageService):
        def __init__(self, config: Any = None, context: Any = None) -> None:
            self.ready = True

    with pytest.raises(DockyardError) as info:
        Forgetful()
    err = info.value
    assert err.code == "incomplete_instance"
    assert "Forgetful.__init__ did not call Invocable.__init__" in err.message
    assert "super().__init__(config=config, context=context)" in err.suggestion


def test_hello_example_works() -> None:
    path = REPO_ROOT / "examples" / "hello.py"
    module_spec = importlib.util.spec_from_file_location("dockyard_example_hello", path)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    package = module.MyPackage

    assert package.spec.get_method("GET", "say_hello").name == "say_hello"
    assert package.spec.get_method("POST", "do_something").name == "do_something"
    inst = package()
    assert call(inst, "GET", "say_hello").data == "Hello, World!"
    assert call(inst, "GET", "say_hello", name="Ted").data == "Hello, Ted!"
    assert call(package(config={"greeting": "Hi"}), "GET", "say_hello").data == "Hi, World!"
    done = call(inst, "POST", "do_something", times="3")
    assert (done.data, done.mime_type) == ({"done": 3}, "application/json")
    assert call(inst, "POST", "say_hello").status == 405


# --- add_api_route ------------------------------------------------------------------------


class Source(PackageService):
    @get("extra")
    def extra(self, n: int = 1) -> int:
        return n


class Target(PackageService):
    def extra(self, n: int = 1) -> int:  # not a route until added
        return n * 100

    @get("say")
    def say(self) -> str:
        return "target"


def test_add_api_route_is_copy_on_write_and_binds_by_name() -> None:
    route = Source.spec.get_method("GET", "extra")
    one, two = Target(), Target()
    one.add_api_route(route)
    assert one.spec is not Target.spec
    assert one.spec.get_method("GET", "extra") is route
    assert call(one, "GET", "extra", n="2").data == 200
    assert Target.spec.get_method("GET", "extra") is None
    assert two.spec is Target.spec
    assert call(two, "GET", "extra").status == 404
    # a second addition reuses the instance's private copy
    private = one.spec
    one.add_api_route(Source.spec.get_method("GET", "__dir__"), permit_overwrite_of_existing=True)
    assert one.spec is private


def test_add_api_route_clash_raises_unless_overwrite_is_permitted() -> None:
    clashing = type("Clash", (PackageService,), {"extra": get("say")(Target.extra)})
    route = clashing.spec.get_method("GET", "say")
    inst = Target()
    with pytest.raises(RouteConflictError) as info:
        inst.add_api_route(route)
    assert info.value.existing is Target.spec.get_method("GET", "say")
    assert info.value.duplicate is route
    assert inst.spec is Target.spec
    assert call(inst, "GET", "say").data == "target"

    inst.add_api_route(route, permit_overwrite_of_existing=True)
    assert call(inst, "GET", "say", n=3).data == 300
    assert call(Target(), "GET", "say").data == "target"


# --- per-request cost ---------------------------------------------------------------------


def test_dispatch_on_a_thousand_routes_never_copies_or_lists_the_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def make(i: int) -> Any:
        @get(f"r{i}")
        def route(self: Any, x: int = 0) -> int:
            return x + i

        return route

    big = type("Big", (PackageService,), {f"r{i}": make(i) for i in range(1000)})
    assert len(big.spec) == 1003

    counts = {"copy": 0, "methods": 0}
    real_copy, real_methods = PackageSpec.copy, PackageSpec.methods

    def counting_copy(self: PackageSpec) -> PackageSpec:
        counts["copy"] += 1
        return real_copy(self)

    def counting_methods(self: PackageSpec) -> Any:
        counts["methods"] += 1
        return real_methods.fget(self)

    monkeypatch.setattr(PackageSpec, "copy", counting_copy)
    monkeypatch.setattr(PackageSpec, "methods", property(counting_methods))

    inst = big()
    for i in range(0, 1000, 10):
        assert call(inst, "GET", f"r{i}", x="1").data == i + 1
    assert inst.spec is big.spec
    assert counts == {"copy": 0, "methods": 0}
    # the counters are live: adding a route copies, listing the spec reads methods
    inst.add_api_route(Source.spec.get_method("GET", "extra"))
    assert big.spec.methods
    assert counts == {"copy": 1, "methods": 1}
