"""Extractive question answering over many passages (no gRPC here).

``Reader`` wraps a transformers ``AutoModelForQuestionAnswering`` with a fast tokenizer:

- every passage is cut into overlapping windows (``max_seq_len`` tokens, ``stride`` tokens of
  overlap) with the question first; all windows of a request run in length-sorted batches
  under ``torch.inference_mode``;
- a span may start and end only on passage (context) tokens, ``end >= start`` and at most
  ``max_answer_tokens`` long;
- a span's score is ``start_logit + end_logit``. The logits are not normalised per window,
  so the score is comparable across windows and passages, and an answer's score does not
  change when other passages are added to the request (a softmax over all windows would
  make every score depend on the rest of the request; the transformers pipeline's
  per-window softmax is not comparable across windows at all);
- the no-answer score is the CLS position's ``start_logit + end_logit``, the lowest over all
  windows (SQuAD 2.0 practice: the window most sure that it holds an answer decides);
- candidates are merged: the same or an overlapping character range of one passage (from
  two overlapping windows, or "the cat" vs "cat") keeps only its best-scoring span;
- offsets are character offsets into the passage text (``text[start:end] == answer``) and the
  evidence is the sentence(s) around the span.

The model source is a local directory, a hub id, or a ``models:/name@alias`` registry
reference resolved by ``services.qa.training.registry.resolve_reader_source``.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from opentelemetry import trace

from services.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument
from services.common.hashing import sha256_file

log = logging.getLogger(__name__)

REGISTRY_PREFIX = "models:/"


class ModelNotUsable(FailedPrecondition):
    """The configured model cannot serve extractive QA (missing, not a QA model, no fast
    tokenizer). Raised at warm-up, so the service refuses to start."""


@dataclass(frozen=True)
class Passage:
    text: str
    id: str = ""
    paper_id: str = ""
    title: str = ""


@dataclass(frozen=True)
class Answer:
    text: str
    score: float
    passage_index: int
    passage_id: str
    paper_id: str
    start: int
    end: int
    evidence: str
    evidence_start: int
    evidence_end: int
    title: str = ""
    #: Model tokens in the span (for callers checking ``max_answer_tokens``).
    token_count: int = 0


@dataclass(frozen=True)
class ReadResult:
    answers: list[Answer]
    #: Set only when no-answer was allowed: same scale as ``Answer.score``.
    no_answer_score: float | None
    #: True when no-answer was allowed and nothing beats it.
    no_answer: bool
    windows: int
    passages: int
    batches: int
    model_id: str
    #: The no-answer score and the best span's score, always set (for calibration).
    null_score: float = float("nan")
    best_score: float = float("nan")


@dataclass(frozen=True)
class Limits:
    """Request limits; anything larger is ``InvalidArgument`` naming what is too big."""

    max_passages: int = 100
    max_total_chars: int = 200_000
    max_question_chars: int = 2_000
    max_top_k: int = 50
    default_top_k: int = 3
    default_max_answer_tokens: int = 30


@dataclass
class _Window:
    passage: int
    input_ids: list[int]
    token_type_ids: list[int] | None
    offsets: list[tuple[int, int]]
    context: np.ndarray  # bool per token: True on passage tokens
    cls_index: int


@dataclass(order=True)
class _Candidate:
    sort_key: float
    passage: int = field(compare=False)
    start: int = field(compare=False)
    end: int = field(compare=False)
    score: float = field(compare=False)
    tokens: int = field(compare=False)


class Reader:
    """An extractive QA reader. Light constructor; ``warm_up()`` loads the model."""

    def __init__(
        self,
        source: str,
        *,
        max_seq_len: int = 384,
        stride: int = 128,
        batch_size: int = 16,
        device: str = "cpu",
        limits: Limits | None = None,
        quantize: bool = False,
        concurrency: int = 1,
        no_answer_margin: float | None = None,
        backend: str = "torch",
        threads: int | None = None,
        cache_dir: Path | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        if not source or not source.strip():
            raise ModelNotUsable(
                "no QA model configured: set ARXIVQA_QA_MODEL to a local model directory, a "
                "hub id (e.g. distilbert-base-cased-distilled-squad) or a models:/ reference"
            )
        if max_seq_len < 32:
            raise InvalidArgument(f"max_seq_len must be at least 32, got {max_seq_len}")
        if not 0 <= stride < max_seq_len // 2:
            raise InvalidArgument(
                f"stride must be in [0, max_seq_len/2) = [0, {max_seq_len // 2}), got {stride}"
            )
        if batch_size < 1:
            raise InvalidArgument(f"batch_size must be at least 1, got {batch_size}")
        if concurrency < 1:
            raise InvalidArgument(f"concurrency must be at least 1, got {concurrency}")
        if backend not in ("torch", "onnx"):
            raise InvalidArgument(f"backend must be 'torch' or 'onnx', got {backend!r}")
        self.backend = backend
        self._threads = threads
        self._cache_dir = cache_dir
        self._session: Any = None
        self.source = source.strip()
        self.max_seq_len = max_seq_len
        self.stride = stride
        self.batch_size = batch_size
        self.device = device
        self.limits = limits or Limits()
        self.quantize = quantize
        # None: the margin recorded with the model (READER_CARD), else 0.
        self._margin_setting = no_answer_margin
        self.no_answer_margin = no_answer_margin or 0.0
        self.card: dict[str, Any] = {}
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._load_lock = threading.Lock()
        # A fast tokenizer's truncation/padding settings live in its Rust object, which
        # refuses concurrent use ("Already borrowed"); tokenising is quick, so serialise it.
        self._tok_lock = threading.Lock()
        # Several threads running torch at once on a few cores only fight over them; by
        # default one request runs the model at a time, using every intra-op thread.
        self._infer = threading.Semaphore(concurrency)
        self._model: Any = None
        self._tokenizer: Any = None
        self._input_names: frozenset[str] = frozenset()
        self.local_path: str | None = None
        self.model_id = self.source
        self.architecture = ""

    # -- loading ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._model is not None

    def _resolve(self) -> str:
        if not self.source.startswith(REGISTRY_PREFIX):
            return self.source
        try:
            from services.qa.training.registry import (  # type: ignore[import-not-found,unused-ignore]
                resolve_reader_source,
            )
        except ImportError as exc:
            raise ModelNotUsable(
                f"model source {self.source!r} is a registry reference, but the model registry "
                f"(services.qa.training.registry) is not available: {exc}; set ARXIVQA_QA_MODEL "
                "to a local directory or a hub id instead"
            ) from exc
        try:
            resolved = resolve_reader_source(self.source)
        except Exception as exc:
            raise ModelNotUsable(f"cannot resolve {self.source!r}: {exc}") from exc
        log.info("resolved %s to %s", self.source, resolved)
        return str(resolved)

    def warm_up(self) -> None:
        """Load tokenizer and model, check they can do extractive QA, run one request."""
        with self._load_lock:
            if self._model is not None:
                return
            t0 = time.perf_counter()
            path = self._resolve()
            self.local_path = path
            self._tokenizer, model = self._load(path)
            sig = inspect.signature(model.forward).parameters
            self._input_names = frozenset(
                n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sig
            )
            if self.backend == "onnx":
                self._session = self._onnx_session(path, model)
            if self._session is None and self.quantize:  # torch (or onnx fell back to it)
                model = torch.ao.quantization.quantize_dynamic(
                    model, {torch.nn.Linear}, dtype=torch.qint8
                )
            self._model = model
            self.model_id = str(getattr(model.config, "_name_or_path", "") or path)
            # One real pass, so the first request does not pay for lazy initialisation.
            self._read(
                "What is warmed up?",
                [Passage(text="The reader is warmed up by this passage.")],
                top_k=1,
                max_answer_tokens=8,
                allow_no_answer=True,
                min_score=None,
                deadline=None,
            )
            log.info(
                "reader ready",
                extra={
                    "model": self.model_id,
                    "architecture": self.architecture,
                    "seconds": round(time.perf_counter() - t0, 2),
                },
            )

    def _onnx_session(self, path: str, model: Any) -> Any:
        """An ONNX Runtime session on an export of ``model`` (start/end logits), cached by
        the weights' SHA-256 (``services.common.onnxrt``); int8 when ``quantize``."""
        from services.common import onnxrt

        weights = onnxrt.weights_file(Path(path)) if Path(path).is_dir() else None
        if weights is None:
            log.warning(
                "the onnx backend exports from a local model directory; serving with torch",
                extra={"model": path},
            )
            self.backend = "torch"
            return None
        names = sorted(
            self._input_names, key=("input_ids", "attention_mask", "token_type_ids").index
        )

        class _Logits(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *args: Any) -> tuple[Any, Any]:
                out = self.inner(**dict(zip(names, args, strict=True)), return_dict=True)
                return out.start_logits, out.end_logits

        def export(out: Path) -> None:
            sample = {n: torch.ones((1, 16), dtype=torch.long) for n in names}
            axes = {
                "start_logits": {0: "batch", 1: "sequence"},
                "end_logits": {0: "batch", 1: "sequence"},
            }
            onnxrt.export_torch(
                _Logits(model.eval()),
                out,
                inputs=sample,
                outputs=["start_logits", "end_logits"],
                output_axes=axes,
            )

        onnx_path = onnxrt.cached_onnx(
            kind="qa-span-logits",
            # the card's digest was checked against the file at load (verify_model_dir)
            weights_sha256=self.card.get("weights_sha256", {}).get(weights.name)
            or sha256_file(weights),
            export=export,
            quantize=self.quantize,
            cache_dir=self._cache_dir,
        )
        return onnxrt.make_session(onnx_path, self._threads)

    def _load(self, path: str) -> tuple[Any, Any]:
        from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

        if Path(path).expanduser().exists():
            path = str(Path(path).expanduser())
            self.card = verify_model_dir(Path(path))
            if self._margin_setting is None:
                self.no_answer_margin = float(self.card.get("no_answer_margin", 0.0))
        try:
            config = AutoConfig.from_pretrained(path)
        except Exception as exc:
            raise ModelNotUsable(
                f"cannot load a model config from {path!r}: {exc}. Point ARXIVQA_QA_MODEL at "
                "a directory holding config.json, the weights and the tokenizer, or a hub id"
            ) from exc
        archs = list(getattr(config, "architectures", None) or [])
        if archs and not any(a.endswith("ForQuestionAnswering") for a in archs):
            raise ModelNotUsable(
                f"{path!r} is not an extractive QA model (architectures: {', '.join(archs)}); "
                "configure a model with a span-prediction head, e.g. "
                "distilbert-base-cased-distilled-squad"
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except Exception as exc:
            raise ModelNotUsable(f"cannot load the tokenizer of {path!r}: {exc}") from exc
        if not getattr(tokenizer, "is_fast", False):
            raise ModelNotUsable(
                f"the tokenizer of {path!r} is not a fast (Rust) tokenizer; the reader needs "
                "its character offsets: save a tokenizer.json with the model"
            )
        try:
            check_windowing(tokenizer)
        except FailedPrecondition as exc:
            raise ModelNotUsable(str(exc)) from exc
        try:
            # float32 on CPU whatever the stored dtype (the shipped reader is stored in
            # float16 to halve its size; CPU kernels are fastest and exact in float32)
            model, info = AutoModelForQuestionAnswering.from_pretrained(
                path,
                output_loading_info=True,
                dtype=torch.float32 if str(self.device).startswith("cpu") else "auto",
                # the ONNX export needs plain (eager) attention; torch keeps its default
                **({"attn_implementation": "eager"} if self.backend == "onnx" else {}),
            )
        except ValueError as exc:
            raise ModelNotUsable(
                f"{path!r} has no extractive QA head for its model type: {exc}"
            ) from exc
        except Exception as exc:
            raise ModelNotUsable(f"cannot load the model from {path!r}: {exc}") from exc
        missing = [k for k in info.get("missing_keys", []) if "qa_outputs" in k]
        if missing:
            raise ModelNotUsable(
                f"{path!r} has no trained QA head (missing weights: {', '.join(missing)}); it is "
                "a base model, not one fine-tuned for extractive QA"
            )
        self.architecture = type(model).__name__
        model.to(self.device)
        model.eval()
        return tokenizer, model

    # -- answering --------------------------------------------------------------------------
    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        *,
        top_k: int = 0,
        max_answer_tokens: int = 0,
        allow_no_answer: bool = False,
        min_score: float | None = None,
        deadline: float | None = None,
    ) -> ReadResult:
        """Answer ``question`` from ``passages``.

        ``top_k``/``max_answer_tokens`` of 0 take the defaults from ``limits``. ``deadline``
        is a ``time.monotonic()`` instant; passing it raises ``DeadlineExceeded`` between
        model batches.
        """
        top_k = top_k or self.limits.default_top_k
        max_answer_tokens = max_answer_tokens or self.limits.default_max_answer_tokens
        self._validate(question, passages, top_k, max_answer_tokens, min_score)
        self.warm_up()
        return self._read(
            question,
            passages,
            top_k=top_k,
            max_answer_tokens=max_answer_tokens,
            allow_no_answer=allow_no_answer,
            min_score=min_score,
            deadline=deadline,
        )

    def _validate(
        self,
        question: str,
        passages: Sequence[Passage],
        top_k: int,
        max_answer_tokens: int,
        min_score: float | None,
    ) -> None:
        lim = self.limits
        if not question or not question.strip():
            raise InvalidArgument("question is empty", field="question")
        if len(question) > lim.max_question_chars:
            raise InvalidArgument(
                f"question is {len(question)} characters; at most {lim.max_question_chars}",
                field="question",
            )
        if not passages:
            raise InvalidArgument(
                "passages is empty: pass at least one passage to read", field="passages"
            )
        if len(passages) > lim.max_passages:
            raise InvalidArgument(
                f"too many passages: {len(passages)}; at most {lim.max_passages} per request",
                field="passages",
            )
        seen: dict[str, int] = {}
        total = 0
        for i, p in enumerate(passages):
            if not p.text or not p.text.strip():
                raise InvalidArgument(
                    f"passages[{i}].text is empty (passage id {p.id!r})",
                    field=f"passages[{i}].text",
                )
            total += len(p.text)
            if p.id:
                if p.id in seen:
                    raise InvalidArgument(
                        f"passages[{i}].id {p.id!r} repeats passages[{seen[p.id]}].id",
                        field=f"passages[{i}].id",
                    )
                seen[p.id] = i
        if total > lim.max_total_chars:
            raise InvalidArgument(
                f"passages hold {total} characters in all; at most {lim.max_total_chars}",
                field="passages",
            )
        if not 1 <= top_k <= lim.max_top_k:
            raise InvalidArgument(
                f"top_k must be in [1, {lim.max_top_k}], got {top_k}", field="top_k"
            )
        if not 1 <= max_answer_tokens <= self.max_seq_len:
            raise InvalidArgument(
                f"max_answer_tokens must be in [1, {self.max_seq_len}], got {max_answer_tokens}",
                field="max_answer_tokens",
            )
        if min_score is not None and not np.isfinite(min_score):
            raise InvalidArgument(
                f"min_score must be a finite number, got {min_score}", field="min_score"
            )

    def _windows(self, question: str, passages: Sequence[Passage]) -> list[_Window]:
        tok = self._tokenizer
        question_first = tok.padding_side == "right"
        q_tokens = len(tok(question, add_special_tokens=False)["input_ids"])
        room = self.max_seq_len - q_tokens - tok.num_special_tokens_to_add(pair=True)
        if room <= self.stride:
            limit = self.max_seq_len - tok.num_special_tokens_to_add(pair=True) - self.stride - 1
            raise InvalidArgument(
                f"question is too long: {q_tokens} tokens; at most {limit} with max_seq_len "
                f"{self.max_seq_len} and stride {self.stride}",
                field="question",
            )
        questions = [question] * len(passages)
        contexts = [p.text for p in passages]
        enc = tok(
            questions if question_first else contexts,
            contexts if question_first else questions,
            truncation="only_second" if question_first else "only_first",
            max_length=self.max_seq_len,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        context_id = 1 if question_first else 0
        windows = []
        for w, passage in enumerate(enc["overflow_to_sample_mapping"]):
            seq_ids = enc.sequence_ids(w)
            ids = enc["input_ids"][w]
            cls_id = tok.cls_token_id
            windows.append(
                _Window(
                    passage=int(passage),
                    input_ids=ids,
                    token_type_ids=enc["token_type_ids"][w] if "token_type_ids" in enc else None,
                    offsets=[tuple(o) for o in enc["offset_mapping"][w]],
                    context=np.array([s == context_id for s in seq_ids], dtype=bool),
                    cls_index=ids.index(cls_id) if cls_id in ids else 0,
                )
            )
        return windows

    def _read(
        self,
        question: str,
        passages: Sequence[Passage],
        *,
        top_k: int,
        max_answer_tokens: int,
        allow_no_answer: bool,
        min_score: float | None,
        deadline: float | None,
    ) -> ReadResult:
        with self._tracer.start_as_current_span("qa.read") as span:
            span.set_attribute("arxivqa.qa.model", self.model_id)
            span.set_attribute("arxivqa.qa.passages", len(passages))
            span.set_attribute("arxivqa.qa.top_k", top_k)
            with self._tok_lock:
                windows = self._windows(question, passages)
            span.set_attribute("arxivqa.qa.windows", len(windows))
            logits, batches = self._run_windows(windows, deadline)
            span.set_attribute("arxivqa.qa.batches", batches)
            result = self._decode(
                windows,
                logits,
                passages,
                top_k=top_k,
                max_answer_tokens=max_answer_tokens,
                allow_no_answer=allow_no_answer,
                min_score=min_score,
                batches=batches,
            )
            span.set_attribute("arxivqa.qa.answers", len(result.answers))
            if allow_no_answer:
                span.set_attribute("arxivqa.qa.no_answer", result.no_answer)
            return result

    def read_many(
        self,
        requests: Sequence[tuple[str, Sequence[Passage]]],
        *,
        top_k: int = 0,
        max_answer_tokens: int = 0,
        allow_no_answer: bool = False,
    ) -> list[ReadResult]:
        """Answer several (question, passages) requests with the model batched across
        them. Windowing and decoding are exactly :meth:`answer`'s (evaluation uses this, so
        the score that gates a reader is the score users get); only the batches differ."""
        top_k = top_k or self.limits.default_top_k
        max_answer_tokens = max_answer_tokens or self.limits.default_max_answer_tokens
        for question, passages in requests:
            self._validate(question, passages, top_k, max_answer_tokens, None)
        self.warm_up()
        per_request: list[list[_Window]] = []
        with self._tok_lock:
            for question, passages in requests:
                per_request.append(self._windows(question, passages))
        flat = [w for ws in per_request for w in ws]
        logits, _ = self._run_windows(flat, None)
        out: list[ReadResult] = []
        at = 0
        for (_, passages), windows in zip(requests, per_request, strict=True):
            part = logits[at : at + len(windows)]
            at += len(windows)
            out.append(
                self._decode(
                    windows,
                    part,
                    passages,
                    top_k=top_k,
                    max_answer_tokens=max_answer_tokens,
                    allow_no_answer=allow_no_answer,
                    min_score=None,
                    batches=0,
                )
            )
        return out

    def _run_windows(
        self, windows: list[_Window], deadline: float | None
    ) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
        """Start/end logits per window (in ``windows`` order), in length-sorted batches."""
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        logits: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(windows)
        batches = 0
        with self._infer:
            for b in range(0, len(order), self.batch_size):
                if deadline is not None and time.monotonic() > deadline:
                    raise DeadlineExceeded(f"deadline exceeded after {b} of {len(windows)} windows")
                idx = order[b : b + self.batch_size]
                starts, ends = self._forward([windows[i] for i in idx])
                batches += 1
                for i, st, en in zip(idx, starts, ends, strict=True):
                    logits[i] = (st, en)
        return [x for x in logits if x is not None], batches

    def _decode(
        self,
        windows: list[_Window],
        logits: list[tuple[np.ndarray, np.ndarray]],
        passages: Sequence[Passage],
        *,
        top_k: int,
        max_answer_tokens: int,
        allow_no_answer: bool,
        min_score: float | None,
        batches: int,
    ) -> ReadResult:
        per_window = top_k * 4 + 16
        candidates: list[_Candidate] = []
        null_score = float("inf")
        for w, (s, e) in zip(windows, logits, strict=True):
            candidates += _spans(w, s, e, max_answer_tokens, per_window)
            null_score = min(null_score, float(s[w.cls_index] + e[w.cls_index]))
        # An answer must beat the no-answer score by the reader's margin (chosen on a
        # development set when the reader was trained; 0 for other models).
        floor = null_score + self.no_answer_margin
        answers = self._select(
            candidates,
            windows,
            passages,
            top_k=top_k,
            floor=floor if allow_no_answer else None,
            min_score=min_score,
        )
        no_answer = allow_no_answer and not any(a.score > floor for a in answers)
        best = max((c.score for c in candidates), default=float("-inf"))
        return ReadResult(
            answers=answers,
            no_answer_score=null_score if allow_no_answer else None,
            no_answer=no_answer,
            windows=len(windows),
            passages=len(passages),
            batches=batches,
            model_id=self.model_id,
            null_score=null_score,
            best_score=best,
        )

    def _forward(self, chunk: list[_Window]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(w.input_ids) for w in chunk)
        pad = self._tokenizer.pad_token_id or 0
        ids = np.full((len(chunk), width), pad, dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=np.int64)
        types = np.zeros((len(chunk), width), dtype=np.int64)
        for i, w in enumerate(chunk):
            n = len(w.input_ids)
            ids[i, :n] = w.input_ids
            mask[i, :n] = 1
            if w.token_type_ids is not None:
                types[i, :n] = w.token_type_ids
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        tensors = {
            k: torch.from_numpy(v).to(self.device)
            for k, v in inputs.items()
            if k in self._input_names
        }
        if "token_type_ids" in tensors and chunk[0].token_type_ids is None:
            del tensors["token_type_ids"]
        if self._session is not None:
            feed = {i.name: inputs[i.name] for i in self._session.get_inputs()}
            start, end = self._session.run(["start_logits", "end_logits"], feed)
            return np.asarray(start, dtype=np.float32), np.asarray(end, dtype=np.float32)
        with torch.inference_mode():
            out = self._model(**tensors)
        return (
            out.start_logits.float().cpu().numpy(),
            out.end_logits.float().cpu().numpy(),
        )

    def _select(
        self,
        candidates: list[_Candidate],
        windows: list[_Window],
        passages: Sequence[Passage],
        *,
        top_k: int,
        floor: float | None,
        min_score: float | None,
    ) -> list[Answer]:
        # Best first; a span overlapping a better one in the same passage is a duplicate
        # (the same span seen from two overlapping windows, or a sub/super-span of it).
        kept: list[Answer] = []
        taken: dict[int, list[tuple[int, int]]] = {}
        for cand in sorted(candidates):
            if len(kept) >= top_k:
                break
            if floor is not None and cand.score <= floor:
                break
            if min_score is not None and cand.score < min_score:
                break
            text = passages[cand.passage].text
            start, end = cand.start, cand.end
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end <= start:
                continue
            ranges = taken.setdefault(cand.passage, [])
            if any(start < e and s < end for s, e in ranges):
                continue
            ranges.append((start, end))
            ev_start, ev_end = evidence_bounds(text, start, end)
            p = passages[cand.passage]
            kept.append(
                Answer(
                    text=text[start:end],
                    score=cand.score,
                    passage_index=cand.passage,
                    passage_id=p.id,
                    paper_id=p.paper_id,
                    start=start,
                    end=end,
                    evidence=text[ev_start:ev_end],
                    evidence_start=ev_start,
                    evidence_end=ev_end,
                    title=p.title,
                    token_count=cand.tokens,
                )
            )
        return kept


def _spans(
    w: _Window, start_logits: np.ndarray, end_logits: np.ndarray, max_len: int, k: int
) -> list[_Candidate]:
    """The ``k`` best valid spans of one window, with character offsets."""
    n = len(w.input_ids)
    ctx = w.context[:n]
    s = np.where(ctx, start_logits[:n], -np.inf)
    e = np.where(ctx, end_logits[:n], -np.inf)
    # Every span within the length limit, as a band: scores[i, d] is the span i..i+d.
    # Positions outside the passage are -inf, so spans touching the question, special
    # tokens or padding drop out; end >= start holds by construction.
    width = min(max_len, n)
    ends = np.arange(n)[:, None] + np.arange(width)[None, :]
    scores = s[:, None] + e[np.minimum(ends, n - 1)]
    scores[ends >= n] = -np.inf
    k = min(k, scores.size)
    flat = np.argpartition(-scores, k - 1, axis=None)[:k]
    flat = flat[np.argsort(-scores.ravel()[flat], kind="stable")]
    out = []
    for f in flat:
        st, d = divmod(int(f), width)
        score = float(scores[st, d])
        if not np.isfinite(score):
            break
        en = st + d
        out.append(
            _Candidate(
                sort_key=-score,
                passage=w.passage,
                start=w.offsets[st][0],
                end=w.offsets[en][1],
                score=score,
                tokens=en - st + 1,
            )
        )
    return out


#: A reader directory may carry this file: what the training pipeline measured and chose
#: (the no-answer margin, the weights' SHA-256, EM/F1). The SHA is verified at load.
READER_CARD = "arxivqa_reader.json"


def check_windowing(tokenizer: Any) -> None:
    """Refuse a tokenizer that does not cut a long passage into overlapping windows.

    Reading (and training) relies on ``return_overflowing_tokens`` with a ``stride``
    yielding windows that cover the whole passage. tokenizers 0.23.2 stops after the
    second window, so every passage is silently cut to its first ~two windows (seen on a
    GPU machine, 2026-12-04). One tiny encoding at load time catches that.
    """
    context = " ".join(f"w{i}" for i in range(200))
    enc = tokenizer(
        ["q?"],
        [context],
        truncation="only_second",
        max_length=32,
        stride=8,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    covered = 0
    for w in range(len(enc["input_ids"])):
        seq = enc.sequence_ids(w)
        ends = [e for (_, e), sid in zip(enc["offset_mapping"][w], seq, strict=True) if sid == 1]
        covered = max([covered, *ends])
    if covered < len(context):
        import tokenizers

        raise FailedPrecondition(
            f"this tokenizers library ({tokenizers.__version__}) drops the windows of long "
            f"passages (it covered {covered} of {len(context)} characters of a test passage "
            f"in {len(enc['input_ids'])} windows), so answers past the start of a passage "
            "would never be read: install another tokenizers version (0.23.2 is known bad)"
        )


def verify_model_dir(path: Path) -> dict[str, Any]:
    """Read ``READER_CARD`` (if any) and check the weights' SHA-256 it records.

    A mismatch is ``ModelNotUsable``: the service refuses to start rather than serve
    weights nobody evaluated (a truncated download, a corrupted checkout, a swapped file).
    """
    import json

    card_path = path / READER_CARD
    if not card_path.is_file():
        return {}
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotUsable(f"{card_path} is not readable JSON: {exc}") from exc
    if not isinstance(card, dict):
        raise ModelNotUsable(f"{card_path} must hold a JSON object")
    expected = card.get("weights_sha256", {})
    if not isinstance(expected, dict):
        raise ModelNotUsable(f"{card_path}: weights_sha256 must map file names to digests")
    for name, digest in expected.items():
        weights = path / name
        if not weights.is_file():
            raise ModelNotUsable(f"{path}: {name} is missing (listed in {READER_CARD})")
        actual = sha256_file(weights)
        if actual != digest:
            raise ModelNotUsable(
                f"{weights} has SHA-256 {actual}, but {READER_CARD} records {digest}: the "
                "weights are corrupted or were replaced; restore them (git checkout -- "
                f"{weights}) or point ARXIVQA_QA_MODEL at another model"
            )
    return card


# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by whitespace and an
# upper-case letter, digit-free so "Fig. 3" and "e.g. the" do not split; or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z\"'(\[])|\n\s*\n")
_MAX_EVIDENCE_SIDE = 300


def evidence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Character range of the sentence(s) containing ``text[start:end]``.

    At most ``_MAX_EVIDENCE_SIDE`` characters on each side of the span (cut at a space),
    for text without sentence punctuation.
    """
    ev_start, ev_end = 0, len(text)
    for m in _SENTENCE_END.finditer(text):
        if m.end() <= start:
            ev_start = m.end()
        elif m.start() >= end:
            ev_end = m.start()
            break
    if start - ev_start > _MAX_EVIDENCE_SIDE:
        cut = text.find(" ", start - _MAX_EVIDENCE_SIDE, start)
        ev_start = cut + 1 if cut >= 0 else start - _MAX_EVIDENCE_SIDE
    if ev_end - end > _MAX_EVIDENCE_SIDE:
        cut = text.rfind(" ", end, end + _MAX_EVIDENCE_SIDE)
        ev_end = cut if cut >= 0 else end + _MAX_EVIDENCE_SIDE
    while ev_start < start and text[ev_start].isspace():
        ev_start += 1
    while ev_end > end and text[ev_end - 1].isspace():
        ev_end -= 1
    return ev_start, ev_end
