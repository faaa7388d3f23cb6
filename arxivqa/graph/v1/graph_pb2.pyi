import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_REFERENCES: _ClassVar[Direction]
    DIRECTION_CITATIONS: _ClassVar[Direction]

class RecommendMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECOMMEND_METHOD_UNSPECIFIED: _ClassVar[RecommendMethod]
    RECOMMEND_METHOD_CO_CITATION: _ClassVar[RecommendMethod]
    RECOMMEND_METHOD_COUPLING: _ClassVar[RecommendMethod]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_REFERENCES: Direction
DIRECTION_CITATIONS: Direction
RECOMMEND_METHOD_UNSPECIFIED: RecommendMethod
RECOMMEND_METHOD_CO_CITATION: RecommendMethod
RECOMMEND_METHOD_COUPLING: RecommendMethod

class Paper(_message.Message):
    __slots__ = ("paper_id", "title", "year", "categories", "citation_count", "reference_count")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CITATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    title: str
    year: int
    categories: _containers.RepeatedScalarFieldContainer[str]
    citation_count: int
    reference_count: int
    def __init__(self, paper_id: _Optional[str] = ..., title: _Optional[str] = ..., year: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., citation_count: _Optional[int] = ..., reference_count: _Optional[int] = ...) -> None: ...

class Citation(_message.Message):
    __slots__ = ("citing_id", "cited_id")
    CITING_ID_FIELD_NUMBER: _ClassVar[int]
    CITED_ID_FIELD_NUMBER: _ClassVar[int]
    citing_id: str
    cited_id: str
    def __init__(self, citing_id: _Optional[str] = ..., cited_id: _Optional[str] = ...) -> None: ...

class PaperAttributes(_message.Message):
    __slots__ = ("paper_id", "title", "year", "categories")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    title: str
    year: int
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, paper_id: _Optional[str] = ..., title: _Optional[str] = ..., year: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class AddCitationsRequest(_message.Message):
    __slots__ = ("citations", "papers")
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    PAPERS_FIELD_NUMBER: _ClassVar[int]
    citations: _containers.RepeatedCompositeFieldContainer[Citation]
    papers: _containers.RepeatedCompositeFieldContainer[PaperAttributes]
    def __init__(self, citations: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., papers: _Optional[_Iterable[_Union[PaperAttributes, _Mapping]]] = ...) -> None: ...

class SkippedItem(_message.Message):
    __slots__ = ("item", "reason")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    item: str
    reason: str
    def __init__(self, item: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AddCitationsResponse(_message.Message):
    __slots__ = ("edges_added", "edges_existing", "nodes_added", "papers_updated", "skipped_count", "skipped", "graph_version", "batches")
    EDGES_ADDED_FIELD_NUMBER: _ClassVar[int]
    EDGES_EXISTING_FIELD_NUMBER: _ClassVar[int]
    NODES_ADDED_FIELD_NUMBER: _ClassVar[int]
    PAPERS_UPDATED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    GRAPH_VERSION_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    edges_added: int
    edges_existing: int
    nodes_added: int
    papers_updated: int
    skipped_count: int
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedItem]
    graph_version: int
    batches: int
    def __init__(self, edges_added: _Optional[int] = ..., edges_existing: _Optional[int] = ..., nodes_added: _Optional[int] = ..., papers_updated: _Optional[int] = ..., skipped_count: _Optional[int] = ..., skipped: _Optional[_Iterable[_Union[SkippedItem, _Mapping]]] = ..., graph_version: _Optional[int] = ..., batches: _Optional[int] = ...) -> None: ...

class RemovePaperRequest(_message.Message):
    __slots__ = ("paper_id",)
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    def __init__(self, paper_id: _Optional[str] = ...) -> None: ...

class RemovePaperResponse(_message.Message):
    __slots__ = ("edges_removed", "graph_version")
    EDGES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    GRAPH_VERSION_FIELD_NUMBER: _ClassVar[int]
    edges_removed: int
    graph_version: int
    def __init__(self, edges_removed: _Optional[int] = ..., graph_version: _Optional[int] = ...) -> None: ...

class GetNeighborsRequest(_message.Message):
    __slots__ = ("paper_id", "direction", "page_size", "page_token", "counts_only")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COUNTS_ONLY_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    direction: Direction
    page_size: int
    page_token: str
    counts_only: bool
    def __init__(self, paper_id: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., counts_only: _Optional[bool] = ...) -> None: ...

