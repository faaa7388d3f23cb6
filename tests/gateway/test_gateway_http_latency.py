"""The HTTP bridge answers requests on a kept-alive connection at once."""

from __future__ import annotations

import http.client
import statistics
import time

from fastapi import FastAPI

from gateway.web import HttpServer


def test_keep_alive_responses_are_not_held_back_by_nagle() -> None:
    """Headers and body go out as two writes; without TCP_NODELAY on the accepted socket
    the second waits for the client's delayed ACK: ~40 ms on every request after the first."""
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    server = HttpServer(app, "127.0.0.1", 0).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        ms = []
        for _ in range(15):
            t0 = time.perf_counter()
            conn.request("GET", "/ping")
            response = conn.getresponse()
            assert response.status == 200 and response.read() == b'{"status":"ok"}'
            ms.append((time.perf_counter() - t0) * 1000)
        conn.close()
    finally:
        server.stop()
    assert statistics.median(ms[1:]) < 25, ms
