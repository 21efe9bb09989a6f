"""Acceptance of issue 4 over REAL HTTP: `dockyard serve` runs in a subprocess on a free
loopback port and every check goes through a socket (urllib, http.client, the client,
the CLI), never through Flask's test client.

The packages served are in ``packages/kit.py``: ``Hello`` (the seed example plus storage,
context, a public route and failure modes) is served as ``hello`` and ``Flaky`` (an
``instance_init`` that fails once) as ``flaky``; ``Miscounted`` (a deliberately broken
tagger plugin) as ``miscounted``. Dockyard's shipped plugins are installed, so served too.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from dockyard import (
    ArgumentError,
    ConfigError,
    DockyardError,
    InternalError,
    MethodNotAllowedError,
    RouteNotFoundError,
    __version__,
)
from dockyard.cli import cli
from dockyard.client import Dockyard, PluginInstance
from dockyard.plugins import Block, File
from dockyard.runtime import InstanceConflictError, InstanceInitError, InstanceNotFoundError
from dockyard.store import InvalidHandleError

if TYPE_CHECKING:
    from conftest import DistFactory

KIT = Path(__file__).resolve().parent / "packages" / "kit.py"
TARGETS = (f"{KIT}:Hello", f"{KIT}:Flaky", f"{KIT}:Miscounted")
DOCKYARD = shutil.which("dockyard", path=str(Path(sys.executable).parent))
START_TIMEOUT = 30.0
ERROR_ID = re.compile(r"^[0-9a-f]{16}$")
SERVER_ENV_DROPPED = ("DOCKYARD_URL", "DOCKYARD_API_KEY", "DOCKYARD_DATABASE_URL")

pytestmark = pytest.mark.skipif(DOCKYARD is None, reason="the dockyard console script is missing")


def fresh(prefix: str = "i") -> str:
    """A handle no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_DROPPED}
    env["DOCKYARD_HOME"] = str(home)
    return env


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``dockyard`` console script with ``$DOCKYARD_HOME`` = ``home``."""
    assert DOCKYARD is not None
    return subprocess.run(
        [DOCKYARD, *args],
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        assert self.headers["content-type"].startswith("application/json"), self
        error: dict[str, Any] = self.json()["error"]
        assert set(error) == {"code", "message", "suggestion", "details"}
        return error

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


_LOCAL = object()  # "the server's local key"


class Server:
    """One ``dockyard serve`` subprocess; `stop` always leaves nothing running."""

    def __init__(
        self,
        home: Path,
        *options: str,
        targets: tuple[str, ...] = TARGETS,
        pythonpath: str | None = None,
    ) -> None:
        self.home = home
        self.options = options
        self.targets = targets
        self.pythonpath = pythonpath
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.logs: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> str:
        key: str = json.loads((self.home / "credentials").read_text())["api_key"]
        return key

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def start(self) -> None:
        assert DOCKYARD is not None
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        log_path = self.home / f"server-{self.starts}.log"
        self.logs.append(log_path)
        command = [DOCKYARD, "serve", *self.targets, "--port", str(self.port), *self.options]
        env = server_env(self.home)
        if self.pythonpath is not None:
            env["PYTHONPATH"] = self.pythonpath
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: workers die with it
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"dockyard serve exited {code}:\n{self.log()}")
            try:
                if self.request("GET", "/__health__", key=None).status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockyard serve did not answer in time:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        # Workers left behind by a master that died hard share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: Any = _LOCAL,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One request over a new connection. ``body``: bytes as they are, anything
        else as JSON; ``key``: the local key (default), a key, or None for none."""
        sent = dict(headers or {})
        data: bytes | None = None
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if key is _LOCAL:
            key = self.key
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def use(
        self, package: str = "hello", instance: str | None = None, *, key: Any = _LOCAL, **body: Any
    ) -> Reply:
        """POST /__api__/instances: use (create or get) an instance."""
        body = {"package": package, "instance": instance, **body}
        return self.request("POST", "/__api__/instances", body, key=key)


