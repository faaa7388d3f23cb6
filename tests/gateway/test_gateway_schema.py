"""One schema for the gateway API (gateway/schema.py): every protobuf message of
arxivqa.gateway.v1 has its model with the same fields, the generic mapping carries every field
both ways, and the two front doors refuse bad input in the same words.

The doors here are the real gRPC server and FastAPI app with no service configured: input is
checked before any downstream call. No shared data needed: these are fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from pydantic import BaseModel

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.gateway.v1 import gateway_pb2_grpc
from gateway import schema
from gateway.clients import Clients
from gateway.core import Gateway
from gateway.server import create_server
from gateway.settings import Settings
from gateway.web import create_app
from services.common import errors
from services.common.arxiv import ARXIV_ID_PATTERN
from services.common.grpc_errors import field_violations

# protobuf message -> its model. Messages that only wrap a list (the model is the list's
# item) are in WRAPPERS.
MODELS: dict[str, type[BaseModel]] = {
    "Filters": schema.Filters,
    "Paper": schema.Paper,
    "SearchRequest": schema.SearchRequest,
    "SearchHit": schema.SearchHit,
    "SearchResponse": schema.SearchResult,
    "AskRequest": schema.AskRequest,
    "Passage": schema.Passage,
    "Answer": schema.Answer,
    "AskResponse": schema.AskResult,
    "GetPaperRequest": schema.GetPaperRequest,
    "GetPaperResponse": schema.PaperDetail,
    "ListPassagesRequest": schema.ListPassagesRequest,
    "ListPassagesResponse": schema.PassagePage,
    "SimilarPapersRequest": schema.SimilarPapersRequest,
    "RecommendRequest": schema.RecommendRequest,
    "Reason": schema.Reason,
    "Recommendation": schema.Recommendation,
    "CitationPathRequest": schema.CitationPathRequest,
    "CitationPathResponse": schema.PathResult,
    "SubgraphRequest": schema.SubgraphRequest,
    "Node": schema.Node,
    "Edge": schema.Edge,
    "SubgraphResponse": schema.SubgraphResult,
    "RankRequest": schema.RankRequest,
    "RankedPaper": schema.RankedPaper,
    "RankResponse": schema.RankResult,
    "IngestRequest": schema.IngestRequest,
    "FullText": schema.FullText,
    "Paragraph": schema.Paragraph,
    "Citation": schema.Citation,
    "RecordError": schema.IngestError,
    "IngestResponse": schema.IngestResult,
}
WRAPPERS = {"SimilarPapersResponse": "hits", "RecommendResponse": "recommendations"}


def test_every_message_has_a_model_with_the_same_fields() -> None:
    messages = set(pb.DESCRIPTOR.message_types_by_name)
    assert messages == set(MODELS) | set(WRAPPERS)
    for name, model in MODELS.items():
        fields = {f.name for f in pb.DESCRIPTOR.message_types_by_name[name].fields}
        assert fields == set(model.model_fields), name
    for name, field in WRAPPERS.items():
        assert [f.name for f in pb.DESCRIPTOR.message_types_by_name[name].fields] == [field]


FILTERS = schema.Filters(categories=["cs.LG"], year_from=2019, year_to=2021, authors=["Ada"])
PAPER = schema.Paper(
    id="1412.6980",
    title="Adam",
    abstract="A method.",
    authors=["D. Kingma", "J. Ba"],
    categories=["cs.LG"],
    year=2014,
    update_date="2017-01-30",
    url="https://arxiv.org/abs/1412.6980",
)
PASSAGE = schema.Passage(
    id="2212.11827#3",
    paper_id="2212.11827",
    text="We train.",
    section="Method",
    ordinal=3,
    score=0.5,
    source="abstract",
)
# One of each request, every field set to a value other than its default.
REQUESTS: list[tuple[Any, BaseModel]] = [
    (
        pb.SearchRequest,
        schema.SearchRequest(query="qubits", mode="text", filters=FILTERS, k=7, offset=20),
    ),
    (pb.AskRequest, schema.AskRequest(question="why?", filters=FILTERS, passages=9, top_k=4)),
    (pb.GetPaperRequest, schema.GetPaperRequest(id="hep-th/9901001v2")),
    (pb.ListPassagesRequest, schema.ListPassagesRequest(id="2212.11827", limit=5, offset=10)),
    (pb.SimilarPapersRequest, schema.SimilarPapersRequest(id="1412.6980", filters=FILTERS, k=3)),
    (pb.RecommendRequest, schema.RecommendRequest(seed_ids=["1412.6980", "0704.0001"], k=2)),
    (
        pb.CitationPathRequest,
        schema.CitationPathRequest(from_id="1412.6980", to_id="0704.0001", undirected=True),
    ),
    (pb.SubgraphRequest, schema.SubgraphRequest(id="1412.6980", depth=2, max_nodes=50)),
    (pb.RankRequest, schema.RankRequest(filters=FILTERS, k=4)),
    (
        pb.IngestRequest,
        schema.IngestRequest(
            batch_id="b1",
            records=['{"id": "2101.00001"}'],
            fulltexts=[
                schema.FullText(
                    paper_id="2101.00001",
                    paragraphs=[schema.Paragraph(section="Intro", text="Hello.")],
                )
            ],
            citations=[schema.Citation(citing_id="2101.00001", cited_id="1412.6980")],
            delete_ids=["2101.00002"],
        ),
    ),
]


@pytest.mark.parametrize(("message", "model"), REQUESTS, ids=lambda v: type(v).__name__)
def test_a_request_survives_protobuf_both_ways(message: Any, model: BaseModel) -> None:
    wire = schema.to_pb(message, model)
    assert wire.ByteSize() > 0
    assert schema.from_pb(type(model), wire) == model


def test_responses_map_every_field_with_enums_and_unset_optionals() -> None:
    answer = schema.Answer(
        text="Adam",
        score=0.9,
        paper=PAPER,
        evidence="We use Adam.",
        passage_id=PASSAGE.id,
        start=7,
        end=11,
    )
    result = schema.AskResult(
        answers=[answer], passages=[PASSAGE], answers_available=True, note="n"
    )
    wire = schema.to_pb(pb.AskResponse, result)
    assert wire.passages[0].source == pb.PASSAGE_SOURCE_ABSTRACT
    assert schema.pb_fields(wire) == result.model_dump()

    hits = schema.SearchResult(
        hits=[schema.SearchHit(paper=PAPER, score=1.5, vector_rank=2, text_rank=1)],
        mode="vector",
        total=12,
    )
    wire_hits = schema.to_pb(pb.SearchResponse, hits)
    assert wire_hits.mode == pb.SEARCH_MODE_VECTOR and wire_hits.total == 12
    assert schema.pb_fields(wire_hits) == hits.model_dump()

    without = schema.PaperDetail(
        paper=schema.Paper(id="0704.0001"),  # year and update_date None: unset, 0 and ""
        citation_count=None,
        reference_count=None,
        citations_available=False,
        note="graph down",
    )
    wire_detail = schema.to_pb(pb.GetPaperResponse, without)
    assert not wire_detail.HasField("citation_count")
    assert wire_detail.paper.year == 0 and wire_detail.paper.update_date == ""
    counted = without.model_copy(update={"citation_count": 0, "reference_count": 3})
    wire_counted = schema.to_pb(pb.GetPaperResponse, counted)
    assert wire_counted.HasField("citation_count") and wire_counted.citation_count == 0
    assert wire_counted.reference_count == 3

    recs = [schema.Recommendation(paper=PAPER, score=2.0, reasons=[], citation_count=5)]
    wire_recs = schema.to_pb(pb.RecommendResponse, {"recommendations": recs})
    assert wire_recs.recommendations[0].paper.title == "Adam"


def test_an_unspecified_mode_is_hybrid_and_an_unknown_one_is_refused() -> None:
    assert schema.from_pb(schema.SearchRequest, pb.SearchRequest(query="q")).mode == "hybrid"
    with pytest.raises(errors.InvalidArgument, match=r"^mode: unknown value 9$"):
        schema.from_pb(schema.SearchRequest, pb.SearchRequest(query="q", mode=9))  # type: ignore[arg-type]


def test_a_query_is_stripped_and_zero_means_the_default() -> None:
    req = schema.from_pb(schema.SearchRequest, pb.SearchRequest(query="  qubits \n"))
    assert (req.query, req.k, req.offset) == ("qubits", 0, 0)


def test_a_query_that_strips_to_nothing_is_refused() -> None:
    """Every character str.strip removes (\\x1c-\\x1f too, which pydantic's \\s misses)."""
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert "\x1c" in spaces and "\u3000" in spaces
    for space in spaces:
        with pytest.raises(errors.InvalidArgument, match=r"^query: expected some text"):
            schema.validated(schema.SearchRequest, {"query": space * 2})


@dataclass
class Doors:
    stub: gateway_pb2_grpc.GatewayStub
    http: httpx.Client


@pytest.fixture(scope="module")
def doors() -> Iterator[Doors]:
    from fastapi.testclient import TestClient

    settings = Settings(
        port=0, http_port=0, embedder_target="", retriever_target="", qa_target="", graph_target=""
    )
    gw = Gateway(Clients({}))
    server, port = create_server(settings, gateway=gw)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        with TestClient(create_app(gw, settings)) as http:
            yield Doors(gateway_pb2_grpc.GatewayStub(channel), http)
    finally:
        channel.close()
        server.stop(0).wait()
        gw.close()


# (HTTP request, the same gRPC request): both are refused, with one message.
BAD_INPUT: list[tuple[str, str, dict[str, Any], str, Any]] = [
    (
        "POST",
        "/v1/search",
        {"query": "  ", "k": 101},
        "Search",
        pb.SearchRequest(query="  ", k=101),
    ),
    (
        "POST",
        "/v1/search",
        {"query": "x", "filters": {"categories": ["cs.LG", "|"], "year_to": 10_000}},
        "Search",
        pb.SearchRequest(query="x", filters=pb.Filters(categories=["cs.LG", "|"], year_to=10_000)),
    ),
    (
        "POST",
        "/v1/ask",
        {"question": "x", "top_k": 21},
        "Ask",
        pb.AskRequest(question="x", top_k=21),
    ),
    ("POST", "/v1/ask", {"question": "\x1c\x1f"}, "Ask", pb.AskRequest(question="\x1c\x1f")),
    ("POST", "/v1/recommend", {"seed_ids": []}, "Recommend", pb.RecommendRequest()),
    (
        "POST",
        "/v1/recommend",
        {"seed_ids": ["1412.6980", "nope"]},
        "Recommend",
        pb.RecommendRequest(seed_ids=["1412.6980", "nope"]),
    ),
    (
        "POST",
        "/v1/ingest",
        {"citations": [{"citing_id": "x" * 101, "cited_id": "y"}]},
        "Ingest",
        pb.IngestRequest(citations=[pb.Citation(citing_id="x" * 101, cited_id="y")]),
    ),
]


@pytest.mark.parametrize(("method", "url", "body", "rpc", "request_pb"), BAD_INPUT)
def test_both_doors_refuse_bad_input_in_the_same_words(
    doors: Doors, method: str, url: str, body: dict[str, Any], rpc: str, request_pb: Any
) -> None:
    r = doors.http.request(method, url, json=body)
    assert r.status_code == 400, r.text
    words = r.json()["error"]["message"]
    call = getattr(doors.stub, rpc)
    with pytest.raises(grpc.RpcError) as exc:
        if rpc == "Ingest":
            list(call(iter([request_pb]), timeout=20))
        else:
            call(request_pb, timeout=20)
    assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert exc.value.details() == words


@pytest.mark.parametrize(
    ("rpc", "request_pb", "field"),
    [
        ("Search", pb.SearchRequest(query="x", k=101), "k"),
        ("Search", pb.SearchRequest(query="x", mode=9), "mode"),  # type: ignore[arg-type]
        (
            "Search",
            pb.SearchRequest(query="x", filters=pb.Filters(categories=["cs.LG", "|"])),
            "filters.categories[1]",
        ),
        ("Recommend", pb.RecommendRequest(seed_ids=["1412.6980", "nope"]), "seed_ids[1]"),
        (
            "Ingest",
            pb.IngestRequest(fulltexts=[pb.FullText(paper_id="x" * 101)]),
            "fulltexts[0].paper_id",
        ),
    ],
)
def test_grpc_names_the_field_at_fault(doors: Doors, rpc: str, request_pb: Any, field: str) -> None:
    call = getattr(doors.stub, rpc)
    with pytest.raises(grpc.RpcError) as exc:
        if rpc == "Ingest":
            list(call(iter([request_pb]), timeout=20))
        else:
            call(request_pb, timeout=20)
    assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(exc.value) == [(field, exc.value.details())]


def test_the_openapi_schema_states_the_models_limits(doors: Doors) -> None:
    spec = doors.http.get("/openapi.json").json()["components"]["schemas"]
    search = spec["SearchRequest"]["properties"]
    assert (search["k"]["minimum"], search["k"]["maximum"]) == (0, schema.MAX_K)
    assert search["query"]["maxLength"] == schema.MAX_QUERY_CHARS
    ask = spec["AskRequest"]["properties"]
    assert ask["top_k"]["maximum"] == schema.MAX_ANSWERS
    seeds = spec["RecommendRequest"]["properties"]["seed_ids"]
    assert seeds["items"]["pattern"] == ARXIV_ID_PATTERN
    ingest = spec["IngestRequest"]["properties"]
    assert ingest["delete_ids"]["maxItems"] == schema.MAX_INGEST_ITEMS
