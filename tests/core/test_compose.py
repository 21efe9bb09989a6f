"""`compose`: package classes built from mixins given by class or entry-point name.

Entry-point mixins live in real tiny distributions built by ``make_dist`` (conftest).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from pydantic import Field

from dockyard.core.compose import compose, resolve_mixins
from dockyard.core.config import Config
from dockyard.core.discovery import ComponentLoadError, ComponentNotFoundError, Discovery
from dockyard.core.errors import ConfigError, MixinError, RouteConflictError
from dockyard.core.mixin import PackageMixin
from dockyard.core.routes import Verb, get, post
from dockyard.core.service import PackageService
from dockyard.core.spec import qualified_name
from dockyard.testing import call

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from conftest import DistFactory

MIXINS = "dockyard.mixins"
PACKAGES = "dockyard.packages"

#: A discovery that sees nothing installed (for compositions of classes only).
NOTHING = Discovery(path=[])


# --- mixins given by class -----------------------------------------------------------------


class CounterMixin(PackageMixin):
    """Counts from its configured start."""

    class Config(Config):
        start: int = Field(0, description="first value")
        step: int = 1

    def __init__(self, config: Any = None) -> None:
        super().__init__(config=config)
        self.value = self.config.start

    @post("increment")
    def increment(self) -> int:
        self.value += self.config.step
        return self.value

    @get("count")
    def count(self) -> int:
        return self.value


class GreeterMixin(PackageMixin):
    """Greets."""

    class Config(Config):
        greeting: str = "hello"

    @get("greet")
    def greet(self, name: str = "world") -> str:
        return f"{self.config.greeting} {name}"


class BasePackage(PackageService):
    """A base with its own route and config."""

    class Config(Config):
        title: str = "base"
        limit: int = Field(10, gt=0, description="a positive limit")

    @get("title")
    def title(self) -> str:
        return self.config.title

    @get("limit")
    def limit(self) -> int:
        return self.config.limit


def routes(cls: type[PackageService]) -> set[tuple[str, str]]:
    return {(m.verb.value, m.path) for m in cls.spec.methods}


def builtin_routes() -> set[tuple[str, str]]:
    return routes(PackageService)


def config_names(cls: type[PackageService]) -> list[str]:
    return [p["name"] for p in cls.spec.to_dict()["config"]]


def test_compose_returns_a_new_package_class_with_the_mixins_routes() -> None:
    composed = compose("counter-app", mixins=[CounterMixin, GreeterMixin], discovery=NOTHING)
    assert isinstance(composed, type)
    assert issubclass(composed, PackageService)
    assert composed is not PackageService
    assert composed.__name__ == "CounterApp"
    assert composed.__module__ == __name__  # where compose was called
    assert [CounterMixin, GreeterMixin] == composed.USED_MIXIN_CLASSES
    assert composed.spec.used_mixins == (CounterMixin, GreeterMixin)
    assert routes(composed) == builtin_routes() | {
        ("POST", "/increment"),
        ("GET", "/count"),
        ("GET", "/greet"),
    }
    assert composed.spec.get_method(Verb.GET, "greet").owner is GreeterMixin
    # Composing again builds another class; the base is untouched.
    again = compose("counter-app", mixins=[CounterMixin, GreeterMixin], discovery=NOTHING)
    assert again is not composed
    assert routes(PackageService) == builtin_routes()

    instance = composed()
    assert call(instance, "POST", "increment").data == 1
    assert call(instance, "POST", "increment").data == 2
    assert call(instance, "GET", "count").data == 2
    assert call(instance, "GET", "greet", name="ada").data == "hello ada"
    assert [type(m) for m in instance.mixins] == [CounterMixin, GreeterMixin]


def test_compose_keeps_the_base_routes_and_config() -> None:
    composed = compose("based", [GreeterMixin], base=BasePackage, discovery=NOTHING)
    assert issubclass(composed, BasePackage)
    assert routes(composed) == routes(BasePackage) | {("GET", "/greet")}
    instance = composed(config={"title": "mine", "greeter": {"greeting": "hi"}})
    assert call(instance, "GET", "title").data == "mine"
    assert call(instance, "GET", "greet").data == "hi world"
    assert config_names(composed) == ["title", "limit", "greeter.greeting"]


def test_composed_class_documents_its_mixins() -> None:
    composed = compose("documented", [GreeterMixin], discovery=NOTHING)
    assert composed.__doc__ == f"Package 'documented', composed of {qualified_name(GreeterMixin)}."
    explicit = compose("explicit", [GreeterMixin], discovery=NOTHING, doc="Greets people.")
    assert explicit.spec.to_dict()["doc"] == "Greets people."


@pytest.mark.parametrize("handle", ["", "My App", "my_app", "-app", "app-", "APP", "a" * 65])
def test_an_invalid_handle_is_a_value_error(handle: str) -> None:
    with pytest.raises(ValueError, match=r"package handle .* is invalid"):
        compose(handle, [GreeterMixin], discovery=NOTHING)


@pytest.mark.parametrize("thing", [PackageService, GreeterMixin(), 42, None])
def test_something_not_a_mixin_is_a_mixin_error(thing: Any) -> None:
    with pytest.raises(MixinError, match="is not a PackageMixin subclass"):
        compose("things", [thing], discovery=NOTHING)


# --- per-mixin config sections --------------------------------------------------------------


def test_each_mixin_is_constructed_from_its_own_section() -> None:
    composed = compose("sections", [CounterMixin, GreeterMixin], discovery=NOTHING)
    instance = composed(config={"counter": {"start": 5, "step": 2}, "greeter": {"greeting": "yo"}})
    counter, greeter = instance.mixins
    assert isinstance(counter.config, CounterMixin.Config)
    assert counter.config == CounterMixin.Config(start=5, step=2)
    assert counter.config is instance.config.counter
    assert isinstance(greeter.config, GreeterMixin.Config)
    assert greeter.config.greeting == "yo"
    assert call(instance, "POST", "increment").data == 7
    assert call(instance, "GET", "greet").data == "yo world"
    # A section left out gets the mixin's defaults.
    default = composed()
    assert default.config.counter == CounterMixin.Config()
    assert call(default, "POST", "increment").data == 1


def test_invalid_instance_config_names_the_mixin_and_the_field() -> None:
    composed = compose("validated", [CounterMixin, GreeterMixin], discovery=NOTHING)
    with pytest.raises(ConfigError) as caught:
        composed(config={"counter": {"start": "many"}, "greeter": {"greeting": "hi", "x": 1}})
    message = caught.value.message
    assert f"counter.start (mixin {qualified_name(CounterMixin)})" in message
    assert f"greeter.x (mixin {qualified_name(GreeterMixin)})" in message
    problems = caught.value.details["problems"]
    assert {(p["field"], p["mixin"]) for p in problems} == {
        ("counter.start", qualified_name(CounterMixin)),
        ("greeter.x", qualified_name(GreeterMixin)),
    }
    assert caught.value.status == 422


def test_dir_lists_section_dot_field_params() -> None:
    composed = compose("described", [CounterMixin, GreeterMixin], discovery=NOTHING)
    params = {p["name"]: p for p in composed.spec.to_dict()["config"]}
    assert list(params) == ["counter.start", "counter.step", "greeter.greeting"]
    assert params["counter.start"]["description"] == "first value"
    assert params["counter.start"]["type"] == "int"
    assert params["counter.start"]["default"] == 0
    assert params["greeter.greeting"]["default"] == "hello"
    # /__dir__ answers the same, from an instance.
    assert call(composed(), "GET", "__dir__").data["config"] == composed.spec.to_dict()["config"]


def test_compose_time_defaults_are_baked_in_and_instance_config_merges_over_them() -> None:
    composed = compose(
        "defaults",
        [CounterMixin, GreeterMixin],
        base=BasePackage,
        config={"counter": {"start": 100}, "greeter": {"greeting": "ahoy"}, "title": "docks"},
        discovery=NOTHING,
    )
    plain = composed()
    assert plain.config.counter == CounterMixin.Config(start=100, step=1)
    assert plain.config.greeter.greeting == "ahoy"
    assert plain.config.title == "docks"
    merged = composed(config={"counter": {"step": 5}, "title": "mine"})
    assert merged.config.counter == CounterMixin.Config(start=100, step=5)
    assert merged.config.greeter.greeting == "ahoy"
    assert merged.config.title == "mine"
    assert call(merged, "POST", "increment").data == 105
    params = {p["name"]: p["default"] for p in composed.spec.to_dict()["config"]}
    assert params == {
        "title": "docks",
        "limit": 10,
        "counter.start": 100,
        "counter.step": 1,
        "greeter.greeting": "ahoy",
    }
    # The mixins' and the base's own classes are untouched.
    assert CounterMixin.Config().start == 0
    assert BasePackage().config.title == "base"


def test_base_defaults_keep_the_fields_constraints() -> None:
    composed = compose("limited", [], base=BasePackage, config={"limit": "5"}, discovery=NOTHING)
    assert composed().config.limit == 5  # coerced like a given value
    assert call(composed(), "GET", "limit").data == 5
    with pytest.raises(ConfigError, match="limit: Input should be greater than 0"):
        composed(config={"limit": -1})
    params = {p["name"]: p for p in composed.spec.to_dict()["config"]}
    assert params["limit"]["description"] == "a positive limit"
    assert params["limit"]["default"] == 5


def test_base_defaults_may_leave_required_base_fields_to_the_instance() -> None:
    class Strict(PackageService):
        class Config(Config):
            token: str
            retries: int = Field(1, ge=0)

    composed = compose("strict", [], base=Strict, config={"retries": 4}, discovery=NOTHING)
    with pytest.raises(ConfigError, match="token: Field required"):
        composed()
    assert composed(config={"token": "t"}).config.retries == 4
    with pytest.raises(ConfigError, match="retries: Input should be greater than or equal to 0"):
        composed(config={"token": "t", "retries": -1})
    with pytest.raises(ConfigError) as caught:
        compose("strict", [], base=Strict, config={"retries": -4}, discovery=NOTHING)
    # Only the given default is blamed: the instance will give the token.
    assert caught.value.message == (
        "invalid config for compose('strict') defaults: "
        "retries: Input should be greater than or equal to 0"
    )


@pytest.mark.parametrize("limit", [0, "lots"])
def test_invalid_base_defaults_are_rejected_at_compose_time(limit: object) -> None:
    with pytest.raises(ConfigError, match=r"compose\('limited'\) defaults: limit"):
        compose("limited", [], base=BasePackage, config={"limit": limit}, discovery=NOTHING)


def test_partial_section_defaults_still_require_the_rest_and_show_in_dir() -> None:
    class Needy(PackageMixin):
        class Config(Config):
            url: str
            retries: int = 1

    composed = compose("needy", [Needy], config={"needy": {"retries": 3}}, discovery=NOTHING)
    with pytest.raises(ConfigError, match=rf"needy\.url \(mixin {qualified_name(Needy)}\)"):
        composed()
    instance = composed(config={"needy": {"url": "http://x"}})
    assert instance.config.needy.url == "http://x"
    assert instance.config.needy.retries == 3
    assert instance.mixins[0].config.retries == 3
    params = {p["name"]: p for p in composed.spec.to_dict()["config"]}
    assert params["needy.url"]["required"] is True
    assert params["needy.retries"]["default"] == 3
    with pytest.raises(ConfigError) as caught:
        compose("needy", [Needy], config={"needy": {"retries": "x"}}, discovery=NOTHING)
    assert "retries: Input should be a valid integer" in caught.value.message
    assert "url" not in caught.value.message  # left to the instance, not a problem yet
    # A complete section given as the mixin's model is taken as it is.
    given = composed(config={"needy": Needy.Config(url="http://y")})
    assert given.config.needy.url == "http://y"
    assert given.config.needy.retries == 1


def test_invalid_compose_defaults_name_the_mixin_and_field() -> None:
    with pytest.raises(ConfigError) as caught:
        compose("bad", [CounterMixin], config={"counter": {"start": "x"}}, discovery=NOTHING)
    message = caught.value.message
    assert f"mixin {qualified_name(CounterMixin)} (config section 'counter')" in message
    assert "start:" in message
    with pytest.raises(ConfigError, match=r"section 'counter' .*must be a mapping, got int"):
        compose("bad", [CounterMixin], config={"counter": 3}, discovery=NOTHING)


def test_unknown_top_level_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"unknown keys: countr") as caught:
        compose("typo", [CounterMixin], config={"countr": {"start": 1}}, discovery=NOTHING)
    assert "accepted keys: counter" in str(caught.value)
    composed = compose("typo", [CounterMixin], discovery=NOTHING)
    with pytest.raises(ConfigError, match=r"countr: unknown config key"):
        composed(config={"countr": {"start": 1}})


def test_a_mixin_whose_init_takes_no_config_is_a_mixin_error_at_compose_time() -> None:
    class Stubborn(PackageMixin):
        def __init__(self, start: int = 0) -> None:
            self.start = start

        @get("stubborn")
        def stubborn(self) -> int:
            return self.start

    with pytest.raises(
        MixinError, match=rf"{qualified_name(Stubborn)} cannot be composed.*config="
    ):
        compose("stubborn", [Stubborn], discovery=NOTHING)

    class Flexible(PackageMixin):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    assert compose("flexible", [Flexible], discovery=NOTHING)().mixins[0].config is not None


def test_two_mixins_sharing_a_config_key_is_a_mixin_error() -> None:
    class First(PackageMixin):
        config_key = "shared"

    class Second(PackageMixin):
        config_key = "shared"

    with pytest.raises(MixinError, match="share the config section 'shared'") as caught:
        compose("shared", [First, Second], discovery=NOTHING)
    assert qualified_name(First) in caught.value.message
    assert qualified_name(Second) in caught.value.message


def test_a_config_key_colliding_with_a_base_field_is_a_mixin_error() -> None:
    class Titled(PackageMixin):
        config_key = "title"

    with pytest.raises(MixinError, match="collides with the config field 'title'"):
        compose("titled", [Titled], base=BasePackage, discovery=NOTHING)


@pytest.mark.parametrize("key", ["_private", "model_config", "model_fields", "copy"])
def test_a_config_key_pydantic_cannot_hold_is_a_mixin_error(key: str) -> None:
    odd = type("Odd", (PackageMixin,), {"config_key": key})
    with pytest.raises(MixinError, match=rf"config_key '{key}' cannot name a config section"):
        compose("odd", [odd], discovery=NOTHING)


# --- REQUIRES ---------------------------------------------------------------------------------


def recording_mixins(log: list[str]) -> dict[str, type[PackageMixin]]:
    """A diamond: Top requires Left and Right, which both require Root; Solo is alone."""

    class Recording(PackageMixin):
        def instance_init(self) -> None:
            log.append(type(self).__name__)

    class Root(Recording):
        pass

    class Left(Recording):
        REQUIRES: ClassVar[Sequence[Any]] = (Root,)

    class Right(Recording):
        REQUIRES: ClassVar[Sequence[Any]] = (Root,)

    class Top(Recording):
        REQUIRES: ClassVar[Sequence[Any]] = (Left, Right)

    class Solo(Recording):
        pass

    return {c.__name__: c for c in (Root, Left, Right, Top, Solo)}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["Top"], ["Root", "Left", "Right", "Top"]),
        (["Right", "Top"], ["Root", "Right", "Left", "Top"]),
        (["Solo", "Top"], ["Solo", "Root", "Left", "Right", "Top"]),
        (["Top", "Solo"], ["Root", "Left", "Right", "Top", "Solo"]),
        (["Top", "Root", "Left"], ["Root", "Left", "Right", "Top"]),
    ],
)
def test_requirements_are_added_in_a_stable_topological_order(
    given: list[str], expected: list[str]
) -> None:
    log: list[str] = []
    mixins = recording_mixins(log)
    composed = compose("diamond", [mixins[n] for n in given], discovery=NOTHING)
    assert [m.__name__ for m in composed.USED_MIXIN_CLASSES] == expected
    assert [m.__name__ for m in resolve_mixins([mixins[n] for n in given])] == expected

    instance = composed()
    assert log == []  # construction does not run instance_init
    instance.instance_init()
    assert log == expected  # each once, requirements first


def test_a_cycle_is_a_mixin_error_naming_the_chain() -> None:
    class A(PackageMixin):
        pass

    class B(PackageMixin):
        REQUIRES: ClassVar[Sequence[Any]] = (A,)

    A.REQUIRES = (B,)
    with pytest.raises(MixinError) as caught:
        compose("cycle", [A], discovery=NOTHING)
    chain = f"{qualified_name(A)} -> {qualified_name(B)} -> {qualified_name(A)}"
    assert f"mixin requirements form a cycle: {chain}" in caught.value.message
    assert caught.value.code == "mixin_cycle"


def test_a_self_requirement_is_a_cycle() -> None:
    class Narcissus(PackageMixin):
        pass

    Narcissus.REQUIRES = (Narcissus,)
    name = qualified_name(Narcissus)
    with pytest.raises(MixinError) as caught:
        compose("self", [Narcissus], discovery=NOTHING)
    assert caught.value.message == f"mixin requirements form a cycle: {name} -> {name}"


def test_a_missing_requirement_names_the_chain_and_the_name() -> None:
    class Needs(PackageMixin):
        REQUIRES: ClassVar[Sequence[Any]] = ("not-installed",)

    class Outer(PackageMixin):
        REQUIRES: ClassVar[Sequence[Any]] = (Needs,)

    with pytest.raises(MixinError) as caught:
        compose("missing", [Outer], discovery=NOTHING)
    message = caught.value.message
    chain = f"{qualified_name(Outer)} -> {qualified_name(Needs)}"
    assert f"{chain} requires 'not-installed', but mixin 'not-installed' cannot be used" in message
    assert "no mixin named 'not-installed' is installed" in message
    assert caught.value.details["chain"] == [
        qualified_name(Outer),
        qualified_name(Needs),
        "not-installed",
    ]
    assert isinstance(caught.value.__cause__, ComponentNotFoundError)


def test_requirements_by_entry_point_name(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"stores_{make_dist.tag}"
    root = make_dist(
        "store-mixins",
        "1.0",
        {MIXINS: {"store": f"{mod}:Store", "index": f"{mod}:Index"}},
        {
            mod: """
            from dockyard import PackageMixin, get

            class Store(PackageMixin):
                @get("stored")
                def stored(self) -> str:
                    return "stored"

            class Index(PackageMixin):
                REQUIRES = ["store"]

                @get("indexed")
                def indexed(self) -> str:
                    return "indexed"
            """
        },
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = Discovery(path=[str(root)])
    module = importlib.import_module(mod)

    class Search(PackageMixin):
        REQUIRES: ClassVar[Sequence[Any]] = ("index",)

    composed = compose("search", [Search, "store"], discovery=discovery)
    assert [module.Store, module.Index, Search] == composed.USED_MIXIN_CLASSES
    instance = composed()
    assert call(instance, "GET", "stored").data == "stored"
    assert call(instance, "GET", "indexed").data == "indexed"


def test_a_cycle_through_entry_point_names(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"pingpong_{make_dist.tag}"
    root = make_dist(
        "ping-pong",
        "1.0",
        {MIXINS: {"ping": f"{mod}:Ping", "pong": f"{mod}:Pong"}},
        {
            mod: """
            from dockyard import PackageMixin

            class Ping(PackageMixin):
                REQUIRES = ["pong"]

            class Pong(PackageMixin):
                REQUIRES = ["ping"]
            """
        },
    )
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(MixinError, match="cycle: 'ping' -> 'pong' -> 'ping'"):
        compose("cycle", ["ping"], discovery=Discovery(path=[str(root)]))


# --- mixins given by entry-point name -----------------------------------------------------------

COUNTER_SOURCE = """
from dockyard import Config, PackageMixin, get, post

