"""Reading Redis replies without Redis: shapes recorded from Redis Stack 7.4 / RediSearch 2.10.

The replies below are what redis-py (protocol 2) returned for the retriever's own commands
on a three-paper index (dim 4, one paper without a vector), trimmed where marked.
"""

from __future__ import annotations

import pytest
import redis

from services.retriever import resp

KNN_REPLY = [
    2,
    b"arxivqa:paper:v1:2101.00001",
    [b"vector_distance", b"0"],
    b"arxivqa:paper:v1:2101.00002",
    [b"vector_distance", b"0.292893230915"],
]
BM25_REPLY = [
    2,
    b"arxivqa:paper:v1:2101.00001",
    b"0.7256196682669758",
    b"arxivqa:paper:v1:2101.00002",
    b"0.4330923625786179",
]
MODULE_LIST = [
    [b"name", b"ReJSON", b"ver", 20803, b"path", b"/x/rejson.so", b"args", []],
    [b"name", b"search", b"ver", 21005, b"path", b"/x/redisearch.so", b"args", []],
]
FT_INFO = [  # trimmed: the attributes, num_docs, failures and two of the sizes
    b"index_name",
    b"arxivqa:papers:v1",
    b"index_options",
    [],
    b"attributes",
    [
        [
            b"identifier", b"paper_id", b"attribute", b"paper_id",
            b"type", b"TAG", b"SEPARATOR", b",",
        ],
        [b"identifier", b"title", b"attribute", b"title", b"type", b"TEXT", b"WEIGHT", b"2"],
        [b"identifier", b"year", b"attribute", b"year", b"type", b"NUMERIC"],
        [
            b"identifier", b"vector", b"attribute", b"vector", b"type", b"VECTOR",
            b"algorithm", b"HNSW", b"data_type", b"FLOAT32", b"dim", 4,
            b"distance_metric", b"COSINE", b"M", 16, b"ef_construction", 100,
        ],
    ],
    b"num_docs",
    3,
    b"inverted_sz_mb",
    b"0.5",
    b"vector_index_sz_mb",
    b"1.25",
    b"total_index_memory_sz_mb",  # not one of the summed sizes (it would count twice)
    b"9",
    b"hash_indexing_failures",
    0,
]  # fmt: skip


def test_knn_reply() -> None:
    hits, total = resp.knn_reply(KNN_REPLY)
    assert total == 2
    assert hits == [
        ("arxivqa:paper:v1:2101.00001", 1.0),
        ("arxivqa:paper:v1:2101.00002", pytest.approx(1 - 0.292893230915)),
    ]


def test_knn_reply_fields_as_a_map_or_missing() -> None:
    # RESP3 hands the fields back as a map; a document without a distance scores 0
    reply = [5, b"k1", {b"vector_distance": b"0.25"}, b"k2", []]
    assert resp.knn_reply(reply) == ([("k1", 0.75), ("k2", 0.0)], 5)


def test_scored_reply() -> None:
    hits, total = resp.scored_reply(BM25_REPLY)
    assert total == 2
    assert hits == [
        ("arxivqa:paper:v1:2101.00001", 0.7256196682669758),
        ("arxivqa:paper:v1:2101.00002", 0.4330923625786179),
    ]


def test_an_empty_search_reply() -> None:
    assert resp.knn_reply([0]) == ([], 0)
    assert resp.scored_reply([0]) == ([], 0)
    # total counts every match, the list holds the page only
    assert resp.scored_reply([7, b"k", b"1.5"]) == ([("k", 1.5)], 7)


def test_ft_info() -> None:
    info = resp.info(FT_INFO)
    assert info[b"num_docs"] == 3 and info[b"index_name"] == b"arxivqa:papers:v1"
    assert info[b"attributes"][1] == {
        b"identifier": b"title",
        b"attribute": b"title",
        b"type": b"TEXT",
        b"WEIGHT": b"2",
    }
    assert resp.index_dim(info) == 4
    assert resp.index_bytes(info) == int(1.75 * 1024 * 1024)  # 0.5 + 1.25 MiB


def test_index_without_a_vector_field() -> None:
    info = resp.info([b"attributes", [[b"identifier", b"t", b"type", b"TEXT"]]])
    assert resp.index_dim(info) is None
    assert resp.index_bytes(info) == 0
    assert resp.info([])[b"attributes"] == []


def test_module_names() -> None:
    assert resp.module_names(MODULE_LIST) == {"rejson", "search"}
    assert resp.module_names([]) == set()
    # RESP3: each module a map
    assert resp.module_names([{"name": "FT", "ver": 1}]) == {"ft"}


def test_as_dict_and_pairs() -> None:
    assert resp.as_dict([b"a", 1, "b", 2]) == {b"a": 1, b"b": 2}
    assert resp.as_dict({"a": 1, b"b": 2}) == {b"a": 1, b"b": 2}
    assert resp.as_dict(None) == {}
    assert resp.as_dict([b"a", 1, b"odd"]) == {b"a": 1}  # a trailing key without value
    assert list(resp.pairs([1, 2, 3, 4, 5])) == [(1, 2), (3, 4)]


def test_stored_values() -> None:
    # HMGET of title, authors, year on a paper stored without authors and year
    title, authors, year = [b"Quantum walks", b"", None]
    assert resp.text(title) == "Quantum walks"
    assert resp.split_tags(authors) == [] and resp.split_tags(None) == []
    assert resp.year(year) is None and resp.year(b"") is None
    assert resp.split_tags(b"Ada Lovelace|Alan Turing|") == ["Ada Lovelace", "Alan Turing"]
    assert resp.year(b"2021") == 2021 and resp.year(b"2021.0") == 2021
    assert resp.text("Schrödinger".encode()) == "Schrödinger"
    assert resp.text(b"bad \xff byte") == "bad \ufffd byte"
    assert resp.text(None) == "" and resp.text(3) == "3"


@pytest.mark.parametrize(
    ("message", "missing"),
    [
        ("Unknown index name", True),  # RediSearch 2.10 (recorded)
        ("arxivqa:papers:v1: no such index", True),  # older versions
        ("Syntax error at offset 3 near x", False),
    ],
)
def test_is_missing_index(message: str, missing: bool) -> None:
    assert resp.is_missing_index(redis.ResponseError(message)) is missing
