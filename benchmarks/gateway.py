"""Gateway latency, load and fault benchmark (``make bench-gateway``).

Needs the local stack with the demo data (``make demo``, or ``arxivqa up`` + ``arxivqa
ingest``; ``ARXIVQA_{RETRIEVER,GRAPH}_PORT`` and ``ARXIVQA_DATA_DIR`` locate another one):
it uses that stack's retriever, graph and Redis and starts, as separate processes, its own
embedder, qa and gateway per embedder backend, so the torch baseline and the default (onnx)
run on the same data in the same run. Per backend (``--backends``, the first is the
baseline of the ratios):

1. sequential: one hybrid ``POST /v1/search`` (k=10) at a time over HTTP, distinct queries
   (target onnx p50 <= 15 ms); then the same queries again, answered from the gateway's
   query-vector cache;
2. search: 16 clients on ``Search`` (hybrid) over gRPC for ``--seconds`` (target >= 60
   req/s with p99 <= 250 ms);
3. mixed: the 16 Search clients plus 4 ``Ask`` clients (5 passages) (target: Search p99
   <= 500 ms, 0 errors);
4. fault (default backend only, ``--fault``): the mixed load; qa is stopped (SIGTERM) a
   quarter of the way in and started again at the middle; ``Search`` must keep succeeding,
   ``Ask`` must degrade (passages, no answers) rather than fail, and recover.

After each phase: CPU milliseconds per request of each process (user + system time from
/proc: gateway, embedder, retriever, Redis, qa, graph, and this client), so the bottleneck
is visible. Queries are distinct paper titles (no phase repeats another's), so the cache
does not flatter the load figures. The reader is ``ARXIVQA_QA_MODEL`` when set, else the
shipped ``models/reader`` when present, else a MiniLM-L6-sized BERT reader with random
weights (the latency of a real one; its answers mean nothing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.gateway.v1 import gateway_pb2_grpc
from services.common.healthcheck import check
from services.common.settings import DATA_DIR_NAME, PORTS, PROJECT_ROOT, data_dir
from services.devtools.random_models import save_random_bert
from services.devtools.redis_server import free_port

DATA = data_dir(PROJECT_ROOT)
CACHE = PROJECT_ROOT / DATA_DIR_NAME / "cache"
RUN = DATA / "run"
SHARED = PROJECT_ROOT.parent / "shared" / "data" / "arxiv"
TARGET_SEQ_P50_MS = 15.0
TARGET_SEARCH_RPS = 60.0
TARGET_SEARCH_P99_MS = 250.0
TARGET_MIXED_P99_MS = 500.0
EMBEDDERS = {
    "torch": {"ARXIVQA_EMBEDDER_BACKEND": "torch"},
    "onnx": {"ARXIVQA_EMBEDDER_BACKEND": "onnx"},
    "onnx-int8": {"ARXIVQA_EMBEDDER_BACKEND": "onnx", "ARXIVQA_EMBEDDER_QUANTIZE": "true"},
}


def reader_dir() -> tuple[str, str]:
    model = os.environ.get("ARXIVQA_QA_MODEL")
    if model:
        return model, f"ARXIVQA_QA_MODEL={model}"
    shipped = PROJECT_ROOT / "models" / "reader"
    if (shipped / "config.json").is_file():
        return str(shipped), f"the shipped reader ({shipped})"
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


def queries(n: int = 20000) -> list[str]:
    """Distinct paper titles, shuffled (seeded)."""
    out: dict[str, None] = {}
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
                    title = " ".join(json.loads(line)["title"].split())
                    if title:
                        out[title] = None
    texts = list(out) or ["graph neural networks", "stochastic optimisation", "random walks"]
    random.Random(0).shuffle(texts)
    return texts


class Queries:
    """Hands out each query once (then starts over): no phase reuses another's queries."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.i = 0
        self.lock = threading.Lock()

    def take(self, n: int) -> list[str]:
        with self.lock:
            out = [self.texts[(self.i + k) % len(self.texts)] for k in range(n)]
            self.i += n
            return out

    def next(self) -> str:
        return self.take(1)[0]


