"""Retriever benchmark: upsert throughput, search latency, HNSW recall, SciFact nDCG@10.

    python -m benchmarks.retriever            (make bench-retriever)
    python -m benchmarks.retriever --quick    (smaller synthetic set, fewer queries)

Starts its own Redis Stack (services.devtools.redis_server.LocalRedis, AOF on, data in a
temporary directory) and uses the retriever core in-process. Vectors come from the real
embedder core (services.embedder.model.SentenceEmbedder, all-MiniLM-L6-v2) and are cached
under .data/cache/ keyed by a hash of the model weights and the texts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.common.settings import DATA_DIR_NAME

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / DATA_DIR_NAME / "cache"


# -- helpers -------------------------------------------------------------------------------
_stage_times: list[tuple[str, float]] = []


@contextmanager
def stage(name: str) -> Iterator[None]:
    print(f"\n== {name}", flush=True)
    t0 = time.perf_counter()
    yield
    dt = time.perf_counter() - t0
    _stage_times.append((name, dt))
    print(f"   ({name}: {dt:.1f} s)", flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print(
            "   "
            + "  ".join(c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True))
        )
        if n == 0:
            print("   " + "  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percentiles(samples_ms: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(samples_ms)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


# -- embeddings (cached) ------------------------------------------------------------------
_embedder: Any = None


def embedder() -> Any:
    global _embedder
    if _embedder is None:
        from services.embedder.model import SentenceEmbedder

        _embedder = SentenceEmbedder()
        _embedder.warm_up()
    return _embedder


def embed_cached(name: str, texts: Sequence[str]) -> np.ndarray:
    """Vectors for ``texts``, from .data/cache/ when the same model embedded the same texts."""
    from services.embedder.model import DEFAULT_WEIGHTS_SHA256

    h = hashlib.sha256(DEFAULT_WEIGHTS_SHA256.encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\x00")
    path = CACHE / f"{name}-{h.hexdigest()[:16]}.npy"
    if path.exists():
        vectors = np.load(path)
        print(f"   {name}: {len(texts):,} vectors from cache {path.relative_to(ROOT)}")
        return vectors
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    vectors = embedder().encode(list(texts), batch_size=64).vectors
    dt = time.perf_counter() - t0
    np.save(path, vectors)
    print(f"   {name}: embedded {len(texts):,} texts in {dt:.1f} s ({len(texts) / dt:,.0f}/s)")
    return vectors


# -- data ---------------------------------------------------------------------------------
@dataclass
class SciFact:
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_scifact() -> SciFact:
    base = DATA / "beir" / "scifact"
    doc_ids, titles, texts = [], [], []
    with open(base / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            doc_ids.append(rec["_id"])
            titles.append(rec.get("title") or "")
            texts.append(rec.get("text") or "")
    queries = {}
    with open(base / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            queries[rec["_id"]] = rec["text"]
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(base / "qrels" / "train.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            qrels[qid][did] = int(score)
    return SciFact(doc_ids, titles, texts, {q: queries[q] for q in qrels}, dict(qrels))


def load_arxiv_titles() -> tuple[list[Any], list[str]]:
    from services.common.arxiv import Paper, read_papers

    papers = [p for _, p in read_papers(DATA / "arxiv" / "arxiv2023_papers.jsonl")]
    good = [p for p in papers if isinstance(p, Paper)]
    return good, [p.title for p in good]


def precompute() -> None:
    """Fill the embedding cache (the slow part on a CPU); the benchmark reuses it."""
    sf = load_scifact()
    embed_cached(
        "scifact-corpus", [f"{t} {x}".strip() for t, x in zip(sf.titles, sf.texts, strict=True)]
    )
    embed_cached("scifact-train-queries", list(sf.queries.values()))
    _, titles = load_arxiv_titles()
    embed_cached("arxiv2023-titles", titles)


# -- metrics ------------------------------------------------------------------------------
def ndcg_at_10(ranked: Sequence[str], rels: dict[str, int]) -> float:
    """nDCG@10 as trec_eval / BEIR compute it: gain = relevance, discount log2(rank + 1)."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(rels.values(), reverse=True)[:10]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def exact_top_k(matrix: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Brute-force cosine top-k (rows are unit vectors), in chunks to bound memory."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 50):
        sims = queries[start : start + 50] @ matrix.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[start : start + 50] = np.take_along_axis(top, order, axis=1)
    return out


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


# -- stages -------------------------------------------------------------------------------
def make_index(url: str, prefix: str, **overrides: Any) -> Any:
    from services.retriever.config import IndexConfig
    from services.retriever.index import RetrieverIndex

    idx = RetrieverIndex(url, IndexConfig(prefix=prefix, **overrides), socket_timeout=120)
    idx.warm_up(10)
    return idx


