"""The ``dockyard`` command line: invoke and routes, through click and as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pytest
from click.testing import CliRunner

from dockyard.cli import cli, load_target, parse_assignments

if TYPE_CHECKING:
    from conftest import DistFactory

ROOT = Path(__file__).resolve().parents[1]
HELLO = f"{ROOT / 'examples' / 'hello.py'}:MyPackage"

PACKAGE_SOURCE = '''
from dockyard import PackageService, DockyardError, get, post


class Tool(PackageService):
    """A tool."""

    @post("echo")
    def echo(self, value: dict, times: int = 1) -> dict:
        return {"value": value, "times": times}

    @get("data")
    @post("data")
    def data(self) -> bytes:
        return b"\\x00\\x01"

    @post("teapot")
    def teapot(self) -> str:
        raise DockyardError("I am a teapot", status=418, suggestion="ask for coffee elsewhere")


NOT_A_PACKAGE = 3
'''


@pytest.fixture
def tool(tmp_path: Path) -> str:
    path = tmp_path / "tool_pkg.py"
    path.write_text(PACKAGE_SOURCE)
    return f"{path}:Tool"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_invoke_get_route_picks_its_verb_and_prints_text() -> None:
    code, out, _ = run("invoke", HELLO, "say_hello", "name=Ted")
    assert (code, out) == (0, "Hello, Ted!\n")


def test_invoke_passes_config_and_json_arguments() -> None:
    code, out, _ = run("invoke", HELLO, "say_hello", "name=Ted", "-c", "greeting=Hi")
    assert (code, out) == (0, "Hi, Ted!\n")
    code, out, _ = run("invoke", HELLO, "do_something", "times:=3")
    assert code == 0
    assert json.loads(out) == {"done": 3}


def test_invoke_json_argument_values(tool: str) -> None:
    code, out, _ = run("invoke", tool, "echo", 'value:={"a": [1, 2]}', "times=2")
    assert code == 0
    assert json.loads(out) == {"value": {"a": [1, 2]}, "times": 2}


def test_invoke_bytes_go_to_stdout_raw(tool: str) -> None:
    result = CliRunner().invoke(cli, ["invoke", tool, "data", "-X", "get"])
    assert result.exit_code == 0
    assert result.stdout_bytes == b"\x00\x01"


def test_invoke_error_exits_1_with_message_and_hint(tool: str) -> None:
    code, out, err = run("invoke", tool, "teapot")
    assert code == 1
    assert out == ""
    assert "Error: I am a teapot" in err
    assert "Hint: ask for coffee elsewhere" in err


def test_invoke_invalid_argument_names_it_and_the_accepted_ones() -> None:
    code, _, err = run("invoke", HELLO, "do_something", "times=many")
    assert code == 1
    assert "times" in err
    assert "valid integer" in err
    assert "accepted arguments: times (int, default 1)" in err


def test_invoke_bad_config_lists_the_key() -> None:
    code, _, err = run("invoke", HELLO, "say_hello", "-c", "colour=red")
    assert code == 1
    assert "colour: unknown config key" in err
    assert "accepted config keys: greeting" in err


def test_invoke_unknown_method_lists_routes() -> None:
    code, _, err = run("invoke", HELLO, "say_goodbye")
    assert code == 1
    assert "no route POST /say_goodbye" in err
    assert "GET /say_hello" in err


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("examples/nope.py:X", "no such file"),
        ("hello", "no package named 'hello' is installed"),
        ("Hello World", "is not an installed package handle, FILE.py:Class or module:Class"),
        (f"{ROOT / 'examples' / 'hello.py'}:Nope", "invocables it defines: MyPackage"),
        ("no_such_module_xyz:Thing", "cannot import module 'no_such_module_xyz'"),
    ],
)
def test_load_target_errors_name_the_problem(target: str, expected: str) -> None:
    with pytest.raises(click.BadParameter, match=expected):
        load_target(target)


def test_load_target_rejects_non_invocables(tool: str) -> None:
    with pytest.raises(click.BadParameter, match="not a PackageService"):
        load_target(tool.replace(":Tool", ":NOT_A_PACKAGE"))


def test_load_target_imports_modules_by_name() -> None:
    cls = load_target("dockyard:PackageService")
    assert cls.__name__ == "PackageService"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["a=1"], {"a": "1"}),
        (["a:=1"], {"a": 1}),
        (["a="], {"a": ""}),
        (["a=x=y"], {"a": "x=y"}),
        (['a:={"b": null}'], {"a": {"b": None}}),
    ],
)
def test_parse_assignments(items: list[str], expected: dict[str, object]) -> None:
    assert parse_assignments(items, "argument") == expected


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["novalue"], "must look like name=text"),
        (["a:={"], "not valid JSON"),
        (["a=1", "a=2"], "given twice"),
        (["=1"], "must look like name=text"),
    ],
)
def test_parse_assignments_errors(items: list[str], expected: str) -> None:
    with pytest.raises(click.BadParameter, match=expected):
        parse_assignments(items, "argument")


def test_routes_table_and_json() -> None:
    code, out, _ = run("routes", HELLO)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["VERB", "PATH", "METHOD", "ARGUMENTS"]
    assert any(line.split()[:3] == ["GET", "/say_hello", "MyPackage.say_hello"] for line in lines)
    code, out, _ = run("routes", HELLO, "--json")
    assert code == 0
    routes = {(m["verb"], m["path"]) for m in json.loads(out)}
    assert {("GET", "/say_hello"), ("POST", "/do_something"), ("GET", "/__dir__")} <= routes


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert "dockyard" in out


def test_console_script_runs_as_a_real_process() -> None:
    script = shutil.which("dockyard", path=str(Path(sys.executable).parent))
    assert script is not None, "the dockyard console script is not installed in this venv"
    done = subprocess.run(
        [script, "invoke", "examples/hello.py:MyPackage", "say_hello", "name=Ted"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "Hello, Ted!\n", "")


def test_spec_human_lists_config_and_routes() -> None:
    code, out, _ = run("spec", HELLO)
    assert code == 0
    assert out.splitlines()[0] == "MyPackage"
    assert "  Says hello, and does something." in out
    assert "  greeting (str, default 'Hello')" in out
    assert any(line.split()[:2] == ["GET", "/say_hello"] for line in out.splitlines())


def test_spec_json_is_what_dir_returns() -> None:
    from dockyard.testing import call

    code, out, _ = run("spec", HELLO, "--json")
    assert code == 0
    cls = load_target(HELLO)
    assert json.loads(out) == call(cls(), "GET", "__dir__").data


def test_spec_by_module_and_by_installed_handle(make_dist: DistFactory, tmp_path: Path) -> None:
    module = f"spec_pkg_{make_dist.tag}"
    root = make_dist(
        "spec-dist",
        "2.5",
        entry_points={"dockyard.packages": {"spec-demo": f"{module}:Demo"}},
        modules={
            module: '''
                from dockyard import PackageService, post

                class Demo(PackageService):
                    """A demo."""

                    @post("ping")
                    def ping(self, n: int) -> int:
                        return n
            '''
        },
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = shutil.which("dockyard", path=str(Path(sys.executable).parent))
    assert script is not None
    for target in ("spec-demo", f"{module}:Demo"):
        done = subprocess.run(
            [script, "spec", target, "--json"], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        methods = {(m["verb"], m["path"]): m for m in json.loads(done.stdout)["methods"]}
        assert methods["POST", "/ping"]["args"][0]["kind"] == "int"
    done = subprocess.run(
        [script, "invoke", "spec-demo", "ping", "n=41"], capture_output=True, text=True, env=env
    )
    assert (done.returncode, done.stdout) == (0, "41\n")


def test_spec_unknown_handle_lists_installed_packages() -> None:
    code, _, err = run("spec", "no-such-package")
    assert code == 2
    assert "no package named 'no-such-package' is installed" in err


def test_keys_revoke_takes_an_id_or_an_all_digit_prefix(dockyard_home: Path) -> None:
    from sqlalchemy import update

    from dockyard.store import Store
    from dockyard.store.schema import api_keys

    with Store() as store:
        store.ensure_user("local")
        first, _ = store.create_key("local")
        second, _ = store.create_key("local")
        with store.engine.begin() as conn:  # give the second key an all-digit prefix
            conn.execute(
                update(api_keys).where(api_keys.c.id == second.id).values(prefix="12345678")
            )
    code, out, err = run("keys", "revoke", str(first.id))
    assert (code, out) == (0, f"revoked key {first.id} ({first.prefix})\n"), err
    code, out, err = run("keys", "revoke", "12345678")  # no key has id 12345678
    assert (code, out) == (0, f"revoked key {second.id} (12345678)\n"), err
    code, _, err = run("keys", "revoke", "87654321")
    assert code == 1
    assert "87654321" in err
