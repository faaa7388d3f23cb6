"""The gateway core (:class:`gateway.core.Gateway`) over in-process fakes of its downstream
services: no shared data, no Redis, no gRPC server, no model; a few milliseconds each.

The core is the thing under test. The fakes stand in for the typed clients of
:mod:`gateway.clients` (same method names and parameters; a test below keeps them so), answer
from small protobuf fixtures and record what the core asked. An absent service is the real
typed client of a :class:`~gateway.clients.Clients` with no target, as in production.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytest

from arxivqa.graph.v1 import graph_pb2
from arxivqa.qa.v1 import qa_pb2
from arxivqa.retriever.v1 import retriever_pb2
from gateway import clients as typed
from gateway.clients import Budget, Clients
from gateway.core import Gateway
from gateway.schema import (
    DEFAULT_PASSAGE_PAGE,
    AskRequest,
    Citation,
    CitationPathRequest,
    Filters,
    GetPaperRequest,
    IngestRequest,
    ListPassagesRequest,
    RankRequest,
    RecommendRequest,
    SearchRequest,
)
from services.common import errors

PAPERS = {
    "2101.00001": retriever_pb2.Paper(
        id="2101.00001",
        title="Graph networks for molecules",
        abstract="We learn molecular properties with message passing.",
        authors=["A. Author"],
        categories=["cs.LG"],
        year=2021,
        update_date="2021-01-05",
    ),
    "2102.00002": retriever_pb2.Paper(
        id="2102.00002",
        title="Attention over citation graphs",
        abstract="Transformers read the citation graph.",
        authors=["B. Writer"],
        categories=["cs.CL"],
        year=2021,
    ),
}
FULL_TEXT = "The model was evaluated on the QM9 dataset of small molecules."
ABSTRACT = PAPERS["2102.00002"].abstract


def _hit(paper_id: str, score: float, vector_rank: int, text_rank: int) -> retriever_pb2.Hit:
    p = PAPERS[paper_id]
    return retriever_pb2.Hit(
        id=p.id,
        paper_id=p.id,
        title=p.title,
        text=p.abstract,
        authors=p.authors,
        categories=p.categories,
        year=p.year,
        score=score,
        vector=retriever_pb2.ModeResult(rank=vector_rank, score=0.9),
        text_match=retriever_pb2.ModeResult(rank=text_rank, score=4.5),
    )


RETRIEVED = [
    retriever_pb2.RetrievedPassage(
        hit=retriever_pb2.Hit(
            id="2101.00001#3",
            paper_id="2101.00001",
            ordinal=3,
            section="Experiments",
            text=FULL_TEXT,
            score=0.03,
        ),
        source=retriever_pb2.PASSAGE_SOURCE_FULL_TEXT,
    ),
    retriever_pb2.RetrievedPassage(
        hit=retriever_pb2.Hit(
            id="2102.00002#abstract",
            paper_id="2102.00002",
            section="Abstract",
            text=ABSTRACT,
            score=0.02,
        ),
        source=retriever_pb2.PASSAGE_SOURCE_ABSTRACT,
    ),
]


class FakeEmbedder:
    """Vectors that name their text: [len(text), index of the call]."""

    configured = True

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str], *, budget: Budget) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[float(len(t)), float(len(self.calls))] for t in texts]


class FakeRetriever:
    configured = True

    def __init__(self) -> None:
        self.papers = dict(PAPERS)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.failure: errors.ServiceError | None = None
        self.upserts: list[retriever_pb2.UpsertRequest] = []

    def _record(self, method: str, **fields: Any) -> None:
        self.requests.append((method, fields))
        if self.failure is not None:
            raise self.failure

    def search(
        self,
        *,
        mode: retriever_pb2.SearchMode,
        target: retriever_pb2.SearchTarget,
        query_text: str,
        query_vector: Sequence[float],
        filters: retriever_pb2.Filters,
        k: int,
        offset: int,
        budget: Budget,
    ) -> retriever_pb2.SearchResponse:
        self._record(
            "search",
            mode=mode,
            target=target,
            query_text=query_text,
            query_vector=list(query_vector),
            filters=filters,
            k=k,
            offset=offset,
        )
        hits = [_hit("2101.00001", 0.031, 1, 2), _hit("2102.00002", 0.016, 0, 1)]
        return retriever_pb2.SearchResponse(hits=hits, total=42)

    def retrieve_passages(
        self,
        *,
        query_text: str,
        query_vector: Sequence[float],
        filters: retriever_pb2.Filters,
        k: int,
        budget: Budget,
    ) -> retriever_pb2.RetrievePassagesResponse:
        self._record(
            "retrieve_passages",
            query_text=query_text,
            query_vector=list(query_vector),
            filters=filters,
            k=k,
        )
        return retriever_pb2.RetrievePassagesResponse(passages=RETRIEVED[:k])

    def get_papers(
        self, ids: Sequence[str], *, budget: Budget
    ) -> tuple[list[retriever_pb2.Paper], list[str]]:
        self._record("get_papers", ids=list(ids))
        return [self.papers[i] for i in ids if i in self.papers], [
            i for i in ids if i not in self.papers
        ]

    def list_passages(
        self, paper_id: str, *, limit: int, offset: int, budget: Budget
    ) -> retriever_pb2.ListPassagesResponse:
        self._record("list_passages", paper_id=paper_id, limit=limit, offset=offset)
        if paper_id not in self.papers:
            raise errors.NotFound(f"no passages stored for {paper_id}")
        stored = [
            retriever_pb2.Passage(paper_id=paper_id, ordinal=i, section="Intro", text=f"p{i}")
            for i in range(5)
        ]
        return retriever_pb2.ListPassagesResponse(
            passages=stored[offset : offset + limit], total=len(stored)
        )

    def similar_papers(
        self, paper_id: str, *, k: int, filters: retriever_pb2.Filters, budget: Budget
    ) -> retriever_pb2.SimilarPapersResponse:
        raise AssertionError("not used by these tests")

    def delete_papers(self, ids: Sequence[str], *, budget: Budget) -> int:
        self._record("delete_papers", ids=list(ids))
        if ids[0] not in self.papers:
            raise errors.NotFound(f"no paper {ids[0]}")
        del self.papers[ids[0]]
        return 1

    def upsert(
        self, requests: Iterable[retriever_pb2.UpsertRequest], *, budget: Budget
    ) -> retriever_pb2.UpsertResponse:
        self.upserts.extend(requests)
        papers = sum(len(r.papers) for r in self.upserts)
        passages = sum(len(r.passages) for r in self.upserts)
        return retriever_pb2.UpsertResponse(papers_written=papers, passages_written=passages)


class FakeQa:
    """Answers "QM9" from the passage that holds it, and nothing else (``abstain``: nothing)."""

    configured = True

    def __init__(self, failure: errors.ServiceError | None = None, abstain: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failure = failure
        self.abstain = abstain

    def answer(
        self,
        question: str,
        passages: Sequence[qa_pb2.Passage],
        *,
        top_k: int,
        allow_no_answer: bool,
        budget: Budget,
    ) -> qa_pb2.AnswerResponse:
        self.requests.append(
            {
                "question": question,
                "passages": [(p.id, p.paper_id, p.text) for p in passages],
                "top_k": top_k,
                "allow_no_answer": allow_no_answer,
            }
        )
        if self.failure is not None:
            raise self.failure
        answers = []
        for i, p in enumerate(passages):
            start = p.text.find("QM9")
            if start >= 0 and not self.abstain:
                answers.append(
                    qa_pb2.Answer(
                        text="QM9",
                        score=7.5,
                        passage_id=p.id,
                        paper_id=p.paper_id,
                        passage_index=i,
                        start=start,
                        end=start + 3,
                        evidence=p.text,
                    )
                )
        return qa_pb2.AnswerResponse(answers=answers[:top_k])


class FakeGraph:
    configured = True

    def __init__(self, failure: errors.ServiceError | None = None) -> None:
        self.failure = failure
        self.citations: list[graph_pb2.AddCitationsRequest] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def neighbor_counts(self, paper_id: str, *, budget: Budget) -> graph_pb2.GetNeighborsResponse:
        if self.failure is not None:
            raise self.failure
        return graph_pb2.GetNeighborsResponse(
            paper=graph_pb2.Paper(paper_id=paper_id, citation_count=12, reference_count=30)
        )

    def recommend(
        self, seed_ids: Sequence[str], *, k: int, budget: Budget
    ) -> graph_pb2.RecommendResponse:
        self.requests.append(("recommend", {"seed_ids": list(seed_ids), "k": k}))
        reason = graph_pb2.Reason(
            seed_id=seed_ids[0],
            co_cited_by=["2201.00003", "2201.00004"],
            co_citation_count=2,
            shared_reference_count=1,
        )
        return graph_pb2.RecommendResponse(
            results=[
                graph_pb2.Recommendation(
                    paper=graph_pb2.Paper(paper_id="2102.00002", title="", citation_count=9),
                    score=0.5,
                    reasons=[reason],
                )
            ]
        )

    def shortest_path(
        self, source_id: str, target_id: str, *, undirected: bool, budget: Budget
    ) -> graph_pb2.ShortestPathResponse:
        self.requests.append(("shortest_path", {"undirected": undirected}))
        hops = [source_id, "2201.00003", target_id]
        return graph_pb2.ShortestPathResponse(
            found=True, path=[graph_pb2.Paper(paper_id=i, title="graph's title") for i in hops]
        )

    def subgraph(
        self, paper_id: str, *, depth: int, max_nodes: int, budget: Budget
    ) -> graph_pb2.SubgraphResponse:
        raise AssertionError("not used by these tests")

    def rank(
        self,
        *,
        k: int,
        categories: Sequence[str],
        year_min: int,
        year_max: int,
        budget: Budget,
    ) -> graph_pb2.RankResponse:
        self.requests.append(
            ("rank", {"k": k, "categories": list(categories), "years": (year_min, year_max)})
        )
        return graph_pb2.RankResponse(
            results=[
                graph_pb2.RankedPaper(
                    paper=graph_pb2.Paper(paper_id="2101.00001", citation_count=12),
                    score=0.25,
                    rank=1,
                )
            ],
            stale=True,
        )

    def add_citations(
        self, requests: Iterable[graph_pb2.AddCitationsRequest], *, budget: Budget
    ) -> graph_pb2.AddCitationsResponse:
        self.citations.extend(requests)
        edges = sum(len(r.citations) for r in self.citations)
        return graph_pb2.AddCitationsResponse(edges_added=edges)


class Downstream:
    """What the core reads of :class:`~gateway.clients.Clients`: one client per service."""

    def __init__(self, absent: Clients, **given: Any) -> None:
        self.embedder: Any = given.get("embedder", absent.embedder)
        self.retriever: Any = given.get("retriever", absent.retriever)
        self.qa: Any = given.get("qa", absent.qa)
        self.graph: Any = given.get("graph", absent.graph)


@pytest.fixture
def absent() -> Iterator[Clients]:
    """Real clients with no target: every service in it is absent (NotConfigured)."""
    clients = Clients({"embedder": "", "retriever": "", "qa": "", "graph": ""})
    yield clients
    clients.close()


def _gateway(absent: Clients, **given: Any) -> Gateway:
    return Gateway(Downstream(absent, **given), fanout_workers=2)  # type: ignore[arg-type]


def _budget() -> Budget:
    return Budget.seconds(5)


@pytest.mark.parametrize(
    ("fake", "real"),
    [
        (FakeEmbedder, typed.EmbedderClient),
        (FakeRetriever, typed.RetrieverClient),
        (FakeQa, typed.QaClient),
        (FakeGraph, typed.GraphClient),
    ],
)
def test_the_fakes_have_the_typed_clients_methods(fake: type, real: type) -> None:
    """A fake that drifts from its client (a renamed method or parameter) fails here."""
    public = {n for n, v in vars(real).items() if callable(v) and not n.startswith("_")}
    assert public, real
    for name in public:
        want = list(inspect.signature(getattr(real, name)).parameters)
        assert list(inspect.signature(getattr(fake, name)).parameters) == want, name


def test_search_passes_mode_k_offset_and_filters_and_maps_the_hits(absent: Clients) -> None:
    embedder, retriever = FakeEmbedder(), FakeRetriever()
    gw = _gateway(absent, embedder=embedder, retriever=retriever)
    filters = Filters(categories=[" cs.LG "], authors=["A. Author"], year_from=2019, year_to=2022)
    result = gw.search(
        SearchRequest(query="graph networks", mode="text", k=7, offset=3, filters=filters),
        budget=_budget(),
    )
    [(method, req)] = retriever.requests
    assert method == "search"
    assert req["mode"] == retriever_pb2.SEARCH_MODE_TEXT
    assert req["target"] == retriever_pb2.SEARCH_TARGET_PAPERS
    assert (req["query_text"], req["k"], req["offset"]) == ("graph networks", 7, 3)
    assert list(req["filters"].categories) == ["cs.LG"]  # stripped
    assert list(req["filters"].authors) == ["A. Author"]
    assert (req["filters"].year_min, req["filters"].year_max) == (2019, 2022)
    assert req["query_vector"] == [] and embedder.calls == []  # text mode: no embedding

    assert (result.mode, result.total) == ("text", 42)
    first, second = result.hits
    assert first.paper.id == "2101.00001"
    assert first.paper.title == "Graph networks for molecules"
    assert first.paper.abstract == PAPERS["2101.00001"].abstract
    assert first.paper.url == "https://arxiv.org/abs/2101.00001"
    assert (first.paper.authors, first.paper.categories) == (["A. Author"], ["cs.LG"])
    assert first.paper.year == 2021
    assert (first.score, first.vector_rank, first.text_rank) == (0.031, 1, 2)
    assert (first.vector_score, first.text_score) == (pytest.approx(0.9), 4.5)
    assert second.paper.id == "2102.00002" and second.vector_rank == 0


def test_hybrid_search_sends_the_query_vector_and_defaults(absent: Clients) -> None:
    embedder, retriever = FakeEmbedder(), FakeRetriever()
    gw = _gateway(absent, embedder=embedder, retriever=retriever)
    gw.search("graph networks", budget=_budget())
    [(_, req)] = retriever.requests
    assert embedder.calls == [["graph networks"]]
    assert req["query_vector"] == [14.0, 1.0]
    assert req["mode"] == retriever_pb2.SEARCH_MODE_HYBRID
    assert (req["k"], req["offset"]) == (10, 0)
    assert (req["filters"].year_min, req["filters"].year_max) == (0, 0)


def test_search_refuses_years_out_of_order_before_any_call(absent: Clients) -> None:
    retriever = FakeRetriever()
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=retriever)
    with pytest.raises(errors.InvalidArgument, match="year_from"):
        gw.search("q", mode="text", filters=Filters(year_from=2022, year_to=2020), budget=_budget())
    assert retriever.requests == []


def test_ask_with_qa_absent_returns_the_passages_and_says_answers_are_unavailable(
    absent: Clients,
) -> None:
    retriever = FakeRetriever()
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=retriever)
    result = gw.ask(AskRequest(question="Which dataset?", passages=2), budget=_budget())
    assert not result.answers_available and result.answers == []
    assert "qa is not configured" in result.note
    assert "answers are unavailable" in result.note
    assert [p.id for p in result.passages] == ["2101.00001#3", "2102.00002#abstract"]
    full, abstract = result.passages
    assert (full.source, full.section, full.ordinal, full.text) == (
        "full_text",
        "Experiments",
        3,
        FULL_TEXT,
    )
    assert (abstract.source, abstract.paper_id, abstract.text) == (
        "abstract",
        "2102.00002",
        ABSTRACT,
    )
    assert retriever.requests[0][1]["k"] == 2


def test_ask_maps_the_answers_to_their_papers_with_offsets(absent: Clients) -> None:
    retriever, qa = FakeRetriever(), FakeQa()
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=retriever, qa=qa)
    result = gw.ask("Which dataset was used?", top_k=2, budget=_budget())

    [sent] = qa.requests
    assert sent["question"] == "Which dataset was used?"
    assert sent["passages"] == [
        ("2101.00001#3", "2101.00001", FULL_TEXT),
        ("2102.00002#abstract", "2102.00002", ABSTRACT),
    ]
    assert (sent["top_k"], sent["allow_no_answer"]) == (2, True)

    assert result.answers_available and result.note == ""
    [answer] = result.answers
    assert answer.text == "QM9" == FULL_TEXT[answer.start : answer.end]
    assert (answer.start, answer.end) == (31, 34)
    assert answer.passage_id == "2101.00001#3"
    assert answer.paper.id == "2101.00001"
    assert answer.paper.title == "Graph networks for molecules"  # from the retriever
    assert answer.evidence == FULL_TEXT and answer.score == 7.5
    assert ("get_papers", {"ids": ["2101.00001"]}) in retriever.requests


def test_ask_answer_of_an_unknown_paper_keeps_its_id(absent: Clients) -> None:
    retriever = FakeRetriever()
    del retriever.papers["2101.00001"]
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=retriever, qa=FakeQa())
    [answer] = gw.ask("Which dataset?", budget=_budget()).answers
    assert answer.paper.id == "2101.00001" and answer.paper.title == ""
    assert answer.paper.url == "https://arxiv.org/abs/2101.00001"


def test_ask_without_a_span_says_no_answer_in_these_passages(absent: Clients) -> None:
    qa = FakeQa(abstain=True)
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=FakeRetriever(), qa=qa)
    result = gw.ask("Who?", passages=1, budget=_budget())
    assert result.answers_available and result.answers == []
    assert result.note == "no answer in these passages"
    assert [p.id for p in result.passages] == ["2101.00001#3"] and len(qa.requests) == 1


def test_ask_over_no_passages_does_not_call_qa(absent: Clients) -> None:
    class Empty(FakeRetriever):
        def retrieve_passages(self, **fields: Any) -> retriever_pb2.RetrievePassagesResponse:
            return retriever_pb2.RetrievePassagesResponse()

    qa = FakeQa()
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=Empty(), qa=qa)
    result = gw.ask("anything", budget=_budget())
    assert (result.answers, result.passages, result.note) == ([], [], "no passages matched")
    assert qa.requests == []


def test_get_paper_with_the_graph_present_has_counts(absent: Clients) -> None:
    gw = _gateway(absent, retriever=FakeRetriever(), graph=FakeGraph())
    detail = gw.get_paper(GetPaperRequest(id="2101.00001"), budget=_budget())
    assert detail.paper.title == "Graph networks for molecules"
    assert detail.paper.update_date == "2021-01-05"
    assert (detail.citation_count, detail.reference_count) == (12, 30)
    assert detail.citations_available and detail.note == ""


def test_get_paper_with_the_graph_absent_has_metadata_and_a_note(absent: Clients) -> None:
    gw = _gateway(absent, retriever=FakeRetriever())
    detail = gw.get_paper(GetPaperRequest(id="2101.00001"), budget=_budget())
    assert detail.paper.id == "2101.00001"
    assert (detail.citation_count, detail.reference_count) == (None, None)
    assert not detail.citations_available
    assert "citation counts are unavailable" in detail.note
    assert "graph is not configured" in detail.note


def test_get_paper_unknown_to_the_graph_has_zero_counts(absent: Clients) -> None:
    graph = FakeGraph(failure=errors.NotFound("paper 2101.00001 not in the graph"))
    gw = _gateway(absent, retriever=FakeRetriever(), graph=graph)
    detail = gw.get_paper(GetPaperRequest(id="2101.00001"), budget=_budget())
    assert (detail.citation_count, detail.reference_count) == (0, 0)
    assert detail.citations_available


def test_an_id_in_get_papers_missing_ids_is_not_found(absent: Clients) -> None:
    retriever = FakeRetriever()
    gw = _gateway(absent, retriever=retriever, graph=FakeGraph())
    with pytest.raises(errors.NotFound, match=r"paper 2112\.99999 not found"):
        gw.get_paper(GetPaperRequest(id="2112.99999"), budget=_budget())
    assert retriever.requests == [("get_papers", {"ids": ["2112.99999"]})]


def test_a_downstream_outage_is_passed_on_by_search_and_degrades_ask(absent: Clients) -> None:
    outage = errors.Unavailable("retriever is unavailable (connection refused); retry later")
    retriever = FakeRetriever()
    retriever.failure = outage
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=retriever)
    with pytest.raises(errors.Unavailable) as raised:
        gw.search("graph networks", mode="text", budget=_budget())
    assert raised.value is outage

    qa_down = FakeQa(failure=errors.Unavailable("qa is unavailable (restarting); retry later"))
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=FakeRetriever(), qa=qa_down)
    result = gw.ask("Which dataset?", budget=_budget())
    assert not result.answers_available and len(result.passages) == 2
    assert "the qa service did not answer (qa is unavailable (restarting)" in result.note

    graph_down = FakeGraph(failure=errors.DeadlineExceeded("graph did not answer in time"))
    gw = _gateway(absent, retriever=FakeRetriever(), graph=graph_down)
    detail = gw.get_paper(GetPaperRequest(id="2101.00001"), budget=_budget())
    assert detail.paper.title and not detail.citations_available
    assert "graph did not answer in time" in detail.note


def test_metadata_for_answers_is_best_effort_when_the_retriever_fails_late(
    absent: Clients,
) -> None:
    class FailsOnGetPapers(FakeRetriever):
        def get_papers(
            self, ids: Sequence[str], *, budget: Budget
        ) -> tuple[list[retriever_pb2.Paper], list[str]]:
            raise errors.Unavailable("retriever is unavailable; retry later")

    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=FailsOnGetPapers(), qa=FakeQa())
    [answer] = gw.ask("Which dataset?", budget=_budget()).answers
    assert answer.paper.id == "2101.00001" and answer.paper.title == ""


def test_a_repeated_question_hits_the_query_vector_cache(absent: Clients) -> None:
    embedder, retriever = FakeEmbedder(), FakeRetriever()
    gw = _gateway(absent, embedder=embedder, retriever=retriever)
    gw.ask("Which dataset?", budget=_budget())
    gw.ask("Which dataset?", budget=_budget())
    gw.search("Which dataset?", mode="vector", budget=_budget())
    assert embedder.calls == [["Which dataset?"]]
    vectors = [req["query_vector"] for _, req in retriever.requests if "query_vector" in req]
    assert vectors == [[14.0, 1.0]] * 3
    assert gw.query_cache.stats()["hits"] == 2 and gw.query_cache.stats()["misses"] == 1

    gw.ask("Another question?", budget=_budget())
    assert embedder.calls[-1] == ["Another question?"]


def test_ingest_embeds_in_batches_and_stores_in_order(absent: Clients) -> None:
    embedder, retriever, graph = FakeEmbedder(), FakeRetriever(), FakeGraph()
    gw = Gateway(
        Downstream(absent, embedder=embedder, retriever=retriever, graph=graph),  # type: ignore[arg-type]
        embed_batch_size=2,
        fanout_workers=2,
    )
    records: list[dict[str, Any] | str] = [
        {"id": f"2301.0000{i}", "title": "t" * (i + 1), "update_date": "2023-01-02"}
        for i in range(5)
    ]
    records.insert(2, {"id": "2301.99999"})  # no title: reported, the rest stored
    result = gw.ingest(
        IngestRequest(
            records=records,
            citations=[Citation(citing_id="2301.00000", cited_id="2301.00001")],
            delete_ids=["2101.00001", "2112.99999"],
        ),
        budget=_budget(),
    )
    assert [len(c) for c in embedder.calls] == [2, 2, 1]
    stored = [p for r in retriever.upserts for p in r.papers]
    assert [p.id for p in stored] == [f"2301.0000{i}" for i in range(5)]
    # each paper stored with its own text's vector (the fake's first value: its length)
    assert [p.vector[0] for p in stored] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert result.papers_written == 5 and result.papers_deleted == 1
    assert result.citations_added == 1
    [error] = result.errors
    assert (error.kind, error.index, error.id) == ("record", 2, "2301.99999")
    sent = [(c.citing_id, c.cited_id) for r in graph.citations for c in r.citations]
    assert sent == [("2301.00000", "2301.00001")]
    assert [a.paper_id for r in graph.citations for a in r.papers] == [p.id for p in stored]
    assert [r[1]["ids"] for r in retriever.requests] == [["2101.00001"], ["2112.99999"]]


def test_ingest_with_the_graph_absent_reports_each_citation_skipped(absent: Clients) -> None:
    gw = _gateway(absent, embedder=FakeEmbedder(), retriever=FakeRetriever())
    result = gw.ingest(
        IngestRequest(citations=[Citation(citing_id="2301.00000", cited_id="2301.00001")]),
        budget=_budget(),
    )
    [error] = result.errors
    assert (error.kind, error.id) == ("citation", "2301.00000 -> 2301.00001")
    assert "graph is not configured" in error.message


def test_a_papers_passages_are_paged_and_an_unknown_paper_is_not_found(absent: Clients) -> None:
    retriever = FakeRetriever()
    gw = _gateway(absent, retriever=retriever)
    page = gw.paper_passages(
        ListPassagesRequest(id="2101.00001", limit=2, offset=1), budget=_budget()
    )
    assert [p.id for p in page.passages] == ["2101.00001#1", "2101.00001#2"]
    assert [p.text for p in page.passages] == ["p1", "p2"]
    assert (page.total, page.offset, page.limit) == (5, 1, 2)
    with pytest.raises(errors.NotFound, match=r"^paper 2112\.99999 not found$"):
        gw.paper_passages(ListPassagesRequest(id="2112.99999"), budget=_budget())
    assert retriever.requests[-1][1]["limit"] == DEFAULT_PASSAGE_PAGE


def test_recommendations_carry_retriever_metadata_and_reasons_in_words(absent: Clients) -> None:
    graph = FakeGraph()
    gw = _gateway(absent, retriever=FakeRetriever(), graph=graph)
    [rec] = gw.recommend(RecommendRequest(seed_ids=["2101.00001"], k=3), budget=_budget())
    assert graph.requests == [("recommend", {"seed_ids": ["2101.00001"], "k": 3})]
    assert rec.paper.title == "Attention over citation graphs"  # the retriever's, not ""
    assert (rec.score, rec.citation_count) == (0.5, 9)
    [reason] = rec.reasons
    assert reason.co_cited_by == ["2201.00003", "2201.00004"]
    assert reason.text == (
        "cited together with 'Graph networks for molecules' by 2 paper(s); "
        "shares 1 reference(s) with 'Graph networks for molecules'"
    )


def test_rank_passes_the_filters_and_a_path_keeps_graph_papers_the_retriever_lacks(
    absent: Clients,
) -> None:
    graph = FakeGraph()
    gw = _gateway(absent, retriever=FakeRetriever(), graph=graph)
    ranked = gw.rank(
        RankRequest(k=4, filters=Filters(categories=["cs.LG "], year_from=2020)),
        budget=_budget(),
    )
    assert graph.requests[-1] == ("rank", {"k": 4, "categories": ["cs.LG"], "years": (2020, 0)})
    [first] = ranked.papers
    assert first.paper.title == "Graph networks for molecules"
    assert (first.rank, first.score, first.citation_count) == (1, 0.25, 12)
    assert ranked.stale and ranked.computed_at == ""

    path = gw.citation_path(
        CitationPathRequest(from_id="2101.00001", to_id="2102.00002", undirected=True),
        budget=_budget(),
    )
    assert graph.requests[-1] == ("shortest_path", {"undirected": True})
    assert path.found
    assert [p.title for p in path.path] == [
        "Graph networks for molecules",
        "graph's title",  # not in the retriever: the graph's own fields
        "Attention over citation graphs",
    ]
