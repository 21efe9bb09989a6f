"""The client: ``Dockyard().use(package, instance).invoke(method, **arguments)``.

With a server URL (``url=`` or ``DOCKYARD_URL``) calls go over HTTP; without one they
run in-process on the embedded store under ``$DOCKYARD_HOME`` with exactly the same
semantics (same instances, same validation, same errors). Errors raise the
`DockyardError` subclass matching the error's code.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import DockyardError, InternalError
from dockyard.plugins.handle import PluginCalls, plain_input

if TYPE_CHECKING:
    from dockyard.core.task import Task
    from dockyard.plugins.service import PluginService
    from dockyard.runtime import Runtime
    from dockyard.store import InstanceRecord
    from dockyard.tasks import TaskWorker

__all__ = [
    "LOCAL_USER",
    "Dockyard",
    "PackageInstance",
    "PluginInstance",
    "error_from_body",
    "read_credentials",
]

#: The user the embedded client (and a local server's first key) acts as.
LOCAL_USER = "local"


def dockyard_home(home: str | Path | None = None) -> Path:
    """``home``, else ``$DOCKYARD_HOME``, else ``./.dockyard``."""
    return Path(home or os.environ.get("DOCKYARD_HOME") or ".dockyard")


def read_credentials(home: str | Path | None = None) -> dict[str, str] | None:
    """The local server's credentials (``url``, ``api_key``, ``user``), if written."""
    path = dockyard_home(home) / "credentials"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _error_classes() -> dict[str, type[DockyardError]]:
    # Every error class Dockyard defines, by its code (imported here so all are loaded).
    import dockyard.core.discovery
    import dockyard.core.task
    import dockyard.mixins.errors
    import dockyard.plugins.errors
    import dockyard.runtime
    import dockyard.store
    import dockyard.store.tasks  # noqa: F401

    # Several classes may share a code (the runtime's and the store's
    # InstanceNotFoundError; a package's own subclass): the error the embedded client
    # raises must win, so Dockyard's API-level classes come first, then the store's,
    # then anyone else's; within a rank a parent beats its subclasses (breadth first).
    def rank(cls: type[DockyardError]) -> int:
        module = cls.__module__
        if module == "dockyard.store" or module.startswith("dockyard.store."):
            return 1
        return 0 if module == "dockyard" or module.startswith("dockyard.") else 2

    found: dict[str, type[DockyardError]] = {}
    seen: set[type[DockyardError]] = set()
    queue: list[type[DockyardError]] = [DockyardError]
    for cls in queue:  # grows as it goes: breadth first
        current = found.get(cls.default_code)
        if current is None or rank(cls) < rank(current):
            found[cls.default_code] = cls
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                queue.append(sub)
    return found


def error_from_body(status: int, body: bytes) -> DockyardError:
    """The `DockyardError` (subclass, by code) an HTTP error response describes."""
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        text = body[:200].decode("utf-8", "replace")
        return DockyardError(f"HTTP {status}: {text}", code="http_error", status=status)
    cls = _error_classes().get(code, DockyardError)
    exc = cls.__new__(cls)
    DockyardError.__init__(
        exc,
        message,
        code=code,
        status=status,
        suggestion=error.get("suggestion"),
        details=error.get("details"),
    )
    if isinstance(exc, InternalError):  # as raised in-process: the id is an attribute too
        details = exc.details if isinstance(exc.details, dict) else {}
        exc.error_id = str(details.get("error_id", ""))
    return exc


