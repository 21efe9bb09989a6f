"""Tests for dockyard.store.records: immutable, comparable snapshots."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from dockyard.store import INIT_STATES, ApiKey, InstanceRecord, User

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def record(**changes: object) -> InstanceRecord:
    fields: dict[str, object] = {
        "id": 1,
        "owner": "alice",
        "workspace": "ws",
        "handle": "one",
        "package": "pkg",
        "version": "1.0",
        "config": {"a": [1]},
        "init_state": "pending",
        "init_error": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    fields.update(changes)
    return InstanceRecord(**fields)  # type: ignore[arg-type]


def test_records_are_frozen() -> None:
    user = User(id=1, handle="alice", created_at=NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.handle = "bob"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record().init_state = "ready"  # type: ignore[misc]


def test_instance_records_compare_by_value_and_hash_without_config() -> None:
    assert record() == record()
    assert record() != record(config={"a": [2]})
    assert hash(record()) == hash(record(config={"other": 1}))
    assert len({record(), record(id=2)}) == 2


def test_api_key_revoked() -> None:
    key = ApiKey(id=1, user="alice", prefix="abcd1234", name=None, created_at=NOW, revoked_at=None)
    assert not key.revoked
    assert dataclasses.replace(key, revoked_at=NOW).revoked
    assert "hash" not in {field.name for field in dataclasses.fields(ApiKey)}


def test_init_states() -> None:
    assert INIT_STATES == ("pending", "initializing", "ready", "failed")
