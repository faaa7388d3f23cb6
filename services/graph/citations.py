"""The citation graph: a networkx ``DiGraph`` in memory, kept in step with Redis.

No gRPC here: the servicer translates protobuf to these plain objects and back.

Redis layout (all keys under ``arxivqa:graph:v1:``, so the graph shares a Redis with the
retriever without touching its keys):

- ``refs``   a hash ``citing id -> "cited1 cited2 ..."`` (its references, space-separated):
  a bulk load is a few large ``HSET`` calls in one ``MULTI``, and a cold start is one
  ``HSCAN`` stream of one field per citing paper, not one round trip per paper (measured
  on 1M edges against one set of ``"citing cited"`` members: 4x less time reading Redis, and
  networkx builds the graph 2.3x faster from edges grouped by citing paper);
- ``nodes``  a set of paper ids, so papers without edges (given only attributes, or left
  alone by a ``RemovePaper``) survive a restart;
- ``papers`` a hash ``paper id -> JSON {"title", "year", "categories"}``.

Every write goes to Redis first (one ``MULTI``/``EXEC``) and is then applied to the
in-memory graph under the write side of a readers-writer lock, so a reader never sees half
of a batch and a Redis failure leaves memory unchanged. The in-memory graph assumes it is
the only writer of its keys (one graph service per Redis prefix).

Paper ids are arXiv identifiers: new style ``YYMM.NNNN`` (0704-1412) / ``YYMM.NNNNN``
(1501 on), old style ``archive[.SC]/YYMMNNN`` (``hep-th/9901001``, ``math.GT/0309136``).
An ``arXiv:`` prefix and a version suffix (``v2``) are accepted and dropped: the graph
links papers, not versions.
"""

from __future__ import annotations

import functools
import gc
import heapq
import itertools
import json
import logging
import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, cast

import networkx as nx
import redis

from services.common.errors import InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "arxivqa:graph:v1:"
MAX_K = 1000
MAX_PAGE_SIZE = 1000
MAX_DEPTH = 3
MAX_SUBGRAPH_NODES = 2000
MAX_SEEDS = 100
MAX_REASON_IDS = 10
_WRITE_CHUNK = 10_000
_SCAN_COUNT = 5_000
_RANK_CACHE_SIZE = 16

_NEW_ID = re.compile(r"(\d{2})(\d{2})\.(\d{4,5})")
_OLD_ID = re.compile(r"([a-z]+(?:-[a-z]+)*)(\.[A-Za-z]+(?:-[A-Za-z]+)*)?/(\d{2})(\d{2})(\d{3})")
_PREFIX = re.compile(r"^arxiv:", re.IGNORECASE)
_VERSION = re.compile(r"v\d+$")


# -- paper ids --------------------------------------------------------------------------


def parse_paper_id(raw: str) -> str:
    """The canonical id of an arXiv identifier, or ``InvalidArgument`` naming it."""
    return _parse_paper_id(raw)


@functools.lru_cache(maxsize=1 << 18)
def _parse_paper_id(raw: str) -> str:
    # Cached: a bulk load sees each id many times (only valid ids are cached; a raise
    # is not).
    text = _VERSION.sub("", _PREFIX.sub("", raw.strip()))
    m = _NEW_ID.fullmatch(text)
    if m:
        yy, mm, number = int(m.group(1)), int(m.group(2)), m.group(3)
        digits = 5 if yy >= 15 else 4
        if 1 <= mm <= 12 and (yy, mm) >= (7, 4) and len(number) == digits:
            return text
        raise InvalidArgument(
            f"malformed arXiv id {raw!r}: YYMM.NNNN from 0704 to 1412, YYMM.NNNNN from 1501"
        )
    m = _OLD_ID.fullmatch(text)
    if m:
        yy, mm = int(m.group(3)), int(m.group(4))
        if 1 <= mm <= 12 and (yy >= 91 or yy <= 7):
            return text
    raise InvalidArgument(
        f"malformed arXiv id {raw!r}: expected e.g. '1412.6980', '2301.01234v2' or 'hep-th/9901001'"
    )


def year_of_id(paper_id: str) -> int:
    """The year in a canonical arXiv id: ``1412.6980`` -> 2014, ``hep-th/9901001`` -> 1999."""
    m = _NEW_ID.fullmatch(paper_id)
    if m:
        return 2000 + int(m.group(1))
    m = _OLD_ID.fullmatch(paper_id)
    if m:
        yy = int(m.group(3))
        return 1900 + yy if yy >= 91 else 2000 + yy
    return 0


