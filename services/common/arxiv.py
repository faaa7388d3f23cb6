"""Parse arXiv data in the Kaggle metadata snapshot format, and unarXive-style full text.

Pure Python (no gRPC, no Redis): the retriever's tests and benchmark and the gateway's
ingestion share it.

Metadata records (one JSON object per line) look like
``{"id", "title", "abstract", "authors", "authors_parsed", "categories", "versions",
"update_date", ...}``. :func:`parse_paper` turns one into a :class:`Paper` or a
:class:`RecordError` saying what is wrong; :func:`read_papers` streams a JSONL file as
``(line_no, Paper | RecordError)`` so one bad line never stops an ingestion.

Full text records look like ``{"id", "paragraphs": [{"section", "text"}]}``;
:func:`parse_fulltext` / :func:`read_fulltext` turn them into :class:`Passage` lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

_WS = re.compile(r"\s+")
# New-style ids: YYMM.NNNN or YYMM.NNNNN (optionally vN); old style: archive[.SUB]/YYMMNNN.
_NEW_ID = re.compile(r"^(\d{2})(\d{2})\.\d{4,5}(v\d+)?$")
_OLD_ID = re.compile(r"^[a-z-]+(\.[A-Z]{2})?/(\d{2})(\d{2})\d{3}(v\d+)?$")
# unarXive placeholders: {{formula:UUID}}, {{cite:...}}, {{figure:...}}, {{table:...}}.
_PLACEHOLDER = re.compile(r"\{\{(\w+):[^{}]*\}\}")


def normalise_text(text: str) -> str:
    """Collapse every run of whitespace (newlines, tabs, the snapshot's indents) to a space."""
    return _WS.sub(" ", text).strip()


@dataclass
class Paper:
    """One paper's metadata, normalised."""

    id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    # Year of the first version; else of update_date; else from a dated arXiv id; else None.
    year: int | None = None
    # ISO date (YYYY-MM-DD) of the last update, or None.
    update_date: str | None = None


@dataclass(frozen=True)
class RecordError:
    """Why one record could not be used. ``id`` is set when the record had a usable one."""

    line_no: int
    message: str
    id: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line_no}" + (f" (id {self.id})" if self.id else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Passage:
    """One paragraph of a paper's full text; ``ordinal`` counts kept paragraphs from 0."""

    paper_id: str
    ordinal: int
    section: str
    text: str


def _display_name(parts: Any) -> str:
    # authors_parsed entries are [last, first, suffix] (sometimes shorter).
    if not isinstance(parts, list) or not parts:
        return ""
    last = str(parts[0] or "")
    first = str(parts[1] or "") if len(parts) > 1 else ""
    suffix = " ".join(str(p) for p in parts[2:] if p)
    return normalise_text(" ".join(p for p in (first, last, suffix) if p))


def _authors(record: dict[str, Any]) -> list[str]:
    parsed = record.get("authors_parsed")
    names: list[str] = []
    if isinstance(parsed, list) and parsed:
        names = [_display_name(p) for p in parsed]
    elif isinstance(record.get("authors"), str) and record["authors"].strip():
        raw = normalise_text(record["authors"])
        names = [normalise_text(n) for n in re.split(r",|\band\b", raw)]
    seen: set[str] = set()
    out = []
    for name in names:
        if name and name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _year_from_id(paper_id: str) -> int | None:
    m = _NEW_ID.match(paper_id)
    if m:
        return 2000 + int(m.group(1))
    m = _OLD_ID.match(paper_id)
    if m:
        yy = int(m.group(2))
        return (1900 if yy >= 91 else 2000) + yy
    return None


def _first_version_year(versions: Any) -> int | None:
    """Year of the v1 ``created`` date (RFC 2822); ValueError when present but unreadable."""
    if not isinstance(versions, list) or not versions:
        return None
    first = versions[0]
    created = first.get("created") if isinstance(first, dict) else None
    if not created:
        return None
    try:
        return parsedate_to_datetime(str(created)).year
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad date in versions[0].created: {created!r}") from exc


