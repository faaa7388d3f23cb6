"""End to end with a trained model: fine-tune a tiny random BERT on a handful of real
SQuAD-format questions (XQuAD English) until the reader, loading it from ``save_pretrained``
like any deployed model, extracts their answers from both paragraphs read together.

This proves the training-compatible path: the same tokenizer windows (question first,
``only_second`` truncation, offsets) label the training features that the reader decodes,
and no-answer training on the other paragraph makes scores comparable across passages.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from services.qa.reader import Passage, Reader

MAX_SEQ_LEN = 384
STRIDE = 128


def _normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, articles or extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _examples(shared_data: Path) -> tuple[list[str], list[tuple[str, int, str, int]]]:
    data = json.loads((shared_data / "qa" / "xquad_en.json").read_text(encoding="utf-8"))
    paragraphs = data["data"][0]["paragraphs"][:2]
    contexts = [p["context"] for p in paragraphs]
    qas = []
    for ci, p in enumerate(paragraphs):
        for qa in p["qas"][:4]:
            ans = qa["answers"][0]
            assert p["context"][ans["answer_start"] :].startswith(ans["text"])
            qas.append((qa["question"], ci, ans["text"], ans["answer_start"]))
    return contexts, qas


def _features(tokenizer, contexts, qas):  # type: ignore[no-untyped-def]
    """Each question against its own paragraph (the gold span) and the other one (CLS)."""
    questions, texts, starts, ends = [], [], [], []
    for question, ci, answer, char_start in qas:
        for cj, context in enumerate(contexts):
            enc = tokenizer(
                question,
                context,
                truncation="only_second",
                max_length=MAX_SEQ_LEN,
                stride=STRIDE,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
            )
            assert len(enc["input_ids"]) == 1, "paragraph longer than one window"
            s = e = 0
            if cj == ci:
                seq = enc.sequence_ids(0)
                char_end = char_start + len(answer)
                for t, (a, b) in enumerate(enc["offset_mapping"][0]):
                    if seq[t] != 1:
                        continue
                    if a <= char_start < b:
                        s = t
                    if a < char_end <= b:
                        e = t
                assert 0 < s <= e
            questions.append(question)
            texts.append(context)
            starts.append(s)
            ends.append(e)
    batch = tokenizer(
        questions,
        texts,
        truncation="only_second",
        max_length=MAX_SEQ_LEN,
        padding=True,
        return_tensors="pt",
    )
    batch["start_positions"] = torch.tensor(starts)
    batch["end_positions"] = torch.tensor(ends)
    return batch


def _exact(model_dir: Path, contexts: list[str], qas) -> int:  # type: ignore[no-untyped-def]
    reader = Reader(str(model_dir), max_seq_len=MAX_SEQ_LEN, stride=STRIDE)
    passages = [Passage(c, id=f"para{i}") for i, c in enumerate(contexts)]
    hits = 0
    for question, ci, answer, char_start in qas:
        best = reader.answer(question, passages, top_k=1).answers[0]
        ok = _normalise(best.text) == _normalise(answer) and best.passage_index == ci
        hits += ok
        if ok:
            assert best.start == char_start  # offsets into the real paragraph
    return hits


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny ops: one thread is as fast on an idle machine and far faster on a busy one
    (OpenMP threads spinning at every barrier of the backward pass)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.usefixtures("one_torch_thread")
def test_fine_tuned_tiny_model_extracts_real_answers(
    shared_data: Path, random_qa_model: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    contexts, qas = _examples(shared_data)
    tokenizer = AutoTokenizer.from_pretrained(random_qa_model)
    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(random_qa_model)
    batch = _features(tokenizer, contexts, qas)
    untrained = _exact(random_qa_model, contexts, qas)

    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    out_dir = tmp_path / "fine-tuned"
    hits, step = 0, 0
    for step in range(1, 401):
        model.train()
        loss = model(**batch).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        if step % 25 == 0 and loss.item() < 0.5:
            model.save_pretrained(out_dir)
            tokenizer.save_pretrained(out_dir)
            hits = _exact(out_dir, contexts, qas)
            if hits == len(qas):
                break
    assert hits == len(qas), (
        f"after {step} steps {hits}/{len(qas)} answers (untrained: {untrained})"
    )
    assert untrained < len(qas)  # the random model could not do it: training did
    print(f"fine-tuned in {step} steps: {hits}/{len(qas)} exact (untrained {untrained})")
