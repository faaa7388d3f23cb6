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
from typing import Annotated, Any, Literal

import uvicorn
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from opentelemetry import trace
from pydantic import BaseModel, BeforeValidator, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import core
from gateway.auth import check_api_key
from gateway.clients import Budget, DownstreamFailure
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


# Limits the bridge enforces; the OpenAPI description states each one.
MIN_TIMEOUT_SECONDS = 0.001
MAX_TIMEOUT_SECONDS = 300.0
MAX_LIST_ITEMS = 100
MAX_NAME_CHARS = 200
MAX_YEAR = 9999
MAX_INGEST_ITEMS = 10_000
MAX_ID_CHARS = 100
# arXiv identifiers as the services accept them (services.graph.citations.parse_paper_id):
# new style YYMM.NNNN from 0704 to 1412, YYMM.NNNNN from 1501 (1412.6980, 2212.11827v2);
# old style archive[.XX]/YYMMNNN from 1991 to 2007 (hep-th/9901001, math.PR/0601001v3).
# ASCII digits only ([0-9], not \d, which also matches other scripts).
_MONTH = "(0[1-9]|1[0-2])"
_NEW_4 = rf"(07(0[4-9]|1[0-2])|(0[89]|1[0-4]){_MONTH})\.[0-9]{{4}}"
_NEW_5 = rf"(1[5-9]|[2-9][0-9]){_MONTH}\.[0-9]{{5}}"
_OLD = rf"[a-z]+(-[a-z]+)*(\.[A-Z]{{2}})?/(9[1-9]|0[0-7]){_MONTH}[0-9]{{3}}"
ARXIV_ID = rf"^({_NEW_4}|{_NEW_5}|{_OLD})(v[0-9]+)?$"
# A non-blank text: at least one character that is not whitespace.
NON_BLANK = r"\S"

ArxivId = Annotated[
    str,
    Field(pattern=ARXIV_ID, max_length=40, examples=["1412.6980"], description="An arXiv id."),
]
# A category or author name: at least one character that is neither whitespace, a control
# character nor "|" (the services treat those as separators and refuse an empty name).
NAME_CHARS = r"[^\s\x00-\x1f\x7f-\x9f|]"

# What each pattern asks for, in words: a 400 says this rather than the regular expression.
PATTERN_WORDS = {
    ARXIV_ID: "an arXiv id like 2101.00001, 2212.11827v2 or hep-th/9901001",
    NON_BLANK: "some text (at least one character that is not a space)",
    NAME_CHARS: "a name (at least one character other than spaces, control characters and '|')",
}


def _problem(error: Any) -> str:
    """One validation error as "where: what is wrong", patterns said in words."""
    where = ".".join(str(p) for p in error["loc"] if p != "body")
    if error.get("type") == "string_pattern_mismatch":
        words = PATTERN_WORDS.get(str((error.get("ctx") or {}).get("pattern", "")))
        if words:
            got = repr(error.get("input"))
            got = got if len(got) <= 60 else got[:57] + "..."
            return f"{where}: expected {words}, got {got}"
    return f"{where}: {error['msg']}"


