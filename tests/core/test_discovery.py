"""Entry-point discovery against real installed distributions (see ``make_dist`` in conftest).

Every test builds its own distributions in a temporary directory and points
`Discovery` at that directory only, so nothing installed in the test environment leaks in.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dockyard.core.discovery import (
    GROUPS,
    HANDLE_GROUPS,
    Component,
    ComponentLoadError,
    ComponentNotFoundError,
    ComponentStatus,
    Discovery,
    DiscoveryError,
    DiscoveryWarning,
    Provenance,
    distribution_of,
    is_handle,
)
from dockyard.core.errors import DockyardError

if TYPE_CHECKING:
    from conftest import DistFactory

MIXINS = "dockyard.mixins"
PACKAGES = "dockyard.packages"
PLUGINS = "dockyard.plugins"

MIXIN_SOURCE = """
from dockyard import PackageMixin

class Mixin(PackageMixin):
    pass

def not_a_class():
    pass
"""

PACKAGE_SOURCE = """
from pydantic import BaseModel
from dockyard import PackageService
from dockyard.plugins import PluginService

class Package(PackageService):
    pass

class In(BaseModel):
    text: str

class Out(BaseModel):
    text: str

class PluginType(PluginService[In, Out], route="echo"):
    pass

class Plugin(PluginType):
    def run(self, request):
        return Out(text=request.data.text)
