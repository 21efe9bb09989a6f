"""Tests for dockyard.core.errors: the hierarchy, error bodies, and errors raised by methods."""

import logging
import re

import pytest

import dockyard.core.errors as errors_module
from dockyard import (
    ArgumentError,
    ConfigError,
    DockyardError,
    InternalError,
    InvocableRequest,
    InvocableResponse,
    Invocation,
    InvocationError,
    MethodNotAllowedError,
    MixinError,
    PackageService,
    PackageSpec,
    RouteConflictError,
    RouteNotFoundError,
    post,
)
from dockyard.core.spec import qualified_name

SECRET = "s3cret-token-91f2"


class Kettle(PackageService):
    @post("brew")
    def brew(self) -> None:
        raise DockyardError(
            "I'm a teapot", code="teapot", status=418, suggestion="ask for tea", details={"n": 1}
        )

    @post("boom")
    def boom(self) -> None:
        raise RuntimeError(f"database password is {SECRET}")


class Left(PackageService):
    @post("shared")
    def one(self) -> None: ...


class Right(PackageService):
    @post("/shared/")
    def two(self) -> None: ...


def _call(path: str) -> InvocableResponse:
    return Kettle()(InvocableRequest(invocation=Invocation(invocation_path=path)))


def test_dockyard_error_raised_from_a_method_keeps_its_status() -> None:
    response = _call("brew")

    assert response.status == 418
    assert response.error is not None
    assert response.error.to_dict() == {
        "error": {
            "code": "teapot",
            "message": "I'm a teapot",
            "suggestion": "ask for tea",
            "details": {"n": 1},
        }
    }


def test_unexpected_exception_is_a_500_with_an_error_id_and_no_exception_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="dockyard"):
        response = _call("boom")

    assert response.status == 500
    error = response.error
    assert isinstance(error, InternalError)
    error_id = error.details["error_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", error_id)
    assert error_id in error.message
    assert "POST /boom" in error.message
    body = str(error.to_dict())
    assert SECRET not in body
    assert "RuntimeError" not in body
    assert "Traceback" not in body
    (record,) = [r for r in caplog.records if r.name == "dockyard"]
    assert error_id in record.getMessage()
    assert SECRET in caplog.text
    assert "Traceback" in caplog.text


def test_each_error_id_is_new() -> None:
    first, second = _call("boom").error, _call("boom").error
    assert isinstance(first, InternalError)
    assert isinstance(second, InternalError)
    assert first.error_id != second.error_id


@pytest.mark.parametrize(
    ("cls", "builtin", "status", "code"),
    [
        (RouteConflictError, ValueError, 500, "route_conflict"),
        (ConfigError, ValueError, 422, "invalid_config"),
        (MixinError, TypeError, 500, "mixin_error"),
        (InvocationError, Exception, 400, "invocation_error"),
        (ArgumentError, ValueError, 422, "invalid_arguments"),
        (RouteNotFoundError, LookupError, 404, "not_found"),
        (MethodNotAllowedError, LookupError, 405, "method_not_allowed"),
        (InternalError, Exception, 500, "internal_error"),
    ],
)
def test_hierarchy_statuses_and_codes(
    cls: type[DockyardError], builtin: type[Exception], status: int, code: str
) -> None:
    assert issubclass(cls, DockyardError)
    assert issubclass(cls, builtin)
    assert (cls.default_status, cls.default_code) == (status, code)


def test_invocation_errors_derive_from_invocation_error() -> None:
    for cls in (ArgumentError, RouteNotFoundError, MethodNotAllowedError, InternalError):
        assert issubclass(cls, InvocationError)


def test_error_defaults_and_overrides() -> None:
    plain = ConfigError("bad config")
    assert (plain.code, plain.status, plain.suggestion, plain.details) == (
        "invalid_config",
        422,
        None,
        None,
    )
    assert str(plain) == "bad config"
    custom = ConfigError("bad", code="custom", status=400, suggestion="fix it", details=[1])
    assert (custom.code, custom.status, custom.details) == ("custom", 400, [1])
    assert str(custom) == "bad (fix it)"


def test_route_conflict_carries_both_routes_and_names_them() -> None:
    existing = Left.spec.get_method("POST", "shared")
    duplicate = Right.spec.get_method("POST", "shared")
    assert existing is not None
    assert duplicate is not None
    spec = PackageSpec("both")
    spec.add_methods([existing], where="pkg.Both")

    with pytest.raises(RouteConflictError) as caught:
        spec.add_methods([duplicate], where="pkg.Both")

    error = caught.value
    assert error.existing is existing
    assert error.duplicate is duplicate
    assert error.message == (
        f"route conflict in pkg.Both: POST /shared is defined by {qualified_name(Right)}.two "
        f"and by {qualified_name(Left)}.one"
    )
    assert "permit_overwrite_of_existing_methods=True" in (error.suggestion or "")
    assert error.details == {
        "verb": "POST",
        "path": "/shared",
        "existing": f"{qualified_name(Left)}.one",
        "duplicate": f"{qualified_name(Right)}.two",
    }


def test_internal_error_points_at_the_log() -> None:
    error = InternalError("internal error in POST /x", error_id="abc123")
    assert error.to_dict()["error"] == {
        "code": "internal_error",
        "message": "internal error in POST /x",
        "suggestion": "this is a bug in the service; its log has the traceback under abc123",
        "details": {"error_id": "abc123"},
    }


def test_module_docstring_draws_the_tree_of_every_class() -> None:
    doc = errors_module.__doc__ or ""
    drawn = dict(re.findall(r"(\w+Error) \(([\w, ]+)\)", doc))

    assert sorted(drawn) == sorted(errors_module.__all__)
    for name, bases in drawn.items():
        cls = getattr(errors_module, name)
        assert bases.split(", ") == [base.__name__ for base in cls.__bases__], name
