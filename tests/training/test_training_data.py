"""Prepare and evaluate steps: SQuAD validation errors, split by paper, windows, EM/F1."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from services.common.errors import InvalidArgument
from services.qa.training.cli import main
from services.qa.training.data import (
    build_train_features,
    fingerprint,
    load_squad,
    split_by_paper,
)
from services.qa.training.evaluate import f1_score, normalize_answer, squad_scores
from services.qa.training.train import default_base_model

CONTEXT = "The spike protein binds the ACE2 receptor on human cells. " * 3


def _squad(qas: list[dict], context: str = CONTEXT, doc: str = "paper-1") -> dict:
    return {"data": [{"paragraphs": [{"context": context, "document_id": doc, "qas": qas}]}]}


def _write(tmp_path: Path, doc: object, name: str = "in.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(default_base_model())


def test_valid_file_loads_with_answers_and_paper_ids(tmp_path: Path) -> None:
    start = CONTEXT.index("the ACE2 receptor")
    qa = {
        "id": "q1",
        "question": "What does it bind?",
        "answers": [{"text": "the ACE2 receptor", "answer_start": start}],
    }
    (ex,) = load_squad(_write(tmp_path, _squad([qa])))
    assert (ex.qid, ex.paper_id, ex.answers[0].start) == ("q1", "paper-1", start)
    assert ex.context[start : start + len(ex.answers[0].text)] == "the ACE2 receptor"


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"nope\.json: file not found"):
        load_squad(tmp_path / "nope.json")


def test_malformed_json_names_file_and_position(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"data": [ {"paragraphs": ]}', "broken.json")
    with pytest.raises(InvalidArgument, match=r"broken\.json: malformed JSON at line 1 column"):
        load_squad(path)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"version": "1.1"}, 'expected an object with a "data" list'),
        ({"data": [{"title": "x"}]}, r'data\[0\]: an article needs a "paragraphs" list'),
        (_squad([{"id": "q9", "question": "", "answers": []}]), "question q9: needs a non-empty"),
        (_squad([{"id": "q8", "question": "Why?", "answers": []}]), "question q8: has no answers"),
        (
            _squad(
                [{"id": "q7", "question": "Why?", "answers": [{"text": "x", "answer_start": "3"}]}]
            ),
            'question q7: answer .x. needs an integer "answer_start"',
        ),
    ],
)
def test_structural_problems_are_named(tmp_path: Path, doc: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load_squad(_write(tmp_path, doc))


def test_answer_offset_that_does_not_match_the_context_is_refused(tmp_path: Path) -> None:
    qa = {
        "id": "covid-17",
        "question": "What does it bind?",
        "answers": [{"text": "the ACE2 receptor", "answer_start": 3}],
    }
    path = _write(tmp_path, _squad([qa]), "shifted.json")
    with pytest.raises(InvalidArgument) as exc:
        load_squad(path)
    msg = str(exc.value)
    assert "shifted.json" in msg and "question covid-17" in msg
    assert "does not match the context at answer_start=3" in msg


def test_duplicate_question_ids_are_refused(tmp_path: Path) -> None:
    qa = {"id": "dup", "question": "Q?", "answers": [{"text": "spike", "answer_start": 4}]}
    with pytest.raises(InvalidArgument, match="question dup: duplicate question id"):
        load_squad(_write(tmp_path, _squad([qa, dict(qa)])))


def test_cli_reports_bad_input_in_one_line_and_exit_code_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = _write(tmp_path, "{not json", "bad.json")
    code = main(["--no-default-data", "--train", str(bad), "--eval", f"x={bad}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "train-reader: " in err and "bad.json: malformed JSON" in err
    assert "Traceback" not in err


def test_split_by_paper_is_seeded_and_never_cuts_a_paper(tmp_path: Path) -> None:
    articles = []
    for p in range(20):
        ctx = f"Paper {p} reports result {p}."
        qas = [
            {
                "id": f"{p}-{i}",
                "question": f"Result {i}?",
                "answers": [{"text": f"result {p}", "answer_start": ctx.index("result")}],
            }
            for i in range(3)
        ]
        articles.append({"paragraphs": [{"context": ctx, "document_id": p, "qas": qas}]})
    examples = load_squad(_write(tmp_path, {"data": articles}))
    train, held = split_by_paper(examples, train_fraction=0.8, seed=42)
    assert len({e.paper_id for e in train}) == 16 and len({e.paper_id for e in held}) == 4
    assert not {e.paper_id for e in train} & {e.paper_id for e in held}
    again, _ = split_by_paper(examples, train_fraction=0.8, seed=42)
    other, _ = split_by_paper(examples, train_fraction=0.8, seed=7)
    assert [e.qid for e in again] == [e.qid for e in train]
    assert {e.paper_id for e in other} != {e.paper_id for e in train}


@pytest.mark.shared_data
def test_covidqa_splits_about_80_20_by_paper(shared_data: Path) -> None:
    examples = load_squad(shared_data / "qa" / "covidqa_200423_realigned.json")
    train, held = split_by_paper(examples, seed=42)
    assert len(examples) == 1380
    assert not {e.paper_id for e in train} & {e.paper_id for e in held}
    assert 0.7 < len(train) / len(examples) < 0.9
    assert fingerprint(held) == fingerprint(split_by_paper(examples, seed=42)[1])


def test_windows_label_the_answer_tokens_and_sample_negatives(tokenizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    filler = " ".join(f"word{i}" for i in range(300))
    context = f"{filler} The answer is the ACE2 receptor on cells. {filler}"
    start = context.index("the ACE2 receptor")
    qa = {
        "id": "q",
        "question": "Which receptor?",
        "answers": [{"text": "the ACE2 receptor", "answer_start": start}],
    }
    (ex,) = load_squad(_write(tmp_path, _squad([qa], context=context)))
    feats = build_train_features(
        [ex], tokenizer, max_seq_len=64, doc_stride=16, neg_ratio=2.0, seed=1
    )
    assert feats.windows_with_answer >= 1
    assert feats.windows_without_answer > 10
    assert feats.windows_without_answer_kept == 2 * feats.windows_with_answer
    assert len(feats) == feats.windows_with_answer + feats.windows_without_answer_kept
    for ids, s, e in zip(feats.input_ids, feats.start, feats.end, strict=True):
        if s:
            assert tokenizer.decode(ids[s : e + 1]) == "the ace2 receptor"
        else:
            assert e == 0


def test_squad_metric_follows_the_official_normalisation() -> None:
    assert normalize_answer("The  ACE2, receptor!") == "ace2 receptor"
    assert f1_score("an ACE2 receptor", "the ACE2 receptor on cells") == pytest.approx(2 / 3)
    assert f1_score("nothing", "ACE2") == 0.0


def test_squad_scores_take_the_max_over_golds_and_count_missing_as_zero(tmp_path: Path) -> None:
    ctx = "Alpha beta gamma delta."
    qas = [
        {
            "id": "a",
            "question": "Q?",
            "answers": [
                {"text": "Alpha", "answer_start": 0},
                {"text": "beta gamma", "answer_start": 6},
            ],
        },
        {"id": "b", "question": "Q?", "answers": [{"text": "delta", "answer_start": 17}]},
    ]
    examples = load_squad(_write(tmp_path, _squad(qas, context=ctx)))
    scores = squad_scores({"a": "the beta gamma"}, examples)
    assert scores.questions == 2
    assert scores.exact_match == pytest.approx(50.0)
    assert scores.f1 == pytest.approx(50.0)


def test_a_question_too_long_for_the_window_is_named(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    question = "Which protein " + "really " * 40 + "binds?"
    qa = {"id": "long-1", "question": question, "answers": [{"text": "spike", "answer_start": 4}]}
    path = _write(tmp_path, _squad([qa]), "long.json")
    argv = ["--no-default-data", "--train", str(path), "--eval", f"x={path}"]
    code = main([*argv, "--max-seq-len", "64", "--doc-stride", "16"])
    err = capsys.readouterr().err
    assert code == 2
    assert "long.json: question long-1: the question is 44 tokens long; at most 13 fit" in err


@pytest.mark.shared_data
def test_default_data_is_38k_style_questions_plus_covidqa_by_paper(shared_data: Path) -> None:
    from services.qa.training.pipeline import TRAIN_SOURCES, PipelineOptions, prepare

    data = prepare(PipelineOptions(data_dir=shared_data / "qa"))
    assert sorted(data.eval_sets) == ["covidqa-heldout", "fairytaleqa-val", "qed-dev", "xquad-en"]
    assert len(data.eval_sets["xquad-en"]) == 1190
    assert len(data.eval_sets["qed-dev"]) == 1355
    # COVID-QA held out by paper, scored on a seeded sample of 80 of its questions
    held_all = data.params["data.eval.covidqa-heldout.sampled_from"]
    assert len(data.eval_sets["covidqa-heldout"]) == 80 < held_all
    assert data.params["split.train_papers"] + data.params["split.heldout_papers"] == 98
    shares = {f: data.params[f"data.train.{f}.questions"] for f in TRAIN_SOURCES}
    covid_train = 1380 - held_all
    assert len(data.train_examples) == covid_train + sum(shares.values())
    assert shares["squadshifts_new_wiki_v1.0.json"] == 7938
    assert shares["squadshifts_reddit_v1.0.json"] == round(9803 * 0.15)
    for name in [*TRAIN_SOURCES, "covidqa_200423_realigned.json", "xquad_en.json"]:
        assert (
            data.params[f"data.{name}.sha256"]
            == hashlib.sha256((shared_data / "qa" / name).read_bytes()).hexdigest()
        )
    # XQuAD-en stays clean: no training question or context is in it
    xq = {(e.question, e.context) for e in data.eval_sets["xquad-en"]}
    assert not xq & {(e.question, e.context) for e in data.train_examples}
