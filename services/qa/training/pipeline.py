"""The steps in order: prepare -> train -> evaluate -> calibrate -> register -> promote.

Default data (``../shared/data/qa``): COVID-QA split by paper (80/20, seed 42) for training
and held-out evaluation; SQuADShifts (new Wikipedia, Amazon, Reddit), QED train and
FairytaleQA train for training (each a seeded share, ``TRAIN_SOURCES``); XQuAD-en, QED dev
and FairytaleQA val for evaluation. Extra training files and extra named eval sets can be
added; ``use_default_data=False`` drops the defaults.

Evaluation runs the serving ``Reader`` itself (windows, stride, answer length, merging),
so the F1 that gates promotion is the F1 users get. Calibration chooses the no-answer
margin on QED dev paired with wrong passages, and records it with the model.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from services.common.errors import InvalidArgument
from services.common.hashing import safetensors_sha256, sha256_file
from services.common.settings import data_dir
from services.qa.training import data as prep
from services.qa.training.evaluate import (
    AbstentionPoint,
    Prediction,
    Scores,
    abstention_point,
    answer_f1s,
    choose_margin,
    evaluate_sets,
    mismatched_contexts,
    predict,
)
from services.qa.training.registry import (
    EvalRecord,
    GateDecision,
    Store,
    log_and_register,
    promote,
    record_decision,
)
from services.qa.training.train import (
    TrainConfig,
    TrainResult,
    load_tokenizer,
    pick_device,
    total_steps,
    train,
)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
COVIDQA = "covidqa_200423_realigned.json"
XQUAD = "xquad_en.json"
#: default training files and the share of each one's questions used. The Wikipedia-based
#: sets are XQuAD's domain and come whole; reviews, Reddit and fairy tales add variety but
#: cost as much per window, so 15% of each (the 90-minute budget, README).
TRAIN_SOURCES: dict[str, float] = {
    "squadshifts_new_wiki_v1.0.json": 1.0,
    "qed_squad_train.json": 1.0,
    "squadshifts_amazon_reviews_v1.0.json": 0.15,
    "squadshifts_reddit_v1.0.json": 0.15,
    "fairytaleqa_squad_train.json": 0.15,
}
EVAL_SOURCES: dict[str, str] = {
    "xquad-en": XQUAD,
    "qed-dev": "qed_squad_dev.json",
    "fairytaleqa-val": "fairytaleqa_squad_val.json",
}
#: run metrics the reader's card keeps (the model card states how it was trained)
TRAINING_FACTS = (
    "train_steps",
    "train_seconds",
    "seconds_per_step",
    "windows_seen",
    "windows_per_second",
    "prepare_seconds",
    "evaluate_seconds",
)
#: the development set the no-answer margin is chosen on (never XQuAD: it reports)
CALIBRATION_SET = "qed-dev"


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
    #: per-set limits; COVID-QA held-out questions each read a whole paper (~22 windows),
    #: so by default a seeded sample of them keeps evaluation inside the budget
    eval_limits: tuple[tuple[str, int], ...] = (("covidqa-heldout", 80),)
    eval_batch_size: int = 32
    train_sources: tuple[tuple[str, float], ...] = tuple(TRAIN_SOURCES.items())
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
    calibration: Calibration | None = None


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
        files[COVIDQA] = sha256_file(root / COVIDQA)
        for fname, share in options.train_sources:
            loaded = prep.load_squad(root / fname)
            picked = prep.subsample(loaded, share, options.split_seed)
            train_ex += picked
            files[fname] = sha256_file(root / fname)
            params[f"data.train.{_safe(fname)}.share"] = share
            params[f"data.train.{_safe(fname)}.questions"] = len(picked)
        for name, fname in EVAL_SOURCES.items():
            eval_sets[name] = prep.load_squad(root / fname)
            files[fname] = sha256_file(root / fname)
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
        files[Path(path).name] = sha256_file(Path(path))
    for name, path in options.eval_files:
        if name in eval_sets:
            raise InvalidArgument(f"eval set name {name!r} is used twice")
        eval_sets[name] = prep.load_squad(path)
        files[Path(path).name] = sha256_file(Path(path))
    if not train_ex:
        raise InvalidArgument("no training data: give --train files or use the default data")
    if not eval_sets:
        raise InvalidArgument("no eval data: give --eval NAME=FILE or use the default data")
    if options.eval_limit > 0:
        eval_sets = {n: ex[: options.eval_limit] for n, ex in eval_sets.items()}
    for name, limit in options.eval_limits:
        if name in eval_sets and 0 < limit < len(eval_sets[name]):
            params[f"data.eval.{name}.sampled_from"] = len(eval_sets[name])
            eval_sets[name] = prep.subsample(eval_sets[name], limit / len(eval_sets[name]), 42)
    params["data.train_questions"] = len(train_ex)
    for name, ex in eval_sets.items():
        params[f"data.eval.{name}.questions"] = len(ex)
    for fname, digest in files.items():
        params[f"data.{_safe(fname)}.sha256"] = digest
    return PreparedData(train_ex, eval_sets, files, params)


def _check_questions(data: PreparedData, tokenizer: Any, cfg: TrainConfig) -> None:
    """Over-long training questions are left out (logged) when the default data is in
    use; in files a user names, and in eval sets, they are an error naming the question."""
    data.train_examples = prep.check_question_lengths(
        data.train_examples,
        tokenizer,
        max_seq_len=cfg.max_seq_len,
        doc_stride=cfg.doc_stride,
        drop=bool(data.params.get("split.seed") is not None),
    )
    for examples in data.eval_sets.values():
        prep.check_question_lengths(
            examples, tokenizer, max_seq_len=cfg.max_seq_len, doc_stride=cfg.doc_stride
        )


def git_info() -> dict[str, str]:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False
        )
        return out.stdout.strip() if out.returncode == 0 else ""

    stated = os.environ.get("ARXIVQA_GIT_COMMIT", "")
    if stated:
        # a copy of the tree on another machine (a GPU box) whose .git, if any, is not the
        # checkout's: the caller states the commit the copy was made from
        return {"mlflow.source.git.commit": stated}
    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"mlflow.source.git.commit": "unknown"}
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "services/qa")
    return {"mlflow.source.git.commit": commit, "git.dirty_services_qa": str(bool(dirty)).lower()}


def load_reader(
    model_dir: Path | str, device: str = "cpu", batch_size: int = 32, **backend: Any
) -> Any:
    """The serving ``Reader`` over a model directory, with its serving defaults (window
    length, stride, answer length), warmed up; ``backend`` passes ``backend="onnx"``,
    ``quantize=True`` and the like to it (default: torch, float32)."""
    from services.qa.reader import Reader

    reader = Reader(
        str(model_dir), device=device, batch_size=batch_size, no_answer_margin=0.0, **backend
    )
    reader.warm_up()
    return reader


@dataclass(frozen=True)
class Calibration:
    chosen: AbstentionPoint  # on the calibration set
    report_set: str
    report: list[AbstentionPoint]  # precision against coverage on the report set


def calibrate(
    reader: Any,
    eval_sets: Mapping[str, Sequence[prep.QAExample]],
    preds: Mapping[str, Mapping[str, Prediction]],
) -> Calibration | None:
    """Choose the no-answer margin on the calibration set paired with wrong passages;
    report precision against coverage on XQuAD-en the same way."""
    if CALIBRATION_SET not in eval_sets:
        return None
    dev = [e for e in eval_sets[CALIBRATION_SET] if e.answers]
    dev_wrong = predict(reader, dev, contexts=mismatched_contexts(dev))
    chosen = choose_margin(dev, preds[CALIBRATION_SET], dev_wrong)
    report_set = "xquad-en" if "xquad-en" in eval_sets else CALIBRATION_SET
    rep = [e for e in eval_sets[report_set] if e.answers]
    rep_wrong = predict(reader, rep, contexts=mismatched_contexts(rep))
    f1s = answer_f1s(rep, preds[report_set])
    margins = sorted({chosen.margin, -1e9, *[float(m) for m in range(-4, 9, 2)]})
    report = [abstention_point(m, f1s, preds[report_set], rep_wrong) for m in margins]
    return Calibration(chosen, report_set, report)


def write_card(
    model_dir: Path,
    *,
    scores: Mapping[str, Scores],
    calibration: Calibration | None,
    params: Mapping[str, Any],
    commit: str,
    training: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """``arxivqa_reader.json`` beside the weights: their SHA-256 (verified at load), the
    no-answer margin, EM/F1 per set, the data and hyper-parameters."""

    from services.qa.reader import READER_CARD

    card = {
        "weights_sha256": safetensors_sha256(model_dir),
        "no_answer_margin": round(calibration.chosen.margin, 4) if calibration else 0.0,
        "scores": {
            n: {"em": round(v.exact_match, 2), "f1": round(v.f1, 2), "questions": v.questions}
            for n, v in scores.items()
        },
        "abstention": (
            {
                "calibration_set": CALIBRATION_SET,
                "chosen": asdict(calibration.chosen),
                "report_set": calibration.report_set,
                "report": [asdict(p) for p in calibration.report],
            }
            if calibration
            else None
        ),
        "training_commit": commit,
        "training": dict(training or {}),
        "params": dict(params),
    }
    (model_dir / READER_CARD).write_text(json.dumps(card, indent=2, default=str) + "\n")
    return card


def _records(
    scores: Mapping[str, Scores], sets: Mapping[str, Sequence[prep.QAExample]]
) -> dict[str, EvalRecord]:
    return {
        n: EvalRecord(s.exact_match, s.f1, s.questions, prep.fingerprint(sets[n]))
        for n, s in scores.items()
    }


#: the record ``train_only`` writes beside the weights it trained
TRAINING_RECORD = "arxivqa_training.json"


def _features(
    data: PreparedData, tokenizer: Any, cfg: TrainConfig
) -> tuple[prep.TrainFeatures, dict[str, int]]:
    _check_questions(data, tokenizer, cfg)
    feats = prep.build_train_features(
        data.train_examples,
        tokenizer,
        max_seq_len=cfg.max_seq_len,
        doc_stride=cfg.doc_stride,
        neg_ratio=cfg.neg_ratio,
        mismatch_ratio=cfg.mismatch_ratio,
        seed=cfg.seed,
    )
    counts = {
        "windows": len(feats),
        "windows_with_answer": feats.windows_with_answer,
        "windows_without_answer": feats.windows_without_answer,
        "windows_without_answer_kept": feats.windows_without_answer_kept,
        "windows_mismatched": feats.windows_mismatched,
        "answers_not_in_any_window": feats.answers_not_in_any_window,
    }
    return feats, counts


def _base_weights(source: str) -> dict[str, str]:
    """SHA-256 of the base model's weight files (a local folder; empty for a hub id)."""
    folder = Path(source)
    return safetensors_sha256(folder) if folder.is_dir() else {}


