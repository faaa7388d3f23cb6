"""A polite HTTP client for arXiv: one request per ``min_interval``, Retry-After, back-off.

arXiv asks harvesters for at most one request every 3 seconds, a User-Agent that says who
is asking, and to honour ``503 Retry-After`` (its flow control). :class:`PoliteFetcher`
does all three, and retries network errors and other 5xx answers with exponential
back-off. ``sleep`` and ``clock`` can be replaced in fast unit tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from gateway.arxiv.settings import HarvestSettings

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class FetchError(RuntimeError):
    """A request that failed for good (after retries, or with a 4xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class PoliteFetcher:
    """GET with arXiv's manners. Thread-safe; one instance per harvest."""

    def __init__(
        self,
        settings: HarvestSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self.requests = 0
        self.waited = 0.0
        self._client = httpx.Client(
            headers={"User-Agent": settings.user_agent},
            timeout=settings.timeout,
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PoliteFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_turn(self) -> None:
        if self._last is not None:
            delay = self._last + self.settings.min_interval - self._clock()
            if delay > 0:
                self.waited += delay
                self._sleep(delay)
        self._last = self._clock()

    def get(self, url: str, params: Mapping[str, str] | None = None) -> Response:
        """The response to a GET (2xx, or a 4xx the caller may want to read, e.g. an
        API error feed); :class:`FetchError` when retries are used up."""
        s = self.settings
        attempt = 0
        with self._lock:
            while True:
                self._wait_turn()
                self.requests += 1
                try:
                    r = self._client.get(url, params=params)
                except httpx.TransportError as exc:
                    if attempt >= s.max_retries:
                        raise FetchError(
                            f"GET {url} failed after {attempt + 1} tries: {exc}"
                        ) from exc
                    delay = s.backoff * (2**attempt)
                    log.warning(
                        "network error, retrying",
                        extra={"url": url, "error": str(exc), "retry_in_s": delay},
                    )
                    attempt += 1
                    self.waited += delay
                    self._sleep(delay)
                    continue
                if r.status_code in RETRY_STATUSES:
                    if attempt >= s.max_retries:
                        raise FetchError(
                            f"GET {r.url} answered {r.status_code} {attempt + 1} times; "
                            "giving up (try again later)",
                            r.status_code,
                        )
                    after = retry_after_seconds(r.headers.get("retry-after"))
                    delay = after if after is not None else s.backoff * (2**attempt)
                    if delay > s.max_retry_after:
                        raise FetchError(
                            f"GET {r.url}: Retry-After {delay:.0f} s exceeds "
                            f"ARXIVQA_HARVEST_MAX_RETRY_AFTER={s.max_retry_after:.0f}",
                            r.status_code,
                        )
                    log.info(
                        "server asked to retry later",
                        extra={"url": str(r.url), "status": r.status_code, "retry_in_s": delay},
                    )
                    attempt += 1
                    self.waited += delay
                    self._sleep(delay)
                    continue
                return Response(str(r.url), r.status_code, r.content, dict(r.headers))
