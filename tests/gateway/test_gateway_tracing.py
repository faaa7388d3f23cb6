"""One trace per request: HTTP -> gateway -> embedder, retriever, qa (-> Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gateway_stack import Target, start_gateway, start_services

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def test_ask_over_http_is_one_trace_with_the_right_parents(
    stack: Any,
    redis_server: Any,
    embedder_model: Any,
    reader_dir: Path,
    target: Target,
    span_exporter: Any,
) -> None:
    # The session stack has ingested the data; these servers share its Redis and models
    # but report to the test's in-memory exporter.
    provider = span_exporter.provider
    services = start_services(
        redis_server.url,
        embedder_model=embedder_model,
        reader_dir=reader_dir,
        tracer_provider=provider,
    )
    s = start_gateway(services, tracer_provider=provider)
    try:
        span_exporter.exporter.clear()
        r = s.client.post("/v1/ask", json={"question": target.question, "passages": 3})
        assert r.status_code == 200 and r.json()["answers"][0]["paper"]["id"] == target.paper_id
    finally:
        s.stop()
        for svc in services.values():
            svc.stop(0).wait()
    spans = span_exporter.finished()
    by_id = {sp.context.span_id: sp for sp in spans}
    roots = [sp for sp in spans if sp.parent is None]
    assert len(roots) == 1, [sp.name for sp in roots]
    root = roots[0]
    assert root.name.startswith("POST /v1/ask")
    assert {sp.context.trace_id for sp in spans} == {root.context.trace_id}

    def chain(sp: Any) -> list[str]:
        names = []
        while sp.parent is not None:
            sp = by_id[sp.parent.span_id]
            names.append(sp.name)
        return names

    servers = {
        sp.name: sp for sp in spans if sp.kind.name == "SERVER" and sp.name.startswith("/arxivqa")
    }
    for method in (
        "/arxivqa.embedder.v1.Embedder/Embed",
        "/arxivqa.retriever.v1.Retriever/RetrievePassages",
        "/arxivqa.qa.v1.Reader/Answer",
    ):
        assert method in servers, sorted(servers)
        server = servers[method]
        client = by_id[server.parent.span_id]
        assert client.kind.name == "CLIENT" and client.name == method
        assert "gateway.Ask" in chain(server)
        assert chain(server)[-1] == root.name
    # The retriever's Redis commands are children of its server span.
    redis_spans = [sp for sp in spans if sp.attributes.get("db.system") == "redis"]
    assert redis_spans
    assert any(
        "/arxivqa.retriever.v1.Retriever/RetrievePassages" in chain(sp) for sp in redis_spans
    )
