"""Redis really stopped (SIGKILL) and started again under a running stack.

- Health tells the truth: the retriever and the graph report NOT_SERVING (overall and on
  their "redis" entry) while Redis is down and SERVING once it is back; the gateway's
  /readyz lists Redis and answers 503 meanwhile; ``arxivqa status`` lists Redis.
- Acknowledged writes are durable: a batch acknowledged by Ingest just before the kill is
  all there after the restart (WAITAOF), counted in Redis itself.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis as _redis
from gateway_stack import API_KEY, Stack, ingest_requests, start_gateway, start_services

from arxivqa.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.common.healthcheck import check
from services.common.redis_health import HEALTH_NAME
from services.devtools.redis_server import LocalRedis
from services.graph.citations import CitationGraph

pytestmark = pytest.mark.slow


def _wait_for(what: str, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout:.0f} s")
        time.sleep(0.2)


@pytest.fixture
def outage(
    tmp_path: Path, own_redis_allowed: None, embedder_model: Any
) -> Iterator[tuple[Stack, LocalRedis]]:
    redis = LocalRedis(data_dir=tmp_path / "redis").start()
    services = start_services(redis.url, embedder_model=embedder_model, reader_dir=None)
    stack = start_gateway(services)
    try:
        yield stack, redis
    finally:
        stack.stop_all()
        redis.stop()


def _health(stack: Stack, service: str, name: str = "") -> str:
    return check(stack.target(service), name, timeout=2)[1]


def _status_lines(stack: Stack, redis: LocalRedis, monkeypatch: pytest.MonkeyPatch) -> str:
    from gateway import cli

    monkeypatch.setenv("REDIS_URL", redis.url)
    for proc in cli.SERVICES:
        if proc.name in stack.services:
            monkeypatch.setenv(proc.port_env, str(stack.services[proc.name].port))
    out = io.StringIO()
    with redirect_stdout(out):
        cli.cmd_status(None)  # type: ignore[arg-type]
    return out.getvalue()


def test_health_follows_redis_and_acknowledged_ingest_survives_a_sigkill(
    outage: tuple[Stack, LocalRedis], shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, redis = outage
    ready = stack.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["dependencies"]["redis"]["status"] == "SERVING"
    assert "redis" in _status_lines(stack, redis, monkeypatch).split()[0]

    wanted = {"unarxive", "refs"}
    reqs = [r for r in ingest_requests(shared_data) if r.batch_id in wanted]
    acks = list(stack.stub.Ingest(iter(reqs), metadata=[("x-api-key", API_KEY)], timeout=300))
    papers = sum(a.papers_written for a in acks)
    citations = sum(a.citations_added for a in acks)
    assert papers > 40 and citations > 100, (papers, citations)
    # Acknowledged after WAITAOF: the retriever's Upsert and the graph's AddCitations each
    # waited for the fsync of Redis's append-only file.
    stats = _redis.Redis.from_url(redis.url).info("commandstats")
    assert stats["cmdstat_waitaof"]["calls"] >= 2, stats.get("cmdstat_waitaof")
    redis.kill()  # SIGKILL right after the acknowledgement: no SHUTDOWN, no final fsync

    for service in ("retriever", "graph"):
        _wait_for(f"{service} NOT_SERVING", lambda s=service: _health(stack, s) == "NOT_SERVING")
        assert _health(stack, service, HEALTH_NAME) == "NOT_SERVING"
    down = stack.client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["dependencies"]["redis"]["status"] == "NOT_SERVING"
    assert down.json()["dependencies"]["retriever"]["status"] == "NOT_SERVING"
    status = _status_lines(stack, redis, monkeypatch)
    assert "UNAVAILABLE" in status.splitlines()[0] and "NOT_SERVING" in status, status

    redis.start()  # same port, same data directory: it replays its append-only file
    for service in ("retriever", "graph"):
        _wait_for(f"{service} SERVING", lambda s=service: _health(stack, s) == "SERVING")
    _wait_for("/readyz 200", lambda: stack.client.get("/readyz").status_code == 200)
    assert "SERVING" in _status_lines(stack, redis, monkeypatch).splitlines()[0]

    # Every acknowledged paper and citation is in Redis after the crash.
    with grpc.insecure_channel(stack.target("retriever")) as channel:
        stub = retriever_pb2_grpc.RetrieverStub(channel)
        stats = stub.GetStats(retriever_pb2.GetStatsRequest(), timeout=10)
    assert stats.papers == papers
    reloaded = CitationGraph(redis.url)
    try:
        reloaded.warm_up()
        assert reloaded.stats().edges == citations
    finally:
        reloaded.close()
    # And the stack serves them again.
    r = stack.client.post("/v1/search", json={"query": "neural network", "mode": "text"})
    assert r.status_code == 200 and r.json()["hits"], r.text


def test_durable_writes_need_an_append_only_file(tmp_path: Path, own_redis_allowed: None) -> None:
    """Durable acknowledgements on, Redis without AOF: the retriever refuses to become ready."""
    from services.retriever.server import Settings, create_server

    with LocalRedis(data_dir=tmp_path / "redis", appendonly=False) as redis:
        service, _ = create_server(Settings(port=0, redis_url=redis.url, redis_wait_seconds=5))
        service.start()
        try:
            with pytest.raises(Exception, match="ARXIVQA_RETRIEVER_DURABLE_WRITES=false"):
                service.wait_until_ready(30)
            assert check(f"127.0.0.1:{service.port}", timeout=2)[1] == "NOT_SERVING"
        finally:
            service.stop(0).wait()
        relaxed = Settings(port=0, redis_url=redis.url, durable_writes=False)
        service, _ = create_server(relaxed)
        service.start()
        try:
            service.wait_until_ready(30)
            assert check(f"127.0.0.1:{service.port}", timeout=2)[1] == "SERVING"
        finally:
            service.stop(0).wait()
