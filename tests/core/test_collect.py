"""Route collection over the MRO, once, at class definition (src/dockyard/core/collect.py)."""

from __future__ import annotations

from typing import Any

import pytest

import dockyard.core.collect
from dockyard import (
    PackageMixin,
    PackageService,
    RouteConflictError,
    endpoint,
    get,
    post,
)
from dockyard.testing import call


def qn(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Base(PackageService):
    @get("greet")
    def greet(self) -> str:
        """Base greeting."""
        return "base"

    @post("add")
    def add(self, a: int) -> int:
        """Add nothing."""
        return a


# --- overriding ---------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["greet", "/greet", "//greet/"])
def test_subclass_redefining_a_route_overrides_it_whatever_the_method_name(spelling: str) -> None:
    class Sub(Base):
        @get(spelling)
        def hello_instead(self) -> str:
            return "sub"

    method = Sub.spec.get_method("GET", "/greet")
    assert method is not None
    assert (method.name, method.owner) == ("hello_instead", Sub)
    assert [m.path for m in Sub.spec.methods].count("/greet") == 1
    assert call(Sub(), "GET", "greet").data == "sub"
    # the base class keeps its own route
    assert call(Base(), "GET", "greet").data == "base"
    assert Base.spec.get_method("GET", "greet").name == "greet"


def test_undecorated_override_keeps_route_and_rereads_its_arguments() -> None:
    class Sub(Base):
        def add(self, a: int, b: int = 10) -> int:  # no decorator
            return a + b

    method = Sub.spec.get_method("POST", "add")
    assert method is not None
    assert method.owner is Sub
    assert [(a.name, a.kind, a.required) for a in method.args] == [
        ("a", "int", True),
        ("b", "int", False),
    ]
    assert method.doc == "Add nothing."  # falls back to the base's docstring
    assert call(Sub(), "POST", "add", a="2", b="5").data == 7
    assert call(Sub(), "POST", "add", a=2).data == 12
    # the base route still rejects the override's extra argument
    response = call(Base(), "POST", "add", a=2, b=5)
    assert response.status == 422
    assert "b" in response.error.message


def test_subclass_inherits_base_routes_and_base_never_sees_the_subclass_routes() -> None:
    class Sub(Base):
        @get("extra")
        def extra(self) -> str:
            return "extra"

    assert {(m.verb.value, m.path) for m in Sub.spec.methods} >= {
        ("GET", "/greet"),
        ("POST", "/add"),
        ("GET", "/extra"),
    }
    assert Base.spec.get_method("GET", "extra") is None
    assert call(Sub(), "GET", "greet").data == "base"
    assert call(Base(), "GET", "extra").status == 404


# --- conflicts in one class -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [("foo", "foo"), ("foo", "/foo"), ("/foo/", "//foo")],
)
def test_two_routes_with_one_verb_and_path_in_one_class_conflict(first: str, second: str) -> None:
    with pytest.raises(RouteConflictError) as info:

        class Twice(PackageService):
            @get(first)
            def one(self) -> str:
                return "one"

            @endpoint("get", second)
            def two(self) -> str:
                return "two"

    err = info.value
    assert {err.existing.name, err.duplicate.name} == {"one", "two"}
    assert "GET /foo" in err.message
    assert ".Twice.one" in err.message
    assert ".Twice.two" in err.message
    assert err.details["path"] == "/foo"


def test_same_path_with_different_verbs_is_not_a_conflict() -> None:
    class Both(PackageService):
        @get("item")
        def read(self) -> str:
            return "read"

        @post("/item")
        def write(self) -> str:
            return "write"

    assert call(Both(), "GET", "item").data == "read"
    assert call(Both(), "POST", "item").data == "write"


# --- multiple inheritance -----------------------------------------------------------------


class Left(PackageService):
    @get("shared")
    def left(self) -> str:
        return "left"


class Right(PackageService):
    @get("/shared")
    def right(self) -> str:
        return "right"


class PlainLeft:
    @get("shared")
    def left(self) -> str:
        return "left"


class PlainRight:
    @get("shared")
    def right(self) -> str:
        return "right"


@pytest.mark.parametrize(
    "bases", [(Left, Right), (Right, Left), (PlainLeft, PlainRight, PackageService)]
)
def test_unrelated_bases_with_one_route_conflict_naming_both_classes(
    bases: tuple[type, ...],
) -> None:
    with pytest.raises(RouteConflictError) as info:
        type("Both", bases, {})
    err = info.value
    assert {err.existing.owner, err.duplicate.owner} == set(bases[:2])
    for base in bases[:2]:
        assert qn(base) in err.message
    assert "GET /shared" in err.message
    assert "define the route in Both itself" in err.suggestion


