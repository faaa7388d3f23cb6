"""The gateway's composition core: plain Python over the services' stubs, no server code.

Both front doors (the gRPC servicer and the HTTP bridge) call :class:`Gateway`; it
calls the embedder, retriever, qa and graph services with deadlines taken from the
caller's :class:`~gateway.clients.Budget`. Its input and output types are the models of
:mod:`gateway.schema`, whose constraints validate the input (the HTTP bridge serves them
as they are; the servicer maps them to and from protobuf).

Degrades instead of failing: with qa down, ``ask`` returns the passages and a note; with
graph down, ``get_paper`` returns metadata without counts; graph answers are enriched with
retriever metadata only when the retriever can give it.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from opentelemetry import trace
from pydantic import BaseModel

from arxivqa.graph.v1 import graph_pb2
from arxivqa.qa.v1 import qa_pb2
from arxivqa.retriever.v1 import retriever_pb2
from gateway import schema
from gateway.clients import Budget, Clients, NotConfigured
from gateway.schema import (
    DEFAULT_ANSWERS,
    DEFAULT_K,
    DEFAULT_PASSAGE_PAGE,
    DEFAULT_PASSAGES,
    Answer,
    AskRequest,
    AskResult,
    CitationPathRequest,
    Edge,
    Filters,
    GetPaperRequest,
    IngestError,
    IngestRequest,
    IngestResult,
    ListPassagesRequest,
    Mode,
    Node,
    Paper,
    PaperDetail,
    Passage,
    PassagePage,
    PathResult,
    RankedPaper,
    RankRequest,
    RankResult,
    Reason,
    Recommendation,
    RecommendRequest,
    SearchHit,
    SearchRequest,
    SearchResult,
    SimilarPapersRequest,
    SubgraphRequest,
    SubgraphResult,
)
from services.common import arxiv, errors

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)

MODES: dict[str, retriever_pb2.SearchMode] = {
    "vector": retriever_pb2.SEARCH_MODE_VECTOR,
    "text": retriever_pb2.SEARCH_MODE_TEXT,
    "hybrid": retriever_pb2.SEARCH_MODE_HYBRID,
}
# Texts are cut before embedding: the model reads 256 tokens at most (~1,500 characters).
EMBED_CHARS = 2000
#: Query vectors kept per gateway process (384 floats each: ~3 KiB as Python floats).
QUERY_CACHE_SIZE = 1024


# -- helpers ------------------------------------------------------------------------------------
_SOURCES: dict[int, Literal["full_text", "abstract"]] = {
    retriever_pb2.PASSAGE_SOURCE_FULL_TEXT: "full_text",
    retriever_pb2.PASSAGE_SOURCE_ABSTRACT: "abstract",
}


def arxiv_url(paper_id: str) -> str:
    return f"https://arxiv.org/abs/{paper_id}" if paper_id else ""


def _paper_from_retriever(p: Any) -> Paper:
    return Paper(
        id=p.id,
        title=p.title,
        abstract=p.abstract,
        authors=list(p.authors),
        categories=list(p.categories),
        year=p.year or None,
        update_date=p.update_date or None,
        url=arxiv_url(p.id),
    )


def _paper_from_hit(h: Any) -> Paper:
    return Paper(
        id=h.paper_id or h.id,
        title=h.title,
        abstract=h.text,
        authors=list(h.authors),
        categories=list(h.categories),
        year=h.year or None,
        url=arxiv_url(h.paper_id or h.id),
    )


def _paper_from_graph(p: Any) -> Paper:
    return Paper(
        id=p.paper_id,
        title=p.title,
        categories=list(p.categories),
        year=p.year or None,
        url=arxiv_url(p.paper_id),
    )


def _request(model: type[R], request: R | str, first: str, fields: dict[str, Any]) -> R:
    """``request`` as it is, or ``model`` validated from a text (its field ``first``) and
    keyword fields (None = the default): ``search("q", k=5, ...)`` for Python callers."""
    if isinstance(request, model):
        return request
    given = {name: value for name, value in fields.items() if value is not None}
    return schema.validated(model, {first: request, **given})


def _error(
    kind: Literal["record", "fulltext", "citation"], index: int, id: str, message: str
) -> IngestError:
    return IngestError(kind=kind, index=index, id=id, message=message)


def _filters_pb(f: Filters | None) -> retriever_pb2.Filters:
    f = f or Filters()
    if f.year_from and f.year_to and f.year_from > f.year_to:
        raise errors.InvalidArgument(
            f"filters.year_from ({f.year_from}) is after filters.year_to ({f.year_to})"
        )
    return retriever_pb2.Filters(
        categories=[c.strip() for c in f.categories if c.strip()],
        authors=[a.strip() for a in f.authors if a.strip()],
        year_min=f.year_from or 0,
        year_max=f.year_to or 0,
    )


def _reason_text(r: Reason, titles: dict[str, str]) -> str:
    seed = titles.get(r.seed_id) or r.seed_id
    parts = []
    if r.co_citation_count:
        parts.append(f"cited together with '{seed}' by {r.co_citation_count} paper(s)")
    if r.shared_reference_count:
        parts.append(f"shares {r.shared_reference_count} reference(s) with '{seed}'")
    return "; ".join(parts) or f"related to '{seed}'"


def _embed_text(p: arxiv.Paper) -> str:
    text = f"{p.title}. {p.abstract}" if p.abstract else p.title
    return text[:EMBED_CHARS]


class QueryVectorCache:
    """Query text -> its vector, least recently used first out; thread-safe, per process.

    Researchers repeat queries (paging, refining filters, the same question asked again);
    a hit skips the embedder call. ``capacity`` 0 turns the cache off. ``stats()`` gives
    the hit and miss counts; they are also logged at most once a minute.
    """

    def __init__(self, capacity: int = QUERY_CACHE_SIZE, *, log_every: float = 60.0) -> None:
        if capacity < 0:
            raise errors.InvalidArgument(f"query cache capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._log_every = log_every
        self._logged = time.monotonic()

    def get(self, text: str) -> tuple[float, ...] | None:
        with self._lock:
            vector = self._items.get(text)
            if vector is None:
                self.misses += 1
            else:
                self.hits += 1
                self._items.move_to_end(text)
            due = time.monotonic() - self._logged >= self._log_every
            if due:
                self._logged = time.monotonic()
        if due:
            log.info("query vector cache", extra=self.stats())
        return vector

    def put(self, text: str, vector: Sequence[float]) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            self._items[text] = tuple(vector)
            self._items.move_to_end(text)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "size": len(self._items),
                "capacity": self.capacity,
            }

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Gateway:
    """The operations of ``arxivqa.gateway.v1.Gateway``, as plain Python.

    ``query_cache_size``: query vectors kept (0 = no cache). ``fanout_workers``: threads
    that run a request's independent downstream calls side by side (an ingest's embedder
    batches).
    """

    def __init__(
        self,
        clients: Clients,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        embed_batch_size: int = 64,
        query_cache_size: int = QUERY_CACHE_SIZE,
        fanout_workers: int = 32,
    ) -> None:
        self.clients = clients
        self.embed_batch_size = embed_batch_size
        self.query_cache = QueryVectorCache(query_cache_size)
        self._tracer = trace.get_tracer("gateway", tracer_provider=tracer_provider)
        self._fanout = ThreadPoolExecutor(fanout_workers, thread_name_prefix="gateway-fanout")

    def _in_background(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the fan-out pool with the caller's context (its trace span)."""
        return self._fanout.submit(contextvars.copy_context().run, fn)

    def close(self) -> None:
        self._fanout.shutdown(wait=False)

    # -- building blocks -------------------------------------------------------------------
    def _embed(self, texts: Sequence[str], budget: Budget) -> list[list[float]]:
        """Vectors in order; texts go in ``embed_batch_size`` chunks, all sent at once, so
        the embedder always has the next chunk queued (its batcher keeps them apart)."""

        def call(chunk: list[str]) -> list[list[float]]:
            return self.clients.embedder.embed(chunk, budget=budget)

        chunks = [
            [t[:EMBED_CHARS] for t in texts[start : start + self.embed_batch_size]]
            for start in range(0, len(texts), self.embed_batch_size)
        ]
        if len(chunks) <= 1:
            return call(chunks[0]) if chunks else []
        futures = [self._in_background(functools.partial(call, c)) for c in chunks[1:]]
        try:
            out = call(chunks[0])
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        for f in futures:
            out.extend(f.result())
        return out

    def _query_vector(self, text: str, budget: Budget) -> Sequence[float]:
        """The vector of a query or question: from the cache, else from the embedder."""
        key = text[:EMBED_CHARS]
        vector = self.query_cache.get(key)
        trace.get_current_span().set_attribute(
            "arxivqa.gateway.query_cache", "miss" if vector is None else "hit"
        )
        if vector is None:
            vector = tuple(self._embed([key], budget)[0])
            self.query_cache.put(key, vector)
        return vector

    def _search(
        self,
        text: str,
        mode: Mode,
        target: retriever_pb2.SearchTarget,
        filters: Filters | None,
        k: int,
        offset: int,
        budget: Budget,
    ) -> Any:
        vector: Sequence[float] = ()
        if mode in ("vector", "hybrid"):
            vector = self._query_vector(text, budget)
        return self.clients.retriever.search(
            mode=MODES[mode],
            target=target,
            query_text=text,
            query_vector=vector,
            filters=_filters_pb(filters),
            k=k,
            offset=offset,
            budget=budget,
        )

    def _papers(self, ids: Sequence[str], budget: Budget) -> dict[str, Paper]:
        """Retriever metadata for the ids it stores; best effort (an outage gives {})."""
        unique = list(dict.fromkeys(i for i in ids if i))
        if not unique or not self.clients.retriever.configured:
            return {}
        try:
            found, _missing = self.clients.retriever.get_papers(unique, budget=budget)
        except errors.Unavailable as exc:
            log.warning("paper metadata unavailable: %s", exc)
            return {}
        return {p.id: _paper_from_retriever(p) for p in found}

    # -- operations --------------------------------------------------------------------------
    def search(
        self, request: SearchRequest | str, *, budget: Budget, **fields: Any
    ) -> SearchResult:
        """Papers for a query; ``search("q", mode="text", k=5, budget=...)`` also works."""
        req = _request(SearchRequest, request, "query", fields)
        mode, k = req.mode, req.k or DEFAULT_K
        with self._tracer.start_as_current_span("gateway.Search") as span:
            span.set_attribute("arxivqa.gateway.mode", mode)
            span.set_attribute("arxivqa.gateway.k", k)
            resp = self._search(
                req.query,
                mode,
                retriever_pb2.SEARCH_TARGET_PAPERS,
                req.filters,
                k,
                req.offset,
                budget,
            )
        hits = [
            SearchHit(
                paper=_paper_from_hit(h),
                score=h.score,
                vector_rank=h.vector.rank,
                vector_score=h.vector.score,
                text_rank=h.text_match.rank,
                text_score=h.text_match.score,
            )
            for h in resp.hits
        ]
        return SearchResult(hits=hits, mode=mode, total=resp.total)

    def ask(self, request: AskRequest | str, *, budget: Budget, **fields: Any) -> AskResult:
        """Answers to a question; ``ask("why?", passages=3, budget=...)`` also works."""
        req = _request(AskRequest, request, "question", fields)
        question = req.question
        n = req.passages or DEFAULT_PASSAGES
        top_k = req.top_k or DEFAULT_ANSWERS
        with self._tracer.start_as_current_span("gateway.Ask") as span:
            span.set_attribute("arxivqa.gateway.passages", n)
            read = self._passages_for(question, req.filters, n, budget)
            span.set_attribute("arxivqa.gateway.passages_found", len(read))
            if not read:
                return AskResult(
                    answers=[], passages=[], answers_available=True, note="no passages matched"
                )
            try:
                resp = self.clients.qa.answer(
                    question,
                    [qa_pb2.Passage(id=p.id, paper_id=p.paper_id, text=p.text) for p in read],
                    top_k=top_k,
                    # the reader abstains when no span beats its no-answer score by the
                    # margin it was calibrated with: "no answer in these passages" rather
                    # than a confident wrong span
                    allow_no_answer=True,
                    budget=budget,
                )
            except (errors.Unavailable, errors.DeadlineExceeded) as exc:
                why = (
                    "qa is not configured"
                    if isinstance(exc, NotConfigured)
                    else f"the qa service did not answer ({exc})"
                )
                span.set_attribute("arxivqa.gateway.degraded", True)
                log.warning("ask degraded: %s", why)
                return AskResult(
                    answers=[],
                    passages=read,
                    answers_available=False,
                    note=f"answers are unavailable: {why}; the passages below are the best "
                    "matches for the question",
                )
            papers = self._papers([a.paper_id for a in resp.answers], budget)
            answers = [
                Answer(
                    text=a.text,
                    score=a.score,
                    paper=papers.get(a.paper_id) or Paper(id=a.paper_id, url=arxiv_url(a.paper_id)),
                    evidence=a.evidence,
                    passage_id=a.passage_id,
                    start=a.start,
                    end=a.end,
                )
                for a in resp.answers
            ]
            note = "" if answers else "no answer in these passages"
            return AskResult(answers=answers, passages=read, answers_available=True, note=note)

    def _passages_for(
        self, question: str, filters: Filters | None, n: int, budget: Budget
    ) -> list[Passage]:
        """The n best passages, as the retriever ranks them (RetrievePassages): full-text
        paragraphs, and the abstracts of papers without them."""
        resp = self.clients.retriever.retrieve_passages(
            query_text=question,
            query_vector=self._query_vector(question, budget),
            filters=_filters_pb(filters),
            k=n,
            budget=budget,
        )
        return [
            Passage(
                id=p.hit.id,
                paper_id=p.hit.paper_id,
                text=p.hit.text,
                section=p.hit.section,
                ordinal=p.hit.ordinal,
                score=p.hit.score,
                source=_SOURCES[p.source],
            )
            for p in resp.passages
        ]

    def get_paper(self, req: GetPaperRequest, *, budget: Budget) -> PaperDetail:
        paper_id = req.id
        with self._tracer.start_as_current_span("gateway.GetPaper"):
            found, missing = self.clients.retriever.get_papers([paper_id], budget=budget)
            if missing or not found:
                raise errors.NotFound(f"paper {paper_id} not found")
            paper = _paper_from_retriever(found[0])
            try:
                n = self.clients.graph.neighbor_counts(paper_id, budget=budget)
            except errors.NotFound:
                return PaperDetail(
                    paper=paper, citation_count=0, reference_count=0, citations_available=True
                )
            except (errors.Unavailable, errors.DeadlineExceeded, errors.InvalidArgument) as exc:
                log.warning("get_paper without counts: %s", exc)
                return PaperDetail(
                    paper=paper,
                    citation_count=None,
                    reference_count=None,
                    citations_available=False,
                    note=f"citation counts are unavailable: {exc}",
                )
            return PaperDetail(
                paper=paper,
                citation_count=n.paper.citation_count,
                reference_count=n.paper.reference_count,
                citations_available=True,
            )

    def paper_passages(self, req: ListPassagesRequest, *, budget: Budget) -> PassagePage:
        """A stored paper's full-text passages in order, ``limit`` from ``offset``."""
        paper_id, offset = req.id, req.offset
        limit = req.limit or DEFAULT_PASSAGE_PAGE
        with self._tracer.start_as_current_span("gateway.PaperPassages"):
            try:
                resp = self.clients.retriever.list_passages(
                    paper_id, limit=limit, offset=offset, budget=budget
                )
            except errors.NotFound:
                raise errors.NotFound(f"paper {paper_id} not found") from None
        passages = [
            Passage(
                id=f"{p.paper_id}#{p.ordinal}",
                paper_id=p.paper_id,
                text=p.text,
                section=p.section,
                ordinal=p.ordinal,
            )
            for p in resp.passages
        ]
        return PassagePage(
            paper_id=paper_id, passages=passages, total=resp.total, offset=offset, limit=limit
        )

    def similar_papers(self, req: SimilarPapersRequest, *, budget: Budget) -> list[SearchHit]:
        resp = self.clients.retriever.similar_papers(
            req.id, k=req.k or DEFAULT_K, filters=_filters_pb(req.filters), budget=budget
        )
        return [
            SearchHit(paper=_paper_from_hit(h), score=h.score, vector_rank=i, vector_score=h.score)
            for i, h in enumerate(resp.hits, start=1)
        ]

    def _enrich(self, papers: list[Paper], budget: Budget) -> list[Paper]:
        meta = self._papers([p.id for p in papers], budget)
        return [meta.get(p.id, p) for p in papers]

    def recommend(self, req: RecommendRequest, *, budget: Budget) -> list[Recommendation]:
        seeds, k = req.seed_ids, req.k or DEFAULT_K
        resp = self.clients.graph.recommend(seeds, k=k, budget=budget)
        papers = self._enrich([_paper_from_graph(r.paper) for r in resp.results], budget)
        titles = {p.id: p.title for p in self._papers(seeds, budget).values()}
        out = []
        for r, paper in zip(resp.results, papers, strict=True):
            reasons = []
            for g in r.reasons:
                reason = Reason(
                    seed_id=g.seed_id,
                    co_cited_by=list(g.co_cited_by),
                    co_citation_count=g.co_citation_count,
                    shared_references=list(g.shared_references),
                    shared_reference_count=g.shared_reference_count,
                    text="",
                )
                reason.text = _reason_text(reason, titles)
                reasons.append(reason)
            out.append(
                Recommendation(
                    paper=paper,
                    score=r.score,
                    reasons=reasons,
                    citation_count=r.paper.citation_count,
                )
            )
        return out

    def citation_path(self, req: CitationPathRequest, *, budget: Budget) -> PathResult:
        resp = self.clients.graph.shortest_path(
            req.from_id, req.to_id, undirected=req.undirected, budget=budget
        )
        path = self._enrich([_paper_from_graph(p) for p in resp.path], budget)
        return PathResult(found=resp.found, path=path, note=resp.message)

    def subgraph(self, req: SubgraphRequest, *, budget: Budget) -> SubgraphResult:
        paper_id = req.id
        resp = self.clients.graph.subgraph(
            paper_id, depth=req.depth, max_nodes=req.max_nodes, budget=budget
        )
        nodes = [
            Node(
                id=n.paper.paper_id,
                title=n.paper.title,
                year=n.paper.year or None,
                categories=list(n.paper.categories),
                depth=n.depth,
                citation_count=n.paper.citation_count,
                pagerank=n.pagerank,
            )
            for n in resp.nodes
        ]
        edges = [Edge(citing_id=e.citing_id, cited_id=e.cited_id) for e in resp.edges]
        return SubgraphResult(
            center_id=paper_id, nodes=nodes, edges=edges, truncated=resp.truncated
        )

    def rank(self, req: RankRequest, *, budget: Budget) -> RankResult:
        k = req.k or DEFAULT_K
        fpb = _filters_pb(req.filters)
        resp = self.clients.graph.rank(
            k=k,
            categories=fpb.categories,
            year_min=fpb.year_min,
            year_max=fpb.year_max,
            budget=budget,
        )
        papers = self._enrich([_paper_from_graph(r.paper) for r in resp.results], budget)
        computed = (
            resp.computed_at.ToDatetime().strftime("%Y-%m-%dT%H:%M:%SZ")
            if resp.HasField("computed_at")
            else ""
        )
        return RankResult(
            papers=[
                RankedPaper(
                    paper=p, score=r.score, rank=r.rank, citation_count=r.paper.citation_count
                )
                for r, p in zip(resp.results, papers, strict=True)
            ],
            computed_at=computed,
            stale=resp.stale,
        )

    # -- ingestion -------------------------------------------------------------------------------
    def ingest(self, batch: IngestRequest, *, budget: Budget) -> IngestResult:
        """Parse, embed and store one batch; per-record problems are reported, not raised.

        A dependency outage fails the whole batch (UNAVAILABLE), so a client that
        checkpoints after each acknowledged batch can resume; writes are idempotent.
        """
        result = IngestResult(batch_id=batch.batch_id)
        with self._tracer.start_as_current_span("gateway.Ingest") as span:
            if batch.delete_ids:
                self._delete(batch.delete_ids, result, budget)
            papers: list[arxiv.Paper] = []
            paper_index: list[int] = []
            for i, rec in enumerate(batch.records):
                parsed = arxiv.parse_paper(rec, i)
                if isinstance(parsed, arxiv.RecordError):
                    result.errors.append(_error("record", i, parsed.id or "", parsed.message))
                else:
                    papers.append(parsed)
                    paper_index.append(i)
            passages: list[arxiv.Passage] = []
            passage_index: list[int] = []
            for i, ft in enumerate(batch.fulltexts):
                paragraphs = [p.model_dump() for p in ft.paragraphs]
                got = arxiv.parse_fulltext({"id": ft.paper_id, "paragraphs": paragraphs}, i)
                if isinstance(got, arxiv.RecordError):
                    result.errors.append(_error("fulltext", i, got.id or "", got.message))
                    continue
                passages.extend(got)
                passage_index.extend([i] * len(got))
            span.set_attribute("arxivqa.gateway.papers", len(papers))
            span.set_attribute("arxivqa.gateway.passages", len(passages))
            if papers or passages:
                self._upsert(papers, paper_index, passages, passage_index, result, budget)
            if batch.citations or papers:
                self._add_citations(batch, papers, paper_index, result, budget)
        return result

    def _delete(self, ids: Sequence[str], result: IngestResult, budget: Budget) -> None:
        """Delete papers and their passages one by one; an unknown id is not an error."""
        for pid in dict.fromkeys(i.strip() for i in ids if i and i.strip()):
            try:
                result.papers_deleted += self.clients.retriever.delete_papers([pid], budget=budget)
            except errors.NotFound:
                continue

    def _upsert(
        self,
        papers: list[arxiv.Paper],
        paper_index: list[int],
        passages: list[arxiv.Passage],
        passage_index: list[int],
        result: IngestResult,
        budget: Budget,
    ) -> None:
        # one call for both kinds, so their chunks reach the embedder back to back
        vectors = self._embed([_embed_text(p) for p in papers] + [p.text for p in passages], budget)
        paper_vecs, passage_vecs = vectors[: len(papers)], vectors[len(papers) :]

        def requests() -> Iterator[retriever_pb2.UpsertRequest]:
            step = 256
            for s in range(0, len(papers), step):
                yield retriever_pb2.UpsertRequest(
                    papers=[
                        retriever_pb2.Paper(
                            id=p.id,
                            title=p.title,
                            abstract=p.abstract,
                            authors=p.authors,
                            categories=p.categories,
                            year=p.year or 0,
                            update_date=p.update_date or "",
                            vector=v,
                        )
                        for p, v in zip(papers[s : s + step], paper_vecs[s : s + step], strict=True)
                    ]
                )
            for s in range(0, len(passages), step):
                yield retriever_pb2.UpsertRequest(
                    passages=[
                        retriever_pb2.Passage(
                            paper_id=p.paper_id,
                            ordinal=p.ordinal,
                            section=p.section,
                            text=p.text,
                            vector=v,
                        )
                        for p, v in zip(
                            passages[s : s + step], passage_vecs[s : s + step], strict=True
                        )
                    ]
                )

        resp = self.clients.retriever.upsert(requests(), budget=budget)
        result.papers_written += resp.papers_written
        result.passages_written += resp.passages_written
        for e in resp.errors:
            if e.kind == retriever_pb2.RECORD_KIND_PASSAGE:
                idx = passage_index[e.index] if 0 <= e.index < len(passage_index) else -1
                result.errors.append(_error("fulltext", idx, e.id, e.message))
            else:
                idx = paper_index[e.index] if 0 <= e.index < len(paper_index) else -1
                result.errors.append(_error("record", idx, e.id, e.message))

    def _add_citations(
        self,
        batch: IngestRequest,
        papers: list[arxiv.Paper],
        paper_index: list[int],
        result: IngestResult,
        budget: Budget,
    ) -> None:
        if not self.clients.graph.configured:
            for i, c in enumerate(batch.citations):
                result.errors.append(
                    _error(
                        "citation",
                        i,
                        f"{c.citing_id} -> {c.cited_id}",
                        "graph is not configured; skipped",
                    )
                )
            return
        attrs = [
            graph_pb2.PaperAttributes(
                paper_id=p.id, title=p.title, year=p.year or 0, categories=p.categories
            )
            for p in papers
        ]
        cites = [
            graph_pb2.Citation(citing_id=c.citing_id, cited_id=c.cited_id) for c in batch.citations
        ]

        def requests() -> Iterator[graph_pb2.AddCitationsRequest]:
            step = 5000
            for s in range(0, max(len(cites), len(attrs)), step):
                yield graph_pb2.AddCitationsRequest(
                    citations=cites[s : s + step], papers=attrs[s : s + step]
                )

        resp = self.clients.graph.add_citations(requests(), budget=budget)
        result.citations_added += resp.edges_added
        positions = {f"{c.citing_id} -> {c.cited_id}": i for i, c in enumerate(batch.citations)}
        records = {p.id: i for p, i in zip(papers, paper_index, strict=True)}
        for s in resp.skipped:
            if s.item in positions:
                result.errors.append(_error("citation", positions[s.item], s.item, s.reason))
            else:
                idx = records.get(s.item, -1)
                result.errors.append(_error("record", idx, s.item, f"graph: {s.reason}"))
