"""Tests for dockyard.core.spec: MethodSpec, PackageSpec (the route table) and to_dict."""

from dataclasses import replace

import pytest

from dockyard import MethodSpec, PackageMixin, PackageService, PackageSpec, RouteConflictError, post
from dockyard.core.routes import Verb, get
from dockyard.core.spec import qualified_name


class Catalog(PackageService):
    """A catalog of things."""

    @post("items", public=True, timeout=10)
    def add_item(self, name: str, count: int = 1) -> dict[str, int]:
        """Add an item."""
        return {name: count}

    @get("items")
    def list_items(self) -> list[str]:
        return []

    @get("about")
    def about(self) -> str:
        return "about"


class Other(PackageService):
    @post("about")
    def about_too(self) -> None: ...

    @post("extra")
    def extra(self) -> None: ...

    @post("more")
    def more(self) -> None: ...


class Tools(PackageMixin):
    pass


def _route(cls: type[PackageService], verb: str, path: str) -> MethodSpec:
    method = cls.spec.get_method(verb, path)
    assert method is not None
    return method


def test_methods_are_sorted_by_path_then_verb() -> None:
    assert [(m.path, m.verb.value) for m in Catalog.spec.methods] == [
        ("/__dir__", "GET"),
        ("/__dir__", "POST"),
        ("/__instance_init__", "POST"),
        ("/about", "GET"),
        ("/items", "GET"),
        ("/items", "POST"),
    ]


def test_method_to_dict_describes_the_route() -> None:
    assert _route(Catalog, "POST", "/items").to_dict() == {
        "path": "/items",
        "verb": "POST",
        "name": "add_item",
        "doc": "Add an item.",
        "returns": "dict[str, int]",
        "class_name": f"{Catalog.__module__}.Catalog",
        "config": {"public": True, "timeout": 10},
        "args": [
            {"name": "name", "kind": "str", "required": True, "default": None, "values": None},
            {"name": "count", "kind": "int", "required": False, "default": 1, "values": None},
        ],
    }


def test_spec_to_dict_is_the_dir_document() -> None:
    described = Catalog.spec.to_dict()

    assert list(described) == ["name", "doc", "version", "used_mixins", "config", "methods"]
    assert described["name"] == "Catalog"
    assert described["doc"] == "A catalog of things."
    assert described["version"] is None
    assert described["used_mixins"] == []
    assert described["config"] == []
    assert described["methods"] == [m.to_dict() for m in Catalog.spec.methods]
    assert described["methods"][0]["class_name"] == "dockyard.core.service.Invocable"


def test_spec_to_dict_names_version_mixins_and_config() -> None:
    spec = PackageSpec(
        "tools",
        version="1.2.0",
        used_mixins=[Tools],
        config_params=[{"name": "depth", "type": "int", "required": True}],
    )
    described = spec.to_dict()

    assert described["version"] == "1.2.0"
    assert described["used_mixins"] == [qualified_name(Tools)]
    assert described["config"] == [{"name": "depth", "type": "int", "required": True}]
    assert described["methods"] == []


@pytest.mark.parametrize(
    ("verb", "path"), [("post", "items"), ("POST", "/items"), (Verb.POST, "//items/")]
)
def test_get_method_normalises_verb_and_path(verb: Verb | str, path: str) -> None:
    assert Catalog.spec.get_method(verb, path) is _route(Catalog, "POST", "/items")


@pytest.mark.parametrize(("verb", "path"), [("PUT", "items"), ("FETCH", "items"), ("GET", "")])
def test_get_method_is_none_for_no_route(verb: str, path: str) -> None:
    assert Catalog.spec.get_method(verb, path) is None


def test_verbs_for_lists_the_verbs_of_a_path() -> None:
    assert sorted(v.value for v in Catalog.spec.verbs_for("/items")) == ["GET", "POST"]
    assert Catalog.spec.verbs_for("/nowhere") == []


def test_method_spec_public_and_origin() -> None:
    add_item = _route(Catalog, "POST", "items")
    assert add_item.public is True
    assert _route(Catalog, "GET", "items").public is False
    assert add_item.describe_origin() == f"{qualified_name(Catalog)}.add_item"


def test_class_spec_is_frozen() -> None:
    assert Catalog.spec.frozen
    with pytest.raises(TypeError, match=r"belongs to a class and is read-only; add routes to an"):
        Catalog.spec.add_methods([_route(Other, "POST", "extra")], where="Catalog")
    assert Catalog.spec.get_method("POST", "extra") is None


def test_add_methods_is_all_or_nothing() -> None:
    spec = PackageSpec("combo")
    spec.add_methods([_route(Catalog, "GET", "about")], where="combo")
    batch = [_route(Other, "POST", "extra"), _route(Other, "POST", "more")]
    clash = replace(_route(Other, "POST", "about"), verb=Verb.GET)  # Other's, at Catalog's route

    with pytest.raises(RouteConflictError, match=r"route conflict in combo: GET /about"):
        spec.add_methods([*batch, clash], where="combo")

    assert [(m.verb.value, m.path) for m in spec.methods] == [("GET", "/about")]
    assert spec.verbs_for("/extra") == []


def test_add_methods_rejects_a_clash_inside_one_batch() -> None:
    spec = PackageSpec("combo")
    first = _route(Catalog, "GET", "about")
    second = replace(_route(Other, "POST", "about"), verb=Verb.GET)

    with pytest.raises(RouteConflictError) as caught:
        spec.add_methods([_route(Other, "POST", "extra"), first, second], where="combo")

    assert caught.value.existing is first
    assert caught.value.duplicate is second
    assert len(spec) == 0


def test_add_methods_may_overwrite_on_purpose() -> None:
    spec = PackageSpec("combo")
    old = _route(Catalog, "GET", "about")
    new = replace(_route(Other, "POST", "about"), verb=Verb.GET)
    spec.add_methods([old], where="combo")
    spec.add_methods([old], where="combo")  # the same route again is no clash

    spec.add_methods([new], where="combo", permit_overwrite_of_existing_methods=True)
    assert spec.get_method("GET", "about") is new
    spec.add_methods([old], where="combo", may_replace=lambda existing, _: existing is new)
    assert spec.get_method("GET", "about") is old
    assert spec.verbs_for("/about") == [Verb.GET]


def test_copy_is_independent_and_writable() -> None:
    clone = Catalog.spec.copy()

    assert not clone.frozen
    assert clone.methods == Catalog.spec.methods
    assert (clone.name, clone.doc, clone.config_model) == (
        "Catalog",
        "A catalog of things.",
        Catalog.spec.config_model,
    )
    clone.add_methods([_route(Other, "POST", "extra")], where="clone")

    assert clone.get_method("POST", "extra") is not None
    assert Catalog.spec.get_method("POST", "extra") is None
    assert len(clone) == len(Catalog.spec) + 1
    assert "/extra" not in [m.path for m in Catalog.spec.methods]
    assert Catalog.spec.verbs_for("/extra") == []
