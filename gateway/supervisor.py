"""``arxivqa up | down | status``: the local stack as child processes of this machine.

``up`` starts Redis with Search (data under .data/redis, AOF on), then every service and
the gateway as local processes (PID files and logs under .data/run/), waits for their
health checks and prints the URLs. ``down`` stops them; ``status`` shows each one's health.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import (
    GATEWAY_HTTP_PORT,
    PORTS,
    PROJECT_ROOT,
    REDIS_PORT,
    data_dir,
)

DATA_DIR = data_dir(PROJECT_ROOT)
RUN_DIR = DATA_DIR / "run"


@dataclass(frozen=True)
class Proc:
    """A process of the stack: ``python -m module`` on ``ARXIVQA_<NAME>_PORT``."""

    name: str
    module: str

    @property
    def port_env(self) -> str:
        return f"ARXIVQA_{self.name.upper()}_PORT"

    @property
    def port(self) -> int:
        return int(os.environ.get(self.port_env, PORTS[self.name]))

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


SERVICES = (
    Proc("embedder", "services.embedder.server"),
    Proc("retriever", "services.retriever.server"),
    Proc("graph", "services.graph.server"),
    Proc("qa", "services.qa.server"),
)
GATEWAY = Proc("gateway", "gateway.server")


def http_port() -> int:
    """The gateway's HTTP port: ``ARXIVQA_GATEWAY_HTTP_PORT`` or the default."""
    return int(os.environ.get("ARXIVQA_GATEWAY_HTTP_PORT", GATEWAY_HTTP_PORT))


def _pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(name: str) -> int | None:
    path = _pid_file(name)
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
    except ValueError:
        return None
    return pid if _alive(pid) else None