# -- plain data -------------------------------------------------------------------------


class Direction(Enum):
    BOTH = "both"
    REFERENCES = "references"  # out-edges: papers this one cites
    CITATIONS = "citations"  # in-edges: papers citing this one


class RecommendMethod(Enum):
    BOTH = "both"
    CO_CITATION = "co_citation"
    COUPLING = "coupling"


@dataclass(frozen=True)
class PaperAttributes:
    paper_id: str
    title: str = ""
    year: int = 0
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaperInfo:
    paper_id: str
    title: str
    year: int
    categories: tuple[str, ...]
    citation_count: int
    reference_count: int


@dataclass(frozen=True)
class Skipped:
    item: str
    reason: str


@dataclass
class AddResult:
    edges_added: int = 0
    edges_existing: int = 0
    nodes_added: int = 0
    papers_updated: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    graph_version: int = 0


@dataclass(frozen=True)
class Neighbors:
    paper: PaperInfo
    references: list[PaperInfo]
    citations: list[PaperInfo]
    reference_total: int
    citation_total: int


@dataclass(frozen=True)
class RankedPaper:
    paper: PaperInfo
    score: float
    rank: int


@dataclass(frozen=True)
class RankResult:
    results: list[RankedPaper]
    computed_at: float  # unix seconds
    computed_at_version: int
    graph_version: int
    ranked_nodes: int
    ranked_edges: int
    compute_seconds: float
    recomputed: bool

    @property
    def stale(self) -> bool:
        return self.computed_at_version != self.graph_version


@dataclass(frozen=True)
class Reason:
    seed_id: str
    co_cited_by: list[str]
    co_citation_count: int
    shared_references: list[str]
    shared_reference_count: int


@dataclass(frozen=True)
class Recommendation:
    paper: PaperInfo
    score: float
    reasons: list[Reason]


@dataclass(frozen=True)
class PathResult:
    found: bool
    path: list[PaperInfo]
    message: str

    @property
    def length(self) -> int:
        return len(self.path) - 1 if self.found else -1


@dataclass(frozen=True)
class SubgraphResult:
    nodes: list[tuple[PaperInfo, int]]  # (paper, hops from the centre)
    edges: list[tuple[str, str]]
    truncated: bool


@dataclass(frozen=True)
class GraphStats:
    nodes: int
    edges: int
    components: int
    largest_component: int
    density: float
    last_pagerank_at: float | None
    graph_version: int
    papers_with_attributes: int


@dataclass(frozen=True)
class LoadStats:
    nodes: int
    edges: int
    papers: int
    seconds: float


@dataclass
class _Ranked:
    order: list[tuple[str, float]]  # every node, best first
    scores: dict[str, float]
    computed_at: float
    version: int
    nodes: int
    edges: int
    seconds: float


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building millions of small containers (no cycles made).

    Without it, each generation-0 threshold crossing walks the growing graph: a 1M-edge
    load takes about half again as long.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- readers-writer lock ----------------------------------------------------------------


class RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no starvation).

    Not re-entrant: a thread holding the read side must not ask for it again.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


# -- input readers ----------------------------------------------------------------------


def read_citations_tsv(path: Path | str) -> Iterator[tuple[str, str]]:
    """``citing<TAB>cited`` lines (blank lines ignored), as raw strings."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            citing, _, cited = line.partition("\t")
            yield citing, cited


def read_papers_jsonl(path: Path | str) -> Iterator[PaperAttributes]:
    """Kaggle arXiv metadata records -> attributes (title, space-separated categories)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            yield PaperAttributes(
                paper_id=str(rec.get("id", "")),
                title=" ".join(str(rec.get("title") or "").split()),
                categories=tuple(str(rec.get("categories") or "").split()),
            )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- the graph --------------------------------------------------------------------------


