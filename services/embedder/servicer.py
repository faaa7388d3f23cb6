"""arxivqa.embedder.v1.Embedder: protobuf <-> the embedding core, errors -> status codes."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import grpc
from opentelemetry import trace

from arxivqa.embedder.v1 import embedder_pb2, embedder_pb2_grpc
from services.common.errors import InvalidArgument, ServiceError
from services.common.grpc_errors import check_deadline, handle_errors
from services.embedder.batcher import MicroBatcher, Ticket
from services.embedder.model import EncodeResult, SentenceEmbedder, check_texts

log = logging.getLogger(__name__)

SERVICE_NAME = embedder_pb2.DESCRIPTOR.services_by_name["Embedder"].full_name

_END = object()


@dataclass(frozen=True)
class Limits:
    max_texts: int = 1024
    max_chars: int = 20_000
    # EmbedStream: how many batches may be in progress before the server stops reading.
    stream_window: int = 4


class EmbedderServicer(embedder_pb2_grpc.EmbedderServicer):
    def __init__(self, model: SentenceEmbedder, batcher: MicroBatcher, limits: Limits) -> None:
        self._model = model
        self._batcher = batcher
        self._limits = limits

    # -- RPCs ------------------------------------------------------------------------------
    @handle_errors
    def Embed(
        self, request: embedder_pb2.EmbedRequest, context: grpc.ServicerContext
    ) -> embedder_pb2.EmbedResponse:
        texts = list(request.texts)
        check_texts(texts, max_texts=self._limits.max_texts, max_chars=self._limits.max_chars)
        check_deadline(context, "the texts were embedded")
        result = self._batcher.embed(texts, timeout=context.time_remaining())
        _annotate(result)
        embeddings, truncated = self._embeddings(result)
        return embedder_pb2.EmbedResponse(
            embeddings=embeddings,
            model_id=self._model.model_id,
            dimension=self._model.dimension,
            truncated_indices=truncated,
        )

    @handle_errors
    def EmbedStream(
        self,
        request_iterator: Iterable[embedder_pb2.EmbedStreamRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[embedder_pb2.EmbedStreamResponse]:
        # A reader thread validates and queues batches while earlier ones are computed
        # and sent, so the model never waits for the network; answers stay in order.
        pending: queue.Queue[object] = queue.Queue(maxsize=max(1, self._limits.stream_window))
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read_stream,
            args=(request_iterator, context, pending, stop),
            name="embedder-stream-reader",
            daemon=True,
        )
        reader.start()
        try:
            while True:
                item = pending.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, tuple)
                batch_id: str = item[0]
                ticket: Ticket = item[1]
                result = ticket.result()
                _annotate(result)
                embeddings, truncated = self._embeddings(result)
                yield embedder_pb2.EmbedStreamResponse(
                    embeddings=embeddings,
                    model_id=self._model.model_id,
                    dimension=self._model.dimension,
                    truncated_indices=truncated,
                    batch_id=batch_id,
                )
        finally:
            stop.set()
            _drain(pending)

    def _read_stream(
        self,
        request_iterator: Iterable[embedder_pb2.EmbedStreamRequest],
        context: grpc.ServicerContext,
        pending: queue.Queue[object],
        stop: threading.Event,
    ) -> None:
        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    pending.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for n, request in enumerate(request_iterator):
                if stop.is_set():
                    return
                texts = list(request.texts)
                try:
                    check_texts(
                        texts, max_texts=self._limits.max_texts, max_chars=self._limits.max_chars
                    )
                except InvalidArgument as exc:
                    name = f"batch_id {request.batch_id!r}" if request.batch_id else "no batch_id"
                    raise InvalidArgument(f"stream message {n} ({name}): {exc}") from None
                check_deadline(context, "the stream was embedded")
                submitted = self._batcher.submit(texts, timeout=context.time_remaining())
                if not put((request.batch_id, submitted)):
                    submitted.cancel()
                    return
        except ServiceError as exc:
            put(exc)
            return
        except Exception as exc:
            if not context.is_active():
                put(_END)  # the client went away; nothing to answer
                return
            put(exc)
            return
        put(_END)

    @handle_errors
    def GetModelInfo(
        self, request: embedder_pb2.GetModelInfoRequest, context: grpc.ServicerContext
    ) -> embedder_pb2.GetModelInfoResponse:
        model = self._model
        return embedder_pb2.GetModelInfoResponse(
            model_id=model.model_id,
            source=model.source,
            weights_sha256=model.weights_sha256,
            dimension=model.dimension,
            max_tokens=model.max_tokens,
            normalized=model.normalized,
            pooling=model.pooling,
            device=model.device,
        )

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _embeddings(result: EncodeResult) -> tuple[list[embedder_pb2.Embedding], list[int]]:
        rows = result.vectors.tolist()
        embeddings = [
            embedder_pb2.Embedding(values=row, truncated=cut, token_count=count)
            for row, cut, count in zip(rows, result.truncated, result.token_counts, strict=True)
        ]
        return embeddings, [i for i, cut in enumerate(result.truncated) if cut]


def _annotate(result: EncodeResult) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("arxivqa.embedder.texts", len(result))
        span.set_attribute("arxivqa.embedder.truncated", sum(result.truncated))
        span.set_attribute("arxivqa.embedder.tokens", sum(result.token_counts))


def _drain(pending: queue.Queue[object]) -> None:
    while True:
        try:
            item = pending.get_nowait()
        except queue.Empty:
            return
        if isinstance(item, tuple):
            item[1].cancel()


def add_to_server(servicer: EmbedderServicer, server: grpc.Server) -> None:
    embedder_pb2_grpc.add_EmbedderServicer_to_server(servicer, server)
