"""The docsearch example package: retrieval quality, indexing throughput, search latency.

Run by hand from the repository root, in the dev venv (no peers needed)::

    python bench/docsearch.py                   # about a minute
    python bench/docsearch.py --blocks 2000     # a shorter run
    python bench/docsearch.py --dimensions 256  # the hashing-embedder's own default

The package is ``examples/docsearch`` (imported from its ``src/``, not installed): the
four shipped mixins composed, served by a `Runtime` on a fresh SQLite store in a
temporary ``$DOCKYARD_HOME``, every call going through ``runtime.invoke`` exactly as the
embedded client's calls do (validation, dispatch, storage). Indexing runs synchronously,
route by route (``import_text``, ``blockify_file``, ``index_file``), so the figures are
the work itself, not task-queue waits.

What is measured
----------------

**Retrieval quality** on ``examples/docsearch/corpus`` (five Markdown documents, 57
queries with known relevant passages): the corpus alone in a fresh instance, every query
searched; recall@5 (a relevant passage among the first five hits) and MRR (mean of
1/rank of the first relevant passage), overall and for the paraphrased queries.

**Indexing throughput**: ``--blocks`` (default 10,000) paragraphs of generated text
(deterministic seed): 3-6 sentences each, drawn from the corpus's sentences with their
numbers changed and a word or two swapped in from the corpus vocabulary, so the
vocabulary and lengths are those of real prose and no two paragraphs are equal. They go
in as ``--docs`` (default 100) plain-text documents of equal size (one block per
paragraph). Timed separately: ``blockify_file`` and ``index_file`` (embedding with the
package's embedder config, then the chunked writes), reported as blocks/s; and, for
comparison, ``index_text`` called once per text on 500 more paragraphs.

**Search latency**: with all of that indexed, ``search_index(query, k=5)`` for
``--queries`` (default 250) queries: the 57 corpus queries and generated ones (4-8
consecutive words of a corpus sentence, two words swapped for random vocabulary). The
first search after indexing loads the index from storage into memory (``cold``,
reported alone); then every query is timed once, in order (``warm``): p50 and p95.
Target: warm p50 <= 20 ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory comes first on sys.path, and bench/http.py would
# shadow the standard library's http package (which discovery imports).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import random
import re
import shutil
import statistics
import tempfile
import time
from typing import Any

from dockyard.runtime import Runtime
from dockyard.store import Store

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "docsearch"
CORPUS = EXAMPLE / "corpus"
sys.path.insert(0, str(EXAMPLE / "src"))

from dockyard_docsearch import DocSearch  # noqa: E402
from dockyard_docsearch.evaluation import (  # noqa: E402
    evaluate,
    index_corpus,
    load_queries,
)

USER = "local"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_NUMBER = re.compile(r"\d+")
_WORD = re.compile(r"[A-Za-z]{4,}")


class Local:
    """One instance of the runtime, called as the embedded client calls it."""

    def __init__(self, runtime: Runtime, handle: str, config: dict[str, Any]) -> None:
        runtime.use(USER, "docsearch", handle, config=config)
        self.runtime = runtime
        self.handle = handle

    def invoke(self, method: str, verb: str = "POST", **arguments: Any) -> Any:
        """Call ``method``; raise its error."""
        response = self.runtime.invoke(USER, self.handle, self.handle, verb, method, arguments)
        if response.error is not None:
            raise response.error
        return response.data


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def corpus_sentences() -> list[str]:
    """Every sentence of the corpus paragraphs (headings left out)."""
    sentences: list[str] = []
    for path in sorted(CORPUS.glob("*.md")):
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            if paragraph.strip() and not paragraph.startswith("#"):
                sentences.extend(s for s in _SENTENCE.split(paragraph.strip()) if s)
    return sentences


def generate_paragraphs(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct paragraphs of 3-6 varied corpus sentences."""
    sentences = corpus_sentences()
    vocabulary = sorted({w.lower() for s in sentences for w in _WORD.findall(s)})
    paragraphs: list[str] = []
    for _ in range(count):
        picked = []
        for sentence in rng.sample(sentences, rng.randint(3, 6)):
            words = sentence.split(" ")
            for _ in range(rng.randint(1, 2)):
                words[rng.randrange(len(words))] = rng.choice(vocabulary)
            text = " ".join(words)
            picked.append(_NUMBER.sub(lambda _: str(rng.randint(1, 500)), text))
        paragraphs.append(" ".join(picked))
    return paragraphs


def generate_queries(count: int, rng: random.Random) -> list[str]:
    """``count`` short queries: a run of 4-8 words of a corpus sentence, two swapped."""
    sentences = corpus_sentences()
    vocabulary = sorted({w.lower() for s in sentences for w in _WORD.findall(s)})
    queries: list[str] = []
    while len(queries) < count:
        words = _WORD.findall(rng.choice(sentences))
        if len(words) < 6:
            continue
        size = rng.randint(4, min(8, len(words)))
        start = rng.randrange(len(words) - size + 1)
        run = [w.lower() for w in words[start : start + size]]
        for _ in range(2):
            run[rng.randrange(len(run))] = rng.choice(vocabulary)
        queries.append(" ".join(run))
    return queries