class PackageInstance:
    """One package instance, as the client sees it.

    Attributes:
        handle: the instance handle.
        workspace: its workspace handle.
        package: the package handle.
        version: the package version the instance records.
        config: its frozen config.
        invocation_url: its base URL (``{server}/{workspace}/{instance}/``; a
            ``local:`` URL in-process).
    """

    def __init__(self, client: Dockyard, data: Mapping[str, Any]) -> None:
        self._client = client
        self.handle: str = data["handle"]
        self.workspace: str = data["workspace"]
        self.package: str = data["package"]
        self.version: str = data["version"]
        self.config: dict[str, Any] = dict(data["config"])
        self.init_state: str = data["init_state"]
        self.invocation_url: str = data["invocation_url"]

    def __repr__(self) -> str:
        return f"<PackageInstance {self.workspace}/{self.handle} of {self.package} {self.version}>"

    def invoke(self, method: str, verb: str = "POST", **arguments: Any) -> Any:
        """Call ``method`` and return its unwrapped result (str, JSON value or bytes).

        :raises DockyardError: the subclass matching the error (ArgumentError for 422, ...).
        """
        return self._client._invoke(self, method, verb.upper(), arguments)

    def invoke_later(
        self,
        method: str,
        verb: str = "POST",
        wait_on_tasks: list[Task | str] | None = None,
        arguments: Mapping[str, Any] | None = None,
        delay_ms: int | None = None,
    ) -> Task:
        """Schedule ``method`` on this instance as a background task (as a package's own
        ``invoke_later`` does); returns the task (``wait()``, ``refresh()``, ``cancel()``).

        :raises RouteNotFoundError: no such route. :raises ArgumentError: bad arguments or
            delay. :raises TaskNotFoundError: a task waited on is not this instance's.
        """
        wait_on = [t if isinstance(t, str) else t.id for t in (wait_on_tasks or [])]
        return self._client._invoke_later(
            self, method, verb.upper(), wait_on, dict(arguments or {}), delay_ms
        )

    def get_task(self, task: str | Mapping[str, Any]) -> Task:
        """The task with this id (or the task a method returned as JSON), bound to this
        instance.

        :raises TaskNotFoundError: not a task of this instance.
        """
        task_id = task if isinstance(task, str) else str(task["id"])
        return self._client._task(self, task_id, cancel=False)

    def get_task_lookup(self) -> _InstanceTaskLookup:
        """What tasks of this instance refresh and cancel through."""
        return _InstanceTaskLookup(self)


class _InstanceTaskLookup:
    """Binds client tasks to their instance (a `TaskLookup`)."""

    def __init__(self, instance: PackageInstance) -> None:
        self._instance = instance

    def get_task(self, task_id: str) -> Task:
        return self._instance._client._task(self._instance, task_id, cancel=False)

    def cancel_task(self, task_id: str) -> Task:
        return self._instance._client._task(self._instance, task_id, cancel=True)


class PluginInstance(PackageInstance, PluginCalls):
    """One plugin instance, as the client sees it: ``run(input)`` and its plugin type's
    convenience (``tag``, ``blockify``, ``embed``, ``generate``, ``import_``), in-process or
    over HTTP alike; ``invoke`` works as for packages.

    Attributes:
        plugin_name: the plugin handle.
        plugin_type: the plugin type class, if installed here (else None: ``run`` then
            returns the output as plain JSON data, and the conveniences are unavailable).
        route: the plugin type's route (``"/tag"``).
    """

    def __init__(self, client: Dockyard, data: Mapping[str, Any]) -> None:
        super().__init__(client, data)
        self.plugin_name = str(data["plugin"])
        self.route: str | None = data.get("route")
        self.plugin_type = client._plugin_type(data)

    def __repr__(self) -> str:
        return (
            f"<PluginInstance {self.workspace}/{self.handle} of {self.plugin_name} {self.version}>"
        )

    def run(self, input: Any) -> Any:
        """Run the plugin on ``input`` (its input model, or a mapping of the fields).

        :returns: the output model (plain JSON data if the plugin type is not installed here).
        :raises ArgumentError: the input is invalid (422, naming the field).
        :raises PluginOutputError: the plugin returned the wrong shape (500).
        """
        if self.route is None:
            raise DockyardError(
                f"plugin {self.plugin_name} of instance {self.workspace}/{self.handle} is not "
                "installed on the server",
                code="plugin_not_installed",
                status=404,
                suggestion=f"install the distribution providing {self.plugin_name} there",
            )
        fields = plain_input(input, f"plugin {self.plugin_name}")
        result = self.invoke(self.route, **fields)
        if self.plugin_type is None:
            return result
        return self.plugin_type.output_model.model_validate(result)


