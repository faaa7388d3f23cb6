"""The ONNX Runtime backend: export on first use, the verified cache, int8, threads, parity."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import pytest

from services.common import onnxrt
from services.common.errors import InvalidArgument
from services.embedder.model import DEFAULT_WEIGHTS_SHA256, SentenceEmbedder, _chunks


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="session")
def torch_embedder() -> SentenceEmbedder:
    model = SentenceEmbedder(backend="torch")
    model.warm_up()
    return model


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty cache directory: the first model built on it exports (a fresh clone's start)."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def exported(fresh_cache: Path) -> SentenceEmbedder:
    model = SentenceEmbedder(cache_dir=fresh_cache)
    model.warm_up()
    return model


def _folder(cache: Path) -> Path:
    return cache / f"embedder-mean-pooled-{DEFAULT_WEIGHTS_SHA256}"


def test_onnx_is_the_default_backend(embedder: SentenceEmbedder) -> None:
    assert embedder.backend == "onnx"
    assert embedder.onnx_path is not None and embedder.onnx_path.name == "model.onnx"


@pytest.mark.slow
def test_first_start_exports_and_records_what_the_file_was_made_from(
    exported: SentenceEmbedder, fresh_cache: Path
) -> None:
    folder = _folder(fresh_cache)
    assert exported.onnx_path == folder / "model.onnx"
    meta = json.loads((folder / onnxrt.META_FILE).read_text())["model.onnx"]
    assert meta["weights_sha256"] == DEFAULT_WEIGHTS_SHA256
    assert meta["onnx_sha256"] == onnxrt.sha256_file(folder / "model.onnx")
    assert meta["format"] == onnxrt.EXPORT_FORMAT
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp.onnx")]


@pytest.mark.slow
def test_a_second_start_reuses_the_verified_file(
    exported: SentenceEmbedder, fresh_cache: Path, short_texts: list[str]
) -> None:
    path = _folder(fresh_cache) / "model.onnx"
    before = path.stat().st_mtime_ns
    again = SentenceEmbedder(cache_dir=fresh_cache)
    t0 = time.perf_counter()
    again.warm_up()
    assert path.stat().st_mtime_ns == before  # not exported again
    assert time.perf_counter() - t0 < 30
    np.testing.assert_allclose(
        again.encode(short_texts).vectors, exported.encode(short_texts).vectors, atol=1e-6
    )


@pytest.mark.slow
def test_an_altered_cached_file_is_exported_again(
    exported: SentenceEmbedder, tmp_path: Path, short_texts: list[str]
) -> None:
    assert exported.onnx_path is not None
    cache = tmp_path / "cache"
    folder = _folder(cache)
    folder.mkdir(parents=True)
    for item in exported.onnx_path.parent.iterdir():
        if item.is_file() and not item.name.startswith("."):
            (folder / item.name).write_bytes(item.read_bytes())
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the weights
    (folder / "model.onnx").write_bytes(bytes(data))

    model = SentenceEmbedder(cache_dir=cache)
    model.warm_up()
    assert onnxrt.sha256_file(folder / "model.onnx") == onnxrt.sha256_file(exported.onnx_path)
    assert _cos(model.encode(short_texts).vectors, exported.encode(short_texts).vectors).min() > (
        0.999999
    )


def test_the_cache_is_keyed_by_the_weights_sha256(tmp_path: Path) -> None:
    calls: list[Path] = []

    def export(path: Path) -> None:
        calls.append(path)
        path.write_bytes(b"graph for " + path.name.encode())

    one = onnxrt.cached_onnx(kind="k", weights_sha256="a" * 64, export=export, cache_dir=tmp_path)
    same = onnxrt.cached_onnx(kind="k", weights_sha256="a" * 64, export=export, cache_dir=tmp_path)
    other = onnxrt.cached_onnx(kind="k", weights_sha256="b" * 64, export=export, cache_dir=tmp_path)
    assert one == same != other
    assert len(calls) == 2
    assert one.parent.name == f"k-{'a' * 64}" and other.parent.name == f"k-{'b' * 64}"


def test_an_export_that_fails_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    def export(path: Path) -> None:
        path.write_bytes(b"half a graph")
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError, match="exporter crashed"):
        onnxrt.cached_onnx(kind="k", weights_sha256="c" * 64, export=export, cache_dir=tmp_path)
    folder = tmp_path / f"k-{'c' * 64}"
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_both_backends_match_sentence_transformers(
    backend: str,
    embedder: SentenceEmbedder,
    torch_embedder: SentenceEmbedder,
    abstracts: list[str],
    short_texts: list[str],
) -> None:
    from sentence_transformers import SentenceTransformer

    from services.embedder.model import default_model_dir

    model = embedder if backend == "onnx" else torch_embedder
    assert model.backend == backend
    texts = [*abstracts, *short_texts]
    reference = SentenceTransformer(str(default_model_dir()), device="cpu")
    expected = reference.encode(texts, batch_size=16, convert_to_numpy=True)
    cos = _cos(model.encode(texts, batch_size=16).vectors, expected)
    assert cos.min() >= 0.9999, f"{backend}: lowest cosine {cos.min():.7f} at {cos.argmin()}"


def test_onnx_and_torch_agree_on_padded_batches(
    embedder: SentenceEmbedder, torch_embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    texts = [*short_texts, " ".join(short_texts * 6)]  # one row padded up to 256 tokens
    cos = _cos(embedder.encode(texts).vectors, torch_embedder.encode(texts).vectors)
    assert cos.min() >= 0.99999, cos


@pytest.mark.slow
def test_int8_is_opt_in_and_close_to_fp32(
    exported: SentenceEmbedder, fresh_cache: Path, short_texts: list[str]
) -> None:
    int8 = SentenceEmbedder(cache_dir=fresh_cache, quantize=True)
    int8.warm_up()
    assert int8.backend == "onnx-int8"
    assert int8.onnx_path == _folder(fresh_cache) / "model.int8.onnx"
    assert int8.onnx_path.stat().st_size < exported.onnx_path.stat().st_size / 2  # type: ignore[union-attr]
    meta = json.loads((_folder(fresh_cache) / onnxrt.META_FILE).read_text())
    assert meta["model.int8.onnx"]["quantized"] == "int8-dynamic"
    cos = _cos(int8.encode(short_texts).vectors, exported.encode(short_texts).vectors)
    assert cos.min() > 0.98, cos


def test_threads_follow_the_process_cpu_share(embedder: SentenceEmbedder) -> None:
    share = onnxrt.cpu_share()
    assert 1 <= share <= len(os.sched_getaffinity(0))
    opts = embedder._session.get_session_options()
    assert opts.intra_op_num_threads == share
    assert opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_an_idle_session_burns_no_cpu(embedder: SentenceEmbedder, short_texts: list[str]) -> None:
    embedder.encode(short_texts)

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    before = cpu()
    time.sleep(0.5)
    assert cpu() - before < 0.05  # no intra-op thread spinning while waiting for work


def test_forward_passes_respect_the_token_budget() -> None:
    counts = [256, 200, 30, 20, 10, 10, 10, 5]
    order = list(range(len(counts)))
    chunks = list(_chunks(order, counts, 64, 512))
    assert chunks == [[0, 1], [2, 3, 4, 5, 6, 7]]
    for chunk in chunks:
        assert len(chunk) * max(counts[i] for i in chunk) <= 512
    assert list(_chunks(order, counts, 3, None)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert list(_chunks([0], [900], 64, 512)) == [[0]]  # longer than the budget: alone


def test_results_do_not_depend_on_the_token_budget(
    embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    texts = [*short_texts, " ".join(short_texts * 4)]
    tight = SentenceEmbedder(max_batch_tokens=64)
    np.testing.assert_allclose(
        tight.encode(texts).vectors, embedder.encode(texts).vectors, atol=1e-5
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "tensorrt"}, "backend must be one of onnx, torch"),
        ({"backend": "torch", "quantize": True}, "quantize needs the onnx backend"),
        ({"device": "cuda:0"}, "onnx backend runs on the CPU only"),
        ({"threads": 0}, "threads must be at least 1"),
        ({"max_batch_tokens": 0}, "max_batch_tokens must be at least 1"),
    ],
)
def test_bad_backend_arguments_are_rejected(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        SentenceEmbedder(**kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_the_server_process_serves_either_backend_from_its_settings(
    backend: str, embedder: SentenceEmbedder, short_texts: list[str], tmp_path: Path
) -> None:
    """A fresh cache directory: with the onnx backend the process exports at its first start
    (what a fresh clone or a new container does) before it reports SERVING."""
    import subprocess
    import sys

    import grpc

    from arxivqa.embedder.v1 import embedder_pb2, embedder_pb2_grpc
    from services.common.healthcheck import check
    from services.devtools.redis_server import free_port

    port = free_port()
    cache = tmp_path / "onnx"
    env = dict(
        os.environ,
        ARXIVQA_EMBEDDER_PORT=str(port),
        ARXIVQA_EMBEDDER_BACKEND=backend,
        ARXIVQA_EMBEDDER_CACHE_DIR=str(cache),
        ARXIVQA_EMBEDDER_THREADS="1",
        OTEL_SDK_DISABLED="true",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.embedder.server"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    target = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while check(target, timeout=1)[0] is False:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not become SERVING"
            time.sleep(0.2)
        with grpc.insecure_channel(target) as channel:
            response = embedder_pb2_grpc.EmbedderStub(channel).Embed(
                embedder_pb2.EmbedRequest(texts=short_texts), timeout=60
            )
        got = np.array([list(e.values) for e in response.embeddings], dtype=np.float32)
        assert _cos(got, embedder.encode(short_texts).vectors).min() > 0.9999
        exported = (_folder(cache) / "model.onnx").is_file()
        assert exported == (backend == "onnx")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
