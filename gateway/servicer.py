"""gRPC facade: protobuf <-> the models of gateway.schema; domain errors -> status codes.

Each method reads its request into the schema's model with ``from_pb`` (which applies the
same constraints, with the same words, as the HTTP bridge), calls the core, and writes the
answer back with ``to_pb``: fields are copied by name, so a new field needs no code here.

The API key of writes is checked before a call gets here, by gateway.auth.ApiKeyInterceptor.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.gateway.v1 import gateway_pb2_grpc
from gateway import core, schema
from gateway.clients import Budget
from gateway.schema import from_pb, to_pb
from services.common.errors import InvalidArgument
from services.common.grpc_errors import handle_errors

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Gateway"].full_name
# The methods that write, and so need the API key when one is configured (checked before
# the servicer by gateway.auth.ApiKeyInterceptor, which create_server installs).
WRITE_METHODS = frozenset({f"/{SERVICE_NAME}/Ingest"})
# The longest deadline a caller may send (seconds): reads, and one Ingest stream. The
# HTTP bridge's X-Request-Timeout has the same range for reads (gateway.web).
MAX_DEADLINE_SECONDS = 300.0
MAX_INGEST_DEADLINE_SECONDS = 3600.0
_NO_DEADLINE = 1e8  # grpc reports a call without a deadline as ~infinite time remaining


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):
    def __init__(
        self,
        gateway: core.Gateway,
        *,
        deadline_seconds: float,
        ingest_deadline_seconds: float,
    ) -> None:
        self.gateway = gateway
        self.deadline_seconds = deadline_seconds
        self.ingest_deadline_seconds = ingest_deadline_seconds

    def _budget(
        self,
        context: grpc.ServicerContext,
        default: float | None = None,
        limit: float = MAX_DEADLINE_SECONDS,
    ) -> Budget:
        """The caller's deadline when it sent one, else the configured default.

        A deadline longer than ``limit`` (300 s; Ingest 3600 s) is refused with
        INVALID_ARGUMENT rather than holding resources that long.
        """
        remaining = context.time_remaining()
        # Without a deadline, grpc reports a practically infinite time remaining.
        if remaining is not None and remaining < _NO_DEADLINE:
            if remaining > limit + 1:  # + 1 s: the time the call took to get here
                raise InvalidArgument(
                    f"deadline of {remaining:.0f} s is longer than the {limit:g} s this "
                    "operation allows; send a shorter one, or none for the gateway's default"
                )
            return Budget.seconds(remaining)
        return Budget.seconds(default if default is not None else self.deadline_seconds)

    @handle_errors
    def Search(self, request: pb.SearchRequest, context: grpc.ServicerContext) -> pb.SearchResponse:
        req = from_pb(schema.SearchRequest, request)
        return to_pb(pb.SearchResponse, self.gateway.search(req, budget=self._budget(context)))

    @handle_errors
    def Ask(self, request: pb.AskRequest, context: grpc.ServicerContext) -> pb.AskResponse:
        req = from_pb(schema.AskRequest, request)
        return to_pb(pb.AskResponse, self.gateway.ask(req, budget=self._budget(context)))

    @handle_errors
    def GetPaper(
        self, request: pb.GetPaperRequest, context: grpc.ServicerContext
    ) -> pb.GetPaperResponse:
        req = from_pb(schema.GetPaperRequest, request)
        return to_pb(pb.GetPaperResponse, self.gateway.get_paper(req, budget=self._budget(context)))

    @handle_errors
    def ListPassages(
        self, request: pb.ListPassagesRequest, context: grpc.ServicerContext
    ) -> pb.ListPassagesResponse:
        req = from_pb(schema.ListPassagesRequest, request)
        page = self.gateway.paper_passages(req, budget=self._budget(context))
        return to_pb(pb.ListPassagesResponse, page)

    @handle_errors
    def SimilarPapers(
        self, request: pb.SimilarPapersRequest, context: grpc.ServicerContext
    ) -> pb.SimilarPapersResponse:
        req = from_pb(schema.SimilarPapersRequest, request)
        hits = self.gateway.similar_papers(req, budget=self._budget(context))
        return to_pb(pb.SimilarPapersResponse, {"hits": hits})

    @handle_errors
    def Recommend(
        self, request: pb.RecommendRequest, context: grpc.ServicerContext
    ) -> pb.RecommendResponse:
        req = from_pb(schema.RecommendRequest, request)
        recs = self.gateway.recommend(req, budget=self._budget(context))
        return to_pb(pb.RecommendResponse, {"recommendations": recs})

    @handle_errors
    def CitationPath(
        self, request: pb.CitationPathRequest, context: grpc.ServicerContext
    ) -> pb.CitationPathResponse:
        req = from_pb(schema.CitationPathRequest, request)
        path = self.gateway.citation_path(req, budget=self._budget(context))
        return to_pb(pb.CitationPathResponse, path)

    @handle_errors
    def Subgraph(
        self, request: pb.SubgraphRequest, context: grpc.ServicerContext
    ) -> pb.SubgraphResponse:
        req = from_pb(schema.SubgraphRequest, request)
        return to_pb(pb.SubgraphResponse, self.gateway.subgraph(req, budget=self._budget(context)))

    @handle_errors
    def Rank(self, request: pb.RankRequest, context: grpc.ServicerContext) -> pb.RankResponse:
        req = from_pb(schema.RankRequest, request)
        return to_pb(pb.RankResponse, self.gateway.rank(req, budget=self._budget(context)))

    @handle_errors
    def Ingest(
        self, request_iterator: Iterator[pb.IngestRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.IngestResponse]:
        for req in request_iterator:
            budget = self._budget(
                context, default=self.ingest_deadline_seconds, limit=MAX_INGEST_DEADLINE_SECONDS
            )
            result = self.gateway.ingest(from_pb(schema.IngestRequest, req), budget=budget)
            yield to_pb(pb.IngestResponse, result)


def add_to_server(servicer: GatewayServicer, server: Any) -> None:
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)
