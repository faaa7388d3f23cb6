"""The metadata sample that ships for `make demo` on a machine without ../shared/data."""

from __future__ import annotations

import pytest

from gateway.demo import SAMPLE
from gateway.harvest_cli import last_week
from services.common.arxiv import Paper, read_papers


def test_the_shipped_sample_is_valid_kaggle_metadata() -> None:
    parsed = [p for _, p in read_papers(SAMPLE)]
    assert len(parsed) == 200
    assert all(isinstance(p, Paper) for p in parsed)
    assert len({p.id for p in parsed if isinstance(p, Paper)}) == 200
    assert "CC0" in (SAMPLE.parent / "README.md").read_text()


def test_demo_without_shared_data_ingests_the_sample_and_offers_a_harvest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stack itself is not started here (that is `make demo`); only which data the demo
    # picks on a fresh clone and what it prints next.
    from gateway import cli, demo
    from gateway.ingest_client import Source

    ingested: list[list[Source]] = []
    monkeypatch.setattr(demo, "demo_sources", lambda: [])
    monkeypatch.setattr(demo, "cmd_up", lambda args: 0)

    def ingest(sources: list[Source], **kw: object) -> dict[str, object]:
        ingested.append(list(sources))
        return {"papers": 200, "passages": 0, "citations": 0, "errors": {}, "samples": [],
                "seconds": 1.0}  # fmt: skip

    monkeypatch.setattr(demo, "ingest_sources", ingest)
    assert cli.main(["demo"]) == 0
    assert [s.path for s in ingested[0]] == [SAMPLE]
    out = capsys.readouterr().out
    assert "using the shipped sample" in out
    assert f"arxivqa harvest --set cs --from {last_week()}" in out
