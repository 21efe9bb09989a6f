"""`Engine` (core/engine.py): installed packages -> classes and hook-wired instances."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pytest

from dockyard.core.config import Config
from dockyard.core.discovery import (
    ComponentLoadError,
    ComponentNotFoundError,
    Discovery,
    DiscoveryError,
)
from dockyard.core.engine import Engine
from dockyard.core.errors import ConfigError
from dockyard.core.hooks import hookimpl, make_plugin_manager
from dockyard.core.mixin import PackageMixin
from dockyard.core.request import InvocableRequest, InvocationContext
from dockyard.core.routes import post
from dockyard.core.service import Invocable, PackageService
from dockyard.testing import call

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import DistFactory

PACKAGES = "dockyard.packages"
MIXINS = "dockyard.mixins"

PACKAGE_SOURCE = """
from dockyard import Config, PackageService, post

class Hello(PackageService):
    class Config(Config):
        greeting: str = "hello"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inits = 0

    def instance_init(self):
        self.inits += 1

    @post("greet")
    def greet(self, name: str = "world") -> str:
        return f"{self.config.greeting} {name}"
"""


def package_dist(make_dist: DistFactory) -> tuple[Path, str]:
    mod = f"hello_{make_dist.tag}"
    root = make_dist(
        "hello-packages", "1.0", {PACKAGES: {"hello": f"{mod}:Hello"}}, {mod: PACKAGE_SOURCE}
    )
    return root, mod


class Events:
    """Records the lifecycle hooks an engine fires."""

    def __init__(self) -> None:
        self.created: list[tuple[Invocable, int | None]] = []
        self.composed: list[type[PackageService]] = []
        self.invoked: list[Invocable] = []

    @hookimpl
    def dockyard_instance_created(self, instance: Invocable) -> None:
        self.created.append((instance, getattr(instance, "inits", None)))

    @hookimpl
    def dockyard_package_composed(self, package_cls: type[PackageService]) -> None:
        self.composed.append(package_cls)

    @hookimpl
    def dockyard_before_invoke(self, instance: Invocable, request: InvocableRequest) -> None:
        self.invoked.append(instance)


class Local(PackageService):
    """A package given by class."""

    class Config(Config):
        times: int = 1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inits = 0

    def instance_init(self) -> None:
        self.inits += 1

    @post("echo")
    def echo(self, text: str) -> str:
        return text * self.config.times


def test_package_class_loads_from_the_engines_discovery(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, mod = package_dist(make_dist)
    monkeypatch.syspath_prepend(str(root))
    engine = Engine(discovery=Discovery(path=[str(root)]))
    package = engine.package_class("hello")
    assert package is importlib.import_module(mod).Hello
    assert engine.package_class("hello") is package


def test_an_unknown_handle_lists_the_installed_packages(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = package_dist(make_dist)
    monkeypatch.syspath_prepend(str(root))
    engine = Engine(discovery=Discovery(path=[str(root)]))
    with pytest.raises(ComponentNotFoundError) as caught:
        engine.package_class("goodbye")
    assert "no package named 'goodbye' is installed" in caught.value.message
    assert "installed: hello" in str(caught.value)
    assert caught.value.details["available"] == ["hello"]
    with pytest.raises(ComponentNotFoundError, match="'goodbye'"):
        engine.create("goodbye")


def test_a_package_that_fails_to_import_names_its_distribution(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"fragile_{make_dist.tag}"
    root = make_dist(
        "fragile-packages",
        "0.7",
        {PACKAGES: {"fragile": f"{mod}:Fragile"}},
        {mod: "raise ImportError('needs a missing library')"},
    )
    monkeypatch.syspath_prepend(str(root))
    engine = Engine(discovery=Discovery(path=[str(root)]))
    with pytest.raises(ComponentLoadError, match=r"fragile-packages 0\.7.*missing library"):
        engine.create("fragile")


def test_create_by_handle(make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    root, mod = package_dist(make_dist)
    monkeypatch.syspath_prepend(str(root))
    events = Events()
    engine = Engine(discovery=Discovery(path=[str(root)]), hooks=[events])
    context = InvocationContext()
    instance = engine.create("hello", config={"greeting": "ahoy"}, context=context)
    assert isinstance(instance, importlib.import_module(mod).Hello)
    assert instance.context is context
    assert call(instance, "POST", "greet", name="ada").data == "ahoy ada"
    assert events.created == [(instance, 0)]
    assert events.invoked == [instance]  # hooks attached


def test_create_by_class_validates_config() -> None:
    engine = Engine(discovery=Discovery(path=[]))
    instance = engine.create(Local, config={"times": "2"})
    assert isinstance(instance, Local)
    assert instance.config.times == 2
    assert call(instance, "POST", "echo", text="ab").data == "abab"
    with pytest.raises(ConfigError, match=r"times: Input should be a valid integer") as caught:
        engine.create(Local, config={"times": "often", "color": "red"})
    assert "color: unknown config key" in caught.value.message  # every problem listed


def test_create_with_init_runs_instance_init_once_before_the_created_hook() -> None:
    events = Events()
    engine = Engine(discovery=Discovery(path=[]), hooks=[events])
    plain = engine.create(Local)
    initialised = engine.create(Local, init=True)
    assert isinstance(plain, Local)
    assert isinstance(initialised, Local)
    assert plain.inits == 0
    assert initialised.inits == 1
    call(initialised, "POST", "echo", text="x")
    assert initialised.inits == 1  # not per call
    assert events.created == [(plain, 0), (initialised, 1)]


def test_create_with_init_runs_a_composed_packages_mixins_once() -> None:
    log: list[str] = []

    class Setup(PackageMixin):
        def instance_init(self) -> None:
            log.append("setup")

    engine = Engine(discovery=Discovery(path=[]))
    composed = engine.compose("set-up", [Setup])
    engine.create(composed, init=True)
    assert log == ["setup"]
    engine.create(composed)
    assert log == ["setup"]


def test_created_instances_run_the_engines_hooks_and_direct_ones_do_not() -> None:
    events = Events()
    engine = Engine(discovery=Discovery(path=[]), hooks=[events])
    made = engine.create(Local)
    direct = Local()
    call(direct, "POST", "echo", text="x")
    assert events.invoked == []
    call(made, "POST", "echo", text="x")
    assert events.invoked == [made]


def test_engine_compose_uses_its_discovery_and_hooks(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Two distributions offer a "greeter" mixin, in two directories both on sys.path:
    # only the engine's discovery says which one is meant.
    source = """
