"""The gateway's limits, one by one: timeouts and deadlines in a documented range, out-of-range
values refused (400 / INVALID_ARGUMENT, never a 500 or a timeout), request bodies with a size
limit (413), writes that fail closed, and an API key that never reaches the log.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import grpc
import httpx
import pytest
from gateway_stack import API_KEY, Stack

from arxivqa.gateway.v1 import gateway_pb2 as pb
from gateway.server import build_gateway, create_http_server
from gateway.settings import Settings
from services.devtools.redis_server import PROJECT_ROOT

PAPER = "2212.11770"  # in the stack's unarXive sample


def _code(call: object, *args: object, **kwargs: object) -> grpc.StatusCode:
    try:
        result = call(*args, **kwargs)  # type: ignore[operator]
        if isinstance(result, Iterator):
            list(result)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    "value", ["1e-300", "4.2162813139889736e+16", "0", "-1", "0.0009", "300.5", "nan", "inf"]
)
def test_x_request_timeout_outside_its_range_is_400(stack: Stack, value: str) -> None:
    r = stack.client.get(f"/v1/papers/{PAPER}", headers={"x-request-timeout": value})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "x-request-timeout" in error["message"]


@pytest.mark.parametrize("value", ["0.001", "2.5", "300"])
def test_x_request_timeout_inside_its_range_is_a_budget(stack: Stack, value: str) -> None:
    r = stack.client.get(f"/v1/papers/{PAPER}", headers={"x-request-timeout": value})
    assert r.status_code in (200, 504), r.text  # 0.001 s may well run out: 504, documented
    if float(value) >= 2.5:
        assert r.status_code == 200


def test_out_of_range_integers_are_400_not_500(stack: Stack) -> None:
    # The reproduction: a year beyond protobuf's int32 was a 500.
    body = {"question": "what is a qubit", "filters": {"year_from": -2400620363573481}}
    assert stack.client.post("/v1/ask", json=body).status_code == 400
    for params in ({"k": 2**31}, {"year_to": 2**63}, {"k": -1}, {"year_from": 10_000}):
        r = stack.client.get("/v1/rank", params=params)
        assert r.status_code == 400, (params, r.text)


def test_grpc_deadline_beyond_the_limit_is_invalid_argument(stack: Stack) -> None:
    req = pb.GetPaperRequest(id=PAPER)
    assert _code(stack.stub.GetPaper, req, timeout=299) == grpc.StatusCode.OK
    assert _code(stack.stub.GetPaper, req, timeout=302) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(stack.stub.GetPaper, req) == grpc.StatusCode.OK  # none: the default budget
    key = [("x-api-key", API_KEY)]
    empty = iter([pb.IngestRequest(batch_id="deadline")])
    code = _code(stack.stub.Ingest, empty, timeout=3602, metadata=key)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def small_body_gateway(stack: Stack) -> Iterator[str]:
    settings = stack.settings.model_copy(update={"max_body_bytes": 4096, "http_port": 0})
    gateway = build_gateway(settings)
    http = create_http_server(settings, gateway).start()
    try:
        yield http.url
    finally:
        http.stop()
        gateway.close()


def test_a_body_over_the_limit_is_413(small_body_gateway: str) -> None:
    big = {"query": "x" * 100, "filters": {"categories": ["cs.LG"] * 40}, "pad": "y" * 5000}
    with httpx.Client(base_url=small_body_gateway, timeout=30) as client:
        declared = client.post("/v1/search", json=big)
        assert declared.status_code == 413, declared.text
        assert declared.json()["error"]["status"] == "RESOURCE_EXHAUSTED"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it is read
            yield b'{"query": "x", "pad": "'
            for _ in range(10):
                yield b"z" * 1000
            yield b'"}'

        streamed = client.post(
            "/v1/search", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413, streamed.text
        small = client.post("/v1/search", json={"query": "graph neural networks"})
        assert small.status_code == 200, small.text


def test_writes_fail_closed_on_a_reachable_address() -> None:
    base = {"embedder_target": "", "retriever_target": "", "qa_target": "", "graph_target": ""}
    exposed = Settings(host="0.0.0.0", api_key=None, **base)
    problem = exposed.write_protection_problem()
    assert problem and "ARXIVQA_GATEWAY_API_KEY" in problem
    assert Settings(host="0.0.0.0", api_key="k", **base).write_protection_problem() is None  # type: ignore[arg-type]
    allowed = Settings(host="0.0.0.0", allow_anonymous_writes=True, **base)
    assert allowed.write_protection_problem() is None
    for host in ("127.0.0.1", "::1", "localhost", "[::1]"):
        assert Settings(host=host, **base).write_protection_problem() is None, host

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARXIVQA_GATEWAY_", "OTEL_"))}
    env.update({"ARXIVQA_GATEWAY_HOST": "0.0.0.0", "OTEL_SDK_DISABLED": "true"})
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.server"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "refusing to start" in proc.stderr and "ALLOW_ANONYMOUS_WRITES" in proc.stderr


def test_the_api_key_is_never_logged(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = [("x-api-key", "not-the-key-987")]
    batch = iter([pb.IngestRequest(batch_id="k", records=["{}"])])
    assert _code(stack.stub.Ingest, batch, metadata=wrong) == grpc.StatusCode.UNAUTHENTICATED
    r = stack.client.post("/v1/ingest", json={"records": []}, headers={"x-api-key": API_KEY})
    assert r.status_code == 200
    r = stack.client.post("/v1/ingest", json={"records": []}, headers={"x-api-key": "nope-654"})
    assert r.status_code == 401
    logging.getLogger("test").info("settings %s", stack.settings)
    assert caplog.records, "nothing was logged: the check would be empty"
    for secret in (API_KEY, "not-the-key-987", "nope-654"):
        assert secret not in caplog.text
    assert API_KEY not in repr(stack.settings) and API_KEY not in str(stack.settings)


@pytest.fixture(scope="module")
def bridge() -> Iterator[httpx.Client]:
    """The HTTP bridge alone (no service configured): input is checked before any call."""
    from fastapi.testclient import TestClient

    from gateway.clients import Clients
    from gateway.core import Gateway
    from gateway.web import create_app

    settings = Settings(
        port=0, http_port=0, embedder_target="", retriever_target="", qa_target="", graph_target=""
    )
    gw = Gateway(Clients({}))
    with TestClient(create_app(gw, settings)) as client:
        yield client
    gw.close()


ARXIV_WORDS = "expected an arXiv id like 2101.00001, 2212.11827v2 or hep-th/9901001"
TEXT_WORDS = "expected some text (at least one character that is not a space)"
NAME_WORDS = (
    "expected a name (at least one character other than spaces, control characters and '|')"
)


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "message"),
    [
        ("GET", "/v1/papers/not-an-id", {}, f"path.paper_id: {ARXIV_WORDS}, got 'not-an-id'"),
        ("GET", "/v1/papers/0704.1/passages", {}, f"path.paper_id: {ARXIV_WORDS}, got '0704.1'"),
        ("GET", "/v1/similar", {"params": {"id": "x y"}}, f"query.id: {ARXIV_WORDS}, got 'x y'"),
        (
            "GET",
            "/v1/path",
            {"params": {"from_id": "1412.6980", "to_id": "hep/99"}},
            f"query.to_id: {ARXIV_WORDS}, got 'hep/99'",
        ),
        ("GET", "/v1/subgraph", {"params": {"id": "x"}}, f"query.id: {ARXIV_WORDS}, got 'x'"),
        ("POST", "/v1/recommend", {"json": {"seed_ids": ["a"]}}, f"seed_ids.0: {ARXIV_WORDS}"),
        ("POST", "/v1/search", {"json": {"query": "  "}}, f"query: {TEXT_WORDS}, got '  '"),
        ("POST", "/v1/ask", {"json": {"question": "\n"}}, f"question: {TEXT_WORDS}, got '\\n'"),
        (
            "POST",
            "/v1/search",
            {"json": {"query": "x", "filters": {"categories": ["cs.LG", "|"]}}},
            f"filters.categories.1: {NAME_WORDS}, got '|'",
        ),
        ("GET", "/v1/rank", {"params": {"category": " "}}, f"query.category.0: {NAME_WORDS}"),
    ],
)
def test_a_400_says_in_words_what_a_pattern_expects(
    bridge: httpx.Client, method: str, url: str, kwargs: dict, message: str
) -> None:
    r = bridge.request(method, url, **kwargs)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(message), error["message"]
    assert "pattern" not in error["message"] and "^(" not in error["message"]


def test_a_long_value_is_shown_cut(bridge: httpx.Client) -> None:
    r = bridge.post("/v1/search", json={"query": " " * 100})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == f"query: {TEXT_WORDS}, got '{' ' * 56}..."
