"""The two Search index definitions (``FT.CREATE ... SCHEMA`` arguments) from the config.

Papers: TEXT title and abstract with their BM25 weights, TAG ids, authors and categories
(``|``-separated), NUMERIC year, and the HNSW vector field. Passages: TEXT section and
text, their paper's TAG/NUMERIC fields copied at write time, and the vector field. What
these fix (dimension, HNSW M / EF_CONSTRUCTION, weights) holds for an index's lifetime.
"""

from __future__ import annotations

from typing import Any

from services.retriever.config import IndexConfig
from services.retriever.query import TAG_SEP


def vector_schema(cfg: IndexConfig) -> list[Any]:
    """The HNSW vector field (cosine, FLOAT32, the configured dimension)."""
    return [
        "vector", "VECTOR", "HNSW", "12",
        "TYPE", "FLOAT32", "DIM", cfg.dim, "DISTANCE_METRIC", "COSINE",
        "M", cfg.hnsw_m, "EF_CONSTRUCTION", cfg.hnsw_ef_construction,
        "EF_RUNTIME", cfg.hnsw_ef_runtime,
    ]  # fmt: skip


def paper_schema(cfg: IndexConfig) -> list[Any]:
    return [
        "paper_id", "TAG",
        "title", "TEXT", "WEIGHT", cfg.title_weight,
        "abstract", "TEXT", "WEIGHT", cfg.abstract_weight,
        "authors", "TAG", "SEPARATOR", TAG_SEP,
        "categories", "TAG", "SEPARATOR", TAG_SEP,
        "year", "NUMERIC",
        *vector_schema(cfg),
    ]  # fmt: skip


def passage_schema(cfg: IndexConfig) -> list[Any]:
    return [
        "paper_id", "TAG",
        "ordinal", "NUMERIC",
        "section", "TEXT", "WEIGHT", cfg.section_weight,
        "text", "TEXT", "WEIGHT", cfg.passage_weight,
        "authors", "TAG", "SEPARATOR", TAG_SEP,
        "categories", "TAG", "SEPARATOR", TAG_SEP,
        "year", "NUMERIC",
        *vector_schema(cfg),
    ]  # fmt: skip
