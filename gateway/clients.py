"""The services the gateway composes, as typed clients with deadlines and error translation.

One class per downstream service (:class:`EmbedderClient`, :class:`RetrieverClient`,
:class:`QaClient`, :class:`GraphClient`), one method per RPC the gateway uses; the core
calls these methods, never a service or method by name. Each method takes its timeout from
the caller's :class:`Budget` and turns a downstream gRPC error into the matching domain
error (:func:`translate`, over the one table of ``services.common.errors``), so the
gateway's own servicer and HTTP bridge map it once more, to a gRPC or HTTP status.
:class:`Clients` holds the traced channels and health stubs, and one client of each kind;
a service without a target is absent (``configured`` is False, and every call raises
:class:`NotConfigured`, an ``Unavailable``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace

from arxivqa.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from arxivqa.graph.v1 import graph_pb2, graph_pb2_grpc
from arxivqa.qa.v1 import qa_pb2
from arxivqa.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.common import errors
from services.common.settings import message_size_options
from services.common.telemetry import traced_channel

log = logging.getLogger(__name__)

T = TypeVar("T")

# Reconnect quickly after a dependency comes back (the default backoff grows to 120 s, so
# a restarted service would stay unused for minutes). Calls fail fast while it is down.
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
    *message_size_options(),  # 64 MiB, as every service's server
]

ENV_NAMES = {
    "embedder": "ARXIVQA_GATEWAY_EMBEDDER_TARGET",
    "retriever": "ARXIVQA_GATEWAY_RETRIEVER_TARGET",
    "qa": "ARXIVQA_GATEWAY_QA_TARGET",
    "graph": "ARXIVQA_GATEWAY_GRAPH_TARGET",
}


@dataclass(frozen=True)
class Budget:
    """What is left of the caller's time; every downstream call takes its timeout from it."""

    deadline: float  # time.monotonic() value

    @classmethod
    def seconds(cls, seconds: float) -> Budget:
        return cls(time.monotonic() + seconds)

    def remaining(self, what: str = "the request") -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise errors.DeadlineExceeded(f"deadline exceeded before {what}")
        return left


class NotConfigured(errors.Unavailable):
    """The dependency has no target configured."""


class DownstreamFailure(errors.ServiceError):
    """A dependency answered INTERNAL/UNKNOWN: a bug there, not an outage (gRPC INTERNAL, 500)."""


def _qa_stub(channel: grpc.Channel) -> Any:
    from arxivqa.qa.v1 import qa_pb2_grpc

    return qa_pb2_grpc.ReaderStub(channel)


_STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "embedder": embedder_pb2_grpc.EmbedderStub,
    "retriever": retriever_pb2_grpc.RetrieverStub,
    "qa": _qa_stub,
    "graph": graph_pb2_grpc.CitationGraphStub,
}


# The downstream statuses the gateway passes on, each as the domain error that names it
# (services.common.errors.for_status), with what its message says; any other status (INTERNAL,
# UNKNOWN, UNIMPLEMENTED, ...) is a bug there and becomes DownstreamFailure (INTERNAL, 500).
_PASSED_ON: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "{details}",
    grpc.StatusCode.NOT_FOUND: "{details}",
    grpc.StatusCode.FAILED_PRECONDITION: "{service}: {details}",
    grpc.StatusCode.DEADLINE_EXCEEDED: "{service} did not answer within the deadline",
    grpc.StatusCode.UNAVAILABLE: "{service} is unavailable ({details}); retry later",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "{service} is out of capacity ({details}); retry later",
}
# grpc's words for a message over a channel's size limit ("Received message larger than
# max (70000000 vs. 67108864)", "Sent message larger than max ..."): a size limit, not a quota.
_SIZE_LIMIT = "larger than max"


