"""The retriever over gRPC: real server on port 0, real Redis Stack, real Kaggle records."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from arxivqa.retriever.v1 import retriever_pb2 as pb
from arxivqa.retriever.v1 import retriever_pb2_grpc
from services.common.arxiv import Paper, read_fulltext, read_papers
from services.common.healthcheck import check
from services.devtools.redis_server import LocalRedis
from services.retriever.server import SERVICE_NAME, Settings, create_server

DIM = 16


def vec(key: str) -> list[float]:
    """A deterministic unit vector per key (the retriever does not care where vectors come from)."""
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).tolist()


def to_pb(p: Paper, vector: list[float] | None = None) -> pb.Paper:
    return pb.Paper(
        id=p.id,
        title=p.title,
        abstract=p.abstract,
        authors=p.authors,
        categories=p.categories,
        year=p.year or 0,
        update_date=p.update_date or "",
        vector=vec(p.id) if vector is None else vector,
    )


class Running:
    def __init__(self, redis_url: str, tracer_provider=None) -> None:  # type: ignore[no-untyped-def]
        settings = Settings(port=0, redis_url=redis_url, dim=DIM, redis_wait_seconds=10)
        self.service, self.port = create_server(settings, tracer_provider=tracer_provider)
        self.service.start()
        self.service.wait_until_ready(30)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = retriever_pb2_grpc.RetrieverStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.service.stop(0).wait()


@pytest.fixture
def server(redis_url: str, span_exporter) -> Iterator[Running]:  # type: ignore[no-untyped-def]
    running = Running(redis_url, span_exporter.provider)
    yield running
    running.close()


def upsert(stub, papers=(), passages=(), batch: int = 50) -> pb.UpsertResponse:  # type: ignore[no-untyped-def]
    papers, passages = list(papers), list(passages)

    def requests() -> Iterator[pb.UpsertRequest]:
        for i in range(0, len(papers), batch):
            yield pb.UpsertRequest(papers=papers[i : i + batch])
        for i in range(0, len(passages), batch):
            yield pb.UpsertRequest(passages=passages[i : i + batch])

    return stub.Upsert(requests(), timeout=60)


def test_serving_after_warm_up(server: Running) -> None:
    assert check(f"127.0.0.1:{server.port}", SERVICE_NAME) == (True, "SERVING")


def test_round_trip_of_real_kaggle_records(server: Running, shared_data: Path) -> None:
    papers = [p for _, p in read_papers(shared_data / "arxiv" / "kaggle_sample_200.jsonl")]
    assert all(isinstance(p, Paper) for p in papers)
    records = [to_pb(p) for p in papers]  # type: ignore[arg-type]
    records.insert(100, pb.Paper(id="broken", title="wrong size", vector=[1.0, 2.0]))
    reply = upsert(server.stub, records)
    assert reply.papers_written == 200
    [err] = reply.errors
    assert (err.kind, err.index, err.id, err.code) == (
        pb.RECORD_KIND_PAPER,
        100,
        "broken",
        "INVALID_ARGUMENT",
    )

    got = server.stub.GetPapers(
        pb.GetPapersRequest(ids=[p.id for p in papers], include_vectors=True)
    )
    assert len(got.papers) == 200
    for want, have in zip(records[:100] + records[101:], got.papers, strict=True):
        assert have.id == want.id and have.title == want.title
        assert have.abstract == want.abstract
        assert list(have.authors) == list(want.authors)
        assert list(have.categories) == list(want.categories)
        assert (have.year, have.update_date) == (want.year, want.update_date)
        assert np.allclose(have.vector, want.vector)

    stats = server.stub.GetStats(pb.GetStatsRequest())
    assert (stats.papers, stats.passages, stats.dimension) == (200, 0, DIM)
    assert stats.papers_index == "arxivqa:papers:v1"

    first = papers[0]
    assert isinstance(first, Paper)
    reply = server.stub.Search(
        pb.SearchRequest(
            mode=pb.SEARCH_MODE_HYBRID,
            query_text="prompt diphoton production cross sections Tevatron",
            query_vector=vec(first.id),
            k=5,
        )
    )
    top = reply.hits[0]
    assert top.id == "0704.0001" and top.score > 0
    assert (top.vector.rank, top.text_match.rank) == (1, 1)
    assert top.vector.score == pytest.approx(1.0, abs=1e-5)
    assert list(top.authors) == list(first.authors)

    by_cat = server.stub.Search(
        pb.SearchRequest(
            mode=pb.SEARCH_MODE_VECTOR,
            query_vector=vec("anything"),
            filters=pb.Filters(categories=["math.CO"], year_min=2007, year_max=2007),
            k=1000,
        )
    )
    want_ids = {
        p.id
        for p in papers
        if isinstance(p, Paper) and "math.CO" in p.categories and p.year == 2007
    }
    assert want_ids and {h.id for h in by_cat.hits} == want_ids


def test_passages_from_full_text(server: Running, shared_data: Path) -> None:
    arxiv = shared_data / "arxiv"
    papers = [p for _, p in read_papers(arxiv / "unarxive_sample_papers.jsonl")][:3]
    texts = [ps for _, ps in read_fulltext(arxiv / "unarxive_sample_fulltext.jsonl")]
    wanted = {p.id for p in papers if isinstance(p, Paper)}
    passages = [
        pb.Passage(
            paper_id=ps.paper_id,
            ordinal=ps.ordinal,
            section=ps.section,
            text=ps.text,
            vector=vec(f"{ps.paper_id}#{ps.ordinal}"),
        )
        for group in texts
        if isinstance(group, list)
        for ps in group
        if ps.paper_id in wanted
    ]
    reply = upsert(server.stub, [to_pb(p) for p in papers], passages)  # type: ignore[arg-type]
    assert (reply.papers_written, reply.passages_written, len(reply.errors)) == (
        3,
        len(passages),
        0,
    )
    target = passages[5]
    hits = server.stub.Search(
        pb.SearchRequest(
            mode=pb.SEARCH_MODE_VECTOR,
            target=pb.SEARCH_TARGET_PASSAGES,
            query_vector=list(target.vector),
            k=3,
        )
    ).hits
    assert hits[0].id == f"{target.paper_id}#{target.ordinal}"
    assert hits[0].text == target.text and hits[0].section == target.section

    counts = server.stub.GetPapers(pb.GetPapersRequest(ids=[target.paper_id])).passage_counts
    n = sum(1 for p in passages if p.paper_id == target.paper_id)
    assert list(counts) == [n]
    deleted = server.stub.DeletePapers(pb.DeletePapersRequest(ids=[target.paper_id]))
    assert (deleted.papers_deleted, deleted.passages_deleted) == (1, n)
    stats = server.stub.GetStats(pb.GetStatsRequest())
    assert (stats.papers, stats.passages) == (2, len(passages) - n)


def test_similar_papers_over_grpc(server: Running) -> None:
    base = np.array(vec("base"))
    near = base + 0.1 * np.array(vec("noise"))
    upsert(
        server.stub,
        [
            pb.Paper(id="a", title="A", vector=base.tolist()),
            pb.Paper(id="b", title="B", vector=near.tolist()),
            pb.Paper(id="c", title="C", vector=vec("far")),
        ],
    )
    hits = server.stub.SimilarPapers(pb.SimilarPapersRequest(paper_id="a", k=2)).hits
    assert [h.id for h in hits] == ["b", "c"]
    assert hits[0].vector.rank == 1 and hits[0].score > hits[1].score


def test_get_papers_returns_the_found_and_names_the_missing(server: Running) -> None:
    upsert(server.stub, [pb.Paper(id=i, title=i.upper(), vector=vec(i)) for i in ("a", "b")])
    got = server.stub.GetPapers(pb.GetPapersRequest(ids=["nope", "b", "gone", "a"]), timeout=10)
    assert [p.id for p in got.papers] == ["b", "a"]
    assert [p.title for p in got.papers] == ["B", "A"]
    assert list(got.passage_counts) == [0, 0]
    assert list(got.missing_ids) == ["nope", "gone"]
    none = server.stub.GetPapers(pb.GetPapersRequest(ids=["nope"]), timeout=10)
    assert (list(none.papers), list(none.missing_ids)) == ([], ["nope"])
    with pytest.raises(grpc.RpcError) as exc:
        server.stub.GetPapers(pb.GetPapersRequest(ids=[]), timeout=10)
    assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_error_codes(server: Running) -> None:
    stub = server.stub
    upsert(stub, [pb.Paper(id="a", title="A", vector=vec("a"))])
    cases = [
        (lambda: stub.DeletePapers(pb.DeletePapersRequest(ids=["nope"])), "NOT_FOUND", "nope"),
        (
            lambda: stub.SimilarPapers(pb.SimilarPapersRequest(paper_id="nope")),
            "NOT_FOUND",
            "nope",
        ),
        (
            lambda: stub.Search(pb.SearchRequest(mode=pb.SEARCH_MODE_VECTOR, query_vector=[1.0])),
            "INVALID_ARGUMENT",
            f"vector has 1 dimensions, the index has {DIM}",
        ),
        (
            lambda: stub.Search(pb.SearchRequest(query_text="x")),
            "INVALID_ARGUMENT",
            "mode must be",
        ),
        (
            lambda: stub.Search(pb.SearchRequest(mode=pb.SEARCH_MODE_TEXT, query_text="x", k=5000)),
            "INVALID_ARGUMENT",
            "k 5000",
        ),
    ]
    for call, code, message in cases:
        with pytest.raises(grpc.RpcError) as exc:
            call()
        assert exc.value.code().name == code
        assert message in (exc.value.details() or "")


def test_traces_go_into_redis(server: Running, span_exporter) -> None:  # type: ignore[no-untyped-def]
    upsert(server.stub, [pb.Paper(id="a", title="Alpha", vector=vec("a"))])
    span_exporter.exporter.clear()
    server.stub.Search(pb.SearchRequest(mode=pb.SEARCH_MODE_TEXT, query_text="alpha"))
    spans = span_exporter.finished()
    by_name = {s.name: s for s in spans}
    rpc = by_name["/arxivqa.retriever.v1.Retriever/Search"]
    search = by_name["retriever.search"]
    assert search.attributes["arxivqa.retriever.mode"] == "TEXT"
    assert search.parent is not None and search.parent.span_id == rpc.context.span_id
    redis_spans = [s for s in spans if s.name == "redis FT.SEARCH"]
    assert redis_spans and redis_spans[0].parent.span_id == search.context.span_id
    assert redis_spans[0].kind.name == "CLIENT"
    assert redis_spans[0].attributes["db.system"] == "redis"
    assert "alpha" in redis_spans[0].attributes["db.query.text"]


@pytest.mark.slow
def test_data_survives_a_redis_restart_aof(own_redis_allowed: None, tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    redis_server = LocalRedis(data_dir=data_dir).start()
    running = Running(redis_server.url)
    try:
        papers = [
            pb.Paper(id=f"p{i}", title=f"paper number {i}", vector=vec(str(i))) for i in range(50)
        ]
        assert upsert(running.stub, papers).papers_written == 50
        time.sleep(1.5)  # appendfsync everysec
        redis_server.kill()  # a crash, not a clean shutdown
        redis_server = LocalRedis(data_dir=data_dir, port=redis_server.port).start()
        deadline = time.monotonic() + 20
        while True:
            try:
                stats = running.stub.GetStats(pb.GetStatsRequest(), timeout=5)
                if stats.papers == 50:
                    break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline, "data did not come back from the AOF"
            time.sleep(0.2)
        hits = running.stub.Search(
            pb.SearchRequest(mode=pb.SEARCH_MODE_VECTOR, query_vector=vec("7"), k=1)
        ).hits
        assert hits[0].id == "p7"
    finally:
        running.close()
        redis_server.stop()


@pytest.mark.slow
def test_recovers_when_redis_comes_back_without_a_restart(
    own_redis_allowed: None, tmp_path: Path
) -> None:
    redis_server = LocalRedis(data_dir=tmp_path / "one").start()
    running = Running(redis_server.url)
    stub = running.stub
    try:
        upsert(stub, [pb.Paper(id="a", title="Alpha", vector=vec("a"))])
        redis_server.kill()
        for call in (
            lambda: stub.Search(pb.SearchRequest(mode=pb.SEARCH_MODE_TEXT, query_text="alpha")),
            lambda: stub.GetStats(pb.GetStatsRequest()),
            lambda: upsert(stub, [pb.Paper(id="b", title="Beta", vector=vec("b"))]),
        ):
            with pytest.raises(grpc.RpcError) as exc:
                call()
            assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "Redis" in (exc.value.details() or "")
        # Redis comes back on the same port, but empty (no indexes): they are recreated.
        redis_server = LocalRedis(data_dir=tmp_path / "two", port=redis_server.port).start()
        reply = stub.Search(pb.SearchRequest(mode=pb.SEARCH_MODE_TEXT, query_text="alpha"))
        assert list(reply.hits) == []
        assert upsert(stub, [pb.Paper(id="b", title="Beta", vector=vec("b"))]).papers_written == 1
        reply = stub.Search(pb.SearchRequest(mode=pb.SEARCH_MODE_TEXT, query_text="beta"))
        assert [h.id for h in reply.hits] == ["b"]
        assert check(f"127.0.0.1:{running.port}", SERVICE_NAME) == (True, "SERVING")
    finally:
        running.close()
        redis_server.stop()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://generic:6379/0")
    monkeypatch.setenv("ARXIVQA_RETRIEVER_DIM", "768")
    monkeypatch.setenv("ARXIVQA_RETRIEVER_RRF_K", "30")
    settings = Settings()
    assert settings.port == 50052 and settings.redis_url == "redis://generic:6379/0"
    cfg = settings.index_config()
    assert (cfg.dim, cfg.rrf_k, cfg.papers_index) == (768, 30.0, "arxivqa:papers:v1")
    monkeypatch.setenv("ARXIVQA_RETRIEVER_REDIS_URL", "redis://own:6380/1")
    assert Settings().redis_url == "redis://own:6380/1"  # the service's own variable wins


def test_start_fails_clearly_when_redis_is_absent() -> None:
    from services.devtools.redis_server import free_port

    settings = Settings(
        port=0, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_wait_seconds=0.5
    )
    service, port = create_server(settings)
    service.start()
    try:
        with pytest.raises(Exception, match="did not answer within"):
            service.wait_until_ready(10)
        assert check(f"127.0.0.1:{port}")[1] == "NOT_SERVING"
    finally:
        service.stop(0).wait()
