from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECORD_KIND_UNSPECIFIED: _ClassVar[RecordKind]
    RECORD_KIND_PAPER: _ClassVar[RecordKind]
    RECORD_KIND_PASSAGE: _ClassVar[RecordKind]

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_VECTOR: _ClassVar[SearchMode]
    SEARCH_MODE_TEXT: _ClassVar[SearchMode]
    SEARCH_MODE_HYBRID: _ClassVar[SearchMode]

class SearchTarget(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_TARGET_UNSPECIFIED: _ClassVar[SearchTarget]
    SEARCH_TARGET_PAPERS: _ClassVar[SearchTarget]
    SEARCH_TARGET_PASSAGES: _ClassVar[SearchTarget]

class PassageSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PASSAGE_SOURCE_UNSPECIFIED: _ClassVar[PassageSource]
    PASSAGE_SOURCE_FULL_TEXT: _ClassVar[PassageSource]
    PASSAGE_SOURCE_ABSTRACT: _ClassVar[PassageSource]
RECORD_KIND_UNSPECIFIED: RecordKind
RECORD_KIND_PAPER: RecordKind
RECORD_KIND_PASSAGE: RecordKind
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_VECTOR: SearchMode
SEARCH_MODE_TEXT: SearchMode
SEARCH_MODE_HYBRID: SearchMode
SEARCH_TARGET_UNSPECIFIED: SearchTarget
SEARCH_TARGET_PAPERS: SearchTarget
SEARCH_TARGET_PASSAGES: SearchTarget
PASSAGE_SOURCE_UNSPECIFIED: PassageSource
PASSAGE_SOURCE_FULL_TEXT: PassageSource
PASSAGE_SOURCE_ABSTRACT: PassageSource

class Paper(_message.Message):
    __slots__ = ("id", "title", "abstract", "authors", "categories", "year", "update_date", "vector")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ABSTRACT_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    UPDATE_DATE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    abstract: str
    authors: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    year: int
    update_date: str
    vector: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., abstract: _Optional[str] = ..., authors: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., year: _Optional[int] = ..., update_date: _Optional[str] = ..., vector: _Optional[_Iterable[float]] = ...) -> None: ...

class Passage(_message.Message):
    __slots__ = ("paper_id", "ordinal", "section", "text", "vector")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    SECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    ordinal: int
    section: str
    text: str
    vector: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, paper_id: _Optional[str] = ..., ordinal: _Optional[int] = ..., section: _Optional[str] = ..., text: _Optional[str] = ..., vector: _Optional[_Iterable[float]] = ...) -> None: ...

class UpsertRequest(_message.Message):
    __slots__ = ("papers", "passages")
    PAPERS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    papers: _containers.RepeatedCompositeFieldContainer[Paper]
    passages: _containers.RepeatedCompositeFieldContainer[Passage]
    def __init__(self, papers: _Optional[_Iterable[_Union[Paper, _Mapping]]] = ..., passages: _Optional[_Iterable[_Union[Passage, _Mapping]]] = ...) -> None: ...

class RecordError(_message.Message):
    __slots__ = ("kind", "index", "id", "code", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: RecordKind
    index: int
    id: str
    code: str
    message: str
    def __init__(self, kind: _Optional[_Union[RecordKind, str]] = ..., index: _Optional[int] = ..., id: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class UpsertResponse(_message.Message):
    __slots__ = ("papers_written", "passages_written", "errors")
    PAPERS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    papers_written: int
    passages_written: int
    errors: _containers.RepeatedCompositeFieldContainer[RecordError]
    def __init__(self, papers_written: _Optional[int] = ..., passages_written: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RecordError, _Mapping]]] = ...) -> None: ...

class GetPapersRequest(_message.Message):
    __slots__ = ("ids", "include_vectors")
    IDS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    include_vectors: bool
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., include_vectors: _Optional[bool] = ...) -> None: ...