def translate(service: str, exc: grpc.RpcError) -> errors.ServiceError:
    """A downstream status -> the domain error the gateway reports to its own caller."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and _SIZE_LIMIT in details:
        return errors.TooLarge(
            f"{service}: {details}; ask for less at a time (fewer results, a smaller batch)"
        )
    template = _PASSED_ON.get(code)
    if template is not None:
        return errors.for_status(code.name)(template.format(service=service, details=details))
    log.warning("%s failed with %s: %s", service, code.name, details)
    return DownstreamFailure(f"{service} failed ({code.name}: {details})")


class _ServiceClient:
    """The calls to one service, over the shared channels of :class:`Clients`."""

    service = ""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients

    @property
    def configured(self) -> bool:
        """False when the service has no target: every call raises NotConfigured."""
        return self._clients.configured(self.service)

    def _call(self, method: str, request: Any, budget: Budget, what: str = "") -> Any:
        return self._clients.call(self.service, method, request, budget, what=what)

    def _stream(self, method: str, requests: Iterator[Any], budget: Budget, what: str) -> Any:
        return self._clients.stream(self.service, method, requests, budget, what=what)


class EmbedderClient(_ServiceClient):
    service = "embedder"

    def embed(self, texts: Sequence[str], *, budget: Budget) -> list[list[float]]:
        """One vector per text, in order (one Embed call)."""
        resp = self._call(
            "Embed", embedder_pb2.EmbedRequest(texts=texts), budget, "embedding the text"
        )
        return [list(e.values) for e in resp.embeddings]


class RetrieverClient(_ServiceClient):
    service = "retriever"

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
        request = retriever_pb2.SearchRequest(
            mode=mode,
            target=target,
            query_text=query_text,
            query_vector=query_vector,
            filters=filters,
            k=k,
            offset=offset,
        )
        resp: retriever_pb2.SearchResponse = self._call("Search", request, budget, "searching")
        return resp

    def retrieve_passages(
        self,
        *,
        query_text: str,
        query_vector: Sequence[float],
        filters: retriever_pb2.Filters,
        k: int,
        budget: Budget,
    ) -> retriever_pb2.RetrievePassagesResponse:
        request = retriever_pb2.RetrievePassagesRequest(
            query_text=query_text, query_vector=query_vector, filters=filters, k=k
        )
        resp: retriever_pb2.RetrievePassagesResponse = self._call(
            "RetrievePassages", request, budget, "searching passages"
        )
        return resp

    def get_papers(
        self, ids: Sequence[str], *, budget: Budget
    ) -> tuple[list[retriever_pb2.Paper], list[str]]:
        """The papers found, and the ids the retriever does not store (not an error)."""
        resp = self._call("GetPapers", retriever_pb2.GetPapersRequest(ids=ids), budget)
        return list(resp.papers), list(resp.missing_ids)

    def list_passages(
        self, paper_id: str, *, limit: int, offset: int, budget: Budget
    ) -> retriever_pb2.ListPassagesResponse:
        request = retriever_pb2.ListPassagesRequest(paper_id=paper_id, limit=limit, offset=offset)
        resp: retriever_pb2.ListPassagesResponse = self._call(
            "ListPassages", request, budget, "listing the paper's passages"
        )
        return resp

    def similar_papers(
        self, paper_id: str, *, k: int, filters: retriever_pb2.Filters, budget: Budget
    ) -> retriever_pb2.SimilarPapersResponse:
        request = retriever_pb2.SimilarPapersRequest(paper_id=paper_id, k=k, filters=filters)
        resp: retriever_pb2.SimilarPapersResponse = self._call("SimilarPapers", request, budget)
        return resp

    def delete_papers(self, ids: Sequence[str], *, budget: Budget) -> int:
        """How many papers were deleted (NotFound when none of the ids is stored)."""
        resp = self._call(
            "DeletePapers", retriever_pb2.DeletePapersRequest(ids=ids), budget, "deleting"
        )
        return int(resp.papers_deleted)

    def upsert(
        self, requests: Iterable[retriever_pb2.UpsertRequest], *, budget: Budget
    ) -> retriever_pb2.UpsertResponse:
        """One client stream of papers and passages (with their vectors)."""
        resp: retriever_pb2.UpsertResponse = self._stream(
            "Upsert", iter(requests), budget, "storing"
        )
        return resp


class QaClient(_ServiceClient):
    service = "qa"

    def answer(
        self,
        question: str,
        passages: Sequence[qa_pb2.Passage],
        *,
        top_k: int,
        allow_no_answer: bool,
        budget: Budget,
    ) -> qa_pb2.AnswerResponse:
        request = qa_pb2.AnswerRequest(
            question=question,
            passages=passages,
            options=qa_pb2.AnswerOptions(top_k=top_k, allow_no_answer=allow_no_answer),
        )
        resp: qa_pb2.AnswerResponse = self._call("Answer", request, budget, "reading the passages")
        return resp


class GraphClient(_ServiceClient):
    service = "graph"

    def neighbor_counts(self, paper_id: str, *, budget: Budget) -> graph_pb2.GetNeighborsResponse:
        """A paper's citation and reference counts (GetNeighbors, counts only)."""
        request = graph_pb2.GetNeighborsRequest(paper_id=paper_id, counts_only=True)
        resp: graph_pb2.GetNeighborsResponse = self._call(
            "GetNeighbors", request, budget, "counting citations"
        )
        return resp

    def recommend(
        self, seed_ids: Sequence[str], *, k: int, budget: Budget
    ) -> graph_pb2.RecommendResponse:
        request = graph_pb2.RecommendRequest(seed_ids=seed_ids, k=k)
        resp: graph_pb2.RecommendResponse = self._call("Recommend", request, budget)
        return resp

    def shortest_path(
        self, source_id: str, target_id: str, *, undirected: bool, budget: Budget
    ) -> graph_pb2.ShortestPathResponse:
        request = graph_pb2.ShortestPathRequest(
            source_id=source_id, target_id=target_id, undirected=undirected
        )
        resp: graph_pb2.ShortestPathResponse = self._call("ShortestPath", request, budget)
        return resp

    def subgraph(
        self, paper_id: str, *, depth: int, max_nodes: int, budget: Budget
    ) -> graph_pb2.SubgraphResponse:
        request = graph_pb2.SubgraphRequest(paper_id=paper_id, depth=depth, max_nodes=max_nodes)
        resp: graph_pb2.SubgraphResponse = self._call("Subgraph", request, budget)
        return resp

    def rank(
        self,
        *,
        k: int,
        categories: Sequence[str],
        year_min: int,
        year_max: int,
        budget: Budget,
    ) -> graph_pb2.RankResponse:
        request = graph_pb2.RankRequest(
            k=k, categories=categories, year_min=year_min, year_max=year_max
        )
        resp: graph_pb2.RankResponse = self._call("Rank", request, budget)
        return resp

    def add_citations(
        self, requests: Iterable[graph_pb2.AddCitationsRequest], *, budget: Budget
    ) -> graph_pb2.AddCitationsResponse:
        """One client stream of citations and paper attributes."""
        resp: graph_pb2.AddCitationsResponse = self._stream(
            "AddCitations", iter(requests), budget, "citations"
        )
        return resp


