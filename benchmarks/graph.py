"""Graph service benchmark: load, cold start, PageRank and query latency.

    python -m benchmarks.graph [--sizes 250000,1000000] [--queries 300] [--skip-real]

On the arXiv 2023 citation graph (../shared/data/arxiv, when present): bulk load time from
the TSV (in-process core, and through the gRPC ``AddCitations`` stream), cold start (reload
from Redis), PageRank time (whole graph and a restricted variant), and p50/p95 latency of
``GetNeighbors``, ``Recommend``, ``ShortestPath`` and ``Subgraph`` over real gRPC. Then
load time, cold start and PageRank on synthetic preferential-attachment citation graphs
(Price's model: each new paper cites ``m`` earlier ones, chosen in proportion to their
citations + 1) of the given edge counts, to show how cost grows.

Redis is a private ``LocalRedis`` (AOF on, ``appendfsync everysec``) in a temporary
directory; nothing else is touched. Each stage's time is printed as it finishes.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import redis

from arxivqa.graph.v1 import graph_pb2 as pb
from arxivqa.graph.v1 import graph_pb2_grpc
from services.devtools.graph_readers import read_citations_tsv, read_papers_jsonl
from services.devtools.redis_server import LocalRedis
from services.graph.citations import CitationGraph
from services.graph.domain import PaperAttributes
from services.graph.server import Settings, create_server

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv"
BATCH = 10_000

rows: list[tuple[str, str, str]] = []


def report(stage: str, value: str, note: str = "") -> None:
    rows.append((stage, value, note))
    print(f"  {stage:<52} {value:>14}  {note}", flush=True)


_cpu = [0.0]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall seconds and the result; this process's CPU seconds go to ``last_cpu()``."""
    cpu = time.process_time()
    start = time.perf_counter()
    out = fn()
    _cpu[0] = time.process_time() - cpu
    return time.perf_counter() - start, out


def last_cpu() -> str:
    return f"cpu {_cpu[0]:.2f} s"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def redis_mb(url: str) -> float:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("memory")["used_memory"]) / 2**20
    finally:
        client.close()


def batched(items: list, n: int) -> Iterator[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), n):
        yield items[i : i + n]


def bulk_load(
    g: CitationGraph, edges: list[tuple[str, str]], papers: list[PaperAttributes] = ()
) -> int:  # type: ignore[assignment]
    added = 0
    for chunk in batched(list(papers), BATCH):
        g.add(papers=chunk)
    for chunk in batched(edges, BATCH):
        added += g.add(chunk).edges_added
    return added


def cold_start(url: str, prefix: str, repeats: int = 3) -> tuple[float, int]:
    """Median wall seconds of warm_up() on a fresh core; median CPU to ``last_cpu()``."""
    times = []
    cpus = []
    edges = 0
    for _ in range(repeats):
        g = CitationGraph(url, prefix=prefix)
        seconds, stats = timed(g.warm_up)
        times.append(seconds)
        cpus.append(_cpu[0])
        edges = stats.edges  # type: ignore[attr-defined]
        g.close()
        del g
        gc.collect()
    _cpu[0] = statistics.median(cpus)
    return statistics.median(times), edges


def pagerank_time(g: CitationGraph, repeats: int = 3, **filters: object) -> tuple[float, int]:
    """Median wall seconds of a forced recomputation; median CPU to ``last_cpu()``."""
    times = []
    cpus = []
    nodes = 0
    for _ in range(repeats):
        g._rank_cache.clear()  # force a recomputation
        cpu = time.process_time()
        result = g.rank(10, **filters)  # type: ignore[arg-type]
        cpus.append(time.process_time() - cpu)
        assert result.recomputed
        times.append(result.compute_seconds)
        nodes = result.ranked_nodes
    _cpu[0] = statistics.median(cpus)
    return statistics.median(times), nodes


