"""Tests for dockyard.plugins.text on real documents: Markdown, CSV, prose with emails and dates."""

from __future__ import annotations

import re

import pytest

from dockyard.plugins import text as text_module
from dockyard.plugins.model import Block, Tag
from dockyard.plugins.text import (
    apply_patterns,
    blockify_csv,
    blockify_text,
    compile_patterns,
    extractive_summary,
    regex_tags,
    split_paragraphs,
    split_sentences,
    tokenize,
)

README = """\
# Harbor

Harbor keeps a fleet of small services in one place.
It is written in Python.

## Installation

Install it from PyPI:

```bash
# this comment is not a heading
pip install harbor

harbor --version
```

### From source

Clone the repository and run `pip install -e .` in it.

## Usage #

  Start the server with `harbor serve`.\x20\x20\x20

#not-a-heading because there is no space
    # indented four spaces: code, not a heading

# Changelog
## 1.0 ##
First release.
"""


def _summary(blocks: list[Block]) -> list[tuple[str, list[tuple[str, str | None, object]]]]:
    return [(b.text, [(t.kind, t.name, t.value) for t in b.tags]) for b in blocks]


def test_module_exports_are_sorted_and_documented() -> None:
    assert text_module.__all__ == sorted(text_module.__all__)
    for name in text_module.__all__:
        if callable(getattr(text_module, name)) and name[0].islower():
            assert getattr(text_module, name).__doc__, name


# --- paragraphs ------------------------------------------------------------------------------


def test_split_paragraphs_gives_trimmed_exact_spans() -> None:
    text = "\n\n  First line\nsecond line.  \n \t \n\n\nThird\r\n\r\nFourth  "
    spans = split_paragraphs(text)
    assert [text[a:b] for a, b in spans] == [
        "First line\nsecond line.",
        "Third",
        "Fourth",
    ]
    assert spans[0] == (4, 27)


def test_split_paragraphs_of_blank_text_is_empty() -> None:
    assert split_paragraphs("") == []
    assert split_paragraphs(" \n\t\n  ") == []


def test_blockify_plain_text_is_one_block_per_paragraph() -> None:
    text = "Dear team,\n\nThe release is out.\nPlease test it.\n\n\nThanks!\n"
    blocks = blockify_text(text, "text/plain; charset=utf-8")
    assert [b.text for b in blocks] == [
        "Dear team,",
        "The release is out.\nPlease test it.",
        "Thanks!",
    ]
    assert all(b.mime_type == "text/plain" and b.tags == [] for b in blocks)
    assert len({b.id for b in blocks}) == 3


def test_blockify_plain_text_ignores_markdown_syntax() -> None:
    blocks = blockify_text("# Not a heading here\n\nText", "text/plain")
    assert _summary(blocks) == [("# Not a heading here", []), ("Text", [])]


# --- markdown --------------------------------------------------------------------------------


def test_blockify_markdown_readme() -> None:
    blocks = blockify_text(README, "text/markdown")
    code = "```bash\n# this comment is not a heading\npip install harbor\n\nharbor --version\n```"
    harbor = ("section", "Harbor", None)
    install = ("section", "Installation", None)
    usage = ("section", "Usage", None)
    assert _summary(blocks) == [
        ("# Harbor", [("heading", "h1", "Harbor")]),
        (
            "Harbor keeps a fleet of small services in one place.\nIt is written in Python.",
            [harbor],
        ),
        ("## Installation", [("heading", "h2", "Installation")]),
        ("Install it from PyPI:", [harbor, install]),
        (code, [harbor, install]),
        ("### From source", [("heading", "h3", "From source")]),
        (
            "Clone the repository and run `pip install -e .` in it.",
            [harbor, install, ("section", "From source", None)],
        ),
        ("## Usage #", [("heading", "h2", "Usage")]),
        ("Start the server with `harbor serve`.", [harbor, usage]),
        (
            "#not-a-heading because there is no space\n"
            "    # indented four spaces: code, not a heading",
            [harbor, usage],
        ),
        ("# Changelog", [("heading", "h1", "Changelog")]),
        ("## 1.0 ##", [("heading", "h2", "1.0")]),
        ("First release.", [("section", "Changelog", None), ("section", "1.0", None)]),
    ]
    for block in blocks:
        assert block.mime_type == "text/markdown"
        assert block.text in README  # an exact slice of the source
        for tag in block.tags:
            if tag.kind == "heading":
                assert (tag.start_idx, tag.end_idx) == (0, len(block.text))
            else:
                assert not tag.has_span