def test_subclass_defining_the_route_itself_resolves_an_unrelated_bases_conflict() -> None:
    class Both(Left, Right):
        @get("shared")
        def mine(self) -> str:
            return f"{self.left()}+{self.right()}"

    assert Both.spec.get_method("GET", "shared").owner is Both
    assert call(Both(), "GET", "shared").data == "left+right"


class Top(PackageService):
    @get("who")
    def who(self) -> str:
        return "top"


class LeftMid(Top):
    pass


class RightMid(Top):
    pass


def test_diamond_sharing_the_top_route_is_fine() -> None:
    class Bottom(LeftMid, RightMid):
        pass

    assert Bottom.spec.get_method("GET", "who").owner is Top
    assert call(Bottom(), "GET", "who").data == "top"


@pytest.mark.parametrize("decorated", [True, False], ids=["redecorated", "undecorated"])
@pytest.mark.parametrize("overrider_first", [True, False], ids=["B-first", "B-second"])
def test_diamond_branch_overriding_the_top_route_wins(
    decorated: bool, overrider_first: bool
) -> None:
    if decorated:

        class B(Top):
            @get("who")
            def b_who(self) -> str:
                return "B"

    else:

        class B(Top):  # type: ignore[no-redef]
            def who(self) -> str:
                return "B"

    class C(Top):
        pass

    Bottom = type("Bottom", (B, C) if overrider_first else (C, B), {})
    assert Bottom.spec.get_method("GET", "who").owner is B
    assert call(Bottom(), "GET", "who").data == "B"


def test_diamond_with_both_branches_overriding_conflicts() -> None:
    class B(Top):
        @get("who")
        def b_who(self) -> str:
            return "B"

    class C(Top):
        @get("who")
        def c_who(self) -> str:
            return "C"

    with pytest.raises(RouteConflictError, match=r"GET /who"):
        type("Bottom", (B, C), {})


# --- shadowing and reserved paths ---------------------------------------------------------


@pytest.mark.parametrize("value", [None, 3, property(lambda self: "x"), staticmethod(lambda: "x")])
def test_shadowing_a_route_method_with_a_non_function_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError) as info:
        type("Shadow", (Base,), {"greet": value})
    message = str(info.value)
    assert "Shadow.greet" in message
    assert "GET /greet" in message
    assert "shadows the route" in message


@pytest.mark.parametrize("base", [PackageService, PackageMixin])
@pytest.mark.parametrize("path", ["/__dir__", "__secret", "__x/y"])
def test_user_paths_starting_with_double_underscore_are_reserved(base: type, path: str) -> None:
    def handler(self: Any) -> str:
        return "x"

    with pytest.raises(ValueError, match=r"reserved") as info:
        type("Reserved", (base,), {"handler": get(path)(handler)})
    assert "Reserved.handler" in str(info.value)


# --- plain helper bases -------------------------------------------------------------------


class HelperRoot:
    @get("root")
    def root(self) -> str:
        return "root"


class Helper(HelperRoot):
    """Not a Dockyard class, but it carries routes."""

    @post("help")
    def help_me(self, topic: str = "all") -> str:
        return f"help on {topic}"


def test_routes_on_a_plain_helper_base_class_are_collected() -> None:
    class WithHelper(Helper, PackageService):
        pass

    method = WithHelper.spec.get_method("POST", "help")
    assert method is not None
    assert method.class_name == qn(Helper)
    assert [a.name for a in method.args] == ["topic"]
    assert WithHelper.spec.get_method("GET", "root").owner is HelperRoot
    inst = WithHelper()
    assert call(inst, "POST", "help", topic="mixins").data == "help on mixins"
    assert call(inst, "GET", "root").data == "root"


def test_routes_on_a_plain_helper_base_of_a_mixin_are_collected() -> None:
    class HelperMixin(Helper, PackageMixin):
        pass

    assert HelperMixin.spec.get_method("POST", "help") is not None
    assert HelperMixin.spec.get_method("GET", "root") is not None


# --- collected once -----------------------------------------------------------------------


def test_routes_are_collected_once_at_class_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = dockyard.core.collect.build_arguments

    def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(func.__name__)
        return real(func, *args, **kwargs)

    monkeypatch.setattr(dockyard.core.collect, "build_arguments", counting)

    class Counted(Base):
        @get("square")
        def square(self, n: int) -> int:
            return n * n

        def add(self, a: int, b: int = 0) -> int:
            return a + b

    assert sorted(calls) == ["add", "square"]  # the counter sees class definition
    calls.clear()
    instances = [Counted() for _ in range(10)]
    for i in range(100):
        inst = instances[i % 10]
        assert call(inst, "GET", "square", n=i).data == i * i
        assert call(inst, "POST", "add", a=i, b=1).data == i + 1
        assert call(inst, "GET", "__dir__").status == 200
    assert calls == []
    assert all(inst.spec is Counted.spec for inst in instances)
