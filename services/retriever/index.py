"""Papers and passages in Redis, searched with the Redis Search module. No gRPC here.

Storage: one hash per paper (``arxivqa:paper:v1:<id>``) and per passage
(``arxivqa:passage:v1:<paper_id>#<ordinal>``), plus a set per paper listing its passage
keys (``arxivqa:paper-passages:v1:<id>``) so that deleting a paper deletes its passages.
Vectors are little-endian FLOAT32 bytes. Two Search indexes (versioned names
``arxivqa:papers:v1`` and ``arxivqa:passages:v1``) are created idempotently: TEXT fields
with weights (BM25), TAG fields for categories/authors/ids, NUMERIC year, and an HNSW
vector field (COSINE, dimension from the configuration).

Search modes: VECTOR (KNN), TEXT (BM25) and HYBRID (both lists fused with reciprocal rank
fusion, ``score = sum 1 / (rrf_k + rank)``). User text never reaches the query language
raw: it is cut into word tokens (the same split the indexer makes) and every remaining
non-word character is escaped; tag values are escaped the same way.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis
from opentelemetry import trace

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

MAX_K = 1000
MAX_OFFSET = 9000  # offset + window stays under Redis Search's default MAXSEARCHRESULTS
MAX_QUERY_CHARS = 4096
MAX_ID_CHARS = 256
MAX_LIST_OFFSET = 1_000_000  # list_passages: passages skipped at most
DEFAULT_LIST_LIMIT = 100
ABSTRACT_SECTION = "Abstract"
_TAG_SEP = "|"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Redis Search's default English stop words: dropped from queries (the index drops them too).
STOPWORDS = frozenset(
    "a is the an and are as at be but by for if in into it no not of on or such that their "
    "then there these they this to was will with".split()
)
_WORD = re.compile(r"\w+")
_NON_WORD = re.compile(r"(\W)")
# In query text "_" must be escaped too: a lone "_" term (from LaTeX such as "TiSe$_{2}$")
# is a syntax error inside an OR clause, while "\_" is the literal the index holds.
_QUERY_SPECIAL = re.compile(r"(\W|_)")


class Mode(enum.Enum):
    VECTOR = "vector"
    TEXT = "text"
    HYBRID = "hybrid"


class Target(enum.Enum):
    PAPERS = "papers"
    PASSAGES = "passages"


# -- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexConfig:
    """How the indexes are built and searched (``Settings`` in server.py fills it from env)."""

    dim: int = 384
    prefix: str = "arxivqa"
    version: int = 1
    hnsw_m: int = 16
    hnsw_ef_construction: int = 100
    hnsw_ef_runtime: int = 100
    rrf_k: float = 10.0
    # Candidates taken from each list before fusing (at least offset + k).
    rrf_window: int = 100
    title_weight: float = 2.0
    abstract_weight: float = 1.0
    section_weight: float = 0.5
    passage_weight: float = 1.0
    scorer: str = "BM25STD"
    upsert_chunk: int = 500

    def __post_init__(self) -> None:
        checks = {
            "dim": 1 <= self.dim <= 32768,
            "hnsw_m": 2 <= self.hnsw_m <= 512,
            "hnsw_ef_construction": 1 <= self.hnsw_ef_construction <= 4096,
            "hnsw_ef_runtime": 1 <= self.hnsw_ef_runtime <= 4096,
            "rrf_k": 0 <= self.rrf_k <= 10000,
            "rrf_window": 1 <= self.rrf_window <= 1000,
            "upsert_chunk": 1 <= self.upsert_chunk <= 100000,
            "version": self.version >= 1,
            "prefix": bool(re.fullmatch(r"[A-Za-z0-9_.-]+", self.prefix)),
        }
        for name in ("title_weight", "abstract_weight", "section_weight", "passage_weight"):
            checks[name] = 0 < getattr(self, name) <= 100
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise InvalidArgument(
                "invalid retriever configuration: "
                + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad)
            )

    @property
    def papers_index(self) -> str:
        return f"{self.prefix}:papers:v{self.version}"

    @property
    def passages_index(self) -> str:
        return f"{self.prefix}:passages:v{self.version}"

    @property
    def paper_prefix(self) -> str:
        return f"{self.prefix}:paper:v{self.version}:"

    @property
    def passage_prefix(self) -> str:
        return f"{self.prefix}:passage:v{self.version}:"

    @property
    def members_prefix(self) -> str:
        return f"{self.prefix}:paper-passages:v{self.version}:"


# -- domain records --------------------------------------------------------------------------
@dataclass
class PaperRecord:
    id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    year: int | None = None
    update_date: str | None = None
    vector: np.ndarray | None = None


@dataclass
class PassageRecord:
    paper_id: str
    ordinal: int
    text: str
    section: str = ""
    vector: np.ndarray | None = None

    @property
    def id(self) -> str:
        return f"{self.paper_id}#{self.ordinal}"


@dataclass(frozen=True)
class Filters:
    categories: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None


@dataclass
class Hit:
    id: str
    paper_id: str
    title: str = ""
    text: str = ""
    ordinal: int = 0
    section: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    year: int | None = None
    score: float = 0.0
    vector_rank: int = 0  # 1-based; 0 = not in the vector list
    vector_score: float = 0.0  # cosine similarity
    text_rank: int = 0
    text_score: float = 0.0  # BM25


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int


class Source(enum.Enum):
    """Where a retrieved passage comes from."""

    FULL_TEXT = "full_text"
    ABSTRACT = "abstract"  # the abstract of a paper without stored full text


@dataclass
class RetrievedPassage:
    """One of the best passages for a question (``RetrieverIndex.retrieve_passages``).

    ``hit.id`` is ``paper_id#ordinal`` for a full-text passage and ``paper_id#abstract``
    for an abstract (then ``hit.section`` is "Abstract" and ``hit.ordinal`` 0).
    """

    hit: Hit
    source: Source


@dataclass
class FoundPapers:
    """``get_papers``: the papers found (in the order asked) and the ids that were not."""

    papers: list[PaperRecord]
    passage_counts: list[int]  # stored passages of each paper, aligned with papers
    missing: list[str]


@dataclass
class PassagePage:
    """``list_passages``: one page of a paper's passages in ordinal order, and how many."""

    passages: list[PassageRecord]
    total: int


