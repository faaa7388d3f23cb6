"""Incremental, resumable harvests: pages from OAI-PMH or the API -> batches for a sink.

The sink (the CLI streams to the gateway's ``Ingest``) gets one :class:`Batch` per page:
Kaggle-format records, ids to delete first (withdrawn papers; papers whose stored full
text belongs to an older version) and, with ``pdf=True``, each new paper's paragraphs.
State is saved after the sink acknowledged a page, so an interrupted harvest resumes at
the first page not acknowledged, and the next harvest of a set starts at the latest
datestamp the last one saw (OAI ``from`` is inclusive: records of that day are fetched
again and rewritten, which is idempotent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.arxiv import atom, oai
from gateway.arxiv.http import FetchError, PoliteFetcher
from gateway.arxiv.pdf import PdfError, extract
from gateway.arxiv.settings import HarvestSettings
from gateway.arxiv.state import HarvestState

log = logging.getLogger(__name__)


@dataclass
class Batch:
    label: str
    records: list[dict[str, Any]] = field(default_factory=list)
    delete_ids: list[str] = field(default_factory=list)
    # (paper id, [{"section", "text"}, ...]) for papers whose PDF was read.
    fulltexts: list[tuple[str, list[dict[str, str]]]] = field(default_factory=list)


@dataclass
class SinkResult:
    papers_written: int = 0
    passages_written: int = 0
    papers_deleted: int = 0
    errors: list[str] = field(default_factory=list)


Sink = Callable[[Batch], SinkResult]


@dataclass
class Summary:
    source: str
    set_spec: str
    from_date: str | None
    until: str | None
    resumed: bool = False
    pages: int = 0
    records: int = 0
    deleted: int = 0
    pdfs: int = 0
    papers_written: int = 0
    passages_written: int = 0
    papers_deleted: int = 0
    malformed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    state_file: str = ""


def pdf_url(base: str, paper_id: str, version: int | None) -> str:
    return f"{base}{paper_id}" + (f"v{version}" if version else "")


def api_query(set_spec: str, from_date: str | None, until: str | None) -> str:
    """``cs`` -> ``cat:cs.*``; ``physics:hep-th`` -> ``cat:hep-th``; plus a date range."""
    if ":" in set_spec:
        q = f"cat:{set_spec.split(':', 1)[1]}"
    elif set_spec:
        q = f"cat:{set_spec}.*" if "." not in set_spec else f"cat:{set_spec}"
    else:
        q = "all:*"
    if from_date or until:
        lo = (from_date or "1991-01-01").replace("-", "") + "0000"
        hi = (until or "2999-12-31").replace("-", "") + "2359"
        q += f" AND submittedDate:[{lo} TO {hi}]"
    return q


class Harvester:
    def __init__(
        self,
        settings: HarvestSettings,
        fetcher: PoliteFetcher,
        sink: Sink,
        state_dir: Path,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.sink = sink
        self.state_dir = state_dir
        self.progress = progress or (lambda _msg: None)

    # -- PDFs ------------------------------------------------------------------------------
    def read_pdf(self, paper_id: str, version: int | None) -> list[dict[str, str]]:
        """Download a paper's PDF (politely) and return its body paragraphs."""
        url = pdf_url(self.settings.pdf_base, paper_id, version)
        resp = self.fetcher.get(url)
        if resp.status >= 400:
            raise FetchError(f"GET {url} answered HTTP {resp.status}", resp.status)
        doc = extract(resp.body, source=url)
        return [{"section": p.section, "text": p.text} for p in doc.paragraphs]

    def _page_batch(
        self,
        label: str,
        records: list[oai.Record | oai.RecordError],
        state: HarvestState,
        summary: Summary,
        pdf: bool,
    ) -> tuple[Batch, dict[str, str]]:
        batch = Batch(label)
        stamps: dict[str, str] = {}
        for r in records:
            if isinstance(r, oai.RecordError):
                msg = (
                    f"{label} record {r.index}" + (f" ({r.id})" if r.id else "") + f": {r.message}"
                )
                summary.malformed.append(msg)
                log.warning("malformed record skipped", extra={"detail": msg})
                continue
            if r.deleted:
                batch.delete_ids.append(r.id)
                stamps[r.id] = ""
                summary.deleted += 1
                continue
            batch.records.append(r.kaggle)
            stamp = f"v{r.version}" if r.version else str(r.kaggle.get("update_date") or "")
            stored = state.pdf_versions.get(r.id)
            if pdf and stored != stamp:
                try:
                    paras = self.read_pdf(r.id, r.version)
                except (FetchError, PdfError) as exc:
                    summary.failed.append(f"{r.id}: PDF not read: {exc}")
                    log.warning("pdf not read", extra={"paper_id": r.id, "error": str(exc)})
                else:
                    batch.delete_ids.append(r.id)  # the old version's passages go first
                    batch.fulltexts.append((r.id, paras))
                    stamps[r.id] = stamp
                    summary.pdfs += 1
            elif stored is not None and stored != stamp:
                # A new version while only the old one's text is stored: drop the stale text.
                batch.delete_ids.append(r.id)
                stamps[r.id] = ""
        return batch, stamps

    def _ack(self, batch: Batch, summary: Summary) -> None:
        res = self.sink(batch)
        summary.papers_written += res.papers_written
        summary.passages_written += res.passages_written
        summary.papers_deleted += res.papers_deleted
        for e in res.errors:
            summary.malformed.append(f"{batch.label}: {e}")

    @staticmethod
    def _commit(state: HarvestState, records: list[Any], stamps: dict[str, str]) -> None:
        state.pages += 1
        for r in records:
            if isinstance(r, oai.RecordError):
                state.errors += 1
                continue
            state.records += 1
            state.deleted += int(r.deleted)
            if r.datestamp and (state.last_datestamp or "") < r.datestamp:
                state.last_datestamp = r.datestamp
        for pid, stamp in stamps.items():
            if stamp:
                state.pdf_versions[pid] = stamp
            else:
                state.pdf_versions.pop(pid, None)

    def _begin(
        self,
        source: str,
        endpoint: str,
        set_spec: str,
        prefix: str,
        from_date: str | None,
        until: str | None,
    ) -> tuple[HarvestState, Summary]:
        state = HarvestState.load(self.state_dir, endpoint, source, set_spec, prefix)
        resume = (
            state.in_progress
            and from_date in (None, state.from_date)
            and until
            in (
                None,
                state.until,
            )
        )
        if resume:
            summary = Summary(source, set_spec, state.from_date, state.until, resumed=True)
            self.progress(
                f"resuming the {source} harvest of {set_spec or 'everything'} "
                f"(from {state.from_date or 'the start'}) after page {state.pages}"
            )
        else:
            state.from_date = from_date or state.last_datestamp
            state.until = until
            state.token, state.start, state.in_progress = None, 0, True
            summary = Summary(source, set_spec, state.from_date, until)
            state.save(self.state_dir)
        summary.state_file = str(
            HarvestState.path_for(self.state_dir, endpoint, source, set_spec, prefix)
        )
        return state, summary

    # -- OAI-PMH ---------------------------------------------------------------------------
    def harvest_oai(
        self,
        *,
        set_spec: str = "cs",
        prefix: str = "arXiv",
        from_date: str | None = None,
        until: str | None = None,
        pdf: bool = False,
        endpoint: str | None = None,
    ) -> Summary:
        t0 = time.monotonic()
        endpoint = endpoint or self.settings.oai_endpoint
        state, summary = self._begin("oai", endpoint, set_spec, prefix, from_date, until)
        try:
            self._oai_pages(state, summary, endpoint, set_spec, prefix, pdf)
        except oai.OAIError as exc:
            if exc.code != "badResumptionToken" or not state.token:
                raise
            # Tokens expire (arXiv's live for hours): start this request over. Pages already
            # ingested are rewritten, which is idempotent.
            log.warning(
                "resumption token rejected; restarting the request",
                extra={"token": state.token, "from": state.from_date},
            )
            self.progress(
                f"the server rejected resumption token {state.token!r} ({exc}); "
                f"restarting from {state.from_date or 'the start'}"
            )
            state.token = None
            state.save(self.state_dir)
            self._oai_pages(state, summary, endpoint, set_spec, prefix, pdf)
        state.in_progress = False
        state.save(self.state_dir)
        summary.seconds = time.monotonic() - t0
        return summary

    def _oai_pages(
        self,
        state: HarvestState,
        summary: Summary,
        endpoint: str,
        set_spec: str,
        prefix: str,
        pdf: bool,
    ) -> None:
        pages: Iterator[tuple[str | None, oai.Page]] = oai.list_records(
            self.fetcher,
            endpoint,
            prefix=prefix,
            set_spec=set_spec or None,
            from_date=state.from_date,
            until=state.until,
            token=state.token,
        )
        for _token, page in pages:
            n = state.pages + 1
            batch, stamps = self._page_batch(f"page {n}", page.records, state, summary, pdf)
            if batch.records or batch.delete_ids:
                self._ack(batch, summary)
            self._commit(state, page.records, stamps)
            state.token = page.token
            state.in_progress = bool(page.token)
            state.save(self.state_dir)
            summary.pages += 1
            summary.records += len(page.records)
            total = f" of {page.complete_list_size}" if page.complete_list_size else ""
            self.progress(
                f"page {n}: {len(page.records)} records ({(page.cursor or 0) + len(page.records)}"
                f"{total}), {summary.papers_written} papers written"
            )

    # -- the API -----------------------------------------------------------------------------
    def harvest_api(
        self,
        *,
        set_spec: str = "cs",
        from_date: str | None = None,
        until: str | None = None,
        pdf: bool = False,
        endpoint: str | None = None,
        page_size: int = 100,
        limit: int | None = None,
    ) -> Summary:
        t0 = time.monotonic()
        endpoint = endpoint or self.settings.api_endpoint
        state, summary = self._begin("api", endpoint, set_spec, "atom", from_date, until)
        q = api_query(set_spec, state.from_date, state.until)
        for start, feed in atom.query(
            self.fetcher,
            endpoint,
            search_query=q,
            start=state.start,
            page_size=page_size,
            limit=limit,
        ):
            n = state.pages + 1
            batch, stamps = self._page_batch(f"page {n}", feed.records, state, summary, pdf)
            if batch.records or batch.delete_ids:
                self._ack(batch, summary)
            self._commit(state, feed.records, stamps)
            state.start = start + len(feed.records)
            state.save(self.state_dir)
            summary.pages += 1
            summary.records += len(feed.records)
            self.progress(f"page {n}: {state.start} of {feed.total} results")
        state.in_progress = False
        state.save(self.state_dir)
        summary.seconds = time.monotonic() - t0
        return summary
