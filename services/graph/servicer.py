"""``arxivqa.graph.v1.CitationGraph``: protobuf <-> the core's domain objects."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace

from arxivqa.graph.v1 import graph_pb2 as pb
from arxivqa.graph.v1 import graph_pb2_grpc
from services.common.errors import InvalidArgument
from services.common.grpc_errors import check_deadline, handle_errors
from services.common.redis_health import Durability
from services.graph.citations import CitationGraph
from services.graph.domain import (
    AddResult,
    Direction,
    PaperAttributes,
    PaperInfo,
    RecommendMethod,
)

log = logging.getLogger(__name__)

MAX_SKIPPED_REPORTED = 100
DEFAULT_PAGE_SIZE = 50
DEFAULT_K = 10
DEFAULT_MAX_NODES = 100

_DIRECTIONS: dict[int, Direction] = {
    pb.DIRECTION_UNSPECIFIED: Direction.BOTH,
    pb.DIRECTION_REFERENCES: Direction.REFERENCES,
    pb.DIRECTION_CITATIONS: Direction.CITATIONS,
}
_METHODS: dict[int, RecommendMethod] = {
    pb.RECOMMEND_METHOD_UNSPECIFIED: RecommendMethod.BOTH,
    pb.RECOMMEND_METHOD_CO_CITATION: RecommendMethod.CO_CITATION,
    pb.RECOMMEND_METHOD_COUPLING: RecommendMethod.COUPLING,
}


def _direction(value: int) -> Direction:
    try:
        return _DIRECTIONS[value]
    except KeyError:
        raise InvalidArgument(f"unknown direction {value}", field="direction") from None


def _paper(p: PaperInfo) -> pb.Paper:
    return pb.Paper(
        paper_id=p.paper_id,
        title=p.title,
        year=p.year,
        categories=list(p.categories),
        citation_count=p.citation_count,
        reference_count=p.reference_count,
    )


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _page_offset(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit():
        raise InvalidArgument(
            f"page_token {token!r} is not one this service returned", field="page_token"
        )
    return int(token)


def _or_default(value: int, default: int, name: str) -> int:
    if value < 0:
        raise InvalidArgument(f"{name} must not be negative, got {value}", field=name)
    return value or default


class CitationGraphServicer(graph_pb2_grpc.CitationGraphServicer):
    def __init__(self, graph: CitationGraph, *, durability: Durability | None = None) -> None:
        self.graph = graph
        self.durability = durability

    def _confirm(self) -> None:
        """Acknowledged = on disk (WAITAOF), when durable writes are on."""
        if self.durability is not None:
            self.durability.confirm()

    @handle_errors
    def AddCitations(
        self, request_iterator: Iterator[pb.AddCitationsRequest], context: grpc.ServicerContext
    ) -> pb.AddCitationsResponse:
        total = AddResult(graph_version=self.graph.version)
        skipped_count = 0
        batches = 0
        for request in request_iterator:
            check_deadline(context, "AddCitations")
            batches += 1
            result = self.graph.add(
                ((c.citing_id, c.cited_id) for c in request.citations),
                (
                    PaperAttributes(p.paper_id, p.title, p.year, tuple(p.categories))
                    for p in request.papers
                ),
            )
            total.edges_added += result.edges_added
            total.edges_existing += result.edges_existing
            total.nodes_added += result.nodes_added
            total.papers_updated += result.papers_updated
            total.graph_version = result.graph_version
            skipped_count += len(result.skipped)
            room = MAX_SKIPPED_REPORTED - len(total.skipped)
            total.skipped.extend(result.skipped[: max(room, 0)])
        span = trace.get_current_span()
        span.set_attribute("arxivqa.graph.edges_added", total.edges_added)
        span.set_attribute("arxivqa.graph.batches", batches)
        if skipped_count:
            log.info("AddCitations skipped %d items", skipped_count)
        if total.edges_added or total.nodes_added or total.papers_updated:
            self._confirm()
        return pb.AddCitationsResponse(
            edges_added=total.edges_added,
            edges_existing=total.edges_existing,
            nodes_added=total.nodes_added,
            papers_updated=total.papers_updated,
            skipped_count=skipped_count,
            skipped=[pb.SkippedItem(item=s.item, reason=s.reason) for s in total.skipped],
            graph_version=total.graph_version,
            batches=batches,
        )

    @handle_errors
    def RemovePaper(
        self, request: pb.RemovePaperRequest, context: grpc.ServicerContext
    ) -> pb.RemovePaperResponse:
        removed, version = self.graph.remove_paper(request.paper_id)
        if removed:
            self._confirm()
        return pb.RemovePaperResponse(edges_removed=removed, graph_version=version)

    @handle_errors
    def GetNeighbors(
        self, request: pb.GetNeighborsRequest, context: grpc.ServicerContext
    ) -> pb.GetNeighborsResponse:
        offset = _page_offset(request.page_token)
        size = _or_default(request.page_size, DEFAULT_PAGE_SIZE, "page_size")
        direction = _direction(request.direction)
        n = self.graph.neighbors(
            request.paper_id,
            direction,
            offset=offset,
            limit=0 if request.counts_only else size,
        )
        more = not request.counts_only and (
            (direction is not Direction.CITATIONS and offset + size < n.reference_total)
            or (direction is not Direction.REFERENCES and offset + size < n.citation_total)
        )
        return pb.GetNeighborsResponse(
            paper=_paper(n.paper),
            references=[_paper(p) for p in n.references],
            citations=[_paper(p) for p in n.citations],
            next_page_token=str(offset + size) if more else "",
        )

    @handle_errors
    def Rank(self, request: pb.RankRequest, context: grpc.ServicerContext) -> pb.RankResponse:
        k = _or_default(request.k, DEFAULT_K, "k")
        trace.get_current_span().set_attribute("arxivqa.graph.k", k)
        r = self.graph.rank(k, list(request.categories), request.year_min, request.year_max)
        return pb.RankResponse(
            results=[
                pb.RankedPaper(paper=_paper(x.paper), score=x.score, rank=x.rank) for x in r.results
            ],
            computed_at=_timestamp(r.computed_at),
            computed_at_version=r.computed_at_version,
            graph_version=r.graph_version,
            stale=r.stale,
            ranked_nodes=r.ranked_nodes,
            ranked_edges=r.ranked_edges,
            compute_seconds=r.compute_seconds,
            recomputed=r.recomputed,
        )

    @handle_errors
    def Recommend(
        self, request: pb.RecommendRequest, context: grpc.ServicerContext
    ) -> pb.RecommendResponse:
        k = _or_default(request.k, DEFAULT_K, "k")
        method = _METHODS.get(request.method)
        if method is None:
            raise InvalidArgument(f"unknown recommend method {request.method}", field="method")
        recs = self.graph.recommend(list(request.seed_ids), k, method)
        return pb.RecommendResponse(
            results=[
                pb.Recommendation(
                    paper=_paper(r.paper),
                    score=r.score,
                    reasons=[
                        pb.Reason(
                            seed_id=x.seed_id,
                            co_cited_by=x.co_cited_by,
                            co_citation_count=x.co_citation_count,
                            shared_references=x.shared_references,
                            shared_reference_count=x.shared_reference_count,
                        )
                        for x in r.reasons
                    ],
                )
                for r in recs
            ]
        )

    @handle_errors
    def ShortestPath(
        self, request: pb.ShortestPathRequest, context: grpc.ServicerContext
    ) -> pb.ShortestPathResponse:
        r = self.graph.shortest_path(
            request.source_id, request.target_id, undirected=request.undirected
        )
        return pb.ShortestPathResponse(
            found=r.found, path=[_paper(p) for p in r.path], length=r.length, message=r.message
        )

    @handle_errors
    def Subgraph(
        self, request: pb.SubgraphRequest, context: grpc.ServicerContext
    ) -> pb.SubgraphResponse:
        r = self.graph.subgraph(
            request.paper_id,
            depth=_or_default(request.depth, 1, "depth"),
            max_nodes=_or_default(request.max_nodes, DEFAULT_MAX_NODES, "max_nodes"),
            direction=_direction(request.direction),
        )
        return pb.SubgraphResponse(
            nodes=[
                pb.SubgraphNode(paper=_paper(p), depth=d, pagerank=r.pagerank.get(p.paper_id, 0.0))
                for p, d in r.nodes
            ],
            edges=[pb.Citation(citing_id=a, cited_id=b) for a, b in r.edges],
            truncated=r.truncated,
        )

    @handle_errors
    def GetStats(
        self, request: pb.GetStatsRequest, context: grpc.ServicerContext
    ) -> pb.GetStatsResponse:
        s = self.graph.stats()
        resp = pb.GetStatsResponse(
            nodes=s.nodes,
            edges=s.edges,
            components=s.components,
            largest_component=s.largest_component,
            density=s.density,
            graph_version=s.graph_version,
            papers_with_attributes=s.papers_with_attributes,
        )
        if s.last_pagerank_at is not None:
            resp.last_pagerank_at.CopyFrom(_timestamp(s.last_pagerank_at))
        return resp
