"""Every image's ENTRYPOINT, run as a plain process, starts its service and passes the
image's own HEALTHCHECK command.

The process runs from a copy of exactly the files the Dockerfile COPYs, laid out as under
its WORKDIR, with this virtualenv standing in for the image's (minus the editable install
of the project, which the image does not have either). The environment is what the
container would get: the Dockerfile's ENV, then the
docker-compose service's ``environment`` (interpolated with .env.example), with only what
differs outside a container changed: ports are free ones, REDIS_URL is the test Redis, the
gateway's targets are the ports the services got here, the QA model is a tiny one built
here, paths under /app, /opt/venv and /home/app map to the repository, this virtualenv and
a temporary home, and traces are not exported (no Jaeger). Processes start in the compose
dependency order, each only once the ones it depends on pass their health check, like
``depends_on: condition: service_healthy``. The embedder loads the real default model.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import (
    ALL_IMAGES,
    ROOT,
    dockerfile_path,
    environment_dict,
    interpolate,
    read_dockerfile,
    read_env_file,
)

from services.devtools.random_models import save_random_bert
from services.devtools.redis_server import free_port

pytestmark = pytest.mark.slow

START_TIMEOUT = {"embedder": 150.0, "qa": 90.0}  # others: 60 s


def build_tiny_qa_model(path: Path) -> Path:
    """A 1-layer BERT with a QA head and a fast tokenizer: loads like a real reader model."""
    return save_random_bert(path)


@dataclass
class Proc:
    name: str
    env: dict[str, str]
    command: list[str]
    health: list[str]
    log_path: Path
    cwd: Path
    popen: subprocess.Popen[bytes] | None = None
    healthy: bool = False
    error: str = ""
    health_output: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def log_tail(self, lines: int = 25) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def image_tree(name: str, dest: Path) -> Path:
    """The files the image COPYs from the build context, laid out as under its WORKDIR.

    Running from this tree (not the repository) shows the image carries everything its
    service imports: a module left out of the COPY lines fails here as it would in Docker.
    """
    cfg = read_dockerfile(dockerfile_path(name)).config()
    assert cfg.workdir == "/app"
    for line in cfg.copies:
        if line.startswith("--from"):
            continue
        *sources, target = line.split()
        for src in sources:
            origin = ROOT / src
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    dest / target,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile"),
                )
            else:
                (dest / target).mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, dest / target / origin.name)
    return dest


# This virtualenv has the project installed in editable mode; the images do not (their
# deps stage uninstalls it). Dropping the editable finder makes imports come only from the
# image tree, as in the container.
_NO_EDITABLE = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
"""


def _map_path(value: str, home: Path, app: Path) -> str:
    venv = Path(sys.executable).parent.parent
    return (
        value.replace("/opt/venv", str(venv))
        .replace("/home/app", str(home))
        .replace("/app", str(app))
    )


