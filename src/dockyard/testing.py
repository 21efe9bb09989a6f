"""Testing packages, mixins and plugins: helpers, and a pytest plugin with three fixtures.

Installing Dockyard registers this module with pytest (the ``pytest11`` entry point
``dockyard``), so in any test::

    def test_greets(make_instance: InstanceFactory) -> None:
        greeter = make_instance(Greeter, {"greeting": "Hi"})
        assert greeter.invoke("greet", name="Ted") == "Hi, Ted!"

- ``make_instance`` (an `InstanceFactory`): an instance of a package, mixin or plugin class
  (or installed handle) on a real embedded store of its own: config validated and frozen,
  ``instance_init`` run once, ``self.storage`` persistent, ``invoke_later`` run by
  in-process task workers. Closed at teardown.
- ``dockyard_server`` (a `ServerFactory`): a live ``dockyard serve`` subprocess on a free
  port with a home of its own, with a ready ``client``. Stopped at teardown.
- ``dockyard_register`` (a `ComponentRegistry`): packages, mixins, plugins, plugin types and
  hooks registered for discovery as if installed, without installing anything. Undone at
  teardown.

And `call`, which dispatches one request to an invocable object in-process.

pytest loads this module in every run, so importing it is cheap: it imports neither
pydantic nor Flask nor SQLAlchemy; the fixtures import what they need when used.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from dockyard._testing import LocalInstance, LocalPluginInstance
    from dockyard.client import Dockyard, PackageInstance, PluginInstance
    from dockyard.core.mixin import PackageMixin
    from dockyard.core.response import InvocableResponse
    from dockyard.core.service import Invocable
    from dockyard.plugins.service import PluginService

__all__ = [
    "ComponentRegistry",
    "DockyardServer",
    "InstanceFactory",
    "LocalInstance",
    "LocalPluginInstance",
    "ServerFactory",
    "ServerStartError",
    "call",
    "dockyard_register",
    "dockyard_server",
    "make_instance",
]


def __getattr__(name: str) -> Any:
    """`LocalInstance` and `LocalPluginInstance`, defined with the client (so with
    pydantic), are imported on first use. ``dir()`` does not list them before that:
    pytest reads every attribute ``dir()`` lists when it registers this module."""
    if name in ("LocalInstance", "LocalPluginInstance"):
        from dockyard import _testing

        value = getattr(_testing, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


I = TypeVar("I", bound="Invocable")  # noqa: E741
P = TypeVar("P", bound="PluginService[Any, Any]")
T = TypeVar("T")

#: Settings that would point a client, a store or a server elsewhere than its own home.
_ELSEWHERE_ENV = ("DOCKYARD_URL", "DOCKYARD_API_KEY", "DOCKYARD_DATABASE_URL", "DOCKYARD_TASKS_URL")


def call(invocable: Invocable, verb: str, path: str, /, **arguments: Any) -> InvocableResponse:
    """Dispatch one request to ``invocable`` in-process, exactly as the server would.

    :param invocable: the package (or plugin) instance.
    :param verb: the HTTP verb, e.g. ``"POST"``.
    :param path: the route path, e.g. ``"greet"``.
    :param arguments: the call's keyword arguments (any names, ``verb`` and ``path`` included).
    :returns: the response; errors come back in it, never raised.
    """
    from dockyard.core.request import InvocableRequest, Invocation

    return invocable(
        InvocableRequest(
            invocation=Invocation(http_verb=verb, invocation_path=path, arguments=arguments)
        )
    )


@contextlib.contextmanager
def _own_home_only() -> Iterator[None]:
    """Unset `_ELSEWHERE_ENV` for the duration (the embedded client and its store read
    them when they are made), then put them back."""
    saved = {name: os.environ.pop(name) for name in _ELSEWHERE_ENV if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _temporary_directory(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# --- make_instance ------------------------------------------------------------------------


class InstanceFactory:
    """Makes in-process instances on real embedded stores; the ``make_instance`` fixture.

    Each instance gets a `Dockyard` client of its own, embedded (no server), on a fresh
    ``$DOCKYARD_HOME`` (``DOCKYARD_URL``, ``DOCKYARD_DATABASE_URL`` and
    ``DOCKYARD_TASKS_URL`` are ignored), with ``task_workers`` threads running its
    background tasks. `close` (done at teardown) stops the workers and closes the stores.
    Outside pytest: ``with InstanceFactory() as make_instance: ...``.

    :param homes: makes each instance's home directory (default: a new temporary
        directory, removed by `close`).
    """

    def __init__(self, homes: Callable[[], Path] | None = None) -> None:
        self._homes = homes
        self._clients: list[Dockyard] = []
        self._owned: list[Path] = []

    @overload
    def __call__(
        self,
        component: type[P],
        config: Mapping[str, Any] | None = None,
        *,
        handle: str | None = None,
        task_workers: int = 2,
    ) -> LocalPluginInstance[P]: ...

    @overload
    def __call__(
        self,
        component: type[I],
        config: Mapping[str, Any] | None = None,
        *,
        handle: str | None = None,
        task_workers: int = 2,
    ) -> LocalInstance[I]: ...

    @overload
    def __call__(
        self,
        component: type[PackageMixin] | str,
        config: Mapping[str, Any] | None = None,
        *,
        handle: str | None = None,
        task_workers: int = 2,
    ) -> LocalInstance[Any]: ...

    def __call__(
        self,
        component: type[Any] | str,
        config: Mapping[str, Any] | None = None,
        *,
        handle: str | None = None,
        task_workers: int = 2,
    ) -> LocalInstance[Any]:
        """A new instance of ``component``, created with ``config`` and initialised.

        :param component: a package class (a `PackageService` or other `Invocable`), a
            plugin class (a `PluginService` subclass implementing ``run``: the result is a
            `LocalPluginInstance`, with ``run`` and its type's convenience, e.g. ``tag``),
            a mixin class (served as ``compose(handle, mixins=[mixin])``: ``config`` is
            then that package's config, with the mixin's section under its
            ``config_key``), or the handle of an installed (or ``dockyard_register``-ed)
            package or plugin.
        :param config: its config (validated and frozen, as ``Dockyard().use`` does).
        :param handle: the instance handle (default: the component's handle, e.g.
            ``my-package`` for ``MyPackage``).
        :param task_workers: threads running its ``invoke_later`` tasks (0: none run).
        :returns: the client's instance: ``invoke(method, verb="POST", **arguments)``
            returns the unwrapped result or raises the `DockyardError` subclass
            (``ArgumentError`` for a 422, ...); ``live`` is the object serving it, for
            direct method calls; ``client`` the embedded `Dockyard` it lives in.
        :raises ConfigError: the config is invalid (naming every bad field).
        :raises InstanceInitError: its ``instance_init`` failed.
        :raises TypeError: ``component`` is none of the above (e.g. a plugin type).
        """
        from dockyard._testing import LocalInstance, LocalPluginInstance
        from dockyard.client import Dockyard
        from dockyard.core.mixin import PackageMixin
        from dockyard.core.service import Invocable
        from dockyard.plugins.service import PluginService, is_plugin_type
        from dockyard.runtime import package_handle_for

        if isinstance(component, type) and issubclass(component, PackageMixin):
            kind = "mixin"
        elif isinstance(component, type) and issubclass(component, Invocable):
            if is_plugin_type(component):
                raise TypeError(
                    f"{component.__qualname__} is a plugin type, not a plugin: pass a plugin "
                    "of that type (a subclass that implements run)"
                )
            kind = "plugin" if issubclass(component, PluginService) else "package"
        elif isinstance(component, str):
            kind = "handle"
        else:
            raise TypeError(
                "make_instance() takes a package, plugin or mixin class or an installed "
                f"handle, not {component!r}"
            )
        home = self._new_home()
        with _own_home_only():
            client = Dockyard(home=home, task_workers=task_workers)
            self._clients.append(client)
            runtime = client.runtime  # made now, while the settings are unset
        if isinstance(component, str):
            served = component
            names = runtime.engine.discovery.names
            if served not in names("dockyard.packages") and served in names("dockyard.plugins"):
                kind = "plugin"
        else:
            served = package_handle_for(component)
            if issubclass(component, PackageMixin):
                runtime.packages[served] = runtime.engine.compose(served, [component])
            else:
                runtime.packages[served] = component
        if kind == "plugin":
            plugin = client.use_plugin(served, handle, config=config)
            return LocalPluginInstance.adopt(plugin)
        return LocalInstance.adopt(client.use(served, handle, config=config))

    def _new_home(self) -> Path:
        if self._homes is not None:
            return self._homes()
        home = _temporary_directory("dockyard-instance-")
        self._owned.append(home)
        return home

    def close(self) -> None:
        """Stop every instance's task workers and close its store (and remove the
        temporary homes this factory made itself)."""
        clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        owned, self._owned = self._owned, []
        for home in owned:
            shutil.rmtree(home, ignore_errors=True)

    def __enter__(self) -> InstanceFactory:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- dockyard_server ----------------------------------------------------------------------


class ServerStartError(RuntimeError):
    """``dockyard serve`` exited, or did not answer ``/__health__`` in time.

    Attributes:
        log: what the server wrote (its output and errors); the message ends with it.
    """

    def __init__(self, message: str, log: str) -> None:
        super().__init__(f"{message}; the server log:\n{log}")
        self.log = log


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _target_text(target: str | type) -> str:
    """``FILE.py:Name`` for a class defined at the top level of a Python file."""
    if isinstance(target, str):
        return target
    if not isinstance(target, type):
        raise TypeError(f"a server target is a string or a class, not {target!r}")
    module = sys.modules.get(target.__module__)
    filename = getattr(module, "__file__", None)
    names = [n for n, v in vars(module).items() if v is target] if module is not None else []
    if not filename or not str(filename).endswith(".py") or not names:
        raise TypeError(
            f"{target.__module__}.{target.__qualname__} is not a top-level name of a Python "
            "file, so a server process cannot load it: define it at the top level of a "
            "module, or pass 'FILE.py:Class', 'module:Class' or an installed handle"
        )
    name = target.__name__ if target.__name__ in names else names[0]
    return f"{filename}:{name}"


class DockyardServer:
    """One ``dockyard serve TARGET...`` subprocess, on ``127.0.0.1`` and a port and a
    ``$DOCKYARD_HOME`` of its own; the ``dockyard_server`` fixture makes them.

    The server is run by this interpreter (``sys.executable``), in its own process group,
    with this process's environment minus ``DOCKYARD_URL``, ``DOCKYARD_API_KEY``,
    ``DOCKYARD_DATABASE_URL`` and ``DOCKYARD_TASKS_URL`` (give ``env`` to set any).
    Use it as a context manager, or call `start` and `stop`.

    :param targets: what to serve: ``FILE.py:Class``, ``module:Class``, an installed
        package or plugin handle, or a class defined at the top level of a Python file
        (served as ``FILE.py:Class``; the server process imports that file).
    :param home: its ``$DOCKYARD_HOME`` (default: a new temporary directory, kept: the
        logs are there).
    :param port: the port (default: a free one; chosen again if taken meanwhile).
    :param task_workers: ``--task-workers`` (background-task threads; 0: none).
    :param workers: ``--workers`` (processes).
    :param args: more ``dockyard serve`` options, e.g. ``["--server", "gunicorn"]``.
    :param env: environment variables to set for the server.
    :param timeout: seconds to wait for it to answer ``/__health__``.

    Attributes:
        url: ``http://127.0.0.1:PORT``.
        port: the port.
        home: its ``$DOCKYARD_HOME``.
        targets: the targets as passed to ``dockyard serve``.
        process: the running ``subprocess.Popen`` (None before `start`).
    """

    def __init__(
        self,
        *targets: str | type,
        home: str | os.PathLike[str] | None = None,
        port: int | None = None,
        task_workers: int = 2,
        workers: int = 1,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.targets = [_target_text(t) for t in targets]
        self.home = Path(home) if home is not None else _temporary_directory("dockyard-server-")
        self._fixed_port = port is not None
        self.port = port if port is not None else _free_port()
        self.options = [
            "--task-workers",
            str(task_workers),
            "--workers",
            str(workers),
            *args,
        ]
        self.env = dict(env or {})
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._logs: list[Path] = []
        self._client: Dockyard | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DockyardServer {self.url} {state}: {' '.join(self.targets) or '(installed)'}>"

    @property
    def url(self) -> str:
        """The server's URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    @property
    def api_key(self) -> str:
        """The local API key (read from ``home/credentials``, which the server writes)."""
        key: str = json.loads((self.home / "credentials").read_text())["api_key"]
        return key

    @property
    def client(self) -> Dockyard:
        """A `Dockyard` client for this server, with its API key."""
        if self._client is None:
            from dockyard.client import Dockyard

            self._client = Dockyard(url=self.url, api_key=self.api_key)
        return self._client

    def command(self) -> list[str]:
        """The command line that starts the server."""
        program = "from dockyard.cli import main; main()"
        port = ["--port", str(self.port)]
        return [sys.executable, "-c", program, "serve", *self.targets, *port, *self.options]

    def log(self) -> str:
        """Everything the server wrote, over all its starts."""
        return "".join(p.read_text(errors="replace") for p in self._logs if p.exists())

    def start(self) -> DockyardServer:
        """Start the server (again, after `stop`: same port and home, so the same
        instances and key) and wait until ``/__health__`` answers.

        :raises ServerStartError: it exited or did not answer in time, with its log.
        """
        if self.running:
            raise RuntimeError(f"{self!r} is already running")
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            try:
                return self._start_once()
            except ServerStartError as exc:
                taken = "already in use" in exc.log.lower() or "errno 98" in exc.log.lower()
                if not taken or attempt == attempts - 1:
                    raise
                self.port = _free_port()  # taken between choosing it and binding it
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_once(self) -> DockyardServer:
        self.home.mkdir(parents=True, exist_ok=True)
        log_path = self.home / f"server-{len(self._logs) + 1}-{uuid.uuid4().hex[:6]}.log"
        self._logs.append(log_path)
        environment = {k: v for k, v in os.environ.items() if k not in _ELSEWHERE_ENV}
        environment.update({"DOCKYARD_HOME": str(self.home), **self.env})
        self._client = None
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() takes all of it
            )
        process = self.process
        deadline = time.monotonic() + self.timeout
        while True:
            code = process.poll()
            if code is not None:
                self._reap()
                raise ServerStartError(
                    f"dockyard serve {' '.join(self.targets)} exited with status {code}",
                    self._last_log(),
                )
            if self._healthy():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"dockyard serve {' '.join(self.targets)} did not answer /__health__ "
                    f"on {self.url} in {self.timeout:g} s",
                    self._last_log(),
                )
            time.sleep(0.05)

    def _last_log(self) -> str:
        return self._logs[-1].read_text(errors="replace") if self._logs[-1].exists() else ""

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/__health__")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 15 s) and every process it
        started; nothing happens if it is not running."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        self._reap()

    def _reap(self) -> None:
        process = self.process
        if process is not None and hasattr(os, "killpg"):
            # Worker processes left behind by the server, if any.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._client is not None:
            self._client.close()
            self._client = None

    def use(
        self,
        component: str | type,
        instance_handle: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        workspace: str | None = None,
    ) -> PackageInstance:
        """``client.use(...)``: the instance of a package (by handle, or by the class
        served) — or of a plugin, for a plugin class — created on first use."""
        if isinstance(component, str):
            return self.client.use(component, instance_handle, version, config, workspace=workspace)
        from dockyard.plugins.service import PluginService
        from dockyard.runtime import package_handle_for

        handle = package_handle_for(component)
        if issubclass(component, PluginService):
            return self.use_plugin(handle, instance_handle, config, version=version)
        return self.client.use(handle, instance_handle, version, config, workspace=workspace)

    def use_plugin(
        self,
        plugin_handle: str,
        instance_handle: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        workspace: str | None = None,
    ) -> PluginInstance:
        """``client.use_plugin(...)``: the instance of a plugin, created on first use."""
        return self.client.use_plugin(
            plugin_handle, instance_handle, version, config, workspace=workspace
        )

    def __enter__(self) -> DockyardServer:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class ServerFactory:
    """Starts `DockyardServer` s and stops them all at `close`; the ``dockyard_server``
    fixture.

    :param homes: makes each server's home directory (default: a new temporary one).
    """

    def __init__(self, homes: Callable[[], Path] | None = None) -> None:
        self._homes = homes
        self.servers: list[DockyardServer] = []

    def __call__(
        self,
        *targets: str | type,
        home: str | os.PathLike[str] | None = None,
        port: int | None = None,
        task_workers: int = 2,
        workers: int = 1,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> DockyardServer:
        """Start ``dockyard serve TARGETS`` and return it once it is healthy (see
        `DockyardServer` for the arguments): ``url``, ``api_key``, ``home``, a ready
        ``client``, ``use(...)``, ``log()``, ``stop()``.

        :raises ServerStartError: it exited or did not answer in time; the message ends
            with the server's log.
        """
        if home is None and self._homes is not None:
            home = self._homes()
        server = DockyardServer(
            *targets,
            home=home,
            port=port,
            task_workers=task_workers,
            workers=workers,
            args=args,
            env=env,
            timeout=timeout,
        )
        self.servers.append(server)
        return server.start()

    def close(self) -> None:
        """Stop every server started."""
        servers, self.servers = self.servers, []
        for server in servers:
            server.stop()

    def __enter__(self) -> ServerFactory:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- dockyard_register --------------------------------------------------------------------

#: Registry module name -> its attributes (what its entry points name).
_REGISTERED: dict[str, dict[str, object]] = {}

_REGISTRY_MODULE = '''\
"""Components registered for a test by dockyard.testing (deleted after it)."""

from dockyard.testing import _registered_attribute


def __getattr__(name):
    return _registered_attribute(__name__, name)
'''


def _registered_attribute(module: str, name: str) -> object:
    """What the entry point ``module:name`` of a `ComponentRegistry` names."""
    try:
        return _REGISTERED[module][name]
    except KeyError:
        raise AttributeError(f"module {module!r} has no attribute {name!r}") from None


class ComponentRegistry:
    """Registers components for entry-point discovery as if a distribution declaring
    them were installed; the ``dockyard_register`` fixture.

    A registration writes a real, tiny distribution (``NAME-VERSION.dist-info`` with its
    ``entry_points.txt``) into ``directory``, which is put first on ``sys.path``; its
    entry points name attributes of a generated module that hands out the registered
    objects. So ``Discovery``, ``compose("x", mixins=["name"])``, ``use_plugin("name")``,
    ``Dockyard().use("name")`` and ``dockyard list`` (in this process) find them exactly as
    they find installed components, provenance and problem reports included.

    Register before making what discovers (a ``Discovery``, an ``Engine``, a client):
    each reads the installed components once, when it is made. `close` (done at
    teardown) removes the directory from ``sys.path``, the module from ``sys.modules``
    and the distributions from disk, and clears the import caches.

    :param directory: where the distributions go (default: a new temporary directory).
    :param distribution: the default distribution name of registrations.
    :param version: the default version of registrations.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        distribution: str = "test-components",
        version: str = "0.0.0",
    ) -> None:
        self._owns_directory = directory is None
        self.directory = (
            _temporary_directory("dockyard-registry-") if directory is None else Path(directory)
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.distribution = distribution
        self.version = version
        self.module = f"_dockyard_registered_{uuid.uuid4().hex[:12]}"
        # (distribution, version) -> {(group, name): attribute}
        self._distributions: dict[tuple[str, str], dict[tuple[str, str], str]] = {}
        self._attributes: dict[str, object] = {}
        self._written: list[Path] = []
        module_file = self.directory / f"{self.module}.py"
        module_file.write_text(_REGISTRY_MODULE)
        self._written.append(module_file)
        _REGISTERED[self.module] = self._attributes
        self._path_entry = str(self.directory)
        self._added_to_path = self._path_entry not in sys.path
        if self._added_to_path:
            sys.path.insert(0, self._path_entry)
        self.closed = False
        importlib.invalidate_caches()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.registered)} registered"
        return f"<ComponentRegistry {self.directory} {state}>"

    @property
    def registered(self) -> list[tuple[str, str, str]]:
        """``(group, name, distribution)`` of each registration, in order."""
        return [
            (group, name, dist)
            for (dist, _), entries in self._distributions.items()
            for (group, name) in entries
        ]

    def package(
        self,
        name: str,
        cls: type[T],
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> type[T]:
        """Register ``cls`` as package ``name`` (``dockyard.packages``); returns ``cls``."""
        return self.add("dockyard.packages", name, cls, distribution=distribution, version=version)

    def mixin(
        self,
        name: str,
        cls: type[T],
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> type[T]:
        """Register ``cls`` as mixin ``name`` (``dockyard.mixins``); returns ``cls``."""
        return self.add("dockyard.mixins", name, cls, distribution=distribution, version=version)

    def plugin(
        self,
        name: str,
        cls: type[T],
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> type[T]:
        """Register ``cls`` as plugin ``name`` (``dockyard.plugins``); returns ``cls``."""
        return self.add("dockyard.plugins", name, cls, distribution=distribution, version=version)

    def plugin_type(
        self,
        name: str,
        cls: type[T],
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> type[T]:
        """Register ``cls`` as plugin type ``name`` (``dockyard.plugin_types``); returns
        ``cls``."""
        return self.add(
            "dockyard.plugin_types", name, cls, distribution=distribution, version=version
        )

    def hooks(
        self, name: str, hooks: T, *, distribution: str | None = None, version: str | None = None
    ) -> T:
        """Register ``hooks`` (an object or module with ``@hookimpl`` s) as ``dockyard.hooks``
        entry point ``name``; returns ``hooks``."""
        return self.add("dockyard.hooks", name, hooks, distribution=distribution, version=version)

    def add(
        self,
        group: str,
        name: str,
        obj: T,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> T:
        """Register ``obj`` as entry point ``name`` in ``group`` of ``distribution``
        ``version`` (default: the registry's). Registering a (group, name) again in the
        same distribution replaces it; in another distribution, it is a second claim
        (which discovery reports as a duplicate, naming both). Nothing is checked here
        that discovery checks itself (names, kinds), so broken registrations can be
        tested too.

        :raises RuntimeError: the registry is closed.
        :raises ValueError: ``group`` or ``name`` cannot be written as an entry point.
        """
        if self.closed:
            raise RuntimeError("this ComponentRegistry is closed (its test is over)")
        for what, text in (("group", group), ("name", name)):
            if not text.strip() or any(c in text for c in "=[]\n\r") or text != text.strip():
                raise ValueError(f"{what} {text!r} cannot be an entry point's {what}")
        dist = (distribution or self.distribution, version or self.version)
        entries = self._distributions.setdefault(dist, {})
        stem = re.sub(r"\W+", "_", f"{group.rpartition('.')[2]}__{name}")
        attribute = stem
        counter = 1
        while attribute in self._attributes:
            counter += 1
            attribute = f"{stem}_{counter}"
        self._attributes[attribute] = obj
        entries[(group, name)] = attribute
        self._write(*dist)
        return obj

    def _write(self, distribution: str, version: str) -> None:
        entries = self._distributions[(distribution, version)]
        stem = f"{re.sub(r'[-_.]+', '_', distribution)}-{version}"
        info = self.directory / f"{stem}.dist-info"
        if not info.exists():
            info.mkdir()
            self._written.append(info)
        groups: dict[str, list[str]] = {}
        for (group, name), attribute in entries.items():
            groups.setdefault(group, []).append(f"{name} = {self.module}:{attribute}\n")
        files = {
            "METADATA": f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n",
            "entry_points.txt": "".join(
                f"[{group}]\n{''.join(lines)}\n" for group, lines in groups.items()
            ),
        }
        for filename, text in files.items():
            (info / filename).write_text(text)
        listed = [*files, "RECORD"]
        (info / "RECORD").write_text("".join(f"{info.name}/{f},,\n" for f in listed))
        # Finders cache directory listings: a dist-info made in the same clock tick as an
        # earlier listing would otherwise stay invisible.
        importlib.invalidate_caches()

    def close(self) -> None:
        """Undo every registration: ``sys.path``, ``sys.modules``, the files, the caches."""
        if self.closed:
            return
        self.closed = True
        if self._added_to_path:
            with contextlib.suppress(ValueError):
                sys.path.remove(self._path_entry)
        sys.path_importer_cache.pop(self._path_entry, None)
        sys.modules.pop(self.module, None)
        _REGISTERED.pop(self.module, None)
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
        else:
            for path in self._written:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            shutil.rmtree(self.directory / "__pycache__", ignore_errors=True)
        importlib.invalidate_caches()

    def __enter__(self) -> ComponentRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --- the pytest plugin (entry point pytest11: dockyard) -----------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - the helpers work without pytest
    pass
else:

    @pytest.fixture
    def make_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InstanceFactory]:
        """``make_instance(cls, config=None, *, handle=None, task_workers=2)``: an
        instance of a package, plugin or mixin class (or installed handle) on a real
        embedded store in a temporary ``$DOCKYARD_HOME`` of its own, created with
        ``config`` and initialised (``instance_init`` once); its ``invoke_later`` tasks
        run in-process. Returns the client's instance (``invoke(...)`` raises typed
        errors), with ``live`` (the object serving it, for direct calls) and ``client``.
        Everything is closed at teardown. See `InstanceFactory`."""
        factory = InstanceFactory(lambda: tmp_path_factory.mktemp("dockyard-instance"))
        try:
            yield factory
        finally:
            factory.close()

    @pytest.fixture
    def dockyard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
        """``dockyard_server(*targets, task_workers=2, workers=1, args=(), env=None)``: a
        live ``dockyard serve`` (targets: ``FILE.py:Class``, ``module:Class``, installed
        handles, or top-level classes) on a free port with a home of its own, returned
        once healthy: ``url``, ``api_key``, ``home``, a ready ``client``, ``use(...)``,
        ``log()``, ``stop()``. A server that fails to start raises `ServerStartError`
        with its log. Every server is stopped at teardown. See `ServerFactory`."""
        factory = ServerFactory(lambda: tmp_path_factory.mktemp("dockyard-server"))
        try:
            yield factory
        finally:
            factory.close()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A failed test that started servers shows their logs with its failure."""
        report = yield
        factory = getattr(item, "funcargs", {}).get("dockyard_server")
        if report.failed and isinstance(factory, ServerFactory):
            for server in factory.servers:
                report.sections.append((f"dockyard serve log ({server.url})", server.log()))
        return report

    @pytest.fixture
    def dockyard_register(
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[ComponentRegistry]:
        """Registers throwaway components for discovery, as if installed:
        ``dockyard_register.package("greeter", Greeter)``, ``.mixin(...)``,
        ``.plugin(...)``, ``.plugin_type(...)``, ``.hooks(...)`` (each with optional
        ``distribution=`` and ``version=``). Undone at teardown (``sys.path``,
        ``sys.modules``, import caches). See `ComponentRegistry`."""
        registry = ComponentRegistry(tmp_path_factory.mktemp("dockyard-registry"))
        try:
            yield registry
        finally:
            registry.close()
