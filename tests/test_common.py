"""The shared runtime: settings errors, health lifecycle, reflection, graceful stop; arXiv ids."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import example, given
from hypothesis import strategies as st

from services.common.arxiv import ARXIV_ID_PATTERN, Paper, canonical_id, parse_paper, year_of_id
from services.common.errors import InvalidArgument
from services.common.healthcheck import check
from services.common.server import GrpcService
from services.common.settings import DATA_DIR_ENV, ServerSettings, data_dir, load_settings


def _service(warm_up=None) -> GrpcService:  # type: ignore[no-untyped-def]
    return GrpcService(
        ServerSettings(port=0, grace_seconds=5),
        name="t",
        service_names=["test.v1.Nothing"],
        add_servicers=lambda server: None,
        warm_up=warm_up,
    )


def test_bad_setting_exits_with_the_variable_name(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ARXIVQA_PORT", "not-a-port")
    with pytest.raises(SystemExit) as exc:
        load_settings(ServerSettings)
    assert exc.value.code == 2
    assert "ARXIVQA_PORT" in capsys.readouterr().err


def test_the_data_directory_is_the_variable_else_dot_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # One rule for every process: the services (relative to their working directory) and
    # `arxivqa up` (relative to the repository root).
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_dir() == tmp_path.resolve() / ".data"
    assert data_dir(tmp_path / "repo") == tmp_path.resolve() / "repo" / ".data"
    monkeypatch.setenv(DATA_DIR_ENV, "elsewhere")
    assert data_dir(tmp_path / "repo") == tmp_path.resolve() / "elsewhere"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(DATA_DIR_ENV, "~/data")
    assert data_dir() == tmp_path.resolve() / "home" / "data"


def test_not_serving_until_warm_up_finishes_then_serving() -> None:
    gate = threading.Event()
    svc = _service(warm_up=lambda: gate.wait(10)).start()
    try:
        target = f"127.0.0.1:{svc.port}"
        assert check(target)[1] == "NOT_SERVING"
        assert check(target, "test.v1.Nothing")[1] == "NOT_SERVING"
        gate.set()
        svc.wait_until_ready(10)
        assert check(target) == (True, "SERVING")
        assert check(target, "test.v1.Nothing") == (True, "SERVING")
    finally:
        svc.stop(0).wait()


def test_failed_warm_up_stays_not_serving_and_reports_the_error() -> None:
    def boom() -> None:
        raise RuntimeError("weights missing")

    svc = _service(warm_up=boom).start()
    try:
        with pytest.raises(RuntimeError, match="weights missing"):
            svc.wait_until_ready(10)
        assert check(f"127.0.0.1:{svc.port}")[1] == "NOT_SERVING"
    finally:
        svc.stop(0).wait()


def test_reflection_lists_health_and_the_service() -> None:
    svc = _service().start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{svc.port}") as ch:
            stub = reflection_pb2_grpc.ServerReflectionStub(ch)
            req = reflection_pb2.ServerReflectionRequest(list_services="")
            (resp,) = list(stub.ServerReflectionInfo(iter([req])))
            names = {s.name for s in resp.list_services_response.service}
        assert {"test.v1.Nothing", "grpc.health.v1.Health"} <= names
    finally:
        svc.stop(0).wait()


def test_stop_goes_not_serving_before_the_server_closes() -> None:
    svc = _service().start()
    svc.wait_until_ready(10)
    with grpc.insecure_channel(f"127.0.0.1:{svc.port}") as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        stopped = svc.stop(grace=2)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
    assert stopped.wait(5)
    time.sleep(0.05)


# -- arXiv ids (services.common.arxiv: one vocabulary for the graph, the retriever's parser
# and the gateway) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("1412.6980", "1412.6980"),
        ("1412.6980v2", "1412.6980"),
        ("arXiv:2301.01234v11", "2301.01234"),
        (" 0704.0001 ", "0704.0001"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("math.GT/0309136v1", "math.GT/0309136"),
        ("cond-mat/0001001", "cond-mat/0001001"),
    ],
)
def test_valid_arxiv_ids_are_canonicalised(raw: str, canonical: str) -> None:
    assert canonical_id(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1412.698",  # too short
        "2301.1234",  # 4 digits after 2014
        "1105.01141",  # 5 digits before 2015 (a typo present in the shared data)
        "0703.0001",  # before the new scheme started
        "1413.0001",  # month 13
        "hep-th/9901",
        "hep-th/0813001",  # month 13
        "hep-th/0901001",  # old style ended in 2007
        "1412.6980 OR x",
        "1412.6980v",
        "1412.6980v2v3",
        "../etc/passwd",
        "\u0661\u0664\u0661\u0662.\u0666\u0669\u0668\u0660",  # 1412.6980 in Arabic-Indic digits
    ],
)
def test_malformed_ids_are_invalid_argument_naming_the_id(raw: str) -> None:
    with pytest.raises(InvalidArgument, match="malformed arXiv id") as exc:
        canonical_id(raw)
    assert repr(raw) in str(exc.value)


def test_year_comes_from_the_id_versioned_or_not() -> None:
    assert year_of_id("1412.6980") == year_of_id("1412.6980v3") == 2014
    assert year_of_id("hep-th/9901001") == year_of_id("hep-th/9901001v2") == 1999
    assert year_of_id("math/0101001") == 2001
    assert year_of_id("math.GT/0309136") == 2003
    # The shape is enough for a year, even where canonical_id rejects the digit count.
    assert year_of_id("1105.01141") == 2011
    assert year_of_id("weird") is None


def test_a_versioned_record_keeps_its_id_and_joins_on_the_canonical_one() -> None:
    """What the retriever's parser keeps (the id as given, version included) and what the
    graph stores (the versionless id) meet on canonical_id: the join key of the two."""
    paper = parse_paper({"id": "2101.00001v2", "title": "T"})
    assert isinstance(paper, Paper)
    assert paper.id == "2101.00001v2" and paper.year == 2021
    assert canonical_id(paper.id) == canonical_id("2101.00001") == "2101.00001"


def _accepted(raw: str) -> bool:
    try:
        canonical_id(raw)
    except InvalidArgument:
        return False
    return True


# Near-ids: the right shapes with dates and digit counts around the limits, plus shapes
# with any digits.
_VERSIONS = st.sampled_from(["", "v1", "v12"])
NEAR_IDS = st.one_of(
    st.builds(
        lambda yy, mm, number, v: f"{yy:02d}{mm:02d}.{number}{v}",
        st.integers(0, 99),
        st.integers(0, 13),
        st.from_regex(r"\A[0-9]{4,5}\Z"),
        _VERSIONS,
    ),
    st.builds(
        lambda archive, sc, yy, mm, n, v: f"{archive}{sc}/{yy:02d}{mm:02d}{n:03d}{v}",
        st.sampled_from(["hep-th", "math", "cond-mat", "cs", "Math", "hep--th"]),
        st.sampled_from(["", ".GT", ".gt", ".AI-x", ".", ".G1"]),
        st.integers(0, 99),
        st.integers(0, 13),
        st.integers(0, 999),
        _VERSIONS,
    ),
    st.from_regex(
        r"\A([0-9]{4}\.[0-9]{3,6}|[a-z]{2,5}(-[a-z]{2,3})?(\.[A-Za-z]{1,3})?/[0-9]{6,8})"
        r"(v[0-9]{1,2})?\Z"
    ),
)


@given(NEAR_IDS)
@example("1412.6980v2")
@example("math.GT/0309136")
@example("1105.01141")
@example("hep-th/0813001")
def test_the_id_pattern_accepts_exactly_what_canonical_id_accepts(raw: str) -> None:
    """ARXIV_ID_PATTERN (for pydantic / OpenAPI validators) and canonical_id agree."""
    assert (re.fullmatch(ARXIV_ID_PATTERN, raw) is not None) == _accepted(raw), raw
