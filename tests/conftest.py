"""Fixtures shared by the whole test suite.

`make_dist` builds real, tiny installed distributions on disk (``*.dist-info`` plus
module files), so entry-point code is tested against ``importlib.metadata`` exactly as
it runs after ``pip install``, with no monkeypatching of discovery.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

__all__ = ["DistFactory"]


class DistFactory:
    """Builds installed distributions under a directory; see the `make_dist` fixture."""

    def __init__(self, default_root: Path) -> None:
        self.default_root = default_root
        #: An identifier fragment unique to this test: put it in module names
        #: (``f"mix_{make_dist.tag}"``) so no two tests share an entry in `sys.modules`.
        self.tag = uuid.uuid4().hex[:10]
        #: Top-level module names written so far (removed from `sys.modules` at teardown).
        self.top_level: set[str] = set()

    def __call__(
        self,
        name: str,
        version: str = "1.0",
        entry_points: Mapping[str, Mapping[str, str]] | None = None,
        modules: Mapping[str, str] | None = None,
        root: Path | None = None,
    ) -> Path:
        """Write distribution ``name`` ``version`` under ``root`` and return ``root``.

        :param name: the distribution name as published (``METADATA`` ``Name``); the
            ``.dist-info`` directory uses its escaped form (``B-Dist`` -> ``B_Dist-1.0``).
        :param version: the ``Version``.
        :param entry_points: ``{group: {entry-point name: "module:attr"}}``, written to
            ``entry_points.txt`` in the standard ini format.
        :param modules: ``{dotted module name: source}``; sources are dedented.
            ``"pkg.sub"`` writes ``pkg/sub.py`` and an empty ``pkg/__init__.py`` unless
            ``"pkg"`` is given too (then that is ``pkg/__init__.py``).
        :param root: the directory (a ``sys.path`` entry) to install into; several
            distributions may share one. Default: one directory per test, the same on
            every call.
        """
        root = self.default_root if root is None else root
        root.mkdir(parents=True, exist_ok=True)
        modules = dict(modules or {})
        packages = {m.rpartition(".")[0] for m in modules if "." in m}
        packages |= {p.rpartition(".")[0] for p in list(packages) if "." in p}
        written: list[str] = []
        for module in sorted(set(modules) | packages):
            parts = module.split(".")
            relative = (
                Path(*parts, "__init__.py")
                if module in packages
                else Path(*parts[:-1], f"{parts[-1]}.py")
            )
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(modules.get(module, "")))
            written.append(relative.as_posix())
        tops = sorted({m.partition(".")[0] for m in modules})
        self.top_level.update(tops)

        stem = f"{re.sub(r'[-_.]+', '_', name)}-{version}"
        info = root / f"{stem}.dist-info"
        info.mkdir()
        files = {
            "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            "entry_points.txt": "".join(
                f"[{group}]\n" + "".join(f"{ep} = {value}\n" for ep, value in eps.items()) + "\n"
                for group, eps in (entry_points or {}).items()
            ),
            "top_level.txt": "".join(f"{top}\n" for top in tops),
        }
        for filename, text in files.items():
            (info / filename).write_text(text)
            written.append(f"{info.name}/{filename}")
        record = "".join(f"{path},,\n" for path in [*written, f"{info.name}/RECORD"])
        (info / "RECORD").write_text(record)
        # Import finders cache directory listings; files written in the same clock tick as
        # an earlier listing would otherwise stay invisible.
        importlib.invalidate_caches()
        return root

    def forget_modules(self) -> None:
        """Drop every module written by this factory (and its submodules) from `sys.modules`."""
        for loaded in list(sys.modules):
            if loaded.partition(".")[0] in self.top_level:
                del sys.modules[loaded]


@pytest.fixture
def make_dist(tmp_path: Path) -> Iterator[DistFactory]:
    """A factory of real installed distributions::

        root = make_dist(
            "acme-mixins",
            "2.0",
            entry_points={"dockyard.mixins": {"greeter": f"acme_{make_dist.tag}:Greeter"}},
            modules={f"acme_{make_dist.tag}": "from dockyard import PackageMixin\\n..."},
        )
        discovery = Discovery(path=[str(root)])        # reads only that directory
        monkeypatch.syspath_prepend(str(root))         # so the modules import

    Each call writes ``<name>-<version>.dist-info/`` (``METADATA``, ``entry_points.txt``,
    ``top_level.txt``, ``RECORD``) and the given module files into ``root`` (default: one
    directory per test, shared by every call that gives no root) and returns ``root``.
    Give two calls different roots to install one project twice (an "editable" and a
    "built" copy).

    Use ``make_dist.tag`` in module names so they are unique to the test; modules
    written through the factory are removed from `sys.modules` when the test ends. The
    fixture does not touch `sys.path`: use ``monkeypatch.syspath_prepend`` or a
    subprocess's ``PYTHONPATH``.
    """
    factory = DistFactory(tmp_path / "site-packages")
    yield factory
    factory.forget_modules()


@pytest.fixture(autouse=True)
def dockyard_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Every test gets its own empty ``$DOCKYARD_HOME`` and no server settings, so the
    embedded store (and subprocesses, which inherit the environment) never touch the
    developer's ``./.dockyard`` or a configured server."""
    home = tmp_path_factory.mktemp("dockyard-home")
    monkeypatch.setenv("DOCKYARD_HOME", str(home))
    for name in ("DOCKYARD_URL", "DOCKYARD_API_KEY", "DOCKYARD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return home


#: The packages the server, runtime and client tests serve (a data file, loaded by path).
KIT_PATH = Path(__file__).resolve().parent / "server" / "packages" / "kit.py"


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """``tests/server/packages/kit.py`` imported once (as ``dockyard_test_kit``): the
    ``Hello`` (seed example and more), ``Flaky`` and ``Mixed`` packages."""
    name = "dockyard_test_kit"
    spec = importlib.util.spec_from_file_location(name, KIT_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # annotations resolve through sys.modules
    spec.loader.exec_module(module)
    return module
