"""Micro-batching: coalescing, own vectors per caller, errors, deadlines, stats.

Most tests run the real model; the tests of the batcher's own bookkeeping (batching off,
stats) use a deterministic stand-in encoder, so their expectations are exact.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from services.common.errors import DeadlineExceeded
from services.embedder.batcher import MicroBatcher
from services.embedder.model import EncodeResult, SentenceEmbedder


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _requests(short_texts: list[str], n: int) -> list[list[str]]:
    """``n`` distinct requests of 1 to 3 texts each."""
    out = []
    for i in range(n):
        size = 1 + i % 3
        out.append(
            [
                f"{short_texts[(i + j) % len(short_texts)]} (request {i}, part {j})"
                for j in range(size)
            ]
        )
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_callers_share_batches_and_get_their_own_vectors(
    embedder: SentenceEmbedder, short_texts: list[str], workers: int
) -> None:
    batcher = MicroBatcher(
        lambda texts: embedder.encode(texts, batch_size=64),
        max_batch_size=64,
        max_wait_ms=50,
        workers=workers,
    )
    requests = _requests(short_texts, 24)
    start = threading.Barrier(len(requests))

    def call(texts: list[str]) -> EncodeResult:
        start.wait()
        return batcher.embed(texts)

    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            results = list(pool.map(call, requests))
    finally:
        batcher.close()

    for texts, result in zip(requests, results, strict=True):
        alone = embedder.encode(texts)
        assert len(result) == len(texts)
        assert _cos(result.vectors, alone.vectors).min() > 0.9999, texts
    assert batcher.stats.requests == 24
    assert batcher.stats.texts == sum(map(len, requests))
    assert batcher.stats.batches < 24 and batcher.stats.mean_batch_size > 2


def test_a_big_request_is_chunked_by_length_and_returned_in_order(
    embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    texts = [" ".join(short_texts[: 1 + i % len(short_texts)]) for i in range(11)]
    batcher = MicroBatcher(lambda t: embedder.encode(t), max_batch_size=4, max_wait_ms=0)
    try:
        result = batcher.embed(texts)
    finally:
        batcher.close()
    expected = embedder.encode(texts)
    assert _cos(result.vectors, expected.vectors).min() > 0.9999
    assert result.token_counts == expected.token_counts
    assert batcher.stats.batches == 3  # 4 + 4 + 3


def test_a_failing_text_fails_only_its_own_caller(
    embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    def encode(texts: list[str]) -> EncodeResult:
        if any("POISON" in t for t in texts):
            raise ValueError("cannot embed POISON")
        return embedder.encode(texts)

    # A long max_wait so that all requests, sent at once, land in the same batch.
    batcher = MicroBatcher(encode, max_batch_size=64, max_wait_ms=500)
    requests = [[short_texts[0]], ["POISON pill", short_texts[1]], [short_texts[2]]]
    start = threading.Barrier(len(requests))

    def call(texts: list[str]) -> EncodeResult | BaseException:
        start.wait()
        try:
            return batcher.embed(texts)
        except Exception as exc:
            return exc

    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            good_a, bad, good_b = pool.map(call, requests)
    finally:
        batcher.close()
    assert isinstance(bad, ValueError) and "POISON" in str(bad)
    assert isinstance(good_a, EncodeResult) and isinstance(good_b, EncodeResult)
    assert _cos(good_a.vectors, embedder.encode(requests[0]).vectors)[0] > 0.9999
    assert _cos(good_b.vectors, embedder.encode(requests[2]).vectors)[0] > 0.9999
    assert batcher.stats.retried_batches == 1


def test_a_request_whose_deadline_passes_in_the_queue_is_dropped(
    embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    release = threading.Event()
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> EncodeResult:
        seen.append(texts)
        release.wait(10)
        return embedder.encode(texts)

    batcher = MicroBatcher(encode, max_batch_size=1, max_wait_ms=0)
    try:
        first = batcher.submit([short_texts[0]])  # occupies the model until released
        with pytest.raises(DeadlineExceeded, match="deadline exceeded"):
            batcher.embed([short_texts[1]], timeout=0.2)
        release.set()
        assert len(first.result()) == 1
        # The expired request never reached the model.
        batcher.embed([short_texts[2]])
        assert seen == [[short_texts[0]], [short_texts[2]]]
    finally:
        release.set()
        batcher.close()


def _fake_encode(texts: list[str]) -> EncodeResult:
    """A deterministic stand-in for the model, for tests of the batcher alone: each text's
    vector comes from its own bytes only, so a caller's rows can be compared exactly."""
    rows = [
        np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], dtype=np.uint8).astype(np.float32)
        + 1.0
        for t in texts
    ]
    vectors = np.stack(rows) if rows else np.zeros((0, 8), np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) if rows else 1.0
    return EncodeResult(vectors, [False] * len(texts), [len(t.split()) for t in texts])


