"""Fixtures for the store tests: real databases, closed after each test.

Every test runs on an SQLite file under ``tmp_path``. Set ``DOCKYARD_TEST_POSTGRES_URL``
(``postgresql+psycopg://user@host:port/db``: a database the tests may wipe) to run the
tests that take ``any_store`` or ``any_url`` on PostgreSQL as well; ``.ci/run`` starts
one. Under ``CI=true`` the PostgreSQL variants always run, and fail without the URL.
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


def in_ci() -> bool:
    """Whether this is CI (``CI=true``), which must run every database's tests."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def postgres_url_or_skip() -> str:
    """``$DOCKYARD_TEST_POSTGRES_URL``; without it the test is skipped, or fails under CI."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        if in_ci():
            pytest.fail(f"{POSTGRES_ENV} is not set: CI runs the PostgreSQL tests (.ci/run)")
        pytest.skip(f"{POSTGRES_ENV} is not set (a PostgreSQL database the tests may wipe)")
    return url


def wipe(url: str) -> None:
    """Drop Dockyard's tables from the database at ``url``."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn)
            schema_version.drop(conn, checkfirst=True)
    finally:
        engine.dispose()


#: The databases the ``any_*`` fixtures run on: PostgreSQL when configured, and always
#: under CI (where a missing URL is a failure, not a skip).
DATABASES = ["sqlite", "postgresql"] if os.environ.get(POSTGRES_ENV) or in_ci() else ["sqlite"]


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


@pytest.fixture(params=DATABASES)
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, for each database available: an SQLite file
    (``tmp_path/dockyard.db``, the default of `make_store`) and PostgreSQL (its Dockyard
    tables dropped first)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dockyard.db'}"
    url = postgres_url_or_skip()
    wipe(url)
    return url


@pytest.fixture
def any_store(any_url: str, make_store: StoreFactory) -> Store:
    """A fresh store on each database available (see `any_url`)."""
    return make_store(any_url)


@pytest.fixture
def instance(any_store: Store) -> InstanceRecord:
    """An instance ``ws/one`` of package ``pkg`` owned by ``alice``."""
    any_store.ensure_user("alice")
    return any_store.create_instance(
        owner="alice", workspace="ws", handle="one", package="pkg", version="1.0", config={}
    )
