"""Ship step: copy a trained reader into the repository (``models/reader``).

The shipped reader is what a fresh clone answers with. It is stored in the standard
transformers layout (config, safetensors weights in float16 to halve the size, fast
tokenizer), with ``arxivqa_reader.json`` (the weights' SHA-256, verified by the qa service at
load; the no-answer margin; EM/F1 per set; data hashes; hyper-parameters; the training
commit) and a human-readable model card (``README.md``) generated from it.

Shipping re-scores the float16 weights on XQuAD-en through the serving ``Reader`` and
records that figure too, so the card says what the shipped file does, not only what the
float32 checkpoint did.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.hashing import safetensors_sha256
from services.qa.reader import READER_CARD

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parents[3] / "models" / "reader"
MAX_BYTES = 50 * 1024 * 1024
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def ship(
    source: Path,
    out_dir: Path = SHIPPED_DIR,
    *,
    xquad: Path | None = None,
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``source`` (a reader directory with its card) to ``out_dir`` in float16."""
    import torch
    from transformers import AutoModelForQuestionAnswering

    card_path = source / READER_CARD
    if not card_path.is_file():
        raise InvalidArgument(
            f"{source} has no {READER_CARD}: ship a reader trained by this pipeline"
        )
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if training:  # the run's facts, for a card written before they were kept in it
        card["training"] = {**card.get("training", {}), **training}
    model = AutoModelForQuestionAnswering.from_pretrained(source, dtype=torch.float32)
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as t:
        tmp = Path(t) / "reader"
        model.half().save_pretrained(tmp, safe_serialization=True)
        for name in _TOKENIZER_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, tmp / name)
        card["weights_sha256"] = safetensors_sha256(tmp)
        card["stored_dtype"] = "float16"
        size = sum(f.stat().st_size for f in tmp.iterdir() if f.is_file())
        if size > MAX_BYTES:
            raise FailedPrecondition(f"the reader is {size} bytes; at most {MAX_BYTES} ship")
        (tmp / READER_CARD).write_text(json.dumps(card, indent=2, default=str) + "\n")
        if xquad is not None and xquad.is_file():
            card["shipped_xquad_en"] = _rescore(tmp, xquad)
            (tmp / READER_CARD).write_text(json.dumps(card, indent=2, default=str) + "\n")
        (tmp / "README.md").write_text(model_card(card, size))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp), out_dir)
    log.info("shipped the reader to %s (%d bytes)", out_dir, size)
    return card


def _rescore(model_dir: Path, xquad: Path) -> dict[str, float]:
    from services.qa.training.data import load_squad
    from services.qa.training.evaluate import predict, squad_scores
    from services.qa.training.pipeline import load_reader

    examples = [e for e in load_squad(xquad) if e.answers]
    preds = predict(load_reader(model_dir), examples)
    s = squad_scores({k: p.text for k, p in preds.items()}, examples)
    return {"em": round(s.exact_match, 2), "f1": round(s.f1, 2), "questions": s.questions}


