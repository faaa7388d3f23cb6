"""The gateway's settings, from ``ARXIVQA_GATEWAY_*`` environment variables."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import GATEWAY_HTTP_PORT, PORTS, ServerSettings, local_target

DEPENDENCIES = ("embedder", "retriever", "qa", "graph")


def _is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(ServerSettings):
    """gRPC facade on ``port`` (50050), HTTP/JSON bridge on ``http_port`` (8080).

    A ``*_target`` is ``host:port``; an empty one means the service is not configured
    (its operations answer UNAVAILABLE, Ask and GetPaper degrade).
    """

    model_config = SettingsConfigDict(env_prefix="ARXIVQA_GATEWAY_", extra="ignore")

    port: int = Field(
        PORTS["gateway"], ge=0, le=65535, description="gRPC port; 0 picks a free one."
    )
    http_port: int = Field(
        GATEWAY_HTTP_PORT, ge=0, le=65535, description="HTTP port; 0 picks a free one."
    )
    embedder_target: str = Field(local_target("embedder"), description="host:port; empty = absent.")
    retriever_target: str = Field(
        local_target("retriever"), description="host:port; empty = absent."
    )
    qa_target: str = Field(local_target("qa"), description="host:port; empty = absent.")
    graph_target: str = Field(local_target("graph"), description="host:port; empty = absent.")
    api_key: SecretStr | None = Field(
        None, description="When set, Ingest needs it (x-api-key / X-API-Key)."
    )
    deadline_seconds: float = Field(
        10.0, gt=0, le=600, description="Budget for a request whose caller sends no deadline."
    )
    ingest_deadline_seconds: float = Field(
        300.0, gt=0, le=3600, description="Budget per Ingest batch when the caller sends none."
    )
    health_timeout_seconds: float = Field(
        1.0, gt=0, le=30, description="Timeout of each dependency health check (/readyz)."
    )
    embed_batch_size: int = Field(64, ge=1, le=1024, description="Texts per Embed call.")
    max_body_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest HTTP request body; larger ones get 413."
    )
    allow_anonymous_writes: bool = Field(
        False,
        description="Let a gateway bound to a non-loopback host accept Ingest without an API "
        "key. Off: such a gateway refuses to start.",
    )

    @field_validator("embedder_target", "retriever_target", "qa_target", "graph_target")
    @classmethod
    def _target(cls, value: str) -> str:
        value = value.strip()
        if value and (":" not in value or not value.rsplit(":", 1)[1].isdigit()):
            raise ValueError(f"expected host:port or empty, got {value!r}")
        return value

    def targets(self) -> dict[str, str]:
        return {name: getattr(self, f"{name}_target") for name in DEPENDENCIES}

    def write_protection_problem(self) -> str | None:
        """Why this configuration must not start (writes open to the network), or None.

        Writes fail closed: bound to anything but a loopback address, Ingest needs an API
        key unless ``allow_anonymous_writes`` says otherwise. The key itself is never shown.
        """
        if self.api_key_value() is not None or self.allow_anonymous_writes:
            return None
        if _is_loopback(self.host):
            return None
        return (
            f"the gateway binds {self.host!r}, which is reachable from other machines, and has "
            "no API key: anyone could write to the index. Set ARXIVQA_GATEWAY_API_KEY, bind "
            "127.0.0.1 (ARXIVQA_GATEWAY_HOST), or set ARXIVQA_GATEWAY_ALLOW_ANONYMOUS_WRITES=true "
            "to accept anonymous writes on purpose"
        )

    def api_key_value(self) -> str | None:
        if self.api_key is None or not self.api_key.get_secret_value():
            return None
        return self.api_key.get_secret_value()
