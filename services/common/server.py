"""gRPC server bootstrap shared by every service.

``GrpcService`` wires a servicer into a ``grpc.Server`` with what every service needs:
the grpc project's own health servicer (NOT_SERVING until warm-up finishes), server
reflection, OpenTelemetry server interceptors, message size limits, and a graceful
shutdown (health goes NOT_SERVING first, then in-flight calls get ``grace_seconds``).

A service's ``server.py`` builds one in ``create_server(settings) -> (service, port)``;
its ``main()`` calls ``serve(service)``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from types import FrameType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace

from services.common.settings import ServerSettings, message_size_options
from services.common.telemetry import server_interceptors

log = logging.getLogger(__name__)

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class _Undecodable:
    """Stands in for a request message that did not parse (e.g. invalid UTF-8 in a string)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _undecodable_message(what: _Undecodable) -> str:
    return (
        "the request message does not parse (strings must be valid UTF-8, fields must "
        f"match the .proto): {what.reason[:500]}"
    )


class RefuseUndecodable(grpc.ServerInterceptor):
    """A request that does not deserialize gets INVALID_ARGUMENT, not grpc's INTERNAL.

    grpc answers a message it cannot parse (a string field holding an unpaired surrogate
    or other invalid UTF-8) with INTERNAL "Exception deserializing request!"; the fault
    is the caller's, so it is reported as one.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer

        def safe_parse(data: bytes) -> Any:
            try:
                return parse(data)
            except Exception as exc:
                return _Undecodable(str(exc) or type(exc).__name__)

        def check(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Undecodable):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, _undecodable_message(request))
            return request

        def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            for request in requests:
                yield check(request, context)

        replaced: dict[str, Any] = {"request_deserializer": safe_parse}
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary
            replaced["unary_unary"] = lambda req, ctx: inner_uu(check(req, ctx), ctx)
        elif handler.unary_stream is not None:
            inner_us = handler.unary_stream
            replaced["unary_stream"] = lambda req, ctx: inner_us(check(req, ctx), ctx)
        elif handler.stream_unary is not None:
            inner_su = handler.stream_unary
            replaced["stream_unary"] = lambda reqs, ctx: inner_su(checked(reqs, ctx), ctx)
        elif handler.stream_stream is not None:
            inner_ss = handler.stream_stream
            replaced["stream_stream"] = lambda reqs, ctx: inner_ss(checked(reqs, ctx), ctx)
        return handler._replace(**replaced)


class GrpcService:
    """A gRPC server plus its health state and warm-up.

    ``warm_up`` (optional) runs in a background thread after ``start()``; the service
    reports SERVING only when it returns. If it raises, the service stays NOT_SERVING and
    ``wait_until_ready`` re-raises the error.
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        name: str,
        service_names: Sequence[str],
        add_servicers: Callable[[grpc.Server], None],
        warm_up: Callable[[], None] | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
        probe: Callable[[], None] | None = None,
        probe_name: str = "",
        probe_interval_seconds: float = 1.0,
    ) -> None:
        self.name = name
        self.settings = settings
        self.service_names = tuple(service_names)
        self._warm_up = warm_up
        self._probe = probe
        self.probe_name = probe_name
        self.probe_interval_seconds = probe_interval_seconds
        self._probe_ok = True
        self._ready = threading.Event()
        self._warm_up_error: BaseException | None = None
        self._stopped = threading.Event()

        options = [*message_size_options(settings.max_message_bytes), ("grpc.so_reuseport", 0)]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.max_workers, thread_name_prefix=f"{name}-rpc"
            ),
            interceptors=[
                *server_interceptors(tracer_provider),
                *interceptors,
                RefuseUndecodable(),
            ],
            options=options,
        )
        add_servicers(self.server)
        self.health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        address = f"{settings.host}:{settings.port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError as exc:
            raise SystemExit(f"{name}: cannot bind {address}: {exc}") from exc
        if self.port == 0:
            raise SystemExit(f"{name}: cannot bind {address} (port in use?)")
        self._set_all(_NOT_SERVING)

    # -- health ---------------------------------------------------------------------------
    def _set_all(self, status: int) -> None:
        self.health.set("", status)
        for service in self.service_names:
            self.health.set(service, status)
        if self.probe_name:
            self.health.set(self.probe_name, status)

    def set_serving(self, serving: bool) -> None:
        """Flip every registered service (and the overall "" entry) to SERVING or not."""
        self._set_all(_SERVING if serving else _NOT_SERVING)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> GrpcService:
        self.server.start()
        log.info("%s listening", self.name, extra={"port": self.port})
        threading.Thread(target=self._run_warm_up, name=f"{self.name}-warm-up", daemon=True).start()
        return self

    def _run_warm_up(self) -> None:
        try:
            if self._warm_up is not None:
                self._warm_up()
        except BaseException as exc:
            self._warm_up_error = exc
            log.exception("%s warm-up failed; staying NOT_SERVING", self.name)
        else:
            if not self._stopped.is_set():
                self.set_serving(True)
                log.info("%s ready: SERVING", self.name)
                if self._probe is not None:
                    threading.Thread(
                        target=self._monitor, name=f"{self.name}-probe", daemon=True
                    ).start()
        finally:
            self._ready.set()

    def _monitor(self) -> None:
        """After warm-up: run the dependency probe every interval; health follows it.

        While the probe fails (Redis unreachable) every entry reports NOT_SERVING, so load
        balancers and the gateway's /readyz see the truth; SERVING again once it passes.
        Two failures in a row are needed, so that one slow answer on a busy machine does
        not flap the health (a stopped Redis refuses connections at once: ~2 intervals).
        """
        assert self._probe is not None
        failures = 0
        while not self._stopped.wait(self.probe_interval_seconds):
            try:
                self._probe()
            except Exception as exc:
                failures += 1
                if failures >= 2 and self._probe_ok and not self._stopped.is_set():
                    self._probe_ok = False
                    self.set_serving(False)
                    log.warning(
                        "%s: %s unreachable, NOT_SERVING: %s",
                        self.name,
                        self.probe_name or "dependency",
                        exc,
                    )
                continue
            failures = 0
            if not self._probe_ok and not self._stopped.is_set():
                self._probe_ok = True
                self.set_serving(True)
                log.info("%s: %s back, SERVING", self.name, self.probe_name or "dependency")

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Block until warm-up is done; re-raise its error; TimeoutError if it takes longer."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.name} did not finish warming up in {timeout} s")
        if self._warm_up_error is not None:
            raise self._warm_up_error

    def stop(self, grace: float | None = None) -> threading.Event:
        """Graceful stop: NOT_SERVING first, then refuse new calls and let running ones end."""
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        grace = self.settings.grace_seconds if grace is None else grace
        log.info("%s stopping", self.name, extra={"grace_seconds": grace})
        return self.server.stop(grace)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self.server.wait_for_termination(timeout)

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT start a graceful stop (main thread only)."""

        def _handle(signum: int, _frame: FrameType | None) -> None:
            log.info("%s received %s", self.name, signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, _handle)
        signal.signal(signal.SIGINT, _handle)


def serve(service: GrpcService) -> None:
    """Run a service until SIGTERM/SIGINT: start, warm up, serve, stop gracefully.

    Exits with status 1 when warm-up fails (a model that does not load, a missing index),
    so an orchestrator sees the failure instead of a server that never becomes ready.
    """
    service.install_signal_handlers()
    service.start()
    try:
        service.wait_until_ready()
    except BaseException as exc:
        service.stop(0).wait()
        raise SystemExit(f"{service.name}: failed to start: {exc}") from exc
    service.wait_for_termination()
    log.info("%s stopped", service.name)
