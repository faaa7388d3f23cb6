"""``python -m services.qa.training`` / ``arxivqa train-reader`` / ``make train-reader``.

Subcommands (``run`` is the default when the first argument is an option or absent):

  run       prepare -> train -> evaluate -> register (alias candidate) -> promote (gate);
            with --trained DIR, a reader `train` made elsewhere is evaluated and registered
  train     prepare -> train only, into --out DIR with a training record (no MLflow): for a
            GPU machine; then `run --trained DIR` where the MLflow store is
  score     EM/F1 of a reader folder on the eval sets (nothing registered)
  estimate  time a few real training steps and a sample of evaluation; extrapolate
  promote   apply the gate to the candidate (or --version N) without retraining
  resolve   print the local directory a models:/ reference resolves to
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from services.common.errors import ServiceError
from services.common.logging import configure_logging
from services.qa.training.config import TrainConfig

if TYPE_CHECKING:
    from services.qa.training.pipeline import PipelineOptions

log = logging.getLogger(__name__)
_DEFAULTS = TrainConfig()


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _eval_file(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {value!r}")
    return name, Path(path)


def _share(value: str) -> tuple[str, float]:
    name, sep, frac = value.partition("=")
    try:
        share = float(frac)
    except ValueError:
        share = -1.0
    if not sep or not name or not 0 < share <= 1:
        raise argparse.ArgumentTypeError(
            f"expected FILE=FRACTION with 0 < FRACTION <= 1, got {value!r}"
        )
    return name, share


def _add_run_options(p: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    p.add_argument(
        "--base",
        default="",
        help="base encoder: local dir or hub id (default: the installed all-MiniLM-L6-v2)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with the default QA files (default ../shared/data/qa)",
    )
    p.add_argument(
        "--no-default-data",
        action="store_true",
        help="train and evaluate only on the files given with --train/--eval",
    )
    p.add_argument(
        "--train",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="extra SQuAD-format training file (repeatable)",
    )
    p.add_argument(
        "--eval",
        action="append",
        type=_eval_file,
        default=[],
        metavar="NAME=FILE",
        help="extra named SQuAD-format eval set (repeatable)",
    )
    p.add_argument(
        "--share",
        action="append",
        type=_share,
        default=[],
        metavar="FILE=FRACTION",
        help="share of a default training file's questions (repeatable; default shares: "
        "pipeline.TRAIN_SOURCES)",
    )
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument(
        "--max-steps", type=int, default=d.max_steps, help="stop after N steps (0 = off)"
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--max-seq-len", type=int, default=d.max_seq_len)
    p.add_argument(
        "--doc-stride", type=int, default=d.doc_stride, help="tokens shared by neighbouring windows"
    )
    p.add_argument(
        "--neg-ratio",
        type=float,
        default=d.neg_ratio,
        help="answerless windows kept per window with an answer",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default="", help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (default: torch's choice, one per core)",
    )
    p.add_argument("--eval-limit", type=int, default=0, help="score only N questions per eval set")
    p.add_argument(
        "--time-budget",
        type=float,
        default=d.time_budget_minutes,
        metavar="MINUTES",
        help="training stops after this many minutes, its learning rate annealed over "
        f"them (default {d.time_budget_minutes:g}; 0 = run all steps)",
    )
    p.add_argument(
        "--mismatch-ratio",
        type=float,
        default=d.mismatch_ratio,
        help="unanswerable windows (question + a wrong passage) per answerable question",
    )
    p.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else .data/mlflow)",
    )


def _options(args: argparse.Namespace, *, promote: bool = True) -> PipelineOptions:

    from services.common.errors import InvalidArgument
    from services.qa.training.pipeline import TRAIN_SOURCES, PipelineOptions

    shares = dict(TRAIN_SOURCES)
    for name, share in args.share:
        if name not in shares:
            raise InvalidArgument(
                f"--share {name}: not a default training file; those are {', '.join(shares)}"
            )
        shares[name] = share
    cfg = TrainConfig(
        base_model=args.base,
        max_seq_len=args.max_seq_len,
        doc_stride=args.doc_stride,
        neg_ratio=args.neg_ratio,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        max_steps=args.max_steps,
        device=args.device,
        time_budget_minutes=args.time_budget,
        mismatch_ratio=args.mismatch_ratio,
    )
    return PipelineOptions(
        train=cfg,
        use_default_data=not args.no_default_data,
        data_dir=args.data_dir,
        train_files=tuple(args.train),
        eval_files=tuple(args.eval),
        eval_limit=args.eval_limit,
        train_sources=tuple(shares.items()),
        promote=promote,
        tracking_uri=args.tracking_uri,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train-reader", description="Train, evaluate, register and promote the QA reader."
    )
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="the whole pipeline (default)")
    _add_run_options(p_run)
    p_run.add_argument("--no-promote", action="store_true", help="stop after registering")
    p_run.add_argument(
        "--trained",
        type=Path,
        default=None,
        metavar="DIR",
        help="skip training: evaluate, register and gate the reader `train --out DIR` made",
    )
    p_train = sub.add_parser("train", help="prepare and train only, into --out (no MLflow)")
    _add_run_options(p_train)
    p_train.add_argument("--out", type=Path, required=True, help="a new folder for the reader")
    p_train.add_argument(
        "--float16", action="store_true", help="store the weights in float16 (half the size)"
    )
    p_score = sub.add_parser("score", help="EM/F1 of a reader folder on the eval sets")
    _add_run_options(p_score)
    p_score.add_argument("model", type=Path, help="a reader folder")
    p_score.add_argument(
        "--set", action="append", default=[], dest="sets", help="eval set name (repeatable)"
    )
    p_score.add_argument("--json", type=Path, default=None, help="also write the scores here")
    p_score.add_argument(
        "--backend", choices=("torch", "onnx"), default="torch", help="as the qa service's"
    )
    p_score.add_argument(
        "--quantize", action="store_true", help="int8, as ARXIVQA_QA_QUANTIZE=true does"
    )
    p_est = sub.add_parser("estimate", help="time real steps and extrapolate the full run")
    _add_run_options(p_est)
    p_est.add_argument("--steps", type=int, default=20, help="training steps to time")
    p_pro = sub.add_parser("promote", help="apply the gate to the candidate")
    p_pro.add_argument("--version", default=None, help="version to promote (default: candidate)")
    p_pro.add_argument("--tracking-uri", default=None)
    p_ship = sub.add_parser(
        "ship", help="copy a reader into models/reader (float16, card, SHA-256, model card)"
    )
    p_ship.add_argument(
        "source",
        nargs="?",
        default="models:/reader@production",
        help="a reader directory or models:/ reference (default: models:/reader@production)",
    )
    p_ship.add_argument("--out", type=Path, default=None, help="default: models/reader")
    p_ship.add_argument("--data-dir", type=Path, default=None, help="for the XQuAD-en re-score")
    p_ship.add_argument("--tracking-uri", default=None)
    p_res = sub.add_parser("resolve", help="download a models:/ reference and print its folder")
    p_res.add_argument("ref", help="e.g. models:/reader@production")
    p_res.add_argument("--tracking-uri", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--log-level")):
        argv = ["run", *argv]
    elif argv[0] == "--log-level" and (len(argv) < 3 or argv[2].startswith("-")):
        argv = [*argv[:2], "run", *argv[2:]]
    args = build_parser().parse_args(argv)
    configure_logging("train-reader", args.log_level)
    if getattr(args, "threads", 0) > 0:
        import torch

        torch.set_num_threads(args.threads)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "estimate":
            return _estimate(args)
        if args.command == "train":
            return _train(args)
        if args.command == "score":
            return _score(args)
        if args.command == "promote":
            return _promote(args)
        if args.command == "ship":
            return _ship(args)
        return _resolve(args)
    except ServiceError as exc:
        sys.stderr.write(f"train-reader: {exc}\n")
        return 2


def _run(args: argparse.Namespace) -> int:
    from services.qa.training.pipeline import run

    res = run(_options(args, promote=not args.no_promote), trained=args.trained)
    _out(f"run {res.run_id}: registered reader version {res.version} (alias candidate)")
    _out(
        f"trained {res.train.steps} steps, {res.train.windows_seen} of "
        f"{res.features['windows']} windows ({res.train.seconds_per_step:.2f} s/step, "
        f"{res.train.windows_per_second:.1f} windows/s on {res.train.device})"
    )
    _out()
    _out(f"{'eval set':<20} {'questions':>9} {'EM':>7} {'F1':>7}")
    for name, s in res.scores.items():
        _out(f"{name:<20} {s.questions:>9} {s.exact_match:>7.2f} {s.f1:>7.2f}")
    _out()
    if res.calibration is not None:
        c = res.calibration
        _out(
            f"no-answer margin {c.chosen.margin:.2f} (chosen on qed-dev: "
            f"coverage {c.chosen.coverage:.1f}%, false answers {c.chosen.false_answers:.1f}%)"
        )
        _out(f"{c.report_set} with wrong passages: margin, coverage, precision, false answers")
        for p in c.report:
            _out(
                f"  {p.margin:>8.2f} {p.coverage:>7.1f}% {p.precision:>7.1f}% "
                f"{p.false_answers:>7.1f}%"
            )
    _out("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in res.seconds.items()))
    if res.decision is not None:
        _out(("PROMOTED: " if res.decision.promoted else "NOT PROMOTED: ") + res.decision.reason)
    return 0


def _train(args: argparse.Namespace) -> int:
    from services.qa.training.pipeline import train_only

    rec = train_only(_options(args, promote=False), args.out, float16=args.float16)
    r = rec["result"]
    _out(
        f"trained {r['steps']} steps, {r['windows_seen']} of {rec['features']['windows']} "
        f"windows in {r['seconds']:.0f} s ({r['seconds_per_step']:.3f} s/step, "
        f"{r['windows_per_second']:.1f} windows/s on {r['device']}) -> {args.out}"
    )
    return 0


def _score(args: argparse.Namespace) -> int:
    import json

    from services.qa.training.pipeline import score

    backend = {"backend": args.backend, "quantize": args.quantize}
    scores = score(_options(args, promote=False), args.model, args.sets, **backend)
    _out(f"{'eval set':<20} {'questions':>9} {'EM':>7} {'F1':>7}")
    for name, s in scores.items():
        _out(f"{name:<20} {s.questions:>9} {s.exact_match:>7.2f} {s.f1:>7.2f}")
    if args.json is not None:
        table = {
            n: {"em": s.exact_match, "f1": s.f1, "questions": s.questions}
            for n, s in scores.items()
        }
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


def _estimate(args: argparse.Namespace) -> int:
    from services.qa.training.pipeline import estimate

    est = estimate(_options(args, promote=False), steps=args.steps)
    _out(
        f"measured {est.steps_measured} training steps on {est.train_windows} windows, "
        f"{est.threads} torch thread(s)"
    )
    _out(
        f"{'phase':<30} {'count':>7} {'wall s/unit':>11} {'cpu s/unit':>10} "
        f"{'wall min':>8} {'cpu min':>8} {'windows/s':>9}"
    )
    for p in est.phases:
        rate = f"{p.windows_per_second:>9.2f}" if p.windows_per_second else ""
        _out(
            f"{p.name:<30} {p.count:>7} {p.wall_per_unit:>11.3f} {p.cpu_per_unit:>10.3f} "
            f"{p.wall / 60:>8.1f} {p.cpu / 60:>8.1f} {rate}"
        )
    old = [p for p in est.phases if p.name.endswith("first loop")]
    new = [p for p in est.phases if p.name == "train steps"]
    if old and new:
        _out(
            "this loop vs the first loop: "
            f"{new[0].windows_per_second / old[0].windows_per_second:.2f}x windows/s"
        )
    if est.budget_seconds:
        _out(f"training capped by its time budget: {est.budget_seconds / 60:.0f} min")
    _out(f"full run, wall time at this machine's current load: {est.wall_seconds / 60:.1f} min")
    _out(f"full run, idle machine (cpu / {est.threads} thread(s)): {est.idle_seconds / 60:.1f} min")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from services.qa.training.registry import Store, promote

    decision = promote(Store.from_env(args.tracking_uri), args.version)
    _out(("PROMOTED: " if decision.promoted else "NOT PROMOTED: ") + decision.reason)
    return 0 if decision.promoted else 1


def _resolve(args: argparse.Namespace) -> int:
    from services.qa.training.registry import resolve_reader_source

    _out(resolve_reader_source(args.ref, tracking_uri=args.tracking_uri))
    return 0


def _run_facts(folder: Path, tracking_uri: str | None) -> dict[str, float] | None:
    """The training metrics of the MLflow run a resolved reader folder came from.

    ``resolve_reader_source`` names its folders ``v<version>-<run id>``.
    """
    from services.qa.training.pipeline import TRAINING_FACTS
    from services.qa.training.registry import Store

    _, _, run_id = folder.name.partition("-")
    if not run_id:
        return None
    metrics = Store.from_env(tracking_uri).client(create=False).get_run(run_id).data.metrics
    facts = {k: float(metrics[k]) for k in TRAINING_FACTS if k in metrics}
    return {"run_id": run_id, **facts}  # type: ignore[dict-item]


def _ship(args: argparse.Namespace) -> int:
    from services.qa.training.pipeline import XQUAD, default_data_dir
    from services.qa.training.registry import resolve_reader_source
    from services.qa.training.ship import SHIPPED_DIR, ship

    source = args.source
    training: dict[str, float] | None = None
    if source.startswith("models:/"):
        source = resolve_reader_source(source, tracking_uri=args.tracking_uri)
        training = _run_facts(Path(source), args.tracking_uri)
    out = args.out or SHIPPED_DIR
    card = ship(
        Path(source),
        out,
        xquad=(args.data_dir or default_data_dir()) / XQUAD,
        training=training,
    )
    _out(f"shipped {source} to {out}")
    for name, digest in card["weights_sha256"].items():
        _out(f"  {name} sha256 {digest}")
    if "shipped_xquad_en" in card:
        s = card["shipped_xquad_en"]
        _out(f"  xquad-en with the float16 weights: EM {s['em']:.2f} F1 {s['f1']:.2f}")
    return 0