# -- CPU time per process -------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc); nan when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_pids() -> dict[str, int]:
    """The stack's retriever, graph and Redis, from ``arxivqa up``'s pid files."""
    pids = {}
    for name in ("retriever", "redis", "graph"):
        try:
            pids[name] = int((RUN / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            continue
    return pids


class CpuMeter:
    """CPU seconds each process spends between ``start()`` and ``stop()``."""

    def __init__(self, pids: Callable[[], dict[str, int]]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        now["client"] = time.process_time()
        return now

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> dict[str, float]:
        after = self._now()
        self.spent = {k: after[k] - v for k, v in self.before.items() if k in after}
        return self.spent


def cpu_line(spent: dict[str, float], requests: int) -> str:
    order = ["gateway", "embedder", "retriever", "redis", "qa", "graph", "client"]
    parts = [
        f"{name} {spent[name] * 1000 / max(requests, 1):.1f}"
        for name in order
        if name in spent and spent[name] == spent[name]
    ]
    total = sum(v for k, v in spent.items() if k != "client" and v == v)
    return (
        f"    CPU ms/request: {', '.join(parts)}; services total "
        f"{total * 1000 / max(requests, 1):.1f}"
    )


# -- load -------------------------------------------------------------------------------------
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

    @property
    def count(self) -> int:
        return len(self.latencies) + sum(self.errors.values())

    def pct(self, q: float) -> float:
        return float(np.percentile(np.array(self.latencies) * 1000, q)) if self.latencies else 0.0


def run_load(
    target: str,
    seconds: float,
    search_clients: int,
    ask_clients: int,
    texts: Queries,
    on_tick: dict[float, Callable[[], None]] | None = None,
) -> tuple[Stats, Stats, float]:
    channel = grpc.insecure_channel(target)
    stub = gateway_pb2_grpc.GatewayStub(channel)
    search, ask = Stats(), Stats()
    t0 = time.monotonic()
    end = t0 + seconds

    def search_worker() -> None:
        while time.monotonic() < end:
            q = texts.next()
            s = time.monotonic()
            try:
                stub.Search(pb.SearchRequest(query=q, mode=pb.SEARCH_MODE_HYBRID, k=10), timeout=30)
                search.add(s - t0, time.monotonic() - s, "ok")
            except grpc.RpcError as exc:
                search.add(s - t0, time.monotonic() - s, "error", exc.code().name)

    def ask_worker() -> None:
        while time.monotonic() < end:
            q = texts.next()
            s = time.monotonic()
            try:
                r = stub.Ask(pb.AskRequest(question=q, passages=5), timeout=60)
                ask.add(
                    s - t0, time.monotonic() - s, "answered" if r.answers_available else "degraded"
                )
            except grpc.RpcError as exc:
                ask.add(s - t0, time.monotonic() - s, "error", exc.code().name)

    threads = [threading.Thread(target=search_worker) for _ in range(search_clients)]
    threads += [threading.Thread(target=ask_worker) for _ in range(ask_clients)]
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


def sequential_http(port: int, texts: list[str], path: str = "/v1/search") -> Stats:
    """One request at a time over one keep-alive HTTP connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    stats = Stats()
    t0 = time.monotonic()
    for q in texts:
        body = (
            {"query": q, "mode": "hybrid", "k": 10}
            if path == "/v1/search"
            else {"question": q, "passages": 5}
        )
        s = time.monotonic()
        # bytes, not str: http.client then sends headers and body in one segment (a str
        # body goes in a second send, which Nagle + delayed ACK hold back ~40 ms)
        conn.request("POST", path, json.dumps(body).encode(), {"content-type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        outcome = "ok" if resp.status == 200 else "error"
        stats.add(s - t0, time.monotonic() - s, outcome, str(resp.status))
    conn.close()
    return stats


def row(name: str, s: Stats, elapsed: float) -> str:
    errs = sum(s.errors.values())
    detail = ", ".join(f"{k} {v}" for k, v in s.errors.items())
    return (
        f"| {name:<30} | {len(s.latencies) / elapsed:>7.2f} | {s.pct(50):>8.1f} | "
        f"{s.pct(95):>8.1f} | {s.pct(99):>8.1f} | {errs:>6} {detail} |"
    )


HEADER = (
    "| backend · phase · operation    |   req/s | p50 (ms) | p95 (ms) | p99 (ms) | errors |\n"
    "|--------------------------------|--------:|---------:|---------:|---------:|-------:|"
)


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


@dataclass
class Backend:
    """An embedder + gateway (and the shared qa) for one embedder backend."""

    name: str
    embedder: subprocess.Popen[bytes]
    gateway: subprocess.Popen[bytes]
    grpc_target: str
    http_port: int
    results: dict[str, tuple[Stats, Stats, float, dict[str, float]]] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each load phase")
    parser.add_argument("--sequential", type=int, default=200, help="sequential HTTP searches")
    parser.add_argument(
        "--sequential-ask", type=int, default=30, help="sequential HTTP Asks (default backend)"
    )
    parser.add_argument("--search-clients", type=int, default=16)
    parser.add_argument("--ask-clients", type=int, default=4)
    parser.add_argument(
        "--backends", default="torch,onnx", help="embedder backends; the first is the baseline"
    )
    parser.add_argument(
        "--no-fault", action="store_true", help="skip the qa fault phase (default backend)"
    )
    parser.add_argument(
        "--sequential-only", action="store_true", help="only the sequential HTTP phases"
    )
    args = parser.parse_args(argv)
    names = [b for b in args.backends.split(",") if b]
    if unknown := [b for b in names if b not in EMBEDDERS]:
        print(f"unknown backend(s) {unknown}; choose from {', '.join(EMBEDDERS)}")
        return 2

    deps = {"retriever": PORTS["retriever"], "graph": PORTS["graph"]}
    for name, port in deps.items():
        port = int(os.environ.get(f"ARXIVQA_{name.upper()}_PORT", port))
        deps[name] = port
        ok, status = check(f"127.0.0.1:{port}", timeout=2)
        if not ok:
            print(f"{name} on 127.0.0.1:{port} is {status}: run 'make demo' (or arxivqa up) first")
            return 2
    RUN.mkdir(parents=True, exist_ok=True)
    model, model_note = reader_dir()
    env = dict(os.environ, PYTHONUNBUFFERED="1", OTEL_SDK_DISABLED="true")
    qa_port = free_port()
    qa_env = dict(env, ARXIVQA_QA_MODEL=model, ARXIVQA_QA_PORT=str(qa_port))
    qa_target = f"127.0.0.1:{qa_port}"
    procs: dict[str, subprocess.Popen[bytes]] = {
        "qa": spawn("services.qa.server", qa_env, RUN / "bench-qa.log")
    }
    backends: list[Backend] = []

    def start_backend(name: str) -> Backend:
        emb_port, gw_port, http_port = free_port(), free_port(), free_port()
        emb = spawn(
            "services.embedder.server",
            dict(env, ARXIVQA_EMBEDDER_PORT=str(emb_port), **EMBEDDERS[name]),
            RUN / f"bench-embedder-{name}.log",
        )
        gw_env = dict(
            env,
            ARXIVQA_GATEWAY_PORT=str(gw_port),
            ARXIVQA_GATEWAY_HTTP_PORT=str(http_port),
            ARXIVQA_GATEWAY_EMBEDDER_TARGET=f"127.0.0.1:{emb_port}",
            ARXIVQA_GATEWAY_RETRIEVER_TARGET=f"127.0.0.1:{deps['retriever']}",
            ARXIVQA_GATEWAY_GRAPH_TARGET=f"127.0.0.1:{deps['graph']}",
            ARXIVQA_GATEWAY_QA_TARGET=qa_target,
            ARXIVQA_GATEWAY_DEADLINE_SECONDS="30",
        )
        gw = spawn("gateway.server", gw_env, RUN / f"bench-gateway-{name}.log")
        b = Backend(name, emb, gw, f"127.0.0.1:{gw_port}", http_port)
        wait_serving(f"127.0.0.1:{emb_port}", emb)
        wait_serving(b.grpc_target, gw)
        return b

    try:
        wait_serving(qa_target, procs["qa"])
        texts = Queries(queries())
        print(f"gateway benchmark · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print(
            f"reader: {model_note}; {os.cpu_count()} CPUs; load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {len(texts.texts)} distinct "
            "query texts (paper titles)"
        )
        print(
            f"phases per embedder backend ({', '.join(names)}; baseline {names[0]}): "
            f"{args.sequential} sequential HTTP searches; {args.search_clients} Search clients; "
            f"{args.search_clients} Search + {args.ask_clients} Ask (5 passages) clients; "
            f"{args.seconds:.0f} s per load phase, over gRPC\n"
        )
        for name in names:
            b = start_backend(name)
            backends.append(b)

            def pids(b: Backend = b) -> dict[str, int]:
                return {
                    "gateway": b.gateway.pid,
                    "embedder": b.embedder.pid,
                    "qa": procs["qa"].pid,
                    **stack_pids(),
                }

            meter = CpuMeter(pids)
            # Warm the path (first KNN, first reader call), then measure.
            run_load(b.grpc_target, 3, 1, 1, texts)
            meter.start()
            distinct = texts.take(args.sequential)
            seq = sequential_http(b.http_port, distinct)
            b.results["sequential"] = (seq, Stats(), 0.0, meter.stop())
            meter.start()
            again = sequential_http(b.http_port, distinct)  # now in the query-vector cache
            b.results["sequential, cached"] = (again, Stats(), 0.0, meter.stop())
            if name == names[-1] and args.sequential_ask:
                meter.start()
                asks = sequential_http(b.http_port, texts.take(args.sequential_ask), "/v1/ask")
                b.results["sequential Ask"] = (Stats(), asks, 0.0, meter.stop())
            if not args.sequential_only:
                meter.start()
                s, a, e = run_load(b.grpc_target, args.seconds, args.search_clients, 0, texts)
                b.results["search"] = (s, a, e, meter.stop())
                meter.start()
                s, a, e = run_load(
                    b.grpc_target, args.seconds, args.search_clients, args.ask_clients, texts
                )
                b.results["mixed"] = (s, a, e, meter.stop())
            if name != names[-1]:
                stop(b.gateway)
                stop(b.embedder)
            report(b)

        fault = (
            None
            if args.no_fault or args.sequential_only
            else fault_phase(backends[-1], args, texts, procs, qa_env, qa_target)
        )
        summary(backends, fault)
        return 0
    finally:
        for b in backends:
            stop(b.gateway)
            stop(b.embedder)
        stop(procs["qa"])


def report(b: Backend) -> None:
    print(HEADER)
    for phase, (s, a, e, spent) in b.results.items():
        if phase == "sequential Ask":
            elapsed = max(a.timeline[-1][0] + a.latencies[-1], 1e-9) if a.latencies else 1.0
            print(row(f"{b.name} · sequential · HTTP Ask", a, elapsed))
            print(cpu_line(spent, a.count))
            continue
        if phase.startswith("sequential"):
            elapsed = max(s.timeline[-1][0] + s.latencies[-1], 1e-9) if s.latencies else 1.0
            print(row(f"{b.name} · {phase} · HTTP Search", s, elapsed))
            print(cpu_line(spent, s.count))
            continue
        print(row(f"{b.name} · {phase} · Search", s, e))
        if a.count:
            print(row(f"{b.name} · {phase} · Ask", a, e))
        print(cpu_line(spent, s.count + a.count))
    print()


def fault_phase(
    b: Backend,
    args: argparse.Namespace,
    texts: Queries,
    procs: dict[str, subprocess.Popen[bytes]],
    qa_env: dict[str, str],
    qa_target: str,
) -> dict[str, object]:
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
        b.grpc_target,
        args.seconds,
        args.search_clients,
        args.ask_clients,
        texts,
        on_tick={down_at: qa_down, up_at: qa_up},
    )
    print(HEADER)
    print(row(f"{b.name} · fault · Search", s2, e2))
    print(row(f"{b.name} · fault · Ask (all)", a2, e2))
    t_ready = marks["ready"] - marks["down"] + down_at
    first_after = min((t for t, o in a2.timeline if o == "answered" and t >= t_ready), default=None)
    window = [o for t, o in a2.timeline if down_at + 1 <= t < up_at]
    print(
        f"fault phase: qa stopped at {down_at:.0f} s, restarted at {up_at:.0f} s, SERVING "
        f"again at {t_ready:.1f} s"
    )
    print(f"  Search errors during the fault phase: {sum(s2.errors.values())} (target 0)")
    print(
        f"  Ask while qa was down: {window.count('degraded')} degraded (passages + note), "
        f"{window.count('answered')} answered, {window.count('error')} errors"
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
    print()
    return {"search_errors": sum(s2.errors.values()), "ask_errors": sum(a2.errors.values())}


def summary(backends: list[Backend], fault: dict[str, object] | None) -> None:
    base, best = backends[0], backends[-1]
    seq = best.results["sequential"][0]
    print(f"targets ({best.name}; ratios to {base.name} measured above in the same run):")
    b_seq = base.results["sequential"][0]
    print(
        f"  sequential HTTP Search p50 {seq.pct(50):.1f} ms ({seq.pct(50) / b_seq.pct(50):.2f}x "
        f"{base.name}'s {b_seq.pct(50):.1f} ms); target <= {TARGET_SEQ_P50_MS:.0f} ms: "
        f"{verdict(seq.pct(50) <= TARGET_SEQ_P50_MS)}"
    )
    if "sequential Ask" in best.results:
        asks = best.results["sequential Ask"][1]
        print(
            f"  sequential HTTP Ask (5 passages) p50 {asks.pct(50):.0f} ms, "
            f"{sum(asks.errors.values())} errors (target with the shipped reader <= 300 ms: "
            f"{verdict(asks.pct(50) <= 300)})"
        )
    if "search" not in best.results:
        return
    search, _, e_search, _ = best.results["search"]
    mixed_s, mixed_a, _, _ = best.results["mixed"]
    rps = len(search.latencies) / e_search
    b_search, _, b_e, _ = base.results["search"]
    b_rps = len(b_search.latencies) / b_e
    print(
        f"  {len(search.latencies)} Searches by 16 clients: {rps:.1f} req/s ({rps / b_rps:.2f}x "
        f"{base.name}'s {b_rps:.1f}), p99 {search.pct(99):.0f} ms; target >= "
        f"{TARGET_SEARCH_RPS:.0f} req/s with p99 <= {TARGET_SEARCH_P99_MS:.0f} ms: "
        f"{verdict(rps >= TARGET_SEARCH_RPS and search.pct(99) <= TARGET_SEARCH_P99_MS)}"
    )
    errors = sum(mixed_s.errors.values()) + sum(mixed_a.errors.values())
    print(
        f"  with Ask clients added: Search p99 {mixed_s.pct(99):.0f} ms, Ask p50 "
        f"{mixed_a.pct(50):.0f} ms, errors {errors}; target Search p99 <= "
        f"{TARGET_MIXED_P99_MS:.0f} ms and 0 errors: "
        f"{verdict(mixed_s.pct(99) <= TARGET_MIXED_P99_MS and errors == 0)}"
    )
    if fault is not None:
        print(
            f"  fault phase: Search errors {fault['search_errors']}, Ask errors "
            f"{fault['ask_errors']} (target 0: "
            f"{verdict(fault['search_errors'] == 0 and fault['ask_errors'] == 0)})"
        )


if __name__ == "__main__":
    raise SystemExit(main())
