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

import torch

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


def _pad(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)


@torch.inference_mode()
def predict(
    model: Any,
    tokenizer: Any,
    examples: Sequence[QAExample],
    *,
    max_seq_len: int = 256,
    doc_stride: int = 64,
    max_answer_tokens: int = 64,
    batch_size: int = 32,
    chunk: int = 32,
) -> dict[str, str]:
    """Best answer text per question id, chosen over all windows of its context.

    A span is scored ``start_logit + end_logit``; it must lie in the context (never in
    the question, special tokens or padding), ``end >= start``, at most
    ``max_answer_tokens`` long. Windows are batched with padding to the batch's longest.
    """
    model.eval()
    device = next(model.parameters()).device
    best: dict[str, tuple[float, str]] = {}
    for i in range(0, len(examples), chunk):
        group = examples[i : i + chunk]
        enc = tokenizer(
            [ex.question for ex in group],
            [ex.context for ex in group],
            truncation="only_second",
            max_length=max_seq_len,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        n_windows = len(enc["input_ids"])
        for b in range(0, n_windows, batch_size):
            rows = range(b, min(b + batch_size, n_windows))
            ids = _pad([enc["input_ids"][w] for w in rows], tokenizer.pad_token_id or 0)
            mask = _pad([[1] * len(enc["input_ids"][w]) for w in rows], 0)
            inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
            if "token_type_ids" in enc:
                inputs["token_type_ids"] = _pad([enc["token_type_ids"][w] for w in rows], 0).to(
                    device
                )
            out = model(**inputs)
            start_logits = out.start_logits.float().cpu()
            end_logits = out.end_logits.float().cpu()
            width = ids.shape[1]
            ctx = torch.zeros((len(rows), width), dtype=torch.bool)
            for r, w in enumerate(rows):
                for t, s in enumerate(enc.sequence_ids(w)):
                    ctx[r, t] = s == 1
            band = torch.ones((width, width), dtype=torch.bool).triu().tril(max_answer_tokens - 1)
            allowed = band[None] & ctx[:, :, None] & ctx[:, None, :]
            scores = start_logits[:, :, None] + end_logits[:, None, :]
            scores = scores.masked_fill(~allowed, float("-inf"))
            flat = scores.view(len(rows), -1).max(dim=1)
            for r, w in enumerate(rows):
                score = float(flat.values[r])
                if score == float("-inf"):
                    continue
                s_tok, e_tok = divmod(int(flat.indices[r]), width)
                ex = group[enc["overflow_to_sample_mapping"][w]]
                offsets = enc["offset_mapping"][w]
                text = ex.context[offsets[s_tok][0] : offsets[e_tok][1]]
                if ex.qid not in best or score > best[ex.qid][0]:
                    best[ex.qid] = (score, text)
    return {qid: text for qid, (_, text) in best.items()}


def evaluate_sets(
    model: Any,
    tokenizer: Any,
    eval_sets: Mapping[str, Sequence[QAExample]],
    **predict_kwargs: Any,
) -> dict[str, Scores]:
    """Scores per named eval set (unanswerable questions are not scored, as in v1.1)."""
    results: dict[str, Scores] = {}
    for name, examples in eval_sets.items():
        t0 = time.perf_counter()
        answerable = [ex for ex in examples if ex.answers]
        preds = predict(model, tokenizer, answerable, **predict_kwargs)
        results[name] = squad_scores(preds, answerable)
        log.info(
            "eval %s: EM %.2f F1 %.2f over %d questions in %.1fs",
            name,
            results[name].exact_match,
            results[name].f1,
            results[name].questions,
            time.perf_counter() - t0,
        )
    return results
