"""Tests for dockyard.store.location: the database URL from arguments and environment,
and the directory an SQLite database needs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dockyard.store import Store, StoreError
from dockyard.store.location import parse_url, resolve_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_HOME", raising=False)
    monkeypatch.delenv("DOCKYARD_DATABASE_URL", raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_is_dot_dockyard_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Store() as store:
        assert store.url == f"sqlite:///{tmp_path / '.dockyard' / 'dockyard.db'}"
    assert (tmp_path / ".dockyard" / "dockyard.db").is_file()
    assert mode(tmp_path / ".dockyard") == 0o700


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "deep" / "home"
    monkeypatch.setenv("DOCKYARD_HOME", str(home))
    with Store() as store:
        assert store.url == f"sqlite:///{home / 'dockyard.db'}"
        store.ensure_user("alice")
    assert mode(home) == 0o700
    assert (home / "dockyard.db").is_file()


def test_home_argument_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_HOME", str(tmp_path / "env"))
    with Store(home=tmp_path / "arg") as store:
        assert store.url == f"sqlite:///{tmp_path / 'arg' / 'dockyard.db'}"
    assert not (tmp_path / "env").exists()


def test_relative_home_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKYARD_HOME", "rel")
    url = resolve_url()
    monkeypatch.chdir("/")
    assert url == f"sqlite:///{tmp_path / 'rel' / 'dockyard.db'}"


def test_database_url_from_environment_wins_and_creates_no_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'custom.db'}"
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", url)
    monkeypatch.setenv("DOCKYARD_HOME", str(tmp_path / "home"))
    with Store() as store:
        assert store.url == url
    assert (tmp_path / "elsewhere" / "custom.db").is_file()
    assert mode(tmp_path / "elsewhere") == 0o700
    assert not (tmp_path / "home").exists()
    assert not (tmp_path / ".dockyard").exists()


def test_url_argument_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", "sqlite:////nowhere/env.db")
    assert resolve_url("sqlite:///x.db", home=tmp_path) == "sqlite:///x.db"


def test_empty_environment_values_count_as_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKYARD_DATABASE_URL", "")
    monkeypatch.setenv("DOCKYARD_HOME", "")
    assert resolve_url() == f"sqlite:///{tmp_path / '.dockyard' / 'dockyard.db'}"


def test_existing_directory_is_left_as_it_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    Store(home=home).close()
    assert mode(home) == 0o755


def test_memory_database_needs_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Store("sqlite://") as store:
        store.ensure_user("alice")
        assert store.get_user("alice") is not None
    assert list(tmp_path.iterdir()) == []


def test_invalid_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="invalid database URL 'not a url'") as raised:
        parse_url("not a url")
    assert raised.value.code == "invalid_database_url"
    assert "DOCKYARD_DATABASE_URL" in (raised.value.suggestion or "")


def test_unknown_database_kind_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unknown kind of database 'nosuchdb'"):
        Store("nosuchdb://host/db")


def test_database_directory_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the database directory") as raised:
        Store(f"sqlite:///{tmp_path / 'file' / 'sub' / 'dockyard.db'}")
    assert "DOCKYARD_HOME" in (raised.value.suggestion or "")


def test_database_that_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the database") as raised:
        Store(f"sqlite:///{tmp_path / 'a-directory.db'}")
    assert raised.value.code == "store_unavailable"
