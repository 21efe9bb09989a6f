"""``dockyard new``: scaffolded package, mixin and plugin projects, down to pip-installing
them."""

from __future__ import annotations

import importlib.util
import json
import os
import site
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dockyard.cli import cli
from dockyard.scaffold import class_name_for, new_command, plan
from dockyard.testing import call

PACKAGE_FILES = [
    "pyproject.toml",
    "README.md",
    "src/text_tools/__init__.py",
    "src/text_tools/package.py",
    "tests/test_text_tools.py",
]
MIXIN_FILES = [
    "pyproject.toml",
    "README.md",
    "src/text_tools/__init__.py",
    "src/text_tools/mixin.py",
    "tests/test_text_tools.py",
]
PLUGIN_FILES = [
    "pyproject.toml",
    "README.md",
    "src/text_tools/__init__.py",
    "src/text_tools/plugin.py",
    "tests/test_text_tools.py",
]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def importable(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Top-level modules a test imports from a scaffolded ``src/``; forgotten afterwards."""
    names: list[str] = []
    yield names
    for loaded in list(sys.modules):
        if loaded.partition(".")[0] in names:
            monkeypatch.delitem(sys.modules, loaded)


def import_scaffolded(
    project: Path, import_name: str, monkeypatch: pytest.MonkeyPatch, importable: list[str]
) -> Any:
    monkeypatch.syspath_prepend(str(project / "src"))
    importable.append(import_name)
    return importlib.import_module(import_name)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- what is written ----------------------------------------------------------------


def test_package_project_files_and_contents(tmp_path: Path) -> None:
    code, out, _ = run("new", "package", "text-tools", "--dir", str(tmp_path))
    assert code == 0, out
    project = tmp_path / "text-tools"
    assert files_under(project) == sorted(PACKAGE_FILES)
    pyproject = (project / "pyproject.toml").read_text()
    assert 'requires = ["setuptools>=69"]' in pyproject
    assert 'name = "text-tools"\nversion = "0.1.0"' in pyproject
    assert 'requires-python = ">=3.10"' in pyproject
    assert 'dependencies = ["dockyard"]' in pyproject
    assert 'test = ["pytest"]' in pyproject
    assert (
        '[project.entry-points."dockyard.packages"]\n'
        'text-tools = "text_tools.package:TextTools"\n' in pyproject
    )
    module = (project / "src/text_tools/package.py").read_text()
    assert "class TextTools(PackageService):" in module
    assert "    class Config(Config):" in module
    assert '@get("hello")' in module
    assert '@post("echo")' in module
    init = (project / "src/text_tools/__init__.py").read_text()
    assert "from .package import TextTools" in init
    assert '__all__ = ["TextTools"]' in init
    test = (project / "tests/test_text_tools.py").read_text()
    assert "from dockyard.testing import InstanceFactory, ServerFactory" in test
    assert "def test_hello_greets_by_name(make_instance: InstanceFactory) -> None:" in test
    assert "    package = make_instance(TextTools)\n" in test
    assert 'package = make_instance(TextTools, {"greeting": "Hi"})' in test
    assert "def test_it_is_served_over_http(dockyard_server: ServerFactory) -> None:" in test
    assert 'server = dockyard_server("text-tools")' in test
    readme = (project / "README.md").read_text()
    assert "pip install -e ." in readme
    assert "\npytest\n" in readme
    assert "`make_instance(TextTools, config)`" in readme
    assert "dockyard invoke text-tools hello name=Ted" in readme


def test_mixin_project_files_and_contents(tmp_path: Path) -> None:
    code, out, _ = run("new", "mixin", "text-tools", "--dir", str(tmp_path))
    assert code == 0, out
    project = tmp_path / "text-tools"
    assert files_under(project) == sorted(MIXIN_FILES)
    pyproject = (project / "pyproject.toml").read_text()
    assert (
        '[project.entry-points."dockyard.mixins"]\n'
        'text-tools = "text_tools.mixin:TextToolsMixin"\n' in pyproject
    )
    assert "dockyard.packages" not in pyproject
    module = (project / "src/text_tools/mixin.py").read_text()
    assert "class TextToolsMixin(PackageMixin):" in module
    assert '@post("/text_tools/echo")' in module
    assert "def __init__" not in module.partition("from dockyard")[2]  # no custom signature
    test = (project / "tests/test_text_tools.py").read_text()
    assert 'Host = compose("host", mixins=[TextToolsMixin])' in test
    assert "host = make_instance(Host)" in test
    assert "dockyard_server" not in test
    readme = (project / "README.md").read_text()
    assert "pip install -e ." in readme
    assert "self.add_mixin(TextToolsMixin())" in readme  # composing it by hand


def test_plugin_project_files_and_contents(tmp_path: Path) -> None:
    code, out, _ = run("new", "plugin", "text-tools", "--dir", str(tmp_path))
    assert code == 0, out
    project = tmp_path / "text-tools"
    assert files_under(project) == sorted(PLUGIN_FILES)
    pyproject = (project / "pyproject.toml").read_text()
    assert (
        '[project.entry-points."dockyard.plugins"]\n'
        'text-tools = "text_tools.plugin:TextTools"\n' in pyproject
    )
    assert "dockyard.packages" not in pyproject
    assert 'dependencies = ["dockyard"]' in pyproject
    module = (project / "src/text_tools/plugin.py").read_text()
    assert "class TextTools(Tagger):" in module
    assert "    class Config(Config):" in module
    assert "    def run(self, request: PluginRequest[TagInput]) -> TagOutput:" in module
    assert "from .plugin import TextTools" in (project / "src/text_tools/__init__.py").read_text()
    test = (project / "tests/test_text_tools.py").read_text()
    assert "from dockyard.testing import InstanceFactory, ServerFactory" in test
    assert "    plugin = make_instance(TextTools)\n" in test
    assert 'plugin.invoke("tag", file="nope")' in test
    assert "pytest.raises(ConfigError" in test
    assert 'make_instance(TextTools, {"words": [""]})' in test
    assert 'server = dockyard_server("text-tools")' in test
    assert 'plugin = server.use_plugin("text-tools", config={"words": ["ship"]})' in test
    readme = (project / "README.md").read_text()
    assert "pip install -e ." in readme
    assert "\npytest\n" in readme
    assert "dockyard list --group plugins" in readme
    assert 'self.use_plugin("text-tools", config={"words": ["todo"]})' in readme
    assert "tagger.tag(File(" in readme
    assert "dockyard serve text-tools\n" in readme
    assert """-d '{"plugin": "text-tools", "instance": "text-tools"}'""" in readme
    assert 'Bearer $KEY"' in readme  # string.Template's $$ escape, written as one $
    assert "http://127.0.0.1:8080/text-tools/text-tools/tag" in readme


def test_generated_package_runs_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importable: list[str]
) -> None:
    name = unique_name("unit-pkg")
    code, _, _ = run("new", "package", name, "--dir", str(tmp_path))
    assert code == 0
    module = import_scaffolded(tmp_path / name, name.replace("-", "_"), monkeypatch, importable)
    package_cls = getattr(module, class_name_for("package", name))
    assert call(package_cls(), "GET", "hello", name="Ted").data == "Hello, Ted!"
    assert call(package_cls(config={"greeting": "Hi"}), "GET", "hello").data == "Hi, World!"
    assert call(package_cls(), "POST", "echo", text="ab", times="3").data == {
        "text": "ababab",
        "times": 3,
    }
    methods = {(m.verb.value, m.path): m for m in package_cls.spec.methods}
    assert methods[("GET", "/hello")].doc
    assert methods[("POST", "/echo")].doc
    assert [p["name"] for p in package_cls.spec.to_dict()["config"]] == ["greeting"]


def test_generated_plugin_runs_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importable: list[str]
) -> None:
    from dockyard import ConfigError
    from dockyard.plugins import Block, File, Tag, Tagger

    name = unique_name("unit-plugin")
    code, _, _ = run("new", "plugin", name, "--dir", str(tmp_path))
    assert code == 0
    module = import_scaffolded(tmp_path / name, name.replace("-", "_"), monkeypatch, importable)
    plugin_cls = getattr(module, class_name_for("plugin", name))
    assert issubclass(plugin_cls, Tagger)
    assert plugin_cls.plugin_type is Tagger
    assert [p["name"] for p in plugin_cls.spec.to_dict()["config"]] == ["words", "kind"]

    text = "Todo: fix the docs (TODO list, todos, fixme_later), FIXME.\nMore todo"
    kept = Tag(kind="note", name="mine")
    file = File(blocks=[Block(text=text, tags=[kept]), Block(text="nothing here")])
    response = call(plugin_cls(), "POST", "tag", file=file.model_dump(mode="json"))
    assert response.status == 200, response.error
    first, second = File.model_validate(response.data["file"]).blocks
    assert first.tags[0] == kept
    spans = [(t.kind, t.name, text[t.start_idx : t.end_idx]) for t in first.tags[1:]]
    assert spans == [
        ("keyword", "todo", "Todo"),
        ("keyword", "todo", "TODO"),
        ("keyword", "todo", "todo"),
        ("keyword", "fixme", "FIXME"),
    ]
    assert second.tags == []

    configured = plugin_cls(config={"words": ["docs", "docs", "list"], "kind": "noun"})
    response = call(configured, "POST", "tag", file=file.model_dump(mode="json"))
    tags = response.data["file"]["blocks"][0]["tags"][1:]
    assert [(t["kind"], text[t["start_idx"] : t["end_idx"]]) for t in tags] == [
        ("noun", "docs"),
        ("noun", "list"),
    ]

    bad = call(plugin_cls(), "POST", "tag", file="nope")
    assert bad.status == 422
    assert bad.error is not None
    assert [p["field"] for p in bad.error.details["problems"]] == ["file"]
    with pytest.raises(ConfigError, match="words"):
        plugin_cls(config={"words": [""]})
    with pytest.raises(ConfigError, match="kind"):
        plugin_cls(config={"kind": 3})


def test_generated_mixin_works_constructed_without_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importable: list[str]
) -> None:
    from dockyard import PackageMixin, PackageService

    name = unique_name("unit-mixin")
    pkg = name.replace("-", "_")
    code, _, _ = run("new", "mixin", name, "--dir", str(tmp_path))
    assert code == 0
    module = import_scaffolded(tmp_path / name, pkg, monkeypatch, importable)
    mixin_cls = getattr(module, class_name_for("mixin", name))

    class Host(PackageService):
        USED_MIXIN_CLASSES = [mixin_cls]  # noqa: RUF012

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.add_mixin(mixin_cls())

    assert issubclass(mixin_cls, PackageMixin)
    response = call(Host(), "POST", f"{pkg}/echo", text="hi")
    assert response.data == {"text": "hi", "times": 1}


def test_two_scaffolded_mixins_do_not_clash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, importable: list[str]
) -> None:
    from dockyard import PackageService

    classes = []
    for prefix in ("unit-a", "unit-b"):
        name = unique_name(prefix)
        assert run("new", "mixin", name, "--dir", str(tmp_path))[0] == 0
        module = import_scaffolded(tmp_path / name, name.replace("-", "_"), monkeypatch, importable)
        classes.append(getattr(module, class_name_for("mixin", name)))

    class Both(PackageService):
        USED_MIXIN_CLASSES = classes

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            for mixin_cls in classes:
                self.add_mixin(mixin_cls())

    assert len([m for m in Both.spec.methods if m.path.endswith("/echo")]) == 2


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("package", "text-tools", "TextTools"),
        ("mixin", "text-tools", "TextToolsMixin"),
        ("mixin", "counter-mixin", "CounterMixin"),
        ("package", "a1-b2", "A1B2"),
        ("package", "x", "X"),
        ("plugin", "text-tools", "TextTools"),
        ("plugin", "word-plugin", "WordPlugin"),
        ("plugin", "tools-mixin", "ToolsMixin"),
    ],
)
def test_class_names(kind: str, name: str, expected: str) -> None:
    assert class_name_for(kind, name) == expected
    assert plan(kind, name).class_name == expected


# --- refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Text-Tools", "valid name looks like 'text-tools'"),
        ("text_tools", "valid name looks like"),
        ("-tools", "valid name looks like"),
        ("tools-", "valid name looks like"),
        ("text tools", "valid name looks like"),
        ("", "valid name looks like"),
        ("a" * 65, "1-64 characters"),
        ("9lives", "starts with a digit"),
        ("import", "Python keyword"),
        ("json", "would shadow the 'json' module"),
        ("dockyard", "would shadow the 'dockyard' module"),
    ],
)
def test_invalid_names_are_rejected(tmp_path: Path, name: str, says: str) -> None:
    code, _, err = run("new", "package", "--dir", str(tmp_path), "--", name)
    assert code == 2
    assert "Invalid value for NAME" in err
    assert says in " ".join(err.split())
    assert list(tmp_path.iterdir()) == []


def test_unknown_kind_is_rejected(tmp_path: Path) -> None:
    code, _, err = run("new", "widget", "text-tools", "--dir", str(tmp_path))
    assert code == 2
    assert "'package', 'mixin', 'plugin'" in err
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    project = tmp_path / "text-tools"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    code, _, err = run("new", "package", "text-tools", "--dir", str(tmp_path))
    assert code == 1
    assert "already exists and is not empty" in err
    assert files_under(project) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text-tools"]


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "text-tools").write_text("mine")
    code, _, err = run("new", "package", "text-tools", "--dir", str(tmp_path))
    assert code == 1
    assert "is not a directory" in err


def test_an_empty_target_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "text-tools").mkdir()
    code, _, _ = run("new", "package", "text-tools", "--dir", str(tmp_path))
    assert code == 0
    assert files_under(tmp_path / "text-tools") == sorted(PACKAGE_FILES)


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    real_write_text = Path.write_text

    def failing_write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        if written:
            raise OSError("disk full")
        written.append(self)
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    result = CliRunner().invoke(cli, ["new", "package", "text-tools", "--dir", str(tmp_path)])
    assert isinstance(result.exception, OSError)
    assert written
    assert list(tmp_path.iterdir()) == []


# --- options and output -------------------------------------------------------------


def test_dir_defaults_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("new", "mixin", "text-tools")
    assert code == 0, out
    assert files_under(tmp_path / "text-tools") == sorted(MIXIN_FILES)
    assert out.startswith("Created mixin text-tools (TextToolsMixin) in text-tools:")


def test_dir_is_created_if_missing(tmp_path: Path) -> None:
    code, _, _ = run("new", "package", "text-tools", "--dir", str(tmp_path / "a" / "b"))
    assert code == 0
    assert files_under(tmp_path / "a" / "b" / "text-tools") == sorted(PACKAGE_FILES)


@pytest.mark.parametrize(
    ("kind", "files", "entry", "last_step"),
    [
        (
            "package",
            PACKAGE_FILES,
            "[dockyard.packages] text-tools = text_tools.package:TextTools",
            "dockyard invoke text-tools hello name=Ted",
        ),
        (
            "mixin",
            MIXIN_FILES,
            "[dockyard.mixins] text-tools = text_tools.mixin:TextToolsMixin",
            "dockyard list --group mixins",
        ),
        (
            "plugin",
            PLUGIN_FILES,
            "[dockyard.plugins] text-tools = text_tools.plugin:TextTools",
            "dockyard list --group plugins",
        ),
    ],
)
def test_output_lists_files_entry_point_and_next_steps(
    tmp_path: Path, kind: str, files: list[str], entry: str, last_step: str
) -> None:
    code, out, _ = run("new", kind, "text-tools", "--dir", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    cls = class_name_for(kind, "text-tools")
    assert lines[0] == f"Created {kind} text-tools ({cls}) in {tmp_path / 'text-tools'}:"
    assert lines[1:6] == [f"  {f}" for f in files]
    assert f"Entry point: {entry}" in lines
    steps = lines[lines.index("Next steps:") + 1 :]
    assert steps == [
        f"  cd {tmp_path / 'text-tools'}",
        '  pip install -e ".[test]"',
        "  pytest",
        f"  {last_step}",
    ]


@pytest.mark.parametrize(
    ("kind", "files", "group", "value"),
    [
        ("package", PACKAGE_FILES, "dockyard.packages", "text_tools.package:TextTools"),
        ("mixin", MIXIN_FILES, "dockyard.mixins", "text_tools.mixin:TextToolsMixin"),
        ("plugin", PLUGIN_FILES, "dockyard.plugins", "text_tools.plugin:TextTools"),
    ],
)
def test_json_output(tmp_path: Path, kind: str, files: list[str], group: str, value: str) -> None:
    result = CliRunner().invoke(new_command, [kind, "text-tools", "--dir", str(tmp_path), "--json"])
    assert result.exit_code == 0
    described = json.loads(result.stdout)
    assert described == {
        "path": str((tmp_path / "text-tools").resolve()),
        "files": files,
        "kind": kind,
        "entry_point": {"group": group, "name": "text-tools", "value": value},
    }
    assert sorted(described["files"]) == files_under(Path(described["path"]))


def test_importing_scaffold_does_not_import_pydantic() -> None:
    probe = "import sys, dockyard.scaffold; print('pydantic' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# --- generated code passes ruff's defaults ------------------------------------------

# Longest names (64 chars) with no dash (longest class name) and with many (longest
# module path for the shortest class) push every templated line to its limit; a 40-char
# name splits a call between the two (its arguments on one line of their own).
LINT_NAMES = ["text-tools", "counter-mixin", "x", "a" * 64, "a-" * 31 + "bc", "m" * 40]


def ruff_command() -> list[str]:
    if importlib.util.find_spec("ruff") is None:
        pytest.skip(
            "ruff is not installed in the test environment (pip install -e '.[test]'), "
            "so the generated code's lint and format cannot be checked"
        )
    return [sys.executable, "-m", "ruff"]


@pytest.mark.parametrize("kind", ["package", "mixin", "plugin"])
def test_generated_code_passes_ruff_defaults(tmp_path: Path, kind: str) -> None:
    ruff = ruff_command()
    for name in LINT_NAMES:
        assert run("new", kind, name, "--dir", str(tmp_path / kind))[0] == 0
    for project in sorted((tmp_path / kind).iterdir()):
        # Run from the project, as its author would: no config of its own, and
        # --isolated so no other config (the user's, a parent directory's) applies.
        for args in (["check"], ["format", "--check"]):
            done = subprocess.run(
                [*ruff, *args, "--isolated", "--no-cache", "."],
                cwd=project,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, f"ruff {' '.join(args)} in {project}:\n{done.stdout}"


# --- end to end: pip install into a fresh venv, list, test, invoke, compose ----------
# (One venv and one pip install for all three kinds: building it is most of the time.)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


class Venv:
    """A fresh venv that also sees the test interpreter's packages (dockyard, pydantic)."""

    def __init__(self, root: Path, cwd: Path) -> None:
        self.root = root
        self.cwd = cwd
        self.python = str(venv_python(root))
        self.env = {
            **os.environ,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "DOCKYARD_HOME": str(cwd / ".dockyard"),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.python, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True
        )
        if check:
            assert done.returncode == 0, (
                f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done

    def dockyard(self, *args: str) -> str:
        return self.run("-c", "from dockyard.cli import main; main()", *args).stdout


# Whether the venv can build the scaffolded projects itself (pip --no-build-isolation):
# they require setuptools>=69, which before 70.1 also needs `wheel` to build a wheel.
CAN_BUILD = """
import importlib.util, sys
from importlib.metadata import PackageNotFoundError, version
try:
    found = tuple(int(part) for part in version("setuptools").split(".")[:2])
except (PackageNotFoundError, ValueError):
    sys.exit("setuptools is not importable")
if found < (69, 0):
    sys.exit(f"setuptools {found} is older than the projects' setuptools>=69")
if found < (70, 1) and importlib.util.find_spec("wheel") is None:
    sys.exit(f"setuptools {found} needs the wheel package, which is not installed")
"""


def make_venv(tmp_path: Path) -> Venv:
    """A fresh ``--system-site-packages`` venv, seeing the test interpreter's packages.

    It is made without pip of its own (saving ensurepip's seconds, and leaving the test
    environment's setuptools visible rather than an older bundled one): the test
    environment's pip, run by the venv's interpreter, installs into the venv.
    """
    root = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(root)],
        check=True,
        capture_output=True,
    )
    venv = Venv(root, tmp_path)
    # --system-site-packages shows the *base* interpreter's packages; when the tests run
    # in a venv themselves, dockyard and pydantic live in that venv's site-packages. A
    # .pth line executed at start-up adds them (and their own .pth files: editable
    # installs) after the new venv's own site-packages.
    purelib = venv.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    dirs = [d for d in site.getsitepackages() if Path(d).is_dir()]
    if site.ENABLE_USER_SITE and Path(site.getusersitepackages()).is_dir():
        dirs.append(site.getusersitepackages())
    (Path(purelib.stdout.strip()) / "_dockyard_test_parent.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs)
    )
    venv.run("-c", "import dockyard, pydantic, pytest")
    if venv.run("-m", "pip", "--version", check=False).returncode != 0:
        venv.run("-m", "ensurepip")
    return venv


