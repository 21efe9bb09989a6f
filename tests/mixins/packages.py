"""Packages composed of the shipped mixins, by entry-point name exactly as a user would
(loaded by path by the tests, and served by ``dockyard serve packages.py:DocSearch``)."""

from __future__ import annotations

from dockyard import compose

#: Everything: the pipeline and the three mixins it requires.
DocSearch = compose("doc-search", mixins=["indexer-pipeline"])
#: The file importer alone.
FilesOnly = compose("files-only", mixins=["file-importer"])
#: The blockifier (and the file importer it requires).
Blocks = compose("blocks", mixins=["blockifier"])
#: The indexer alone.
IndexOnly = compose("index-only", mixins=["indexer"])
#: The file importer, blockifier and indexer, without the pipeline.
Trio = compose("trio", mixins=["file-importer", "blockifier", "indexer"])
