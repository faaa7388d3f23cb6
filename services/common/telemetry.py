"""OpenTelemetry tracing, configured only through the standard ``OTEL_*`` variables.

- ``OTEL_SDK_DISABLED=true`` turns tracing off.
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) sends spans
  by OTLP/gRPC; ``OTEL_TRACES_EXPORTER=console`` prints them; otherwise spans are created
  (so logs carry trace ids and context propagates) but not exported.
- ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` are read by the SDK's Resource.

The gRPC interceptors are explicit (no monkey-patching) and skip ``grpc.health.v1`` and
reflection so probes do not flood the traces.
"""

from __future__ import annotations

import os
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import (
    client_interceptor,
    filters,
    grpcext,
    server_interceptor,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

_UNTRACED = filters.negate(
    filters.any_of(
        filters.service_name("grpc.health.v1.Health"),
        filters.service_prefix("grpc.reflection."),
    )
)


def configure_tracing(service: str) -> trace.TracerProvider:
    """Install a global TracerProvider for this process from the ``OTEL_*`` variables."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return trace.get_tracer_provider()
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service)})
    provider = TracerProvider(resource=resource)
    exporter = _exporter_from_env()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def _exporter_from_env() -> SpanExporter | None:
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "").lower()
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    if (
        kind == "otlp"
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    return None


def in_memory_provider(service: str) -> tuple[TracerProvider, Any]:
    """A provider plus an InMemorySpanExporter, for tests and local debugging."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def server_interceptors(
    tracer_provider: trace.TracerProvider | None = None,
) -> list[grpc.ServerInterceptor]:
    return [server_interceptor(tracer_provider=tracer_provider, filter_=_UNTRACED)]


def traced_channel(
    target: str,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.Channel:
    """An insecure channel whose calls create client spans and propagate trace context."""
    channel = grpc.insecure_channel(target, options=options or [])
    # The instrumentation's interceptor implements its own grpcext interfaces, which only
    # grpcext.intercept_channel accepts (grpc.intercept_channel raises TypeError).
    return grpcext.intercept_channel(
        channel, client_interceptor(tracer_provider=tracer_provider, filter_=_UNTRACED)
    )
