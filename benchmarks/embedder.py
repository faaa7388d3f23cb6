"""Embedder throughput and micro-batching benchmark (``make bench-embedder``).

    python -m benchmarks.embedder [--texts 1024] [--clients 32] [--concurrent-texts 256]

All figures come from one run on real abstracts (BEIR SciFact ``corpus.jsonl``):

1. in-process sentence-transformers ``encode`` throughput: the baseline;
2. the service over gRPC (a ``python -m services.embedder.server`` child process) with
   batched requests: ``Embed`` with 64 texts per request, and ``EmbedStream``
   (target: >= 0.9x the baseline);
3. 32 concurrent clients sending one text per request, with micro-batching turned on
   and off (target: on >= 2.5x off), with p50/p95 latency per request.

Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np

from arxivqa.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from services.common.healthcheck import check
from services.common.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "beir" / "scifact" / "corpus.jsonl"
REQUEST_TEXTS = 64
TARGET_GRPC = 0.9
TARGET_BATCHING = 2.5


def load_abstracts(path: Path, n: int) -> list[str]:
    texts: list[str] = []
    with path.open() as fh:
        for line in fh:
            text = " ".join(json.loads(line)["text"].split())
            if text:
                texts.append(text)
            if len(texts) == n:
                break
    return texts


@contextmanager
def server_process(**env_overrides: str) -> Iterator[tuple[str, int]]:
    """A real embedder server in a child process; yields (address, pid) once SERVING."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        ARXIVQA_EMBEDDER_PORT=str(port),
        ARXIVQA_EMBEDDER_LOG_LEVEL="WARNING",
        OTEL_SDK_DISABLED="true",
        **env_overrides,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.embedder.server"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    target = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while not check(target, timeout=1)[0]:
            if proc.poll() is not None:
                raise SystemExit(f"embedder server exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit("embedder server did not become SERVING in 180 s")
            time.sleep(0.2)
        yield target, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _vectors(embeddings: object) -> np.ndarray:
    return np.array([list(e.values) for e in embeddings], dtype=np.float32)  # type: ignore[attr-defined]


def grpc_embed(target: str, texts: list[str], in_flight: int) -> tuple[float, np.ndarray]:
    """``Embed`` with REQUEST_TEXTS texts per request, ``in_flight`` requests at a time."""
    chunks = [texts[i : i + REQUEST_TEXTS] for i in range(0, len(texts), REQUEST_TEXTS)]
    out: list[np.ndarray | None] = [None] * len(chunks)
    with grpc.insecure_channel(target) as channel:
        stub = embedder_pb2_grpc.EmbedderStub(channel)
        stub.Embed(embedder_pb2.EmbedRequest(texts=texts[:8]), timeout=120)  # warm the path
        start = time.perf_counter()
        pending: list[tuple[int, grpc.Future]] = []
        for i, chunk in enumerate(chunks):
            pending.append((i, stub.Embed.future(embedder_pb2.EmbedRequest(texts=chunk))))
            if len(pending) >= in_flight:
                j, fut = pending.pop(0)
                out[j] = _vectors(fut.result().embeddings)
        for j, fut in pending:
            out[j] = _vectors(fut.result().embeddings)
        elapsed = time.perf_counter() - start
    return len(texts) / elapsed, np.concatenate([o for o in out if o is not None])


def grpc_stream(target: str, texts: list[str]) -> tuple[float, np.ndarray]:
    """``EmbedStream`` with REQUEST_TEXTS texts per message."""
    chunks = [texts[i : i + REQUEST_TEXTS] for i in range(0, len(texts), REQUEST_TEXTS)]
    with grpc.insecure_channel(target) as channel:
        stub = embedder_pb2_grpc.EmbedderStub(channel)
        stub.Embed(embedder_pb2.EmbedRequest(texts=texts[:8]), timeout=120)
        requests = (
            embedder_pb2.EmbedStreamRequest(texts=c, batch_id=str(i)) for i, c in enumerate(chunks)
        )
        start = time.perf_counter()
        vectors = [_vectors(r.embeddings) for r in stub.EmbedStream(requests)]
        elapsed = time.perf_counter() - start
    return len(texts) / elapsed, np.concatenate(vectors)


@dataclass
class ConcurrentResult:
    throughput: float
    p50_ms: float
    p95_ms: float


def concurrent_clients(target: str, texts: list[str], clients: int) -> ConcurrentResult:
    """``clients`` threads, each with its own channel, each sending one text per request."""
    shares = [texts[i::clients] for i in range(clients)]
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(share: list[str]) -> None:
        with grpc.insecure_channel(target) as channel:
            stub = embedder_pb2_grpc.EmbedderStub(channel)
            stub.GetModelInfo(embedder_pb2.GetModelInfoRequest(), timeout=60)
            barrier.wait()
            mine = []
            for text in share:
                t0 = time.perf_counter()
                stub.Embed(embedder_pb2.EmbedRequest(texts=[text]), timeout=600)
                mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return ConcurrentResult(
        len(latencies) / elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
    )


def load_queries(path: Path, n: int) -> list[str]:
    """SciFact claims (short texts, ~20 tokens) from queries.jsonl beside the corpus."""
    queries = path.with_name("queries.jsonl")
    if not queries.is_file():
        return []
    with queries.open() as fh:
        texts = [" ".join(json.loads(line)["text"].split()) for line in fh]
    return [t for t in texts if t][:n]


def _verdict(ratio: float, target: float) -> str:
    return "MET" if ratio >= target else "NOT MET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR corpus.jsonl")
    parser.add_argument("--texts", type=int, default=1024, help="abstracts for throughput")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument(
        "--concurrent-texts", type=int, default=256, help="abstracts the clients send in all"
    )
    parser.add_argument(
        "--queries", type=int, default=512, help="short claims the clients send (0: skip)"
    )
    parser.add_argument("--in-flight", type=int, default=2, help="Embed requests in flight")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"benchmark data not found: {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2

    import torch
    from sentence_transformers import SentenceTransformer

    from services.embedder.model import SentenceEmbedder, default_model_dir

    texts = load_abstracts(args.data, args.texts)
    others = load_abstracts(args.data, args.texts + args.concurrent_texts)[args.texts :]
    others = others or texts[: args.concurrent_texts]
    queries = load_queries(args.data, args.queries)
    print(
        f"embedder benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
        f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), python {platform.python_version()}; "
        f"load average at start {load_average()}"
    )

    # -- in process ------------------------------------------------------------------------
    reference = SentenceTransformer(str(default_model_dir()), device="cpu")
    reference.encode(texts[:16], batch_size=16)
    c0, t0 = time.process_time(), time.perf_counter()
    expected = reference.encode(texts, batch_size=REQUEST_TEXTS, convert_to_numpy=True)
    baseline = len(texts) / (time.perf_counter() - t0)
    rows: list[tuple[str, float, float, str]] = [
        ("sentence-transformers encode, batch 64 (baseline)", baseline,
         (time.process_time() - c0) / len(texts), ""),
    ]  # fmt: skip
    del reference

    model = SentenceEmbedder()
    model.warm_up()
    probe = model.encode(texts[:REQUEST_TEXTS])
    for label, sort in (("sorted by length", True), ("input order", False)):
        c0, t0 = time.process_time(), time.perf_counter()
        result = model.encode(texts, batch_size=REQUEST_TEXTS, sort_by_length=sort)
        rate = len(texts) / (time.perf_counter() - t0)
        cpu = (time.process_time() - c0) / len(texts)
        rows.append((f"SentenceEmbedder.encode in-process, {label}", rate, cpu, ""))
        if sort:
            probe = result
    del model
    tokens = np.array(probe.token_counts)
    print(
        f"data: {args.data}: {len(texts)} abstracts for throughput (mean {tokens.mean():.0f} "
        f"tokens, {100 * np.mean(probe.truncated):.0f}% cut at 256), {len(others)} other "
        f"abstracts and {len(queries)} claims from queries.jsonl for the concurrent clients\n"
    )

    # -- over gRPC: batched requests -------------------------------------------------------
    with server_process() as (target, pid):
        c0 = cpu_seconds(pid)
        embed_rate, embed_vectors = grpc_embed(target, texts, args.in_flight)
        c1 = cpu_seconds(pid)
        stream_rate, stream_vectors = grpc_stream(target, texts)
        c2 = cpu_seconds(pid)
    for vectors in (embed_vectors, stream_vectors):
        cos = np.sum(vectors * expected, axis=1) / np.linalg.norm(expected, axis=1)
        assert cos.min() >= 0.9999, f"gRPC vectors differ from sentence-transformers: {cos.min()}"
    rows.append(
        (f"gRPC Embed, {REQUEST_TEXTS} texts/request, {args.in_flight} in flight", embed_rate,
         (c1 - c0) / len(texts),
         f">= {TARGET_GRPC:.1f}x  {_verdict(embed_rate / baseline, TARGET_GRPC)}")
    )  # fmt: skip
    rows.append(
        (f"gRPC EmbedStream, {REQUEST_TEXTS} texts/message", stream_rate,
         (c2 - c1) / len(texts), "")
    )  # fmt: skip

    print(f"{'throughput':<58}{'texts/s':>8}{'vs base':>9}{'CPU ms/text':>13}  target")
    for name, rate, cpu, target_text in rows:
        print(f"{name:<58}{rate:>8.1f}{rate / baseline:>8.2f}x{cpu * 1000:>13.0f}  {target_text}")
    print(
        "(gRPC vectors checked against sentence-transformers: cosine >= 0.9999; "
        "gRPC CPU is the server process's)\n"
    )

    # -- concurrent single-text clients, micro-batching on vs off --------------------------
    workloads = [("abstracts", others)] + ([("claims", queries)] if queries else [])
    results: dict[tuple[str, str], tuple[ConcurrentResult, float]] = {}
    for mode, batching in (("off", "false"), ("on", "true")):
        with server_process(ARXIVQA_EMBEDDER_BATCHING=batching) as (target, pid):
            for name, items in workloads:
                c0 = cpu_seconds(pid)
                r = concurrent_clients(target, items, args.clients)
                results[(name, mode)] = (r, (cpu_seconds(pid) - c0) / len(items))
    print(
        f"{args.clients} concurrent clients, 1 text per request"
        f"{'texts/s':>25}{'p50 ms':>9}{'p95 ms':>9}{'CPU ms/text':>13}"
    )
    for name, items in workloads:
        for mode in ("off", "on"):
            r, cpu = results[(name, mode)]
            label = f"{len(items)} {name}, micro-batching {mode}"
            print(
                f"{label:<58}{r.throughput:>8.1f}{r.p50_ms:>9.0f}{r.p95_ms:>9.0f}"
                f"{cpu * 1000:>13.0f}"
            )
    for name, _ in workloads:
        on, off = results[(name, "on")][0], results[(name, "off")][0]
        ratio = on.throughput / off.throughput
        print(
            f"{name}: micro-batching on/off throughput {ratio:.2f}x "
            f"(target >= {TARGET_BATCHING:.1f}x: {_verdict(ratio, TARGET_BATCHING)}), "
            f"p50 latency on/off {on.p50_ms / off.p50_ms:.2f}x"
        )
    print(f"load average at end {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