def test_batching_off_runs_each_call_in_its_callers_thread_side_by_side() -> None:
    callers = 4
    # Passes only when all four callers are inside the model at the same time; a batcher
    # (one worker) would run them one batch at a time and break the barrier.
    together = threading.Barrier(callers, timeout=10)
    ran_in: dict[str, int] = {}

    def encode(texts: list[str]) -> EncodeResult:
        (text,) = texts
        ran_in[text] = threading.get_ident()
        together.wait()
        return _fake_encode(texts)

    batcher = MicroBatcher(encode, max_batch_size=64, max_wait_ms=50, enabled=False)
    texts = [f"text number {i}" for i in range(callers)]

    def call(text: str) -> tuple[int, EncodeResult]:
        return threading.get_ident(), batcher.embed([text])

    with ThreadPoolExecutor(callers) as pool:
        outcomes = list(pool.map(call, texts))
    for text, (caller, result) in zip(texts, outcomes, strict=True):
        assert ran_in[text] == caller, "the model ran in another thread than its caller's"
        np.testing.assert_array_equal(result.vectors, _fake_encode([text]).vectors)
        assert result.token_counts == [3]


def test_stats_count_requests_batches_texts_and_expired_requests() -> None:
    release = threading.Event()
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> EncodeResult:
        seen.append(list(texts))
        if len(seen) == 1:
            release.wait(10)  # the first batch holds the model while the others queue
        return _fake_encode(texts)

    batcher = MicroBatcher(encode, max_batch_size=4, max_wait_ms=0)
    try:
        first = batcher.submit(["a"])
        while not seen:
            time.sleep(0.001)
        # Five texts of different lengths: cut into 4 (the longest) + 1 chunks.
        big_texts = ["bb", "b b b b b", "bbb", "b b b b b b b", "b"]
        big = batcher.submit(big_texts)
        late = batcher.submit(["late"], timeout=0.05)
        time.sleep(0.1)  # late's deadline passes while it waits in the queue
        release.set()
        assert len(first.result()) == 1
        result = big.result()  # its second chunk went with late's turn: late was dropped
        with pytest.raises(DeadlineExceeded, match="waiting for a model batch"):
            late.result()
    finally:
        release.set()
        batcher.close()
    np.testing.assert_array_equal(result.vectors, _fake_encode(big_texts).vectors)
    assert seen == [["a"], ["b b b b b b b", "b b b b b", "bbb", "bb"], ["b"]]
    s = batcher.stats
    assert (s.requests, s.batches, s.texts, s.expired, s.retried_batches) == (3, 3, 6, 1, 0)
    assert s.mean_batch_size == 2.0


def test_a_lone_request_runs_at_once_and_waiting_ones_share_the_next_batch(
    embedder: SentenceEmbedder, short_texts: list[str]
) -> None:
    """Default settings: no wait for company when the model is free; while a batch runs,
    the requests that arrive queue up and then go together in one batch."""
    release = threading.Event()
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> EncodeResult:
        seen.append(list(texts))
        if len(seen) == 2:
            release.wait(10)  # the second batch holds the model while others arrive
        return embedder.encode(texts)

    batcher = MicroBatcher(encode)  # defaults: max_wait_ms=0
    try:
        t0 = time.perf_counter()
        batcher.embed([short_texts[0]])
        alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        embedder.encode([short_texts[0]])
        direct = time.perf_counter() - t0
        # No waiting for company: the batcher adds a thread hand-off, not a wait.
        assert alone < direct + 0.02, (alone, direct)

        busy = batcher.submit([short_texts[1]])
        while len(seen) < 2:
            time.sleep(0.001)
        waiting = [batcher.submit([t]) for t in short_texts[2:7]]
        time.sleep(0.05)
        release.set()
        busy.result()
        for ticket, text in zip(waiting, short_texts[2:7], strict=True):
            assert _cos(ticket.result().vectors, embedder.encode([text]).vectors)[0] > 0.9999
        assert seen[2:] == [short_texts[2:7]]  # the five waiting requests, one batch
        assert batcher.stats.batches == 3
    finally:
        release.set()
        batcher.close()
