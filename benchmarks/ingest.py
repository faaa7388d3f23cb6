"""Ingest throughput through ``arxivqa ingest``, per embedder backend (``make bench-ingest``).

    python -m benchmarks.ingest [--papers FILE] [--backends torch,onnx] [--repeat 1]

Starts a private stack as separate processes (its own Redis with Search in a temporary
directory, retriever, graph, and per embedder backend an embedder and a gateway), then runs
the real command ``arxivqa ingest --papers FILE --restart`` against each gateway in turn,
emptying Redis before each run, and prints papers/s, the ratio to the first backend (the
baseline, measured in the same run) and each process's CPU seconds per 100 papers. The
default input is the 200 Kaggle records with real abstracts (``kaggle_sample_200.jsonl``);
the target is >= 2x the 12.7 papers/s measured with torch when issue 12 was filed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.gateway import EMBEDDERS, cpu_seconds, spawn, stop, wait_serving
from services.devtools.redis_server import PROJECT_ROOT, LocalRedis, free_port

DEFAULT_PAPERS = PROJECT_ROOT.parent / "shared" / "data" / "arxiv" / "kaggle_sample_200.jsonl"
ISSUE_BASELINE = 12.7  # papers/s with torch when issue 12 was filed (quiet machine)
TARGET_RATIO = 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=Path, default=DEFAULT_PAPERS, help="Kaggle JSONL")
    parser.add_argument("--backends", default="torch,onnx", help="the first is the baseline")
    parser.add_argument("--repeat", type=int, default=1, help="runs per backend (best kept)")
    args = parser.parse_args(argv)
    if not args.papers.is_file():
        print(f"input not found: {args.papers} (needs ../shared/data)", file=sys.stderr)
        return 2
    names = [b for b in args.backends.split(",") if b]
    if unknown := [b for b in names if b not in EMBEDDERS]:
        print(f"unknown backend(s) {unknown}; choose from {', '.join(EMBEDDERS)}")
        return 2

    import redis

    tmp = Path(tempfile.mkdtemp(prefix="arxivqa-bench-ingest-"))
    log_dir = tmp / "logs"
    log_dir.mkdir()
    server = LocalRedis(data_dir=tmp / "redis", appendonly=True).start(timeout=60)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OTEL_SDK_DISABLED="true", REDIS_URL=server.url)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        ports = {"retriever": free_port(), "graph": free_port()}
        for name, port in ports.items():
            procs[name] = spawn(
                f"services.{name}.server",
                dict(env, **{f"ARXIVQA_{name.upper()}_PORT": str(port)}),
                log_dir / f"{name}.log",
            )
        for name, port in ports.items():
            wait_serving(f"127.0.0.1:{port}", procs[name])
        print(
            f"ingest benchmark · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · "
            f"{os.cpu_count()} CPUs · load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        print(f"input: {args.papers} · `arxivqa ingest --papers FILE --restart` per backend\n")
        client = redis.Redis.from_url(server.url)
        results: dict[str, tuple[int, float, dict[str, float]]] = {}
        for name in names:
            emb_port, gw_port = free_port(), free_port()
            procs["embedder"] = spawn(
                "services.embedder.server",
                dict(env, ARXIVQA_EMBEDDER_PORT=str(emb_port), **EMBEDDERS[name]),
                log_dir / f"embedder-{name}.log",
            )
            procs["gateway"] = spawn(
                "gateway.server",
                dict(
                    env,
                    ARXIVQA_GATEWAY_PORT=str(gw_port),
                    ARXIVQA_GATEWAY_HTTP_PORT=str(free_port()),
                    ARXIVQA_GATEWAY_EMBEDDER_TARGET=f"127.0.0.1:{emb_port}",
                    ARXIVQA_GATEWAY_RETRIEVER_TARGET=f"127.0.0.1:{ports['retriever']}",
                    ARXIVQA_GATEWAY_GRAPH_TARGET=f"127.0.0.1:{ports['graph']}",
                    ARXIVQA_GATEWAY_QA_TARGET="",
                ),
                log_dir / f"gateway-{name}.log",
            )
            wait_serving(f"127.0.0.1:{emb_port}", procs["embedder"])
            wait_serving(f"127.0.0.1:{gw_port}", procs["gateway"])
            best: tuple[int, float, dict[str, float]] | None = None
            for _ in range(args.repeat):
                client.flushall()
                pids = {k: p.pid for k, p in procs.items()}
                pids["redis"] = server._proc.pid if server._proc else 0
                before = {k: cpu_seconds(pid) for k, pid in pids.items()}
                _children_cpu()  # not the stopped processes of the previous backend
                t0 = time.perf_counter()
                out = subprocess.run(
                    [
                        sys.executable, "-m", "gateway.cli", "ingest", "--papers",
                        str(args.papers), "--restart", "--gateway", f"127.0.0.1:{gw_port}",
                        "--checkpoint", str(tmp / f"checkpoint-{name}.json"),
                    ],
                    cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                )  # fmt: skip
                seconds = time.perf_counter() - t0
                if out.returncode != 0:
                    raise SystemExit(f"arxivqa ingest failed ({name}):\n{out.stderr[-2000:]}")
                cli_cpu = _children_cpu()
                spent = {k: cpu_seconds(pid) - before[k] for k, pid in pids.items()}
                spent["arxivqa ingest"] = cli_cpu
                m = re.search(r"ingested (\d+) papers", out.stdout)
                papers = int(m.group(1)) if m else 0
                if best is None or papers / seconds > best[0] / best[1]:
                    best = (papers, seconds, spent)
            assert best is not None
            results[name] = best
            stop(procs.pop("gateway"))
            stop(procs.pop("embedder"))
        client.close()

        base = names[0]
        b_rate = results[base][0] / results[base][1]
        order = ["arxivqa ingest", "gateway", "embedder", "retriever", "redis", "graph"]
        print(f"{'backend':<12}{'papers':>7}{'seconds':>9}{'papers/s':>10}{'vs ' + base:>10}"
              f"   CPU s per 100 papers: {', '.join(order)}")  # fmt: skip
        for name, (papers, seconds, spent) in results.items():
            rate = papers / seconds
            cpu = ", ".join(
                f"{spent.get(k, float('nan')) * 100 / max(papers, 1):.2f}" for k in order
            )
            print(
                f"{name:<12}{papers:>7}{seconds:>9.1f}{rate:>10.1f}{rate / b_rate:>9.2f}x   {cpu}"
            )
        best_name = names[-1]
        rate = results[best_name][0] / results[best_name][1]
        print(
            f"\n{best_name}: {rate:.1f} papers/s = {rate / b_rate:.2f}x {base} in this run, "
            f"{rate / ISSUE_BASELINE:.2f}x the {ISSUE_BASELINE} papers/s of issue 12 (target "
            f">= {TARGET_RATIO:.0f}x = {TARGET_RATIO * ISSUE_BASELINE:.1f} papers/s: "
            f"{'MET' if rate >= TARGET_RATIO * ISSUE_BASELINE else 'NOT MET'})"
        )
        return 0
    finally:
        for proc in procs.values():
            stop(proc)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _children_cpu() -> float:
    """CPU seconds of this process's finished children since the last call."""
    global _last_children
    usage = os.times()
    total = usage.children_user + usage.children_system
    spent, _last_children = total - _last_children, total
    return spent


_last_children = 0.0


if __name__ == "__main__":
    raise SystemExit(main())
