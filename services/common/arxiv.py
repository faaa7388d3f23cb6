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

arXiv identifiers (the one vocabulary every service and the gateway share): new style
``YYMM.NNNN`` (0704-1412) / ``YYMM.NNNNN`` (1501 on), old style ``archive[.SC]/YYMMNNN``
(``hep-th/9901001``, ``math.GT/0309136``), each with an optional version suffix (``v2``).
:func:`canonical_id` is a paper's versionless key (``arXiv:2101.00001v2`` -> ``2101.00001``),
what the citation graph stores and what joins a versioned id to its paper;
:func:`year_of_id` reads the year out of an id of either style, versioned or not.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument

_WS = re.compile(r"\s+")
# The shape of an id (ASCII digits only: \d would also match other scripts' digits).
# New style: YYMM.NNNN or YYMM.NNNNN; old style: archive[.SC]/YYMMNNN; either with vN.
_NEW_ID = re.compile(r"([0-9]{2})([0-9]{2})\.([0-9]{4,5})(v[0-9]+)?")
_OLD_ID = re.compile(
    r"([a-z]+(?:-[a-z]+)*)(\.[A-Za-z]+(?:-[A-Za-z]+)*)?/([0-9]{2})([0-9]{2})([0-9]{3})(v[0-9]+)?"
)
_ARXIV_PREFIX = re.compile(r"^arxiv:", re.IGNORECASE)

# The same rules as one regular expression, for validators that take a pattern (pydantic,
# OpenAPI): an id exactly as canonical_id accepts it without prefix or spaces, version
# suffix allowed. New style YYMM.NNNN from 0704 to 1412, YYMM.NNNNN from 1501; old style
# archive[.SC]/YYMMNNN from 1991 to 2007. tests/test_common.py checks the two agree.
_MONTH = "(0[1-9]|1[0-2])"
_NEW_4 = rf"(07(0[4-9]|1[0-2])|(0[89]|1[0-4]){_MONTH})\.[0-9]{{4}}"
_NEW_5 = rf"(1[5-9]|[2-9][0-9]){_MONTH}\.[0-9]{{5}}"
_OLD = rf"[a-z]+(-[a-z]+)*(\.[A-Za-z]+(-[A-Za-z]+)*)?/(9[1-9]|0[0-7]){_MONTH}[0-9]{{3}}"
ARXIV_ID_PATTERN = rf"^({_NEW_4}|{_NEW_5}|{_OLD})(v[0-9]+)?$"
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


def year_of_id(paper_id: str) -> int | None:
    """The year an id encodes (``1412.6980v2`` -> 2014, ``hep-th/9901001`` -> 1999), or None.

    Reads the shape only: the year of a well-shaped id that :func:`canonical_id` would
    reject for its digit count (``1105.01141`` -> 2011) is still returned.
    """
    m = _NEW_ID.fullmatch(paper_id)
    if m:
        return 2000 + int(m.group(1))
    m = _OLD_ID.fullmatch(paper_id)
    if m:
        yy = int(m.group(3))
        return (1900 if yy >= 91 else 2000) + yy
    return None


def canonical_id(raw: str) -> str:
    """The versionless key of an arXiv id, or ``InvalidArgument`` naming it.

    Surrounding spaces, an ``arXiv:`` prefix and a version suffix are dropped
    (``" arXiv:2301.01234v11"`` -> ``"2301.01234"``): a paper, not one of its versions.
    The date is checked (month 01-12, new style from 0704, old style 1991-2007) and so is
    the digit count (4 until 1412, 5 from 1501), so ``1105.01141`` is malformed.
    """
    return _canonical_id(raw)


@functools.lru_cache(maxsize=1 << 18)
def _canonical_id(raw: str) -> str:
    # Cached: a bulk load sees each id many times (a raise is not cached).
    text = _ARXIV_PREFIX.sub("", raw.strip())
    m = _NEW_ID.fullmatch(text)
    if m:
        yy, mm, number = int(m.group(1)), int(m.group(2)), m.group(3)
        digits = 5 if yy >= 15 else 4
        if 1 <= mm <= 12 and (yy, mm) >= (7, 4) and len(number) == digits:
            return f"{m.group(1)}{m.group(2)}.{number}"
        raise InvalidArgument(
            f"malformed arXiv id {raw!r}: YYMM.NNNN from 0704 to 1412, YYMM.NNNNN from 1501"
        )
    m = _OLD_ID.fullmatch(text)
    if m:
        yy, mm = int(m.group(3)), int(m.group(4))
        if 1 <= mm <= 12 and (yy >= 91 or yy <= 7):
            return text[: m.start(6)] if m.group(6) else text
    raise InvalidArgument(
        f"malformed arXiv id {raw!r}: expected e.g. '1412.6980', '2301.01234v2' or 'hep-th/9901001'"
    )


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
        year = year_of_id(paper_id)
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