from dockyard import PackageMixin, get

class Greeter(PackageMixin):
    @get("greet")
    def greet(self) -> str:
        return {word!r}
"""
    first, second = f"first_{make_dist.tag}", f"second_{make_dist.tag}"
    root_a = make_dist(
        "first-greeter",
        "1.0",
        {MIXINS: {"greeter": f"{first}:Greeter"}},
        {first: source.format(word="first")},
        root=tmp_path / "a",
    )
    root_b = make_dist(
        "second-greeter",
        "1.0",
        {MIXINS: {"greeter": f"{second}:Greeter"}},
        {second: source.format(word="second")},
        root=tmp_path / "b",
    )
    monkeypatch.syspath_prepend(str(root_a))
    monkeypatch.syspath_prepend(str(root_b))
    for root, word in ((root_a, "first"), (root_b, "second")):
        events = Events()
        engine = Engine(discovery=Discovery(path=[str(root)]), hooks=[events])
        composed = engine.compose("greeting", ["greeter"])
        assert events.composed == [composed]
        assert call(engine.create(composed), "GET", "greet").data == word


def test_engine_compose_passes_base_and_config() -> None:
    class Named(PackageMixin):
        class Config(Config):
            name: str = "anon"

    engine = Engine(discovery=Discovery(path=[]))
    composed = engine.compose("named", [Named], Local, {"named": {"name": "ada"}, "times": 3})
    assert issubclass(composed, Local)
    instance = engine.create(composed)
    assert isinstance(instance, Local)
    assert instance.config.named.name == "ada"
    assert call(instance, "POST", "echo", text="a").data == "aaa"


def test_engine_uses_a_given_plugin_manager() -> None:
    events = Events()
    pm = make_plugin_manager(plugins=[events])
    engine = Engine(discovery=Discovery(path=[]), plugin_manager=pm)
    assert engine.plugin_manager is pm
    instance = engine.create(Local)
    assert events.created == [(instance, 0)]


def test_hooks_and_a_plugin_manager_together_are_a_type_error() -> None:
    pm = make_plugin_manager()
    with pytest.raises(TypeError, match="hooks= or plugin_manager=, not both"):
        Engine(discovery=Discovery(path=[]), plugin_manager=pm, hooks=[Events()])
    assert pm.get_plugins() == set()  # a shared manager is not changed behind its back


def test_strict_engine_makes_a_strict_default_discovery(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"badly_named_{make_dist.tag}"
    root = make_dist("badly-named", "1.0", {PACKAGES: {"Bad_Handle": f"{mod}:Package"}}, {mod: ""})
    monkeypatch.syspath_prepend(str(root))
    with pytest.raises(DiscoveryError, match="'Bad_Handle' is not a valid handle"):
        Engine(strict=True)
    engine = Engine()  # lenient: the problem is recorded
    assert any("Bad_Handle" in p.message for p in engine.discovery.problems)


def test_engine_compose_names_the_callers_module() -> None:
    from dockyard import PackageMixin
    from dockyard.core.discovery import Discovery

    class Solo(PackageMixin):
        pass

    engine = Engine(discovery=Discovery(path=[]))
    assert engine.compose("solo-app", [Solo]).__module__ == __name__
