"""The OAI-PMH harvester against a local server playing recorded arXiv responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from conftest import FIXTURES, ArxivServer, CollectingSink, Reply, settings

from gateway.arxiv import oai
from gateway.arxiv.harvest import Harvester
from gateway.arxiv.http import FetchError, PoliteFetcher, retry_after_seconds

THREE = "oai/ThomasRobertson-arXiv-api-extraction_3page_harvest"
PAPERHIVE = "oai/paperhive-oai-pmh_nock/bodies"


def three_pages(data: Path):  # type: ignore[no-untyped-def]
    pages = {
        None: data / THREE / "request1.xml",
        "6965856|1001": data / THREE / "request2.xml",
        "6965856|2001": data / THREE / "request3.xml",
    }

    def route(path: str, q: dict[str, str]) -> Reply | None:
        if path != "/oai2" or q.get("verb") != "ListRecords":
            return None
        token = q.get("resumptionToken")
        if token is None and q.get("from") != "2021-03-20":
            return None  # only the recorded request
        return Reply.file(pages[token]) if token in pages else None

    return route


def harvester(server: ArxivServer, tmp_path: Path, sink: CollectingSink, **kw: object) -> Harvester:
    s = settings(server, tmp_path, **kw)
    return Harvester(s, PoliteFetcher(s), sink, Path(s.data_dir))


def run_three(h: Harvester) -> object:
    return h.harvest_oai(set_spec="cs", prefix="oai_dc", from_date="2021-03-20", until="2021-03-30")


def test_full_three_page_harvest_follows_resumption_tokens(
    arxiv_server: ArxivServer, arxiv_data: Path, tmp_path: Path
) -> None:
    arxiv_server.routes.append(three_pages(arxiv_data))
    sink = CollectingSink()
    summary = run_three(harvester(arxiv_server, tmp_path, sink))
    assert [len(b.records) for b in sink.batches] == [1000, 1000, 358]
    assert len(set(sink.ids)) == len(sink.ids) == 2358  # completeListSize
    first = arxiv_server.hits[0].query
    assert first == {
        "verb": "ListRecords",
        "metadataPrefix": "oai_dc",
        "set": "cs",
        "from": "2021-03-20",
        "until": "2021-03-30",
    }
    assert [h.query.get("resumptionToken") for h in arxiv_server.hits[1:]] == [
        "6965856|1001",
        "6965856|2001",
    ]
    assert summary.pages == 3 and summary.records == 2358 and not summary.malformed
    assert "arxivqa-harvester" in arxiv_server.hits[0].user_agent
    assert "tests@arxivqa.invalid" in arxiv_server.hits[0].user_agent
    state = json.loads(Path(summary.state_file).read_text())
    assert state["in_progress"] is False and state["token"] is None
    assert "2021-03-20" <= state["last_datestamp"] <= "2021-03-30"
    # oai_dc records become Kaggle-format records the gateway parses
    rec = sink.batches[0].records[0]
    assert rec["id"] == "0912.0228" and rec["title"] == "Answering Hilbert's 1st Problem"
    assert rec["authors_parsed"] == [["Sauerbier", "Charles", ""]]


def test_interrupted_harvest_resumes_at_the_first_unacknowledged_page(
    arxiv_server: ArxivServer, arxiv_data: Path, tmp_path: Path
) -> None:
    arxiv_server.routes.append(three_pages(arxiv_data))
    broken = CollectingSink(fail_on=2)  # page 2 never reaches the gateway
    with pytest.raises(ConnectionError):
        run_three(harvester(arxiv_server, tmp_path, broken))
    assert len(broken.ids) == 1000
    arxiv_server.hits.clear()
    sink = CollectingSink()
    summary = harvester(arxiv_server, tmp_path, sink).harvest_oai(set_spec="cs", prefix="oai_dc")
    assert summary.resumed
    # the first request of the second run uses page 1's token: page 1 is not fetched again
    assert arxiv_server.hits[0].query == {"verb": "ListRecords", "resumptionToken": "6965856|1001"}
    assert len(sink.ids) == 1358
    assert set(broken.ids).isdisjoint(sink.ids)
    assert len(set(broken.ids) | set(sink.ids)) == 2358


def test_second_run_is_incremental_and_no_records_match_is_an_empty_success(
    arxiv_server: ArxivServer, arxiv_data: Path, tmp_path: Path
) -> None:
    arxiv_server.routes.append(three_pages(arxiv_data))
    empty = arxiv_data / "oai/invenio-oaiharvester/sample_empty_response.xml"
    arxiv_server.routes.append(lambda p, q: Reply.file(empty) if "from" in q else None)
    sink = CollectingSink()
    first = run_three(harvester(arxiv_server, tmp_path, sink))
    last = json.loads(Path(first.state_file).read_text())["last_datestamp"]
    assert last and last >= "2021-03-20"
    arxiv_server.hits.clear()
    again = harvester(arxiv_server, tmp_path, CollectingSink()).harvest_oai(
        set_spec="cs", prefix="oai_dc"
    )
    q = arxiv_server.hits[0].query
    assert q["from"] == last and "resumptionToken" not in q and "until" not in q
    assert again.pages == 1 and again.records == 0 and not again.malformed  # noRecordsMatch
    assert len(arxiv_server.hits) == 1


def test_503_retry_after_is_honoured(
    arxiv_server: ArxivServer, arxiv_data: Path, tmp_path: Path
) -> None:
    body503 = (
        arxiv_data
        / PAPERHIVE
        / "oaipmh-listrecords---should-list-identifiers-from-arxiv.0.status503.html"
    )
    ok = (
        arxiv_data
        / PAPERHIVE
        / "oaipmh-listrecords---should-list-identifiers-from-arxiv.1.status200.xml"
    )
    calls = iter(
        [
            Reply(503, body503.read_bytes(), {"Retry-After": "1", "Content-Type": "text/html"}),
            Reply.file(ok),
        ]
    )
    arxiv_server.routes.append(lambda p, q: next(calls))
    sink = CollectingSink()
    summary = harvester(arxiv_server, tmp_path, sink).harvest_oai(
        set_spec="", prefix="arXiv", from_date="2015-01-01", until="2015-01-03"
    )
    assert len(arxiv_server.hits) == 2
    assert arxiv_server.gaps()[0] >= 1.0  # measured by the server
    assert len(sink.ids) == 2 and sink.ids[0] == "1412.8544"
    assert summary.records == 2


def test_retry_after_forms_and_the_give_up(arxiv_server: ArxivServer, tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("10") == 10.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds("soon") is None
    arxiv_server.routes.append(lambda p, q: Reply(503, b"busy", {"Retry-After": "0"}))
    s = settings(arxiv_server, tmp_path, max_retries=2)
    with PoliteFetcher(s) as f, pytest.raises(FetchError, match="503 3 times"):
        f.get(f"{arxiv_server.url}/oai2")
    assert len(arxiv_server.hits) == 3
    too_long = settings(arxiv_server, tmp_path, max_retry_after=5)
    arxiv_server.routes.insert(0, lambda p, q: Reply(503, b"busy", {"Retry-After": "3600"}))
    with PoliteFetcher(too_long) as f, pytest.raises(FetchError, match="MAX_RETRY_AFTER"):
        f.get(f"{arxiv_server.url}/oai2")


def test_network_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    # A port nothing listens on: connection refused, retried, then a clear error.
    from gateway.arxiv.settings import HarvestSettings

    slept: list[float] = []
    s = HarvestSettings(min_interval=0, backoff=0.5, max_retries=3, timeout=2)
    with PoliteFetcher(s, sleep=slept.append) as f, pytest.raises(FetchError, match="4 tries"):
        f.get("http://127.0.0.1:1/oai2")
    assert slept == [0.5, 1.0, 2.0]


def test_politeness_interval_is_enforced_between_requests(
    arxiv_server: ArxivServer, arxiv_data: Path, tmp_path: Path
) -> None:
    arxiv_server.routes.append(three_pages(arxiv_data))
    run_three(harvester(arxiv_server, tmp_path, CollectingSink(), min_interval=0.6))
    gaps = arxiv_server.gaps()
    assert len(gaps) == 2 and min(gaps) >= 0.6 - 0.01, gaps


def test_malformed_records_are_reported_and_the_good_ones_kept(
    arxiv_server: ArxivServer, tmp_path: Path
) -> None:
    arxiv_server.routes.append(lambda p, q: Reply.file(FIXTURES / "malformed_page.xml"))
    sink = CollectingSink()
    summary = harvester(arxiv_server, tmp_path, sink).harvest_oai(
        set_spec="cs", prefix="arXiv", from_date="2015-01-16"
    )
    assert sink.ids == ["1501.99901", "1501.99905"]
    assert len(summary.malformed) == 3
    text = "\n".join(summary.malformed)
    assert "1501.99902" in text and "without a title" in text
    assert "1501.99903" in text and "bad date" in text
    assert "without <identifier>" in text


def test_arxivraw_versions_and_deleted_records(arxiv_server: ArxivServer, tmp_path: Path) -> None:
    pages = {None: "arxivraw_page1.xml", "1234567|1001": "arxivraw_page2.xml"}
    arxiv_server.routes.append(lambda p, q: Reply.file(FIXTURES / pages[q.get("resumptionToken")]))
    sink = CollectingSink()
    summary = harvester(arxiv_server, tmp_path, sink).harvest_oai(
        set_spec="physics", prefix="arXivRaw", from_date="2011-11-08"
    )
    assert summary.pages == 2 and summary.deleted == 1 and len(summary.malformed) == 1
    first, second = sink.batches
    assert [r["id"] for r in first.records] == ["1111.2011", "2101.99901"]
    v2 = second.records[0]
    assert [v["version"] for v in v2["versions"]] == ["v1", "v2"]
    assert v2["update_date"] == "2012-04-02"
    assert second.delete_ids == ["2101.99901"]
    page = oai.parse_page((FIXTURES / "arxivraw_page2.xml").read_bytes())
    rec = page.records[0]
    assert isinstance(rec, oai.Record) and rec.version == 2


def test_expired_resumption_token_restarts_the_request(
    arxiv_server: ArxivServer, tmp_path: Path
) -> None:
    expired = {"yes": False}  # the token expires between the two runs

    def route(path: str, q: dict[str, str]) -> Reply:
        if q.get("resumptionToken") == "1234567|1001" and expired["yes"]:
            expired["yes"] = False
            return Reply.file(FIXTURES / "bad_resumption_token.xml")
        page = "arxivraw_page2.xml" if q.get("resumptionToken") else "arxivraw_page1.xml"
        return Reply.file(FIXTURES / page)

    arxiv_server.routes.append(route)
    h = harvester(arxiv_server, tmp_path, CollectingSink(fail_on=2))
    with pytest.raises(ConnectionError):
        h.harvest_oai(set_spec="physics", prefix="arXivRaw", from_date="2011-11-08")
    arxiv_server.hits.clear()
    expired["yes"] = True
    sink = CollectingSink()
    summary = harvester(arxiv_server, tmp_path, sink).harvest_oai(
        set_spec="physics", prefix="arXivRaw"
    )
    tokens = [h.query.get("resumptionToken") for h in arxiv_server.hits]
    assert tokens == ["1234567|1001", None, "1234567|1001"]
    assert arxiv_server.hits[1].query["from"] == "2011-11-08"
    assert summary.resumed and "1111.2011" in sink.ids and len(sink.batches) == 2


def test_a_non_oai_answer_is_a_clear_error(arxiv_server: ArxivServer, tmp_path: Path) -> None:
    arxiv_server.routes.append(lambda p, q: Reply(200, b"<html>maintenance</html>"))
    with pytest.raises(oai.OAIError, match="not an OAI-PMH response"):
        harvester(arxiv_server, tmp_path, CollectingSink()).harvest_oai(from_date="2024-01-01")


def test_first_cli_harvest_of_a_set_starts_a_week_ago(
    arxiv_server: ArxivServer,
    arxiv_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gateway import cli
    from gateway.harvest_cli import last_week

    empty = arxiv_data / "oai/invenio-oaiharvester/sample_empty_response.xml"
    arxiv_server.routes.append(lambda p, q: Reply.file(empty))
    monkeypatch.setenv("ARXIVQA_HARVEST_DATA_DIR", str(tmp_path / "harvest"))
    # noRecordsMatch: nothing reaches the gateway, so none needs to run
    rc = cli.main(
        ["harvest", "--endpoint", f"{arxiv_server.url}/oai2", "--min-interval", "0",
         "--gateway", "127.0.0.1:1"]
    )  # fmt: skip
    assert rc == 0
    assert arxiv_server.hits[0].query["from"] == last_week()
    out = capsys.readouterr().out
    assert "first harvest of cs" in out and "0 records" in out
