"""PackageMixin, USED_MIXIN_CLASSES, add_mixin and scan_mixin (core/mixin.py, core/service.py)."""

# USED_MIXIN_CLASSES is a plain list by design (the seed API).
# ruff: noqa: RUF012

from __future__ import annotations

import inspect
from typing import Any

import pytest

from dockyard import (
    Config,
    ConfigError,
    DockyardError,
    MixinError,
    PackageMixin,
    PackageService,
    PackageSpec,
    RouteConflictError,
    get,
    post,
)
from dockyard.testing import call


def qn(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Counter(PackageMixin):
    """Counts."""

    def __init__(self, start: int = 0) -> None:
        self.value = start

    @post("increment")
    def increment(self, by: int = 1) -> int:
        self.value += by
        return self.value

    @get("count")
    def count(self) -> int:
        return self.value


class CountingPackage(PackageService):
    USED_MIXIN_CLASSES = [Counter]

    def __init__(self, start: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_mixin(Counter(start))

    @get("own")
    def own(self) -> str:
        return "own"


class Clasher(PackageMixin):
    """Three routes; only the last (sorted by path) clashes with CountingPackage."""

    @get("alpha")
    def alpha(self) -> str:
        return "alpha"

    @get("beta")
    def beta(self) -> str:
        return "beta"

    @get("own")
    def own_too(self) -> str:
        return "mixin own"


# --- listed mixins ------------------------------------------------------------------------


def test_listed_mixin_routes_are_in_the_class_spec_before_any_instance() -> None:
    spec = CountingPackage.spec
    assert spec.used_mixins == (Counter,)
    method = spec.get_method("POST", "increment")
    assert method is not None
    assert method.owner is Counter
    described = spec.to_dict()
    assert described["used_mixins"] == [qn(Counter)]
    by_route = {(m["verb"], m["path"]): m for m in described["methods"]}
    assert by_route["POST", "/increment"]["class_name"] == qn(Counter)
    assert by_route["GET", "/count"]["class_name"] == qn(Counter)
    assert by_route["GET", "/own"]["class_name"] == qn(CountingPackage)


def test_add_mixin_binds_routes_to_the_mixin_instance_without_copying_the_spec() -> None:
    inst = CountingPackage(start=40)
    assert inst.spec is CountingPackage.spec
    assert len(inst.mixins) == 1
    assert isinstance(inst.mixins[0], Counter)
    assert call(inst, "POST", "increment", by="2").data == 42
    assert call(inst, "GET", "count").data == 42
    assert inst.mixins[0].value == 42
    # another instance has its own mixin state
    assert call(CountingPackage(), "GET", "count").data == 0


def test_listed_mixin_never_added_fails_at_construction() -> None:
    class Forgetful(PackageService):
        USED_MIXIN_CLASSES = [Counter]

    with pytest.raises(DockyardError) as info:
        Forgetful()
    err = info.value
    assert isinstance(err, MixinError)
    assert err.code == "mixin_not_added"
    assert qn(Counter) in err.message
    assert "Forgetful" in err.message
    assert "self.add_mixin(Counter(...))" in err.suggestion
    assert err.details == {"missing": [qn(Counter)]}


def test_listed_mixin_never_added_names_every_missing_mixin() -> None:
    class Other(PackageMixin):
        @get("other")
        def other(self) -> str:
            return "other"

    class Forgetful(PackageService):
        USED_MIXIN_CLASSES = [Counter, Other]

        def __init__(self) -> None:
            super().__init__()
            self.add_mixin(Other())

    with pytest.raises(MixinError, match=r"never added it") as info:
        Forgetful()
    assert info.value.details == {"missing": [qn(Counter)]}
    assert qn(Other) not in info.value.message


# --- mixin subclasses ---------------------------------------------------------------------


class BaseGreeter(PackageMixin):
    def __init__(self) -> None:
        self.name = "greeter"

    @get("greet")
    def greet(self) -> str:
        return f"base greet from {self.name}"

    @get("farewell")
    def farewell(self) -> str:
        return f"bye from {type(self).__name__}"


class SubGreeter(BaseGreeter):
    @get("/greet")
    def greet_differently(self) -> str:
        return f"sub greet from {self.name}"


class GreeterPackage(PackageService):
    USED_MIXIN_CLASSES = [BaseGreeter]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_mixin(self.USED_MIXIN_CLASSES[0]())


def test_mixin_subclass_redefining_a_path_with_another_method_name_overrides_it() -> None:
    method = SubGreeter.spec.get_method("GET", "greet")
    assert (method.name, method.owner) == ("greet_differently", SubGreeter)

    class Direct(GreeterPackage):
        USED_MIXIN_CLASSES = [SubGreeter]

    assert Direct.spec.used_mixins == (SubGreeter,)
    assert GreeterPackage.spec.used_mixins == (BaseGreeter,)
    inst = Direct()
    assert inst.spec is Direct.spec
    assert call(inst, "GET", "greet").data == "sub greet from greeter"
    # the inherited, not redefined route is bound to the SubGreeter instance too
    assert call(inst, "GET", "farewell").data == "bye from SubGreeter"
    # the base package is unaffected
    assert call(GreeterPackage(), "GET", "greet").data == "base greet from greeter"


def test_package_listing_a_mixin_subclass_directly_gets_its_routes() -> None:
    class Fresh(PackageService):
        USED_MIXIN_CLASSES = [SubGreeter]

        def __init__(self) -> None:
            super().__init__()
            self.add_mixin(SubGreeter())

    assert call(Fresh(), "GET", "greet").data == "sub greet from greeter"
    assert call(Fresh(), "GET", "farewell").data == "bye from SubGreeter"


def test_package_subclass_overriding_a_listed_mixin_route_can_still_add_the_mixin() -> None:
    class Overrides(CountingPackage):
        @get("count")
        def my_count(self) -> str:
            return f"count is {self.mixins[0].value}"

    inst = Overrides(start=3)
    assert inst.spec is Overrides.spec
    assert call(inst, "GET", "count").data == "count is 3"
    assert call(inst, "POST", "increment").data == 4


# --- clashes ------------------------------------------------------------------------------


def test_add_mixin_clash_raises_with_both_specs_and_adds_nothing() -> None:
    inst = CountingPackage()
    before = inst.mixins[:]
    with pytest.raises(RouteConflictError) as info:
        inst.add_mixin(Clasher())
    err = info.value
    assert err.existing is CountingPackage.spec.get_method("GET", "own")
    assert err.duplicate is Clasher.spec.get_method("GET", "own")
    assert "GET /own" in err.message
    assert f"{qn(CountingPackage)}.own" in err.message
    assert f"{qn(Clasher)}.own_too" in err.message
    # all or nothing
    assert inst.spec is CountingPackage.spec
    assert inst.mixins == before
    assert call(inst, "GET", "alpha").status == 404
    assert call(inst, "GET", "beta").status == 404
    assert call(inst, "GET", "own").data == "own"
    # and the clashing class was not registered as added: it can be added with permission
    inst.add_mixin(Clasher(), permit_overwrite_of_existing_methods=True)
    assert call(inst, "GET", "own").data == "mixin own"


def test_permit_overwrite_lets_the_mixin_route_win_on_that_instance_only() -> None:
    inst = CountingPackage()
    inst.add_mixin(Clasher(), permit_overwrite_of_existing_methods=True)
    assert call(inst, "GET", "own").data == "mixin own"
    assert call(inst, "GET", "alpha").data == "alpha"
    assert inst.mixins[-1].__class__ is Clasher
    assert CountingPackage.spec.get_method("GET", "own").owner is CountingPackage
    assert call(CountingPackage(), "GET", "own").data == "own"


def test_two_listed_mixins_with_one_route_conflict_at_class_definition() -> None:
    class CountAgain(PackageMixin):
        @get("/count/")
        def how_many(self) -> int:
            return 0

    with pytest.raises(RouteConflictError) as info:

        class Greedy(PackageService):
            USED_MIXIN_CLASSES = [Counter, CountAgain]

    assert {info.value.existing.owner, info.value.duplicate.owner} == {Counter, CountAgain}
    assert "GET /count" in info.value.message
    assert "Greedy" in info.value.message


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ([CountingPackage], "not a PackageMixin subclass"),
        ([Counter()], "not a PackageMixin subclass"),
        (["Counter"], "not a PackageMixin subclass"),
        ("Counter", "must be a list"),
        ([Counter, Counter], "lists both"),
        ([BaseGreeter, SubGreeter], "lists both"),
    ],
    ids=["package", "instance", "name", "string", "twice", "base-and-sub"],
)
def test_listing_something_other_than_distinct_mixins_is_a_mixin_error(
    listed: Any, expected: str
) -> None:
    with pytest.raises(MixinError, match=expected):
        type("Wrong", (PackageService,), {"USED_MIXIN_CLASSES": listed})


