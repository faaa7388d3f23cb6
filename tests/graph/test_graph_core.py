"""The citation graph core (``CitationGraph``: locking, the Redis mirror, validation, the
PageRank cache) on small hand-built graphs: exact expectations, real Redis.

The algorithms themselves are tested without Redis in ``test_graph_algorithms.py``; arXiv
id forms in ``tests/test_common.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument, NotFound, Unavailable
from services.devtools.redis_server import LocalRedis
from services.graph.citations import CitationGraph
from services.graph.domain import Direction, PaperAttributes, RecommendMethod

# Readable names for arXiv ids.
P = {name: f"2101.{i:05d}" for i, name in enumerate("s c1 c2 d e p1 p2 p3 r1 r2".split(), 1)}


@pytest.fixture
def graph(redis_url: str) -> Iterator[CitationGraph]:
    g = CitationGraph(redis_url)
    g.warm_up()
    yield g
    g.close()


def _ids(papers) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.paper_id for p in papers]


# -- writes -------------------------------------------------------------------------------


def test_add_is_idempotent_and_reports_skips(graph: CitationGraph) -> None:
    edges = [(P["p1"], P["s"]), (P["p1"], P["c1"]), (P["p2"], P["s"])]
    first = graph.add(edges)
    assert (first.edges_added, first.edges_existing, first.nodes_added) == (3, 0, 4)
    version = graph.version

    again = graph.add([*edges, (P["p1"], P["s"])])
    assert (again.edges_added, again.edges_existing, again.nodes_added) == (0, 3, 0)
    assert graph.version == version, "a no-op batch must not bump the version"
    assert graph.edges() == set(edges)

    bad = graph.add([(P["s"], P["s"]), ("1412.698", P["s"]), (P["d"], "nonsense")])
    assert bad.edges_added == 0
    reasons = [s.reason for s in bad.skipped]
    assert len(reasons) == 3
    assert f"self-citation of {P['s']}" in reasons[0]
    assert "'1412.698'" in reasons[1]
    assert "'nonsense'" in reasons[2]
    assert graph.edges() == set(edges)


def test_versioned_ids_collapse_to_one_paper(graph: CitationGraph) -> None:
    res = graph.add([("1706.03762v5", "1412.6980v9"), ("1706.03762", "1412.6980")])
    assert res.edges_added == 1
    assert graph.edges() == {("1706.03762", "1412.6980")}


def test_a_versioned_id_joins_the_same_node_as_the_unversioned_one(graph: CitationGraph) -> None:
    # The retriever stores ids as given ("2101.00001v2"); the graph answers for the paper.
    graph.add([("2101.00001v2", "1412.6980")], [PaperAttributes("2101.00001", "Paper")])
    graph.add([("2101.00001", "1706.03762"), ("2102.00001", "arXiv:2101.00001v1")])
    assert graph.nodes() == {"2101.00001", "1412.6980", "1706.03762", "2102.00001"}
    versioned, plain = graph.neighbors("2101.00001v2"), graph.neighbors("2101.00001")
    assert versioned == plain
    assert (plain.paper.paper_id, plain.paper.title) == ("2101.00001", "Paper")
    assert (plain.reference_total, plain.citation_total) == (2, 1)
    sub = graph.subgraph("2101.00001v3")
    assert sub.nodes[0][0].paper_id == "2101.00001"


def test_attributes_make_nodes_and_merge(graph: CitationGraph) -> None:
    graph.add(papers=[PaperAttributes("1412.6980", "Adam", 0, ("cs.LG",))])
    info = graph.paper("1412.6980")
    assert (info.title, info.year, info.categories, info.citation_count) == (
        "Adam",
        2014,
        ("cs.LG",),
        0,
    )
    graph.add(papers=[PaperAttributes("1412.6980v2", "", 2015, ())])
    info = graph.paper("1412.6980")
    assert (info.title, info.year, info.categories) == ("Adam", 2015, ("cs.LG",))
    version = graph.version
    same = graph.add(papers=[PaperAttributes("1412.6980", "Adam", 2015, ("cs.LG",))])
    assert same.papers_updated == 0 and graph.version == version, "same attributes: no-op"
    res = graph.add(papers=[PaperAttributes("1412.6980", "x", 3000, ())])
    assert res.papers_updated == 0 and "year 3000" in res.skipped[0].reason


def test_remove_paper_removes_node_and_edges_everywhere(
    redis_url: str, graph: CitationGraph
) -> None:
    graph.add([(P["p1"], P["s"]), (P["s"], P["r1"]), (P["p2"], P["r1"]), (P["p2"], P["s"])])
    graph.add([(P["p2"], P["c1"])])
    removed, _ = graph.remove_paper(P["s"])
    assert removed == 3
    assert graph.edges() == {(P["p2"], P["r1"]), (P["p2"], P["c1"])}
    with pytest.raises(NotFound):
        graph.paper(P["s"])
    with pytest.raises(NotFound):
        graph.remove_paper(P["s"])
    # p1 lost its only edge but stays a paper, also after a restart; p2 keeps its others.
    fresh = CitationGraph(redis_url)
    fresh.warm_up()
    assert fresh.edges() == graph.edges()
    assert fresh.nodes() == graph.nodes() == {P["p1"], P["p2"], P["r1"], P["c1"]}


def test_restart_keeps_every_edge_and_attribute(redis_url: str, graph: CitationGraph) -> None:
    edges = {(f"2101.{i:05d}", f"2001.{j:05d}") for i in range(1, 60) for j in range(1, i % 7 + 2)}
    graph.add(sorted(edges), [PaperAttributes("2001.00001", "Root", 0, ("cs.AI", "cs.LG"))])
    fresh = CitationGraph(redis_url)
    stats = fresh.warm_up()
    assert stats is not None and stats.edges == len(edges)
    assert fresh.edges() == edges
    assert fresh.paper("2001.00001").categories == ("cs.AI", "cs.LG")
    assert fresh.warm_up() is None, "warm_up is idempotent"


def test_a_reader_never_sees_half_a_batch(graph: CitationGraph) -> None:
    hub = "1412.6980"
    graph.add(papers=[PaperAttributes(hub)])
    batch, batches = 200, 30
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(graph.neighbors(hub, limit=0).citation_total)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for b in range(batches):
            graph.add([(f"2201.{b * batch + i:05d}", hub) for i in range(batch)])
    finally:
        done.set()
        reader.join()
    assert seen and all(n % batch == 0 for n in seen)
    assert graph.neighbors(hub, limit=0).citation_total == batch * batches


def test_redis_down_is_unavailable_and_memory_unchanged(
    own_redis_allowed: None, tmp_path: Path
) -> None:
    server = LocalRedis(data_dir=tmp_path / "redis").start()
    try:
        g = CitationGraph(server.url, socket_timeout=2)
        g.warm_up()
        g.add([(P["p1"], P["s"])])
        server.kill()
        with pytest.raises(Unavailable, match="Redis"):
            g.add([(P["p2"], P["s"])])
        with pytest.raises(Unavailable):
            g.remove_paper(P["s"])
        assert g.edges() == {(P["p1"], P["s"])}
        assert g.neighbors(P["s"]).citation_total == 1, "reads keep working from memory"
        with pytest.raises(Unavailable):
            CitationGraph(server.url, socket_timeout=2).warm_up()
    finally:
        server.stop()


def test_queries_before_warm_up_are_unavailable(redis_url: str) -> None:
    with pytest.raises(Unavailable, match="loading"):
        CitationGraph(redis_url).neighbors("1412.6980")


# -- queries ------------------------------------------------------------------------------


def test_neighbors_are_paged_most_cited_first(graph: CitationGraph) -> None:
    hub = "1412.6980"
    citers = [f"2301.{i:05d}" for i in range(1, 6)]
    edges = [(c, hub) for c in citers]
    # citers[3] is cited twice, citers[1] once: they come first.
    edges += [("2302.00001", citers[3]), ("2302.00002", citers[3]), ("2302.00001", citers[1])]
    edges += [(hub, "1312.6114")]
    graph.add(edges)
    first = graph.neighbors(hub, Direction.CITATIONS, offset=0, limit=2)
    assert (first.citation_total, first.reference_total) == (5, 1)
    assert _ids(first.citations) == [citers[3], citers[1]]
    assert first.references == []
    rest = graph.neighbors(hub, Direction.CITATIONS, offset=2, limit=10)
    assert _ids(rest.citations) == [citers[0], citers[2], citers[4]]
    both = graph.neighbors(hub)
    assert _ids(both.references) == ["1312.6114"] and len(both.citations) == 5
    assert both.paper.citation_count == 5 and both.paper.reference_count == 1
    with pytest.raises(InvalidArgument, match="page size"):
        graph.neighbors(hub, limit=1001)
    with pytest.raises(NotFound, match=r"1412\.6981"):
        graph.neighbors("1412.6981")


def _sample(graph: CitationGraph) -> None:
    edges = [
        (P["p1"], P["s"]), (P["p1"], P["c1"]), (P["p1"], P["c2"]),
        (P["p2"], P["s"]), (P["p2"], P["c1"]),
        (P["p3"], P["c2"]),
        (P["s"], P["r1"]), (P["s"], P["r2"]),
        (P["d"], P["r1"]), (P["d"], P["r2"]),
        (P["e"], P["r1"]),
    ]  # fmt: skip
    cats = {"s": "cs.CL", "c1": "cs.CL", "p1": "cs.CL", "p2": "cs.LG", "r1": "cs.CL", "d": "cs.CL"}
    graph.add(edges, [PaperAttributes(P[n], n, 0, (c,)) for n, c in cats.items()])


# A cs.CL citation cycle a -> b -> c -> a, cited from outside by x (cs.LG). Worked out by
# hand with alpha = 0.85 over N = 4 papers (none dangling): x = 0.15/4 = 3/80;
# a = 3/80 + 0.85 (c + x), b = 3/80 + 0.85 a, c = 3/80 + 0.85 b, which solve to
# a = 1369/4116, b = 659/2058, c = 25493/82320 (sum 1). Restricted to cs.CL the induced
# graph is the bare cycle: 1/3 each.
A, B, C, X = "2101.00001", "2102.00001", "2103.00001", "2104.00001"
WHOLE = {X: 3 / 80, A: 1369 / 4116, B: 659 / 2058, C: 25493 / 82320}
# networkx stops iterating once the scores move less than N * 1e-6 in all (L1).
TOL = 1e-5


def _cycle(graph: CitationGraph) -> None:
    graph.add(
        [(A, B), (B, C), (C, A), (X, A)],
        [PaperAttributes(n, "", 0, ("cs.CL",)) for n in (A, B, C)]
        + [PaperAttributes(X, "", 0, ("cs.LG",))],
    )


def test_pagerank_and_rank_have_the_worked_out_values(graph: CitationGraph) -> None:
    _cycle(graph)
    assert graph.pagerank() == pytest.approx(WHOLE, abs=TOL)
    ranked = graph.rank(3)
    assert [(r.paper.paper_id, r.rank) for r in ranked.results] == [(A, 1), (B, 2), (C, 3)]
    assert [r.score for r in ranked.results] == pytest.approx(
        [WHOLE[A], WHOLE[B], WHOLE[C]], abs=TOL
    )
    assert (ranked.ranked_nodes, ranked.ranked_edges) == (4, 4)


def test_restricted_pagerank_runs_on_the_induced_subgraph(graph: CitationGraph) -> None:
    _cycle(graph)
    assert graph.pagerank(categories=["cs.CL"]) == pytest.approx(
        dict.fromkeys((A, B, C), 1 / 3), abs=TOL
    )
    result = graph.rank(10, categories=["cs.CL"])
    assert (result.ranked_nodes, result.ranked_edges) == (3, 3)
    # Equal scores: ties break by id.
    assert [r.paper.paper_id for r in result.results] == [A, B, C]
    assert graph.pagerank(categories=["cs.LG"]) == {X: pytest.approx(1.0)}
    # Years come from the ids (all 2021 here): a range excluding 2021 is empty.
    assert graph.rank(10, year_min=2022).results == []
    assert len(graph.rank(10, year_min=2021, year_max=2021).results) == 4
    with pytest.raises(InvalidArgument, match="year_min"):
        graph.rank(10, year_min=2022, year_max=2020)
    with pytest.raises(InvalidArgument, match="k must be"):
        graph.rank(0)


def test_subgraph_nodes_carry_their_pagerank_in_the_whole_graph(graph: CitationGraph) -> None:
    _cycle(graph)
    sub = graph.subgraph(X, depth=1)
    # Only x and a are drawn; their scores are those of the whole graph, not of the drawn
    # two-node graph x -> a (where they would be 20/57 and 37/57).
    assert [p.paper_id for p, _ in sub.nodes] == [X, A]
    assert sub.pagerank == pytest.approx({X: WHOLE[X], A: WHOLE[A]}, abs=TOL)
    assert graph.stats().last_pagerank_at is not None
    # Computed once, then served from the same cache as Rank.
    assert not graph.rank(1).recomputed
    # After a write the next subgraph recomputes: y now cites x too.
    graph.add([("2105.00001", X)])
    after = graph.subgraph(X, depth=1)
    assert after.pagerank[X] > WHOLE[X]
    assert sum(graph.pagerank().values()) == pytest.approx(1.0)


def test_pagerank_is_recomputed_lazily_after_writes(redis_url: str) -> None:
    g = CitationGraph(redis_url)
    g.warm_up()
    g.add([(P["p1"], P["s"])])
    first = g.rank(5)
    assert first.recomputed and not first.stale
    cached = g.rank(5)
    assert not cached.recomputed and cached.computed_at == first.computed_at
    g.add([(P["p2"], P["s"])])
    assert g.stats().last_pagerank_at == first.computed_at
    after = g.rank(5)
    assert after.recomputed and after.computed_at_version == after.graph_version
    assert after.results[0].paper.citation_count == 2

    patient = CitationGraph(redis_url, rank_refresh_seconds=3600)
    patient.warm_up()
    patient.rank(5)
    patient.add([(P["p3"], P["s"])])
    stale = patient.rank(5)
    assert stale.stale and not stale.recomputed
    assert stale.computed_at_version < stale.graph_version


def test_recommend_scores_and_reasons(graph: CitationGraph) -> None:
    _sample(graph)
    recs = graph.recommend([P["s"]], k=10)
    by_id = {r.paper.paper_id: r for r in recs}
    # c1: co-cited with s by p1 and p2 -> 2/sqrt(2*2); d cites both of s's references ->
    # 2/sqrt(2*2); e shares r1 -> 1/sqrt(2*1); c2: co-cited by p1 only -> 1/sqrt(2*2).
    assert [r.paper.paper_id for r in recs] == [P["c1"], P["d"], P["e"], P["c2"]]
    assert by_id[P["c1"]].score == pytest.approx(1.0)
    assert by_id[P["e"]].score == pytest.approx(2**-0.5)
    assert by_id[P["c2"]].score == pytest.approx(0.5)
    (reason,) = by_id[P["c1"]].reasons
    assert reason.seed_id == P["s"]
    assert (reason.co_cited_by, reason.co_citation_count) == ([P["p1"], P["p2"]], 2)
    assert reason.shared_references == []
    (reason,) = by_id[P["d"]].reasons
    assert (reason.shared_references, reason.shared_reference_count) == ([P["r1"], P["r2"]], 2)

    co_only = graph.recommend([P["s"]], k=10, method=RecommendMethod.CO_CITATION)
    assert [r.paper.paper_id for r in co_only] == [P["c1"], P["c2"]]
    coupling = graph.recommend([P["s"]], k=1, method=RecommendMethod.COUPLING)
    assert [r.paper.paper_id for r in coupling] == [P["d"]]
    # Several seeds: scores add up, seeds are never recommended.
    multi = graph.recommend([P["s"], P["c1"]], k=10)
    assert P["s"] not in _ids(r.paper for r in multi)
    assert P["c1"] not in _ids(r.paper for r in multi)
    with pytest.raises(InvalidArgument, match="seed"):
        graph.recommend([])
    with pytest.raises(NotFound, match=r"2101\.09999"):
        graph.recommend([P["s"], "2101.09999"])


def test_shortest_path_directed_undirected_and_none(graph: CitationGraph) -> None:
    a, b, c, x, y = "2103.00001", "2102.00001", "2101.00001", "2104.00001", "2105.00001"
    graph.add([(a, b), (b, c), (x, c)], [PaperAttributes(y, "alone")])
    path = graph.shortest_path(a, c)
    assert path.found and _ids(path.path) == [a, b, c] and path.length == 2
    back = graph.shortest_path(c, a)
    assert not back.found and back.length == -1 and "no citation path" in back.message
    assert _ids(graph.shortest_path(c, a, undirected=True).path) == [c, b, a]
    assert _ids(graph.shortest_path(a, x, undirected=True).path) == [a, b, c, x]
    assert not graph.shortest_path(a, y, undirected=True).found
    assert graph.shortest_path(a, a).length == 0
    with pytest.raises(NotFound):
        graph.shortest_path(a, "2106.00001")


def test_subgraph_depth_cap_and_edges(graph: CitationGraph) -> None:
    centre = "2001.00001"
    ring1 = [f"2002.{i:05d}" for i in range(1, 4)]
    ring2 = [f"2003.{i:05d}" for i in range(1, 4)]
    edges = [(r, centre) for r in ring1] + [(ring2[i], ring1[i]) for i in range(3)]
    edges += [("2004.00001", ring2[0])]
    graph.add(edges)
    one = graph.subgraph(centre, depth=1)
    assert {p.paper_id: d for p, d in one.nodes} == {centre: 0, **dict.fromkeys(ring1, 1)}
    assert set(one.edges) == {(r, centre) for r in ring1} and not one.truncated
    two = graph.subgraph(centre, depth=2)
    assert {p.paper_id for p, d in two.nodes if d == 2} == set(ring2)
    capped = graph.subgraph(centre, depth=3, max_nodes=5)
    assert len(capped.nodes) == 5 and capped.truncated
    kept = {p.paper_id for p, _ in capped.nodes}
    assert capped.edges and all(a in kept and b in kept for a, b in capped.edges)
    refs = graph.subgraph(ring2[0], depth=3, direction=Direction.REFERENCES)
    assert [p.paper_id for p, _ in refs.nodes] == [ring2[0], ring1[0], centre]
    with pytest.raises(InvalidArgument, match="depth"):
        graph.subgraph(centre, depth=4)
    with pytest.raises(InvalidArgument, match="max_nodes"):
        graph.subgraph(centre, max_nodes=2001)


def test_stats(graph: CitationGraph) -> None:
    graph.add(
        [(P["p1"], P["s"]), (P["p2"], P["s"]), (P["d"], P["e"])], [PaperAttributes(P["r1"], "r1")]
    )
    s = graph.stats()
    assert (s.nodes, s.edges, s.components, s.largest_component) == (6, 3, 3, 3)
    assert s.density == pytest.approx(3 / (6 * 5))
    assert s.papers_with_attributes == 1 and s.last_pagerank_at is None