@dataclass(frozen=True)
class UpsertError:
    kind: str  # "paper" | "passage"
    index: int  # position among records of that kind in the whole upsert
    id: str
    code: str  # gRPC status code name
    message: str


@dataclass
class UpsertResult:
    papers_written: int = 0
    passages_written: int = 0
    errors: list[UpsertError] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    papers: int
    passages: int
    index_bytes: int
    redis_used_memory_bytes: int
    index_failures: int


# -- escaping --------------------------------------------------------------------------------
def escape_query_text(token: str) -> str:
    """Backslash-escape every character that is not a letter or digit (so "_" too)."""
    return _QUERY_SPECIAL.sub(r"\\\1", token)


def escape_tag(value: str) -> str:
    """Escape a TAG value for ``@field:{...}`` (spaces and punctuation included)."""
    return _NON_WORD.sub(r"\\\1", value)


def query_terms(text: str, limit: int = 256) -> list[str]:
    """User text -> distinct lower-case word tokens, stop words dropped, at most ``limit``.

    This is the split Redis Search makes when indexing (it separates words at punctuation
    and spaces), so ``state-of-the-art`` finds what the index holds as state/of/the/art,
    while ``-``, ``@``, ``|``, ``*``, ``$``... can never act as operators.
    """
    seen: dict[str, None] = {}
    for token in _WORD.findall(text.lower()):
        if token not in STOPWORDS and token not in seen:
            seen[token] = None
            if len(seen) >= limit:
                break
    return [escape_query_text(t) for t in seen]


def _clean_tag(value: str, what: str) -> str:
    # Control characters (NUL, ESC, DEL, ...) break the query parser and never occur in a
    # category or a name: they count as spaces.
    value = _CONTROL.sub(" ", str(value).replace(_TAG_SEP, " "))
    value = " ".join(value.split())
    if not value:
        raise InvalidArgument(f"empty {what} value")
    return value


