"""Text of an arXiv PDF in reading order, split into sections and paragraphs.

PDFium (through pypdfium2) gives text runs with their boxes, font size and weight; the
layout is rebuilt from those:

1. runs -> page items; arXiv's vertical stamp, rotated text and superscript markers
   (footnote and affiliation numbers) are dropped;
2. columns: a page is two-column when a vertical gutter near the middle separates the
   body-size runs; runs crossing it (title, abstract, wide figures) are full-width and cut
   the page into bands, read top to bottom, each band left column first;
3. running headers/footers: lines in the top/bottom margin that are page numbers or
   repeat (digits ignored) on several pages;
4. paragraphs: a new one starts at an indented first line, a larger gap, a font change, or
   a heading; TeX's line-end hyphens (PDFium reports them as U+0002) are joined;
5. headings: numbered (``2.1 Method``, ``IV. RESULTS``, ``A. Model``) or well-known names
   (Introduction, References, ...) in bold, larger or capital letters;
6. everything after a References/Bibliography heading (or a run of ``[1] ...`` entries)
   goes to ``references`` until an appendix heading, and is not a body paragraph.

Paragraphs that are mostly mathematics or numbers (equations, tables) are dropped.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

_STAMP = re.compile(r"^arXiv:\s*\S+\s*\[[^\]]+\]")
_NUMBERED = re.compile(
    r"^(?P<num>(?:[IVX]{1,5}|\d{1,2}(?:\.\d{1,2}){0,3}|[A-H]))\.?\s+(?P<title>[A-Z][^\n]{1,90})$"
)
_KNOWN = re.compile(
    r"^(?:\d{1,2}\.?\s+|[IVX]{1,5}\.\s+)?(abstract|introduction|background|related work|"
    r"methods?|methodology|experiments?|results?|discussion|conclusions?|"
    r"summary|acknowledge?ments?|references|bibliography|literature cited|"
    r"appendix(?:\s+[A-Z0-9].*)?|appendices|supplementary material.*)\s*:?$",
    re.IGNORECASE,
)
_REFS = re.compile(r"^(?:[IVX]+\.\s*|\d+\.?\s*)?(references|bibliography|literature cited)$", re.I)
_APPENDIX = re.compile(r"^(appendix|appendices|supplementary)", re.I)
_REF_ENTRY = re.compile(r"^\[\d{1,3}\]\s")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[A-Za-z]{3,}")
_HYPHENS = ("\x02", "\u00ad")


class PdfError(ValueError):
    """The file is not a PDF PDFium can open, or it has no text layer."""


@dataclass
class Paragraph:
    section: str
    text: str
    page: int


@dataclass
class Document:
    source: str
    pages: int
    paragraphs: list[Paragraph] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    columns: dict[int, int] = field(default_factory=dict)  # page -> 1 or 2

    @property
    def sections(self) -> list[str]:
        return list(dict.fromkeys(p.section for p in self.paragraphs))


@dataclass
class _Item:
    x0: float
    y0: float  # bottom
    x1: float
    y1: float  # top
    text: str
    size: float
    weight: int
    bold: bool = False
    marker: bool = False


@dataclass
class _Line:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    size: float
    bold: bool
    page: int
    col_x0: float = 0.0
    col_x1: float = 0.0


def _items(page: pdfium.PdfPage) -> list[_Item]:
    tp = page.get_textpage()
    out = []
    for i in range(tp.count_rects()):
        x0, y0, x1, y1 = tp.get_rect(i)
        text = tp.get_text_bounded(x0, y0, x1, y1).replace("\r", " ").replace("\n", " ")
        if not text.strip():
            continue
        ci = pdfium_c.FPDFText_GetCharIndexAtPos(tp.raw, x0 + 0.5, (y0 + y1) / 2, 2.0, 2.0)
        size = float(pdfium_c.FPDFText_GetFontSize(tp.raw, ci)) if ci >= 0 else 0.0
        weight = int(pdfium_c.FPDFText_GetFontWeight(tp.raw, ci)) if ci >= 0 else 0
        out.append(_Item(x0, y0, x1, y1, text, size, weight))
    tp.close()
    return out


def _body_size(items: list[_Item]) -> float:
    sizes: Counter[float] = Counter()
    for it in items:
        if it.size > 0:
            sizes[round(it.size, 1)] += len(it.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _lines(items: list[_Item], page_no: int) -> list[_Line]:
    """Items of one column band (already in reading order's column) -> text lines."""
    items = sorted(items, key=lambda it: (-it.y1, it.x0))
    lines: list[list[_Item]] = []
    for it in items:
        for line in reversed(lines[-3:]):
            top = max(i.y1 for i in line)
            bottom = min(i.y0 for i in line)
            overlap = min(top, it.y1) - max(bottom, it.y0)
            if overlap > 0.5 * min(top - bottom, it.y1 - it.y0):
                line.append(it)
                break
        else:
            lines.append([it])
    out = []
    for line in lines:
        line.sort(key=lambda i: i.x0)
        text = ""
        for i, it in enumerate(line):
            if i and not text.endswith(" ") and it.x0 - line[i - 1].x1 > 0.15 * max(it.size, 1):
                text += " "
            text += it.text
        main = max(line, key=lambda i: len(i.text))
        out.append(
            _Line(
                min(i.x0 for i in line),
                min(i.y0 for i in line),
                max(i.x1 for i in line),
                max(i.y1 for i in line),
                " ".join(text.split(" ")).strip(),
                main.size,
                all(i.bold for i in line if len(i.text.strip()) > 1) and main.bold,
                page_no,
            )
        )
    out.sort(key=lambda ln: -ln.y1)
    return out


def _gutter(items: list[_Item], width: float) -> float:
    """The x near the middle that the fewest longer runs cross."""
    long = [it for it in items if len(it.text) > 10]
    best, best_n = width / 2, len(long) + 1
    for x in range(int(0.4 * width), int(0.6 * width)):
        n = sum(1 for it in long if it.x0 < x - 1 and it.x1 > x + 1)
        if n < best_n or (n == best_n and abs(x - width / 2) < abs(best - width / 2)):
            best, best_n = float(x), n
    return best


def _page_lines(
    raw: list[_Item], size: tuple[float, float], page_no: int, body: float, body_weight: int
) -> tuple[list[_Line], int, float]:
    width, height = size
    items = []
    for it in raw:
        it.bold = it.weight >= max(550, body_weight + 150)
        w, h = it.x1 - it.x0, it.y1 - it.y0
        if len(it.text.strip()) > 2 and h > 2 * w:
            continue  # rotated text: arXiv's stamp in the margin, rotated table headers
        if _STAMP.match(it.text.strip()):
            continue
        if it.size and it.size < 0.8 * body and len(it.text.strip()) <= 4:
            # superscript markers (footnotes, affiliations, citations) are dropped, except a
            # number opening a line: REVTeX's reference numbers, kept as "[n]".
            t = it.text.strip()
            if (
                t.isdigit()
                and not any(
                    o is not it and abs(o.y0 - it.y0) < 4 and o.x1 <= it.x0 + 0.5 for o in raw
                )
                and any(
                    o.x0 > it.x1
                    and o.x0 - it.x1 < 15
                    and abs(o.y1 - it.y1) < 6
                    and o.text.strip()[:1].isupper()
                    for o in raw
                )
            ):
                it.text, it.marker = f"[{t}] ", True
                items.append(it)
            continue
        items.append(it)
    mid = _gutter(items, width)
    # A gutter: no body-size run crosses a band around the middle, and both sides have text.
    crossing = [it for it in items if it.x0 < mid - 4 and it.x1 > mid + 4]
    left = [it for it in items if it.x1 <= mid + 4]
    right = [it for it in items if it.x0 >= mid - 4]
    text_left = sum(len(it.text) for it in left)
    text_right = sum(len(it.text) for it in right)
    text_cross = sum(len(it.text) for it in crossing)
    # Both columns must be full: lines ending at the gutter on the left, starting at it on
    # the right (a one-column page has few runs starting near its middle).
    ends = [it for it in left if it.x1 > mid - 30 and it.x1 - it.x0 > 0.25 * width]
    starts = [it for it in right if it.x0 < mid + 30 and it.x1 - it.x0 > 0.25 * width]
    two = (
        text_left > 300
        and text_right > 300
        and text_cross < 0.5 * (text_left + text_right)
        and len(ends) >= 5
        and len(starts) >= 5
    )
    if not two:
        return _lines(items, page_no), 1, width
    # Bands cut by full-width runs, top to bottom; each band: left column, then right.
    wide = sorted(crossing, key=lambda it: -it.y1)
    out: list[_Line] = []
    cuts = [height + 1]
    for it in wide:
        cuts.append(it.y1)
        cuts.append(it.y0)
    cuts.append(-1)
    bounds = sorted(set(cuts), reverse=True)
    assigned: set[int] = set()
    for top, bottom in itertools.pairwise(bounds):
        band_wide = [
            it
            for it in wide
            if id(it) not in assigned and it.y1 <= top + 0.1 and it.y0 >= bottom - 0.1
        ]
        for it in band_wide:
            assigned.add(id(it))
        out.extend(_lines(band_wide, page_no))
        for col in (left, right):
            band = [
                it for it in col if id(it) not in assigned and bottom <= (it.y0 + it.y1) / 2 <= top
            ]
            for it in band:
                assigned.add(id(it))
            out.extend(_lines(band, page_no))
    rest = [it for it in items if id(it) not in assigned]
    out.extend(_lines(rest, page_no))
    for ln in out:
        ln.col_x0 = 1.0 if ln.x0 >= mid - 4 else 0.0  # side; edges are set later
    return out, 2, mid


def _heading(line: _Line, body: float) -> bool:
    text = line.text.strip()
    if not text or len(text) > 90 or len(text.split()) > 12 or text.endswith((".", ",", ";")):
        if not (_KNOWN.match(text.rstrip(".")) and len(text) < 40):
            return False
    emphasised = line.bold or line.size > 1.08 * body or (text.isupper() and len(text) > 3)
    if _KNOWN.match(text.rstrip(".:")) and (emphasised or len(text.split()) <= 2):
        return True
    m = _NUMBERED.match(text)
    if m and emphasised and _WORD.search(m.group("title")):
        return not re.search(r"\d\s*[=<>]|[=<>]\s*\d", text)
    return False


def _mostly_text(text: str) -> bool:
    tokens = text.split()
    if len(tokens) < 6:
        return False
    words = sum(1 for t in tokens if _WORD.search(t))
    return words / len(tokens) >= 0.5


def _join(prev: str, nxt: str) -> str:
    if not prev:
        return nxt
    if prev.endswith(_HYPHENS):
        stem = prev[:-1]
        if nxt[:1].islower():
            return stem + nxt
        return stem + "-" + nxt
    if prev.endswith("-") and len(prev) > 1 and prev[-2].isalpha() and nxt[:1].islower():
        return prev + nxt  # a compound broken at its own hyphen: keep it
    return prev + " " + nxt


def extract(data: bytes | str | Path, *, source: str = "") -> Document:
    """Read a PDF (bytes or a path) into a :class:`Document`."""
    name = source or (f"{len(data)} bytes" if isinstance(data, bytes) else str(data))
    try:
        pdf = pdfium.PdfDocument(data if isinstance(data, bytes) else str(data))
    except pdfium.PdfiumError as exc:
        raise PdfError(f"{name}: not a readable PDF ({exc})") from None
    try:
        pages = [pdf[i] for i in range(len(pdf))]
        raw = [_items(p) for p in pages]
        sizes = [p.get_size() for p in pages]
    finally:
        pdf.close()
    every = [it for items in raw for it in items]
    if not every:
        raise PdfError(f"{name}: no text layer (a scanned PDF?)")
    body = _body_size(every)
    weights: Counter[int] = Counter()
    for it in every:
        weights[it.weight] += len(it.text)
    body_weight = weights.most_common(1)[0][0]
    doc = Document(source=name, pages=len(pages))
    page_lines: list[list[_Line]] = []
    gutters: dict[int, float] = {}
    for i, (items, size) in enumerate(zip(raw, sizes, strict=True)):
        lines, cols, gutters[i + 1] = _page_lines(items, size, i + 1, body, body_weight)
        doc.columns[i + 1] = cols
        page_lines.append(lines)
    heights = [h for _w, h in sizes]
    _drop_running(page_lines, heights)
    _paragraphs(doc, [ln for lines in page_lines for ln in lines], body, gutters)
    return doc


def _drop_running(page_lines: list[list[_Line]], heights: list[float]) -> None:
    """Remove page numbers and running headers/footers (margin lines repeated on pages)."""

    def key(ln: _Line) -> str:
        return _DIGITS.sub("#", ln.text.lower()).strip()

    def margin(ln: _Line, h: float) -> bool:
        return ln.y1 > 0.89 * h or ln.y0 < 0.08 * h

    seen: Counter[str] = Counter()
    for lines, h in zip(page_lines, heights, strict=True):
        seen.update({key(ln) for ln in lines if margin(ln, h)})
    repeat = max(2, len(page_lines) // 4)
    for lines, h in zip(page_lines, heights, strict=True):
        lines[:] = [
            ln
            for ln in lines
            if not (
                margin(ln, h)
                and (
                    re.fullmatch(r"[-–\s]*\d{1,4}[-–\s]*|page \d+( of \d+)?", ln.text.strip(), re.I)
                    or seen[key(ln)] >= repeat
                )
            )
        ]


def _paragraphs(doc: Document, lines: list[_Line], body: float, gutters: dict[int, float]) -> None:
    # Column edges per (page, side): the left/right text boundary, for indents and short lines.
    edges: dict[tuple[int, int], tuple[float, float]] = {}
    groups: dict[tuple[int, int], list[_Line]] = {}

    def side(ln: _Line) -> int:
        """0: left column (or the only one), 1: right column, 2: across the gutter."""
        if doc.columns[ln.page] != 2:
            return 0
        g = gutters[ln.page]
        if ln.x0 >= g - 4:
            return 1
        return 2 if ln.x1 > g + 4 else 0

    for ln in lines:
        groups.setdefault((ln.page, side(ln)), []).append(ln)
    for k, g in groups.items():
        body_lines = [ln for ln in g if abs(ln.size - body) < 0.6] or g
        edges[k] = (
            statistics.median_low([round(ln.x0) for ln in body_lines]),
            max(ln.x1 for ln in body_lines),
        )
    for ln in lines:
        ln.col_x0, ln.col_x1 = edges[(ln.page, side(ln))]

    section = ""
    in_refs = False
    current: list[str] = []
    start_page = 1
    prev: _Line | None = None

    def flush() -> None:
        nonlocal current
        text = ""
        for part in current:
            text = _join(text, part)
        text = " ".join(text.replace("\x02", "-").replace("\u00ad", "").split())
        current = []
        if not text:
            return
        if in_refs:
            doc.references.append(text)
        elif _mostly_text(text):
            doc.paragraphs.append(Paragraph(section, text, start_page))

    for ln in lines:
        text = ln.text.strip()
        if not text:
            continue
        if _heading(ln, body):
            flush()
            title = re.sub(r"\s+", " ", text)
            doc.headings.append(title)
            if _REFS.match(title):
                in_refs = True
            elif in_refs and _APPENDIX.match(title):
                in_refs = False
            if not in_refs:
                section = title
            prev = None
            continue
        new = prev is None
        if prev is not None:
            fs = max(ln.size, 1.0)
            same_col = prev.page == ln.page and abs(prev.col_x0 - ln.col_x0) < 1
            gap = prev.y0 - ln.y1 if same_col else 0.0
            indent = ln.x0 - ln.col_x0
            new = (
                (0.6 * fs < indent < 4 * fs and prev.x1 < ln.col_x1 + 2)
                or gap > 0.9 * fs
                or abs(ln.size - prev.size) > 0.1 * max(ln.size, prev.size)
                or (
                    prev.x1 < prev.col_x1 - 3 * fs
                    and prev.text.endswith((".", ":"))
                    and abs(indent) < 2
                )
                or (in_refs and _REF_ENTRY.match(text) is not None)
            )
        if prev is not None and prev.text.endswith(_HYPHENS):
            new = False  # a word broken across lines, columns or pages goes on
        if (
            not in_refs
            and text.startswith("[1]")
            and ln.page > 0.5 * doc.pages
            and _REF_ENTRY.match(text)
        ):
            flush()
            in_refs = True
            new = True
        if new:
            flush()
            start_page = ln.page
        current.append(text)
        prev = ln
    flush()
