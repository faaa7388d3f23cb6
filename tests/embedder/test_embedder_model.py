"""The embedding core: parity with sentence-transformers, truncation, weights verification."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.common.errors import InvalidArgument
from services.embedder.model import (
    DEFAULT_MODEL_ID,
    DEFAULT_WEIGHTS_SHA256,
    SentenceEmbedder,
    WeightsChecksumMismatch,
    check_texts,
    default_model_dir,
)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


@pytest.mark.slow
@pytest.mark.shared_data
def test_vectors_equal_sentence_transformers_on_real_abstracts(
    embedder: SentenceEmbedder, abstracts: list[str]
) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(default_model_dir()), device="cpu")
    assert reference.max_seq_length == embedder.max_tokens == 256
    expected = reference.encode(abstracts, batch_size=16, convert_to_numpy=True)
    got = embedder.encode(abstracts, batch_size=16)

    assert got.vectors.dtype == np.float32
    assert got.vectors.shape == (len(abstracts), 384) == expected.shape
    np.testing.assert_allclose(np.linalg.norm(got.vectors, axis=1), 1.0, atol=1e-5)
    cos = _cos(got.vectors, expected)
    assert cos.min() >= 0.9999, f"lowest cosine {cos.min():.6f} at abstract {cos.argmin()}"
    # The sample holds abstracts longer than the window: they are cut at exactly 256 tokens.
    assert any(got.truncated), "expected some abstracts over 256 tokens in the sample"
    for cut, count in zip(got.truncated, got.token_counts, strict=True):
        assert count == 256 if cut else count <= 256


def test_truncation_is_reported_per_text(embedder: SentenceEmbedder) -> None:
    long_text = " ".join(["citation"] * 400)
    result = embedder.encode(["a short title", long_text, "another short one"])
    assert result.truncated == [False, True, False]
    assert result.token_counts[1] == embedder.max_tokens == 256
    assert result.token_counts[0] == 5  # [CLS] a short title [SEP]
    # The truncated vector is the vector of the text cut to the window, not of the full text.
    window = embedder.encode([" ".join(["citation"] * 254)])
    assert window.truncated == [False]
    assert _cos(result.vectors[1:2], window.vectors)[0] > 0.99999


def test_results_do_not_depend_on_batching_or_length_sorting(
    embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    texts = [*short_texts, " ".join(short_texts)]
    together = embedder.encode(texts, batch_size=64)
    one_by_one = np.concatenate([embedder.encode([t]).vectors for t in texts])
    in_order = embedder.encode(texts, batch_size=3, sort_by_length=False)
    assert _cos(together.vectors, one_by_one).min() > 0.99999
    assert _cos(in_order.vectors, together.vectors).min() > 0.99999


def test_empty_input_gives_an_empty_result(embedder: SentenceEmbedder) -> None:
    result = embedder.encode([])
    assert result.vectors.shape == (0, 384)
    assert result.truncated == [] and result.token_counts == []


def test_default_model_is_the_pinned_package(embedder: SentenceEmbedder) -> None:
    assert embedder.model_id == DEFAULT_MODEL_ID
    assert embedder.source == str(default_model_dir())
    assert embedder.weights_sha256 == DEFAULT_WEIGHTS_SHA256
    assert (embedder.dimension, embedder.max_tokens, embedder.normalized) == (384, 256, True)


def test_altered_weights_refuse_to_load(altered_model: Path) -> None:
    model = SentenceEmbedder(str(altered_model), expected_sha256=DEFAULT_WEIGHTS_SHA256)
    with pytest.raises(WeightsChecksumMismatch) as exc:
        model.warm_up()
    message = str(exc.value)
    assert "refusing to load" in message and DEFAULT_WEIGHTS_SHA256 in message
    assert not model.ready
    with pytest.raises(WeightsChecksumMismatch):
        model.encode(["still refused"])


@pytest.mark.slow  # a server process (~2.5 s): the in-process refusal above and
# test_embedder_api.py::test_altered_weights_keep_the_service_not_serving stay fast
def test_the_server_process_refuses_to_start_with_altered_weights(altered_model: Path) -> None:
    env = {
        "ARXIVQA_EMBEDDER_MODEL": str(altered_model),
        "ARXIVQA_EMBEDDER_WEIGHTS_SHA256": DEFAULT_WEIGHTS_SHA256,
        "ARXIVQA_EMBEDDER_PORT": "0",
        "OTEL_SDK_DISABLED": "true",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "services.embedder.server"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode != 0
    assert "failed to start" in proc.stderr and "SHA-256" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_window_comes_from_sentence_bert_config(model_copy: Path, tmp_path: Path) -> None:
    target = tmp_path / "short-window"
    shutil.copytree(model_copy, target)
    (target / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 32}))
    model = SentenceEmbedder(str(target), expected_sha256=DEFAULT_WEIGHTS_SHA256)
    result = model.encode([" ".join(["graph"] * 40)])
    assert model.max_tokens == 32 and result.truncated == [True]
    assert result.token_counts == [32]
    assert model.model_id == "short-window"
    # An explicit max_length wins over the file.
    explicit = SentenceEmbedder(str(target), max_length=64).encode([" ".join(["graph"] * 40)])
    assert explicit.truncated == [False] and explicit.token_counts == [42]


@pytest.mark.parametrize(
    ("source", "kwargs", "match"),
    [
        ("/no/such/model/dir", {}, "neither a model directory nor a hub id"),
        (None, {"max_length": 2}, "max_length must be at least 8"),
        (None, {"expected_sha256": "abc"}, "64 hex digits"),
    ],
)
def test_bad_constructor_arguments_are_rejected(
    source: str | None, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidArgument, match=match):
        SentenceEmbedder(source, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        ([], "texts is empty"),
        (["fine", ""], r"texts\[1\] is empty or whitespace only"),
        (["fine", "ok", " \t\n "], r"texts\[2\] is empty or whitespace only"),
        (["a"] * 5, "too many texts: 5 in one request, the limit is 4"),
        (["ok", "x" * 11], r"texts\[1\] has 11 characters, over the limit of 10"),
    ],
)
def test_check_texts_names_the_offending_item(texts: list[str], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        check_texts(texts, max_texts=4, max_chars=10)
    check_texts(["fine"], max_texts=4, max_chars=10)
