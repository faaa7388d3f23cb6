"""Redis as a dependency: a health probe and durable acknowledgements (``WAITAOF``).

Shared by the retriever and the graph (both keep their data in Redis), kept out of their
cores so that the cores stay plain storage code.

- :class:`RedisProbe` pings Redis on a connection of its own with a short timeout; the
  service's health monitor (``GrpcService(probe=...)``) calls it every second and reports
  NOT_SERVING while it fails.
- :func:`wait_aof` makes an acknowledged write durable: it returns only when Redis has
  fsynced its append-only file past every write finished before the call (``WAITAOF``,
  Redis >= 7.2).
"""

from __future__ import annotations

import time
from typing import Any

import redis
from pydantic import Field

from services.common.errors import FailedPrecondition, Unavailable
from services.common.settings import ServerSettings

HEALTH_NAME = "redis"
"""The grpc.health.v1 service name under which the retriever and graph report Redis."""


class RedisProbe:
    """``probe()`` returns when Redis answers PING, raises :class:`Unavailable` otherwise."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def __call__(self) -> None:
        try:
            self._client.ping()
        except redis.RedisError as exc:  # refused, reset, timed out, LOADING the AOF
            self._client.connection_pool.disconnect()
            raise Unavailable(f"Redis does not answer: {exc}") from exc

    def close(self) -> None:
        self._client.close()


def check_aof_enabled(client: redis.Redis, setting: str) -> None:
    """Fail fast when durable acknowledgements are asked for but Redis has no AOF."""
    raw: dict[Any, Any] = dict(client.config_get("appendonly"))
    value = raw.get("appendonly", raw.get(b"appendonly", b"no"))
    if value in (b"yes", "yes"):
        return
    raise FailedPrecondition(
        "durable writes are on but Redis runs without an append-only file: start Redis "
        f"with --appendonly yes, or set {setting}=false to acknowledge writes unfsynced"
    )


def wait_aof(client: redis.Redis, marker_key: str, timeout_ms: int) -> float:
    """Block until Redis has fsynced its AOF past every write completed before this call.

    ``WAITAOF`` waits for the writes of the connection it runs on, so it runs in one
    pipeline after a write of its own (``marker_key``): Redis appends to its AOF in
    execution order, so once the marker is on disk every earlier write of every client
    is. Returns the seconds spent; :class:`Unavailable` when Redis does not confirm within
    ``timeout_ms`` (the caller must not acknowledge the batch then).
    """
    start = time.perf_counter()
    try:
        pipe = client.pipeline(transaction=False)
        pipe.set(marker_key, str(time.time()))
        pipe.execute_command("WAITAOF", 1, 0, timeout_ms)
        _, (local, _replicas) = pipe.execute()
    except redis.ResponseError as exc:
        raise FailedPrecondition(f"Redis refused WAITAOF ({exc}); it needs Redis >= 7.2") from exc
    except redis.RedisError as exc:
        raise Unavailable(f"Redis failed while confirming the writes are durable: {exc}") from exc
    if int(local) < 1:
        raise Unavailable(
            f"Redis did not confirm within {timeout_ms} ms that the writes reached its "
            "append-only file; the batch is not acknowledged, send it again"
        )
    return time.perf_counter() - start


class Durability:
    """The write acknowledgement policy of a service: ``confirm()`` after each write batch.

    ``enabled`` False acknowledges as soon as Redis applied the writes (they reach the AOF
    within a second with ``appendfsync everysec``, and are lost if Redis dies meanwhile).
    """

    def __init__(
        self, url: str, *, enabled: bool, timeout_ms: int, marker_key: str, setting: str
    ) -> None:
        self.enabled = enabled
        self.timeout_ms = timeout_ms
        self.marker_key = marker_key
        self.setting = setting
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_ms / 1000 + 5)

    def check(self) -> None:
        """At warm-up: fail fast when durable writes are on and Redis has no AOF."""
        if self.enabled:
            check_aof_enabled(self._client, self.setting)

    def confirm(self) -> float:
        """Seconds spent waiting for the fsync (0 when durable writes are off)."""
        if not self.enabled:
            return 0.0
        return wait_aof(self._client, self.marker_key, self.timeout_ms)

    def close(self) -> None:
        self._client.close()


class RedisServiceSettings(ServerSettings):
    """Settings of a service that writes to Redis (retriever, graph): durable writes and the
    Redis health probe, and the two objects built from them."""

    redis_url: str
    durable_writes: bool = Field(
        True,
        description="Acknowledge a write (Upsert, AddCitations) only after Redis has fsynced it "
        "to its append-only file (WAITAOF; needs appendonly yes). False: acknowledge once "
        "applied.",
    )
    durable_timeout_ms: int = Field(
        5000, ge=1, le=600_000, description="How long to wait for that fsync (UNAVAILABLE after)."
    )
    health_probe_seconds: float = Field(
        1.0, gt=0, le=60, description="How often health pings Redis (NOT_SERVING while it fails)."
    )

    def durability(self, marker_key: str) -> Durability:
        prefix = str(self.model_config.get("env_prefix", ""))
        return Durability(
            self.redis_url,
            enabled=self.durable_writes,
            timeout_ms=self.durable_timeout_ms,
            marker_key=marker_key,
            setting=f"{prefix}DURABLE_WRITES",
        )

    def redis_health(self) -> dict[str, Any]:
        """``GrpcService`` keyword arguments: Redis as a named health entry, probed."""
        return {
            "probe": RedisProbe(self.redis_url),
            "probe_name": HEALTH_NAME,
            "probe_interval_seconds": self.health_probe_seconds,
        }
