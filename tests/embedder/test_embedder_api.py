"""The gRPC service on real servers (port 0): health, RPCs, errors, reflection, tracing, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.trace import SpanKind

from arxivqa.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from services.common.grpc_errors import field_violations
from services.common.healthcheck import check
from services.common.server import GrpcService
from services.common.telemetry import traced_channel
from services.devtools.redis_server import free_port
from services.embedder.model import DEFAULT_WEIGHTS_SHA256, SentenceEmbedder
from services.embedder.server import Settings, create_server
from services.embedder.servicer import SERVICE_NAME

ROOT = Path(__file__).resolve().parents[2]
MAX_TEXTS = 8
MAX_CHARS = 2000


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _vectors(embeddings: object) -> np.ndarray:
    return np.array([list(e.values) for e in embeddings], dtype=np.float32)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def server(embedder: SentenceEmbedder) -> Iterator[GrpcService]:
    settings = Settings(port=0, max_texts=MAX_TEXTS, max_chars=MAX_CHARS, max_wait_ms=20)
    service, _ = create_server(settings, model=embedder)
    service.start()
    try:
        service.wait_until_ready(60)
        yield service
    finally:
        service.stop(0).wait()


@pytest.fixture(scope="module")
def stub(server: GrpcService) -> Iterator[embedder_pb2_grpc.EmbedderStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield embedder_pb2_grpc.EmbedderStub(channel)


class _GatedEmbedder(SentenceEmbedder):
    """The real model, whose warm-up waits for the test to open a gate first."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate

    def warm_up(self) -> None:
        assert self.gate.wait(60)
        super().warm_up()


@pytest.mark.slow
def test_not_serving_until_the_model_is_loaded_and_warmed_then_serving() -> None:
    gate = threading.Event()
    model = _GatedEmbedder(gate)
    service, port = create_server(Settings(port=0), model=model)
    assert port > 0
    service.start()
    try:
        target = f"127.0.0.1:{port}"
        assert check(target) == (False, "NOT_SERVING")
        assert check(target, SERVICE_NAME) == (False, "NOT_SERVING")
        gate.set()
        service.wait_until_ready(120)
        assert model.ready
        assert check(target) == (True, "SERVING")
        assert check(target, SERVICE_NAME) == (True, "SERVING")
    finally:
        service.stop(0).wait()


def test_altered_weights_keep_the_service_not_serving(altered_model: Path) -> None:
    settings = Settings(port=0, model=str(altered_model), weights_sha256=DEFAULT_WEIGHTS_SHA256)
    service, port = create_server(settings)
    service.start()
    try:
        with pytest.raises(Exception, match="SHA-256"):
            service.wait_until_ready(120)
        assert check(f"127.0.0.1:{port}", SERVICE_NAME) == (False, "NOT_SERVING")
    finally:
        service.stop(0).wait()


def test_embed_returns_the_models_vectors_and_reports_truncation(
    stub: embedder_pb2_grpc.EmbedderStub, embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    texts = [short_texts[0], " ".join(["arxiv"] * 300), short_texts[1]]
    response = stub.Embed(embedder_pb2.EmbedRequest(texts=texts), timeout=60)
    assert response.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert response.dimension == 384
    assert list(response.truncated_indices) == [1]
    assert [e.truncated for e in response.embeddings] == [False, True, False]
    assert response.embeddings[1].token_count == 256
    got = _vectors(response.embeddings)
    assert got.shape == (3, 384)
    assert _cos(got, embedder.encode(texts).vectors).min() > 0.9999


def test_concurrent_callers_get_their_own_vectors(
    stub: embedder_pb2_grpc.EmbedderStub, embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    requests = [
        [f"{short_texts[i % len(short_texts)]} #{i}", *([f"follow-up {i}"] * (i % 3))]
        for i in range(16)
    ]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(requests))

    def call(i: int) -> None:
        start.wait()
        response = stub.Embed(embedder_pb2.EmbedRequest(texts=requests[i]), timeout=60)
        results[i] = _vectors(response.embeddings)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == list(range(len(requests)))
    for i, texts in enumerate(requests):
        assert results[i].shape == (len(texts), 384)
        assert _cos(results[i], embedder.encode(texts).vectors).min() > 0.9999, texts


@pytest.mark.parametrize(
    ("texts", "detail"),
    [
        ([], "texts is empty"),
        (["fine", ""], "texts[1] is empty or whitespace only"),
        (["   \n\t"], "texts[0] is empty or whitespace only"),
        (["a"] * (MAX_TEXTS + 1), f"too many texts: {MAX_TEXTS + 1} in one request"),
        (["ok", "ok", "x" * (MAX_CHARS + 1)], f"texts[2] has {MAX_CHARS + 1} characters"),
    ],
    ids=["empty-request", "empty-text", "whitespace-text", "too-many-texts", "too-long-text"],
)
def test_bad_input_is_invalid_argument_naming_the_item(
    stub: embedder_pb2_grpc.EmbedderStub, texts: list[str], detail: str
) -> None:
    with pytest.raises(grpc.RpcError) as exc:
        stub.Embed(embedder_pb2.EmbedRequest(texts=texts), timeout=30)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail in exc.value.details()
    # the item at fault also travels typed (google.rpc.BadRequest), for a client to point at
    ((field, description),) = field_violations(exc.value)
    assert description == exc.value.details()
    assert field == ("texts" if texts == [] or len(texts) > MAX_TEXTS else detail.split(" ")[0])


def test_embed_stream_answers_each_batch_in_order(
    stub: embedder_pb2_grpc.EmbedderStub, embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    batches = [short_texts[i : i + 1 + i % 3] for i in range(6)]
    requests = [
        embedder_pb2.EmbedStreamRequest(texts=b, batch_id=f"b{i}") for i, b in enumerate(batches)
    ]
    responses = list(stub.EmbedStream(iter(requests), timeout=120))
    assert [r.batch_id for r in responses] == [f"b{i}" for i in range(6)]
    for batch, response in zip(batches, responses, strict=True):
        assert response.dimension == 384 and len(response.embeddings) == len(batch)
        got = _vectors(response.embeddings)
        assert _cos(got, embedder.encode(batch).vectors).min() > 0.9999


def test_embed_stream_bad_batch_ends_the_stream_after_earlier_answers(
    stub: embedder_pb2_grpc.EmbedderStub, short_texts: list[str]
) -> None:
    requests = [
        embedder_pb2.EmbedStreamRequest(texts=short_texts[:2], batch_id="first"),
        embedder_pb2.EmbedStreamRequest(texts=["ok", " "], batch_id="second"),
        embedder_pb2.EmbedStreamRequest(texts=short_texts[2:3], batch_id="third"),
    ]
    call = stub.EmbedStream(iter(requests), timeout=60)
    first = next(call)
    assert first.batch_id == "first" and len(first.embeddings) == 2
    with pytest.raises(grpc.RpcError) as exc:
        next(call)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stream message 1 (batch_id 'second'): texts[1] is empty" in exc.value.details()


def test_get_model_info(stub: embedder_pb2_grpc.EmbedderStub, embedder: SentenceEmbedder) -> None:
    info = stub.GetModelInfo(embedder_pb2.GetModelInfoRequest(), timeout=10)
    assert info.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert info.source == embedder.source
    assert info.weights_sha256 == DEFAULT_WEIGHTS_SHA256
    assert (info.dimension, info.max_tokens, info.normalized) == (384, 256, True)
    assert (info.pooling, info.device) == ("mean", "cpu")


def test_reflection_lists_the_embedder_service(server: GrpcService) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in response.list_services_response.service}
        assert {"arxivqa.embedder.v1.Embedder", "grpc.health.v1.Health"} <= names
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME)
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
        assert response.file_descriptor_response.file_descriptor_proto


