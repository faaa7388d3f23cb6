"""The gateway API's types, declared once, with their limits.

Pydantic models that are at the same time the input and output types of
:class:`gateway.core.Gateway`, the HTTP bridge's request and response bodies (FastAPI serves
them as they are, so the OpenAPI schema states every limit) and, through :func:`from_pb` and
:func:`to_pb`, the messages of ``arxivqa.gateway.v1`` (fields copied by name; the few enum
fields through :data:`ENUMS`). Adding a field touches the proto and one model here.

Bad input, from either door, is refused by the same constraints with the same words:
:func:`problem` says what a pattern expects in words rather than as a regular expression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from google.protobuf.message import Message
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError

from arxivqa.gateway.v1 import gateway_pb2 as pb
from services.common import errors
from services.common.arxiv import ARXIV_ID_PATTERN

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound=Message)

# -- limits -------------------------------------------------------------------------------------
MAX_K = 100
DEFAULT_K = 10
MAX_OFFSET = 1000
MAX_PASSAGES = 50
DEFAULT_PASSAGES = 5
MAX_ANSWERS = 20
DEFAULT_ANSWERS = 3
MAX_QUERY_CHARS = 2000
# A paper's stored passages per page (GET /v1/papers/{id}/passages, ListPassages).
MAX_PASSAGE_PAGE = 200
DEFAULT_PASSAGE_PAGE = 50
MAX_PASSAGE_OFFSET = 100_000
MAX_DEPTH = 3
MAX_NODES = 2000
MAX_LIST_ITEMS = 100
MAX_NAME_CHARS = 200
MAX_YEAR = 9999
MAX_INGEST_ITEMS = 10_000
MAX_ID_CHARS = 100
MAX_ARXIV_ID_CHARS = 40

# -- patterns, and what each asks for in words ---------------------------------------------------
# A non-blank text: at least one character that is not whitespace, as Python's str.strip
# sees it (which also strips \x1c-\x1f: pydantic's regular expressions do not count those
# as \s, and a query of only those would be stripped to nothing after it was accepted).
NON_BLANK = r"[^\s\x1c-\x1f]"
# A category or author name: at least one character that is neither whitespace, a control
# character nor "|" (the services treat those as separators and refuse an empty name).
NAME_CHARS = r"[^\s\x00-\x1f\x7f-\x9f|]"
# What each pattern asks for, in words: a refusal says this rather than the expression.
PATTERN_WORDS = {
    ARXIV_ID_PATTERN: "an arXiv id like 2101.00001, 2212.11827v2 or hep-th/9901001",
    NON_BLANK: "some text (at least one character that is not a space)",
    NAME_CHARS: "a name (at least one character other than spaces, control characters and '|')",
}


def problem(error: Mapping[str, Any]) -> str:
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


# -- field types --------------------------------------------------------------------------------
Int = Annotated[int, BeforeValidator(_not_bool)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=NAME_CHARS)]
Year = Annotated[int, Field(ge=0, le=MAX_YEAR), BeforeValidator(_not_bool)]
ArxivId = Annotated[
    str,
    Field(
        pattern=ARXIV_ID_PATTERN,
        max_length=MAX_ARXIV_ID_CHARS,
        examples=["1412.6980"],
        description="An arXiv id.",
    ),
]
# Leading and trailing spaces are not part of a query.
QueryText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=NON_BLANK),
    AfterValidator(str.strip),
]
K = Annotated[
    int,
    Field(ge=0, le=MAX_K, description=f"1..{MAX_K}; 0 = the default, {DEFAULT_K}."),
    BeforeValidator(_not_bool),
]
Mode = Literal["vector", "text", "hybrid"]


# -- shared -------------------------------------------------------------------------------------
class Filters(BaseModel):
    """Filters shared by search, ask, similar and rank. year_from must not be after year_to."""

    categories: list[Name] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS, description="Any of these categories."
    )
    year_from: Year | None = Field(default=None, description="Inclusive; null or 0 = open.")
    year_to: Year | None = Field(default=None, description="Inclusive; null or 0 = open.")
    authors: list[Name] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS, description="Any of these author names."
    )


class Paper(BaseModel):
    id: str
    title: str = ""
    abstract: str = ""
    authors: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    year: int | None = None
    update_date: str | None = None
    url: str = ""


# -- search -------------------------------------------------------------------------------------
class SearchRequest(BaseModel):
    query: QueryText = Field(..., examples=["graph neural networks for molecules"])
    mode: Mode = "hybrid"
    filters: Filters = Field(default_factory=Filters)
    k: K = DEFAULT_K
    offset: Int = Field(0, ge=0, le=MAX_OFFSET, description=f"0..{MAX_OFFSET}")


class SearchHit(BaseModel):
    paper: Paper
    score: float
    vector_rank: int = 0
    vector_score: float = 0.0
    text_rank: int = 0
    text_score: float = 0.0


class SearchResult(BaseModel):
    hits: list[SearchHit]
    mode: Mode
    total: int


class SimilarPapersRequest(BaseModel):
    id: ArxivId
    filters: Filters = Field(default_factory=Filters)
    k: K = DEFAULT_K


# -- ask, and a paper's passages ----------------------------------------------------------------
class AskRequest(BaseModel):
    question: QueryText = Field(..., examples=["What dataset was used for evaluation?"])
    filters: Filters = Field(default_factory=Filters)
    passages: Annotated[
        int,
        Field(
            ge=0,
            le=MAX_PASSAGES,
            description=f"How many passages to read, 1..{MAX_PASSAGES}; 0 = {DEFAULT_PASSAGES}.",
        ),
        BeforeValidator(_not_bool),
    ] = DEFAULT_PASSAGES
    top_k: Annotated[
        int,
        Field(
            ge=0,
            le=MAX_ANSWERS,
            description=f"How many answers, 1..{MAX_ANSWERS}; 0 = {DEFAULT_ANSWERS}.",
        ),
        BeforeValidator(_not_bool),
    ] = DEFAULT_ANSWERS


class Passage(BaseModel):
    id: str
    paper_id: str
    text: str
    section: str = ""
    ordinal: int = 0
    score: float = 0.0
    source: Literal["full_text", "abstract"] = "full_text"


class Answer(BaseModel):
    text: str
    score: float
    paper: Paper
    evidence: str
    passage_id: str
    start: int
    end: int


class AskResult(BaseModel):
    answers: list[Answer]
    passages: list[Passage]
    answers_available: bool
    note: str = ""


PassageLimit = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_PASSAGE_PAGE,
        description=f"Passages per page, 1..{MAX_PASSAGE_PAGE}; 0 = {DEFAULT_PASSAGE_PAGE}.",
    ),
    BeforeValidator(_not_bool),
]
PassageOffset = Annotated[
    int,
    Field(ge=0, le=MAX_PASSAGE_OFFSET, description=f"Passages to skip, 0..{MAX_PASSAGE_OFFSET}."),
    BeforeValidator(_not_bool),
]


class ListPassagesRequest(BaseModel):
    id: ArxivId
    limit: PassageLimit = 0
    offset: PassageOffset = 0


class PassagePage(BaseModel):
    """One page of a paper's stored full-text passages, in order (``total`` in all)."""

    paper_id: str
    passages: list[Passage]
    total: int
    offset: int
    limit: int


