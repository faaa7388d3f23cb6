"""How the indexes are built and searched: :class:`IndexConfig`, its defaults and bounds.

Each field's default, bounds, description and environment-variable name are written once,
here, in the field's metadata (:class:`Bounds`). ``IndexConfig`` checks them when it is
built (``InvalidArgument`` naming every bad field), and the service's ``Settings``
(``server.py``) makes its pydantic fields from the same metadata with :func:`setting_field`,
so the environment is validated against the same numbers before an ``IndexConfig`` exists.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from services.common.errors import InvalidArgument

RRF_K_MAX = 10000
"""The largest RRF k constant, configured or given with a request."""


@dataclass(frozen=True)
class Bounds:
    """What a configuration value may be; ``None`` = no such bound."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    pattern: str | None = None  # anchored with ^...$ (pydantic searches, re.fullmatch here)
    description: str | None = None
    setting: str | None = None  # the Settings field (env var suffix) when not the field name

    def admits(self, value: Any) -> bool:
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            return False
        if self.ge is not None and not value >= self.ge:
            return False
        if self.gt is not None and not value > self.gt:
            return False
        return self.le is None or value <= self.le

    def field_kwargs(self) -> dict[str, Any]:
        """The pydantic ``Field`` constraints stating the same bounds."""
        names = ("ge", "gt", "le", "pattern", "description")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def _bounded(default: Any, **bounds: Any) -> Any:
    return dataclasses.field(default=default, metadata={"bounds": Bounds(**bounds)})


_WEIGHT = {"gt": 0, "le": 100}


@dataclass(frozen=True)
class IndexConfig:
    """How the indexes are built and searched (``Settings`` in server.py fills it from env)."""

    dim: int = _bounded(384, ge=1, le=32768, description="Vector dimension.")
    prefix: str = _bounded(
        "arxivqa",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Key and index prefix.",
        setting="index_prefix",
    )
    version: int = _bounded(1, ge=1, description="Index name version.", setting="index_version")
    hnsw_m: int = _bounded(16, ge=2, le=512)
    hnsw_ef_construction: int = _bounded(100, ge=1, le=4096)
    hnsw_ef_runtime: int = _bounded(100, ge=1, le=4096)
    rrf_k: float = _bounded(10.0, ge=0, le=RRF_K_MAX, description="RRF k constant.")
    # Candidates taken from each list before fusing (at least offset + k).
    rrf_window: int = _bounded(100, ge=1, le=1000)
    title_weight: float = _bounded(2.0, **_WEIGHT)
    abstract_weight: float = _bounded(1.0, **_WEIGHT)
    section_weight: float = _bounded(0.5, **_WEIGHT)
    passage_weight: float = _bounded(1.0, **_WEIGHT)
    scorer: str = _bounded("BM25STD", pattern=r"^(BM25STD|BM25|TFIDF|TFIDF\.DOCNORM)$")
    upsert_chunk: int = _bounded(500, ge=1, le=100000)

    def __post_init__(self) -> None:
        bad = [
            f.name for f in dataclasses.fields(self) if not _bounds(f).admits(getattr(self, f.name))
        ]
        if bad:
            raise InvalidArgument(
                "invalid retriever configuration: "
                + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad)
            )

    @property
    def papers_index(self) -> str:
        return f"{self.prefix}:papers:v{self.version}"

    @property
    def passages_index(self) -> str:
        return f"{self.prefix}:passages:v{self.version}"

    @property
    def paper_prefix(self) -> str:
        return f"{self.prefix}:paper:v{self.version}:"

    @property
    def passage_prefix(self) -> str:
        return f"{self.prefix}:passage:v{self.version}:"

    @property
    def members_prefix(self) -> str:
        return f"{self.prefix}:paper-passages:v{self.version}:"


def _bounds(f: dataclasses.Field[Any]) -> Bounds:
    bounds = f.metadata["bounds"]
    assert isinstance(bounds, Bounds)
    return bounds


def setting_names() -> dict[str, str]:
    """``{IndexConfig field: Settings field}`` (the env var is the prefix + that name)."""
    return {f.name: _bounds(f).setting or f.name for f in dataclasses.fields(IndexConfig)}


def setting_field(setting: str) -> Any:
    """The pydantic ``Field`` of the Settings field ``setting``: its IndexConfig default+bounds."""
    names = setting_names()
    [f] = [f for f in dataclasses.fields(IndexConfig) if names[f.name] == setting]
    return Field(f.default, **_bounds(f).field_kwargs())


def config_from(values: Any) -> IndexConfig:
    """An ``IndexConfig`` from an object with one attribute per Settings field."""
    return IndexConfig(**{n: getattr(values, s) for n, s in setting_names().items()})