def train_only(options: PipelineOptions, out_dir: Path, *, float16: bool = False) -> dict[str, Any]:
    """Prepare and train only, with no MLflow: the weights, tokenizer and a training record
    (``arxivqa_training.json``: hyper-parameters, data hashes, window counts, steps, seconds,
    the machine) go to ``out_dir``, for ``run(options, trained=out_dir)`` to evaluate,
    register and promote where the MLflow store is. For a GPU machine that has torch and
    transformers but not the rest of the stack."""
    import platform

    cfg = options.train
    cfg.validate()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InvalidArgument(f"{out_dir} is not empty: give a new folder for the trained reader")
    t0 = time.perf_counter()
    data = prepare(options)
    tokenizer = load_tokenizer(cfg.resolved_base())
    feats, counts = _features(data, tokenizer, cfg)
    prepare_seconds = time.perf_counter() - t0
    result = train(cfg, feats, tokenizer, out_dir, float16=float16)
    gpu = torch.cuda.get_device_name(0) if result.device.startswith("cuda") else ""
    record = {
        "config": cfg.as_params(),
        "base_weights_sha256": _base_weights(cfg.resolved_base()),
        "data": data.params,
        "features": counts,
        "result": asdict(result),
        "prepare_seconds": prepare_seconds,
        "stored_dtype": "float16" if float16 else "float32",
        "git": git_info(),
        "machine": {
            "host": platform.node(),
            "processor": platform.machine(),
            "gpu": gpu,
            "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(),
        },
    }
    (out_dir / TRAINING_RECORD).write_text(json.dumps(record, indent=2, default=str) + "\n")
    log.info("trained reader and its record written to %s", out_dir)
    return record


