"""Tests for dockyard.plugins.generators: extractive-summarizer, called through its route on
a real multi-paragraph English text."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard import ConfigError
from dockyard.core.discovery import Discovery
from dockyard.core.errors import ArgumentError
from dockyard.plugins import Generator
from dockyard.plugins.generators import ExtractiveSummarizer
from dockyard.plugins.model import Block
from dockyard.plugins.text import extractive_summary, split_sentences
from dockyard.testing import call

ESSAY = [
    "The port of Rotterdam handles more cargo than any other harbour in Europe. Its "
    "container terminals stretch for forty kilometres along the Maas. Most of the "
    "cranes on the Maasvlakte are operated remotely from a control room.",
    "Dr. Jansen, who has studied the port since 1998, argues that automation changed "
    "the work more than the volume did. Fewer dockers are needed, but each one now "
    "supervises several machines at once. Training has moved from the quay to "
    "simulators.",
    "Critics worry about resilience. A single software failure in 2021 halted loading "
    "for nine hours, and ships queued at anchor off Hoek van Holland. The operators "
    "have since added a manual fallback for every automated crane.",
    "Still, the port keeps growing. New berths for hydrogen carriers are planned, and "
    "the harbour authority expects to double its liquid-bulk capacity by 2035.",
]


def blocks_of(*texts: str) -> list[dict[str, Any]]:
    return [Block(text=t, mime_type="text/plain").model_dump(mode="json") for t in texts]


def summarize(plugin: ExtractiveSummarizer, texts: list[str], **options: Any) -> list[str]:
    response = call(plugin, "POST", "generate", blocks=blocks_of(*texts), options=options)
    assert response.status == 200, response.error
    blocks = response.data["blocks"]
    assert {b["mime_type"] for b in blocks} <= {"text/plain"}
    assert all(b["tags"] == [] for b in blocks)
    return [b["text"] for b in blocks]


def all_sentences() -> list[str]:
    return [s for paragraph in ESSAY for s in split_sentences(paragraph)]


def test_keeps_the_k_best_sentences_in_their_original_order() -> None:
    chosen = summarize(ExtractiveSummarizer(), ESSAY)
    sentences = all_sentences()
    assert len(sentences) == 11
    assert len(chosen) == 3
    positions = [sentences.index(s) for s in chosen]
    assert positions == sorted(positions)
    # "Dr. Jansen" is not a sentence end: every chosen sentence is a whole one.
    assert not any(s.endswith("Dr.") for s in chosen)


def test_the_blocks_are_summarised_together_as_one_document() -> None:
    chosen = summarize(ExtractiveSummarizer(config={"k": 4}), ESSAY)
    assert chosen == extractive_summary(ESSAY, 4)
    # Scored against each other, not block by block: not one per block.
    per_block = [extractive_summary([p], 1)[0] for p in ESSAY]
    assert chosen != per_block


def test_a_sentence_never_spans_two_blocks() -> None:
    chosen = summarize(
        ExtractiveSummarizer(config={"k": 10}), ["Harbour Operations", "Cranes move boxes."]
    )
    assert chosen == ["Harbour Operations", "Cranes move boxes."]


def test_options_k_overrides_the_config() -> None:
    plugin = ExtractiveSummarizer(config={"k": 2})
    assert len(summarize(plugin, ESSAY)) == 2
    one = summarize(plugin, ESSAY, k=1)
    assert len(one) == 1
    assert one[0] in summarize(plugin, ESSAY, k=5)


def test_fewer_sentences_than_k_keeps_them_all_and_no_blocks_give_none() -> None:
    assert summarize(ExtractiveSummarizer(), ESSAY[3:], k=50) == split_sentences(ESSAY[3])
    assert summarize(ExtractiveSummarizer(), []) == []
    assert summarize(ExtractiveSummarizer(), ["", "   "]) == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"k": 0}, "options.k"),
        ({"k": -2}, "options.k"),
        ({"k": "3"}, "options.k"),
        ({"k": 2.5}, "options.k"),
        ({"k": True}, "options.k"),
        ({"k": None}, "options.k"),
        ({"length": 3}, "options.length"),
    ],
)
def test_invalid_options_are_a_422_naming_the_option(options: dict[str, Any], field: str) -> None:
    response = call(
        ExtractiveSummarizer(), "POST", "generate", blocks=blocks_of(*ESSAY), options=options
    )
    assert response.status == 422
    error = response.error
    assert isinstance(error, ArgumentError)
    assert [p["field"] for p in error.details["problems"]] == [field]
    assert field in error.message
    assert "extractive-summarizer" in error.message


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"blocks": "text"}, "blocks"),
        ({"blocks": [{"txt": "x"}]}, "blocks.0.txt"),
        ({"blocks": [], "options": [1]}, "options"),
        ({}, "blocks"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(arguments: dict[str, Any], field: str) -> None:
    response = call(ExtractiveSummarizer(), "POST", "generate", **arguments)
    assert response.status == 422
    assert response.error is not None
    assert field in [p["field"] for p in response.error.details["problems"]]


@pytest.mark.parametrize("k", [0, -1, "three"])
def test_a_bad_k_config_is_a_config_error(k: object) -> None:
    with pytest.raises(ConfigError, match="k"):
        ExtractiveSummarizer(config={"k": k})


def test_registered_through_the_installed_entry_points() -> None:
    loaded = Discovery().load("dockyard.plugins", "extractive-summarizer")
    assert loaded is ExtractiveSummarizer
    assert loaded.plugin_type is Generator
