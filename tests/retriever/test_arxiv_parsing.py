"""Kaggle-format and full-text parsing (services/common/arxiv.py)."""

from __future__ import annotations

import json

import pytest

from services.common.arxiv import (
    Paper,
    Passage,
    RecordError,
    parse_fulltext,
    parse_paper,
    read_fulltext,
    read_papers,
)


def test_real_kaggle_record_is_normalised(shared_data) -> None:
    records = dict(read_papers(shared_data / "arxiv" / "kaggle_sample_200.jsonl"))
    first = records[1]
    assert isinstance(first, Paper)
    assert first.id == "0704.0001"
    # The snapshot wraps titles with a newline and two spaces.
    assert first.title == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert first.abstract.startswith("A fully differential calculation")
    assert "\n" not in first.abstract and "  " not in first.abstract
    assert first.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"]
    assert first.categories == ["hep-ph"]
    assert first.year == 2007  # v1 created 2 Apr 2007; update_date is 2008
    assert first.update_date == "2008-11-26"
    assert len(records) == 200
    assert all(isinstance(p, Paper) for p in records.values())
    multi = [p for p in records.values() if isinstance(p, Paper) and len(p.categories) > 1]
    assert multi, "the sample has papers in several categories"


def test_titles_only_dataset_gets_year_from_the_id(shared_data) -> None:
    for _, paper in read_papers(shared_data / "arxiv" / "arxiv2023_papers.jsonl"):
        assert isinstance(paper, Paper)
        assert paper.abstract == "" and paper.authors == []
        assert paper.year == 2000 + int(paper.id[:2])
        break


def test_year_falls_back_to_update_date_and_old_style_ids() -> None:
    paper = parse_paper({"id": "x1", "title": "T", "versions": [], "update_date": "2015-03-04"})
    assert isinstance(paper, Paper) and paper.year == 2015
    old = parse_paper({"id": "hep-th/9901001", "title": "T"})
    assert isinstance(old, Paper) and old.year == 1999
    assert parse_paper({"id": "math.GT/0309136", "title": "T"}).year == 2003  # type: ignore[union-attr]
    assert parse_paper({"id": "weird", "title": "T"}).year is None  # type: ignore[union-attr]


def test_authors_fall_back_to_the_authors_string() -> None:
    paper = parse_paper({"id": "1", "title": "T", "authors": "A. One, B. Two and C. Three"})
    assert isinstance(paper, Paper)
    assert paper.authors == ["A. One", "B. Two", "C. Three"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "1", "title": ', "malformed JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"title": "no id"}', "missing id"),
        ('{"id": "1", "title": "  "}', "missing title"),
        ('{"id": "1", "title": "t", "update_date": "2020-02-30"}', "bad date in update_date"),
        (
            '{"id": "1", "title": "t", "versions": [{"version": "v1", "created": "yesterday"}]}',
            "bad date in versions[0].created",
        ),
    ],
)
def test_bad_records_give_clear_errors(line: str, message: str) -> None:
    result = parse_paper(line, line_no=7)
    assert isinstance(result, RecordError)
    assert message in result.message
    assert str(result).startswith("line 7")


def test_reader_keeps_going_after_a_bad_line() -> None:
    good = json.dumps({"id": "2101.00001", "title": "Good\n  one"})
    lines = [good + "\n", "not json\n", "\n", good.replace("00001", "00002") + "\n"]
    out = list(read_papers(lines))
    assert [n for n, _ in out] == [1, 2, 4]
    assert isinstance(out[0][1], Paper) and out[0][1].title == "Good one"
    assert isinstance(out[1][1], RecordError)
    assert isinstance(out[2][1], Paper) and out[2][1].id == "2101.00002"


def test_fulltext_becomes_passages(shared_data) -> None:
    results = list(read_fulltext(shared_data / "arxiv" / "unarxive_sample_fulltext.jsonl"))
    assert len(results) == 49
    _, passages = results[0]
    assert isinstance(passages, list) and passages
    first = passages[0]
    assert first.paper_id == "2212.11867" and first.ordinal == 0
    assert first.section == "Introduction"
    assert "{{formula:" not in first.text and "[formula]" in first.text
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    sections = {p.section for _, ps in results if isinstance(ps, list) for p in ps}
    assert any("[formula]" in s for s in sections)  # section titles hold formulas too
    assert not any("{{" in s for s in sections)


def test_fulltext_skips_empty_paragraphs_and_reports_bad_records() -> None:
    paragraphs = [{"section": "A", "text": " "}, {"section": "B", "text": "x\ny"}]
    rec = {"id": "9", "paragraphs": paragraphs}
    assert parse_fulltext(rec) == [Passage("9", 0, "B", "x y")]
    assert isinstance(parse_fulltext({"id": "9"}), RecordError)
    assert isinstance(parse_fulltext("{"), RecordError)
