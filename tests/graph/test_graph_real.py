"""The graph service on the real arXiv 2023 citation graph (168,919 edges, 24,394 papers).

Loaded once per module through the real gRPC API into the session's Redis (own key prefix),
then checked against the TSV itself: counts, degrees, paths and reasons with networkx
working on the TSV, PageRank against its definition (the fixed-point equation).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
import networkx as nx
import pytest
import redis

from arxivqa.graph.v1 import graph_pb2 as pb
from arxivqa.graph.v1 import graph_pb2_grpc
from services.common.server import GrpcService
from services.devtools.graph_readers import read_citations_tsv, read_papers_jsonl
from services.graph.citations import CitationGraph
from services.graph.server import Settings, create_server

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

PREFIX = "arxivqa:graph:test-real:"
# The one malformed id in the file: a typo for arXiv 1105.1141 (4-digit numbers until 1412).
TYPO = "1105.01141"
T = TypeVar("T")


@dataclass
class Loaded:
    stub: graph_pb2_grpc.CitationGraphStub
    service: GrpcService
    url: str
    ref: nx.DiGraph  # networkx straight from the TSV, minus the malformed id
    data: Path
    response: pb.AddCitationsResponse


def _batched(items: Iterable[T], n: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def _requests(data: Path, batch: int = 5000) -> Iterator[pb.AddCitationsRequest]:
    papers = read_papers_jsonl(data / "arxiv2023_papers.jsonl")
    for chunk in _batched(papers, batch):
        yield pb.AddCitationsRequest(
            papers=[
                pb.PaperAttributes(paper_id=p.paper_id, title=p.title, categories=p.categories)
                for p in chunk
            ]
        )
    edges = read_citations_tsv(data / "arxiv2023_citations.tsv")
    for chunk in _batched(edges, batch):
        yield pb.AddCitationsRequest(
            citations=[pb.Citation(citing_id=a, cited_id=b) for a, b in chunk]
        )


def _clear(url: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=PREFIX + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def loaded(shared_data: Path, redis_server) -> Iterator[Loaded]:  # type: ignore[no-untyped-def]
    data = shared_data / "arxiv"
    _clear(redis_server.url)
    service, _ = create_server(Settings(port=0, redis_url=redis_server.url, key_prefix=PREFIX))
    service.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        service.wait_until_ready(60)
        stub = graph_pb2_grpc.CitationGraphStub(channel)
        response = stub.AddCitations(_requests(data), timeout=300)
        ref = nx.DiGraph(read_citations_tsv(data / "arxiv2023_citations.tsv"))
        ref.remove_node(TYPO)
        yield Loaded(stub, service, redis_server.url, ref, data, response)
    finally:
        channel.close()
        service.stop(0).wait()
        _clear(redis_server.url)


def test_bulk_load_counts_and_the_one_malformed_id(loaded: Loaded) -> None:
    r = loaded.response
    # 168,919 edges in the file; one points at the malformed id and is skipped, as is
    # that paper's attribute record.
    assert (r.edges_added, r.edges_existing, r.nodes_added) == (168_918, 0, 24_393)
    assert r.papers_updated == 24_393
    assert r.skipped_count == 2
    assert {s.item for s in r.skipped} == {TYPO, f"2303.04689 -> {TYPO}"}
    stats = loaded.stub.GetStats(pb.GetStatsRequest())
    assert (stats.nodes, stats.edges) == (24_393, 168_918)
    assert stats.nodes == loaded.ref.number_of_nodes()
    assert stats.edges == loaded.ref.number_of_edges()
    assert stats.components == nx.number_weakly_connected_components(loaded.ref)
    assert stats.density == pytest.approx(nx.density(loaded.ref))
    assert stats.papers_with_attributes == 24_393


def test_most_cited_paper_is_adam_with_2400_citations(loaded: Loaded) -> None:
    most_cited = max(loaded.ref.in_degree, key=lambda nd: nd[1])
    assert most_cited == ("1412.6980", 2400)
    resp = loaded.stub.GetNeighbors(
        pb.GetNeighborsRequest(paper_id="1412.6980", direction=pb.DIRECTION_CITATIONS)
    )
    assert resp.paper.citation_count == 2400
    assert resp.paper.title == "Adam: A Method for Stochastic Optimization"
    assert len(resp.citations) == 50 and resp.next_page_token == "50"
    assert all(loaded.ref.has_edge(p.paper_id, "1412.6980") for p in resp.citations)
    counts = [p.citation_count for p in resp.citations]
    assert counts == sorted(counts, reverse=True)


def _pagerank_residual(g: nx.DiGraph, scores: dict[str, float], alpha: float = 0.85) -> float:
    """L1 distance between ``scores`` and one PageRank step applied to them (0 at the fixed
    point): each paper gets (1 - alpha)/N, plus alpha times its citers' scores split over
    their references, plus alpha times the rank of papers citing nothing, spread over all."""
    n = g.number_of_nodes()
    dangling = sum(scores[v] for v in g if g.out_degree(v) == 0)
    step = dict.fromkeys(g, (1 - alpha) / n + alpha * dangling / n)
    for u, v in g.edges():
        step[v] += alpha * scores[u] / g.out_degree(u)
    return sum(abs(step[v] - scores[v]) for v in g)


def _core_pagerank(loaded: Loaded, **restrict) -> dict[str, float]:  # type: ignore[no-untyped-def]
    core = CitationGraph(loaded.url, prefix=PREFIX)
    try:
        core.warm_up()
        return core.pagerank(**restrict)
    finally:
        core.close()


def test_pagerank_is_the_fixed_point_on_the_tsv_graph(loaded: Loaded) -> None:
    # Checked against the definition on the graph read straight from the TSV (not against
    # networkx's pagerank, which the service itself runs).
    got = _core_pagerank(loaded)
    assert got.keys() == set(loaded.ref)
    assert sum(got.values()) == pytest.approx(1.0)
    # networkx stops once an iteration moves the scores less than N * 1e-6 (L1).
    assert _pagerank_residual(loaded.ref, got) < len(got) * 1e-6
    # The service ranks by the same scores, best first, ties by id.
    resp = loaded.stub.Rank(pb.RankRequest(k=100))
    assert resp.ranked_nodes == len(got) and resp.ranked_edges == loaded.ref.number_of_edges()
    best = sorted(got, key=lambda n: (-got[n], n))[:100]
    assert [r.paper.paper_id for r in resp.results] == best
    assert [r.score for r in resp.results] == pytest.approx([got[n] for n in best], abs=1e-12)


def test_restricted_pagerank_is_the_fixed_point_on_the_induced_subgraph(loaded: Loaded) -> None:
    cats = {
        p.paper_id: p.categories for p in read_papers_jsonl(loaded.data / "arxiv2023_papers.jsonl")
    }
    keep = [n for n in loaded.ref if "cs.CL" in cats[n] and 2018 <= 2000 + int(n[:2]) <= 2020]
    induced = loaded.ref.subgraph(keep)
    got = _core_pagerank(loaded, categories=["cs.CL"], year_min=2018, year_max=2020)
    assert got.keys() == set(keep)
    assert sum(got.values()) == pytest.approx(1.0)
    assert _pagerank_residual(induced, got) < len(got) * 1e-6
    resp = loaded.stub.Rank(
        pb.RankRequest(k=20, categories=["cs.CL"], year_min=2018, year_max=2020)
    )
    assert (resp.ranked_nodes, resp.ranked_edges) == (len(keep), induced.number_of_edges())
    best = sorted(got, key=lambda n: (-got[n], n))[:20]
    assert [r.paper.paper_id for r in resp.results] == best
    for r in resp.results:
        assert r.score == pytest.approx(got[r.paper.paper_id], abs=1e-12)
        assert "cs.CL" in r.paper.categories and 2018 <= r.paper.year <= 2020


def test_subgraph_nodes_carry_their_whole_graph_pagerank(loaded: Loaded) -> None:
    whole = _core_pagerank(loaded)
    resp = loaded.stub.Subgraph(pb.SubgraphRequest(paper_id="1706.03762", max_nodes=50))
    assert len(resp.nodes) == 50
    for n in resp.nodes:
        assert n.pagerank == pytest.approx(whole[n.paper.paper_id], abs=1e-12)


@pytest.mark.parametrize("seeds", [["1810.04805"], ["1706.03762", "2010.11929"], ["2304.07638"]])
def test_recommendation_reasons_are_true(loaded: Loaded, seeds: list[str]) -> None:
    ref = loaded.ref
    resp = loaded.stub.Recommend(pb.RecommendRequest(seed_ids=seeds, k=25))
    assert resp.results
    scores = [r.score for r in resp.results]
    assert scores == sorted(scores, reverse=True)
    for rec in resp.results:
        c = rec.paper.paper_id
        assert c not in seeds and rec.reasons
        total = 0.0
        for reason in rec.reasons:
            s = reason.seed_id
            co = set(ref.predecessors(s)) & set(ref.predecessors(c))
            shared = set(ref.successors(s)) & set(ref.successors(c))
            assert reason.co_citation_count == len(co)
            assert reason.shared_reference_count == len(shared)
            assert set(reason.co_cited_by) <= co and len(reason.co_cited_by) == min(10, len(co))
            assert set(reason.shared_references) <= shared
            for p in reason.co_cited_by:
                assert ref.has_edge(p, s) and ref.has_edge(p, c)
            for r in reason.shared_references:
                assert ref.has_edge(s, r) and ref.has_edge(c, r)
            if co:
                total += len(co) / (ref.in_degree(s) * ref.in_degree(c)) ** 0.5
            if shared:
                total += len(shared) / (ref.out_degree(s) * ref.out_degree(c)) ** 0.5
        assert rec.score == pytest.approx(total)


def test_shortest_paths_match_networkx(loaded: Loaded) -> None:
    ref = loaded.ref
    for src, dst in [("2304.07638", "1412.6980"), ("2206.01651", "1706.03762")]:
        resp = loaded.stub.ShortestPath(pb.ShortestPathRequest(source_id=src, target_id=dst))
        assert resp.found
        assert resp.length == nx.shortest_path_length(ref, src, dst)
        ids = [p.paper_id for p in resp.path]
        assert ids[0] == src and ids[-1] == dst
        assert all(ref.has_edge(a, b) for a, b in itertools.pairwise(ids))
    # Adam cites nothing in the graph: no directed path out of it.
    resp = loaded.stub.ShortestPath(
        pb.ShortestPathRequest(source_id="1412.6980", target_id="1706.03762")
    )
    assert not resp.found and "try undirected" in resp.message
    resp = loaded.stub.ShortestPath(
        pb.ShortestPathRequest(source_id="1412.6980", target_id="1706.03762", undirected=True)
    )
    assert resp.found
    assert resp.length == nx.shortest_path_length(ref.to_undirected(), "1412.6980", "1706.03762")


def test_subgraph_is_a_true_ego_network(loaded: Loaded) -> None:
    resp = loaded.stub.Subgraph(pb.SubgraphRequest(paper_id="1706.03762", depth=2, max_nodes=300))
    assert len(resp.nodes) == 300 and resp.truncated
    depth = {n.paper.paper_id: n.depth for n in resp.nodes}
    und = loaded.ref.to_undirected(as_view=True)
    lengths = nx.single_source_shortest_path_length(und, "1706.03762", cutoff=2)
    assert all(lengths[n] == d for n, d in depth.items())
    assert {(e.citing_id, e.cited_id) for e in resp.edges} == set(
        loaded.ref.subgraph(depth).edges()
    )


def test_readding_is_idempotent_and_keeps_pagerank_fresh(loaded: Loaded) -> None:
    before = loaded.stub.Rank(pb.RankRequest(k=1))
    edges = list(itertools.islice(loaded.ref.edges(), 1000))
    resp = loaded.stub.AddCitations(
        iter(
            [
                pb.AddCitationsRequest(
                    citations=[pb.Citation(citing_id=a, cited_id=b) for a, b in edges]
                )
            ]
        )
    )
    assert (resp.edges_added, resp.edges_existing) == (0, 1000)
    after = loaded.stub.Rank(pb.RankRequest(k=1))
    assert not after.recomputed and after.computed_at == before.computed_at
    assert after.graph_version == before.graph_version and not after.stale


def test_restart_keeps_every_edge(loaded: Loaded) -> None:
    fresh = CitationGraph(loaded.url, prefix=PREFIX)
    stats = fresh.warm_up()
    assert stats is not None and (stats.nodes, stats.edges) == (24_393, 168_918)
    assert fresh.edges() == set(loaded.ref.edges())
    assert fresh.paper("1412.6980").title == "Adam: A Method for Stochastic Optimization"
    fresh.close()
