"""Soak run with faults (``make bench-soak``): mixed load for ``--seconds`` (default 630).

Everything runs as separate processes started here: a Redis Stack of its own (AOF on,
``appendfsync everysec``, in a temporary directory), embedder, retriever, graph, qa (the
reader of ``ARXIVQA_QA_MODEL``, else a MiniLM-L6-sized random one as in bench-gateway) and
the gateway with an API key. The Kaggle sample, the unarXive papers and their references
are ingested first. Then, over the gateway's gRPC API:

- 3 clients ``Search`` (hybrid), 1 ``Ask``, 2 ``GetPaper``, each with a short pause between
  requests, and 1 client ``Ingest``ing a new batch every 2 s (5 new papers, the full text of
  one of them, 8 citations) and recording what each acknowledgement says was written;
- at 35 % of the run qa is stopped (SIGTERM) and started again 20 s later: Ask must degrade
  (passages, no answers), never fail;
- at 55 % Redis is killed with SIGKILL and started again 15 s later on the same data.
  The outage window runs from the kill until the retriever and graph report SERVING again,
  plus 5 s; errors are counted inside and outside it (outside must be 0).

Afterwards every acknowledged paper, passage and citation is looked up in Redis (papers and
passage counts through the retriever, edges by loading the graph from Redis afresh), and
the resident memory (VmRSS) of each process at minute 2 is compared with the end (a
process restarted mid-run: from its own minute 2; Redis holds the growing data, so its
figure is shown but not judged).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.gateway.v1 import gateway_pb2_grpc
from arxivqa.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from benchmarks.gateway import reader_dir
from services.common.healthcheck import check
from services.devtools.redis_server import PROJECT_ROOT, LocalRedis, free_port
from services.graph.citations import CitationGraph

SHARED = PROJECT_ROOT.parent / "shared" / "data" / "arxiv"
API_KEY = "soak-key"
QUESTIONS = [
    "graph neural networks for molecules",
    "what dataset was used for evaluation",
    "quantum error correction with surface codes",
    "dark matter detection experiments",
    "how is the learning rate chosen",
    "galaxy cluster mass estimates",
]
WORDS = (
    "graph neural network quantum field theory transformer attention sparse matrix galaxy "
    "cluster dark matter lattice gauge entropy manifold optimisation gradient stochastic"
).split()


@dataclass
class Proc:
    name: str
    module: str
    env: dict[str, str]
    target: str
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    restarted_at: float = 0.0  # soak time of a restart (0: started before the soak)
    rss: list[tuple[float, int]] = field(default_factory=list)

    def start(self, restarted_at: float = 0.0) -> None:
        with open(self.log, "ab") as fh:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.restarted_at = restarted_at
        self.rss = []

    def wait_serving(self, timeout: float = 300) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.popen.returncode}); see {self.log}")
            if check(self.target, timeout=1.0)[0]:
                return
            time.sleep(0.3)
        raise SystemExit(f"{self.name} not SERVING after {timeout} s; see {self.log}")

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Ledger:
    """What the acknowledgements said was written (and what the clients saw)."""

    papers: set[str] = field(default_factory=set)
    passages: dict[str, int] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    events: list[tuple[float, str, str]] = field(default_factory=list)  # (t, op, outcome)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, t: float, op: str, outcome: str) -> None:
        with self.lock:
            self.events.append((t, op, outcome))


def _record(paper_id: str, rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(60)]
    return json.dumps(
        {
            "id": paper_id,
            "authors": "A. Soak, B. Load",
            "title": " ".join(words[:9]),
            "abstract": " ".join(words),
            "categories": "cs.LG",
            "update_date": "2025-06-01",
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=630.0)
    parser.add_argument(
        "--seed", type=int, default=200, help="Kaggle sample records ingested first (of 200)"
    )
    args = parser.parse_args(argv)
    duration = args.seconds
    rng = random.Random(0)
    tmp = Path(tempfile.mkdtemp(prefix="arxivqa-soak-"))
    print(f"soak: {duration:.0f} s of mixed load; logs in {tmp}", flush=True)

    redis = LocalRedis(data_dir=tmp / "redis").start()
    ports = {n: free_port() for n in ("embedder", "retriever", "graph", "qa", "gateway")}
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARXIVQA_GATEWAY_")}
    base.update({"PYTHONUNBUFFERED": "1", "OTEL_SDK_DISABLED": "true", "REDIS_URL": redis.url})
    model, model_note = reader_dir()
    envs = {
        "embedder": {"ARXIVQA_EMBEDDER_PORT": str(ports["embedder"])},
        "retriever": {"ARXIVQA_RETRIEVER_PORT": str(ports["retriever"])},
        "graph": {"ARXIVQA_GRAPH_PORT": str(ports["graph"])},
        "qa": {"ARXIVQA_QA_PORT": str(ports["qa"]), "ARXIVQA_QA_MODEL": model},
        "gateway": {
            "ARXIVQA_GATEWAY_PORT": str(ports["gateway"]),
            "ARXIVQA_GATEWAY_HTTP_PORT": str(free_port()),
            "ARXIVQA_GATEWAY_API_KEY": API_KEY,
            **{
                f"ARXIVQA_GATEWAY_{n.upper()}_TARGET": f"127.0.0.1:{ports[n]}"
                for n in ("embedder", "retriever", "graph", "qa")
            },
        },
    }
    modules = {
        "embedder": "services.embedder.server",
        "retriever": "services.retriever.server",
        "graph": "services.graph.server",
        "qa": "services.qa.server",
        "gateway": "gateway.server",
    }
    procs = {
        n: Proc(n, modules[n], {**base, **envs[n]}, f"127.0.0.1:{ports[n]}", tmp / f"{n}.log")
        for n in modules
    }

    def cleanup() -> None:  # also on an error or SIGTERM: leave no process behind
        for p in procs.values():
            if p.popen is not None and p.popen.poll() is None:
                p.popen.kill()
        if redis.running:
            redis.kill()

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.monotonic()
    for n in ("embedder", "retriever", "graph", "qa"):
        procs[n].start()
    for n in ("embedder", "retriever", "graph", "qa"):
        procs[n].wait_serving()
    procs["gateway"].start()
    procs["gateway"].wait_serving()
    print(f"stack up in {time.monotonic() - t0:.0f} s; reader: {model_note}", flush=True)

    channel = grpc.insecure_channel(procs["gateway"].target)
    stub = gateway_pb2_grpc.GatewayStub(channel)
    key = [("x-api-key", API_KEY)]
    kaggle = [x for x in (SHARED / "kaggle_sample_200.jsonl").read_text().splitlines() if x]
    unarxive = [x for x in (SHARED / "unarxive_sample_papers.jsonl").read_text().splitlines() if x]
    kaggle, unarxive = kaggle[: args.seed], unarxive[: args.seed]
    refs = [
        pb.Citation(citing_id=a.strip(), cited_id=b.strip())
        for a, b in (
            line.split("\t")
            for line in (SHARED / "unarxive_sample_refs.tsv").read_text().splitlines()
            if line.strip()
        )
    ]
    seed = [
        pb.IngestRequest(batch_id="kaggle", records=kaggle),
        pb.IngestRequest(batch_id="unarxive", records=unarxive),
        pb.IngestRequest(batch_id="refs", citations=refs),
    ]
    acks = list(stub.Ingest(iter(seed), metadata=key, timeout=900))
    known_ids = [json.loads(x)["id"] for x in kaggle + unarxive]
    print(
        f"seeded: {sum(a.papers_written for a in acks)} papers, "
        f"{sum(a.citations_added for a in acks)} citations",
        flush=True,
    )

    ledger = Ledger()
    stop = threading.Event()
    start = time.monotonic()

    def now() -> float:
        return time.monotonic() - start

    def client(op: str, pause: float) -> None:
        local = random.Random(hash(op) ^ threading.get_ident())
        while not stop.is_set():
            t = now()
            try:
                if op == "search":
                    stub.Search(pb.SearchRequest(query=local.choice(QUESTIONS), k=10), timeout=30)
                    outcome = "ok"
                elif op == "paper":
                    stub.GetPaper(pb.GetPaperRequest(id=local.choice(known_ids)), timeout=30)
                    outcome = "ok"
                else:
                    r = stub.Ask(pb.AskRequest(question=local.choice(QUESTIONS)), timeout=60)
                    outcome = "ok" if r.answers_available else "degraded"
            except grpc.RpcError as exc:
                outcome = exc.code().name
            ledger.note(t, op, outcome)
            stop.wait(pause)

    def ingester() -> None:
        n = 0
        while not stop.is_set():
            t = now()
            ids = [f"2507.{10000 + n + i:05d}" for i in range(5)]
            n += 5
            paragraphs = [
                pb.Paragraph(section="Body", text=" ".join(rng.choice(WORDS) for _ in range(80)))
                for _ in range(4)
            ]
            cites = [
                pb.Citation(citing_id=ids[i % 5], cited_id=rng.choice(known_ids)) for i in range(8)
            ]
            req = pb.IngestRequest(
                batch_id=f"soak-{n}",
                records=[_record(i, rng) for i in ids],
                fulltexts=[pb.FullText(paper_id=ids[0], paragraphs=paragraphs)],
                citations=cites,
            )
            try:
                (ack,) = list(stub.Ingest(iter([req]), metadata=key, timeout=60))
            except grpc.RpcError as exc:
                ledger.note(t, "ingest", exc.code().name)
            else:
                bad = {e.id for e in ack.errors}
                with ledger.lock:
                    ledger.papers.update(i for i in ids if i not in bad)
                    ledger.passages[ids[0]] = ack.passages_written
                    ledger.edges.update((c.citing_id, c.cited_id) for c in cites)
                ledger.note(t, "ingest", "ok" if not ack.errors else "partial")
            stop.wait(2.0)

    threads = [threading.Thread(target=client, args=("search", 0.2)) for _ in range(3)]
    threads += [threading.Thread(target=client, args=("paper", 0.2)) for _ in range(2)]
    threads += [
        threading.Thread(target=client, args=("ask", 0.5)),
        threading.Thread(target=ingester),
    ]
    for th in threads:
        th.start()

    redis_rss: list[tuple[float, int]] = []
    redis_started = 0.0
    timeline: dict[str, float] = {}
    plan = [
        (0.35 * duration, "qa stopped"),
        (0.35 * duration + 20, "qa started"),
        (0.55 * duration, "redis killed"),
        (0.55 * duration + 15, "redis started"),
    ]
    next_sample = 0.0
    while now() < duration or plan:  # a slow machine runs late, but runs every fault
        if plan and now() >= plan[0][0]:
            _, what = plan.pop(0)
            timeline[what] = now()
            if what == "qa stopped":
                procs["qa"].stop()
            elif what == "qa started":
                procs["qa"].start(restarted_at=now())
                procs["qa"].wait_serving()
                timeline["qa SERVING"] = now()
            elif what == "redis killed":
                redis.kill()
            elif what == "redis started":
                redis.start(timeout=120)
                redis_started = now()
                redis_rss = []
                for n in ("retriever", "graph"):
                    procs[n].wait_serving(120)
                timeline["retriever+graph SERVING"] = now()
            print(f"  t={timeline[what]:6.1f} s  {what}", flush=True)
        if now() >= next_sample:
            for p in procs.values():
                if p.popen is not None and p.popen.poll() is None:
                    p.rss.append((now(), rss_kib(p.popen.pid)))
            if redis.running and redis._proc is not None:
                redis_rss.append((now(), rss_kib(redis._proc.pid)))
            next_sample = now() + 10
        time.sleep(0.2)
    stop.set()
    for th in threads:
        th.join(90)
    end = now()

    # -- what survived ------------------------------------------------------------------
    with grpc.insecure_channel(procs["retriever"].target) as ch:
        rstub = retriever_pb2_grpc.RetrieverStub(ch)
        found, passages_found = 0, 0
        ids = sorted(ledger.papers)
        for i in range(0, len(ids), 200):
            resp = rstub.GetPapers(retriever_pb2.GetPapersRequest(ids=ids[i : i + 200]), timeout=60)
            found += len(resp.papers)
            for paper, count in zip(resp.papers, resp.passage_counts, strict=True):
                if paper.id in ledger.passages:
                    passages_found += count
    graph = CitationGraph(redis.url)
    graph.warm_up()
    stored_edges = graph.edges()
    graph.close()
    edges_found = sum(1 for e in ledger.edges if e in stored_edges)

    # -- figures ------------------------------------------------------------------------
    win_lo = timeline.get("redis killed", end)
    win_hi = timeline.get("retriever+graph SERVING", end) + 5
    qa_lo, qa_hi = timeline.get("qa stopped", end), timeline.get("qa SERVING", end)
    print()
    print(f"timeline (s): {json.dumps({k: round(v, 1) for k, v in timeline.items()})}")
    print(f"outage window: {win_lo:.1f}-{win_hi:.1f} s (Redis kill to SERVING + 5 s)")
    head = ("requests", "ok", "degraded", "err in window", "err outside")
    print(f"{'op':<8} {head[0]:>9} {head[1]:>7} {head[2]:>9} {head[3]:>14} {head[4]:>12}")
    outside_total = 0
    ask_failed_in_qa_restart = 0
    for op in ("search", "ask", "paper", "ingest"):
        ev = [e for e in ledger.events if e[1] == op]
        ok = sum(1 for e in ev if e[2] in ("ok", "partial"))
        degraded = sum(1 for e in ev if e[2] == "degraded")
        errs = [e for e in ev if e[2] not in ("ok", "partial", "degraded")]
        inside = sum(1 for e in errs if win_lo <= e[0] <= win_hi)
        outside = len(errs) - inside
        outside_total += outside
        if op == "ask":
            ask_failed_in_qa_restart = sum(1 for e in errs if qa_lo <= e[0] <= qa_hi + 5)
        print(f"{op:<8} {len(ev):>9} {ok:>7} {degraded:>9} {inside:>14} {outside:>12}")
        codes = Counter(e[2] for e in errs)
        if codes:
            print(f"         error codes: {dict(codes)}")
    print()
    passages_acked = sum(ledger.passages.values())
    print(f"acknowledged papers    {len(ledger.papers):>6}   present {found:>6}")
    print(f"acknowledged passages  {passages_acked:>6}   present {passages_found:>6}")
    print(f"acknowledged citations {len(ledger.edges):>6}   present {edges_found:>6}")
    print()
    print("resident memory, MiB (minute 2 of the process -> end):")
    worst = 0.0
    for p in procs.values():
        base_rss = [r for t, r in p.rss if t >= p.restarted_at + 120]
        if not base_rss:
            print(f"  {p.name:<10} ran < 2 min; not judged")
            continue
        first, last = base_rss[0], p.rss[-1][1]
        growth = (last - first) / first * 100
        worst = max(worst, growth)
        print(f"  {p.name:<10} {first / 1024:8.1f} -> {last / 1024:8.1f}  ({growth:+.1f} %)")
    later = [r for t, r in redis_rss if t >= redis_started + 120]
    if later:
        print(
            f"  {'redis':<10} {later[0] / 1024:8.1f} -> {redis_rss[-1][1] / 1024:8.1f}  "
            f"({(redis_rss[-1][1] - later[0]) / later[0] * 100:+.1f} %, holds the growing data; "
            "not judged)"
        )
    degraded_asks = sum(1 for e in ledger.events if e[1] == "ask" and e[2] == "degraded")
    checks = {
        "every acknowledged paper, passage, citation present": (
            found == len(ledger.papers)
            and passages_found == passages_acked
            and edges_found == len(ledger.edges)
        ),
        "0 errors outside the outage window": outside_total == 0,
        "Ask degraded (not failed) during qa's restart": ask_failed_in_qa_restart == 0
        and degraded_asks > 0,
        "RSS growth <= 10 % from minute 2": worst <= 10.0,
        f"ran >= 10 min ({end:.0f} s)": end >= 600,
    }
    print()
    for what, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {what}")

    channel.close()
    for p in reversed(list(procs.values())):
        p.stop()
    redis.stop()
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