class GetPapersResponse(_message.Message):
    __slots__ = ("papers", "passage_counts", "missing_ids")
    PAPERS_FIELD_NUMBER: _ClassVar[int]
    PASSAGE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    MISSING_IDS_FIELD_NUMBER: _ClassVar[int]
    papers: _containers.RepeatedCompositeFieldContainer[Paper]
    passage_counts: _containers.RepeatedScalarFieldContainer[int]
    missing_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, papers: _Optional[_Iterable[_Union[Paper, _Mapping]]] = ..., passage_counts: _Optional[_Iterable[int]] = ..., missing_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeletePapersRequest(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeletePapersResponse(_message.Message):
    __slots__ = ("papers_deleted", "passages_deleted")
    PAPERS_DELETED_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_DELETED_FIELD_NUMBER: _ClassVar[int]
    papers_deleted: int
    passages_deleted: int
    def __init__(self, papers_deleted: _Optional[int] = ..., passages_deleted: _Optional[int] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("papers", "passages", "index_bytes", "redis_used_memory_bytes", "dimension", "papers_index", "passages_index", "index_failures")
    PAPERS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_FIELD_NUMBER: _ClassVar[int]
    REDIS_USED_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    PAPERS_INDEX_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_INDEX_FIELD_NUMBER: _ClassVar[int]
    INDEX_FAILURES_FIELD_NUMBER: _ClassVar[int]
    papers: int
    passages: int
    index_bytes: int
    redis_used_memory_bytes: int
    dimension: int
    papers_index: str
    passages_index: str
    index_failures: int
    def __init__(self, papers: _Optional[int] = ..., passages: _Optional[int] = ..., index_bytes: _Optional[int] = ..., redis_used_memory_bytes: _Optional[int] = ..., dimension: _Optional[int] = ..., papers_index: _Optional[str] = ..., passages_index: _Optional[str] = ..., index_failures: _Optional[int] = ...) -> None: ...

class Filters(_message.Message):
    __slots__ = ("categories", "authors", "year_min", "year_max")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    YEAR_MIN_FIELD_NUMBER: _ClassVar[int]
    YEAR_MAX_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedScalarFieldContainer[str]
    authors: _containers.RepeatedScalarFieldContainer[str]
    year_min: int
    year_max: int
    def __init__(self, categories: _Optional[_Iterable[str]] = ..., authors: _Optional[_Iterable[str]] = ..., year_min: _Optional[int] = ..., year_max: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("mode", "target", "query_text", "query_vector", "filters", "k", "offset")
    MODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    QUERY_TEXT_FIELD_NUMBER: _ClassVar[int]
    QUERY_VECTOR_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    mode: SearchMode
    target: SearchTarget
    query_text: str
    query_vector: _containers.RepeatedScalarFieldContainer[float]
    filters: Filters
    k: int
    offset: int
    def __init__(self, mode: _Optional[_Union[SearchMode, str]] = ..., target: _Optional[_Union[SearchTarget, str]] = ..., query_text: _Optional[str] = ..., query_vector: _Optional[_Iterable[float]] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., k: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ModeResult(_message.Message):
    __slots__ = ("rank", "score")
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    rank: int
    score: float
    def __init__(self, rank: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("id", "paper_id", "ordinal", "section", "title", "text", "authors", "categories", "year", "score", "vector", "text_match")
    ID_FIELD_NUMBER: _ClassVar[int]
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    SECTION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_MATCH_FIELD_NUMBER: _ClassVar[int]
    id: str
    paper_id: str
    ordinal: int
    section: str
    title: str
    text: str
    authors: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    year: int
    score: float
    vector: ModeResult
    text_match: ModeResult
    def __init__(self, id: _Optional[str] = ..., paper_id: _Optional[str] = ..., ordinal: _Optional[int] = ..., section: _Optional[str] = ..., title: _Optional[str] = ..., text: _Optional[str] = ..., authors: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., year: _Optional[int] = ..., score: _Optional[float] = ..., vector: _Optional[_Union[ModeResult, _Mapping]] = ..., text_match: _Optional[_Union[ModeResult, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "total")
    HITS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    total: int
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class SimilarPapersRequest(_message.Message):
    __slots__ = ("paper_id", "k", "offset", "filters")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    k: int
    offset: int
    filters: Filters
    def __init__(self, paper_id: _Optional[str] = ..., k: _Optional[int] = ..., offset: _Optional[int] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ...) -> None: ...

class SimilarPapersResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ...) -> None: ...

class RetrievePassagesRequest(_message.Message):
    __slots__ = ("query_text", "query_vector", "filters", "k")
    QUERY_TEXT_FIELD_NUMBER: _ClassVar[int]
    QUERY_VECTOR_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    query_text: str
    query_vector: _containers.RepeatedScalarFieldContainer[float]
    filters: Filters
    k: int
    def __init__(self, query_text: _Optional[str] = ..., query_vector: _Optional[_Iterable[float]] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., k: _Optional[int] = ...) -> None: ...

class RetrievedPassage(_message.Message):
    __slots__ = ("hit", "source")
    HIT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    hit: Hit
    source: PassageSource
    def __init__(self, hit: _Optional[_Union[Hit, _Mapping]] = ..., source: _Optional[_Union[PassageSource, str]] = ...) -> None: ...

class RetrievePassagesResponse(_message.Message):
    __slots__ = ("passages",)
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    passages: _containers.RepeatedCompositeFieldContainer[RetrievedPassage]
    def __init__(self, passages: _Optional[_Iterable[_Union[RetrievedPassage, _Mapping]]] = ...) -> None: ...

class ListPassagesRequest(_message.Message):
    __slots__ = ("paper_id", "limit", "offset")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    limit: int
    offset: int
    def __init__(self, paper_id: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListPassagesResponse(_message.Message):
    __slots__ = ("passages", "total")
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    passages: _containers.RepeatedCompositeFieldContainer[Passage]
    total: int
    def __init__(self, passages: _Optional[_Iterable[_Union[Passage, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...
