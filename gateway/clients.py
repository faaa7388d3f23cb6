"""Channels to the services the gateway composes, with deadlines and error translation.

Every call goes through :meth:`Clients.call`, which takes its timeout from the caller's
:class:`Budget` and turns a downstream gRPC error into the matching domain error (so the
gateway's own servicer and HTTP bridge map it once more, to a gRPC or HTTP status).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace

from arxivqa.embedder.v1 import embedder_pb2_grpc
from arxivqa.graph.v1 import graph_pb2_grpc
from arxivqa.retriever.v1 import retriever_pb2_grpc
from services.common import errors
from services.common.settings import message_size_options
from services.common.telemetry import traced_channel

log = logging.getLogger(__name__)

T = TypeVar("T")

# Reconnect quickly after a dependency comes back (the default backoff grows to 120 s, so
# a restarted service would stay unused for minutes). Calls fail fast while it is down.
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
    *message_size_options(),  # 64 MiB, as every service's server
]

ENV_NAMES = {
    "embedder": "ARXIVQA_GATEWAY_EMBEDDER_TARGET",
    "retriever": "ARXIVQA_GATEWAY_RETRIEVER_TARGET",
    "qa": "ARXIVQA_GATEWAY_QA_TARGET",
    "graph": "ARXIVQA_GATEWAY_GRAPH_TARGET",
}


@dataclass(frozen=True)
class Budget:
    """What is left of the caller's time; every downstream call takes its timeout from it."""

    deadline: float  # time.monotonic() value

    @classmethod
    def seconds(cls, seconds: float) -> Budget:
        return cls(time.monotonic() + seconds)

    def remaining(self, what: str = "the request") -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise errors.DeadlineExceeded(f"deadline exceeded before {what}")
        return left


class NotConfigured(errors.Unavailable):
    """The dependency has no target configured."""


class DownstreamFailure(errors.ServiceError):
    """A dependency answered INTERNAL/UNKNOWN: a bug there, not an outage (gRPC INTERNAL, 500)."""


def _qa_stub(channel: grpc.Channel) -> Any:
    from arxivqa.qa.v1 import qa_pb2_grpc

    return qa_pb2_grpc.ReaderStub(channel)


_STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "embedder": embedder_pb2_grpc.EmbedderStub,
    "retriever": retriever_pb2_grpc.RetrieverStub,
    "qa": _qa_stub,
    "graph": graph_pb2_grpc.CitationGraphStub,
}


# The downstream statuses the gateway passes on, each as the domain error that names it
# (services.common.errors.for_status), with what its message says; any other status (INTERNAL,
# UNKNOWN, UNIMPLEMENTED, ...) is a bug there and becomes DownstreamFailure (INTERNAL, 500).
_PASSED_ON: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "{details}",
    grpc.StatusCode.NOT_FOUND: "{details}",
    grpc.StatusCode.FAILED_PRECONDITION: "{service}: {details}",
    grpc.StatusCode.DEADLINE_EXCEEDED: "{service} did not answer within the deadline",
    grpc.StatusCode.UNAVAILABLE: "{service} is unavailable ({details}); retry later",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "{service} is out of capacity ({details}); retry later",
}
# grpc's words for a message over a channel's size limit ("Received message larger than
# max (70000000 vs. 67108864)", "Sent message larger than max ..."): a size limit, not a quota.
_SIZE_LIMIT = "larger than max"


def translate(service: str, exc: grpc.RpcError) -> errors.ServiceError:
    """A downstream status -> the domain error the gateway reports to its own caller."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and _SIZE_LIMIT in details:
        return errors.TooLarge(
            f"{service}: {details}; ask for less at a time (fewer results, a smaller batch)"
        )
    template = _PASSED_ON.get(code)
    if template is not None:
        return errors.for_status(code.name)(template.format(service=service, details=details))
    log.warning("%s failed with %s: %s", service, code.name, details)
    return DownstreamFailure(f"{service} failed ({code.name}: {details})")


class Clients:
    """One traced channel and stub per configured dependency."""

    def __init__(
        self,
        targets: dict[str, str],
        *,
        tracer_provider: trace.TracerProvider | None = None,
        health_timeout: float = 1.0,
    ) -> None:
        self.targets = dict(targets)
        self.health_timeout = health_timeout
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[str, Any] = {}
        self._health: dict[str, health_pb2_grpc.HealthStub] = {}
        for name, target in self.targets.items():
            if not target:
                continue
            channel = traced_channel(
                target, tracer_provider=tracer_provider, options=CHANNEL_OPTIONS
            )
            self._channels[name] = channel
            self._health[name] = health_pb2_grpc.HealthStub(channel)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway-health")

    def configured(self, service: str) -> bool:
        return service in self._channels

    def stub(self, service: str) -> Any:
        if service not in self._channels:
            raise NotConfigured(
                f"{service} is not configured (set {ENV_NAMES.get(service, service)})"
            )
        if service not in self._stubs:
            self._stubs[service] = _STUBS[service](self._channels[service])
        return self._stubs[service]

    def call(
        self, service: str, method: str, request: Any, budget: Budget, *, what: str = ""
    ) -> Any:
        """Unary call with the caller's remaining time as its timeout."""
        fn = getattr(self.stub(service), method)
        timeout = budget.remaining(what or f"calling {service}.{method}")
        try:
            return fn(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise translate(service, exc) from None

    def stream(
        self, service: str, method: str, requests: Iterator[Any], budget: Budget, *, what: str = ""
    ) -> Any:
        """Client-streaming call with the caller's remaining time as its timeout."""
        fn = getattr(self.stub(service), method)
        timeout = budget.remaining(what or f"calling {service}.{method}")
        try:
            return fn(requests, timeout=timeout)
        except grpc.RpcError as exc:
            raise translate(service, exc) from None

    # -- health -----------------------------------------------------------------------------
    def check(self, service: str) -> str:
        """SERVING, NOT_SERVING, UNREACHABLE (with the reason) or NOT_CONFIGURED."""
        stub = self._health.get(service)
        if stub is None:
            return "NOT_CONFIGURED"
        try:
            resp = stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.health_timeout
            )
        except grpc.RpcError as exc:
            return f"UNREACHABLE ({exc.code().name})"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))

    def check_all(self) -> dict[str, str]:
        names = list(self.targets)
        results = list(self._pool.map(self.check, names))
        return dict(zip(names, results, strict=True))

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
        self._stubs.clear()