def quality(runtime: Runtime, config: dict[str, Any]) -> None:
    instance = Local(runtime, "quality", config)
    files = index_corpus(instance, CORPUS)
    result = evaluate(instance, files, load_queries(CORPUS))
    blocks = sum(
        len(instance.invoke("get_blocks", "GET", file_id=f)["blocks"]) for f in files.values()
    )
    print(f"retrieval quality: {len(files)} documents, {blocks} blocks indexed (headings too)")
    print(
        f"  all {len(result.ranks)} queries: recall@5 **{result.recall:.3f}** "
        f"(target >= 0.8), MRR **{result.mrr:.3f}**"
    )
    for label, flag in (("literal", False), ("paraphrased", True)):
        part = result.subset(flag)
        print(f"  {label} ({len(part.ranks)}): recall@5 {part.recall:.3f}, MRR {part.mrr:.3f}")


def throughput(
    runtime: Runtime, config: dict[str, Any], dimensions: int, args: argparse.Namespace
) -> None:
    rng = random.Random(args.seed)
    instance = Local(runtime, "throughput", config)
    paragraphs = generate_paragraphs(args.blocks, rng)
    words = sum(len(p.split()) for p in paragraphs) / len(paragraphs)
    per_doc = -(-len(paragraphs) // args.docs)
    documents = [
        "\n\n".join(paragraphs[i : i + per_doc]) for i in range(0, len(paragraphs), per_doc)
    ]
    print(
        f"\nindexing {len(paragraphs):,} generated paragraphs ({words:.0f} words on average) "
        f"as {len(documents)} documents:"
    )
    imported = blockified = indexed = 0.0
    total = 0
    for document in documents:
        start = time.perf_counter()
        record = instance.invoke("import_text", text=document, mime_type="text/plain")
        middle = time.perf_counter()
        instance.invoke("blockify_file", file_id=record["id"])
        after = time.perf_counter()
        done = instance.invoke("index_file", file_id=record["id"])
        end = time.perf_counter()
        imported += middle - start
        blockified += after - middle
        indexed += end - after
        total += done["indexed"]
    assert total == len(paragraphs), (total, len(paragraphs))
    print(f"  import_text    {imported:6.2f} s")
    print(f"  blockify_file  {blockified:6.2f} s  {total / blockified:9,.0f} blocks/s")
    print(f"  index_file     {indexed:6.2f} s  **{total / indexed:,.0f} blocks/s**")
    whole = imported + blockified + indexed
    print(f"  all three      {whole:6.2f} s  {total / whole:9,.0f} blocks/s")

    singles = generate_paragraphs(500, rng)
    start = time.perf_counter()
    for text in singles:
        instance.invoke("index_text", text=text)
    one_by_one = time.perf_counter() - start
    rate = len(singles) / one_by_one
    print(f"  index_text x {len(singles)} (one call each): {rate:,.0f} texts/s")

    queries = [q.text for q in load_queries(CORPUS)]
    queries += generate_queries(max(0, args.queries - len(queries)), rng)
    start = time.perf_counter()
    instance.invoke("search_index", query="first search loads the index", k=5)
    cold = time.perf_counter() - start
    latencies = []
    for query in queries:
        start = time.perf_counter()
        hits = instance.invoke("search_index", query=query, k=5)
        latencies.append(time.perf_counter() - start)
        assert len(hits) == 5
    entries = len(paragraphs) + len(singles)
    print(
        f"\nsearch_index(k=5) over {entries:,} entries ({entries * dimensions * 4 / 2**20:.0f} "
        f"MiB of float32 vectors scanned per search), {len(queries)} queries:"
    )
    print(f"  cold (first search, loads the index): {cold * 1e3:.1f} ms")
    print(
        f"  warm: p50 **{statistics.median(latencies) * 1e3:.2f} ms** (target <= 20 ms), "
        f"p95 {percentile(latencies, 0.95) * 1e3:.2f} ms, "
        f"max {max(latencies) * 1e3:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10_000, help="paragraphs to index")
    parser.add_argument("--docs", type=int, default=100, help="documents they are cut into")
    parser.add_argument("--queries", type=int, default=250, help="timed searches (>= 57)")
    parser.add_argument(
        "--dimensions", type=int, help="hashing-embedder dimensions (default: the package's)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config: dict[str, Any] = {}
    if args.dimensions:
        config = {"indexer": {"embedder_config": {"dimensions": args.dimensions}}}
    defaults: Any = DocSearch.config_cls()()
    dimensions = args.dimensions or defaults.indexer.embedder_config["dimensions"]
    print(f"docsearch, hashing-embedder with {dimensions} dimensions")

    home = tempfile.mkdtemp(prefix="dockyard-bench-docsearch-")
    store = Store(home=home)
    store.ensure_user(USER)
    runtime = Runtime(store, packages={"docsearch": DocSearch})
    try:
        quality(runtime, config)
        throughput(runtime, config, dimensions, args)
    finally:
        store.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
