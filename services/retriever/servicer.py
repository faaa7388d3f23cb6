"""Protobuf <-> domain translation for arxivqa.retriever.v1.Retriever."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np

from arxivqa.retriever.v1 import retriever_pb2 as pb
from arxivqa.retriever.v1 import retriever_pb2_grpc
from services.common.errors import InvalidArgument
from services.common.grpc_errors import check_deadline, handle_errors
from services.common.redis_health import Durability
from services.retriever.index import RetrieverIndex
from services.retriever.query import DEFAULT_LIST_LIMIT, Filters, Mode, Target
from services.retriever.records import Hit, PaperRecord, PassageRecord, Source

_MODES = {
    pb.SEARCH_MODE_VECTOR: Mode.VECTOR,
    pb.SEARCH_MODE_TEXT: Mode.TEXT,
    pb.SEARCH_MODE_HYBRID: Mode.HYBRID,
}
_TARGETS = {
    pb.SEARCH_TARGET_UNSPECIFIED: Target.PAPERS,
    pb.SEARCH_TARGET_PAPERS: Target.PAPERS,
    pb.SEARCH_TARGET_PASSAGES: Target.PASSAGES,
}
_KINDS = {"paper": pb.RECORD_KIND_PAPER, "passage": pb.RECORD_KIND_PASSAGE}
_SOURCES = {
    Source.FULL_TEXT: pb.PASSAGE_SOURCE_FULL_TEXT,
    Source.ABSTRACT: pb.PASSAGE_SOURCE_ABSTRACT,
}
DEFAULT_K = 10


def _vector(values: object) -> np.ndarray | None:
    arr = np.asarray(values, dtype=np.float32)
    return arr if arr.size else None


def _filters(f: pb.Filters) -> Filters:
    return Filters(
        categories=tuple(f.categories),
        authors=tuple(f.authors),
        year_min=f.year_min or None,
        year_max=f.year_max or None,
    )


def _paper(p: pb.Paper) -> PaperRecord:
    return PaperRecord(
        id=p.id,
        title=p.title,
        abstract=p.abstract,
        authors=list(p.authors),
        categories=list(p.categories),
        year=p.year or None,
        update_date=p.update_date or None,
        vector=_vector(p.vector),
    )


def _passage(p: pb.Passage) -> PassageRecord:
    return PassageRecord(
        paper_id=p.paper_id,
        ordinal=p.ordinal,
        text=p.text,
        section=p.section,
        vector=_vector(p.vector),
    )


def _hit(h: Hit) -> pb.Hit:
    return pb.Hit(
        id=h.id,
        paper_id=h.paper_id,
        ordinal=h.ordinal,
        section=h.section,
        title=h.title,
        text=h.text,
        authors=h.authors,
        categories=h.categories,
        year=h.year or 0,
        score=h.score,
        vector=pb.ModeResult(rank=h.vector_rank, score=h.vector_score),
        text_match=pb.ModeResult(rank=h.text_rank, score=h.text_score),
    )


def _page(k: int, offset: int) -> tuple[int, int]:
    return (k or DEFAULT_K), offset


class RetrieverServicer(retriever_pb2_grpc.RetrieverServicer):
    def __init__(self, index: RetrieverIndex, *, durability: Durability | None = None) -> None:
        self.index = index
        self.durability = durability

    @handle_errors
    def Upsert(
        self, request_iterator: Iterator[pb.UpsertRequest], context: grpc.ServicerContext
    ) -> pb.UpsertResponse:
        session = self.index.writer()
        for request in request_iterator:
            check_deadline(context, "the upsert")
            session.add(
                papers=[_paper(p) for p in request.papers],
                passages=[_passage(p) for p in request.passages],
            )
        result = session.finish()
        if self.durability is not None and (result.papers_written or result.passages_written):
            # Acknowledged = on disk: a Redis killed after this answer loses none of it.
            self.durability.confirm()
        return pb.UpsertResponse(
            papers_written=result.papers_written,
            passages_written=result.passages_written,
            errors=[
                pb.RecordError(
                    kind=_KINDS[e.kind],
                    index=e.index,
                    id=e.id,
                    code=e.error.grpc_status,
                    message=e.message,
                )
                for e in result.errors
            ],
        )

    @handle_errors
    def GetPapers(
        self, request: pb.GetPapersRequest, context: grpc.ServicerContext
    ) -> pb.GetPapersResponse:
        found = self.index.get_papers(list(request.ids), include_vectors=request.include_vectors)
        papers = [
            pb.Paper(
                id=p.id,
                title=p.title,
                abstract=p.abstract,
                authors=p.authors,
                categories=p.categories,
                year=p.year or 0,
                update_date=p.update_date or "",
                vector=p.vector.tolist() if p.vector is not None else [],
            )
            for p in found.papers
        ]
        return pb.GetPapersResponse(
            papers=papers, passage_counts=found.passage_counts, missing_ids=found.missing
        )

    @handle_errors
    def DeletePapers(
        self, request: pb.DeletePapersRequest, context: grpc.ServicerContext
    ) -> pb.DeletePapersResponse:
        papers, passages = self.index.delete_papers(list(request.ids))
        if self.durability is not None and (papers or passages):
            self.durability.confirm()
        return pb.DeletePapersResponse(papers_deleted=papers, passages_deleted=passages)

    @handle_errors
    def GetStats(
        self, request: pb.GetStatsRequest, context: grpc.ServicerContext
    ) -> pb.GetStatsResponse:
        s = self.index.stats()
        cfg = self.index.config
        return pb.GetStatsResponse(
            papers=s.papers,
            passages=s.passages,
            index_bytes=s.index_bytes,
            redis_used_memory_bytes=s.redis_used_memory_bytes,
            dimension=cfg.dim,
            papers_index=cfg.papers_index,
            passages_index=cfg.passages_index,
            index_failures=s.index_failures,
        )

    @handle_errors
    def Search(self, request: pb.SearchRequest, context: grpc.ServicerContext) -> pb.SearchResponse:
        mode = _MODES.get(request.mode)
        if mode is None:
            raise InvalidArgument("mode must be SEARCH_MODE_VECTOR, _TEXT or _HYBRID")
        target = _TARGETS.get(request.target)
        if target is None:
            raise InvalidArgument(f"unknown target {request.target}")
        k, offset = _page(request.k, request.offset)
        check_deadline(context, "the search")
        result = self.index.search(
            mode,
            text=request.query_text,
            vector=_vector(request.query_vector),
            target=target,
            filters=_filters(request.filters),
            k=k,
            offset=offset,
        )
        return pb.SearchResponse(hits=[_hit(h) for h in result.hits], total=result.total)

    @handle_errors
    def SimilarPapers(
        self, request: pb.SimilarPapersRequest, context: grpc.ServicerContext
    ) -> pb.SimilarPapersResponse:
        k, offset = _page(request.k, request.offset)
        hits = self.index.similar_papers(
            request.paper_id, k=k, offset=offset, filters=_filters(request.filters)
        )
        return pb.SimilarPapersResponse(hits=[_hit(h) for h in hits])

    @handle_errors
    def RetrievePassages(
        self, request: pb.RetrievePassagesRequest, context: grpc.ServicerContext
    ) -> pb.RetrievePassagesResponse:
        check_deadline(context, "the passage retrieval")
        found = self.index.retrieve_passages(
            text=request.query_text,
            vector=_vector(request.query_vector),
            filters=_filters(request.filters),
            k=request.k or DEFAULT_K,
        )
        return pb.RetrievePassagesResponse(
            passages=[
                pb.RetrievedPassage(hit=_hit(p.hit), source=_SOURCES[p.source]) for p in found
            ]
        )

    @handle_errors
    def ListPassages(
        self, request: pb.ListPassagesRequest, context: grpc.ServicerContext
    ) -> pb.ListPassagesResponse:
        page = self.index.list_passages(
            request.paper_id, limit=request.limit or DEFAULT_LIST_LIMIT, offset=request.offset
        )
        return pb.ListPassagesResponse(
            passages=[
                pb.Passage(paper_id=p.paper_id, ordinal=p.ordinal, section=p.section, text=p.text)
                for p in page.passages
            ],
            total=page.total,
        )
