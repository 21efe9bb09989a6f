"""A dependency-free text embedder: feature hashing of word and character n-grams.

`hashing_embed` needs no model, no vocabulary and no training: every feature (a word
n-gram or a character n-gram) is hashed to one of ``dimensions`` slots with a sign, the
signed counts are summed per slot and the vector is scaled to unit length. Texts sharing
words or word pieces get a high cosine similarity (the dot product of their vectors).

The hash is BLAKE2b, not Python's `hash` (which is salted per process), so a vector is
the same in every process, on every machine and in every Python version: vectors stored
by one worker can be compared with vectors computed by another.

Speed comes from bounded caches, all in-process: the hashes of the last 2**18 distinct
features (about 46 MiB when full) and, per configuration (dimensions and n-gram ranges,
the 4 most recently used), the slots of up to 2**15 distinct words (about 12 MiB).
Pure Python embeds on the order of 10,000 ten-word texts a second once common words are
cached.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b

__all__ = ["hashing_embed"]

_WORD = re.compile(r"\w+")
# Feature kinds get distinct prefixes so the word "the" and the character 3-gram "the"
# are different features; \x1f (unit separator) cannot occur inside a \w+ token.
_WORD_PREFIX = "w\x1f"
_CHAR_PREFIX = "c\x1f"
_SIGN_BIT = 1 << 63
#: Most words a `_Hasher` remembers; past that it forgets them all and starts over
#: (cheaper than LRU bookkeeping on every token, and text is dominated by few words).
_WORD_CACHE_SIZE = 2**15  # about 12 MiB when full


# Copying a fresh state is cheaper than building one from keyword arguments per feature;
# the copy hashes exactly as blake2b(data, digest_size=8) does.
_BLAKE2B_8 = blake2b(digest_size=8)


@lru_cache(maxsize=2**18)  # about 46 MiB when full
def _hash64(feature: str) -> int:
    """The feature's stable 64-bit hash: its 8-byte BLAKE2b digest, little-endian."""
    state = _BLAKE2B_8.copy()
    state.update(feature.encode("utf-8"))
    return int.from_bytes(state.digest(), "little")


class _Hasher:
    """The feature hashing of one configuration (dimensions and n-gram ranges), with a
    per-word cache of the slots of each word's unigram and character n-grams."""

    def __init__(self, dimensions: int, unigrams: bool, char_low: int, char_high: int) -> None:
        self.dimensions = dimensions
        self.unigrams = unigrams
        self.char_sizes = range(char_low, char_high + 1)
        #: token -> (slots its features add 1 to, slots they subtract 1 from)
        self.words: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def word(self, token: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The slots of ``token``'s own features, computed and remembered."""
        padded = f" {token} "
        features = [
            _CHAR_PREFIX + padded[i : i + n]
            for n in self.char_sizes
            for i in range(len(padded) - n + 1)
        ]
        if self.unigrams:
            features.append(_WORD_PREFIX + token)
        plus: list[int] = []
        minus: list[int] = []
        for feature in features:
            value = _hash64(feature)
            (minus if value & _SIGN_BIT else plus).append(value % self.dimensions)
        slots = (tuple(plus), tuple(minus))
        if len(self.words) >= _WORD_CACHE_SIZE:
            self.words.clear()
        self.words[token] = slots
        return slots


@lru_cache(maxsize=4)  # services use one or two configurations
def _hasher(dimensions: int, unigrams: bool, char_low: int, char_high: int) -> _Hasher:
    return _Hasher(dimensions, unigrams, char_low, char_high)


def _check_range(name: str, bounds: tuple[int, int]) -> tuple[int, int]:
    low, high = bounds
    if not 1 <= low <= high:
        raise ValueError(
            f"{name}={bounds!r} is not a valid n-gram range: give (min, max) with "
            f"1 <= min <= max, e.g. {name}=(1, 2)"
        )
    return low, high


def hashing_embed(
    texts: Sequence[str],
    dimensions: int = 256,
    *,
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (3, 5),
) -> list[list[float]]:
    """Embed each text as a unit-length vector of ``dimensions`` floats, by feature hashing.

    Features of a text:

    - word n-grams for ``n`` in ``word_ngrams`` (inclusive): runs of ``n`` consecutive
      lower-case ``\\w+`` tokens (as `dockyard.plugins.text.tokenize` gives);
    - character n-grams for ``n`` in ``char_ngrams`` (inclusive) of each token padded
      with one space on each side (``" cat "`` gives ``" ca"``, ``"cat"``, ``"at "``...),
      so word starts and ends are features and n-grams never span two words. A token
      shorter than ``n - 2`` characters has no n-grams of that size.

    Each occurrence of a feature adds +1 or -1 (the sign is a bit of the feature's hash,
    so collisions cancel out on average instead of piling up) to the slot its hash picks.
    The vector is then divided by its Euclidean norm; a text with no tokens (empty,
    punctuation only) gives the all-zero vector, as does, in the rare case the signed
    counts cancel out exactly, any text (practically only with a handful of dimensions).

    The result is deterministic: the same text, dimensions and n-gram ranges always give
    the same floats, in any process.

    :param texts: the texts to embed.
    :param dimensions: the vector length; more dimensions mean fewer collisions.
    :param word_ngrams: ``(min, max)`` word n-gram sizes.
    :param char_ngrams: ``(min, max)`` character n-gram sizes.
    :returns: one vector per text, in order.
    :raises ValueError: if ``dimensions`` < 1 or an n-gram range is not ``1 <= min <= max``.
    """
    if dimensions < 1:
        raise ValueError(f"dimensions must be at least 1, got {dimensions}")
    word_low, word_high = _check_range("word_ngrams", word_ngrams)
    char_low, char_high = _check_range("char_ngrams", char_ngrams)
    hasher = _hasher(dimensions, word_low == 1, char_low, char_high)
    cached = hasher.words.get
    # Unigrams are cached per word with its character n-grams; longer n-grams are not.
    longer = range(max(word_low, 2), word_high + 1)
    vectors: list[list[float]] = []
    for text in texts:
        tokens = _WORD.findall(text.lower())
        vector = [0.0] * dimensions
        for token in tokens:
            plus, minus = cached(token) or hasher.word(token)
            for index in plus:
                vector[index] += 1.0
            for index in minus:
                vector[index] -= 1.0
        for n in longer:
            for i in range(len(tokens) - n + 1):
                value = _hash64(_WORD_PREFIX + " ".join(tokens[i : i + n]))
                if value & _SIGN_BIT:
                    vector[value % dimensions] -= 1.0
                else:
                    vector[value % dimensions] += 1.0
        norm = math.hypot(*vector)
        if norm:
            scale = 1.0 / norm
            vector = [value * scale for value in vector]
        vectors.append(vector)
    return vectors
