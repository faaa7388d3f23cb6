"""PDF text on the eight real arXiv PDFs of ../shared/data/arxiv/pdf (not in the repo)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.arxiv.pdf import Document, PdfError, extract

# Floors well under what the extractor finds (see the gateway README's table); a
# regression that loses columns, pages or paragraph breaks falls below them.
FLOORS = {
    "0801.0012v2": 60,
    "0905.2465v3": 150,
    "1001.0012v2": 80,
    "1111.2011v2": 50,
    "1704.01689v1": 70,
    "1804.07821v1": 40,
    "2203.00130v1": 150,
    "2206.10883v3": 120,
}
TWO_COLUMN = {"1111.2011v2", "0801.0012v2", "1001.0012v2", "1704.01689v1", "1804.07821v1"}

_cache: dict[str, Document] = {}


def doc(data: Path, name: str) -> Document:
    if name not in _cache:
        _cache[name] = extract(data / "pdf" / f"{name}.pdf")
    return _cache[name]


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_paragraphs_sections_and_references(arxiv_data: Path, name: str) -> None:
    d = doc(arxiv_data, name)
    assert len(d.paragraphs) >= FLOORS[name]
    assert len(d.sections) >= 4, d.headings
    assert len(d.references) >= 10  # kept apart ...
    body = " ".join(p.text for p in d.paragraphs)
    for ref in d.references[:5]:
        assert ref not in body  # ... and not in the body passages
    for p in d.paragraphs:
        assert "\x02" not in p.text and "\u00ad" not in p.text
        assert not re.fullmatch(r"[\d\s–-]+", p.text)  # no page numbers
        assert not p.text.startswith("arXiv:")  # arXiv's margin stamp
    if name in TWO_COLUMN:
        assert sum(1 for n in d.columns.values() if n == 2) >= d.pages // 2
    else:
        assert sum(1 for n in d.columns.values() if n == 2) <= 1


def test_reading_order_on_a_page_checked_by_hand(arxiv_data: Path) -> None:
    """1111.2011v2, page 1 (two-column REVTeX), checked against the page rendered: the
    left column ends "...the sites reside on a Bethe lattice, in which case the
    self-consistent equations" and the right column goes on "can be solved in closed form
    and analytical progress can be made more readily." before a new paragraph "Since its
    introduction in 1935, ..."; title and abstract (full width) come first."""
    d = doc(arxiv_data, "1111.2011v2")
    texts = [p.text for p in d.paragraphs]
    first = [i for i, t in enumerate(texts) if t.startswith("Theoretical description")]
    intro = [i for i, t in enumerate(texts) if t.startswith("It is often the case")]
    joined = [
        i
        for i, t in enumerate(texts)
        if "in which case the self-consistent equations can be solved in closed form" in t
    ]
    since = [i for i, t in enumerate(texts) if t.startswith("Since its introduction in 1935")]
    assert first and intro and joined and since
    assert first[0] < intro[0] <= joined[0] < since[0]
    assert d.paragraphs[intro[0]].section == "I. INTRODUCTION"
    # hyphenation at line ends is joined ("free-/dom", "in-/clude", "approximat-/ing")
    assert "relevent degrees of freedom in a condensed matter" in texts[intro[0]]
    assert "The most obvious examples include the high temperature" in texts[intro[0]]
    assert any("approximating a superconductor" in t for t in texts)


def test_running_headers_are_removed(arxiv_data: Path) -> None:
    # ACM style: "Paper Plain: Making Medical Research ... Language Processing <n>" heads
    # every odd page; it must survive only as the title on page 1.
    d = doc(arxiv_data, "2203.00130v1")
    hits = [p for p in d.paragraphs if "Approachable to Healthcare Consumers" in p.text]
    assert [p.page for p in hits] == [1]
    assert "REFERENCES" in d.headings
    assert not any(p.section == "REFERENCES" for p in d.paragraphs)


def test_not_a_pdf_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PdfError, match="not a readable PDF"):
        extract(b"<html>not a pdf</html>", source="bogus.pdf")
