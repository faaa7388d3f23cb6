"""OpenAPI fuzzing of the HTTP bridge (schemathesis) against a real gateway and real services.

Its own Redis, retriever, graph, qa and gateway (the session's embedding model), with the
Kaggle sample and the unarXive citations ingested, so that fuzzed writes cannot disturb the
other tests. Every operation in ``/openapi.json`` gets schema-valid and schema-invalid
requests from schemathesis; every response must be documented (status and body schema),
no request may end in a 500 or an undocumented status, and a request the schema allows
must not be refused with a 4xx.

Bounded: ``FUZZ_EXAMPLES`` generated cases per operation and phase (``ARXIVQA_FUZZ_EXAMPLES``
raises it for a longer local run).

One rule JSON Schema cannot state: ``year_from`` must not be after ``year_to`` (400, written
in the description). The hooks below drop such generated inputs from the positive cases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from gateway_stack import API_KEY, Stack, ingest_requests, start_gateway, start_services
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from services.devtools.redis_server import LocalRedis

FUZZ_EXAMPLES = int(os.environ.get("ARXIVQA_FUZZ_EXAMPLES", "15"))

pytestmark = pytest.mark.slow

CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": FUZZ_EXAMPLES},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # 504 is a documented answer: a fuzzed X-Request-Timeout of 0.001 s is a valid
            # budget that nothing can meet. 500 and 503 (the services are all up) are not.
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "504"]},
        },
    }
)


def _inverted(years: dict[str, Any] | None) -> bool:
    if not isinstance(years, dict):
        return False
    lo, hi = years.get("year_from"), years.get("year_to")

    def number(v: Any) -> bool:  # JSON Schema counts 423.0 as an integer too
        return isinstance(v, int | float) and not isinstance(v, bool)

    return number(lo) and number(hi) and lo > 0 and hi > 0 and lo > hi


@pytest.fixture(scope="module")
def fuzz_stack(
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
    embedder_model: Any,
    reader_dir: Path,
) -> Iterator[Stack]:
    if os.environ.get("ARXIVQA_TEST_REDIS_URL"):
        pytest.skip("ARXIVQA_TEST_REDIS_URL is set: the fuzzed writes need a Redis of their own")
    redis = LocalRedis(data_dir=tmp_path_factory.mktemp("fuzz-redis")).start()
    services = start_services(redis.url, embedder_model=embedder_model, reader_dir=reader_dir)
    stack = start_gateway(services)
    try:
        wanted = {"kaggle", "refs"}
        reqs = [r for r in ingest_requests(shared_data) if r.batch_id in wanted]
        list(stack.stub.Ingest(iter(reqs), metadata=[("x-api-key", API_KEY)], timeout=600))
        yield stack
    finally:
        stack.stop_all()
        redis.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_stack: Stack) -> Any:
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.http.url}/openapi.json", config=CONFIG)

    @schema.hook
    def filter_body(ctx: Any, body: Any) -> bool:
        if not isinstance(body, dict):
            return True
        return not _inverted(body.get("filters")) and not _inverted(body)

    @schema.hook
    def filter_query(ctx: Any, query: Any) -> bool:
        return not _inverted(query)

    return schema


def _cases() -> list[Any]:
    """(METHOD, path, mode) for every operation, read from the app without starting anything.

    An operation with no parameters and no body (/healthz, /readyz) has no invalid input:
    it gets positive cases only.
    """
    from gateway.server import build_gateway
    from gateway.settings import Settings
    from gateway.web import create_app

    bare = Settings(embedder_target="", retriever_target="", qa_target="", graph_target="", port=0)
    spec = create_app(build_gateway(bare), bare).openapi()
    cases = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            modes = [GenerationMode.POSITIVE]
            if op.get("parameters") or op.get("requestBody"):
                modes.append(GenerationMode.NEGATIVE)
            cases += [
                pytest.param(method.upper(), path, m, id=f"{method.upper()} {path} {m.value}")
                for m in modes
            ]
    return cases


@pytest.mark.parametrize(("method", "path", "mode"), _cases())
def test_every_operation_keeps_its_openapi_contract(
    api_schema: Any, fuzz_stack: Stack, method: str, path: str, mode: GenerationMode
) -> None:
    """No 500, no undocumented status, valid input accepted, invalid refused, bodies match."""
    operation = api_schema[path][method]
    # Ingest with the key (what a client of a protected gateway does); a missing or wrong
    # key is tested in test_gateway_faults.
    headers = {"x-api-key": API_KEY} if path == "/v1/ingest" else None
    # Invalid query strings are not checked for refusal: there a one-element array and a
    # scalar serialize alike (?k=5), and JSON Schema counts 5.0 as an integer, so
    # schemathesis calls some valid strings invalid. Refusals of out-of-range query values
    # are asserted one by one in test_gateway_faults; bodies keep the check.
    excluded = [negative_data_rejection] if method == "GET" else []

    @given(operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing case is printed
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        try:
            case.call_and_validate(
                base_url=fuzz_stack.http.url,
                headers=headers,
                timeout=120,
                excluded_checks=excluded,
            )
        except Exception:
            print("failing request:", case.as_curl_command())
            raise

    run()
