"""The reader core: loading, offsets, windows, global ranking, no-answer, dedup, limits."""

from __future__ import annotations

import itertools
import sys
import time
import types
from pathlib import Path

import pytest

from services.common.errors import DeadlineExceeded, InvalidArgument
from services.qa.reader import ModelNotUsable, Passage, Reader, evidence_bounds

FILLER = "plain words fill this passage with nothing of note"


@pytest.fixture(scope="module")
def reader(crafted_qa_model: Path) -> Reader:
    r = Reader(str(crafted_qa_model), max_seq_len=64, stride=16, batch_size=4)
    r.warm_up()
    return r


@pytest.fixture(scope="module")
def random_reader(random_qa_model: Path) -> Reader:
    r = Reader(str(random_qa_model), max_seq_len=64, stride=16)
    r.warm_up()
    return r


def _check_offsets(passages: list[Passage], answers) -> None:  # type: ignore[no-untyped-def]
    for a in answers:
        text = passages[a.passage_index].text
        assert 0 <= a.start < a.end <= len(text)
        assert text[a.start : a.end] == a.text
        assert text[a.evidence_start : a.evidence_end] == a.evidence
        assert a.evidence_start <= a.start and a.end <= a.evidence_end
        assert a.text == a.text.strip()


def test_loads_through_save_pretrained_and_reports_what_it_loaded(reader: Reader) -> None:
    assert reader.ready
    assert reader.architecture == "BertForQuestionAnswering"
    reader.warm_up()  # idempotent
    assert reader.ready


def test_offsets_are_character_offsets_into_the_passage_text(
    reader: Reader, crafted_scores
) -> None:  # type: ignore[no-untyped-def]
    passages = [Passage("Le café naïve — zebra Ünïcödé 東京 tiger, fin.", id="u")]
    result = reader.answer("where?", passages, top_k=1)
    (best,) = result.answers
    assert best.text == "zebra Ünïcödé 東京 tiger"
    assert best.score == pytest.approx(crafted_scores.strong, abs=0.5)
    assert (best.passage_id, best.passage_index) == ("u", 0)
    _check_offsets(passages, result.answers)


def test_random_model_answers_always_lie_inside_passages(random_reader: Reader) -> None:
    passages = [
        Passage("Naïve résumé: the café opened in 1999. It closed in 2004!", id="a"),
        Passage(" ".join([FILLER] * 30) + ". Second to last sentence. Last one.", id="b"),
        Passage("Ein kurzer Text über Öl und Straßen.", id="c"),
    ]
    question = "when did the café open and close"
    result = random_reader.answer(question, passages, top_k=10, max_answer_tokens=7)
    assert len(result.answers) == 10
    scores = [a.score for a in result.answers]
    assert scores == sorted(scores, reverse=True)
    _check_offsets(passages, result.answers)
    assert all(1 <= a.token_count <= 7 for a in result.answers)
    # never the question: its words only appear in passage a, at passage offsets
    assert result.windows > len(passages)  # passage b needed several windows


def test_answer_in_a_later_window_of_a_long_passage(reader: Reader) -> None:
    text = " ".join([FILLER] * 40) + ". Here the zebra met a tiger. Then " + " ".join([FILLER] * 5)
    result = reader.answer("who met?", [Passage(text, id="long")], top_k=1)
    assert result.windows >= 5
    (best,) = result.answers
    assert best.text == "zebra met a tiger"
    assert best.start == text.index("zebra")
    assert best.start > 1500  # far beyond what the first 64-token window covers
    assert best.evidence == "Here the zebra met a tiger."


def test_span_never_comes_from_the_question(reader: Reader, crafted_scores) -> None:  # type: ignore[no-untyped-def]
    # The question's zebra/tiger would score 160; the passage only has the weak pair.
    passages = [Passage("Only a lion and a wolf live here.", id="p")]
    result = reader.answer("is the zebra a tiger?", passages, top_k=1)
    assert result.answers[0].text == "lion and a wolf"
    assert result.answers[0].score == pytest.approx(crafted_scores.weak, abs=0.5)


