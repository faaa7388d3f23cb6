"""Reading Redis replies (RESP2 flat lists, or RESP3 maps) into plain Python values.

Pure functions over what redis-py returns (bytes, lists, dicts): ``FT.SEARCH`` replies,
``FT.INFO`` and ``MODULE LIST`` entries, and the stored fields of a hash.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import redis

from services.retriever.query import TAG_SEP

# FT.INFO sizes (MiB) that add up to an index's memory.
_SIZE_KEYS = (
    b"inverted_sz_mb",
    b"vector_index_sz_mb",
    b"offset_vectors_sz_mb",
    b"doc_table_size_mb",
    b"sortable_values_size_mb",
    b"key_table_size_mb",
    b"tag_overhead_sz_mb",
    b"text_overhead_sz_mb",
)


# -- values ----------------------------------------------------------------------------------
def text(value: Any) -> str:
    """A reply value as text: bytes decoded as UTF-8 (bad bytes replaced), ``None`` as ""."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def split_tags(value: Any) -> list[str]:
    """A stored ``|``-separated tag field as a list (empty parts dropped)."""
    return [t for t in text(value).split(TAG_SEP) if t]


def year(value: Any) -> int | None:
    """A stored NUMERIC year (Redis may hand back ``b"2021"`` or ``b"2021.0"``)."""
    raw = text(value)
    return int(float(raw)) if raw else None


# -- structures ------------------------------------------------------------------------------
def as_dict(value: Any) -> dict[bytes, Any]:
    """A RESP2 flat ``[key, value, ...]`` list (or a RESP3 map) as a dict with bytes keys."""
    if isinstance(value, dict):
        return {k if isinstance(k, bytes) else str(k).encode(): v for k, v in value.items()}
    it = iter(value or [])
    return {k if isinstance(k, bytes) else str(k).encode(): v for k, v in zip(it, it, strict=False)}


def pairs(items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
    """``[a, b, c, d]`` -> ``(a, b), (c, d)`` (a trailing odd item is dropped)."""
    it = iter(items)
    return zip(it, it, strict=False)


def info(raw: Any) -> dict[bytes, Any]:
    """An ``FT.INFO`` reply as a dict, its ``attributes`` each a dict too."""
    out = as_dict(raw)
    out[b"attributes"] = [as_dict(a) for a in out.get(b"attributes", [])]
    return out


def index_dim(info: dict[bytes, Any]) -> int | None:
    """The vector dimension of an index (from :func:`info`), ``None`` without a vector field."""
    for attr in info.get(b"attributes", []):
        if text(attr.get(b"type")) == "VECTOR" and b"dim" in attr:
            return int(attr[b"dim"])
    return None


def index_bytes(info: dict[bytes, Any]) -> int:
    """An index's memory in bytes: the sum of the sizes ``FT.INFO`` reports in MiB."""
    mb = sum(float(info.get(key, 0) or 0) for key in _SIZE_KEYS)
    return int(mb * 1024 * 1024)


def module_names(modules: Any) -> set[str]:
    """The lower-case module names in a ``MODULE LIST`` reply."""
    return {text(as_dict(m).get(b"name")).lower() for m in modules}


def knn_reply(reply: Sequence[Any]) -> tuple[list[tuple[str, float]], int]:
    """A KNN ``FT.SEARCH`` reply (``RETURN 1 vector_distance``): ``[(key, cosine)]``, total.

    Cosine similarity is ``1 - vector_distance``; a document without a distance scores 0.
    """
    hits = [
        (text(key), 1.0 - float(text(as_dict(fields).get(b"vector_distance", 1.0))))
        for key, fields in pairs(reply[1:])
    ]
    return hits, int(reply[0])


def scored_reply(reply: Sequence[Any]) -> tuple[list[tuple[str, float]], int]:
    """A ``NOCONTENT WITHSCORES`` ``FT.SEARCH`` reply: ``[(key, score)]`` and the total."""
    return [(text(key), float(score)) for key, score in pairs(reply[1:])], int(reply[0])


def is_missing_index(exc: redis.ResponseError) -> bool:
    """Whether a Redis error says the search index does not exist."""
    msg = str(exc).lower()
    return "no such index" in msg or "unknown index name" in msg
