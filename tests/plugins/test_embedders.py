"""Tests for dockyard.plugins.embedders: hashing-embedder, called through its route."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest

from dockyard import ConfigError
from dockyard.core.discovery import Discovery
from dockyard.plugins import Embedder
from dockyard.plugins.embedders import HashingEmbedder
from dockyard.testing import call

TEXTS = [
    "The harbour master schedules every berth a week ahead.",
    "Berths at the harbour are scheduled a week in advance by the harbour master.",
    "Sourdough bread needs a starter, flour, water and patience.",
    "",
    "¿Dónde está el puerto? Ελληνικά κείμενα και 中文字符 too.",
]


def embed(plugin: HashingEmbedder, texts: Any) -> list[list[float]]:
    response = call(plugin, "POST", "embed", texts=texts)
    assert response.status == 200, response.error
    vectors: list[list[float]] = response.data["vectors"]
    return vectors


def dot(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def test_one_unit_vector_per_text_of_the_configured_dimension() -> None:
    vectors = embed(HashingEmbedder(), TEXTS)
    assert len(vectors) == len(TEXTS)
    assert {len(v) for v in vectors} == {256}
    for text, vector in zip(TEXTS, vectors, strict=True):
        expected = 1.0 if text else 0.0  # a text without words is the zero vector
        assert math.isclose(math.hypot(*vector), expected, abs_tol=1e-9)
    small = embed(HashingEmbedder(config={"dimensions": 32}), TEXTS)
    assert {len(v) for v in small} == {32}


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    harbour, paraphrase, bread, *_ = embed(HashingEmbedder(), TEXTS)
    assert dot(harbour, paraphrase) > 0.4
    assert dot(harbour, paraphrase) > dot(harbour, bread) + 0.3


def test_no_texts_give_no_vectors() -> None:
    assert embed(HashingEmbedder(), []) == []


def test_the_ngram_config_changes_the_vectors() -> None:
    default = embed(HashingEmbedder(), TEXTS[:1])
    words_only = embed(
        HashingEmbedder(config={"word_ngrams": [1, 1], "char_ngrams": [4, 4]}), TEXTS[:1]
    )
    assert default != words_only
    assert math.isclose(math.hypot(*words_only[0]), 1.0)


_CHILD = """
import json, sys
from dockyard.plugins.embedders import HashingEmbedder
from dockyard.testing import call
config, texts = json.loads(sys.stdin.read())
print(json.dumps(call(HashingEmbedder(config=config), "POST", "embed", texts=texts).data))
"""


@pytest.mark.parametrize("config", [{}, {"dimensions": 1000, "word_ngrams": [1, 3]}])
def test_vectors_are_the_same_in_another_process_with_another_hash_seed(
    config: dict[str, Any],
) -> None:
    here = embed(HashingEmbedder(config=config), TEXTS)
    assert embed(HashingEmbedder(config=config), TEXTS) == here
    for seed in ("1", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps([config, TEXTS]),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert json.loads(done.stdout)["vectors"] == here


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"dimensions": 0}, "dimensions"),
        ({"dimensions": 65537}, "dimensions"),
        ({"dimensions": "many"}, "dimensions"),
        ({"word_ngrams": [2, 1]}, "word_ngrams"),
        ({"char_ngrams": [0, 3]}, "char_ngrams"),
        ({"char_ngrams": [3]}, "char_ngrams"),
        ({"dimension": 8}, "dimension"),
    ],
)
def test_bad_config_is_a_config_error_naming_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field) as caught:
        HashingEmbedder(config=config)
    assert caught.value.details["problems"][0]["field"].startswith(field)


def test_the_largest_dimension_is_accepted() -> None:
    [vector] = embed(HashingEmbedder(config={"dimensions": 65536}), ["one text"])
    assert len(vector) == 65536


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"texts": "one text, not a list"}, "texts"),
        ({"texts": ["fine", 3]}, "texts.1"),
        ({}, "texts"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(arguments: dict[str, Any], field: str) -> None:
    response = call(HashingEmbedder(), "POST", "embed", **arguments)
    assert response.status == 422
    assert response.error is not None
    assert [p["field"] for p in response.error.details["problems"]] == [field]


def test_registered_through_the_installed_entry_points() -> None:
    loaded = Discovery().load("dockyard.plugins", "hashing-embedder")
    assert loaded is HashingEmbedder
    assert loaded.plugin_type is Embedder