@pytest.mark.parametrize("second", [Counter, type("SubCounter", (Counter,), {})])
def test_adding_a_mixin_class_twice_is_a_mixin_error(second: type) -> None:
    inst = CountingPackage()
    with pytest.raises(MixinError) as info:
        inst.add_mixin(second())
    assert info.value.code == "mixin_already_added"
    assert qn(Counter) in info.value.message
    assert len(inst.mixins) == 1


class Named(PackageMixin):
    """A helper base with no routes of its own."""

    def __init__(self, name: str) -> None:
        self.name = name


class Ping(Named):
    @get("ping")
    def ping(self) -> str:
        return f"ping from {self.name}"


class Pong(Named):
    @get("pong")
    def pong(self) -> str:
        return f"pong from {self.name}"


@pytest.mark.parametrize("listed", [[], [Ping, Pong]])
def test_two_mixins_sharing_a_routeless_base_can_both_be_added(listed: list[type]) -> None:
    class Both(PackageService):
        USED_MIXIN_CLASSES = listed

        def __init__(self) -> None:
            super().__init__()
            self.add_mixin(Ping("a"))
            self.add_mixin(Pong("b"))

    inst = Both()
    assert [m.name for m in inst.mixins] == ["a", "b"]
    assert call(inst, "GET", "ping").data == "ping from a"
    assert call(inst, "GET", "pong").data == "pong from b"