def bench_scifact(url: str) -> None:
    from services.retriever.config import IndexConfig
    from services.retriever.fusion import fuse_rrf
    from services.retriever.query import Mode
    from services.retriever.records import PaperRecord

    sf = load_scifact()
    corpus_vecs = embed_cached(
        "scifact-corpus", [f"{t} {x}".strip() for t, x in zip(sf.titles, sf.texts, strict=True)]
    )
    qids = list(sf.queries)
    query_vecs = embed_cached("scifact-train-queries", [sf.queries[q] for q in qids])
    default = IndexConfig()
    weights = sorted({1.0, default.title_weight, 4.0})
    rrf_ks = sorted({5.0, 10.0, 20.0, 30.0, 60.0, 100.0, default.rrf_k})
    rows = []
    chosen: dict[str, float] = {}
    for w in weights:
        idx = make_index(url, f"bench-sf-w{w:g}", title_weight=w)
        papers = [
            PaperRecord(d, t or d, x, vector=v)
            for d, t, x, v in zip(sf.doc_ids, sf.titles, sf.texts, corpus_vecs, strict=True)
        ]
        res = idx.upsert(papers)
        assert not res.errors, res.errors[:3]
        vec_lists, text_lists = [], []
        for qid, qv in zip(qids, query_vecs, strict=True):
            text = sf.queries[qid]
            vec_lists.append(idx.search(Mode.VECTOR, vector=qv, k=100).hits)
            text_lists.append(idx.search(Mode.TEXT, text=text, k=100).hits)
        n_text = np.mean(
            [
                ndcg_at_10([h.id for h in t], sf.qrels[q])
                for q, t in zip(qids, text_lists, strict=True)
            ]
        )
        n_vec = np.mean(
            [
                ndcg_at_10([h.id for h in v], sf.qrels[q])
                for q, v in zip(qids, vec_lists, strict=True)
            ]
        )
        for k in rrf_ks:
            n_h = np.mean(
                [
                    ndcg_at_10([h.id for h in fuse_rrf(_copy(v), _copy(t), k)], sf.qrels[q])
                    for q, v, t in zip(qids, vec_lists, text_lists, strict=True)
                ]
            )
            rows.append(
                (w, k, float(n_text), float(n_vec), float(n_h), float(n_h / max(n_text, n_vec)))
            )
            if w == default.title_weight and k == default.rrf_k:
                chosen = {"text": float(n_text), "vector": float(n_vec), "hybrid": float(n_h)}
        if w == default.title_weight:
            # The service path itself (HYBRID mode, default settings) must give the same figure.
            n_service = np.mean(
                [
                    ndcg_at_10(
                        [
                            h.id
                            for h in idx.search(
                                Mode.HYBRID, text=sf.queries[q], vector=qv, k=10
                            ).hits
                        ],
                        sf.qrels[q],
                    )
                    for q, qv in zip(qids, query_vecs, strict=True)
                ]
            )
            chosen["hybrid_service"] = float(n_service)
        idx.client.execute_command("FT.DROPINDEX", idx.config.papers_index, "DD")
        idx.client.execute_command("FT.DROPINDEX", idx.config.passages_index, "DD")
        idx.close()
    print(
        f"   SciFact train: {len(qids)} queries, {len(sf.doc_ids):,} docs; nDCG@10 (trec_eval gain)"
    )
    table(["title_weight", "rrf_k", "TEXT", "VECTOR", "HYBRID", "HYBRID/best single"], rows)
    best = max(chosen["text"], chosen["vector"])
    print(
        f"\n   defaults (title_weight={default.title_weight:g}, rrf_k={default.rrf_k:g}, "
        f"window={default.rrf_window}): TEXT {chosen['text']:.4f}  VECTOR {chosen['vector']:.4f}  "
        f"HYBRID {chosen['hybrid']:.4f} (service HYBRID call: {chosen['hybrid_service']:.4f})"
    )
    verdict = "PASS" if chosen["hybrid_service"] > best else "FAIL"
    print(
        f"   target: HYBRID > both single modes -> {verdict} "
        f"(ratio to best single mode {chosen['hybrid_service'] / best:.3f})"
    )


def _copy(hits: Sequence[Any]) -> list[Any]:
    import copy

    return [copy.copy(h) for h in hits]


