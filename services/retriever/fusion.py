"""Reciprocal rank fusion, the one way the retriever combines a KNN and a BM25 ranking.

HYBRID search and ``retrieve_passages`` both fuse with :func:`fuse_rrf`:
``score = sum over lists of 1 / (rrf_k + rank)``, ranks 1-based.
"""

from __future__ import annotations

from services.common.errors import InvalidArgument
from services.retriever.config import RRF_K_MAX
from services.retriever.records import Hit


def check_rrf_k(rrf_k: float | None, default: float) -> float:
    """The RRF k constant for a request: ``default`` (the configured one) when not given."""
    rrf_k = default if rrf_k is None else rrf_k
    if not 0 <= rrf_k <= RRF_K_MAX:
        raise InvalidArgument(f"rrf_k {rrf_k} out of range 0..{RRF_K_MAX}")
    return rrf_k


def fuse_rrf(vector_hits: list[Hit], text_hits: list[Hit], rrf_k: float) -> list[Hit]:
    """Reciprocal rank fusion: ``score = sum over lists of 1 / (rrf_k + rank)``.

    Each fused hit keeps both per-mode ranks and scores (rank 0 = absent from that list).
    Ties break by the better single rank, then by id, so the order is deterministic.
    """
    fused: dict[str, Hit] = {}
    for h in vector_hits:
        fused[h.id] = h
    for h in text_hits:
        if h.id in fused:
            fused[h.id].text_rank, fused[h.id].text_score = h.text_rank, h.text_score
        else:
            fused[h.id] = h
    for h in fused.values():
        h.score = sum(1.0 / (rrf_k + r) for r in (h.vector_rank, h.text_rank) if r)
    best = lambda h: min(r for r in (h.vector_rank, h.text_rank) if r)  # noqa: E731
    return sorted(fused.values(), key=lambda h: (-h.score, best(h), h.id))


def merge_by_score(hits: list[Hit], mode: str, window: int) -> list[Hit]:
    """One ranking from hits of one mode drawn from several lists (passages and abstracts).

    ``mode`` "vector" orders by cosine, "text" by BM25 (best first, then by id); the top
    ``window`` get that mode's rank (1-based) and take its score as their own.
    """
    if mode == "vector":
        ranked = sorted(hits, key=lambda h: (-h.vector_score, h.id))[:window]
        for rank, h in enumerate(ranked, start=1):
            h.vector_rank, h.score = rank, h.vector_score
    else:
        ranked = sorted(hits, key=lambda h: (-h.text_score, h.id))[:window]
        for rank, h in enumerate(ranked, start=1):
            h.text_rank, h.score = rank, h.text_score
    return ranked
