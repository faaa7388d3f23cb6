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

``up`` starts Redis with Search (data under .data/redis, AOF on), then every service and
the gateway as local processes (PID files and logs under .data/run/), waits for their
health checks and prints the URLs. ``down`` stops them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from services.common.redis_server import PROJECT_ROOT

DATA_DIR = Path(os.environ.get("ARXIVQA_DATA_DIR", PROJECT_ROOT / ".data"))
RUN_DIR = DATA_DIR / "run"
SHARED_ARXIV = PROJECT_ROOT.parent / "shared" / "data" / "arxiv"
DEFAULT_GATEWAY = os.environ.get("ARXIVQA_GATEWAY_ADDR", "127.0.0.1:50050")
SAMPLE = PROJECT_ROOT / "gateway" / "sample" / "arxiv_metadata_sample.jsonl"


# -- the local stack -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Proc:
    name: str
    module: str
    port_env: str
    default_port: int

    @property
    def port(self) -> int:
        return int(os.environ.get(self.port_env, self.default_port))

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


SERVICES = (
    Proc("embedder", "services.embedder.server", "ARXIVQA_EMBEDDER_PORT", 50051),
    Proc("retriever", "services.retriever.server", "ARXIVQA_RETRIEVER_PORT", 50052),
    Proc("graph", "services.graph.server", "ARXIVQA_GRAPH_PORT", 50054),
    Proc("qa", "services.qa.server", "ARXIVQA_QA_PORT", 50053),
)
GATEWAY = Proc("gateway", "gateway.server", "ARXIVQA_GATEWAY_PORT", 50050)


def _pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(name: str) -> int | None:
    path = _pid_file(name)
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
    except ValueError:
        return None
    return pid if _alive(pid) else None


def _log_tail(name: str, lines: int = 15) -> str:
    path = RUN_DIR / f"{name}.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _redis_url() -> tuple[str, bool]:
    """(url, external): REDIS_URL when given, else the local server's address."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url, True
    port = int(os.environ.get("ARXIVQA_REDIS_PORT", "6379"))
    return f"redis://127.0.0.1:{port}/0", False


def _start_redis() -> str:
    import redis

    url, external = _redis_url()
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
        print(f"  redis      {url} (already running)")
        return url
    except redis.RedisError:
        if external:
            raise SystemExit(
                f"REDIS_URL={url} does not answer; start it or unset REDIS_URL"
            ) from None
    finally:
        client.close()
    from services.common.redis_server import LocalRedis, RedisNotInstalled

    port = int(url.rsplit(":", 1)[1].split("/")[0])
    server = LocalRedis(data_dir=DATA_DIR / "redis", port=port, appendonly=True)
    try:
        server.start(timeout=60)
    except RedisNotInstalled as exc:
        raise SystemExit(str(exc)) from None
    # The server outlives this command; `down` stops it with SHUTDOWN (flushing the AOF).
    proc = getattr(server, "_proc", None)
    if proc is not None:
        _pid_file("redis").write_text(str(proc.pid))
    print(f"  redis      {url} (data in {DATA_DIR / 'redis'}, AOF on)")
    return url


def _qa_model() -> tuple[str | None, str]:
    """The reader to serve and where it came from, or (None, why not)."""
    model = os.environ.get("ARXIVQA_QA_MODEL")
    if model:
        return model, "ARXIVQA_QA_MODEL"
    shipped = PROJECT_ROOT / "models" / "reader"
    if (shipped / "config.json").is_file():
        return str(shipped), "the reader shipped with the project"
    return None, (
        f"no reader configured: {shipped} is missing (restore it with git), or set "
        "ARXIVQA_QA_MODEL to a model directory, a hub id or models:/reader@production; "
        "Ask returns passages without answers until then"
    )


def _spawn(proc: Proc, env: dict[str, str]) -> int:
    existing = _read_pid(proc.name)
    if existing:
        print(f"  {proc.name:<10} already running (pid {existing})")
        return existing
    log = open(RUN_DIR / f"{proc.name}.log", "ab")
    child = subprocess.Popen(
        [sys.executable, "-m", proc.module],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    _pid_file(proc.name).write_text(str(child.pid))
    return child.pid


def _wait_healthy(procs: Sequence[Proc], timeout: float) -> None:
    from services.common.healthcheck import check

    pending = {p.name: p for p in procs}
    deadline = time.monotonic() + timeout
    while pending:
        for name, proc in list(pending.items()):
            if _read_pid(name) is None:
                raise SystemExit(
                    f"{name} exited during start; last log lines ({RUN_DIR / (name + '.log')}):\n"
                    + _log_tail(name)
                )
            ok, _status = check(proc.target, timeout=1.0)
            if ok:
                print(f"  {name:<10} SERVING on {proc.target}")
                del pending[name]
        if pending and time.monotonic() > deadline:
            names = ", ".join(pending)
            raise SystemExit(f"not healthy after {timeout:.0f} s: {names}; see {RUN_DIR}/*.log")
        if pending:
            time.sleep(0.5)


def cmd_up(args: argparse.Namespace) -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    print("starting the arxivqa stack")
    redis_url = _start_redis()
    env = dict(os.environ)
    env.setdefault("REDIS_URL", redis_url)
    env.setdefault("PYTHONUNBUFFERED", "1")
    model, why = _qa_model()
    procs = [p for p in SERVICES if p.name != "qa" or model]
    if model:
        env["ARXIVQA_QA_MODEL"] = model
        print(f"  qa         reader from {why}: {model}")
    else:
        print(f"  qa         not started: {why}")
    for proc in procs:
        env[proc.port_env] = str(proc.port)
        _spawn(proc, env)
    _wait_healthy(procs, args.timeout)
    started = {p.name for p in procs}
    for p in SERVICES:
        env[f"ARXIVQA_GATEWAY_{p.name.upper()}_TARGET"] = p.target if p.name in started else ""
    env[GATEWAY.port_env] = str(GATEWAY.port)
    http_port = int(os.environ.get("ARXIVQA_GATEWAY_HTTP_PORT", "8080"))
    env["ARXIVQA_GATEWAY_HTTP_PORT"] = str(http_port)
    _spawn(GATEWAY, env)
    _wait_healthy([GATEWAY], args.timeout)
    print(
        textwrap.dedent(
            f"""
            arxivqa is up
              web page      http://127.0.0.1:{http_port}/ui/   (search, ask, papers, citation graph)
              HTTP API      http://127.0.0.1:{http_port}   (OpenAPI docs: /docs, readiness: /readyz)
              gRPC gateway  {GATEWAY.target}   (arxivqa.gateway.v1.Gateway, reflection on)
              logs, pids    {RUN_DIR}
              stop with     arxivqa down   (or make down)"""
        )
    )
    return 0


def _stop_pid(name: str, pid: int, timeout: float = 20.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        print(f"  {name:<10} killed (pid {pid}; did not stop in {timeout:.0f} s)")
    else:
        print(f"  {name:<10} stopped (pid {pid})")


def cmd_down(args: argparse.Namespace) -> int:
    print("stopping the arxivqa stack")
    for proc in (GATEWAY, *reversed(SERVICES)):
        pid = _read_pid(proc.name)
        if pid:
            _stop_pid(proc.name, pid)
        _pid_file(proc.name).unlink(missing_ok=True)
    pid = _read_pid("redis")
    if pid:
        import redis

        url, _ = _redis_url()
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(url, socket_timeout=5).shutdown(nosave=False)
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _stop_pid("redis", pid)
        else:
            print(f"  {'redis':<10} stopped (pid {pid}; AOF flushed)")
    _pid_file("redis").unlink(missing_ok=True)
    return 0


def _redis_status(url: str) -> str:
    """SERVING when Redis answers PING, else UNAVAILABLE (not running) or the error."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
        return "SERVING"
    except redis.BusyLoadingError:
        return "LOADING"
    except (redis.ConnectionError, redis.TimeoutError):
        return "UNAVAILABLE"
    except redis.RedisError as exc:
        return f"ERROR ({exc})"
    finally:
        client.close()


