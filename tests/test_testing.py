"""dockyard.testing: `call`, and the pytest plugin's fixtures (``make_instance``,
``dockyard_server``, ``dockyard_register``), directly and through the plugin's real
``pytest11`` registration in a pytest run of its own (``pytester``)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import dockyard.testing
from dockyard import (
    ArgumentError,
    Config,
    ConfigError,
    PackageMixin,
    PackageService,
    Task,
    compose,
    get,
    hookimpl,
    post,
)
from dockyard.core.discovery import Discovery
from dockyard.plugins import Block, File, PluginRequest, Tag, Tagger
from dockyard.plugins.types import TagInput, TagOutput
from dockyard.testing import (
    ComponentRegistry,
    DockyardServer,
    InstanceFactory,
    LocalInstance,
    LocalPluginInstance,
    ServerFactory,
    ServerStartError,
    call,
)

pytest_plugins = ["pytester"]

# --- components under test (top level: a server process can load them from this file) --


class Echo(PackageService):
    @post("echo")
    def echo(self, verb: str, path: str) -> list[str]:
        return [verb, path]


class Greeter(PackageService):
    """Greets; counts its instance_init runs in its storage; schedules tasks."""

    class Config(Config):
        greeting: str = "Hello"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls = 0

    def instance_init(self) -> None:
        super().instance_init()
        self.storage.update("inits", lambda n: (n or 0) + 1)

    @get("greet")
    def greet(self, name: str = "World") -> str:
        self.calls += 1
        return f"{self.config.greeting}, {name}!"

    @get("inits")
    def inits(self) -> int:
        found: int = self.storage.get("inits")
        return found

    @post("greet_later")
    def greet_later(self, name: str) -> Task:
        return self.invoke_later("greet", verb="GET", arguments={"name": name})


class Shouting(Tagger):
    """Tags the blocks written in capitals."""

    class Config(Config):
        kind: str = "shout"

    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        file = request.data.file
        for block in file.blocks:
            if block.text.isupper():
                block.tags.append(Tag(kind=self.config.kind, start_idx=0, end_idx=len(block.text)))
        return TagOutput(file=file)


class CounterMixin(PackageMixin):
    class Config(Config):
        start: int = 0

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.count: int = self.config.start

    @post("increment")
    def increment(self) -> int:
        self.count += 1
        return self.count


class UsesShouting(PackageService):
    """Uses the plugin registered as ``shouting`` (by name, through discovery)."""

    @post("shouts")
    def shouts(self, text: str) -> list[str]:
        file = self.use_plugin("shouting").tag(File(blocks=[Block(text=text)]))
        return [tag.kind for tag in file.blocks[0].tags]


# --- call --------------------------------------------------------------------------------


def test_call_dispatches_and_passes_any_argument_name() -> None:
    response = call(Echo(), "post", "/echo", verb="GET", path="x")
    assert (response.status, response.data) == (200, ["GET", "x"])


def test_call_returns_errors_in_the_response() -> None:
    response = call(Echo(), "GET", "echo")
    assert response.status == 405
    assert response.error is not None


# --- the plugin: registration, cheap import ----------------------------------------------


def test_the_module_is_registered_as_the_pytest11_plugin_dockyard(
    request: pytest.FixtureRequest,
) -> None:
    plugins = importlib.metadata.entry_points(group="pytest11")
    assert [ep.value for ep in plugins if ep.name == "dockyard"] == ["dockyard.testing"]
    assert request.config.pluginmanager.get_plugin("dockyard") is dockyard.testing


def test_importing_the_plugin_is_cheap() -> None:
    # Imported, and every attribute dir() lists read (as pytest does when it registers a
    # plugin, to find fixtures): nothing heavy is imported.
    probe = (
        "import sys, dockyard.testing as m\n"
        "[getattr(m, name) for name in dir(m)]\n"
        "heavy = ('pydantic', 'flask', 'sqlalchemy', 'werkzeug', 'numpy', 'dockyard.core',"
        " 'dockyard.client', 'dockyard._testing')\n"
        "print(sorted({m for m in sys.modules if m.startswith(heavy)}))\n"
        "m.LocalInstance  # imported on first use\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split("\n")[:2] == ["[]", "True"]


def test_a_pytest_run_imports_no_more_of_dockyard_than_the_plugin(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import sys


        def test_nothing_more_is_imported():
            loaded = {m for m in sys.modules if m.partition(".")[0] == "dockyard"}
            assert loaded == {"dockyard", "dockyard._lazy", "dockyard.testing"}
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1)


def test_public_names_are_exported() -> None:
    assert dockyard.testing.__all__ == sorted(dockyard.testing.__all__)
    for name in dockyard.testing.__all__:
        assert getattr(dockyard.testing, name) is not None


# --- make_instance ------------------------------------------------------------------------


def test_make_instance_runs_a_package_on_a_real_store(make_instance: InstanceFactory) -> None:
    greeter = make_instance(Greeter, {"greeting": "Hi"})
    assert isinstance(greeter, LocalInstance)
    assert (greeter.package, greeter.handle, greeter.config) == (
        "greeter",
        "greeter",
        {"greeting": "Hi"},
    )
    assert greeter.invoke("greet", verb="GET", name="Ted") == "Hi, Ted!"
    assert greeter.invoke("inits", verb="GET") == 1  # instance_init ran, once
    # The same handle again is the same instance, its data and config kept.
    again = greeter.client.use("greeter", "greeter")
    assert again.config == {"greeting": "Hi"}
    assert again.invoke("inits", verb="GET") == 1
    # Its home is a temporary one of its own, not $DOCKYARD_HOME.
    assert greeter.client.home != Path(os.environ["DOCKYARD_HOME"])
    assert (greeter.client.home / "dockyard.db").is_file()


def test_make_instance_raises_typed_errors(make_instance: InstanceFactory) -> None:
    greeter = make_instance(Greeter)
    with pytest.raises(ArgumentError) as raised:
        greeter.invoke("greet", verb="GET", nmae="Ted")
    assert raised.value.status == 422
    with pytest.raises(ConfigError, match="greeting"):
        make_instance(Greeter, {"greeting": ["not", "text"]})


def test_make_instance_runs_invoke_later_in_process(make_instance: InstanceFactory) -> None:
    greeter = make_instance(Greeter, {"greeting": "Hey"})
    task = greeter.get_task(greeter.invoke("greet_later", name="Ann")).wait(timeout=30)
    assert (task.state.value, task.output) == ("succeeded", "Hey, Ann!")


def test_without_task_workers_tasks_wait(make_instance: InstanceFactory) -> None:
    greeter = make_instance(Greeter, task_workers=0)
    task = greeter.get_task(greeter.invoke("greet_later", name="Ann"))
    assert task.refresh().state.value == "waiting"


def test_live_is_the_object_serving_the_instance(make_instance: InstanceFactory) -> None:
    greeter = make_instance(Greeter, handle="mine")
    assert greeter.handle == "mine"
    greeter.invoke("greet", verb="GET")
    live = greeter.live
    assert isinstance(live, Greeter)
    assert live is greeter.live
    assert live.calls == 1
    assert live.greet(name="Direct") == "Hello, Direct!"  # a direct call, no validation
    assert live.storage.get("inits") == 1


def test_make_instance_of_a_plugin_class(make_instance: InstanceFactory) -> None:
    shouting = make_instance(Shouting, {"kind": "loud"})
    assert isinstance(shouting, LocalPluginInstance)
    file = shouting.tag(File(blocks=[Block(text="HEY"), Block(text="hey")]))
    assert [[t.kind for t in b.tags] for b in file.blocks] == [["loud"], []]
    with pytest.raises(ArgumentError):
        shouting.invoke("tag", file="nope")
    assert isinstance(shouting.live, Shouting)


def test_make_instance_of_a_mixin_class_composes_a_package(
    make_instance: InstanceFactory,
) -> None:
    counter = make_instance(CounterMixin, {"counter": {"start": 10}})
    assert counter.invoke("increment") == 11
    assert counter.invoke("increment") == 12
    host = compose("host", mixins=[CounterMixin])
    assert make_instance(host).invoke("increment") == 1


def test_make_instance_of_an_installed_handle(make_instance: InstanceFactory) -> None:
    embedder = make_instance("hashing-embedder", {"dimensions": 8})
    assert isinstance(embedder, LocalPluginInstance)
    [vector] = embedder.embed(["ferries"])
    assert len(vector) == 8


def test_make_instance_refuses_what_it_cannot_make(make_instance: InstanceFactory) -> None:
    with pytest.raises(TypeError, match="plugin type, not a plugin"):
        make_instance(Tagger)
    with pytest.raises(TypeError, match="not 42"):
        make_instance(42)  # type: ignore[call-overload]


def test_make_instance_ignores_server_settings_and_restores_them(
    make_instance: InstanceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    greeter = make_instance(Greeter)
    assert greeter.client.url is None
    assert greeter.invoke("greet", verb="GET") == "Hello, World!"
    assert os.environ["DOCKYARD_URL"] == "http://127.0.0.1:9"
    assert os.environ["DOCKYARD_DATABASE_URL"].startswith("postgresql")


def test_closing_the_factory_stops_the_workers_and_removes_its_homes() -> None:
    before = set(threading.enumerate())
    with InstanceFactory() as make:
        greeter = make(Greeter)
        home = greeter.client.home
        started = [t for t in threading.enumerate() if t not in before]
        assert any(t.name.startswith("dockyard-task") for t in started)
    assert not [t for t in started if t.is_alive()]
    assert not home.exists()


# --- dockyard_register --------------------------------------------------------------------


def test_registered_components_are_discovered_with_provenance(
    dockyard_register: ComponentRegistry,
) -> None:
    assert dockyard_register.package("greeter", Greeter) is Greeter
    dockyard_register.mixin("counter", CounterMixin, distribution="acme-mixins", version="2.1")
    discovery = Discovery()
    assert discovery.load("dockyard.packages", "greeter") is Greeter
    assert discovery.load("dockyard.mixins", "counter") is CounterMixin
    provenance = discovery.get("dockyard.mixins", "counter").provenance
    assert (provenance.distribution, provenance.version) == ("acme-mixins", "2.1")
    assert discovery.get("dockyard.packages", "greeter").provenance.distribution == (
        "test-components"
    )
    assert discovery.problems == []
    assert dockyard_register.registered == [
        ("dockyard.packages", "greeter", "test-components"),
        ("dockyard.mixins", "counter", "acme-mixins"),
    ]


def test_registered_components_are_used_by_name(
    dockyard_register: ComponentRegistry, make_instance: InstanceFactory
) -> None:
    dockyard_register.plugin("shouting", Shouting)
    dockyard_register.mixin("counter", CounterMixin)
    dockyard_register.package("greeter", Greeter)
    uses = make_instance(UsesShouting)
    assert uses.invoke("shouts", text="AHOY") == ["shout"]
    counting = compose("counting", mixins=["counter"])
    assert make_instance(counting).invoke("increment") == 1
    assert make_instance("greeter").invoke("greet", verb="GET") == "Hello, World!"


def test_registered_plugin_types_and_hooks(
    dockyard_register: ComponentRegistry, make_instance: InstanceFactory
) -> None:
    seen: list[str] = []

    class Watcher:
        @hookimpl
        def dockyard_instance_created(self, instance: Any) -> None:
            seen.append(type(instance).__name__)

    dockyard_register.plugin_type("shouty", Tagger, distribution="types-dist")
    dockyard_register.hooks("watcher", Watcher())
    assert Discovery().plugin_types()["shouty"] is Tagger
    make_instance(Greeter)
    assert "Greeter" in seen


def test_two_distributions_claiming_a_name_are_reported(
    dockyard_register: ComponentRegistry,
) -> None:
    dockyard_register.package("greeter", Greeter, distribution="one-dist")
    dockyard_register.package("greeter", Echo, distribution="two-dist")
    messages = " ".join(p.message for p in Discovery().problems)
    assert "one-dist" in messages
    assert "two-dist" in messages


def test_registering_a_name_again_replaces_it(dockyard_register: ComponentRegistry) -> None:
    dockyard_register.package("greeter", Greeter)
    dockyard_register.package("greeter", Echo)
    assert Discovery().load("dockyard.packages", "greeter") is Echo


def test_closing_a_registry_undoes_everything(tmp_path: Path) -> None:
    path_before = list(sys.path)
    registry = ComponentRegistry(tmp_path / "reg")
    registry.package("greeter", Greeter)
    assert Discovery().load("dockyard.packages", "greeter") is Greeter
    assert registry.module in sys.modules
    registry.close()
    assert sys.path == path_before
    assert registry.module not in sys.modules
    assert "greeter" not in Discovery().names("dockyard.packages")
    assert list((tmp_path / "reg").iterdir()) == []
    with pytest.raises(RuntimeError, match="closed"):
        registry.package("again", Greeter)
    registry.close()  # twice is fine

    with ComponentRegistry() as owned:
        directory = owned.directory
        owned.plugin("shouting", Shouting)
        assert "shouting" in Discovery().names("dockyard.plugins")
    assert not directory.exists()
    assert "shouting" not in Discovery().names("dockyard.plugins")


@pytest.mark.parametrize(("group", "name"), [("dockyard.packages", "a = b"), ("[x]", "n")])
def test_unwritable_entry_points_are_refused(
    dockyard_register: ComponentRegistry, group: str, name: str
) -> None:
    with pytest.raises(ValueError, match="cannot be an entry point"):
        dockyard_register.add(group, name, Greeter)


# --- dockyard_server ----------------------------------------------------------------------


def test_a_server_serves_its_targets(dockyard_server: ServerFactory) -> None:
    server = dockyard_server(Greeter, "hashing-embedder", task_workers=1)
    assert server.running
    assert server.url == f"http://127.0.0.1:{server.port}"
    credentials = json.loads((server.home / "credentials").read_text())
    assert server.api_key == credentials["api_key"]
    served_file, _, served_name = server.targets[0].rpartition(":")
    assert (Path(served_file).resolve(), served_name) == (Path(__file__).resolve(), "Greeter")
    greeter = server.use(Greeter, "mine", {"greeting": "Hi"})
    assert greeter.invocation_url == f"{server.url}/mine/mine/"
    assert greeter.invoke("greet", verb="GET", name="Ted") == "Hi, Ted!"
    with pytest.raises(ArgumentError):
        greeter.invoke("greet", verb="GET", nmae="Ted")
    task = greeter.get_task(greeter.invoke("greet_later", name="Ann")).wait(timeout=30)
    assert task.output == "Hi, Ann!"
    assert server.use_plugin("hashing-embedder", config={"dimensions": 4}).embed(["x"])
    assert server.client.url == server.url
    assert "serving on" in server.log()
    # Stopped and started again: the same port, home, key and instances.
    key = server.api_key
    server.stop()
    assert not server.running
    server.start()
    assert server.api_key == key
    assert server.use(Greeter, "mine").invoke("inits", verb="GET") == 1
    assert server.log().count("serving on") == 2


def test_a_server_that_fails_to_start_raises_with_its_log(
    dockyard_server: ServerFactory, tmp_path: Path
) -> None:
    with pytest.raises(ServerStartError) as raised:
        dockyard_server(f"{tmp_path}/missing.py:Nothing")
    assert "exited with status" in str(raised.value)
    assert "no such file" in raised.value.log
    assert raised.value.log in str(raised.value)
    assert not dockyard_server.servers[0].running


def test_a_server_that_does_not_answer_in_time_is_stopped(
    dockyard_server: ServerFactory,
) -> None:
    with pytest.raises(ServerStartError, match="did not answer /__health__"):
        dockyard_server(Greeter, timeout=0)
    assert not dockyard_server.servers[0].running


def test_a_class_that_no_process_can_load_is_refused() -> None:
    class Local(PackageService):
        pass

    with pytest.raises(TypeError, match="top-level name of a Python file"):
        DockyardServer(Local)


# --- through the real plugin registration, in a pytest run of its own ---------------------

PROJECT_PACKAGE = """
    from dockyard import Config, PackageService, get


    class Greeter(PackageService):
        class Config(Config):
            greeting: str = "Hello"

        @get("greet")
        def greet(self, name: str = "World") -> str:
            return f"{self.config.greeting}, {name}!"
