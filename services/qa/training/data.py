"""Prepare step: SQuAD-format JSON -> validated examples -> windowed training features.

Every problem in an input file is reported as ``InvalidArgument`` naming the file and,
where there is one, the question id, so a person can find and fix it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from services.common.errors import InvalidArgument

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoldAnswer:
    text: str
    start: int  # character offset into the example's context


@dataclass(frozen=True)
class QAExample:
    qid: str
    question: str
    context: str
    answers: tuple[GoldAnswer, ...]  # empty for an unanswerable (SQuAD v2) question
    paper_id: str  # the document the context comes from; splits never cut through one
    source: str  # the file it was read from


def _expect(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise InvalidArgument(f"{where}: {what}")


def load_squad(path: Path | str) -> list[QAExample]:
    """Read and validate a SQuAD v1.1/v2.0 JSON file.

    Checks the structure, that every question has an id, a question text and (unless
    ``is_impossible``) at least one answer, that ids are unique, and that every
    ``context[answer_start:answer_start + len(text)] == text``.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"{path}: file not found (expected a SQuAD-format JSON file)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{path}: not UTF-8 text ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    _expect(
        isinstance(doc, dict) and isinstance(doc.get("data"), list),
        str(path),
        'not SQuAD format: expected an object with a "data" list of articles',
    )
    examples: list[QAExample] = []
    seen: set[str] = set()
    for a_idx, article in enumerate(doc["data"]):
        where = f"{path}: data[{a_idx}]"
        _expect(isinstance(article, dict), where, "an article must be an object")
        paragraphs = article.get("paragraphs")
        _expect(isinstance(paragraphs, list), where, 'an article needs a "paragraphs" list')
        title = article.get("title")
        for p_idx, para in enumerate(paragraphs):
            pwhere = f"{where}.paragraphs[{p_idx}]"
            _expect(isinstance(para, dict), pwhere, "a paragraph must be an object")
            context = para.get("context")
            _expect(
                isinstance(context, str) and context.strip() != "",
                pwhere,
                'a paragraph needs a non-empty "context" string',
            )
            qas = para.get("qas")
            _expect(isinstance(qas, list), pwhere, 'a paragraph needs a "qas" list')
            paper = para.get("document_id", title if title else f"article-{a_idx}")
            for q_idx, qa in enumerate(qas):
                examples.append(_parse_question(path, pwhere, q_idx, qa, context, str(paper)))
                qid = examples[-1].qid
                _expect(qid not in seen, f"{path}: question {qid}", "duplicate question id")
                seen.add(qid)
    _expect(bool(examples), str(path), "contains no questions")
    return examples


def _parse_question(
    path: Path, pwhere: str, q_idx: int, qa: Any, context: str, paper: str
) -> QAExample:
    _expect(isinstance(qa, dict), f"{pwhere}.qas[{q_idx}]", "a question must be an object")
    qid = qa.get("id")
    _expect(
        isinstance(qid, (str, int)) and str(qid) != "",
        f"{pwhere}.qas[{q_idx}]",
        'a question needs an "id"',
    )
    qwhere = f"{path}: question {qid}"
    question = qa.get("question")
    _expect(
        isinstance(question, str) and question.strip() != "",
        qwhere,
        'needs a non-empty "question" string',
    )
    impossible = bool(qa.get("is_impossible", False))
    raw = qa.get("answers", [])
    _expect(isinstance(raw, list), qwhere, '"answers" must be a list')
    _expect(impossible or bool(raw), qwhere, 'has no answers and is not marked "is_impossible"')
    answers: list[GoldAnswer] = []
    for ans in [] if impossible else raw:
        _expect(isinstance(ans, dict), qwhere, "an answer must be an object")
        text, start = ans.get("text"), ans.get("answer_start")
        _expect(
            isinstance(text, str) and text.strip() != "",
            qwhere,
            'an answer needs a non-empty "text"',
        )
        _expect(
            isinstance(start, int) and not isinstance(start, bool),
            qwhere,
            f'answer {text!r} needs an integer "answer_start", got {start!r}',
        )
        found = context[start : start + len(text)]
        _expect(
            0 <= start and found == text,
            qwhere,
            f"answer {text!r} does not match the context at answer_start={start} "
            f"(the context has {found!r} there)",
        )
        answers.append(GoldAnswer(text=text, start=start))
    return QAExample(
        qid=str(qid),
        question=question.strip(),
        context=context,
        answers=tuple(answers),
        paper_id=paper,
        source=str(path),
    )


