"""The reader shipped in models/reader: it loads, is verified, and answers real questions.

The questions are about real arXiv abstracts of the demo data (the Kaggle sample in
../shared/data/arxiv); each is read together with four other abstracts, as Ask does, so
the reader must find the right paper as well as the right span. Questions written for
this test, not taken from any training set.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.qa.reader import READER_CARD, ModelNotUsable, Passage, Reader, verify_model_dir
from services.qa.server import SHIPPED_READER, Settings
from services.qa.training.evaluate import f1_score

pytestmark = pytest.mark.slow

# (paper, question, gold answer)
QUESTIONS = [
    (
        "0704.0001",
        "Data from which collider show good agreement with the calculation?",
        "the Fermilab Tevatron",
    ),
    ("0704.0002", "What new algorithm is described?", "the (k,\\ell)-pebble game with colors"),
    ("0704.0003", "What was the closest distance of the Moon to Earth?", "about 259000 km"),
    (
        "0704.0006",
        "What controls the interaction strengths in the Fermi gas?",
        "Feshbach resonance",
    ),
    (
        "0704.0016",
        "In what model are the hadronic matrix elements evaluated?",
        "the simple non-relativistic harmonic oscillator model",
    ),
    (
        "0704.0023",
        "Which instrument will provide high resolution observations at mm wavelengths?",
        "ALMA",
    ),
    ("0704.0027", "At what magnetic field is the effect most pronounced?", "B_0 ~ 30 T"),
    (
        "0704.0032",
        "In what kind of detector could NSI effects be detected?",
        "a Megaton water Cherenkov detector",
    ),
]


def _needs_reader() -> Path:
    if not (SHIPPED_READER / "config.json").is_file():
        pytest.fail(f"the shipped reader is missing at {SHIPPED_READER}")
    return SHIPPED_READER


@pytest.fixture(scope="module")
def abstracts(shared_data: Path) -> dict[str, str]:
    out = {}
    for line in (shared_data / "arxiv" / "kaggle_sample_200.jsonl").open():
        rec = json.loads(line)
        out[rec["id"]] = " ".join(rec["abstract"].split())
    return out


@pytest.fixture(scope="module")
def reader() -> Reader:
    r = Reader(str(_needs_reader()))
    r.warm_up()
    return r


def test_the_qa_service_serves_the_shipped_reader_by_default(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ARXIVQA_QA_MODEL", raising=False)
    assert Settings().model == str(SHIPPED_READER)
    card = verify_model_dir(_needs_reader())
    assert card["weights_sha256"] and 0 < card["scores"]["xquad-en"]["f1"] <= 100
    size = sum(f.stat().st_size for f in SHIPPED_READER.iterdir() if f.is_file())
    assert size <= 50 * 1024 * 1024


@pytest.mark.shared_data
def test_the_shipped_reader_answers_real_questions_over_five_abstracts(
    reader: Reader, abstracts: dict[str, str]
) -> None:
    ids = [p for p, _, _ in QUESTIONS]
    right = []
    for i, (paper, question, gold) in enumerate(QUESTIONS):
        others = [ids[(i + k) % len(ids)] for k in range(1, 5)]
        passages = [Passage(text=abstracts[p], id=p, paper_id=p) for p in [*others, paper]]
        result = reader.answer(question, passages, top_k=1, allow_no_answer=False)
        best = result.answers[0]
        text = passages[best.passage_index].text
        assert text[best.start : best.end] == best.text  # exact offsets
        assert best.evidence_start <= best.start < best.end <= best.evidence_end
        assert text[best.evidence_start : best.evidence_end] == best.evidence
        if best.paper_id == paper and f1_score(best.text, gold) >= 0.5:
            right.append(question)
    assert len(right) >= 5, f"only {len(right)} of {len(QUESTIONS)} right: {right}"


@pytest.mark.shared_data
def test_a_passage_from_another_paper_gets_no_answer_more_often_than_not(
    reader: Reader, abstracts: dict[str, str]
) -> None:
    abstained = 0
    for i, (_, question, _) in enumerate(QUESTIONS):
        wrong = QUESTIONS[(i + 3) % len(QUESTIONS)][0]
        result = reader.answer(
            question, [Passage(text=abstracts[wrong], id=wrong)], allow_no_answer=True
        )
        abstained += result.no_answer
    assert abstained >= len(QUESTIONS) // 2


def test_a_corrupted_shipped_reader_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "reader"
    shutil.copytree(_needs_reader(), copy)
    card = json.loads((copy / READER_CARD).read_text())
    name = next(iter(card["weights_sha256"]))
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(ModelNotUsable, match="corrupted or were replaced"):
        Reader(str(copy)).warm_up()