def model_card(card: dict[str, Any], size: int) -> str:
    params = card.get("params", {})
    scores = card.get("scores", {})
    gpu = params.get("trained_elsewhere.gpu", "")
    how = (
        f"`python -m services.qa.training train` on a GPU machine ({gpu}; "
        "`scripts/train-reader-gpu.sh`), then evaluated, registered and promoted by "
        "`python -m services.qa.training run --trained` here"
        if gpu
        else "`make train-reader` (`services/qa/training`)"
    )
    lines = [
        "# arxivqa reader",
        "",
        "An extractive question-answering reader (BERT-style span prediction) fine-tuned by",
        f"{how}, from the all-MiniLM-L6-v2 encoder",
        "(6 layers, 384 hidden, 22.7M parameters). The qa service loads this directory by",
        "default and verifies the SHA-256 below before serving.",
        "",
        "## Files",
        "",
        "| file | SHA-256 |",
        "|---|---|",
    ]
    lines += [f"| `{n}` | `{d}` |" for n, d in card.get("weights_sha256", {}).items()]
    lines += [
        "",
        f"Stored in {card.get('stored_dtype', 'float32')} ({size / 1e6:.1f} MB in all); the",
        "service loads it as float32 on CPU.",
        "",
        "## Quality (SQuAD v1.1 EM/F1, through the serving Reader: 384-token windows,",
        "stride 128, answers up to 30 tokens)",
        "",
        "| eval set | questions | EM | F1 |",
        "|---|---|---|---|",
    ]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['questions']} | {s['em']:.1f} | {s['f1']:.1f} |")
    if "shipped_xquad_en" in card:
        s = card["shipped_xquad_en"]
        lines.append(
            f"| xquad-en, these float16 weights | {s['questions']} | "
            f"{s['em']:.1f} | {s['f1']:.1f} |"
        )
    lines += [
        "",
        "For scale: distilbert-base-cased-distilled-squad scores EM 79.6 / F1 87.0 on SQuAD",
        "v1.1 dev (XQuAD-en is a subset of it); the project's previous reader scored F1 18.9",
        "on XQuAD-en.",
        "",
    ]
    ab = card.get("abstention")
    if ab:
        ch = ab["chosen"]
        lines += [
            "## Abstaining",
            "",
            f"No-answer margin **{card.get('no_answer_margin', 0):.2f}**: an answer is returned",
            "only when its span score beats the [CLS] no-answer score by this much. Chosen on",
            f"{ab['calibration_set']} (answerable questions + the same questions paired with a",
            "passage of another article), maximising SQuAD 2.0-style F1 there: coverage",
            f"{ch['coverage']:.1f}% of answerable questions, {ch['false_answers']:.1f}% of",
            "wrong-passage questions answered anyway.",
            "",
            f"Precision against coverage on {ab['report_set']} (answerable + wrong passage):",
            "",
            "| margin | coverage | precision (mean F1 of answers given) | wrong-passage answered |",
            "|---|---|---|---|",
        ]
        for p in ab["report"]:
            m = "always answer" if p["margin"] < -1e8 else f"{p['margin']:.2f}"
            lines.append(
                f"| {m} | {p['coverage']:.1f}% | {p['precision']:.1f}% | "
                f"{p['false_answers']:.1f}% |"
            )
        lines.append("")
    data = {k: v for k, v in params.items() if k.startswith("data.")}
    hyper = {
        k: v
        for k, v in params.items()
        if not k.startswith(("data.", "features.", "split."))
        and k not in ("base_model", "trained_elsewhere.selection")
    }
    lines += [
        "## Training",
        "",
        f"Commit `{card.get('training_commit', 'unknown')}`. Data (files, SHA-256, shares,",
        "question counts) and the split:",
        "",
        "```",
        *[f"{k} = {v}" for k, v in sorted(data.items())],
        *[f"{k} = {v}" for k, v in sorted(params.items()) if k.startswith(("split.", "features."))],
        "```",
        "",
        "Hyper-parameters:",
        "",
        "```",
        *[f"{k} = {v}" for k, v in sorted(hyper.items())],
        "```",
        "",
        *_training_lines(card.get("training", {})),
        *_selection_lines(params),
        "## Limits",
        "",
        f"- A small model (22.7M parameters) trained on {params.get('data.train_questions', '?')}"
        f" questions in {card.get('training', {}).get('train_seconds', 0) / 60:.0f} minutes on "
        f"{gpu or '2 CPU cores'}:",
        "  well below SQuAD-trained BERT readers (see the F1 gap above).",
        "- Trained on Wikipedia, reviews, Reddit, fairy tales and COVID-19 papers; scientific",
        "  prose other than biomedical is out of domain. Long answers (over 30 tokens) are cut.",
        "- English only; lower-cased vocabulary (uncased BERT tokenizer).",
        "",
        "## Licence of the training data",
        "",
        "SQuADShifts (CC BY 4.0), QED (CC BY-SA 3.0), FairytaleQA (Apache-2.0), COVID-QA",
        "(Apache-2.0); base model all-MiniLM-L6-v2 (Apache-2.0).",
        "",
    ]
    return "\n".join(lines)


def _selection_lines(params: dict[str, Any]) -> list[str]:
    """How a reader trained elsewhere was chosen, and from what base weights."""
    raw = params.get("trained_elsewhere.selection")
    if not raw:
        return []
    sel = json.loads(raw) if isinstance(raw, str) else raw
    sets = sorted({s for f1s in sel["dev_f1"].values() for s in f1s})
    lines = [
        f"Chosen among {len(sel['configs'])} configurations trained side by side on the "
        f"same machine, on the {sel['chosen_on']} (the sets that report, XQuAD-en and the",
        "COVID-QA held-out papers, played no part in the choice):",
        "",
        "| config | train options | " + " | ".join(f"{s} F1" for s in sets) + " |",
        "|---|---|" + "---|" * len(sets),
    ]
    for name in sorted(sel["configs"]):
        mark = " (chosen)" if name == sel["chosen"] else ""
        f1s = sel["dev_f1"].get(name, {})
        cells = " | ".join(f"{f1s.get(s, float('nan')):.2f}" for s in sets)
        lines.append(f"| {name}{mark} | `{sel['configs'][name]}` | {cells} |")
    sha = params.get("base_model.model.safetensors.sha256", "")
    if sha:
        lines += [
            "",
            "The base weights went to that machine rounded to float16 (SHA-256 "
            f"`{sha}`) and were trained in float32.",
        ]
    return [*lines, ""]


def _training_lines(facts: dict[str, Any]) -> list[str]:
    if not facts.get("train_steps"):
        return []
    lines = [
        f"Trained {int(facts['train_steps'])} steps, {int(facts.get('windows_seen', 0))} windows "
        f"in {facts.get('train_seconds', 0) / 60:.1f} min "
        f"({facts.get('seconds_per_step', 0):.2f} s/step, "
        f"{facts.get('windows_per_second', 0):.2f} windows/s); evaluation took "
        f"{facts.get('evaluate_seconds', 0) / 60:.1f} min.",
    ]
    if facts.get("run_id"):
        lines.append(f"MLflow run `{facts['run_id']}`.")
    return [*lines, ""]
