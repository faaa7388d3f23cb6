"""End to end over HTTP and gRPC on the real services: ingest, search, ask, paper view."""

from __future__ import annotations

import json
import re
from pathlib import Path

import grpc
import pytest
from gateway_stack import API_KEY, FULLTEXT_IDS, Stack, Target

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.graph.v1 import graph_pb2, graph_pb2_grpc
from services.common.arxiv import Passage, clean_fulltext, parse_fulltext

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

MODES = {
    "vector": pb.SEARCH_MODE_VECTOR,
    "text": pb.SEARCH_MODE_TEXT,
    "hybrid": pb.SEARCH_MODE_HYBRID,
}


def _kaggle(shared: Path) -> list[dict]:
    path = shared / "arxiv" / "kaggle_sample_200.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_ingest_reports_what_was_written(stack: Stack, shared_data: Path) -> None:
    by_batch = {r.batch_id: r for r in stack.ingest}
    assert by_batch["kaggle"].papers_written == 200
    assert by_batch["unarxive"].papers_written == 49
    fulltexts = [
        rec
        for line in (shared_data / "arxiv" / "unarxive_sample_fulltext.jsonl")
        .read_text()
        .splitlines()
        if line.strip() and (rec := json.loads(line))["id"] in FULLTEXT_IDS
    ]
    assert len(fulltexts) == len(FULLTEXT_IDS)
    paragraphs = sum(1 for ft in fulltexts for p in ft["paragraphs"] if clean_fulltext(p["text"]))
    assert by_batch["fulltext"].passages_written == paragraphs
    # The graph links papers, not versions: 1708.03528v4 is 1708.03528.
    edges = {
        tuple(re.sub(r"v\d+$", "", x.strip()) for x in line.split("\t"))
        for line in (shared_data / "arxiv" / "unarxive_sample_refs.tsv").read_text().splitlines()
        if line.strip()
    }
    assert by_batch["refs"].citations_added == len(edges)
    assert all(not r.errors for r in stack.ingest), [list(r.errors) for r in stack.ingest]


