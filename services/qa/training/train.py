"""Train step: fine-tune ``AutoModelForQuestionAnswering`` from a base encoder.

A plain torch loop rather than ``transformers.Trainer``: Trainer needs ``accelerate``
(another dependency), and the loop is short enough to read in one screen, gives exact
control of seeding, shuffling and the time-per-step figure the 60-minute budget rests on,
and runs the same on CPU and GPU.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from services.common.errors import InvalidArgument
from services.qa.training.config import TrainConfig, default_base_model, pick_device
from services.qa.training.data import TrainFeatures

__all__ = ["TrainConfig", "TrainResult", "default_base_model", "pick_device", "train"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    steps: int
    seconds: float
    seconds_per_step: float
    final_loss: float
    device: str
    windows_seen: int = 0
    windows_per_second: float = 0.0
    padded_tokens: int = 0  # tokens fed to the model, padding included


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_tokenizer(source: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"cannot load a tokenizer from {source!r}: {exc}") from exc
    if not tok.is_fast:
        raise InvalidArgument(f"{source!r} has no fast tokenizer (offset mappings are needed)")
    from services.qa.reader import check_windowing

    check_windowing(tok)  # training windows are cut the way the reader cuts them
    return tok


def load_qa_model(source: str) -> Any:
    """The model in float32, whatever dtype its weights are stored in (transformers 5
    loads a float16 checkpoint, such as the shipped reader, as float16 by default, and
    training in float16 without loss scaling goes wrong)."""
    from transformers import AutoModelForQuestionAnswering
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "qa_outputs newly initialised" report is expected
    try:
        return AutoModelForQuestionAnswering.from_pretrained(source, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(
            f"cannot load {source!r} as a question-answering model: {exc}"
        ) from exc
    finally:
        hf_logging.set_verbosity(level)


def _padded(seqs: list[list[int]], value: int, width: int = 0) -> torch.Tensor:
    width = max(width, max(len(s) for s in seqs))
    return torch.tensor([s + [value] * (width - len(s)) for s in seqs], dtype=torch.long)


def total_steps(n_features: int, config: TrainConfig) -> int:
    steps = config.epochs * math.ceil(n_features / config.batch_size)
    return min(steps, config.max_steps) if config.max_steps > 0 else steps


def length_grouped_batches(
    lengths: list[int], batch_size: int, generator: torch.Generator, group: int = 64
) -> list[list[int]]:
    """One epoch of batches: shuffled, then sorted by length inside groups of ``group``
    batches, so each batch pads only to a similar length; the batches are shuffled again
    so that long and short ones alternate (no length trend over the epoch)."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    span = batch_size * group
    batches: list[list[int]] = []
    for g in range(0, len(order), span):
        part = sorted(order[g : g + span], key=lambda r: lengths[r])
        batches += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[k] for k in shuffle]


class Schedule:
    """Linear warm-up, then linear decay to 0, over steps or over a wall-clock budget.

    With ``budget_seconds`` the progress is the larger of the step and the time fraction,
    so a run on a slower or busier machine still ends on time, with its learning rate
    annealed to 0, having seen fewer windows (it records how many).
    """

    def __init__(self, steps: int, warmup_ratio: float, budget_seconds: float = 0.0) -> None:
        self.steps = steps
        self.warmup_ratio = warmup_ratio
        self.budget = budget_seconds
        self.t0 = time.perf_counter()

    def progress(self, step: int) -> float:
        p = step / max(1, self.steps)
        if self.budget > 0:
            p = max(p, (time.perf_counter() - self.t0) / self.budget)
        return p

    def factor(self, step: int) -> float:
        p = self.progress(step)
        if p < self.warmup_ratio:
            return max(p, 1.0 / max(1, self.steps)) / self.warmup_ratio
        return max(0.0, (1.0 - p) / max(1e-9, 1.0 - self.warmup_ratio))


def train(
    config: TrainConfig,
    features: TrainFeatures,
    tokenizer: Any,
    out_dir: Path,
    *,
    float16: bool = False,
) -> TrainResult:
    """Fine-tune, then save the model and tokenizer to ``out_dir`` (a loadable directory);
    with ``float16`` the weights are stored in half precision (half the size to carry)."""
    config.validate()
    if len(features) == 0:
        raise InvalidArgument("no training windows: the training files yielded no features")
    seed_everything(config.seed)
    device = pick_device(config.device or None)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 tensor cores for the matmuls
        torch.backends.cudnn.allow_tf32 = True
    model = load_qa_model(config.resolved_base()).to(device)
    model.train()
    if config.freeze_embeddings:
        # The word-embedding matrix is half of a MiniLM's weights; a small QA set barely
        # moves it, and skipping its gradient and optimizer update saves time every step.
        model.get_input_embeddings().weight.requires_grad_(False)
    steps = total_steps(len(features), config)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {
            "params": [p for n, p in trainable if not n.endswith(no_decay)],
            "weight_decay": config.weight_decay,
        },
        {
            "params": [p for n, p in trainable if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    schedule = Schedule(steps, config.warmup_ratio, config.time_budget_minutes * 60.0)
    generator = torch.Generator().manual_seed(config.seed)
    pad_id = tokenizer.pad_token_id or 0
    lengths = [len(x) for x in features.input_ids]
    step, loss_value, windows_seen, tokens_seen = 0, float("nan"), 0, 0
    log.info(
        "training %s on %d windows for at most %d steps%s on %s",
        config.resolved_base(),
        len(features),
        steps,
        f" or {config.time_budget_minutes:g} min" if config.time_budget_minutes > 0 else "",
        device,
    )
    t0 = time.perf_counter()
    done = False
    while not done and step < steps:
        if config.group_by_length:
            batches = length_grouped_batches(lengths, config.batch_size, generator)
        else:
            order = torch.randperm(len(features), generator=generator).tolist()
            batches = [
                order[b : b + config.batch_size] for b in range(0, len(order), config.batch_size)
            ]
        for rows in batches:
            factor = schedule.factor(step)
            if step >= steps or (step > 0 and schedule.progress(step) >= 1.0):
                done = True
                break
            for g in optimizer.param_groups:
                g["lr"] = config.learning_rate * factor
            ids = [features.input_ids[r] for r in rows]
            width = config.max_seq_len if config.pad_to_max else max(map(len, ids))
            out = model(
                input_ids=_padded(ids, pad_id, width).to(device),
                token_type_ids=_padded([features.token_type_ids[r] for r in rows], 0, width).to(
                    device
                ),
                attention_mask=_padded([[1] * len(x) for x in ids], 0, width).to(device),
                start_positions=torch.tensor([features.start[r] for r in rows]).to(device),
                end_positions=torch.tensor([features.end[r] for r in rows]).to(device),
            )
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in trainable], config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            windows_seen += len(rows)
            tokens_seen += len(rows) * width
            loss_value = float(out.loss.detach())
            if step % 50 == 0 or step == steps:
                elapsed = time.perf_counter() - t0
                log.info(
                    "step %d/%d loss %.4f lr %.2e (%.2fs/step, %.1f windows/s, %.0f%% done)",
                    step,
                    steps,
                    loss_value,
                    config.learning_rate * factor,
                    elapsed / step,
                    windows_seen / elapsed,
                    100 * schedule.progress(step),
                )
    seconds = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    (model.half() if float16 else model).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return TrainResult(
        steps=step,
        seconds=seconds,
        seconds_per_step=seconds / max(1, step),
        final_loss=loss_value,
        device=str(device),
        windows_seen=windows_seen,
        windows_per_second=windows_seen / max(seconds, 1e-9),
        padded_tokens=tokens_seen,
    )
