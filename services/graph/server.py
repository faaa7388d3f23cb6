"""Graph service wiring: settings, the citation graph core, the gRPC server.

python -m services.graph.server
"""

from __future__ import annotations

from opentelemetry import trace
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from arxivqa.graph.v1 import graph_pb2, graph_pb2_grpc
from services.common.logging import configure_logging
from services.common.redis_health import RedisServiceSettings
from services.common.server import GrpcService, serve
from services.common.settings import DEFAULT_REDIS_URL, PORTS, load_settings
from services.common.telemetry import configure_tracing
from services.graph.citations import CitationGraph
from services.graph.servicer import CitationGraphServicer
from services.graph.store import DEFAULT_PREFIX

SERVICE_NAME = graph_pb2.DESCRIPTOR.services_by_name["CitationGraph"].full_name


class Settings(RedisServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ARXIVQA_GRAPH_", extra="ignore")

    port: int = Field(
        PORTS["graph"], ge=0, le=65535, description="Port to bind; 0 picks a free one."
    )
    redis_url: str = Field(
        DEFAULT_REDIS_URL,
        validation_alias=AliasChoices("ARXIVQA_GRAPH_REDIS_URL", "REDIS_URL", "redis_url"),
        description="Redis holding the citation edges (shared with the retriever, own keys).",
    )
    key_prefix: str = Field(DEFAULT_PREFIX, min_length=1, description="Prefix of the Redis keys.")
    rank_refresh_seconds: float = Field(
        0.0,
        ge=0,
        description="After writes, serve a cached PageRank this young (marked stale) "
        "instead of recomputing; 0 = recompute on the first Rank or Subgraph after any write.",
    )


def create_server(
    settings: Settings,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    graph: CitationGraph | None = None,
) -> tuple[GrpcService, int]:
    """Build (not start) the graph service; warm-up loads the graph from Redis."""
    if graph is None:
        graph = CitationGraph(
            settings.redis_url,
            prefix=settings.key_prefix,
            rank_refresh_seconds=settings.rank_refresh_seconds,
            tracer_provider=tracer_provider,
        )
    durability = settings.durability(f"{settings.key_prefix}durability-mark")
    servicer = CitationGraphServicer(graph, durability=durability)
    core = graph

    def warm_up() -> None:
        core.warm_up()
        durability.check()

    service = GrpcService(
        settings,
        name="graph",
        service_names=[SERVICE_NAME],
        add_servicers=lambda server: graph_pb2_grpc.add_CitationGraphServicer_to_server(
            servicer, server
        ),
        warm_up=warm_up,
        tracer_provider=tracer_provider,
        **settings.redis_health(),
    )
    return service, service.port


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("graph", settings.log_level)
    provider = configure_tracing("graph")
    service, _ = create_server(settings, tracer_provider=provider)
    serve(service)


if __name__ == "__main__":
    main()