@pytest.mark.parametrize("thing", [Counter, "Counter", object()])
def test_add_mixin_needs_a_mixin_instance(thing: object) -> None:
    with pytest.raises(MixinError, match="needs a PackageMixin instance"):
        CountingPackage().add_mixin(thing)  # type: ignore[arg-type]


def test_add_mixin_before_package_init_is_a_mixin_error() -> None:
    class Early(PackageService):
        def __init__(self) -> None:
            self.add_mixin(Counter())
            super().__init__()

    with pytest.raises(MixinError, match=r"add_mixin called before PackageService.__init__"):
        Early()


# --- copy-on-write ------------------------------------------------------------------------


def test_unlisted_mixin_added_to_one_instance_stays_on_that_instance() -> None:
    first, second = CountingPackage(), CountingPackage()
    first.add_mixin(SubGreeter())
    assert first.spec is not CountingPackage.spec
    assert not first.spec.frozen
    assert call(first, "GET", "greet").data == "sub greet from greeter"
    assert first.spec.get_method("GET", "greet").owner is SubGreeter
    assert CountingPackage.spec.get_method("GET", "greet") is None
    assert second.spec is CountingPackage.spec
    assert call(second, "GET", "greet").status == 404
    assert call(CountingPackage(), "GET", "greet").status == 404


# --- scan_mixin ---------------------------------------------------------------------------


def test_scan_mixin_keeps_the_seed_signature() -> None:
    params = inspect.signature(PackageService.scan_mixin).parameters
    assert [(p.name, p.default) for p in params.values()] == [
        ("package_spec", inspect.Parameter.empty),
        ("mixin_class", inspect.Parameter.empty),
        ("mixin_instance", None),
        ("permit_overwrite_of_existing_methods", False),
    ]
    add_params = inspect.signature(PackageService.add_mixin).parameters
    assert list(add_params) == ["self", "mixin", "permit_overwrite_of_existing_methods"]
    assert add_params["permit_overwrite_of_existing_methods"].default is False