"""


def recording(marker: Path, then: str = "") -> str:
    """Source of a module that appends a line to ``marker`` each time it is executed."""
    return f"with open({str(marker)!r}, 'a') as f:\n    f.write('imported\\n')\n{then}\n"


def imports_of(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def discover(root: Path, **kwargs: object) -> Discovery:
    return Discovery(path=[str(root)], **kwargs)  # type: ignore[arg-type]


def statuses(discovery: Discovery) -> dict[str, str]:
    return {c.name: c.status.value for c in discovery.components()}


# --- groups and kinds ---------------------------------------------------------------


def test_groups_map_each_entry_point_group_to_its_kind() -> None:
    assert dict(GROUPS) == {
        "dockyard.packages": "package",
        "dockyard.mixins": "mixin",
        "dockyard.plugin_types": "plugin type",
        "dockyard.plugins": "plugin",
        "dockyard.hooks": "hooks",
    }
    assert frozenset({PACKAGES, PLUGINS}) == HANDLE_GROUPS


def test_component_kind_follows_its_group(make_dist: DistFactory) -> None:
    mod = f"kinds_{make_dist.tag}"
    root = make_dist(
        "kinds",
        entry_points={
            group: {f"in-{kind.replace(' ', '-')}": f"{mod}:X"} for group, kind in GROUPS.items()
        },
    )
    discovery = discover(root)
    found = {c.provenance.group: c.kind for c in discovery.components()}
    assert found == dict(GROUPS)
    for group, kind in GROUPS.items():
        assert [c.kind for c in discovery.components(group)] == [kind]


def test_other_groups_are_ignored(make_dist: DistFactory) -> None:
    root = make_dist(
        "mixed",
        entry_points={
            "console_scripts": {"tool": "mixed:main"},
            "dockyard.mixinz": {"typo": "mixed:X"},
            MIXINS: {"real": "mixed:Mixin"},
        },
    )
    assert [c.name for c in discover(root).components()] == ["real"]


def test_groups_argument_restricts_the_listing(make_dist: DistFactory) -> None:
    root = make_dist("two-groups", entry_points={MIXINS: {"m": "x:M"}, PACKAGES: {"p": "x:P"}})
    discovery = discover(root, groups=[MIXINS])
    assert [c.name for c in discovery.components()] == ["m"]
    with pytest.raises(ValueError, match=r"unknown entry-point group 'dockyard\.packages'"):
        discovery.components(PACKAGES)


# --- listing reads metadata only; loading is lazy, per component, once ---------------


def test_listing_imports_no_component_code(
    make_dist: DistFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"explosive_{make_dist.tag}"
    marker = tmp_path / "imported.txt"
    root = make_dist(
        "explosive",
        entry_points={MIXINS: {"bomb": f"{mod}:Mixin"}, PACKAGES: {"pkg": f"{mod}:Package"}},
        modules={mod: recording(marker, then="raise RuntimeError('imported at listing time')")},
    )
    monkeypatch.syspath_prepend(str(root))  # importable, so only laziness keeps it out
    discovery = discover(root)
    assert statuses(discovery) == {"bomb": "listed", "pkg": "listed"}
    assert all(c.status is ComponentStatus.LISTED for c in discovery.components())
    assert discovery.problems == []
    assert mod not in sys.modules
    assert imports_of(marker) == 0


def test_loading_is_lazy_per_component_and_happens_once(
    make_dist: DistFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = f"first_{make_dist.tag}", f"second_{make_dist.tag}"
    marker_1, marker_2 = tmp_path / "first.txt", tmp_path / "second.txt"
    root = make_dist(
        "lazy",
        entry_points={MIXINS: {"one": f"{first}:Mixin", "two": f"{second}:Mixin"}},
        modules={
            first: recording(marker_1, then=MIXIN_SOURCE),
            second: recording(marker_2, then=MIXIN_SOURCE),
        },
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)

    loaded = discovery.load(MIXINS, "one")
    assert loaded is sys.modules[first].Mixin
    assert second not in sys.modules
    assert (imports_of(marker_1), imports_of(marker_2)) == (1, 0)
    assert statuses(discovery) == {"one": "loaded", "two": "listed"}

    component = discovery.get(MIXINS, "one")
    assert component.load() is loaded
    assert discovery.load(MIXINS, "one") is loaded
    discovery.load_all()
    assert imports_of(marker_1) == 1
    assert imports_of(marker_2) == 1
    assert statuses(discovery) == {"one": "loaded", "two": "loaded"}


def test_a_failed_component_is_not_imported_again(
    make_dist: DistFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"fails_once_{make_dist.tag}"
    marker = tmp_path / "imported.txt"
    root = make_dist(
        "fails-once",
        entry_points={MIXINS: {"bad": f"{mod}:Mixin"}},
        modules={mod: recording(marker, then="raise RuntimeError('no')")},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)
    for _ in range(3):
        with pytest.raises(ComponentLoadError):
            discovery.load(MIXINS, "bad")
    discovery.load_all()
    assert imports_of(marker) == 1
    assert [p.kind for p in discovery.problems] == ["load_failed"]


# --- deterministic order --------------------------------------------------------------


def test_order_is_by_normalised_distribution_then_entry_point_name(
    make_dist: DistFactory, tmp_path: Path
) -> None:
    first_root, second_root = tmp_path / "first", tmp_path / "second"
    # Created (and on the path) in an order unlike the sorted one; "B-Dist" sorts before
    # "a_dist" by code point but after it once normalised; entry points declared z..a.
    make_dist("zeta", entry_points={MIXINS: {"only": "z:M"}}, root=first_root)
    make_dist("B-Dist", entry_points={MIXINS: {"zz": "b:Z", "aa": "b:A"}}, root=first_root)
    make_dist("c.dist", entry_points={MIXINS: {"m": "c:M"}}, root=second_root)
    make_dist(
        "a_dist",
        entry_points={PACKAGES: {"zz-pkg": "a:P"}, MIXINS: {"yy": "a:Y", "bb": "a:B"}},
        root=second_root,
    )
    discovery = Discovery(path=[str(first_root), str(second_root)])
    order = [(c.provenance.distribution, c.name) for c in discovery.components()]
    assert order == [
        ("a_dist", "bb"),
        ("a_dist", "yy"),
        ("a_dist", "zz-pkg"),
        ("B-Dist", "aa"),
        ("B-Dist", "zz"),
        ("c.dist", "m"),
        ("zeta", "only"),
    ]
    assert [c.name for c in discovery.components(MIXINS)] == ["bb", "yy", "aa", "zz", "m", "only"]
    assert discovery.names(MIXINS) == ["aa", "bb", "m", "only", "yy", "zz"]
    # The same order whatever the path order.
    again = Discovery(path=[str(second_root), str(first_root)])
    assert [(c.provenance.distribution, c.name) for c in again.components()] == order


# --- provenance -------------------------------------------------------------------------


def test_provenance_records_group_name_value_distribution_and_version(
    make_dist: DistFactory,
) -> None:
    root = make_dist(
        "Acme-Mixins",
        "2.3.1",
        entry_points={
            MIXINS: {"greeter": "acme.mixins.greet:Greeter"},
            "dockyard.hooks": {"lifecycle": "acme.hooks"},
        },
    )
    discovery = discover(root)
    greeter = discovery.get(MIXINS, "greeter")
    assert greeter.provenance == Provenance(
        group=MIXINS,
        name="greeter",
        value="acme.mixins.greet:Greeter",
        distribution="Acme-Mixins",
        version="2.3.1",
    )
    assert str(greeter.provenance) == "Acme-Mixins 2.3.1"
    assert discovery.get("dockyard.hooks", "lifecycle").provenance.value == "acme.hooks"
    assert "Acme-Mixins 2.3.1" in repr(greeter)


# --- failure isolation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "attr", "error_type", "text"),
    [
        ("raise RuntimeError('boom at import')", "Mixin", RuntimeError, "boom at import"),
        ("import no_such_dependency_dockyard_test", "Mixin", ModuleNotFoundError, "no_such_dep"),
        ("raise SystemExit('exit at import')", "Mixin", SystemExit, "exit at import"),
        ("x = 1", "Missing", AttributeError, "Missing"),
    ],
)
def test_a_broken_distribution_is_recorded_and_the_others_load(
    make_dist: DistFactory,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    attr: str,
    error_type: type[BaseException],
    text: str,
) -> None:
    broken, good = f"broken_{make_dist.tag}", f"good_{make_dist.tag}"
    make_dist(
        "aaa-broken",
        "0.1",
        entry_points={MIXINS: {"broken": f"{broken}:{attr}"}},
        modules={broken: source},
    )
    root = make_dist(
        "zzz-good",
        entry_points={MIXINS: {"good": f"{good}:Mixin"}, PACKAGES: {"pkg": f"{good}:Package"}},
        modules={good: MIXIN_SOURCE + PACKAGE_SOURCE},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)

    components = discovery.load_all()
    assert [c.name for c in components] == ["broken", "good", "pkg"]
    assert statuses(discovery) == {"broken": "failed", "good": "loaded", "pkg": "loaded"}
    assert discovery.load(MIXINS, "good") is sys.modules[good].Mixin

    failed = discovery.get(MIXINS, "broken")
    assert failed.phase == "import"
    assert isinstance(failed.error, error_type)
    assert text in str(failed.error)
    assert failed.reason is not None
    assert failed.reason.startswith(f"import: {error_type.__name__}: ")

    [problem] = discovery.problems
    assert problem.kind == "load_failed"
    assert problem.components == (failed.provenance,)
    assert "aaa-broken 0.1" in problem.message
    assert text in problem.message


def test_loading_a_failed_component_by_name_raises_naming_distribution_and_error(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"raiser_{make_dist.tag}"
    root = make_dist(
        "raiser-dist",
        "4.5",
        entry_points={MIXINS: {"raiser": f"{mod}:Mixin"}},
        modules={mod: "raise ValueError('database URL missing')"},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)
    with pytest.raises(ComponentLoadError) as caught:
        discovery.load(MIXINS, "raiser")
    error = caught.value
    assert isinstance(error, DockyardError)
    assert isinstance(error, ImportError)
    assert "raiser-dist 4.5" in error.message
    assert "ValueError: database URL missing" in error.message
    assert error.details["distribution"] == "raiser-dist"
    assert error.details["version"] == "4.5"
    assert error.details["phase"] == "import"
    assert error.suggestion is not None
    assert "raiser-dist" in error.suggestion
    # Recorded once, however often it is asked for.
    with pytest.raises(ComponentLoadError):
        discovery.load(MIXINS, "raiser")
    assert [p.kind for p in discovery.problems] == ["load_failed"]


@pytest.mark.parametrize(
    ("group", "target", "expected"),
    [
        (MIXINS, "not_a_class", "not a PackageMixin subclass"),
        (MIXINS, "Package", "not a PackageMixin subclass"),
        (PACKAGES, "Mixin", "not a PackageService subclass"),
        (PLUGINS, "not_a_class", "not a plugin"),
        (PLUGINS, "Package", "not a plugin"),
        ("dockyard.plugin_types", "Mixin", "not a plugin type"),
    ],
)
def test_an_entry_point_of_the_wrong_kind_fails_in_the_check_phase(
    make_dist: DistFactory,
    monkeypatch: pytest.MonkeyPatch,
    group: str,
    target: str,
    expected: str,
) -> None:
    mod = f"wrong_kind_{make_dist.tag}"
    root = make_dist(
        "wrong-kind",
        entry_points={group: {"wrong": f"{mod}:{target}"}},
        modules={mod: MIXIN_SOURCE + PACKAGE_SOURCE},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)
    with pytest.raises(
        ComponentLoadError, match=f"wrong-kind 1.0 could not be loaded \\(check\\).*{expected}"
    ):
        discovery.load(group, "wrong")
    component = discovery.get(group, "wrong")
    assert component.status is ComponentStatus.FAILED
    assert component.phase == "check"
    assert isinstance(component.error, TypeError)


def test_each_group_accepts_its_kind(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"right_kind_{make_dist.tag}"
    root = make_dist(
        "right-kind",
        entry_points={
            PACKAGES: {"pkg": f"{mod}:Package"},
            MIXINS: {"mixin": f"{mod}:Mixin"},
            "dockyard.plugin_types": {"type": f"{mod}:PluginType"},
            PLUGINS: {"plugin": f"{mod}:Plugin"},
            "dockyard.hooks": {"hooks": mod},
        },
        modules={mod: MIXIN_SOURCE + PACKAGE_SOURCE},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)
    discovery.load_all()
    assert discovery.problems == []
    assert discovery.load("dockyard.hooks", "hooks") is sys.modules[mod]
    assert discovery.load(PACKAGES, "pkg") is sys.modules[mod].Package


def test_strict_turns_a_load_failure_into_a_discovery_error(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"strict_load_{make_dist.tag}"
    root = make_dist(
        "strict-broken",
        entry_points={MIXINS: {"broken": f"{mod}:Mixin"}},
        modules={mod: "raise RuntimeError('strictly broken')"},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root, strict=True)  # listing is fine
    with pytest.raises(DiscoveryError, match=r"strict-broken 1\.0.*strictly broken") as caught:
        discovery.load_all()
    assert isinstance(caught.value, DockyardError)
    assert caught.value.details["problems"][0]["kind"] == "load_failed"
    # Without strict the same environment is reported, not raised.
    assert discover(root).load_all()[0].status is ComponentStatus.FAILED


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda make: make("bad-handle", entry_points={PACKAGES: {"Bad_Name": "x:P"}}), "Bad_Name"),
        (
            lambda make: (
                make("one", entry_points={MIXINS: {"same": "one:M"}}),
                make("two", entry_points={MIXINS: {"same": "two:M"}}),
            )[0],
            "claimed by one 1.0",
        ),
    ],
    ids=["invalid-handle", "duplicate-name"],
)
def test_strict_turns_listing_problems_into_a_discovery_error_at_construction(
    make_dist: DistFactory, make: object, expected: str
) -> None:
    root = make(make_dist)  # type: ignore[operator]
    assert len(discover(root).problems) == 1
    with pytest.raises(DiscoveryError, match=expected):
        discover(root, strict=True)


# --- two distributions claiming one name ---------------------------------------------


def test_a_name_claimed_by_two_distributions_is_reported_naming_both(
    make_dist: DistFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod_a, mod_b = f"claim_a_{make_dist.tag}", f"claim_b_{make_dist.tag}"
    marker = tmp_path / "imported.txt"
    make_dist(
        "beta-dist",
        "2.0",
        entry_points={MIXINS: {"shared": f"{mod_b}:Mixin", "own-b": f"{mod_b}:Mixin"}},
        modules={mod_b: recording(marker, then=MIXIN_SOURCE)},
    )
    root = make_dist(
        "alpha-dist",
        "1.0",
        entry_points={MIXINS: {"shared": f"{mod_a}:Mixin"}, PACKAGES: {"shared": f"{mod_a}:P"}},
        modules={mod_a: recording(marker, then=MIXIN_SOURCE)},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)

    [problem] = discovery.problems  # the package "shared" is another group: no clash
    assert problem.kind == "duplicate_name"
    assert "alpha-dist 1.0" in problem.message
    assert "beta-dist 2.0" in problem.message
    assert [(p.distribution, p.version) for p in problem.components] == [
        ("alpha-dist", "1.0"),
        ("beta-dist", "2.0"),
    ]
    shared = [c for c in discovery.components(MIXINS) if c.name == "shared"]
    assert [(c.status.value, c.phase) for c in shared] == [("failed", "conflict")] * 2

    # No silent pick: loading the name fails naming both, and imports neither.
    with pytest.raises(ComponentLoadError) as caught:
        discovery.load(MIXINS, "shared")
    assert "alpha-dist 1.0" in str(caught.value)
    assert "beta-dist 2.0" in str(caught.value)
    assert imports_of(marker) == 0
    # No silent drop: the distributions' other components still load.
    assert discovery.load(MIXINS, "own-b") is sys.modules[mod_b].Mixin


def test_a_name_claimed_by_three_distributions_names_all_three(make_dist: DistFactory) -> None:
    for name in ("dist-c", "dist-a", "dist-b"):
        root = make_dist(name, entry_points={MIXINS: {"shared": f"{name.replace('-', '_')}:M"}})
    discovery = discover(root)
    with pytest.raises(ComponentLoadError) as caught:
        discovery.load(MIXINS, "shared")
    for name in ("dist-a", "dist-b", "dist-c"):
        assert f"{name} 1.0" in str(caught.value)
    for component in discovery.components():
        assert component.error is not None
        for name in ("dist-a", "dist-b", "dist-c"):
            assert f"{name} 1.0" in str(component.error)
    assert all(p.kind == "duplicate_name" for p in discovery.problems)
    mentioned = " ".join(p.message for p in discovery.problems)
    for name in ("dist-a", "dist-b", "dist-c"):
        assert f"{name} 1.0" in mentioned


# --- one distribution installed twice ----------------------------------------------------


def test_a_distribution_seen_twice_is_deduplicated_first_on_the_path_wins(
    make_dist: DistFactory, tmp_path: Path
) -> None:
    editable, built = tmp_path / "editable", tmp_path / "built"
    make_dist(
        "Acme",
        "2.0.dev0",
        entry_points={MIXINS: {"new": "acme:New", "both": "acme:B"}},
        root=editable,
    )
    make_dist(
        "acme", "1.0", entry_points={MIXINS: {"old": "acme:Old", "both": "acme:B"}}, root=built
    )

    with pytest.warns(DiscoveryWarning) as caught:
        discovery = Discovery(path=[str(editable), str(built)])
    [warning] = caught
    message = str(warning.message)
    assert str(editable) in message
    assert str(built) in message
    assert "2.0.dev0" in message
    assert warning.filename == __file__  # points at the caller
    assert [(c.name, c.provenance.version) for c in discovery.components()] == [
        ("both", "2.0.dev0"),
        ("new", "2.0.dev0"),
    ]
    assert [p.kind for p in discovery.problems] == ["duplicate_distribution"]

    with pytest.warns(DiscoveryWarning, match="installed twice"):
        reverse = Discovery(path=[str(built), str(editable)])
    assert [(c.name, c.provenance.version) for c in reverse.components()] == [
        ("both", "1.0"),
        ("old", "1.0"),
    ]


def test_a_shadowed_copy_is_ignored_even_if_only_it_declares_components(
    make_dist: DistFactory, tmp_path: Path
) -> None:
    # The copy first on the path is the one Python imports; a stale copy further down
    # must not contribute components of a version that is not in use.
    editable, built = tmp_path / "editable", tmp_path / "built"
    make_dist("acme", "2.0", entry_points={"console_scripts": {"acme": "acme:main"}}, root=editable)
    make_dist("acme", "1.0", entry_points={MIXINS: {"stale": "acme:Old"}}, root=built)
    with pytest.warns(
        DiscoveryWarning, match=r"2\.0 at \S*editable \(used\) and 1\.0 at \S*built \(ignored"
    ):
        discovery = Discovery(path=[str(editable), str(built)])
    assert discovery.components() == []


def test_an_editable_install_and_its_leftover_build_metadata_are_one_install(
    make_dist: DistFactory, tmp_path: Path
) -> None:
    # pip install -e of a src layout: the dist-info in site-packages records the project
    # in direct_url.json, and setuptools may leave src/NAME.egg-info, which the install
    # puts on sys.path. That is the same install seen twice: no warning, no problem.
    project = tmp_path / "project"
    site, src = tmp_path / "site-packages", project / "src"
    make_dist("acme", "0.1.0", entry_points={MIXINS: {"m": "acme:M"}}, root=site)
    make_dist("acme", "0.1.0", entry_points={MIXINS: {"m": "acme:M"}}, root=src)
    (site / "acme-0.1.0.dist-info" / "direct_url.json").write_text(
        json.dumps({"url": project.as_uri(), "dir_info": {"editable": True}})
    )
    for path in ([site, src], [src, site]):
        discovery = Discovery(path=[str(p) for p in path])  # a warning would be an error
        assert [c.name for c in discovery.components()] == ["m"]
        assert discovery.problems == []
    # Without the editable record the two copies are two installs, reported as before.
    (site / "acme-0.1.0.dist-info" / "direct_url.json").unlink()
    with pytest.warns(DiscoveryWarning, match="installed twice"):
        Discovery(path=[str(site), str(src)])


def test_the_same_path_entry_twice_is_not_a_duplicate(make_dist: DistFactory) -> None:
    root = make_dist("acme", entry_points={MIXINS: {"m": "acme:M"}})
    discovery = Discovery(path=[str(root), str(root), str(root) + "/", str(root) + "/."])
    assert [c.name for c in discovery.components()] == ["m"]
    assert discovery.problems == []


# --- unusual metadata ------------------------------------------------------------------


def test_a_malformed_entry_points_file_is_a_problem_not_a_crash(make_dist: DistFactory) -> None:
    make_dist("good", entry_points={MIXINS: {"fine": "good:M"}})
    root = make_dist("sloppy", "0.9", entry_points={MIXINS: {"placeholder": "x:Y"}})
    (root / "sloppy-0.9.dist-info" / "entry_points.txt").write_text(
        "[console_scripts]\nignored-here\n\n"
        "[dockyard.mixins]\n# a comment\nno-equals-sign\n  spaced  =  sloppy.mod:Thing  \n= x:Y\n"
    )
    discovery = discover(root)
    assert [
        (c.provenance.distribution, c.name, c.provenance.value) for c in discovery.components()
    ] == [
        ("good", "fine", "good:M"),
        ("sloppy", "spaced", "sloppy.mod:Thing"),
    ]
    assert [p.kind for p in discovery.problems] == ["invalid_entry_point"] * 2
    assert "sloppy 0.9" in discovery.problems[0].message
    assert "'no-equals-sign'" in discovery.problems[0].message
    with pytest.raises(DiscoveryError, match="no-equals-sign"):
        discover(root, strict=True)


def test_name_and_version_come_from_the_metadata_headers_only(make_dist: DistFactory) -> None:
    root = make_dist("Real-Name", "1.2.3", entry_points={MIXINS: {"m": "real:M"}})
    (root / "Real_Name-1.2.3.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nversion: 1.2.3\nName: Real-Name\nSummary: x\n\n"
        "Name: not-this\nVersion: 0\n"
    )
    assert str(discover(root).get(MIXINS, "m").provenance) == "Real-Name 1.2.3"


def test_an_egg_info_distribution_is_listed(make_dist: DistFactory) -> None:
    root = make_dist("other", entry_points={MIXINS: {"other": "other:M"}})
    egg = root / "Legacy_Dist.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: Legacy-Dist\nVersion: 0.5\n")
    (egg / "entry_points.txt").write_text("[dockyard.mixins]\nlegacy = legacy:M\n")
    discovery = discover(root)
    assert [str(c.provenance) for c in discovery.components()] == ["Legacy-Dist 0.5", "other 1.0"]


# --- handles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True),
        ("my-package", True),
        ("pkg2", True),
        ("2pkg", True),
        ("a" * 64, True),
        ("a-b-c-1", True),
        ("", False),
        ("a" * 65, False),
        ("Bad_Name", False),
        ("UPPER", False),
        ("snake_case", False),
        ("-x", False),
        ("x-", False),
        ("-", False),
        ("a.b", False),
        ("a b", False),
        ("x\n", False),
        ("é", False),
    ],
)
def test_is_handle(name: str, valid: bool) -> None:
    assert is_handle(name) is valid


@pytest.mark.parametrize("group", [PACKAGES, PLUGINS])
@pytest.mark.parametrize("bad", ["Bad_Name", "-x", "x-", "a" * 65])
def test_invalid_handles_are_reported_and_never_loaded(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch, group: str, bad: str
) -> None:
    mod = f"handles_{make_dist.tag}"
    target = f"{mod}:Package" if group == PACKAGES else f"{mod}:Plugin"
    root = make_dist(
        "handles",
        entry_points={
            group: {bad: target, "good-one": target},
            "dockyard.plugin_types": {"type": f"{mod}:PluginType"},
        },
        modules={mod: PACKAGE_SOURCE},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)
    [problem] = discovery.problems
    assert problem.kind == "invalid_handle"
    assert repr(bad) in problem.message
    assert "handles 1.0" in problem.message
    assert discovery.names(group) == ["good-one"]
    invalid = next(c for c in discovery.components() if c.name == bad)
    assert (invalid.status, invalid.phase) == (ComponentStatus.FAILED, "handle")
    with pytest.raises(ComponentLoadError, match="not a valid handle"):
        invalid.load()
    with pytest.raises(ComponentNotFoundError):
        discovery.load(group, bad)
    assert mod not in sys.modules
    discovery.load_all()
    assert statuses(discovery) == {bad: "failed", "good-one": "loaded", "type": "loaded"}


def test_mixin_and_other_names_are_not_restricted_to_handles(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"free_names_{make_dist.tag}"
    root = make_dist(
        "free-names",
        entry_points={
            MIXINS: {"My_Mixin": f"{mod}:Mixin"},
            "dockyard.plugin_types": {"Tagger": f"{mod}:PluginType"},
            "dockyard.hooks": {"Any.Name": mod},
        },
        modules={mod: MIXIN_SOURCE + PACKAGE_SOURCE},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)
    assert discovery.problems == []
    assert discovery.load(MIXINS, "My_Mixin") is sys.modules[mod].Mixin
    discovery.load_all()
    assert set(statuses(discovery).values()) == {"loaded"}


# --- lookups ---------------------------------------------------------------------------


def test_get_unknown_name_lists_the_installed_ones(make_dist: DistFactory) -> None:
    root = make_dist("named", entry_points={MIXINS: {"zebra": "n:Z", "apple": "n:A"}})
    discovery = discover(root)
    with pytest.raises(ComponentNotFoundError) as caught:
        discovery.get(MIXINS, "mango")
    error = caught.value
    assert isinstance(error, DockyardError)
    assert isinstance(error, LookupError)
    assert error.status == 404
    assert "no mixin named 'mango'" in error.message
    assert error.suggestion is not None
    assert "installed: apple, zebra" in error.suggestion
    assert error.details["available"] == ["apple", "zebra"]
    with pytest.raises(ComponentNotFoundError, match="installed: none"):
        discovery.load(PACKAGES, "mango")


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.get("dockyard.mixin", "x"),
        lambda d: d.load("mixins", "x"),
        lambda d: d.names("dockyard.nope"),
        lambda d: d.components("dockyard.nope"),
        lambda d: d.load_all("dockyard.nope"),
    ],
)
def test_an_unknown_group_is_a_value_error(make_dist: DistFactory, call: object) -> None:
    discovery = discover(make_dist("empty"))
    with pytest.raises(ValueError, match="unknown entry-point group"):
        call(discovery)  # type: ignore[operator]


def test_component_is_exported_and_listed_objects_are_components(make_dist: DistFactory) -> None:
    root = make_dist("one", entry_points={MIXINS: {"m": "one:M"}})
    assert all(isinstance(c, Component) for c in discover(root).components())


# --- distribution_of -----------------------------------------------------------------


class LocalClass:
    pass


def test_distribution_of(make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    mod = f"provided_{make_dist.tag}"
    root = make_dist(
        "Provider-Dist", "3.1", modules={mod: MIXIN_SOURCE, f"{mod}.sub": MIXIN_SOURCE}
    )
    monkeypatch.syspath_prepend(str(root))
    __import__(f"{mod}.sub")
    assert distribution_of(sys.modules[mod].Mixin) == "Provider-Dist 3.1"
    assert distribution_of(sys.modules[f"{mod}.sub"].Mixin) == "Provider-Dist 3.1"
    assert distribution_of(LocalClass) is None
    assert distribution_of(int) is None


def test_a_plugin_whose_type_is_not_registered_is_reported(
    make_dist: DistFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = f"unregistered_{make_dist.tag}"
    root = make_dist(
        "stray-plugin",
        entry_points={PLUGINS: {"stray": f"{mod}:Plugin"}},
        modules={mod: PACKAGE_SOURCE},
    )
    monkeypatch.syspath_prepend(str(root))
    discovery = discover(root)
    with pytest.raises(ComponentLoadError, match=r"plugin type .*PluginType is not registered"):
        discovery.load(PLUGINS, "stray")
    [problem] = discovery.problems
    assert problem.kind == "load_failed"
    assert "dockyard.plugin_types" in problem.message
