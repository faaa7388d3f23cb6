"""The graph service over real gRPC (port 0) and a real Redis: codes, paging, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from arxivqa.graph.v1 import graph_pb2 as pb
from arxivqa.graph.v1 import graph_pb2_grpc
from services.common.grpc_errors import field_violations
from services.common.healthcheck import check
from services.common.server import GrpcService
from services.devtools.redis_server import LocalRedis, free_port
from services.graph.server import SERVICE_NAME, Settings, create_server

HUB = "1412.6980"


class Running:
    def __init__(self, service: GrpcService) -> None:
        self.service = service
        self.target = f"127.0.0.1:{service.port}"
        self.channel = grpc.insecure_channel(self.target)
        self.stub = graph_pb2_grpc.CitationGraphStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.service.stop(0).wait()


def _start(redis_url: str, tracer_provider=None, **kw) -> Running:  # type: ignore[no-untyped-def]
    service, port = create_server(
        Settings(port=0, redis_url=redis_url, **kw), tracer_provider=tracer_provider
    )
    assert port == service.port != 0
    service.start()
    service.wait_until_ready(30)
    return Running(service)


@pytest.fixture
def running(redis_url: str) -> Iterator[Running]:
    r = _start(redis_url)
    yield r
    r.close()


def _batches(*batches: list[tuple[str, str]]) -> Iterator[pb.AddCitationsRequest]:
    for batch in batches:
        yield pb.AddCitationsRequest(
            citations=[pb.Citation(citing_id=a, cited_id=b) for a, b in batch]
        )


def _code(call, *args, **kw) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as exc:
        call(*args, **kw)
    return exc.value.code(), exc.value.details()


def _seed(stub: graph_pb2_grpc.CitationGraphStub, n: int = 5) -> list[str]:
    citers = [f"2301.{i:05d}" for i in range(1, n + 1)]
    resp = stub.AddCitations(
        iter(
            [
                pb.AddCitationsRequest(
                    citations=[pb.Citation(citing_id=c, cited_id=HUB) for c in citers],
                    papers=[pb.PaperAttributes(paper_id=HUB, title="Adam", categories=["cs.LG"])],
                )
            ]
        )
    )
    assert resp.edges_added == n
    return citers


def test_settings_read_redis_url_from_either_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARXIVQA_GRAPH_REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://shared:6379/0")
    monkeypatch.setenv("ARXIVQA_GRAPH_PORT", "6000")
    s = Settings()
    assert (s.redis_url, s.port) == ("redis://shared:6379/0", 6000)
    monkeypatch.setenv("ARXIVQA_GRAPH_REDIS_URL", "redis://own:6379/1")
    assert Settings().redis_url == "redis://own:6379/1"
    monkeypatch.delenv("ARXIVQA_GRAPH_PORT")
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.delenv("ARXIVQA_GRAPH_REDIS_URL")
    assert Settings().port == 50054


def test_health_and_reflection(running: Running) -> None:
    assert check(running.target) == (True, "SERVING")
    assert check(running.target, SERVICE_NAME) == (True, "SERVING")
    stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)
    (resp,) = list(
        stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    )
    assert SERVICE_NAME in {s.name for s in resp.list_services_response.service}
    assert SERVICE_NAME == "arxivqa.graph.v1.CitationGraph"


def test_add_citations_stream_is_idempotent_and_reports_skips(running: Running) -> None:
    stub = running.stub
    first = [("2301.00001", HUB), ("2301.00002", HUB)]
    resp = stub.AddCitations(
        _batches(first, [("2301.00001", HUB), ("2301.00003", "2301.00003"), ("bad", HUB)])
    )
    assert (resp.batches, resp.edges_added, resp.edges_existing, resp.nodes_added) == (2, 2, 1, 3)
    assert resp.skipped_count == 2
    assert [s.item for s in resp.skipped] == ["2301.00003 -> 2301.00003", f"bad -> {HUB}"]
    assert "self-citation" in resp.skipped[0].reason
    assert "malformed arXiv id 'bad'" in resp.skipped[1].reason
    again = stub.AddCitations(_batches(first))
    assert (again.edges_added, again.edges_existing) == (0, 2)
    assert again.graph_version == resp.graph_version
    empty = stub.AddCitations(iter([]))
    assert (empty.batches, empty.edges_added) == (0, 0)


def test_skipped_items_are_listed_up_to_100_and_counted(running: Running) -> None:
    resp = running.stub.AddCitations(_batches([(f"x{i}", HUB) for i in range(250)]))
    assert resp.skipped_count == 250 and len(resp.skipped) == 100


def test_get_neighbors_counts_and_pages(running: Running) -> None:
    citers = _seed(running.stub, 5)
    stub = running.stub
    counts = stub.GetNeighbors(pb.GetNeighborsRequest(paper_id=HUB, counts_only=True))
    assert (counts.paper.citation_count, counts.paper.reference_count) == (5, 0)
    assert counts.paper.title == "Adam" and counts.paper.year == 2014
    assert not counts.citations and not counts.next_page_token
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = stub.GetNeighbors(
            pb.GetNeighborsRequest(
                paper_id=HUB,
                direction=pb.DIRECTION_CITATIONS,
                page_size=2,
                page_token=token,
            )
        )
        pages += 1
        seen += [p.paper_id for p in page.citations]
        token = page.next_page_token
        if not token:
            break
    assert pages == 3 and seen == citers
    refs = stub.GetNeighbors(pb.GetNeighborsRequest(paper_id=citers[0]))
    assert [p.paper_id for p in refs.references] == [HUB]
    assert refs.references[0].citation_count == 5


def test_error_codes(running: Running) -> None:
    _seed(running.stub, 2)
    stub = running.stub
    invalid, not_found = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    nb, path = pb.GetNeighborsRequest, pb.ShortestPathRequest
    cases = [
        (stub.GetNeighbors, nb(paper_id="1412.6981"), not_found, "1412.6981"),
        (stub.GetNeighbors, nb(paper_id="nope"), invalid, "'nope'"),
        (stub.GetNeighbors, nb(paper_id=HUB, page_size=5000), invalid, "page"),
        (stub.GetNeighbors, nb(paper_id=HUB, page_size=-1), invalid, "page"),
        (stub.GetNeighbors, nb(paper_id=HUB, page_token="x"), invalid, "page_token"),
        (stub.GetNeighbors, nb(paper_id=HUB, direction=7), invalid, "direction"),
        (stub.Rank, pb.RankRequest(k=1001), invalid, "k must be"),
        (stub.Rank, pb.RankRequest(k=-3), invalid, "k must not be negative"),
        (stub.Rank, pb.RankRequest(year_min=2020, year_max=2010), invalid, "year_min"),
        (stub.Recommend, pb.RecommendRequest(), invalid, "seed"),
        (stub.Recommend, pb.RecommendRequest(seed_ids=[HUB], k=5000), invalid, "k must be"),
        (stub.Recommend, pb.RecommendRequest(seed_ids=["2201.00001"]), not_found, "2201.00001"),
        (stub.Recommend, pb.RecommendRequest(seed_ids=[HUB], method=9), invalid, "method"),
        (stub.ShortestPath, path(source_id=HUB, target_id="0704.0001"), not_found, "0704.0001"),
        (stub.ShortestPath, path(source_id="", target_id=HUB), invalid, "malformed"),
        (stub.Subgraph, pb.SubgraphRequest(paper_id=HUB, depth=4), invalid, "depth"),
        (stub.Subgraph, pb.SubgraphRequest(paper_id=HUB, max_nodes=100000), invalid, "max_nodes"),
        (stub.Subgraph, pb.SubgraphRequest(paper_id="0704.0001"), not_found, "0704.0001"),
        (stub.RemovePaper, pb.RemovePaperRequest(paper_id="0704.0001"), not_found, "0704.0001"),
        (stub.RemovePaper, pb.RemovePaperRequest(paper_id="hep-th/99"), invalid, "hep-th/99"),
    ]  # fmt: skip
    for call, request, code, text in cases:
        got, details = _code(call, request)
        assert (got, text in details) == (code, True), (request, got, details)
    # request fields at fault also travel typed, as google.rpc.BadRequest field violations
    for request, field in (
        (nb(paper_id=HUB, page_token="x"), "page_token"),
        (nb(paper_id=HUB, direction=7), "direction"),
        (nb(paper_id=HUB, page_size=-1), "page_size"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetNeighbors(request)
        assert [f for f, _ in field_violations(err.value)] == [field], request


def test_rank_says_how_fresh_it_is(running: Running) -> None:
    _seed(running.stub, 3)
    stub = running.stub
    first = stub.Rank(pb.RankRequest(k=2))
    assert first.recomputed and not first.stale
    assert first.results[0].paper.paper_id == HUB and first.results[0].rank == 1
    assert first.computed_at.seconds > 0 and first.ranked_nodes == 4
    second = stub.Rank(pb.RankRequest(k=2))
    assert not second.recomputed and second.computed_at == first.computed_at
    stats = stub.GetStats(pb.GetStatsRequest())
    assert stats.last_pagerank_at == first.computed_at
    filtered = stub.Rank(pb.RankRequest(categories=["cs.LG"]))
    assert [r.paper.paper_id for r in filtered.results] == [HUB]


def test_recommend_path_subgraph_stats_remove(running: Running) -> None:
    stub = running.stub
    stub.AddCitations(
        _batches([("2301.00001", HUB), ("2301.00001", "1502.03167"), ("2301.00002", HUB)])
    )
    rec = stub.Recommend(pb.RecommendRequest(seed_ids=[HUB]))
    assert [r.paper.paper_id for r in rec.results] == ["1502.03167"]
    (reason,) = rec.results[0].reasons
    assert list(reason.co_cited_by) == ["2301.00001"] and reason.co_citation_count == 1
    path = stub.ShortestPath(pb.ShortestPathRequest(source_id="2301.00002", target_id="1502.03167"))
    assert not path.found and path.length == -1 and "no citation path" in path.message
    path = stub.ShortestPath(
        pb.ShortestPathRequest(source_id="2301.00002", target_id="1502.03167", undirected=True)
    )
    assert path.found and [p.paper_id for p in path.path] == [
        "2301.00002",
        HUB,
        "2301.00001",
        "1502.03167",
    ]
    stats = stub.GetStats(pb.GetStatsRequest())
    assert (stats.nodes, stats.edges, stats.components) == (4, 3, 1)
    assert not stats.HasField("last_pagerank_at")
    sub = stub.Subgraph(pb.SubgraphRequest(paper_id=HUB, depth=1, max_nodes=2))
    assert {n.paper.paper_id: n.depth for n in sub.nodes} == {HUB: 0, "2301.00001": 1}
    assert sub.truncated
    # Each node's PageRank over the whole graph (4 papers, not the 2 drawn), by hand with
    # alpha 0.85: HUB and 1502.03167 cite nothing, so their rank D is spread over all four.
    # Each citer c = 0.15/4 + 0.85 D/4 with D = 1 - 2c: c = 0.25/1.425 = 10/57;
    # HUB = c + 0.85 (c/2 + c) = 2.275 c = 91/228 (1502.03167 = c + 0.85 c/2 = 1/4).
    rank = {n.paper.paper_id: n.pagerank for n in sub.nodes}
    assert rank == pytest.approx({HUB: 91 / 228, "2301.00001": 10 / 57}, abs=1e-5)
    assert stub.GetStats(pb.GetStatsRequest()).HasField("last_pagerank_at")
    sub = stub.Subgraph(pb.SubgraphRequest(paper_id=HUB))
    assert {n.paper.paper_id: n.depth for n in sub.nodes} == {
        HUB: 0,
        "2301.00001": 1,
        "2301.00002": 1,
    }
    assert {(e.citing_id, e.cited_id) for e in sub.edges} == {
        ("2301.00001", HUB),
        ("2301.00002", HUB),
    }
    removed = stub.RemovePaper(pb.RemovePaperRequest(paper_id=HUB + "v3"))
    assert removed.edges_removed == 2
    stats = stub.GetStats(pb.GetStatsRequest())
    assert (stats.nodes, stats.edges, stats.components) == (3, 1, 2)


def test_restart_keeps_every_edge(redis_url: str) -> None:
    edges = [(f"2302.{i:05d}", f"2301.{i % 17 + 1:05d}") for i in range(1, 400)]
    first = _start(redis_url)
    try:
        first.stub.AddCitations(_batches(edges[:200], edges[200:]))
        before = first.stub.GetStats(pb.GetStatsRequest())
    finally:
        first.close()
    second = _start(redis_url)
    try:
        after = second.stub.GetStats(pb.GetStatsRequest())
        assert (after.nodes, after.edges) == (before.nodes, before.edges) == (416, 399)
        for i in range(1, 18):
            pid = f"2301.{i:05d}"
            page = second.stub.GetNeighbors(pb.GetNeighborsRequest(paper_id=pid, page_size=100))
            got = {(p.paper_id, pid) for p in page.citations}
            assert got == {e for e in edges if e[1] == pid}
    finally:
        second.close()


def test_redis_outage_is_unavailable(own_redis_allowed: None, tmp_path: Path) -> None:
    server = LocalRedis(data_dir=tmp_path / "redis").start()
    running = _start(server.url)
    try:
        _seed(running.stub, 1)
        server.kill()
        code, details = _code(running.stub.AddCitations, _batches([("2301.00009", HUB)]))
        assert code == grpc.StatusCode.UNAVAILABLE and "Redis" in details
        counts = running.stub.GetNeighbors(pb.GetNeighborsRequest(paper_id=HUB, counts_only=True))
        assert counts.paper.citation_count == 1
    finally:
        running.close()
        server.stop()


def test_server_and_redis_spans_share_one_trace(redis_url: str, span_exporter) -> None:  # type: ignore[no-untyped-def]
    running = _start(redis_url, tracer_provider=span_exporter.provider)
    try:
        running.stub.AddCitations(_batches([("2301.00001", HUB)]))
    finally:
        running.close()
    spans = span_exporter.finished()
    (rpc,) = [s for s in spans if s.name.endswith("CitationGraph/AddCitations")]
    assert rpc.attributes["arxivqa.graph.edges_added"] == 1
    redis_spans = [s for s in spans if s.attributes.get("db.system") == "redis"]
    assert redis_spans
    assert any(
        s.context.trace_id == rpc.context.trace_id and s.parent.span_id == rpc.context.span_id
        for s in redis_spans
    )


def _spawn(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.graph.server"],
        env={**os.environ, "OTEL_SDK_DISABLED": "true", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_main_serves_until_sigterm(redis_url: str) -> None:
    port = free_port()
    proc = _spawn({"ARXIVQA_GRAPH_PORT": str(port), "REDIS_URL": redis_url})
    try:
        deadline = time.monotonic() + 60
        while check(f"127.0.0.1:{port}")[1] != "SERVING":
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "graph server did not become SERVING"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_main_fails_fast_on_bad_settings_and_unreachable_redis() -> None:
    proc = _spawn({"ARXIVQA_GRAPH_PORT": "not-a-port"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "ARXIVQA_GRAPH_PORT" in err
    dead = f"redis://127.0.0.1:{free_port()}/0"
    proc = _spawn({"ARXIVQA_GRAPH_PORT": "0", "ARXIVQA_GRAPH_REDIS_URL": dead})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "cannot load the citation graph from Redis" in err
