"""HTTP/JSON bridge: the gateway's operations over FastAPI (OpenAPI at /docs).

Routes call the same :class:`gateway.core.Gateway` as the gRPC facade; domain errors map
to HTTP codes (INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503, DEADLINE_EXCEEDED
504, a missing or wrong API key 401) with a JSON body ``{"error": {"status", "code",
"message"}}``. The budget for a request is the ``X-Request-Timeout`` header (seconds) or
the configured default.
"""

import hmac
import logging
import socket
import threading
from typing import Annotated, Any, Literal

import uvicorn
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from pydantic import BaseModel, Field

from gateway import core
from gateway.clients import Budget, DownstreamFailure
from gateway.settings import Settings
from gateway.webui import mount_ui
from services.common import errors

log = logging.getLogger(__name__)

REQUIRED = ("embedder", "retriever")

_HTTP: tuple[tuple[type[BaseException], int, str], ...] = (
    (errors.InvalidArgument, 400, "INVALID_ARGUMENT"),
    (errors.NotFound, 404, "NOT_FOUND"),
    (errors.FailedPrecondition, 400, "FAILED_PRECONDITION"),
    (errors.Unavailable, 503, "UNAVAILABLE"),
    (errors.DeadlineExceeded, 504, "DEADLINE_EXCEEDED"),
)


class Unauthenticated(errors.ServiceError):
    """A write without the configured API key (HTTP 401, gRPC UNAUTHENTICATED)."""


def error_body(status: str, code: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message}}


class FiltersBody(BaseModel):
    categories: list[str] = Field(default_factory=list, description="Any of these categories.")
    year_from: int | None = Field(default=None, description="Inclusive; null = open.")
    year_to: int | None = Field(default=None, description="Inclusive; null = open.")
    authors: list[str] = Field(default_factory=list, description="Any of these author names.")

    def domain(self) -> core.Filters:
        return core.Filters(self.categories, self.year_from, self.year_to, self.authors)


class SearchBody(BaseModel):
    query: str = Field(..., examples=["graph neural networks for molecules"])
    mode: Literal["vector", "text", "hybrid"] = "hybrid"
    filters: FiltersBody = Field(default_factory=lambda: FiltersBody())
    k: int = Field(10, description="1..100")
    offset: int = Field(0, description="0..1000")


class AskBody(BaseModel):
    question: str = Field(..., examples=["What dataset was used for evaluation?"])
    filters: FiltersBody = Field(default_factory=lambda: FiltersBody())
    passages: int = Field(5, description="How many passages to read, 1..50.")
    top_k: int = Field(3, description="How many answers, 1..20.")


class RecommendBody(BaseModel):
    seed_ids: list[str] = Field(..., examples=[["1412.6980"]])
    k: int = 10


class ParagraphBody(BaseModel):
    section: str = ""
    text: str


class FullTextBody(BaseModel):
    paper_id: str
    paragraphs: list[ParagraphBody]


class CitationBody(BaseModel):
    citing_id: str
    cited_id: str


class IngestBody(BaseModel):
    batch_id: str = ""
    records: list[dict[str, Any] | str] = Field(
        default_factory=list, description="Raw Kaggle arXiv metadata records."
    )
    fulltexts: list[FullTextBody] = Field(default_factory=list)
    citations: list[CitationBody] = Field(default_factory=list)


