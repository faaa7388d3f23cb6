"""The steps in order: prepare -> train -> evaluate -> register -> promote.

Default data (``../shared/data/qa``): COVID-QA split by paper (80/20, seed 42) for training
and held-out evaluation, plus all of XQuAD-en for evaluation. Extra training files and
extra named eval sets can be added; ``use_default_data=False`` drops the defaults.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from services.common.errors import InvalidArgument
from services.qa.training import data as prep
from services.qa.training.evaluate import Scores, evaluate_sets, predict
from services.qa.training.registry import (
    EvalRecord,
    GateDecision,
    Store,
    data_dir,
    log_and_register,
    promote,
    record_decision,
)
from services.qa.training.train import (
    TrainConfig,
    TrainResult,
    load_qa_model,
    load_tokenizer,
    total_steps,
    train,
)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
COVIDQA = "covidqa_200423_realigned.json"
XQUAD = "xquad_en.json"


def default_data_dir() -> Path:
    env = os.environ.get("ARXIVQA_QA_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "qa"


@dataclass(frozen=True)
class PipelineOptions:
    train: TrainConfig = field(default_factory=TrainConfig)
    use_default_data: bool = True
    data_dir: Path | None = None  # None = default_data_dir()
    train_files: tuple[Path, ...] = ()  # in addition to (or instead of) COVID-QA's train part
    eval_files: tuple[tuple[str, Path], ...] = ()  # (name, file) in addition to the defaults
    train_fraction: float = 0.8
    split_seed: int = 42
    eval_limit: int = 0  # > 0: score only the first N questions of each eval set
    max_answer_tokens: int = 64
    eval_batch_size: int = 32
    promote: bool = True
    tracking_uri: str | None = None


@dataclass
class PreparedData:
    train_examples: list[prep.QAExample]
    eval_sets: dict[str, list[prep.QAExample]]
    files: dict[str, str]  # file name -> sha256
    params: dict[str, Any]


@dataclass(frozen=True)
class PipelineResult:
    run_id: str
    version: str
    train: TrainResult
    scores: dict[str, Scores]
    decision: GateDecision | None
    features: dict[str, int]
    seconds: dict[str, float]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)


def prepare(options: PipelineOptions) -> PreparedData:
    """Load, validate and split the data files (every file problem is an InvalidArgument)."""
    train_ex: list[prep.QAExample] = []
    eval_sets: dict[str, list[prep.QAExample]] = {}
    files: dict[str, str] = {}
    params: dict[str, Any] = {}
    if options.use_default_data:
        root = options.data_dir or default_data_dir()
        if not root.is_dir():
            raise InvalidArgument(
                f"default QA data not found at {root}: pass --data-dir, or --no-default-data "
                "with --train/--eval files"
            )
        covid = prep.load_squad(root / COVIDQA)
        train_part, held = prep.split_by_paper(
            covid, train_fraction=options.train_fraction, seed=options.split_seed
        )
        train_ex += train_part
        eval_sets["covidqa-heldout"] = held
        eval_sets["xquad-en"] = prep.load_squad(root / XQUAD)
        files[COVIDQA] = prep.sha256_file(root / COVIDQA)
        files[XQUAD] = prep.sha256_file(root / XQUAD)
        params.update(
            {
                "split.seed": options.split_seed,
                "split.train_fraction": options.train_fraction,
                "split.train_papers": len({e.paper_id for e in train_part}),
                "split.heldout_papers": len({e.paper_id for e in held}),
            }
        )
    for path in options.train_files:
        train_ex += prep.load_squad(path)
        files[Path(path).name] = prep.sha256_file(Path(path))
    for name, path in options.eval_files:
        if name in eval_sets:
            raise InvalidArgument(f"eval set name {name!r} is used twice")
        eval_sets[name] = prep.load_squad(path)
        files[Path(path).name] = prep.sha256_file(Path(path))
    if not train_ex:
        raise InvalidArgument("no training data: give --train files or use the default data")
    if not eval_sets:
        raise InvalidArgument("no eval data: give --eval NAME=FILE or use the default data")
    if options.eval_limit > 0:
        eval_sets = {n: ex[: options.eval_limit] for n, ex in eval_sets.items()}
    params["data.train_questions"] = len(train_ex)
    for name, ex in eval_sets.items():
        params[f"data.eval.{name}.questions"] = len(ex)
    for fname, digest in files.items():
        params[f"data.{_safe(fname)}.sha256"] = digest
    return PreparedData(train_ex, eval_sets, files, params)


def _check_questions(data: PreparedData, tokenizer: Any, cfg: TrainConfig) -> None:
    for examples in [data.train_examples, *data.eval_sets.values()]:
        prep.check_question_lengths(
            examples, tokenizer, max_seq_len=cfg.max_seq_len, doc_stride=cfg.doc_stride
        )


def git_info() -> dict[str, str]:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False
        )
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"mlflow.source.git.commit": "unknown"}
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "services/qa")
    return {"mlflow.source.git.commit": commit, "git.dirty_services_qa": str(bool(dirty)).lower()}


def _eval_kwargs(options: PipelineOptions) -> dict[str, Any]:
    return {
        "max_seq_len": options.train.max_seq_len,
        "doc_stride": options.train.doc_stride,
        "max_answer_tokens": options.max_answer_tokens,
        "batch_size": options.eval_batch_size,
    }


def _records(
    scores: Mapping[str, Scores], sets: Mapping[str, Sequence[prep.QAExample]]
) -> dict[str, EvalRecord]:
    return {
        n: EvalRecord(s.exact_match, s.f1, s.questions, prep.fingerprint(sets[n]))
        for n, s in scores.items()
    }


def run(options: PipelineOptions) -> PipelineResult:
    """Run every step; returns what was trained, measured, registered and decided."""
    cfg = options.train
    cfg.validate()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = prepare(options)
    tokenizer = load_tokenizer(cfg.resolved_base())
    _check_questions(data, tokenizer, cfg)
    feats = prep.build_train_features(
        data.train_examples,
        tokenizer,
        max_seq_len=cfg.max_seq_len,
        doc_stride=cfg.doc_stride,
        neg_ratio=cfg.neg_ratio,
        seed=cfg.seed,
    )
    features = {
        "windows": len(feats),
        "windows_with_answer": feats.windows_with_answer,
        "windows_without_answer": feats.windows_without_answer,
        "windows_without_answer_kept": feats.windows_without_answer_kept,
        "answers_not_in_any_window": feats.answers_not_in_any_window,
    }
    seconds["prepare"] = time.perf_counter() - t0
    log.info("prepared %d training questions into %s", len(data.train_examples), features)
    work = data_dir() / "cache" / "training"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        model_dir = Path(tmp) / "model"
        result = train(cfg, feats, tokenizer, model_dir)
        seconds["train"] = result.seconds
        t1 = time.perf_counter()
        model = load_qa_model(str(model_dir)).to(result.device)
        scores = evaluate_sets(model, tokenizer, data.eval_sets, **_eval_kwargs(options))
        seconds["evaluate"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        store = Store.from_env(options.tracking_uri)
        params = {**cfg.as_params(), **data.params}
        params.update({f"features.{k}": v for k, v in features.items()})
        params["eval.max_answer_tokens"] = options.max_answer_tokens
        metrics = {
            "train_seconds": result.seconds,
            "train_steps": result.steps,
            "seconds_per_step": result.seconds_per_step,
            "final_loss": result.final_loss,
            "prepare_seconds": seconds["prepare"],
            "evaluate_seconds": seconds["evaluate"],
        }
        run_id, version = log_and_register(
            store,
            model_dir=model_dir,
            params=params,
            tags=git_info(),
            metrics=metrics,
            evals=_records(scores, data.eval_sets),
            run_name=f"reader-{time.strftime('%Y%m%d-%H%M%S')}",
        )
        seconds["register"] = time.perf_counter() - t2
    decision = None
    if options.promote:
        t3 = time.perf_counter()

        def re_evaluate(prod_dir: Path) -> dict[str, EvalRecord]:
            log.info("re-evaluating production on this run's eval sets")
            prod_model = load_qa_model(str(prod_dir)).to(result.device)
            prod_tok = load_tokenizer(str(prod_dir))
            prod_scores = evaluate_sets(
                prod_model, prod_tok, data.eval_sets, **_eval_kwargs(options)
            )
            return _records(prod_scores, data.eval_sets)

        decision = promote(store, version, re_evaluate=re_evaluate)
        record_decision(store, run_id, decision)
        seconds["promote"] = time.perf_counter() - t3
    seconds["total"] = time.perf_counter() - t0
    return PipelineResult(run_id, version, result, scores, decision, features, seconds)


@dataclass(frozen=True)
class Phase:
    """One line of an estimate: ``count`` units at the measured seconds per unit."""

    name: str
    count: int
    wall_per_unit: float
    cpu_per_unit: float  # CPU seconds of this process, all threads together

    @property
    def wall(self) -> float:
        return self.count * self.wall_per_unit

    @property
    def cpu(self) -> float:
        return self.count * self.cpu_per_unit


@dataclass(frozen=True)
class Estimate:
    """Measured rates extrapolated to a full run.

    Wall time inflates on a busy shared machine; CPU time much less. On an idle machine
    the wall time is about ``cpu / threads`` (a little more: threads do not scale
    perfectly), so ``idle_seconds`` with one thread is the honest single-core figure.
    """

    phases: list[Phase]
    steps_measured: int
    train_windows: int
    threads: int

    @property
    def wall_seconds(self) -> float:
        return sum(p.wall for p in self.phases)

    @property
    def idle_seconds(self) -> float:
        return sum(p.cpu for p in self.phases) / self.threads


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def estimate(options: PipelineOptions, steps: int = 20, eval_sample: int = 16) -> Estimate:
    """Time ``steps`` real training steps and a sample of evaluation with ``options``;
    extrapolate to the full run (nothing is registered)."""
    cfg = options.train
    w0, c0 = _clocks()
    data = prepare(options)
    tokenizer = load_tokenizer(cfg.resolved_base())
    _check_questions(data, tokenizer, cfg)
    feats = prep.build_train_features(
        data.train_examples,
        tokenizer,
        max_seq_len=cfg.max_seq_len,
        doc_stride=cfg.doc_stride,
        neg_ratio=cfg.neg_ratio,
        seed=cfg.seed,
    )
    w1, c1 = _clocks()
    phases = [Phase("prepare (measured)", 1, w1 - w0, c1 - c0)]
    with tempfile.TemporaryDirectory() as tmp:
        # the average includes the first, slower step (allocator and kernel set-up):
        # a conservative figure
        res = train(replace(cfg, max_steps=steps), feats, tokenizer, Path(tmp) / "m")
        c2 = time.process_time()
        model = load_qa_model(str(Path(tmp) / "m")).to(res.device)
    # train() loads the model before its clock starts; the CPU clock includes that load,
    # so the CPU figure is slightly pessimistic
    phases.append(
        Phase(
            "train steps", total_steps(len(feats), cfg), res.seconds_per_step, (c2 - c1) / res.steps
        )
    )

    def windows(examples: Sequence[prep.QAExample]) -> int:
        enc = tokenizer(
            [e.question for e in examples],
            [e.context for e in examples],
            truncation="only_second",
            max_length=cfg.max_seq_len,
            stride=cfg.doc_stride,
            return_overflowing_tokens=True,
        )
        return len(enc["input_ids"])

    for name, examples in data.eval_sets.items():
        answerable = [e for e in examples if e.answers]
        sample = answerable[:: max(1, len(answerable) // eval_sample)][:eval_sample]
        n_sample = max(1, windows(sample))
        w3, c3 = _clocks()
        predict(model, tokenizer, sample, **_eval_kwargs(options))
        w4, c4 = _clocks()
        phases.append(
            Phase(
                f"eval {name} windows",
                windows(answerable),
                (w4 - w3) / n_sample,
                (c4 - c3) / n_sample,
            )
        )
    return Estimate(
        phases=phases,
        steps_measured=res.steps,
        train_windows=len(feats),
        threads=torch.get_num_threads(),
    )
