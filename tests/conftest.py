"""Fixtures shared by every test: a real Redis with Search, shared data, tracing.

No fakes: ``redis_server`` is a real redis-server process with the Search module
(see services/devtools/redis_server.py), started once per test session on a free port.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devtools.redis_server import LocalRedis, RedisNotInstalled

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with a clear message when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (a fresh clone has no ../shared)")
    return SHARED_DATA


class ExternalRedis:
    """An existing Redis Stack given by ``ARXIVQA_TEST_REDIS_URL`` (e.g. a CI service container)."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis | ExternalRedis]:
    """One real Redis Stack (Search module loaded, AOF on) for the whole session.

    With ``ARXIVQA_TEST_REDIS_URL`` set, that server is used instead of starting one; tests
    that must restart or kill Redis use ``own_redis_allowed`` and skip then.
    """
    external = os.environ.get("ARXIVQA_TEST_REDIS_URL")
    if external:
        yield ExternalRedis(external)
        return
    server = LocalRedis(data_dir=tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except RedisNotInstalled as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: LocalRedis | ExternalRedis) -> Iterator[str]:
    """URL of the session's Redis, emptied (keys and search indexes) before each test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def own_redis_allowed() -> None:
    """Skip tests that start, kill or restart their own Redis when an external one is in use."""
    if os.environ.get("ARXIVQA_TEST_REDIS_URL"):
        pytest.skip("ARXIVQA_TEST_REDIS_URL is set: not starting a Redis of our own")


@pytest.fixture
def span_exporter():  # type: ignore[no-untyped-def]
    """A TracerProvider with an in-memory exporter: pass ``.provider`` to servers/channels."""
    from services.common.telemetry import in_memory_provider

    provider, exporter = in_memory_provider("arxivqa-test")

    class _Spans:
        def __init__(self) -> None:
            self.provider = provider
            self.exporter = exporter

        def finished(self):  # type: ignore[no-untyped-def]
            return list(exporter.get_finished_spans())

    yield _Spans()
    provider.shutdown()
