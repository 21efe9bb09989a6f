"""Where the database lives: the URL from arguments and environment, and the directory
an SQLite file needs.

Precedence: an explicit URL, then ``DOCKYARD_DATABASE_URL``, then ``dockyard.db`` in the
home directory (an explicit ``home``, then ``DOCKYARD_HOME``, then ``./.dockyard``).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from dockyard.store.errors import StoreError

__all__ = [
    "DATABASE_FILE",
    "DATABASE_URL_ENV",
    "DEFAULT_HOME",
    "HOME_ENV",
    "home_dir",
    "parse_url",
    "prepare_sqlite_dir",
    "resolve_url",
]

DATABASE_URL_ENV = "DOCKYARD_DATABASE_URL"
HOME_ENV = "DOCKYARD_HOME"
DEFAULT_HOME = "./.dockyard"
DATABASE_FILE = "dockyard.db"


def home_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """The Dockyard home directory as an absolute path (not created here).

    Absolute, so a later ``chdir`` cannot make connections open another database.
    """
    chosen = home if home is not None else (os.environ.get(HOME_ENV) or DEFAULT_HOME)
    return Path(chosen).expanduser().resolve()


def resolve_url(url: str | None = None, home: str | os.PathLike[str] | None = None) -> str:
    """The database URL to use (see the module docstring for the precedence)."""
    if url:
        return url
    from_env = os.environ.get(DATABASE_URL_ENV)
    if from_env:
        return from_env
    return f"sqlite:///{home_dir(home) / DATABASE_FILE}"


def parse_url(url: str) -> URL:
    """Parse a SQLAlchemy URL, or raise `StoreError` saying what a URL looks like."""
    try:
        return make_url(url)
    except ArgumentError as error:
        raise StoreError(
            f"invalid database URL {url!r}: {error}",
            code="invalid_database_url",
            suggestion=f"pass (or set {DATABASE_URL_ENV} to) a SQLAlchemy URL such as "
            "sqlite:////path/to/dockyard.db or postgresql+psycopg://user@host/dbname",
        ) from None


def _is_file_database(database: str | None) -> bool:
    return bool(database) and database != ":memory:" and not (database or "").startswith("file:")


def prepare_sqlite_dir(url: URL) -> None:
    """Create the directory of an SQLite database file if it is missing (mode 0700: the
    database holds key hashes and instance data, nobody else's business).

    A directory that exists is left as it is.
    """
    if url.get_backend_name() != "sqlite" or not _is_file_database(url.database):
        return
    directory = Path(url.database or "").expanduser().parent
    if directory.is_dir():
        return
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkdir's mode is filtered through the umask; say it again to be sure.
        directory.chmod(0o700)
    except OSError as error:
        raise StoreError(
            f"cannot create the database directory {directory}: {error.strerror}",
            code="store_unavailable",
            suggestion=f"set {HOME_ENV} (or {DATABASE_URL_ENV}) to a writable location",
        ) from error
