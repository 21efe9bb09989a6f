"""Plugin framework overhead, and the hashing embedder's throughput.

Run by hand from the repository root, in the dev venv (no peers needed)::

    python bench/plugins.py              # about a minute
    python bench/plugins.py --rounds 31

What is measured
----------------

**Overhead of a plugin call on a 1,000-block File** (target <= 1.3x). The file is made
once: 1,000 blocks of 20-40 words of generated harbour-office prose, a third of them
holding an e-mail address, a price in euros or a year, each block with one tag already.
Three ways of tagging it with the shipped ``regex-tagger`` (rules: e-mail, euros,
4-digit year) are timed:

- ``direct``: ``plugin.run(PluginRequest(data=TagInput(file=copy), context=...))`` — the
  same run logic with no framework: no validation in, none out. ``copy`` is a fresh deep
  copy of the input made before the clock starts (``run`` adds tags to the file it gets).
- ``handle``: ``self.use_plugin("regex-tagger", config=...).run({"file": file})`` as a
  package calls it — the input model turned into JSON data and validated (span checks
  included), ``run``, the output turned into JSON data and validated again.
- ``route``: ``plugin(InvocableRequest(...))`` with the file as JSON data — what the
  HTTP layer calls after parsing the body (input validation, run, output validation,
  the response value dumped to JSON data).

The same three with a tagger whose ``run`` adds nothing (``noop``) show the fixed cost
of validation alone, per block. Each round times every mode once, in an order rotated by
one each round; reported: medians over the rounds and the ratio to ``direct``.

**Embedder throughput on 10,000 short texts** (5-12 words, a 2,000-word vocabulary of
made-up words so the n-gram caches see realistic reuse). ``hashing_embed`` directly and
``use_plugin("hashing-embedder").embed(texts)`` (256 dimensions, defaults), cold (the
first call in this process, after clearing the hash caches) and warm (medians of the
next rounds); texts per second.
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
import statistics
import time
from collections.abc import Callable
from typing import Any

from dockyard import InvocableRequest, Invocation, InvocationContext, PackageService
from dockyard.plugins import Block, File, PluginRequest, Tag, Tagger, hashing
from dockyard.plugins.types import TagInput, TagOutput

WORDS = tuple(
    " ".join(
        [
            "ships dock at the north pier pilots board outer buoy mooring costs night",
            "harbour master office opens weekdays ferries arrive from islands fishing fleet",
            "unloads catch morning market quay cranes lift containers tide table storm",
            "warning lighthouse keeper logbook berth fees invoice anchorage channel depth",
            "dredging",
        ]
    ).split(" ")
)

PATTERNS = {
    "contact/email": r"[\w.+-]+@[\w-]+\.[\w.]+",
    "money/euros": r"\b\d+ euros\b",
    "date/year": r"\b(?:18|19|20)\d\d\b",
}


class Noop(Tagger):
    """Returns the file as it came: the cost of validation alone."""

    def run(self, request: PluginRequest[TagInput]) -> TagOutput:
        return TagOutput(file=request.data.file)


class Host(PackageService):
    """The package the plugins are used from."""


def make_file(blocks: int, rng: random.Random) -> File:
    out = []
    for i in range(blocks):
        words = [rng.choice(WORDS) for _ in range(rng.randint(20, 40))]
        extra = i % 9
        if extra == 0:
            words.insert(rng.randrange(len(words)), f"office{i}@harbour.example")
        elif extra == 3:
            words.insert(rng.randrange(len(words)), f"{rng.randint(5, 500)} euros")
        elif extra == 6:
            words.insert(rng.randrange(len(words)), str(rng.randint(1850, 2025)))
        text = " ".join(words).capitalize() + "."
        out.append(Block(text=text, tags=[Tag(kind="source", name="log", value=i)]))
    return File(mime_type="text/plain", blocks=out)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _modes(
    file: File, plain: dict[str, Any], handle: Any, context: InvocationContext
) -> dict[str, Callable[[], float]]:
    plugin = handle.plugin

    def direct() -> float:
        data = TagInput(file=file.model_copy(deep=True))  # not timed
        request = PluginRequest(data=data, context=context)
        return timed(lambda: plugin.run(request))

    def via_handle() -> float:
        return timed(lambda: handle.run({"file": file}))

    def via_route() -> float:
        request = InvocableRequest(
            invocation=Invocation(
                http_verb="POST", invocation_path="tag", arguments={"file": plain}
            )
        )
        return timed(lambda: plugin(request))

    return {"direct": direct, "handle": via_handle, "route": via_route}


def overhead(rounds: int) -> None:
    rng = random.Random(7)
    file = make_file(1000, rng)
    plain = file.model_dump(mode="json")
    host = Host()
    print(f"1,000-block File: {len(file.model_dump_json()) / 1e6:.2f} MB as JSON")
    for label, plugin_ref, config in (
        ("regex-tagger", "regex-tagger", {"patterns": PATTERNS}),
        ("noop", Noop, None),
    ):
        handle = host.use_plugin(plugin_ref, config=config)
        plugin = handle.plugin
        context = InvocationContext()
        # Sanity: all three give the same tags.
        direct_out = plugin.run(
            PluginRequest(data=TagInput(file=file.model_copy(deep=True)), context=context)
        )
        handle_out = handle.run({"file": file})
        route_out = plugin(
            InvocableRequest(
                invocation=Invocation(
                    http_verb="POST", invocation_path="tag", arguments={"file": plain}
                )
            )
        )
        assert route_out.error is None, route_out.error
        assert direct_out.model_dump(mode="json") == handle_out.model_dump(mode="json")
        tags = sum(len(b.tags) for b in handle_out.file.blocks) - len(file.blocks)
        print(f"\n{label}: adds {tags} tags")

        modes = _modes(file, plain, handle, context)
        times: dict[str, list[float]] = {name: [] for name in modes}
        names = list(modes)
        for _ in range(3):  # warm-up
            for name in names:
                modes[name]()
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                times[name].append(modes[name]())
        base = statistics.median(times["direct"])
        print(f"  {'mode':8} {'median ms':>10} {'vs direct':>10} {'µs/block over':>14}")
        for name in names:
            median = statistics.median(times[name])
            over = (median - base) / len(file.blocks) * 1e6
            print(f"  {name:8} {median * 1e3:10.2f} {median / base:9.2f}x {over:14.2f}")


def embedder(rounds: int) -> None:
    rng = random.Random(11)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = [
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(2000)
    ]
    texts = [
        " ".join(rng.choice(vocabulary) for _ in range(rng.randint(5, 12))) for _ in range(10_000)
    ]
    handle = Host().use_plugin("hashing-embedder")

    def clear() -> None:
        hashing._hash64.cache_clear()
        hashing._hasher.cache_clear()

    print("\nhashing-embedder, 10,000 short texts, 256 dimensions:")
    print(f"  {'mode':8} {'cold texts/s':>13} {'warm texts/s':>13} {'warm vs direct':>15}")
    results = {}
    for name, fn in (
        ("direct", lambda: hashing.hashing_embed(texts)),
        ("handle", lambda: handle.embed(texts)),
    ):
        clear()
        cold = timed(fn)
        warm = statistics.median(timed(fn) for _ in range(rounds))
        results[name] = (cold, warm)
    for name, (cold, warm) in results.items():
        ratio = warm / results["direct"][1]
        print(f"  {name:8} {len(texts) / cold:13,.0f} {len(texts) / warm:13,.0f} {ratio:14.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (medians)")
    args = parser.parse_args()
    overhead(args.rounds)
    embedder(max(3, args.rounds // 3))


if __name__ == "__main__":
    main()