def create_app(
    gateway: core.Gateway,
    settings: Settings,
    *,
    tracer_provider: trace.TracerProvider | None = None,
) -> FastAPI:
    app = FastAPI(
        title="arxivqa gateway",
        version="1",
        description="Search, read and question arXiv papers. The same operations as the "
        "gRPC service arxivqa.gateway.v1.Gateway.",
    )
    api_key = settings.api_key_value()

    @app.exception_handler(errors.ServiceError)
    async def _service_error(_: Request, exc: errors.ServiceError) -> JSONResponse:
        for cls, code, status in _HTTP:
            if isinstance(exc, cls):
                return JSONResponse(error_body(status, code, str(exc)), status_code=code)
        if isinstance(exc, DownstreamFailure):
            return JSONResponse(error_body("INTERNAL", 500, str(exc)), status_code=500)
        if isinstance(exc, Unauthenticated):
            return JSONResponse(
                error_body("UNAUTHENTICATED", 401, str(exc)),
                status_code=401,
                headers={"WWW-Authenticate": "X-API-Key"},
            )
        return JSONResponse(error_body("INTERNAL", 500, "internal error"), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()
        ]
        return JSONResponse(
            error_body("INVALID_ARGUMENT", 400, "; ".join(problems)), status_code=400
        )

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in the HTTP bridge", exc_info=exc)
        return JSONResponse(
            error_body("INTERNAL", 500, "internal error; see the gateway log"), status_code=500
        )

    def budget(
        x_request_timeout: Annotated[
            float | None, Header(description="Seconds this request may take.")
        ] = None,
    ) -> Budget:
        if x_request_timeout is not None and x_request_timeout <= 0:
            raise errors.InvalidArgument("X-Request-Timeout must be a positive number of seconds")
        return Budget.seconds(x_request_timeout or settings.deadline_seconds)

    def write_access(
        x_api_key: Annotated[str | None, Header(description="Needed when configured.")] = None,
    ) -> None:
        if api_key is None:
            return
        if not x_api_key or not hmac.compare_digest(x_api_key, api_key):
            what = "a wrong" if x_api_key else "no"
            raise Unauthenticated(
                f"this operation writes data and needs an API key: the request carried {what} "
                "X-API-Key header"
            )

    BudgetDep = Annotated[Budget, Depends(budget)]

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness, with each dependency's health")
    def readyz() -> JSONResponse:
        states = gateway.clients.check_all()
        ready = all(states.get(name) == "SERVING" for name in REQUIRED)
        body = {
            "ready": ready,
            "dependencies": {
                name: {
                    "status": state,
                    "target": gateway.clients.targets.get(name, ""),
                    "required": name in REQUIRED,
                }
                for name, state in states.items()
            },
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.post("/v1/search", tags=["search"], response_model=core.SearchResult)
    def search(body: SearchBody, b: BudgetDep) -> core.SearchResult:
        """Papers matching a query: vector, text (BM25) or hybrid."""
        return gateway.search(
            body.query,
            mode=body.mode,
            filters=body.filters.domain(),
            k=body.k,
            offset=body.offset,
            budget=b,
        )

    @app.post("/v1/ask", tags=["qa"], response_model=core.AskResult)
    def ask(body: AskBody, b: BudgetDep) -> core.AskResult:
        """Extractive answers with their papers and evidence, plus the passages read."""
        return gateway.ask(
            body.question,
            filters=body.filters.domain(),
            passages=body.passages,
            top_k=body.top_k,
            budget=b,
        )

    @app.get("/v1/papers/{paper_id:path}", tags=["papers"], response_model=core.PaperDetail)
    def get_paper(
        paper_id: Annotated[str, Path(examples=["0704.0001"])], b: BudgetDep
    ) -> core.PaperDetail:
        """Metadata plus citation and reference counts (absent, with a note, if graph is down)."""
        return gateway.get_paper(paper_id, budget=b)

    @app.get("/v1/similar", tags=["papers"], response_model=list[core.SearchHit])
    def similar(
        b: BudgetDep,
        id: Annotated[str, Query(description="A stored paper's arXiv id.")],
        k: int = 10,
        category: Annotated[list[str] | None, Query()] = None,
        year_from: int | None = None,
        year_to: int | None = None,
    ) -> list[core.SearchHit]:
        """Nearest neighbours of a stored paper by embedding."""
        filters = core.Filters(category or [], year_from, year_to, [])
        return gateway.similar_papers(id, filters=filters, k=k, budget=b)

    @app.post("/v1/recommend", tags=["citations"], response_model=list[core.Recommendation])
    def recommend(body: RecommendBody, b: BudgetDep) -> list[core.Recommendation]:
        """Citation-based recommendations (co-citation, coupling) with reasons."""
        return gateway.recommend(body.seed_ids, k=body.k, budget=b)

    @app.get("/v1/path", tags=["citations"], response_model=core.PathResult)
    def path(b: BudgetDep, from_id: str, to_id: str, undirected: bool = False) -> core.PathResult:
        """Shortest citation path between two papers."""
        return gateway.citation_path(from_id, to_id, undirected=undirected, budget=b)

    @app.get("/v1/subgraph", tags=["citations"], response_model=core.SubgraphResult)
    def subgraph(b: BudgetDep, id: str, depth: int = 1, max_nodes: int = 0) -> core.SubgraphResult:
        """Ego network of a paper as nodes and edges."""
        return gateway.subgraph(id, depth=depth, max_nodes=max_nodes, budget=b)

    @app.get("/v1/rank", tags=["citations"], response_model=core.RankResult)
    def rank(
        b: BudgetDep,
        k: int = 10,
        category: Annotated[list[str] | None, Query()] = None,
        year_from: int | None = None,
        year_to: int | None = None,
    ) -> core.RankResult:
        """Most central papers by PageRank, optionally by categories and years."""
        return gateway.rank(
            filters=core.Filters(category or [], year_from, year_to, []), k=k, budget=b
        )

    @app.post(
        "/v1/ingest",
        tags=["ingest"],
        response_model=core.IngestResult,
        dependencies=[Depends(write_access)],
    )
    def ingest(body: IngestBody) -> core.IngestResult:
        """One batch of raw Kaggle records, full texts and citations (needs X-API-Key if set)."""
        batch = core.IngestBatch(
            batch_id=body.batch_id,
            records=list(body.records),
            fulltexts=[
                core.FullText(f.paper_id, [p.model_dump() for p in f.paragraphs])
                for f in body.fulltexts
            ],
            citations=[(c.citing_id, c.cited_id) for c in body.citations],
        )
        return gateway.ingest(batch, budget=Budget.seconds(settings.ingest_deadline_seconds))

    mount_ui(app)  # the web page at /ui/ (gateway/ui/)

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, excluded_urls="healthz,readyz"
    )
    return app


class HttpServer:
    """uvicorn serving an app from a background thread, on a socket bound up front."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise SystemExit(f"gateway: cannot bind HTTP {host}:{port}: {exc}") from exc
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="gateway-http"
        )

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "HttpServer":
        self._thread.start()
        waited = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self._server.started:
                break
            waited.wait(0.02)
        else:
            raise TimeoutError(f"HTTP server did not start within {timeout} s")
        log.info("gateway HTTP listening", extra={"port": self.port})
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()
