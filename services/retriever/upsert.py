"""Writing a stream of papers and passages: :class:`UpsertSession`.

The session needs four things of the store (:class:`Store`, which ``RetrieverIndex``
provides): its configuration, a fresh non-transactional pipeline, a way to execute one,
and ``call``, which runs a function against Redis with outages mapped and lost indexes
recreated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from services.common.errors import InvalidArgument, NotFound
from services.retriever.config import IndexConfig
from services.retriever.records import (
    PAPER_META,
    PaperRecord,
    PassageRecord,
    UpsertError,
    UpsertResult,
    paper_fields,
    passage_fields,
)

T = TypeVar("T")


class Store(Protocol):
    """What an upsert session uses of the index."""

    @property
    def config(self) -> IndexConfig: ...

    def pipeline(self) -> Any: ...

    def execute(self, pipe: Any) -> list[Any]: ...

    def call(self, fn: Callable[..., T], *args: Any) -> T: ...


class UpsertSession:
    """Writes a stream of papers and passages in pipelined, non-transactional chunks.

    Bad records become :class:`UpsertError` entries; good ones are written. A passage needs
    its paper, earlier in this session or already stored; it copies the paper's title,
    authors, categories and year so passage searches can use the same filters.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.result = UpsertResult()
        self._n_papers = 0
        self._n_passages = 0
        self._papers: list[tuple[int, str, dict[str, Any]]] = []
        self._passages: list[tuple[int, PassageRecord]] = []
        # paper id -> the fields a passage copies (None: looked up and absent).
        self._paper_meta: dict[str, dict[str, Any] | None] = {}

    def _error(self, kind: str, index: int, rid: str, exc: InvalidArgument | NotFound) -> None:
        self.result.errors.append(UpsertError(kind, index, rid, type(exc), str(exc)))

    def add(
        self, papers: Sequence[PaperRecord] = (), passages: Sequence[PassageRecord] = ()
    ) -> None:
        cfg = self.store.config
        for paper in papers:
            i, self._n_papers = self._n_papers, self._n_papers + 1
            try:
                mapping = paper_fields(paper, cfg.dim)
            except InvalidArgument as exc:
                self._error("paper", i, str(paper.id), exc)
                continue
            self._papers.append((i, mapping["paper_id"], mapping))
            if len(self._papers) >= cfg.upsert_chunk:
                self._flush()
        for passage in passages:
            i, self._n_passages = self._n_passages, self._n_passages + 1
            self._passages.append((i, passage))
            if len(self._passages) >= cfg.upsert_chunk:
                self._flush()

    def finish(self) -> UpsertResult:
        self._flush()
        return self.result

    def _flush(self) -> None:
        if self._papers:
            self.store.call(self._write_papers)
        if self._passages:
            self.store.call(self._write_passages)

    def _write_papers(self) -> None:
        prefix = self.store.config.paper_prefix
        pipe = self.store.pipeline()
        for _, pid, mapping in self._papers:
            pipe.delete(prefix + pid)  # replace the whole record (a vector may be gone)
            pipe.hset(prefix + pid, mapping=mapping)
            self._paper_meta[pid] = {k: mapping[k] for k in PAPER_META if k in mapping}
        self.store.execute(pipe)
        self.result.papers_written += len(self._papers)
        self._papers = []

    def _look_up_papers(self) -> None:
        """Fetch what passages copy from papers stored before this session."""
        unknown = sorted(
            {
                str(p.paper_id).strip()
                for _, p in self._passages
                if str(p.paper_id).strip() not in self._paper_meta
            }
            - {""}
        )
        if not unknown:
            return
        prefix = self.store.config.paper_prefix
        pipe = self.store.pipeline()
        for pid in unknown:
            pipe.hmget(prefix + pid, list(PAPER_META))
        for pid, vals in zip(unknown, self.store.execute(pipe), strict=True):
            if vals[0] is None:
                self._paper_meta[pid] = None
            else:
                meta = dict(zip(PAPER_META, vals, strict=True))
                self._paper_meta[pid] = {k: v for k, v in meta.items() if v is not None}

    def _write_passages(self) -> None:
        cfg = self.store.config
        self._look_up_papers()
        pipe = self.store.pipeline()
        written = 0
        for i, p in self._passages:
            rid = f"{p.paper_id}#{p.ordinal}"
            try:
                pid, own = passage_fields(p, cfg.dim)
                found = self._paper_meta.get(pid)
                if found is None:
                    raise NotFound(f"passage {rid}: paper {pid} not found; upsert the paper first")
            except (InvalidArgument, NotFound) as exc:
                self._error("passage", i, rid, exc)
                continue
            key = f"{cfg.passage_prefix}{pid}#{int(p.ordinal)}"
            pipe.delete(key)
            pipe.hset(key, mapping={**found, **own})
            pipe.sadd(cfg.members_prefix + pid, key)
            written += 1
        self.store.execute(pipe)
        self.result.passages_written += written
        self._passages = []
