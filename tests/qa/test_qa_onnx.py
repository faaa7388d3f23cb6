"""The reader's ONNX Runtime backend: same answers as torch on the shipped reader.

Parity bars (issue 12): XQuAD-en F1 within 0.5 point of torch in fp32 and within 1.5
points in int8, through the serving ``Reader`` (the same windows and decoding).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.qa.reader import Passage, Reader
from services.qa.server import SHIPPED_READER
from services.qa.training.data import load_squad
from services.qa.training.evaluate import predict, squad_scores

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def _f1(reader: Reader, examples: list) -> float:  # type: ignore[type-arg]
    preds = predict(reader, examples)
    return squad_scores({k: p.text for k, p in preds.items()}, examples).f1


@pytest.fixture(scope="module")
def xquad(shared_data: Path) -> list:  # type: ignore[type-arg]
    return [e for e in load_squad(shared_data / "qa" / "xquad_en.json") if e.answers]


@pytest.fixture(scope="module")
def torch_f1(xquad: list) -> float:  # type: ignore[type-arg]
    reader = Reader(str(SHIPPED_READER))
    reader.warm_up()
    return _f1(reader, xquad)


@pytest.mark.parametrize(("quantize", "bar"), [(False, 0.5), (True, 1.5)])
def test_onnx_matches_torch_on_xquad(
    xquad: list,  # type: ignore[type-arg]
    torch_f1: float,
    quantize: bool,
    bar: float,
    tmp_path: Path,
) -> None:
    reader = Reader(str(SHIPPED_READER), backend="onnx", quantize=quantize, cache_dir=tmp_path)
    reader.warm_up()
    assert reader.backend == "onnx"
    f1 = _f1(reader, xquad)
    assert abs(f1 - torch_f1) <= bar, (f1, torch_f1)


def test_the_export_is_cached_by_the_weights_hash(tmp_path: Path) -> None:
    first = Reader(str(SHIPPED_READER), backend="onnx", cache_dir=tmp_path)
    first.warm_up()
    (folder,) = list(tmp_path.iterdir())
    assert folder.name.startswith("qa-span-logits-")
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    second = Reader(str(SHIPPED_READER), backend="onnx", cache_dir=tmp_path)
    second.warm_up()
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp  # reused, not re-exported
    passages = [Passage("The closest distance of the Moon to Earth was about 259000 km.")]
    got = second.answer("What was the closest distance of the Moon to Earth?", passages)
    assert got.answers and "259000 km" in got.answers[0].text
