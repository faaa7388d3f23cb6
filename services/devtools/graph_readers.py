"""Input files for loading a graph from Python (tests, benchmarks): not used by the service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from services.graph.domain import PaperAttributes


def read_citations_tsv(path: Path | str) -> Iterator[tuple[str, str]]:
    """``citing<TAB>cited`` lines (blank lines ignored), as raw strings."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            citing, _, cited = line.partition("\t")
            yield citing, cited


def read_papers_jsonl(path: Path | str) -> Iterator[PaperAttributes]:
    """Kaggle arXiv metadata records -> attributes (title, space-separated categories)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            yield PaperAttributes(
                paper_id=str(rec.get("id", "")),
                title=" ".join(str(rec.get("title") or "").split()),
                categories=tuple(str(rec.get("categories") or "").split()),
            )
