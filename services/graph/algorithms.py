"""The graph algorithms: pure functions over a ``networkx.DiGraph`` of arXiv ids.

Edges point from the citing paper to the cited one. Node attributes, when present:
``title``, ``year``, ``categories``. Nothing here locks, validates ids or touches Redis:
``CitationGraph`` does that and calls these under its read lock, and the tests call them
on small hand-built graphs.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from services.common.arxiv import year_of_id
from services.graph.domain import Direction, Reason

PAGERANK_ALPHA = 0.85
MAX_REASON_IDS = 10


def year_of(g: nx.DiGraph, paper_id: str) -> int:
    """The node's given year, else the year in its id, else 0."""
    return g.nodes[paper_id].get("year") or year_of_id(paper_id) or 0


def most_cited_first(g: nx.DiGraph, ids: Iterable[str]) -> list[str]:
    """``ids`` by in-degree (citations in ``g``), highest first, then by id."""
    return sorted(ids, key=lambda n: (-g.in_degree(n), n))


def filter_nodes(
    g: nx.DiGraph, categories: frozenset[str] = frozenset(), year_min: int = 0, year_max: int = 0
) -> list[str]:
    """Nodes having any of ``categories`` (none = all) with ``year_min <= year <= year_max``
    (0 = unbounded)."""
    out = []
    for n, data in g.nodes(data=True):
        if categories and not categories.intersection(data.get("categories", ())):
            continue
        if year_min or year_max:
            year = year_of(g, n)
            if (year_min and year < year_min) or (year_max and year > year_max):
                continue
        out.append(n)
    return out


def pagerank(g: nx.DiGraph, alpha: float = PAGERANK_ALPHA) -> dict[str, float]:
    """Every node's PageRank (networkx ``pagerank``: dangling nodes spread their rank
    evenly, scores sum to 1); empty for an empty graph."""
    return nx.pagerank(g, alpha=alpha) if g.number_of_nodes() else {}


def best_first(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(id, score)`` pairs, highest score first, ties by id."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def co_citations(g: nx.DiGraph, seed: str) -> Counter[str]:
    """For every other paper cited together with ``seed``: how many papers cite both."""
    shared: Counter[str] = Counter()
    for citer in g.predecessors(seed):
        shared.update(g.successors(citer))
    del shared[seed]
    return shared


def couplings(g: nx.DiGraph, seed: str) -> Counter[str]:
    """For every other paper sharing references with ``seed``: how many they share."""
    shared: Counter[str] = Counter()
    for ref in g.successors(seed):
        shared.update(g.predecessors(ref))
    del shared[seed]
    return shared


def recommend(
    g: nx.DiGraph,
    seeds: Sequence[str],
    k: int,
    *,
    co_citation: bool = True,
    coupling: bool = True,
) -> list[tuple[str, float, list[Reason]]]:
    """The ``k`` best candidates for ``seeds`` (in ``g``), best first then by id.

    For a seed s and a candidate c: co-citation strength = |citers(s) & citers(c)| /
    sqrt(|citers(s)| |citers(c)|), coupling strength = |refs(s) & refs(c)| /
    sqrt(|refs(s)| |refs(c)|) (cosine, so that hubs every paper cites do not win by size
    alone). The score sums both over all seeds; seeds are never recommended. Each candidate
    comes with one reason per seed it is related to (first ``MAX_REASON_IDS`` ids of each
    kind, with full counts).
    """
    seed_set = set(seeds)
    scores: defaultdict[str, float] = defaultdict(float)
    for s in seeds:
        if co_citation:
            ds = g.in_degree(s)
            for c, n in co_citations(g, s).items():
                if c not in seed_set:
                    scores[c] += n / math.sqrt(ds * g.in_degree(c))
        if coupling:
            ds = g.out_degree(s)
            for c, n in couplings(g, s).items():
                if c not in seed_set:
                    scores[c] += n / math.sqrt(ds * g.out_degree(c))
    top = heapq.nsmallest(k, scores.items(), key=lambda kv: (-kv[1], kv[0]))
    out = []
    for c, score in top:
        reasons = []
        for s in seeds:
            co = sorted(set(g.predecessors(s)) & set(g.predecessors(c))) if co_citation else []
            sr = sorted(set(g.successors(s)) & set(g.successors(c))) if coupling else []
            if co or sr:
                reasons.append(
                    Reason(s, co[:MAX_REASON_IDS], len(co), sr[:MAX_REASON_IDS], len(sr))
                )
        out.append((c, score, reasons))
    return out


def shortest_path(
    g: nx.DiGraph, source: str, target: str, *, undirected: bool = False
) -> list[str] | None:
    """A shortest citation path ``source, ..., target`` (following edges from citing to
    cited, or ignoring direction), or None when there is none."""
    view = g.to_undirected(as_view=True) if undirected else g
    try:
        return list(nx.bidirectional_shortest_path(view, source, target))
    except nx.NetworkXNoPath:
        return None


@dataclass(frozen=True)
class EgoNetwork:
    hops: dict[str, int]  # node -> hops from the centre, nearest first then by id
    edges: list[tuple[str, str]]  # every edge among the nodes, sorted
    truncated: bool  # the cap cut a level short


def ego_network(
    g: nx.DiGraph,
    centre: str,
    depth: int = 1,
    max_nodes: int = 100,
    direction: Direction = Direction.BOTH,
) -> EgoNetwork:
    """Breadth-first ego network up to ``depth`` hops and ``max_nodes`` nodes (the centre
    included): each level adds its most cited nodes first, then by id, until the cap."""
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
        ordered = most_cited_first(g, found)
        room = max_nodes - len(hops)
        if len(ordered) > room:
            truncated = True
            ordered = ordered[:room]
        for m in ordered:
            hops[m] = level
        frontier = ordered
        if truncated or not frontier:
            break
    ordered_hops = dict(sorted(hops.items(), key=lambda x: (x[1], x[0])))
    return EgoNetwork(ordered_hops, sorted(g.subgraph(hops).edges()), truncated)


def weak_components(g: nx.DiGraph) -> tuple[int, int]:
    """(number of weakly connected components, size of the largest; 0 when empty)."""
    sizes = [len(c) for c in nx.weakly_connected_components(g)]
    return len(sizes), max(sizes, default=0)
