"""Pure text functions behind the shipped plugins: blockifiers, the regex tagger, the summariser.

Nothing here does I/O or knows about services; every function is deterministic. Text
positions are Python string indices (code points), the same ones `Tag` spans use, and
every block or sentence returned is an exact slice of its input (so spans computed on it
line up with the source).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

from dockyard.plugins.model import Block, Tag

__all__ = [
    "CompiledPattern",
    "apply_patterns",
    "blockify_csv",
    "blockify_text",
    "compile_patterns",
    "extractive_summary",
    "regex_tags",
    "split_paragraphs",
    "split_sentences",
    "tokenize",
]

#: A compiled regex-tagger rule: ``(kind, name or None, pattern)``.
CompiledPattern = tuple[str, str | None, re.Pattern[str]]

_NEWLINE = re.compile(r"\r\n|\r|\n")
_WORD = re.compile(r"\w+")

_MARKDOWN_TYPES = frozenset({"text/markdown", "text/x-markdown"})
# CommonMark: up to three spaces of indentation (four make an indented code block),
# one to six '#', then a space/tab or the end of the line ("#hashtag" is not a heading).
_ATX_HEADING = re.compile(r" {0,3}(#{1,6})(?=[ \t]|$)(.*)")
# An optional closing sequence of '#' must be preceded by a space ("# C#" keeps its '#').
_ATX_CLOSING = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")


# --- paragraphs and blocks -------------------------------------------------------------------


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of every line of ``text``, line breaks (``\\n``, ``\\r\\n``, ``\\r``)
    excluded."""
    start = 0
    for match in _NEWLINE.finditer(text):
        yield start, match.start()
        start = match.end()
    if start < len(text):
        yield start, len(text)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span ``[start, end)`` of ``text`` shrunk to exclude surrounding whitespace."""
    piece = text[start:end]
    stripped = piece.lstrip()
    start += len(piece) - len(stripped)
    return start, start + len(stripped.rstrip())


def split_paragraphs(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of the paragraphs of ``text``, in order.

    Paragraphs are separated by one or more blank lines (lines holding only whitespace).
    Each span is trimmed of surrounding whitespace, so ``text[start:end]`` is the paragraph
    without its indentation of the first line or trailing spaces; inner line breaks are
    kept. Text with no non-blank line has no paragraphs.

    >>> split_paragraphs("One\\ntwo.\\n\\n  Three.  \\n")
    [(0, 8), (12, 18)]
    """
    spans: list[tuple[int, int]] = []
    first: int | None = None  # start of the current paragraph's first line
    last = 0  # end of its last non-blank line
    for start, end in _lines(text):
        if text[start:end].strip():
            if first is None:
                first = start
            last = end
        elif first is not None:
            spans.append(_trim(text, first, last))
            first = None
    if first is not None:
        spans.append(_trim(text, first, last))
    return spans


def _normalise_mime(mime_type: str) -> str:
    return mime_type.partition(";")[0].strip().lower()


def blockify_text(text: str, mime_type: str) -> list[Block]:
    """Split a text document into blocks, one per paragraph.

    Every block's ``text`` is an exact slice of ``text`` (trimmed of surrounding
    whitespace) and its ``mime_type`` is ``mime_type`` without parameters (``"text/markdown;
    charset=utf-8"`` gives ``"text/markdown"``).

    For Markdown (``text/markdown`` or ``text/x-markdown``):

    - an ATX heading line (``#`` to ``######``, CommonMark rules) is a block of its own,
      its text the whole source line *including* the ``#`` marks, tagged
      ``Tag(kind="heading", name="h<level>", value=<heading text>, start_idx=0,
      end_idx=len(text))``; the heading text has the marks and any closing ``#`` sequence
      removed;
    - every other block after a heading, until the next heading of the same or a higher
      level, is tagged ``Tag(kind="section", name=<heading text>)``, outermost section
      first (a paragraph under ``# A`` / ``## B`` has sections ``A`` then ``B``); heading
      blocks carry only their heading tag;
    - a fenced code block (```` ``` ```` or ``~~~``, closed by a fence of the same character
      at least as long, or by the end of the document) is one block from its opening to
      its closing fence: blank lines inside it do not split it and ``#`` lines inside it
      are not headings. A fence or a heading also ends the paragraph before it.

    Setext headings (underlined with ``===``) are not recognised: they stay paragraphs.
    Any other type is read as plain text: one block per `split_paragraphs` paragraph.

    :param text: the document.
    :param mime_type: its type; decides whether Markdown structure is recognised.
    """
    mime = _normalise_mime(mime_type)
    if mime not in _MARKDOWN_TYPES:
        return [Block(text=text[a:b], mime_type=mime) for a, b in split_paragraphs(text)]
    return _blockify_markdown(text, mime)