def parse_paper(record: str | dict[str, Any], line_no: int = 0) -> Paper | RecordError:
    """One Kaggle-format record (a JSON line or a decoded dict) -> Paper or RecordError."""
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except json.JSONDecodeError as exc:
            return RecordError(line_no, f"malformed JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(record, dict):
        return RecordError(line_no, f"expected a JSON object, got {type(record).__name__}")
    raw_id = record.get("id")
    if not isinstance(raw_id, str | int | float) or not str(raw_id).strip():
        return RecordError(line_no, "missing id")
    paper_id = str(raw_id).strip()
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        return RecordError(line_no, "missing title", paper_id)
    abstract = record.get("abstract")
    categories = record.get("categories")
    update_date = record.get("update_date")
    iso_date: str | None = None
    if update_date:
        try:
            iso_date = date.fromisoformat(str(update_date).strip()).isoformat()
        except ValueError:
            return RecordError(line_no, f"bad date in update_date: {update_date!r}", paper_id)
    try:
        year = _first_version_year(record.get("versions"))
    except ValueError as exc:
        return RecordError(line_no, str(exc), paper_id)
    if year is None and iso_date is not None:
        year = int(iso_date[:4])
    if year is None:
        year = _year_from_id(paper_id)
    return Paper(
        id=paper_id,
        title=normalise_text(title),
        abstract=normalise_text(abstract) if isinstance(abstract, str) else "",
        authors=_authors(record),
        categories=list(dict.fromkeys(categories.split())) if isinstance(categories, str) else [],
        year=year,
        update_date=iso_date,
    )


def _lines(source: str | Path | Iterable[str]) -> Iterator[tuple[int, str]]:
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8") as fh:
            yield from enumerate(fh, start=1)
    else:
        yield from enumerate(source, start=1)


def read_papers(source: str | Path | Iterable[str]) -> Iterator[tuple[int, Paper | RecordError]]:
    """Stream a Kaggle-format JSONL file (or lines): ``(line_no, Paper | RecordError)``.

    Blank lines are skipped; line numbers count from 1 like an editor's.
    """
    for line_no, line in _lines(source):
        if line.strip():
            yield line_no, parse_paper(line, line_no)


def clean_fulltext(text: str) -> str:
    """Normalise whitespace and shorten placeholders (``{{formula:UUID}}`` -> ``[formula]``)."""
    return normalise_text(_PLACEHOLDER.sub(lambda m: f"[{m.group(1)}]", text))


def parse_fulltext(record: str | dict[str, Any], line_no: int = 0) -> list[Passage] | RecordError:
    """One full-text record -> its non-empty paragraphs as passages, or a RecordError."""
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except json.JSONDecodeError as exc:
            return RecordError(line_no, f"malformed JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(record, dict):
        return RecordError(line_no, f"expected a JSON object, got {type(record).__name__}")
    raw_id = record.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        return RecordError(line_no, "missing id")
    paper_id = raw_id.strip()
    paragraphs = record.get("paragraphs")
    if not isinstance(paragraphs, list):
        return RecordError(line_no, "missing paragraphs list", paper_id)
    passages: list[Passage] = []
    for i, para in enumerate(paragraphs):
        if not isinstance(para, dict):
            return RecordError(line_no, f"paragraphs[{i}] is not an object", paper_id)
        text = clean_fulltext(str(para.get("text") or ""))
        if text:
            section = clean_fulltext(str(para.get("section") or ""))
            passages.append(Passage(paper_id, len(passages), section, text))
    return passages


def read_fulltext(
    source: str | Path | Iterable[str],
) -> Iterator[tuple[int, list[Passage] | RecordError]]:
    """Stream a full-text JSONL file: ``(line_no, [Passage, ...] | RecordError)``."""
    for line_no, line in _lines(source):
        if line.strip():
            yield line_no, parse_fulltext(line, line_no)
