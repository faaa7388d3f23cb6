"""``arxivqa harvest | fetch-pdf | ingest-pdf``: live arXiv into the gateway.

The protocol work is in :mod:`gateway.arxiv` (no gRPC); this module is the gRPC side: a
sink that streams each harvested page to the gateway's ``Ingest`` and the commands.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

from gateway.arxiv import atom
from gateway.arxiv.harvest import Batch, Harvester, SinkResult, Summary
from gateway.arxiv.http import FetchError, PoliteFetcher
from gateway.arxiv.oai import PREFIXES, OAIError, Record
from gateway.arxiv.pdf import PdfError, extract
from gateway.arxiv.settings import HarvestSettings
from gateway.arxiv.state import HarvestState
from services.common.settings import load_settings


class GatewaySink:
    """Streams a batch to the gateway's Ingest: deletes and records first, then full texts."""

    def __init__(self, stub: Any, api_key: str | None = None, chunk: int = 256) -> None:
        self.stub = stub
        self.metadata = [("x-api-key", api_key)] if api_key else []
        self.chunk = chunk

    def __call__(self, batch: Batch) -> SinkResult:
        from arxivqa.gateway.v1 import gateway_pb2 as pb

        reqs = []
        records = [json.dumps(r, ensure_ascii=False) for r in batch.records]
        for s in range(0, max(len(records), 1), self.chunk):
            reqs.append(
                pb.IngestRequest(
                    batch_id=f"{batch.label}:{s // self.chunk}",
                    records=records[s : s + self.chunk],
                    delete_ids=batch.delete_ids if s == 0 else [],
                )
            )
        for pid, paras in batch.fulltexts:
            reqs.append(
                pb.IngestRequest(
                    batch_id=f"{batch.label}:{pid}",
                    fulltexts=[
                        pb.FullText(
                            paper_id=pid,
                            paragraphs=[
                                pb.Paragraph(section=p["section"], text=p["text"]) for p in paras
                            ],
                        )
                    ],
                )
            )
        out = SinkResult()
        for resp in self.stub.Ingest(iter(reqs), metadata=self.metadata):
            out.papers_written += resp.papers_written
            out.passages_written += resp.passages_written
            out.papers_deleted += resp.papers_deleted
            out.errors.extend(f"[{e.kind} {e.id or e.index}] {e.message}" for e in resp.errors)
        return out


def _settings(args: argparse.Namespace) -> HarvestSettings:
    s = load_settings(HarvestSettings)
    if getattr(args, "contact", None):
        s.contact = args.contact
    return s


def _state_dir(settings: HarvestSettings, data_dir: Path) -> Path:
    return Path(settings.data_dir) if settings.data_dir else data_dir / "harvest"


def print_summary(s: Summary) -> None:
    what = f"{s.source} harvest of {s.set_spec or 'everything'}"
    span = f"from {s.from_date or 'the start'}" + (f" until {s.until}" if s.until else "")
    print(
        f"{what} ({span}{', resumed' if s.resumed else ''}): {s.pages} pages, "
        f"{s.records} records, {s.deleted} deleted upstream, {s.pdfs} PDFs read; "
        f"{s.papers_written} papers and {s.passages_written} passages written, "
        f"{s.papers_deleted} removed, in {s.seconds:.1f} s"
    )
    for label, items in (("malformed records skipped", s.malformed), ("failed", s.failed)):
        if items:
            print(f"{len(items)} {label}:")
            for line in items[:10]:
                print(f"  {line}")
    print(f"state: {s.state_file} (the next run continues from here)")


def cmd_harvest(args: argparse.Namespace, *, stub: Any, data_dir: Path) -> int:
    settings = _settings(args)
    if args.min_interval is not None:
        settings.min_interval = args.min_interval
    if settings.min_interval < 3 and not args.endpoint:
        print("warning: arXiv asks for at least 3 s between requests", file=sys.stderr)
    sink = GatewaySink(stub, args.api_key)
    state_dir = _state_dir(settings, data_dir)
    if not args.from_date:
        endpoint = args.endpoint or (
            settings.oai_endpoint if args.source == "oai" else settings.api_endpoint
        )
        prefix = args.format if args.source == "oai" else "atom"
        prior = HarvestState.load(state_dir, endpoint, args.source, args.set, prefix)
        if not prior.in_progress and not prior.last_datestamp:
            # A first harvest of this set: a week, not the set's whole history.
            args.from_date = last_week()
            print(f"first harvest of {args.set or 'everything'}: from {args.from_date}")
    with PoliteFetcher(settings) as fetcher:
        h = Harvester(settings, fetcher, sink, state_dir, progress=print)
        try:
            if args.source == "oai":
                summary = h.harvest_oai(
                    set_spec=args.set,
                    prefix=args.format,
                    from_date=args.from_date,
                    until=args.until,
                    pdf=args.pdf,
                    endpoint=args.endpoint,
                )
            else:
                summary = h.harvest_api(
                    set_spec=args.set,
                    from_date=args.from_date,
                    until=args.until,
                    pdf=args.pdf,
                    endpoint=args.endpoint,
                    limit=args.limit,
                )
        except (FetchError, OAIError) as exc:
            print(
                f"error: {exc}\nprogress is saved; run the same command to resume", file=sys.stderr
            )
            return 1
        except grpc.RpcError as exc:
            print(
                f"error: gateway: {exc.code().name}: {exc.details()}\n"
                "progress is saved up to the last acknowledged page; run again to resume",
                file=sys.stderr,
            )
            return 1
    print_summary(summary)
    return 0


