"""Retrieval quality of a docsearch instance on a corpus: recall@k and MRR.

A corpus is a directory of Markdown documents plus ``queries.json``::

    {"queries": [{"query": "how wet should a compost heap be",
                  "relevant": [{"document": "composting.md", "contains": "wrung-out sponge"}],
                  "paraphrase": false}, ...]}

Relevant passages are named by document and a phrase, never by position: at evaluation
time each ``(document, phrase)`` is resolved to the id of the one block of that document
whose text contains the phrase (an error if none or several do), so editing a document
cannot silently point a query at the wrong passage.

``python -m dockyard_docsearch.evaluation examples/docsearch/corpus`` indexes the corpus
into an embedded instance (under a temporary ``$DOCKYARD_HOME``) and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "Evaluation",
    "Instance",
    "Query",
    "evaluate",
    "index_corpus",
    "load_queries",
    "main",
]

#: How deep the ranking is read to find a query's first relevant passage (for MRR).
DEPTH = 1000


class Instance(Protocol):
    """What evaluation needs of an instance: the client's ``invoke``."""

    def invoke(self, method: str, verb: str = "POST", **arguments: Any) -> Any:
        """Call ``method`` and return its result."""


@dataclass(frozen=True)
class Query:
    """One evaluation query and the passages that answer it."""

    text: str
    #: ``(document file name, phrase found in exactly one of its passages)``
    relevant: tuple[tuple[str, str], ...]
    #: whether the query shares little wording with its passage
    paraphrase: bool = False


@dataclass
class Evaluation:
    """The figures of one evaluation.

    Attributes:
        k: the cut-off of recall@k.
        ranks: per query, the rank (1-based) of its first relevant passage, or None if it
            is not in the first `DEPTH` hits.
        queries: the queries, in the order of ``ranks``.
    """

    k: int
    queries: list[Query] = field(default_factory=list)
    ranks: list[int | None] = field(default_factory=list)

    @property
    def recall(self) -> float:
        """The share of queries with a relevant passage in the first ``k`` hits."""
        return sum(1 for r in self.ranks if r is not None and r <= self.k) / len(self.ranks)

    @property
    def mrr(self) -> float:
        """The mean reciprocal rank of each query's first relevant passage."""
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks)

    def subset(self, paraphrase: bool) -> Evaluation:
        """The evaluation restricted to paraphrased (or to literal) queries."""
        pairs = [
            (q, r)
            for q, r in zip(self.queries, self.ranks, strict=True)
            if q.paraphrase == paraphrase
        ]
        return Evaluation(self.k, [q for q, _ in pairs], [r for _, r in pairs])

    def misses(self) -> list[tuple[str, int | None]]:
        """``(query, rank)`` of the queries whose relevant passage is not in the top ``k``."""
        return [
            (q.text, r)
            for q, r in zip(self.queries, self.ranks, strict=True)
            if r is None or r > self.k
        ]


def load_queries(corpus: Path) -> list[Query]:
    """The queries of ``corpus/queries.json``."""
    data = json.loads((corpus / "queries.json").read_text(encoding="utf-8"))
    return [
        Query(
            text=item["query"],
            relevant=tuple((r["document"], r["contains"]) for r in item["relevant"]),
            paraphrase=bool(item.get("paraphrase", False)),
        )
        for item in data["queries"]
    ]


def index_corpus(instance: Instance, corpus: Path) -> dict[str, str]:
    """Import, blockify and index every Markdown document of ``corpus`` (synchronously,
    route by route); returns ``{file name: file id}``."""
    files: dict[str, str] = {}
    for path in sorted(corpus.glob("*.md")):
        record = instance.invoke(
            "import_text", text=path.read_text(encoding="utf-8"), mime_type="text/markdown"
        )
        instance.invoke("blockify_file", file_id=record["id"])
        instance.invoke("index_file", file_id=record["id"])
        files[path.name] = record["id"]
    return files


def _relevant_ids(
    instance: Instance, files: Mapping[str, str], query: Query
) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for document, phrase in query.relevant:
        file_id = files[document]
        blocks = instance.invoke("get_blocks", "GET", file_id=file_id)["blocks"]
        matches = [b["id"] for b in blocks if phrase in b["text"]]
        if len(matches) != 1:
            raise ValueError(
                f"query {query.text!r}: {phrase!r} is in {len(matches)} passages of "
                f"{document}, not exactly one"
            )
        found.add((file_id, matches[0]))
    return found


def evaluate(
    instance: Instance, files: Mapping[str, str], queries: Sequence[Query], k: int = 5
) -> Evaluation:
    """Search every query on ``instance`` and rank its relevant passages.

    :param instance: a docsearch instance holding the corpus (see `index_corpus`).
    :param files: ``{document file name: file id}`` in that instance.
    :param queries: the queries.
    :param k: the recall cut-off.
    """
    result = Evaluation(k)
    for query in queries:
        relevant = _relevant_ids(instance, files, query)
        hits = instance.invoke("search_index", query=query.text, k=DEPTH)
        rank = next(
            (n for n, hit in enumerate(hits, 1) if (hit["file_id"], hit["block_id"]) in relevant),
            None,
        )
        result.queries.append(query)
        result.ranks.append(rank)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """Index a corpus into a fresh embedded instance and print recall@k and MRR."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="directory of *.md files and queries.json")
    parser.add_argument("-k", type=int, default=5, help="recall cut-off (default 5)")
    parser.add_argument(
        "--config", default="{}", help="instance config as JSON, merged over the package's"
    )
    args = parser.parse_args(argv)
    from dockyard import Dockyard

    with tempfile.TemporaryDirectory() as home:
        # In-process, on the temporary home only: never a configured server or database.
        for name in ("DOCKYARD_URL", "DOCKYARD_DATABASE_URL", "DOCKYARD_TASKS_URL"):
            os.environ.pop(name, None)
        with Dockyard(home=home, task_workers=0) as client:
            instance = client.use("docsearch", "evaluation", config=json.loads(args.config))
            files = index_corpus(instance, args.corpus)
            result = evaluate(instance, files, load_queries(args.corpus), k=args.k)
    print(f"{len(result.ranks)} queries: recall@{args.k} {result.recall:.3f}, MRR {result.mrr:.3f}")
    for label, flag in (("literal", False), ("paraphrased", True)):
        part = result.subset(flag)
        if part.ranks:
            print(
                f"  {label}: {len(part.ranks)} queries, recall@{args.k} {part.recall:.3f}, "
                f"MRR {part.mrr:.3f}"
            )
    for text, rank in result.misses():
        print(f"  miss (rank {rank}): {text}")


if __name__ == "__main__":
    main()
