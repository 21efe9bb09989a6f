"""Tests for dockyard.store.keys and the API-key half of `Store`: generation, hashing,
authentication, listing and revocation."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import pytest

import dockyard.store.keys as keys_module
from dockyard.store import ApiKeyNotFoundError, Store, StoreError, UserNotFoundError
from dockyard.store.keys import KEY_MARKER, PREFIX_LENGTH, hash_key, key_prefix, new_key, verify_key

# --- the keys module -------------------------------------------------------------------------


def test_new_key_format() -> None:
    key = new_key()
    assert re.fullmatch(r"dk_[A-Za-z0-9_-]{43}", key.plaintext)
    assert key.prefix == key.plaintext[3 : 3 + PREFIX_LENGTH]
    assert key.hash == hashlib.sha256(key.plaintext.encode()).hexdigest()
    assert new_key().plaintext != key.plaintext


def test_verify_key() -> None:
    key = new_key()
    assert verify_key(key.plaintext, key.hash)
    assert not verify_key(key.plaintext + "x", key.hash)
    assert not verify_key(new_key().plaintext, key.hash)


def test_verify_key_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    key = new_key()
    assert verify_key(key.plaintext, key.hash)
    assert calls == [(key.hash, key.hash)]


@pytest.mark.parametrize(
    "key",
    [
        None,
        123,
        b"dk_" + b"a" * 43,
        "",
        "dk_",
        "dk_short",
        "xx_" + "a" * 43,
        "dk_" + "a" * 42 + "!",
        "dk_" + "a" * 200,
        " dk_" + "a" * 43,
        "dk_" + "a" * 43 + "\n",
        "DK_" + "a" * 43,
    ],
)
def test_key_prefix_of_malformed_keys_is_none(key: Any) -> None:
    assert key_prefix(key) is None


# --- Store: keys ----------------------------------------------------------------------------


@pytest.fixture
def alice(any_store: Store) -> str:
    return any_store.ensure_user("alice").handle


def test_create_key_and_authenticate(any_store: Store, alice: str) -> None:
    record, plaintext = any_store.create_key(alice, "laptop")
    assert plaintext.startswith(KEY_MARKER)
    assert (record.user, record.name, record.revoked_at, record.revoked) == (
        "alice",
        "laptop",
        None,
        False,
    )
    assert record.prefix == key_prefix(plaintext)
    user = any_store.authenticate(plaintext)
    assert user == any_store.get_user("alice")


def test_only_the_hash_is_stored(any_store: Store) -> None:
    any_store.ensure_user("alice")
    record, plaintext = any_store.create_key("alice")
    # Read every column of every row of the raw table through the driver alone.
    raw = any_store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT * FROM dockyard_api_keys")
        rows = cursor.fetchall()
        columns = [c[0] for c in cursor.description]
        cursor.close()
    finally:
        raw.close()
    [row] = rows
    stored = dict(zip(columns, row, strict=True))
    assert plaintext not in map(str, row)
    assert plaintext[3:] not in "".join(map(str, row))
    assert stored["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert stored["prefix"] == record.prefix == plaintext[3:11]


def test_authenticate_uses_constant_time_compare(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = any_store
    store.ensure_user("alice")
    _, plaintext = store.create_key("alice")
    seen: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    assert store.authenticate(plaintext) is not None
    wrong = plaintext[:11] + ("A" if plaintext[11] != "A" else "B") + plaintext[12:]
    assert store.authenticate(wrong) is None
    assert [a == b for a, b in seen] == [True, False]
    assert all(b == hash_key(plaintext) for _, b in seen)


def test_authenticate_rejects_unknown_malformed_and_revoked(any_store: Store, alice: str) -> None:
    record, plaintext = any_store.create_key(alice)
    other = new_key().plaintext
    same_prefix_wrong_secret = plaintext[: 3 + PREFIX_LENGTH] + "x" * 35
    for bad in [
        other,
        same_prefix_wrong_secret,
        "",
        "Bearer " + plaintext,
        None,
        42,
        plaintext[:-1],
    ]:
        assert any_store.authenticate(bad) is None  # type: ignore[arg-type]
    assert any_store.authenticate(plaintext) is not None
    revoked = any_store.revoke_key(alice, record.id)
    assert revoked.revoked
    assert revoked.revoked_at is not None
    assert any_store.authenticate(plaintext) is None


def test_keys_of_different_users(any_store: Store) -> None:
    any_store.ensure_user("alice")
    any_store.ensure_user("bob")
    _, alice_key = any_store.create_key("alice")
    _, bob_key = any_store.create_key("bob")
    assert any_store.authenticate(alice_key).handle == "alice"  # type: ignore[union-attr]
    assert any_store.authenticate(bob_key).handle == "bob"  # type: ignore[union-attr]


def test_create_key_for_unknown_user_is_404(any_store: Store) -> None:
    with pytest.raises(UserNotFoundError) as raised:
        any_store.create_key("ghost")
    assert raised.value.status == 404
    with pytest.raises(TypeError):
        any_store.create_key("ghost", 3)  # type: ignore[arg-type]


def test_list_keys_never_shows_hashes(any_store: Store, alice: str) -> None:
    first, _ = any_store.create_key(alice, "one")
    second, _ = any_store.create_key(alice)
    any_store.revoke_key(alice, first.prefix)
    listed = any_store.list_keys(alice)
    assert [k.id for k in listed] == [first.id, second.id]
    assert [k.name for k in listed] == ["one", None]
    assert listed[0].revoked
    assert not listed[1].revoked
    assert not any("hash" in field for field in type(listed[0]).__dataclass_fields__)
    assert any_store.list_keys("nobody") == []


def test_revoke_by_id_prefix_marked_prefix_or_whole_key(any_store: Store, alice: str) -> None:
    made = [any_store.create_key(alice) for _ in range(4)]
    names: list[str | int] = [
        made[0][0].id,
        made[1][0].prefix,
        KEY_MARKER + made[2][0].prefix,
        made[3][1],
    ]
    for (record, plaintext), name in zip(made, names, strict=True):
        revoked = any_store.revoke_key(alice, name)
        assert revoked.id == record.id
        assert revoked.revoked
        assert any_store.authenticate(plaintext) is None


def test_revoking_twice_keeps_the_first_time(any_store: Store, alice: str) -> None:
    record, _ = any_store.create_key(alice)
    first = any_store.revoke_key(alice, record.id)
    assert any_store.revoke_key(alice, record.id).revoked_at == first.revoked_at


def test_revoke_unknown_or_other_users_key_is_404(any_store: Store, alice: str) -> None:
    any_store.ensure_user("bob")
    bobs, _ = any_store.create_key("bob")
    for name in [bobs.id, bobs.prefix, 99999, "nopenope"]:
        with pytest.raises(ApiKeyNotFoundError) as raised:
            any_store.revoke_key(alice, name)
        assert raised.value.status == 404
        assert isinstance(raised.value, LookupError)
        assert isinstance(raised.value, StoreError)
    assert not any_store.list_keys("bob")[0].revoked
    with pytest.raises(TypeError):
        any_store.revoke_key(alice, True)