class GetNeighborsResponse(_message.Message):
    __slots__ = ("paper", "references", "citations", "next_page_token")
    PAPER_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    paper: Paper
    references: _containers.RepeatedCompositeFieldContainer[Paper]
    citations: _containers.RepeatedCompositeFieldContainer[Paper]
    next_page_token: str
    def __init__(self, paper: _Optional[_Union[Paper, _Mapping]] = ..., references: _Optional[_Iterable[_Union[Paper, _Mapping]]] = ..., citations: _Optional[_Iterable[_Union[Paper, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RankRequest(_message.Message):
    __slots__ = ("k", "categories", "year_min", "year_max")
    K_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    YEAR_MIN_FIELD_NUMBER: _ClassVar[int]
    YEAR_MAX_FIELD_NUMBER: _ClassVar[int]
    k: int
    categories: _containers.RepeatedScalarFieldContainer[str]
    year_min: int
    year_max: int
    def __init__(self, k: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., year_min: _Optional[int] = ..., year_max: _Optional[int] = ...) -> None: ...

class RankedPaper(_message.Message):
    __slots__ = ("paper", "score", "rank")
    PAPER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    paper: Paper
    score: float
    rank: int
    def __init__(self, paper: _Optional[_Union[Paper, _Mapping]] = ..., score: _Optional[float] = ..., rank: _Optional[int] = ...) -> None: ...

class RankResponse(_message.Message):
    __slots__ = ("results", "computed_at", "computed_at_version", "graph_version", "stale", "ranked_nodes", "ranked_edges", "compute_seconds", "recomputed")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_VERSION_FIELD_NUMBER: _ClassVar[int]
    GRAPH_VERSION_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    RANKED_NODES_FIELD_NUMBER: _ClassVar[int]
    RANKED_EDGES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RECOMPUTED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RankedPaper]
    computed_at: _timestamp_pb2.Timestamp
    computed_at_version: int
    graph_version: int
    stale: bool
    ranked_nodes: int
    ranked_edges: int
    compute_seconds: float
    recomputed: bool
    def __init__(self, results: _Optional[_Iterable[_Union[RankedPaper, _Mapping]]] = ..., computed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., computed_at_version: _Optional[int] = ..., graph_version: _Optional[int] = ..., stale: _Optional[bool] = ..., ranked_nodes: _Optional[int] = ..., ranked_edges: _Optional[int] = ..., compute_seconds: _Optional[float] = ..., recomputed: _Optional[bool] = ...) -> None: ...

class RecommendRequest(_message.Message):
    __slots__ = ("seed_ids", "k", "method")
    SEED_IDS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    seed_ids: _containers.RepeatedScalarFieldContainer[str]
    k: int
    method: RecommendMethod
    def __init__(self, seed_ids: _Optional[_Iterable[str]] = ..., k: _Optional[int] = ..., method: _Optional[_Union[RecommendMethod, str]] = ...) -> None: ...

class Reason(_message.Message):
    __slots__ = ("seed_id", "co_cited_by", "co_citation_count", "shared_references", "shared_reference_count")
    SEED_ID_FIELD_NUMBER: _ClassVar[int]
    CO_CITED_BY_FIELD_NUMBER: _ClassVar[int]
    CO_CITATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARED_REFERENCES_FIELD_NUMBER: _ClassVar[int]
    SHARED_REFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    seed_id: str
    co_cited_by: _containers.RepeatedScalarFieldContainer[str]
    co_citation_count: int
    shared_references: _containers.RepeatedScalarFieldContainer[str]
    shared_reference_count: int
    def __init__(self, seed_id: _Optional[str] = ..., co_cited_by: _Optional[_Iterable[str]] = ..., co_citation_count: _Optional[int] = ..., shared_references: _Optional[_Iterable[str]] = ..., shared_reference_count: _Optional[int] = ...) -> None: ...

class Recommendation(_message.Message):
    __slots__ = ("paper", "score", "reasons")
    PAPER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    paper: Paper
    score: float
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    def __init__(self, paper: _Optional[_Union[Paper, _Mapping]] = ..., score: _Optional[float] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ...) -> None: ...

class RecommendResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Recommendation]
    def __init__(self, results: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ...) -> None: ...

class ShortestPathRequest(_message.Message):
    __slots__ = ("source_id", "target_id", "undirected")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    UNDIRECTED_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    target_id: str
    undirected: bool
    def __init__(self, source_id: _Optional[str] = ..., target_id: _Optional[str] = ..., undirected: _Optional[bool] = ...) -> None: ...

class ShortestPathResponse(_message.Message):
    __slots__ = ("found", "path", "length", "message")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    path: _containers.RepeatedCompositeFieldContainer[Paper]
    length: int
    message: str
    def __init__(self, found: _Optional[bool] = ..., path: _Optional[_Iterable[_Union[Paper, _Mapping]]] = ..., length: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class SubgraphRequest(_message.Message):
    __slots__ = ("paper_id", "depth", "max_nodes", "direction")
    PAPER_ID_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    MAX_NODES_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    paper_id: str
    depth: int
    max_nodes: int
    direction: Direction
    def __init__(self, paper_id: _Optional[str] = ..., depth: _Optional[int] = ..., max_nodes: _Optional[int] = ..., direction: _Optional[_Union[Direction, str]] = ...) -> None: ...

class SubgraphNode(_message.Message):
    __slots__ = ("paper", "depth", "pagerank")
    PAPER_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    PAGERANK_FIELD_NUMBER: _ClassVar[int]
    paper: Paper
    depth: int
    pagerank: float
    def __init__(self, paper: _Optional[_Union[Paper, _Mapping]] = ..., depth: _Optional[int] = ..., pagerank: _Optional[float] = ...) -> None: ...

class SubgraphResponse(_message.Message):
    __slots__ = ("nodes", "edges", "truncated")
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[SubgraphNode]
    edges: _containers.RepeatedCompositeFieldContainer[Citation]
    truncated: bool
    def __init__(self, nodes: _Optional[_Iterable[_Union[SubgraphNode, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("nodes", "edges", "components", "largest_component", "density", "last_pagerank_at", "graph_version", "papers_with_attributes")
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    LARGEST_COMPONENT_FIELD_NUMBER: _ClassVar[int]
    DENSITY_FIELD_NUMBER: _ClassVar[int]
    LAST_PAGERANK_AT_FIELD_NUMBER: _ClassVar[int]
    GRAPH_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAPERS_WITH_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    nodes: int
    edges: int
    components: int
    largest_component: int
    density: float
    last_pagerank_at: _timestamp_pb2.Timestamp
    graph_version: int
    papers_with_attributes: int
    def __init__(self, nodes: _Optional[int] = ..., edges: _Optional[int] = ..., components: _Optional[int] = ..., largest_component: _Optional[int] = ..., density: _Optional[float] = ..., last_pagerank_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., graph_version: _Optional[int] = ..., papers_with_attributes: _Optional[int] = ...) -> None: ...
