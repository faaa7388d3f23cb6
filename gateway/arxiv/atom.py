"""arXiv API (Atom 1.0) feeds -> Kaggle-format dicts, with feedparser.

feedparser reads both serialisations arXiv has used (the legacy one with per-element
namespaces and ``type="html"`` titles, and the 2026 one), maps the opensearch paging
elements, and survives odd markup; what it leaves to us is arXiv's error feed (an
``<entry>`` whose id is ``.../api/errors#...``) and the id/version split.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import feedparser

from gateway.arxiv.http import PoliteFetcher
from gateway.arxiv.oai import Record, RecordError

_ABS = re.compile(r"arxiv\.org/abs/(?P<id>.+?)(?:v(?P<v>\d+))?$")
_WS = re.compile(r"\s+")


class ApiError(RuntimeError):
    """arXiv's API answered with its error feed (e.g. a malformed id)."""


@dataclass
class Feed:
    records: list[Record | RecordError]
    total: int
    start: int
    per_page: int


def _clean(text: str) -> str:
    return _WS.sub(" ", text or "").strip()


def _rfc2822(t: time.struct_time | None) -> str | None:
    if t is None:
        return None
    return format_datetime(datetime(*t[:6], tzinfo=UTC), usegmt=True)


def _entry(e: Any, index: int) -> Record | RecordError:
    m = _ABS.search(str(e.get("id", "")))
    if not m:
        return RecordError(index, str(e.get("id", "")), "entry id is not an arXiv abs URL")
    pid, version = m.group("id"), m.group("v")
    title = _clean(e.get("title", ""))
    if not title:
        return RecordError(index, pid, "entry without a title")
    published = e.get("published_parsed")
    updated = e.get("updated_parsed") or published
    cats = [t.get("term") for t in e.get("tags", []) if t.get("term")]
    primary = (e.get("arxiv_primary_category") or {}).get("term")
    if primary and primary in cats:
        cats.remove(primary)
        cats.insert(0, primary)
    rec: dict[str, Any] = {
        "id": pid,
        "title": title,
        "abstract": _clean(e.get("summary", "")),
        "authors": ", ".join(_clean(a.get("name", "")) for a in e.get("authors", [])),
        "categories": " ".join(cats),
        "doi": e.get("arxiv_doi"),
        "update_date": time.strftime("%Y-%m-%d", updated) if updated else None,
    }
    if published:
        rec["versions"] = [{"version": "v1", "created": _rfc2822(published)}]
    return Record(
        pid,
        rec["update_date"] or "",
        version=int(version) if version else None,
        kaggle=rec,
    )


def parse_feed(body: bytes) -> Feed:
    """One API response -> Feed; :class:`ApiError` for arXiv's error feed."""
    d = feedparser.parse(body)
    if d.get("bozo") and not d.get("entries") and not d.get("feed"):
        raise ApiError(f"not an Atom feed: {d.get('bozo_exception')}")
    for e in d.entries:
        if "/api/errors" in str(e.get("id", "")):
            raise ApiError(f"arXiv API error: {_clean(e.get('summary', ''))}")
    feed = d.feed
    records = [_entry(e, i) for i, e in enumerate(d.entries)]
    return Feed(
        records,
        total=int(feed.get("opensearch_totalresults", len(records)) or 0),
        start=int(feed.get("opensearch_startindex", 0) or 0),
        per_page=int(feed.get("opensearch_itemsperpage", len(records)) or 0),
    )


def query(
    fetcher: PoliteFetcher,
    endpoint: str,
    *,
    search_query: str = "",
    id_list: str = "",
    start: int = 0,
    page_size: int = 100,
    limit: int | None = None,
) -> Iterator[tuple[int, Feed]]:
    """``(start of this page, feed)`` for each page until the results (or ``limit``) end."""
    while True:
        params = {
            "search_query": search_query,
            "id_list": id_list,
            "sortBy": "submittedDate" if search_query else "relevance",
            "sortOrder": "descending",
            "start": str(start),
            "max_results": str(page_size),
        }
        resp = fetcher.get(endpoint, params)
        feed = parse_feed(resp.body)  # the error feed comes with HTTP 400
        if resp.status >= 400:
            raise ApiError(f"GET {resp.url} answered HTTP {resp.status}")
        yield start, feed
        start += len(feed.records)
        if not feed.records or start >= feed.total or (limit is not None and start >= limit):
            return