def _load_trained(folder: Path, data: PreparedData) -> dict[str, Any]:
    """The training record of a folder ``train_only`` wrote, checked against this machine's
    data: the registered run must say truthfully which files the reader was trained on."""

    path = folder / TRAINING_RECORD
    if not path.is_file():
        raise InvalidArgument(
            f"{folder} has no {TRAINING_RECORD}: give a folder written by "
            "`python -m services.qa.training train --out DIR`"
        )
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    theirs = {k: v for k, v in record.get("data", {}).items() if k.endswith(".sha256")}
    ours = {k: v for k, v in data.params.items() if k.endswith(".sha256")}
    differ = sorted(k for k in theirs.keys() & ours.keys() if theirs[k] != ours[k])
    if differ:
        raise InvalidArgument(
            f"{folder} was trained on other data than this machine has: {', '.join(differ)} "
            "differ; evaluate it against the same files"
        )
    return record


def run(options: PipelineOptions, trained: Path | None = None) -> PipelineResult:
    """Run every step; returns what was trained, measured, registered and decided.

    With ``trained`` (a folder written by ``train_only``, e.g. on a GPU machine), training
    is skipped: that reader is evaluated, calibrated, registered with its training record's
    hyper-parameters, figures and machine, and put through the gate."""
    cfg = options.train
    cfg.validate()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = prepare(options)
    record: dict[str, Any] | None = None
    feats: prep.TrainFeatures | None = None
    tokenizer: Any = None
    if trained is not None:
        record = _load_trained(trained, data)
        features = dict(record["features"])
        seconds["prepare"] = float(record["prepare_seconds"])
    else:
        tokenizer = load_tokenizer(cfg.resolved_base())
        feats, features = _features(data, tokenizer, cfg)
        seconds["prepare"] = time.perf_counter() - t0
        log.info("prepared %d training questions into %s", len(data.train_examples), features)
    work = data_dir() / "cache" / "training"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        model_dir = Path(tmp) / "model"
        if record is not None and trained is not None:
            import shutil

            shutil.copytree(trained, model_dir)
            (model_dir / TRAINING_RECORD).unlink()
            result = TrainResult(**record["result"])
            device = str(pick_device(None))
        else:
            assert feats is not None
            result = train(cfg, feats, tokenizer, model_dir)
            device = result.device
        seconds["train"] = result.seconds
        t1 = time.perf_counter()
        reader = load_reader(model_dir, device, options.eval_batch_size)
        scores, preds = evaluate_sets(reader, data.eval_sets)
        calibration = calibrate(reader, data.eval_sets, preds)
        seconds["evaluate"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        store = Store.from_env(options.tracking_uri)
        params = {**cfg.as_params(), **data.params}
        if record is not None:
            params.update(record["config"])
            params.update(record["data"])
            params["trained_elsewhere.stored_dtype"] = record.get("stored_dtype", "float32")
            for k, v in record.get("machine", {}).items():
                params[f"trained_elsewhere.{k}"] = v
            if record.get("selection"):  # chosen among configurations on the dev sets
                params["trained_elsewhere.selection"] = json.dumps(record["selection"])
            for k, v in record.get("base_weights_sha256", {}).items():
                params[f"base_model.{_safe(k)}.sha256"] = v
        params.update({f"features.{k}": v for k, v in features.items()})
        params["eval.reader"] = (
            f"max_seq_len={reader.max_seq_len} stride={reader.stride} "
            f"max_answer_tokens={reader.limits.default_max_answer_tokens}"
        )
        tags = git_info()
        trained_git = (record or {}).get("git", {})
        if trained_git.get("mlflow.source.git.commit", "unknown") != "unknown":
            # the code that trained it is the code that counts; this one evaluated it
            tags["evaluated_at.git.commit"] = tags.get("mlflow.source.git.commit", "unknown")
            tags.update(trained_git)
        metrics = {
            "train_seconds": result.seconds,
            "train_steps": result.steps,
            "seconds_per_step": result.seconds_per_step,
            "windows_seen": result.windows_seen,
            "windows_per_second": result.windows_per_second,
            "final_loss": result.final_loss,
            "prepare_seconds": seconds["prepare"],
            "evaluate_seconds": seconds["evaluate"],
        }
        if calibration is not None:
            metrics["no_answer_margin"] = calibration.chosen.margin
            metrics["calibration_f1"] = calibration.chosen.f1
        write_card(
            model_dir,
            scores=scores,
            calibration=calibration,
            params=params,
            commit=tags.get("mlflow.source.git.commit", "unknown"),
            training={k: metrics[k] for k in TRAINING_FACTS},
        )
        run_id, version = log_and_register(
            store,
            model_dir=model_dir,
            params=params,
            tags=tags,
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
            prod_reader = load_reader(prod_dir, device, options.eval_batch_size)
            prod_scores, _ = evaluate_sets(prod_reader, data.eval_sets)
            return _records(prod_scores, data.eval_sets)

        decision = promote(store, version, re_evaluate=re_evaluate)
        record_decision(store, run_id, decision)
        seconds["promote"] = time.perf_counter() - t3
    seconds["total"] = time.perf_counter() - t0
    return PipelineResult(run_id, version, result, scores, decision, features, seconds, calibration)


def score(
    options: PipelineOptions, model_dir: Path, sets: Sequence[str] = (), **backend: Any
) -> dict[str, Scores]:
    """EM/F1 of a reader folder on the eval sets (all, or those named), through the
    serving ``Reader`` (``backend``: as ``load_reader``); nothing is registered. For
    choosing between runs on the development sets without touching the sets that report,
    and for the quality of a serving backend (ONNX, int8)."""
    data = prepare(options)
    unknown = sorted(set(sets) - data.eval_sets.keys())
    if unknown:
        raise InvalidArgument(
            f"unknown eval set(s) {', '.join(unknown)}; known: {', '.join(data.eval_sets)}"
        )
    chosen = {n: ex for n, ex in data.eval_sets.items() if not sets or n in sets}
    reader = load_reader(model_dir, str(pick_device(None)), options.eval_batch_size, **backend)
    scores, _ = evaluate_sets(reader, chosen)
    return scores


@dataclass(frozen=True)
class Phase:
    """One line of an estimate: ``count`` units at the measured seconds per unit."""

    name: str
    count: int
    wall_per_unit: float
    cpu_per_unit: float  # CPU seconds of this process, all threads together
    windows_per_second: float = 0.0  # training phases only

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
    budget_seconds: float = 0.0  # the training time budget, if any

    def _counted(self) -> list[Phase]:
        # the first loop's line is for comparison only; a budget caps the training line
        return [p for p in self.phases if not p.name.endswith("first loop")]

    def _train_cap(self, p: Phase, seconds: float) -> float:
        if p.name == "train steps" and self.budget_seconds > 0:
            return min(seconds, self.budget_seconds)
        return seconds

    @property
    def wall_seconds(self) -> float:
        return sum(self._train_cap(p, p.wall) for p in self._counted())

    @property
    def idle_seconds(self) -> float:
        return sum(self._train_cap(p, p.cpu / self.threads) for p in self._counted())


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def estimate(
    options: PipelineOptions, steps: int = 20, eval_sample: int = 16, compare: bool = True
) -> Estimate:
    """Time ``steps`` real training steps and a sample of evaluation with ``options``;
    extrapolate to the full run (nothing is registered). With ``compare``, also time the
    same number of steps the way the first loop trained (random batches padded to
    ``max_seq_len``, embeddings trained) on the same windows: before/after in one run."""
    cfg = options.train
    w0, c0 = _clocks()
    data = prepare(options)
    tokenizer = load_tokenizer(cfg.resolved_base())
    feats, _ = _features(data, tokenizer, cfg)
    w1, c1 = _clocks()
    phases = [Phase("prepare (measured)", 1, w1 - w0, c1 - c0)]
    n_steps = total_steps(len(feats), cfg)
    with tempfile.TemporaryDirectory() as tmp:
        if compare:
            old = replace(
                cfg,
                max_steps=steps,
                time_budget_minutes=0,
                group_by_length=False,
                pad_to_max=True,
                freeze_embeddings=False,
            )
            c_old = time.process_time()
            res_old = train(old, feats, tokenizer, Path(tmp) / "old")
            phases.append(
                Phase(
                    "train steps, first loop",
                    n_steps,
                    res_old.seconds_per_step,
                    (time.process_time() - c_old) / max(1, res_old.steps),
                    res_old.windows_per_second,
                )
            )
        # the average includes the first, slower step (allocator and kernel set-up):
        # a conservative figure
        c_new = time.process_time()
        res = train(
            replace(cfg, max_steps=steps, time_budget_minutes=0), feats, tokenizer, Path(tmp) / "m"
        )
        phases.append(
            Phase(
                "train steps",
                n_steps,
                res.seconds_per_step,
                (time.process_time() - c_new) / max(1, res.steps),
                res.windows_per_second,
            )
        )
        reader = load_reader(Path(tmp) / "m", res.device, options.eval_batch_size)
        for name, examples in data.eval_sets.items():
            answerable = [e for e in examples if e.answers]
            sample = answerable[:: max(1, len(answerable) // eval_sample)][:eval_sample]
            w3, c3 = _clocks()
            predict(reader, sample)
            w4, c4 = _clocks()
            phases.append(
                Phase(
                    f"eval {name} questions",
                    len(answerable),
                    (w4 - w3) / len(sample),
                    (c4 - c3) / len(sample),
                )
            )
    return Estimate(
        phases=phases,
        steps_measured=res.steps,
        train_windows=len(feats),
        threads=torch.get_num_threads(),
        budget_seconds=cfg.time_budget_minutes * 60.0,
    )
