"""Retriever service wiring: settings, the Redis index core, the gRPC server.

python -m services.retriever.server
"""

from __future__ import annotations

from opentelemetry import trace
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from arxivqa.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from services.common.logging import configure_logging
from services.common.redis_health import RedisServiceSettings
from services.common.server import GrpcService, serve
from services.common.settings import DEFAULT_REDIS_URL, PORTS, load_settings
from services.common.telemetry import configure_tracing
from services.retriever.config import IndexConfig, config_from, setting_field
from services.retriever.index import RetrieverIndex
from services.retriever.servicer import RetrieverServicer

SERVICE_NAME = retriever_pb2.DESCRIPTOR.services_by_name["Retriever"].full_name


class Settings(RedisServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ARXIVQA_RETRIEVER_", extra="ignore")

    port: int = Field(
        PORTS["retriever"], ge=0, le=65535, description="Port to bind; 0 picks a free one."
    )
    redis_url: str = Field(
        DEFAULT_REDIS_URL,
        validation_alias=AliasChoices("ARXIVQA_RETRIEVER_REDIS_URL", "REDIS_URL", "redis_url"),
        description="Redis Stack 7.2+ / Redis 8 with the Search module.",
    )
    redis_wait_seconds: float = Field(
        30.0, ge=0, le=3600, description="At start, how long to wait for Redis to answer."
    )
    # The index settings: defaults, bounds and descriptions are IndexConfig's (config.py).
    dim: int = setting_field("dim")
    index_prefix: str = setting_field("index_prefix")
    index_version: int = setting_field("index_version")
    hnsw_m: int = setting_field("hnsw_m")
    hnsw_ef_construction: int = setting_field("hnsw_ef_construction")
    hnsw_ef_runtime: int = setting_field("hnsw_ef_runtime")
    rrf_k: float = setting_field("rrf_k")
    rrf_window: int = setting_field("rrf_window")
    title_weight: float = setting_field("title_weight")
    abstract_weight: float = setting_field("abstract_weight")
    section_weight: float = setting_field("section_weight")
    passage_weight: float = setting_field("passage_weight")
    scorer: str = setting_field("scorer")
    upsert_chunk: int = setting_field("upsert_chunk")

    def index_config(self) -> IndexConfig:
        return config_from(self)


def create_server(
    settings: Settings,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    index: RetrieverIndex | None = None,
) -> tuple[GrpcService, int]:
    """Build (not start) the retriever; warm-up checks Redis, its Search module, the indexes."""
    if index is None:
        index = RetrieverIndex(
            settings.redis_url, settings.index_config(), tracer_provider=tracer_provider
        )
    durability = settings.durability(f"{settings.index_prefix}:durability-mark")
    servicer = RetrieverServicer(index, durability=durability)

    def warm_up() -> None:
        index.warm_up(settings.redis_wait_seconds)
        durability.check()

    service = GrpcService(
        settings,
        name="retriever",
        service_names=[SERVICE_NAME],
        add_servicers=lambda server: retriever_pb2_grpc.add_RetrieverServicer_to_server(
            servicer, server
        ),
        warm_up=warm_up,
        tracer_provider=tracer_provider,
        **settings.redis_health(),
    )
    return service, service.port


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("retriever", settings.log_level)
    provider = configure_tracing("retriever")
    service, _ = create_server(settings, tracer_provider=provider)
    serve(service)


if __name__ == "__main__":
    main()
