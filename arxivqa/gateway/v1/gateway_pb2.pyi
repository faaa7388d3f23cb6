from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_VECTOR: _ClassVar[SearchMode]
    SEARCH_MODE_TEXT: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]

class PassageSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PASSAGE_SOURCE_UNSPECIFIED: _ClassVar[PassageSource]
    PASSAGE_SOURCE_FULL_TEXT: _ClassVar[PassageSource]
    PASSAGE_SOURCE_ABSTRACT: _ClassVar[PassageSource]
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_VECTOR: SearchMode
SEARCH_MODE_TEXT: SearchMode
SEARCH_MODE_HYBRID: SearchMode
PASSAGE_SOURCE_UNSPECIFIED: PassageSource
PASSAGE_SOURCE_FULL_TEXT: PassageSource
PASSAGE_SOURCE_ABSTRACT: PassageSource

class Filters(_message.Message):
    __slots__ = ("categories", "year_from", "year_to", "authors")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    YEAR_FROM_FIELD_NUMBER: _ClassVar[int]
    YEAR_TO_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    year_from: int
    year_to: int
    authors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, categories: _Optional[_Iterable[str]] = ..., year_from: _Optional[int] = ..., year_to: _Optional[int] = ..., authors: _Optional[_Iterable[str]] = ...) -> None: ...

