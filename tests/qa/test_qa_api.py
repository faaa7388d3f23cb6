"""The qa gRPC service: real server on port 0, real (tiny) models, real channel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from arxivqa.qa.v1 import qa_pb2, qa_pb2_grpc
from services.common.grpc_errors import field_violations
from services.common.healthcheck import check
from services.common.settings import load_settings
from services.qa.server import SERVICE_NAME, Settings, create_server

ROOT = Path(__file__).resolve().parents[2]


def _settings(model: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "model": str(model),
        "port": 0,
        "max_seq_len": 64,
        "stride": 16,
        "max_passages": 3,
        "max_total_chars": 500,
        "max_question_chars": 40,
        "grace_seconds": 1,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served(crafted_qa_model: Path) -> Iterator[tuple[qa_pb2_grpc.ReaderStub, int]]:
    svc, port = create_server(_settings(crafted_qa_model))
    svc.start()
    try:
        svc.wait_until_ready(60)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield qa_pb2_grpc.ReaderStub(channel), port
    finally:
        svc.stop(0).wait()


def _req(question: str = "who ran?", *texts: str, **options: object) -> qa_pb2.AnswerRequest:
    return qa_pb2.AnswerRequest(
        question=question,
        passages=[
            qa_pb2.Passage(id=f"p{i}", paper_id=f"2101.0000{i}", text=t, title=f"T{i}")
            for i, t in enumerate(texts)
        ],
        options=qa_pb2.AnswerOptions(**options),  # type: ignore[arg-type]
    )


def test_answer_over_grpc(served, crafted_scores) -> None:  # type: ignore[no-untyped-def]
    stub, port = served
    assert check(f"127.0.0.1:{port}", SERVICE_NAME) == (True, "SERVING")
    texts = ("A lion chased the wolf.", "First. The zebra outran a tiger. Last.")
    resp = stub.Answer(_req("who ran?", *texts, top_k=2), timeout=10)
    assert [a.text for a in resp.answers] == ["zebra outran a tiger", "lion chased the wolf"]
    best = resp.answers[0]
    assert (best.passage_id, best.paper_id, best.passage_index, best.title) == (
        "p1",
        "2101.00001",
        1,
        "T1",
    )
    assert texts[1][best.start : best.end] == best.text
    assert best.evidence == "The zebra outran a tiger."
    assert texts[1][best.evidence_start : best.evidence_end] == best.evidence
    assert best.score == pytest.approx(crafted_scores.strong, abs=0.5)
    assert not resp.HasField("no_answer_score") and not resp.no_answer
    assert resp.windows == 2 and resp.model_id


def test_no_answer_and_min_score_over_grpc(served) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    resp = stub.Answer(_req("?", "Nothing of note here.", allow_no_answer=True), timeout=10)
    assert resp.no_answer and not resp.answers and resp.HasField("no_answer_score")
    texts = ("A lion chased the wolf.", "The zebra outran a tiger.")
    resp = stub.Answer(_req("?", *texts, top_k=5, min_score=100.0), timeout=10)
    assert [a.text for a in resp.answers] == ["zebra outran a tiger"]


def test_model_info(served) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    info = stub.GetModelInfo(qa_pb2.GetModelInfoRequest(), timeout=5)
    assert info.architecture == "BertForQuestionAnswering"
    assert (info.max_seq_len, info.stride, info.max_passages) == (64, 16, 3)
    assert info.device == "cpu" and info.quantized  # the default: int8 ONNX export


def test_reflection_lists_the_reader(served) -> None:  # type: ignore[no-untyped-def]
    _, port = served
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        req = reflection_pb2.ServerReflectionRequest(list_services="")
        (resp,) = list(stub.ServerReflectionInfo(iter([req])))
    assert SERVICE_NAME in {s.name for s in resp.list_services_response.service}


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (_req("", "text"), "question is empty"),
        (_req("who?"), "passages is empty"),
        (_req("who?", "fine", " "), r"passages\[1\]\.text is empty"),
        (_req("who?", "a", "b", "c", "d"), "too many passages: 4; at most 3"),
        (_req("who?", "x" * 300, "y" * 300), "600 characters in all; at most 500"),
        (_req("w" * 41, "text"), "question is 41 characters; at most 40"),
        (_req("who?", "text", top_k=1000), "top_k must be in"),
        (_req("who?", "text", max_answer_tokens=-1), "max_answer_tokens must be in"),
    ],
)
def test_bad_input_is_invalid_argument(served, request_, message) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    with pytest.raises(grpc.RpcError) as err:
        stub.Answer(request_, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert re.search(message, err.value.details())


def test_duplicate_passage_ids_are_invalid(served) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    req = qa_pb2.AnswerRequest(
        question="q", passages=[qa_pb2.Passage(id="x", text="a"), qa_pb2.Passage(id="x", text="b")]
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.Answer(req, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "passages[1].id 'x' repeats passages[0].id" in err.value.details()
    # the field at fault also travels typed, as a google.rpc.BadRequest field violation
    assert field_violations(err.value) == [("passages[1].id", err.value.details())]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_req("", "text"), "question"),
        (_req("who?", "text", " "), "passages[1].text"),
        (_req("who?", "text", top_k=1000), "top_k"),
        (_req("who?", "a", "b", "c", "d"), "passages"),
    ],
)
def test_bad_input_names_the_field_in_a_bad_request_detail(served, request_, field) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    with pytest.raises(grpc.RpcError) as err:
        stub.Answer(request_, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(err.value)] == [field]


def test_a_span_is_recorded_under_the_rpc(crafted_qa_model: Path, span_exporter) -> None:  # type: ignore[no-untyped-def]
    svc, port = create_server(_settings(crafted_qa_model), tracer_provider=span_exporter.provider)
    svc.start()
    try:
        svc.wait_until_ready(60)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            qa_pb2_grpc.ReaderStub(ch).Answer(_req("who?", "zebra ran to a tiger", "x"), timeout=10)
    finally:
        svc.stop(0).wait()
    spans = span_exporter.finished()
    (rpc,) = [s for s in spans if s.name == f"/{SERVICE_NAME}/Answer"]
    reads = [s for s in spans if s.name == "qa.read" and s.parent is not None]
    (read,) = reads
    assert read.parent.span_id == rpc.context.span_id
    assert read.context.trace_id == rpc.context.trace_id
    assert read.attributes["arxivqa.qa.model"] == str(crafted_qa_model)
    assert read.attributes["arxivqa.qa.passages"] == 2
    assert read.attributes["arxivqa.qa.windows"] == 2
    assert read.attributes["arxivqa.qa.answers"] >= 1


def test_not_a_qa_model_stays_not_serving_and_answers_unavailable(base_model: Path) -> None:
    svc, port = create_server(_settings(base_model))
    svc.start()
    try:
        with pytest.raises(Exception, match="not an extractive QA model"):
            svc.wait_until_ready(60)
        assert check(f"127.0.0.1:{port}", SERVICE_NAME)[1] == "NOT_SERVING"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            with pytest.raises(grpc.RpcError) as err:
                qa_pb2_grpc.ReaderStub(ch).Answer(_req("who?", "text"), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "still loading" in err.value.details()
    finally:
        svc.stop(0).wait()


def test_unset_or_blank_model_is_the_shipped_reader(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from services.qa import server

    if not (server.SHIPPED_READER / "config.json").is_file():
        pytest.skip("models/reader (the shipped reader) is not in this tree")
    monkeypatch.delenv("ARXIVQA_QA_MODEL", raising=False)
    assert load_settings(Settings).model == str(server.SHIPPED_READER)
    monkeypatch.setenv("ARXIVQA_QA_MODEL", "  ")
    assert load_settings(Settings).model == str(server.SHIPPED_READER)


def test_missing_shipped_reader_stops_with_the_variable_name(  # type: ignore[no-untyped-def]
    monkeypatch, capsys, tmp_path
) -> None:
    from services.qa import server

    monkeypatch.setattr(server, "SHIPPED_READER", tmp_path / "models" / "reader")
    monkeypatch.setenv("ARXIVQA_QA_MODEL", "")  # blank = the shipped reader
    with pytest.raises(SystemExit) as exc:
        load_settings(Settings)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "ARXIVQA_QA_MODEL" in err and "shipped reader" in err


def test_bad_stride_setting_is_refused(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ARXIVQA_QA_MODEL", "/models/x")
    monkeypatch.setenv("ARXIVQA_QA_MAX_SEQ_LEN", "128")
    monkeypatch.setenv("ARXIVQA_QA_STRIDE", "64")
    with pytest.raises(SystemExit):
        load_settings(Settings)
    assert "stride (64) must be less than half of max_seq_len (128)" in capsys.readouterr().err


@pytest.mark.slow
def test_server_process_refuses_to_start_with_a_non_qa_model(base_model: Path) -> None:
    env = {
        **os.environ,
        "ARXIVQA_QA_MODEL": str(base_model),
        "ARXIVQA_QA_PORT": "0",
        "OTEL_SDK_DISABLED": "true",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "services.qa.server"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 1
    assert "qa: failed to start" in proc.stderr
    assert "not an extractive QA model" in proc.stderr
