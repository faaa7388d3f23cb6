"""The whole system in this test process: every service and the gateway on port 0.

- ``embedder_model``: the real all-MiniLM-L6-v2, loaded once per session.
- ``reader_dir``: a tiny extractive QA model built here (no transformer layers, weights set
  by hand) whose span scores depend only on the tokens: two marker words chosen from a real
  full-text paragraph get high start/end logits, so the right answer is known exactly.
- ``stack``: Redis (the session's), embedder, retriever, graph, qa and the gateway (gRPC +
  HTTP), with the Kaggle sample, the unarXive papers, a few of their full texts and their
  references ingested through the gateway's own Ingest. Other stacks (a dead qa, tracing)
  are built from the same pieces by :func:`start_stack`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import torch

from arxivqa.gateway.v1 import gateway_pb2 as pb
from arxivqa.gateway.v1 import gateway_pb2_grpc
from gateway.server import build_gateway, create_http_server, create_server
from gateway.settings import Settings as GatewaySettings
from gateway.web import HttpServer
from services.common.arxiv import clean_fulltext
from services.common.server import GrpcService
from services.devtools.random_models import package_tokenizer as _tokenizer

API_KEY = "test-key-123"
# Full texts ingested: three short ones of the 49 (keeps embedding time in tests low).
FULLTEXT_IDS = ("2212.11827", "2212.11802", "2212.11813")
# A port on which nothing listens: a dependency that is down.
DEAD = "127.0.0.1:1"


@dataclass
class Target:
    """The paragraph whose answer the crafted reader extracts."""

    paper_id: str
    paragraph: str
    start_word: str
    end_word: str
    answer: str
    question: str


@dataclass
class Stack:
    services: dict[str, GrpcService]
    gateway_service: GrpcService
    http: HttpServer
    settings: GatewaySettings
    channel: grpc.Channel
    stub: gateway_pb2_grpc.GatewayStub
    client: httpx.Client
    ingest: list[pb.IngestResponse] = field(default_factory=list)

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.gateway_service.port}"

    def target(self, name: str) -> str:
        return f"127.0.0.1:{self.services[name].port}"

    def stop(self) -> None:
        self.client.close()
        self.channel.close()
        self.http.stop()
        self.gateway_service.stop(0).wait()

    def stop_all(self) -> None:
        """The gateway and the services it was started over."""
        self.stop()
        for svc in self.services.values():
            svc.stop(0).wait()


def build_marker_reader(path: Path, start_word: str, end_word: str) -> Path:
    """BertForQuestionAnswering, no layers: start logit 80 on start_word, end 80 on end_word.

    Every other token scores exactly 0 (its reserved embedding dimensions are zero), so the
    best span is start_word ... end_word wherever both occur in order in one window.
    """
    from transformers import BertConfig, BertForQuestionAnswering

    tok = _tokenizer()
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=0,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    model = BertForQuestionAnswering(config)
    emb = model.bert.embeddings
    a = 100.0
    with torch.no_grad():
        for table in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings):
            table.weight[:, :4] = 0.0
        for word, vec in ((start_word, [a, -a, 0, 0]), (end_word, [0, 0, a, -a])):
            idx = tok.convert_tokens_to_ids(word)
            assert idx != tok.unk_token_id, word
            emb.word_embeddings.weight[idx, :4] = torch.tensor(vec)
        emb.LayerNorm.weight.fill_(1.0)
        emb.LayerNorm.bias.zero_()
        model.qa_outputs.weight.zero_()
        model.qa_outputs.bias.zero_()
        model.qa_outputs.weight[0, 0], model.qa_outputs.weight[0, 1] = 10.0, -10.0
        model.qa_outputs.weight[1, 2], model.qa_outputs.weight[1, 3] = 10.0, -10.0
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _data_texts(shared: Path) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    arxiv = shared / "arxiv"
    kaggle = [line for line in (arxiv / "kaggle_sample_200.jsonl").read_text().splitlines() if line]
    unarxive = [
        line for line in (arxiv / "unarxive_sample_papers.jsonl").read_text().splitlines() if line
    ]
    fulltexts = [
        rec
        for line in (arxiv / "unarxive_sample_fulltext.jsonl").read_text().splitlines()
        if line.strip() and (rec := json.loads(line))["id"] in FULLTEXT_IDS
    ]
    return kaggle, unarxive, fulltexts


def choose_target(shared: Path) -> Target:
    """A paragraph with two whole-word tokens, close together, found nowhere else."""
    tok = _tokenizer()
    kaggle, unarxive, fulltexts = _data_texts(shared)
    others: list[str] = []
    for line in kaggle + unarxive:
        rec = json.loads(line)
        others += [rec.get("title") or "", rec.get("abstract") or ""]
    paragraphs = [
        (ft["id"], clean_fulltext(p["text"])) for ft in fulltexts for p in ft["paragraphs"]
    ]
    counts: dict[str, int] = {}
    for text in others + [t for _, t in paragraphs]:
        for t in set(tok.tokenize(text)):
            counts[t] = counts.get(t, 0) + 1
    for paper_id, text in paragraphs:
        if not 400 <= len(text) <= 1500:
            continue
        tokens = tok.tokenize(text)
        words = [
            (i, t)
            for i, t in enumerate(tokens)
            if counts.get(t) == 1 and t.isalpha() and len(t) >= 5 and tokens.count(t) == 1
        ]
        for (i, w1), (j, w2) in itertools.pairwise(words):
            if 1 <= j - i <= 8:
                m = re.search(rf"(?i)\b{w1}\b.*?\b{w2}\b", text)
                if not m:
                    continue
                sentence = max(re.split(r"(?<=\.)\s", text), key=len)
                return Target(paper_id, text, w1, w2, m.group(0), sentence[:300])
    raise AssertionError("no paragraph with two unique marker words in the sample")


@pytest.fixture(scope="session")
def embedder_model() -> Any:
    from services.embedder.model import SentenceEmbedder

    model = SentenceEmbedder()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def target(shared_data: Path) -> Target:
    return choose_target(shared_data)


@pytest.fixture(scope="session")
def reader_dir(tmp_path_factory: pytest.TempPathFactory, target: Target) -> Path:
    return build_marker_reader(
        tmp_path_factory.mktemp("reader"), target.start_word, target.end_word
    )


def start_services(
    redis_url: str,
    *,
    embedder_model: Any,
    reader_dir: Path | None,
    tracer_provider: Any = None,
    qa_port: int = 0,
) -> dict[str, GrpcService]:
    from services.embedder.server import Settings as EmbedderSettings
    from services.embedder.server import create_server as embedder_server
    from services.graph.server import Settings as GraphSettings
    from services.graph.server import create_server as graph_server
    from services.retriever.server import Settings as RetrieverSettings
    from services.retriever.server import create_server as retriever_server

    services: dict[str, GrpcService] = {}
    try:
        services["embedder"], _ = embedder_server(
            EmbedderSettings(port=0), tracer_provider=tracer_provider, model=embedder_model
        )
        services["retriever"], _ = retriever_server(
            RetrieverSettings(port=0, redis_url=redis_url), tracer_provider=tracer_provider
        )
        services["graph"], _ = graph_server(
            GraphSettings(port=0, redis_url=redis_url), tracer_provider=tracer_provider
        )
        if reader_dir is not None:
            services["qa"] = start_qa(reader_dir, port=qa_port, tracer_provider=tracer_provider)
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_until_ready(120)
    except BaseException:
        for svc in services.values():
            svc.stop(0)
        raise
    return services


def start_qa(reader_dir: Path, *, port: int = 0, tracer_provider: Any = None) -> GrpcService:
    """A qa service (not started) serving the model in reader_dir."""
    from services.qa.server import Settings as QaSettings
    from services.qa.server import create_server as qa_server

    svc, _ = qa_server(
        QaSettings(port=port, model=str(reader_dir), grace_seconds=0),
        tracer_provider=tracer_provider,
    )
    return svc


def start_gateway(
    services: dict[str, GrpcService],
    *,
    tracer_provider: Any = None,
    api_key: str | None = API_KEY,
    **targets: str,
) -> Stack:
    """Gateway (gRPC + HTTP on free ports) over ``services``; ``targets`` override them."""
    values = {f"{name}_target": f"127.0.0.1:{svc.port}" for name, svc in services.items()}
    for name in ("embedder", "retriever", "qa", "graph"):
        values.setdefault(f"{name}_target", "")
    values.update({f"{k}_target": v for k, v in targets.items()})
    settings = GatewaySettings(port=0, http_port=0, api_key=api_key, deadline_seconds=30, **values)  # type: ignore[arg-type]
    gw = build_gateway(settings, tracer_provider=tracer_provider)
    grpc_svc, port = create_server(settings, tracer_provider=tracer_provider, gateway=gw)
    grpc_svc.start()
    grpc_svc.wait_until_ready(30)
    http = create_http_server(settings, gw, tracer_provider=tracer_provider).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return Stack(
        services=services,
        gateway_service=grpc_svc,
        http=http,
        settings=settings,
        channel=channel,
        stub=gateway_pb2_grpc.GatewayStub(channel),
        client=httpx.Client(base_url=http.url, timeout=60),
    )


def ingest_requests(shared: Path) -> list[pb.IngestRequest]:
    kaggle, unarxive, fulltexts = _data_texts(shared)
    refs = [
        line.split("\t")
        for line in (shared / "arxiv" / "unarxive_sample_refs.tsv").read_text().splitlines()
        if line.strip()
    ]
    return [
        pb.IngestRequest(batch_id="kaggle", records=kaggle),
        pb.IngestRequest(batch_id="unarxive", records=unarxive),
        pb.IngestRequest(
            batch_id="fulltext",
            fulltexts=[
                pb.FullText(
                    paper_id=ft["id"],
                    paragraphs=[
                        pb.Paragraph(section=p["section"], text=p["text"]) for p in ft["paragraphs"]
                    ],
                )
                for ft in fulltexts
            ],
        ),
        pb.IngestRequest(
            batch_id="refs",
            citations=[pb.Citation(citing_id=a.strip(), cited_id=b.strip()) for a, b in refs],
        ),
    ]


@pytest.fixture(scope="session")
def stack(
    redis_server: Any, shared_data: Path, embedder_model: Any, reader_dir: Path
) -> Iterator[Stack]:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    services = start_services(
        redis_server.url, embedder_model=embedder_model, reader_dir=reader_dir
    )
    s = start_gateway(services)
    try:
        s.ingest = list(
            s.stub.Ingest(
                iter(ingest_requests(shared_data)),
                metadata=[("x-api-key", API_KEY)],
                timeout=600,
            )
        )
        yield s
    finally:
        s.stop_all()
