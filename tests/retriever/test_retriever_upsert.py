"""UpsertSession against an in-memory stand-in for the index's small Store interface.

The session (the thing under test) is real; what stands in is its dependency, the four
things it uses of ``RetrieverIndex`` (config, pipeline, execute, call), over a dict of
hashes. The same writes against a real Redis Stack are in test_retriever_index.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from services.common.errors import InvalidArgument, NotFound
from services.retriever.config import IndexConfig
from services.retriever.records import PaperRecord, PassageRecord, UpsertError
from services.retriever.upsert import UpsertSession

T = TypeVar("T")
DIM = 2
VEC = np.array([1.0, 0.0], dtype=np.float32)


class Pipeline:
    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: self.commands.append((name, args, kwargs))


class MemoryStore:
    """Hashes and sets in dicts; records each pipeline executed and each ``call``."""

    def __init__(self, config: IndexConfig) -> None:
        self.config = config
        self.hashes: dict[str, dict[str, Any]] = {}
        self.sets: dict[str, set[str]] = {}
        self.pipelines: list[list[str]] = []  # the command names of each pipeline
        self.calls = 0

    def pipeline(self) -> Pipeline:
        return Pipeline()

    def execute(self, pipe: Pipeline) -> list[Any]:
        self.pipelines.append([name for name, _, _ in pipe.commands])
        out: list[Any] = []
        for name, args, kwargs in pipe.commands:
            if name == "delete":
                out.append(sum(self.hashes.pop(k, None) is not None for k in args))
            elif name == "hset":
                self.hashes[args[0]] = dict(kwargs["mapping"])
                out.append(len(kwargs["mapping"]))
            elif name == "hmget":
                stored = self.hashes.get(args[0], {})
                out.append([stored.get(f) for f in args[1]])
            elif name == "sadd":
                self.sets.setdefault(args[0], set()).update(args[1:])
                out.append(1)
            else:
                raise AssertionError(f"the session sent {name}")
        return out

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        self.calls += 1
        return fn(*args)


def paper(pid: str, **kw: Any) -> PaperRecord:
    return PaperRecord(pid, f"Title {pid}", authors=["Ada Lovelace"], categories=["cs.LG"], **kw)


def test_writes_in_chunks_and_reports_bad_records_by_stream_position() -> None:
    store = MemoryStore(IndexConfig(dim=DIM, upsert_chunk=2))
    session = UpsertSession(store)
    session.add(papers=[paper("p1", year=2020, vector=VEC), paper("p 2"), paper("p3")])
    assert store.pipelines == [["delete", "hset", "delete", "hset"]]  # one full chunk
    session.add(papers=[PaperRecord("p4", " ")], passages=[PassageRecord("p1", 0, "text")])
    result = session.finish()
    assert (result.papers_written, result.passages_written) == (2, 1)
    assert result.errors == [
        UpsertError(
            "paper",
            1,
            "p 2",
            InvalidArgument,
            "bad paper id 'p 2': no spaces or control characters, at most 256 characters",
        ),
        UpsertError("paper", 3, "p4", InvalidArgument, "paper p4: empty title"),
    ]
    assert store.calls == 2  # every flush goes through call(): outages mapped, indexes kept
    cfg = store.config
    assert set(store.hashes) == {
        cfg.paper_prefix + "p1",
        cfg.paper_prefix + "p3",
        cfg.passage_prefix + "p1#0",
    }


def test_a_passage_copies_its_paper_written_in_the_session_or_stored_before() -> None:
    store = MemoryStore(IndexConfig(dim=DIM))
    cfg = store.config
    store.hashes[cfg.paper_prefix + "old"] = {
        "paper_id": "old",
        "title": "Stored before",
        "authors": "Emmy Noether",
        "categories": "hep-th",
    }  # no year
    session = UpsertSession(store)
    session.add(papers=[paper("new", year=2021)])
    session.add(
        passages=[
            PassageRecord("new", 0, " first  paragraph ", "Intro", VEC),
            PassageRecord("old", 3, "third"),
            PassageRecord("gone", 0, "orphan"),
            PassageRecord("new", -1, "bad"),
        ]
    )
    result = session.finish()
    assert result.passages_written == 2
    assert result.errors == [
        UpsertError(
            "passage", 2, "gone#0", NotFound, "passage gone#0: paper gone not found; "
            "upsert the paper first"
        ),
        UpsertError("passage", 3, "new#-1", InvalidArgument, "passage new#-1: negative ordinal"),
    ]  # fmt: skip
    assert store.hashes[cfg.passage_prefix + "new#0"] == {
        "title": "Title new",
        "authors": "Ada Lovelace",
        "categories": "cs.LG",
        "year": 2021,
        "paper_id": "new",
        "ordinal": 0,
        "text": "first paragraph",
        "section": "Intro",
        "vector": VEC.astype("<f4").tobytes(),
    }
    assert store.hashes[cfg.passage_prefix + "old#3"] == {
        "title": "Stored before",
        "authors": "Emmy Noether",
        "categories": "hep-th",
        "paper_id": "old",
        "ordinal": 3,
        "text": "third",
        "section": "",
    }
    assert store.sets == {
        cfg.members_prefix + "new": {cfg.passage_prefix + "new#0"},
        cfg.members_prefix + "old": {cfg.passage_prefix + "old#3"},
    }
    # papers first; then one look-up of the two papers not written in this session
    assert store.pipelines[1] == ["hmget", "hmget"]