def test_markdown_heading_closing_sequence_and_edge_cases() -> None:
    blocks = blockify_text("#\n\n# C#\n\n####### seven\n\n  ### Indented ###  ", "text/markdown")
    assert _summary(blocks) == [
        ("#", [("heading", "h1", "")]),
        ("# C#", [("heading", "h1", "C#")]),
        ("####### seven", [("section", "C#", None)]),
        ("### Indented ###", [("heading", "h3", "Indented")]),
    ]


def test_markdown_heading_and_fence_end_the_paragraph_before_them() -> None:
    doc = "Intro line\n## Part\nBody\n~~~\nx\n\n# y\n~~~~\nAfter"
    assert _summary(blockify_text(doc, "text/x-markdown")) == [
        ("Intro line", []),
        ("## Part", [("heading", "h2", "Part")]),
        ("Body", [("section", "Part", None)]),
        ("~~~\nx\n\n# y\n~~~~", [("section", "Part", None)]),
        ("After", [("section", "Part", None)]),
    ]


def test_markdown_fence_closes_only_with_same_character_and_length() -> None:
    doc = "````\n```\n~~~~\n\n# inside\n````\n# Out"
    blocks = blockify_text(doc, "text/markdown")
    assert [b.text for b in blocks] == ["````\n```\n~~~~\n\n# inside\n````", "# Out"]


def test_markdown_unclosed_fence_runs_to_the_end() -> None:
    doc = "# T\n\n```python\ndef f():\n\n    # comment\n    return 1\n"
    blocks = blockify_text(doc, "text/markdown")
    assert [b.text for b in blocks] == [
        "# T",
        "```python\ndef f():\n\n    # comment\n    return 1",
    ]


def test_markdown_inline_triple_backticks_are_not_a_fence() -> None:
    doc = "```code``` in a line\n\n# Heading"
    assert [b.text for b in blockify_text(doc, "text/markdown")] == [
        "```code``` in a line",
        "# Heading",
    ]


def test_markdown_crlf_line_endings() -> None:
    doc = README.replace("\n", "\r\n")
    blocks = blockify_text(doc, "text/markdown")
    assert len(blocks) == len(blockify_text(README, "text/markdown"))
    assert blocks[4].text.startswith("```bash\r\n# this comment")
    assert all(b.text in doc for b in blocks)


# --- csv -------------------------------------------------------------------------------------

BOOKS_CSV = (
    "\ufefftitle,author,notes\r\n"
    '"Pride and Prejudice","Austen, Jane",'
    '"Opens: ""It is a truth\r\nuniversally acknowledged"""\r\n'
    "\r\n"
    'Dracula,"Stoker, Bram",\r\n'
    '"Moby-Dick; or, The Whale","Melville, Herman","Line one\nline two, with comma"\r\n'
)


def test_blockify_csv_with_text_column_and_quoted_fields() -> None:
    blocks = blockify_csv(BOOKS_CSV, "notes")
    assert [b.text for b in blocks] == [
        'Opens: "It is a truth\r\nuniversally acknowledged"',
        "",
        "Line one\nline two, with comma",
    ]
    assert blocks[0].tags == [
        Tag(kind="column", name="title", value="Pride and Prejudice"),
        Tag(kind="column", name="author", value="Austen, Jane"),
        Tag(
            kind="column", name="notes", value='Opens: "It is a truth\r\nuniversally acknowledged"'
        ),
    ]
    assert blocks[2].tags[0].value == "Moby-Dick; or, The Whale"


def test_blockify_csv_without_text_column_joins_the_row() -> None:
    blocks = blockify_csv(BOOKS_CSV, None)
    assert blocks[1].text == "Dracula | Stoker, Bram | "
    assert [t.name for t in blocks[1].tags] == ["title", "author", "notes"]


def test_blockify_csv_other_delimiter() -> None:
    data = 'name;city\nAda;London\n"Grace; Rear Admiral";Arlington\n'
    blocks = blockify_csv(data, "name", delimiter=";")
    assert [b.text for b in blocks] == ["Ada", "Grace; Rear Admiral"]
    assert blocks[1].tags[1] == Tag(kind="column", name="city", value="Arlington")


def test_blockify_csv_header_only_gives_no_blocks() -> None:
    assert blockify_csv("a,b\n", "a") == []


@pytest.mark.parametrize("data", ["", "\n\n", "\r\n"])
def test_blockify_csv_empty_input_needs_a_header(data: str) -> None:
    with pytest.raises(ValueError, match="CSV input is empty: it needs a header row"):
        blockify_csv(data, None)


