"""The ``arxivqa`` command: run the local stack, ingest data, and ask it things.

    arxivqa up | down | status
    arxivqa ingest --papers FILE [--fulltext FILE] [--citations FILE]
    arxivqa search "graph neural networks" [--mode hybrid] [-k 10]
    arxivqa ask "what optimiser was used?"
    arxivqa paper 1412.6980
    arxivqa demo [FILE]
    arxivqa harvest [--set cs] [--from DATE] [--pdf]   (live arXiv, gateway.harvest_cli)
    arxivqa fetch-pdf ID... | ingest-pdf FILE --id ID
    arxivqa train-reader ...     (the reader training pipeline, services.qa.training)

This module parses the arguments and dispatches; the commands live in
:mod:`gateway.supervisor` (up, down, status), :mod:`gateway.commands` (search, ask, paper),
:mod:`gateway.ingest_client` (ingest), :mod:`gateway.demo` and :mod:`gateway.harvest_cli`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from gateway.commands import cmd_ask, cmd_paper, cmd_search, gateway_stub
from gateway.demo import cmd_demo
from gateway.ingest_client import cmd_ingest
from gateway.supervisor import DATA_DIR, RUN_DIR, SERVICES, cmd_down, cmd_status, cmd_up
from services.common.settings import local_target

# SERVICES and cmd_status are used from here by the stack tests (tests/gateway).
__all__ = ["SERVICES", "cmd_status", "main"]

DEFAULT_GATEWAY = os.environ.get("ARXIVQA_GATEWAY_ADDR", local_target("gateway"))


def cmd_train_reader(argv: list[str]) -> int:
    try:
        from services.qa.training.cli import main as train_main
    except ImportError as exc:
        print(
            f"the reader training pipeline is not installed here (services.qa.training.cli: {exc})",
            file=sys.stderr,
        )
        return 2
    result = train_main(argv)
    return int(result or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arxivqa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start Redis, every service and the gateway")
    up.add_argument("--timeout", type=float, default=300, help="seconds to wait for health")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop what 'up' started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="health of each process").set_defaults(func=cmd_status)

    def client(p: argparse.ArgumentParser, timeout: float = 30.0) -> None:
        p.add_argument("--gateway", default=DEFAULT_GATEWAY, help="gateway gRPC host:port")
        p.add_argument("--timeout", type=float, default=timeout, help="deadline in seconds")

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--category", action="append", help="any of these (repeatable)")
        p.add_argument("--author", action="append", help="any of these (repeatable)")
        p.add_argument("--year-from", type=int)
        p.add_argument("--year-to", type=int)

    s = sub.add_parser("search", help="search papers")
    s.add_argument("query")
    s.add_argument("--mode", choices=["vector", "text", "hybrid"], default="hybrid")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--offset", type=int, default=0)
    filters(s)
    client(s)
    s.set_defaults(func=cmd_search)

    a = sub.add_parser("ask", help="ask a question")
    a.add_argument("question")
    a.add_argument("--passages", type=int, default=5, help="passages to read")
    a.add_argument("--top-k", type=int, default=3, help="answers to show")
    filters(a)
    client(a, 60.0)
    a.set_defaults(func=cmd_ask)

    p = sub.add_parser("paper", help="one paper with its citation counts")
    p.add_argument("id")
    client(p)
    p.set_defaults(func=cmd_paper)

    i = sub.add_parser("ingest", help="load Kaggle JSONL, full text and citations")
    i.add_argument("--papers", help="Kaggle arXiv metadata JSONL")
    i.add_argument("--fulltext", help='JSONL of {"id", "paragraphs": [{"section", "text"}]}')
    i.add_argument("--citations", help="TSV: citing_id<TAB>cited_id")
    i.add_argument("--batch-size", type=int, default=256, help="records per batch")
    i.add_argument("--checkpoint", default=str(RUN_DIR / "ingest-checkpoint.json"))
    i.add_argument("--restart", action="store_true", help="ignore the checkpoint")
    i.add_argument("--api-key", default=os.environ.get("ARXIVQA_GATEWAY_API_KEY"))
    i.add_argument("--gateway", default=DEFAULT_GATEWAY, help="gateway gRPC host:port")
    i.set_defaults(func=cmd_ingest)

    d = sub.add_parser("demo", help="up + ingest ../shared/data/arxiv (or FILE) + what to try")
    d.add_argument("file", nargs="?", help="Kaggle-format JSONL when ../shared is absent")
    d.add_argument("--timeout", type=float, default=300)
    d.set_defaults(func=cmd_demo)

    from gateway import harvest_cli

    def run(fn: Any) -> Any:
        return lambda args: fn(args, stub=gateway_stub(args.gateway), data_dir=DATA_DIR)

    harvest_cli.add_parsers(sub, DEFAULT_GATEWAY, run)

    sub.add_parser("train-reader", help="train, evaluate, register, promote the QA reader")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train-reader":
        return cmd_train_reader(argv[1:])
    args = _parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
