"""``dockyard new {package,mixin,plugin} NAME``: scaffold a pip-installable Dockyard project.

The project is a src-layout setuptools distribution named ``NAME`` whose import
package is ``NAME`` with dashes turned into underscores. It declares its class as an
entry point (``dockyard.packages``, ``dockyard.mixins`` or ``dockyard.plugins``), so
``pip install -e .`` is all it takes for ``dockyard list`` / ``dockyard invoke NAME ...``
to find it, and it ships a README and tests that use Dockyard's pytest fixtures
(``make_instance``; ``dockyard_server`` for packages and plugins).
A plugin project is a `Tagger` (``POST /tag``) that tags configured words in a file's
blocks.

This module is file templates only: it imports no core module at import time (so
neither pydantic), and the generated code passes ``ruff check`` and
``ruff format --check`` with ruff's default settings.
"""

from __future__ import annotations

import json
import keyword
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template

import click

__all__ = ["Scaffold", "check_name", "class_name_for", "new_command", "plan", "write"]

KINDS = ("package", "mixin", "plugin")

_GROUPS = {
    "package": "dockyard.packages",
    "mixin": "dockyard.mixins",
    "plugin": "dockyard.plugins",
}

# The class each kind's generated class derives from.
_BASES = {"package": "PackageService", "mixin": "PackageMixin", "plugin": "Tagger"}

_HANDLE_HELP = (
    "a valid name looks like 'text-tools': lowercase letters, digits and dashes, "
    "1-64 characters, starting with a letter and not ending with a dash"
)


@dataclass(frozen=True)
class Scaffold:
    """What ``dockyard new`` writes for one project.

    :param kind: ``"package"``, ``"mixin"`` or ``"plugin"``.
    :param name: the handle: distribution name and entry-point name.
    :param files: relative POSIX path -> file text, in the order they are listed.
    """

    kind: str
    name: str
    files: dict[str, str]

    @property
    def import_name(self) -> str:
        """The import package: ``text-tools`` -> ``text_tools``."""
        return self.name.replace("-", "_")

    @property
    def class_name(self) -> str:
        """The generated class: ``TextTools`` (package, plugin) or ``TextToolsMixin`` (mixin)."""
        return class_name_for(self.kind, self.name)

    @property
    def entry_point(self) -> dict[str, str]:
        """The entry point the project declares: ``group``, ``name`` and ``value``."""
        return {
            "group": _GROUPS[self.kind],
            "name": self.name,
            "value": f"{self.import_name}.{self.kind}:{self.class_name}",
        }


def check_name(name: str) -> str:
    """Return ``name`` if it can name a scaffolded project.

    :raises click.BadParameter: saying what a valid name looks like.
    """
    # Imported here: the discovery module is metadata-only, but this module imports
    # nothing of core until it is used.
    from dockyard.core.discovery import is_handle

    if not is_handle(name):
        raise click.BadParameter(f"{name!r} is not a valid name; {_HANDLE_HELP}", param_hint="NAME")
    import_name = name.replace("-", "_")
    if not name[0].isalpha():
        raise click.BadParameter(
            f"{name!r} starts with a digit, so {import_name!r} cannot be imported; {_HANDLE_HELP}",
            param_hint="NAME",
        )
    if keyword.iskeyword(import_name):
        raise click.BadParameter(
            f"{name!r} is a Python keyword and cannot be imported; add a word, e.g. '{name}-tools'",
            param_hint="NAME",
        )
    if import_name == "dockyard" or import_name in sys.stdlib_module_names:
        raise click.BadParameter(
            f"{name!r} would shadow the {import_name!r} module; add a word, e.g. '{name}-tools'",
            param_hint="NAME",
        )
    return name


def class_name_for(kind: str, name: str) -> str:
    """The class name: CamelCase of ``name``, ending in ``Mixin`` (once) for a mixin.

    ``text-tools`` -> ``TextTools`` (package or plugin: no suffix) / ``TextToolsMixin``;
    ``counter-mixin`` -> ``CounterMixin``.
    """
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("-"))
    if kind == "mixin" and not camel.endswith("Mixin"):
        camel += "Mixin"
    return camel


