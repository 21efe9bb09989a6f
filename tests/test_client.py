"""The client (client.py): the embedded mode in full, and the parts of the HTTP mode that
need no server (errors from bodies, credentials, an unreachable server). The HTTP mode
against a real server is in server/test_http_acceptance.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from dockyard import (
    ArgumentError,
    ConfigError,
    DockyardError,
    InternalError,
    MethodNotAllowedError,
    RouteNotFoundError,
)
from dockyard.client import (
    Dockyard,
    PackageInstance,
    PluginInstance,
    error_from_body,
    read_credentials,
)
from dockyard.core.discovery import ComponentNotFoundError
from dockyard.plugins import Block, File
from dockyard.runtime import InstanceConflictError, InstanceInitError, InstanceNotFoundError

if TYPE_CHECKING:
    from conftest import DistFactory


@pytest.fixture
def installed(make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed distribution ``greeter-dist`` 2.5 with the package ``greeter``: what
    the embedded client finds with no configuration at all."""
    module = f"greeter_{make_dist.tag}"
    root = make_dist(
        "greeter-dist",
        "2.5",
        entry_points={"dockyard.packages": {"greeter": f"{module}:Greeter"}},
        modules={
            module: '''
                from dockyard import Config, PackageService, get, post


                class Greeter(PackageService):
                    """Greets, counts, remembers."""

                    class Config(Config):
                        greeting: str = "Hello"

                    def instance_init(self) -> None:
                        self.storage.update("inits", lambda v: v + 1, default=0)

                    @get("say_hello")
                    def say_hello(self, name: str = "World") -> str:
                        return f"{self.config.greeting}, {name}!"

                    @post("do_something")
                    def do_something(self, times: int = 1) -> dict:
                        return {"done": times}

                    @post("bump")
                    def bump(self) -> int:
                        return self.storage.update("n", lambda v: v + 1, default=0)

                    @get("inits")
                    def inits(self) -> int:
                        return self.storage.get("inits", 0)

                    @get("blob")
                    def blob(self) -> bytes:
                        return b"\\x00\\x01"
            '''
        },
    )
    monkeypatch.syspath_prepend(str(root))
    return "greeter"


@pytest.fixture
def client() -> Iterator[Dockyard]:
    with Dockyard() as opened:
        yield opened


# --- embedded mode ---------------------------------------------------------------------------


def test_embedded_use_and_invoke_an_installed_package(
    client: Dockyard, installed: str, dockyard_home: Path
) -> None:
    assert client.url is None
    assert repr(client) == f"<Dockyard embedded at {dockyard_home}>"
    instance = client.use(installed, "mine", config={"greeting": "Hi"})
    assert isinstance(instance, PackageInstance)
    assert (instance.handle, instance.workspace, instance.package) == ("mine", "mine", "greeter")
    assert instance.version == "2.5"
    assert instance.config == {"greeting": "Hi"}
    assert instance.init_state == "ready"
    assert instance.invocation_url == "local:mine/mine/"
    assert instance.invoke("say_hello", "GET", name="Ted") == "Hi, Ted!"
    assert instance.invoke("do_something", times=3) == {"done": 3}
    assert instance.invoke("do_something", "post", times="4") == {"done": 4}
    assert instance.invoke("blob", "GET") == b"\x00\x01"
    assert (dockyard_home / "dockyard.db").is_file()


def test_embedded_defaults_instance_to_package_and_workspace_to_instance(
    client: Dockyard, installed: str
) -> None:
    instance = client.use(installed)
    assert (instance.workspace, instance.handle) == ("greeter", "greeter")
    placed = client.use(installed, "x", workspace="team")
    assert placed.invocation_url == "local:team/x/"


def test_instance_init_once_and_data_kept_across_two_clients(installed: str) -> None:
    with Dockyard() as first:
        one = first.use(installed, "kept", config={"greeting": "Ahoy"})
        assert one.invoke("bump") == 1
        assert first.use(installed, "kept").invoke("bump") == 2
    with Dockyard() as second:
        two = second.use(installed, "kept")
        assert two.config == {"greeting": "Ahoy"}
        assert two.invoke("inits", "GET") == 1
        assert two.invoke("bump") == 3
        assert two.invoke("say_hello", "GET") == "Ahoy, World!"


