"""The arxivqa command against the running stack: readable output, resumable ingestion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway_stack import API_KEY, DEAD, Stack, Target, start_gateway

from gateway.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def test_search_ask_and_paper_print_readable_results(
    stack: Stack, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    gw = ["--gateway", stack.grpc_target]
    assert main(["search", "zeros of random polynomials", "-k", "3", *gw]) == 0
    out = capsys.readouterr().out
    assert "papers for 'zeros of random polynomials' (hybrid)" in out
    assert "https://arxiv.org/abs/" in out

    assert main(["ask", target.question, *gw]) == 0
    out = capsys.readouterr().out
    assert target.answer.lower() in out.lower()
    assert target.paper_id in out and "passages read" in out

    assert main(["paper", "2212.11770", *gw]) == 0
    out = capsys.readouterr().out
    assert "https://arxiv.org/abs/2212.11770" in out and "cited by 0 · cites" in out

    assert main(["paper", "2312.99999", *gw]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def _records(path: Path, n: int) -> Path:
    with open(path, "w") as fh:
        for i in range(n):
            rec = {"id": f"2312.{99950 + i}", "title": f"Resumable paper {i}", "abstract": "x y"}
            fh.write(json.dumps(rec) + "\n")
    return path


def test_ingest_checkpoints_and_resumes(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    papers = _records(tmp_path / "papers.jsonl", 6)
    cp = tmp_path / "cp.json"
    args = ["ingest", "--papers", str(papers), "--batch-size", "2", "--checkpoint", str(cp)]
    args += ["--gateway", stack.grpc_target, "--api-key", API_KEY]
    assert main(args) == 0
    assert "ingested 6 papers" in capsys.readouterr().out
    assert list(json.loads(cp.read_text()).values()) == [6]

    assert main(args) == 0
    assert "already ingested" in capsys.readouterr().out

    # As if the previous run had stopped after two acknowledged batches.
    cp.write_text(json.dumps({k: 4 for k in json.loads(cp.read_text())}))
    assert main(args) == 0
    assert "ingested 2 papers" in capsys.readouterr().out


def test_ingest_stops_with_a_resume_hint_when_a_dependency_is_down(
    stack: Stack, tmp_path: Path
) -> None:
    broken = start_gateway(stack.services, retriever=DEAD)
    try:
        papers = _records(tmp_path / "papers.jsonl", 3)
        cp = tmp_path / "cp.json"
        with pytest.raises(SystemExit) as exc:
            main(
                [
                    *("ingest", "--papers", str(papers), "--checkpoint", str(cp)),
                    *("--gateway", broken.grpc_target, "--api-key", API_KEY),
                ]
            )
        assert "UNAVAILABLE" in str(exc.value) and "again to resume" in str(exc.value)
        assert not cp.exists()
    finally:
        broken.stop()


def test_train_reader_is_wired_to_the_training_pipeline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("services.qa.training.cli")
    with pytest.raises(SystemExit) as exc:
        main(["train-reader", "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()