def _log_tail(name: str, lines: int = 15) -> str:
    path = RUN_DIR / f"{name}.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _redis_url() -> tuple[str, bool]:
    """(url, external): REDIS_URL when given, else the local server's address."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url, True
    port = int(os.environ.get("ARXIVQA_REDIS_PORT", REDIS_PORT))
    return f"redis://127.0.0.1:{port}/0", False


def _start_redis() -> str:
    import redis

    url, external = _redis_url()
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
        print(f"  redis      {url} (already running)")
        return url
    except redis.RedisError:
        if external:
            raise SystemExit(
                f"REDIS_URL={url} does not answer; start it or unset REDIS_URL"
            ) from None
    finally:
        client.close()
    from services.devtools.redis_server import LocalRedis, RedisNotInstalled

    port = int(url.rsplit(":", 1)[1].split("/")[0])
    server = LocalRedis(data_dir=DATA_DIR / "redis", port=port, appendonly=True)
    try:
        server.start(timeout=60)
    except RedisNotInstalled as exc:
        raise SystemExit(str(exc)) from None
    # The server outlives this command; `down` stops it with SHUTDOWN (flushing the AOF).
    proc = getattr(server, "_proc", None)
    if proc is not None:
        _pid_file("redis").write_text(str(proc.pid))
    print(f"  redis      {url} (data in {DATA_DIR / 'redis'}, AOF on)")
    return url


def _qa_model() -> tuple[str | None, str]:
    """The reader to serve and where it came from, or (None, why not)."""
    model = os.environ.get("ARXIVQA_QA_MODEL")
    if model:
        return model, "ARXIVQA_QA_MODEL"
    shipped = PROJECT_ROOT / "models" / "reader"
    if (shipped / "config.json").is_file():
        return str(shipped), "the reader shipped with the project"
    return None, (
        f"no reader configured: {shipped} is missing (restore it with git), or set "
        "ARXIVQA_QA_MODEL to a model directory, a hub id or models:/reader@production; "
        "Ask returns passages without answers until then"
    )


def _spawn(proc: Proc, env: dict[str, str]) -> int:
    existing = _read_pid(proc.name)
    if existing:
        print(f"  {proc.name:<10} already running (pid {existing})")
        return existing
    log = open(RUN_DIR / f"{proc.name}.log", "ab")
    child = subprocess.Popen(
        [sys.executable, "-m", proc.module],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    _pid_file(proc.name).write_text(str(child.pid))
    return child.pid


def _wait_healthy(procs: Sequence[Proc], timeout: float) -> None:
    from services.common.healthcheck import check

    pending = {p.name: p for p in procs}
    deadline = time.monotonic() + timeout
    while pending:
        for name, proc in list(pending.items()):
            if _read_pid(name) is None:
                raise SystemExit(
                    f"{name} exited during start; last log lines ({RUN_DIR / (name + '.log')}):\n"
                    + _log_tail(name)
                )
            ok, _status = check(proc.target, timeout=1.0)
            if ok:
                print(f"  {name:<10} SERVING on {proc.target}")
                del pending[name]
        if pending and time.monotonic() > deadline:
            names = ", ".join(pending)
            raise SystemExit(f"not healthy after {timeout:.0f} s: {names}; see {RUN_DIR}/*.log")
        if pending:
            time.sleep(0.5)


def cmd_up(args: argparse.Namespace) -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    print("starting the arxivqa stack")
    redis_url = _start_redis()
    env = dict(os.environ)
    env.setdefault("REDIS_URL", redis_url)
    env.setdefault("PYTHONUNBUFFERED", "1")
    model, why = _qa_model()
    procs = [p for p in SERVICES if p.name != "qa" or model]
    if model:
        env["ARXIVQA_QA_MODEL"] = model
        print(f"  qa         reader from {why}: {model}")
    else:
        print(f"  qa         not started: {why}")
    for proc in procs:
        env[proc.port_env] = str(proc.port)
        _spawn(proc, env)
    _wait_healthy(procs, args.timeout)
    started = {p.name for p in procs}
    for p in SERVICES:
        env[f"ARXIVQA_GATEWAY_{p.name.upper()}_TARGET"] = p.target if p.name in started else ""
    env[GATEWAY.port_env] = str(GATEWAY.port)
    http = http_port()
    env["ARXIVQA_GATEWAY_HTTP_PORT"] = str(http)
    _spawn(GATEWAY, env)
    _wait_healthy([GATEWAY], args.timeout)
    print(
        textwrap.dedent(
            f"""
            arxivqa is up
              web page      http://127.0.0.1:{http}/ui/   (search, ask, papers, citation graph)
              HTTP API      http://127.0.0.1:{http}   (OpenAPI docs: /docs, readiness: /readyz)
              gRPC gateway  {GATEWAY.target}   (arxivqa.gateway.v1.Gateway, reflection on)
              logs, pids    {RUN_DIR}
              stop with     arxivqa down   (or make down)"""
        )
    )
    return 0


def _stop_pid(name: str, pid: int, timeout: float = 20.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        print(f"  {name:<10} killed (pid {pid}; did not stop in {timeout:.0f} s)")
    else:
        print(f"  {name:<10} stopped (pid {pid})")


def cmd_down(args: argparse.Namespace) -> int:
    print("stopping the arxivqa stack")
    for proc in (GATEWAY, *reversed(SERVICES)):
        pid = _read_pid(proc.name)
        if pid:
            _stop_pid(proc.name, pid)
        _pid_file(proc.name).unlink(missing_ok=True)
    pid = _read_pid("redis")
    if pid:
        import redis

        url, _ = _redis_url()
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(url, socket_timeout=5).shutdown(nosave=False)
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _stop_pid("redis", pid)
        else:
            print(f"  {'redis':<10} stopped (pid {pid}; AOF flushed)")
    _pid_file("redis").unlink(missing_ok=True)
    return 0


def _redis_status(url: str) -> str:
    """SERVING when Redis answers PING, else UNAVAILABLE (not running) or the error."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
        return "SERVING"
    except redis.BusyLoadingError:
        return "LOADING"
    except (redis.ConnectionError, redis.TimeoutError):
        return "UNAVAILABLE"
    except redis.RedisError as exc:
        return f"ERROR ({exc})"
    finally:
        client.close()


def cmd_status(args: argparse.Namespace) -> int:
    from services.common.healthcheck import check

    url, _external = _redis_url()
    address = url.split("://", 1)[-1].split("@")[-1].rsplit("/", 1)[0]  # no password shown
    pid = _read_pid("redis")
    print(f"  {'redis':<10} {address:<16} {_redis_status(url):<12} pid {pid or '-'}")
    for proc in (*SERVICES, GATEWAY):
        pid = _read_pid(proc.name)
        _ok, status = check(proc.target, timeout=1.0)
        status = status.split(":")[0]  # SERVING, NOT_SERVING, UNAVAILABLE (not running)
        print(f"  {proc.name:<10} {proc.target:<16} {status:<12} pid {pid or '-'}")
    return 0
