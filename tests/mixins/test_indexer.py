"""`IndexerMixin`: indexing texts and file blocks, exact cosine search, persistence and
the per-instance cache kept right across processes (instance objects on one store)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from dockyard import ArgumentError
from dockyard.client import Dockyard, PackageInstance
from dockyard.mixins import IndexerMixin
from dockyard.mixins.errors import FileNotFoundInStoreError, NotReadyError
from dockyard.runtime import InstanceInitError

UseFn = Callable[..., PackageInstance]
StorageFn = Callable[[Dockyard, PackageInstance], Any]

HIT_KEYS = {"score", "text", "file_id", "block_id", "metadata"}

PASSAGES = {
    "bees": "Inspect the beehive every seven to ten days during the honey season.",
    "bread": "Feed the sourdough starter with flour and water before baking bread.",
    "compost": "Turn the compost heap weekly so the garden waste breaks down faster.",
    "bikes": "Lubricate the bicycle chain after riding through rain and mud.",
    "wifi": "Move the wireless router away from walls to improve the wifi signal.",
    "boats": "Ferries and yachts are moored at the north pier of the harbour.",
}
QUERIES = {
    "bees": "how often should I inspect my beehive",
    "bread": "feeding a sourdough starter",
    "compost": "how to turn a compost heap",
    "bikes": "bicycle chain lubrication in rain",
    "wifi": "improve wifi signal router",
    "boats": "where are the yachts moored",
}


def mixin_of(client: Dockyard, instance: PackageInstance) -> IndexerMixin:
    """The live `IndexerMixin` of ``instance`` on ``client``."""
    invocable: Any = client.runtime.live(instance.workspace, instance.handle).invocable
    found = [m for m in invocable.mixins if isinstance(m, IndexerMixin)]
    assert len(found) == 1
    return found[0]


def index_passages(index: PackageInstance) -> dict[str, str]:
    """Index `PASSAGES` with index_text; their block ids by name."""
    return {
        name: index.invoke("index_text", text=text, metadata={"name": name})["block_id"]
        for name, text in PASSAGES.items()
    }


def test_the_indexer_works_alone(packages: ModuleType, use: UseFn) -> None:
    used = packages.IndexOnly.USED_MIXIN_CLASSES
    assert used == [IndexerMixin]
    index = use(packages.IndexOnly)
    assert index.invoke("search_index", query="anything") == []
    result = index.invoke("index_text", text="hello world")
    assert result["indexed"] == 1
    assert result["file_id"] is None
    [hit] = index.invoke("search_index", query="hello")
    assert set(hit) == HIT_KEYS
    assert hit["block_id"] == result["block_id"]
    assert hit["file_id"] is None
    assert hit["metadata"] == {}


def test_each_query_finds_its_passage_first(packages: ModuleType, use: UseFn) -> None:
    index = use(packages.IndexOnly)
    ids = index_passages(index)
    for name, query in QUERIES.items():
        hits = index.invoke("search_index", query=query, k=3)
        assert len(hits) == 3
        assert hits[0]["block_id"] == ids[name], (query, hits[0]["text"])
        assert hits[0]["text"] == PASSAGES[name]
        assert hits[0]["metadata"] == {"name": name}
        scores = [hit["score"] for hit in hits]
        assert scores == sorted(scores, reverse=True)
        assert 0 < scores[0] <= 1.0 + 1e-6


def test_scores_are_cosine_similarities(packages: ModuleType, client: Dockyard, use: UseFn) -> None:
    index = use(packages.IndexOnly, config={"indexer": {"embedder_config": {"dimensions": 64}}})
    index_passages(index)
    hits = index.invoke("search_index", query=QUERIES["bread"], k=len(PASSAGES))
    embedder = client.use_plugin("hashing-embedder", config={"dimensions": 64})
    vectors = np.array(embedder.embed([QUERIES["bread"], *[h["text"] for h in hits]]))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = unit[1:] @ unit[0]
    assert [h["score"] for h in hits] == pytest.approx(expected.tolist(), abs=1e-5)


def test_k_bounds(packages: ModuleType, use: UseFn) -> None:
    index = use(packages.IndexOnly)
    index_passages(index)
    assert len(index.invoke("search_index", query="the", k=100)) == len(PASSAGES)
    assert len(index.invoke("search_index", query="the")) == 5
    for k in (0, -1, 1001):
        with pytest.raises(ArgumentError):
            index.invoke("search_index", query="the", k=k)


def test_blank_text_is_a_422(packages: ModuleType, use: UseFn) -> None:
    index = use(packages.IndexOnly)
    with pytest.raises(ArgumentError):
        index.invoke("index_text", text="  \n")


def test_a_query_without_words_is_a_422(packages: ModuleType, use: UseFn) -> None:
    index = use(packages.IndexOnly)
    index_passages(index)
    for query in ("", "   ", "!!!", "?\n-"):
        with pytest.raises(ArgumentError) as caught:
            index.invoke("search_index", query=query)
        assert "no words" in caught.value.message


MARKDOWN = """# Garden

