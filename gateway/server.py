"""Gateway process: the gRPC facade (port 50050) and the HTTP/JSON bridge (port 8080).

    python -m gateway.server

Wiring only: settings -> clients -> core -> servicer (gRPC) and app (HTTP).
"""

from __future__ import annotations

import logging

from opentelemetry import trace

from gateway.auth import ApiKeyInterceptor
from gateway.clients import Clients
from gateway.core import Gateway
from gateway.servicer import SERVICE_NAME, WRITE_METHODS, GatewayServicer, add_to_server
from gateway.settings import Settings
from gateway.web import HttpServer, create_app
from services.common.logging import configure_logging
from services.common.server import GrpcService, serve
from services.common.settings import load_settings
from services.common.telemetry import configure_tracing

log = logging.getLogger(__name__)


def build_gateway(
    settings: Settings, *, tracer_provider: trace.TracerProvider | None = None
) -> Gateway:
    clients = Clients(
        settings.targets(),
        tracer_provider=tracer_provider,
        health_timeout=settings.health_timeout_seconds,
    )
    return Gateway(
        clients, tracer_provider=tracer_provider, embed_batch_size=settings.embed_batch_size
    )


def create_server(
    settings: Settings,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    gateway: Gateway | None = None,
) -> tuple[GrpcService, int]:
    """The gRPC facade, not started. Builds its own :class:`Gateway` unless given one."""
    gw = gateway or build_gateway(settings, tracer_provider=tracer_provider)
    servicer = GatewayServicer(
        gw,
        deadline_seconds=settings.deadline_seconds,
        ingest_deadline_seconds=settings.ingest_deadline_seconds,
    )

    def warm_up() -> None:
        states = gw.clients.check_all()
        log.info("dependencies: %s", ", ".join(f"{k}={v}" for k, v in states.items()))

    service = GrpcService(
        settings,
        name="gateway",
        service_names=[SERVICE_NAME],
        add_servicers=lambda server: add_to_server(servicer, server),
        interceptors=[ApiKeyInterceptor(settings.api_key_value(), WRITE_METHODS)],
        warm_up=warm_up,
        tracer_provider=tracer_provider,
    )
    return service, service.port


def create_http_server(
    settings: Settings,
    gateway: Gateway,
    *,
    tracer_provider: trace.TracerProvider | None = None,
) -> HttpServer:
    """The HTTP/JSON bridge on ``settings.http_port``, not started."""
    app = create_app(gateway, settings, tracer_provider=tracer_provider)
    return HttpServer(app, settings.host, settings.http_port)


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("gateway", settings.log_level)
    problem = settings.write_protection_problem()
    if problem:
        raise SystemExit(f"gateway: refusing to start: {problem}")
    if settings.api_key_value() is None:
        log.warning("gateway: Ingest accepts writes without an API key (host %s)", settings.host)
    provider = configure_tracing("gateway")
    gateway = build_gateway(settings, tracer_provider=provider)
    service, _ = create_server(settings, tracer_provider=provider, gateway=gateway)
    http = create_http_server(settings, gateway, tracer_provider=provider).start()
    log.info("gateway HTTP at %s (OpenAPI docs at %s/docs)", http.url, http.url)
    try:
        serve(service)
    finally:
        http.stop()
        gateway.clients.close()


if __name__ == "__main__":
    main()