def _blockify_markdown(text: str, mime: str) -> list[Block]:
    blocks: list[Block] = []
    sections: list[tuple[int, str]] = []  # (level, heading text) of the open sections
    first: int | None = None  # start of the pending paragraph or fence
    last = 0
    fence: str | None = None  # the opening fence while inside a fenced code block

    def flush() -> None:
        nonlocal first
        if first is None:
            return
        start, end = _trim(text, first, last)
        first = None
        if start < end:
            tags = [Tag(kind="section", name=title) for _, title in sections]
            blocks.append(Block(text=text[start:end], mime_type=mime, tags=tags))

    for start, end in _lines(text):
        line = text[start:end]
        if fence is not None:
            last = end
            closing = line.strip(" \t")
            if (
                len(line) - len(line.lstrip(" ")) <= 3
                and closing.startswith(fence)
                and closing == closing[0] * len(closing)
            ):
                fence = None
                flush()
            continue
        opening = _FENCE_OPEN.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            flush()
            fence, first, last = opening.group(1), start, end
            continue
        heading = _ATX_HEADING.match(line)
        if heading:
            flush()
            level = len(heading.group(1))
            title = _ATX_CLOSING.sub("", heading.group(2).strip(" \t")).strip(" \t")
            a, b = _trim(text, start, end)
            tag = Tag(kind="heading", name=f"h{level}", value=title, start_idx=0, end_idx=b - a)
            blocks.append(Block(text=text[a:b], mime_type=mime, tags=[tag]))
            while sections and sections[-1][0] >= level:
                sections.pop()
            sections.append((level, title))
            continue
        if line.strip():
            if first is None:
                first = start
            last = end
        else:
            flush()
    flush()
    return blocks


def blockify_csv(data: str, text_column: str | None, delimiter: str = ",") -> list[Block]:
    """One block per data row of a CSV document whose first row is the header.

    Every column of a row becomes ``Tag(kind="column", name=<header>, value=<cell>)``
    (cells are strings, as read). The block's text is the ``text_column`` cell, or, when
    ``text_column`` is None, all the row's cells joined with ``" | "``. Quoted fields may
    hold the delimiter and line breaks (standard `csv` dialect, strict: text after a
    closing quote or an unclosed quote is an error). Blank lines are skipped;
    a UTF-8 byte-order mark before the first header is dropped.

    :param data: the CSV text.
    :param text_column: the header of the column holding each block's text, or None.
    :param delimiter: the one-character field separator.
    :raises ValueError: if the input is empty (no header row), the delimiter is not one
        character, ``text_column`` is not (or more than once) in the header, a row has a
        different number of fields than the header, or the CSV is malformed.
    """
    if delimiter in ('"', "\r", "\n"):
        raise ValueError(
            f"invalid CSV delimiter {delimiter!r}: it is the quote character or a line "
            "break; give another single character such as ',' or ';' or '\\t'"
        )
    try:
        # strict: an unclosed quote is an error instead of silently swallowing the rest of
        # the input into one field.
        reader = csv.reader(io.StringIO(data, newline=""), delimiter=delimiter, strict=True)
    except TypeError as error:  # csv reports a bad delimiter as a TypeError
        raise ValueError(
            f"invalid CSV delimiter {delimiter!r}: {error}; give a single character "
            "such as ',' or ';' or '\\t'"
        ) from error

    def records() -> Iterator[list[str]]:
        # Wraps the reader so malformed input is a ValueError with the line, like the
        # other input errors, instead of a csv.Error.
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise ValueError(
                    f"malformed CSV near line {reader.line_num}: {error}; check the "
                    "quotes of the rows up to there (a quote must close before the next "
                    "delimiter, and an unclosed quote runs to the end of the input)"
                ) from error
            if row:  # the reader gives [] for a blank line
                yield row

    rows = records()
    header = next(rows, None)
    if header is None:
        raise ValueError(
            "the CSV input is empty: it needs a header row naming the columns, then one "
            "row per block"
        )
    header[0] = header[0].removeprefix("\ufeff")
    column: int | None = None
    if text_column is not None:
        found = [i for i, name in enumerate(header) if name == text_column]
        if len(found) != 1:
            problem = "is not" if not found else f"appears {len(found)} times"
            raise ValueError(
                f"text column {text_column!r} {problem} in the CSV header; the columns "
                f"are {header!r}: set text_column to one of them (or to None to use "
                "the whole row)"
            )
        column = found[0]
    blocks: list[Block] = []
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"CSV row {number} (ending on line {reader.line_num}; the header is row 1) "
                f"has {len(row)} field(s) but the header has {len(header)}: check for a "
                f"missing or extra {delimiter!r} or an unbalanced quote"
            )
        text = row[column] if column is not None else " | ".join(row)
        tags = [
            Tag(kind="column", name=name, value=value)
            for name, value in zip(header, row, strict=True)
        ]
        blocks.append(Block(text=text, mime_type="text/plain", tags=tags))
    return blocks