def test_embed_server_span_is_the_child_of_the_client_span(
    embedder: SentenceEmbedder,
    span_exporter,
    short_texts: list[str],  # type: ignore[no-untyped-def]
) -> None:
    service, port = create_server(
        Settings(port=0), tracer_provider=span_exporter.provider, model=embedder
    )
    service.start()
    try:
        service.wait_until_ready(60)
        target = f"127.0.0.1:{port}"
        check(target)  # health checks must stay out of the traces
        channel = traced_channel(target, tracer_provider=span_exporter.provider)
        with channel:
            stub = embedder_pb2_grpc.EmbedderStub(channel)
            stub.Embed(embedder_pb2.EmbedRequest(texts=short_texts[:3]), timeout=60)
    finally:
        service.stop(0).wait()

    spans = span_exporter.finished()
    method = "/arxivqa.embedder.v1.Embedder/Embed"
    servers = [s for s in spans if s.kind == SpanKind.SERVER and s.name == method]
    clients = [s for s in spans if s.kind == SpanKind.CLIENT and s.name == method]
    assert len(servers) == 1 and len(clients) == 1, [(s.name, s.kind) for s in spans]
    server_span, client_span = servers[0], clients[0]
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
    assert server_span.context.trace_id == client_span.context.trace_id
    assert server_span.attributes["arxivqa.embedder.texts"] == 3
    assert not [s for s in spans if "Health" in s.name]


@pytest.mark.slow
def test_sigterm_during_a_call_lets_the_call_finish(
    embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    port = free_port()
    env = dict(os.environ)
    env.update(
        ARXIVQA_EMBEDDER_PORT=str(port),
        ARXIVQA_EMBEDDER_GRACE_SECONDS="30",
        # A lone request waits this long for company, so it is surely in flight at SIGTERM.
        ARXIVQA_EMBEDDER_MAX_WAIT_MS="2500",
        OTEL_SDK_DISABLED="true",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.embedder.server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    target = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while check(target, SERVICE_NAME, timeout=1)[0] is False:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not become SERVING"
            time.sleep(0.2)

        texts = short_texts[:3]
        outcome: dict[str, object] = {}

        def call() -> None:
            with grpc.insecure_channel(target) as channel:
                stub = embedder_pb2_grpc.EmbedderStub(channel)
                try:
                    outcome["response"] = stub.Embed(
                        embedder_pb2.EmbedRequest(texts=texts), timeout=60
                    )
                except grpc.RpcError as exc:
                    outcome["error"] = exc
                outcome["done"] = time.monotonic()

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.8)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # Health goes NOT_SERVING as soon as the graceful stop begins.
        time.sleep(0.3)
        assert check(target, SERVICE_NAME, timeout=2)[0] is False
        caller.join(60)
        assert "error" not in outcome, outcome.get("error")
        assert float(outcome["done"]) > sent  # type: ignore[arg-type]
        response = outcome["response"]
        got = _vectors(response.embeddings)  # type: ignore[attr-defined]
        assert _cos(got, embedder.encode(texts).vectors).min() > 0.9999
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