def _not_bool(value: Any) -> Any:
    """JSON true/false is not a number here (pydantic would read it as 1/0)."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=NAME_CHARS)]
Year = Annotated[int, Field(ge=0, le=MAX_YEAR), BeforeValidator(_not_bool)]


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


class FiltersBody(BaseModel):
    """Filters shared by search, ask, similar and rank. year_from must not be after year_to."""

    categories: list[Name] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS, description="Any of these categories."
    )
    year_from: Year | None = Field(default=None, description="Inclusive; null or 0 = open.")
    year_to: Year | None = Field(default=None, description="Inclusive; null or 0 = open.")
    authors: list[Name] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS, description="Any of these author names."
    )

    def domain(self) -> core.Filters:
        return core.Filters(self.categories, self.year_from, self.year_to, self.authors)


QueryText = Annotated[str, Field(min_length=1, max_length=core.MAX_QUERY_CHARS, pattern=NON_BLANK)]


class SearchBody(BaseModel):
    query: QueryText = Field(..., examples=["graph neural networks for molecules"])
    mode: Literal["vector", "text", "hybrid"] = "hybrid"
    filters: FiltersBody = Field(default_factory=lambda: FiltersBody())
    k: Int = Field(10, ge=0, le=core.MAX_K, description="1..100; 0 = the default, 10.")
    offset: Int = Field(0, ge=0, le=core.MAX_OFFSET, description="0..1000")


class AskBody(BaseModel):
    question: QueryText = Field(..., examples=["What dataset was used for evaluation?"])
    filters: FiltersBody = Field(default_factory=lambda: FiltersBody())
    passages: Int = Field(
        5, ge=0, le=core.MAX_PASSAGES, description="How many passages to read, 1..50; 0 = 5."
    )
    top_k: Int = Field(3, ge=0, le=core.MAX_ANSWERS, description="How many answers, 1..20; 0 = 3.")


class RecommendBody(BaseModel):
    seed_ids: list[ArxivId] = Field(
        ..., min_length=1, max_length=MAX_LIST_ITEMS, examples=[["1412.6980"]]
    )
    k: Int = Field(10, ge=0, le=core.MAX_K, description="1..100; 0 = the default, 10.")


class ParagraphBody(BaseModel):
    section: str = ""
    text: str


class FullTextBody(BaseModel):
    paper_id: str = Field(..., max_length=MAX_ID_CHARS)
    paragraphs: list[ParagraphBody] = Field(..., max_length=MAX_INGEST_ITEMS)


class CitationBody(BaseModel):
    citing_id: str = Field(..., max_length=MAX_ID_CHARS)
    cited_id: str = Field(..., max_length=MAX_ID_CHARS)


class IngestBody(BaseModel):
    """Malformed items are reported in ``errors`` (with their index) and the rest stored."""

    batch_id: str = Field("", max_length=MAX_NAME_CHARS)
    records: list[dict[str, Any] | str] = Field(
        default_factory=list,
        max_length=MAX_INGEST_ITEMS,
        description="Raw Kaggle arXiv metadata records (objects or JSON lines).",
    )
    fulltexts: list[FullTextBody] = Field(default_factory=list, max_length=MAX_INGEST_ITEMS)
    citations: list[CitationBody] = Field(default_factory=list, max_length=MAX_INGEST_ITEMS)


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
        problems = [_problem(e) for e in exc.errors()]
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
    KParam = Annotated[int, Query(ge=0, le=core.MAX_K, description="1..100; 0 = 10.")]
    CategoryParam = Annotated[
        list[Name] | None,
        Query(max_length=MAX_LIST_ITEMS, description="Any of these categories."),
    ]
    YearParam = Annotated[
        int | None, Query(ge=0, le=MAX_YEAR, description="Inclusive; absent or 0 = open.")
    ]
    IdParam = Annotated[str, Query(pattern=ARXIV_ID, max_length=40, description="An arXiv id.")]

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
        "/v1/search", tags=["search"], response_model=core.SearchResult, responses=ERRORS_BODY
    )
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

    @app.post("/v1/ask", tags=["qa"], response_model=core.AskResult, responses=ERRORS_BODY)
    def ask(body: AskBody, b: BudgetDep) -> core.AskResult:
        """Extractive answers with their papers and evidence, plus the passages read."""
        return gateway.ask(
            body.question,
            filters=body.filters.domain(),
            passages=body.passages,
            top_k=body.top_k,
            budget=b,
        )

    # Before /v1/papers/{paper_id:path}, whose path parameter would swallow "/passages".
    @app.get(
        "/v1/papers/{paper_id:path}/passages",
        tags=["papers"],
        response_model=core.PassagePage,
        responses={
            **ERRORS_PAPER,
            400: _err(
                "Invalid input (INVALID_ARGUMENT): not an arXiv id, limit outside 0-"
                f"{core.MAX_PASSAGE_PAGE}, offset outside 0-{core.MAX_PASSAGE_OFFSET}, or an "
                "X-Request-Timeout outside 0.001-300 s."
            ),
        },
    )
    def paper_passages(
        paper_id: Annotated[str, Path(pattern=ARXIV_ID, max_length=40, examples=["2212.11827"])],
        b: BudgetDep,
        limit: Annotated[
            int,
            Query(
                ge=0,
                le=core.MAX_PASSAGE_PAGE,
                description=f"Passages per page, 1..{core.MAX_PASSAGE_PAGE}; "
                f"0 = {core.DEFAULT_PASSAGE_PAGE}.",
            ),
        ] = 0,
        offset: Annotated[
            int,
            Query(
                ge=0,
                le=core.MAX_PASSAGE_OFFSET,
                description=f"Passages to skip, 0..{core.MAX_PASSAGE_OFFSET}.",
            ),
        ] = 0,
    ) -> core.PassagePage:
        """A stored paper's full text: its passages (section, text) in order, a page at a
        time; `total` counts them all (0 for a paper stored without full text)."""
        return gateway.paper_passages(paper_id, limit=limit, offset=offset, budget=b)

    @app.get(
        "/v1/papers/{paper_id:path}",
        tags=["papers"],
        response_model=core.PaperDetail,
        responses=ERRORS_PAPER,
    )
    def get_paper(
        paper_id: Annotated[str, Path(pattern=ARXIV_ID, max_length=40, examples=["0704.0001"])],
        b: BudgetDep,
    ) -> core.PaperDetail:
        """Metadata plus citation and reference counts (absent, with a note, if graph is down)."""
        return gateway.get_paper(paper_id, budget=b)

    @app.get(
        "/v1/similar",
        tags=["papers"],
        response_model=list[core.SearchHit],
        responses=ERRORS_PAPER,
    )
    def similar(
        b: BudgetDep,
        id: Annotated[
            str, Query(pattern=ARXIV_ID, max_length=40, description="A stored paper's arXiv id.")
        ],
        k: KParam = 10,
        category: CategoryParam = None,
        year_from: YearParam = None,
        year_to: YearParam = None,
    ) -> list[core.SearchHit]:
        """Nearest neighbours of a stored paper by embedding."""
        filters = core.Filters(category or [], year_from, year_to, [])
        return gateway.similar_papers(id, filters=filters, k=k, budget=b)

    @app.post(
        "/v1/recommend",
        tags=["citations"],
        response_model=list[core.Recommendation],
        responses={**ERRORS_GRAPH, 413: ERRORS_BODY[413]},
    )
    def recommend(body: RecommendBody, b: BudgetDep) -> list[core.Recommendation]:
        """Citation-based recommendations (co-citation, coupling) with reasons."""
        return gateway.recommend(body.seed_ids, k=body.k, budget=b)

    @app.get("/v1/path", tags=["citations"], response_model=core.PathResult, responses=ERRORS_GRAPH)
    def path(
        b: BudgetDep, from_id: IdParam, to_id: IdParam, undirected: bool = False
    ) -> core.PathResult:
        """Shortest citation path between two papers."""
        return gateway.citation_path(from_id, to_id, undirected=undirected, budget=b)

    @app.get(
        "/v1/subgraph",
        tags=["citations"],
        response_model=core.SubgraphResult,
        responses=ERRORS_GRAPH,
    )
    def subgraph(
        b: BudgetDep,
        id: IdParam,
        depth: Annotated[int, Query(ge=0, le=3, description="1..3; 0 = 1.")] = 1,
        max_nodes: Annotated[int, Query(ge=0, le=2000, description="1..2000; 0 = 100.")] = 0,
    ) -> core.SubgraphResult:
        """Ego network of a paper as nodes and edges. Each node carries its citation count and
        its PageRank over the whole graph (as /v1/rank computes it), for sizing a drawing."""
        return gateway.subgraph(id, depth=depth, max_nodes=max_nodes, budget=b)

    @app.get("/v1/rank", tags=["citations"], response_model=core.RankResult, responses=ERRORS_READ)
    def rank(
        b: BudgetDep,
        k: KParam = 10,
        category: CategoryParam = None,
        year_from: YearParam = None,
        year_to: YearParam = None,
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
        responses=ERRORS_INGEST,
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
