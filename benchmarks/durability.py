"""What durable acknowledgements cost (``make bench-durability``).

One Redis (AOF on, ``appendfsync everysec``, as in compose and Kubernetes) and, over it, a
retriever and a graph service with ``durable_writes`` on and another pair with it off (real
gRPC servers). The same write batches go to both, interleaved one on / one off, so that
both see the same machine load:

- retriever ``Upsert``: ``--batches`` batches of ``--papers`` papers with 384-dim vectors;
- graph ``AddCitations``: the same number of batches of ``--edges`` new edges.

Printed: per-batch p50 / p95 latency and records/s with and without WAITAOF, and the ratio.
A third row writes with ``appendfsync always`` and no WAITAOF (every write fsynced) as the
other way to get the same guarantee.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import redis

from arxivqa.graph.v1 import graph_pb2, graph_pb2_grpc
from arxivqa.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.devtools.redis_server import LocalRedis
from services.graph.server import Settings as GraphSettings
from services.graph.server import create_server as graph_server
from services.retriever.server import Settings as RetrieverSettings
from services.retriever.server import create_server as retriever_server

WORDS = "graph neural network quantum field theory transformer attention sparse matrix".split()


def _papers(rng: np.random.Generator, start: int, n: int) -> list[retriever_pb2.Paper]:
    out = []
    for i in range(start, start + n):
        vec = rng.standard_normal(384).astype(np.float32)
        vec /= np.linalg.norm(vec)
        words = rng.choice(WORDS, size=40)
        out.append(
            retriever_pb2.Paper(
                id=f"{2301 + (i // 99999) % 12:04d}.{i % 99999 + 1:05d}",
                title=" ".join(words[:8]),
                abstract=" ".join(words),
                authors=["A. Author"],
                categories=["cs.LG"],
                year=2023,
                vector=vec.tolist(),
            )
        )
    return out


def _edges(start: int, n: int) -> list[graph_pb2.Citation]:
    return [
        graph_pb2.Citation(
            citing_id=f"{2401 + (i // 99999) % 12:04d}.{i % 99999 + 1:05d}",
            cited_id=f"{1501 + (i // 99999) % 12:04d}.{(i * 7) % 99999 + 1:05d}",
        )
        for i in range(start, start + n)
    ]


def _summary(latencies: list[float], records: int) -> tuple[float, float, float]:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return statistics.median(ms), p95, records / sum(latencies)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--papers", type=int, default=100, help="papers per Upsert batch")
    parser.add_argument("--edges", type=int, default=500, help="edges per AddCitations batch")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, LocalRedis(data_dir=Path(tmp)) as server:
        services: dict[str, Any] = {}
        for durable in (True, False):
            tag = "on" if durable else "off"
            services[f"retriever-{tag}"], _ = retriever_server(
                RetrieverSettings(port=0, redis_url=server.url, durable_writes=durable)
            )
            services[f"graph-{tag}"], _ = graph_server(
                GraphSettings(port=0, redis_url=server.url, durable_writes=durable)
            )
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_until_ready(60)
        channels = {n: grpc.insecure_channel(f"127.0.0.1:{s.port}") for n, s in services.items()}
        upsert = {
            tag: retriever_pb2_grpc.RetrieverStub(channels[f"retriever-{tag}"]).Upsert
            for tag in ("on", "off")
        }
        add = {
            tag: graph_pb2_grpc.CitationGraphStub(channels[f"graph-{tag}"]).AddCitations
            for tag in ("on", "off")
        }
        client = redis.Redis.from_url(server.url)
        print(f"Redis {client.info('server')['redis_version']}, AOF on, appendfsync everysec")
        print(
            f"{args.batches} batches per mode, interleaved; Upsert {args.papers} papers "
            f"(384-dim vectors), AddCitations {args.edges} edges"
        )

        def timed(fn: Callable[[Any], Any], request: Any) -> float:
            t0 = time.perf_counter()
            fn(iter([request]), timeout=60)
            return time.perf_counter() - t0

        lat: dict[str, list[float]] = {k: [] for k in ("up-on", "up-off", "add-on", "add-off")}
        n_paper = n_edge = 0
        for _ in range(args.batches):
            for tag in ("on", "off"):
                papers = _papers(rng, n_paper, args.papers)
                n_paper += args.papers
                lat[f"up-{tag}"].append(
                    timed(upsert[tag], retriever_pb2.UpsertRequest(papers=papers))
                )
                edges = _edges(n_edge, args.edges)
                n_edge += args.edges
                lat[f"add-{tag}"].append(
                    timed(add[tag], graph_pb2.AddCitationsRequest(citations=edges))
                )
        client.config_set("appendfsync", "always")
        lat["up-always"], lat["add-always"] = [], []
        for _ in range(args.batches):
            papers = _papers(rng, n_paper, args.papers)
            n_paper += args.papers
            lat["up-always"].append(
                timed(upsert["off"], retriever_pb2.UpsertRequest(papers=papers))
            )
            edges = _edges(n_edge, args.edges)
            n_edge += args.edges
            lat["add-always"].append(
                timed(add["off"], graph_pb2.AddCitationsRequest(citations=edges))
            )
        client.config_set("appendfsync", "everysec")

        print()
        print(f"{'operation':<36} {'p50 ms':>8} {'p95 ms':>8} {'records/s':>10}")
        rows = [
            ("Upsert, WAITAOF (durable on)", "up-on", args.papers),
            ("Upsert, no wait (durable off)", "up-off", args.papers),
            ("Upsert, appendfsync always, no wait", "up-always", args.papers),
            ("AddCitations, WAITAOF", "add-on", args.edges),
            ("AddCitations, no wait", "add-off", args.edges),
            ("AddCitations, appendfsync always", "add-always", args.edges),
        ]
        figures = {}
        for label, key, per in rows:
            p50, p95, rate = _summary(lat[key], per * len(lat[key]))
            figures[key] = (p50, rate)
            print(f"{label:<36} {p50:>8.1f} {p95:>8.1f} {rate:>10.0f}")
        print()
        for op, name in (("up", "Upsert"), ("add", "AddCitations")):
            on, off = figures[f"{op}-on"], figures[f"{op}-off"]
            print(
                f"{name}: durable/not throughput ratio {on[1] / off[1]:.2f}x, "
                f"p50 +{on[0] - off[0]:.1f} ms per batch"
            )
        for ch in channels.values():
            ch.close()
        for svc in services.values():
            svc.stop(0).wait()
        client.close()


if __name__ == "__main__":
    main()