def test_embedded_instances_and_delete(client: Dockyard, installed: str) -> None:
    a = client.use(installed, "a")
    client.use(installed, "b")
    assert [(i.workspace, i.handle) for i in client.instances()] == [("a", "a"), ("b", "b")]
    a.invoke("bump")
    client.delete(a)
    assert [i.handle for i in client.instances()] == ["b"]
    with pytest.raises(InstanceNotFoundError):
        a.invoke("bump")
    again = client.use(installed, "a")
    assert again.invoke("bump") == 1
    assert again.invoke("inits", "GET") == 1


def test_embedded_errors_are_the_matching_subclasses(
    client: Dockyard, installed: str, kit: ModuleType, tmp_path: Path
) -> None:
    instance = client.use(installed, "errs", config={"greeting": "Hi"})
    with pytest.raises(ArgumentError) as bad_arg:
        instance.invoke("do_something", times="many")
    assert bad_arg.value.status == 422
    assert "times" in bad_arg.value.message
    with pytest.raises(RouteNotFoundError):
        instance.invoke("nope")
    with pytest.raises(MethodNotAllowedError):
        instance.invoke("do_something", "GET")
    with pytest.raises(InstanceConflictError) as conflict:
        client.use(installed, "errs", config={"greeting": "Yo"})
    assert "greeting" in conflict.value.message
    with pytest.raises(InstanceConflictError) as version:
        client.use(installed, "errs", version="9")
    assert version.value.details == {"asked": "9", "installed": "2.5"}
    assert client.use(installed, "errs", version="2.5").version == "2.5"
    with pytest.raises(ConfigError) as config:
        client.use(installed, "other", config={"greting": "x"})
    assert "greting" in config.value.message
    with pytest.raises(ComponentNotFoundError):
        client.use("not-installed")

    client.runtime.packages.update({"hello": kit.Hello, "flaky": kit.Flaky})
    with pytest.raises(InternalError) as bug:
        client.use("hello", "buggy").invoke("crash")
    assert "SECRET-CRASH-DETAIL" not in str(bug.value)
    assert bug.value.error_id in bug.value.message
    marker = {"marker": str(tmp_path / "marker")}
    with pytest.raises(InstanceInitError):
        client.use("flaky", config=marker)
    assert client.use("flaky", config=marker).invoke("status", "GET") == {"ready": True}


def test_the_embedded_client_ignores_credentials(installed: str, dockyard_home: Path) -> None:
    (dockyard_home / "credentials").write_text(
        json.dumps({"url": "http://127.0.0.1:1", "api_key": "dk_x", "user": "local"})
    )
    with Dockyard() as client:
        assert client.url is None
        assert client.api_key is None
        assert client.use(installed).invoke("bump") == 1


def test_close_is_idempotent_and_reopens_on_use(installed: str) -> None:
    client = Dockyard()
    client.close()  # nothing opened yet
    client.use(installed, "c").invoke("bump")
    client.close()
    client.close()
    assert client.use(installed, "c").invoke("bump") == 2
    client.close()


# --- configuration ---------------------------------------------------------------------------


def test_url_and_key_come_from_arguments_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKYARD_URL", "http://env.example:1/")
    monkeypatch.setenv("DOCKYARD_API_KEY", "dk_env")
    with Dockyard() as from_env:
        assert (from_env.url, from_env.api_key) == ("http://env.example:1", "dk_env")
    with Dockyard(url="http://arg.example/", api_key="dk_arg") as given:
        assert (given.url, given.api_key) == ("http://arg.example", "dk_arg")


def test_the_credentials_file_gives_the_key_of_its_own_url(
    dockyard_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (dockyard_home / "credentials").write_text(
        json.dumps({"url": "http://127.0.0.1:9999", "api_key": "dk_local", "user": "local"})
    )
    assert read_credentials() == {
        "url": "http://127.0.0.1:9999",
        "api_key": "dk_local",
        "user": "local",
    }
    with Dockyard(url="http://127.0.0.1:9999/") as local:
        assert local.api_key == "dk_local"
    with Dockyard(url="http://elsewhere:9999") as remote:
        assert remote.api_key is None  # never sent to another server
    with Dockyard(url="http://127.0.0.1:9999", api_key="dk_given") as given:
        assert given.api_key == "dk_given"
    monkeypatch.setenv("DOCKYARD_API_KEY", "dk_env")
    with Dockyard(url="http://127.0.0.1:9999") as env:
        assert env.api_key == "dk_env"


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]"])
def test_read_credentials_without_a_usable_file(dockyard_home: Path, text: str | None) -> None:
    if text is not None:
        (dockyard_home / "credentials").write_text(text)
    assert read_credentials() is None


