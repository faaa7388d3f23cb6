"""Settings read from environment variables, one object per service.

Each service subclasses ``ServerSettings`` with its own prefix
(``ARXIVQA_EMBEDDER_PORT``, ``ARXIVQA_RETRIEVER_REDIS_URL``, ...). ``load_settings`` is
called once in ``main()``; a bad value stops the process with a message naming the
variable, instead of a stack trace later.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class ServerSettings(BaseSettings):
    """What every gRPC service shares. Subclasses set ``model_config`` with their prefix."""

    model_config = SettingsConfigDict(env_prefix="ARXIVQA_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 in containers.")
    port: int = Field(0, ge=0, le=65535, description="Port to bind; 0 picks a free one.")
    max_workers: int = Field(16, ge=1, le=1024, description="Threads serving RPCs.")
    grace_seconds: float = Field(
        10.0, ge=0, le=600, description="On SIGTERM, how long in-flight calls may finish."
    )
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    max_message_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest gRPC message accepted or sent."
    )


def load_settings(cls: type[S]) -> S:
    """Build settings from the environment or exit with a readable message."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        lines = [f"invalid configuration for {cls.__name__}:"]
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            var = f"{prefix}{field}".upper()
            lines.append(f"  {var}: {err['msg']} (got {err.get('input')!r})")
        sys.stderr.write("\n".join(lines) + "\n")
        raise SystemExit(2) from None