# --- regex tagging ---------------------------------------------------------------------------


def compile_patterns(patterns: Mapping[str, str]) -> list[CompiledPattern]:
    """Compile the regex tagger's rules once, for `apply_patterns`.

    :param patterns: ``{"kind/name": regex}`` or ``{"kind": regex}`` (the name is then
        None); the key is split at its first ``/``.
    :returns: ``(kind, name, compiled pattern)`` per rule, in the mapping's order.
    :raises ValueError: naming the key, if a key has an empty kind or name or a regex
        does not compile.
    """
    compiled: list[CompiledPattern] = []
    for key, regex in patterns.items():
        kind, slash, name = key.partition("/")
        if not kind or (slash and not name):
            raise ValueError(
                f"regex tagger key {key!r} is malformed: write 'kind' or 'kind/name' "
                "with non-empty parts, e.g. 'contact/email'"
            )
        try:
            pattern = re.compile(regex)
        except re.error as error:
            raise ValueError(
                f"regex tagger pattern {key!r} is not a valid regular expression "
                f"({error}): {regex!r}"
            ) from error
        compiled.append((kind, name if slash else None, pattern))
    return compiled


def apply_patterns(text: str, compiled: Sequence[CompiledPattern]) -> list[Tag]:
    """Tag every match of precompiled rules (from `compile_patterns`) in ``text``.

    Each non-empty match gives ``Tag(kind, name, value=<matched text>, start_idx,
    end_idx)`` with the match's span, so ``text[start_idx:end_idx] == value``. Matches of
    one rule do not overlap (`re.finditer` semantics); matches of different rules may.
    Tags are sorted by ``(start_idx, end_idx, kind, name)``.
    """
    tags: list[Tag] = []
    for kind, name, pattern in compiled:
        for match in pattern.finditer(text):
            start, end = match.span()
            if start < end:  # a lookahead or `x*` matching nothing marks nothing
                tags.append(
                    Tag(kind=kind, name=name, value=match.group(), start_idx=start, end_idx=end)
                )
    tags.sort(key=lambda t: (t.start_idx, t.end_idx, t.kind, t.name or ""))
    return tags


def regex_tags(text: str, patterns: Mapping[str, str]) -> list[Tag]:
    """Tag every match of ``patterns`` in ``text``: `compile_patterns` then `apply_patterns`.

    A plugin applying the same rules to many texts should compile them once with
    `compile_patterns` and call `apply_patterns`.

    :param patterns: ``{"kind/name": regex}`` or ``{"kind": regex}``.
    :raises ValueError: naming the key, if a key is malformed or a regex does not compile.
    """
    return apply_patterns(text, compile_patterns(patterns))


# --- sentences and summaries -----------------------------------------------------------------

