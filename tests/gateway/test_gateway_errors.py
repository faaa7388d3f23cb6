"""One error model: each domain error names its gRPC code and HTTP status, and the gateway's
two front doors (gRPC facade, HTTP bridge) answer a downstream status with the same one.

The downstream here is a stand-in citation-graph service on a real gRPC server (port 0)
that answers Rank with the status a test picks and Subgraph with a message over the
gateway's 64 MiB receive limit; the gateway under test is the real one (core, clients,
servicer, interceptors and FastAPI app). No shared data needed: these are fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.gateway.v1 import gateway_pb2_grpc
from arxivqa.graph.v1 import graph_pb2, graph_pb2_grpc
from gateway.clients import Clients
from gateway.core import Gateway
from gateway.server import create_server
from gateway.settings import Settings
from gateway.web import create_app
from services.common import errors
from services.common.grpc_errors import status_for

KEY = "the-right-key-4711"
# Rank(k=i) makes the stand-in answer RANK_CODES[i - 1].
RANK_CODES = [
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAUTHENTICATED,
]
OVER_64_MIB = 65 * 1024 * 1024


class StandInGraph(graph_pb2_grpc.CitationGraphServicer):
    def Rank(self, request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(RANK_CODES[request.k - 1], f"stand-in says {request.k}")

    def Subgraph(self, request: Any, context: grpc.ServicerContext) -> Any:
        big = graph_pb2.Paper(paper_id=request.paper_id, title="x" * OVER_64_MIB)
        return graph_pb2.SubgraphResponse(nodes=[graph_pb2.SubgraphNode(paper=big)])


@dataclass
class Front:
    stub: gateway_pb2_grpc.GatewayStub
    http: httpx.Client


@pytest.fixture(scope="module")
def front() -> Iterator[Front]:
    from fastapi.testclient import TestClient

    graph = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    graph_pb2_grpc.add_CitationGraphServicer_to_server(StandInGraph(), graph)
    graph_port = graph.add_insecure_port("127.0.0.1:0")
    graph.start()
    settings = Settings(
        port=0,
        http_port=0,
        embedder_target="",
        retriever_target="",
        qa_target="",
        graph_target=f"127.0.0.1:{graph_port}",
        api_key=KEY,  # type: ignore[arg-type]
        deadline_seconds=20,
    )
    gw = Gateway(Clients(settings.targets()))
    service, port = create_server(settings, gateway=gw)
    service.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        with TestClient(create_app(gw, settings)) as http:
            yield Front(gateway_pb2_grpc.GatewayStub(channel), http)
    finally:
        channel.close()
        service.stop(0).wait()
        gw.close()
        graph.stop(0).wait()


def _grpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as exc:
        result = call(*args, timeout=20, **kwargs)
        if isinstance(result, Iterator):
            list(result)
    return exc.value


@pytest.mark.parametrize(
    ("cls", "code", "http"),
    [
        (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, 400),
        (errors.NotFound, grpc.StatusCode.NOT_FOUND, 404),
        (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION, 400),
        (errors.Unavailable, grpc.StatusCode.UNAVAILABLE, 503),
        (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, 401),
        (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (errors.TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
        (errors.ServiceError, grpc.StatusCode.INTERNAL, 500),
    ],
)
def test_each_domain_error_names_its_grpc_code_and_http_status(
    cls: type[errors.ServiceError], code: grpc.StatusCode, http: int
) -> None:
    assert status_for(cls("x")) is code
    assert cls.http_status == http
    assert errors.for_status(code.name) is (
        cls if cls is not errors.TooLarge else errors.ResourceExhausted
    )
    assert status_for(ValueError("not a domain error")) is grpc.StatusCode.INTERNAL


@pytest.mark.parametrize(
    ("k", "code", "http"),
    [
        (1, grpc.StatusCode.INVALID_ARGUMENT, 400),
        (2, grpc.StatusCode.NOT_FOUND, 404),
        (3, grpc.StatusCode.FAILED_PRECONDITION, 400),
        (4, grpc.StatusCode.UNAVAILABLE, 503),
        (5, grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (6, grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        # a bug downstream, or its credentials (the gateway's configuration), not the caller's
        (7, grpc.StatusCode.INTERNAL, 500),
        (8, grpc.StatusCode.INTERNAL, 500),
        (9, grpc.StatusCode.INTERNAL, 500),
    ],
)
def test_a_downstream_status_reaches_both_front_doors_as_the_same_one(
    front: Front, k: int, code: grpc.StatusCode, http: int
) -> None:
    err = _grpc_error(front.stub.Rank, pb.RankRequest(k=k))
    assert err.code() is code, err.details()
    r = front.http.get("/v1/rank", params={"k": k})
    assert r.status_code == http, r.text
    assert r.json()["error"]["status"] == code.name
    assert r.json()["error"]["code"] == http


def test_resource_exhausted_downstream_is_429_and_says_retry_later(front: Front) -> None:
    err = _grpc_error(front.stub.Rank, pb.RankRequest(k=6))
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details() == "graph is out of capacity (stand-in says 6); retry later"
    r = front.http.get("/v1/rank", params={"k": 6})
    assert r.status_code == 429
    assert r.json()["error"]["message"] == err.details()


def test_an_answer_over_the_size_limit_is_413_and_says_ask_for_less(front: Front) -> None:
    err = _grpc_error(front.stub.Subgraph, pb.SubgraphRequest(id="1412.6980"))
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    details = err.details() or ""
    assert details.startswith("graph: ") and "larger than max" in details
    assert details.endswith("ask for less at a time (fewer results, a smaller batch)")
    r = front.http.get("/v1/subgraph", params={"id": "1412.6980"})
    assert r.status_code == 413
    assert r.json()["error"] == {"status": "RESOURCE_EXHAUSTED", "code": 413, "message": details}


def test_one_api_key_check_answers_both_front_doors_in_the_same_words(front: Front) -> None:
    batch = [pb.IngestRequest(batch_id="b")]
    for metadata, what in (((), "no"), ((("x-api-key", "wrong-1"),), "a wrong")):
        err = _grpc_error(front.stub.Ingest, iter(batch), metadata=metadata)
        assert err.code() is grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == (
            "this operation writes data and needs an API key: the request carried "
            f"{what} x-api-key metadata"
        )
    for headers, what in (({}, "no"), ({"x-api-key": "wrong-1"}, "a wrong")):
        r = front.http.post("/v1/ingest", json={"batch_id": "b"}, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "X-API-Key"
        assert r.json()["error"] == {
            "status": "UNAUTHENTICATED",
            "code": 401,
            "message": "this operation writes data and needs an API key: the request "
            f"carried {what} X-API-Key header",
        }
    # a key that is not ASCII is a wrong key, not a crash
    r = front.http.post("/v1/ingest", json={}, headers={"x-api-key": "schlüssel".encode()})
    assert r.status_code == 401 and "a wrong X-API-Key" in r.json()["error"]["message"]
    # the right key passes the check (the empty batch is written: nothing)
    ok = list(front.stub.Ingest(iter(batch), metadata=(("x-api-key", KEY),), timeout=20))
    assert [(o.batch_id, o.papers_written) for o in ok] == [("b", 0)]
    r = front.http.post("/v1/ingest", json={"batch_id": "b"}, headers={"x-api-key": KEY})
    assert r.status_code == 200 and r.json()["papers_written"] == 0


def test_reads_need_no_key(front: Front) -> None:
    # Search reaches the gateway (and fails there: no embedder is configured), not the key check
    err = _grpc_error(front.stub.Search, pb.SearchRequest(query="x"))
    assert err.code() is grpc.StatusCode.UNAVAILABLE
    assert "embedder is not configured" in (err.details() or "")
    r = front.http.post("/v1/search", json={"query": "x"})
    assert r.status_code == 503
