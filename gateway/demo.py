"""``arxivqa demo``: ``up``, then ingest ../shared/data/arxiv (or the shipped sample, or a
file), then print what to try."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

from gateway.ingest_client import Source, ingest_sources, print_summary
from gateway.supervisor import GATEWAY, RUN_DIR, cmd_up, http_port
from services.common.settings import PROJECT_ROOT

SHARED_ARXIV = PROJECT_ROOT.parent / "shared" / "data" / "arxiv"
SAMPLE = PROJECT_ROOT / "gateway" / "sample" / "arxiv_metadata_sample.jsonl"


def demo_sources(shared: Path = SHARED_ARXIV) -> list[Source]:
    files = [
        ("papers", "kaggle_sample_200.jsonl"),
        ("papers", "unarxive_sample_papers.jsonl"),
        ("fulltext", "unarxive_sample_fulltext.jsonl"),
        ("citations", "unarxive_sample_refs.tsv"),
        ("papers", "arxiv2023_papers.jsonl"),
        ("citations", "arxiv2023_citations.tsv"),
    ]
    return [Source(k, shared / f) for k, f in files if (shared / f).is_file()]


def cmd_demo(args: argparse.Namespace) -> int:
    if args.file:
        sources = [Source("papers", Path(args.file))]
        if not sources[0].path.is_file():
            print(f"error: no such file: {args.file}", file=sys.stderr)
            return 2
    else:
        sources = demo_sources()
        if not sources:
            # A fresh clone: the CC0 metadata sample that ships with the project.
            print(f"no demo data at {SHARED_ARXIV}; using the shipped sample {SAMPLE.name}")
            sources = [Source("papers", SAMPLE)]
    page = f"http://127.0.0.1:{http_port()}/ui/"
    print(f"web page: {page} (once the stack below is up)")
    cmd_up(args)
    print(f"\nopen {page} in a browser: papers appear there as they are ingested")
    print("\ningesting:", ", ".join(s.path.name for s in sources))
    summary = ingest_sources(
        sources,
        gateway=GATEWAY.target,
        api_key=os.environ.get("ARXIVQA_GATEWAY_API_KEY"),
        checkpoint=RUN_DIR / "demo-checkpoint.json",
    )
    print_summary(summary)
    http = http_port()
    from gateway.harvest_cli import last_week

    print(
        textwrap.dedent(
            f"""
            try:
              open http://127.0.0.1:{http}/ui/ in a browser (the web page)
              .venv/bin/arxivqa search "attention is all you need" --mode hybrid
              .venv/bin/arxivqa search "adam stochastic optimization" --mode text --category cs.LG
              .venv/bin/arxivqa paper 1412.6980
              .venv/bin/arxivqa ask "which dataset was used for evaluation?"
              curl -s localhost:{http}/v1/search -H 'content-type: application/json' \\
                   -d '{{"query": "graph neural networks", "k": 5}}'
              curl -s localhost:{http}/v1/rank?k=5
              open http://127.0.0.1:{http}/docs for the whole API
            fresh papers from arXiv (online; polite, resumable, incremental):
              .venv/bin/arxivqa harvest --set cs --from {last_week()} --contact you@example.org
              .venv/bin/arxivqa fetch-pdf 1706.03762   # read a paper's full text
            stop with: make down"""
        )
    )
    return 0
