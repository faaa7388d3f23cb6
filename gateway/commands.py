"""``arxivqa search | ask | paper``: the gateway's read operations, printed for a person."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

import grpc

from services.common.settings import message_size_options


def gateway_stub(target: str) -> Any:
    """A Gateway stub on a plain channel to ``target`` (host:port)."""
    from arxivqa.gateway.v1 import gateway_pb2_grpc

    channel = grpc.insecure_channel(target, options=message_size_options())
    return gateway_pb2_grpc.GatewayStub(channel)


def _fail(exc: grpc.RpcError) -> int:
    print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
    return 1


def _filters(args: argparse.Namespace) -> Any:
    from arxivqa.gateway.v1 import gateway_pb2 as pb

    return pb.Filters(
        categories=args.category or [],
        authors=args.author or [],
        year_from=args.year_from or 0,
        year_to=args.year_to or 0,
    )


def _wrap(text: str, indent: str = "      ", width: int = 100) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent)


def cmd_search(args: argparse.Namespace) -> int:
    from arxivqa.gateway.v1 import gateway_pb2 as pb

    mode = {
        "vector": pb.SEARCH_MODE_VECTOR,
        "text": pb.SEARCH_MODE_TEXT,
        "hybrid": pb.SEARCH_MODE_HYBRID,
    }[args.mode]
    try:
        resp = gateway_stub(args.gateway).Search(
            pb.SearchRequest(
                query=args.query, mode=mode, filters=_filters(args), k=args.k, offset=args.offset
            ),
            timeout=args.timeout,
        )
    except grpc.RpcError as exc:
        return _fail(exc)
    print(f"{len(resp.hits)} of {resp.total} papers for {args.query!r} ({args.mode})")
    for i, h in enumerate(resp.hits, start=args.offset + 1):
        p = h.paper
        cats = ", ".join(p.categories)
        print(f"{i:>3}. [{h.score:.4f}] {p.title}")
        print(f"      {p.id} · {p.year or '?'} · {cats} · {p.url}")
        if p.authors:
            print(_wrap(", ".join(p.authors[:6]) + (" et al." if len(p.authors) > 6 else "")))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from arxivqa.gateway.v1 import gateway_pb2 as pb

    try:
        resp = gateway_stub(args.gateway).Ask(
            pb.AskRequest(
                question=args.question,
                filters=_filters(args),
                passages=args.passages,
                top_k=args.top_k,
            ),
            timeout=args.timeout,
        )
    except grpc.RpcError as exc:
        return _fail(exc)
    print(f"Q: {args.question}")
    if resp.note:
        print(f"note: {resp.note}")
    for i, a in enumerate(resp.answers, start=1):
        print(f"{i}. {a.text!r}  (score {a.score:.2f})")
        print(f"   {a.paper.title} — {a.paper.id} ({a.paper.year or '?'}) {a.paper.url}")
        print(_wrap(f"evidence: {a.evidence}", indent="   "))
    print(f"passages read ({len(resp.passages)}):")
    for p in resp.passages:
        src = "abstract" if p.source == pb.PASSAGE_SOURCE_ABSTRACT else f"§ {p.section}"
        print(f"  - {p.paper_id} {src}: {p.text[:160]}{'…' if len(p.text) > 160 else ''}")
    return 0


def cmd_paper(args: argparse.Namespace) -> int:
    from arxivqa.gateway.v1 import gateway_pb2 as pb

    try:
        r = gateway_stub(args.gateway).GetPaper(
            pb.GetPaperRequest(id=args.id), timeout=args.timeout
        )
    except grpc.RpcError as exc:
        return _fail(exc)
    p = r.paper
    print(p.title)
    print(f"  {p.id} · {p.year or '?'} · {', '.join(p.categories)} · {p.url}")
    if p.authors:
        print(_wrap(", ".join(p.authors), indent="  "))
    if r.citations_available:
        print(f"  cited by {r.citation_count} · cites {r.reference_count} (in the citation graph)")
    else:
        print(f"  citation counts unavailable: {r.note}")
    if p.abstract:
        print()
        print(_wrap(p.abstract, indent="  "))
    return 0