def bench_arxiv(url: str, n_queries: int) -> None:
    from services.retriever.records import PaperRecord, paper_fields

    papers, titles = load_arxiv_titles()
    vectors = embed_cached("arxiv2023-titles", titles)
    records = [
        PaperRecord(p.id, p.title, p.abstract, p.authors, p.categories, p.year, vector=v)
        for p, v in zip(papers, vectors, strict=True)
    ]
    # Same 5,000 papers, each way into a fresh index: one HSET per round trip (baseline),
    # then the service's pipelined chunks; then all 24,394 papers pipelined.
    sample = records[:5000]
    base = make_index(url, "bench-base")
    t0 = time.perf_counter()
    for r in sample:
        base.client.hset(base.config.paper_prefix + r.id, mapping=paper_fields(r, base.config.dim))
    base_s = time.perf_counter() - t0
    base.client.execute_command("FT.DROPINDEX", base.config.papers_index, "DD")
    base.close()
    piped = make_index(url, "bench-piped")
    t0 = time.perf_counter()
    piped.upsert(sample)
    piped_s = time.perf_counter() - t0
    piped.client.execute_command("FT.DROPINDEX", piped.config.papers_index, "DD")
    piped.close()

    idx = make_index(url, "bench-arxiv")
    t0 = time.perf_counter()
    res = idx.upsert(records)
    dt = time.perf_counter() - t0
    assert not res.errors and res.papers_written == len(records)
    chunk = idx.config.upsert_chunk
    table(
        ["upsert (vectors indexed by HNSW as written)", "papers", "seconds", "papers/s", "ratio"],
        [
            ("one HSET per round trip (baseline)", len(sample), base_s, len(sample) / base_s, 1.0),
            (f"pipelined, chunks of {chunk}", len(sample), piped_s, len(sample) / piped_s,
             base_s / piped_s),
            (f"pipelined, chunks of {chunk}, all", len(records), dt, len(records) / dt, "-"),
        ],
    )  # fmt: skip
    stats = idx.stats()
    print(
        f"   after upsert: {stats.papers:,} papers, index {stats.index_bytes / 2**20:.1f} MiB, "
        f"Redis used_memory {stats.redis_used_memory_bytes / 2**20:.1f} MiB"
    )
    rng = np.random.default_rng(7)
    picks = rng.choice(len(records), size=n_queries, replace=False)
    # Queries: another paper's title (text) and its vector plus noise (so it is not a copy).
    qvecs = vectors[picks] + rng.normal(scale=0.02, size=(n_queries, vectors.shape[1]))
    qvecs = (qvecs / np.linalg.norm(qvecs, axis=1, keepdims=True)).astype(np.float32)
    qtexts = [titles[i] for i in picks]
    latency_rows(idx, "24k papers", qtexts, qvecs)
    recall_rows(idx, "24k papers", vectors, qvecs, [p.id for p in papers])
    idx.client.execute_command("FT.DROPINDEX", idx.config.papers_index, "DD")
    idx.close()


def latency_rows(idx: Any, label: str, texts: Sequence[str], vecs: np.ndarray) -> None:
    from services.retriever.query import Mode

    rows = []
    for mode in (Mode.VECTOR, Mode.TEXT, Mode.HYBRID):
        for t, v in list(zip(texts, vecs, strict=True))[:5]:  # warm the connection and caches
            idx.search(mode, text=t, vector=v, k=10)
        samples = [
            timed(lambda t=t, v=v, m=mode: idx.search(m, text=t, vector=v, k=10))
            for t, v in zip(texts, vecs, strict=True)
        ]
        p50, p95 = percentiles(samples)
        rows.append((label, mode.name, len(samples), p50, p95))
    table(["corpus", "mode", "queries", "p50 ms", "p95 ms"], rows)


def recall_rows(
    idx: Any,
    label: str,
    matrix: np.ndarray,
    queries: np.ndarray,
    ids: Sequence[str],
    ef_values: Sequence[int] = (),
) -> None:
    from services.retriever.query import Mode

    exact = exact_top_k(matrix, queries, 10)
    default_ef = idx.config.hnsw_ef_runtime
    rows = []
    for ef in sorted({*ef_values, default_ef}):
        found, samples = 0, []
        for q, truth in zip(queries, exact, strict=True):
            t0 = time.perf_counter()
            hits = idx.search(Mode.VECTOR, vector=q, k=10, ef_runtime=ef).hits
            samples.append((time.perf_counter() - t0) * 1000)
            found += len({h.id for h in hits} & {ids[i] for i in truth})
        recall = found / (10 * len(queries))
        p50, p95 = percentiles(samples)
        mark = " (default)" if ef == default_ef else ""
        rows.append((label, f"{ef}{mark}", recall, p50, p95))
    table(["corpus", "EF_RUNTIME", "recall@10 vs exact", "p50 ms", "p95 ms"], rows)
    default_recall = next(r[2] for r in rows if r[1].endswith("(default)"))
    verdict = "PASS" if default_recall >= 0.95 else "FAIL"
    print(f"   target: recall@10 >= 0.95 at defaults (exact numpy search = 1.0) -> {verdict}")


