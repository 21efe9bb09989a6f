"""Tests for dockyard.core.routes: the route decorators, the record they leave, paths."""

from typing import Any

import pytest

from dockyard import (
    InvocableRequest,
    InvocableResponse,
    Invocation,
    PackageService,
    RouteConflictError,
    Verb,
    endpoint,
    get,
    post,
)
from dockyard.core.routes import ROUTE_ATTR, Route, RouteMarker, normalize_path


def _call(service: PackageService, verb: str, path: str) -> InvocableResponse:
    invocation = Invocation(http_verb=verb, invocation_path=path)
    return service(InvocableRequest(invocation=invocation))


def _handler(self: Any) -> str:
    return "ok"


def test_decorator_leaves_one_marker_under_one_attribute_and_returns_the_function() -> None:
    def handler(self: Any) -> str:
        return "ok"

    decorated = get("items", public=True, timeout=10)(handler)

    assert decorated is handler
    assert set(vars(handler)) == {ROUTE_ATTR}
    marker = getattr(handler, ROUTE_ATTR)
    assert isinstance(marker, RouteMarker)
    assert marker.routes == (Route(Verb.GET, "/items", {"public": True, "timeout": 10}),)


@pytest.mark.parametrize(
    ("key", "value"),
    [("public", True), ("public", False), ("timeout", 10), ("label", "beta"), ("ratio", 0.5)],
)
def test_json_primitive_config_is_kept_read_only(key: str, value: Any) -> None:
    def handler(self: Any) -> None: ...

    post("save", **{key: value})(handler)

    (route,) = getattr(handler, ROUTE_ATTR).routes
    assert dict(route.config) == {key: value}
    with pytest.raises(TypeError):
        route.config[key] = "changed"  # type: ignore[index]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tags", ["a", "b"]),
        ("options", {"retries": 3}),
        ("fallback", None),
        ("handler", object()),
        ("ratio", float("nan")),
        ("limit", float("inf")),
    ],
)
def test_non_primitive_config_is_a_type_error_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(TypeError, match=rf"@post\('save'\): route config {key}=.*JSON primitives"):
        post("save", **{key: value})


@pytest.mark.parametrize("value", [1, "yes", 0.0])
def test_public_must_be_a_bool(value: Any) -> None:
    with pytest.raises(TypeError, match=r"public=.* must be True or False"):
        get("open", public=value)


async def _async_handler(self: Any) -> None: ...


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (staticmethod(_handler), "<staticmethod.*must decorate plain methods defined with def"),
        (classmethod(_handler), "<classmethod.*must decorate plain methods defined with def"),
        (_async_handler, "async function .*_async_handler.*define it with def"),
    ],
    ids=["staticmethod", "classmethod", "async"],
)
def test_decorating_anything_but_a_plain_def_is_a_type_error(target: Any, problem: str) -> None:
    with pytest.raises(TypeError, match=rf"@get\('x'\) decorates {problem}"):
        get("x")(target)


def test_stacked_decorators_give_one_function_both_routes() -> None:
    class Both(PackageService):
        @get("item")
        @post("/item")
        def item(self) -> str:
            return "same handler"

    marker = getattr(Both.item, ROUTE_ATTR)
    assert [(r.verb, r.path) for r in marker.routes] == [(Verb.POST, "/item"), (Verb.GET, "/item")]
    service = Both()
    for verb in ("GET", "POST"):
        assert Both.spec.get_method(verb, "item").name == "item"
        assert _call(service, verb, "item").data == "same handler"


@pytest.mark.parametrize("second_path", ["x", "/x", "x/"])
def test_applying_the_same_route_twice_is_a_type_error(second_path: str) -> None:
    def handler(self: Any) -> None: ...

    get("x")(handler)
    with pytest.raises(TypeError, match=r"applied twice to .*handler; remove one decorator"):
        get(second_path)(handler)


def test_unknown_verb_is_a_value_error_naming_the_accepted_verbs() -> None:
    with pytest.raises(ValueError, match=r"'FETCH'; use one of GET, POST, PUT, PATCH, DELETE"):
        endpoint("FETCH", "x")


@pytest.mark.parametrize(
    ("verb", "expected"), [("delete", Verb.DELETE), ("Put", Verb.PUT), (Verb.PATCH, Verb.PATCH)]
)
def test_endpoint_accepts_any_case_and_verb_members(verb: Any, expected: Verb) -> None:
    def handler(self: Any) -> None: ...

    endpoint(verb, "thing")(handler)
    assert getattr(handler, ROUTE_ATTR).routes[0].verb is expected


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("foo", "/foo"),
        ("/foo", "/foo"),
        ("//foo", "/foo"),
        ("foo/", "/foo"),
        (" /foo/ ", "/foo"),
        ("a//b/", "/a/b"),
        ("/a/b", "/a/b"),
    ],
)
def test_normalize_path_gives_one_leading_slash_no_empty_segments(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal


@pytest.mark.parametrize("raw", ["", "/", "//", "   "])
def test_empty_path_is_a_value_error(raw: str) -> None:
    with pytest.raises(ValueError, match=r"is empty; give a name such as 'greet'"):
        post(raw)


def test_non_string_path_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="route path must be a string, got int"):
        normalize_path(7)  # type: ignore[arg-type]


def test_spellings_of_one_path_reach_one_route() -> None:
    class Paths(PackageService):
        @post("foo/")
        def foo(self) -> str:
            return "foo"

    service = Paths()
    assert Paths.spec.get_method("POST", "foo").path == "/foo"
    for spelling in ("foo", "/foo", "//foo", "foo/"):
        assert _call(service, "post", spelling).data == "foo"


def test_spellings_of_one_path_in_one_class_are_a_conflict() -> None:
    def define() -> None:
        class Twice(PackageService):
            @post("foo")
            def first(self) -> None: ...

            @post("/foo")
            def second(self) -> None: ...

    with pytest.raises(RouteConflictError, match=r"POST /foo is defined by .*Twice\.second"):
        define()


def test_route_public_reads_config() -> None:
    assert Route(Verb.GET, "/a", {"public": True}).public is True
    assert Route(Verb.GET, "/a", {}).public is False
