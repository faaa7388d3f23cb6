"""``arxivqa ingest``: stream JSONL/TSV files to the gateway's Ingest, resumably.

A checkpoint file records, per input file (path, size and mtime), how many lines the
gateway has acknowledged; running the same command again resumes after them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from gateway.commands import gateway_stub


@dataclass
class Source:
    kind: str  # "papers", "fulltext", "citations"
    path: Path


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{int(st.st_mtime)}"


class Checkpoint:
    """Lines already acknowledged by the gateway, per input file (size and mtime included)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, int] = {}
        if path.exists():
            with contextlib.suppress(ValueError, OSError):
                self.done = {str(k): int(v) for k, v in json.loads(path.read_text()).items()}

    def get(self, source: Source) -> int:
        return self.done.get(_fingerprint(source.path), 0)

    def set(self, source: Source, lines: int) -> None:
        self.done[_fingerprint(source.path)] = lines
        tmp = self.path.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(self.done, indent=1))
        tmp.replace(self.path)


def _batches(source: Source, skip: int, size: int) -> Iterator[tuple[int, Any]]:
    """(lines consumed so far, IngestRequest) for the lines after the first ``skip``."""
    from arxivqa.gateway.v1 import gateway_pb2 as pb

    def flush(items: list[Any]) -> Any:
        if source.kind == "papers":
            return pb.IngestRequest(records=items)
        if source.kind == "fulltext":
            return pb.IngestRequest(fulltexts=items)
        return pb.IngestRequest(citations=items)

    items: list[Any] = []
    n = 0
    with open(source.path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            n += 1
            if n <= skip:
                continue
            if source.kind == "papers":
                items.append(line.strip())
            elif source.kind == "fulltext":
                try:
                    rec = json.loads(line)
                    paras = [
                        pb.Paragraph(section=str(p.get("section") or ""), text=str(p.get("text")))
                        for p in rec.get("paragraphs") or []
                        if isinstance(p, dict) and p.get("text")
                    ]
                    items.append(pb.FullText(paper_id=str(rec.get("id") or ""), paragraphs=paras))
                except (json.JSONDecodeError, AttributeError):
                    items.append(pb.FullText(paper_id=""))  # reported by the gateway
            else:
                parts = line.strip().split("\t")
                a, b = [*parts, ""][:2]
                items.append(pb.Citation(citing_id=a.strip(), cited_id=b.strip()))
            if len(items) >= size:
                yield n, flush(items)
                items = []
    if items:
        yield n, flush(items)


def ingest_sources(
    sources: Sequence[Source],
    *,
    gateway: str,
    api_key: str | None,
    checkpoint: Path,
    restart: bool = False,
    batch_size: int = 256,
    quiet: bool = False,
) -> dict[str, Any]:
    """Stream files to the gateway's Ingest, checkpointing after every acknowledged batch."""
    from tqdm import tqdm

    cp = Checkpoint(checkpoint)
    stub = gateway_stub(gateway)
    metadata = [("x-api-key", api_key)] if api_key else []
    totals: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    samples: list[str] = []
    t0 = time.monotonic()
    for source in sources:
        skip = 0 if restart else cp.get(source)
        total = _count_lines(source.path)
        if skip >= total:
            if not quiet:
                print(f"{source.path.name}: already ingested ({total} lines; --restart to redo)")
            continue
        size = {"papers": batch_size, "fulltext": 1, "citations": 5000}[source.kind]
        sent: deque[int] = deque()

        def requests(
            source: Source = source, skip: int = skip, size: int = size, sent: deque[int] = sent
        ) -> Iterator[Any]:
            for i, (upto, req) in enumerate(_batches(source, skip, size)):
                req.batch_id = f"{source.path.name}:{i}"
                sent.append(upto)
                yield req

        bar = tqdm(
            total=total,
            initial=skip,
            desc=f"{source.path.name}",
            unit=" lines",
            disable=quiet,
            dynamic_ncols=True,
        )
        done = skip
        try:
            for resp in stub.Ingest(requests(), metadata=metadata):
                upto = sent.popleft()
                bar.update(upto - done)
                done = upto
                cp.set(source, done)
                totals["papers"] += resp.papers_written
                totals["passages"] += resp.passages_written
                totals["citations"] += resp.citations_added
                for e in resp.errors:
                    kinds[f"{e.kind}: {e.message.split(':')[0]}"] += 1
                    if len(samples) < 10:
                        samples.append(
                            f"{source.path.name} [{e.kind} {e.id or e.index}] {e.message}"
                        )
                bar.set_postfix(
                    papers=totals["papers"], passages=totals["passages"], errors=sum(kinds.values())
                )
        except grpc.RpcError as exc:
            bar.close()
            raise SystemExit(
                f"ingest stopped at line {done} of {source.path}: {exc.code().name}: "
                f"{exc.details()}\nprogress is saved in {checkpoint}; run the same command "
                "again to resume"
            ) from None
        bar.close()
    seconds = time.monotonic() - t0
    return {
        "papers": totals["papers"],
        "passages": totals["passages"],
        "citations": totals["citations"],
        "errors": dict(kinds),
        "samples": samples,
        "seconds": seconds,
    }


def print_summary(summary: dict[str, Any]) -> None:
    s = max(summary["seconds"], 1e-9)
    print(
        f"ingested {summary['papers']} papers, {summary['passages']} passages, "
        f"{summary['citations']} new citations in {s:.1f} s "
        f"({summary['papers'] / s:.0f} papers/s, {summary['passages'] / s:.0f} passages/s)"
    )
    errors = summary["errors"]
    if errors:
        print(f"{sum(errors.values())} records skipped:")
        for kind, n in sorted(errors.items(), key=lambda kv: -kv[1]):
            print(f"  {n:>6}  {kind}")
        print("first ones:")
        for line in summary["samples"]:
            print(f"  {line}")
    else:
        print("no errors")


def cmd_ingest(args: argparse.Namespace) -> int:
    sources = []
    for kind, path in (
        ("papers", args.papers),
        ("fulltext", args.fulltext),
        ("citations", args.citations),
    ):
        if path:
            p = Path(path)
            if not p.is_file():
                print(f"error: --{kind}: no such file: {p}", file=sys.stderr)
                return 2
            sources.append(Source(kind, p))
    if not sources:
        print("error: name at least one of --papers, --fulltext, --citations", file=sys.stderr)
        return 2
    summary = ingest_sources(
        sources,
        gateway=args.gateway,
        api_key=args.api_key,
        checkpoint=Path(args.checkpoint),
        restart=args.restart,
        batch_size=args.batch_size,
    )
    print_summary(summary)
    return 0
