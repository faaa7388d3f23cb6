"""Wiring for the qa service: settings, the reader, the gRPC server.

ARXIVQA_QA_MODEL=/models/distilbert-base-cased-distilled-squad python -m services.qa.server
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from opentelemetry import trace
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from arxivqa.qa.v1 import qa_pb2, qa_pb2_grpc
from services.common.logging import configure_logging
from services.common.server import GrpcService, serve
from services.common.settings import PORTS, ServerSettings, load_settings
from services.common.telemetry import configure_tracing
from services.qa.reader import Limits, Reader
from services.qa.servicer import ReaderServicer

#: the reader committed with the project (models/reader at the repository root)
SHIPPED_READER = Path(__file__).resolve().parents[2] / "models" / "reader"

SERVICE_NAME = qa_pb2.DESCRIPTOR.services_by_name["Reader"].full_name


class Settings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="ARXIVQA_QA_", extra="ignore")

    port: int = Field(PORTS["qa"], ge=0, le=65535, description="Port to bind; 0 picks a free one.")
    model: str = Field(
        str(SHIPPED_READER),
        min_length=1,
        validate_default=True,
        description="Extractive QA model: a local directory, a hub id, or models:/name@alias "
        "(empty or unset: the reader shipped in models/reader).",
    )
    no_answer_margin: float | None = Field(
        None,
        allow_inf_nan=False,
        description="Answers must beat the no-answer score by this much when a request allows "
        "no answer; unset = the margin recorded with the model (0 for other models).",
    )
    max_seq_len: int = Field(384, ge=32, le=4096, description="Tokens per model window.")
    stride: int = Field(128, ge=0, description="Tokens shared by consecutive windows.")
    batch_size: int = Field(16, ge=1, le=1024, description="Windows per model call.")
    device: str = Field("cpu", description="torch device, e.g. cpu or cuda:0.")
    backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="onnx = ONNX Runtime on an export of the weights (cached under CACHE_DIR by "
        "their SHA-256; torch for a hub id); torch = transformers + torch.",
    )
    quantize: bool = Field(
        True,
        description="int8: dynamic quantisation of the ONNX export (onnx) or of the Linear "
        "layers (torch). The shipped reader loses 0.03 F1 on XQuAD-en with onnx int8.",
    )
    cache_dir: Path | None = Field(
        None, description="Where ONNX exports are kept; unset = $ARXIVQA_DATA_DIR/cache/onnx."
    )
    torch_threads: int = Field(
        0, ge=0, le=256, description="Model intra-op threads (torch and onnx); 0 = CPU share."
    )
    inference_concurrency: int = Field(
        1, ge=1, le=64, description="Requests running the model at the same time."
    )
    max_passages: int = Field(100, ge=1, description="Most passages in one request.")
    max_total_chars: int = Field(200_000, ge=1, description="Most passage characters per request.")
    max_question_chars: int = Field(2_000, ge=1, description="Longest question in characters.")
    default_top_k: int = Field(3, ge=1, le=50, description="Answers returned when top_k is 0.")
    default_max_answer_tokens: int = Field(30, ge=1, description="Answer length when 0 is sent.")

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _blank_cache_dir_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("model", mode="before")
    @classmethod
    def _blank_is_the_shipped_reader(cls, value: object) -> object:
        return str(SHIPPED_READER) if isinstance(value, str) and not value.strip() else value

    @field_validator("model")
    @classmethod
    def _shipped_reader_present(cls, value: str) -> str:
        if Path(value) == SHIPPED_READER and not (SHIPPED_READER / "config.json").is_file():
            raise ValueError(
                f"no reader configured: the shipped reader ({SHIPPED_READER}) is not in this "
                "tree. Point ARXIVQA_QA_MODEL at a reader (a local directory, a hub id in the "
                "local cache, or models:/reader@production after make train-reader)"
            )
        return value

    @model_validator(mode="after")
    def _stride_fits(self) -> Settings:
        if self.stride >= self.max_seq_len // 2:
            raise ValueError(
                f"stride ({self.stride}) must be less than half of max_seq_len ({self.max_seq_len})"
            )
        return self


def build_reader(
    settings: Settings, *, tracer_provider: trace.TracerProvider | None = None
) -> Reader:
    return Reader(
        settings.model,
        max_seq_len=settings.max_seq_len,
        stride=settings.stride,
        batch_size=settings.batch_size,
        device=settings.device,
        quantize=settings.quantize,
        concurrency=settings.inference_concurrency,
        no_answer_margin=settings.no_answer_margin,
        backend=settings.backend,
        threads=settings.torch_threads or None,
        cache_dir=settings.cache_dir,
        limits=Limits(
            max_passages=settings.max_passages,
            max_total_chars=settings.max_total_chars,
            max_question_chars=settings.max_question_chars,
            default_top_k=settings.default_top_k,
            default_max_answer_tokens=settings.default_max_answer_tokens,
        ),
        tracer_provider=tracer_provider,
    )


def create_server(
    settings: Settings,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    reader: Reader | None = None,
) -> tuple[GrpcService, int]:
    """Build (not start) the qa gRPC service; warm-up loads the model in the background."""
    reader = reader or build_reader(settings, tracer_provider=tracer_provider)

    def warm_up() -> None:
        if settings.torch_threads:
            import torch

            torch.set_num_threads(settings.torch_threads)
        reader.warm_up()

    service = GrpcService(
        settings,
        name="qa",
        service_names=[SERVICE_NAME],
        add_servicers=lambda server: qa_pb2_grpc.add_ReaderServicer_to_server(
            ReaderServicer(reader), server
        ),
        warm_up=warm_up,
        tracer_provider=tracer_provider,
    )
    return service, service.port


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("qa", settings.log_level)
    # Loading progress bars would break the JSON log lines on stderr.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    provider = configure_tracing("qa")
    service, _ = create_server(settings, tracer_provider=provider)
    serve(service)


if __name__ == "__main__":
    main()