def test_scan_mixin_is_all_or_nothing_on_an_unfrozen_spec() -> None:
    spec = CountingPackage.spec.copy()
    before = spec.methods
    with pytest.raises(RouteConflictError, match=r"GET /own"):
        PackageService.scan_mixin(spec, Clasher)
    assert spec.methods == before
    assert spec.get_method("GET", "alpha") is None

    PackageService.scan_mixin(spec, Clasher, Clasher(), permit_overwrite_of_existing_methods=True)
    assert spec.get_method("GET", "alpha") is Clasher.spec.get_method("GET", "alpha")
    assert spec.get_method("GET", "own").owner is Clasher
    assert CountingPackage.spec.get_method("GET", "alpha") is None


def test_scan_mixin_into_an_empty_spec_and_into_a_frozen_one() -> None:
    spec = PackageSpec("Empty")
    PackageService.scan_mixin(spec, Counter)
    assert [(m.verb.value, m.path) for m in spec.methods] == [
        ("GET", "/count"),
        ("POST", "/increment"),
    ]
    with pytest.raises(TypeError, match="read-only"):
        PackageService.scan_mixin(CountingPackage.spec, Clasher)


@pytest.mark.parametrize(
    ("mixin_class", "mixin_instance", "expected"),
    [
        (CountingPackage, None, "needs a PackageMixin subclass"),
        (Counter, BaseGreeter(), "is not a Counter"),
    ],
)
def test_scan_mixin_checks_its_arguments(
    mixin_class: type, mixin_instance: Any, expected: str
) -> None:
    spec = PackageSpec("Empty")
    with pytest.raises(MixinError, match=expected):
        PackageService.scan_mixin(spec, mixin_class, mixin_instance)
    assert len(spec) == 0


# --- mixin config: config_key and the nested Config ------------------------------------------


@pytest.mark.parametrize(
    ("class_name", "expected"),
    [
        ("FileImporterMixin", "file_importer"),
        ("HTTPClientMixin", "http_client"),
        ("Counter", "counter"),
        ("Blockifier2Mixin", "blockifier2"),
        ("S3UploadMixin", "s3_upload"),
        ("Mixin", "mixin"),
    ],
)
def test_default_config_key_is_the_class_name_in_snake_case(class_name: str, expected: str) -> None:
    mixin = type(class_name, (PackageMixin,), {})
    assert mixin.config_key == expected


def test_an_explicit_config_key_is_kept_and_not_inherited_as_a_default() -> None:
    class Importer(PackageMixin):
        config_key = "files"

    class FancyImporter(Importer):
        pass

    assert Importer.config_key == "files"
    assert FancyImporter.config_key == "fancy_importer"


@pytest.mark.parametrize("key", ["file-importer", "2fa", "with space", ""])
def test_a_config_key_that_is_not_an_identifier_is_a_type_error(key: str) -> None:
    with pytest.raises(TypeError, match=rf"\.Bad\.config_key '{key}' must be a Python identifier"):

        class Bad(PackageMixin):
            config_key = key


class Configured(PackageMixin):
    """A mixin with its own config."""

    config_key = "configured"

    class Config(Config):
        url: str
        retries: int = 3


def test_mixin_config_is_validated_into_its_nested_config() -> None:
    mixin = Configured(config={"url": "http://x", "retries": "5"})
    assert isinstance(mixin.config, Configured.Config)
    assert mixin.config.retries == 5
    given = Configured.Config(url="http://y")
    assert Configured(config=given).config is given
    assert Configured.config_cls() is Configured.Config
    assert [p["name"] for p in Configured.spec.to_dict()["config"]] == ["url", "retries"]


def test_invalid_mixin_config_names_the_mixin_and_its_section() -> None:
    with pytest.raises(ConfigError) as caught:
        Configured(config={"retries": "often", "colour": "red"})
    message = caught.value.message
    assert f"mixin {qn(Configured)} (config section 'configured')" in message
    assert "url: Field required" in message
    assert "retries: Input should be a valid integer" in message
    assert "colour: unknown config key" in message
    assert caught.value.status == 422


def test_a_mixin_without_a_config_accepts_none_and_rejects_keys() -> None:
    assert Counter.config_cls() is Config
    plain = type("Plain", (PackageMixin,), {})
    assert plain().config == Config()
    with pytest.raises(
        ConfigError, match=r"config section 'plain'\): anything: unknown config key"
    ):
        plain(config={"anything": 1})