## Ponds

Frogs spawn in shallow water each spring.

## Orchard

Prune the apple trees in late winter.
"""


def test_index_file_embeds_blocks_with_their_sections_and_skips_headings(
    packages: ModuleType, use: UseFn
) -> None:
    trio = use(packages.Trio)
    file_id = trio.invoke("import_text", text=MARKDOWN, mime_type="text/markdown")["id"]
    blocks = trio.invoke("blockify_file", file_id=file_id)["blocks"]
    assert len(blocks) == 5  # three headings, two paragraphs
    assert trio.invoke("index_file", file_id=file_id)["indexed"] == 2
    hits = trio.invoke("search_index", query="the", k=10)
    assert [h["text"] for h in hits if not h["text"].startswith("Frogs")] == [
        "Prune the apple trees in late winter."
    ]
    # "orchard" is only in the section title: the passage under it is found by it, and
    # the text returned is the block's own (no titles added).
    [hit] = trio.invoke("search_index", query="orchard", k=1)
    assert hit["text"] == "Prune the apple trees in late winter."
    assert hit["score"] > 0

    # Switched off: headings are entries of their own, passages embedded alone.
    plain = use(packages.Trio, config={"indexer": {"section_context": False}})
    file_id = plain.invoke("import_text", text=MARKDOWN, mime_type="text/markdown")["id"]
    plain.invoke("blockify_file", file_id=file_id)
    assert plain.invoke("index_file", file_id=file_id)["indexed"] == 5
    [hit] = plain.invoke("search_index", query="orchard", k=1)
    assert hit["text"] == "## Orchard"


def test_index_file_without_the_blockifier_is_a_clear_409(packages: ModuleType, use: UseFn) -> None:
    index = use(packages.IndexOnly)
    with pytest.raises(NotReadyError) as caught:
        index.invoke("index_file", file_id="a" * 32)
    error = caught.value
    assert (error.status, error.code) == (409, "mixin_missing")
    assert "blockifier" in error.message
    assert "blockifier" in (error.suggestion or "")


def test_index_file_indexes_the_blocks_and_reindexing_replaces_them(
    packages: ModuleType, client: Dockyard, use: UseFn, storage: StorageFn
) -> None:
    trio = use(packages.Trio)
    text = "\n\n".join(PASSAGES.values())
    file_id = trio.invoke("import_text", text=text)["id"]
    with pytest.raises(NotReadyError) as not_yet:
        trio.invoke("index_file", file_id=file_id)
    assert not_yet.value.code == "file_not_blockified"
    blocks = trio.invoke("blockify_file", file_id=file_id)["blocks"]
    assert trio.invoke("index_file", file_id=file_id) == {
        "file_id": file_id,
        "indexed": len(PASSAGES),
        "embedder": "hashing-embedder",
    }
    trio.invoke("index_text", text="a loose note about yachts")
    [hit] = trio.invoke("search_index", query=QUERIES["wifi"], k=1)
    assert hit["file_id"] == file_id
    assert hit["block_id"] == blocks[4]["id"]
    assert hit["metadata"] == {"position": 4, "tags": []}

    # Re-index twice: still one entry per block, and the old chunks are gone.
    trio.invoke("index_file", file_id=file_id)
    trio.invoke("index_file", file_id=file_id)
    hits = trio.invoke("search_index", query="the", k=50)
    assert len(hits) == len(PASSAGES) + 1
    namespace = storage(client, trio).namespace("indexer")
    assert len(namespace.items("chunk/")) == 2  # the file's newest generation + the note

    # Re-blockified (new block ids), re-indexed: the new blocks replace the old ones.
    trio.invoke("blockify_file", file_id=file_id)
    assert trio.invoke("index_file", file_id=file_id)["indexed"] == len(PASSAGES)
    file_hits = [h for h in trio.invoke("search_index", query="the", k=50) if h["file_id"]]
    new_blocks = trio.invoke("get_blocks", verb="GET", file_id=file_id)["blocks"]
    assert sorted(h["block_id"] for h in file_hits) == sorted(b["id"] for b in new_blocks)
    assert not {b["id"] for b in blocks} & {h["block_id"] for h in file_hits}


def test_index_file_of_an_unknown_file_is_a_404(packages: ModuleType, use: UseFn) -> None:
    trio = use(packages.Trio)
    with pytest.raises(FileNotFoundInStoreError):
        trio.invoke("index_file", file_id="b" * 32)


def test_vectors_are_stored_as_float32_base64_in_chunks_of_batch_size(
    packages: ModuleType, client: Dockyard, use: UseFn, storage: StorageFn
) -> None:
    config = {"indexer": {"batch_size": 4, "embedder_config": {"dimensions": 32}}}
    trio = use(packages.Trio, config=config)
    text = "\n\n".join(f"paragraph number {i}" for i in range(10))
    file_id = trio.invoke("import_text", text=text)["id"]
    trio.invoke("blockify_file", file_id=file_id)
    assert trio.invoke("index_file", file_id=file_id)["indexed"] == 10
    chunks = [value for _, value in storage(client, trio).namespace("indexer").items("chunk/")]
    assert [len(chunk["texts"]) for chunk in chunks] == [4, 4, 2]
    for chunk in chunks:
        vectors = np.frombuffer(base64.b64decode(chunk["vectors"]), dtype="<f4")
        assert vectors.shape == (len(chunk["texts"]) * 32,)
        assert np.allclose(np.linalg.norm(vectors.reshape(-1, 32), axis=1), 1.0, atol=1e-5)
    assert len(trio.invoke("search_index", query="paragraph", k=20)) == 10


def test_the_index_survives_a_fresh_client(
    packages: ModuleType, open_client: Callable[..., Dockyard], use: UseFn
) -> None:
    first = open_client(task_workers=0)
    index = use(packages.IndexOnly, on=first)
    ids = index_passages(index)
    first.close()
    second = open_client(task_workers=0)
    again = use(packages.IndexOnly, handle=index.handle, on=second)
    [hit] = again.invoke("search_index", query=QUERIES["boats"], k=1)
    assert hit["block_id"] == ids["boats"]


def test_the_cache_is_reused_until_another_instance_writes(
    packages: ModuleType,
    open_client: Callable[..., Dockyard],
    use: UseFn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer_client, reader_client = open_client(task_workers=0), open_client(task_workers=0)
    writer = use(packages.IndexOnly, on=writer_client)
    reader = use(packages.IndexOnly, handle=writer.handle, on=reader_client)
    reader_mixin = mixin_of(reader_client, reader)
    assert mixin_of(writer_client, writer) is not reader_mixin  # two "processes"
    loads: list[int] = []
    real_load = IndexerMixin._load

    def counting_load(self: IndexerMixin, version: int) -> Any:
        if self is reader_mixin:
            loads.append(version)
        return real_load(self, version)

    monkeypatch.setattr(IndexerMixin, "_load", counting_load)

    writer.invoke("index_text", text=PASSAGES["bees"])
    assert len(reader.invoke("search_index", query="beehive")) == 1
    assert len(reader.invoke("search_index", query="honey")) == 1
    assert len(loads) == 1  # the second search used the cache

    writer.invoke("index_text", text=PASSAGES["boats"])  # the reader's cache is now stale
    hits = reader.invoke("search_index", query=QUERIES["boats"])
    assert len(hits) == 2
    assert hits[0]["text"] == PASSAGES["boats"]
    assert len(loads) == 2


def test_a_half_written_generation_is_never_read(
    packages: ModuleType, client: Dockyard, use: UseFn, storage: StorageFn
) -> None:
    """A reader in another process may see a re-index in the middle of its writes: it
    keeps each file's newest COMPLETE generation."""
    trio = use(packages.Trio)
    file_id = trio.invoke("import_text", text="one\n\ntwo")["id"]
    trio.invoke("blockify_file", file_id=file_id)
    trio.invoke("index_file", file_id=file_id)
    namespace = storage(client, trio).namespace("indexer")
    [(_, chunk)] = namespace.items("chunk/")
    # Part 1 of 2 of a newer generation of the file, as a writer leaves it mid-way.
    partial = {**chunk, "generation": 1000, "part": 0, "parts": 2, "texts": ["zzz", "yyy"]}
    partial["block_ids"] = ["p1", "p2"]
    namespace.set("chunk/000000001000", partial)
    namespace.update("version", lambda version: version + 1)
    texts = sorted(h["text"] for h in trio.invoke("search_index", query="one two zzz", k=10))
    assert texts == ["one", "two"]
    # Once complete, it wins over the older generation.
    namespace.set(
        "chunk/000000001001", {**partial, "part": 1, "texts": ["zzz"], "block_ids": ["p3"]}
    )
    namespace.update("version", lambda version: version + 1)
    texts = sorted(h["text"] for h in trio.invoke("search_index", query="one two zzz", k=10))
    assert texts == ["yyy", "zzz", "zzz"]


def test_an_embedder_that_is_not_one_fails_the_instance_at_creation(
    packages: ModuleType, use: UseFn
) -> None:
    with pytest.raises(InstanceInitError, match="not an embedder"):
        use(packages.IndexOnly, config={"indexer": {"embedder": "text-blockifier"}})