class CitationGraph:
    """Citation edges in Redis, mirrored by an in-memory ``networkx.DiGraph``.

    The constructor only validates; ``warm_up()`` (idempotent) loads the graph from Redis.
    ``rank_refresh_seconds``: after writes, a cached PageRank younger than this is served
    (marked stale) instead of being recomputed; 0 recomputes on the first query after any
    write.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        rank_refresh_seconds: float = 0.0,
        socket_timeout: float = 30.0,
        tracer_provider: Any = None,
    ) -> None:
        if rank_refresh_seconds < 0:
            raise InvalidArgument("rank_refresh_seconds must be >= 0")
        self.redis_url = redis_url
        self.prefix = prefix
        self.rank_refresh_seconds = rank_refresh_seconds
        self._k_refs = prefix + "refs"
        self._k_nodes = prefix + "nodes"
        self._k_papers = prefix + "papers"
        self._client = redis.Redis.from_url(
            redis_url, decode_responses=True, socket_timeout=socket_timeout
        )
        if tracer_provider is not None:
            from opentelemetry.instrumentation.redis import RedisInstrumentor

            RedisInstrumentor.instrument_client(self._client, tracer_provider=tracer_provider)
        self._graph: nx.DiGraph = nx.DiGraph()
        self._lock = RWLock()
        self._loaded = False
        self._load_lock = threading.Lock()
        self._version = 0
        self._rank_lock = threading.Lock()
        self._rank_cache: dict[tuple[frozenset[str], int, int], _Ranked] = {}
        self._last_pagerank_at: float | None = None
        self._stats_cache: tuple[int, tuple[int, int]] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def warm_up(self) -> LoadStats | None:
        """Load the graph from Redis once; later calls do nothing and return None."""
        with self._load_lock:
            if self._loaded:
                return None
            stats = self.reload()
            return stats

    def reload(self) -> LoadStats:
        """Replace the in-memory graph with what Redis holds (writes wait meanwhile)."""
        start = time.perf_counter()
        with self._lock.write():
            try:
                nodes = self._scan_set(self._k_nodes)
                refs = self._scan_hash(self._k_refs)
                papers = cast(dict[str, str], self._client.hgetall(self._k_papers))
            except redis.RedisError as exc:
                raise Unavailable(f"cannot load the citation graph from Redis: {exc}") from exc
            graph: nx.DiGraph = nx.DiGraph()
            with _gc_paused():
                graph.add_nodes_from(nodes)
                graph.add_edges_from(
                    (citing, cited)
                    for citing, cited_ids in refs.items()
                    for cited in cited_ids.split()
                )
                for pid, raw in papers.items():
                    if pid in graph:
                        graph.nodes[pid].update(_decode_attrs(raw))
                del refs
            self._graph = graph
            self._version += 1
            self._loaded = True
        with self._rank_lock:  # after, not inside, the write lock: _ranked nests them the other way
            self._rank_cache.clear()
        stats = LoadStats(
            graph.number_of_nodes(), graph.number_of_edges(), len(papers),
            time.perf_counter() - start,
        )  # fmt: skip
        log.info(
            "citation graph loaded from redis: %d nodes, %d edges, %d papers in %.2f s",
            stats.nodes, stats.edges, stats.papers, stats.seconds,
        )  # fmt: skip
        return stats

    def _scan_hash(self, key: str) -> dict[str, str]:
        out: dict[str, str] = {}
        cursor = 0
        while True:
            cursor, fields = self._client.hscan(key, cursor, count=_SCAN_COUNT)
            out.update(cast(dict[str, str], fields))
            if cursor == 0:
                return out

    def _scan_set(self, key: str) -> list[str]:
        out: list[str] = []
        cursor = 0
        while True:
            cursor, members = self._client.sscan(key, cursor, count=_SCAN_COUNT)
            out.extend(cast(list[str], members))
            if cursor == 0:
                return out

    def close(self) -> None:
        self._client.close()

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def version(self) -> int:
        return self._version

    def _require_loaded(self) -> None:
        if not self._loaded:
            raise Unavailable("the citation graph is still loading from Redis; retry shortly")

    # -- writes ---------------------------------------------------------------------------
    def add(
        self,
        citations: Iterable[tuple[str, str]] = (),
        papers: Iterable[PaperAttributes] = (),
    ) -> AddResult:
        """Add edges and paper attributes as one atomic, idempotent batch."""
        self._require_loaded()
        result = AddResult()
        edges: dict[tuple[str, str], None] = {}
        for raw_citing, raw_cited in citations:
            item = f"{raw_citing} -> {raw_cited}"
            try:
                citing, cited = parse_paper_id(raw_citing), parse_paper_id(raw_cited)
            except InvalidArgument as exc:
                result.skipped.append(Skipped(item, str(exc)))
                continue
            if citing == cited:
                result.skipped.append(Skipped(item, f"self-citation of {citing}"))
                continue
            edges[(citing, cited)] = None
        attrs: dict[str, PaperAttributes] = {}
        for p in papers:
            try:
                pid = parse_paper_id(p.paper_id)
            except InvalidArgument as exc:
                result.skipped.append(Skipped(p.paper_id, str(exc)))
                continue
            if p.year and not 1900 <= p.year <= 2100:
                result.skipped.append(
                    Skipped(p.paper_id, f"year {p.year} of {pid} out of range 1900-2100")
                )
                continue
            attrs[pid] = PaperAttributes(
                pid, p.title.strip(), p.year, tuple(c.strip() for c in p.categories if c.strip())
            )

        with self._lock.write():
            g = self._graph
            new_edges = [e for e in edges if not g.has_edge(*e)]
            result.edges_existing = len(edges) - len(new_edges)
            new_nodes: dict[str, None] = {}
            for citing, cited in new_edges:
                for n in (citing, cited):
                    if n not in g:
                        new_nodes[n] = None
            for pid in attrs:
                if pid not in g:
                    new_nodes[pid] = None
            merged: dict[str, dict[str, Any]] = {}
            for pid, a in attrs.items():
                before = dict(g.nodes[pid]) if pid in g else {}
                current = dict(before)
                if a.title:
                    current["title"] = a.title
                if a.year:
                    current["year"] = a.year
                if a.categories:
                    current["categories"] = list(a.categories)
                if current != before or pid not in g:
                    merged[pid] = current
            if new_edges or new_nodes or merged:
                refs: dict[str, list[str]] = {}
                for citing, cited in new_edges:
                    if citing not in refs:
                        refs[citing] = list(g.successors(citing)) if citing in g else []
                    refs[citing].append(cited)
                self._write(refs, list(new_nodes), merged)
                with _gc_paused():
                    g.add_nodes_from(new_nodes)
                    g.add_edges_from(new_edges)
                for pid, values in merged.items():
                    g.nodes[pid].update(values)
                self._version += 1
            result.edges_added = len(new_edges)
            result.nodes_added = len(new_nodes)
            result.papers_updated = len(merged)
            result.graph_version = self._version
        return result

    def _write(
        self,
        refs: dict[str, list[str]],
        nodes: Sequence[str],
        papers: dict[str, dict[str, Any]],
    ) -> None:
        """One MULTI: the full new reference list of every citing paper touched, new nodes,
        attributes."""
        try:
            pipe = self._client.pipeline(transaction=True)
            lists = [(citing, " ".join(cited)) for citing, cited in refs.items()]
            for start in range(0, len(lists), _WRITE_CHUNK):
                pipe.hset(self._k_refs, mapping=dict(lists[start : start + _WRITE_CHUNK]))
            for chunk in _chunks(nodes, _WRITE_CHUNK):
                pipe.sadd(self._k_nodes, *chunk)
            items = [(pid, json.dumps(v, ensure_ascii=False)) for pid, v in papers.items()]
            for start in range(0, len(items), _WRITE_CHUNK):
                pipe.hset(self._k_papers, mapping=dict(items[start : start + _WRITE_CHUNK]))
            pipe.execute()
        except redis.RedisError as exc:
            raise Unavailable(f"cannot write to Redis: {exc}") from exc

    def remove_paper(self, paper_id: str) -> tuple[int, int]:
        """Remove a paper and its edges; returns (edges removed, graph version)."""
        self._require_loaded()
        pid = parse_paper_id(paper_id)
        with self._lock.write():
            g = self._graph
            if pid not in g:
                raise NotFound(f"paper {pid} is not in the citation graph")
            removed = g.out_degree(pid) + g.in_degree(pid)
            # Every paper citing it gets its reference list rewritten without it.
            lists = {
                p: " ".join(c for c in g.successors(p) if c != pid) for p in g.predecessors(pid)
            }
            try:
                pipe = self._client.pipeline(transaction=True)
                pipe.hdel(self._k_refs, pid, *[p for p, refs in lists.items() if not refs])
                kept = [(p, refs) for p, refs in lists.items() if refs]
                for start in range(0, len(kept), _WRITE_CHUNK):
                    pipe.hset(self._k_refs, mapping=dict(kept[start : start + _WRITE_CHUNK]))
                pipe.srem(self._k_nodes, pid)
                pipe.hdel(self._k_papers, pid)
                pipe.execute()
            except redis.RedisError as exc:
                raise Unavailable(f"cannot write to Redis: {exc}") from exc
            g.remove_node(pid)
            self._version += 1
            return removed, self._version

    # -- reads ----------------------------------------------------------------------------
    def _info(self, pid: str) -> PaperInfo:
        g = self._graph
        data = g.nodes[pid]
        return PaperInfo(
            paper_id=pid,
            title=data.get("title", ""),
            year=data.get("year") or year_of_id(pid),
            categories=tuple(data.get("categories", ())),
            citation_count=g.in_degree(pid),
            reference_count=g.out_degree(pid),
        )

    def _known(self, paper_id: str) -> str:
        pid = parse_paper_id(paper_id)
        if pid not in self._graph:
            raise NotFound(f"paper {pid} is not in the citation graph")
        return pid

    def paper(self, paper_id: str) -> PaperInfo:
        self._require_loaded()
        with self._lock.read():
            return self._info(self._known(paper_id))

    def edges(self) -> set[tuple[str, str]]:
        """Every edge (citing, cited), e.g. to compare two instances."""
        with self._lock.read():
            return set(self._graph.edges())

    def nodes(self) -> set[str]:
        with self._lock.read():
            return set(self._graph.nodes())

    def neighbors(
        self,
        paper_id: str,
        direction: Direction = Direction.BOTH,
        *,
        offset: int = 0,
        limit: int = 50,
    ) -> Neighbors:
        """References and citations, most cited first then by id, ``limit`` from ``offset``."""
        if offset < 0:
            raise InvalidArgument(f"offset must be >= 0, got {offset}")
        if not 0 <= limit <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"page size must be 0-{MAX_PAGE_SIZE}, got {limit}")
        self._require_loaded()
        with self._lock.read():
            pid = self._known(paper_id)
            g = self._graph

            def page(ids: Iterable[str]) -> list[PaperInfo]:
                if limit == 0:
                    return []
                ordered = sorted(ids, key=lambda n: (-g.in_degree(n), n))
                return [self._info(n) for n in ordered[offset : offset + limit]]

            refs = page(g.successors(pid)) if direction is not Direction.CITATIONS else []
            cits = page(g.predecessors(pid)) if direction is not Direction.REFERENCES else []
            return Neighbors(self._info(pid), refs, cits, g.out_degree(pid), g.in_degree(pid))

    # -- PageRank ---------------------------------------------------------------------------
    def _filtered_nodes(
        self, categories: frozenset[str], year_min: int, year_max: int
    ) -> list[str]:
        g = self._graph
        out = []
        for n, data in g.nodes(data=True):
            if categories and not categories.intersection(data.get("categories", ())):
                continue
            if year_min or year_max:
                year = data.get("year") or year_of_id(n)
                if (year_min and year < year_min) or (year_max and year > year_max):
                    continue
            out.append(n)
        return out

    def _ranked(
        self, categories: Iterable[str] = (), year_min: int = 0, year_max: int = 0
    ) -> tuple[_Ranked, bool]:
        if year_min < 0 or year_max < 0:
            raise InvalidArgument("year_min and year_max must be >= 0 (0 = unbounded)")
        if year_min and year_max and year_min > year_max:
            raise InvalidArgument(f"year_min {year_min} is after year_max {year_max}")
        cats = frozenset(c.strip() for c in categories if c.strip())
        key = (cats, year_min, year_max)
        self._require_loaded()
        with self._rank_lock:
            cached = self._rank_cache.get(key)
            if cached is not None and (
                cached.version == self._version
                or time.time() - cached.computed_at < self.rank_refresh_seconds
            ):
                return cached, False
            with self._lock.read():
                start = time.perf_counter()
                version = self._version
                if cats or year_min or year_max:
                    g = self._graph.subgraph(self._filtered_nodes(*key)).copy()
                else:
                    g = self._graph
                scores = nx.pagerank(g) if g.number_of_nodes() else {}
                order = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
                ranked = _Ranked(
                    order=order,
                    scores=scores,
                    computed_at=time.time(),
                    version=version,
                    nodes=g.number_of_nodes(),
                    edges=g.number_of_edges(),
                    seconds=time.perf_counter() - start,
                )
            self._rank_cache.pop(key, None)
            self._rank_cache[key] = ranked
            while len(self._rank_cache) > _RANK_CACHE_SIZE:
                self._rank_cache.pop(next(iter(self._rank_cache)))
            self._last_pagerank_at = ranked.computed_at
            log.info(
                "pagerank computed over %d nodes, %d edges in %.3f s",
                ranked.nodes, ranked.edges, ranked.seconds,
            )  # fmt: skip
            return ranked, True

    def pagerank(
        self, categories: Iterable[str] = (), year_min: int = 0, year_max: int = 0
    ) -> dict[str, float]:
        """Every node's PageRank (networkx ``pagerank``, alpha 0.85) on the (induced) graph."""
        ranked, _ = self._ranked(categories, year_min, year_max)
        return dict(ranked.scores)

    def rank(
        self,
        k: int = 10,
        categories: Iterable[str] = (),
        year_min: int = 0,
        year_max: int = 0,
    ) -> RankResult:
        if not 1 <= k <= MAX_K:
            raise InvalidArgument(f"k must be 1-{MAX_K}, got {k}")
        ranked, recomputed = self._ranked(categories, year_min, year_max)
        with self._lock.read():
            alive = ((pid, s) for pid, s in ranked.order if pid in self._graph)
            results = [
                RankedPaper(self._info(pid), score, i + 1)
                for i, (pid, score) in enumerate(itertools.islice(alive, k))
            ]
            return RankResult(
                results=results,
                computed_at=ranked.computed_at,
                computed_at_version=ranked.version,
                graph_version=self._version,
                ranked_nodes=ranked.nodes,
                ranked_edges=ranked.edges,
                compute_seconds=ranked.seconds,
                recomputed=recomputed,
            )

    # -- recommendations ------------------------------------------------------------------
    def recommend(
        self,
        seed_ids: Sequence[str],
        k: int = 10,
        method: RecommendMethod = RecommendMethod.BOTH,
    ) -> list[Recommendation]:
        """Papers related to the seeds by co-citation and bibliographic coupling.

        For a seed s and a candidate c: co-citation strength = |citers(s) & citers(c)| /
        sqrt(|citers(s)| |citers(c)|), coupling strength = |refs(s) & refs(c)| /
        sqrt(|refs(s)| |refs(c)|) (cosine, so that hubs every paper cites do not win by
        size alone). The score sums both over all seeds; seeds are never recommended.
        """
        if not seed_ids:
            raise InvalidArgument("at least one seed paper id is required")
        if len(seed_ids) > MAX_SEEDS:
            raise InvalidArgument(f"at most {MAX_SEEDS} seeds, got {len(seed_ids)}")
        if not 1 <= k <= MAX_K:
            raise InvalidArgument(f"k must be 1-{MAX_K}, got {k}")
        self._require_loaded()
        use_co = method is not RecommendMethod.COUPLING
        use_cp = method is not RecommendMethod.CO_CITATION
        with self._lock.read():
            g = self._graph
            seeds = list(dict.fromkeys(self._known(s) for s in seed_ids))
            seed_set = set(seeds)
            scores: defaultdict[str, float] = defaultdict(float)
            for s in seeds:
                if use_co:
                    shared: Counter[str] = Counter()
                    for p in g.predecessors(s):
                        shared.update(g.successors(p))
                    ds = g.in_degree(s)
                    for c, n in shared.items():
                        if c not in seed_set:
                            scores[c] += n / math.sqrt(ds * g.in_degree(c))
                if use_cp:
                    shared = Counter()
                    for r in g.successors(s):
                        shared.update(g.predecessors(r))
                    ds = g.out_degree(s)
                    for c, n in shared.items():
                        if c not in seed_set:
                            scores[c] += n / math.sqrt(ds * g.out_degree(c))
            top = heapq.nsmallest(k, scores.items(), key=lambda kv: (-kv[1], kv[0]))
            out = []
            for c, score in top:
                reasons = []
                for s in seeds:
                    co = sorted(set(g.predecessors(s)) & set(g.predecessors(c))) if use_co else []
                    sr = sorted(set(g.successors(s)) & set(g.successors(c))) if use_cp else []
                    if co or sr:
                        reasons.append(
                            Reason(s, co[:MAX_REASON_IDS], len(co), sr[:MAX_REASON_IDS], len(sr))
                        )
                out.append(Recommendation(self._info(c), score, reasons))
            return out

    # -- paths and ego networks -----------------------------------------------------------
    def shortest_path(
        self, source_id: str, target_id: str, *, undirected: bool = False
    ) -> PathResult:
        self._require_loaded()
        with self._lock.read():
            src, dst = self._known(source_id), self._known(target_id)
            g = self._graph
            view = g.to_undirected(as_view=True) if undirected else g
            try:
                ids = nx.bidirectional_shortest_path(view, src, dst)
            except nx.NetworkXNoPath:
                how = (
                    "even ignoring edge direction"
                    if undirected
                    else (f"following citations from {src} (try undirected)")
                )
                return PathResult(False, [], f"no citation path from {src} to {dst} {how}")
            n = len(ids) - 1
            return PathResult(
                True, [self._info(p) for p in ids],
                f"{src} reaches {dst} in {n} step{'s' if n != 1 else ''}",
            )  # fmt: skip

    def subgraph(
        self,
        paper_id: str,
        depth: int = 1,
        max_nodes: int = 100,
        direction: Direction = Direction.BOTH,
    ) -> SubgraphResult:
        """Breadth-first ego network: nearest first, then most cited, then by id."""
        if not 1 <= depth <= MAX_DEPTH:
            raise InvalidArgument(f"depth must be 1-{MAX_DEPTH}, got {depth}")
        if not 1 <= max_nodes <= MAX_SUBGRAPH_NODES:
            raise InvalidArgument(f"max_nodes must be 1-{MAX_SUBGRAPH_NODES}, got {max_nodes}")
        self._require_loaded()
        with self._lock.read():
            centre = self._known(paper_id)
            g = self._graph
            steps: list[Callable[[str], Iterable[str]]] = []
            if direction is not Direction.CITATIONS:
                steps.append(g.successors)
            if direction is not Direction.REFERENCES:
                steps.append(g.predecessors)
            hops = {centre: 0}
            frontier = [centre]
            truncated = False
            for level in range(1, depth + 1):
                found: set[str] = set()
                for n in frontier:
                    for step in steps:
                        found.update(m for m in step(n) if m not in hops)
                ordered = sorted(found, key=lambda m: (-g.in_degree(m), m))
                room = max_nodes - len(hops)
                if len(ordered) > room:
                    truncated = True
                    ordered = ordered[:room]
                for m in ordered:
                    hops[m] = level
                frontier = ordered
                if truncated or not frontier:
                    break
            sub = g.subgraph(hops)
            edges = sorted(sub.edges())
            nodes = [
                (self._info(n), d) for n, d in sorted(hops.items(), key=lambda x: (x[1], x[0]))
            ]
            return SubgraphResult(nodes, edges, truncated)

    # -- stats ----------------------------------------------------------------------------
    def stats(self) -> GraphStats:
        self._require_loaded()
        with self._lock.read():
            g = self._graph
            if self._stats_cache is None or self._stats_cache[0] != self._version:
                sizes = [len(c) for c in nx.weakly_connected_components(g)]
                self._stats_cache = (self._version, (len(sizes), max(sizes, default=0)))
            components, largest = self._stats_cache[1]
            with_attrs = sum(
                1 for _, d in g.nodes(data=True) if d.get("title") or d.get("categories")
            )
            return GraphStats(
                nodes=g.number_of_nodes(),
                edges=g.number_of_edges(),
                components=components,
                largest_component=largest,
                density=nx.density(g),
                last_pagerank_at=self._last_pagerank_at,
                graph_version=self._version,
                papers_with_attributes=with_attrs,
            )


def _decode_attrs(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        log.warning("ignoring unreadable paper attributes %r", raw[:80])
        return {}
    return data if isinstance(data, dict) else {}


__all__ = [
    "DEFAULT_PREFIX",
    "AddResult",
    "CitationGraph",
    "Direction",
    "GraphStats",
    "LoadStats",
    "Neighbors",
    "PaperAttributes",
    "PaperInfo",
    "PathResult",
    "RankResult",
    "RankedPaper",
    "Reason",
    "RecommendMethod",
    "Recommendation",
    "SubgraphResult",
    "parse_paper_id",
    "read_citations_tsv",
    "read_papers_jsonl",
    "year_of_id",
]
