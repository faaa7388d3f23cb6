"""RetrievePassages and ListPassages: real Redis Stack, the real embedding model, real gRPC.

The best passages for a question come in one ranking, full-text passages and the abstracts
of papers without full text together; a paper's stored passages are listed in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from arxivqa.retriever.v1 import retriever_pb2 as pb
from arxivqa.retriever.v1 import retriever_pb2_grpc
from services.common.errors import InvalidArgument, NotFound
from services.retriever.config import IndexConfig
from services.retriever.index import RetrieverIndex
from services.retriever.query import Filters
from services.retriever.records import PaperRecord, PassageRecord, Source
from services.retriever.server import Settings, create_server

pytestmark = pytest.mark.slow

QUESTION = "Below which temperature is magic-angle twisted bilayer graphene superconducting?"
# Only an abstract, and it answers the question.
ANSWERING = "2301.00001"
# Full texts on other subjects; GRAPHENE's abstract also matches, but it has full text,
# so it is read through its paragraphs only.
PROTEINS, SORTING, GRAPHENE = "2301.00002", "2301.00003", "2301.00004"

PAPERS = [
    (
        ANSWERING,
        "Unconventional superconductivity in magic-angle graphene superlattices",
        "We report superconductivity in twisted bilayer graphene at the magic angle of 1.1 "
        "degrees: below a critical temperature of 1.7 kelvin the resistance vanishes when "
        "the flat bands are close to half filling.",
        ["cond-mat.supr-con"],
        2018,
    ),
    (
        PROTEINS,
        "Protein structure prediction with deep networks",
        "A neural network predicts the three-dimensional structure of proteins.",
        ["q-bio.BM"],
        2021,
    ),
    (
        SORTING,
        "Faster sorting of short sequences",
        "New sorting routines for small arrays found by search.",
        ["cs.DS"],
        2023,
    ),
    (
        GRAPHENE,
        "Thermal transport in twisted bilayer graphene",
        "Superconducting twisted bilayer graphene at the magic angle conducts heat poorly.",
        ["cond-mat.mes-hall"],
        2020,
    ),
]
PARAGRAPHS = {
    PROTEINS: [
        ("Introduction", "Proteins fold into shapes that determine their biological function."),
        ("Method", "The network reads multiple sequence alignments and predicts distances."),
        ("Results", "Predicted structures reach atomic accuracy on most test targets."),
    ],
    SORTING: [
        ("Introduction", "Sorting is among the most frequently run routines in computing."),
        ("Method", "Short sequences are sorted by branch-free networks of comparisons."),
    ],
    GRAPHENE: [
        ("Introduction", "Phonons carry most of the heat in graphene sheets."),
        ("Experiment", "We measure thermal conductivity with Raman thermometry at 300 kelvin."),
    ],
}


@pytest.fixture(scope="module")
def embedder() -> Any:
    from services.embedder.model import SentenceEmbedder

    model = SentenceEmbedder()
    model.warm_up()
    return model


def embed(model: Any, texts: list[str]) -> np.ndarray:
    return model.encode(texts).vectors


@pytest.fixture
def index(redis_url: str, embedder: Any) -> Iterator[RetrieverIndex]:
    idx = RetrieverIndex(redis_url, IndexConfig(dim=embedder.dimension))
    idx.warm_up(5)
    papers = [
        PaperRecord(pid, title, abstract, ["A. Author"], cats, year)
        for pid, title, abstract, cats, year in PAPERS
    ]
    for p, v in zip(
        papers, embed(embedder, [f"{p.title}. {p.abstract}" for p in papers]), strict=True
    ):
        p.vector = v
    passages = [
        PassageRecord(pid, i, text, section)
        for pid, paras in PARAGRAPHS.items()
        for i, (section, text) in enumerate(paras)
    ]
    for p, v in zip(passages, embed(embedder, [p.text for p in passages]), strict=True):
        p.vector = v
    result = idx.upsert(papers, passages)
    assert result.errors == [] and result.passages_written == len(passages)
    yield idx
    idx.close()


def retrieve(index: RetrieverIndex, embedder: Any, **kw: Any) -> list[tuple[str, Source]]:
    found = index.retrieve_passages(
        text=kw.pop("text", QUESTION), vector=kw.pop("vector", embed(embedder, [QUESTION])[0]), **kw
    )
    return [(p.hit.id, p.source) for p in found]


def test_an_abstract_that_answers_comes_before_other_papers_paragraphs(
    index: RetrieverIndex, embedder: Any
) -> None:
    found = index.retrieve_passages(text=QUESTION, vector=embed(embedder, [QUESTION])[0], k=5)
    best = found[0]
    assert (best.hit.id, best.source) == (f"{ANSWERING}#abstract", Source.ABSTRACT)
    assert best.hit.paper_id == ANSWERING and best.hit.section == "Abstract"
    assert best.hit.text.startswith("We report superconductivity")
    assert best.hit.title.startswith("Unconventional superconductivity")
    assert best.hit.vector_rank == 1 and best.hit.text_rank == 1
    # one ranking: fused scores, best first, each candidate once
    scores = [p.hit.score for p in found]
    assert scores == sorted(scores, reverse=True) and len(found) == 5
    assert len({p.hit.id for p in found}) == 5
    # papers with full text are read through their paragraphs, never their abstract
    for p in found:
        if p.hit.paper_id == ANSWERING:
            assert p.source is Source.ABSTRACT
        else:
            assert p.source is Source.FULL_TEXT and p.hit.id == f"{p.hit.paper_id}#{p.hit.ordinal}"
            assert p.hit.text and p.hit.section
    assert f"{GRAPHENE}#abstract" not in [p.hit.id for p in found]


def test_one_mode_alone_ranks_too(index: RetrieverIndex, embedder: Any) -> None:
    by_meaning = retrieve(index, embedder, text="", k=3)
    by_words = retrieve(index, embedder, vector=None, k=3)
    assert by_meaning[0] == (f"{ANSWERING}#abstract", Source.ABSTRACT)
    assert by_words[0] == (f"{ANSWERING}#abstract", Source.ABSTRACT)
    # the paragraphs about proteins share no word with the question
    assert all(not pid.startswith(PROTEINS) for pid, _ in by_words)


def test_filters_apply_to_passages_and_abstracts(index: RetrieverIndex, embedder: Any) -> None:
    got = retrieve(index, embedder, filters=Filters(categories=("q-bio.BM", "cs.DS")), k=10)
    assert {pid.split("#")[0] for pid, _ in got} == {PROTEINS, SORTING}
    assert len(got) == 5
    got = retrieve(index, embedder, filters=Filters(year_min=2018, year_max=2018), k=10)
    assert got == [(f"{ANSWERING}#abstract", Source.ABSTRACT)]


def test_bad_arguments_are_invalid(index: RetrieverIndex, embedder: Any) -> None:
    with pytest.raises(InvalidArgument, match=r"k 1001 out of range 1\.\.1000"):
        retrieve(index, embedder, k=1001)
    with pytest.raises(InvalidArgument, match="give query_text"):
        index.retrieve_passages(text="  ", vector=None)
    with pytest.raises(InvalidArgument, match="vector has 3 dimensions"):
        index.retrieve_passages(text="x", vector=[1.0, 0.0, 0.0])
    with pytest.raises(InvalidArgument, match="year_min 2020 is after year_max 2010"):
        retrieve(index, embedder, filters=Filters(year_min=2020, year_max=2010))


def test_list_passages_in_order_a_page_at_a_time(index: RetrieverIndex) -> None:
    # ordinals written out of order, and past 9 (numeric order, not text order)
    index.upsert(
        passages=[
            PassageRecord(SORTING, n, f"Paragraph number {n}.", f"S{n}") for n in (11, 2, 10, 3)
        ]
    )
    page = index.list_passages(SORTING, limit=3)
    assert page.total == 6
    assert [p.ordinal for p in page.passages] == [0, 1, 2]
    assert page.passages[0].text.startswith("Sorting is among") and page.passages[0].section
    rest = index.list_passages(SORTING, limit=3, offset=3)
    assert [(p.ordinal, p.section) for p in rest.passages] == [(3, "S3"), (10, "S10"), (11, "S11")]
    assert index.list_passages(SORTING, offset=6).passages == []
    empty = index.list_passages(ANSWERING)
    assert (empty.passages, empty.total) == ([], 0)
    with pytest.raises(NotFound, match=r"2301\.99999"):
        index.list_passages("2301.99999")
    with pytest.raises(InvalidArgument, match=r"limit 0 out of range 1\.\.1000"):
        index.list_passages(SORTING, limit=0)
    with pytest.raises(InvalidArgument, match="offset -1 out of range"):
        index.list_passages(SORTING, offset=-1)


def test_over_grpc(index: RetrieverIndex, redis_url: str, embedder: Any) -> None:
    service, port = create_server(
        Settings(port=0, redis_url=redis_url, dim=embedder.dimension, redis_wait_seconds=10)
    )
    service.start()
    service.wait_until_ready(30)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = retriever_pb2_grpc.RetrieverStub(channel)
    try:
        resp = stub.RetrievePassages(
            pb.RetrievePassagesRequest(
                query_text=QUESTION,
                query_vector=embed(embedder, [QUESTION])[0].tolist(),
                k=3,
            ),
            timeout=30,
        )
        first = resp.passages[0]
        assert (first.hit.id, first.source) == (f"{ANSWERING}#abstract", pb.PASSAGE_SOURCE_ABSTRACT)
        assert len(resp.passages) == 3
        assert {p.source for p in resp.passages[1:]} == {pb.PASSAGE_SOURCE_FULL_TEXT}
        default_k = stub.RetrievePassages(pb.RetrievePassagesRequest(query_text="graphene"))
        assert 1 <= len(default_k.passages) <= 10

        listed = stub.ListPassages(pb.ListPassagesRequest(paper_id=PROTEINS), timeout=10)
        assert listed.total == 3 and [p.ordinal for p in listed.passages] == [0, 1, 2]
        assert listed.passages[1].section == "Method" and not listed.passages[1].vector

        cases = [
            (
                lambda: stub.RetrievePassages(pb.RetrievePassagesRequest(query_text="x", k=-1)),
                grpc.StatusCode.INVALID_ARGUMENT,
                "k -1 out of range 1..1000",
            ),
            (
                lambda: stub.RetrievePassages(pb.RetrievePassagesRequest()),
                grpc.StatusCode.INVALID_ARGUMENT,
                "give query_text",
            ),
            (
                lambda: stub.ListPassages(pb.ListPassagesRequest(paper_id=PROTEINS, limit=5000)),
                grpc.StatusCode.INVALID_ARGUMENT,
                "limit 5000 out of range 1..1000",
            ),
            (
                lambda: stub.ListPassages(pb.ListPassagesRequest(paper_id="2301.99999")),
                grpc.StatusCode.NOT_FOUND,
                "2301.99999",
            ),
        ]
        for call, code, message in cases:
            with pytest.raises(grpc.RpcError) as exc:
                call()
            assert exc.value.code() is code, message
            assert message in exc.value.details()
    finally:
        channel.close()
        service.stop(0).wait()
