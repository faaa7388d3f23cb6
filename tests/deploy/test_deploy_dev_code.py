"""Development code stays out of the images: ``services/devtools`` (LocalRedis, random test
models, the graph's file readers) is neither in any build context nor copied, and nothing an
image carries imports it where the image would run it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from deploy_support import ALL_IMAGES, ROOT, dockerfile_path, in_build_context, read_dockerfile

DEV_MODULES = (
    "services/devtools/redis_server.py",
    "services/devtools/random_models.py",
    "services/devtools/graph_readers.py",
)
# `arxivqa up` starts a LocalRedis on a developer's machine; the gateway image runs
# gateway.server and never this command, so only a lazy (function-level) import is allowed.
LAZY_IMPORT_ALLOWED = {"gateway/supervisor.py"}


def shipped_files(name: str) -> list[str]:
    """The files an image copies from the build context (paths relative to the root)."""
    files: list[str] = []
    for stage in read_dockerfile(dockerfile_path(name)).stages:
        for op, rest in stage.instructions:
            if op != "COPY" or rest.startswith("--from"):
                continue
            for src in rest.split()[:-1]:
                path = ROOT / src
                found = sorted(path.rglob("*")) if path.is_dir() else [path]
                files += [
                    rel
                    for p in found
                    if p.is_file()
                    and in_build_context(rel := p.relative_to(ROOT).as_posix())
                    and "__pycache__" not in rel
                ]
    return files


def test_the_dockerignore_reader_follows_docker_rules() -> None:
    # Checked on known cases, so that the assertions below can fail for the right reason.
    assert in_build_context("services/common/server.py")
    assert in_build_context("gateway/ui/index.html")
    assert in_build_context("models/reader/model.safetensors")
    assert not in_build_context("models/other/model.safetensors")
    assert not in_build_context("services/common/__pycache__/server.cpython-311.pyc")
    assert not in_build_context("tests/conftest.py")
    assert not in_build_context("benchmarks/gateway.py")


@pytest.mark.parametrize("module", DEV_MODULES)
def test_dev_modules_are_outside_every_build_context(module: str) -> None:
    assert (ROOT / module).is_file(), f"{module} moved: update this test"
    assert not in_build_context(module), f".dockerignore lets {module} into the build context"


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_no_image_copies_dev_code(name: str) -> None:
    files = shipped_files(name)
    assert any(f.endswith("/server.py") for f in files), files  # the walk found the source
    dev = [f for f in files if f.startswith("services/devtools/")]
    assert dev == [], f"the {name} image would carry {dev}"
    for old in ("services/common/redis_server.py", "services/qa/random_models.py"):
        assert old not in files


def _devtools_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, run at import time) of each import of services.devtools in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    in_functions = {
        id(inner)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for inner in ast.walk(fn)
        if inner is not fn
    }
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        if any(n == "services.devtools" or n.startswith("services.devtools.") for n in names):
            found.append((node.lineno, id(node) not in in_functions))
    return found


@pytest.mark.parametrize("name", ALL_IMAGES)
def test_shipped_code_does_not_import_dev_code(name: str) -> None:
    for rel in (f for f in shipped_files(name) if f.endswith(".py")):
        for line, module_level in _devtools_imports(ROOT / rel):
            where = f"{rel}:{line} imports services.devtools, which the {name} image lacks"
            assert rel in LAZY_IMPORT_ALLOWED, where
            assert not module_level, where + " (at import time)"
