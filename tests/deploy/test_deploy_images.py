"""Dockerfiles: shape (multi-stage, deps before source, non-root, exec form, grpc health)
and what each image copies and configures, checked against the real settings classes."""

from __future__ import annotations

import importlib

import pytest
from deploy_support import (
    ALL_IMAGES,
    ROOT,
    SERVICES,
    dockerfile_path,
    read_dockerfile,
    settings_env_names,
)

from services.common.settings import GATEWAY_HTTP_PORT, PORTS

TORCH = {"embedder", "qa"}


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_dockerfile_is_multi_stage_with_dependencies_before_source(name: str) -> None:
    df = read_dockerfile(dockerfile_path(name))
    deps = df.stage("deps")
    runs = [rest for op, rest in deps.instructions if op == "RUN"]
    copies = [rest for op, rest in deps.instructions if op == "COPY"]
    # The dependency stage sees only the two files that decide the dependency set.
    assert copies == ["pyproject.toml constraints.txt ./"], copies
    install = next(r for r in runs if "pip install" in r)
    assert f"-c constraints.txt '.[{name}]'" in install
    assert "pip uninstall -y arxivqa" in install
    if name in TORCH:
        assert "download.pytorch.org/whl/cpu" in dockerfile_path(name).read_text()
        assert "torch.__version__ == '2.13.0+cpu'" in install
    else:
        assert "torch" not in install
    # The default image is built from the venv of the deps stage plus the source only.
    cfg = df.config()
    assert any(c.startswith("--from=deps /opt/venv") for c in cfg.copies), cfg.copies
    own = "gateway/" if name == "gateway" else f"services/{name}/"
    sources = sorted(c.split()[0] for c in cfg.copies if not c.startswith("--from"))
    shipped = ["models/reader/"] if name == "qa" else []  # the reader it serves by default
    assert sources == sorted(
        ["arxivqa/", "services/__init__.py", "services/common/", own, *shipped]
    )


def test_the_deps_stage_would_install_exactly_the_pyproject_extra() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for name in ALL_IMAGES:
        assert name in extras, f"pyproject.toml has no extra [{name}] for its image"
        has_torch = any(req.startswith("torch") for req in extras[name])
        assert has_torch == (name in TORCH), f"[{name}] torch={has_torch}"
    pins = (ROOT / "constraints.txt").read_text().split()
    assert "torch==2.13.0+cpu" in pins


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_runtime_image_is_non_root_unbuffered_exec_form_with_health(name: str) -> None:
    cfg = read_dockerfile(dockerfile_path(name)).config()
    assert cfg.user and cfg.user.split(":")[0] not in {"root", "0"}
    assert cfg.env["PYTHONUNBUFFERED"] == "1"
    assert cfg.env["PATH"].startswith("/opt/venv/bin:")
    assert cfg.workdir == "/app" and cfg.env["PYTHONPATH"] == "/app"
    module = "gateway.server" if name == "gateway" else f"services.{name}.server"
    assert cfg.entrypoint == ["python", "-m", module]
    assert importlib.util.find_spec(module) is not None
    assert PORTS[name] in cfg.expose
    prefix = f"ARXIVQA_{name.upper()}_"
    assert cfg.env[f"{prefix}HOST"] == "0.0.0.0"
    assert cfg.env[f"{prefix}PORT"] == str(PORTS[name])
    health = " ".join(cfg.healthcheck)
    if name == "gateway":
        assert cfg.env["ARXIVQA_GATEWAY_HTTP_PORT"] == str(GATEWAY_HTTP_PORT)
        assert GATEWAY_HTTP_PORT in cfg.expose
        assert cfg.healthcheck[:3] == ["CMD", "python", "-c"] and "/healthz" in health
        assert "curl" not in health and "wget" not in health
    else:
        # grpc.health.v1 on the port the service really binds, not a TCP poke.
        assert cfg.healthcheck[0] == "CMD-SHELL"
        assert f'python -m services.common.healthcheck "127.0.0.1:${{{prefix}PORT}}"' in health
    for option in ("interval", "timeout", "start-period", "retries"):
        assert option in cfg.healthcheck_options


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_every_arxivqa_variable_an_image_sets_is_a_real_setting(name: str) -> None:
    cfg = read_dockerfile(dockerfile_path(name)).config("with-model" if name in TORCH else None)
    known = settings_env_names(name)
    ours = {k for k in cfg.env if k.startswith("ARXIVQA_")}
    assert ours, "the image sets no ARXIVQA_* variable"
    assert ours <= known, f"not read by {name}'s Settings: {sorted(ours - known)}"


@pytest.mark.parametrize("name", sorted(TORCH))
def test_model_weights_only_with_the_opt_in_build_target(name: str) -> None:
    df = read_dockerfile(dockerfile_path(name))
    default, with_model = df.config(), df.config("with-model")
    var = f"ARXIVQA_{name.upper()}_MODEL"
    assert var not in default.env, "the default image must take its model from configuration"
    assert with_model.env[var].startswith("/home/app/models/")
    arg = "EMBEDDER_MODEL" if name == "embedder" else "QA_MODEL"
    stage = df.stage("with-model")
    assert (("ARG", f'{arg}=""')) in stage.instructions
    run = next(rest for op, rest in stage.instructions if op == "RUN")
    assert f'test -n "${{{arg}}}"' in run and "snapshot_download" in run
    # The default target is the last stage and adds nothing to the app stage.
    assert df.stages[-1].name == "runtime" and df.stages[-1].base == "app"
    assert df.stages[-1].instructions == []


def test_dockerignore_keeps_weights_data_and_venv_out_of_the_context() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: ignore everything, then re-include"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert included == {
        "pyproject.toml",
        "constraints.txt",
        "arxivqa",
        "services",
        "gateway",
        "models/reader",
        "models/reader/*.safetensors",
    }
    for pattern in ("**/*.safetensors", "**/*.bin", "**/__pycache__"):
        assert pattern in lines
    # The one weights file let back in is the shipped reader's, and only after the rule that
    # keeps every other *.safetensors out (the last matching line wins).
    assert lines.index("!models/reader/*.safetensors") > lines.index("**/*.safetensors")
    # Everything an image COPYs from the context is inside what .dockerignore lets through.
    for name in ALL_IMAGES:
        for op, rest in (
            (op, rest)
            for st in read_dockerfile(dockerfile_path(name)).stages
            for op, rest in st.instructions
        ):
            if op == "COPY" and not rest.startswith("--from"):
                for src in rest.split()[:-1]:
                    path = src.rstrip("/")
                    assert any(path == inc or path.startswith(inc + "/") for inc in included), (
                        f"{name} copies {src}, excluded by .dockerignore"
                    )
                    assert (ROOT / src).exists(), f"{name} copies {src}, which does not exist"


def test_services_carry_only_their_own_code() -> None:
    for name in SERVICES:
        text = dockerfile_path(name).read_text()
        others = [o for o in (*SERVICES, "gateway") if o != name]
        for other in others:
            assert f"COPY services/{other}/" not in text and "COPY gateway/" not in text