def split_by_paper(
    examples: Sequence[QAExample], *, train_fraction: float = 0.8, seed: int = 42
) -> tuple[list[QAExample], list[QAExample]]:
    """Split into (train, held out) so that no paper has questions on both sides.

    Papers are sorted, shuffled with ``seed`` and the first ``round(n * train_fraction)``
    go to training: the same file and seed always give the same split.
    """
    if not 0.0 < train_fraction < 1.0:
        raise InvalidArgument(f"train fraction must be in (0, 1), got {train_fraction}")
    papers = sorted({ex.paper_id for ex in examples})
    if len(papers) < 2:
        raise InvalidArgument(f"cannot split by paper: only {len(papers)} paper(s)")
    random.Random(seed).shuffle(papers)
    n_train = min(max(1, round(len(papers) * train_fraction)), len(papers) - 1)
    train_papers = set(papers[:n_train])
    train = [ex for ex in examples if ex.paper_id in train_papers]
    held = [ex for ex in examples if ex.paper_id not in train_papers]
    return train, held


def fingerprint(examples: Iterable[QAExample]) -> str:
    """A short hash of an eval set's questions, contexts and answers (what the gate compares)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(
            json.dumps(
                [ex.qid, ex.question, ex.context, [(a.text, a.start) for a in ex.answers]]
            ).encode()
        )
    return digest.hexdigest()[:16]


@dataclass
class TrainFeatures:
    """Windows for the model; ``start``/``end`` are token positions (0 = [CLS]: no answer)."""

    input_ids: list[list[int]] = field(default_factory=list)
    token_type_ids: list[list[int]] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    windows_with_answer: int = 0
    windows_without_answer: int = 0  # before sampling
    windows_without_answer_kept: int = 0
    answers_not_in_any_window: int = 0
    windows_mismatched: int = 0  # question + a context without its answer

    def __len__(self) -> int:
        return len(self.input_ids)


def _answer_tokens(
    offsets: Sequence[tuple[int, int]], seq_ids: Sequence[int | None], start: int, end: int
) -> tuple[int, int] | None:
    """Token positions of the character span [start, end) if the window holds all of it."""
    ctx = [i for i, s in enumerate(seq_ids) if s == 1]
    if not ctx:
        return None
    first, last = ctx[0], ctx[-1]
    if offsets[first][0] > start or offsets[last][1] < end:
        return None
    ts = first
    while ts <= last and offsets[ts][0] <= start:
        ts += 1
    te = last
    while te >= first and offsets[te][1] >= end:
        te -= 1
    return ts - 1, te + 1


def _other_context(
    ex: QAExample,
    by_paper: dict[str, list[str]],
    all_contexts: list[str],
    rng: np.random.Generator,
) -> str | None:
    """A context that does not hold ``ex``'s answer: another paragraph of the same
    article when there is one (a hard negative), else one from another article."""
    golds = [a.text for a in ex.answers]
    same = [c for c in by_paper.get(ex.paper_id, []) if c != ex.context]
    for pool in (same, all_contexts):
        if not pool:
            continue
        for _ in range(4):
            ctx = pool[int(rng.integers(len(pool)))]
            if ctx != ex.context and not any(g in ctx for g in golds):
                return ctx
    return None


def build_train_features(
    examples: Sequence[QAExample],
    tokenizer: Any,
    *,
    max_seq_len: int,
    doc_stride: int,
    neg_ratio: float,
    seed: int,
    mismatch_ratio: float = 0.0,
    chunk: int = 64,
) -> TrainFeatures:
    """Tokenise question + context into overlapping windows labelled with answer tokens.

    ``doc_stride`` is the number of context tokens two neighbouring windows share.
    A window that holds the whole answer is labelled with its start/end tokens; the
    others point at [CLS]. Long documents yield many answerless windows, so only
    ``neg_ratio`` of them per answer window are kept (sampled with ``seed``).
    ``mismatch_ratio`` adds, per answerable question, that share of windows pairing the
    question with a context that does not hold its answer (another paragraph of the same
    article when there is one): unanswerable by construction, the case a reader meets
    when retrieval brings the wrong passage, labelled [CLS].
    Questions with several answers use the first, as in SQuAD training.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidArgument("the tokenizer must be a fast tokenizer (offset mappings needed)")
    pos: list[tuple[list[int], list[int], int, int]] = []
    neg: list[tuple[list[int], list[int], int, int]] = []
    missed = 0
    for i in range(0, len(examples), chunk):
        batch = examples[i : i + chunk]
        enc = tokenizer(
            [ex.question for ex in batch],
            [ex.context for ex in batch],
            truncation="only_second",
            max_length=max_seq_len,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        found = [False] * len(batch)
        for w, ex_idx in enumerate(enc["overflow_to_sample_mapping"]):
            ex = batch[ex_idx]
            ids = enc["input_ids"][w]
            tt = enc["token_type_ids"][w] if "token_type_ids" in enc else [0] * len(ids)
            span = None
            if ex.answers:
                a = ex.answers[0]
                span = _answer_tokens(
                    enc["offset_mapping"][w], enc.sequence_ids(w), a.start, a.start + len(a.text)
                )
            if span is None:
                neg.append((ids, tt, 0, 0))
            else:
                found[ex_idx] = True
                pos.append((ids, tt, span[0], span[1]))
        missed += sum(1 for ex, f in zip(batch, found, strict=True) if ex.answers and not f)
    rng = np.random.default_rng(seed)
    n_keep = min(len(neg), round(neg_ratio * len(pos))) if pos else len(neg)
    keep = sorted(rng.choice(len(neg), size=n_keep, replace=False).tolist()) if n_keep else []
    mismatched = _mismatched_windows(
        examples, tokenizer, mismatch_ratio, rng, max_seq_len=max_seq_len
    )
    feats = TrainFeatures(
        windows_with_answer=len(pos),
        windows_without_answer=len(neg),
        windows_without_answer_kept=n_keep,
        answers_not_in_any_window=missed,
        windows_mismatched=len(mismatched),
    )
    for ids, tt, s, e in pos + [neg[k] for k in keep] + mismatched:
        feats.input_ids.append(ids)
        feats.token_type_ids.append(tt)
        feats.start.append(s)
        feats.end.append(e)
    if missed:
        log.warning(
            "%d answers are longer than a window and were not used (max_seq_len=%d)",
            missed,
            max_seq_len,
        )
    return feats


def _mismatched_windows(
    examples: Sequence[QAExample],
    tokenizer: Any,
    ratio: float,
    rng: np.random.Generator,
    *,
    max_seq_len: int,
) -> list[tuple[list[int], list[int], int, int]]:
    answerable = [ex for ex in examples if ex.answers]
    n = min(len(answerable), round(ratio * len(answerable)))
    if n <= 0:
        return []
    by_paper: dict[str, list[str]] = {}
    for ex in examples:
        ctxs = by_paper.setdefault(ex.paper_id, [])
        if ex.context not in ctxs:
            ctxs.append(ex.context)
    all_contexts = [c for ctxs in by_paper.values() for c in ctxs]
    pairs: list[tuple[str, str]] = []
    for k in sorted(rng.choice(len(answerable), size=n, replace=False).tolist()):
        ex = answerable[k]
        other = _other_context(ex, by_paper, all_contexts, rng)
        if other is not None:
            pairs.append((ex.question, other))
    out: list[tuple[list[int], list[int], int, int]] = []
    for i in range(0, len(pairs), 64):
        part = pairs[i : i + 64]
        enc = tokenizer(
            [q for q, _ in part],
            [c for _, c in part],
            truncation="only_second",
            max_length=max_seq_len,
            padding=False,
        )
        for w, ids in enumerate(enc["input_ids"]):
            tt = enc["token_type_ids"][w] if "token_type_ids" in enc else [0] * len(ids)
            out.append((ids, tt, 0, 0))
    return out


def subsample(examples: Sequence[QAExample], fraction: float, seed: int) -> list[QAExample]:
    """A seeded ``fraction`` of ``examples``, drawn by question (order kept)."""
    if fraction >= 1.0:
        return list(examples)
    n = round(len(examples) * max(0.0, fraction))
    rng = np.random.default_rng(seed)
    keep = sorted(rng.choice(len(examples), size=n, replace=False).tolist()) if n else []
    return [examples[k] for k in keep]


def check_question_lengths(
    examples: Iterable[QAExample],
    tokenizer: Any,
    *,
    max_seq_len: int,
    doc_stride: int,
    drop: bool = False,
) -> list[QAExample]:
    """Refuse questions so long that a window has no room for context beyond the overlap;
    with ``drop``, leave them out with a warning instead (one odd question in 40,000
    training questions should not stop a run). Returns the examples kept."""
    limit = max_seq_len - doc_stride - 3 - 32  # [CLS] q [SEP] ctx [SEP]; >= 32 new tokens
    examples = list(examples)
    lengths = tokenizer([ex.question for ex in examples], add_special_tokens=False)["input_ids"]
    kept: list[QAExample] = []
    for ex, ids in zip(examples, lengths, strict=True):
        if len(ids) > limit and drop:
            log.warning(
                "%s: question %s is %d tokens long (at most %d fit): left out",
                ex.source,
                ex.qid,
                len(ids),
                limit,
            )
            continue
        if len(ids) > limit:
            raise InvalidArgument(
                f"{ex.source}: question {ex.qid}: the question is {len(ids)} tokens long; "
                f"at most {limit} fit with max_seq_len={max_seq_len}, doc_stride={doc_stride}"
            )
        kept.append(ex)
    return kept
