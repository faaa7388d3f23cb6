"""HTTP/JSON bridge: the gateway's operations over FastAPI (OpenAPI at /docs).

Routes call the same :class:`gateway.core.Gateway` as the gRPC facade; domain errors map
to the HTTP codes they name in services.common.errors (INVALID_ARGUMENT 400, NOT_FOUND
404, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, RESOURCE_EXHAUSTED 429, or 413 for a size
limit, a missing or wrong API key 401) with a JSON body ``{"error": {"status", "code",
"message"}}``. The budget for a request is the ``X-Request-Timeout`` header (seconds) or
the configured default.
"""

import logging
import socket
import threading
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from opentelemetry import trace
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import core, schema
from gateway.auth import check_api_key
from gateway.clients import Budget, DownstreamFailure
from gateway.schema import (
    MAX_LIST_ITEMS,
    ArxivId,
    Filters,
    K,
    Name,
)
from gateway.settings import Settings
from gateway.webui import mount_ui
from services.common import errors
from services.common.healthcheck import check as check_health
from services.common.redis_health import HEALTH_NAME as REDIS_HEALTH_NAME

log = logging.getLogger(__name__)

REQUIRED = ("embedder", "retriever")

# Each domain error names its HTTP status and gRPC status name (services.common.errors);
# the API key is checked by gateway.auth.check_api_key, as in the gRPC facade.


def error_body(status: str, code: int, message: str) -> dict[str, Any]:
    """The JSON body of every error answer (:class:`ErrorBody` in the OpenAPI description)."""
    return {"error": {"status": status, "code": code, "message": message}}


# The X-Request-Timeout range; the request and response bodies, with their limits, are
# the models of gateway.schema, served as they are.
MIN_TIMEOUT_SECONDS = 0.001
MAX_TIMEOUT_SECONDS = 300.0


class ErrorDetail(BaseModel):
    status: str = Field(..., examples=["INVALID_ARGUMENT"], description="gRPC status name.")
    code: int = Field(..., examples=[400], description="The HTTP status code again.")
    message: str = Field(..., description="What went wrong and what to change.")


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the bridge has this body."""

    error: ErrorDetail


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERRORS_READ: dict[int | str, dict[str, Any]] = {
    400: _err(
        "Invalid input (INVALID_ARGUMENT): a value outside the documented limits, an "
        "X-Request-Timeout outside 0.001-300 s, or filters.year_from after filters.year_to."
    ),
    413: _err(
        "A request or answer over a service's message-size limit (RESOURCE_EXHAUSTED); "
        "ask for less at a time."
    ),
    429: _err("A service ran out of capacity (RESOURCE_EXHAUSTED); retry later."),
    500: _err("A bug in the gateway or a service (INTERNAL); the gateway log has details."),
    503: _err("A required service (embedder, retriever, graph) is unavailable; retry later."),
    504: _err("The request did not finish within its X-Request-Timeout (or the default)."),
}
ERRORS_BODY = {
    **ERRORS_READ,
    413: _err(
        "The request body is larger than the configured limit, or a request or answer is "
        "over a service's message-size limit (RESOURCE_EXHAUSTED)."
    ),
}
ERRORS_PAPER = {**ERRORS_READ, 404: _err("No stored paper has that id.")}
ERRORS_GRAPH = {**ERRORS_READ, 404: _err("A paper id is not in the citation graph.")}
ERRORS_INGEST = {
    **ERRORS_BODY,
    401: _err("This gateway needs an API key for writes and the request had none or a wrong one."),
}


class ReadyDependency(BaseModel):
    status: str = Field(..., examples=["SERVING"])
    target: str
    required: bool


class Readiness(BaseModel):
    ready: bool
    dependencies: dict[str, ReadyDependency]


def _without_422(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI documents a 422 the bridge never sends (validation errors are 400 here).

    It also writes an optional query or header parameter as ``anyOf: [T, null]``; a query
    string or header cannot carry a JSON null (``null`` arrives as the text "null", which
    is refused), so the parameter is documented as plain ``T``, not required.
    """
    for item in schema.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            op.get("responses", {}).pop("422", None)
            for param in op.get("parameters", []):
                p_schema = param.get("schema", {})
                options = p_schema.get("anyOf")
                if options and {"type": "null"} in options:
                    rest = [o for o in options if o != {"type": "null"}]
                    del p_schema["anyOf"]
                    if len(rest) == 1:
                        p_schema.update(rest[0])
                    else:
                        p_schema["anyOf"] = rest
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return schema


