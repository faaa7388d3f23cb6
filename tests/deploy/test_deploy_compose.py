"""docker-compose.yml and .env.example: they parse and refer only to images, ports,
variables and volumes that exist. ``docker compose config`` runs too where the docker
client has the compose plugin (it needs no engine); otherwise PyYAML does the parsing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from deploy_support import (
    ALL_IMAGES,
    ROOT,
    SERVICES,
    dockerfile_path,
    environment_dict,
    healthcheck_port,
    interpolate,
    read_dockerfile,
    read_env_file,
    settings_env_names,
    variables,
)

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
STANDARD = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_SDK_DISABLED",
    "HF_HUB_OFFLINE",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text())
    return interpolate(raw, read_env_file(ENV_EXAMPLE))


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_every_variable_is_documented_in_env_example_and_none_is_stale() -> None:
    used = variables(COMPOSE.read_text())
    documented = set(read_env_file(ENV_EXAMPLE))
    assert used - documented == set(), f"used but not in .env.example: {used - documented}"
    assert documented - used == set(), f"in .env.example but unused: {documented - used}"


def test_nothing_is_required_and_the_qa_model_can_be_overridden() -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    env = read_env_file(ENV_EXAMPLE)
    interpolate(raw, env)  # the documented example is complete
    # No .env at all: every variable has a default; qa gets an empty model, which its
    # settings read as the reader shipped in the image.
    assert interpolate(raw, {})["services"]["qa"]["environment"]["ARXIVQA_QA_MODEL"] == ""
    assert env["ARXIVQA_QA_MODEL"] == ""
    assert (
        interpolate(raw, {"ARXIVQA_QA_MODEL": "x"})["services"]["qa"]["environment"][
            "ARXIVQA_QA_MODEL"
        ]
        == "x"
    )


def test_docker_compose_config_accepts_the_file() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no 'docker compose' plugin or docker-compose here; PyYAML checks only")
    base = [*cli, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE)]
    ok = subprocess.run([*base, "config", "--quiet"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    missing = subprocess.run(
        [*cli, "--env-file", "/dev/null", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode == 0, missing.stderr  # nothing is required


def test_images_are_built_from_our_dockerfiles_or_pinned(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(ALL_IMAGES) <= set(services)
    for name, svc in services.items():
        if name in ALL_IMAGES:
            build = svc["build"]
            assert build["context"] == "."
            assert (ROOT / build["dockerfile"]) == dockerfile_path(name)
            assert svc["image"].endswith(f"arxivqa-{name}:latest")
        else:
            _, _, tag = svc["image"].partition(":")
            assert tag and tag != "latest" and re.search(r"\d", tag), svc["image"]
    assert services["redis"]["image"].startswith("redis/redis-stack-server:7.4")
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one:")


def test_redis_keeps_its_data_in_a_named_volume_with_aof(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert "--appendonly yes" in redis["environment"]["REDIS_ARGS"]
    assert "redis-data:/data" in redis["volumes"]
    assert "PONG" in " ".join(redis["healthcheck"]["test"])


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for svc in compose["services"].values():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith((".", "/", "~")):
                used.add(source)
    assert used == declared, (used, declared)


def test_every_service_has_health_restart_memory_limit_and_depends_on_health(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, svc in services.items():
        assert svc.get("restart") in {"unless-stopped", "always", "on-failure"}, name
        assert svc["deploy"]["resources"]["limits"]["memory"], name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
    for name in ALL_IMAGES:
        assert "healthcheck" in services[name], name
    gateway_deps = services["gateway"]["depends_on"]
    assert {d: c["condition"] for d, c in gateway_deps.items()} == {
        s: "service_healthy" for s in SERVICES
    }
    for name in ("retriever", "graph"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_ports_agree_between_compose_env_healthcheck_and_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ALL_IMAGES:
        svc = services[name]
        env = environment_dict(svc["environment"])
        cfg = read_dockerfile(dockerfile_path(name)).config()
        port = int(env[f"ARXIVQA_{name.upper()}_PORT"])
        assert port in cfg.expose, (name, port, cfg.expose)
        assert env[f"ARXIVQA_{name.upper()}_HOST"] == "0.0.0.0"
        probe = port if name != "gateway" else int(env["ARXIVQA_GATEWAY_HTTP_PORT"])
        assert healthcheck_port(svc["healthcheck"]["test"]) == probe, name
    published = [p.rsplit(":", 1)[1] for p in services["gateway"]["ports"]]
    assert published == ["8080", "50050"]
    # The gateway reaches each service by its compose name on the port it binds.
    gw = environment_dict(services["gateway"]["environment"])
    for name in SERVICES:
        host, port = gw[f"ARXIVQA_GATEWAY_{name.upper()}_TARGET"].split(":")
        assert host == name
        assert (
            port == environment_dict(services[name]["environment"])[f"ARXIVQA_{name.upper()}_PORT"]
        )
    # Services that keep data in Redis point at the compose Redis.
    for name in ("retriever", "graph"):
        url = environment_dict(services[name]["environment"])["REDIS_URL"]
        assert url == "redis://redis:6379/0"


def test_every_environment_variable_is_read_by_that_service(compose: dict[str, Any]) -> None:
    for name in ALL_IMAGES:
        env = environment_dict(compose["services"][name]["environment"])
        known = settings_env_names(name) | STANDARD
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables its Settings do not read: {unknown}"
        assert env["OTEL_SERVICE_NAME"] == f"arxivqa-{name}"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"


def test_models_come_from_configuration(compose: dict[str, Any]) -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    qa_env = raw["services"]["qa"]["environment"]
    assert qa_env["ARXIVQA_QA_MODEL"] == "${ARXIVQA_QA_MODEL:-}"
    assert raw["services"]["embedder"]["environment"]["ARXIVQA_EMBEDDER_MODEL"] == (
        "${ARXIVQA_EMBEDDER_MODEL:-}"
    )
    for name in ("embedder", "qa"):
        mounts = compose["services"][name]["volumes"]
        assert any(m.endswith(":/models:ro") for m in mounts), mounts
        assert "hf-cache:/home/app/.cache/huggingface" in mounts
