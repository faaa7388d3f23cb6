"""Dynamic micro-batching: concurrent requests share one model batch.

Callers (gRPC worker threads) call ``MicroBatcher.embed(texts)`` and block. A worker
thread (one by default; ``workers`` of them run batches side by side) takes what is queued
as soon as it is free, packs requests in arrival order into a batch of at most
``max_batch_size`` texts, runs the model once and hands each caller exactly its own rows,
in its own order.

Batching costs nothing when the service is idle: a lone request finds the model free and
runs at once, alone. Requests accumulate only while a batch is running, and the next batch
takes all of them together. ``max_wait_ms`` (default 0) can make the worker also wait that
long, counted from the oldest request's arrival, for company before it starts a batch
that is not full; with the model free that only adds latency, so leave it at 0.

A request larger than ``max_batch_size`` is cut into chunks after ordering its texts by
length (so each chunk pads little, as sentence-transformers does); its chunks queue like
separate requests, so one bulk request does not starve small ones behind it.

If a shared batch fails, each request in it is retried on its own, so an error reaches
only the caller whose texts cause it. A caller's deadline is honoured: a request still
queued when its deadline passes is dropped and the caller gets ``DeadlineExceeded``.

With ``enabled=False`` every caller runs the model itself, in its own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import numpy as np

from services.common.errors import DeadlineExceeded, InvalidArgument, Unavailable
from services.embedder.model import EncodeResult

log = logging.getLogger(__name__)

#: Timeouts longer than this (about 11 days) mean "no deadline".
_NO_DEADLINE = 1e6

EncodeFn = Callable[[list[str]], EncodeResult]


@dataclass
class _Pending:
    texts: list[str]
    deadline: float | None  # time.monotonic() value, None = no deadline
    enqueued: float
    future: Future[EncodeResult] = field(default_factory=Future)


@dataclass
class BatcherStats:
    batches: int = 0
    texts: int = 0
    requests: int = 0
    retried_batches: int = 0
    expired: int = 0

    @property
    def mean_batch_size(self) -> float:
        return self.texts / self.batches if self.batches else 0.0


class Ticket:
    """A submitted request: ``result()`` waits for its vectors (or its error)."""

    def __init__(
        self,
        chunks: list[_Pending],
        order: list[int],
        deadline: float | None,
        *,
        done: EncodeResult | None = None,
    ) -> None:
        self._chunks = chunks
        self._order = order
        self._deadline = deadline
        self._done = done

    def result(self) -> EncodeResult:
        if self._done is not None:
            return self._done
        parts: list[EncodeResult] = []
        try:
            for chunk in self._chunks:
                remaining = (
                    None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
                )
                parts.append(chunk.future.result(timeout=remaining))
        except FutureTimeout:
            raise DeadlineExceeded(
                f"deadline exceeded while embedding {len(self._order)} text(s)"
            ) from None
        except CancelledError:
            raise Unavailable("the embedder is shutting down; retry") from None
        finally:
            self.cancel()
        merged = _concat(parts)
        if all(i == pos for pos, i in enumerate(self._order)):
            self._done = merged
            return merged
        inverse = [0] * len(self._order)
        for pos, original in enumerate(self._order):
            inverse[original] = pos
        self._done = EncodeResult(
            merged.vectors[inverse],
            [merged.truncated[p] for p in inverse],
            [merged.token_counts[p] for p in inverse],
        )
        return self._done

    def cancel(self) -> None:
        """Drop chunks still waiting in the queue (finished or running ones are unaffected)."""
        for chunk in self._chunks:
            chunk.future.cancel()


def _concat(parts: list[EncodeResult]) -> EncodeResult:
    if len(parts) == 1:
        return parts[0]
    return EncodeResult(
        np.concatenate([p.vectors for p in parts]),
        [t for p in parts for t in p.truncated],
        [c for p in parts for c in p.token_counts],
    )


class MicroBatcher:
    """Coalesce concurrent ``embed`` calls into shared calls of ``encode``.

    ``encode(texts)`` must return one row per text, in order (``SentenceEmbedder.encode``
    bound to a batch size).
    """

    def __init__(
        self,
        encode: EncodeFn,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 0.0,
        enabled: bool = True,
        workers: int = 1,
        name: str = "embedder-batcher",
    ) -> None:
        if max_batch_size < 1:
            raise InvalidArgument(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise InvalidArgument(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if workers < 1:
            raise InvalidArgument(f"workers must be at least 1, got {workers}")
        self._encode = encode
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.enabled = enabled
        self.stats = BatcherStats()
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._name = name

    # -- caller side -----------------------------------------------------------------------
    def embed(self, texts: Sequence[str], *, timeout: float | None = None) -> EncodeResult:
        """Vectors for ``texts`` in order; ``timeout`` seconds at most (None = no limit)."""
        return self.submit(texts, timeout=timeout).result()

    def submit(self, texts: Sequence[str], *, timeout: float | None = None) -> Ticket:
        """Queue ``texts`` without waiting; ``Ticket.result()`` blocks for the vectors.

        With batching turned off the model runs here, in the caller's thread.
        """
        texts = list(texts)
        if timeout is not None and timeout > _NO_DEADLINE:
            timeout = None  # grpc reports "no deadline" as a huge time_remaining()
        deadline = None if timeout is None else time.monotonic() + timeout
        if timeout is not None and timeout <= 0:
            raise DeadlineExceeded("deadline exceeded before the texts were embedded")
        if not self.enabled or not texts:
            result = self._encode(texts)
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded("deadline exceeded while embedding the texts")
            return Ticket([], list(range(len(texts))), deadline, done=result)

        # Big requests: order by length, cut into batch-sized chunks, restore order at the end.
        if len(texts) > self.max_batch_size:
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        else:
            order = list(range(len(texts)))
        chunks = [
            _Pending([texts[i] for i in order[s : s + self.max_batch_size]], deadline, 0.0)
            for s in range(0, len(texts), self.max_batch_size)
        ]
        self._enqueue(chunks)
        return Ticket(chunks, order, deadline)

    def _enqueue(self, items: list[_Pending]) -> None:
        with self._cond:
            if self._closed:
                raise Unavailable("the embedder is shutting down; retry")
            if not self._threads:
                for i in range(self.workers):
                    thread = threading.Thread(
                        target=self._run, name=f"{self._name}-{i}", daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)
            now = time.monotonic()
            for item in items:
                item.enqueued = now
                self._queue.append(item)
            self.stats.requests += 1
            self._cond.notify()

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop taking requests; what is queued still runs; wait for the worker to end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    # -- worker side -----------------------------------------------------------------------
    def _next_batch(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            flush_at = self._queue[0].enqueued + self.max_wait
            while (
                self.max_wait > 0
                and not self._closed
                and self._queued_texts() < self.max_batch_size
            ):
                remaining = flush_at - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch: list[_Pending] = []
            size = 0
            now = time.monotonic()
            while self._queue:
                item = self._queue[0]
                if batch and size + len(item.texts) > self.max_batch_size:
                    break
                self._queue.popleft()
                if not item.future.set_running_or_notify_cancel():
                    continue  # the caller gave up (deadline) or the call was cancelled
                if item.deadline is not None and now > item.deadline:
                    self.stats.expired += 1
                    item.future.set_exception(
                        DeadlineExceeded("deadline exceeded while waiting for a model batch")
                    )
                    continue
                batch.append(item)
                size += len(item.texts)
            return batch

    def _queued_texts(self) -> int:
        return sum(len(item.texts) for item in self._queue)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._run_batch(batch)

    def _run_batch(self, batch: list[_Pending]) -> None:
        texts = [t for item in batch for t in item.texts]
        try:
            result = self._encode(texts)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            # Isolate the failure: rerun each request alone so only its owner sees the error.
            log.warning(
                "batch of %d requests failed (%s); retrying them one by one", len(batch), exc
            )
            self.stats.retried_batches += 1
            for item in batch:
                try:
                    item.future.set_result(self._encode(item.texts))
                except Exception as item_exc:
                    item.future.set_exception(item_exc)
            return
        self.stats.batches += 1
        self.stats.texts += len(texts)
        start = 0
        for item in batch:
            stop = start + len(item.texts)
            item.future.set_result(result.slice(start, stop))
            start = stop
