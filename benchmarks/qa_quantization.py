"""What dynamic int8 quantisation costs a trained reader: SQuAD EM/F1 and latency, fp32 vs int8.

    python -m benchmarks.qa_quantization [--model models:/reader@production] [--limit 300]

Runs the serving path (``services.qa.reader.Reader``) on the first ``--limit`` questions of
XQuAD-en (each question against its own paragraph), with and without
``quantize=True`` (what ``ARXIVQA_QA_QUANTIZE=true`` does), and scores both with the
official SQuAD v1.1 EM/F1.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from services.qa.reader import Passage, Reader
from services.qa.training.data import load_squad
from services.qa.training.evaluate import squad_scores

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qa" / "xquad_en.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/reader@production")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        raise SystemExit(f"{args.data} not found (needs ../shared/data/qa)")
    examples = load_squad(args.data)[: args.limit]
    print(f"{len(examples)} XQuAD-en questions, model {args.model}")
    print(f"{'variant':<8} {'EM':>6} {'F1':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for quantize in (False, True):
        reader = Reader(args.model, quantize=quantize)
        reader.warm_up()
        predictions: dict[str, str] = {}
        walls: list[float] = []
        for ex in examples:
            t0 = time.perf_counter()
            result = reader.answer(ex.question, [Passage(text=ex.context, id=ex.qid)], top_k=1)
            walls.append(time.perf_counter() - t0)
            predictions[ex.qid] = result.answers[0].text if result.answers else ""
        scores = squad_scores(predictions, examples)
        walls.sort()
        p95 = walls[int(0.95 * (len(walls) - 1))]
        name = "int8" if quantize else "fp32"
        print(
            f"{name:<8} {scores.exact_match:>6.1f} {scores.f1:>6.1f} "
            f"{statistics.median(walls) * 1000:>8.1f} {p95 * 1000:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