def test_ingest_reports_bad_records_and_keeps_good_ones(stack: Stack) -> None:
    good = {"id": "2312.99901", "title": "A perfectly fine paper", "abstract": "About cats."}
    records = [json.dumps(good), "{not json", json.dumps({"id": "2312.99902"})]
    resp = stack.client.post(
        "/v1/ingest",
        json={"batch_id": "bad", "records": records},
        headers={"X-API-Key": API_KEY},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["papers_written"] == 1
    errors = {e["index"]: e for e in body["errors"]}
    assert set(errors) == {1, 2}
    assert "malformed JSON" in errors[1]["message"]
    assert errors[2]["id"] == "2312.99902" and "title" in errors[2]["message"]
    assert stack.client.get("/v1/papers/2312.99901").json()["paper"]["title"] == good["title"]


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_search_finds_a_paper_by_its_title_in_each_mode(
    stack: Stack, shared_data: Path, mode: str
) -> None:
    rec = _kaggle(shared_data)[0]
    title = " ".join(rec["title"].split())
    http = stack.client.post("/v1/search", json={"query": title, "mode": mode, "k": 5})
    assert http.status_code == 200, http.text
    body = http.json()
    assert body["mode"] == mode
    assert body["hits"][0]["paper"]["id"] == rec["id"]
    assert body["hits"][0]["paper"]["url"] == f"https://arxiv.org/abs/{rec['id']}"
    ranks = body["hits"][0]
    if mode == "vector":
        assert ranks["vector_rank"] == 1
    elif mode == "text":
        assert ranks["text_rank"] == 1
    else:
        assert ranks["vector_rank"] >= 1 and ranks["text_rank"] >= 1

    g = stack.stub.Search(pb.SearchRequest(query=title, mode=MODES[mode], k=5), timeout=30)
    assert [h.paper.id for h in g.hits] == [h["paper"]["id"] for h in body["hits"]]


def test_search_filters_by_category_and_year(stack: Stack) -> None:
    body = stack.client.post(
        "/v1/search",
        json={
            "query": "random polynomials",
            "filters": {"categories": ["math.PR"], "year_from": 2022, "year_to": 2022},
            "k": 20,
        },
    ).json()
    assert body["hits"]
    for h in body["hits"]:
        assert "math.PR" in h["paper"]["categories"]
        assert h["paper"]["year"] == 2022


def test_ask_extracts_the_answer_from_a_full_text_paragraph(stack: Stack, target: Target) -> None:
    resp = stack.client.post("/v1/ask", json={"question": target.question, "passages": 5})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["answers_available"] is True
    best = body["answers"][0]
    assert best["text"].lower() == target.answer.lower()
    assert best["paper"]["id"] == target.paper_id
    assert best["paper"]["title"] and best["paper"]["url"].endswith(target.paper_id)
    assert best["paper"]["authors"] and best["paper"]["year"] == 2022
    read = {p["id"]: p for p in body["passages"]}
    passage = read[best["passage_id"]]
    assert passage["source"] == "full_text"
    assert passage["text"][best["start"] : best["end"]] == best["text"]
    assert best["text"] in best["evidence"]

    g = stack.stub.Ask(pb.AskRequest(question=target.question, passages=5), timeout=60)
    assert g.answers[0].paper.id == target.paper_id
    assert g.answers[0].text == best["text"]


def test_ask_reads_abstracts_of_papers_without_full_text(stack: Stack, shared_data: Path) -> None:
    rec = _kaggle(shared_data)[0]
    body = stack.client.post("/v1/ask", json={"question": rec["title"], "passages": 3}).json()
    mine = [p for p in body["passages"] if p["paper_id"] == rec["id"]]
    assert len(mine) == 1
    assert mine[0]["source"] == "abstract"
    assert mine[0]["text"] == " ".join(rec["abstract"].split())
    # Papers with full text are read through their paragraphs, never their abstract.
    for p in body["passages"]:
        assert p["source"] == ("full_text" if p["paper_id"] in FULLTEXT_IDS else "abstract")


def test_ask_reads_the_right_abstract_first(stack: Stack, shared_data: Path) -> None:
    """A paper with only an abstract that answers the question comes before any paragraph.

    Regression: the gateway fused the retriever's passage and paper rankings a second time
    by rank alone; rank 1 of each list tied and the paragraphs, listed first, won the tie,
    so Ask read another paper's best paragraph before the right abstract.
    """
    for rec in _kaggle(shared_data)[:3]:
        title = " ".join(rec["title"].split())
        body = stack.client.post("/v1/ask", json={"question": title, "passages": 5}).json()
        first = body["passages"][0]
        assert (first["paper_id"], first["source"]) == (rec["id"], "abstract"), [
            (p["paper_id"], p["source"]) for p in body["passages"]
        ]
        assert first["id"] == f"{rec['id']}#abstract" and first["section"] == "Abstract"
        assert first["text"] == " ".join(rec["abstract"].split())
        scores = [p["score"] for p in body["passages"]]
        assert scores == sorted(scores, reverse=True)


def test_paper_view_has_citation_counts(stack: Stack, shared_data: Path) -> None:
    refs = {
        tuple(line.split("\t"))
        for line in (shared_data / "arxiv" / "unarxive_sample_refs.tsv").read_text().splitlines()
        if line.strip()
    }
    citing = "2212.11770"
    expected = len({b for a, b in refs if a == citing})
    body = stack.client.get(f"/v1/papers/{citing}").json()
    assert body["citations_available"] is True
    assert body["reference_count"] == expected
    assert body["citation_count"] == 0
    assert body["paper"]["title"]
    g = stack.stub.GetPaper(pb.GetPaperRequest(id=citing), timeout=10)
    assert g.HasField("reference_count") and g.reference_count == expected


def _stored_fulltext(shared: Path, paper_id: str) -> list[Passage]:
    path = shared / "arxiv" / "unarxive_sample_fulltext.jsonl"
    for line in path.read_text().splitlines():
        if line.strip() and json.loads(line)["id"] == paper_id:
            got = parse_fulltext(line)
            assert isinstance(got, list)
            return got
    raise AssertionError(paper_id)


def test_a_papers_full_text_in_order_a_page_at_a_time(stack: Stack, shared_data: Path) -> None:
    pid = FULLTEXT_IDS[0]
    want = _stored_fulltext(shared_data, pid)
    assert len(want) > 3
    body = stack.client.get(f"/v1/papers/{pid}/passages").json()
    assert (body["paper_id"], body["total"], body["offset"], body["limit"]) == (
        pid,
        len(want),
        0,
        50,
    )
    got = body["passages"]
    assert len(got) == min(50, len(want))
    for have, p in zip(got, want, strict=False):
        assert have["id"] == f"{pid}#{p.ordinal}" and have["ordinal"] == p.ordinal
        assert have["section"] == " ".join(p.section.split())
        assert have["text"] == " ".join(p.text.split())
        assert have["source"] == "full_text"
    page = stack.client.get(f"/v1/papers/{pid}/passages", params={"limit": 2, "offset": 1}).json()
    assert [p["ordinal"] for p in page["passages"]] == [1, 2] and page["total"] == len(want)
    past = stack.client.get(f"/v1/papers/{pid}/passages", params={"offset": len(want)}).json()
    assert past["passages"] == [] and past["total"] == len(want)
    # a paper stored without full text has none; an unknown one is 404 (slashes in ids too)
    kaggle = _kaggle(shared_data)[0]["id"]
    none = stack.client.get(f"/v1/papers/{kaggle}/passages").json()
    assert (none["passages"], none["total"]) == ([], 0)
    for unknown in ("2312.99999", "hep-th/9901001"):
        r = stack.client.get(f"/v1/papers/{unknown}/passages")
        assert r.status_code == 404, r.text
        assert r.json()["error"]["message"] == f"paper {unknown} not found"
    # the paper view itself is unchanged, and still 404 for an unknown paper
    assert stack.client.get(f"/v1/papers/{pid}").json()["paper"]["id"] == pid
    assert stack.client.get("/v1/papers/2312.99999").status_code == 404


def test_grpc_list_passages_gives_what_the_http_route_gives(stack: Stack) -> None:
    pid = FULLTEXT_IDS[0]
    for limit, offset in ((0, 0), (2, 1), (200, 3)):
        params = {"limit": limit, "offset": offset}
        http = stack.client.get(f"/v1/papers/{pid}/passages", params=params).json()
        reply = stack.stub.ListPassages(
            pb.ListPassagesRequest(id=pid, limit=limit, offset=offset), timeout=30
        )
        assert (reply.paper_id, reply.total, reply.offset, reply.limit) == (
            http["paper_id"],
            http["total"],
            http["offset"],
            http["limit"],
        )
        got = [(p.id, p.ordinal, p.section, p.text) for p in reply.passages]
        assert got == [(p["id"], p["ordinal"], p["section"], p["text"]) for p in http["passages"]]
        assert got and all(p.source == pb.PASSAGE_SOURCE_FULL_TEXT for p in reply.passages)
    for request, code, words in (
        (pb.ListPassagesRequest(id="2312.99999"), grpc.StatusCode.NOT_FOUND, "not found"),
        (pb.ListPassagesRequest(id=" "), grpc.StatusCode.INVALID_ARGUMENT, "an arXiv id"),
        (pb.ListPassagesRequest(id=pid, limit=201), grpc.StatusCode.INVALID_ARGUMENT, "limit"),
        (pb.ListPassagesRequest(id=pid, offset=-1), grpc.StatusCode.INVALID_ARGUMENT, "offset"),
    ):
        with pytest.raises(grpc.RpcError) as exc:
            stack.stub.ListPassages(request, timeout=30)
        assert exc.value.code() is code and words in (exc.value.details() or "")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"limit": 201}, "limit"),
        ({"limit": -1}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 100_001}, "offset"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_paging_of_a_full_text_is_400(stack: Stack, params: dict, words: str) -> None:
    r = stack.client.get(f"/v1/papers/{FULLTEXT_IDS[0]}/passages", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert words in r.json()["error"]["message"]


def test_citation_operations(stack: Stack, shared_data: Path) -> None:
    refs = [
        line.split("\t")
        for line in (shared_data / "arxiv" / "unarxive_sample_refs.tsv").read_text().splitlines()
        if line.strip()
    ]
    a, b = refs[0][0].strip(), refs[0][1].strip()
    path = stack.client.get("/v1/path", params={"from_id": a, "to_id": b}).json()
    assert path["found"] is True
    assert [p["id"] for p in path["path"]] == [a, b]
    assert path["path"][0]["title"]  # enriched from the retriever
    sub = stack.client.get("/v1/subgraph", params={"id": a, "depth": 1}).json()
    assert {"citing_id": a, "cited_id": b} in sub["edges"]
    rank = stack.client.get("/v1/rank", params={"k": 5}).json()
    assert len(rank["papers"]) == 5 and rank["papers"][0]["rank"] == 1
    similar = stack.client.get("/v1/similar", params={"id": a, "k": 3}).json()
    assert len(similar) == 3 and a not in [h["paper"]["id"] for h in similar]
    rec = stack.stub.Recommend(pb.RecommendRequest(seed_ids=[b], k=5), timeout=10)
    # b is cited together with a's other references, so co-citation has something to say
    cocited = {y.strip() for x, y in refs if x.strip() == a and y.strip() != b}
    assert cocited and rec.recommendations
    assert {r.paper.id for r in rec.recommendations} & cocited
    for r in rec.recommendations:
        assert r.reasons and r.reasons[0].text


def test_subgraph_nodes_carry_the_whole_graph_pagerank(stack: Stack) -> None:
    channel = grpc.insecure_channel(stack.target("graph"))
    try:
        ranked = graph_pb2_grpc.CitationGraphStub(channel).Rank(
            graph_pb2.RankRequest(k=1000), timeout=60
        )
    finally:
        channel.close()
    score = {r.paper.paper_id: r.score for r in ranked.results}
    top = ranked.results[0].paper.paper_id
    params = {"id": top, "depth": 1, "max_nodes": 50}
    http = stack.client.get("/v1/subgraph", params=params).json()
    by_http = {n["id"]: n["pagerank"] for n in http["nodes"]}
    reply = stack.stub.Subgraph(pb.SubgraphRequest(id=top, depth=1, max_nodes=50), timeout=30)
    by_grpc = {n.id: n.pagerank for n in reply.nodes}
    assert by_grpc == by_http
    known = [i for i in by_http if i in score]
    assert top in known and len(known) >= 2, known
    for paper_id in known:  # the graph service's Rank score for the same paper, exactly
        assert by_http[paper_id] == pytest.approx(score[paper_id], rel=1e-12, abs=0)
    assert all(value > 0 for value in by_http.values())
    assert max(by_http, key=lambda i: by_http[i]) == top
    node = stack.client.get("/openapi.json").json()["components"]["schemas"]["Node"]
    assert "whole citation graph" in node["properties"]["pagerank"]["description"]


def test_reads_are_open_but_writes_need_the_api_key(stack: Stack) -> None:
    batch = {"records": [json.dumps({"id": "2312.99903", "title": "Keyed"})]}
    no_key = stack.client.post("/v1/ingest", json=batch)
    assert no_key.status_code == 401
    assert "X-API-Key" in no_key.json()["error"]["message"]
    wrong = stack.client.post("/v1/ingest", json=batch, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    with pytest.raises(grpc.RpcError) as exc:
        list(stack.stub.Ingest(iter([pb.IngestRequest(records=batch["records"])]), timeout=10))
    assert exc.value.code() is grpc.StatusCode.UNAUTHENTICATED
    ok = stack.client.post("/v1/ingest", json=batch, headers={"X-API-Key": API_KEY})
    assert ok.status_code == 200 and ok.json()["papers_written"] == 1
    assert stack.client.post("/v1/search", json={"query": "Keyed"}).status_code == 200


def test_http_ingest_deletes_papers_as_grpc_does(stack: Stack) -> None:
    """delete_ids over HTTP (one IngestRequest model for both doors): deleted with its
    passages before the batch is written; an unknown id is not an error."""
    key = {"X-API-Key": API_KEY}
    pid = "2312.99917"
    record = json.dumps({"id": pid, "title": "Soon withdrawn"})
    written = stack.client.post("/v1/ingest", json={"records": [record]}, headers=key)
    assert written.status_code == 200 and written.json()["papers_written"] == 1
    assert stack.client.get(f"/v1/papers/{pid}").status_code == 200
    deleted = stack.client.post("/v1/ingest", json={"delete_ids": [pid]}, headers=key)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["papers_deleted"] == 1 and deleted.json()["errors"] == []
    assert stack.client.get(f"/v1/papers/{pid}").status_code == 404
    again = stack.client.post("/v1/ingest", json={"delete_ids": [pid]}, headers=key)
    assert again.status_code == 200 and again.json()["papers_deleted"] == 0
    bad = stack.client.post("/v1/ingest", json={"delete_ids": ["not an id"]}, headers=key)
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("delete_ids.0: expected an arXiv id")


def test_readiness_reports_each_dependency(stack: Stack) -> None:
    assert stack.client.get("/healthz").json() == {"status": "ok"}
    body = stack.client.get("/readyz")
    assert body.status_code == 200
    deps = body.json()["dependencies"]
    assert {name: d["status"] for name, d in deps.items()} == {
        "embedder": "SERVING",
        "retriever": "SERVING",
        "redis": "SERVING",
        "qa": "SERVING",
        "graph": "SERVING",
    }


def test_openapi_describes_every_operation(stack: Stack) -> None:
    paths = stack.client.get("/openapi.json").json()["paths"]
    for p in (
        "/v1/search",
        "/v1/ask",
        "/v1/papers/{paper_id}",
        "/v1/papers/{paper_id}/passages",
        "/v1/similar",
        "/v1/recommend",
        "/v1/path",
        "/v1/subgraph",
        "/v1/rank",
        "/v1/ingest",
    ):
        assert p in paths
    assert stack.client.get("/docs").status_code == 200
    passages = paths["/v1/papers/{paper_id}/passages"]["get"]
    limits = {p["name"]: p["schema"] for p in passages["parameters"] if p["in"] == "query"}
    assert (limits["limit"]["minimum"], limits["limit"]["maximum"]) == (0, 200)
    assert (limits["offset"]["minimum"], limits["offset"]["maximum"]) == (0, 100_000)
    assert {"400", "404"} <= set(passages["responses"])


def test_latex_in_a_query_is_harmless(stack: Stack) -> None:
    for mode in ("text", "hybrid"):
        r = stack.client.post(
            "/v1/search", json={"query": "excitonic phase in 1T-TiSe$_{2}$ a _ b", "mode": mode}
        )
        assert r.status_code == 200, r.text