def plan(kind: str, name: str) -> Scaffold:
    """Build (without writing anything) the project ``dockyard new KIND NAME`` creates.

    :param kind: ``"package"``, ``"mixin"`` or ``"plugin"``.
    :param name: the project's handle (see `check_name`).
    :raises click.BadParameter: for an invalid name.
    :raises ValueError: for an unknown kind.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    check_name(name)
    skeleton = Scaffold(kind, name, {})
    pkg, cls = skeleton.import_name, skeleton.class_name
    entry = skeleton.entry_point
    base = _BASES[kind]
    values = {
        "name": name,
        "pkg": pkg,
        "cls": cls,
        "kind": kind,
        "group": entry["group"],
        "target": entry["value"],
        # Lines that hold a name, wrapped the way ruff would wrap them if too long.
        "class_line": _fit("", f"class {cls}(", base, "):"),
        "init_import": _import(f".{kind}", cls),
        "import_line": _import(pkg, cls),
        "configured": _fit("", f"package = {cls}(", 'config={"greeting": "Hi"}', ")"),
        "instance_in_test": _fit("    ", "package = make_instance(", cls, ")"),
        "configured_in_test": _fit_args(
            "    ", "package = make_instance(", [cls, '{"greeting": "Hi"}'], ")"
        ),
        "serve_in_test": _fit("    ", "server = dockyard_server(", f'"{name}"', ")"),
        "use_in_test": _fit("    ", "package = server.use(", f'"{name}"', ")"),
        "host_line": _fit_args("", "Host = compose(", ['"host"', f"mixins=[{cls}]"], ")"),
        "used_mixins": _fit(
            "    ", "USED_MIXIN_CLASSES: ClassVar[list[type[PackageMixin]]] = [", cls, "]"
        ),
        "add_mixin": _fit("        ", "self.add_mixin(", f"{cls}()", ")"),
        "plugin_in_test": _fit("    ", "plugin = make_instance(", cls, ")"),
        "plugin_configured_in_test": _fit_args(
            "    ", "plugin = make_instance(", [cls, '{"words": ["ship"], "kind": "verb"}'], ")"
        ),
        "plugin_bad_config": _fit_args("        ", "make_instance(", [cls, '{"words": [""]}'], ")"),
        "use_plugin_in_test": _fit_args(
            "    ",
            "plugin = server.use_plugin(",
            [f'"{name}"', 'config={"words": ["ship"]}'],
            ")",
        ),
        "use_plugin": _fit_args(
            "        ",
            "tagger = self.use_plugin(",
            [f'"{name}"', 'config={"words": ["todo"]}'],
            ")",
        ),
    }
    templates = {"package": _PACKAGE, "mixin": _MIXIN, "plugin": _PLUGIN}[kind]
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": templates["README.md"],
        f"src/{pkg}/__init__.py": _INIT,
        f"src/{pkg}/{kind}.py": templates["module"],
        f"tests/test_{pkg}.py": templates["test"],
    }
    return Scaffold(
        kind, name, {path: Template(text).substitute(values) for path, text in files.items()}
    )


# The generated project has no ruff config: its code is laid out for ruff's defaults.
_WIDTH = 88


def _fit(indent: str, head: str, body: str, tail: str) -> str:
    """``head body tail`` on one line if it fits, else split after ``head`` as ruff does."""
    line = f"{indent}{head}{body}{tail}"
    if len(line) <= _WIDTH:
        return line
    return f"{indent}{head}\n{indent}    {body}\n{indent}{tail}"


def _fit_args(indent: str, head: str, args: list[str], tail: str) -> str:
    """A call's arguments as ruff lays them out: on one line with the call if they fit,
    else on one line of their own, else one per line with a trailing comma."""
    joined = ", ".join(args)
    fitted = _fit(indent, head, joined, tail)
    if all(len(line) <= _WIDTH for line in fitted.splitlines()):
        return fitted
    each = "".join(f"{indent}    {arg},\n" for arg in args)
    return f"{indent}{head}\n{each}{indent}{tail}"


def _import(module: str, name: str) -> str:
    """``from module import name``, parenthesised (as ruff's isort does) if too long."""
    line = f"from {module} import {name}"
    return line if len(line) <= _WIDTH else f"from {module} import (\n    {name},\n)"


def write(scaffold: Scaffold, target: Path) -> None:
    """Write ``scaffold`` to the directory ``target``, all files or none.

    The files are written to a fresh sibling directory that is then renamed to
    ``target``, so a failure part-way leaves nothing behind.

    :raises click.ClickException: if ``target`` exists and is not an empty directory.
    """
    if target.exists() and not target.is_dir():
        raise click.ClickException(f"{target} exists and is not a directory; choose another NAME")
    if target.is_dir() and any(target.iterdir()):
        raise click.ClickException(
            f"{target} already exists and is not empty; choose another NAME or --dir, "
            "or remove it first"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.new-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        for relative, text in scaffold.files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.is_dir():
            target.rmdir()  # empty (checked above); a rename cannot replace it everywhere
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _next_steps(scaffold: Scaffold, where: str) -> list[str]:
    steps = [f"cd {where}", 'pip install -e ".[test]"', "pytest"]
    if scaffold.kind == "package":
        steps.append(f"dockyard invoke {scaffold.name} hello name=Ted")
    else:
        steps.append(f"dockyard list --group {scaffold.kind}s")
    return steps


@click.command("new")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    default=Path("."),
    show_default=True,
    help="Create the project in DIR/NAME.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
def new_command(kind: str, name: str, directory: Path, as_json: bool) -> None:
    """Scaffold a pip-installable Dockyard package, mixin or plugin project in DIR/NAME.

    NAME is the distribution and entry-point name (e.g. text-tools); the import
    package is NAME with dashes as underscores (text_tools). The project declares
    its class as an entry point, has a README and a test, and `pip install -e .`
    makes it visible to `dockyard list`. A plugin is a tagger (POST /tag) that
    tags configured words in a file's blocks.

    \b
        dockyard new package text-tools
        dockyard new mixin text-tools --dir mixins
        dockyard new plugin keyword-tagger
    """
    scaffold = plan(kind, name)
    target = directory / name
    write(scaffold, target)
    files = list(scaffold.files)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(target.resolve()),
                    "files": files,
                    "kind": kind,
                    "entry_point": scaffold.entry_point,
                },
                indent=2,
            )
        )
        return
    entry = scaffold.entry_point
    click.echo(f"Created {kind} {name} ({scaffold.class_name}) in {target}:")
    for relative in files:
        click.echo(f"  {relative}")
    click.echo(f"Entry point: [{entry['group']}] {entry['name']} = {entry['value']}")
    click.echo("")
    click.echo("Next steps:")
    for step in _next_steps(scaffold, str(target)):
        click.echo(f"  {step}")


