"""The training loop's batching and schedule, abstention calibration, and the reader card.

Fast: a tiny random BERT (2 layers, 32 wide) with the real tokenizer.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from services.common.hashing import sha256_file
from services.devtools.random_models import save_random_bert
from services.qa.reader import READER_CARD, ModelNotUsable, Passage, Reader
from services.qa.training.data import GoldAnswer, QAExample, build_train_features
from services.qa.training.evaluate import (
    Prediction,
    abstention_point,
    answer_f1s,
    choose_margin,
    mismatched_contexts,
)
from services.qa.training.train import (
    Schedule,
    TrainConfig,
    length_grouped_batches,
    load_tokenizer,
    train,
)


def _ex(qid: str, question: str, context: str, answer: str, paper: str = "p") -> QAExample:
    return QAExample(
        qid=qid,
        question=question,
        context=context,
        answers=(GoldAnswer(answer, context.index(answer)),),
        paper_id=paper,
        source="test",
    )


EXAMPLES = [
    _ex("a", "Who wrote it?", "The book was written by Ada in 1843.", "Ada", "book"),
    _ex("b", "When was it written?", "The book was written by Ada in 1843.", "1843", "book"),
    _ex(
        "c",
        "What binds ACE2?",
        "The spike protein binds ACE2 on cells.",
        "The spike protein",
        "covid",
    ),
    _ex("d", "Where is Redis data?", "Redis keeps its data in memory.", "in memory", "redis"),
]


def test_length_grouped_batches_cover_every_window_once_and_pad_little() -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = [int(x) for x in torch.randint(10, 400, (2000,), generator=gen)]
    batches = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(1))
    flat = sorted(r for b in batches for r in b)
    assert flat == list(range(2000))
    grouped = sum(16 * max(lengths[r] for r in b) for b in batches)
    order = torch.randperm(2000, generator=torch.Generator().manual_seed(1)).tolist()
    plain = sum(16 * max(lengths[r] for r in order[i : i + 16]) for i in range(0, 2000, 16))
    assert grouped < 0.6 * plain  # padding to each batch's longest, not the data's
    # batches are shuffled: not one long run of increasing lengths
    firsts = [lengths[b[0]] for b in batches]
    assert firsts != sorted(firsts)


def test_schedule_anneals_over_the_time_budget() -> None:
    s = Schedule(steps=10_000, warmup_ratio=0.1, budget_seconds=0.2)
    assert 0 < s.factor(0) <= 1
    time.sleep(0.05)
    mid = s.factor(1)
    assert 0 < mid <= 1
    time.sleep(0.2)
    assert s.progress(2) >= 1.0 and s.factor(2) == 0.0


def test_training_stops_at_its_time_budget(tmp_path: Path) -> None:
    base = save_random_bert(tmp_path / "base", num_layers=1, qa_head=False)
    tok = load_tokenizer(str(base))
    feats = build_train_features(
        EXAMPLES * 50, tok, max_seq_len=64, doc_stride=16, neg_ratio=0, seed=0
    )
    cfg = TrainConfig(
        base_model=str(base),
        max_seq_len=64,
        doc_stride=16,
        epochs=50,
        batch_size=4,
        time_budget_minutes=0.5 / 60,
    )
    t0 = time.perf_counter()
    result = train(cfg, feats, tok, tmp_path / "out")
    assert time.perf_counter() - t0 < 20
    assert 0 < result.steps < 50 * 50  # stopped by the budget, not by the epochs
    assert result.windows_seen == 4 * result.steps  # 200 windows: every batch is full
    assert (tmp_path / "out" / "config.json").is_file()


def test_mismatched_windows_pair_questions_with_contexts_lacking_their_answer(
    tmp_path: Path,
) -> None:
    tok = load_tokenizer(str(save_random_bert(tmp_path / "b", num_layers=1)))
    feats = build_train_features(
        EXAMPLES, tok, max_seq_len=64, doc_stride=16, neg_ratio=0, seed=0, mismatch_ratio=1.0
    )
    assert feats.windows_with_answer == 4 and feats.windows_mismatched == 4
    for ids, s, e in list(zip(feats.input_ids, feats.start, feats.end, strict=True))[4:]:
        assert s == e == 0
        text = tok.decode(ids)
        question, _, context = text.partition("[SEP]")
        # the question's own answer is not in the context it was paired with
        for ex in EXAMPLES:
            if ex.question.lower() in question:
                assert ex.answers[0].text.lower() not in context


def test_mismatched_contexts_never_hold_a_gold_answer() -> None:
    ctxs = mismatched_contexts(EXAMPLES)
    for ex, ctx in zip(EXAMPLES, ctxs, strict=True):
        assert ctx != ex.context and ex.answers[0].text not in ctx


def test_choose_margin_finds_the_threshold_separating_right_from_wrong_passages() -> None:
    answerable = EXAMPLES
    preds = {e.qid: Prediction(e.answers[0].text, 5.0, 0.0) for e in answerable}
    wrong = {e.qid: Prediction("junk", 1.0, 0.0) for e in answerable}
    best = choose_margin(answerable, preds, wrong)
    assert 1.0 <= best.margin < 5.0
    assert best.coverage == 100.0 and best.false_answers == 0.0 and best.f1 == 100.0
    always = abstention_point(-1e9, answer_f1s(answerable, preds), preds, wrong)
    assert always.false_answers == 100.0 and always.precision == 50.0


@pytest.fixture(scope="module")
def tiny_reader_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_bert(tmp_path_factory.mktemp("reader") / "r", num_layers=1)


def test_read_many_gives_what_answer_gives(tiny_reader_dir: Path) -> None:
    reader = Reader(str(tiny_reader_dir), max_seq_len=64, stride=16, batch_size=3)
    reqs = [(e.question, [Passage(text=e.context)]) for e in EXAMPLES]
    many = reader.read_many(reqs, top_k=2)
    for (q, ps), res in zip(reqs, many, strict=True):
        one = reader.answer(q, ps, top_k=2)
        assert [(a.text, a.start, a.end) for a in res.answers] == [
            (a.text, a.start, a.end) for a in one.answers
        ]
        assert res.best_score == pytest.approx(one.answers[0].score, abs=1e-4)
        assert res.null_score == pytest.approx(one.null_score, abs=1e-4)


def _with_card(src: Path, dst: Path, margin: float) -> Path:
    import shutil

    shutil.copytree(src, dst)
    card = {
        "weights_sha256": {"model.safetensors": sha256_file(dst / "model.safetensors")},
        "no_answer_margin": margin,
    }
    (dst / READER_CARD).write_text(json.dumps(card))
    return dst


def test_the_card_margin_decides_abstention(tiny_reader_dir: Path, tmp_path: Path) -> None:
    path = _with_card(tiny_reader_dir, tmp_path / "r", margin=1e6)
    reader = Reader(str(path), max_seq_len=64, stride=16)
    reader.warm_up()
    assert reader.no_answer_margin == 1e6
    res = reader.answer(EXAMPLES[0].question, [Passage(EXAMPLES[0].context)], allow_no_answer=True)
    assert res.no_answer and not res.answers
    # an explicit setting overrides the card
    override = Reader(str(path), max_seq_len=64, stride=16, no_answer_margin=-1e6)
    res = override.answer(
        EXAMPLES[0].question, [Passage(EXAMPLES[0].context)], allow_no_answer=True
    )
    assert not res.no_answer and res.answers


def test_corrupted_weights_are_refused_at_load(tiny_reader_dir: Path, tmp_path: Path) -> None:
    path = _with_card(tiny_reader_dir, tmp_path / "r", margin=0.0)
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelNotUsable, match=r"model.safetensors has SHA-256 .* records"):
        Reader(str(path), max_seq_len=64, stride=16).warm_up()


def test_a_missing_weights_file_named_in_the_card_is_refused(
    tiny_reader_dir: Path, tmp_path: Path
) -> None:
    path = _with_card(tiny_reader_dir, tmp_path / "r", margin=0.0)
    card = json.loads((path / READER_CARD).read_text())
    card["weights_sha256"]["extra.safetensors"] = "0" * 64
    (path / READER_CARD).write_text(json.dumps(card))
    with pytest.raises(ModelNotUsable, match=r"extra\.safetensors is missing"):
        Reader(str(path), max_seq_len=64, stride=16).warm_up()


def test_default_config_validates_and_new_options_are_checked() -> None:
    TrainConfig().validate()
    from services.common.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="mismatch_ratio"):
        replace(TrainConfig(), mismatch_ratio=2.0).validate()
    with pytest.raises(InvalidArgument, match="time_budget_minutes"):
        replace(TrainConfig(), time_budget_minutes=-1).validate()


def test_ship_writes_float16_weights_a_verified_card_and_a_model_card(
    tiny_reader_dir: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open

    from services.qa.reader import verify_model_dir
    from services.qa.training.ship import ship

    src = _with_card(tiny_reader_dir, tmp_path / "src", margin=2.5)
    card = json.loads((src / READER_CARD).read_text())
    card["scores"] = {"xquad-en": {"em": 50.0, "f1": 66.0, "questions": 10}}
    (src / READER_CARD).write_text(json.dumps(card))
    out = tmp_path / "models" / "reader"
    facts = {"train_steps": 12, "train_seconds": 60.0, "windows_seen": 192}
    shipped = ship(src, out, training={"run_id": "abc", **facts})
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert verify_model_dir(out)["weights_sha256"] == shipped["weights_sha256"]
    assert shipped["training"]["run_id"] == "abc" and shipped["no_answer_margin"] == 2.5
    text = (out / "README.md").read_text()
    assert "| xquad-en | 10 | 50.0 | 66.0 |" in text and "Trained 12 steps" in text
    reader = Reader(str(out), max_seq_len=64, stride=16)  # loads as float32 and answers
    reader.warm_up()
    assert reader.answer(EXAMPLES[0].question, [Passage(EXAMPLES[0].context)]).answers
