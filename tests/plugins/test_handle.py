"""Tests for dockyard.plugins.handle: ``use_plugin`` from packages and mixins, ``run``
with validation both ways, and the per-type conveniences."""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import pytest

from dockyard import (
    ArgumentError,
    Config,
    ConfigError,
    PackageMixin,
    PackageService,
    post,
)
from dockyard.core.discovery import ComponentNotFoundError
from dockyard.core.engine import Engine
from dockyard.core.errors import PluginOutputError
from dockyard.plugins import (
    Block,
    Blockifier,
    Embedder,
    File,
    FileImporter,
    Generator,
    PluginRequest,
    Tag,
    Tagger,
)
from dockyard.plugins.handle import PluginHandle
from dockyard.plugins.types import (
    BlockifyInput,
    BlockifyOutput,
    EmbedInput,
    EmbedOutput,
    GenerateInput,
    GenerateOutput,
    ImportInput,
    ImportOutput,
    TagInput,
    TagOutput,
)
from dockyard.testing import call


class Caps(Tagger):
    """Tags words in capitals."""

    class Config(Config):
        """The tag kind."""

        kind: str = "caps"

    made: ClassVar[int] = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        type(self).made += 1

    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        file = request.data.file
        for block in file.blocks:
            text = block.text or ""
            start = 0
            for word in text.split(" "):
                if word and word.isupper():
                    block.tags.append(
                        Tag(kind=self.config.kind, start_idx=start, end_idx=start + len(word))
                    )
                start += len(word) + 1
        return TagOutput(file=file)


class Lines(Blockifier):
    """One block per line."""

    def run(self, request: PluginRequest[BlockifyInput]) -> BlockifyOutput:
        text = request.data.content().decode()
        blocks = [Block(text=line) for line in text.splitlines()]
        return BlockifyOutput(file=File(mime_type=request.data.mime_type, blocks=blocks))


class Lengths(Embedder):
    """A text's length and vowel count."""

    def run(self, request: PluginRequest[EmbedInput]) -> EmbedOutput:
        return EmbedOutput(
            vectors=[
                [float(len(t)), float(sum(c in "aeiou" for c in t))] for t in request.data.texts
            ]
        )


class Reverse(Generator):
    """Each block's text reversed (``options.times`` copies)."""

    def run(self, request: PluginRequest[GenerateInput]) -> GenerateOutput:
        times = int(request.data.options.get("times", 1))
        return GenerateOutput(
            blocks=[
                Block(text=(b.text or "")[::-1]) for b in request.data.blocks for _ in range(times)
            ]
        )


class Echo(FileImporter):
    """Imports text as given."""

    def run(self, request: PluginRequest[ImportInput]) -> ImportOutput:
        data = request.data
        if data.text is not None:
            raw = data.text.encode()
        elif data.data is not None:
            raw = base64.b64decode(data.data)
        else:
            raw = f"fetched {data.url}".encode()
        return ImportOutput(
            data=base64.b64encode(raw).decode(), mime_type=data.mime_type or "text/plain"
        )


class Liar(Tagger):
    """Returns a tag whose span runs past its block's text."""

    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        file = request.data.file
        file.blocks[0].tags.append(Tag(kind="x", start_idx=0, end_idx=1))
        file.blocks[0].tags[-1].end_idx = 999  # mutated after validation
        return TagOutput(file=file)


class Desk(PackageService):
    """Uses plugins from its routes."""

    class Config(Config):
        """Which tag kind to ask for."""

        kind: str = "loud"

    @post("shout")
    def shout(self, text: str) -> dict[str, Any]:
        file = self.use_plugin(Caps, config={"kind": self.config.kind}).tag(
            File(blocks=[Block(text=text)])
        )
        return file.model_dump(mode="json")


class Summing(PackageMixin):
    """A mixin using a plugin through its package."""

    @post("lengths")
    def lengths(self, texts: list[str]) -> list[list[float]]:
        return self.use_plugin(Lengths).embed(texts)


class WithMixin(PackageService):
    """Composes `Summing`."""

    USED_MIXIN_CLASSES: ClassVar[list[type[PackageMixin]]] = [Summing]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_mixin(Summing())