# --- templates (string.Template: $name, $pkg, $cls, $kind, $group, $target) ------------

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "$name"
version = "0.1.0"
description = "$cls: a Dockyard $kind."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["dockyard"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points."$group"]
$name = "$target"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_INIT = '''\
"""$name: a Dockyard $kind."""

$init_import

__all__ = ["$cls"]
'''

_PACKAGE = {
    "module": '''\
"""$cls: the $name Dockyard package.

Each ``@get`` / ``@post`` method is an endpoint; its arguments are validated and
coerced from the type hints. Try it once installed::

    dockyard invoke $name hello name=Ted
    dockyard invoke $name echo text=hi times=3
"""

from dockyard import Config, PackageService, get, post


$class_line
    """Says hello and echoes text. Replace these routes with your own."""

    class Config(Config):
        """The package config, validated once when an instance is created."""

        greeting: str = "Hello"

    @get("hello")
    def hello(self, name: str = "World") -> str:
        """Greet someone by name, with the configured greeting."""
        return f"{self.config.greeting}, {name}!"

    @post("echo")
    def echo(self, text: str, times: int = 1) -> dict[str, str | int]:
        """Return the text repeated ``times`` times."""
        return {"text": text * times, "times": times}
''',
    "test": '''\
"""Tests of $cls.

Instances on a real (temporary) store, and a live server: ``make_instance`` and
``dockyard_server`` are pytest fixtures that come with Dockyard.
"""

import pytest
from dockyard import ArgumentError
from dockyard.testing import InstanceFactory, ServerFactory

$import_line


def test_hello_greets_by_name(make_instance: InstanceFactory) -> None:
$instance_in_test
    assert package.invoke("hello", verb="GET", name="Ted") == "Hello, Ted!"


def test_the_greeting_is_configurable(make_instance: InstanceFactory) -> None:
$configured_in_test
    assert package.invoke("hello", verb="GET") == "Hi, World!"


def test_echo_coerces_its_arguments(make_instance: InstanceFactory) -> None:
$instance_in_test
    assert package.invoke("echo", text="ab", times="2") == {"text": "abab", "times": 2}


def test_a_missing_argument_is_a_422(make_instance: InstanceFactory) -> None:
$instance_in_test
    with pytest.raises(ArgumentError) as raised:
        package.invoke("echo")
    assert raised.value.status == 422


def test_it_is_served_over_http(dockyard_server: ServerFactory) -> None:
    # The installed package, by its entry-point name, in a real `dockyard serve`.
$serve_in_test
$use_in_test
    assert package.invoke("hello", verb="GET", name="Ted") == "Hello, Ted!"
''',
    "README.md": """# $name

A [Dockyard](https://pypi.org/project/dockyard/) package: `$cls`, in
`src/$pkg/package.py`. It is declared as the entry point `$name` in the
`$group` group, so installing this project is all it takes for Dockyard to find it.

## Install

```bash
pip install -e .
```

## Test

```bash
pip install -e ".[test]"
pytest
```

The tests in `tests/` use the pytest fixtures that come with Dockyard:
`make_instance($cls, config)` makes an instance on a real, temporary store (its
`invoke(...)` raises typed errors, e.g. `ArgumentError` for a 422), and
`dockyard_server("$name")` starts a live `dockyard serve` with a ready `client`.

## Use

```bash
dockyard list                                # lists $name
dockyard invoke $name hello name=Ted         # Hello, Ted!
dockyard invoke $name hello -c greeting=Hi   # Hi, World!
dockyard invoke $name echo text=hi times:=3
```

In Python, in-process, without a store:

```python
from dockyard.testing import call

$import_line

$configured
print(call(package, "GET", "hello", name="Ted").data)  # Hi, Ted!
```
""",
}

