"""The citation graph: a networkx ``DiGraph`` in memory, kept in step with Redis.

No gRPC here: the servicer translates protobuf to these plain objects and back. This
module validates requests, keeps the in-memory graph and its Redis copy in step and caches
PageRank; the pieces it composes each live on their own:

- ``services.common.arxiv.canonical_id``: paper ids (an ``arXiv:`` prefix and a version
  suffix such as ``v2`` are dropped: the graph links papers, not versions);
- ``services.graph.store``: the Redis key layout, writes and the cold load;
- ``services.graph.algorithms``: PageRank, co-citation and coupling, paths, ego networks,
  as pure functions over the ``DiGraph``;
- ``services.graph.rwlock``: the readers-writer lock;
- ``services.graph.domain``: the plain objects taken and returned.

Every write goes to Redis first (one ``MULTI``/``EXEC``) and is then applied to the
in-memory graph under the write side of a readers-writer lock, so a reader never sees half
of a batch and a Redis failure leaves memory unchanged. The in-memory graph assumes it is
the only writer of its keys (one graph service per Redis prefix).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from services.common.arxiv import canonical_id
from services.common.errors import InvalidArgument, NotFound, Unavailable
from services.graph import algorithms
from services.graph.domain import (
    AddResult,
    Direction,
    GraphStats,
    LoadStats,
    Neighbors,
    PaperAttributes,
    PaperInfo,
    PathResult,
    RankedPaper,
    RankResult,
    Recommendation,
    RecommendMethod,
    Skipped,
    SubgraphResult,
)
from services.graph.rwlock import RWLock
from services.graph.store import DEFAULT_PREFIX, RedisMirror, gc_paused

log = logging.getLogger(__name__)

MAX_K = 1000
MAX_PAGE_SIZE = 1000
MAX_DEPTH = 3
MAX_SUBGRAPH_NODES = 2000
MAX_SEEDS = 100
_RANK_CACHE_SIZE = 16


@dataclass
class _Ranked:
    order: list[tuple[str, float]]  # every node, best first
    scores: dict[str, float]
    computed_at: float
    version: int
    nodes: int
    edges: int
    seconds: float


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
        self._mirror = RedisMirror(
            redis_url, prefix=prefix, socket_timeout=socket_timeout, tracer_provider=tracer_provider
        )
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
            graph, papers = self._mirror.load()
            self._graph = graph
            self._version += 1
            self._loaded = True
        with self._rank_lock:  # after, not inside, the write lock: _ranked nests them the other way
            self._rank_cache.clear()
        stats = LoadStats(
            graph.number_of_nodes(), graph.number_of_edges(), papers, time.perf_counter() - start
        )
        log.info(
            "citation graph loaded from redis: %d nodes, %d edges, %d papers in %.2f s",
            stats.nodes, stats.edges, stats.papers, stats.seconds,
        )  # fmt: skip
        return stats

    def close(self) -> None:
        self._mirror.close()

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
                citing, cited = canonical_id(raw_citing), canonical_id(raw_cited)
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
                pid = canonical_id(p.paper_id)
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
                self._mirror.write(refs, list(new_nodes), merged)
                with gc_paused():
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

    def remove_paper(self, paper_id: str) -> tuple[int, int]:
        """Remove a paper and its edges; returns (edges removed, graph version)."""
        self._require_loaded()
        pid = canonical_id(paper_id)
        with self._lock.write():
            g = self._graph
            if pid not in g:
                raise NotFound(f"paper {pid} is not in the citation graph")
            removed = g.out_degree(pid) + g.in_degree(pid)
            # Every paper citing it gets its reference list rewritten without it.
            citers_refs = {p: [c for c in g.successors(p) if c != pid] for p in g.predecessors(pid)}
            self._mirror.remove_paper(pid, citers_refs)
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
            year=algorithms.year_of(g, pid),
            categories=tuple(data.get("categories", ())),
            citation_count=g.in_degree(pid),
            reference_count=g.out_degree(pid),
        )

    def _known(self, paper_id: str) -> str:
        pid = canonical_id(paper_id)
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
                ordered = algorithms.most_cited_first(g, ids)
                return [self._info(n) for n in ordered[offset : offset + limit]]

            refs = page(g.successors(pid)) if direction is not Direction.CITATIONS else []
            cits = page(g.predecessors(pid)) if direction is not Direction.REFERENCES else []
            return Neighbors(self._info(pid), refs, cits, g.out_degree(pid), g.in_degree(pid))

    # -- PageRank ---------------------------------------------------------------------------
    def _ranked(
        self, categories: Iterable[str] = (), year_min: int = 0, year_max: int = 0
    ) -> tuple[_Ranked, bool]:
        """The cached PageRank of the (induced) graph, recomputed when the graph changed
        (or when the cached one is older than ``rank_refresh_seconds``). Takes the read
        lock itself: never call it while holding the read lock (the lock is not
        re-entrant)."""
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
                    g = self._graph.subgraph(algorithms.filter_nodes(self._graph, *key)).copy()
                else:
                    g = self._graph
                scores = algorithms.pagerank(g)
                ranked = _Ranked(
                    order=algorithms.best_first(scores),
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
        """Papers related to the seeds by co-citation and bibliographic coupling
        (``algorithms.recommend``: cosine-normalised strengths summed over the seeds)."""
        if not seed_ids:
            raise InvalidArgument("at least one seed paper id is required")
        if len(seed_ids) > MAX_SEEDS:
            raise InvalidArgument(f"at most {MAX_SEEDS} seeds, got {len(seed_ids)}")
        if not 1 <= k <= MAX_K:
            raise InvalidArgument(f"k must be 1-{MAX_K}, got {k}")
        self._require_loaded()
        with self._lock.read():
            seeds = list(dict.fromkeys(self._known(s) for s in seed_ids))
            found = algorithms.recommend(
                self._graph,
                seeds,
                k,
                co_citation=method is not RecommendMethod.COUPLING,
                coupling=method is not RecommendMethod.CO_CITATION,
            )
            return [Recommendation(self._info(c), score, reasons) for c, score, reasons in found]

    # -- paths and ego networks -----------------------------------------------------------
    def shortest_path(
        self, source_id: str, target_id: str, *, undirected: bool = False
    ) -> PathResult:
        self._require_loaded()
        with self._lock.read():
            src, dst = self._known(source_id), self._known(target_id)
            ids = algorithms.shortest_path(self._graph, src, dst, undirected=undirected)
            if ids is None:
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
        """Breadth-first ego network: nearest first, then most cited, then by id; each node
        with its PageRank over the whole graph (the cached one ``rank`` serves)."""
        if not 1 <= depth <= MAX_DEPTH:
            raise InvalidArgument(f"depth must be 1-{MAX_DEPTH}, got {depth}")
        if not 1 <= max_nodes <= MAX_SUBGRAPH_NODES:
            raise InvalidArgument(f"max_nodes must be 1-{MAX_SUBGRAPH_NODES}, got {max_nodes}")
        self._require_loaded()
        with self._lock.read():
            self._known(paper_id)  # a bad id fails before PageRank is computed for nothing
        ranked, _ = self._ranked()  # before the read lock: it takes that lock itself
        with self._lock.read():
            centre = self._known(paper_id)
            ego = algorithms.ego_network(self._graph, centre, depth, max_nodes, direction)
            nodes = [(self._info(n), d) for n, d in ego.hops.items()]
            # A node added after the cached PageRank was computed has none yet: 0.
            pagerank = {n: ranked.scores.get(n, 0.0) for n in ego.hops}
            return SubgraphResult(nodes, ego.edges, ego.truncated, pagerank)

    # -- stats ----------------------------------------------------------------------------
    def stats(self) -> GraphStats:
        self._require_loaded()
        with self._lock.read():
            g = self._graph
            if self._stats_cache is None or self._stats_cache[0] != self._version:
                self._stats_cache = (self._version, algorithms.weak_components(g))
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


__all__ = [
    "MAX_DEPTH",
    "MAX_K",
    "MAX_PAGE_SIZE",
    "MAX_SEEDS",
    "MAX_SUBGRAPH_NODES",
    "CitationGraph",
]
