"""Helpers shared by the shipped mixins: finding a sibling mixin, file ids, mime types.

Mixins reach each other's data through the sibling mixin's Python methods (found with
`find_mixin` on ``self.package.mixins``), never through its storage namespace: each mixin
owns its storage layout and may change it without breaking the others, and a subclass of
a mixin (say, an importer that also records checksums) is found just the same (in a
package that adds it by hand: `compose` adds the very class a ``REQUIRES`` names).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import TypeVar

from dockyard import PackageMixin, PackageService
from dockyard.mixins.errors import InvalidFileDataError, NotReadyError

__all__ = [
    "check_file_id",
    "essence",
    "find_mixin",
    "new_file_id",
    "normalize_mime_type",
    "require_mixin",
    "utc_now",
]

M = TypeVar("M", bound=PackageMixin)

# Ids are allocated here (uuid4 hex), but callers pass them back: anything else a key could
# hold ('/', a huge string) is refused before it reaches storage.
_FILE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# type "/" subtype, then optional parameters; tokens as RFC 6838 allows (plus "*").
_MIME = re.compile(r"\s*([A-Za-z0-9][\w.+-]*)/([A-Za-z0-9*][\w.+*-]*)\s*(;.*)?", re.DOTALL)


def find_mixin(package: PackageService, cls: type[M]) -> M | None:
    """The first mixin of ``package`` that is a ``cls`` (or a subclass), if any.

    :param package: the package the calling mixin is in (``self.package``).
    :param cls: the mixin class looked for.
    """
    for mixin in package.mixins:
        if isinstance(mixin, cls):
            return mixin
    return None


def require_mixin(package: PackageService, cls: type[M], needed_by: str) -> M:
    """The mixin of ``package`` that is a ``cls``.

    :param package: the package the calling mixin is in (``self.package``).
    :param cls: the mixin class required.
    :param needed_by: what needs it, for the message (``"index_file"``).
    :raises NotReadyError: 409 if the package has no such mixin.
    """
    found = find_mixin(package, cls)
    if found is None:
        raise NotReadyError(
            f"{needed_by} needs the {cls.__name__} mixin, which package "
            f"{type(package).__name__} does not include",
            code="mixin_missing",
            suggestion=f"compose the package with {cls.__name__} too",
            details={"mixin": cls.__name__},
        )
    return found


def new_file_id() -> str:
    """A new file id: a random UUID4 in hex (32 characters)."""
    return uuid.uuid4().hex


def check_file_id(file_id: str) -> str:
    """``file_id`` if it can be a file id (1-64 letters, digits, ``_`` or ``-``).

    :raises InvalidFileDataError: 422 otherwise.
    """
    if not _FILE_ID.fullmatch(file_id):
        raise InvalidFileDataError(
            f"{file_id[:80]!r} is not a file id (1-64 letters, digits, '_' or '-')",
            suggestion="pass the id returned by import_text, import_url or import_data",
            details={"file_id": file_id[:80]},
        )
    return file_id


def normalize_mime_type(mime_type: str) -> str:
    """``mime_type`` with its type and subtype lower-cased and spaces trimmed
    (``"Text/Markdown; charset=UTF-8"`` -> ``"text/markdown; charset=UTF-8"``).

    :raises InvalidFileDataError: 422 if it is not ``type/subtype[; parameters]``.
    """
    match = _MIME.fullmatch(mime_type)
    if match is None:
        raise InvalidFileDataError(
            f"{mime_type[:80]!r} is not a mime type (type/subtype, e.g. text/markdown)",
            suggestion="give the content's type, e.g. text/plain, text/markdown, text/csv",
            details={"mime_type": mime_type[:80]},
        )
    main = f"{match.group(1)}/{match.group(2)}".lower()
    parameters = (match.group(3) or "").strip()
    return f"{main}{parameters}" if parameters.startswith(";") else main


def essence(mime_type: str) -> str:
    """The ``type/subtype`` of a mime type, lower-cased, without parameters."""
    return mime_type.partition(";")[0].strip().lower()


def utc_now() -> str:
    """The current time, UTC, as ISO 8601 text (what records store)."""
    return datetime.now(timezone.utc).isoformat()