class Dockyard:
    """The Dockyard client.

    :param url: the server URL (default ``$DOCKYARD_URL``; none: in-process, embedded).
    :param api_key: the API key (default ``$DOCKYARD_API_KEY``, else the local server's
        credentials file when the URL is the one it records).
    :param home: the state directory (default ``$DOCKYARD_HOME`` or ``./.dockyard``).
    :param timeout: seconds to wait for an HTTP response.
    :param task_workers: threads running background tasks in-process (embedded mode; 0:
        none, tasks then run wherever a ``dockyard serve`` or ``dockyard worker`` does;
        ignored with ``DOCKYARD_TASKS_URL`` set: ``dockyard worker`` processes run them).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        home: str | Path | None = None,
        timeout: float = 60.0,
        task_workers: int = 2,
    ) -> None:
        self.url = (url or os.environ.get("DOCKYARD_URL") or "").rstrip("/") or None
        self.home = dockyard_home(home)
        self.timeout = timeout
        key = api_key or os.environ.get("DOCKYARD_API_KEY")
        if self.url is not None and key is None:
            credentials = read_credentials(self.home)
            if credentials and credentials.get("url", "").rstrip("/") == self.url:
                key = credentials.get("api_key")
        self.api_key = key
        self._runtime: Runtime | None = None
        self._worker: TaskWorker | None = None
        self.task_workers = task_workers
        self._plugin_types: dict[str, type[PluginService[Any, Any]]] | None = None

    def __repr__(self) -> str:
        return f"<Dockyard {self.url or f'embedded at {self.home}'}>"

    # --- embedded ------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        """The in-process runtime (embedded mode only; made on first use)."""
        if self._runtime is None:
            from dockyard.runtime import Runtime
            from dockyard.store import Store
            from dockyard.tasks.backend import attach_backend

            store = Store(home=self.home)
            store.ensure_user(LOCAL_USER)
            distributed = attach_backend(store)  # DOCKYARD_TASKS_URL: tasks run in workers
            self._runtime = Runtime(store)
            if self.task_workers and not distributed:
                from dockyard.tasks import TaskWorker

                self._worker = TaskWorker(self._runtime, threads=self.task_workers).start()
        return self._runtime

    def close(self) -> None:
        """Stop the task workers and release the embedded store (if one was opened)."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._runtime is not None:
            self._runtime.store.close()
            self._runtime = None

    def __enter__(self) -> Dockyard:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _local_dict(self, record: InstanceRecord) -> dict[str, Any]:
        return {
            **self.runtime.describe(record.package),
            "handle": record.handle,
            "workspace": record.workspace,
            "package": record.package,
            "version": record.version,
            "config": record.config,
            "init_state": record.init_state,
            "invocation_url": f"local:{record.workspace}/{record.handle}/",
        }

    def _instance(self, data: Mapping[str, Any]) -> PackageInstance:
        if data.get("kind") == "plugin":
            return PluginInstance(self, data)
        return PackageInstance(self, data)

    def _plugin_type(self, data: Mapping[str, Any]) -> type[PluginService[Any, Any]] | None:
        """The plugin type class of a plugin instance, if it is installed here."""
        if self.url is None:
            from dockyard.plugins.service import PluginService

            try:
                cls, _ = self.runtime.plugin(data["plugin"])
            except DockyardError:
                return None
            return cls.plugin_type if issubclass(cls, PluginService) else None
        name = data.get("plugin_type")
        if not isinstance(name, str):
            return None
        if self._plugin_types is None:
            # Found by the entry-point name the server reports, among the plugin types
            # installed here: nothing is imported because a server named it.
            from dockyard.core.discovery import Discovery

            self._plugin_types = dict(Discovery(groups=("dockyard.plugin_types",)).plugin_types())
        return self._plugin_types.get(name)

    # --- HTTP ----------------------------------------------------------------------

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, query: str = ""
    ) -> tuple[bytes, str]:
        assert self.url is not None
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise error_from_body(exc.code, exc.read()) from None
        except urllib.error.URLError as exc:
            raise DockyardError(
                f"cannot reach the Dockyard server at {self.url}: {exc.reason}",
                code="unreachable",
                status=503,
                suggestion="start it with 'dockyard serve', or unset DOCKYARD_URL to run embedded",
            ) from None

    # --- the API -------------------------------------------------------------------

    def use(
        self,
        package_handle: str,
        instance_handle: str | None = None,
        version: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        workspace: str | None = None,
    ) -> PackageInstance:
        """The instance ``instance_handle`` of package ``package_handle`` (created, with
        ``config``, and initialised on first use; the same instance after that).

        :raises InstanceConflictError: 409 if it exists with another package, version or config.
        :raises ConfigError: 422 listing every bad config field.
        """
        return self._use("package", package_handle, instance_handle, version, config, workspace)

    def use_plugin(
        self,
        plugin_handle: str,
        instance_handle: str | None = None,
        version: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        workspace: str | None = None,
    ) -> PluginInstance:
        """The instance ``instance_handle`` (default: the plugin handle) of plugin
        ``plugin_handle``, created with ``config`` on first use; like `use`.

        :raises ComponentNotFoundError: no such plugin installed (listing those that are).
        :raises InstanceConflictError: 409 if it exists with another component or config.
        :raises ConfigError: 422 listing every bad config field.
        """
        instance = self._use("plugin", plugin_handle, instance_handle, version, config, workspace)
        assert isinstance(instance, PluginInstance)
        return instance

    def _use(
        self,
        kind: str,
        handle: str,
        instance_handle: str | None,
        version: str | None,
        config: Mapping[str, Any] | None,
        workspace: str | None,
    ) -> PackageInstance:
        if self.url is None:
            record = self.runtime.use(
                LOCAL_USER,
                handle,
                instance_handle,
                workspace=workspace,
                version=version,
                config=config,
                kind=kind,
            )
            return self._instance(self._local_dict(record))
        body = {
            kind: handle,
            "instance": instance_handle,
            "workspace": workspace,
            "version": version,
            "config": dict(config) if config is not None else None,
        }
        raw, _ = self._request("POST", "/__api__/instances", body)
        return self._instance(json.loads(raw))

    def instances(self) -> list[PackageInstance]:
        """The caller's instances."""
        if self.url is None:
            records = self.runtime.store.list_instances(LOCAL_USER)
            return [self._instance(self._local_dict(r)) for r in records]
        raw, _ = self._request("GET", "/__api__/instances")
        return [self._instance(item) for item in json.loads(raw)]

    def delete(self, instance: PackageInstance) -> None:
        """Delete ``instance`` and its data."""
        if self.url is None:
            self.runtime.delete(LOCAL_USER, instance.workspace, instance.handle)
            return
        self._request("DELETE", f"/__api__/instances/{instance.workspace}/{instance.handle}")

    def _instance_path(self, instance: PackageInstance) -> str:
        return f"/{instance.workspace}/{instance.handle}"

    def _invoke_later(
        self,
        instance: PackageInstance,
        method: str,
        verb: str,
        wait_on: list[str],
        arguments: dict[str, Any],
        delay_ms: int | None,
    ) -> Task:
        from dockyard.core.task import Task

        if self.url is None:
            live = self.runtime.live(instance.workspace, instance.handle)
            task = live.invocable.invoke_later(method, verb, list(wait_on), arguments, delay_ms)
        else:
            body = {
                "method": method,
                "verb": verb,
                "arguments": arguments,
                "wait_on_tasks": wait_on,
                "delay_ms": delay_ms,
            }
            raw, _ = self._request("POST", f"{self._instance_path(instance)}/__tasks__", body)
            task = Task.model_validate_json(raw)
        return task.bind(instance.get_task_lookup())

    def _task(self, instance: PackageInstance, task_id: str, *, cancel: bool) -> Task:
        from dockyard.core.task import Task

        if self.url is None:
            tasks = self.runtime.tasks_of(instance.workspace, instance.handle)
            task = tasks.cancel_task(task_id) if cancel else tasks.get_task(task_id)
        else:
            path = f"{self._instance_path(instance)}/__tasks__/{urllib.parse.quote(task_id)}"
            if cancel:
                raw, _ = self._request("POST", f"{path}/cancel", {})
            else:
                raw, _ = self._request("GET", path)
            task = Task.model_validate_json(raw)
        return task.bind(instance.get_task_lookup())

    def _invoke(
        self, instance: PackageInstance, method: str, verb: str, arguments: Mapping[str, Any]
    ) -> Any:
        if self.url is None:
            response = self.runtime.invoke(
                LOCAL_USER, instance.workspace, instance.handle, verb, method, arguments
            )
            if response.error is not None:
                raise response.error
            return response.data
        # Route paths may hold any character: quote them for the URL (the server
        # decodes them back); the route's own slashes stay.
        quoted = urllib.parse.quote(method.strip().strip("/"), safe="/")
        path = f"/{instance.workspace}/{instance.handle}/{quoted}"
        if verb == "GET":
            query = urllib.parse.urlencode(
                {k: v if isinstance(v, str) else json.dumps(v) for k, v in arguments.items()}
            )
            raw, content_type = self._request("GET", path, query=query)
        else:
            raw, content_type = self._request(verb, path, dict(arguments))
        if content_type.startswith("application/json"):
            return json.loads(raw)
        if content_type.startswith("text/"):
            return raw.decode("utf-8")
        return raw