# Words that end with a period without ending the sentence (compared lower-case).
# "etc." and "no." are left out on purpose: before a capital letter they usually do end one.
_ABBREVIATIONS = frozenset(
    {
        # titles
        "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "rev", "fr", "hon",
        "gen", "col", "capt", "lt", "sgt",
        # references and Latin
        "vs", "cf", "al", "fig", "figs", "eq", "eqs", "vol", "vols", "pp", "ch",
        "approx", "ca", "dept",
        # companies and months
        "inc", "ltd", "corp", "bros", "jan", "feb", "apr", "jun", "jul", "aug", "sep",
        "sept", "oct", "nov", "dec",
    }
)  # fmt: skip
# Dotted initialisms: "e.g", "i.e", "U.S", "a.m" (the final period is the terminator).
_INITIALISM = re.compile(r"(?:\w\.)+\w")
# A terminator run (".", "?!", "...") with closing quotes/brackets, then whitespace.
_CLOSERS = "\"'\u201d\u2019)]"
_OPENERS = "\"'\u201c\u2018(["
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; each one is an exact, stripped slice of ``text``.

    A sentence ends at ``.``, ``!`` or ``?`` (possibly repeated, possibly followed by
    closing quotes or brackets) that is followed by whitespace and then an upper-case
    letter, a digit or an opening quote/bracket. A period does not end a sentence after
    a common abbreviation (``Dr.``, ``Mr.``, ``vs.``, ``Fig.``...), a dotted initialism
    (``e.g.``, ``i.e.``, ``U.S.``) or a single capital initial (``J. Smith``). A blank
    line always ends a sentence, so a heading or any paragraph without final punctuation
    stands alone. Line breaks inside a sentence are kept as they are.
    """
    sentences: list[str] = []
    for para_start, para_end in split_paragraphs(text):
        start = para_start
        for match in _SENTENCE_END.finditer(text, para_start, para_end):
            nxt = match.end()
            while nxt < para_end and text[nxt].isspace():
                nxt += 1
            if nxt >= para_end:
                break
            following = text[nxt]
            if not (following.isupper() or following.isdigit() or following in _OPENERS):
                continue
            terminator = match.group().rstrip(_CLOSERS)
            if terminator == "." and _is_abbreviation(text, start, match.start()):
                continue
            sentences.append(text[start : match.end()])
            start = nxt
        a, b = _trim(text, start, para_end)
        if a < b:
            sentences.append(text[a:b])
    return sentences


def _is_abbreviation(text: str, start: int, end: int) -> bool:
    """Whether the word ending at ``end`` (just before a single period) is an abbreviation."""
    words = text[start:end].split()
    if not words:
        return False
    word = words[-1].lstrip(_OPENERS)
    if not word:
        return False
    if len(word) == 1 and word.isupper():
        return True
    return word.lower() in _ABBREVIATIONS or _INITIALISM.fullmatch(word) is not None


def tokenize(text: str) -> list[str]:
    """The lower-case word tokens of ``text``: runs of Unicode word characters (``\\w+``),
    so ``"Don't stop-me"`` gives ``["don", "t", "stop", "me"]``."""
    return _WORD.findall(text.lower())


def extractive_summary(texts: Sequence[str], k: int) -> list[str]:
    """The ``k`` most informative sentences of ``texts``, in their original order.

    The texts are split with `split_sentences`; each sentence is one document for the
    inverse document frequency, smoothed as ``idf(t) = ln((1 + N) / (1 + df(t))) + 1``
    (``N`` sentences, ``df(t)`` of them containing term ``t``), so it is positive and
    finite. A sentence's score is the sum of ``tf(t) * idf(t)`` over its terms (``tf``
    the term's count in the sentence) divided by its number of tokens, i.e. the mean
    idf of its tokens: long sentences do not win by length alone. A sentence without
    tokens scores 0. Ties go to the earlier sentence.

    Note the scoring rewards sentences made of words rare in the collection; it does
    not model topic centrality.

    :param texts: the documents (e.g. a file's block texts), in order.
    :param k: how many sentences to keep; all of them if there are fewer.
    :raises ValueError: if ``k`` is not positive.
    """
    if k <= 0:
        raise ValueError(f"k must be a positive number of sentences, got {k}")
    sentences = [sentence for text in texts for sentence in split_sentences(text)]
    bags = [Counter(tokenize(sentence)) for sentence in sentences]
    document_frequency: Counter[str] = Counter()
    for bag in bags:
        document_frequency.update(bag.keys())
    total = len(sentences)
    idf = {
        term: math.log((1 + total) / (1 + count)) + 1 for term, count in document_frequency.items()
    }
    scores = [
        math.fsum(tf * idf[term] for term, tf in bag.items()) / sum(bag.values()) if bag else 0.0
        for bag in bags
    ]
    ranked = sorted(range(total), key=lambda i: (-scores[i], i))
    return [sentences[i] for i in sorted(ranked[:k])]
