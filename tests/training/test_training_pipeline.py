"""The whole pipeline on a tiny model: train, evaluate, register, gate, resolve, serve.

The tiny reader is a 2-layer, 32-wide BERT with random weights and the installed
all-MiniLM-L6-v2 tokenizer; the MLflow store (sqlite + artifacts) lives in a temporary
directory. The first run learns six questions by heart and is promoted; a second run
that barely trains scores worse on the same eval set and the gate refuses it.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from services.devtools.random_models import save_random_bert
from services.qa.training.cli import main
from services.qa.training.data import build_train_features, load_squad
from services.qa.training.evaluate import predict, squad_scores
from services.qa.training.pipeline import PipelineOptions, PipelineResult, load_reader, run
from services.qa.training.registry import Store, resolve_reader_source
from services.qa.training.train import TrainConfig, train

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    # mlflow 3.x still uses a SQLAlchemy loader option that SQLAlchemy 2.1 deprecates
    pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow.*"),
]

PARAGRAPHS = [
    (
        "transformer",
        "The Transformer architecture was introduced in 2017 by researchers at Google. "
        "It relies entirely on attention.",
        [
            ("q1", "When was the Transformer introduced?", "2017"),
            ("q2", "Who introduced the Transformer?", "researchers at Google"),
        ],
    ),
    (
        "redis",
        "Redis is an in-memory data store written in C. "
        "Its search module adds vector similarity queries.",
        [
            ("q3", "What language is Redis written in?", "C"),
            ("q4", "What does the search module add?", "vector similarity queries"),
        ],
    ),
    (
        "covid",
        "The coronavirus spike protein binds the ACE2 receptor on human cells, "
        "which allows the virus to enter.",
        [
            ("q5", "Which receptor does the spike protein bind?", "the ACE2 receptor"),
            ("q6", "What does binding allow?", "the virus to enter"),
        ],
    ),
]


def write_squad(path: Path, paragraphs=PARAGRAPHS) -> Path:  # type: ignore[no-untyped-def]
    data = [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": ctx,
                    "document_id": title,
                    "qas": [
                        {
                            "id": qid,
                            "question": q,
                            "answers": [{"text": a, "answer_start": ctx.index(a)}],
                        }
                        for qid, q, a in qas
                    ],
                }
            ],
        }
        for title, ctx, qas in paragraphs
    ]
    path.write_text(json.dumps({"version": "1.1", "data": data}))
    return path


def make_tiny_base(out: Path) -> Path:
    """A random 2-layer BERT encoder with the real tokenizer, saved like any base model."""
    return save_random_bert(out, num_layers=2, max_position_embeddings=128, qa_head=False)


GOOD = TrainConfig(
    max_seq_len=64,
    doc_stride=16,
    epochs=40,
    batch_size=6,
    learning_rate=5e-3,
    warmup_ratio=0.0,
    seed=3,
    freeze_embeddings=False,  # a random tiny base: its embeddings must learn too
    time_budget_minutes=0.0,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a busy machine two threads
    waiting for each other are many times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class Runs:
    store: Store
    data: Path
    good: PipelineResult
    bad: PipelineResult
    root: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("training")
    base = make_tiny_base(root / "base")
    data = write_squad(root / "tiny.json")
    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARXIVQA_DATA_DIR", str(root / "data"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        options = PipelineOptions(
            train=replace(GOOD, base_model=str(base)),
            use_default_data=False,
            train_files=(data,),
            eval_files=(("tiny", data),),
            tracking_uri=uri,
        )
        good = run(options)
        bad = run(replace(options, train=replace(options.train, max_steps=1, learning_rate=1e-6)))
        yield Runs(Store.from_env(uri), data, good, bad, root)


def test_good_candidate_is_recorded_registered_and_promoted(runs: Runs) -> None:
    assert runs.good.scores["tiny"].f1 == pytest.approx(100.0)
    assert runs.good.decision is not None and runs.good.decision.promoted
    client = runs.store.client(create=False)
    record = client.get_run(runs.good.run_id).data
    sha = hashlib.sha256(runs.data.read_bytes()).hexdigest()
    assert record.params["data.tiny.json.sha256"] == sha
    assert record.params["max_seq_len"] == "64" and record.params["seed"] == "3"
    assert record.metrics["tiny.f1"] == pytest.approx(100.0)
    assert record.metrics["train_seconds"] > 0
    commit = record.tags["mlflow.source.git.commit"]
    known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, check=False)
    assert len(commit) == 40 and known.returncode == 0
    files = {f.path for f in client.list_artifacts(runs.good.run_id, "model")}
    assert {"model/config.json", "model/model.safetensors", "model/tokenizer.json"} <= files
    assert str(client.get_model_version_by_alias("reader", "production").version) == "1"


def test_worse_candidate_is_registered_but_refused_with_the_reason(runs: Runs) -> None:
    decision = runs.bad.decision
    assert decision is not None and not decision.promoted
    assert runs.bad.scores["tiny"].f1 < runs.good.scores["tiny"].f1
    assert "lower F1 than production version 1 on tiny" in decision.reason
    client = runs.store.client(create=False)
    assert str(client.get_model_version_by_alias("reader", "candidate").version) == "2"
    assert str(client.get_model_version_by_alias("reader", "production").version) == "1"
    assert client.get_model_version("reader", "2").tags["gate"] == "refused"
    record = client.get_run(runs.bad.run_id).data
    assert record.tags["gate"] == "refused" and record.tags["gate.production_version"] == "1"
    assert record.metrics["gate.production.tiny.f1"] == pytest.approx(100.0)


def test_cli_promote_refuses_the_worse_version_with_exit_code_1(runs: Runs, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["promote", "--version", "2", "--tracking-uri", runs.store.tracking_uri])
    assert code == 1
    assert "NOT PROMOTED: refused: candidate version 2 has a lower F1" in capsys.readouterr().out


def test_production_reference_resolves_to_the_promoted_reader(runs: Runs, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = resolve_reader_source(
        "models:/reader@production", cache_dir=cache, tracking_uri=runs.store.tracking_uri
    )
    assert Path(path).is_relative_to(cache) and "v1-" in Path(path).name
    examples = load_squad(runs.data)
    preds = predict(load_reader(path), examples)
    texts = {qid: p.text for qid, p in preds.items()}
    assert squad_scores(texts, examples).f1 == pytest.approx(runs.good.scores["tiny"].f1)
    assert texts["q5"] == "the ACE2 receptor"
    # a second resolve uses the cache; a version number works as well as an alias
    again = resolve_reader_source(
        "models:/reader/1", cache_dir=cache, tracking_uri=runs.store.tracking_uri
    )
    assert again == path


def test_qa_reader_serves_the_promoted_version(runs: Runs, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from services.qa.reader import Passage, Reader

    monkeypatch.setenv("MLFLOW_TRACKING_URI", runs.store.tracking_uri)
    monkeypatch.setenv("ARXIVQA_DATA_DIR", str(tmp_path))
    reader = Reader("models:/reader@production", max_seq_len=64, stride=16)
    reader.warm_up()
    assert reader.local_path is not None and "/reader/v1-" in reader.local_path
    _, context, qas = PARAGRAPHS[2]
    for _, question, gold in qas:
        result = reader.answer(question, [Passage(text=context, id="p")], top_k=1)
        best = result.answers[0]
        assert best.text == gold and context[best.start : best.end] == gold


def test_resolve_errors_say_what_is_missing(runs: Runs, tmp_path: Path) -> None:
    uri = runs.store.tracking_uri
    with pytest.raises(
        NotFound, match=r"no alias 'staging' \(aliases: candidate -> v2, production -> v1\)"
    ):
        resolve_reader_source("models:/reader@staging", tracking_uri=uri, cache_dir=tmp_path)
    with pytest.raises(NotFound, match="registered model 'other' not found"):
        resolve_reader_source("models:/other@production", tracking_uri=uri, cache_dir=tmp_path)
    with pytest.raises(NotFound, match="version 9 of model 'reader' not found"):
        resolve_reader_source("models:/reader/9", tracking_uri=uri, cache_dir=tmp_path)
    with pytest.raises(InvalidArgument, match="bad model reference 'models:/reader'"):
        resolve_reader_source("models:/reader", tracking_uri=uri, cache_dir=tmp_path)
    missing = tmp_path / "none" / "mlflow.db"
    with pytest.raises(FailedPrecondition, match=r"no model registry at .*make train-reader"):
        resolve_reader_source("models:/reader@production", tracking_uri=f"sqlite:///{missing}")
    assert not missing.exists()


def test_resolve_with_a_tracking_server_down_is_unavailable(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(Unavailable, match=r"model registry at http://127\.0\.0\.1:9 failed"):
        resolve_reader_source(
            "models:/reader@production", tracking_uri="http://127.0.0.1:9", cache_dir=tmp_path
        )


def test_same_data_and_seed_give_the_same_model(runs: Runs, tmp_path: Path) -> None:
    base = str(runs.root / "base")
    tok = AutoTokenizer.from_pretrained(base)
    examples = load_squad(runs.data)
    feats = build_train_features(examples, tok, max_seq_len=64, doc_stride=16, neg_ratio=0, seed=0)
    cfg = replace(GOOD, base_model=base, max_steps=8)
    outs = []
    for name in ("a", "b"):
        train(cfg, feats, tok, tmp_path / name)
        model = AutoModelForQuestionAnswering.from_pretrained(tmp_path / name)
        ids = torch.tensor([feats.input_ids[0]])
        with torch.inference_mode():
            outs.append(model(input_ids=ids).start_logits)
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-5)


def test_gate_re_evaluates_production_when_the_eval_set_changed(
    runs: Runs, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ARXIVQA_DATA_DIR", str(tmp_path / "data"))
    subset = write_squad(tmp_path / "subset.json", PARAGRAPHS[1:])
    options = PipelineOptions(
        train=replace(GOOD, base_model=str(runs.root / "base")),
        use_default_data=False,
        train_files=(runs.data,),
        eval_files=(("tiny", runs.data),),
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
    )
    first = run(options)
    second = run(replace(options, eval_files=(("tiny", subset),)))
    assert first.decision is not None and first.decision.promoted
    decision = second.decision
    assert decision is not None and decision.promoted
    # production (version 1) was scored again on the 4-question set, not on its recorded 6
    assert decision.production["tiny"].questions == 4
    assert decision.production["tiny"].fingerprint == decision.candidate["tiny"].fingerprint
    assert "version 2 promoted over version 1" in decision.reason


def test_estimate_times_real_steps_and_extrapolates(runs: Runs, capsys) -> None:  # type: ignore[no-untyped-def]
    data, base = str(runs.data), str(runs.root / "base")
    argv = ["estimate", "--no-default-data", "--train", data, "--eval", f"tiny={data}"]
    argv += ["--base", base, "--max-seq-len", "64", "--doc-stride", "16"]
    argv += ["--epochs", "5", "--batch-size", "2", "--steps", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "measured 2 training steps on 6 windows" in out
    assert re.search(r"train steps\s+15\s", out)  # 5 epochs x 3 batches
    assert re.search(r"train steps, first loop\s+15\s", out)  # the same steps, timed the old way
    assert "this loop vs the first loop:" in out
    assert re.search(r"eval tiny questions\s+6\s", out)
    assert "full run, idle machine" in out


def test_train_elsewhere_then_register_here(
    runs: Runs, tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """`train --out` (the GPU machine: no MLflow) then `run --trained` (where the store
    is): the record travels with the weights, the data hashes are checked, and the
    registered run carries the training machine's figures and commit."""
    monkeypatch.setenv("ARXIVQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARXIVQA_GIT_COMMIT", "0123abc")  # the commit a copied tree states
    data, base = str(runs.data), str(runs.root / "base")
    common = ["--no-default-data", "--train", data, "--eval", f"tiny={data}", "--base", base]
    common += ["--max-seq-len", "64", "--doc-stride", "16", "--epochs", "2", "--batch-size", "3"]
    out = tmp_path / "trained"
    assert main(["train", *common, "--out", str(out), "--float16", "--time-budget", "0"]) == 0
    assert "trained 4 steps, 12 of 6 windows" in capsys.readouterr().out
    record = json.loads((out / "arxivqa_training.json").read_text())
    assert record["stored_dtype"] == "float16" and record["result"]["steps"] == 4
    assert record["features"]["windows"] == 6
    assert record["base_weights_sha256"]  # the base it started from, by content
    assert (
        record["data"]["data.tiny.json.sha256"]
        == hashlib.sha256(runs.data.read_bytes()).hexdigest()
    )
    # an output folder that is not empty is refused before any work
    assert main(["train", *common, "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err

    # scoring a folder registers nothing
    scores = tmp_path / "scores.json"
    assert main(["score", str(out), *common, "--set", "tiny", "--json", str(scores)]) == 0
    assert json.loads(scores.read_text())["tiny"]["questions"] == 6
    # the same through the serving ONNX int8 backend (the qa service's default)
    argv = ["score", str(out), *common, "--backend", "onnx", "--quantize", "--set", "tiny"]
    assert main(argv) == 0
    assert re.search(r"tiny\s+6\s", capsys.readouterr().out)
    assert main(["score", str(out), *common, "--set", "nope"]) == 2
    assert "unknown eval set(s) nope; known: tiny" in capsys.readouterr().err

    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    argv = ["run", *common, "--trained", str(out), "--tracking-uri", uri, "--no-promote"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "trained 4 steps, 12 of 6 windows" in printed
    run_id = re.search(r"run (\w+): registered reader version 1", printed)
    assert run_id is not None
    logged = Store.from_env(uri).client(create=False).get_run(run_id.group(1)).data
    assert logged.params["trained_elsewhere.stored_dtype"] == "float16"
    assert logged.params["epochs"] == "2" and logged.metrics["train_steps"] == 4
    assert "trained_elsewhere.processor" in logged.params

    # a reader trained on other data than this machine has is refused, naming the file
    other = write_squad(tmp_path / "tiny.json", PARAGRAPHS[:2])
    moved = ["--no-default-data", "--train", str(other), "--eval", f"tiny={other}"]
    argv = ["run", *moved, "--trained", str(out), "--tracking-uri", uri, "--no-promote"]
    assert main(argv) == 2
    assert "trained on other data than this machine has: data.tiny.json.sha256" in (
        capsys.readouterr().err
    )


def test_share_option_names_a_default_file(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["train", "--share", "nope.json=0.5", "--out", "/nonexistent/x"]) == 2
    assert "--share nope.json: not a default training file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--share", "qed_squad_train.json=2", "--out", "/x"])
