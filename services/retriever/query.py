"""The Redis Search query language as the retriever writes it: escaping, filters, queries.

User text never reaches the query language raw: it is cut into word tokens (the same split
the indexer makes) and every remaining non-word character is escaped; tag values are
escaped the same way. Pure functions, no Redis: each returns the text of a query or a
clause, or raises :class:`InvalidArgument` for a request no query can answer.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from services.common.errors import InvalidArgument

MAX_K = 1000
MAX_OFFSET = 9000  # offset + window stays under Redis Search's default MAXSEARCHRESULTS
MAX_QUERY_CHARS = 4096
MAX_LIST_OFFSET = 1_000_000  # list_passages: passages skipped at most
DEFAULT_LIST_LIMIT = 100
TAG_SEP = "|"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Redis Search's default English stop words: dropped from queries (the index drops them too).
STOPWORDS = frozenset(
    "a is the an and are as at be but by for if in into it no not of on or such that their "
    "then there these they this to was will with".split()
)
_WORD = re.compile(r"\w+")
# In query text "_" must be escaped too: a lone "_" term (from LaTeX such as "TiSe$_{2}$")
# is a syntax error inside an OR clause, while "\_" is the literal the index holds.
_QUERY_SPECIAL = re.compile(r"(\W|_)")


class Mode(enum.Enum):
    VECTOR = "vector"
    TEXT = "text"
    HYBRID = "hybrid"


class Target(enum.Enum):
    PAPERS = "papers"
    PASSAGES = "passages"


@dataclass(frozen=True)
class Filters:
    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None


# -- escaping --------------------------------------------------------------------------------
def escape_query_text(token: str) -> str:
    """Backslash-escape every character that is not a letter or digit (so "_" too)."""
    return _QUERY_SPECIAL.sub(r"\\\1", token)


def escape_tag(value: str) -> str:
    """Escape a TAG value for ``@field:{...}``: every character that is not a letter or
    digit, spaces, punctuation and ``_`` included (a lone ``_`` beside another value,
    ``{_ | x}``, is a syntax error to Redis Search 2.10)."""
    return _QUERY_SPECIAL.sub(r"\\\1", value)


def query_terms(text: str, limit: int = 256) -> list[str]:
    """User text -> distinct lower-case word tokens, stop words dropped, at most ``limit``.

    This is the split Redis Search makes when indexing (it separates words at punctuation
    and spaces), so ``state-of-the-art`` finds what the index holds as state/of/the/art,
    while ``-``, ``@``, ``|``, ``*``, ``$``... can never act as operators.
    """
    seen: dict[str, None] = {}
    for token in _WORD.findall(text.lower()):
        if token not in STOPWORDS and token not in seen:
            seen[token] = None
            if len(seen) >= limit:
                break
    return [escape_query_text(t) for t in seen]


def clean_tag(value: str, what: str) -> str:
    """A tag value as stored and filtered: ``|`` and control characters as spaces, trimmed."""
    # Control characters (NUL, ESC, DEL, ...) break the query parser and never occur in a
    # category or a name: they count as spaces.
    value = _CONTROL.sub(" ", str(value).replace(TAG_SEP, " "))
    value = " ".join(value.split())
    if not value:
        raise InvalidArgument(f"empty {what} value")
    return value


# -- clauses and queries ---------------------------------------------------------------------
def filter_clause(filters: Filters | None) -> str:
    """The filters as a query clause ("" for none): tags OR-ed within a field, fields AND-ed."""
    if filters is None:
        return ""
    parts: list[str] = []
    if filters.categories:
        cats = [escape_tag(clean_tag(c, "category filter")) for c in filters.categories]
        parts.append("@categories:{" + " | ".join(cats) + "}")
    if filters.authors:
        names = [escape_tag(clean_tag(a, "author filter")) for a in filters.authors]
        parts.append("@authors:{" + " | ".join(names) + "}")
    lo, hi = filters.year_min, filters.year_max
    if lo is not None and hi is not None and lo > hi:
        raise InvalidArgument(f"year_min {lo} is after year_max {hi}")
    if lo is not None or hi is not None:
        low = "-inf" if lo is None else str(lo)
        high = "+inf" if hi is None else str(hi)
        parts.append(f"@year:[{low} {high}]")
    return " ".join(parts)


def exclude_paper_clause(paper_id: str, clause: str) -> str:
    """``clause`` without the paper ``paper_id`` (similar papers leave the paper out)."""
    return f"-@paper_id:{{{escape_tag(paper_id)}}} {clause}".strip()


def knn_query(clause: str) -> str:
    """KNN over ``@vector`` among the documents ``clause`` matches (all for "")."""
    base = f"({clause})" if clause else "*"
    return f"{base}=>[KNN $K @vector $BLOB EF_RUNTIME $EF AS vector_distance]"


def bm25_query(target: Target, terms: list[str], clause: str) -> str:
    """Any of ``terms`` (escaped already) in the target's text fields, within ``clause``."""
    text_fields = "@title|abstract" if target is Target.PAPERS else "@text|section"
    return f"{text_fields}:({' | '.join(terms)}) {clause}".strip()


# -- request limits --------------------------------------------------------------------------
def check_page(k: int, offset: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InvalidArgument(f"k {k} out of range 1..{MAX_K}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument(f"offset {offset} out of range 0..{MAX_OFFSET}")


def check_list_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_K:
        raise InvalidArgument(f"limit {limit} out of range 1..{MAX_K}")
    if not 0 <= offset <= MAX_LIST_OFFSET:
        raise InvalidArgument(f"offset {offset} out of range 0..{MAX_LIST_OFFSET}")


def check_query_text(text: str) -> None:
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidArgument(f"query_text has {len(text)} characters; at most {MAX_QUERY_CHARS}")
