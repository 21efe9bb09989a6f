"""Tests for dockyard.plugins.service: plugin types, plugins, input validation (422 with
the field path) and output validation (500 naming the plugin and the field)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from dockyard import Config, ConfigError, InvocableResponse, post
from dockyard.core.errors import PluginOutputError
from dockyard.plugins import Block, File, PluginRequest, PluginService, Tag, Tagger
from dockyard.plugins.service import is_plugin_type
from dockyard.plugins.types import TagInput, TagOutput
from dockyard.testing import call


class Shout(Tagger):
    """Tags each block that is all capitals."""

    class Config(Config):
        """What to call the tag."""

        kind: str = "shout"

    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        file = request.data.file
        for block in file.blocks:
            if block.text and block.text.isupper():
                block.tags.append(Tag(kind=self.config.kind, start_idx=0, end_idx=len(block.text)))
        return TagOutput(file=file)


def _file(*texts: str) -> dict[str, Any]:
    return File(blocks=[Block(text=t) for t in texts]).model_dump(mode="json")


def test_a_plugin_type_fixes_its_models_and_route() -> None:
    assert is_plugin_type(Tagger)
    assert not is_plugin_type(Shout)
    assert (Tagger.input_model, Tagger.output_model) == (TagInput, TagOutput)
    assert Shout.plugin_route == "/tag"
    assert Shout.plugin_type is Tagger
    [route] = [m for m in Shout.spec.methods if m.path == "/tag"]
    assert route.verb.value == "POST"
    assert [a.name for a in route.args] == ["file"]
    assert route.returns == "TagOutput"


def test_a_plugin_runs_with_validated_input_and_config() -> None:
    response = call(Shout(config={"kind": "loud"}), "POST", "tag", file=_file("HEY", "calm"))
    assert response.status == 200, response.error
    blocks = response.data["file"]["blocks"]
    assert [[t["kind"] for t in b["tags"]] for b in blocks] == [["loud"], []]
    assert blocks[0]["tags"][0]["end_idx"] == 3


def test_plugin_config_is_validated_like_a_package() -> None:
    with pytest.raises(ConfigError, match="kind"):
        Shout(config={"kind": 3})


def test_invalid_input_is_a_422_naming_the_field_path() -> None:
    bad = _file("short")
    bad["blocks"][0]["tags"] = [{"kind": "k", "start_idx": 0, "end_idx": 99}]
    response = call(Shout(), "POST", "tag", file=bad)
    assert response.status == 422
    assert response.error is not None
    fields = [p["field"] for p in response.error.details["problems"]]
    assert fields == ["file.blocks.0"]
    assert "99" in response.error.message
    missing = call(Shout(), "POST", "tag")
    assert missing.status == 422
    assert [p["field"] for p in missing.error.details["problems"]] == ["file"]  # type: ignore[union-attr]


class Careless(Tagger):
    """Returns the wrong shape in several ways."""

    class Config(Config):
        """Which mistake to make."""

        mistake: str = "extra"

    def run(self, request: PluginRequest[TagInput]) -> Any:
        file = request.data.file
        if self.config.mistake == "extra":
            return {"files": [file]}
        if self.config.mistake == "mutated":
            # Valid when built, broken afterwards: must still be caught.
            file.blocks[0].tags.append(Tag(kind="x", start_idx=0, end_idx=2))
            file.blocks[0].text = ""
            return TagOutput(file=file)
        if self.config.mistake == "not-json":
            return {"file": object()}
        return InvocableResponse(json={"file": {"blocks": "nope"}})


@pytest.mark.parametrize(
    ("mistake", "field"),
    [
        ("extra", "file"),
        ("mutated", "file.blocks.0"),
        ("not-json", "(output)"),
        ("response", "file.blocks"),
    ],
)
def test_a_plugin_returning_the_wrong_shape_is_a_500_naming_it(mistake: str, field: str) -> None:
    response = call(Careless(config={"mistake": mistake}), "POST", "tag", file=_file("ab"))
    assert response.status == 500
    error = response.error
    assert isinstance(error, PluginOutputError)
    assert "Careless" in error.message
    assert "Tagger" in error.message
    assert field in [p["field"] for p in error.details["problems"]]


def test_run_validated_returns_the_output_model() -> None:
    out = Shout().run_validated(TagInput(file=File(blocks=[Block(text="OK")])))
    assert isinstance(out, TagOutput)
    assert out.file.blocks[0].tags[0].kind == "shout"
    with pytest.raises(PluginOutputError):
        Careless().run_validated(TagInput(file=File()))


def test_a_plugin_that_does_not_implement_run_says_so() -> None:
    class Lazy(Tagger):
        pass

    response = call(Lazy(), "POST", "tag", file=_file("x"))
    assert response.status == 500
    assert response.error is not None
    assert response.error.code == "internal_error"  # the traceback is logged, not sent


class Words(BaseModel):
    text: str


class Count(BaseModel):
    words: int


def test_a_third_party_plugin_type_and_extra_routes() -> None:
    class Counter(PluginService[Words, Count], route="/count/"):
        """Counts words."""

    class Spaces(Counter):
        def run(self, request: PluginRequest[Words]) -> Count:
            return Count(words=len(request.data.text.split()))

        @post("about")
        def about(self) -> str:
            return "counts words"

    assert is_plugin_type(Counter)
    assert Spaces.plugin_route == "/count"
    assert call(Spaces(), "POST", "count", text="a b c").data == {"words": 3}
    assert call(Spaces(), "POST", "about").data == "counts words"


def test_declaration_mistakes_are_type_errors_at_class_definition() -> None:
    with pytest.raises(TypeError, match="no route"):

        class NoRoute(PluginService[Words, Count]):
            pass

    with pytest.raises(TypeError, match="not its models"):

        class NoModels(PluginService, route="x"):  # type: ignore[type-arg]
            pass

    with pytest.raises(TypeError, match="without a plugin type"):

        class Bare(PluginService):  # type: ignore[type-arg]
            pass

    with pytest.raises(TypeError, match="two pydantic models"):

        class NotModels(PluginService[int, str], route="x"):  # type: ignore[type-var]
            pass

    with pytest.raises(TypeError, match="cannot declare another route"):

        class Twice(Shout, route="again"):
            pass
