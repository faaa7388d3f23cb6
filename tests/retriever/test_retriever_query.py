"""The query language without Redis: escaping, query terms, filter clauses, query text.

Fast unit tests of pure functions. That the escaped text also means to Redis what it
says here is shown against a real Redis Stack in test_retriever_index.py (hostile strings).
"""

from __future__ import annotations

import re

import pytest

from services.common.errors import InvalidArgument
from services.retriever.query import (
    MAX_K,
    MAX_LIST_OFFSET,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    Filters,
    Target,
    bm25_query,
    check_list_page,
    check_page,
    check_query_text,
    clean_tag,
    escape_query_text,
    escape_tag,
    exclude_paper_clause,
    filter_clause,
    knn_query,
    query_terms,
)

# A query term may hold letters, digits and escaped underscores, nothing else.
SAFE_TERM = re.compile(r"(?:[^\W_]|\\_)+")

HOSTILE = [
    '"quantum',
    "quantum'",
    "{quantum}",
    "quantum | *",
    "a|b||c",
    "@title:{quantum}",
    "@year:[0 9999]",
    "-quantum --x",
    "quantum\x00walk",
    "\x00",
    "quantum\u200bwalk",
    "=>[KNN 10 @vector $BLOB]",
    "$BLOB",
    "%quantum%",
    "(a) | -(b)",
    "TiSe$_{2}$",
    "\\",
    "Schrödinger équation 数学",
    "ISMISSING(@title)",
    "",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_operator_survives_in_query_terms(text: str) -> None:
    for term in query_terms(text):
        assert SAFE_TERM.fullmatch(term), (text, term)


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ('"quantum', ["quantum"]),
        ("{quantum}", ["quantum"]),
        ("quantum | *", ["quantum"]),
        ("@title:{quantum}", ["title", "quantum"]),
        ("-quantum --x", ["quantum", "x"]),
        ("quantum\x00walk", ["quantum", "walk"]),  # NUL splits words
        ("quantum\u200bwalk", ["quantum", "walk"]),  # so does a zero-width space
        ("=>[KNN 10 @vector $BLOB]", ["knn", "10", "vector", "blob"]),
        ("TiSe$_{2}$", ["tise", "\\_", "2"]),  # a lone "_" is escaped, not an operator
        ("a_b", ["a\\_b"]),
        ("Schrödinger équation 数学", ["schrödinger", "équation", "数学"]),
        ("state-of-the-art", ["state", "art"]),  # the indexer's split; stop words dropped
        ("The a of", []),
        ("*", []),
        ("Quantum QUANTUM quantum", ["quantum"]),  # lower case, each term once
    ],
)
def test_query_terms(text: str, terms: list[str]) -> None:
    assert query_terms(text) == terms


def test_query_terms_are_capped() -> None:
    assert query_terms("w1 w2 w3 w4 w2", limit=3) == ["w1", "w2", "w3"]


def test_escape_query_text_escapes_everything_but_letters_and_digits() -> None:
    assert escape_query_text("a-b") == "a\\-b"
    assert escape_query_text("x_y") == "x\\_y"
    assert escape_query_text("@|{}") == "\\@\\|\\{\\}"
    assert escape_query_text("q\x00") == "q\\\x00"
    assert escape_query_text("Balázs数学") == "Balázs数学"


def test_escape_tag_escapes_spaces_and_punctuation() -> None:
    assert escape_tag("cs.LG} | {*") == "cs\\.LG\\}\\ \\|\\ \\{\\*"
    assert escape_tag("quant-ph") == "quant\\-ph"
    assert escape_tag("@year:[0 1]") == "\\@year\\:\\[0\\ 1\\]"
    assert escape_tag("C. Balázs") == "C\\.\\ Balázs"
    # "_" too: a lone "_" beside another value ({_ | x}) is a Redis syntax error, and an
    # escaped "\_" still matches the stored "_" (test_tag_values_with_underscores_still_match)
    assert escape_tag("a_b") == "a\\_b"
    assert escape_tag("_") == "\\_"


