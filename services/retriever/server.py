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
from services.retriever.config import IndexConfig
from services.retriever.index import RetrieverIndex
from services.retriever.servicer import RetrieverServicer

SERVICE_NAME = retriever_pb2.DESCRIPTOR.services_by_name["Retriever"].full_name
_DEFAULTS = IndexConfig()


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
    dim: int = Field(_DEFAULTS.dim, ge=1, le=32768, description="Vector dimension.")
    index_prefix: str = Field(
        _DEFAULTS.prefix, pattern=r"^[A-Za-z0-9_.-]+$", description="Key and index prefix."
    )
    index_version: int = Field(_DEFAULTS.version, ge=1, description="Index name version.")
    hnsw_m: int = Field(_DEFAULTS.hnsw_m, ge=2, le=512)
    hnsw_ef_construction: int = Field(_DEFAULTS.hnsw_ef_construction, ge=1, le=4096)
    hnsw_ef_runtime: int = Field(_DEFAULTS.hnsw_ef_runtime, ge=1, le=4096)
    rrf_k: float = Field(_DEFAULTS.rrf_k, ge=0, le=10000, description="RRF k constant.")
    rrf_window: int = Field(_DEFAULTS.rrf_window, ge=1, le=1000)
    title_weight: float = Field(_DEFAULTS.title_weight, gt=0, le=100)
    abstract_weight: float = Field(_DEFAULTS.abstract_weight, gt=0, le=100)
    section_weight: float = Field(_DEFAULTS.section_weight, gt=0, le=100)
    passage_weight: float = Field(_DEFAULTS.passage_weight, gt=0, le=100)
    scorer: str = Field(_DEFAULTS.scorer, pattern=r"^(BM25STD|BM25|TFIDF|TFIDF\.DOCNORM)$")
    upsert_chunk: int = Field(_DEFAULTS.upsert_chunk, ge=1, le=100000)

    def index_config(self) -> IndexConfig:
        return IndexConfig(
            dim=self.dim,
            prefix=self.index_prefix,
            version=self.index_version,
            hnsw_m=self.hnsw_m,
            hnsw_ef_construction=self.hnsw_ef_construction,
            hnsw_ef_runtime=self.hnsw_ef_runtime,
            rrf_k=self.rrf_k,
            rrf_window=self.rrf_window,
            title_weight=self.title_weight,
            abstract_weight=self.abstract_weight,
            section_weight=self.section_weight,
            passage_weight=self.passage_weight,
            scorer=self.scorer,
            upsert_chunk=self.upsert_chunk,
        )


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
