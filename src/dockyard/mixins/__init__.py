"""The mixins that ship with Dockyard, registered in ``dockyard.mixins`` exactly as a
third party's would be, and written against the public API alone:

- ``file-importer``: `FileImporterMixin` (`dockyard.mixins.files`)
- ``blockifier``: `BlockifierMixin` (`dockyard.mixins.blockifier`), requires file-importer
- ``indexer``: `IndexerMixin` (`dockyard.mixins.indexer`)
- ``indexer-pipeline``: `IndexerPipelineMixin` (`dockyard.mixins.pipeline`), requires
  the three others

::

    DocSearch = compose("doc-search", mixins=["indexer-pipeline"])

Names load on first use, so importing one mixin does not import the others (nor numpy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard._lazy import lazy_exports

if TYPE_CHECKING:
    from dockyard.mixins.blockifier import BlockifierMixin
    from dockyard.mixins.files import FileImporterMixin
    from dockyard.mixins.indexer import IndexerMixin
    from dockyard.mixins.pipeline import IndexerPipelineMixin

__all__ = [
    "BlockifierMixin",
    "FileImporterMixin",
    "IndexerMixin",
    "IndexerPipelineMixin",
]

_EXPORTS: dict[str, str] = {
    "BlockifierMixin": "dockyard.mixins.blockifier",
    "FileImporterMixin": "dockyard.mixins.files",
    "IndexerMixin": "dockyard.mixins.indexer",
    "IndexerPipelineMixin": "dockyard.mixins.pipeline",
}

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