def test_an_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        client = Dockyard(url=f"http://127.0.0.1:{port}", api_key="dk_x", timeout=5)
        with client, pytest.raises(DockyardError) as raised:
            client.use("hello")
    assert (raised.value.code, raised.value.status) == ("unreachable", 503)
    assert f"127.0.0.1:{port}" in raised.value.message
    assert "dockyard serve" in (raised.value.suggestion or "")


# --- errors from HTTP bodies -----------------------------------------------------------------


def body(code: str, **extra: object) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": f"m-{code}", "suggestion": "s", **extra}}
    ).encode()


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("invalid_arguments", 422, ArgumentError),
        ("invalid_config", 422, ConfigError),
        ("not_found", 404, RouteNotFoundError),
        ("method_not_allowed", 405, MethodNotAllowedError),
        ("instance_conflict", 409, InstanceConflictError),
        ("instance_init_failed", 500, InstanceInitError),
        ("instance_not_found", 404, InstanceNotFoundError),  # the runtime's, not the store's
        ("component_not_found", 404, ComponentNotFoundError),
        ("unauthorized", 401, DockyardError),
        ("something_new", 418, DockyardError),
    ],
)
def test_error_from_body_picks_the_class_by_code(
    code: str, status: int, cls: type[DockyardError]
) -> None:
    error = error_from_body(status, body(code, details={"k": 1}))
    assert type(error) is cls
    assert (error.code, error.status, error.message) == (code, status, f"m-{code}")
    assert (error.suggestion, error.details) == ("s", {"k": 1})


def test_an_internal_error_from_a_body_carries_its_id() -> None:
    error = error_from_body(500, body("internal_error", details={"error_id": "0123456789abcdef"}))
    assert isinstance(error, InternalError)
    assert error.error_id == "0123456789abcdef"


def test_a_package_error_class_does_not_take_over_a_dockyard_code() -> None:
    class Hijack(DockyardError):
        default_code = "invalid_arguments"

    assert type(error_from_body(422, body("invalid_arguments"))) is ArgumentError
    assert Hijack("x").code == "invalid_arguments"


@pytest.mark.parametrize("raw", [b"<html>Bad Gateway</html>", b"{}", b'{"error": "x"}', b""])
def test_a_body_that_is_not_an_error_document(raw: bytes) -> None:
    error = error_from_body(502, raw)
    assert type(error) is DockyardError
    assert (error.code, error.status) == ("http_error", 502)
    assert "502" in error.message


def test_error_codes_of_plugins_map_to_their_classes_in_a_fresh_process() -> None:
    # The plugin error module is imported by the client itself, not by luck.
    code = (
        "import json\n"
        "from dockyard.client import error_from_body\n"
        "body = json.dumps({'error': {'code': 'import_refused', 'message': 'no'}}).encode()\n"
        "error = error_from_body(403, body)\n"
        "print(type(error).__name__, isinstance(error, PermissionError))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["ImportRefusedError", "True"]


def test_use_plugin_embedded_creates_a_plugin_instance(dockyard_home: Path) -> None:
    with Dockyard() as client:
        tagger = client.use_plugin(
            "regex-tagger", "emails", config={"patterns": {"contact/email": r"\S+@\S+"}}
        )
        assert isinstance(tagger, PluginInstance)
        assert (tagger.plugin_name, tagger.route, tagger.package) == (
            "regex-tagger",
            "/tag",
            "plugin:regex-tagger",
        )
        assert tagger.invocation_url == "local:emails/emails/"
        file = tagger.tag(File(blocks=[Block(text="write to a@b.example")]))
        [tag] = file.blocks[0].tags
        assert (tag.value, tag.start_idx, tag.end_idx) == ("a@b.example", 9, 20)
        # The same instance again; listed as a plugin instance.
        assert client.use_plugin("regex-tagger", "emails").config == tagger.config
        [listed] = [i for i in client.instances() if i.handle == "emails"]
        assert isinstance(listed, PluginInstance)
        # A package handle is not a plugin, and a plugin handle is not a package.
        with pytest.raises(ComponentNotFoundError, match="use_plugin"):
            client.use("regex-tagger", "other")
        with pytest.raises(InstanceConflictError, match="plugin regex-tagger"):
            client.use_plugin("text-blockifier", "emails")
