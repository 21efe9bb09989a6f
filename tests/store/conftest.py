"""Fixtures for the store tests: real databases in files, closed after each test.

Every test runs on an SQLite file under ``tmp_path``. Set ``DOCKYARD_TEST_POSTGRES_URL``
(a database the tests may wipe) to run the tests that take ``any_store`` on PostgreSQL
as well.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from dockyard.store import InstanceRecord, Store
from dockyard.store.schema import metadata, schema_version

POSTGRES_ENV = "DOCKYARD_TEST_POSTGRES_URL"

StoreFactory = Callable[..., Store]


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[StoreFactory]:
    """``make_store(url=None, **kwargs)``: a `Store` on ``tmp_path/dockyard.db`` unless
    a URL is given; every store made is closed at teardown."""
    stores: list[Store] = []

    def make(url: str | None = None, **kwargs: Any) -> Store:
        store = Store(url or f"sqlite:///{tmp_path / 'dockyard.db'}", **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    """A fresh store on an SQLite file."""
    return make_store()


def _wipe(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn)
            schema_version.drop(conn, checkfirst=True)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"] if os.environ.get(POSTGRES_ENV) else ["sqlite"])
def any_store(request: pytest.FixtureRequest, make_store: StoreFactory) -> Store:
    """A fresh store on each database available: SQLite always, PostgreSQL when
    ``DOCKYARD_TEST_POSTGRES_URL`` is set (its Dockyard tables are dropped first)."""
    if request.param == "sqlite":
        return make_store()
    url = os.environ[POSTGRES_ENV]
    _wipe(url)
    return make_store(url)


@pytest.fixture
def instance(any_store: Store) -> InstanceRecord:
    """An instance ``ws/one`` of package ``pkg`` owned by ``alice``."""
    any_store.ensure_user("alice")
    return any_store.create_instance(
        owner="alice", workspace="ws", handle="one", package="pkg", version="1.0", config={}
    )