def cmd_status(args: argparse.Namespace) -> int:
    from services.common.healthcheck import check

    url, _external = _redis_url()
    address = url.split("://", 1)[-1].split("@")[-1].rsplit("/", 1)[0]  # no password shown
    pid = _read_pid("redis")
    print(f"  {'redis':<10} {address:<16} {_redis_status(url):<12} pid {pid or '-'}")
    for proc in (*SERVICES, GATEWAY):
        pid = _read_pid(proc.name)
        _ok, status = check(proc.target, timeout=1.0)
        status = status.split(":")[0]  # SERVING, NOT_SERVING, UNAVAILABLE (not running)
        print(f"  {proc.name:<10} {proc.target:<16} {status:<12} pid {pid or '-'}")
    return 0


# -- client side -----------------------------------------------------------------------------------
def _stub(target: str) -> Any:
    from arxivqa.gateway.v1 import gateway_pb2_grpc

    channel = grpc.insecure_channel(
        target,
        options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ],
    )
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
        resp = _stub(args.gateway).Search(
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
        resp = _stub(args.gateway).Ask(
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
        r = _stub(args.gateway).GetPaper(pb.GetPaperRequest(id=args.id), timeout=args.timeout)
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


# -- ingestion -------------------------------------------------------------------------------------
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
    stub = _stub(gateway)
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


def _print_summary(summary: dict[str, Any]) -> None:
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
    _print_summary(summary)
    return 0


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
    page = f"http://127.0.0.1:{os.environ.get('ARXIVQA_GATEWAY_HTTP_PORT', '8080')}/ui/"
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
    _print_summary(summary)
    http = int(os.environ.get("ARXIVQA_GATEWAY_HTTP_PORT", "8080"))
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
        return lambda args: fn(args, stub=_stub(args.gateway), data_dir=DATA_DIR)

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