def _filter_clause(filters: Filters | None) -> str:
    if filters is None:
        return ""
    parts: list[str] = []
    if filters.categories:
        cats = [escape_tag(_clean_tag(c, "category filter")) for c in filters.categories]
        parts.append("@categories:{" + " | ".join(cats) + "}")
    if filters.authors:
        names = [escape_tag(_clean_tag(a, "author filter")) for a in filters.authors]
        parts.append("@authors:{" + " | ".join(names) + "}")
    lo, hi = filters.year_min, filters.year_max
    if lo is not None and hi is not None and lo > hi:
        raise InvalidArgument(f"year_min {lo} is after year_max {hi}")
    if lo is not None or hi is not None:
        low = "-inf" if lo is None else str(lo)
        high = "+inf" if hi is None else str(hi)
        parts.append(f"@year:[{low} {high}]")
    return " ".join(parts)


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _split_tags(value: Any) -> list[str]:
    return [t for t in _s(value).split(_TAG_SEP) if t]


def _year(value: Any) -> int | None:
    text = _s(value)
    return int(float(text)) if text else None


# -- the index -------------------------------------------------------------------------------
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
        names = {_s(_as_dict(m).get(b"name")).lower() for m in modules}
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
            self._ensure(cfg.papers_index, cfg.paper_prefix, self._paper_schema())
            self._ensure(cfg.passages_index, cfg.passage_prefix, self._passage_schema())
            self._indexes_ok = True

    def _vector_schema(self) -> list[Any]:
        cfg = self.config
        return [
            "vector", "VECTOR", "HNSW", "12",
            "TYPE", "FLOAT32", "DIM", cfg.dim, "DISTANCE_METRIC", "COSINE",
            "M", cfg.hnsw_m, "EF_CONSTRUCTION", cfg.hnsw_ef_construction,
            "EF_RUNTIME", cfg.hnsw_ef_runtime,
        ]  # fmt: skip

    def _paper_schema(self) -> list[Any]:
        cfg = self.config
        return [
            "paper_id", "TAG",
            "title", "TEXT", "WEIGHT", cfg.title_weight,
            "abstract", "TEXT", "WEIGHT", cfg.abstract_weight,
            "authors", "TAG", "SEPARATOR", _TAG_SEP,
            "categories", "TAG", "SEPARATOR", _TAG_SEP,
            "year", "NUMERIC",
            *self._vector_schema(),
        ]  # fmt: skip

    def _passage_schema(self) -> list[Any]:
        cfg = self.config
        return [
            "paper_id", "TAG",
            "ordinal", "NUMERIC",
            "section", "TEXT", "WEIGHT", cfg.section_weight,
            "text", "TEXT", "WEIGHT", cfg.passage_weight,
            "authors", "TAG", "SEPARATOR", _TAG_SEP,
            "categories", "TAG", "SEPARATOR", _TAG_SEP,
            "year", "NUMERIC",
            *self._vector_schema(),
        ]  # fmt: skip

    def _ensure(self, name: str, prefix: str, schema: list[Any]) -> None:
        try:
            info = _info(self._exec("FT.INFO", name))
        except redis.ResponseError as exc:
            if not _is_missing_index(exc):
                raise
            try:
                self._exec("FT.CREATE", name, "ON", "HASH", "PREFIX", 1, prefix, "SCHEMA", *schema)
                log.info("created search index %s", name, extra={"dim": self.config.dim})
            except redis.ResponseError as create_exc:  # another replica won the race
                if "already exists" not in str(create_exc).lower():
                    raise
            return
        dim = _index_dim(info)
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

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` against Redis: map outages, and recreate indexes Redis lost, once."""
        with self._redis_errors():
            if not self._indexes_ok:
                self.ensure_indexes()
            try:
                return fn(*args, **kwargs)
            except redis.ResponseError as exc:
                if not _is_missing_index(exc):
                    raise
                log.warning("search index missing (Redis restarted empty?); recreating")
                self.ensure_indexes()
                return fn(*args, **kwargs)

    # -- validation --------------------------------------------------------------------------
    def _vector_bytes(self, vector: Any, what: str) -> bytes | None:
        if vector is None:
            return None
        arr = np.asarray(vector, dtype=np.float32).reshape(-1)
        if arr.size == 0:
            return None
        if arr.size != self.config.dim:
            raise InvalidArgument(
                f"{what}: vector has {arr.size} dimensions, the index has {self.config.dim}"
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidArgument(f"{what}: vector contains NaN or infinity")
        if not np.any(arr):
            raise InvalidArgument(f"{what}: vector is all zeros (no direction for cosine)")
        return arr.astype("<f4").tobytes()

    @staticmethod
    def _check_id(paper_id: str, what: str = "paper id") -> str:
        pid = str(paper_id).strip()
        if not pid:
            raise InvalidArgument(f"empty {what}")
        if len(pid) > MAX_ID_CHARS or any(c.isspace() or ord(c) < 32 for c in pid):
            raise InvalidArgument(
                f"bad {what} {pid[:80]!r}: no spaces or control characters, "
                f"at most {MAX_ID_CHARS} characters"
            )
        return pid

    def _paper_mapping(self, paper: PaperRecord) -> dict[str, Any]:
        pid = self._check_id(paper.id)
        title = " ".join(str(paper.title).split())
        if not title:
            raise InvalidArgument(f"paper {pid}: empty title")
        if paper.year is not None and not 0 <= paper.year <= 9999:
            raise InvalidArgument(f"paper {pid}: year {paper.year} out of range")
        mapping: dict[str, Any] = {
            "paper_id": pid,
            "title": title,
            "abstract": paper.abstract or "",
            "authors": _TAG_SEP.join(_clean_tag(a, f"paper {pid}: author") for a in paper.authors),
            "categories": _TAG_SEP.join(
                _clean_tag(c, f"paper {pid}: category") for c in paper.categories
            ),
            "update_date": paper.update_date or "",
        }
        if paper.year:
            mapping["year"] = int(paper.year)
        vec = self._vector_bytes(paper.vector, f"paper {pid}")
        if vec is not None:
            mapping["vector"] = vec
        return mapping

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
        pids = list(dict.fromkeys(self._check_id(i) for i in ids))
        if not pids:
            raise InvalidArgument("no paper ids given")

        def run() -> tuple[int, int]:
            pipe = self._client.pipeline(transaction=False)
            for pid in pids:
                pipe.exists(cfg.paper_prefix + pid)
            missing = [pid for pid, n in zip(pids, self._run(pipe), strict=True) if not n]
            if missing:
                raise NotFound(_missing_message(missing))
            pipe = self._client.pipeline(transaction=False)
            for pid in pids:
                pipe.smembers(cfg.members_prefix + pid)
            passage_keys = [k for members in self._run(pipe) for k in members]
            pipe = self._client.pipeline(transaction=False)
            for chunk in _chunks(passage_keys, 1000):
                pipe.delete(*chunk)
            for pid in pids:
                pipe.delete(cfg.paper_prefix + pid, cfg.members_prefix + pid)
            counts = self._run(pipe)
            n_chunks = math.ceil(len(passage_keys) / 1000)
            passages_deleted = sum(counts[:n_chunks])
            return len(pids), passages_deleted

        with self._span("delete", {"arxivqa.retriever.ids": len(pids)}):
            return self._call(run)

    # -- reads -------------------------------------------------------------------------------
    def get_papers(self, ids: Sequence[str], include_vectors: bool = False) -> FoundPapers:
        """Papers (with their passage counts) in the order asked, and the ids not stored."""
        cfg = self.config
        pids = [self._check_id(i) for i in ids]
        if not pids:
            raise InvalidArgument("no paper ids given")

        def run() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for pid in pids:
                pipe.hgetall(cfg.paper_prefix + pid)
                pipe.scard(cfg.members_prefix + pid)
            return self._run(pipe)

        raw = self._call(run)
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
                    title=_s(h.get(b"title")),
                    abstract=_s(h.get(b"abstract")),
                    authors=_split_tags(h.get(b"authors")),
                    categories=_split_tags(h.get(b"categories")),
                    year=_year(h.get(b"year")),
                    update_date=_s(h.get(b"update_date")) or None,
                    vector=vec,
                )
            )
            out.passage_counts.append(int(count))
        return out

    def list_passages(
        self, paper_id: str, *, limit: int = DEFAULT_LIST_LIMIT, offset: int = 0
    ) -> PassagePage:
        """A stored paper's passages in ordinal order, one page; unknown paper -> NotFound."""
        if not 1 <= limit <= MAX_K:
            raise InvalidArgument(f"limit {limit} out of range 1..{MAX_K}")
        if not 0 <= offset <= MAX_LIST_OFFSET:
            raise InvalidArgument(f"offset {offset} out of range 0..{MAX_LIST_OFFSET}")
        cfg = self.config
        pid = self._check_id(paper_id)

        def run() -> PassagePage:
            pipe = self._client.pipeline(transaction=False)
            pipe.exists(cfg.paper_prefix + pid)
            pipe.smembers(cfg.members_prefix + pid)
            exists, members = self._run(pipe)
            if not exists:
                raise NotFound(_missing_message([pid]))
            ordinals = sorted(int(_s(key).rpartition("#")[2]) for key in members)
            page = ordinals[offset : offset + limit]
            if not page:
                return PassagePage([], len(ordinals))
            pipe = self._client.pipeline(transaction=False)
            for n in page:
                pipe.hmget(f"{cfg.passage_prefix}{pid}#{n}", ["section", "text"])
            passages = [
                PassageRecord(paper_id=pid, ordinal=n, text=_s(text), section=_s(section))
                for n, (section, text) in zip(page, self._run(pipe), strict=True)
                if text is not None  # deleted meanwhile
            ]
            return PassagePage(passages, len(ordinals))

        with self._span("list_passages", {"arxivqa.retriever.k": limit}):
            return self._call(run)

    def stats(self) -> Stats:
        cfg = self.config

        def run() -> Stats:
            papers = _info(self._exec("FT.INFO", cfg.papers_index))
            passages = _info(self._exec("FT.INFO", cfg.passages_index))
            memory = self._client.info("memory")
            return Stats(
                papers=int(papers[b"num_docs"]),
                passages=int(passages[b"num_docs"]),
                index_bytes=_index_bytes(papers) + _index_bytes(passages),
                redis_used_memory_bytes=int(memory.get("used_memory", 0)),
                index_failures=int(papers.get(b"hash_indexing_failures", 0))
                + int(passages.get(b"hash_indexing_failures", 0)),
            )

        return self._call(run)

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
        _check_page(k, offset)
        rrf_k = self.config.rrf_k if rrf_k is None else rrf_k
        if not 0 <= rrf_k <= 10000:
            raise InvalidArgument(f"rrf_k {rrf_k} out of range 0..10000")
        filter_clause = _filter_clause(filters)
        vec: bytes | None = None
        if mode in (Mode.VECTOR, Mode.HYBRID):
            vec = self._vector_bytes(vector, "query_vector")
            if vec is None:
                raise InvalidArgument(f"{mode.name} search needs query_vector")
        terms: list[str] = []
        if mode in (Mode.TEXT, Mode.HYBRID):
            if not text or not text.strip():
                raise InvalidArgument(f"{mode.name} search needs query_text")
            if len(text) > MAX_QUERY_CHARS:
                raise InvalidArgument(
                    f"query_text has {len(text)} characters; at most {MAX_QUERY_CHARS}"
                )
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
                hits, total = self._call(
                    self._knn, target, vec, filter_clause, offset + k, ef_runtime
                )
                for h in hits:
                    h.score = h.vector_score
            elif mode is Mode.TEXT:
                hits, total = self._call(self._bm25, target, terms, filter_clause, offset + k)
                for h in hits:
                    h.score = h.text_score
            else:
                assert vec is not None
                window = max(offset + k, self.config.rrf_window)
                vhits, _ = self._call(self._knn, target, vec, filter_clause, window, ef_runtime)
                thits, _ = self._call(self._bm25, target, terms, filter_clause, window)
                hits = fuse_rrf(vhits, thits, rrf_k)
                total = len(hits)
            page = self._call(self._hydrate, target, hits[offset : offset + k])
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
        _check_page(k, 0)
        rrf_k = self.config.rrf_k if rrf_k is None else rrf_k
        if not 0 <= rrf_k <= 10000:
            raise InvalidArgument(f"rrf_k {rrf_k} out of range 0..10000")
        clause = _filter_clause(filters)
        vec = self._vector_bytes(vector, "query_vector")
        text = text or ""
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidArgument(
                f"query_text has {len(text)} characters; at most {MAX_QUERY_CHARS}"
            )
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
                pipe = self._client.pipeline(transaction=False)
                for pid in paper_ids:
                    pipe.scard(cfg.members_prefix + pid)
                counts = self._run(pipe)
                with_text = {pid for pid, n in zip(paper_ids, counts, strict=True) if n}
            merged: dict[str, list[Hit]] = {}
            abstract_ids: set[str] = set()  # a paper hit's id is its paper id
            for mode, (passages, papers) in lists.items():
                abstracts = [h for h in papers if h.id not in with_text]
                abstract_ids.update(h.id for h in abstracts)
                if mode == "vector":
                    hits = sorted(passages + abstracts, key=lambda h: (-h.vector_score, h.id))
                    for rank, h in enumerate(hits[:window], start=1):
                        h.vector_rank, h.score = rank, h.vector_score
                else:
                    hits = sorted(passages + abstracts, key=lambda h: (-h.text_score, h.id))
                    for rank, h in enumerate(hits[:window], start=1):
                        h.text_rank, h.score = rank, h.text_score
                merged[mode] = hits[:window]
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
            found = self._call(run)
            span.set_attribute("arxivqa.retriever.hits", len(found))
            return found

    def similar_papers(
        self, paper_id: str, *, k: int = 10, offset: int = 0, filters: Filters | None = None
    ) -> list[Hit]:
        """KNN from a stored paper's own vector, excluding the paper itself."""
        _check_page(k, offset)
        pid = self._check_id(paper_id)
        clause = _filter_clause(filters)
        clause = f"-@paper_id:{{{escape_tag(pid)}}} {clause}".strip()
        key = self.config.paper_prefix + pid

        def fetch() -> tuple[int, bytes | None]:
            pipe = self._client.pipeline(transaction=False)
            pipe.exists(key)
            pipe.hget(key, "vector")
            exists, vec = self._run(pipe)
            return int(exists), vec

        with self._span("similar", {"arxivqa.retriever.k": k}):
            exists, vec = self._call(fetch)
            if not exists:
                raise NotFound(_missing_message([pid]))
            if not vec:
                raise FailedPrecondition(f"paper {pid} has no vector; upsert it with one")
            hits, _ = self._call(self._knn, Target.PAPERS, vec, clause, offset + k, None)
            for h in hits:
                h.score = h.vector_score
            return self._call(self._hydrate, Target.PAPERS, hits[offset : offset + k])

    # -- query building ----------------------------------------------------------------------
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
        base = f"({clause})" if clause else "*"
        query = f"{base}=>[KNN $K @vector $BLOB EF_RUNTIME $EF AS vector_distance]"
        reply = self._exec(
            "FT.SEARCH", self._index(target), query,
            "PARAMS", 6, "K", n, "BLOB", vec, "EF", ef,
            "SORTBY", "vector_distance", "ASC",
            "RETURN", 1, "vector_distance",
            "LIMIT", 0, n, "DIALECT", 2,
        )  # fmt: skip
        hits = []
        for rank, (key, fields) in enumerate(_pairs(reply[1:]), start=1):
            hit = self._hit_for_key(target, key)
            hit.vector_rank = rank
            hit.vector_score = 1.0 - float(_s(_as_dict(fields).get(b"vector_distance", 1.0)))
            hits.append(hit)
        return hits, int(reply[0])

    def _bm25(self, target: Target, terms: list[str], clause: str, n: int) -> tuple[list[Hit], int]:
        """Top ``n`` by BM25 over the target's text fields: ids and scores only."""
        if not terms:
            return [], 0
        text_fields = "@title|abstract" if target is Target.PAPERS else "@text|section"
        query = f"{text_fields}:({' | '.join(terms)}) {clause}".strip()
        reply = self._exec(
            "FT.SEARCH", self._index(target), query,
            "NOCONTENT", "WITHSCORES", "SCORER", self.config.scorer,
            "LIMIT", 0, n, "DIALECT", 2,
        )  # fmt: skip
        hits = []
        for rank, (key, score) in enumerate(_pairs(reply[1:]), start=1):
            hit = self._hit_for_key(target, key)
            hit.text_rank = rank
            hit.text_score = float(score)
            hits.append(hit)
        return hits, int(reply[0])

    def _hit_for_key(self, target: Target, key: Any) -> Hit:
        cfg = self.config
        prefix = cfg.paper_prefix if target is Target.PAPERS else cfg.passage_prefix
        rid = _s(key)[len(prefix) :]
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
        pipe = self._client.pipeline(transaction=False)
        for h in hits:
            pipe.hmget(prefix + h.id, fields)
        out = []
        for h, values in zip(hits, self._run(pipe), strict=True):
            f = dict(zip(fields, values, strict=True))
            if f["paper_id"] is None:
                continue
            h.title = _s(f.get("title"))
            h.authors = _split_tags(f.get("authors"))
            h.categories = _split_tags(f.get("categories"))
            h.year = _year(f.get("year"))
            if target is Target.PAPERS:
                h.text = _s(f.get("abstract"))
            else:
                h.section = _s(f.get("section"))
                h.text = _s(f.get("text"))
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

    def _run(self, pipe: Any) -> list[Any]:
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

    @contextlib.contextmanager
    def _span(self, name: str, attrs: dict[str, Any]) -> Iterator[trace.Span]:
        with self._tracer.start_as_current_span(f"retriever.{name}", attributes=attrs) as span:
            yield span


def fuse_rrf(vector_hits: list[Hit], text_hits: list[Hit], rrf_k: float) -> list[Hit]:
    """Reciprocal rank fusion: ``score = sum over lists of 1 / (rrf_k + rank)``.

    Each fused hit keeps both per-mode ranks and scores (rank 0 = absent from that list).
    Ties break by the better single rank, then by id, so the order is deterministic.
    """
    fused: dict[str, Hit] = {}
    for h in vector_hits:
        fused[h.id] = h
    for h in text_hits:
        if h.id in fused:
            fused[h.id].text_rank, fused[h.id].text_score = h.text_rank, h.text_score
        else:
            fused[h.id] = h
    for h in fused.values():
        h.score = sum(1.0 / (rrf_k + r) for r in (h.vector_rank, h.text_rank) if r)
    best = lambda h: min(r for r in (h.vector_rank, h.text_rank) if r)  # noqa: E731
    return sorted(fused.values(), key=lambda h: (-h.score, best(h), h.id))


class UpsertSession:
    """Writes a stream of papers and passages in pipelined, non-transactional chunks.

    Bad records become :class:`UpsertError` entries; good ones are written. A passage needs
    its paper, earlier in this session or already stored; it copies the paper's title,
    authors, categories and year so passage searches can use the same filters.
    """

    def __init__(self, index: RetrieverIndex) -> None:
        self.index = index
        self.result = UpsertResult()
        self._n_papers = 0
        self._n_passages = 0
        self._papers: list[tuple[int, str, dict[str, Any]]] = []
        self._passages: list[tuple[int, PassageRecord]] = []
        # paper id -> the fields a passage copies (None: looked up and absent).
        self._paper_meta: dict[str, dict[str, Any] | None] = {}

    def _error(self, kind: str, index: int, rid: str, exc: Exception) -> None:
        code = "INVALID_ARGUMENT" if isinstance(exc, InvalidArgument) else "NOT_FOUND"
        self.result.errors.append(UpsertError(kind, index, rid, code, str(exc)))

    def add(
        self, papers: Sequence[PaperRecord] = (), passages: Sequence[PassageRecord] = ()
    ) -> None:
        chunk = self.index.config.upsert_chunk
        for paper in papers:
            i, self._n_papers = self._n_papers, self._n_papers + 1
            try:
                mapping = self.index._paper_mapping(paper)
            except InvalidArgument as exc:
                self._error("paper", i, str(paper.id), exc)
                continue
            self._papers.append((i, mapping["paper_id"], mapping))
            if len(self._papers) >= chunk:
                self._flush()
        for passage in passages:
            i, self._n_passages = self._n_passages, self._n_passages + 1
            self._passages.append((i, passage))
            if len(self._passages) >= chunk:
                self._flush()

    def finish(self) -> UpsertResult:
        self._flush()
        return self.result

    def _flush(self) -> None:
        if self._papers:
            self.index._call(self._write_papers)
        if self._passages:
            self.index._call(self._write_passages)

    def _write_papers(self) -> None:
        prefix = self.index.config.paper_prefix
        pipe = self.index.client.pipeline(transaction=False)
        for _, pid, mapping in self._papers:
            pipe.delete(prefix + pid)  # replace the whole record (a vector may be gone)
            pipe.hset(prefix + pid, mapping=mapping)  # type: ignore[arg-type]
            self._paper_meta[pid] = {
                k: mapping[k] for k in ("title", "authors", "categories", "year") if k in mapping
            }
        self.index._run(pipe)
        self.result.papers_written += len(self._papers)
        self._papers = []

    def _write_passages(self) -> None:
        cfg = self.index.config
        unknown = sorted(
            {
                str(p.paper_id).strip()
                for _, p in self._passages
                if str(p.paper_id).strip() not in self._paper_meta
            }
            - {""}
        )
        if unknown:
            pipe = self.index.client.pipeline(transaction=False)
            for pid in unknown:
                pipe.hmget(cfg.paper_prefix + pid, ["title", "authors", "categories", "year"])
            for pid, vals in zip(unknown, self.index._run(pipe), strict=True):
                if vals[0] is None:
                    self._paper_meta[pid] = None
                else:
                    meta = dict(zip(("title", "authors", "categories", "year"), vals, strict=True))
                    self._paper_meta[pid] = {k: v for k, v in meta.items() if v is not None}
        pipe = self.index.client.pipeline(transaction=False)
        written = 0
        for i, p in self._passages:
            rid = f"{p.paper_id}#{p.ordinal}"
            try:
                pid = self.index._check_id(p.paper_id, "passage paper_id")
                if p.ordinal < 0:
                    raise InvalidArgument(f"passage {rid}: negative ordinal")
                text = " ".join(str(p.text).split())
                if not text:
                    raise InvalidArgument(f"passage {rid}: empty text")
                vec = self.index._vector_bytes(p.vector, f"passage {rid}")
                found = self._paper_meta.get(pid)
                if found is None:
                    raise NotFound(f"passage {rid}: paper {pid} not found; upsert the paper first")
            except (InvalidArgument, NotFound) as exc:
                self._error("passage", i, rid, exc)
                continue
            key = f"{cfg.passage_prefix}{pid}#{int(p.ordinal)}"
            mapping: dict[str, Any] = {
                **found,
                "paper_id": pid,
                "ordinal": int(p.ordinal),
                "text": text,
            }
            mapping["section"] = " ".join(str(p.section or "").split())
            if vec is not None:
                mapping["vector"] = vec
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.sadd(cfg.members_prefix + pid, key)
            written += 1
        self.index._run(pipe)
        self.result.passages_written += written
        self._passages = []


# -- helpers ---------------------------------------------------------------------------------
def _check_page(k: int, offset: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InvalidArgument(f"k {k} out of range 1..{MAX_K}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidArgument(f"offset {offset} out of range 0..{MAX_OFFSET}")


def _missing_message(missing: list[str]) -> str:
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    shown = ", ".join(missing[:10]) + more
    return f"unknown paper id{'s' if len(missing) > 1 else ''}: {shown}"


def _is_missing_index(exc: redis.ResponseError) -> bool:
    msg = str(exc).lower()
    return "no such index" in msg or "unknown index name" in msg


def _as_dict(value: Any) -> dict[bytes, Any]:
    """A RESP2 flat ``[key, value, ...]`` list (or a RESP3 map) as a dict with bytes keys."""
    if isinstance(value, dict):
        return {k if isinstance(k, bytes) else str(k).encode(): v for k, v in value.items()}
    it = iter(value or [])
    return {k if isinstance(k, bytes) else str(k).encode(): v for k, v in zip(it, it, strict=False)}


def _info(raw: Any) -> dict[bytes, Any]:
    info = _as_dict(raw)
    info[b"attributes"] = [_as_dict(a) for a in info.get(b"attributes", [])]
    return info


def _pairs(items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
    it = iter(items)
    return zip(it, it, strict=False)


def _index_dim(info: dict[bytes, Any]) -> int | None:
    for attr in info.get(b"attributes", []):
        if _s(attr.get(b"type")) == "VECTOR" and b"dim" in attr:
            return int(attr[b"dim"])
    return None


def _index_bytes(info: dict[bytes, Any]) -> int:
    mb = sum(
        float(info.get(key, 0) or 0)
        for key in (
            b"inverted_sz_mb",
            b"vector_index_sz_mb",
            b"offset_vectors_sz_mb",
            b"doc_table_size_mb",
            b"sortable_values_size_mb",
            b"key_table_size_mb",
            b"tag_overhead_sz_mb",
            b"text_overhead_sz_mb",
        )
    )
    return int(mb * 1024 * 1024)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
