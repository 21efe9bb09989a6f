"""`Runtime`: persistent package instances over a store — the server and the embedded client.

``use`` creates an instance on first call (its config validated and frozen, its
``instance_init`` run ONCE, its state recorded) and returns the same instance after
that, also across restarts. ``invoke`` resolves an instance from a bounded LRU cache
of live objects (a dict lookup; nothing is rebuilt per request), checks who may call
it, and dispatches with the request's context.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dockyard.core.config import validate_config
from dockyard.core.discovery import ComponentNotFoundError, distribution_of, is_handle
from dockyard.core.engine import Engine
from dockyard.core.errors import DockyardError, InvocationError
from dockyard.core.request import (
    REQUEST_CONTEXT,
    InvocableRequest,
    Invocation,
    InvocationContext,
)
from dockyard.core.response import InvocableResponse
from dockyard.core.routes import Verb, normalize_path
from dockyard.core.service import Invocable
from dockyard.plugins.service import PluginService
from dockyard.store import InstanceExistsError, InstanceRecord, InvalidHandleError, Store
from dockyard.store.tasks import TaskRecord
from dockyard.tasks.embedded import InstanceTasks

__all__ = [
    "PLUGIN_PREFIX",
    "InstanceConflictError",
    "InstanceInitError",
    "InstanceNotFoundError",
    "LiveInstance",
    "Runtime",
    "package_handle_for",
    "split_ref",
]

logger = logging.getLogger("dockyard")

#: How long `use` waits for another process that is running the same instance_init.
INIT_WAIT_SECONDS = 60.0


class InstanceNotFoundError(InvocationError, LookupError):
    """No instance with that handle is visible to the caller."""

    default_code = "instance_not_found"
    default_status = 404


class InstanceConflictError(DockyardError, ValueError):
    """An existing instance differs from what was asked (package, version or config)."""

    default_code = "instance_conflict"
    default_status = 409


class InstanceInitError(DockyardError, RuntimeError):
    """``instance_init`` failed (it is retried on the next ``use``)."""

    default_code = "instance_init_failed"
    default_status = 500


#: How an instance record names a plugin (a package is named by its bare handle).
PLUGIN_PREFIX = "plugin:"


def split_ref(ref: str) -> tuple[str, str]:
    """``"hello"`` -> ``("package", "hello")``; ``"plugin:regex-tagger"`` ->
    ``("plugin", "regex-tagger")``."""
    if ref.startswith(PLUGIN_PREFIX):
        return "plugin", ref[len(PLUGIN_PREFIX) :]
    return "package", ref


def package_handle_for(cls: type) -> str:
    """The handle a package class is served under when not installed: ``MyPackage`` ->
    ``my-package``."""
    out: list[str] = []
    for i, char in enumerate(cls.__name__):
        if char.isupper() and i and not cls.__name__[i - 1].isupper():
            out.append("-")
        out.append(char.lower() if char.isalnum() else "-")
    return "-".join(part for part in "".join(out).split("-") if part)[:64] or "package"


@dataclass(frozen=True)
class LiveInstance:
    """A constructed instance with the record it was built from."""

    record: InstanceRecord
    invocable: Invocable


def _config_difference(stored: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(given))
    return [k for k in keys if stored.get(k) != given.get(k)]


class Runtime:
    """Persistent instances of packages, over a `Store`.

    :param store: where instances, keys and data live.
    :param engine: installed components and hooks (default: a new `Engine`).
    :param packages: package classes served by handle besides the installed ones
        (``dockyard serve file.py:Class``); they take precedence.
    :param cache_size: how many live instances are kept (least recently used go first).
    """

    def __init__(
        self,
        store: Store,
        engine: Engine | None = None,
        *,
        packages: Mapping[str, type[Invocable]] | None = None,
        cache_size: int = 1024,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.store = store
        self.engine = engine if engine is not None else Engine()
        self.packages: dict[str, type[Invocable]] = dict(packages or {})
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], LiveInstance] = OrderedDict()
        self._resolved: dict[str, tuple[type[Invocable], str]] = {}
        self._type_names: dict[type, str] | None = None
        # instance id -> (workspace, handle), for running tasks (ids are never reused).
        self._task_instances: dict[int, tuple[str, str]] = {}
        self._lock = threading.Lock()

    # --- packages ------------------------------------------------------------------

    def package(self, handle: str) -> tuple[type[Invocable], str]:
        """The class served as package ``handle``, and its version.

        :raises ComponentNotFoundError: listing what is served and installed.
        """
        return self._resolve("package", handle)

    def plugin(self, handle: str) -> tuple[type[Invocable], str]:
        """The class served as plugin ``handle``, and its version.

        :raises ComponentNotFoundError: listing the plugins served and installed.
        """
        return self._resolve("plugin", handle)

    def component(self, ref: str) -> tuple[type[Invocable], str]:
        """The class an instance record names (``hello`` or ``plugin:regex-tagger``)."""
        kind, handle = split_ref(ref)
        return self._resolve(kind, handle)

    def _resolve(self, kind: str, handle: str) -> tuple[type[Invocable], str]:
        ref = handle if kind == "package" else f"{PLUGIN_PREFIX}{handle}"
        served = self.packages.get(handle)
        if served is not None and issubclass(served, PluginService) != (kind == "plugin"):
            served = None  # served as the other kind
        resolved = self._resolved.get(ref)
        # Resolving reads distribution metadata: do it once per handle, not per build.
        if resolved is not None and (served is None or resolved[0] is served):
            return resolved
        group = "dockyard.packages" if kind == "package" else "dockyard.plugins"
        cls = served
        if cls is None:
            try:
                if kind == "package":
                    cls = self.engine.package_class(handle)
                else:
                    cls = self.engine.plugin_class(handle)
            except ComponentNotFoundError as exc:
                raise self._not_found(kind, handle) from exc
        resolved = (cls, self._version_of(handle, cls, group, served is not None))
        self._resolved[ref] = resolved
        return resolved

    def describe(self, ref: str) -> dict[str, Any]:
        """What a client needs to know about the component an instance runs:
        ``{"kind": "package"}``, or for a plugin ``{"kind": "plugin", "plugin": handle,
        "plugin_type": <its dockyard.plugin_types name, or None>, "route": "/tag"}``."""
        kind, handle = split_ref(ref)
        if kind == "package":
            return {"kind": "package"}
        described: dict[str, Any] = {
            "kind": "plugin",
            "plugin": handle,
            "plugin_type": None,
            "route": None,
        }
        try:
            cls, _ = self.plugin(handle)
        except DockyardError:
            return described  # uninstalled since: the instance answers 404s; say what we know
        if issubclass(cls, PluginService):
            described["route"] = cls.plugin_route
            described["plugin_type"] = self._plugin_type_name(cls.plugin_type)
        return described

    def _plugin_type_name(self, plugin_type: type) -> str | None:
        names = self._type_names
        if names is None:
            names = {cls: name for name, cls in self.engine.discovery.plugin_types().items()}
            self._type_names = names
        return names.get(plugin_type)

    def _not_found(self, kind: str, handle: str) -> ComponentNotFoundError:
        def available(want_plugin: bool) -> list[str]:
            group = "dockyard.plugins" if want_plugin else "dockyard.packages"
            served = [
                h for h, c in self.packages.items() if issubclass(c, PluginService) is want_plugin
            ]
            return sorted({*served, *self.engine.discovery.names(group)})

        mine, other = available(kind == "plugin"), available(kind != "plugin")
        suggestion = f"use one of: {', '.join(mine) or 'none'}"
        if handle in other:
            # The right name, the wrong call: say which call it takes.
            call = "use_plugin" if kind == "package" else "use"
            other_kind = "plugin" if kind == "package" else "package"
            suggestion = f"{handle} is a {other_kind}: call {call}({handle!r}) instead"
        return ComponentNotFoundError(
            f"no {kind} {handle!r} is served or installed",
            suggestion=suggestion,
            details={kind: handle, "available": mine},
        )

    def _version_of(self, handle: str, cls: type, group: str, served: bool) -> str:
        if not served:
            for component in self.engine.discovery.components(group):
                if component.name == handle:
                    return component.provenance.version
        origin = distribution_of(cls)
        return origin.rpartition(" ")[2] if origin else "0+local"

    # --- instances -----------------------------------------------------------------

    def use(
        self,
        user: str,
        package: str,
        instance: str | None = None,
        *,
        workspace: str | None = None,
        version: str | None = None,
        config: Mapping[str, Any] | None = None,
        kind: str = "package",
    ) -> InstanceRecord:
        """The instance ``workspace/instance`` of ``package``, created (and initialised) on
        first use.

        :param user: the caller (owner of a new instance).
        :param package: the package handle (with ``kind="plugin"``: the plugin handle).
        :param instance: the instance handle (default: the package handle).
        :param workspace: the workspace handle (default: the instance handle).
        :param version: pin: must equal the installed version (and the instance's).
        :param config: the config of a new instance; for an existing one, must match
            (None: take the instance as it is).
        :raises InstanceConflictError: 409 naming what differs.
        :raises ConfigError: 422 listing every bad config field.
        :raises InvalidHandleError: 422 for a malformed package, instance or workspace handle.
        :param kind: ``"package"`` or ``"plugin"``; a plugin instance's record names its
            component ``plugin:<handle>``.
        :raises InstanceInitError: instance_init failed (retried on the next use).
        """
        if kind not in ("package", "plugin"):
            raise ValueError(f"kind must be 'package' or 'plugin', not {kind!r}")
        instance = instance or package
        workspace = workspace or instance
        for what, value in (("package", package), ("instance", instance), ("workspace", workspace)):
            if not is_handle(value):
                # The store's class: the same error in-process and over HTTP (where the
                # client maps the code back to a class).
                raise InvalidHandleError(what, value)
        cls, installed = self._resolve(kind, package)
        ref = package if kind == "package" else f"{PLUGIN_PREFIX}{package}"
        if version is not None and version != installed:
            raise InstanceConflictError(
                f"{kind} {package} version {version} is not installed (installed: {installed})",
                suggestion=f"install {package}=={version}, or drop the version pin",
                details={"asked": version, "installed": installed},
            )
        model = cls.spec.config_model
        frozen: dict[str, Any] | None = None
        if config is not None or self.store.get_instance(workspace, instance) is None:
            validated = (
                validate_config(model, config or {}, owner=f"{kind} {package}") if model else None
            )
            frozen = validated.model_dump(mode="json") if validated is not None else {}
        record = self.store.get_instance(workspace, instance)
        if record is None:
            try:
                record = self.store.create_instance(
                    owner=user,
                    workspace=workspace,
                    handle=instance,
                    package=ref,
                    version=installed,
                    config=frozen or {},
                )
            except InstanceExistsError as exc:  # created concurrently: compare with it
                record = exc.existing
        self._check_same(record, user, ref, version, frozen)
        if record.init_state != "ready":
            record = self._initialise(record)
        return record

    def _check_same(
        self,
        record: InstanceRecord,
        user: str,
        package: str,
        version: str | None,
        frozen: Mapping[str, Any] | None,
    ) -> None:
        name = f"{record.workspace}/{record.handle}"
        if record.owner != user:
            raise InstanceConflictError(
                f"instance handle {name} is taken",
                suggestion="choose another instance (or workspace) handle",
            )
        if record.package != package:
            have, want = (" ".join(split_ref(r)) for r in (record.package, package))
            raise InstanceConflictError(
                f"instance {name} is an instance of {have}, not {want}",
                suggestion="choose another instance handle",
                details={"existing": record.package, "asked": package},
            )
        if version is not None and record.version != version:
            raise InstanceConflictError(
                f"instance {name} runs {record.package} {record.version}, not {version}",
                suggestion="drop the version pin, or use a new instance handle",
                details={"existing": record.version, "asked": version},
            )
        if frozen is not None and dict(frozen) != record.config:
            differing = _config_difference(record.config, frozen)
            raise InstanceConflictError(
                f"instance {name} exists with a different config: {', '.join(differing)} differ",
                suggestion="use the instance without config (or with its own), or use a new "
                "instance handle for a new config",
                details={
                    "differing": differing,
                    "existing": {k: record.config.get(k) for k in differing},
                    "asked": {k: frozen.get(k) for k in differing},
                },
            )

    def _initialise(self, record: InstanceRecord) -> InstanceRecord:
        deadline = time.monotonic() + INIT_WAIT_SECONDS
        while True:
            if self.store.claim_init(record.id):
                # Not cached until its init succeeds: requests meanwhile see the record's
                # state ("initializing"), never a half-initialised instance.
                self._forget(record)
                try:
                    # Building is part of it: a constructor that fails must not leave
                    # the claim standing (every later use would wait for it). The claim
                    # is renewed while it runs: if this process dies (kill -9), the claim
                    # lapses and the next use re-runs instance_init.
                    with self._renewing_init_claim(record):
                        live = self._build(record, cache=False)
                        live.invocable.instance_init()
                except Exception as exc:
                    error_id = uuid.uuid4().hex[:16]
                    logger.exception(
                        "instance_init of %s/%s failed [error id %s]",
                        record.workspace,
                        record.handle,
                        error_id,
                    )
                    # A DockyardError is meant for the caller; anything else stays in the log.
                    said = f": {exc.message}" if isinstance(exc, DockyardError) else ""
                    self.store.finish_init(record.id, f"failed{said} (error id {error_id})")
                    raise InstanceInitError(
                        f"instance_init of {record.workspace}/{record.handle} failed{said}; "
                        f"error id {error_id}",
                        suggestion="fix the cause (see the server log for the error id); "
                        "the next use retries it",
                        details={"error_id": error_id},
                    ) from None
                ready = self.store.finish_init(record.id, None)
                self._remember(LiveInstance(ready, live.invocable))
                return ready
            current = self.store.get_instance(record.workspace, record.handle)
            if current is None:
                raise InstanceNotFoundError(f"instance {record.workspace}/{record.handle} vanished")
            if current.init_state == "ready":
                return current
            if time.monotonic() > deadline:
                raise InstanceInitError(
                    f"instance {record.workspace}/{record.handle} is still initialising elsewhere",
                    suggestion="retry shortly",
                )
            time.sleep(0.05)

    @contextmanager
    def _renewing_init_claim(self, record: InstanceRecord) -> Iterator[None]:
        stop = threading.Event()
        interval = max(self.store.init_stale_after / 4, 0.1)

        def heartbeat() -> None:
            while not stop.wait(interval):
                try:
                    self.store.renew_init(record.id)
                except Exception as exc:  # the next beat tries again
                    logger.warning(
                        "renewing the init claim of %s/%s failed: %s",
                        record.workspace,
                        record.handle,
                        exc,
                    )

        thread = threading.Thread(target=heartbeat, name=f"dockyard-init-{record.id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def delete(self, user: str, workspace: str, instance: str) -> bool:
        """Delete an instance of ``user`` and its data; whether it existed."""
        record = self.store.get_instance(workspace, instance)
        if record is not None:
            self._forget(record)
        return self.store.delete_instance(user, workspace, instance)

    # --- live instances ------------------------------------------------------------

    def _build(self, record: InstanceRecord, *, cache: bool = True) -> LiveInstance:
        cls, _ = self.component(record.package)
        context = InvocationContext(
            instance_handle=record.handle,
            workspace_handle=record.workspace,
            package_handle=record.package,
            user=record.owner,
        )
        invocable = self.engine.create(cls, config=record.config, context=context)
        invocable.attach_storage(self.store.storage(record.id))
        invocable.attach_tasks(InstanceTasks(self.store.tasks, record.id, record.owner))
        live = LiveInstance(record, invocable)
        if cache:
            self._remember(live)
        return live

    def _remember(self, live: LiveInstance) -> None:
        key = (live.record.workspace, live.record.handle)
        with self._lock:
            self._cache[key] = live
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _forget(self, record: InstanceRecord) -> None:
        with self._lock:
            self._cache.pop((record.workspace, record.handle), None)

    def live(self, workspace: str, instance: str) -> LiveInstance:
        """The live instance ``workspace/instance`` (from the cache; built on a miss).

        :raises InstanceNotFoundError: if there is no such instance.
        :raises InstanceInitError: if it is not initialised (use() initialises it).
        """
        key = (workspace, instance)
        with self._lock:
            live = self._cache.get(key)
            if live is not None:
                self._cache.move_to_end(key)
        if live is not None:
            # Another worker process may have deleted (or deleted and re-created) it.
            if self.store.instance_exists(live.record.id):
                return live
            self._forget(live.record)
        record = self.store.get_instance(workspace, instance)
        if record is None:
            raise InstanceNotFoundError(
                f"no instance {workspace}/{instance}",
                suggestion="create it with Dockyard().use(package, instance) or POST "
                "/__api__/instances",
            )
        if record.init_state != "ready":
            reason = f" ({record.init_error})" if record.init_error else ""
            raise InstanceInitError(
                f"instance {workspace}/{instance} is not ready: {record.init_state}{reason}",
                suggestion="call use() again to (re)run its instance_init",
                status=409,
            )
        return self._build(record)

    def run_task(self, task: TaskRecord) -> InvocableResponse:
        """Run a claimed task on its instance, as its owner, with the task id in the
        context; errors come back in the response."""
        handles = self._task_instances.get(task.instance_id)
        if handles is None:
            found = self.store.get_instance_by_id(task.instance_id)
            if found is None:
                return InvocableResponse.from_error(
                    InstanceNotFoundError(f"the instance of task {task.id} was deleted")
                )
            handles = self._task_instances[task.instance_id] = (found.workspace, found.handle)
        try:
            # live() checks the instance still exists (and is this one: ids never repeat).
            live = self.live(*handles)
        except DockyardError as exc:
            return InvocableResponse.from_error(exc)
        record = live.record
        if record.id != task.instance_id:  # deleted, and the handles re-used since
            return InvocableResponse.from_error(
                InstanceNotFoundError(f"the instance of task {task.id} was deleted")
            )
        context = InvocationContext(
            instance_handle=record.handle,
            workspace_handle=record.workspace,
            package_handle=record.package,
            user=task.scheduled_by or record.owner,
            request_id=f"task-{task.id}",
            task_id=task.id,
        )
        token = REQUEST_CONTEXT.set(context)
        try:
            return live.invocable(
                InvocableRequest(
                    invocation=Invocation(
                        http_verb=task.verb,
                        invocation_path=task.method,
                        arguments=dict(task.arguments),
                    ),
                    context=context,
                )
            )
        finally:
            REQUEST_CONTEXT.reset(token)

    def tasks_of(self, workspace: str, instance: str) -> InstanceTasks:
        """The task door of instance ``workspace/instance``.

        :raises InstanceNotFoundError: no such instance.
        """
        record = self.store.get_instance(workspace, instance)
        if record is None:
            raise InstanceNotFoundError(f"no instance {workspace}/{instance}")
        return InstanceTasks(self.store.tasks, record.id, record.owner)

    def cached(self) -> int:
        """How many live instances are cached."""
        return len(self._cache)

    def invoke(
        self,
        user: str | None,
        workspace: str,
        instance: str,
        verb: str,
        method: str,
        arguments: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        invocation_url: str | None = None,
        request_id: str | None = None,
    ) -> InvocableResponse:
        """Dispatch one call; errors come back in the response (404 for an instance the
        caller may not see, 401 for a non-public route without a user).

        :param user: the authenticated caller, or None (only public routes then).
        :param headers: the request headers for ``self.context.headers``, passed as given
            (a read-only mapping; not copied).
        """
        try:
            # Hooks and checks see the path as the spec names it ("/foo" whether "foo",
            # "/foo/" or " foo" was asked), so none of them can be side-stepped.
            try:
                path = normalize_path(method)
            except ValueError:
                path = method  # dispatch answers 404 for it
            if path == "/__instance_init__":
                raise DockyardError(
                    "instance_init runs once, when the instance is created; it cannot be invoked",
                    code="forbidden",
                    status=403,
                    suggestion="call use() to (re)run a failed instance_init",
                )
            try:
                live = self.live(workspace, instance)
            except InstanceInitError:
                # Not ready: only its owner may learn that (anyone else: not found).
                found = self.store.get_instance(workspace, instance)
                if user is not None and found is not None and found.owner == user:
                    raise
                raise InstanceNotFoundError(f"no instance {workspace}/{instance}") from None
            record = live.record
            try:
                spec_method = live.invocable.spec.get_method(Verb.parse(verb), path)
            except ValueError:
                spec_method = None
            public = spec_method is not None and spec_method.public
            if not public:
                if user is None:
                    raise DockyardError(
                        "an API key is required",
                        code="unauthorized",
                        status=401,
                        suggestion="send Authorization: Bearer <key> (dockyard keys create)",
                    )
                if record.owner != user:
                    raise InstanceNotFoundError(f"no instance {workspace}/{instance}")
        except DockyardError as exc:
            if user is None and isinstance(exc, InstanceNotFoundError):
                exc = DockyardError(
                    "an API key is required",
                    code="unauthorized",
                    status=401,
                    suggestion="send Authorization: Bearer <key> (dockyard keys create)",
                )
            return InvocableResponse.from_error(exc)
        context = InvocationContext(
            instance_handle=record.handle,
            workspace_handle=record.workspace,
            package_handle=record.package,
            user=user,
            request_id=request_id or uuid.uuid4().hex,
            invocation_url=invocation_url,
            headers=headers if headers is not None else {},
        )
        token = REQUEST_CONTEXT.set(context)
        try:
            return live.invocable(
                InvocableRequest(
                    invocation=Invocation(
                        http_verb=verb, invocation_path=path, arguments=dict(arguments)
                    ),
                    context=context,
                )
            )
        finally:
            REQUEST_CONTEXT.reset(token)
