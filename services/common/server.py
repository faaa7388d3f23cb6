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
from collections.abc import Callable, Sequence
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace

from services.common.settings import ServerSettings
from services.common.telemetry import server_interceptors

log = logging.getLogger(__name__)

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


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
    ) -> None:
        self.name = name
        self.settings = settings
        self.service_names = tuple(service_names)
        self._warm_up = warm_up
        self._ready = threading.Event()
        self._warm_up_error: BaseException | None = None
        self._stopped = threading.Event()

        options = [
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.max_workers, thread_name_prefix=f"{name}-rpc"
            ),
            interceptors=[*server_interceptors(tracer_provider), *interceptors],
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
        finally:
            self._ready.set()

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
