"""Tests for dockyard.core.config: config models, validated once, at construction."""

from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

import dockyard
from dockyard import ConfigError, InvocableRequest, Invocation, PackageService, post
from dockyard.core.config import describe_config, validate_config


class Greeter(PackageService):
    class Config(dockyard.Config):
        greeting: str = Field("Hello", description="How to greet")
        times: int = Field(description="How many times")
        loud: bool = False

    @post("greet")
    def greet(self, name: str) -> str:
        text = " ".join([f"{self.config.greeting}, {name}"] * self.config.times)
        return text.upper() if self.config.loud else text


class RemoteSettings(dockyard.Config):
    url: str
    retries: int = 3


class Remote(PackageService):
    @classmethod
    def config_cls(cls) -> type[BaseModel]:
        return RemoteSettings


def _problems(error: ConfigError) -> dict[str, str]:
    return {p["field"]: p["problem"] for p in error.details["problems"]}


def test_nested_config_is_validated_and_used() -> None:
    greeter = Greeter(config={"greeting": "Hi", "times": "2", "loud": "true"})

    assert isinstance(greeter.config, Greeter.Config)
    assert greeter.config.times == 2
    invocation = Invocation(invocation_path="greet", arguments={"name": "Ann"})
    assert greeter(InvocableRequest(invocation=invocation)).data == "HI, ANN HI, ANN"


def test_config_cls_override_is_used() -> None:
    remote = Remote(config={"url": "http://example.test"})

    assert isinstance(remote.config, RemoteSettings)
    assert (remote.config.url, remote.config.retries) == ("http://example.test", 3)
    with pytest.raises(ConfigError, match=r"invalid config for Remote: url: Field required"):
        Remote()


def test_config_error_lists_every_bad_field() -> None:
    with pytest.raises(ConfigError) as caught:
        Greeter(config={"loud": "maybe", "colour": "red", "greeting": 5})
    error = caught.value

    assert isinstance(error, ValueError)
    assert error.status == 422
    assert _problems(error) == {
        "colour": "unknown config key",
        "greeting": "Input should be a valid string",
        "times": "Field required",
        "loud": "Input should be a valid boolean, unable to interpret input",
    }
    assert error.message.startswith("invalid config for Greeter: ")
    for field in ("colour", "greeting", "times", "loud"):
        assert f"{field}: " in error.message
    assert error.suggestion == (
        "fix the listed fields; accepted config keys: greeting, times (required), loud"
    )


def test_empty_string_counts_as_not_given() -> None:
    greeter = Greeter(config={"greeting": "", "times": 1, "loud": ""})
    assert (greeter.config.greeting, greeter.config.loud) == ("Hello", False)

    with pytest.raises(ConfigError) as caught:
        Greeter(config={"times": ""})
    assert _problems(caught.value) == {"times": "Field required"}


def test_config_is_frozen() -> None:
    greeter = Greeter(config={"times": 1})
    with pytest.raises(ValidationError, match="frozen"):
        greeter.config.times = 5  # type: ignore[misc]
    assert greeter.config.times == 1


def test_model_instances_are_accepted_or_checked() -> None:
    own = Greeter.Config(times=4)
    assert Greeter(config=own).config is own

    with pytest.raises(ConfigError) as caught:
        Greeter(config=RemoteSettings(url="x"))
    assert _problems(caught.value) == {
        "url": "unknown config key",
        "retries": "unknown config key",
        "times": "Field required",
    }


def test_config_that_is_not_a_mapping_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"config for Greeter must be a mapping .*got list"):
        Greeter(config=["times", 1])  # type: ignore[arg-type]


def test_describe_config_lists_name_type_default_description_required() -> None:
    assert describe_config(Greeter.Config) == [
        {
            "name": "greeting",
            "type": "str",
            "default": "Hello",
            "description": "How to greet",
            "required": False,
        },
        {
            "name": "times",
            "type": "int",
            "default": None,
            "description": "How many times",
            "required": True,
        },
        {"name": "loud", "type": "bool", "default": False, "description": None, "required": False},
    ]


def test_dir_lists_config_without_an_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_instances(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the spec must not need an instance")

    monkeypatch.setattr(Greeter, "__init__", no_instances)

    assert Greeter.spec.to_dict()["config"] == describe_config(Greeter.Config)
    assert Remote.spec.to_dict()["config"][0] == {
        "name": "url",
        "type": "str",
        "default": None,
        "description": None,
        "required": True,
    }


def test_validate_config_names_its_owner() -> None:
    with pytest.raises(ConfigError, match=r"^invalid config for mixin Tools: url: Field required"):
        validate_config(RemoteSettings, None, owner="mixin Tools")
    assert validate_config(RemoteSettings, {"url": "u"}, owner="mixin Tools") == RemoteSettings(
        url="u"
    )