# -- papers and the citation graph ----------------------------------------------------------------
class GetPaperRequest(BaseModel):
    id: ArxivId


class PaperDetail(BaseModel):
    paper: Paper
    citation_count: int | None
    reference_count: int | None
    citations_available: bool
    note: str = ""


class RecommendRequest(BaseModel):
    seed_ids: list[ArxivId] = Field(
        ..., min_length=1, max_length=MAX_LIST_ITEMS, examples=[["1412.6980"]]
    )
    k: K = DEFAULT_K


class Reason(BaseModel):
    seed_id: str
    co_cited_by: list[str]
    co_citation_count: int
    shared_references: list[str]
    shared_reference_count: int
    text: str


class Recommendation(BaseModel):
    paper: Paper
    score: float
    reasons: list[Reason]
    citation_count: int = 0


class CitationPathRequest(BaseModel):
    from_id: ArxivId
    to_id: ArxivId
    undirected: bool = False


class PathResult(BaseModel):
    found: bool
    path: list[Paper]
    note: str = ""


Depth = Annotated[
    int,
    Field(ge=0, le=MAX_DEPTH, description=f"1..{MAX_DEPTH}; 0 = 1."),
    BeforeValidator(_not_bool),
]
MaxNodes = Annotated[
    int,
    Field(ge=0, le=MAX_NODES, description=f"1..{MAX_NODES}; 0 = 100."),
    BeforeValidator(_not_bool),
]


class SubgraphRequest(BaseModel):
    id: ArxivId
    depth: Depth = 1
    max_nodes: MaxNodes = 0


class Node(BaseModel):
    id: str
    title: str
    year: int | None
    categories: list[str]
    depth: int
    citation_count: int
    pagerank: float = Field(
        0.0,
        description="The paper's PageRank over the whole citation graph (not over this "
        "subgraph), as /v1/rank computes it: alpha 0.85, the scores of all papers sum to 1.",
    )


class Edge(BaseModel):
    citing_id: str
    cited_id: str


class SubgraphResult(BaseModel):
    center_id: str
    nodes: list[Node]
    edges: list[Edge]
    truncated: bool


class RankRequest(BaseModel):
    filters: Filters = Field(default_factory=Filters)
    k: K = DEFAULT_K


class RankedPaper(BaseModel):
    paper: Paper
    score: float
    rank: int
    citation_count: int = 0


class RankResult(BaseModel):
    papers: list[RankedPaper]
    computed_at: str
    stale: bool


# -- ingestion -------------------------------------------------------------------------------------
class Paragraph(BaseModel):
    section: str = ""
    text: str