class Clients:
    """One traced channel and stub per configured dependency, and a typed client of each
    service (``embedder``, ``retriever``, ``qa``, ``graph``) that calls through them."""

    def __init__(
        self,
        targets: dict[str, str],
        *,
        tracer_provider: trace.TracerProvider | None = None,
        health_timeout: float = 1.0,
    ) -> None:
        self.targets = dict(targets)
        self.health_timeout = health_timeout
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[str, Any] = {}
        self._health: dict[str, health_pb2_grpc.HealthStub] = {}
        for name, target in self.targets.items():
            if not target:
                continue
            channel = traced_channel(
                target, tracer_provider=tracer_provider, options=CHANNEL_OPTIONS
            )
            self._channels[name] = channel
            self._health[name] = health_pb2_grpc.HealthStub(channel)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway-health")
        self.embedder = EmbedderClient(self)
        self.retriever = RetrieverClient(self)
        self.qa = QaClient(self)
        self.graph = GraphClient(self)

    def configured(self, service: str) -> bool:
        return service in self._channels

    def stub(self, service: str) -> Any:
        if service not in self._channels:
            raise NotConfigured(
                f"{service} is not configured (set {ENV_NAMES.get(service, service)})"
            )
        if service not in self._stubs:
            self._stubs[service] = _STUBS[service](self._channels[service])
        return self._stubs[service]

    def call(
        self, service: str, method: str, request: Any, budget: Budget, *, what: str = ""
    ) -> Any:
        """Unary call with the caller's remaining time as its timeout (the typed clients'
        transport: callers use their methods)."""
        fn = getattr(self.stub(service), method)
        timeout = budget.remaining(what or f"calling {service}.{method}")
        try:
            return fn(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise translate(service, exc) from None

    def stream(
        self, service: str, method: str, requests: Iterator[Any], budget: Budget, *, what: str = ""
    ) -> Any:
        """Client-streaming call with the caller's remaining time as its timeout."""
        fn = getattr(self.stub(service), method)
        timeout = budget.remaining(what or f"calling {service}.{method}")
        try:
            return fn(requests, timeout=timeout)
        except grpc.RpcError as exc:
            raise translate(service, exc) from None

    # -- health -----------------------------------------------------------------------------
    def check(self, service: str) -> str:
        """SERVING, NOT_SERVING, UNREACHABLE (with the reason) or NOT_CONFIGURED."""
        stub = self._health.get(service)
        if stub is None:
            return "NOT_CONFIGURED"
        try:
            resp = stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.health_timeout
            )
        except grpc.RpcError as exc:
            return f"UNREACHABLE ({exc.code().name})"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))

    def check_all(self) -> dict[str, str]:
        names = list(self.targets)
        results = list(self._pool.map(self.check, names))
        return dict(zip(names, results, strict=True))

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
        self._stubs.clear()
