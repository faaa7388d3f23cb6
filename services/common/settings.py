"""Settings read from environment variables, one object per service.

Each service subclasses ``ServerSettings`` with its own prefix
(``ARXIVQA_EMBEDDER_PORT``, ``ARXIVQA_RETRIEVER_REDIS_URL``, ...). ``load_settings`` is
called once in ``main()``; a bad value stops the process with a message naming the
variable, instead of a stack trace later.

The defaults that more than one process needs (ports, the Redis URL, the gRPC message
limit, the data directory) are defined here once; the services' settings, the gateway's
targets, ``arxivqa up`` and the benchmarks all read them from this module.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)

#: The repository root (``/app`` in an image).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Default gRPC port of each process (``ARXIVQA_<NAME>_PORT`` overrides it).
PORTS = {"gateway": 50050, "embedder": 50051, "retriever": 50052, "qa": 50053, "graph": 50054}
#: Default port of the gateway's HTTP/JSON bridge (``ARXIVQA_GATEWAY_HTTP_PORT``).
GATEWAY_HTTP_PORT = 8080
#: Default port of a local Redis, and the URL the retriever and the graph use by default.
REDIS_PORT = 6379
DEFAULT_REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"

#: Largest gRPC message a service accepts or sends, and the gateway clients' limit.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

#: The git-ignored data directory (ONNX exports, harvest state, ``arxivqa up``'s Redis,
#: PIDs and logs): ``$ARXIVQA_DATA_DIR``, else ``.data``.
DATA_DIR_ENV = "ARXIVQA_DATA_DIR"
DATA_DIR_NAME = ".data"


def local_target(name: str) -> str:
    """``127.0.0.1:<default port>`` of a process, e.g. ``local_target("retriever")``."""
    return f"127.0.0.1:{PORTS[name]}"


def data_dir(root: Path | None = None) -> Path:
    """``$ARXIVQA_DATA_DIR``, else ``.data`` under ``root`` (default: the working directory)."""
    default = Path(DATA_DIR_NAME) if root is None else root / DATA_DIR_NAME
    return Path(os.environ.get(DATA_DIR_ENV, default)).expanduser().resolve()


def message_size_options(max_bytes: int = MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    """gRPC channel/server options that raise both message-size limits to ``max_bytes``."""
    return [
        ("grpc.max_send_message_length", max_bytes),
        ("grpc.max_receive_message_length", max_bytes),
    ]


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
        MAX_MESSAGE_BYTES, ge=1024, description="Largest gRPC message accepted or sent."
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