def test_clean_tag() -> None:
    assert clean_tag("  Ada   Lovelace ", "author") == "Ada Lovelace"
    assert clean_tag("cs.LG|cs.AI", "category") == "cs.LG cs.AI"  # "|" is the separator
    assert clean_tag("a\x00b\x1bc\x7f", "author") == "a b c"
    with pytest.raises(InvalidArgument, match="empty category filter value"):
        clean_tag(" |\x00 ", "category filter")


@pytest.mark.parametrize(
    ("filters", "clause"),
    [
        (None, ""),
        (Filters(), ""),
        (Filters(categories=("cs.LG",)), "@categories:{cs\\.LG}"),
        (
            Filters(categories=("cs.LG", "quant-ph")),
            "@categories:{cs\\.LG | quant\\-ph}",
        ),
        (Filters(authors=("Ada Lovelace",)), "@authors:{Ada\\ Lovelace}"),
        (Filters(year_min=2019), "@year:[2019 +inf]"),
        (Filters(year_max=2020), "@year:[-inf 2020]"),
        (Filters(year_min=0), "@year:[0 +inf]"),  # 0 is a bound, not "none"
        (Filters(year_min=2019, year_max=2019), "@year:[2019 2019]"),
        (
            Filters(categories=("hep-th",), authors=("É. Noether",), year_min=1, year_max=2),
            "@categories:{hep\\-th} @authors:{É\\.\\ Noether} @year:[1 2]",
        ),
        # hostile tag values stay inside their braces
        (
            Filters(categories=("} | @year:[0 9999] {",)),
            "@categories:{\\}\\ \\@year\\:\\[0\\ 9999\\]\\ \\{}",
        ),
        (Filters(authors=("x|y",)), "@authors:{x\\ y}"),
        (Filters(authors=("x\x00",)), "@authors:{x}"),
    ],
)
def test_filter_clause(filters: Filters | None, clause: str) -> None:
    assert filter_clause(filters) == clause


def test_filter_clause_refuses_what_no_query_can_answer() -> None:
    with pytest.raises(InvalidArgument, match="year_min 2020 is after year_max 2010"):
        filter_clause(Filters(year_min=2020, year_max=2010))
    with pytest.raises(InvalidArgument, match="empty author filter value"):
        filter_clause(Filters(authors=("Ada", "\x00 ")))


def test_query_text() -> None:
    knn = "=>[KNN $K @vector $BLOB EF_RUNTIME $EF AS vector_distance]"
    assert knn_query("") == "*" + knn
    assert knn_query("@year:[1 2]") == "(@year:[1 2])" + knn
    assert bm25_query(Target.PAPERS, ["a", "b\\_c"], "") == "@title|abstract:(a | b\\_c)"
    assert bm25_query(Target.PASSAGES, ["a"], "@year:[1 2]") == "@text|section:(a) @year:[1 2]"
    assert exclude_paper_clause("hep-th/9901001", "") == "-@paper_id:{hep\\-th\\/9901001}"
    assert exclude_paper_clause("2101.00001", "@year:[1 2]") == (
        "-@paper_id:{2101\\.00001} @year:[1 2]"
    )


def test_request_limits() -> None:
    check_page(1, 0)
    check_page(MAX_K, MAX_OFFSET)
    for k, offset, what in [(0, 0, "k 0"), (MAX_K + 1, 0, "k 1001"), (1, -1, "offset -1")]:
        with pytest.raises(InvalidArgument, match=what):
            check_page(k, offset)
    with pytest.raises(InvalidArgument, match=re.escape("offset 9001 out of range 0..9000")):
        check_page(1, MAX_OFFSET + 1)
    check_list_page(MAX_K, MAX_LIST_OFFSET)
    with pytest.raises(InvalidArgument, match=re.escape("limit 0 out of range 1..1000")):
        check_list_page(0, 0)
    with pytest.raises(InvalidArgument, match="offset 1000001 out of range"):
        check_list_page(1, MAX_LIST_OFFSET + 1)
    check_query_text("x" * MAX_QUERY_CHARS)
    with pytest.raises(InvalidArgument, match="query_text has 4097 characters; at most 4096"):
        check_query_text("x" * (MAX_QUERY_CHARS + 1))
