"""The graph core's plain data: what ``CitationGraph`` takes and returns (no gRPC, no Redis)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


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
    # Each node's PageRank over the whole graph (not over this subgraph).
    pagerank: dict[str, float] = field(default_factory=dict)


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
