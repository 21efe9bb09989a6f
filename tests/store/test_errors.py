"""Tests for dockyard.store.errors: statuses, codes, builtin bases and messages."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dockyard.core.errors import DockyardError
from dockyard.store import (
    ApiKeyNotFoundError,
    InstanceExistsError,
    InstanceNotFoundError,
    InstanceRecord,
    InvalidHandleError,
    SchemaVersionError,
    StoreError,
    UserExistsError,
    UserNotFoundError,
    WorkspaceTakenError,
)

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)
RECORD = InstanceRecord(
    id=1,
    owner="alice",
    workspace="ws",
    handle="one",
    package="pkg",
    version="1.0",
    config={"a": 1},
    init_state="ready",
    init_error=None,
    created_at=NOW,
    updated_at=NOW,
)


@pytest.mark.parametrize(
    ("error", "status", "code", "builtin"),
    [
        (StoreError("x"), 500, "store_error", RuntimeError),
        (SchemaVersionError("x"), 500, "schema_version", RuntimeError),
        (InvalidHandleError("user", "Bad"), 422, "invalid_handle", ValueError),
        (UserExistsError("alice"), 409, "user_exists", ValueError),
        (WorkspaceTakenError("ws"), 409, "workspace_taken", ValueError),
        (InstanceExistsError(RECORD), 409, "instance_exists", ValueError),
        (UserNotFoundError("ghost"), 404, "user_not_found", LookupError),
        (ApiKeyNotFoundError("alice", 3), 404, "api_key_not_found", LookupError),
        (InstanceNotFoundError(7), 404, "instance_id_not_found", LookupError),
    ],
)
def test_status_code_and_bases(
    error: StoreError, status: int, code: str, builtin: type[Exception]
) -> None:
    assert (error.status, error.code) == (status, code)
    assert isinstance(error, StoreError)
    assert isinstance(error, DockyardError)
    assert isinstance(error, builtin)
    body = error.to_dict()["error"]
    assert body["code"] == code
    if type(error) not in (StoreError, SchemaVersionError):
        assert body["suggestion"]  # says how to fix it


def test_messages_say_what_and_where() -> None:
    assert str(InvalidHandleError("workspace", "Bad_WS")).startswith(
        "invalid workspace handle 'Bad_WS' (use lowercase letters, digits and dashes"
    )
    assert InstanceExistsError(RECORD).message == (
        "instance ws/one exists already (package pkg 1.0)"
    )
    assert InstanceExistsError(RECORD).existing is RECORD
    assert ApiKeyNotFoundError("alice", "abcd1234").message == (
        "user 'alice' has no API key 'abcd1234'"
    )
    assert WorkspaceTakenError("ws").details == {"workspace": "ws"}