def start_server(home: Path, *options: str, **settings: Any) -> Server:
    server = Server(home, *options, **settings)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module", params=["granian", "gunicorn"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server for the tests that do not restart it (each uses its own handles); every
    such test runs on both WSGI servers ``dockyard serve --server`` offers."""
    running = start_server(tmp_path_factory.mktemp("served"), "--server", request.param)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def bob(server: Server) -> str:
    """An API key of a second user, ``bob``, made with the CLI on the server's home."""
    done = run_cli(server.home, "keys", "create", "--user", "bob", "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["user"] == "bob"
    key: str = created["key"]
    return key


def created(server: Server, package: str = "hello", **body: Any) -> str:
    """A new instance of ``package`` (handle = workspace), created through the API."""
    handle = fresh(package)
    reply = server.use(package, handle, **body)
    assert reply.status == 200, reply.body
    return handle


# --- the seed example ------------------------------------------------------------------


def test_seed_example_over_raw_http(server: Server) -> None:
    handle = created(server)
    auth = {"Authorization": f"Bearer {server.key}"}
    url = f"{server.url}/{handle}/{handle}"

    get = urllib.request.Request(f"{url}/say_hello?name=Ted", headers=auth)
    with urllib.request.urlopen(get, timeout=30) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "text/plain"
        assert response.read() == b"Hello, Ted!"

    post = urllib.request.Request(
        f"{url}/do_something",
        data=json.dumps({"times": 3}).encode(),
        headers={**auth, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(post, timeout=30) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "application/json"
        assert json.loads(response.read()) == {"done": 3}


def test_seed_example_through_the_client_with_a_key(server: Server) -> None:
    handle = fresh("hello")
    with Dockyard(url=server.url, api_key=server.key) as client:
        instance = client.use("hello", handle, config={"greeting": "Ahoy"})
        assert instance.handle == handle
        assert instance.workspace == handle
        assert instance.package == "hello"
        assert instance.version == "0+local"
        assert instance.config == {"greeting": "Ahoy"}
        assert instance.invocation_url == f"{server.url}/{handle}/{handle}/"
        assert instance.invoke("say_hello", "GET", name="Ted") == "Ahoy, Ted!"
        assert instance.invoke("do_something", times=4) == {"done": 4}
        # The same instance again, without config: the stored one.
        again = client.use("hello", handle)
        assert again.config == {"greeting": "Ahoy"}
        assert again.invoke("say_hello", "GET") == "Ahoy, World!"


def test_client_with_only_a_url_reads_the_local_credentials(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKYARD_HOME", str(server.home))
    with Dockyard(url=server.url) as client:
        assert client.api_key == server.key
        instance = client.use("hello", fresh("hello"))
        assert instance.invoke("say_hello", "GET", name="Ted") == "Hello, Ted!"
        assert instance.invoke("do_something") == {"done": 1}
    # Elsewhere (no credentials file) the same URL has no key: 401.
    monkeypatch.setenv("DOCKYARD_HOME", str(tmp_path))
    with Dockyard(url=server.url) as client:
        assert client.api_key is None
        with pytest.raises(DockyardError) as raised:
            client.use("hello", fresh("hello"))
    assert (raised.value.status, raised.value.code) == (401, "unauthorized")


def test_client_takes_the_url_and_key_from_the_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_URL", server.url)
    monkeypatch.setenv("DOCKYARD_API_KEY", server.key)
    with Dockyard() as client:
        instance = client.use("hello", fresh("hello"))
        assert instance.invocation_url.startswith(f"{server.url}/")
        assert instance.invoke("say_hello", "GET", name="Env") == "Hello, Env!"


def test_the_client_returns_unwrapped_values_of_every_kind(server: Server) -> None:
    with Dockyard(url=server.url, api_key=server.key) as client:
        instance = client.use("hello", fresh("hello"))
        value = {"list": [1, 2.5, None, True], "text": "é"}
        assert instance.invoke("remember", key="doc", value=value) is True
        assert instance.invoke("recall", "GET", key="doc") == value
        assert instance.invoke("recall", "GET", key="missing") is None
        assert instance.invoke("menu/café", "GET") == "crème"
        assert instance.invoke("/menu/café/", "GET") == "crème"


def test_get_arguments_of_every_kind_through_the_client(server: Server) -> None:
    with Dockyard(url=server.url, api_key=server.key) as client:
        instance = client.use("hello", fresh("hello"))
        # Lists, dicts and None travel in the query as JSON text; strings as they are,
        # even when they look like JSON.
        assert instance.invoke("total", "GET", numbers=[1, 2, 3], weights={"2": 10}) == {
            "total": 24,
            "weights": {"2": 10},
            "note": "",
        }
        assert instance.invoke("total", "GET", numbers=[5], weights=None, note="[1]") == {
            "total": 5,
            "weights": None,
            "note": "[1]",
        }
        raw = server.request("GET", f"/{instance.workspace}/{instance.handle}/total?numbers=[1,x]")
        assert raw.status == 422
        assert "numbers" in raw.json()["error"]["message"]


# --- every status ----------------------------------------------------------------------


def test_400_for_a_malformed_or_non_object_json_body(server: Server) -> None:
    handle = created(server)
    path = f"/{handle}/{handle}/do_something"
    json_type = {"Content-Type": "application/json"}

    malformed = server.request("POST", path, b'{"times": ', headers=json_type)
    assert malformed.status == 400
    assert malformed.error["code"] == "bad_request"
    assert "JSON" in malformed.error["message"]

    for body in (b"[1, 2]", b'"text"', b"3"):
        not_object = server.request("POST", path, body, headers=json_type)
        assert not_object.status == 400, body
        assert not_object.error["code"] == "bad_request"
        assert "object" in not_object.error["message"]

    # The management API reads bodies the same way.
    api = server.request("POST", "/__api__/instances", b"{oops", headers=json_type)
    assert api.status == 400
    assert api.error["code"] == "bad_request"


def test_401_without_a_key_with_a_bad_scheme_or_an_invalid_key(server: Server) -> None:
    handle = created(server)
    path = f"/{handle}/{handle}/do_something"
    cases: dict[str, dict[str, str]] = {
        "no key": {},
        "bad scheme": {"Authorization": f"Basic {server.key}"},
        "empty bearer": {"Authorization": "Bearer "},
        "invalid key": {"Authorization": "Bearer dk_" + "x" * 43},
        "not a key at all": {"Authorization": "Bearer hello"},
    }
    for what, headers in cases.items():
        for method, target, body in (
            ("POST", path, {}),
            ("GET", f"/{handle}/{handle}/say_hello", None),
            ("GET", "/__api__/instances", None),
            ("POST", "/__api__/instances", {"package": "hello"}),
            ("GET", f"/{handle}/{handle}/__openapi__", None),
            ("GET", f"/{handle}/{handle}/__dir__", None),
        ):
            reply = server.request(method, target, body, key=None, headers=headers)
            assert reply.status == 401, (what, method, target, reply.body)
            assert reply.error["code"] == "unauthorized", (what, target)
            assert reply.error["suggestion"], (what, target)
    # And no key on an instance that does not exist is a 401 too (not a 404 that
    # would tell a stranger which handles exist).
    unknown = server.request("POST", f"/{fresh()}/{fresh()}/do_something", {}, key=None)
    assert unknown.status == 401


def test_401_for_a_revoked_key(server: Server) -> None:
    made = run_cli(server.home, "keys", "create", "--name", "short-lived", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    handle = created(server)
    path = f"/{handle}/{handle}/do_something"
    assert server.request("POST", path, {}, key=key["key"]).status == 200

    revoked = run_cli(server.home, "keys", "revoke", str(key["id"]))
    assert revoked.returncode == 0, revoked.stderr

    reply = server.request("POST", path, {}, key=key["key"])
    assert reply.status == 401
    assert reply.error["code"] == "unauthorized"
    assert "revoked" in reply.error["message"]
    # The other keys still work.
    assert server.request("POST", path, {}).status == 200


def test_404_for_an_unknown_instance_or_method(server: Server) -> None:
    handle = created(server)
    unknown = server.request("POST", f"/{handle}/{fresh()}/do_something", {})
    assert unknown.status == 404
    assert unknown.error["code"] == "instance_not_found"

    method = server.request("POST", f"/{handle}/{handle}/no_such_method", {})
    assert method.status == 404
    assert method.error["code"] == "not_found"
    assert "do_something" in json.dumps(method.error)  # lists what exists

    api = server.request("GET", f"/__api__/instances/{handle}/{fresh()}")
    assert api.status == 404
    assert api.error["code"] == "instance_not_found"


def test_404_for_another_users_instance(server: Server, bob: str) -> None:
    handle = created(server)
    base = f"/{handle}/{handle}"
    for method, path, body in (
        ("POST", f"{base}/do_something", {}),
        ("GET", f"{base}/say_hello?name=Bob", None),
        ("GET", f"{base}/__dir__", None),
        ("GET", f"{base}/__openapi__", None),
        ("GET", f"/__api__/instances/{handle}/{handle}", None),
        ("DELETE", f"/__api__/instances/{handle}/{handle}", None),
    ):
        reply = server.request(method, path, body, key=bob)
        assert reply.status == 404, (method, path, reply.body)
        assert reply.error["code"] == "instance_not_found", path
        # Exactly what an instance that does not exist answers: nothing tells them apart.
        missing = server.request(method, path.replace(handle, fresh(), 2), body, key=bob)
        assert missing.status == 404
    listed = server.request("GET", "/__api__/instances", key=bob).json()
    assert handle not in {i["handle"] for i in listed}
    # Bob's DELETE did nothing: the owner still has the instance.
    assert server.request("POST", f"{base}/do_something", {}).status == 200


def test_user_a_key_cannot_see_user_b_instance(server: Server, bob: str) -> None:
    mine = fresh("bob")
    bob_made = server.use("hello", mine, key=bob)
    assert bob_made.status == 200, bob_made.body
    assert bob_made.json()["owner"] == "bob"
    assert server.request("POST", f"/{mine}/{mine}/bump", {}, key=bob).json() == 1

    # The local user ("user A") sees none of it.
    assert server.request("POST", f"/{mine}/{mine}/bump", {}).status == 404
    assert server.request("GET", f"/__api__/instances/{mine}/{mine}").status == 404
    listed = server.request("GET", "/__api__/instances").json()
    assert mine not in {i["handle"] for i in listed}
    # Taking over the handle fails, and leaves bob's instance as it was.
    taken = server.use("hello", mine)
    assert taken.status == 409
    assert server.request("GET", f"/{mine}/{mine}/counter", key=bob).json() == 1
    # Bob sees his own instance through the management API.
    got = server.request("GET", f"/__api__/instances/{mine}/{mine}", key=bob)
    assert got.status == 200
    assert got.json()["handle"] == mine


def test_405_for_the_wrong_verb(server: Server) -> None:
    handle = created(server)
    base = f"/{handle}/{handle}"
    reply = server.request("GET", f"{base}/do_something")
    assert reply.status == 405
    assert reply.error["code"] == "method_not_allowed"
    assert reply.error["details"] == {"allowed": ["POST"]}

    post_on_get = server.request("POST", f"{base}/say_hello", {"name": "Ted"})
    assert post_on_get.status == 405
    assert post_on_get.error["details"] == {"allowed": ["GET"]}

    for verb in ("PUT", "DELETE", "PATCH"):
        other = server.request(verb, f"{base}/do_something", {})
        assert other.status == 405, verb
        assert other.error["code"] == "method_not_allowed"

    # The management API too.
    api = server.request("PUT", "/__api__/instances", {})
    assert api.status == 405
    assert api.error["code"] == "method_not_allowed"


def test_409_for_a_different_config_naming_the_key(server: Server) -> None:
    handle = created(server, config={"greeting": "Hi"})
    same = server.use("hello", handle, config={"greeting": "Hi"})
    assert same.status == 200
    # No config: the instance as it is.
    assert server.use("hello", handle).status == 200

    reply = server.use("hello", handle, config={"greeting": "Yo"})
    assert reply.status == 409
    error = reply.error
    assert error["code"] == "instance_conflict"
    assert "greeting" in error["message"]
    assert error["details"]["differing"] == ["greeting"]
    assert error["details"]["existing"] == {"greeting": "Hi"}
    assert error["details"]["asked"] == {"greeting": "Yo"}
    # The instance is untouched.
    say = server.request("GET", f"/{handle}/{handle}/say_hello?name=Ted")
    assert say.body == b"Hi, Ted!"


def test_409_for_a_pinned_version_that_is_not_installed(server: Server) -> None:
    reply = server.use("hello", fresh("hello"), version="9.9")
    assert reply.status == 409
    assert reply.error["code"] == "instance_conflict"
    assert "9.9" in reply.error["message"]
    assert reply.error["details"] == {"asked": "9.9", "installed": "0+local"}

    handle = created(server)
    existing = server.use("hello", handle, version="9.9")
    assert existing.status == 409
    # The installed version pins fine.
    pinned = server.use("hello", handle, version="0+local")
    assert pinned.status == 200
    assert pinned.json()["version"] == "0+local"


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("small"), "--max-body", "1000")
    yield running
    running.stop()


def test_413_for_a_body_over_the_limit(small_server: Server) -> None:
    handle = created(small_server)
    path = f"/{handle}/{handle}/echo"
    ok = small_server.request("POST", path, {"a": "x" * 900})
    assert ok.status == 200
    assert ok.json()["a"] == "x" * 900

    too_big = small_server.request("POST", path, {"a": "x" * 2000})
    assert too_big.status == 413
    assert too_big.error["code"] == "payload_too_large"
    assert "1000" in too_big.error["message"]

    form = small_server.request(
        "POST",
        path,
        urllib.parse.urlencode({"a": "y" * 2000}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 413
    # The server is fine afterwards.
    assert small_server.request("POST", path, {"a": "z"}).json()["a"] == "z"


def test_422_for_invalid_arguments_naming_the_field(server: Server) -> None:
    handle = created(server)
    base = f"/{handle}/{handle}"
    reply = server.request("POST", f"{base}/do_something", {"times": "many"})
    assert reply.status == 422
    assert reply.error["code"] == "invalid_arguments"
    assert "times" in reply.error["message"]

    unknown = server.request("POST", f"{base}/do_something", {"tiems": 2})
    assert unknown.status == 422
    assert "tiems" in unknown.error["message"]

    missing = server.request("GET", f"{base}/recall")
    assert missing.status == 422
    assert "key" in missing.error["message"]

    config = server.use("hello", fresh("hello"), config={"greting": "Hi"})
    assert config.status == 422
    assert config.error["code"] == "invalid_config"
    assert "greting" in config.error["message"]

    handle_error = server.use("hello", "Not_A_Handle")
    assert handle_error.status == 422
    assert "Not_A_Handle" in handle_error.error["message"]


def test_500_with_an_error_id_and_no_exception_text(server: Server) -> None:
    handle = created(server)
    reply = server.request("POST", f"/{handle}/{handle}/crash", {})
    assert reply.status == 500
    error = reply.error
    assert error["code"] == "internal_error"
    error_id = error["details"]["error_id"]
    assert ERROR_ID.match(error_id)
    assert error_id in error["message"]
    assert b"SECRET-CRASH-DETAIL" not in reply.body
    assert b"RuntimeError" not in reply.body
    assert b"Traceback" not in reply.body
    # The details are in the server log, under the error id.
    deadline = time.monotonic() + 5
    while "SECRET-CRASH-DETAIL" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert error_id in log
    assert "SECRET-CRASH-DETAIL" in log


def test_a_deliberate_dockyard_error_keeps_its_status_and_text(server: Server) -> None:
    handle = created(server)
    reply = server.request("POST", f"/{handle}/{handle}/refuse", {})
    assert reply.status == 418
    assert reply.error == {
        "code": "refused",
        "message": "not today",
        "suggestion": "ask tomorrow",
        "details": None,
    }


# --- arguments, public routes, context -------------------------------------------------


def test_query_form_json_merge_precedence_on_post(server: Server) -> None:
    handle = created(server)
    path = f"/{handle}/{handle}/echo?a=query&b=query&c=query"
    with_json = server.request("POST", path, {"b": "json"})
    assert with_json.json() == {"a": "query", "b": "json", "c": "query"}

    with_form = server.request(
        "POST",
        path,
        urllib.parse.urlencode({"b": "form"}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert with_form.json() == {"a": "query", "b": "form", "c": "query"}

    only_query = server.request("POST", path)
    assert only_query.json() == {"a": "query", "b": "query", "c": "query"}

    # GET reads the query only.
    typed = server.request("POST", f"/{handle}/{handle}/do_something?times=5", {})
    assert typed.json() == {"done": 5}
    overridden = server.request("POST", f"/{handle}/{handle}/do_something?times=5", {"times": 6})
    assert overridden.json() == {"done": 6}


def test_a_public_route_needs_no_key(server: Server, bob: str) -> None:
    handle = created(server)
    path = f"/{handle}/{handle}/ping"
    for key in (None, bob, server.key):
        reply = server.request("GET", path, key=key)
        assert reply.status == 200, key
        assert reply.body == b"pong"
    # Its neighbours are not public.
    assert server.request("POST", f"/{handle}/{handle}/bump", {}, key=None).status == 401
    # A key that is sent must still be valid.
    bad = server.request("GET", path, key="dk_" + "y" * 43)
    assert bad.status == 401


def test_context_has_the_instance_workspace_user_request_id_and_url(server: Server) -> None:
    workspace, handle = fresh("ws"), fresh("hello")
    made = server.use("hello", handle, workspace=workspace)
    assert made.status == 200
    assert made.json()["invocation_url"] == f"{server.url}/{workspace}/{handle}/"
    reply = server.request(
        "GET",
        f"/{workspace}/{handle}/whoami",
        headers={"X-Request-Id": "req-4242", "X-Probe": "probe-value"},
    )
    assert reply.status == 200
    assert reply.headers["x-request-id"] == "req-4242"
    assert reply.json() == {
        "instance": handle,
        "workspace": workspace,
        "package": "hello",
        "user": "local",
        "request_id": "req-4242",
        "invocation_url": f"{server.url}/{workspace}/{handle}/",
        "probe_header": "probe-value",
    }
    # Without X-Request-Id the server makes one, and says which.
    second = server.request("GET", f"/{workspace}/{handle}/whoami")
    made_id = second.json()["request_id"]
    assert made_id
    assert made_id != "req-4242"
    assert second.headers["x-request-id"] == made_id


# --- instances: lifecycle, restart, isolation ------------------------------------------


@dataclass
class Restarted:
    server: Server
    before: dict[str, Any]


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restarted]:
    """A server that made an instance (``keeper``, used twice), stored data in it, and
    was then stopped and started again on the same home and port."""
    home = tmp_path_factory.mktemp("restarted")
    running = start_server(home)
    try:
        credentials = home / "credentials"
        before: dict[str, Any] = {
            "mode": stat.S_IMODE(credentials.stat().st_mode),
            "key": running.key,
        }
        first = running.use("hello", "keeper", config={"greeting": "Ahoy"})
        second = running.use("hello", "keeper", config={"greeting": "Ahoy"})
        assert (first.status, second.status) == (200, 200), (first.body, second.body)
        before["record"] = second.json()
        before["inits"] = running.request("GET", "/keeper/keeper/inits").json()
        for _ in range(3):
            running.request("POST", "/keeper/keeper/bump", {})
        running.request(
            "POST", "/keeper/keeper/remember", {"key": "doc", "value": {"a": [1, 2], "b": None}}
        )
        running.stop()
        running.start()
        yield Restarted(running, before)
    finally:
        running.stop()


def test_instance_init_runs_once_across_two_uses_and_a_restart(restarted: Restarted) -> None:
    server = restarted.server
    assert restarted.before["inits"] == 1
    assert restarted.before["record"]["init_state"] == "ready"
    again = server.use("hello", "keeper")
    assert again.status == 200
    assert again.json()["init_state"] == "ready"
    assert server.use("hello", "keeper", config={"greeting": "Ahoy"}).status == 200
    assert server.request("GET", "/keeper/keeper/inits").json() == 1


def test_config_data_and_version_survive_a_restart(restarted: Restarted) -> None:
    server = restarted.server
    record = server.request("GET", "/__api__/instances/keeper/keeper").json()
    before = restarted.before["record"]
    for field in ("config", "version", "package", "owner", "created_at", "workspace"):
        assert record[field] == before[field], field
    assert record["config"] == {"greeting": "Ahoy"}
    assert record["version"] == "0+local"
    assert server.request("GET", "/keeper/keeper/say_hello?name=Ted").body == b"Ahoy, Ted!"
    assert server.request("GET", "/keeper/keeper/counter").json() == 3
    recalled = server.request("GET", "/keeper/keeper/recall?key=doc").json()
    assert recalled == {"a": [1, 2], "b": None}
    assert server.request("POST", "/keeper/keeper/bump", {}).json() == 4
    # A different config is still refused after the restart.
    assert server.use("hello", "keeper", config={"greeting": "Hi"}).status == 409


def test_the_credentials_file_is_0600_and_reused_on_the_second_start(
    restarted: Restarted,
) -> None:
    server = restarted.server
    credentials = server.home / "credentials"
    assert restarted.before["mode"] == 0o600
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert server.key == restarted.before["key"]
    data = json.loads(credentials.read_text())
    assert data["url"] == server.url
    assert data["user"] == "local"
    first_log, second_log = (p.read_text() for p in server.logs)
    assert restarted.before["key"] in first_log  # printed once, on the first start
    assert restarted.before["key"] not in second_log
    # The one key is the only key the local user has.
    listed = run_cli(server.home, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 1


def test_two_instance_handles_of_one_package_have_separate_data(server: Server) -> None:
    one, two = created(server), created(server)
    for _ in range(3):
        server.request("POST", f"/{one}/{one}/bump", {})
    server.request("POST", f"/{two}/{two}/bump", {})
    server.request("POST", f"/{one}/{one}/remember", {"key": "who", "value": "one"})
    assert server.request("GET", f"/{one}/{one}/counter").json() == 3
    assert server.request("GET", f"/{two}/{two}/counter").json() == 1
    assert server.request("GET", f"/{one}/{one}/recall?key=who").body == b"one"
    assert server.request("GET", f"/{two}/{two}/recall?key=who").json() is None
    # Two handles in one workspace are two instances as well.
    workspace = fresh("ws")
    a = server.use("hello", "a", workspace=workspace)
    b = server.use("hello", "b", workspace=workspace)
    assert (a.status, b.status) == (200, 200)
    server.request("POST", f"/{workspace}/a/bump", {})
    assert server.request("GET", f"/{workspace}/a/counter").json() == 1
    assert server.request("GET", f"/{workspace}/b/counter").json() == 0


def test_a_failing_instance_init_is_reported_and_retried(
    server: Server, bob: str, tmp_path: Path
) -> None:
    handle = fresh("flaky")
    config = {"marker": str(tmp_path / "marker")}
    first = server.use("flaky", handle, config=config)
    assert first.status == 500
    error = first.error
    assert error["code"] == "instance_init_failed"
    error_id = error["details"]["error_id"]
    assert ERROR_ID.match(error_id)
    assert error_id in error["message"]
    assert b"SECRET-INIT-DETAIL" not in first.body
    assert (tmp_path / "marker").exists()

    record = server.request("GET", f"/__api__/instances/{handle}/{handle}").json()
    assert record["init_state"] == "failed"
    assert error_id in record["init_error"]
    # Never a half-initialised instance serving requests.
    status = server.request("GET", f"/{handle}/{handle}/status")
    assert status.status != 200
    assert status.error["code"] == "instance_init_failed"
    # Another user sees no instance at all (not its state), a stranger needs a key.
    assert server.request("GET", f"/{handle}/{handle}/status", key=bob).status == 404
    assert server.request("GET", f"/{handle}/{handle}/status", key=None).status == 401

    second = server.use("flaky", handle, config=config)
    assert second.status == 200, second.body
    assert second.json()["init_state"] == "ready"
    assert server.request("GET", f"/{handle}/{handle}/status").json() == {"ready": True}


def test_concurrent_atomic_updates_over_http_end_exact(server: Server) -> None:
    _updates_end_exact(server)


def test_concurrent_atomic_updates_across_worker_processes_end_exact(workers: Server) -> None:
    _updates_end_exact(workers)


def _updates_end_exact(server: Server) -> None:
    threads, per_thread = 8, 250
    handle = created(server)
    path = f"/{handle}/{handle}/bump"
    headers = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
    seen: list[int] = []
    problems: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        mine: list[int] = []
        try:
            for _ in range(per_thread):
                connection.request("POST", path, body=b"{}", headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise AssertionError(f"{response.status}: {body!r}")
                mine.append(json.loads(body))
        except Exception as exc:
            with lock:
                problems.append(repr(exc))
        finally:
            connection.close()
            with lock:
                seen.extend(mine)

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in pool)
    elapsed = time.monotonic() - started
    assert not problems, problems[:3]
    total = threads * per_thread
    # Every increment saw a distinct value: none was lost, none applied twice.
    assert sorted(seen) == list(range(1, total + 1))
    assert server.request("GET", f"/{handle}/{handle}/counter").json() == total
    assert elapsed < 60, f"{total} updates took {elapsed:.1f} s"


# --- health, __dir__, OpenAPI ----------------------------------------------------------


def test_health_needs_no_key(server: Server) -> None:
    reply = server.request("GET", "/__health__", key=None)
    assert reply.status == 200
    assert reply.json() == {"status": "ok", "version": __version__}


def test_the_server_logs_one_line_per_request(server: Server) -> None:
    handle = created(server)
    marker = fresh("marker")
    for _ in range(3):
        server.request("GET", f"/{handle}/{handle}/say_hello?name={marker}")
    deadline = time.monotonic() + 5
    while server.log().count(marker) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in server.log().splitlines() if marker in line]
    assert len(lines) == 3
    assert all(" 200 " in line for line in lines)
    assert all("GET /" in line for line in lines)


def test_dir_describes_the_instance(server: Server) -> None:
    handle = created(server, config={"greeting": "Hey"})
    reply = server.request("GET", f"/{handle}/{handle}/__dir__")
    assert reply.status == 200
    described = reply.json()
    routes = {(m["verb"], m["path"]) for m in described["methods"]}
    assert {("GET", "/say_hello"), ("POST", "/do_something"), ("GET", "/ping")} <= routes
    assert described["name"] == "Hello"
    assert described["config"] == [
        {
            "name": "greeting",
            "type": "str",
            "default": "Hello",
            "description": None,
            "required": False,
        }
    ]
    say = next(m for m in described["methods"] if m["path"] == "/say_hello")
    assert say["verb"] == "GET"
    assert [a["name"] for a in say["args"]] == ["name"]


def test_openapi_document_of_an_instance(server: Server) -> None:
    handle = created(server)
    reply = server.request("GET", f"/{handle}/{handle}/__openapi__")
    assert reply.status == 200
    document = reply.json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": f"{server.url}/{handle}/{handle}"}]
    paths = document["paths"]
    assert {"/say_hello", "/do_something", "/ping", "/bump", "/echo"} <= set(paths)
    assert "/__instance_init__" not in paths

    say = paths["/say_hello"]["get"]
    [name] = say["parameters"]
    assert (name["name"], name["in"], name["required"]) == ("name", "query", False)
    assert name["schema"]["type"] == "string"
    assert name["schema"]["default"] == "World"
    assert "text/plain" in say["responses"]["200"]["content"]

    do = paths["/do_something"]["post"]
    body = do["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "object"
    assert body["properties"]["times"]["type"] == "integer"
    assert body["properties"]["times"]["default"] == 1
    assert body["required"] == []
    assert "application/json" in do["responses"]["200"]["content"]

    remember = paths["/remember"]["post"]["requestBody"]
    assert remember["required"] is True
    assert set(remember["content"]["application/json"]["schema"]["required"]) == {"key", "value"}

    for status in ("400", "401", "404", "405", "409", "413", "422", "500"):
        schema = do["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    schemas = document["components"]["schemas"]
    assert schemas["Error"]["properties"]["error"]["required"] == ["code", "message"]
    assert schemas["Config"]["properties"]["greeting"]["type"] == "string"
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert document["security"] == [{"bearer": []}]
    assert paths["/ping"]["get"]["security"] == []
    assert "security" not in do


# --- the management API ----------------------------------------------------------------


def test_management_api_creates_gets_lists_and_deletes_instances(server: Server) -> None:
    handle = fresh("hello")
    made = server.use("hello", handle, config={"greeting": "Oi"})
    assert made.status == 200
    record = made.json()
    assert {k: record[k] for k in ("workspace", "handle", "package", "version", "config")} == {
        "workspace": handle,
        "handle": handle,
        "package": "hello",
        "version": "0+local",
        "config": {"greeting": "Oi"},
    }
    assert record["init_state"] == "ready"
    assert record["owner"] == "local"

    got = server.request("GET", f"/__api__/instances/{handle}/{handle}")
    assert got.status == 200
    assert got.json() == record
    listed = server.request("GET", "/__api__/instances").json()
    assert record in listed

    for _ in range(2):
        server.request("POST", f"/{handle}/{handle}/bump", {})
    assert server.request("GET", f"/{handle}/{handle}/counter").json() == 2

    deleted = server.request("DELETE", f"/__api__/instances/{handle}/{handle}")
    assert deleted.status == 200
    assert deleted.json() == {"deleted": True}
    assert server.request("GET", f"/__api__/instances/{handle}/{handle}").status == 404
    assert server.request("POST", f"/{handle}/{handle}/bump", {}).status == 404
    assert handle not in {i["handle"] for i in server.request("GET", "/__api__/instances").json()}
    assert server.request("DELETE", f"/__api__/instances/{handle}/{handle}").status == 404

    # Re-created: a new instance, its data starting from zero and its init run again.
    again = server.use("hello", handle, config={"greeting": "Other"})
    assert again.status == 200
    assert server.request("GET", f"/{handle}/{handle}/counter").json() == 0
    assert server.request("GET", f"/{handle}/{handle}/inits").json() == 1
    assert server.request("GET", f"/{handle}/{handle}/say_hello").body == b"Other, World!"


def test_management_api_refuses_a_body_without_a_package(server: Server) -> None:
    for body in (
        {},
        {"package": 3},
        {"plugin": 3},
        {"package": "hello", "config": [1]},
        {"package": "hello", "plugin": "regex-tagger"},
    ):
        reply = server.request("POST", "/__api__/instances", body)
        assert reply.status == 422, body
        assert reply.error["code"] == "invalid_arguments"
    unknown = server.use("no-such-package", fresh())
    assert unknown.status == 404
    assert unknown.error["code"] == "component_not_found"
    assert "hello" in unknown.error["suggestion"]


# --- plugins over HTTP (issue 5) -------------------------------------------------------

MARKDOWN = """# Harbour guide

Ships dock at the north pier. Pilots board at the outer buoy.

## Fees

Mooring costs 40 euros a night.
Contact fees@harbour.example for invoices.

```
# not a heading
```
"""

CSV = (
    "id,review,stars\n"
    '1,"Great berth, friendly staff",5\n'
    '2,"Noisy at night;\nthe ""quiet"" pier is not quiet",2\n'
    "3,Fine,4\n"
)

TEXT = (
    "The harbour opened in 1852. Fishing boats used the inner basin for a century. "
    "Ferries arrived later. Today the harbour serves ferries, yachts and a small "
    "fishing fleet. The inner basin is now a marina for yachts.\n\n"
    "Visitors can walk the north pier at any hour. The lighthouse opens on weekends."
)


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def plugin_instance(server: Server, plugin: str, **body: Any) -> str:
    """A new instance of ``plugin`` made through the management API; its handle."""
    handle = fresh(plugin[:20])
    reply = server.request(
        "POST", "/__api__/instances", {"plugin": plugin, "instance": handle, **body}
    )
    assert reply.status == 200, reply.body
    made = reply.json()
    assert (made["kind"], made["plugin"], made["package"]) == ("plugin", plugin, f"plugin:{plugin}")
    return handle


def test_text_blockifier_over_raw_http(server: Server) -> None:
    handle = plugin_instance(server, "text-blockifier")
    described = server.request("GET", f"/__api__/instances/{handle}/{handle}").json()
    assert (described["plugin_type"], described["route"]) == ("blockifier", "/blockify")
    reply = server.request(
        "POST",
        f"/{handle}/{handle}/blockify",
        {"data": b64(MARKDOWN), "mime_type": "text/markdown; charset=utf-8"},
    )
    assert reply.status == 200, reply.body
    assert reply.content_type.startswith("application/json")
    file = reply.json()["file"]
    texts = [b["text"] for b in file["blocks"]]
    assert texts[0] == "# Harbour guide"
    assert texts[2] == "## Fees"
    assert texts[-1] == "```\n# not a heading\n```"
    headings = [t for b in file["blocks"] for t in b["tags"] if t["kind"] == "heading"]
    assert [(t["name"], t["value"]) for t in headings] == [("h1", "Harbour guide"), ("h2", "Fees")]
    sections = [t["name"] for t in file["blocks"][3]["tags"] if t["kind"] == "section"]
    assert sections == ["Harbour guide", "Fees"]


def test_csv_blockifier_through_the_client(server: Server) -> None:
    with Dockyard(url=server.url, api_key=server.key) as client:
        plugin = client.use_plugin("csv-blockifier", fresh("csv"), config={"text_column": "review"})
        assert isinstance(plugin, PluginInstance)
        file = plugin.blockify(CSV.encode(), "text/csv")
    assert isinstance(file, File)
    assert [b.text for b in file.blocks] == [
        "Great berth, friendly staff",
        'Noisy at night;\nthe "quiet" pier is not quiet',
        "Fine",
    ]
    columns = {(t.name, t.value) for t in file.blocks[1].tags if t.kind == "column"}
    assert columns == {("id", "2"), ("review", file.blocks[1].text), ("stars", "2")}


def test_regex_tagger_spans_through_the_client(server: Server) -> None:
    patterns = {"contact/email": r"[\w.]+@[\w.]+\.\w+", "money/euros": r"\d+ euros"}
    with Dockyard(url=server.url, api_key=server.key) as client:
        blockifier = client.use_plugin("text-blockifier", fresh("tb"))
        tagger = client.use_plugin("regex-tagger", fresh("rt"), config={"patterns": patterns})
        file = tagger.tag(blockifier.blockify(MARKDOWN, "text/markdown"))
    found = {
        (t.kind, t.name, (b.text or "")[t.start_idx : t.end_idx])
        for b in file.blocks
        for t in b.tags
        if t.kind in ("contact", "money") and t.start_idx is not None and t.end_idx is not None
    }
    assert found == {("contact", "email", "fees@harbour.example"), ("money", "euros", "40 euros")}


def test_hashing_embedder_through_the_client(server: Server) -> None:
    texts = ["ferries and yachts", "the north pier", "ferries and yachts"]
    with Dockyard(url=server.url, api_key=server.key) as client:
        embedder = client.use_plugin("hashing-embedder", fresh("he"), config={"dimensions": 64})
        vectors = embedder.embed(texts)
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert vectors[0] == vectors[2]
    assert abs(sum(x * x for x in vectors[1]) - 1.0) < 1e-9
    # The same vectors as in-process: deterministic across processes.
    from dockyard.plugins.hashing import hashing_embed

    assert vectors == hashing_embed(texts, 64)


def test_extractive_summarizer_through_the_client(server: Server) -> None:
    blocks = [Block(text=p) for p in TEXT.split("\n\n")]
    with Dockyard(url=server.url, api_key=server.key) as client:
        summarizer = client.use_plugin("extractive-summarizer", fresh("es"))
        summary = summarizer.generate(blocks, k=2)
    sentences = [b.text or "" for b in summary]
    assert len(sentences) == 2
    # Whole sentences of the input, in their original order.
    assert all(s in TEXT for s in sentences)
    assert TEXT.index(sentences[0]) < TEXT.index(sentences[1])


def test_file_importer_stays_inside_its_root(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "guide.md").write_text(MARKDOWN)
    (tmp_path / "secret.txt").write_text("TOPSECRET-7f3")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    with Dockyard(url=server.url, api_key=server.key) as client:
        importer = client.use_plugin("file-importer", fresh("fi"), config={"root": str(root)})
        imported = importer.import_((root / "guide.md").as_uri())
        assert imported.content() == MARKDOWN.encode()
        assert imported.mime_type == "text/markdown"
        assert importer.import_(text="hello").content() == b"hello"
        for url in (
            f"file://{root}/../secret.txt",  # ../
            (root / "link.txt").as_uri(),  # a symlink out of the root
            (tmp_path / "secret.txt").as_uri(),  # an absolute path outside it
            "file:///etc/passwd",
            str(root / "guide.md"),  # a path, not a URL
        ):
            with pytest.raises(DockyardError) as caught:
                importer.import_(url)
            assert caught.value.status == 403, url
            assert caught.value.code == "import_refused", url
            assert "TOPSECRET" not in str(caught.value)  # nothing read from the file


def test_invalid_plugin_input_is_a_422_naming_the_field(server: Server) -> None:
    handle = plugin_instance(server, "text-blockifier")
    reply = server.request(
        "POST", f"/{handle}/{handle}/blockify", {"data": "not base64!", "mime_type": "text/plain"}
    )
    assert reply.status == 422
    assert reply.error["code"] == "invalid_arguments"
    assert [p["field"] for p in reply.error["details"]["problems"]] == ["data"]
    tagger = plugin_instance(server, "regex-tagger", config={"patterns": {"x": "a"}})
    reply = server.request(
        "POST", f"/{tagger}/{tagger}/tag", {"file": {"blocks": [{"text": "ab", "tags": [{}]}]}}
    )
    assert reply.status == 422
    assert "file.blocks.0.tags.0.kind" in reply.error["message"]
    with Dockyard(url=server.url, api_key=server.key) as client:
        embedder = client.use_plugin("hashing-embedder", fresh("he"))
        with pytest.raises(ArgumentError, match="texts"):
            embedder.run({"texts": "not a list"})
        with pytest.raises(ConfigError, match="dimensions"):
            client.use_plugin("hashing-embedder", fresh("he"), config={"dimensions": 0})


def test_a_broken_plugin_is_a_500_naming_it(server: Server) -> None:
    handle = plugin_instance(server, "miscounted")
    file = File(blocks=[Block(text="abc")]).model_dump(mode="json")
    reply = server.request("POST", f"/{handle}/{handle}/tag", {"file": file})
    assert reply.status == 500
    error = reply.error
    assert error["code"] == "plugin_output_invalid"
    assert "Miscounted" in error["message"]
    assert "file.blocks.0" in error["message"]
    assert "a bug in the plugin" in error["suggestion"]


def test_a_plugin_is_not_a_package_and_says_so(server: Server) -> None:
    reply = server.use("regex-tagger", fresh())
    assert reply.status == 404
    assert "use_plugin('regex-tagger')" in reply.error["suggestion"]
    reply = server.request("POST", "/__api__/instances", {"plugin": "hello"})
    assert reply.status == 404
    assert "use('hello')" in reply.error["suggestion"]


def test_serve_a_plugin_by_its_handle(tmp_path: Path) -> None:
    server = start_server(tmp_path, targets=("regex-tagger",))
    try:
        with Dockyard(url=server.url, api_key=server.key) as client:
            tagger = client.use_plugin("regex-tagger", config={"patterns": {"n": r"\d+"}})
            assert tagger.invocation_url == f"{server.url}/regex-tagger/regex-tagger/"
            file = tagger.tag(File(blocks=[Block(text="pier 7")]))
            assert [(t.start_idx, t.end_idx) for t in file.blocks[0].tags] == [(5, 6)]
            spec = tagger.invoke("__dir__", "GET")
            assert [m["path"] for m in spec["methods"] if m["verb"] == "POST"][-1] == "/tag"
    finally:
        server.stop()
    assert DOCKYARD is not None
    done = subprocess.run(
        [DOCKYARD, "serve", "no-such-plugin", "--port", str(free_port())],
        env=server_env(tmp_path / "other"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "no package or plugin 'no-such-plugin'" in done.stderr
    assert "regex-tagger" in done.stderr  # what can be served


# --- the CLI against the server --------------------------------------------------------


def cli_run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_keys_create_list_and_revoke(server: Server) -> None:
    home = server.home
    made = run_cli(home, "keys", "create", "--user", "carol", "--name", "laptop", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["user"] == "carol"
    assert key["key"].startswith("dk_")
    assert key["key"][3:].startswith(key["prefix"])
    plain = run_cli(home, "keys", "create", "--user", "carol")
    assert plain.returncode == 0
    second_key = plain.stdout.strip()
    assert second_key.startswith("dk_")
    assert server.request("GET", "/__api__/whoami", key=second_key).json() == {"user": "carol"}

    listed = run_cli(home, "keys", "list", "--user", "carol", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 2
    assert {r["prefix"] for r in rows} == {key["prefix"], second_key[3:11]}
    assert key["key"] not in listed.stdout
    assert [r["name"] for r in rows if r["id"] == key["id"]] == ["laptop"]
    assert all(r["revoked_at"] is None for r in rows)
    table = run_cli(home, "keys", "list", "--user", "carol")
    assert key["prefix"] in table.stdout
    assert "PREFIX" in table.stdout

    assert server.request("GET", "/__api__/whoami", key=key["key"]).status == 200
    revoked = run_cli(home, "keys", "revoke", key["prefix"], "--user", "carol")
    assert revoked.returncode == 0, revoked.stderr
    assert server.request("GET", "/__api__/whoami", key=key["key"]).status == 401
    assert server.request("GET", "/__api__/whoami", key=second_key).status == 200
    rows = json.loads(run_cli(home, "keys", "list", "--user", "carol", "--json").stdout)
    assert [r["revoked_at"] is not None for r in rows if r["id"] == key["id"]] == [True]

    unknown = run_cli(home, "keys", "revoke", "999999", "--user", "carol")
    assert unknown.returncode == 1
    assert "Error:" in unknown.stderr


def test_cli_instances_against_the_server(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_HOME", str(server.home))  # for the credentials
    handle = fresh("hello")
    code, out, err = cli_run(
        "instances", "create", "hello", handle, "-c", "greeting=Hej", "--url", server.url, "--json"
    )
    assert code == 0, err
    made = json.loads(out)
    assert made["handle"] == handle
    assert made["config"] == {"greeting": "Hej"}
    assert made["url"] == f"{server.url}/{handle}/{handle}/"

    code, out, err = cli_run("instances", "list", "--url", server.url, "--json")
    assert code == 0, err
    assert handle in {row["handle"] for row in json.loads(out)}

    code, out, err = cli_run(
        "invoke", "hello", "say_hello", "name=Ted", "--instance", handle, "--url", server.url
    )
    assert code == 0, err
    assert out == "Hej, Ted!\n"
    code, out, err = cli_run(
        "invoke", "hello", "do_something", "times:=3", "--instance", handle, "--url", server.url
    )
    assert code == 0, err
    assert json.loads(out) == {"done": 3}
    code, out, err = cli_run(
        "invoke", "hello", "do_something", "times=many", "--instance", handle, "--url", server.url
    )
    assert code == 1
    assert "times" in err

    code, out, err = cli_run(
        "instances", "create", "hello", handle, "-c", "greeting=Other", "--url", server.url
    )
    assert code == 1
    assert "greeting" in err

    code, out, err = cli_run("instances", "delete", handle, handle, "--url", server.url)
    assert code == 0, err
    assert server.request("GET", f"/__api__/instances/{handle}/{handle}").status == 404
    code, out, err = cli_run("instances", "delete", handle, handle, "--url", server.url)
    assert code == 1

    # Through the environment and an explicit key as well.
    monkeypatch.setenv("DOCKYARD_URL", server.url)
    code, out, err = cli_run("instances", "list", "--api-key", "dk_" + "z" * 43)
    assert code == 1
    assert "invalid" in err


def test_cli_invoke_against_the_server_as_a_subprocess(server: Server) -> None:
    handle = created(server)
    done = run_cli(
        server.home,
        "invoke",
        "hello",
        "bump",
        "--instance",
        handle,
        "--url",
        server.url,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == 1
    assert server.request("GET", f"/{handle}/{handle}/counter").json() == 1


def test_serve_fails_fast_on_a_target_that_does_not_load(tmp_path: Path) -> None:
    assert DOCKYARD is not None
    done = subprocess.run(
        [DOCKYARD, "serve", "no-such-package", "--port", str(free_port())],
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "no-such-package" in done.stderr
    assert not (tmp_path / "credentials").exists()


# --- the embedded client has the same semantics ----------------------------------------

Scenario = Callable[[Dockyard, Path], Any]


def _conflicting_config(client: Dockyard, _: Path) -> Any:
    handle = fresh("hello")
    client.use("hello", handle, config={"greeting": "Hi"})
    return client.use("hello", handle, config={"greeting": "Yo"})


def _deleted(client: Dockyard, _: Path) -> Any:
    instance = client.use("hello", fresh("hello"))
    client.delete(instance)
    return instance.invoke("bump")


SCENARIOS: dict[str, tuple[Scenario, type[DockyardError], str, int]] = {
    "bad config": (
        lambda c, _: c.use("hello", fresh("hello"), config={"greting": "x"}),
        ConfigError,
        "invalid_config",
        422,
    ),
    "invalid handle": (
        lambda c, _: c.use("hello", "Not_A_Handle"),
        InvalidHandleError,
        "invalid_handle",
        422,
    ),
    "different config": (_conflicting_config, InstanceConflictError, "instance_conflict", 409),
    "version not installed": (
        lambda c, _: c.use("hello", fresh("hello"), version="9.9"),
        InstanceConflictError,
        "instance_conflict",
        409,
    ),
    "invalid arguments": (
        lambda c, _: c.use("hello", fresh("hello")).invoke("do_something", times="many"),
        ArgumentError,
        "invalid_arguments",
        422,
    ),
    "unknown method": (
        lambda c, _: c.use("hello", fresh("hello")).invoke("nope"),
        RouteNotFoundError,
        "not_found",
        404,
    ),
    "wrong verb": (
        lambda c, _: c.use("hello", fresh("hello")).invoke("do_something", "GET"),
        MethodNotAllowedError,
        "method_not_allowed",
        405,
    ),
    "a bug": (
        lambda c, _: c.use("hello", fresh("hello")).invoke("crash"),
        InternalError,
        "internal_error",
        500,
    ),
    "deliberate": (
        lambda c, _: c.use("hello", fresh("hello")).invoke("refuse"),
        DockyardError,
        "refused",
        418,
    ),
    "failing init": (
        lambda c, tmp: c.use("flaky", fresh("flaky"), config={"marker": str(tmp / fresh())}),
        InstanceInitError,
        "instance_init_failed",
        500,
    ),
    "deleted instance": (_deleted, InstanceNotFoundError, "instance_not_found", 404),
}


@pytest.fixture
def embedded(kit: ModuleType) -> Iterator[Dockyard]:
    with Dockyard() as client:
        client.runtime.packages.update({"hello": kit.Hello, "flaky": kit.Flaky})
        yield client


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_embedded_and_http_clients_raise_the_same_errors(
    name: str, server: Server, embedded: Dockyard, tmp_path: Path
) -> None:
    scenario, cls, code, status = SCENARIOS[name]
    with Dockyard(url=server.url, api_key=server.key) as remote:
        for client in (embedded, remote):
            with pytest.raises(DockyardError) as raised:
                scenario(client, tmp_path)
            error = raised.value
            where = f"{name} via {client!r}"
            assert type(error) is cls, where
            assert (error.code, error.status) == (code, status), where
            assert error.message, where
            assert error.suggestion, where
            if isinstance(error, InternalError):
                assert ERROR_ID.match(error.error_id), where


def test_embedded_and_http_clients_return_the_same_values(
    server: Server, embedded: Dockyard
) -> None:
    with Dockyard(url=server.url, api_key=server.key) as remote:
        results = []
        for client in (embedded, remote):
            instance = client.use("hello", fresh("hello"), config={"greeting": "Hi"})
            results.append(
                (
                    instance.version,
                    instance.config,
                    instance.init_state,
                    instance.invoke("say_hello", "GET", name="Ted"),
                    instance.invoke("do_something", times=2),
                    instance.invoke("do_something", "POST", times="3"),
                    instance.invoke("bump"),
                    instance.invoke("bump"),
                    instance.invoke("inits", "GET"),
                    instance.invoke("remember", key="k", value=[1, {"x": None}]),
                    instance.invoke("recall", "GET", key="k"),
                    instance.invoke("ping", "GET"),
                    instance.invoke("menu/café", "GET"),
                )
            )
    assert results[0] == results[1]
    assert results[0][3] == "Hi, Ted!"


# --- the CLI against the embedded store ------------------------------------------------


@pytest.fixture
def installed_hello(make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """``kit.py``'s packages installed as distribution ``kit-dist`` 3.1 (``hello``)."""
    module = f"kit_{make_dist.tag}"
    root = make_dist(
        "kit-dist",
        "3.1",
        entry_points={"dockyard.packages": {"hello": f"{module}:Hello"}},
        modules={module: KIT.read_text()},
    )
    monkeypatch.syspath_prepend(str(root))
    return "hello"


def test_cli_instances_against_the_embedded_store(
    installed_hello: str, dockyard_home: Path
) -> None:
    code, out, err = cli_run(
        "instances", "create", installed_hello, "emb", "-c", "greeting=Hej", "--json"
    )
    assert code == 0, err
    made = json.loads(out)
    assert made == {
        "workspace": "emb",
        "handle": "emb",
        "package": "hello",
        "version": "3.1",
        "config": {"greeting": "Hej"},
        "url": "local:emb/emb/",
    }
    assert (dockyard_home / "dockyard.db").is_file()
    code, out, err = cli_run("instances", "create", installed_hello, "emb", "--version", "3.0")
    assert code == 1
    assert "3.0" in err

    code, out, err = cli_run("invoke", "hello", "say_hello", "name=Ted", "--instance", "emb")
    assert (code, out) == (0, "Hej, Ted!\n"), err
    for expected in (1, 2):  # the embedded store keeps the data between commands
        code, out, err = cli_run("invoke", "hello", "bump", "--instance", "emb")
        assert (code, out.strip()) == (0, str(expected)), err

    code, out, err = cli_run("instances", "list", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["workspace"], r["handle"], r["state"], r["version"]) for r in rows] == [
        ("emb", "emb", "ready", "3.1")
    ]
    code, out, err = cli_run("instances", "list")
    assert "WORKSPACE" in out
    assert "emb" in out

    code, out, err = cli_run("instances", "delete", "emb", "emb")
    assert code == 0, err
    code, out, err = cli_run("instances", "list", "--json")
    assert json.loads(out) == []
    code, out, err = cli_run("instances", "delete", "emb", "emb")
    assert code == 1
    assert "no instance emb/emb" in err


def test_cli_invoke_a_file_target_on_the_embedded_store(dockyard_home: Path) -> None:
    target = f"{KIT}:Hello"
    code, out, err = cli_run("invoke", target, "say_hello", "name=Ted")
    assert (code, out) == (0, "Hello, Ted!\n"), err
    for expected in (1, 2):
        code, out, err = cli_run("invoke", target, "bump")
        assert (code, out.strip()) == (0, str(expected)), err
    code, out, err = cli_run("invoke", target, "inits")
    assert out.strip() == "1"
    code, out, err = cli_run("invoke", target, "bump", "--url", "http://127.0.0.1:1")
    assert code == 2
    assert "--url needs a package handle" in err


def test_cli_keys_on_the_embedded_store(dockyard_home: Path) -> None:
    code, out, err = cli_run("keys", "list", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, err = cli_run("keys", "create", "--json")
    assert code == 0, err
    key = json.loads(out)
    assert key["user"] == "local"
    code, out, err = cli_run("keys", "list", "--json")
    assert [k["id"] for k in json.loads(out)] == [key["id"]]
    code, out, err = cli_run("keys", "revoke", f"dk_{key['prefix']}")
    assert code == 0, err
    assert key["prefix"] in out
    code, out, err = cli_run("keys", "create", "--user", "Not Valid")
    assert code == 1
    assert "Not Valid" in err


# --- several worker processes ----------------------------------------------------------


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with two worker processes (each with its own live-instance cache)."""
    running = start_server(tmp_path_factory.mktemp("workers"), "--workers", "2")
    yield running
    running.stop()


def test_instance_init_runs_once_when_workers_race_to_create_it(workers: Server) -> None:
    handle = fresh("race")
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def use() -> None:
        barrier.wait(30)
        statuses.append(workers.use("hello", handle).status)

    pool = [threading.Thread(target=use) for _ in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert statuses == [200] * 8
    assert workers.request("GET", f"/{handle}/{handle}/inits").json() == 1


def test_a_deleted_instance_is_gone_from_every_worker(workers: Server) -> None:
    handle = created(workers)
    path = f"/{handle}/{handle}"

    def probe_both_workers() -> list[dict[str, Any]]:
        """Probe (a new connection each time) until both workers have answered."""
        answers: list[dict[str, Any]] = []
        for _ in range(400):
            reply = workers.request("GET", f"{path}/probe")
            answers.append(reply.json() if reply.status == 200 else {"status": reply.status})
            if len({a.get("pid") for a in answers} - {None}) == 2:
                return answers
        pytest.fail("the requests never reached both workers")

    workers.request("POST", f"{path}/bump", {})
    old = probe_both_workers()  # now both workers have the instance cached
    assert {(a["greeting"], a["n"]) for a in old} == {("Hello", 1)}
    assert workers.request("DELETE", f"/__api__/instances/{handle}/{handle}").status == 200
    # Deleted in every worker: requests spread over both (P(all to one) = 2**-40).
    gone = [workers.request("GET", f"{path}/probe").status for _ in range(40)]
    assert gone == [404] * 40
    assert workers.use("hello", handle, config={"greeting": "New"}).status == 200
    new = probe_both_workers()
    assert [(a.get("greeting"), a.get("n")) for a in new] == [("New", 0)] * len(new)


def test_serve_an_installed_package_by_its_handle(
    installed_hello: str, make_dist: DistFactory, tmp_path: Path
) -> None:
    root = str(make_dist.default_root)
    home = tmp_path / "home"
    home.mkdir()
    server = start_server(home, targets=(installed_hello,), pythonpath=root)
    try:
        made = server.use(installed_hello, "inst", config={"greeting": "Moi"})
        assert made.status == 200, made.body
        assert made.json()["version"] == "3.1"  # the distribution's version
        assert server.request("GET", "/inst/inst/say_hello?name=Ted").body == b"Moi, Ted!"
        pinned = server.use(installed_hello, "inst", version="3.0")
        assert pinned.status == 409
    finally:
        server.stop()