class FullText(BaseModel):
    paper_id: str = Field(..., max_length=MAX_ID_CHARS)
    paragraphs: list[Paragraph] = Field(..., max_length=MAX_INGEST_ITEMS)


class Citation(BaseModel):
    citing_id: str = Field(..., max_length=MAX_ID_CHARS)
    cited_id: str = Field(..., max_length=MAX_ID_CHARS)


class IngestRequest(BaseModel):
    """Malformed items are reported in ``errors`` (with their index) and the rest stored."""

    batch_id: str = Field("", max_length=MAX_NAME_CHARS)
    records: list[dict[str, Any] | str] = Field(
        default_factory=list,
        max_length=MAX_INGEST_ITEMS,
        description="Raw Kaggle arXiv metadata records (objects or JSON lines).",
    )
    fulltexts: list[FullText] = Field(default_factory=list, max_length=MAX_INGEST_ITEMS)
    citations: list[Citation] = Field(default_factory=list, max_length=MAX_INGEST_ITEMS)
    delete_ids: list[ArxivId] = Field(
        default_factory=list,
        max_length=MAX_INGEST_ITEMS,
        description="Papers to delete, with their passages, before this batch is written "
        "(withdrawn papers, or a new version whose full text replaces the old); unknown ids "
        "are not an error.",
    )


class IngestError(BaseModel):
    kind: Literal["record", "fulltext", "citation"]
    index: int
    id: str
    message: str


class IngestResult(BaseModel):
    batch_id: str
    papers_written: int = 0
    passages_written: int = 0
    citations_added: int = 0
    errors: list[IngestError] = Field(default_factory=list)
    papers_deleted: int = 0


# -- mapping to and from protobuf ---------------------------------------------------------------
# The enum fields, by field name: model value -> protobuf number. A zero (UNSPECIFIED) reads
# as the field's entry in ENUM_DEFAULTS; without one, it is refused like any unknown number.
ENUMS: dict[str, dict[str, int]] = {
    "mode": {
        "vector": pb.SEARCH_MODE_VECTOR,
        "text": pb.SEARCH_MODE_TEXT,
        "hybrid": pb.SEARCH_MODE_HYBRID,
    },
    "source": {"full_text": pb.PASSAGE_SOURCE_FULL_TEXT, "abstract": pb.PASSAGE_SOURCE_ABSTRACT},
}
ENUM_DEFAULTS = {"mode": "hybrid"}


def field_path(loc: Sequence[str | int]) -> str:
    """A validation error's location as a field path: ``filters.categories[1]``."""
    path = ""
    for part in loc:
        if part == "body":
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """``model`` from plain data; bad input is INVALID_ARGUMENT, in :func:`problem`'s words,
    naming the (first) field at fault for a typed ``google.rpc.BadRequest``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        found = exc.errors()
        message = "; ".join(problem(e) for e in found)
        raise errors.InvalidArgument(message, field=field_path(found[0]["loc"])) from None


def _from_pb_value(name: str, value: Any) -> Any:
    if isinstance(value, Message):
        return pb_fields(value)
    if isinstance(value, str | bytes):
        return value
    if hasattr(value, "__len__"):  # a repeated field
        return [_from_pb_value(name, v) for v in value]
    return value


def pb_fields(message: Message) -> dict[str, Any]:
    """A message as plain data: same-named fields, messages and repeated fields recursed into,
    enum numbers read through :data:`ENUMS` (an unknown number is INVALID_ARGUMENT)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.enum_type is not None and not field.is_repeated:
            names = {number: text for text, number in ENUMS[field.name].items()}
            if value == 0 and field.name in ENUM_DEFAULTS:
                value = ENUM_DEFAULTS[field.name]
            elif value in names:
                value = names[value]
            else:
                raise errors.InvalidArgument(
                    f"{field.name}: unknown value {value}", field=field.name
                )
        out[field.name] = _from_pb_value(field.name, value)
    return out


def from_pb(model: type[M], message: Message) -> M:
    """The request model ``model`` from a protobuf request, validated by its constraints."""
    return validated(model, pb_fields(message))


def _to_pb_fields(message_type: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in message_type.fields:
        value = data.get(field.name)
        if value is None:  # absent: the protobuf default, or "not set" for an optional field
            continue
        if isinstance(value, BaseModel):
            value = dict(value)
        if field.enum_type is not None:
            value = ENUMS[field.name][str(value)]
        elif field.message_type is not None:
            if field.is_repeated:
                value = [
                    _to_pb_fields(field.message_type, dict(v) if isinstance(v, BaseModel) else v)
                    for v in value
                ]
            else:
                value = _to_pb_fields(field.message_type, value)
        out[field.name] = value
    return out


def to_pb(message: type[P], value: BaseModel | Mapping[str, Any]) -> P:
    """The protobuf ``message`` from a model (or a mapping of field names to models and values):
    same-named fields copied, recursing into messages and repeated fields; None is unset."""
    data = dict(value) if isinstance(value, BaseModel) else value
    return message(**_to_pb_fields(message.DESCRIPTOR, data))
