"""The retriever's domain records, and how a written record becomes its stored hash.

Plain dataclasses in, plain dataclasses out (no Redis, no gRPC). The ``*_fields`` functions
validate a record as it is written (``InvalidArgument`` with a message naming the record)
and return the hash fields stored for it: vectors as little-endian FLOAT32 bytes, tag lists
joined with ``|``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.common.arxiv import Paper
from services.common.errors import InvalidArgument, ServiceError
from services.retriever.query import TAG_SEP, clean_tag

MAX_ID_CHARS = 256
ABSTRACT_SECTION = "Abstract"
PAPER_META = ("title", "authors", "categories", "year")
"""The paper's fields a passage copies, so passage searches take the same filters."""


@dataclass
class PaperRecord(Paper):
    """A paper as stored: the metadata every service shares (``services.common.arxiv.Paper``:
    id, title, abstract, authors, categories, year, update_date) and its embedding."""

    vector: np.ndarray | None = None


@dataclass
class PassageRecord:
    paper_id: str
    ordinal: int
    text: str
    section: str = ""
    vector: np.ndarray | None = None

    @property
    def id(self) -> str:
        return f"{self.paper_id}#{self.ordinal}"


@dataclass
class Hit:
    id: str
    paper_id: str
    title: str = ""
    text: str = ""
    ordinal: int = 0
    section: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    year: int | None = None
    score: float = 0.0
    vector_rank: int = 0  # 1-based; 0 = not in the vector list
    vector_score: float = 0.0  # cosine similarity
    text_rank: int = 0
    text_score: float = 0.0  # BM25


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int


class Source(enum.Enum):
    """Where a retrieved passage comes from."""

    FULL_TEXT = "full_text"
    ABSTRACT = "abstract"  # the abstract of a paper without stored full text


@dataclass
class RetrievedPassage:
    """One of the best passages for a question (``RetrieverIndex.retrieve_passages``).

    ``hit.id`` is ``paper_id#ordinal`` for a full-text passage and ``paper_id#abstract``
    for an abstract (then ``hit.section`` is "Abstract" and ``hit.ordinal`` 0).
    """

    hit: Hit
    source: Source


@dataclass
class FoundPapers:
    """``get_papers``: the papers found (in the order asked) and the ids that were not."""

    papers: list[PaperRecord]
    passage_counts: list[int]  # stored passages of each paper, aligned with papers
    missing: list[str]


@dataclass
class PassagePage:
    """``list_passages``: one page of a paper's passages in ordinal order, and how many."""

    passages: list[PassageRecord]
    total: int


@dataclass(frozen=True)
class UpsertError:
    kind: str  # "paper" | "passage"
    index: int  # position among records of that kind in the whole upsert
    id: str
    error: type[ServiceError]  # the domain error (InvalidArgument, NotFound): it names its codes
    message: str


@dataclass
class UpsertResult:
    papers_written: int = 0
    passages_written: int = 0
    errors: list[UpsertError] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    papers: int
    passages: int
    index_bytes: int
    redis_used_memory_bytes: int
    index_failures: int


# -- validation: a written record -> its stored fields ---------------------------------------
def check_id(paper_id: str, what: str = "paper id") -> str:
    """A paper id as stored: trimmed, not empty, no spaces or control characters."""
    pid = str(paper_id).strip()
    if not pid:
        raise InvalidArgument(f"empty {what}")
    if len(pid) > MAX_ID_CHARS or any(c.isspace() or ord(c) < 32 for c in pid):
        raise InvalidArgument(
            f"bad {what} {pid[:80]!r}: no spaces or control characters, "
            f"at most {MAX_ID_CHARS} characters"
        )
    return pid


def vector_bytes(vector: Any, dim: int, what: str) -> bytes | None:
    """A vector as FLOAT32 bytes (``None`` for none or an empty one); ``what`` names it."""
    if vector is None:
        return None
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    if arr.size == 0:
        return None
    if arr.size != dim:
        raise InvalidArgument(f"{what}: vector has {arr.size} dimensions, the index has {dim}")
    if not np.all(np.isfinite(arr)):
        raise InvalidArgument(f"{what}: vector contains NaN or infinity")
    if not np.any(arr):
        raise InvalidArgument(f"{what}: vector is all zeros (no direction for cosine)")
    return arr.astype("<f4").tobytes()


def paper_fields(paper: PaperRecord, dim: int) -> dict[str, Any]:
    """The hash stored for a paper (``paper_id`` is its checked id)."""
    pid = check_id(paper.id)
    title = " ".join(str(paper.title).split())
    if not title:
        raise InvalidArgument(f"paper {pid}: empty title")
    if paper.year is not None and not 0 <= paper.year <= 9999:
        raise InvalidArgument(f"paper {pid}: year {paper.year} out of range")
    mapping: dict[str, Any] = {
        "paper_id": pid,
        "title": title,
        "abstract": paper.abstract or "",
        "authors": TAG_SEP.join(clean_tag(a, f"paper {pid}: author") for a in paper.authors),
        "categories": TAG_SEP.join(
            clean_tag(c, f"paper {pid}: category") for c in paper.categories
        ),
        "update_date": paper.update_date or "",
    }
    if paper.year:
        mapping["year"] = int(paper.year)
    vec = vector_bytes(paper.vector, dim, f"paper {pid}")
    if vec is not None:
        mapping["vector"] = vec
    return mapping


def passage_fields(passage: PassageRecord, dim: int) -> tuple[str, dict[str, Any]]:
    """The checked paper id and the passage's own stored fields (its paper's are added)."""
    p = passage
    rid = f"{p.paper_id}#{p.ordinal}"
    pid = check_id(p.paper_id, "passage paper_id")
    if p.ordinal < 0:
        raise InvalidArgument(f"passage {rid}: negative ordinal")
    text = " ".join(str(p.text).split())
    if not text:
        raise InvalidArgument(f"passage {rid}: empty text")
    vec = vector_bytes(p.vector, dim, f"passage {rid}")
    mapping: dict[str, Any] = {
        "paper_id": pid,
        "ordinal": int(p.ordinal),
        "text": text,
        "section": " ".join(str(p.section or "").split()),
    }
    if vec is not None:
        mapping["vector"] = vec
    return pid, mapping