def latency(call: Callable[[int], object], n: int) -> tuple[float, float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def price_graph(edges_wanted: int, m: int = 10, seed: int = 7) -> list[tuple[str, str]]:
    """Preferential attachment (Price's model) with valid arXiv ids, newer citing older."""
    rng = random.Random(seed)
    n = edges_wanted // m + m
    ids = [
        f"{15 + (i // 1000) // 12:02d}{(i // 1000) % 12 + 1:02d}.{i % 1000 + 1:05d}"
        for i in range(n)
    ]
    targets: list[int] = []
    edges: list[tuple[str, str]] = []
    for i in range(n):
        if i:
            chosen: set[int] = set()
            want = min(m, i)
            while len(chosen) < want:
                chosen.add(targets[rng.randrange(len(targets))])
            for c in chosen:
                edges.append((ids[i], ids[c]))
                targets.append(c)
        targets.append(i)
        if len(edges) >= edges_wanted:
            break
    return edges[:edges_wanted]


def bench_real(url: str, queries: int) -> None:
    print(f"\narXiv 2023 citation graph ({DATA})", flush=True)
    prefix = "bench:real:"
    seconds, (edges, papers) = timed(
        lambda: (
            list(read_citations_tsv(DATA / "arxiv2023_citations.tsv")),
            list(read_papers_jsonl(DATA / "arxiv2023_papers.jsonl")),
        )
    )
    report("read TSV + JSONL", f"{seconds:.2f} s", f"{len(edges):,} edges, {len(papers):,} papers")
    g = CitationGraph(url, prefix=prefix)
    g.warm_up()
    seconds, added = timed(lambda: bulk_load(g, edges, papers))
    report(
        "bulk load, in-process core (10k/batch)",
        f"{seconds:.2f} s",
        f"{added:,} edges, {added / seconds:,.0f} edges/s, {last_cpu()}",
    )
    report("redis memory after load", f"{redis_mb(url):.0f} MiB")

    # The same load through the gRPC client stream, into a second prefix.
    service, port = create_server(Settings(port=0, redis_url=url, key_prefix="bench:grpc:"))
    service.start()
    service.wait_until_ready(60)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = graph_pb2_grpc.CitationGraphStub(ch)

        def requests() -> Iterator[pb.AddCitationsRequest]:
            for chunk in batched(edges, BATCH):
                yield pb.AddCitationsRequest(
                    citations=[pb.Citation(citing_id=a, cited_id=b) for a, b in chunk]
                )

        seconds, resp = timed(lambda: stub.AddCitations(requests()))
        report(
            "bulk load, gRPC AddCitations stream (10k/msg)",
            f"{seconds:.2f} s",
            f"{resp.edges_added:,} edges, {resp.edges_added / seconds:,.0f} edges/s",  # type: ignore[attr-defined]
        )
    service.stop(0).wait()

    seconds, n_edges = cold_start(url, prefix)
    report(
        "cold start (reload from Redis), median of 3",
        f"{seconds:.2f} s",
        f"{n_edges:,} edges, {last_cpu()}",
    )
    seconds, nodes = pagerank_time(g)
    report(
        "PageRank, whole graph, median of 3", f"{seconds:.3f} s", f"{nodes:,} nodes, {last_cpu()}"
    )
    seconds, nodes = pagerank_time(g, categories=["cs.CL"], year_min=2018, year_max=2023)
    report(
        "PageRank, cs.CL 2018-2023 induced subgraph",
        f"{seconds:.3f} s",
        f"{nodes:,} nodes, {last_cpu()}",
    )

    service, port = create_server(Settings(port=0, redis_url=url, key_prefix=prefix))
    service.start()
    service.wait_until_ready(60)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = graph_pb2_grpc.CitationGraphStub(ch)
            rng = random.Random(1)
            nodes_list = sorted(g.nodes())
            cited = sorted(n for n in nodes_list if g.neighbors(n, limit=0).citation_total > 0)
            picks = [rng.choice(nodes_list) for _ in range(queries)]
            seeds = [rng.choice(cited) for _ in range(queries)]
            pairs = [(rng.choice(nodes_list), rng.choice(cited)) for _ in range(queries)]
            stub.GetStats(pb.GetStatsRequest())  # connect
            p50, p95 = latency(
                lambda i: stub.GetNeighbors(pb.GetNeighborsRequest(paper_id=picks[i])), queries
            )
            report("GetNeighbors p50 / p95 (both lists, 50/page)", f"{p50:.2f} / {p95:.2f} ms")
            hub50, hub95 = latency(
                lambda i: stub.GetNeighbors(pb.GetNeighborsRequest(paper_id="1412.6980")),
                min(queries, 100),
            )
            report("GetNeighbors of 1412.6980 (2,400 citers)", f"{hub50:.2f} / {hub95:.2f} ms")
            p50, p95 = latency(
                lambda i: stub.Recommend(pb.RecommendRequest(seed_ids=[seeds[i]], k=10)), queries
            )
            report("Recommend p50 / p95 (1 seed, k=10)", f"{p50:.2f} / {p95:.2f} ms")
            found = 0

            def path(i: int) -> None:
                nonlocal found
                a, b = pairs[i]
                found += stub.ShortestPath(pb.ShortestPathRequest(source_id=a, target_id=b)).found

            p50, p95 = latency(path, queries)
            report(
                "ShortestPath p50 / p95 (directed, random pairs)",
                f"{p50:.2f} / {p95:.2f} ms",
                f"{found}/{queries} found",
            )
            p50, p95 = latency(
                lambda i: stub.Subgraph(pb.SubgraphRequest(paper_id=picks[i], depth=2)), queries
            )
            report("Subgraph p50 / p95 (depth 2, 100 nodes)", f"{p50:.2f} / {p95:.2f} ms")
            # Subgraph nodes carry their whole-graph PageRank: the first Subgraph after a
            # write recomputes it (the later ones above reuse the cached one).
            after_write = []
            for i in range(3):
                edge = pb.Citation(citing_id=f"2312.{90000 + i:05d}", cited_id="1412.6980")
                stub.AddCitations(iter([pb.AddCitationsRequest(citations=[edge])]))
                t0 = time.perf_counter()
                stub.Subgraph(pb.SubgraphRequest(paper_id=picks[i], depth=2))
                after_write.append(time.perf_counter() - t0)
            report(
                "Subgraph, first after a write (PageRank recomputed), median of 3",
                f"{statistics.median(after_write):.2f} s",
            )
            stub.Rank(pb.RankRequest(k=10))
            p50, p95 = latency(lambda i: stub.Rank(pb.RankRequest(k=10)), queries)
            report("Rank p50 / p95 (cached PageRank, k=10)", f"{p50:.2f} / {p95:.2f} ms")
    finally:
        service.stop(0).wait()
        g.close()


def bench_synthetic(url: str, size: int) -> dict[str, float]:
    print(f"\nsynthetic preferential-attachment graph, {size:,} edges", flush=True)
    prefix = f"bench:synthetic:{size}:"
    start = time.perf_counter()
    edges = price_graph(size)
    seconds = time.perf_counter() - start
    report("generate (Price's model, m=10)", f"{seconds:.2f} s", f"{len(edges):,} edges")
    graph = CitationGraph(url, prefix=prefix)
    graph.warm_up()
    load_s, added = timed(lambda: bulk_load(graph, edges))
    report(
        "bulk load, in-process core (10k/batch)",
        f"{load_s:.2f} s",
        f"{added / load_s:,.0f} edges/s, {last_cpu()}",  # type: ignore[operator]
    )
    edges.clear()
    cold_s, n_edges = cold_start(url, prefix, repeats=2)
    report(
        "cold start (reload from Redis), median of 2",
        f"{cold_s:.2f} s",
        f"{n_edges:,} edges, {last_cpu()}",
    )
    pr_s, nodes = pagerank_time(graph, repeats=2)
    report("PageRank, whole graph, median of 2", f"{pr_s:.3f} s", f"{nodes:,} nodes, {last_cpu()}")
    report("process max RSS so far", f"{rss_mb():.0f} MiB", f"redis {redis_mb(url):.0f} MiB")
    graph.close()
    client = redis.Redis.from_url(url)
    client.delete(prefix + "refs", prefix + "nodes", prefix + "papers")
    client.close()
    return {"edges": float(n_edges), "load": load_s, "cold": cold_s, "pagerank": pr_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250000,1000000", help="synthetic edge counts")
    parser.add_argument("--queries", type=int, default=300, help="requests per latency figure")
    parser.add_argument("--skip-real", action="store_true", help="only the synthetic graphs")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    print(f"graph benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    total = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="graph-bench-") as tmp:
        server = LocalRedis(data_dir=Path(tmp)).start()
        try:
            if not args.skip_real:
                if (DATA / "arxiv2023_citations.tsv").exists():
                    bench_real(server.url, args.queries)
                else:
                    print(f"\n{DATA} not found: skipping the arXiv 2023 graph", file=sys.stderr)
            growth = [bench_synthetic(server.url, size) for size in sizes]
        finally:
            server.stop()
    if len(growth) > 1:
        base = growth[0]
        print(f"\ngrowth relative to the {int(base['edges']):,}-edge synthetic graph")
        print(
            f"  {'edges':>12} {'x edges':>8} {'x load':>8} {'x cold start':>13} {'x PageRank':>11}"
        )
        for g in growth:
            print(
                f"  {int(g['edges']):>12,} {g['edges'] / base['edges']:>8.1f} "
                f"{g['load'] / base['load']:>8.1f} {g['cold'] / base['cold']:>13.1f} "
                f"{g['pagerank'] / base['pagerank']:>11.1f}"
            )
    print(f"\ntotal {time.perf_counter() - total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
