"""Container/orchestrator health probe speaking grpc.health.v1.

    python -m services.common.healthcheck 127.0.0.1:50051 [--service NAME] [--timeout 2]

Exits 0 when the server answers SERVING, 1 otherwise (with the reason on stderr).
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(target: str, service: str = "", timeout: float = 2.0) -> tuple[bool, str]:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return False, f"{exc.code().name}: {exc.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    return resp.status == health_pb2.HealthCheckResponse.SERVING, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="host:port of the gRPC server")
    parser.add_argument("--service", default="", help="service name; empty for the server")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    ok, status = check(args.target, args.service, args.timeout)
    sys.stderr.write(f"{args.target} {args.service or '(server)'}: {status}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
