"""The graph algorithms as pure functions on small hand-built DiGraphs: no Redis, no server.

Every expected value is worked out by hand in the comments (PageRank with alpha = 0.85,
networkx's convention that a paper citing nothing spreads its rank over all papers), not
by running networkx a second time.
"""

from __future__ import annotations

import networkx as nx
import pytest

from services.graph import algorithms
from services.graph.domain import Direction, Reason

# networkx stops iterating once the scores move less than N * 1e-6 in all (L1).
TOL = 1e-5


def _g(*edges: tuple[str, str], nodes: tuple[str, ...] = ()) -> nx.DiGraph:
    g: nx.DiGraph = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    return g


# -- PageRank -----------------------------------------------------------------------------


def test_pagerank_of_a_cycle_is_uniform() -> None:
    # a -> b -> c -> a: every paper passes all its rank on to one other; by symmetry 1/3.
    scores = algorithms.pagerank(_g(("a", "b"), ("b", "c"), ("c", "a")))
    assert scores == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, abs=TOL)


def test_pagerank_of_a_star_ranks_the_cited_centre_highest() -> None:
    # Three leaves cite the centre, which cites nothing (N = 4). A leaf only gets the
    # teleport share and its quarter of the centre's spread: l = 0.15/4 + 0.85 z/4; and
    # z + 3 l = 1 give z = 0.8875 / 1.6375 = 71/131 = 0.5420 and l = 20/131 = 0.1527.
    scores = algorithms.pagerank(_g(("l1", "z"), ("l2", "z"), ("l3", "z")))
    assert scores["z"] == pytest.approx(71 / 131, abs=TOL)
    for leaf in ("l1", "l2", "l3"):
        assert scores[leaf] == pytest.approx(20 / 131, abs=TOL)
    assert algorithms.best_first(scores)[0][0] == "z"


def test_pagerank_of_a_chain_and_of_nothing() -> None:
    # a -> b, b dangling: a = 0.15/2 + 0.85 b/2, a + b = 1 -> b = 0.925/1.425 = 37/57.
    scores = algorithms.pagerank(_g(("a", "b")))
    assert scores == pytest.approx({"a": 20 / 57, "b": 37 / 57}, abs=TOL)
    assert algorithms.pagerank(nx.DiGraph()) == {}


def test_pagerank_damping_is_the_one_given() -> None:
    # With alpha = 0.5 the star's centre gets z = 0.625 / 1.375 = 5/11 (same algebra).
    scores = algorithms.pagerank(_g(("l1", "z"), ("l2", "z"), ("l3", "z")), alpha=0.5)
    assert scores["z"] == pytest.approx(5 / 11, abs=TOL)


def test_best_first_breaks_ties_by_id() -> None:
    assert algorithms.best_first({"b": 0.25, "c": 0.5, "a": 0.25}) == [
        ("c", 0.5),
        ("a", 0.25),
        ("b", 0.25),
    ]


# -- filters and orders -------------------------------------------------------------------


def test_filter_nodes_by_any_category_and_by_year() -> None:
    g = _g(("2101.00001", "1412.6980"), nodes=("hep-th/9901001",))
    g.nodes["2101.00001"].update(categories=["cs.CL", "cs.LG"])
    g.nodes["1412.6980"].update(categories=["cs.LG"], year=2015)  # a given year wins
    assert sorted(algorithms.filter_nodes(g)) == ["1412.6980", "2101.00001", "hep-th/9901001"]
    assert algorithms.filter_nodes(g, frozenset({"cs.CL"})) == ["2101.00001"]
    assert sorted(algorithms.filter_nodes(g, frozenset({"cs.CL", "cs.LG"}))) == [
        "1412.6980",
        "2101.00001",
    ]
    assert algorithms.filter_nodes(g, year_min=2015, year_max=2015) == ["1412.6980"]
    assert algorithms.filter_nodes(g, year_max=2000) == ["hep-th/9901001"]
    assert algorithms.filter_nodes(g, year_min=2016) == ["2101.00001"]
    assert algorithms.year_of(g, "hep-th/9901001") == 1999


def test_most_cited_first_then_by_id() -> None:
    g = _g(("x", "b"), ("y", "b"), ("x", "c"), ("x", "a"))
    assert algorithms.most_cited_first(g, ["a", "c", "b", "x"]) == ["b", "a", "c", "x"]


# -- co-citation, coupling, recommendations ------------------------------------------------

# p1 cites s, c1, c2; p2 cites s, c1; p3 cites c2; s cites r1, r2; d cites r1, r2; e cites r1.
SAMPLE = _g(
    ("p1", "s"), ("p1", "c1"), ("p1", "c2"),
    ("p2", "s"), ("p2", "c1"),
    ("p3", "c2"),
    ("s", "r1"), ("s", "r2"),
    ("d", "r1"), ("d", "r2"),
    ("e", "r1"),
)  # fmt: skip


def test_co_citation_and_coupling_counts() -> None:
    # s is cited by p1 and p2: c1 is cited by both, c2 by p1 only.
    assert algorithms.co_citations(SAMPLE, "s") == {"c1": 2, "c2": 1}
    # s cites r1 and r2: d cites both, e cites r1.
    assert algorithms.couplings(SAMPLE, "s") == {"d": 2, "e": 1}
    assert algorithms.co_citations(SAMPLE, "p3") == {}
    assert algorithms.couplings(SAMPLE, "r1") == {}


