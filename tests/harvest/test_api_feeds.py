"""The arXiv API client (Atom, feedparser) against recorded feeds on a local server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ArxivServer, CollectingSink, Reply, settings

from gateway.arxiv import atom
from gateway.arxiv.harvest import Harvester, api_query
from gateway.arxiv.http import PoliteFetcher

GOLDEN = "api/arxiv.py_2026_golden/xml"


def api_route(data: Path):  # type: ignore[no-untyped-def]
    files = list((data / GOLDEN).glob("*.xml"))

    def route(path: str, q: dict[str, str]) -> Reply | None:
        if path != "/api/query":
            return None
        if q.get("id_list"):
            stem = "id_" + q["id_list"].replace(",", "_").replace("/", "_")
        else:
            stem = "q_testing"  # the recorded query, whatever is asked
        stem += f"_s{q.get('start', '0')}_m{q.get('max_results', '10')}_"
        match = [f for f in files if f.name.startswith(stem)]
        if not match:
            return None
        status = 400 if stem.startswith("id_abc") else 200
        return Reply.file(match[0], status)

    return route


def test_paging_through_results_is_consistent_with_one_big_page(
    arxiv_server: ArxivServer, arxiv_data: Path, tmp_path: Path
) -> None:
    arxiv_server.routes.append(api_route(arxiv_data))
    with PoliteFetcher(settings(arxiv_server, tmp_path)) as f:
        pages = list(
            atom.query(
                f, f"{arxiv_server.url}/api/query", search_query="testing", page_size=10, limit=60
            )
        )
    assert [start for start, _ in pages] == [0, 10, 20, 30, 40, 50]
    ids = [r.id for _, feed in pages for r in feed.records]
    big = atom.parse_feed((next((arxiv_data / GOLDEN).glob("q_testing_s0_m100_*"))).read_bytes())
    assert ids == [r.id for r in big.records[:60]]
    assert pages[0][1].total == 214881
    first = pages[0][1].records[0]
    assert first.kaggle["title"] and first.kaggle["categories"].split()[0] == "cs.SE"
    assert first.version == 1 and "v" not in first.id


def test_empty_results_and_the_error_feed(arxiv_data: Path) -> None:
    empty = atom.parse_feed(next((arxiv_data / GOLDEN).glob("id_0000.0000_*")).read_bytes())
    assert empty.records == [] and empty.total == 0
    with pytest.raises(atom.ApiError, match="incorrect id format for abc"):
        atom.parse_feed(next((arxiv_data / GOLDEN).glob("id_abc_*")).read_bytes())


def test_legacy_and_current_serialisations_parse_alike(arxiv_data: Path) -> None:
    old = atom.parse_feed((arxiv_data / "api/arxiv.py_2016/id_list_1111.2011v2.xml").read_bytes())
    rec = old.records[0]
    assert rec.id == "1111.2011" and rec.version == 2
    assert rec.kaggle["authors"] == "James M. Murray, Adrian Del Maestro, Zlatko Tesanovic"
    assert rec.kaggle["categories"].startswith("cond-mat.str-el")
    new = atom.parse_feed(next((arxiv_data / GOLDEN).glob("id_1605.08386_*")).read_bytes())
    assert (
        new.records[0].id == "1605.08386" and new.records[0].kaggle["update_date"] == "2016-05-26"
    )


def test_api_harvest_is_resumable_by_offset(
    arxiv_server: ArxivServer, arxiv_data: Path, tmp_path: Path
) -> None:
    arxiv_server.routes.append(api_route(arxiv_data))
    s = settings(arxiv_server, tmp_path)
    broken = CollectingSink(fail_on=3)
    with pytest.raises(ConnectionError):
        Harvester(s, PoliteFetcher(s), broken, Path(s.data_dir)).harvest_api(
            set_spec="cs", page_size=10, limit=50
        )
    sink = CollectingSink()
    summary = Harvester(s, PoliteFetcher(s), sink, Path(s.data_dir)).harvest_api(
        set_spec="cs", page_size=10, limit=50
    )
    assert summary.resumed
    assert arxiv_server.hits[-3].query["start"] == "20"
    assert len(broken.ids) == 20 and len(sink.ids) == 30
    assert arxiv_server.hits[0].query["search_query"] == "cat:cs.*"
    assert json.loads(Path(summary.state_file).read_text())["start"] == 50


def test_api_query_for_sets_and_dates() -> None:
    assert api_query("physics:hep-th", None, None) == "cat:hep-th"
    assert api_query("cs", "2026-11-26", "2026-12-03") == (
        "cat:cs.* AND submittedDate:[202611260000 TO 202612032359]"
    )