class Counter(PackageMixin):
    class Config(Config):
        start: int = 0

    def __init__(self, config=None):
        super().__init__(config=config)
        self.value = self.config.start

    @post("increment")
    def increment(self) -> int:
        self.value += 1
        return self.value

    @get("count")
    def count(self) -> int:
        return self.value
"""


def counter_dist(make_dist: DistFactory, root: Path | None = None) -> tuple[Path, str]:
    mod = f"counter_{make_dist.tag}"
    path = make_dist(
        "counter-mixins",
        "2.1",
        {MIXINS: {"counter": f"{mod}:Counter"}},
        {mod: COUNTER_SOURCE},
        root=root,
    )
    return path, mod


def test_mixins_by_entry_point_name(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, mod = counter_dist(make_dist)
    monkeypatch.syspath_prepend(str(root))
    composed = compose(
        "by-name",
        ["counter", GreeterMixin],
        config={"counter": {"start": 41}},
        discovery=Discovery(path=[str(root)]),
    )
    counter_cls = importlib.import_module(mod).Counter
    assert [counter_cls, GreeterMixin] == composed.USED_MIXIN_CLASSES
    instance = composed()
    assert call(instance, "POST", "increment").data == 42
    assert call(instance, "GET", "greet").data == "hello world"
    assert config_names(composed) == ["counter.start", "greeter.greeting"]


def test_mixins_by_name_use_the_default_discovery_of_sys_path(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, mod = counter_dist(make_dist)
    with pytest.raises(MixinError, match="mixin 'counter' cannot be used"):
        compose("default-discovery", ["counter"])  # not on sys.path yet
    monkeypatch.syspath_prepend(str(root))
    composed = compose("default-discovery", ["counter"])
    assert [importlib.import_module(mod).Counter] == composed.USED_MIXIN_CLASSES
    assert call(composed(), "POST", "increment").data == 1


def test_an_unknown_mixin_name_lists_the_installed_ones(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = counter_dist(make_dist)
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(MixinError, match="mixin 'countr' cannot be used") as caught:
        compose("typo", ["countr"], discovery=Discovery(path=[str(root)]))
    assert "installed: counter" in str(caught.value)
    assert caught.value.code == "mixin_unavailable"


def clashing_dists(make_dist: DistFactory) -> tuple[Path, str, str]:
    alpha, beta = f"alpha_{make_dist.tag}", f"beta_{make_dist.tag}"
    make_dist(
        "alpha-mixins",
        "1.2",
        {MIXINS: {"alpha-search": f"{alpha}:AlphaSearch"}},
        {
            alpha: """
            from dockyard import PackageMixin, get

            class AlphaSearch(PackageMixin):
                @get("search")
                def search(self, q: str) -> str:
                    return "alpha"
            """
        },
    )
    root = make_dist(
        "beta-mixins",
        "3.4",
        {MIXINS: {"beta-search": f"{beta}:BetaSearch", "beta-other": f"{beta}:BetaOther"}},
        {
            beta: """
            from dockyard import PackageMixin, get

            class BetaSearch(PackageMixin):
                @get("/search")
                def find(self, query: str) -> str:
                    return "beta"

            class BetaOther(PackageMixin):
                @get("other")
                def other(self) -> str:
                    return "other"
            """
        },
    )
    return root, alpha, beta


def test_a_route_clash_between_two_distributions_names_both(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, alpha, beta = clashing_dists(make_dist)
    monkeypatch.syspath_prepend(str(root))
    discovery = Discovery(path=[str(root)])
    with pytest.raises(RouteConflictError) as caught:
        compose("clash", ["alpha-search", "beta-search"], discovery=discovery)
    message = caught.value.message
    assert "GET /search" in message
    assert f"{alpha}.AlphaSearch.search (from alpha-mixins 1.2)" in message
    assert f"{beta}.BetaSearch.find (from beta-mixins 3.4)" in message
    assert {caught.value.existing.owner.__name__, caught.value.duplicate.owner.__name__} == {
        "AlphaSearch",
        "BetaSearch",
    }
    # Either one alone composes, and so does the other mixin of the same distribution.
    alone = compose("alone", ["alpha-search", "beta-other"], discovery=discovery)
    assert call(alone(), "GET", "search", q="x").data == "alpha"
    assert call(alone(), "GET", "other").data == "other"


BROKEN_MIXIN = """
raise RuntimeError("mixin module exploded")
"""


def test_a_mixin_that_fails_to_import_names_its_distribution_and_error(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter_root, counter_mod = counter_dist(make_dist)
    broken = f"broken_{make_dist.tag}"
    root = make_dist(
        "broken-mixins",
        "0.3",
        {MIXINS: {"broken": f"{broken}:Broken"}},
        {broken: BROKEN_MIXIN},
    )
    assert root == counter_root
    monkeypatch.syspath_prepend(str(root))
    discovery = Discovery(path=[str(root)])
    with pytest.raises(MixinError) as caught:
        compose("fragile", ["counter", "broken"], discovery=discovery)
    message = caught.value.message
    assert "mixin 'broken' cannot be used" in message
    assert "broken-mixins 0.3" in message
    assert "RuntimeError: mixin module exploded" in message
    assert isinstance(caught.value.__cause__, ComponentLoadError)
    assert caught.value.details["distribution"] == "broken-mixins"
    assert [p.kind for p in discovery.problems] == ["load_failed"]
    # The other distribution's mixin still composes, with the same discovery.
    composed = compose("sturdy", ["counter"], discovery=discovery)
    assert [importlib.import_module(counter_mod).Counter] == composed.USED_MIXIN_CLASSES


def test_a_requirement_that_fails_to_import_names_the_chain(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = f"broken_req_{make_dist.tag}"
    root = make_dist(
        "broken-reqs", "0.4", {MIXINS: {"broken": f"{broken}:Broken"}}, {broken: BROKEN_MIXIN}
    )
    monkeypatch.syspath_prepend(str(root))

    class Dependent(PackageMixin):
        REQUIRES: ClassVar[Sequence[Any]] = ("broken",)

    with pytest.raises(MixinError) as caught:
        compose("dependent", [Dependent], discovery=Discovery(path=[str(root)]))
    message = caught.value.message
    assert f"{qualified_name(Dependent)} requires 'broken'" in message
    assert "broken-reqs 0.4" in message
    assert "mixin module exploded" in message


# --- a package that is one line in its distribution --------------------------------------------


def test_a_package_composed_in_one_line_of_its_distribution(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, counter_mod = counter_dist(make_dist)
    app = f"my_app_{make_dist.tag}"
    make_dist(
        "my-app",
        "0.1",
        {PACKAGES: {"my-app": f"{app}:App"}},
        {app: 'from dockyard import compose\nApp = compose("my-app", mixins=["counter"])\n'},
    )
    monkeypatch.syspath_prepend(str(root))
    package = Discovery(path=[str(root)]).load(PACKAGES, "my-app")
    assert issubclass(package, PackageService)
    assert package.__module__ == app
    assert [importlib.import_module(counter_mod).Counter] == package.USED_MIXIN_CLASSES
    instance = package(config={"counter": {"start": 9}})
    assert call(instance, "POST", "increment").data == 10
    assert call(instance, "GET", "count").data == 10
    assert call(instance, "GET", "__dir__").data["config"][0]["name"] == "counter.start"
