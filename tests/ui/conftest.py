"""Fixtures of the web-page tests: the real stack of tests/gateway plus a real browser.

- ``stack`` (and its pieces) come from tests/gateway/gateway_stack.py: every service and the
  gateway on port 0, with the Kaggle sample, the unarXive papers, three full texts and their
  references ingested, and the tiny marker reader whose right answer is known.
- ``ui_stack``: the same stack plus one citation neighbourhood from the 24k-paper arXiv set
  (a paper, the papers it cites and that cite it, the citations among them), so that every
  node of its graph is a stored paper a click can open.
- ``browser``: Debian's chromium driven by Playwright, headless, with a fresh profile. The
  tests skip with a message only when that browser or Playwright is not installed
  (``make setup`` installs both: scripts/install-browser.sh).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

from gateway_stack import (
    API_KEY,
    Stack,
    embedder_model,
    reader_dir,
    stack,
    target,
)
from ui_stack import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOTS,
    Neighbourhood,
    choose_neighbourhood,
)

__all__ = ["embedder_model", "reader_dir", "stack", "target"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where this run's screenshots are (only when a test saved some)."""
    folders: dict[Path, list[str]] = {}
    for shot in SHOTS:
        folders.setdefault(shot.parent, []).append(shot.name)
    for folder, names in folders.items():
        terminalreporter.write_line(f"web page screenshots in {folder}: {', '.join(names)}")


@pytest.fixture(scope="session")
def neighbourhood(stack: Stack, shared_data: Path) -> Neighbourhood:
    hood, records, edges = choose_neighbourhood(shared_data)
    resp = stack.client.post(
        "/v1/ingest",
        headers={"x-api-key": API_KEY},
        json={
            "batch_id": "ui-neighbourhood",
            "records": records,
            "citations": [{"citing_id": a, "cited_id": b} for a, b in edges],
        },
        timeout=300,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert not body["errors"], body["errors"][:3]
    return hood


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: run `make setup` (the dev extra)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM}: run `make setup` (scripts/install-browser.sh)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (its own profile: no cookies, no cache) per test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(120_000)  # generous: a busy 2-core machine can be very slow
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
