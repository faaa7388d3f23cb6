"""Helpers of the web-page tests (importable by test modules): the neighbourhood chosen
from the 24k-paper arXiv set, screenshot artefacts, and the browser's settings."""

from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ARXIVQA_UI_ARTIFACTS", ROOT / "test-artifacts" / "ui"))
CHROMIUM = os.environ.get("ARXIVQA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Neighbourhood:
    """A paper of the arXiv set with its whole depth-1 neighbourhood stored."""

    center: str
    cites: list[str]
    cited_by: list[str]
    titles: dict[str, str]


def choose_neighbourhood(shared: Path) -> tuple[Neighbourhood, list[str], list[tuple[str, str]]]:
    """The most connected paper with 15-30 neighbours (ties by id), its records and edges."""
    arxiv = shared / "arxiv"
    edges = [
        tuple(line.split("\t")[:2])
        for line in (arxiv / "arxiv2023_citations.tsv").read_text().splitlines()
        if line.strip()
    ]
    near: dict[str, set[str]] = collections.defaultdict(set)
    for a, b in edges:
        near[a].add(b)
        near[b].add(a)
    center = min((p for p in near if 15 <= len(near[p]) <= 30), key=lambda p: (-len(near[p]), p))
    members = near[center] | {center}
    records = [
        line
        for line in (arxiv / "arxiv2023_papers.jsonl").read_text().splitlines()
        if line.strip() and json.loads(line)["id"] in members
    ]
    titles = {(r := json.loads(line))["id"]: r["title"] for line in records}
    inner = [(a, b) for a, b in edges if a in members and b in members]
    hood = Neighbourhood(
        center=center,
        cites=sorted(b for a, b in inner if a == center),
        cited_by=sorted(a for a, b in inner if b == center),
        titles=titles,
    )
    return hood, records, inner


def shoot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot of the current page as a test artefact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