def test_blockify_csv_missing_text_column_names_it_and_the_headers() -> None:
    with pytest.raises(ValueError, match="text column 'body' is not in the CSV header") as caught:
        blockify_csv(BOOKS_CSV, "body")
    assert "['title', 'author', 'notes']" in str(caught.value)


def test_blockify_csv_ambiguous_text_column() -> None:
    with pytest.raises(ValueError, match="text column 'x' appears 2 times"):
        blockify_csv("x,y,x\n1,2,3\n", "x")


def test_blockify_csv_wrong_field_count_names_the_row() -> None:
    data = 'a,b\n1,2\n"multi\nline",4\n5,6,7\n'
    with pytest.raises(ValueError, match=r"CSV row 4 \(ending on line 5;.*has 3 field\(s\)"):
        blockify_csv(data, "a")
    with pytest.raises(ValueError, match=r"CSV row 2 .* has 1 field"):
        blockify_csv("a,b\nonly\n", None)


def test_blockify_csv_unclosed_quote_is_an_error() -> None:
    with pytest.raises(ValueError, match="malformed CSV near line 3: unexpected end of data"):
        blockify_csv('a,b\n1,"two\n3,4\n', None)


@pytest.mark.parametrize("delimiter", ["", ";;", '"', "\n"])
def test_blockify_csv_bad_delimiter(delimiter: str) -> None:
    with pytest.raises(ValueError, match="invalid CSV delimiter"):
        blockify_csv("a,b\n1,2\n", None, delimiter=delimiter)


# --- regex tags ------------------------------------------------------------------------------

MEMO = """\
From: Grace Hopper <grace.hopper@navy.example.mil>
Date: 1947-09-09

Found a moth in relay #70 (panel F) on 1947-09-09 at 15:45.
Please reply to ops-team@harvard.example.edu or to ada@example.org before 1947-09-12.
"""

PATTERNS = {
    "contact/email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "date/iso": r"\b\d{4}-\d{2}-\d{2}\b",
    "time": r"\b\d{1,2}:\d{2}\b",
}


def test_regex_tags_finds_emails_dates_and_times_with_exact_spans() -> None:
    tags = regex_tags(MEMO, PATTERNS)
    found = [(t.kind, t.name, t.value) for t in tags]
    assert found == [
        ("contact", "email", "grace.hopper@navy.example.mil"),
        ("date", "iso", "1947-09-09"),
        ("date", "iso", "1947-09-09"),
        ("time", None, "15:45"),
        ("contact", "email", "ops-team@harvard.example.edu"),
        ("contact", "email", "ada@example.org"),
        ("date", "iso", "1947-09-12"),
    ]
    for tag in tags:
        assert tag.start_idx is not None
        assert tag.end_idx is not None
        assert MEMO[tag.start_idx : tag.end_idx] == tag.value
    assert [(t.start_idx, t.end_idx) for t in tags] == sorted(
        (t.start_idx, t.end_idx) for t in tags
    )
    Block(text=MEMO, tags=tags)  # the spans fit the text


def test_regex_tags_sorts_equal_spans_by_kind_then_name() -> None:
    tags = regex_tags("id 42", {"z": r"\d+", "a/y": r"\d+", "a/b": r"\d+", "a": r"\d+"})
    assert [(t.kind, t.name) for t in tags] == [("a", None), ("a", "b"), ("a", "y"), ("z", None)]


def test_regex_tags_skips_empty_matches() -> None:
    tags = regex_tags("abc", {"boundary": r"\b", "x": r"x*", "b": r"b"})
    assert [(t.kind, t.start_idx, t.end_idx) for t in tags] == [("b", 1, 2)]


def test_regex_tags_with_no_patterns_or_no_matches() -> None:
    assert regex_tags(MEMO, {}) == []
    assert regex_tags("", PATTERNS) == []


def test_invalid_regex_names_the_key_and_the_error() -> None:
    with pytest.raises(ValueError, match="'date/iso' is not a valid regular expression") as caught:
        regex_tags("x", {"contact": "a", "date/iso": r"(\d+"})
    assert "missing ), unterminated subpattern" in str(caught.value)
    assert isinstance(caught.value.__cause__, re.error)


@pytest.mark.parametrize("key", ["", "/name", "kind/"])
def test_malformed_key_is_an_error(key: str) -> None:
    with pytest.raises(ValueError, match="is malformed: write 'kind' or 'kind/name'"):
        compile_patterns({key: "x"})


