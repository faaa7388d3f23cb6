"""Evaluate step: windowed span prediction and the official SQuAD v1.1 EM/F1.

The metric follows the official v1.1 evaluation script: lower-case, strip punctuation,
drop the articles a/an/the, collapse whitespace; F1 over bag-of-token overlap; the
maximum over gold answers; both averaged over questions and reported in percent.
"""

from __future__ import annotations

import logging
import re
import string
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.qa.training.data import QAExample

log = logging.getLogger(__name__)

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Scores:
    exact_match: float  # percent
    f1: float  # percent
    questions: int


def squad_scores(predictions: Mapping[str, str], examples: Sequence[QAExample]) -> Scores:
    """EM/F1 in percent over the answerable ``examples``; a missing prediction scores 0."""
    answerable = [ex for ex in examples if ex.answers]
    if not answerable:
        return Scores(0.0, 0.0, 0)
    em = f1 = 0.0
    for ex in answerable:
        pred = predictions.get(ex.qid, "")
        golds = [a.text for a in ex.answers]
        em += max(exact_match(pred, g) for g in golds)
        f1 += max(f1_score(pred, g) for g in golds)
    n = len(answerable)
    return Scores(exact_match=100.0 * em / n, f1=100.0 * f1 / n, questions=n)


@dataclass(frozen=True)
class Prediction:
    text: str
    score: float  # the best span's start_logit + end_logit
    null_score: float  # the [CLS] no-answer score of the same read

    @property
    def margin(self) -> float:
        return self.score - self.null_score


def predict(
    reader: Any,
    examples: Sequence[QAExample],
    *,
    contexts: Sequence[str] | None = None,
    chunk: int = 64,
) -> dict[str, Prediction]:
    """The serving reader's best answer per question id (its own windows, stride, answer
    length limit, overlap merging and decoding; ``Reader.read_many`` only batches the
    model across questions). ``contexts`` replaces each example's context (unanswerable
    pairs for calibration)."""
    from services.qa.reader import Passage

    out: dict[str, Prediction] = {}
    for i in range(0, len(examples), chunk):
        group = examples[i : i + chunk]
        ctxs = contexts[i : i + chunk] if contexts is not None else [e.context for e in group]
        results = reader.read_many(
            [(ex.question, [Passage(text=c)]) for ex, c in zip(group, ctxs, strict=True)],
            top_k=1,
        )
        for ex, res in zip(group, results, strict=True):
            text = res.answers[0].text if res.answers else ""
            out[ex.qid] = Prediction(text, res.best_score, res.null_score)
    return out


def evaluate_sets(
    reader: Any, eval_sets: Mapping[str, Sequence[QAExample]]
) -> tuple[dict[str, Scores], dict[str, dict[str, Prediction]]]:
    """Scores per named eval set (unanswerable questions are not scored, as in v1.1)."""
    results: dict[str, Scores] = {}
    preds_by_set: dict[str, dict[str, Prediction]] = {}
    for name, examples in eval_sets.items():
        t0 = time.perf_counter()
        answerable = [ex for ex in examples if ex.answers]
        preds = predict(reader, answerable)
        preds_by_set[name] = preds
        results[name] = squad_scores({k: p.text for k, p in preds.items()}, answerable)
        log.info(
            "eval %s: EM %.2f F1 %.2f over %d questions in %.1fs",
            name,
            results[name].exact_match,
            results[name].f1,
            results[name].questions,
            time.perf_counter() - t0,
        )
    return results, preds_by_set


def mismatched_contexts(examples: Sequence[QAExample], seed: int = 7) -> list[str]:
    """For each example, a context of another article that does not contain any of its
    gold answers: the question is unanswerable from it by construction."""
    import random

    rng = random.Random(seed)
    contexts = sorted({ex.context for ex in examples})
    out: list[str] = []
    for ex in examples:
        golds = [a.text for a in ex.answers]
        for _ in range(50):
            ctx = contexts[rng.randrange(len(contexts))]
            if ctx != ex.context and not any(g in ctx for g in golds):
                break
        out.append(ctx)
    return out


@dataclass(frozen=True)
class AbstentionPoint:
    margin: float  # answer only when best span score - no-answer score > margin
    coverage: float  # share of answerable questions answered, percent
    precision: float  # mean F1 of the answers given (wrong-passage answers score 0), percent
    false_answers: float  # share of unanswerable questions answered, percent
    f1: float  # SQuAD 2.0-style F1 over both halves (abstaining on unanswerable = 1)


def answer_f1s(
    answerable: Sequence[QAExample], preds: Mapping[str, Prediction]
) -> dict[str, float]:
    return {
        ex.qid: max(f1_score(preds[ex.qid].text, a.text) for a in ex.answers) for ex in answerable
    }


def abstention_point(
    margin: float,
    f1s: Mapping[str, float],
    preds: Mapping[str, Prediction],
    unanswerable: Mapping[str, Prediction],
) -> AbstentionPoint:
    answered = [q for q in f1s if preds[q].margin > margin]
    false = [q for q, p in unanswerable.items() if p.margin > margin]
    given = len(answered) + len(false)
    total = len(f1s) + len(unanswerable)
    return AbstentionPoint(
        margin=margin,
        coverage=100.0 * len(answered) / max(1, len(f1s)),
        precision=100.0 * sum(f1s[q] for q in answered) / max(1, given),
        false_answers=100.0 * len(false) / max(1, len(unanswerable)),
        f1=100.0
        * (sum(f1s[q] for q in answered) + (len(unanswerable) - len(false)))
        / max(1, total),
    )


def choose_margin(
    answerable: Sequence[QAExample],
    preds: Mapping[str, Prediction],
    unanswerable: Mapping[str, Prediction],
) -> AbstentionPoint:
    """The margin that maximises the SQuAD 2.0-style F1 over answerable questions and the
    same questions paired with a wrong passage (the official v2 "best_f1_thresh")."""
    f1s = answer_f1s(answerable, preds)
    margins = sorted(p.margin for p in [*preds.values(), *unanswerable.values()])
    # every 0.5% quantile of the observed margins (and "always answer")
    grid = [margins[0] - 1.0] if margins else [0.0]
    grid += [margins[min(len(margins) - 1, len(margins) * q // 200)] for q in range(200)]
    best = None
    for m in grid:
        point = abstention_point(m, f1s, preds, unanswerable)
        if best is None or point.f1 > best.f1:
            best = point
    assert best is not None
    return best