def test_run_validates_input_and_returns_the_output_model() -> None:
    handle = Desk().use_plugin(Caps)
    assert isinstance(handle, PluginHandle)
    out = handle.run({"file": File(blocks=[Block(text="say HI now")])})
    assert isinstance(out, TagOutput)
    [tag] = out.file.blocks[0].tags
    assert (tag.kind, tag.start_idx, tag.end_idx) == ("caps", 4, 6)
    # The input model itself works as well as a mapping of its fields.
    again = handle.run(TagInput(file=File(blocks=[Block(text="OK")])))
    assert again.file.blocks[0].tags[0].end_idx == 2


def test_invalid_input_is_an_argument_error_naming_the_field() -> None:
    handle = Desk().use_plugin(Caps)
    with pytest.raises(ArgumentError, match=r"file\.blocks\.0\.text") as caught:
        handle.run({"file": {"blocks": [{"text": 5}]}})
    assert caught.value.status == 422
    assert "Caps" in caught.value.message
    with pytest.raises(ArgumentError, match="input model or a mapping"):
        handle.run("a text")


def test_wrong_output_is_a_plugin_output_error_naming_the_plugin() -> None:
    handle = Desk().use_plugin(Liar)
    with pytest.raises(
        PluginOutputError, match=r"Liar.*file\.blocks\.0: .*span \[0, 999\)"
    ) as caught:
        handle.tag(File(blocks=[Block(text="abc")]))
    assert caught.value.status == 500


def test_bad_plugin_config_is_a_config_error_naming_the_plugin() -> None:
    with pytest.raises(ConfigError, match="Caps") as caught:
        Desk().use_plugin(Caps, config={"kind": ["not", "a", "str"]})
    assert "kind" in caught.value.message


def test_one_handle_per_plugin_and_config() -> None:
    desk = Desk()
    before = Caps.made
    first = desk.use_plugin(Caps, config={"kind": "a"})
    assert desk.use_plugin(Caps, config={"kind": "a"}) is first
    assert desk.use_plugin(Caps, config={"kind": "b"}) is not first
    assert Caps.made == before + 2
    # Another package instance has its own handles.
    assert Desk().use_plugin(Caps, config={"kind": "a"}) is not first


def test_use_plugin_from_a_route_and_from_a_mixin() -> None:
    response = call(Desk(config={"kind": "big"}), "POST", "shout", text="a BIG deal")
    assert response.status == 200, response.error
    assert response.data["blocks"][0]["tags"][0]["kind"] == "big"
    response = call(WithMixin(), "POST", "lengths", texts=["abc", "queue"])
    assert response.status == 200, response.error
    assert response.data == [[3.0, 1.0], [5.0, 4.0]]


def test_conveniences_per_plugin_type() -> None:
    desk = Desk()
    file = desk.use_plugin(Lines).blockify("one\ntwo", "text/plain")
    assert [b.text for b in file.blocks] == ["one", "two"]
    assert desk.use_plugin(Lines).blockify(b"x\ny", "text/plain").blocks[1].text == "y"
    assert desk.use_plugin(Lengths).embed(["ab"]) == [[2.0, 1.0]]
    blocks = desk.use_plugin(Reverse).generate(["abc", Block(text="xy")], times=2)
    assert [b.text for b in blocks] == ["cba", "cba", "yx", "yx"]
    echo = desk.use_plugin(Echo)
    assert echo.import_(text="hello").content() == b"hello"
    assert echo.import_(data=b"\x00\x01", mime_type="application/x").content() == b"\x00\x01"
    assert echo.import_("https://example.org/a").content() == b"fetched https://example.org/a"


def test_a_convenience_of_another_type_names_both() -> None:
    with pytest.raises(TypeError, match=r"embed\(\) is for Embedder plugins.*Tagger"):
        Desk().use_plugin(Caps).embed(["x"])
    with pytest.raises(TypeError, match="list of texts"):
        Desk().use_plugin(Lengths).embed("one text")


def test_a_plugin_type_or_a_package_is_not_a_plugin() -> None:
    with pytest.raises(TypeError, match="plugin type, not a plugin"):
        Desk().use_plugin(Tagger)
    with pytest.raises(TypeError, match="PluginService subclass"):
        Desk().use_plugin(Desk)  # type: ignore[arg-type]


def test_an_unknown_handle_lists_the_installed_plugins() -> None:
    with pytest.raises(ComponentNotFoundError, match="no-such-plugin"):
        Desk().use_plugin("no-such-plugin")


def test_plugins_are_made_by_the_package_engine() -> None:
    engine = Engine()
    desk = engine.create(Desk)
    plugin = desk.use_plugin(Caps).plugin
    assert plugin._engine is engine
    assert plugin._hooks is engine.plugin_manager.hook