def test_recommend_scores_are_cosine_normalised_and_summed() -> None:
    got = algorithms.recommend(SAMPLE, ["s"], 10)
    # c1: 2 / sqrt(in(s)=2 * in(c1)=2) = 1; d: 2 / sqrt(out(s)=2 * out(d)=2) = 1;
    # e: 1 / sqrt(2 * 1) = 0.7071; c2: 1 / sqrt(2 * 2) = 0.5. Ties (c1, d) by id.
    assert [c for c, _, _ in got] == ["c1", "d", "e", "c2"]
    assert [score for _, score, _ in got] == pytest.approx([1.0, 1.0, 2**-0.5, 0.5])
    reasons = {c: r for c, _, r in got}
    assert reasons["c1"] == [Reason("s", ["p1", "p2"], 2, [], 0)]
    assert reasons["d"] == [Reason("s", [], 0, ["r1", "r2"], 2)]
    co_only = algorithms.recommend(SAMPLE, ["s"], 10, coupling=False)
    assert [(c, s) for c, s, _ in co_only] == [("c1", 1.0), ("c2", 0.5)]
    coupling_only = algorithms.recommend(SAMPLE, ["s"], 1, co_citation=False)
    assert [c for c, _, _ in coupling_only] == ["d"]


def test_recommend_sums_over_seeds_and_never_returns_a_seed() -> None:
    # Seeds s and c1. c2 is co-cited with s (by p1: 1/sqrt(2*2) = 0.5) and with c1 (by p1:
    # 1/sqrt(in(c1)=2 * in(c2)=2) = 0.5): 1.0 in all, with one reason per seed.
    got = {
        c: (score, reasons) for c, score, reasons in algorithms.recommend(SAMPLE, ["s", "c1"], 10)
    }
    assert "s" not in got and "c1" not in got
    score, reasons = got["c2"]
    assert score == pytest.approx(1.0)
    assert [r.seed_id for r in reasons] == ["s", "c1"]


def test_reasons_list_at_most_ten_ids_but_count_all() -> None:
    g = _g(*[(f"p{i:02d}", t) for i in range(12) for t in ("s", "c")])
    ((c, score, (reason,)),) = algorithms.recommend(g, ["s"], 5)
    assert (c, score) == ("c", pytest.approx(1.0))  # 12 / sqrt(12 * 12)
    assert reason.co_citation_count == 12
    assert reason.co_cited_by == [f"p{i:02d}" for i in range(10)]


# -- paths ----------------------------------------------------------------------------------


def test_shortest_path_follows_citations_or_ignores_direction() -> None:
    g = _g(("a", "b"), ("b", "c"), ("x", "c"), ("a", "y"), ("y", "z"), ("z", "c"), nodes=("lone",))
    assert algorithms.shortest_path(g, "a", "c") == ["a", "b", "c"]
    assert algorithms.shortest_path(g, "c", "a") is None
    assert algorithms.shortest_path(g, "c", "a", undirected=True) == ["c", "b", "a"]
    assert algorithms.shortest_path(g, "a", "x", undirected=True) == ["a", "b", "c", "x"]
    assert algorithms.shortest_path(g, "a", "lone", undirected=True) is None
    assert algorithms.shortest_path(g, "a", "a") == ["a"]


# -- ego networks ---------------------------------------------------------------------------

# Centre o, cited by r1 r2 r3; each ri cited by si, and r2 also by w; s1 cited by t;
# o cites u.
EGO = _g(
    ("r1", "o"), ("r2", "o"), ("r3", "o"),
    ("s1", "r1"), ("s2", "r2"), ("s3", "r3"), ("w", "r2"),
    ("t", "s1"),
    ("o", "u"),
)  # fmt: skip


def test_ego_network_by_depth() -> None:
    one = algorithms.ego_network(EGO, "o", depth=1)
    assert one.hops == {"o": 0, "r1": 1, "r2": 1, "r3": 1, "u": 1}
    assert one.edges == [("o", "u"), ("r1", "o"), ("r2", "o"), ("r3", "o")]
    assert not one.truncated
    two = algorithms.ego_network(EGO, "o", depth=2)
    assert {n for n, d in two.hops.items() if d == 2} == {"s1", "s2", "s3", "w"}
    assert ("t", "s1") not in two.edges and ("s1", "r1") in two.edges
    three = algorithms.ego_network(EGO, "o", depth=3)
    assert three.hops["t"] == 3 and len(three.hops) == EGO.number_of_nodes()


def test_ego_network_cap_keeps_the_most_cited_then_by_id() -> None:
    # Level 1 holds r1 (cited once), r2 (twice), r3 (once), u (once, by o): with room for
    # 3 besides the centre, r2 comes first, then r1 and r3 by id; u is cut.
    capped = algorithms.ego_network(EGO, "o", depth=3, max_nodes=4)
    assert list(capped.hops) == ["o", "r1", "r2", "r3"]
    assert capped.truncated
    assert all(a in capped.hops and b in capped.hops for a, b in capped.edges)
    exact = algorithms.ego_network(EGO, "o", depth=1, max_nodes=5)
    assert len(exact.hops) == 5 and not exact.truncated


def test_ego_network_in_one_direction() -> None:
    refs = algorithms.ego_network(EGO, "s1", depth=3, direction=Direction.REFERENCES)
    assert refs.hops == {"s1": 0, "r1": 1, "o": 2, "u": 3}
    cits = algorithms.ego_network(EGO, "o", depth=3, direction=Direction.CITATIONS)
    assert set(cits.hops) == {"o", "r1", "r2", "r3", "s1", "s2", "s3", "w", "t"}


def test_weak_components() -> None:
    assert algorithms.weak_components(_g(("a", "b"), ("c", "b"), ("d", "e"), nodes=("f",))) == (
        3,
        3,
    )
    assert algorithms.weak_components(nx.DiGraph()) == (0, 0)
