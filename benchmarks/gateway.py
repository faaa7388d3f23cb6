"""Gateway load and fault benchmark (``make bench-gateway``).

Needs the local stack with the demo data (``make demo``, or ``arxivqa up`` + ``arxivqa
ingest``): it uses that stack's embedder, retriever and graph, and starts its own qa service
and its own gateway as separate processes (so it can stop and restart qa):

1. load: 16 clients on ``Search`` (hybrid) and 4 on ``Ask`` over gRPC for ``--seconds``;
   requests/s, p50/p95/p99 and errors per operation (target: 0 errors);
2. fault: the same load; qa is stopped (SIGTERM) a quarter of the way in and started again
   at the middle; ``Search`` must keep succeeding, ``Ask`` must degrade (passages, no
   answers) rather than fail, and recover without restarting the gateway.

The reader is ``ARXIVQA_QA_MODEL`` when set; otherwise a MiniLM-L6-sized BERT reader with
random weights (latency does not depend on weight values; its answers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.gateway.v1 import gateway_pb2_grpc
from services.common.healthcheck import check
from services.common.redis_server import PROJECT_ROOT, free_port
from services.qa.random_models import save_random_bert

CACHE = PROJECT_ROOT / ".data" / "cache"
RUN = PROJECT_ROOT / ".data" / "run"
SHARED = PROJECT_ROOT.parent / "shared" / "data" / "arxiv"


def reader_dir() -> tuple[str, str]:
    model = os.environ.get("ARXIVQA_QA_MODEL")
    if model:
        return model, f"ARXIVQA_QA_MODEL={model}"
    path = CACHE / "bench-reader-minilm-l6-random"
    if not (path / "config.json").is_file():
        save_random_bert(path, hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536)
    return str(path), "MiniLM-L6-sized BERT reader, random weights (latency only)"


def spawn(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_serving(target: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"{target}: process exited with {proc.returncode}; see {RUN}")
        if check(target, timeout=1.0)[0]:
            return time.monotonic() - t0
        time.sleep(0.2)
    raise SystemExit(f"{target} not SERVING after {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def queries(n: int = 400) -> list[str]:
    out: list[str] = []
    for name in (
        "kaggle_sample_200.jsonl",
        "unarxive_sample_papers.jsonl",
        "arxiv2023_papers.jsonl",
    ):
        path = SHARED / name
        if path.is_file():
            with open(path) as fh:
                for i, line in enumerate(fh):
                    if i >= n:
                        break
                    out.append(" ".join(json.loads(line)["title"].split()))
    if not out:
        out = ["graph neural networks", "stochastic optimisation", "random polynomials"]
    random.Random(0).shuffle(out)
    return out


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    degraded: int = 0
    answered: int = 0
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (t, ok|degraded|error)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, t: float, seconds: float, outcome: str, code: str = "") -> None:
        with self.lock:
            self.timeline.append((t, outcome))
            if outcome == "error":
                self.errors[code] = self.errors.get(code, 0) + 1
            else:
                self.latencies.append(seconds)
                if outcome == "degraded":
                    self.degraded += 1
                elif outcome == "answered":
                    self.answered += 1


def run_load(
    target: str,
    seconds: float,
    search_clients: int,
    ask_clients: int,
    texts: list[str],
    on_tick: dict[float, callable] | None = None,  # type: ignore[valid-type]
) -> tuple[Stats, Stats, float]:
    channel = grpc.insecure_channel(target)
    stub = gateway_pb2_grpc.GatewayStub(channel)
    search, ask = Stats(), Stats()
    t0 = time.monotonic()
    end = t0 + seconds

    def search_worker(i: int) -> None:
        n = i
        while time.monotonic() < end:
            q = texts[n % len(texts)]
            n += search_clients
            s = time.monotonic()
            try:
                stub.Search(pb.SearchRequest(query=q, mode=pb.SEARCH_MODE_HYBRID, k=10), timeout=30)
                search.add(s - t0, time.monotonic() - s, "ok")
            except grpc.RpcError as exc:
                search.add(s - t0, time.monotonic() - s, "error", exc.code().name)

    def ask_worker(i: int) -> None:
        n = i
        while time.monotonic() < end:
            q = texts[(n * 7) % len(texts)]
            n += ask_clients
            s = time.monotonic()
            try:
                r = stub.Ask(pb.AskRequest(question=q, passages=5), timeout=60)
                ask.add(
                    s - t0, time.monotonic() - s, "answered" if r.answers_available else "degraded"
                )
            except grpc.RpcError as exc:
                ask.add(s - t0, time.monotonic() - s, "error", exc.code().name)

    threads = [threading.Thread(target=search_worker, args=(i,)) for i in range(search_clients)]
    threads += [threading.Thread(target=ask_worker, args=(i,)) for i in range(ask_clients)]
    for t in threads:
        t.start()
    pending = sorted((on_tick or {}).items())
    while pending:
        at, action = pending[0]
        delay = t0 + at - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, 0.2))
            continue
        action()
        pending.pop(0)
    for t in threads:
        t.join()
    channel.close()
    return search, ask, time.monotonic() - t0


def row(name: str, s: Stats, elapsed: float) -> str:
    lat = np.array(s.latencies) * 1000 if s.latencies else np.array([np.nan])
    errs = sum(s.errors.values())
    detail = ", ".join(f"{k} {v}" for k, v in s.errors.items())
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    return (
        f"| {name:<22} | {len(s.latencies) / elapsed:>7.2f} | {p50:>8.0f} | {p95:>8.0f} | "
        f"{p99:>8.0f} | {errs:>6} {detail} |"
    )


HEADER = (
    "| phase / operation      |   req/s | p50 (ms) | p95 (ms) | p99 (ms) | errors |\n"
    "|------------------------|--------:|---------:|---------:|---------:|-------:|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--search-clients", type=int, default=16)
    parser.add_argument("--ask-clients", type=int, default=4)
    args = parser.parse_args(argv)

    deps = {"embedder": 50051, "retriever": 50052, "graph": 50054}
    for name, port in deps.items():
        port = int(os.environ.get(f"ARXIVQA_{name.upper()}_PORT", port))
        deps[name] = port
        ok, status = check(f"127.0.0.1:{port}", timeout=2)
        if not ok:
            print(f"{name} on 127.0.0.1:{port} is {status}: run 'make demo' (or arxivqa up) first")
            return 2
    RUN.mkdir(parents=True, exist_ok=True)
    model, model_note = reader_dir()
    qa_port, gw_port, http_port = free_port(), free_port(), free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", OTEL_SDK_DISABLED="true")
    qa_env = dict(env, ARXIVQA_QA_MODEL=model, ARXIVQA_QA_PORT=str(qa_port))
    gw_env = dict(
        env,
        ARXIVQA_GATEWAY_PORT=str(gw_port),
        ARXIVQA_GATEWAY_HTTP_PORT=str(http_port),
        ARXIVQA_GATEWAY_EMBEDDER_TARGET=f"127.0.0.1:{deps['embedder']}",
        ARXIVQA_GATEWAY_RETRIEVER_TARGET=f"127.0.0.1:{deps['retriever']}",
        ARXIVQA_GATEWAY_GRAPH_TARGET=f"127.0.0.1:{deps['graph']}",
        ARXIVQA_GATEWAY_QA_TARGET=f"127.0.0.1:{qa_port}",
        ARXIVQA_GATEWAY_DEADLINE_SECONDS="30",
    )
    qa_target, gw_target = f"127.0.0.1:{qa_port}", f"127.0.0.1:{gw_port}"
    qa = spawn("services.qa.server", qa_env, RUN / "bench-qa.log")
    gw = spawn("gateway.server", gw_env, RUN / "bench-gateway.log")
    procs = {"qa": qa}
    try:
        wait_serving(qa_target, qa)
        wait_serving(gw_target, gw)
        texts = queries()
        print(f"gateway benchmark · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print(f"reader: {model_note}; {os.cpu_count()} CPUs; {len(texts)} query texts (titles)")
        print(
            f"load: {args.search_clients} Search (hybrid, k=10) + {args.ask_clients} Ask "
            f"(5 passages) clients over gRPC, {args.seconds:.0f} s per phase\n"
        )
        # Warm the path once (first KNN, first reader call).
        run_load(gw_target, 3, 1, 1, texts)

        s1, a1, e1 = run_load(gw_target, args.seconds, args.search_clients, args.ask_clients, texts)

        down_at, up_at = args.seconds * 0.25, args.seconds * 0.5
        marks: dict[str, float] = {}

        def qa_down() -> None:
            marks["down"] = time.monotonic()
            stop(procs["qa"])

        def qa_up() -> None:
            marks["up"] = time.monotonic()
            procs["qa"] = spawn("services.qa.server", qa_env, RUN / "bench-qa.log")
            marks["ready"] = marks["up"] + wait_serving(qa_target, procs["qa"])

        s2, a2, e2 = run_load(
            gw_target,
            args.seconds,
            args.search_clients,
            args.ask_clients,
            texts,
            on_tick={down_at: qa_down, up_at: qa_up},
        )
        print(HEADER)
        print(row("load: Search hybrid", s1, e1))
        print(row("load: Ask", a1, e1))
        print(row("fault: Search hybrid", s2, e2))
        print(row("fault: Ask (all)", a2, e2))
        print()
        t_ready = marks["ready"] - marks["down"] + down_at
        first_after = min(
            (t for t, o in a2.timeline if o == "answered" and t >= t_ready), default=None
        )
        degraded_window = [o for t, o in a2.timeline if down_at + 1 <= t < up_at]
        load_errors = (sum(s1.errors.values()), sum(a1.errors.values()))
        print(f"load phase errors: Search {load_errors[0]}, Ask {load_errors[1]} (target 0)")
        print(
            f"fault phase: qa stopped at {down_at:.0f} s, restarted at {up_at:.0f} s, SERVING "
            f"again at {t_ready:.1f} s"
        )
        print(f"  Search errors during the fault phase: {sum(s2.errors.values())} (target 0)")
        print(
            f"  Ask while qa was down: {degraded_window.count('degraded')} degraded (passages + "
            f"note), {degraded_window.count('answered')} answered, "
            f"{degraded_window.count('error')} errors"
        )
        print(
            f"  Ask in the whole phase: {a2.answered} answered, {a2.degraded} degraded, "
            f"{sum(a2.errors.values())} errors"
        )
        if first_after is not None:
            print(
                f"  first answered Ask after qa was SERVING again: +{first_after - t_ready:.1f} s "
                "(same gateway process, no restart)"
            )
        else:
            print("  Ask did NOT recover before the end of the phase")
        return 0
    finally:
        stop(gw)
        stop(procs["qa"])


if __name__ == "__main__":
    raise SystemExit(main())
