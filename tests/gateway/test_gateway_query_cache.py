"""The gateway's query-vector cache, and Ask's one embedding + one passage retrieval."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from gateway_stack import DEAD, Target

from gateway.clients import Budget, Clients
from gateway.core import Gateway, QueryVectorCache
from services.common import errors

EMBED = "/arxivqa.embedder.v1.Embedder/Embed"
SEARCH = "/arxivqa.retriever.v1.Retriever/Search"
RETRIEVE = "/arxivqa.retriever.v1.Retriever/RetrievePassages"


def test_the_cache_is_bounded_least_recently_used_first_out() -> None:
    cache = QueryVectorCache(2)
    cache.put("a", [1.0])
    cache.put("b", [2.0])
    assert cache.get("a") == (1.0,)  # "a" is now the most recent
    cache.put("c", [3.0])  # evicts "b"
    assert cache.get("b") is None
    assert cache.get("c") == (3.0,) and cache.get("a") == (1.0,)
    assert cache.stats() == {"hits": 3, "misses": 1, "size": 2, "capacity": 2}


def test_capacity_zero_turns_the_cache_off() -> None:
    cache = QueryVectorCache(0)
    cache.put("a", [1.0])
    assert cache.get("a") is None
    assert cache.stats() == {"hits": 0, "misses": 1, "size": 0, "capacity": 0}
    with pytest.raises(errors.InvalidArgument):
        QueryVectorCache(-1)


def _targets(stack: Any, **override: str) -> dict[str, str]:
    targets = {name: stack.target(name) for name in ("embedder", "retriever", "qa", "graph")}
    targets.update(override)
    return targets


@pytest.fixture
def traced_gateway(stack: Any, span_exporter: Any) -> Iterator[Gateway]:
    """A gateway in this process over the session stack's services, its calls traced."""
    clients = Clients(_targets(stack), tracer_provider=span_exporter.provider)
    gw = Gateway(clients, tracer_provider=span_exporter.provider)
    try:
        yield gw
    finally:
        gw.close()
        clients.close()


def _client_spans(span_exporter: Any, name: str) -> list[Any]:
    return [sp for sp in span_exporter.finished() if sp.kind.name == "CLIENT" and sp.name == name]


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_repeated_query_is_embedded_once(traced_gateway: Gateway, span_exporter: Any) -> None:
    gw = traced_gateway
    first = gw.search("quantum error correction codes", k=5, budget=Budget.seconds(30))
    again = gw.search("quantum error correction codes", k=5, budget=Budget.seconds(30))
    assert [h.paper.id for h in again.hits] == [h.paper.id for h in first.hits]
    assert first.hits
    assert len(_client_spans(span_exporter, EMBED)) == 1
    assert len(_client_spans(span_exporter, SEARCH)) == 2
    assert gw.query_cache.stats()["hits"] == 1 and gw.query_cache.stats()["misses"] == 1
    # Text search needs no vector: no lookup, no call.
    gw.search("quantum error correction codes", mode="text", budget=Budget.seconds(30))
    assert gw.query_cache.stats()["hits"] + gw.query_cache.stats()["misses"] == 2
    spans = [sp for sp in span_exporter.finished() if sp.name == "gateway.Search"]
    assert [sp.attributes.get("arxivqa.gateway.query_cache") for sp in spans[:2]] == [
        "miss",
        "hit",
    ]


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_cached_query_is_answered_while_the_embedder_is_down(
    stack: Any, embedder_model: Any
) -> None:
    clients = Clients(_targets(stack, embedder=DEAD))
    gw = Gateway(clients)
    try:
        query = "random walks in random environments"
        gw.query_cache.put(query, embedder_model.encode([query]).vectors[0].tolist())
        result = gw.search(query, k=3, budget=Budget.seconds(10))
        assert result.hits
        with pytest.raises(errors.Unavailable, match="embedder"):
            gw.search("a query nobody asked before", k=3, budget=Budget.seconds(10))
    finally:
        gw.close()
        clients.close()


@pytest.mark.slow
@pytest.mark.shared_data
def test_ask_embeds_once_and_retrieves_its_passages_in_one_call(
    traced_gateway: Gateway, span_exporter: Any, target: Target
) -> None:
    gw = traced_gateway
    question = f"{target.question} (once)"
    for cached in (False, True):
        span_exporter.exporter.clear()
        result = gw.ask(question, passages=3, budget=Budget.seconds(60))
        assert len(result.passages) == 3
        # one vector (none when the question is cached), one RetrievePassages, no Search
        assert len(_client_spans(span_exporter, EMBED)) == (0 if cached else 1)
        assert _client_spans(span_exporter, SEARCH) == []
        [retrieve] = _client_spans(span_exporter, RETRIEVE)
        [ask] = [sp for sp in span_exporter.finished() if sp.name == "gateway.Ask"]
        assert retrieve.parent.span_id == ask.context.span_id


@pytest.mark.slow
@pytest.mark.shared_data
def test_chunks_sent_together_come_back_in_order(
    stack: Any, embedder_model: Any, span_exporter: Any
) -> None:
    """Ingest's texts go to the embedder in chunks that are all in flight at once."""
    clients = Clients(_targets(stack), tracer_provider=span_exporter.provider)
    gw = Gateway(clients, embed_batch_size=2, tracer_provider=span_exporter.provider)
    texts = [f"paper {i}: {t}" for i, t in enumerate(["graphs", "quarks", "walks"] * 3)]
    try:
        got = np.array(gw._embed(texts, Budget.seconds(60)), dtype=np.float32)
    finally:
        gw.close()
        clients.close()
    expected = embedder_model.encode(texts).vectors
    assert got.shape == expected.shape
    assert np.min(np.sum(got * expected, axis=1)) > 0.9999  # row i is text i
    assert len(_client_spans(span_exporter, EMBED)) == 5
