"""The errors the plugins that ship with Dockyard raise.

Each derives from a `dockyard.core.errors` class (so it reaches the caller with its code,
status, message and suggestion) and from the builtin exception it means (so ``except
ValueError`` or ``except OSError`` keep working)::

    InvocationError (DockyardError)
    ├── ArgumentError (InvocationError, ValueError)
    │   └── ContentError (ArgumentError)                     422: unreadable as its type says
    ├── UnsupportedContentTypeError (InvocationError, ValueError)   415: a type it cannot read
    ├── ImportRefusedError (InvocationError, PermissionError)      403: a URL it will not read
    ├── ImportFailedError (InvocationError, OSError)               502: reading a URL failed
    │   └── ImportNotFoundError (ImportFailedError, FileNotFoundError)   404: no file there
    └── ContentTooLargeError (InvocationError, ValueError)         413: over the size limit

Every code is distinct, so a client maps an error response back to its class. Messages
name the plugin and what was wrong (the URL, the column, the byte offset...); the
suggestion says how to fix it.
"""

from __future__ import annotations

from dockyard.core.errors import ArgumentError, InvocationError

__all__ = [
    "ContentError",
    "ContentTooLargeError",
    "ImportFailedError",
    "ImportNotFoundError",
    "ImportRefusedError",
    "UnsupportedContentTypeError",
]


class ContentError(ArgumentError):
    """The content cannot be read as its mime type says: text that is not valid in its
    charset, malformed CSV, a configured CSV text column missing from the header."""

    default_code = "invalid_content"
    default_status = 422


class UnsupportedContentTypeError(InvocationError, ValueError):
    """The plugin does not read content of the given mime type (or charset); the message
    lists the types it reads."""

    default_code = "unsupported_media_type"
    default_status = 415


class ImportRefusedError(InvocationError, PermissionError):
    """The importer will not read this URL: a ``file://`` URL outside the configured root
    (however it gets there: ``..``, a symlink, an absolute path), ``file://`` URLs when no
    root is configured, a plain path instead of a URL, or an unsupported scheme.

    The message never says whether a file outside the root exists.
    """

    default_code = "import_refused"
    default_status = 403


class ImportFailedError(InvocationError, OSError):
    """Reading an accepted URL failed: an HTTP error status, a network failure or a
    timeout (502), or the importer's root directory is missing (500, the operator's to
    fix)."""

    default_code = "import_failed"
    default_status = 502


class ImportNotFoundError(ImportFailedError, FileNotFoundError):
    """A ``file://`` URL inside the root names no file (nothing there, or a directory)."""

    default_code = "import_not_found"
    default_status = 404


class ContentTooLargeError(InvocationError, ValueError):
    """The content is over the plugin's size limit (its ``max_bytes`` config)."""

    default_code = "content_too_large"
    default_status = 413