_MIXIN = {
    "module": '''\
"""$cls: the $name Dockyard mixin.

A package composes it in by listing the class and adding an instance::

    class MyPackage(PackageService):
        USED_MIXIN_CLASSES = [$cls]

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.add_mixin($cls())

Its routes are prefixed with ``/$pkg/`` so they do not clash with other mixins'.
"""

from dockyard import PackageMixin, post


$class_line
    """Adds ``POST /$pkg/echo`` to a package.

    Replace it with your own routes (and state: a mixin is a plain object).
    """

    @post("/$pkg/echo")
    def echo(self, text: str, times: int = 1) -> dict[str, str | int]:
        """Return the text repeated ``times`` times."""
        return {"text": text * times, "times": times}
''',
    "test": '''\
"""Tests of $cls.

The mixin is composed into a package, and instances of it are made on a real
(temporary) store: ``make_instance`` is a pytest fixture that comes with Dockyard.
"""

from dockyard import compose
from dockyard.testing import InstanceFactory

$import_line

# A package made of the mixin (and whatever it requires), as an application makes one.
$host_line
ECHO = "/$pkg/echo"


def test_echo_answers_through_the_package(make_instance: InstanceFactory) -> None:
    host = make_instance(Host)
    assert host.invoke(ECHO, text="ab", times="2") == {"text": "abab", "times": 2}


def test_dir_lists_the_route(make_instance: InstanceFactory) -> None:
    described = make_instance(Host).invoke("__dir__", verb="GET")
    assert ECHO in [method["path"] for method in described["methods"]]
''',
    "README.md": """# $name

A [Dockyard](https://pypi.org/project/dockyard/) mixin: `$cls`, in
`src/$pkg/mixin.py`. It is declared as the entry point `$name` in the
`$group` group, so installing this project makes it available to packages.

## Install

```bash
pip install -e .
```

## Test

```bash
pip install -e ".[test]"
pytest
```

The tests in `tests/` compose the mixin into a package and use `make_instance`, a pytest
fixture that comes with Dockyard: an instance on a real, temporary store, whose
`invoke(...)` raises typed errors (e.g. `ArgumentError` for a 422).

## Use

```bash
dockyard list --group mixins   # lists $name
```

Compose it into a package (its route is `POST /$pkg/echo`):

```python
from typing import Any, ClassVar

from dockyard import PackageMixin, PackageService
from dockyard.testing import call

$import_line

ECHO = "/$pkg/echo"


class MyPackage(PackageService):
$used_mixins

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
$add_mixin


print(call(MyPackage(), "POST", ECHO, text="hi").data)  # {"text": "hi", "times": 1}
```
""",
}

