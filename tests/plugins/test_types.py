"""Tests for dockyard.plugins.types: the shipped plugin types, their models, and their
registration through dockyard's own entry points."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from dockyard.core.discovery import Discovery
from dockyard.plugins import Blockifier, Embedder, FileImporter, Generator, Tagger
from dockyard.plugins.service import is_plugin_type
from dockyard.plugins.types import (
    BlockifyInput,
    EmbedOutput,
    GenerateInput,
    ImportInput,
    ImportOutput,
)

SHIPPED = {
    "blockifier": (Blockifier, "/blockify"),
    "embedder": (Embedder, "/embed"),
    "file-importer": (FileImporter, "/import"),
    "generator": (Generator, "/generate"),
    "tagger": (Tagger, "/tag"),
}


def test_the_shipped_types_are_registered_through_entry_points() -> None:
    discovery = Discovery()
    assert {n: t for n, t in discovery.plugin_types().items() if n in SHIPPED} == {
        name: cls for name, (cls, _) in SHIPPED.items()
    }
    for name in SHIPPED:
        assert discovery.get("dockyard.plugin_types", name).provenance.distribution == "dockyard"


@pytest.mark.parametrize(("cls", "route"), SHIPPED.values())
def test_each_shipped_type_is_a_plugin_type_with_its_route(cls: type, route: str) -> None:
    assert is_plugin_type(cls)
    assert cls.plugin_route == route  # type: ignore[attr-defined]
    assert [m.verb.value for m in cls.spec.methods if m.path == route] == ["POST"]  # type: ignore[attr-defined]


def test_import_input_takes_exactly_one_source() -> None:
    assert ImportInput(url="file:///x").url == "file:///x"
    assert ImportInput(text="hi", mime_type="text/plain").text == "hi"
    for bad in ({}, {"url": "file:///x", "text": "y"}):
        with pytest.raises(ValidationError, match="exactly one of url, text or data"):
            ImportInput(**bad)


def test_base64_fields_are_checked_and_decoded() -> None:
    encoded = base64.b64encode(b"\x00bytes").decode()
    assert ImportOutput(data=encoded, mime_type="x/y").content() == b"\x00bytes"
    assert BlockifyInput(data=encoded, mime_type="text/plain").content() == b"\x00bytes"
    for model in (ImportInput, BlockifyInput):
        with pytest.raises(ValidationError, match="base64"):
            model(data="not base64!", mime_type="text/plain")


def test_embed_output_vectors_share_one_dimension() -> None:
    assert EmbedOutput(vectors=[[1.0, 0.0], [0.0, 1.0]]).vectors[1] == [0.0, 1.0]
    assert EmbedOutput(vectors=[]).vectors == []
    with pytest.raises(ValidationError, match=r"one dimension, got dimensions \[2, 3\]"):
        EmbedOutput(vectors=[[1.0, 0.0], [1.0, 0.0, 0.0]])


def test_generate_input_options_default_to_empty() -> None:
    assert GenerateInput(blocks=[]).options == {}
    with pytest.raises(ValidationError, match="Extra inputs"):
        GenerateInput(blocks=[], prompt="x")  # type: ignore[call-arg]
