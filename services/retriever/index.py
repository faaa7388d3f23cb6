"""Papers and passages in Redis, searched with the Redis Search module. No gRPC here.

Storage: one hash per paper (``arxivqa:paper:v1:<id>``) and per passage
(``arxivqa:passage:v1:<paper_id>#<ordinal>``), plus a set per paper listing its passage
keys (``arxivqa:paper-passages:v1:<id>``) so that deleting a paper deletes its passages.
Vectors are little-endian FLOAT32 bytes. Two Search indexes (versioned names
``arxivqa:papers:v1`` and ``arxivqa:passages:v1``) are created idempotently: TEXT fields
with weights (BM25), TAG fields for categories/authors/ids, NUMERIC year, and an HNSW
vector field (COSINE, dimension from the configuration).

Search modes: VECTOR (KNN), TEXT (BM25) and HYBRID (both lists fused with reciprocal rank
fusion, ``score = sum 1 / (rrf_k + rank)``, :mod:`.fusion`). User text never reaches the
query language raw (:mod:`.query`). The configuration is :mod:`.config`, the records
:mod:`.records`, the index definitions :mod:`.schema`, reply parsing :mod:`.resp`,
streamed writes :mod:`.upsert`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import redis
from opentelemetry import trace

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.retriever import resp
from services.retriever.config import IndexConfig
from services.retriever.fusion import check_rrf_k, fuse_rrf, merge_by_score
from services.retriever.query import (
    DEFAULT_LIST_LIMIT,
    Filters,
    Mode,
    Target,
    bm25_query,
    check_list_page,
    check_page,
    check_query_text,
    exclude_paper_clause,
    filter_clause,
    knn_query,
    query_terms,
)
from services.retriever.records import (
    ABSTRACT_SECTION,
    FoundPapers,
    Hit,
    PaperRecord,
    PassagePage,
    PassageRecord,
    RetrievedPassage,
    SearchResult,
    Source,
    Stats,
    UpsertResult,
    check_id,
    vector_bytes,
)
from services.retriever.schema import paper_schema, passage_schema
from services.retriever.upsert import UpsertSession

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetrieverIndex:
    """Storage and search over one Redis. Light constructor; ``warm_up()`` connects.

    Thread-safe: redis-py's connection pool hands each thread its own connection.
    """

    def __init__(
        self,
        redis_url: str,
        config: IndexConfig | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        socket_timeout: float = 10.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.config = config or IndexConfig()
        self.redis_url = redis_url
        self._client = redis.Redis.from_url(
            redis_url,
            protocol=2,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            health_check_interval=30,
        )
        # Client spans for Redis calls are made here (see ``_exec``), not with
        # opentelemetry-instrumentation-redis: its FT.SEARCH hook copies every returned
        # document (vectors and abstracts included) into span attributes and breaks on
        # WITHSCORES replies.
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        kw = self._client.connection_pool.connection_kwargs
        self._db_attrs: dict[str, str | int] = {
            "db.system": "redis",
            "server.address": str(kw.get("host", "")),
            "server.port": int(kw.get("port", 0) or 0),
            "db.namespace": str(kw.get("db", 0)),
        }
        self._lock = threading.Lock()
        self._indexes_ok = False

    @property
    def client(self) -> redis.Redis:
        return self._client

    def close(self) -> None:
        self._client.close()

    # -- lifecycle ---------------------------------------------------------------------------
    def warm_up(self, wait_seconds: float = 30.0) -> None:
        """Wait for Redis (up to ``wait_seconds``), check the Search module, create indexes."""
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                self._client.ping()
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                if time.monotonic() >= deadline:
                    raise Unavailable(
                        f"Redis at {self._where()} did not answer within {wait_seconds:g} s "
                        f"({exc}); start it (the project's LocalRedis, or Redis Stack / "
                        "Redis 8) or point REDIS_URL at one"
                    ) from exc
                time.sleep(0.2)
        with self._redis_errors():
            self._check_search_module()
            self.ensure_indexes()

    def _where(self) -> str:
        kw = self._client.connection_pool.connection_kwargs
        return f"{kw.get('host', '?')}:{kw.get('port', '?')}"

    def _check_search_module(self) -> None:
        modules = self._exec("MODULE", "LIST")
        names = resp.module_names(modules)
        if "search" not in names and "ft" not in names:
            raise FailedPrecondition(
                f"Redis at {self._where()} has no Search module (MODULE LIST: "
                f"{sorted(names) or 'none'}): use Redis Stack 7.2+ or Redis 8, or run "
                "'make setup' and let the project start its own Redis (redis_server.LocalRedis)"
            )

    def ensure_indexes(self) -> None:
        """Create both indexes if absent; an existing one of another dimension is an error."""
        cfg = self.config
        with self._lock:
            self._ensure(cfg.papers_index, cfg.paper_prefix, paper_schema(cfg))
            self._ensure(cfg.passages_index, cfg.passage_prefix, passage_schema(cfg))
            self._indexes_ok = True

    def _ensure(self, name: str, prefix: str, schema: list[Any]) -> None:
        try:
            info = resp.info(self._exec("FT.INFO", name))
        except redis.ResponseError as exc:
            if not resp.is_missing_index(exc):
                raise
            try:
                self._exec("FT.CREATE", name, "ON", "HASH", "PREFIX", 1, prefix, "SCHEMA", *schema)
                log.info("created search index %s", name, extra={"dim": self.config.dim})
            except redis.ResponseError as create_exc:  # another replica won the race
                if "already exists" not in str(create_exc).lower():
                    raise
            return
        dim = resp.index_dim(info)
        if dim is not None and dim != self.config.dim:
            raise FailedPrecondition(
                f"search index {name} exists with vector dimension {dim}, but the retriever is "
                f"configured for {self.config.dim}: set ARXIVQA_RETRIEVER_DIM={dim}, or drop the "
                f"index (FT.DROPINDEX {name}) and re-ingest, or use another index prefix/version"
            )

    @contextlib.contextmanager
    def _redis_errors(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            self._indexes_ok = False  # Redis may come back empty: re-check on the next call
            raise Unavailable(f"Redis at {self._where()} is unavailable: {exc}") from exc

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` against Redis: map outages, and recreate indexes Redis lost, once."""
        with self._redis_errors():
            if not self._indexes_ok:
                self.ensure_indexes()
            try:
                return fn(*args, **kwargs)
            except redis.ResponseError as exc:
                if not resp.is_missing_index(exc):
                    raise
                log.warning("search index missing (Redis restarted empty?); recreating")
                self.ensure_indexes()
                return fn(*args, **kwargs)

    # -- writes ------------------------------------------------------------------------------
    def writer(self) -> UpsertSession:
        """A session for a stream of records: add batches, then ``finish()``."""
        return UpsertSession(self)

    def upsert(
        self, papers: Iterable[PaperRecord] = (), passages: Iterable[PassageRecord] = ()
    ) -> UpsertResult:
        session = self.writer()
        session.add(papers=list(papers), passages=list(passages))
        return session.finish()

    def delete_papers(self, ids: Sequence[str]) -> tuple[int, int]:
        """Delete papers and their passages; any unknown id -> NotFound and nothing deleted."""
        cfg = self.config
        pids = list(dict.fromkeys(check_id(i) for i in ids))
        if not pids:
            raise InvalidArgument("no paper ids given")

        def run() -> tuple[int, int]:
            pipe = self.pipeline()
            for pid in pids:
                pipe.exists(cfg.paper_prefix + pid)
            missing = [pid for pid, n in zip(pids, self.execute(pipe), strict=True) if not n]
            if missing:
                raise NotFound(_missing_message(missing))
            pipe = self.pipeline()
            for pid in pids:
                pipe.smembers(cfg.members_prefix + pid)
            passage_keys = [k for members in self.execute(pipe) for k in members]
            pipe = self.pipeline()
            for chunk in _chunks(passage_keys, 1000):
                pipe.delete(*chunk)
            for pid in pids:
                pipe.delete(cfg.paper_prefix + pid, cfg.members_prefix + pid)
            counts = self.execute(pipe)
            n_chunks = math.ceil(len(passage_keys) / 1000)
            passages_deleted = sum(counts[:n_chunks])
            return len(pids), passages_deleted

        with self._span("delete", {"arxivqa.retriever.ids": len(pids)}):
            return self.call(run)

    # -- reads -------------------------------------------------------------------------------
    def get_papers(self, ids: Sequence[str], include_vectors: bool = False) -> FoundPapers:
        """Papers (with their passage counts) in the order asked, and the ids not stored."""
        cfg = self.config
        pids = [check_id(i) for i in ids]
        if not pids:
            raise InvalidArgument("no paper ids given")

        def run() -> list[Any]:
            pipe = self.pipeline()
            for pid in pids:
                pipe.hgetall(cfg.paper_prefix + pid)
                pipe.scard(cfg.members_prefix + pid)
            return self.execute(pipe)

        raw = self.call(run)
        out = FoundPapers([], [], [])
        for pid, h, count in zip(pids, raw[0::2], raw[1::2], strict=True):
            if not h:
                out.missing.append(pid)
                continue
            vec = None
            if include_vectors and h.get(b"vector"):
                vec = np.frombuffer(h[b"vector"], dtype="<f4").copy()
            out.papers.append(
                PaperRecord(
                    id=pid,
                    title=resp.text(h.get(b"title")),
                    abstract=resp.text(h.get(b"abstract")),
                    authors=resp.split_tags(h.get(b"authors")),
                    categories=resp.split_tags(h.get(b"categories")),
                    year=resp.year(h.get(b"year")),
                    update_date=resp.text(h.get(b"update_date")) or None,
                    vector=vec,
                )
            )
            out.passage_counts.append(int(count))
        return out

    def list_passages(
        self, paper_id: str, *, limit: int = DEFAULT_LIST_LIMIT, offset: int = 0
    ) -> PassagePage:
        """A stored paper's passages in ordinal order, one page; unknown paper -> NotFound."""
        check_list_page(limit, offset)
        cfg = self.config
        pid = check_id(paper_id)

        def run() -> PassagePage:
            pipe = self.pipeline()
            pipe.exists(cfg.paper_prefix + pid)
            pipe.smembers(cfg.members_prefix + pid)
            exists, members = self.execute(pipe)
            if not exists:
                raise NotFound(_missing_message([pid]))
            ordinals = sorted(int(resp.text(key).rpartition("#")[2]) for key in members)
            page = ordinals[offset : offset + limit]
            if not page:
                return PassagePage([], len(ordinals))
            pipe = self.pipeline()
            for n in page:
                pipe.hmget(f"{cfg.passage_prefix}{pid}#{n}", ["section", "text"])
            passages = [
                PassageRecord(
                    paper_id=pid, ordinal=n, text=resp.text(text), section=resp.text(section)
                )
                for n, (section, text) in zip(page, self.execute(pipe), strict=True)
                if text is not None  # deleted meanwhile
            ]
            return PassagePage(passages, len(ordinals))

        with self._span("list_passages", {"arxivqa.retriever.k": limit}):
            return self.call(run)

    def stats(self) -> Stats:
        cfg = self.config

        def run() -> Stats:
            papers = resp.info(self._exec("FT.INFO", cfg.papers_index))
            passages = resp.info(self._exec("FT.INFO", cfg.passages_index))
            memory = self._client.info("memory")
            return Stats(
                papers=int(papers[b"num_docs"]),
                passages=int(passages[b"num_docs"]),
                index_bytes=resp.index_bytes(papers) + resp.index_bytes(passages),
                redis_used_memory_bytes=int(memory.get("used_memory", 0)),
                index_failures=int(papers.get(b"hash_indexing_failures", 0))
                + int(passages.get(b"hash_indexing_failures", 0)),
            )

        return self.call(run)

    # -- search ------------------------------------------------------------------------------
    def search(
        self,
        mode: Mode,
        *,
        text: str = "",
        vector: Any = None,
        target: Target = Target.PAPERS,
        filters: Filters | None = None,
        k: int = 10,
        offset: int = 0,
        rrf_k: float | None = None,
        ef_runtime: int | None = None,
    ) -> SearchResult:
        check_page(k, offset)
        rrf_k = check_rrf_k(rrf_k, self.config.rrf_k)
        clause = filter_clause(filters)
        vec: bytes | None = None
        if mode in (Mode.VECTOR, Mode.HYBRID):
            vec = self._vector(vector, "query_vector")
            if vec is None:
                raise InvalidArgument(f"{mode.name} search needs query_vector")
        terms: list[str] = []
        if mode in (Mode.TEXT, Mode.HYBRID):
            if not text or not text.strip():
                raise InvalidArgument(f"{mode.name} search needs query_text")
            check_query_text(text)
            terms = query_terms(text)
        attrs = {
            "arxivqa.retriever.mode": mode.name,
            "arxivqa.retriever.target": target.name,
            "arxivqa.retriever.k": k,
            "arxivqa.retriever.offset": offset,
        }
        with self._span("search", attrs) as span:
            if mode is Mode.VECTOR:
                assert vec is not None
                hits, total = self.call(self._knn, target, vec, clause, offset + k, ef_runtime)
                for h in hits:
                    h.score = h.vector_score
            elif mode is Mode.TEXT:
                hits, total = self.call(self._bm25, target, terms, clause, offset + k)
                for h in hits:
                    h.score = h.text_score
            else:
                assert vec is not None
                window = max(offset + k, self.config.rrf_window)
                vhits, _ = self.call(self._knn, target, vec, clause, window, ef_runtime)
                thits, _ = self.call(self._bm25, target, terms, clause, window)
                hits = fuse_rrf(vhits, thits, rrf_k)
                total = len(hits)
            page = self.call(self._hydrate, target, hits[offset : offset + k])
            span.set_attribute("arxivqa.retriever.hits", len(page))
            return SearchResult(page, int(total))

    def retrieve_passages(
        self,
        *,
        text: str = "",
        vector: Any = None,
        filters: Filters | None = None,
        k: int = 10,
        rrf_k: float | None = None,
        ef_runtime: int | None = None,
    ) -> list[RetrievedPassage]:
        """The ``k`` best passages for a question, best first, in one ranking.

        Candidates are full-text passages and the abstracts of papers with no stored full
        text (a paper with full text speaks through its passages). Each mode given (KNN for
        ``vector``, BM25 for ``text``) takes its top ``rrf_window`` from both indexes and
        merges them by score (cosine similarities share one embedding space; both BM25
        lists use the same scorer); with both modes the two lists are fused once by
        :func:`fuse_rrf`, as HYBRID search does. Filters apply to both indexes.
        """
        check_page(k, 0)
        rrf_k = check_rrf_k(rrf_k, self.config.rrf_k)
        clause = filter_clause(filters)
        vec = self._vector(vector, "query_vector")
        text = text or ""
        check_query_text(text)
        if vec is None and not text.strip():
            raise InvalidArgument(
                "give query_text (BM25), query_vector (KNN) or both (hybrid) to rank passages by"
            )
        terms = query_terms(text) if text.strip() else []
        window = max(k, self.config.rrf_window)
        cfg = self.config

        def run() -> list[RetrievedPassage]:
            lists: dict[str, tuple[list[Hit], list[Hit]]] = {}
            if vec is not None:
                lists["vector"] = (
                    self._knn(Target.PASSAGES, vec, clause, window, ef_runtime)[0],
                    self._knn(Target.PAPERS, vec, clause, window, ef_runtime)[0],
                )
            if text.strip():
                lists["text"] = (
                    self._bm25(Target.PASSAGES, terms, clause, window)[0],
                    self._bm25(Target.PAPERS, terms, clause, window)[0],
                )
            paper_ids = list(dict.fromkeys(h.id for _, papers in lists.values() for h in papers))
            with_text: set[str] = set()
            if paper_ids:
                pipe = self.pipeline()
                for pid in paper_ids:
                    pipe.scard(cfg.members_prefix + pid)
                counts = self.execute(pipe)
                with_text = {pid for pid, n in zip(paper_ids, counts, strict=True) if n}
            merged: dict[str, list[Hit]] = {}
            abstract_ids: set[str] = set()  # a paper hit's id is its paper id
            for mode, (passages, papers) in lists.items():
                abstracts = [h for h in papers if h.id not in with_text]
                abstract_ids.update(h.id for h in abstracts)
                merged[mode] = merge_by_score(passages + abstracts, mode, window)
            if len(merged) == 2:
                ranked = fuse_rrf(merged["vector"], merged["text"], rrf_k)
            else:
                [ranked] = merged.values()
            out: list[RetrievedPassage] = []
            start = 0
            while len(out) < k and start < len(ranked):
                # Hydrate the next hits needed; a record deleted meanwhile or an empty
                # abstract is skipped and the next candidate takes its place.
                chunk = ranked[start : start + k - len(out)]
                start += len(chunk)
                abstracts = self._hydrate(Target.PAPERS, [h for h in chunk if h.id in abstract_ids])
                passages = self._hydrate(
                    Target.PASSAGES, [h for h in chunk if h.id not in abstract_ids]
                )
                kept = {id(h) for h in passages}
                kept.update(id(h) for h in abstracts if h.text.strip())
                for h in chunk:
                    if id(h) not in kept:
                        continue
                    if h.id in abstract_ids:
                        h.id, h.section, h.ordinal = f"{h.paper_id}#abstract", ABSTRACT_SECTION, 0
                        out.append(RetrievedPassage(h, Source.ABSTRACT))
                    else:
                        out.append(RetrievedPassage(h, Source.FULL_TEXT))
            return out

        attrs = {
            "arxivqa.retriever.k": k,
            "arxivqa.retriever.modes": ",".join(
                m for m, on in (("vector", vec is not None), ("text", bool(text.strip()))) if on
            ),
        }
        with self._span("retrieve_passages", attrs) as span:
            found = self.call(run)
            span.set_attribute("arxivqa.retriever.hits", len(found))
            return found

    def similar_papers(
        self, paper_id: str, *, k: int = 10, offset: int = 0, filters: Filters | None = None
    ) -> list[Hit]:
        """KNN from a stored paper's own vector, excluding the paper itself."""
        check_page(k, offset)
        pid = check_id(paper_id)
        clause = exclude_paper_clause(pid, filter_clause(filters))
        key = self.config.paper_prefix + pid

        def fetch() -> tuple[int, bytes | None]:
            pipe = self.pipeline()
            pipe.exists(key)
            pipe.hget(key, "vector")
            exists, vec = self.execute(pipe)
            return int(exists), vec

        with self._span("similar", {"arxivqa.retriever.k": k}):
            exists, vec = self.call(fetch)
            if not exists:
                raise NotFound(_missing_message([pid]))
            if not vec:
                raise FailedPrecondition(f"paper {pid} has no vector; upsert it with one")
            hits, _ = self.call(self._knn, Target.PAPERS, vec, clause, offset + k, None)
            for h in hits:
                h.score = h.vector_score
            return self.call(self._hydrate, Target.PAPERS, hits[offset : offset + k])

    # -- queries ---------------------------------------------------------------------------
    def _fields(self, target: Target) -> list[str]:
        if target is Target.PAPERS:
            return ["paper_id", "title", "abstract", "authors", "categories", "year"]
        return ["paper_id", "ordinal", "section", "text", "title", "authors", "categories", "year"]

    def _index(self, target: Target) -> str:
        cfg = self.config
        return cfg.papers_index if target is Target.PAPERS else cfg.passages_index

    def _knn(
        self, target: Target, vec: bytes, clause: str, n: int, ef_runtime: int | None
    ) -> tuple[list[Hit], int]:
        """Top ``n`` by cosine: ids and scores only (fields are loaded for the page later)."""
        ef = ef_runtime or self.config.hnsw_ef_runtime
        reply = self._exec(
            "FT.SEARCH", self._index(target), knn_query(clause),
            "PARAMS", 6, "K", n, "BLOB", vec, "EF", ef,
            "SORTBY", "vector_distance", "ASC",
            "RETURN", 1, "vector_distance",
            "LIMIT", 0, n, "DIALECT", 2,
        )  # fmt: skip
        found, total = resp.knn_reply(reply)
        hits = []
        for rank, (key, similarity) in enumerate(found, start=1):
            hit = self._hit_for_key(target, key)
            hit.vector_rank, hit.vector_score = rank, similarity
            hits.append(hit)
        return hits, total

    def _bm25(self, target: Target, terms: list[str], clause: str, n: int) -> tuple[list[Hit], int]:
        """Top ``n`` by BM25 over the target's text fields: ids and scores only."""
        if not terms:
            return [], 0
        reply = self._exec(
            "FT.SEARCH", self._index(target), bm25_query(target, terms, clause),
            "NOCONTENT", "WITHSCORES", "SCORER", self.config.scorer,
            "LIMIT", 0, n, "DIALECT", 2,
        )  # fmt: skip
        found, total = resp.scored_reply(reply)
        hits = []
        for rank, (key, score) in enumerate(found, start=1):
            hit = self._hit_for_key(target, key)
            hit.text_rank, hit.text_score = rank, score
            hits.append(hit)
        return hits, total

    def _hit_for_key(self, target: Target, key: str) -> Hit:
        cfg = self.config
        prefix = cfg.paper_prefix if target is Target.PAPERS else cfg.passage_prefix
        rid = key[len(prefix) :]
        if target is Target.PAPERS:
            return Hit(id=rid, paper_id=rid)
        paper_id, _, ordinal = rid.rpartition("#")
        return Hit(id=rid, paper_id=paper_id, ordinal=int(ordinal or 0))

    def _hydrate(self, target: Target, hits: list[Hit]) -> list[Hit]:
        """Load the stored fields of a page of hits (one pipeline); drop ones deleted meanwhile."""
        if not hits:
            return hits
        cfg = self.config
        prefix = cfg.paper_prefix if target is Target.PAPERS else cfg.passage_prefix
        fields = self._fields(target)
        pipe = self.pipeline()
        for h in hits:
            pipe.hmget(prefix + h.id, fields)
        out = []
        for h, values in zip(hits, self.execute(pipe), strict=True):
            f = dict(zip(fields, values, strict=True))
            if f["paper_id"] is None:
                continue
            h.title = resp.text(f.get("title"))
            h.authors = resp.split_tags(f.get("authors"))
            h.categories = resp.split_tags(f.get("categories"))
            h.year = resp.year(f.get("year"))
            if target is Target.PAPERS:
                h.text = resp.text(f.get("abstract"))
            else:
                h.section = resp.text(f.get("section"))
                h.text = resp.text(f.get("text"))
            out.append(h)
        return out

    def _exec(self, *args: Any) -> Any:
        """One Redis command inside a CLIENT span (the query text, never document content)."""
        op = " ".join(str(a) for a in args[:2]) if args[0] == "MODULE" else str(args[0])
        attrs: dict[str, str | int] = {**self._db_attrs, "db.operation.name": op}
        if op == "FT.SEARCH":
            attrs["arxivqa.retriever.index"] = str(args[1])
            attrs["db.query.text"] = str(args[2])[:1000]
        with self._tracer.start_as_current_span(
            f"redis {op}", kind=trace.SpanKind.CLIENT, attributes=attrs
        ):
            return self._client.execute_command(*args)

    def pipeline(self) -> Any:
        """A fresh non-transactional pipeline (run it with :meth:`execute`)."""
        return self._client.pipeline(transaction=False)

    def execute(self, pipe: Any) -> list[Any]:
        """Execute a non-transactional pipeline inside one CLIENT span."""
        attrs: dict[str, Any] = {
            **self._db_attrs,
            "db.operation.name": "PIPELINE",
            "db.operation.batch.size": len(pipe.command_stack),
        }
        with self._tracer.start_as_current_span(
            "redis PIPELINE", kind=trace.SpanKind.CLIENT, attributes=attrs
        ):
            return pipe.execute()

    def _vector(self, vector: Any, what: str) -> bytes | None:
        return vector_bytes(vector, self.config.dim, what)

    @contextlib.contextmanager
    def _span(self, name: str, attrs: dict[str, Any]) -> Iterator[trace.Span]:
        with self._tracer.start_as_current_span(f"retriever.{name}", attributes=attrs) as span:
            yield span


def _missing_message(missing: list[str]) -> str:
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    shown = ", ".join(missing[:10]) + more
    return f"unknown paper id{'s' if len(missing) > 1 else ''}: {shown}"


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
