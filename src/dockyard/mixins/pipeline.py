"""`IndexerPipelineMixin` (entry point ``indexer-pipeline``): import, blockify and index
a file in background tasks, with a status to follow.

Routes:

- ``POST /index_url (url, mime_type=None)``: three tasks, each waiting on the one before:
  import the URL, blockify the file, index its blocks. Returns the last task (its
  ``arguments.file_id`` is the new file's id).
- ``POST /index_data (data, mime_type)``: the data is checked and stored at once (a bad
  one is a 422 or 413 right away, and the payload does not travel through the task
  table); then two tasks: blockify, index. Returns the last task.
- ``GET /file_status (file_id)``: ``{"file_id", "status", "updated_at", "error", "tasks"}``;
  ``status`` is ``importing``, ``blockifying``, ``indexing``, ``indexed`` or
  ``failed: <reason>`` (``error`` then holds the failing step's ``code`` and ``message``).
  A file imported without the pipeline is ``imported``.

The steps are routes of this mixin (``indexer_pipeline/import_url``,
``indexer_pipeline/blockify``, ``indexer_pipeline/index``) that call the other mixins'
methods. The file id is allocated when the pipeline starts and passed to every step as
an argument, so the status exists before the first task runs and every step knows the
file without reading another task's output. Each step sets its status when it starts
and the next one when it succeeds; a step that fails records ``failed: <reason>`` itself
(the tasks waiting on it are then failed by the task runner without running). Steps are
idempotent (a task may run twice after a lost worker): importing again under the same id
replaces the file, blockifying and indexing again replace their results.

Storage (this mixin's namespace, ``indexer_pipeline``): ``status/{file_id}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

from dockyard import DockyardError, PackageMixin, Task, get, post
from dockyard.mixins.blockifier import BlockifierMixin
from dockyard.mixins.common import check_file_id, new_file_id, require_mixin, utc_now
from dockyard.mixins.files import FileImporterMixin
from dockyard.mixins.indexer import IndexerMixin

__all__ = [
    "BLOCKIFYING",
    "IMPORTED",
    "IMPORTING",
    "INDEXED",
    "INDEXING",
    "IndexerPipelineMixin",
]

#: The status of a file while its URL is read (index_url's first step).
IMPORTING = "importing"
#: The status of a file while it waits for or runs the blockify step.
BLOCKIFYING = "blockifying"
#: The status of a file while it waits for or runs the index step.
INDEXING = "indexing"
#: The status of a file whose blocks are searchable.
INDEXED = "indexed"
#: The status of a file that was imported without the pipeline.
IMPORTED = "imported"

_IMPORT_STEP = "indexer_pipeline/import_url"
_BLOCKIFY_STEP = "indexer_pipeline/blockify"
_INDEX_STEP = "indexer_pipeline/index"


class IndexerPipelineMixin(PackageMixin):
    """Runs import -> blockify -> index as background tasks (``invoke_later``), keeping a
    status per file.

    Requires `FileImporterMixin`, `BlockifierMixin` and `IndexerMixin`, whose config
    sections configure the steps. No config of its own.
    """

    REQUIRES: ClassVar[list[str | type[PackageMixin]]] = [
        FileImporterMixin,
        BlockifierMixin,
        IndexerMixin,
    ]

    # --- routes -----------------------------------------------------------------------

    @post("index_url")
    def index_url(self, url: str, mime_type: str | None = None) -> Task:
        """Import ``url``, blockify and index it, in background tasks.

        :param url: what the file importer reads (``file://`` under its root, http(s)).
        :param mime_type: the content's type (default: the importer's guess).
        :returns: the last task (index); ``arguments.file_id`` is the file's id, for
            ``file_status``.
        """
        file_id = new_file_id()
        arguments: dict[str, Any] = {"file_id": file_id, "url": url}
        if mime_type is not None:
            arguments["mime_type"] = mime_type
        return self._schedule(file_id, IMPORTING, [(_IMPORT_STEP, arguments)])

    @post("index_data")
    def index_data(self, data: str, mime_type: str) -> Task:
        """Store base64 ``data`` as a file now, then blockify and index it in background
        tasks.

        :param data: the content, base64-encoded (422 if not; 413 over the size limit).
        :param mime_type: its type, e.g. text/markdown.
        :returns: the last task (index); ``arguments.file_id`` is the file's id.
        """
        files = self._files()
        content = files.decode_data(data)
        record = files.store_file(content, mime_type, source="data")
        return self._schedule(record["id"], BLOCKIFYING, [])

    @get("file_status")
    def file_status(self, file_id: str) -> dict[str, Any]:
        """Where a file is in the pipeline.

        :param file_id: the file's id (``arguments.file_id`` of the task returned).
        :returns: ``file_id``, ``status`` (``importing``, ``blockifying``, ``indexing``,
            ``indexed``, ``failed: <reason>``; ``imported`` for a file imported without
            the pipeline), ``updated_at``, ``error`` (``code``, ``message``, when failed),
            ``tasks`` (the pipeline's task ids).
        """
        status = self.storage.get(f"status/{check_file_id(file_id)}")
        if isinstance(status, dict):
            return status
        record = self._files().file_record(file_id)  # 404 for an unknown file
        return {
            "file_id": file_id,
            "status": IMPORTED,
            "updated_at": record["created_at"],
            "error": None,
            "tasks": [],
        }

    # --- the steps (internal routes, run as tasks) ------------------------------------

    @post(_IMPORT_STEP)
    def step_import_url(
        self, file_id: str, url: str, mime_type: str | None = None
    ) -> dict[str, Any]:
        """Pipeline step 1 of 3 (run as a task): import ``url`` as file ``file_id``.

        :param file_id: the id the pipeline allocated.
        :param url: the URL.
        :param mime_type: the content's type, if given.
        :returns: the file's record.
        """
        with self._step(file_id, IMPORTING, then=BLOCKIFYING):
            return self._files().fetch_url(url, mime_type=mime_type, file_id=file_id)

    @post(_BLOCKIFY_STEP)
    def step_blockify(self, file_id: str) -> dict[str, Any]:
        """Pipeline step 2 of 3 (run as a task): blockify file ``file_id``.

        :param file_id: the file.
        :returns: ``file_id``, ``blockifier``, ``blocks`` (how many).
        """
        with self._step(file_id, BLOCKIFYING, then=INDEXING):
            blockifier = require_mixin(self.package, BlockifierMixin, "the pipeline")
            stored = blockifier.blockify(file_id)
            return {
                "file_id": file_id,
                "blockifier": stored["blockifier"],
                "blocks": len(stored["blocks"]),
            }

    @post(_INDEX_STEP)
    def step_index(self, file_id: str) -> dict[str, Any]:
        """Pipeline step 3 of 3 (run as a task): index the blocks of file ``file_id``.

        :param file_id: the file.
        :returns: ``file_id``, ``indexed`` (how many blocks), ``embedder``.
        """
        with self._step(file_id, INDEXING, then=INDEXED):
            indexer = require_mixin(self.package, IndexerMixin, "the pipeline")
            return indexer.index_file(file_id)

    # --- internals --------------------------------------------------------------------

    def _files(self) -> FileImporterMixin:
        return require_mixin(self.package, FileImporterMixin, "the pipeline")

    def _schedule(self, file_id: str, status: str, first: list[tuple[str, dict[str, Any]]]) -> Task:
        """Record ``status``, then schedule ``first`` steps, blockify and index, each
        waiting on the one before; return the last task."""
        # Written before any task exists, so no step's status can be overwritten by it.
        self._set_status(file_id, status)
        steps = [
            *first,
            (_BLOCKIFY_STEP, {"file_id": file_id}),
            (_INDEX_STEP, {"file_id": file_id}),
        ]
        tasks: list[Task] = []
        try:
            for method, arguments in steps:
                waits: list[Task | str] = [*tasks[-1:]]
                tasks.append(self.invoke_later(method, wait_on_tasks=waits, arguments=arguments))
        except DockyardError as exc:
            self._fail(file_id, exc.code, f"could not schedule the pipeline: {exc.message}")
            for task in tasks:  # nothing half-scheduled runs on a file marked failed
                with suppress(DockyardError):  # it may have started meanwhile
                    task.cancel()
            raise
        ids = [task.id for task in tasks]
        self.storage.update(f"status/{file_id}", lambda current: {**current, "tasks": ids})
        return tasks[-1]

    def _set_status(self, file_id: str, status: str, error: dict[str, str] | None = None) -> None:
        def change(current: Any) -> dict[str, Any]:
            previous = current if isinstance(current, dict) else {}
            return {
                "file_id": file_id,
                "status": status,
                "updated_at": utc_now(),
                "error": error,
                "tasks": previous.get("tasks", []),
            }

        self.storage.update(f"status/{file_id}", change)

    def _fail(self, file_id: str, code: str, reason: str) -> None:
        self._set_status(file_id, f"failed: {reason}", {"code": code, "message": reason})

    @contextmanager
    def _step(self, file_id: str, doing: str, *, then: str) -> Iterator[None]:
        """Run a step: status ``doing`` now, ``then`` on success, ``failed: <reason>`` on
        an error (re-raised, so the task fails and its dependents with it)."""
        self._set_status(file_id, doing)
        try:
            yield
        except DockyardError as exc:
            self._fail(file_id, exc.code, exc.message)
            raise
        except Exception as exc:
            # The task runner logs the traceback under an error id; the status says which
            # step broke without leaking internals.
            self._fail(
                file_id, "internal_error", f"internal error while {doing} ({type(exc).__name__})"
            )
            raise
        self._set_status(file_id, then)
