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

if TYPE_CHECKING:
    from dockyard.runtime import Runtime
    from dockyard.store import InstanceRecord

__all__ = ["LOCAL_USER", "Dockyard", "PackageInstance", "error_from_body", "read_credentials"]

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
    import dockyard.runtime
    import dockyard.store  # noqa: F401

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


class Dockyard:
    """The Dockyard client.

    :param url: the server URL (default ``$DOCKYARD_URL``; none: in-process, embedded).
    :param api_key: the API key (default ``$DOCKYARD_API_KEY``, else the local server's
        credentials file when the URL is the one it records).
    :param home: the state directory (default ``$DOCKYARD_HOME`` or ``./.dockyard``).
    :param timeout: seconds to wait for an HTTP response.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        home: str | Path | None = None,
        timeout: float = 60.0,
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

    def __repr__(self) -> str:
        return f"<Dockyard {self.url or f'embedded at {self.home}'}>"

    # --- embedded ------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        """The in-process runtime (embedded mode only; made on first use)."""
        if self._runtime is None:
            from dockyard.runtime import Runtime
            from dockyard.store import Store

            store = Store(home=self.home)
            store.ensure_user(LOCAL_USER)
            self._runtime = Runtime(store)
        return self._runtime

    def close(self) -> None:
        """Release the embedded store (if one was opened)."""
        if self._runtime is not None:
            self._runtime.store.close()
            self._runtime = None

    def __enter__(self) -> Dockyard:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _local_dict(self, record: InstanceRecord) -> dict[str, Any]:
        return {
            "handle": record.handle,
            "workspace": record.workspace,
            "package": record.package,
            "version": record.version,
            "config": record.config,
            "init_state": record.init_state,
            "invocation_url": f"local:{record.workspace}/{record.handle}/",
        }

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
        if self.url is None:
            record = self.runtime.use(
                LOCAL_USER,
                package_handle,
                instance_handle,
                workspace=workspace,
                version=version,
                config=config,
            )
            return PackageInstance(self, self._local_dict(record))
        body = {
            "package": package_handle,
            "instance": instance_handle,
            "workspace": workspace,
            "version": version,
            "config": dict(config) if config is not None else None,
        }
        raw, _ = self._request("POST", "/__api__/instances", body)
        return PackageInstance(self, json.loads(raw))

    def instances(self) -> list[PackageInstance]:
        """The caller's instances."""
        if self.url is None:
            records = self.runtime.store.list_instances(LOCAL_USER)
            return [PackageInstance(self, self._local_dict(r)) for r in records]
        raw, _ = self._request("GET", "/__api__/instances")
        return [PackageInstance(self, item) for item in json.loads(raw)]

    def delete(self, instance: PackageInstance) -> None:
        """Delete ``instance`` and its data."""
        if self.url is None:
            self.runtime.delete(LOCAL_USER, instance.workspace, instance.handle)
            return
        self._request("DELETE", f"/__api__/instances/{instance.workspace}/{instance.handle}")

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
