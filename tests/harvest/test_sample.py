"""The metadata sample that ships for `make demo` on a machine without ../shared/data."""

from __future__ import annotations

from gateway.cli import SAMPLE
from services.common.arxiv import Paper, read_papers


def test_the_shipped_sample_is_valid_kaggle_metadata() -> None:
    parsed = [p for _, p in read_papers(SAMPLE)]
    assert len(parsed) == 200
    assert all(isinstance(p, Paper) for p in parsed)
    assert len({p.id for p in parsed if isinstance(p, Paper)}) == 200
    assert "CC0" in (SAMPLE.parent / "README.md").read_text()
