"""The errors the mixins that ship with Dockyard raise.

Each derives from a `dockyard` error class (so it reaches the caller with its code,
status, message and suggestion) and from the builtin exception it means (so ``except
LookupError`` or ``except ValueError`` keep working)::

    InvocationError (DockyardError)
    ├── ArgumentError (InvocationError, ValueError)
    │   ├── InvalidFileDataError (ArgumentError)       422: bad base64, bad mime type, bad id
    │   └── UnknownBlockifierError (ArgumentError)     422: not an installed blockifier
    ├── FileNotFoundInStoreError (InvocationError, LookupError)   404: no file with that id
    ├── FileTooLargeError (InvocationError, ValueError)           413: over max_bytes
    ├── NoBlockifierError (InvocationError, ValueError)           415: no blockifier for the type
    └── NotReadyError (InvocationError, LookupError)              409: a step has not run yet,
                                                                       or a mixin is missing

Every code is distinct from every other Dockyard code.
"""

from __future__ import annotations

from dockyard import ArgumentError, InvocationError

__all__ = [
    "FileNotFoundInStoreError",
    "FileTooLargeError",
    "InvalidFileDataError",
    "NoBlockifierError",
    "NotReadyError",
    "UnknownBlockifierError",
]


class InvalidFileDataError(ArgumentError):
    """Content or an identifier given to a file mixin cannot be read: data that is not
    base64, a mime type that is not ``type/subtype``, a malformed file id."""

    default_code = "invalid_file_data"
    default_status = 422


class UnknownBlockifierError(ArgumentError):
    """The blockifier asked for (per call or in the config) is not an installed
    blockifier plugin; the message lists the installed ones."""

    default_code = "unknown_blockifier"
    default_status = 422


class FileNotFoundInStoreError(InvocationError, LookupError):
    """No file with that id was imported into this instance."""

    default_code = "file_not_found"
    default_status = 404


class FileTooLargeError(InvocationError, ValueError):
    """The content is over the file importer's ``max_bytes`` config."""

    default_code = "file_too_large"
    default_status = 413


class NoBlockifierError(InvocationError, ValueError):
    """No blockifier is configured for the file's mime type (and none was named)."""

    default_code = "no_blockifier_for_type"
    default_status = 415


class NotReadyError(InvocationError, LookupError):
    """What a call needs is not there yet: the file was not blockified, or the package
    lacks the mixin that would provide it."""

    default_code = "not_ready"
    default_status = 409