def test_global_ranking_across_passages_with_stable_scores(reader: Reader) -> None:
    weak = Passage("A lion chased the wolf.", id="weak", paper_id="2101.00001")
    strong = Passage("The zebra outran a tiger.", id="strong", paper_id="2101.00002")
    alone = reader.answer("who ran?", [weak], top_k=1).answers[0]
    both = reader.answer("who ran?", [weak, strong], top_k=2).answers
    assert [a.passage_id for a in both] == ["strong", "weak"]
    assert [a.paper_id for a in both] == ["2101.00002", "2101.00001"]
    assert both[0].text == "zebra outran a tiger"
    assert both[1].text == "lion chased the wolf"
    # A score does not depend on the other passages of the request.
    assert both[1].score == pytest.approx(alone.score, abs=1e-3)


def test_no_answer_when_nothing_beats_the_cls_score(reader: Reader, crafted_scores) -> None:  # type: ignore[no-untyped-def]
    nothing = [Passage("Plain words and nothing of note.", id="n")]
    result = reader.answer("what?", nothing, allow_no_answer=True)
    assert result.no_answer is True
    assert result.answers == []
    assert result.no_answer_score == pytest.approx(crafted_scores.null, abs=0.5)

    weak_only = [Passage("A lion chased the wolf.", id="w")]
    assert reader.answer("what?", weak_only, allow_no_answer=True).no_answer is True
    # Without no-answer the best span is returned all the same.
    forced = reader.answer("what?", weak_only)
    assert forced.no_answer is False and forced.no_answer_score is None
    assert forced.answers[0].text == "lion chased the wolf"

    found = reader.answer(
        "what?", [*nothing, Passage("zebra and tiger", id="s")], top_k=3, allow_no_answer=True
    )
    assert found.no_answer is False
    assert [a.text for a in found.answers] == ["zebra and tiger"]  # only those above NULL
    assert found.answers[0].score > found.no_answer_score


