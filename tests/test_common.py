"""The shared runtime: settings errors, health lifecycle, reflection, graceful stop."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.healthcheck import check
from services.common.server import GrpcService
from services.common.settings import ServerSettings, load_settings


def _service(warm_up=None) -> GrpcService:  # type: ignore[no-untyped-def]
    return GrpcService(
        ServerSettings(port=0, grace_seconds=5),
        name="t",
        service_names=["test.v1.Nothing"],
        add_servicers=lambda server: None,
        warm_up=warm_up,
    )


def test_bad_setting_exits_with_the_variable_name(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ARXIVQA_PORT", "not-a-port")
    with pytest.raises(SystemExit) as exc:
        load_settings(ServerSettings)
    assert exc.value.code == 2
    assert "ARXIVQA_PORT" in capsys.readouterr().err


def test_not_serving_until_warm_up_finishes_then_serving() -> None:
    gate = threading.Event()
    svc = _service(warm_up=lambda: gate.wait(10)).start()
    try:
        target = f"127.0.0.1:{svc.port}"
        assert check(target)[1] == "NOT_SERVING"
        assert check(target, "test.v1.Nothing")[1] == "NOT_SERVING"
        gate.set()
        svc.wait_until_ready(10)
        assert check(target) == (True, "SERVING")
        assert check(target, "test.v1.Nothing") == (True, "SERVING")
    finally:
        svc.stop(0).wait()


def test_failed_warm_up_stays_not_serving_and_reports_the_error() -> None:
    def boom() -> None:
        raise RuntimeError("weights missing")

    svc = _service(warm_up=boom).start()
    try:
        with pytest.raises(RuntimeError, match="weights missing"):
            svc.wait_until_ready(10)
        assert check(f"127.0.0.1:{svc.port}")[1] == "NOT_SERVING"
    finally:
        svc.stop(0).wait()


def test_reflection_lists_health_and_the_service() -> None:
    svc = _service().start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{svc.port}") as ch:
            stub = reflection_pb2_grpc.ServerReflectionStub(ch)
            req = reflection_pb2.ServerReflectionRequest(list_services="")
            (resp,) = list(stub.ServerReflectionInfo(iter([req])))
            names = {s.name for s in resp.list_services_response.service}
        assert {"test.v1.Nothing", "grpc.health.v1.Health"} <= names
    finally:
        svc.stop(0).wait()


def test_stop_goes_not_serving_before_the_server_closes() -> None:
    svc = _service().start()
    svc.wait_until_ready(10)
    with grpc.insecure_channel(f"127.0.0.1:{svc.port}") as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        stopped = svc.stop(grace=2)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
    assert stopped.wait(5)
    time.sleep(0.05)