def test_scaffolded_projects_install_list_test_and_run(tmp_path: Path) -> None:
    package, mixin, plugin = "greeter-e2e", "echo-e2e", "tagger-e2e"
    projects = tmp_path / "projects"
    assert run("new", "package", package, "--dir", str(projects))[0] == 0
    assert run("new", "mixin", mixin, "--dir", str(projects))[0] == 0
    assert run("new", "plugin", plugin, "--dir", str(projects))[0] == 0
    venv = make_venv(tmp_path)

    install = ["-m", "pip", "install", "--no-deps", "-e", str(projects / package)]
    install += ["-e", str(projects / mixin), "-e", str(projects / plugin)]
    if venv.run("-c", CAN_BUILD, check=False).returncode != 0:
        # pip would fetch setuptools>=69 into an isolated build env for each project,
        # several seconds apiece: fetch it once, into the venv (where it shadows the
        # test environment's), instead. 70.1 and later build wheels without `wheel`.
        venv.run("-m", "pip", "install", "setuptools>=70.1")
        venv.run("-c", CAN_BUILD)
    venv.env["PIP_NO_INDEX"] = "1"  # everything needed is now local: never use an index
    venv.run(*install, "--no-build-isolation")

    # Both entry points are listed, from metadata, with their distribution and version.
    for load, status in ((False, "listed"), (True, "loaded")):
        flags = ["--load"] if load else []
        listed = json.loads(venv.dockyard("list", "--json", *flags))
        ours = {c["name"]: c for c in listed["components"] if c["name"] in (package, mixin)}
        assert ours == {
            package: {
                "kind": "package",
                "group": "dockyard.packages",
                "name": package,
                "distribution": package,
                "version": "0.1.0",
                "target": "greeter_e2e.package:GreeterE2e",
                "status": status,
                "error": None,
            },
            mixin: {
                "kind": "mixin",
                "group": "dockyard.mixins",
                "name": mixin,
                "distribution": mixin,
                "version": "0.1.0",
                "target": "echo_e2e.mixin:EchoE2eMixin",
                "status": status,
                "error": None,
            },
        }
        # setuptools' editable install of a src layout may leave NAME.egg-info in src/,
        # which the install puts on sys.path: that is the same install, not a second
        # copy, so no problem at all may be reported about these projects.
        for name in (package, mixin):
            assert [p for p in listed["problems"] if name in p["message"]] == []

        # The plugin is listed from its entry point, and loads and passes the plugin
        # checks (a subclass of a registered plugin type): `list` imports plugins, even
        # without --load, to group them by type.
        ours_plugin = {
            "kind": "plugin",
            "group": "dockyard.plugins",
            "name": plugin,
            "distribution": plugin,
            "version": "0.1.0",
            "target": "tagger_e2e.plugin:TaggerE2e",
            "status": "loaded",
            "error": None,
            "plugin_type": "tagger",
        }
        assert [c for c in listed["components"] if c["name"] == plugin] == [ours_plugin]
        assert [p for p in listed["problems"] if plugin in p["message"]] == []
        # `list --group plugins`, the generated README's and next steps' command, too
        # (reading dockyard.plugin_types all the same, to check the plugin's type).
        only = json.loads(venv.dockyard("list", "--group", "plugins", "--json", *flags))
        assert {c["group"] for c in only["components"]} == {"dockyard.plugins"}
        assert [c for c in only["components"] if c["name"] == plugin] == [ours_plugin]
        assert [p for p in only["problems"] if plugin in p["message"]] == []

    # Each project's own tests pass against the installed code, with Dockyard's pytest
    # fixtures (its pytest11 plugin, from its entry point) and warnings as errors.
    for project, count in ((package, 5), (mixin, 2), (plugin, 6)):
        done = venv.run(
            "-m",
            "pytest",
            str(projects / project / "tests"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
        )
        assert f"{count} passed" in done.stdout, done.stdout
        assert "failed" not in done.stdout
        assert "error" not in done.stdout

    # The package answers by its installed handle.
    assert venv.dockyard("invoke", package, "hello", "name=Ted") == "Hello, Ted!\n"
    # A different config is a different instance (the first one's config is frozen).
    hi = venv.dockyard("invoke", package, "hello", "-c", "greeting=Hi", "--instance", "hi")
    assert hi == "Hi, World!\n"
    echoed = venv.dockyard("invoke", package, "echo", "text=ab", "times:=2")
    assert json.loads(echoed) == {"text": "abab", "times": 2}

    # The mixin composes into a package by its entry-point name.
    probe = (
        "import json\n"
        "from dockyard.core.compose import compose\n"
        "from dockyard.testing import call\n"
        f"App = compose('my-app', mixins=[{mixin!r}])\n"
        "response = call(App(), 'POST', 'echo_e2e/echo', text='ab', times='2')\n"
        "assert response.error is None, response.error\n"
        "print(json.dumps(response.data))\n"
    )
    assert json.loads(venv.run("-c", probe).stdout) == {"text": "abab", "times": 2}
