"""`dockyard.mixins.common`: sibling lookup, file ids, mime types."""

from __future__ import annotations

import re

import pytest

from dockyard import PackageMixin, PackageService, compose
from dockyard.mixins import BlockifierMixin, FileImporterMixin, IndexerMixin
from dockyard.mixins.common import (
    check_file_id,
    essence,
    find_mixin,
    new_file_id,
    normalize_mime_type,
    require_mixin,
    utc_now,
)
from dockyard.mixins.errors import InvalidFileDataError, NotReadyError


def test_find_and_require_mixin() -> None:
    package = compose("common-trio", mixins=[BlockifierMixin])()
    importer = find_mixin(package, FileImporterMixin)
    assert isinstance(importer, FileImporterMixin)
    assert require_mixin(package, PackageMixin, "x") is importer  # the first that is one
    assert find_mixin(package, IndexerMixin) is None
    with pytest.raises(NotReadyError) as caught:
        require_mixin(package, IndexerMixin, "index_file")
    assert (caught.value.status, caught.value.code) == (409, "mixin_missing")
    assert "IndexerMixin" in caught.value.message
    assert find_mixin(PackageService(), FileImporterMixin) is None


def test_file_ids() -> None:
    first, second = new_file_id(), new_file_id()
    assert first != second
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert check_file_id(first) == first
    assert check_file_id("my-file_1") == "my-file_1"
    for bad in ("", "a/b", "x" * 65, "é", "a b"):
        with pytest.raises(InvalidFileDataError):
            check_file_id(bad)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("text/plain", "text/plain"),
        (" Text/Markdown ", "text/markdown"),
        ("text/plain; charset=Latin-1", "text/plain; charset=Latin-1"),
        ("application/vnd.api+json", "application/vnd.api+json"),
    ],
)
def test_normalize_mime_type(given: str, expected: str) -> None:
    assert normalize_mime_type(given) == expected


@pytest.mark.parametrize("bad", ["", "text", "text/", "/x", "a b/c", "text/plain extra"])
def test_normalize_mime_type_refuses_non_types(bad: str) -> None:
    with pytest.raises(InvalidFileDataError):
        normalize_mime_type(bad)


def test_essence_and_utc_now() -> None:
    assert essence("Text/CSV; charset=utf-8") == "text/csv"
    assert utc_now().endswith("+00:00")
