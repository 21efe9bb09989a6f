"""API keys: generation, hashing, and the constant-time check.

A key is ``dk_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256
is stored: for a 256-bit random secret a fast hash is enough (nobody can guess their
way to a preimage), and it keeps authentication, which runs on every request, cheap.
The first `PREFIX_LENGTH` characters after ``dk_`` are stored in the clear as the
key's *prefix*: the indexed column that finds the key's row in one lookup, and a
name for the key in listings. The prefix gives away 48 of the 256 bits; the rest stay
secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final, NamedTuple

__all__ = [
    "KEY_MARKER",
    "PREFIX_LENGTH",
    "NewKey",
    "hash_key",
    "key_prefix",
    "new_key",
    "verify_key",
]

#: What every Dockyard API key starts with (so leaked keys are recognisable by scanners).
KEY_MARKER: Final = "dk_"
#: Characters after `KEY_MARKER` kept in the clear to find and name the key.
PREFIX_LENGTH: Final = 8
#: Random bytes per key: 32 bytes = 256 bits = 43 URL-safe characters.
_TOKEN_BYTES: Final = 32

# Lenient on length (16-128) so a later change of key size keeps old keys valid, strict
# on alphabet so garbage is refused before it reaches the database.
_WELL_FORMED = re.compile(r"dk_[A-Za-z0-9_-]{16,128}\Z")


class NewKey(NamedTuple):
    """A freshly generated key: the plaintext (shown once) and what is stored of it."""

    plaintext: str
    prefix: str
    hash: str


def hash_key(key: str) -> str:
    """The stored form of ``key``: its SHA-256, in hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> NewKey:
    """Generate a key: ``dk_`` + 43 URL-safe random characters."""
    plaintext = KEY_MARKER + secrets.token_urlsafe(_TOKEN_BYTES)
    return NewKey(plaintext, key_prefix(plaintext) or "", hash_key(plaintext))


def key_prefix(key: object) -> str | None:
    """The lookup prefix of a well-formed key, or None for anything else (a non-str, a
    string without ``dk_``, the wrong alphabet or length)."""
    if not isinstance(key, str) or not _WELL_FORMED.match(key):
        return None
    return key[len(KEY_MARKER) : len(KEY_MARKER) + PREFIX_LENGTH]


def verify_key(key: str, stored_hash: str) -> bool:
    """Whether ``key`` hashes to ``stored_hash``, compared in constant time so the time
    taken says nothing about how many leading characters matched."""
    return hmac.compare_digest(hash_key(key), stored_hash)