_PLUGIN = {
    "module": '''\
"""$cls: the $name Dockyard plugin, a tagger.

``POST /tag`` takes a file of blocks and returns it with a tag on each whole-word,
case-insensitive occurrence of the configured words, spanning the word in its block's
text; the tags the file already had are kept. Once installed, it is listed by::

    dockyard list --group plugins
"""

import re

from dockyard import Config
from dockyard.plugins import PluginRequest, Tag, Tagger
from dockyard.plugins.types import TagInput, TagOutput
from pydantic import Field, field_validator


$class_line
    """Tags each occurrence of the configured words. Replace ``run`` with your own."""

    class Config(Config):
        """The plugin config, validated once when an instance is created."""

        words: list[str] = Field(
            ["todo", "fixme"], description="The words to tag: whole words, in any case."
        )
        kind: str = Field("keyword", description="The kind of the tags added.")

        @field_validator("words")
        @classmethod
        def _no_empty_word(cls, words: list[str]) -> list[str]:
            if "" in words:
                raise ValueError("an empty word would match everywhere")
            return words

    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        """Add a tag (``kind``, named after the word) on each occurrence of each word."""
        kind = self.config.kind
        file = request.data.file
        for word in dict.fromkeys(self.config.words):
            # Whole words: not preceded or followed by a letter, digit or underscore.
            pattern = re.compile(rf"(?<!\\w){re.escape(word)}(?!\\w)", re.IGNORECASE)
            for block in file.blocks:
                block.tags.extend(
                    Tag(kind=kind, name=word, start_idx=m.start(), end_idx=m.end())
                    for m in pattern.finditer(block.text)
                )
        return TagOutput(file=file)
''',
    "test": '''\
"""Tests of $cls.

Instances on a real (temporary) store, and a live server: ``make_instance`` and
``dockyard_server`` are pytest fixtures that come with Dockyard.
"""

import pytest
from dockyard import ArgumentError, ConfigError
from dockyard.plugins import Block, File, Tag
from dockyard.testing import InstanceFactory, ServerFactory

$import_line


def test_each_word_is_tagged_with_its_span(make_instance: InstanceFactory) -> None:
$plugin_in_test
    text = "TODO: ship it. Todos can wait; fixme!"
    tags = plugin.tag(File(blocks=[Block(text=text)])).blocks[0].tags
    assert [text[t.start_idx : t.end_idx] for t in tags] == ["TODO", "fixme"]
    assert [(t.kind, t.name) for t in tags] == [
        ("keyword", "todo"),
        ("keyword", "fixme"),
    ]


def test_the_words_and_kind_are_configurable(make_instance: InstanceFactory) -> None:
$plugin_configured_in_test
    file = plugin.tag(File(blocks=[Block(text="We SHIP, shipping.")]))
    tags = file.blocks[0].tags
    assert [(t.kind, t.start_idx, t.end_idx) for t in tags] == [("verb", 3, 7)]


def test_existing_tags_are_kept(make_instance: InstanceFactory) -> None:
$plugin_in_test
    block = Block(text="todo", tags=[Tag(kind="note", name="mine")])
    tags = plugin.tag(File(blocks=[block])).blocks[0].tags
    assert [t.kind for t in tags] == ["note", "keyword"]


def test_a_bad_file_is_a_422_naming_it(make_instance: InstanceFactory) -> None:
$plugin_in_test
    with pytest.raises(ArgumentError) as raised:
        plugin.invoke("tag", file="nope")
    assert raised.value.status == 422
    assert [p["field"] for p in raised.value.details["problems"]] == ["file"]


def test_a_bad_config_is_a_config_error(make_instance: InstanceFactory) -> None:
    with pytest.raises(ConfigError, match="words"):
$plugin_bad_config


def test_it_is_served_over_http(dockyard_server: ServerFactory) -> None:
    # The installed plugin, by its entry-point name, in a real `dockyard serve`.
$serve_in_test
$use_plugin_in_test
    tags = plugin.tag(File(blocks=[Block(text="Ship it")])).blocks[0].tags
    assert [t.name for t in tags] == ["ship"]
''',
    "README.md": """# $name

A [Dockyard](https://pypi.org/project/dockyard/) plugin: `$cls`, in
`src/$pkg/plugin.py`. It is a tagger: given a file of blocks, it tags each
whole-word, case-insensitive occurrence of the configured `words` (default `todo`
and `fixme`) with a `keyword` tag (config `kind`) spanning the word in its block's
text, and keeps the tags the file had. It is declared as the entry point `$name` in
the `$group` group, so installing this project is all it takes for Dockyard to
find it.

## Install

```bash
pip install -e .
```

## Test

```bash
pip install -e ".[test]"
pytest
```

The tests in `tests/` use the pytest fixtures that come with Dockyard:
`make_instance($cls, config)` makes an instance on a real, temporary store (with
`tag(file)`, and `invoke(...)` raising typed errors), and `dockyard_server("$name")`
starts a live `dockyard serve` with a ready `client`.

## Use

```bash
dockyard list --group plugins   # lists $name
```

From a package, by its entry-point name:

```python
from dockyard import PackageService, post
from dockyard.plugins import Block, File


class Notes(PackageService):
    @post("keywords")
    def keywords(self, text: str) -> list[str]:
$use_plugin
        file = tagger.tag(File(blocks=[Block(text=text)]))
        return [text[tag.start_idx : tag.end_idx] for tag in file.blocks[0].tags]
```

Over HTTP, make an instance once (add `"config": {...}` to configure it), then call
it; `$$KEY` is the local API key `dockyard serve` creates (in `.dockyard/credentials`):

```bash
dockyard serve $name
curl -X POST -H "Authorization: Bearer $$KEY" -H "Content-Type: application/json" \\
  -d '{"plugin": "$name", "instance": "$name"}' http://127.0.0.1:8080/__api__/instances
curl -X POST -H "Authorization: Bearer $$KEY" -H "Content-Type: application/json" \\
  -d '{"file": {"blocks": [{"text": "TODO: write the docs"}]}}' \\
  http://127.0.0.1:8080/$name/$name/tag
```
""",
}