def synthetic(n: int, dim: int, rng: np.random.Generator, n_clusters: int = 500) -> np.ndarray:
    """Unit vectors around random cluster centres (some structure, like real embeddings)."""
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, n_clusters, size=n)
    out = centres[labels] + rng.normal(scale=0.06, size=(n, dim)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def bench_synthetic(url: str, n: int, n_queries: int) -> None:
    from services.retriever.records import PaperRecord

    rng = np.random.default_rng(42)
    _, titles = load_arxiv_titles()
    vocab = sorted({w for t in titles for w in t.lower().split() if w.isalpha() and len(w) > 3})
    vecs = synthetic(n + n_queries, 384, rng)
    data, queries = vecs[:n], vecs[n:]
    ids = [f"syn{i:07d}" for i in range(n)]
    words = rng.integers(0, len(vocab), size=(n, 8))
    idx = make_index(url, "bench-syn")
    t0 = time.perf_counter()
    session = idx.writer()
    for start in range(0, n, 5000):
        session.add(
            papers=[
                PaperRecord(ids[i], " ".join(vocab[j] for j in words[i]), vector=data[i])
                for i in range(start, min(n, start + 5000))
            ]
        )
    res = session.finish()
    dt = time.perf_counter() - t0
    assert not res.errors and res.papers_written == n
    stats = idx.stats()
    print(
        f"   upserted {n:,} synthetic vectors in {dt:.1f} s ({n / dt:,.0f} papers/s); "
        f"index {stats.index_bytes / 2**20:.0f} MiB, Redis used_memory "
        f"{stats.redis_used_memory_bytes / 2**20:.0f} MiB"
    )
    qwords = rng.integers(0, len(vocab), size=(n_queries, 3))
    qtexts = [" ".join(vocab[j] for j in row) for row in qwords]
    label = f"{n // 1000}k synthetic"
    latency_rows(idx, label, qtexts, queries)
    recall_rows(idx, label, data, queries, ids, ef_values=(10, 50, 200))
    idx.client.execute_command("FT.DROPINDEX", idx.config.papers_index, "DD")
    idx.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k synthetic, 100 queries")
    parser.add_argument("--synthetic", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--precompute", action="store_true", help="only fill the vector cache")
    parser.add_argument("--skip", default="", help="comma list of: scifact,arxiv,synthetic")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"benchmark data not found at {DATA}; it needs ../shared/data", file=sys.stderr)
        return 2
    if args.precompute:
        precompute()
        return 0
    n_syn = 20_000 if args.quick else args.synthetic
    n_q = 100 if args.quick else args.queries
    skip = set(filter(None, args.skip.split(",")))
    from services.devtools.redis_server import LocalRedis
    from services.retriever.config import IndexConfig

    cfg = IndexConfig()
    print(
        f"retriever benchmark {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; defaults: "
        f"dim {cfg.dim}, HNSW M={cfg.hnsw_m} EF_CONSTRUCTION={cfg.hnsw_ef_construction} "
        f"EF_RUNTIME={cfg.hnsw_ef_runtime}, scorer {cfg.scorer}, title_weight "
        f"{cfg.title_weight:g}, rrf_k {cfg.rrf_k:g}, window {cfg.rrf_window}"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (other work shares these CPUs)")
    total0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-retriever-") as tmp:
        redis_server = LocalRedis(data_dir=Path(tmp)).start()
        print(f"Redis Stack with Search at {redis_server.url} (AOF on, appendfsync everysec)")
        try:
            if "scifact" not in skip:
                with stage("SciFact nDCG@10 (TEXT, VECTOR with the real embedder, HYBRID)"):
                    bench_scifact(redis_server.url)
            if "arxiv" not in skip:
                with stage("arxiv2023: 24,394 papers (title vectors), upsert, latency, recall"):
                    bench_arxiv(redis_server.url, n_q)
            if "synthetic" not in skip:
                with stage(f"{n_syn:,} synthetic vectors: upsert, latency, recall"):
                    bench_synthetic(redis_server.url, n_syn, n_q)
        finally:
            redis_server.stop()
    print("\n== stage times")
    table(["stage", "seconds"], [(n, t) for n, t in _stage_times])
    print(f"   total {time.perf_counter() - total0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
