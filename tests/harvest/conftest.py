"""A local HTTP server that plays recorded arXiv responses, and the harvest fixtures.

Nothing here reaches the internet: ``arxiv_server`` is an ``http.server`` on
127.0.0.1:<free port> in a thread, answering from routes a test sets (recorded files from
``../shared/data/arxiv`` and the hand-written ones in ``fixtures/``) and logging when each
request arrived, so politeness is measured on the server's side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.arxiv.harvest import Batch, SinkResult
from gateway.arxiv.settings import HarvestSettings

FIXTURES = Path(__file__).parent / "fixtures"
ARXIV_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "arxiv"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def file(cls, path: Path, status: int = 200, **headers: str) -> Reply:
        ctype = "application/pdf" if path.suffix == ".pdf" else "text/xml; charset=utf-8"
        return cls(status, path.read_bytes(), {"Content-Type": ctype, **headers})


@dataclass
class Hit:
    at: float
    path: str
    query: dict[str, str]
    user_agent: str


Route = Callable[[str, dict[str, str]], Reply | None]


class ArxivServer:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.hits: list[Hit] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                server.hits.append(
                    Hit(time.monotonic(), url.path, query, self.headers.get("User-Agent", ""))
                )
                reply = None
                for route in server.routes:
                    reply = route(url.path, query)
                    if reply is not None:
                        break
                reply = reply or Reply(404, b"no route")
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gaps(self) -> list[float]:
        return [b.at - a.at for a, b in zip(self.hits, self.hits[1:], strict=False)]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def arxiv_server() -> Iterator[ArxivServer]:
    s = ArxivServer()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def arxiv_data() -> Path:
    if not ARXIV_DATA.is_dir():
        pytest.skip(
            f"recorded arXiv responses not found at {ARXIV_DATA} (a fresh clone has no "
            "../shared/data); the hand-written fixtures still run"
        )
    return ARXIV_DATA


def settings(server: ArxivServer, tmp_path: Path, **kw: object) -> HarvestSettings:
    values: dict[str, object] = {
        "oai_endpoint": f"{server.url}/oai2",
        "api_endpoint": f"{server.url}/api/query",
        "pdf_base": f"{server.url}/pdf/",
        "min_interval": 0.0,
        "backoff": 0.01,
        "contact": "tests@arxivqa.invalid",
        "data_dir": str(tmp_path / "harvest"),
        **kw,
    }
    return HarvestSettings(**values)  # type: ignore[arg-type]


class CollectingSink:
    """Keeps the batches it is given (the harvester is under test, not the gateway)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[Batch] = []
        self.fail_on = fail_on

    def __call__(self, batch: Batch) -> SinkResult:
        if self.fail_on is not None and len(self.batches) + 1 == self.fail_on:
            raise ConnectionError("gateway went away (simulated interruption)")
        self.batches.append(batch)
        return SinkResult(papers_written=len(batch.records), papers_deleted=len(batch.delete_ids))

    @property
    def ids(self) -> list[str]:
        return [r["id"] for b in self.batches for r in b.records]
