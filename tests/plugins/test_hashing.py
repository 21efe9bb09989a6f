"""Tests for dockyard.plugins.hashing: stable across processes, unit length, meaningful."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from hashlib import blake2b

import pytest

from dockyard.plugins import hashing
from dockyard.plugins.hashing import hashing_embed
from dockyard.plugins.text import tokenize

TEXTS = [
    "The harbor master checks every ship that enters the port.",
    "Every ship entering the port is checked by the harbor master.",
    "Quarterly revenue grew by twelve percent on strong cloud sales.",
    "",
    "!!! ... ???",
    "Zoë's naïve café serves crème brûlée — 42 kinds.",
]


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_vectors_have_the_dimension_and_unit_norm() -> None:
    for dimensions in (7, 64, 256, 1000):
        vectors = hashing_embed(TEXTS, dimensions)
        assert len(vectors) == len(TEXTS)
        for text, vector in zip(TEXTS, vectors, strict=True):
            assert len(vector) == dimensions
            assert all(isinstance(value, float) for value in vector)
            if tokenize(text):
                assert math.isclose(math.hypot(*vector), 1.0, rel_tol=1e-12), (text, dimensions)


def test_one_dimension_holds_the_sign_of_the_signed_count() -> None:
    # With one slot every feature lands in it; the counts may even cancel out to zero.
    for vector in hashing_embed(TEXTS, 1):
        assert vector in ([1.0], [-1.0], [0.0])


def test_texts_without_tokens_give_all_zero_vectors() -> None:
    empty, punctuation = hashing_embed(["", "!!! ... ???"], 32)
    assert empty == [0.0] * 32
    assert punctuation == [0.0] * 32
    assert hashing_embed([], 32) == []


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    harbor, paraphrase, revenue = hashing_embed(TEXTS[:3])
    close = _cosine(harbor, paraphrase)
    far = _cosine(harbor, revenue)
    assert close > far + 0.3, (close, far)
    # Character n-grams make inflections similar even with no word in common.
    checks, checking, bananas = hashing_embed(["checks", "checking", "bananas"])
    assert _cosine(checks, checking) > _cosine(checks, bananas) + 0.3


def test_embedding_ignores_case_and_punctuation_between_words() -> None:
    one, two = hashing_embed(["Harbor, master!", "harbor master"])
    assert one == two


def test_same_text_same_vector_and_batching_does_not_matter() -> None:
    together = hashing_embed(TEXTS, 128)
    alone = [hashing_embed([text], 128)[0] for text in TEXTS]
    assert together == alone
    assert hashing_embed(TEXTS, 128) == together


def test_features_are_hashed_with_blake2b_and_signed() -> None:
    # A single 1-letter word with only unigram and 3-gram features: " a " and "a".
    [vector] = hashing_embed(["a"], 1024, word_ngrams=(1, 1), char_ngrams=(3, 3))
    expected = [0.0] * 1024
    for feature in ("w\x1fa", "c\x1f a "):
        value = int.from_bytes(blake2b(feature.encode(), digest_size=8).digest(), "little")
        expected[value % 1024] += -1.0 if value >> 63 else 1.0
    norm = math.hypot(*expected)
    assert norm > 0
    assert all(
        math.isclose(got, want / norm, abs_tol=1e-15)
        for got, want in zip(vector, expected, strict=True)
    )


def test_ngram_ranges_change_the_features() -> None:
    text = "the port of the harbor"
    words_only = hashing_embed([text], 256, char_ngrams=(1, 1))
    default = hashing_embed([text], 256)
    no_bigrams = hashing_embed([text], 256, word_ngrams=(1, 1))
    bigrams_only = hashing_embed([text], 256, word_ngrams=(2, 2))
    assert len({json.dumps(v) for v in (words_only, default, no_bigrams, bigrams_only)}) == 4
    # Word order only matters through the word n-grams with n >= 2.
    [a, b] = hashing_embed(["port harbor", "harbor port"], 256, word_ngrams=(1, 1))
    assert a == b
    [a, b] = hashing_embed(["port harbor", "harbor port"], 256)
    assert a != b


def test_word_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "_WORD_CACHE_SIZE", 10)
    words = [f"w{i}" for i in range(25)]
    first = hashing_embed(words, 97)
    hasher = hashing._hasher(97, True, 3, 5)
    assert 0 < len(hasher.words) <= 10
    assert hashing_embed(words, 97) == first  # forgetting words does not change vectors


@pytest.mark.parametrize("dimensions", [0, -3])
def test_dimensions_must_be_positive(dimensions: int) -> None:
    with pytest.raises(ValueError, match=f"dimensions must be at least 1, got {dimensions}"):
        hashing_embed(["x"], dimensions)


@pytest.mark.parametrize(
    ("option", "bounds"),
    [("word_ngrams", (0, 2)), ("word_ngrams", (2, 1)), ("char_ngrams", (0, 0))],
)
def test_ngram_ranges_are_validated(option: str, bounds: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=rf"{option}=\({bounds[0]}, {bounds[1]}\) is not a valid"):
        hashing_embed(["x"], **{option: bounds})  # type: ignore[arg-type]


def test_vectors_are_identical_in_a_process_with_another_hash_seed() -> None:
    code = (
        "import json, sys\n"
        "from dockyard.plugins.hashing import hashing_embed\n"
        "texts = json.loads(sys.stdin.read())\n"
        "print(json.dumps(hashing_embed(texts, 64)))\n"
    )
    local = hashing_embed(TEXTS, 64)
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(TEXTS),
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        # JSON floats round-trip exactly (repr is shortest-exact), so this is bit equality.
        assert json.loads(done.stdout) == local