def test_compile_once_apply_many() -> None:
    compiled = compile_patterns({"contact/email": PATTERNS["contact/email"], "n/a/b": r"\d"})
    assert [(kind, name) for kind, name, _ in compiled] == [("contact", "email"), ("n", "a/b")]
    assert all(isinstance(pattern, re.Pattern) for _, _, pattern in compiled)
    assert apply_patterns("x@y.io 7", compiled) == regex_tags(
        "x@y.io 7",
        {
            "contact/email": PATTERNS["contact/email"],
            "n/a/b": r"\d",
        },
    )


# --- sentences, tokens, summaries ------------------------------------------------------------


def test_split_sentences_on_prose_with_abbreviations() -> None:
    text = (
        "Dr. Watson met Mr. Holmes at 221B Baker St. in London. They talked, e.g. about "
        'tobacco ash, i.e. the 140 kinds of it! Was it late? "Quite," said Holmes. '
        "Then J. Smith arrived... 3 hours later (Fig. 2 shows when).\n\n"
        "A heading without a period\n\n"
        "Prices rose 3.5% in the U.S. Army canteen. we go on lowercase. End"
    )
    assert split_sentences(text) == [
        "Dr. Watson met Mr. Holmes at 221B Baker St. in London.",
        "They talked, e.g. about tobacco ash, i.e. the 140 kinds of it!",
        "Was it late?",
        '"Quite," said Holmes.',
        "Then J. Smith arrived...",
        "3 hours later (Fig. 2 shows when).",
        "A heading without a period",
        "Prices rose 3.5% in the U.S. Army canteen. we go on lowercase.",
        "End",
    ]
    for sentence in split_sentences(text):
        assert sentence in text


def test_split_sentences_quote_and_bracket_after_terminator() -> None:
    assert split_sentences('He said "Stop." Then he left. (It rained.) "Why?" Nobody knew.') == [
        'He said "Stop."',
        "Then he left.",
        "(It rained.)",
        '"Why?"',
        "Nobody knew.",
    ]


def test_split_sentences_of_empty_text() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n ") == []


def test_tokenize_is_lowercase_unicode_words() -> None:
    assert tokenize("Don't STOP-me, Zoë: naïve 42x!") == [
        "don",
        "t",
        "stop",
        "me",
        "zoë",
        "naïve",
        "42x",
    ]
    assert tokenize("... !!") == []


def test_extractive_summary_picks_highest_mean_idf_in_original_order() -> None:
    texts = [
        "The cat sat on the mat. The dog sat on the mat.",
        "Quantum chromodynamics describes gluons. The cat sat on the dog.",
    ]
    assert extractive_summary(texts, 1) == ["Quantum chromodynamics describes gluons."]
    two = extractive_summary(texts, 2)
    assert len(two) == 2
    assert two[1] == "Quantum chromodynamics describes gluons."  # original order kept


def test_extractive_summary_score_matches_the_documented_formula() -> None:
    import math

    texts = ["Apples are red. Apples are sweet fruit. Bananas."]
    sentences = split_sentences(texts[0])
    n = len(sentences)
    df = {"apples": 2, "are": 2, "red": 1, "sweet": 1, "fruit": 1, "bananas": 1}

    def idf(term: str) -> float:
        return math.log((1 + n) / (1 + df[term])) + 1

    scores = [sum(idf(t) for t in tokenize(s)) / len(tokenize(s)) for s in sentences]
    best = max(range(n), key=lambda i: (scores[i], -i))
    assert extractive_summary(texts, 1) == [sentences[best]] == ["Bananas."]
    assert scores[1] > scores[0]
    assert extractive_summary(texts, 2) == ["Apples are sweet fruit.", "Bananas."]


def test_extractive_summary_ties_go_to_the_earlier_sentence() -> None:
    texts = ["Alpha beta. Gamma delta. Epsilon zeta."]  # all scores equal
    assert extractive_summary(texts, 1) == ["Alpha beta."]
    assert extractive_summary(texts, 2) == ["Alpha beta.", "Gamma delta."]


def test_extractive_summary_k_larger_than_sentences_and_tokenless_sentences() -> None:
    texts = ["One sentence here.", "", "?!"]
    assert extractive_summary(texts, 10) == ["One sentence here.", "?!"]
    assert extractive_summary([], 3) == []


@pytest.mark.parametrize("k", [0, -1])
def test_extractive_summary_rejects_non_positive_k(k: int) -> None:
    with pytest.raises(ValueError, match=f"k must be a positive number of sentences, got {k}"):
        extractive_summary(["A sentence."], k)