def _api_record(fetcher: PoliteFetcher, endpoint: str, ident: str) -> dict[str, Any] | None:
    """The paper's metadata from the arXiv API (for a paper the gateway does not know)."""
    for _start, feed in atom.query(fetcher, endpoint, id_list=ident, page_size=1, limit=1):
        for rec in feed.records:
            if isinstance(rec, Record):
                return rec.kaggle
    return None


def _ingest_pdf(
    stub: Any,
    api_key: str | None,
    pid: str,
    data: bytes,
    source: str,
    metadata: Callable[[], dict[str, Any] | None] | None = None,
) -> int:
    """Replace the paper's passages with the PDF's paragraphs (its metadata is sent again:
    the gateway's, else ``metadata()``'s, else a title taken from the PDF)."""
    from arxivqa.gateway.v1 import gateway_pb2 as pb

    doc = extract(data, source=source)
    try:
        paper = stub.GetPaper(pb.GetPaperRequest(id=pid), timeout=30).paper
        record: dict[str, Any] = {
            "id": paper.id,
            "title": paper.title,
            "abstract": paper.abstract,
            "authors": ", ".join(paper.authors),
            "categories": " ".join(paper.categories),
            "update_date": paper.update_date or None,
        }
        if paper.year:
            record["versions"] = [
                {"version": "v1", "created": f"Mon, 1 Jan {paper.year} 00:00:00 GMT"}
            ]
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        found = metadata() if metadata else None
        if found:
            record = found
        else:
            title = doc.paragraphs[0].text[:200] if doc.paragraphs else pid
            record = {"id": pid, "title": title}
            print(f"{pid}: not in the index and no metadata found; titled from the PDF")
    batch = Batch(
        f"pdf {pid}",
        records=[record],
        delete_ids=[pid],
        fulltexts=[(pid, [{"section": p.section, "text": p.text} for p in doc.paragraphs])],
    )
    res = GatewaySink(stub, api_key)(batch)
    print(
        f"{pid}: {doc.pages} pages, {len(doc.paragraphs)} paragraphs in {len(doc.sections)} "
        f"sections, {len(doc.references)} references kept apart; "
        f"{res.passages_written} passages written"
    )
    for e in res.errors[:10]:
        print(f"  {e}")
    return 0 if not res.errors else 1


def cmd_ingest_pdf(args: argparse.Namespace, *, stub: Any, data_dir: Path) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    try:
        pid = re.sub(r"v\d+$", "", args.id.strip())
        return _ingest_pdf(stub, args.api_key, pid, path.read_bytes(), str(path))
    except PdfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:
        print(f"error: gateway: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1


def cmd_fetch_pdf(args: argparse.Namespace, *, stub: Any, data_dir: Path) -> int:
    settings = _settings(args)
    rc = 0
    with PoliteFetcher(settings) as fetcher:
        for ident in args.ids:
            url = f"{settings.pdf_base}{ident}"
            try:
                resp = fetcher.get(url)
                if resp.status >= 400:
                    raise FetchError(f"GET {url} answered HTTP {resp.status}", resp.status)
                pid = re.sub(r"v\d+$", "", ident)
                rc |= _ingest_pdf(
                    stub,
                    args.api_key,
                    pid,
                    resp.body,
                    url,
                    metadata=functools.partial(_api_record, fetcher, settings.api_endpoint, ident),
                )
            except (FetchError, PdfError, atom.ApiError) as exc:
                print(f"{ident}: {exc}", file=sys.stderr)
                rc = 1
            except grpc.RpcError as exc:
                print(f"{ident}: gateway: {exc.code().name}: {exc.details()}", file=sys.stderr)
                rc = 1
    return rc


def last_week() -> str:
    return (datetime.now(UTC) - timedelta(days=7)).date().isoformat()


def add_parsers(sub: Any, gateway_default: str, run: Any) -> None:
    """Register the commands; ``run(fn)`` wraps a command taking (args, stub, data_dir)."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--gateway", default=gateway_default, help="gateway gRPC host:port")
        p.add_argument("--api-key", default=os.environ.get("ARXIVQA_GATEWAY_API_KEY"))
        p.add_argument("--contact", help="e-mail for the User-Agent (ARXIVQA_HARVEST_CONTACT)")

    h = sub.add_parser("harvest", help="harvest arXiv metadata (OAI-PMH or API) incrementally")
    h.add_argument("--set", default="cs", help="OAI set: cs, math, physics:hep-th, ...")
    h.add_argument(
        "--from",
        dest="from_date",
        help="YYYY-MM-DD (default: where the last run ended; a week ago on the first run)",
    )
    h.add_argument("--until", help="YYYY-MM-DD")
    h.add_argument("--format", default="arXiv", choices=[p for p in PREFIXES])
    h.add_argument("--source", default="oai", choices=["oai", "api"])
    h.add_argument("--pdf", action="store_true", help="also read each new paper's PDF")
    h.add_argument("--endpoint", help="OAI or API base URL (default: arXiv's)")
    h.add_argument("--limit", type=int, help="API: stop after this many results")
    h.add_argument("--min-interval", type=float, help="seconds between requests (default 3)")
    common(h)
    h.set_defaults(func=run(cmd_harvest))

    f = sub.add_parser("fetch-pdf", help="download papers' PDFs and ingest their text")
    f.add_argument("ids", nargs="+", help="arXiv ids, e.g. 1706.03762 or 1706.03762v5")
    common(f)
    f.set_defaults(func=run(cmd_fetch_pdf))

    i = sub.add_parser("ingest-pdf", help="ingest a local PDF as a paper's full text")
    i.add_argument("file")
    i.add_argument("--id", required=True, help="the paper's arXiv id")
    common(i)
    i.set_defaults(func=run(cmd_ingest_pdf))
