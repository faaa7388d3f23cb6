"""End to end: `arxivqa harvest --pdf` from a local arXiv server into a real gateway stack.

Real Redis with Search, the real embedder (all-MiniLM-L6-v2), retriever, graph and gateway
on port 0; the local server plays the hand-written arXivRaw pages and real arXiv PDFs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import FIXTURES, ArxivServer, Reply

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.retriever.v1 import retriever_pb2, retriever_pb2_grpc
from gateway import cli
from gateway.arxiv.pdf import extract

# The stack helpers of the gateway tests (tests/gateway is not a package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
from gateway_stack import embedder_model, start_gateway, start_services

__all__ = ["embedder_model"]

pytestmark = pytest.mark.slow


def passage_count(stack: Any, paper_id: str) -> int:
    channel = grpc.insecure_channel(stack.target("retriever"))
    try:
        stub = retriever_pb2_grpc.RetrieverStub(channel)
        resp = stub.GetPapers(retriever_pb2.GetPapersRequest(ids=[paper_id]), timeout=30)
        return int(resp.passage_counts[0])
    finally:
        channel.close()


def test_harvest_with_pdfs_resumes_replaces_versions_and_removes_withdrawn(
    arxiv_server: ArxivServer,
    arxiv_data: Path,
    redis_url: str,
    embedder_model: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    v1_pdf = arxiv_data / "pdf" / "1111.2011v2.pdf"
    # "v2" is served as another real paper, so that the replacement is visible.
    v2_pdf = arxiv_data / "pdf" / "1804.07821v1.pdf"
    state = {"page2": False}

    def route(path: str, q: dict[str, str]) -> Reply | None:
        if path == "/pdf/1111.2011v1":
            return Reply.file(v1_pdf)
        if path == "/pdf/1111.2011v2":
            return Reply.file(v2_pdf)
        if path == "/api/query" and q.get("id_list") == "1111.2011v2":
            return Reply.file(arxiv_data / "api/arxiv.py_2016/id_list_1111.2011v2.xml")
        if path == "/oai2" and "resumptionToken" in q:
            if not state["page2"]:
                return Reply(503, b"<h1>Retry after 0 seconds</h1>", {"Retry-After": "0"})
            return Reply.file(FIXTURES / "arxivraw_page2.xml")
        if path == "/oai2":
            return Reply.file(FIXTURES / "arxivraw_page1.xml")
        return None

    arxiv_server.routes.append(route)
    monkeypatch.setenv("ARXIVQA_HARVEST_PDF_BASE", f"{arxiv_server.url}/pdf/")
    monkeypatch.setenv("ARXIVQA_HARVEST_API_ENDPOINT", f"{arxiv_server.url}/api/query")
    monkeypatch.setenv("ARXIVQA_HARVEST_DATA_DIR", str(tmp_path / "harvest"))
    monkeypatch.setenv("ARXIVQA_HARVEST_MAX_RETRIES", "0")
    monkeypatch.setenv("ARXIVQA_HARVEST_BACKOFF", "0")
    services = start_services(redis_url, embedder_model=embedder_model, reader_dir=None)
    stack = start_gateway(services, api_key=None)
    try:
        args = [
            "harvest", "--set", "physics", "--format", "arXivRaw", "--from", "2011-11-08",
            "--pdf", "--endpoint", f"{arxiv_server.url}/oai2", "--gateway", stack.grpc_target,
            "--min-interval", "0", "--contact", "tests@arxivqa.invalid",
        ]  # fmt: skip
        # fetch-pdf of a paper the index does not know: metadata from the API, text from
        # the PDF.
        assert cli.main(["fetch-pdf", "1111.2011v2", "--gateway", stack.grpc_target]) == 0
        n2 = len(extract(v2_pdf).paragraphs)
        assert passage_count(stack, "1111.2011") == n2
        fetched = stack.stub.GetPaper(pb.GetPaperRequest(id="1111.2011"), timeout=30).paper
        assert fetched.title.startswith("Quantum Criticality for Extended Nodes")
        assert "Adrian Del Maestro" in fetched.authors and fetched.year == 2011
        assert [h.path for h in arxiv_server.hits] == ["/pdf/1111.2011v2", "/api/query"]

        # Run 1: page 1 is ingested, page 2 fails (arXiv busy) -> exit 1, progress saved.
        assert cli.main(args) == 1
        out = capsys.readouterr()
        assert "run the same command to resume" in out.err
        n1 = len(extract(v1_pdf).paragraphs)
        assert passage_count(stack, "1111.2011") == n1
        withdrawn = stack.stub.GetPaper(pb.GetPaperRequest(id="2101.99901"), timeout=30)
        assert withdrawn.paper.title.startswith("An invented record")
        with pytest.raises(grpc.RpcError) as err:
            stack.stub.GetPaper(pb.GetPaperRequest(id="2101.99902"), timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND  # the malformed one

        # Run 2: resumes with page 2's token; v2 replaces v1's passages; 2101.99901 is gone.
        state["page2"] = True
        arxiv_server.hits.clear()
        assert cli.main(args) == 0
        out = capsys.readouterr()
        assert "resumed" in out.out
        assert arxiv_server.hits[0].query.get("resumptionToken") == "1234567|1001"
        assert n2 < n1
        assert passage_count(stack, "1111.2011") == n2  # no stale paragraphs of v1 left
        paper = stack.stub.GetPaper(pb.GetPaperRequest(id="1111.2011"), timeout=30).paper
        assert paper.title.startswith("Quantum Criticality for Extended Nodes")
        with pytest.raises(grpc.RpcError) as err:
            stack.stub.GetPaper(pb.GetPaperRequest(id="2101.99901"), timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        # The passages are searchable full text of the paper.
        ask = stack.stub.Ask(
            pb.AskRequest(question="dilated convolution network for counting", passages=3),
            timeout=60,
        )
        assert any(p.paper_id == "1111.2011" and p.section for p in ask.passages)

        # ingest-pdf: a local file replaces them again, the metadata stays.
        rc = cli.main(
            ["ingest-pdf", str(v1_pdf), "--id", "1111.2011", "--gateway", stack.grpc_target]
        )
        assert rc == 0
        assert passage_count(stack, "1111.2011") == n1
        paper = stack.stub.GetPaper(pb.GetPaperRequest(id="1111.2011"), timeout=30).paper
        assert paper.title.startswith("Quantum Criticality for Extended Nodes")
    finally:
        stack.stop_all()
