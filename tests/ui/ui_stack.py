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
_docs = os.environ.get("ARXIVQA_UI_DOCS_SCREENSHOTS", "")
DOCS_SCREENSHOTS = ROOT / _docs if _docs else None  # relative to the repository root
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


# Every screenshot saved in this run (listed at the end of the run by conftest.py).
SHOTS: list[Path] = []


def shoot(page: Any, name: str, *, full_page: bool = False, docs: bool = False) -> Path:
    """Save a screenshot of the current page as a test artefact; returns its path.

    With ``ARXIVQA_UI_DOCS_SCREENSHOTS`` set to a folder (``docs/screenshots`` for the
    README), views marked ``docs`` are also saved there, at most 1,400 px tall and reduced
    to a 256-colour palette so that they stay small enough to commit.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    SHOTS.append(path)
    if docs and DOCS_SCREENSHOTS:
        from PIL import Image

        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        tall = min(1400, page.evaluate("document.documentElement.scrollHeight"))
        clip = {"x": 0, "y": 0, "width": size["width"], "height": max(size["height"], tall)}
        out = DOCS_SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(out), full_page=True, clip=clip)
        with Image.open(out) as img:
            small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(out, optimize=True)
        SHOTS.append(out)
    return path


# Text whose contrast with its background is under WCAG AA: 4.5:1, or 3:1 for large text
# (24 px, or 18.66 px bold). The background is the nearest opaque one behind the text; text in
# the graph (SVG) and on disabled controls is left out. Returns one line per offending element.
LOW_CONTRAST = """() => {
  const parse = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c);
    if (!m) return null;
    const v = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (x) => ((x /= 255) <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a >= 0.99) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const bad = [];
  const seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!walk.currentNode.textContent.trim() || !el || seen.has(el)) continue;
    seen.add(el);
    if (el.closest("svg, :disabled, noscript")) continue;
    const box = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    if (!box.width || !box.height || st.visibility === "hidden") continue;
    const fg = parse(st.color);
    const bg = background(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const px = parseFloat(st.fontSize);
    const need = px >= 24 || (Number(st.fontWeight) >= 700 && px >= 18.66) ? 3 : 4.5;
    if (ratio < need) {
      const text = walk.currentNode.textContent.trim().slice(0, 40);
      const under = `rgb(${bg.r}, ${bg.g}, ${bg.b})`;
      bad.push(`${ratio.toFixed(2)}:1 for "${text}" (${st.color} on ${under})`);
    }
  }
  return bad;
}"""


def low_contrast(page: Any) -> list[str]:
    """Visible text on the page under WCAG AA contrast (see LOW_CONTRAST)."""
    return list(page.evaluate(LOW_CONTRAST))


# Controls and links without an accessible name: no <label>, aria-label(ledby) or text.
UNLABELLED = """() => {
  const named = (e) => {
    if (e.labels && [...e.labels].some((l) => l.textContent.trim())) return true;
    if ((e.getAttribute("aria-label") || "").trim()) return true;
    const by = e.getAttribute("aria-labelledby");
    if (by && by.split(/\\s+/).some((id) => document.getElementById(id)?.textContent.trim())) {
      return true;
    }
    return ["BUTTON", "A", "a", "SUMMARY"].includes(e.tagName) && e.textContent.trim() !== "";
  };
  const controls = "input:not([type=hidden]), select, textarea, button, a[href]";
  return [...document.querySelectorAll(controls)]
    .filter((e) => !named(e))
    .map((e) => e.outerHTML.slice(0, 100));
}"""


def unlabelled(page: Any) -> list[str]:
    """Form controls and links on the page that a screen reader could not name."""
    return list(page.evaluate(UNLABELLED))
