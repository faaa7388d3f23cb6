"""The gateway's environment variables (compose and Kubernetes are written against them)."""

from __future__ import annotations

import pytest

from gateway.clients import Clients
from gateway.settings import Settings
from services.common.settings import load_settings


def test_every_documented_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "ARXIVQA_GATEWAY_HOST": "0.0.0.0",
        "ARXIVQA_GATEWAY_PORT": "50060",
        "ARXIVQA_GATEWAY_HTTP_PORT": "8090",
        "ARXIVQA_GATEWAY_EMBEDDER_TARGET": "embedder:50051",
        "ARXIVQA_GATEWAY_RETRIEVER_TARGET": "retriever:50052",
        "ARXIVQA_GATEWAY_QA_TARGET": "",
        "ARXIVQA_GATEWAY_GRAPH_TARGET": "graph:50054",
        "ARXIVQA_GATEWAY_API_KEY": "s3cret",
        "ARXIVQA_GATEWAY_DEADLINE_SECONDS": "2.5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings(Settings)
    assert (s.host, s.port, s.http_port) == ("0.0.0.0", 50060, 8090)
    assert s.targets() == {
        "embedder": "embedder:50051",
        "retriever": "retriever:50052",
        "qa": "",
        "graph": "graph:50054",
    }
    assert s.api_key_value() == "s3cret" and s.deadline_seconds == 2.5
    clients = Clients(s.targets())
    try:
        assert clients.check("qa") == "NOT_CONFIGURED"
        assert not clients.configured("qa") and clients.configured("graph")
    finally:
        clients.close()


def test_defaults_and_an_empty_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARXIVQA_GATEWAY_API_KEY", "")
    s = Settings()
    assert (s.port, s.http_port) == (50050, 8080)
    assert s.api_key_value() is None
    assert s.targets()["qa"] == "127.0.0.1:50053"


def test_a_bad_target_stops_the_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARXIVQA_GATEWAY_RETRIEVER_TARGET", "retriever")
    with pytest.raises(SystemExit):
        load_settings(Settings)
    err = capsys.readouterr().err
    assert "ARXIVQA_GATEWAY_RETRIEVER_TARGET" in err and "host:port" in err
