"""OAI-PMH ListRecords pages from arXiv, and their records as Kaggle-format dicts.

Metadata formats: ``arXiv`` (structured authors, created/updated dates), ``arXivRaw``
(every version with its date: the only one that names versions) and ``oai_dc``. Each
record becomes a :class:`Record` whose ``kaggle`` dict is what the gateway's ``Ingest``
already parses (``services.common.arxiv.parse_paper``), or a :class:`RecordError` that
says what is wrong with it; a deleted record (``<header status="deleted">``) has
``deleted=True`` and no metadata.

Why not sickle: it pages internally and retries with its own requests session, while
a resumable harvest must checkpoint after every page and share one polite fetcher with
PDF downloads; the protocol part it would save is ~60 lines of ElementTree below.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from gateway.arxiv.http import FetchError, PoliteFetcher

OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"
RAW = "{http://arxiv.org/OAI/arXivRaw/}"
DC = "{http://purl.org/dc/elements/1.1/}"
PREFIXES = ("arXiv", "arXivRaw", "oai_dc")
_WS = re.compile(r"\s+")
_ABS = re.compile(r"arxiv\.org/abs/(.+)$")


class OAIError(RuntimeError):
    """An OAI-PMH ``<error>`` other than noRecordsMatch, or a response that is not OAI-PMH."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class Record:
    id: str
    datestamp: str
    deleted: bool = False
    sets: list[str] = field(default_factory=list)
    # The latest version's number (arXivRaw only), e.g. 2 for v2.
    version: int | None = None
    kaggle: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordError:
    index: int
    id: str
    message: str


@dataclass
class Page:
    records: list[Record | RecordError]
    # The token for the next page; None on the last page (absent or empty element).
    token: str | None = None
    complete_list_size: int | None = None
    cursor: int | None = None


def _text(el: ET.Element | None) -> str:
    return _WS.sub(" ", el.text or "").strip() if el is not None else ""


def _strip_oai(identifier: str) -> str:
    return identifier.strip().removeprefix("oai:arXiv.org:")


