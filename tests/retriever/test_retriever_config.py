"""IndexConfig, the Settings built from it, and record validation, without Redis."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pydantic import ValidationError

from services.common.errors import InvalidArgument
from services.retriever.config import IndexConfig, setting_names
from services.retriever.records import (
    PaperRecord,
    PassageRecord,
    check_id,
    paper_fields,
    passage_fields,
    vector_bytes,
)
from services.retriever.schema import paper_schema, passage_schema
from services.retriever.server import Settings

# Per field: a value just inside and one just outside its bounds.
EDGES = {
    "dim": (32768, 0),
    "prefix": ("a.b_c-1", "a b"),
    "version": (1, 0),
    "hnsw_m": (512, 1),
    "hnsw_ef_construction": (4096, 4097),
    "hnsw_ef_runtime": (1, 0),
    "rrf_k": (0.0, 10000.5),
    "rrf_window": (1000, 0),
    "title_weight": (100.0, 0.0),
    "abstract_weight": (0.001, 100.5),
    "section_weight": (100.0, -1.0),
    "passage_weight": (1e-9, 0.0),
    "scorer": ("TFIDF.DOCNORM", "BM25STD; FLUSHALL"),
    "upsert_chunk": (100000, 100001),
}


def test_every_field_has_its_edges_here() -> None:
    assert set(EDGES) == {f.name for f in dataclasses.fields(IndexConfig)}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_config_and_settings_refuse_the_same_values(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = EDGES[name]
    setting = setting_names()[name]
    assert getattr(IndexConfig(**{name: good}), name) == good
    with pytest.raises(InvalidArgument, match=f"invalid retriever configuration: {name}="):
        IndexConfig(**{name: bad})
    env = f"ARXIVQA_RETRIEVER_{setting.upper()}"
    monkeypatch.setenv(env, str(good))
    assert getattr(Settings().index_config(), name) == good
    monkeypatch.setenv(env, str(bad))
    with pytest.raises(ValidationError, match=setting):
        Settings()


def test_settings_defaults_are_the_config_defaults() -> None:
    assert Settings().index_config() == IndexConfig()
    fields = Settings.model_fields
    for f in dataclasses.fields(IndexConfig):
        assert fields[setting_names()[f.name]].default == f.default


def test_settings_names_and_index_names() -> None:
    settings = Settings(index_prefix="bench", index_version=3, dim=8)
    cfg = settings.index_config()
    assert (cfg.prefix, cfg.version, cfg.dim) == ("bench", 3, 8)
    assert cfg.papers_index == "bench:papers:v3"
    assert cfg.passages_index == "bench:passages:v3"
    assert cfg.paper_prefix == "bench:paper:v3:"
    assert cfg.passage_prefix == "bench:passage:v3:"
    assert cfg.members_prefix == "bench:paper-passages:v3:"


def test_config_names_every_bad_field() -> None:
    with pytest.raises(InvalidArgument) as err:
        IndexConfig(dim=0, title_weight=0.0, prefix="")
    assert str(err.value) == ("invalid retriever configuration: dim=0, prefix='', title_weight=0.0")


# -- records ---------------------------------------------------------------------------------
def test_check_id() -> None:
    assert check_id("  hep-th/9901001 ") == "hep-th/9901001"
    for bad, message in [
        ("", "empty paper id"),
        ("a b", "bad paper id 'a b'"),
        ("a\x00", "no spaces or control characters"),
        ("x" * 257, "at most 256 characters"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            check_id(bad)


def test_vector_bytes() -> None:
    assert vector_bytes(None, 3, "v") is None
    assert vector_bytes([], 3, "v") is None
    raw = vector_bytes([1, 0, 0.5], 3, "v")
    assert raw == np.array([1, 0, 0.5], dtype="<f4").tobytes()
    for vec, message in [
        ([1, 0], "paper p: vector has 2 dimensions, the index has 3"),
        ([1, float("nan"), 0], "NaN or infinity"),
        ([1, float("inf"), 0], "NaN or infinity"),
        ([0, 0, 0], "all zeros"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            vector_bytes(vec, 3, "paper p")


def test_paper_fields() -> None:
    paper = PaperRecord(
        " 2101.00001 ",
        "  Quantum\n walks ",
        "On graphs.",
        ["Ada  Lovelace", "A|B"],
        ["cs.LG", "quant-ph"],
        2021,
        vector=np.array([1, 0], dtype=np.float32),
    )
    fields = paper_fields(paper, 2)
    assert fields == {
        "paper_id": "2101.00001",
        "title": "Quantum walks",
        "abstract": "On graphs.",
        "authors": "Ada Lovelace|A B",
        "categories": "cs.LG|quant-ph",
        "update_date": "",
        "year": 2021,
        "vector": np.array([1, 0], dtype="<f4").tobytes(),
    }
    assert "year" not in paper_fields(PaperRecord("x", "t", year=None), 2)
    assert "year" not in paper_fields(PaperRecord("x", "t", year=0), 2)  # 0: unknown
    with pytest.raises(InvalidArgument, match="paper x: empty title"):
        paper_fields(PaperRecord("x", " \n"), 2)
    with pytest.raises(InvalidArgument, match="paper x: year 10000 out of range"):
        paper_fields(PaperRecord("x", "t", year=10000), 2)
    with pytest.raises(InvalidArgument, match="empty paper x: category value"):
        paper_fields(PaperRecord("x", "t", categories=["|"]), 2)


def test_passage_fields() -> None:
    pid, fields = passage_fields(PassageRecord(" p1 ", 2, " a \n b ", " Intro  duction "), 4)
    assert pid == "p1"
    assert fields == {"paper_id": "p1", "ordinal": 2, "text": "a b", "section": "Intro duction"}
    for passage, message in [
        (PassageRecord("p1", -1, "t"), "passage p1#-1: negative ordinal"),
        (PassageRecord("p1", 0, " "), "passage p1#0: empty text"),
        (PassageRecord("", 0, "t"), "empty passage paper_id"),
        (PassageRecord("p1", 0, "t", vector=np.ones(3)), "passage p1#0: vector has 3"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            passage_fields(passage, 4)


# -- index definitions -----------------------------------------------------------------------
def test_index_schemas_carry_the_configuration() -> None:
    cfg = IndexConfig(dim=8, hnsw_m=4, hnsw_ef_construction=50, hnsw_ef_runtime=20)
    vector = [
        "vector", "VECTOR", "HNSW", "12", "TYPE", "FLOAT32", "DIM", 8,
        "DISTANCE_METRIC", "COSINE", "M", 4, "EF_CONSTRUCTION", 50, "EF_RUNTIME", 20,
    ]  # fmt: skip
    assert paper_schema(cfg) == [
        "paper_id", "TAG",
        "title", "TEXT", "WEIGHT", 2.0,
        "abstract", "TEXT", "WEIGHT", 1.0,
        "authors", "TAG", "SEPARATOR", "|",
        "categories", "TAG", "SEPARATOR", "|",
        "year", "NUMERIC",
        *vector,
    ]  # fmt: skip
    assert passage_schema(IndexConfig(dim=8, hnsw_m=4, section_weight=3.0))[:10] == [
        "paper_id", "TAG", "ordinal", "NUMERIC", "section", "TEXT", "WEIGHT", 3.0, "text", "TEXT",
    ]  # fmt: skip
    assert passage_schema(cfg)[-16:] == vector