"""

PROJECT_TESTS = """
    import sys

    import dockyard.testing
    from dockyard.core.discovery import Discovery
    from dockyard.testing import ComponentRegistry, InstanceFactory, ServerFactory

    from greeter import Greeter

    PATH = list(sys.path)


    def test_the_plugin_is_registered(request):
        assert request.config.pluginmanager.get_plugin("dockyard") is dockyard.testing


    def test_make_instance(make_instance: InstanceFactory):
        greeter = make_instance(Greeter, {"greeting": "Hi"})
        assert greeter.invoke("greet", verb="GET", name="Ted") == "Hi, Ted!"


    def test_register(dockyard_register: ComponentRegistry, make_instance: InstanceFactory):
        dockyard_register.package("greeter", Greeter)
        assert make_instance("greeter").invoke("greet", verb="GET") == "Hello, World!"


    def test_registration_is_undone_after_the_test():
        assert "greeter" not in Discovery().names("dockyard.packages")
        assert sys.path == PATH
        assert not [m for m in sys.modules if m.startswith("_dockyard_registered_")]


    def test_server(dockyard_server: ServerFactory):
        server = dockyard_server("greeter.py:Greeter")
        greeter = server.use("greeter", config={"greeting": "Yo"})
        assert greeter.invoke("greet", verb="GET", name="Ted") == "Yo, Ted!"
        with open("server.pid", "w") as out:
            out.write(str(server.process.pid))


    def test_a_failure_shows_the_server_log(dockyard_server: ServerFactory):
        dockyard_server("greeter.py:Greeter")
        assert False, "failing on purpose"
"""


def test_the_fixtures_work_through_the_pytest11_registration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        greeter=textwrap.dedent(PROJECT_PACKAGE), test_project=textwrap.dedent(PROJECT_TESTS)
    )
    # A process of its own: the plugin is loaded from its entry point, as in any project.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", "-v")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_a_failure_shows_the_server_log _*",
            "*failing on purpose*",
            "*- dockyard serve log (http://127.0.0.1:*) -*",
            "Dockyard * serving on http://127.0.0.1:*",
        ]
    )
    # The server was stopped at the end of its test.
    pid = int((pytester.path / "server.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_disabling_the_plugin_removes_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(make_instance):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:dockyard", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'make_instance' not found*"])