def test_overlapping_windows_do_not_duplicate_an_answer(reader: Reader) -> None:
    tok = reader._tokenizer
    question = "who?"
    # Find a filler length that puts the pair where two windows overlap.
    for n in range(10, 80):
        text = " ".join(["word"] * n) + " zebra x tiger " + " ".join(["word"] * 60)
        enc = tok(
            question,
            text,
            truncation="only_second",
            max_length=64,
            stride=16,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        z, t = text.index("zebra"), text.index("tiger")
        holding = [
            w
            for w in range(len(enc["input_ids"]))
            if any(s == z for s, _ in enc["offset_mapping"][w][5:])
            and any(s == t for s, _ in enc["offset_mapping"][w][5:])
        ]
        if len(holding) >= 2:
            break
    else:
        pytest.fail("no layout puts the answer in two windows")
    result = reader.answer(question, [Passage(text)], top_k=5)
    assert sum(a.text == "zebra x tiger" for a in result.answers) == 1
    assert result.answers[0].text == "zebra x tiger"
    spans = sorted((a.start, a.end) for a in result.answers)
    for (_, e1), (s2, _) in itertools.pairwise(spans):
        assert e1 <= s2, "answers of one passage overlap"


def test_max_answer_tokens_and_min_score(reader: Reader) -> None:
    text = "The zebra " + " ".join(["word"] * 12) + " tiger ran."
    long = reader.answer("?", [Passage(text)], top_k=1, max_answer_tokens=20).answers[0]
    assert long.text.startswith("zebra") and long.text.endswith("tiger")
    short = reader.answer("?", [Passage(text)], top_k=3, max_answer_tokens=5).answers
    assert all(a.token_count <= 5 and not ("zebra" in a.text and "tiger" in a.text) for a in short)

    passages = [Passage("A lion chased the wolf."), Passage("The zebra outran a tiger.")]
    kept = reader.answer("?", passages, top_k=5, min_score=100.0).answers
    assert [a.text for a in kept] == ["zebra outran a tiger"]


def test_evidence_is_the_sentence_around_the_span() -> None:
    text = "See Fig. 3 for e.g. the setup. The zebra met the tiger (twice). Next one."
    start = text.index("zebra")
    end = text.index("tiger") + len("tiger")
    s, e = evidence_bounds(text, start, end)
    assert text[s:e] == "The zebra met the tiger (twice)."
    s, e = evidence_bounds(text, text.index("Fig"), text.index("Fig") + 3)
    assert text[s:e] == "See Fig. 3 for e.g. the setup."
    long = "x " * 1000 + "zebra" + " y" * 1000
    s, e = evidence_bounds(long, 2000, 2005)
    assert s <= 2000 and e >= 2005 and e - s < 700


def test_deadline_is_honoured(reader: Reader) -> None:
    with pytest.raises(DeadlineExceeded):
        reader.answer("?", [Passage("zebra tiger")], deadline=time.monotonic() - 1)


@pytest.mark.parametrize(
    ("question", "passages", "kwargs", "message"),
    [
        ("", [Passage("text")], {}, "question is empty"),
        ("   ", [Passage("text")], {}, "question is empty"),
        ("q", [], {}, "passages is empty"),
        ("q", [Passage("fine"), Passage("  \n")], {}, r"passages\[1\]\.text is empty"),
        ("q", [Passage("a", id="x"), Passage("b", id="x")], {}, r"passages\[1\]\.id 'x' repeats"),
        ("q", [Passage("t")] * 4, {}, "too many passages: 4; at most 3"),
        ("q", [Passage("x" * 60), Passage("y" * 60)], {}, "120 characters in all; at most 100"),
        ("q" * 41, [Passage("t")], {}, "question is 41 characters; at most 40"),
        ("q", [Passage("t")], {"top_k": 99}, "top_k must be in"),
        ("q", [Passage("t")], {"top_k": -1}, "top_k must be in"),
        ("q", [Passage("t")], {"max_answer_tokens": -2}, "max_answer_tokens must be in"),
        ("q", [Passage("t")], {"min_score": float("nan")}, "min_score must be a finite"),
    ],
)
def test_bad_input_names_what_is_wrong(
    crafted_qa_model: Path,
    question,
    passages,
    kwargs,
    message,  # type: ignore[no-untyped-def]
) -> None:
    from services.qa.reader import Limits

    small = Reader(
        str(crafted_qa_model),
        max_seq_len=64,
        stride=16,
        limits=Limits(max_passages=3, max_total_chars=100, max_question_chars=40, max_top_k=10),
    )
    with pytest.raises(InvalidArgument, match=message):
        small.answer(question, passages, **kwargs)
    assert not small.ready  # validation happens before any model work


def test_too_long_question_in_tokens(reader: Reader) -> None:
    with pytest.raises(InvalidArgument, match=r"question is too long: .* tokens"):
        reader.answer(" ".join(["word"] * 50), [Passage("zebra tiger")])


def test_refuses_a_model_without_a_qa_head(base_model: Path) -> None:
    with pytest.raises(ModelNotUsable, match=r"not an extractive QA model .*BertModel"):
        Reader(str(base_model)).warm_up()


def test_refuses_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotUsable, match="no QA model configured"):
        Reader("  ")
    with pytest.raises(ModelNotUsable, match="cannot load a model config"):
        Reader(str(tmp_path / "nowhere")).warm_up()


def test_registry_reference_is_resolved_through_the_training_registry(
    crafted_qa_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The seam's contract: services.qa.training.registry.resolve_reader_source(ref) returns
    # a local directory. A stand-in module keeps this test free of MLflow and its store.
    seen: list[str] = []

    def resolve_reader_source(ref: str) -> str:
        seen.append(ref)
        return str(crafted_qa_model)

    stand_in = types.ModuleType("services.qa.training.registry")
    stand_in.resolve_reader_source = resolve_reader_source  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "services.qa.training.registry", stand_in)
    reader = Reader("models:/reader@production", max_seq_len=64, stride=16)
    reader.warm_up()
    assert seen == ["models:/reader@production"]
    assert reader.local_path == str(crafted_qa_model)
    assert reader.answer("?", [Passage("zebra and tiger")]).answers[0].text == "zebra and tiger"


def test_registry_reference_without_the_registry_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "services.qa.training.registry", None)  # import fails
    with pytest.raises(ModelNotUsable, match=r"registry reference.*services\.qa\.training"):
        Reader("models:/reader@production").warm_up()
