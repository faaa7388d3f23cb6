"""Reciprocal rank fusion on hand-worked rank lists (no Redis).

score = sum over the lists a hit is in of 1 / (k + rank); the expected scores below are
worked out by hand as fractions.
"""

from __future__ import annotations

import re

import pytest

from services.common.errors import InvalidArgument
from services.retriever.fusion import check_rrf_k, fuse_rrf, merge_by_score
from services.retriever.records import Hit


def vector_list(*ids: str) -> list[Hit]:
    return [Hit(i, i, vector_rank=r, vector_score=1 - r / 10) for r, i in enumerate(ids, 1)]


def text_list(*ids: str) -> list[Hit]:
    return [Hit(i, i, text_rank=r, text_score=10.0 - r) for r, i in enumerate(ids, 1)]


def test_fuse_rrf_k10() -> None:
    # vector: a b c     text: b d
    fused = fuse_rrf(vector_list("a", "b", "c"), text_list("b", "d"), 10)
    assert [h.id for h in fused] == ["b", "a", "d", "c"]
    scores = {h.id: h.score for h in fused}
    assert scores["b"] == pytest.approx(1 / 12 + 1 / 11)  # = 23/132 = 0.17424
    assert scores["b"] == pytest.approx(23 / 132)
    assert scores["a"] == pytest.approx(1 / 11)  # 0.09091
    assert scores["d"] == pytest.approx(1 / 12)  # 0.08333
    assert scores["c"] == pytest.approx(1 / 13)  # 0.07692
    b = fused[0]  # keeps both ranks and both per-mode scores
    assert (b.vector_rank, b.text_rank) == (2, 1)
    assert (b.vector_score, b.text_score) == (pytest.approx(0.8), 9.0)
    d = fused[2]
    assert (d.vector_rank, d.text_rank, d.vector_score) == (0, 2, 0.0)


def test_fuse_rrf_k_changes_the_order() -> None:
    # vector: a b c d e     text: e x y z w b
    v, t = vector_list("a", "b", "c", "d", "e"), text_list("e", "x", "y", "z", "w", "b")
    # k = 0: e = 1/5 + 1/1 = 1.2 beats a = 1/1; b = 1/2 + 1/6 = 2/3 beats x = 1/2
    sharp = fuse_rrf(v, t, 0)
    assert [h.id for h in sharp][:4] == ["e", "a", "b", "x"]
    assert sharp[0].score == pytest.approx(6 / 5)
    assert sharp[2].score == pytest.approx(2 / 3)
    # k = 60: e = 1/65 + 1/61 = 126/3965 and b = 1/62 + 1/66 = 128/4092 both beat a = 1/61
    v, t = vector_list("a", "b", "c", "d", "e"), text_list("e", "x", "y", "z", "w", "b")
    flat = fuse_rrf(v, t, 60)
    scores = {h.id: h.score for h in flat}
    assert scores["e"] == pytest.approx(126 / 3965)  # 0.031778
    assert scores["b"] == pytest.approx(128 / 4092)  # 0.031281
    assert [h.id for h in flat][:3] == ["e", "b", "a"]  # a = 1/61 = 0.016393


def test_fuse_rrf_ties_break_by_best_single_rank_then_id() -> None:
    # vector: a c     text: d b     all four in one list only
    fused = fuse_rrf(vector_list("a", "c"), text_list("d", "b"), 10)
    # a and d score 1/11, c and b 1/12: ties by best rank (both 1, both 2), then by id
    assert [h.id for h in fused] == ["a", "d", "b", "c"]
    assert [h.score for h in fused] == pytest.approx([1 / 11, 1 / 11, 1 / 12, 1 / 12])


def test_fuse_rrf_equal_scores_go_to_the_better_single_rank() -> None:
    # vector: b a     text: c a     k = 0: b = 1/1, c = 1/1, a = 1/2 + 1/2 = 1, all equal;
    # b and c were first somewhere, a only second: a comes last although its id is first
    fused = fuse_rrf(vector_list("b", "a"), text_list("c", "a"), 0)
    assert [h.id for h in fused] == ["b", "c", "a"]
    assert [h.score for h in fused] == pytest.approx([1, 1, 1])


def test_fuse_rrf_of_one_empty_list_keeps_the_other_order() -> None:
    fused = fuse_rrf([], text_list("z", "y"), 10)
    assert [(h.id, h.score) for h in fused] == [
        ("z", pytest.approx(1 / 11)),
        ("y", pytest.approx(1 / 12)),
    ]
    assert fuse_rrf([], [], 10) == []


def test_merge_by_score_ranks_across_lists() -> None:
    passages = [Hit("p#0", "p", vector_score=0.5), Hit("q#3", "q", vector_score=0.9)]
    abstracts = [Hit("r", "r", vector_score=0.7), Hit("s", "s", vector_score=0.5)]
    merged = merge_by_score(passages + abstracts, "vector", 3)
    # by cosine, ties by id; only the window keeps a rank
    assert [(h.id, h.vector_rank, h.score) for h in merged] == [
        ("q#3", 1, 0.9),
        ("r", 2, 0.7),
        ("p#0", 3, 0.5),
    ]
    assert abstracts[1].vector_rank == 0  # "s" fell outside the window
    texts = [Hit("a", "a", text_score=1.5), Hit("b#1", "b", text_score=2.5)]
    assert [(h.id, h.text_rank) for h in merge_by_score(texts, "text", 10)] == [
        ("b#1", 1),
        ("a", 2),
    ]


def test_check_rrf_k() -> None:
    assert check_rrf_k(None, 10.0) == 10.0
    assert check_rrf_k(0, 10.0) == 0
    assert check_rrf_k(10000, 10.0) == 10000
    for bad in (-1, 10000.5):
        with pytest.raises(InvalidArgument, match=re.escape(f"rrf_k {bad} out of range 0..10000")):
            check_rrf_k(bad, 10.0)