def _rfc2822(day: str) -> str:
    """``2014-12-29`` -> the Kaggle snapshot's ``Mon, 29 Dec 2014 00:00:00 GMT``."""
    d = datetime.strptime(day.strip()[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    return format_datetime(d, usegmt=True)


def _iso(day: str) -> str:
    return datetime.strptime(day.strip()[:10], "%Y-%m-%d").date().isoformat()


def _from_arxiv(md: ET.Element, header_id: str, datestamp: str) -> tuple[dict[str, Any], None]:
    ns = ARXIV if md.tag.startswith(ARXIV) else ""
    authors_parsed = []
    for a in md.iter(f"{ns}author"):
        authors_parsed.append(
            [
                _text(a.find(f"{ns}keyname")),
                _text(a.find(f"{ns}forenames")),
                _text(a.find(f"{ns}suffix")),
            ]
        )
    created = _text(md.find(f"{ns}created"))
    updated = _text(md.find(f"{ns}updated"))
    rec: dict[str, Any] = {
        "id": _text(md.find(f"{ns}id")) or header_id,
        "title": _text(md.find(f"{ns}title")),
        "abstract": _text(md.find(f"{ns}abstract")),
        "authors_parsed": authors_parsed,
        "categories": _text(md.find(f"{ns}categories")),
        "doi": _text(md.find(f"{ns}doi")) or None,
        "license": _text(md.find(f"{ns}license")) or None,
        "update_date": _iso(updated or created or datestamp),
    }
    if created:
        rec["versions"] = [{"version": "v1", "created": _rfc2822(created)}]
    return rec, None


def _from_raw(md: ET.Element, header_id: str, datestamp: str) -> tuple[dict[str, Any], int | None]:
    versions = []
    for v in md.findall(f"{RAW}version"):
        date = _text(v.find(f"{RAW}date"))
        parsedate_to_datetime(date)  # ValueError on a bad date: the record is reported
        versions.append({"version": v.get("version", ""), "created": date})
    numbers = [int(v["version"][1:]) for v in versions if re.fullmatch(r"v\d+", v["version"])]
    last = versions[-1]["created"] if versions else ""
    rec: dict[str, Any] = {
        "id": _text(md.find(f"{RAW}id")) or header_id,
        "title": _text(md.find(f"{RAW}title")),
        "abstract": _text(md.find(f"{RAW}abstract")),
        "authors": _text(md.find(f"{RAW}authors")),
        "categories": _text(md.find(f"{RAW}categories")),
        "license": _text(md.find(f"{RAW}license")) or None,
        "versions": versions,
        "update_date": parsedate_to_datetime(last).date().isoformat() if last else _iso(datestamp),
    }
    return rec, (max(numbers) if numbers else None)


def _from_dc(
    md: ET.Element, header_id: str, datestamp: str, sets: list[str]
) -> tuple[dict[str, Any], None]:
    ident = ""
    for el in md.iter(f"{DC}identifier"):
        m = _ABS.search(_text(el))
        if m:
            ident = m.group(1)
            break
    creators = [_text(c) for c in md.iter(f"{DC}creator") if _text(c)]
    # "Keyname, Forenames" -> authors_parsed
    parsed = [[p.strip() for p in ([*c.split(",", 1), ""])[:2]] + [""] for c in creators]
    descriptions = [_text(d) for d in md.iter(f"{DC}description")]
    abstract = next((d for d in descriptions if not d.startswith("Comment:")), "")
    dates = [_text(d) for d in md.iter(f"{DC}date") if _text(d)]
    rec: dict[str, Any] = {
        "id": ident or header_id,
        "title": _text(md.find(f"{DC}title")),
        "abstract": abstract,
        "authors_parsed": parsed,
        # oai_dc names subjects in words only; the set ("cs", "physics:hep-th") is the code.
        "categories": " ".join(s.split(":")[-1] for s in sets),
        "update_date": _iso(dates[-1] if dates else datestamp),
    }
    if dates:
        rec["versions"] = [{"version": "v1", "created": _rfc2822(dates[0])}]
    return rec, None


def parse_record(el: ET.Element, index: int) -> Record | RecordError:
    """One ``<record>`` -> Record (metadata checked: id and title) or RecordError."""
    header = el.find(f"{OAI}header")
    if header is None:
        return RecordError(index, "", "record without <header>")
    rid = _strip_oai(_text(header.find(f"{OAI}identifier")))
    datestamp = _text(header.find(f"{OAI}datestamp"))
    sets = [_text(s) for s in header.findall(f"{OAI}setSpec")]
    if not rid:
        return RecordError(index, "", "header without <identifier>")
    if header.get("status") == "deleted":
        return Record(rid, datestamp, deleted=True, sets=sets)
    metadata = el.find(f"{OAI}metadata")
    md = next(iter(metadata), None) if metadata is not None else None
    if md is None:
        return RecordError(index, rid, "record without metadata (and not deleted)")
    try:
        if not datestamp:
            raise ValueError("header without <datestamp>")
        _iso(datestamp)
        version: int | None = None
        local = md.tag.rsplit("}", 1)[-1]
        if local == "arXivRaw":
            rec, version = _from_raw(md, rid, datestamp)
        elif local == "arXiv":
            rec, _ = _from_arxiv(md, rid, datestamp)
        elif local == "dc":
            rec, _ = _from_dc(md, rid, datestamp, sets)
        else:
            return RecordError(index, rid, f"unknown metadata format <{local}>")
    except (ValueError, TypeError) as exc:
        return RecordError(index, rid, f"bad date: {exc}")
    if not rec["title"]:
        return RecordError(index, rid, "metadata without a title")
    if rec["id"] != rid:
        return RecordError(index, rid, f"metadata id {rec['id']!r} differs from the header's")
    return Record(rid, _iso(datestamp), sets=sets, version=version, kaggle=rec)


def parse_page(body: bytes) -> Page:
    """A ListRecords (or GetRecord) response -> Page; noRecordsMatch -> an empty last page."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise OAIError("badXML", f"the response is not XML ({exc})") from None
    if root.tag != f"{OAI}OAI-PMH":
        raise OAIError("badResponse", f"not an OAI-PMH response (root <{root.tag}>)")
    for err in root.findall(f"{OAI}error"):
        code = err.get("code", "")
        if code == "noRecordsMatch":
            return Page([])
        raise OAIError(code or "error", _text(err))
    container = root.find(f"{OAI}ListRecords")
    if container is None:
        container = root.find(f"{OAI}GetRecord")
    if container is None:
        raise OAIError("badResponse", "neither ListRecords nor GetRecord in the response")
    records = [parse_record(r, i) for i, r in enumerate(container.findall(f"{OAI}record"))]
    page = Page(records)
    tok = container.find(f"{OAI}resumptionToken")
    if tok is not None:
        page.token = (tok.text or "").strip() or None
        size, cursor = tok.get("completeListSize"), tok.get("cursor")
        page.complete_list_size = int(size) if size and size.isdigit() else None
        page.cursor = int(cursor) if cursor and cursor.isdigit() else None
    return page


def list_records(
    fetcher: PoliteFetcher,
    endpoint: str,
    *,
    prefix: str = "arXiv",
    set_spec: str | None = None,
    from_date: str | None = None,
    until: str | None = None,
    token: str | None = None,
) -> Iterator[tuple[str | None, Page]]:
    """``(token used for this page, page)`` until the last page; resume by passing ``token``."""
    if prefix not in PREFIXES:
        raise ValueError(f"metadata format {prefix!r}: use one of {', '.join(PREFIXES)}")
    while True:
        if token:
            params = {"verb": "ListRecords", "resumptionToken": token}
        else:
            params = {"verb": "ListRecords", "metadataPrefix": prefix}
            if set_spec:
                params["set"] = set_spec
            if from_date:
                params["from"] = from_date
            if until:
                params["until"] = until
        resp = fetcher.get(endpoint, params)
        if resp.status >= 400:
            raise FetchError(f"GET {resp.url} answered HTTP {resp.status}", resp.status)
        page = parse_page(resp.body)
        yield token, page
        if not page.token:
            return
        token = page.token