def process_environment(
    name: str, compose: dict[str, Any], overrides: dict[str, str], home: Path, app: Path
) -> tuple[dict[str, str], list[str], list[str]]:
    """(environment, entrypoint command, healthcheck argv) for one image as a process."""
    cfg = read_dockerfile(dockerfile_path(name)).config()
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    for key, value in cfg.env.items():
        env[key] = _map_path(value.replace("$PATH", env["PATH"]), home, app)
    for key, value in environment_dict(compose["services"][name].get("environment")).items():
        if value is not None:
            env[key] = _map_path(value, home, app)
    env.update(overrides)
    shim = home / "no-editable"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(_NO_EDITABLE)
    env["PYTHONPATH"] = os.pathsep.join([str(shim), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable if a == "python" else a for a in cfg.entrypoint]
    if cfg.healthcheck[0] == "CMD-SHELL":
        health = ["/bin/sh", "-c", cfg.healthcheck[1]]
    else:
        health = [sys.executable if a == "python" else a for a in cfg.healthcheck[1:]]
    return env, command, health


def start_order(compose: dict[str, Any]) -> list[str]:
    """The images in an order where everything a service depends on comes before it."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in compose["services"][name].get("depends_on", {}) or {}:
            if dep in ALL_IMAGES:
                visit(dep)
        order.append(name)

    for name in ALL_IMAGES:
        visit(name)
    return order


def wait_healthy(proc: Proc, timeout: float) -> None:
    assert proc.popen is not None
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            proc.error = f"exited with {proc.popen.returncode} before passing its health check"
            return
        result = subprocess.run(
            proc.health, env=proc.env, cwd=proc.cwd, capture_output=True, text=True, timeout=30
        )
        proc.health_output = (result.stdout + result.stderr).strip()
        if result.returncode == 0:
            proc.healthy = True
            proc.timings["healthy_after_s"] = round(time.monotonic() - t0, 1)
            return
        time.sleep(1.0)
    proc.error = f"not healthy within {timeout:.0f} s (last probe: {proc.health_output})"


def stop(proc: Proc, timeout: float = 30.0) -> int | None:
    if proc.popen is None or proc.popen.poll() is not None:
        return proc.popen.returncode if proc.popen else None
    proc.popen.send_signal(signal.SIGTERM)
    try:
        return proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait()
        return None


@pytest.fixture(scope="module")
def stack(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Proc]]:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()

    tmp = tmp_path_factory.mktemp("deploy-stack")
    compose_raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dotenv = read_env_file(ROOT / ".env.example")
    # .env.example leaves the model empty: qa serves the reader its image carries. A tree
    # without models/reader gets a tiny random reader instead (entrypoints only).
    if not (ROOT / "models" / "reader" / "config.json").is_file():
        dotenv["ARXIVQA_QA_MODEL"] = str(build_tiny_qa_model(tmp / "tiny-qa"))
    compose = interpolate(compose_raw, dotenv)

    ports = {name: free_port() for name in ALL_IMAGES}
    http_port = free_port()
    common = {
        "REDIS_URL": redis_server.url,
        "OTEL_TRACES_EXPORTER": "none",
        "HF_HUB_OFFLINE": "1",  # nothing may come from a model hub in tests
        "ARXIVQA_GATEWAY_HTTP_PORT": str(http_port),
    }
    procs: dict[str, Proc] = {}
    for name in start_order(compose_raw):
        home = tmp / f"home-{name}"
        home.mkdir()
        overrides = {**common, f"ARXIVQA_{name.upper()}_PORT": str(ports[name])}
        if name == "gateway":
            for dep in ("embedder", "retriever", "qa", "graph"):
                overrides[f"ARXIVQA_GATEWAY_{dep.upper()}_TARGET"] = f"127.0.0.1:{ports[dep]}"
        app = image_tree(name, tmp / f"app-{name}")
        env, command, health = process_environment(name, compose, overrides, home, app)
        procs[name] = Proc(name, env, command, health, tmp / f"{name}.log", app)

    try:
        for name in start_order(compose_raw):
            proc = procs[name]
            deps = compose_raw["services"][name].get("depends_on", {}) or {}
            broken = [d for d in deps if d in procs and not procs[d].healthy]
            if broken:
                proc.error = f"not started: its dependencies {broken} are not healthy"
                continue
            with proc.log_path.open("wb") as log:
                proc.popen = subprocess.Popen(
                    proc.command, env=proc.env, cwd=proc.cwd, stdout=log, stderr=subprocess.STDOUT
                )
            wait_healthy(proc, START_TIMEOUT.get(name, 60.0))
        procs["gateway"].env["_HTTP"] = f"http://127.0.0.1:{http_port}"
        yield procs
    finally:
        for name in reversed(start_order(compose_raw)):
            stop(procs[name])


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_entrypoint_starts_and_passes_the_image_healthcheck(
    stack: dict[str, Proc], name: str, record_testsuite_property: Any
) -> None:
    proc = stack[name]
    assert proc.healthy, f"{name}: {proc.error}\n--- log ---\n{proc.log_tail()}"
    # The code that ran is the image's copy, not the repository's.
    probe = subprocess.run(
        [sys.executable, "-c", f"import {proc.command[-1]} as m; print(m.__file__)"],
        env=proc.env,
        cwd=proc.cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip().startswith(str(proc.cwd)), probe.stdout + probe.stderr
    # Start to first passing probe, in the JUnit report (docs/deploy.md quotes it).
    record_testsuite_property(f"{name}_healthy_after_s", proc.timings["healthy_after_s"])
    # The probe really answers for this process: SERVING over grpc.health.v1 or HTTP 200.
    if name != "gateway":
        assert "SERVING" in proc.health_output


def _http(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_gateway_is_ready_and_answers_a_search_and_an_ask_over_http(
    stack: dict[str, Proc],
) -> None:
    """The same checks as the compose smoke workflow, against the processes."""
    gateway = stack["gateway"]
    assert gateway.healthy, gateway.error
    base = gateway.env["_HTTP"]
    status, ready = _http(base, "GET", "/readyz")
    assert status == 200 and ready["ready"], ready
    records = json.loads((ROOT / "deploy" / "smoke" / "papers.json").read_text())
    status, ingested = _http(base, "POST", "/v1/ingest", records)
    assert status == 200, ingested
    assert ingested["papers_written"] == len(records["records"]) and not ingested["errors"]
    query = {"query": "graph neural network molecules", "k": 3}
    status, found = _http(base, "POST", "/v1/search", query)
    assert status == 200, found
    assert found["hits"][0]["paper"]["id"] == "2101.00001", found
    status, asked = _http(
        base, "POST", "/v1/ask", {"question": "What does the paper propose?", "top_k": 1}
    )
    assert status == 200, asked
    assert asked["passages"] and asked["answers_available"] is True, asked


def test_sigterm_stops_every_service_cleanly(stack: dict[str, Proc]) -> None:
    """docker stop sends SIGTERM: each process drains and exits 0 within its grace period."""
    codes = {}
    for name in reversed(list(stack)):
        proc = stack[name]
        if proc.popen is None:
            continue
        codes[name] = stop(proc, timeout=30.0)
    assert codes and all(code == 0 for code in codes.values()), codes


def test_qa_image_carries_the_shipped_reader_and_serves_it_by_default(tmp_path: Path) -> None:
    """`docker run arxivqa-qa` with no ARXIVQA_QA_MODEL: the image's own reader, verified."""
    if not (ROOT / "models" / "reader" / "config.json").is_file():
        pytest.skip("models/reader (the shipped reader) is not in this tree")
    app = image_tree("qa", tmp_path / "app")
    compose = {"services": {"qa": {"environment": {}}}}
    env, _, _ = process_environment("qa", compose, {}, tmp_path, app)
    assert "ARXIVQA_QA_MODEL" not in env
    probe = (
        "import pathlib; from services.qa.server import Settings; from services.qa.reader "
        "import verify_model_dir; s = Settings(); "
        "assert verify_model_dir(pathlib.Path(s.model))['weights_sha256']; print(s.model)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=app, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(app / "models" / "reader")


def test_qa_image_without_its_reader_stops_at_start_naming_the_variable(
    tmp_path: Path,
) -> None:
    """An image whose shipped reader is missing: a clear exit, not a hung container."""
    app = image_tree("qa", tmp_path / "app")
    shutil.rmtree(app / "models" / "reader", ignore_errors=True)
    compose = {"services": {"qa": {"environment": {}}}}
    env, command, _ = process_environment("qa", compose, {}, tmp_path, app)
    assert "ARXIVQA_QA_MODEL" not in env
    done = subprocess.run(command, env=env, cwd=app, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "ARXIVQA_QA_MODEL" in done.stderr