_HTTP_STATUS_NAMES = {
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    413: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
}


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than {limit} bytes (ARXIVQA_GATEWAY_MAX_BODY_BYTES); "
            "send fewer records per batch",
        )


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is refused with 413, before or while read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            exc = BodyTooLarge(self.limit)
            response = JSONResponse(
                error_body("RESOURCE_EXHAUSTED", 413, str(exc.detail)), status_code=413
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


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
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _without_422(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = _HTTP_STATUS_NAMES.get(exc.status_code, "INVALID_ARGUMENT")
        return JSONResponse(
            error_body(status, exc.status_code, str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(errors.ServiceError)
    async def _service_error(_: Request, exc: errors.ServiceError) -> JSONResponse:
        code = exc.http_status
        # A bare ServiceError is a bug here: its words are not for the caller. A downstream
        # failure's are (which service failed, with what status).
        internal = type(exc) is errors.ServiceError and not isinstance(exc, DownstreamFailure)
        message = "internal error" if internal else str(exc)
        headers = {"WWW-Authenticate": "X-API-Key"} if code == 401 else None
        return JSONResponse(
            error_body(exc.grpc_status, code, message), status_code=code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [schema.problem(e) for e in exc.errors()]
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
            float | None,
            Header(
                ge=MIN_TIMEOUT_SECONDS,
                le=MAX_TIMEOUT_SECONDS,
                allow_inf_nan=False,
                description="Seconds this request may take, 0.001-300; absent = the "
                "gateway's default. Outside the range: 400.",
            ),
        ] = None,
    ) -> Budget:
        return Budget.seconds(x_request_timeout or settings.deadline_seconds)

    def write_access(
        x_api_key: Annotated[str | None, Header(description="Needed when configured.")] = None,
    ) -> None:
        check_api_key(api_key, x_api_key, carrier="X-API-Key header")

    BudgetDep = Annotated[Budget, Depends(budget)]
    KParam = Annotated[K, Query()]
    CategoryParam = Annotated[
        list[Name] | None,
        Query(max_length=MAX_LIST_ITEMS, description="Any of these categories."),
    ]
    YearParam = Annotated[schema.Year | None, Query(description="Inclusive; absent or 0 = open.")]
    IdParam = Annotated[ArxivId, Query()]

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness, with each dependency's health (Redis included)",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A required dependency is down."}},
    )
    def readyz() -> JSONResponse:
        states = gateway.clients.check_all()
        dependencies = {
            name: {
                "status": state,
                "target": gateway.clients.targets.get(name, ""),
                "required": name in REQUIRED,
            }
            for name, state in states.items()
        }
        dependencies["redis"] = _redis_state(settings.retriever_target)
        ready = all(states.get(name) == "SERVING" for name in REQUIRED)
        ready = ready and dependencies["redis"]["status"] == "SERVING"
        body = {"ready": ready, "dependencies": dependencies}
        return JSONResponse(body, status_code=200 if ready else 503)

    def _redis_state(retriever: str) -> dict[str, Any]:
        """Redis as the retriever sees it (its grpc.health.v1 entry "redis")."""
        where = f"via the retriever at {retriever}" if retriever else "retriever not configured"
        status = "UNKNOWN (retriever not configured)"
        if retriever:
            ok, status = check_health(
                retriever, REDIS_HEALTH_NAME, timeout=settings.health_timeout_seconds
            )
            if not ok and ":" in status:  # the retriever itself did not answer
                status = f"UNKNOWN (retriever: {status.split(':')[0]})"
        return {"status": status, "target": where, "required": True}

    @app.post(
        "/v1/search", tags=["search"], response_model=schema.SearchResult, responses=ERRORS_BODY
    )
    def search(body: schema.SearchRequest, b: BudgetDep) -> schema.SearchResult:
        """Papers matching a query: vector, text (BM25) or hybrid."""
        return gateway.search(body, budget=b)

    @app.post("/v1/ask", tags=["qa"], response_model=schema.AskResult, responses=ERRORS_BODY)
    def ask(body: schema.AskRequest, b: BudgetDep) -> schema.AskResult:
        """Extractive answers with their papers and evidence, plus the passages read."""
        return gateway.ask(body, budget=b)

    # Before /v1/papers/{paper_id:path}, whose path parameter would swallow "/passages".
    @app.get(
        "/v1/papers/{paper_id:path}/passages",
        tags=["papers"],
        response_model=schema.PassagePage,
        responses={
            **ERRORS_PAPER,
            400: _err(
                "Invalid input (INVALID_ARGUMENT): not an arXiv id, limit outside 0-"
                f"{schema.MAX_PASSAGE_PAGE}, offset outside 0-{schema.MAX_PASSAGE_OFFSET}, or "
                "an X-Request-Timeout outside 0.001-300 s."
            ),
        },
    )
    def paper_passages(
        paper_id: Annotated[ArxivId, Path(examples=["2212.11827"])],
        b: BudgetDep,
        limit: Annotated[schema.PassageLimit, Query()] = 0,
        offset: Annotated[schema.PassageOffset, Query()] = 0,
    ) -> schema.PassagePage:
        """A stored paper's full text: its passages (section, text) in order, a page at a
        time; `total` counts them all (0 for a paper stored without full text)."""
        req = schema.ListPassagesRequest(id=paper_id, limit=limit, offset=offset)
        return gateway.paper_passages(req, budget=b)

    @app.get(
        "/v1/papers/{paper_id:path}",
        tags=["papers"],
        response_model=schema.PaperDetail,
        responses=ERRORS_PAPER,
    )
    def get_paper(
        paper_id: Annotated[ArxivId, Path(examples=["0704.0001"])], b: BudgetDep
    ) -> schema.PaperDetail:
        """Metadata plus citation and reference counts (absent, with a note, if graph is down)."""
        return gateway.get_paper(schema.GetPaperRequest(id=paper_id), budget=b)

    @app.get(
        "/v1/similar",
        tags=["papers"],
        response_model=list[schema.SearchHit],
        responses=ERRORS_PAPER,
    )
    def similar(
        b: BudgetDep,
        id: Annotated[ArxivId, Query(description="A stored paper's arXiv id.")],
        k: KParam = 10,
        category: CategoryParam = None,
        year_from: YearParam = None,
        year_to: YearParam = None,
    ) -> list[schema.SearchHit]:
        """Nearest neighbours of a stored paper by embedding."""
        filters = Filters(categories=category or [], year_from=year_from, year_to=year_to)
        req = schema.SimilarPapersRequest(id=id, filters=filters, k=k)
        return gateway.similar_papers(req, budget=b)

    @app.post(
        "/v1/recommend",
        tags=["citations"],
        response_model=list[schema.Recommendation],
        responses={**ERRORS_GRAPH, 413: ERRORS_BODY[413]},
    )
    def recommend(body: schema.RecommendRequest, b: BudgetDep) -> list[schema.Recommendation]:
        """Citation-based recommendations (co-citation, coupling) with reasons."""
        return gateway.recommend(body, budget=b)

    @app.get(
        "/v1/path", tags=["citations"], response_model=schema.PathResult, responses=ERRORS_GRAPH
    )
    def path(
        b: BudgetDep, from_id: IdParam, to_id: IdParam, undirected: bool = False
    ) -> schema.PathResult:
        """Shortest citation path between two papers."""
        req = schema.CitationPathRequest(from_id=from_id, to_id=to_id, undirected=undirected)
        return gateway.citation_path(req, budget=b)

    @app.get(
        "/v1/subgraph",
        tags=["citations"],
        response_model=schema.SubgraphResult,
        responses=ERRORS_GRAPH,
    )
    def subgraph(
        b: BudgetDep,
        id: IdParam,
        depth: Annotated[schema.Depth, Query()] = 1,
        max_nodes: Annotated[schema.MaxNodes, Query()] = 0,
    ) -> schema.SubgraphResult:
        """Ego network of a paper as nodes and edges. Each node carries its citation count and
        its PageRank over the whole graph (as /v1/rank computes it), for sizing a drawing."""
        req = schema.SubgraphRequest(id=id, depth=depth, max_nodes=max_nodes)
        return gateway.subgraph(req, budget=b)

    @app.get(
        "/v1/rank", tags=["citations"], response_model=schema.RankResult, responses=ERRORS_READ
    )
    def rank(
        b: BudgetDep,
        k: KParam = 10,
        category: CategoryParam = None,
        year_from: YearParam = None,
        year_to: YearParam = None,
    ) -> schema.RankResult:
        """Most central papers by PageRank, optionally by categories and years."""
        filters = Filters(categories=category or [], year_from=year_from, year_to=year_to)
        return gateway.rank(schema.RankRequest(filters=filters, k=k), budget=b)

    @app.post(
        "/v1/ingest",
        tags=["ingest"],
        response_model=schema.IngestResult,
        dependencies=[Depends(write_access)],
        responses=ERRORS_INGEST,
    )
    def ingest(body: schema.IngestRequest) -> schema.IngestResult:
        """One batch of raw Kaggle records, full texts, citations and papers to delete (needs
        X-API-Key if set)."""
        return gateway.ingest(body, budget=Budget.seconds(settings.ingest_deadline_seconds))

    mount_ui(app)  # the web page at /ui/ (gateway/ui/)

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, excluded_urls="healthz,readyz"
    )
    return app


class HttpServer:
    """uvicorn serving an app from a background thread, on a socket bound up front."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets that say
        # so, and without it a keep-alive response waits ~40 ms (Nagle + delayed ACK)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
