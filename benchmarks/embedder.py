"""Embedder benchmark: ONNX Runtime vs torch, latency, throughput, micro-batching.

    python -m benchmarks.embedder [--texts 256] [--queries 512] [--single 200] [--clients 32]
                                  [--batching-on-off]

All figures come from one run on real texts (BEIR SciFact: abstracts from ``corpus.jsonl``,
claims from ``queries.jsonl``), with ratios to baselines measured in the same run:

1. in process: sentence-transformers ``encode`` (the reference), then ``SentenceEmbedder``
   with each backend (torch; onnx fp32; onnx int8): texts/s, CPU ms/text, lowest cosine
   to sentence-transformers;
2. one server process per backend (``python -m services.embedder.server`` with
   ``ARXIVQA_EMBEDDER_BACKEND``): one short query at a time over gRPC (p50/p95 ms and the
   server's CPU ms per request; target onnx p50 <= 6 ms), abstracts through ``Embed`` with
   64 texts per request (target onnx >= 1.6x torch), and ``--clients`` concurrent clients
   with one claim each (micro-batching at work);
3. with ``--batching-on-off``: the older micro-batching on/off comparison (32 clients).

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
from services.devtools.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "beir" / "scifact" / "corpus.jsonl"
REQUEST_TEXTS = 64
TARGET_BATCHING = 2.5
TARGET_SINGLE_P50_MS = 6.0
TARGET_ONNX_VS_TORCH = 1.6
#: (label, server environment) per backend; the first is the baseline of the ratios.
BACKENDS = [
    ("torch", {"ARXIVQA_EMBEDDER_BACKEND": "torch"}),
    ("onnx", {"ARXIVQA_EMBEDDER_BACKEND": "onnx"}),
    ("onnx-int8", {"ARXIVQA_EMBEDDER_BACKEND": "onnx", "ARXIVQA_EMBEDDER_QUANTIZE": "true"}),
    # two batches side by side, one thread each, instead of one batch on two threads
    ("onnx-2x1", {"ARXIVQA_EMBEDDER_THREADS": "1", "ARXIVQA_EMBEDDER_BATCH_WORKERS": "2"}),
]


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


def single_queries(target: str, texts: list[str]) -> tuple[float, float]:
    """One short text per request, one request at a time: (p50 ms, p95 ms)."""
    with grpc.insecure_channel(target) as channel:
        stub = embedder_pb2_grpc.EmbedderStub(channel)
        for text in texts[:10]:  # warm the path
            stub.Embed(embedder_pb2.EmbedRequest(texts=[text]), timeout=60)
        ms = []
        for text in texts:
            t0 = time.perf_counter()
            stub.Embed(embedder_pb2.EmbedRequest(texts=[text]), timeout=60)
            ms.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def _verdict(ratio: float, target: float) -> str:
    return "MET" if ratio >= target else "NOT MET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR corpus.jsonl")
    parser.add_argument("--texts", type=int, default=256, help="abstracts for throughput")
    parser.add_argument("--queries", type=int, default=512, help="short claims for the clients")
    parser.add_argument("--single", type=int, default=200, help="sequential one-query requests")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--in-flight", type=int, default=2, help="Embed requests in flight")
    parser.add_argument(
        "--backends",
        default=",".join(b for b, _ in BACKENDS),
        help="comma-separated subset of torch,onnx,onnx-int8,onnx-2x1 (torch is the baseline)",
    )
    parser.add_argument(
        "--batching-on-off", action="store_true", help="also the micro-batching on/off runs"
    )
    parser.add_argument(
        "--concurrent-texts", type=int, default=256, help="abstracts for --batching-on-off"
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"benchmark data not found: {args.data} (needs ../shared/data)", file=sys.stderr)
        return 2
    chosen = [(b, env) for b, env in BACKENDS if b in args.backends.split(",")]

    import onnxruntime
    import torch
    from sentence_transformers import SentenceTransformer

    from services.common.onnxrt import cpu_share
    from services.embedder.model import SentenceEmbedder, default_model_dir

    texts = load_abstracts(args.data, args.texts)
    queries = load_queries(args.data, max(args.queries, args.single))
    singles = queries[: args.single]
    claims = queries[: args.queries]
    torch.set_num_threads(cpu_share())
    print(
        f"embedder benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
        f"{platform.machine()}, {os.cpu_count()} CPUs (CPU share {cpu_share()}), "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"python {platform.python_version()}; load average at start {load_average()}"
    )

    # -- in process ------------------------------------------------------------------------
    reference = SentenceTransformer(str(default_model_dir()), device="cpu")
    reference.encode(texts[:16], batch_size=16)
    c0, t0 = time.process_time(), time.perf_counter()
    expected = reference.encode(texts, batch_size=REQUEST_TEXTS, convert_to_numpy=True)
    baseline = len(texts) / (time.perf_counter() - t0)
    base_cpu = (time.process_time() - c0) / len(texts)
    del reference
    rows: list[tuple[str, float, float, str]] = [
        ("sentence-transformers encode, batch 64 (reference)", baseline, base_cpu, "1"),
    ]
    probe = None
    for name, env in chosen:
        if name == "onnx-2x1":
            continue  # a server configuration: the same model as onnx in-process
        model = SentenceEmbedder(
            backend="torch" if name == "torch" else "onnx",
            quantize=env.get("ARXIVQA_EMBEDDER_QUANTIZE") == "true",
            max_batch_tokens=None if name == "torch" else 512,
        )
        model.warm_up()
        c0, t0 = time.process_time(), time.perf_counter()
        result = model.encode(texts, batch_size=REQUEST_TEXTS)
        rate = len(texts) / (time.perf_counter() - t0)
        cpu = (time.process_time() - c0) / len(texts)
        cos = np.sum(result.vectors * expected, axis=1) / np.linalg.norm(expected, axis=1)
        rows.append((f"SentenceEmbedder.encode, {name}", rate, cpu, f"{cos.min():.7f}"))
        probe = result
        del model
    assert probe is not None
    tokens = np.array(probe.token_counts)
    print(
        f"data: {args.data}: {len(texts)} abstracts (mean {tokens.mean():.0f} tokens, "
        f"{100 * np.mean(probe.truncated):.0f}% cut at 256); {len(claims)} claims from "
        f"queries.jsonl (short queries)\n"
    )
    print(f"{'in process, abstracts':<52}{'texts/s':>8}{'vs ref':>8}{'CPU ms/text':>13}  min cos")
    for name, rate, cpu, cos_text in rows:
        print(f"{name:<52}{rate:>8.1f}{rate / baseline:>7.2f}x{cpu * 1000:>13.1f}  {cos_text}")
    print()

    # -- one server per backend ------------------------------------------------------------
    served: dict[str, dict[str, float]] = {}
    for name, env in chosen:
        with server_process(**env) as (target, pid):
            c0 = cpu_seconds(pid)
            p50, p95 = single_queries(target, singles)
            c1 = cpu_seconds(pid)
            rate, vectors = grpc_embed(target, texts, args.in_flight)
            c2 = cpu_seconds(pid)
            many = concurrent_clients(target, claims, args.clients) if args.clients else None
            c3 = cpu_seconds(pid)
        cos = np.sum(vectors * expected, axis=1) / np.linalg.norm(expected, axis=1)
        served[name] = {
            "p50": p50,
            "p95": p95,
            "single_cpu": (c1 - c0) / (len(singles) + 10) * 1000,
            "rate": rate,
            "rate_cpu": (c2 - c1) / len(texts) * 1000,
            "cos": float(cos.min()),
            "clients_rate": many.throughput if many else float("nan"),
            "clients_p50": many.p50_ms if many else float("nan"),
            "clients_cpu": (c3 - c2) / len(claims) * 1000 if many else float("nan"),
        }
    base = served.get("torch")
    print(
        f"{'over gRPC (server process)':<28}{'1 query p50':>12}{'p95':>7}{'CPU ms':>8}"
        f"{'abstracts/s':>13}{'vs torch':>9}{'CPU ms/text':>12}{'min cos':>11}"
        f"{f'{args.clients} clients/s':>14}{'p50 ms':>8}{'CPU ms':>8}"
    )
    for name, r in served.items():
        ratio = r["rate"] / base["rate"] if base else float("nan")
        print(
            f"{name:<28}{r['p50']:>12.2f}{r['p95']:>7.2f}{r['single_cpu']:>8.2f}"
            f"{r['rate']:>13.1f}{ratio:>8.2f}x{r['rate_cpu']:>12.1f}{r['cos']:>11.7f}"
            f"{r['clients_rate']:>14.1f}{r['clients_p50']:>8.1f}{r['clients_cpu']:>8.2f}"
        )
    if "onnx" in served:
        onnx = served["onnx"]
        print(
            f"\nonnx: one short query p50 {onnx['p50']:.2f} ms (target <= "
            f"{TARGET_SINGLE_P50_MS:.0f} ms: {_verdict(TARGET_SINGLE_P50_MS, onnx['p50'])})"
            + (f"; p50 vs torch {onnx['p50'] / base['p50']:.2f}x" if base else "")
        )
        if base:
            ratio = onnx["rate"] / base["rate"]
            print(
                f"onnx: abstracts throughput {ratio:.2f}x torch (target >= "
                f"{TARGET_ONNX_VS_TORCH:.1f}x: {_verdict(ratio, TARGET_ONNX_VS_TORCH)}); "
                f"CPU per abstract {onnx['rate_cpu'] / base['rate_cpu']:.2f}x torch's"
            )
    print(
        "(CPU ms = the server process's user+system time per request or text; vectors over "
        "gRPC checked against sentence-transformers: min cos)"
    )
    if args.batching_on_off:
        batching_on_off(args, texts)
    print(f"load average at end {load_average()}")
    return 0


def batching_on_off(args: argparse.Namespace, texts: list[str]) -> None:
    """Concurrent single-text clients with micro-batching on and off (default backend)."""
    others = load_abstracts(args.data, args.texts + args.concurrent_texts)[args.texts :]
    others = others or texts[: args.concurrent_texts]
    queries = load_queries(args.data, args.queries)
    workloads = [("abstracts", others)] + ([("claims", queries)] if queries else [])
    results: dict[tuple[str, str], tuple[ConcurrentResult, float]] = {}
    for mode, batching in (("off", "false"), ("on", "true")):
        with server_process(ARXIVQA_EMBEDDER_BATCHING=batching) as (target, pid):
            for name, items in workloads:
                c0 = cpu_seconds(pid)
                r = concurrent_clients(target, items, args.clients)
                results[(name, mode)] = (r, (cpu_seconds(pid) - c0) / len(items))
    print(
        f"\n{args.clients} concurrent clients, 1 text per request"
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


if __name__ == "__main__":
    raise SystemExit(main())