class Paper(_message.Message):
    __slots__ = ("id", "title", "abstract", "authors", "categories", "year", "update_date", "url")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ABSTRACT_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    UPDATE_DATE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    abstract: str
    authors: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    year: int
    update_date: str
    url: str
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., abstract: _Optional[str] = ..., authors: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., year: _Optional[int] = ..., update_date: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "mode", "filters", "k", "offset")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    query: str
    mode: SearchMode
    filters: Filters
    k: int
    offset: int
    def __init__(self, query: _Optional[str] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., k: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("paper", "score", "vector_rank", "vector_score", "text_rank", "text_score")
    PAPER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_RANK_FIELD_NUMBER: _ClassVar[int]
    VECTOR_SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_RANK_FIELD_NUMBER: _ClassVar[int]
    TEXT_SCORE_FIELD_NUMBER: _ClassVar[int]
    paper: Paper
    score: float
    vector_rank: int
    vector_score: float
    text_rank: int
    text_score: float
    def __init__(self, paper: _Optional[_Union[Paper, _Mapping]] = ..., score: _Optional[float] = ..., vector_rank: _Optional[int] = ..., vector_score: _Optional[float] = ..., text_rank: _Optional[int] = ..., text_score: _Optional[float] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "mode", "total")
    HITS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    mode: SearchMode
    total: int
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., mode: _Optional[_Union[SearchMode, str]] = ..., total: _Optional[int] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("question", "filters", "passages", "top_k")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    question: str
    filters: Filters
    passages: int
    top_k: int
    def __init__(self, question: _Optional[str] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., passages: _Optional[int] = ..., top_k: _Optional[int] = ...) -> None: ...

class Passage(_message.Message):
    __slots__ = ("id", "paper_id", "section", "ordinal", "text", "score", "source")
    ID_FIELD_NUMBER: _ClassVar[int]
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    SECTION_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    paper_id: str
    section: str
    ordinal: int
    text: str
    score: float
    source: PassageSource
    def __init__(self, id: _Optional[str] = ..., paper_id: _Optional[str] = ..., section: _Optional[str] = ..., ordinal: _Optional[int] = ..., text: _Optional[str] = ..., score: _Optional[float] = ..., source: _Optional[_Union[PassageSource, str]] = ...) -> None: ...

class Answer(_message.Message):
    __slots__ = ("text", "score", "paper", "evidence", "passage_id", "start", "end")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PAPER_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    PASSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    text: str
    score: float
    paper: Paper
    evidence: str
    passage_id: str
    start: int
    end: int
    def __init__(self, text: _Optional[str] = ..., score: _Optional[float] = ..., paper: _Optional[_Union[Paper, _Mapping]] = ..., evidence: _Optional[str] = ..., passage_id: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class AskResponse(_message.Message):
    __slots__ = ("answers", "passages", "answers_available", "note")
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    answers: _containers.RepeatedCompositeFieldContainer[Answer]
    passages: _containers.RepeatedCompositeFieldContainer[Passage]
    answers_available: bool
    note: str
    def __init__(self, answers: _Optional[_Iterable[_Union[Answer, _Mapping]]] = ..., passages: _Optional[_Iterable[_Union[Passage, _Mapping]]] = ..., answers_available: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class GetPaperRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPaperResponse(_message.Message):
    __slots__ = ("paper", "citation_count", "reference_count", "citations_available", "note")
    PAPER_FIELD_NUMBER: _ClassVar[int]
    CITATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    paper: Paper
    citation_count: int
    reference_count: int
    citations_available: bool
    note: str
    def __init__(self, paper: _Optional[_Union[Paper, _Mapping]] = ..., citation_count: _Optional[int] = ..., reference_count: _Optional[int] = ..., citations_available: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class ListPassagesRequest(_message.Message):
    __slots__ = ("id", "limit", "offset")
    ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    id: str
    limit: int
    offset: int
    def __init__(self, id: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListPassagesResponse(_message.Message):
    __slots__ = ("paper_id", "passages", "total", "offset", "limit")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    passages: _containers.RepeatedCompositeFieldContainer[Passage]
    total: int
    offset: int
    limit: int
    def __init__(self, paper_id: _Optional[str] = ..., passages: _Optional[_Iterable[_Union[Passage, _Mapping]]] = ..., total: _Optional[int] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class SimilarPapersRequest(_message.Message):
    __slots__ = ("id", "filters", "k")
    ID_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    id: str
    filters: Filters
    k: int
    def __init__(self, id: _Optional[str] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., k: _Optional[int] = ...) -> None: ...

class SimilarPapersResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ...) -> None: ...

class RecommendRequest(_message.Message):
    __slots__ = ("seed_ids", "k")
    SEED_IDS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    seed_ids: _containers.RepeatedScalarFieldContainer[str]
    k: int
    def __init__(self, seed_ids: _Optional[_Iterable[str]] = ..., k: _Optional[int] = ...) -> None: ...

class Reason(_message.Message):
    __slots__ = ("seed_id", "co_cited_by", "co_citation_count", "shared_references", "shared_reference_count", "text")
    SEED_ID_FIELD_NUMBER: _ClassVar[int]
    CO_CITED_BY_FIELD_NUMBER: _ClassVar[int]
    CO_CITATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARED_REFERENCES_FIELD_NUMBER: _ClassVar[int]
    SHARED_REFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    seed_id: str
    co_cited_by: _containers.RepeatedScalarFieldContainer[str]
    co_citation_count: int
    shared_references: _containers.RepeatedScalarFieldContainer[str]
    shared_reference_count: int
    text: str
    def __init__(self, seed_id: _Optional[str] = ..., co_cited_by: _Optional[_Iterable[str]] = ..., co_citation_count: _Optional[int] = ..., shared_references: _Optional[_Iterable[str]] = ..., shared_reference_count: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("paper", "score", "reasons", "citation_count")
    PAPER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CITATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    paper: Paper
    score: float
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    citation_count: int
    def __init__(self, paper: _Optional[_Union[Paper, _Mapping]] = ..., score: _Optional[float] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., citation_count: _Optional[int] = ...) -> None: ...

class RecommendResponse(_message.Message):
    __slots__ = ("recommendations",)
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    def __init__(self, recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ...) -> None: ...

class CitationPathRequest(_message.Message):
    __slots__ = ("from_id", "to_id", "undirected")
    FROM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_ID_FIELD_NUMBER: _ClassVar[int]
    UNDIRECTED_FIELD_NUMBER: _ClassVar[int]
    from_id: str
    to_id: str
    undirected: bool
    def __init__(self, from_id: _Optional[str] = ..., to_id: _Optional[str] = ..., undirected: _Optional[bool] = ...) -> None: ...

class CitationPathResponse(_message.Message):
    __slots__ = ("found", "path", "note")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    path: _containers.RepeatedCompositeFieldContainer[Paper]
    note: str
    def __init__(self, found: _Optional[bool] = ..., path: _Optional[_Iterable[_Union[Paper, _Mapping]]] = ..., note: _Optional[str] = ...) -> None: ...

class SubgraphRequest(_message.Message):
    __slots__ = ("id", "depth", "max_nodes")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    MAX_NODES_FIELD_NUMBER: _ClassVar[int]
    id: str
    depth: int
    max_nodes: int
    def __init__(self, id: _Optional[str] = ..., depth: _Optional[int] = ..., max_nodes: _Optional[int] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("id", "title", "year", "categories", "depth", "citation_count", "pagerank")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    CITATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    PAGERANK_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    year: int
    categories: _containers.RepeatedScalarFieldContainer[str]
    depth: int
    citation_count: int
    pagerank: float
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., year: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., depth: _Optional[int] = ..., citation_count: _Optional[int] = ..., pagerank: _Optional[float] = ...) -> None: ...

class Edge(_message.Message):
    __slots__ = ("citing_id", "cited_id")
    CITING_ID_FIELD_NUMBER: _ClassVar[int]
    CITED_ID_FIELD_NUMBER: _ClassVar[int]
    citing_id: str
    cited_id: str
    def __init__(self, citing_id: _Optional[str] = ..., cited_id: _Optional[str] = ...) -> None: ...

class SubgraphResponse(_message.Message):
    __slots__ = ("center_id", "nodes", "edges", "truncated")
    CENTER_ID_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    center_id: str
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    edges: _containers.RepeatedCompositeFieldContainer[Edge]
    truncated: bool
    def __init__(self, center_id: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[Edge, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class RankRequest(_message.Message):
    __slots__ = ("filters", "k")
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    filters: Filters
    k: int
    def __init__(self, filters: _Optional[_Union[Filters, _Mapping]] = ..., k: _Optional[int] = ...) -> None: ...

class RankedPaper(_message.Message):
    __slots__ = ("paper", "score", "rank", "citation_count")
    PAPER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    CITATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    paper: Paper
    score: float
    rank: int
    citation_count: int
    def __init__(self, paper: _Optional[_Union[Paper, _Mapping]] = ..., score: _Optional[float] = ..., rank: _Optional[int] = ..., citation_count: _Optional[int] = ...) -> None: ...

class RankResponse(_message.Message):
    __slots__ = ("papers", "computed_at", "stale")
    PAPERS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    papers: _containers.RepeatedCompositeFieldContainer[RankedPaper]
    computed_at: str
    stale: bool
    def __init__(self, papers: _Optional[_Iterable[_Union[RankedPaper, _Mapping]]] = ..., computed_at: _Optional[str] = ..., stale: _Optional[bool] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("batch_id", "records", "fulltexts", "citations", "delete_ids")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    FULLTEXTS_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    DELETE_IDS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    records: _containers.RepeatedScalarFieldContainer[str]
    fulltexts: _containers.RepeatedCompositeFieldContainer[FullText]
    citations: _containers.RepeatedCompositeFieldContainer[Citation]
    delete_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, batch_id: _Optional[str] = ..., records: _Optional[_Iterable[str]] = ..., fulltexts: _Optional[_Iterable[_Union[FullText, _Mapping]]] = ..., citations: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., delete_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class FullText(_message.Message):
    __slots__ = ("paper_id", "paragraphs")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    PARAGRAPHS_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    paragraphs: _containers.RepeatedCompositeFieldContainer[Paragraph]
    def __init__(self, paper_id: _Optional[str] = ..., paragraphs: _Optional[_Iterable[_Union[Paragraph, _Mapping]]] = ...) -> None: ...

class Paragraph(_message.Message):
    __slots__ = ("section", "text")
    SECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    section: str
    text: str
    def __init__(self, section: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class Citation(_message.Message):
    __slots__ = ("citing_id", "cited_id")
    CITING_ID_FIELD_NUMBER: _ClassVar[int]
    CITED_ID_FIELD_NUMBER: _ClassVar[int]
    citing_id: str
    cited_id: str
    def __init__(self, citing_id: _Optional[str] = ..., cited_id: _Optional[str] = ...) -> None: ...

class RecordError(_message.Message):
    __slots__ = ("kind", "index", "id", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    index: int
    id: str
    message: str
    def __init__(self, kind: _Optional[str] = ..., index: _Optional[int] = ..., id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("batch_id", "papers_written", "passages_written", "citations_added", "errors", "papers_deleted")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PAPERS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_ADDED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PAPERS_DELETED_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    papers_written: int
    passages_written: int
    citations_added: int
    errors: _containers.RepeatedCompositeFieldContainer[RecordError]
    papers_deleted: int
    def __init__(self, batch_id: _Optional[str] = ..., papers_written: _Optional[int] = ..., passages_written: _Optional[int] = ..., citations_added: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RecordError, _Mapping]]] = ..., papers_deleted: _Optional[int] = ...) -> None: ...
