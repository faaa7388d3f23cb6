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
    return tok


def load_qa_model(source: str) -> Any:
    from transformers import AutoModelForQuestionAnswering
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "qa_outputs newly initialised" report is expected
    try:
        return AutoModelForQuestionAnswering.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(
            f"cannot load {source!r} as a question-answering model: {exc}"
        ) from exc
    finally:
        hf_logging.set_verbosity(level)


def _padded(seqs: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (width - len(s)) for s in seqs], dtype=torch.long)


def total_steps(n_features: int, config: TrainConfig) -> int:
    steps = config.epochs * math.ceil(n_features / config.batch_size)
    return min(steps, config.max_steps) if config.max_steps > 0 else steps


def train(
    config: TrainConfig, features: TrainFeatures, tokenizer: Any, out_dir: Path
) -> TrainResult:
    """Fine-tune, then save the model and tokenizer to ``out_dir`` (a loadable directory)."""
    config.validate()
    if len(features) == 0:
        raise InvalidArgument("no training windows: the training files yielded no features")
    seed_everything(config.seed)
    device = pick_device(config.device or None)
    model = load_qa_model(config.resolved_base()).to(device)
    model.train()
    steps = total_steps(len(features), config)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": config.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    warmup = int(steps * config.warmup_ratio)

    def lr_factor(step: int) -> float:  # linear warm-up, then linear decay to 0
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    generator = torch.Generator().manual_seed(config.seed)
    pad_id = tokenizer.pad_token_id or 0
    step, loss_value = 0, float("nan")
    log.info(
        "training %s on %d windows for %d steps on %s",
        config.resolved_base(),
        len(features),
        steps,
        device,
    )
    t0 = time.perf_counter()
    while step < steps:
        order = torch.randperm(len(features), generator=generator).tolist()
        for b in range(0, len(order), config.batch_size):
            if step >= steps:
                break
            rows = order[b : b + config.batch_size]
            ids = [features.input_ids[r] for r in rows]
            out = model(
                input_ids=_padded(ids, pad_id).to(device),
                token_type_ids=_padded([features.token_type_ids[r] for r in rows], 0).to(device),
                attention_mask=_padded([[1] * len(x) for x in ids], 0).to(device),
                start_positions=torch.tensor([features.start[r] for r in rows]).to(device),
                end_positions=torch.tensor([features.end[r] for r in rows]).to(device),
            )
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = float(out.loss.detach())
            if step % 50 == 0 or step == steps:
                log.info(
                    "step %d/%d loss %.4f (%.2fs/step)",
                    step,
                    steps,
                    loss_value,
                    (time.perf_counter() - t0) / step,
                )
    seconds = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return TrainResult(
        steps=step,
        seconds=seconds,
        seconds_per_step=seconds / max(1, step),
        final_loss=loss_value,
        device=str(device),
    )
