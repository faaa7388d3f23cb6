"""The web page in a real headless chromium against the real gateway, services and data.

Each test drives the page as a person would (typing, clicking, the keyboard) and checks what
is on screen against the HTTP API's own answer for the same request. Screenshots of every
view are saved under test-artifacts/ui/ (git-ignored; the run ends by listing them), and the
README's under docs/screenshots/ when ARXIVQA_UI_DOCS_SCREENSHOTS=docs/screenshots is set.
"""

from __future__ import annotations

import collections
import re
from typing import Any
from urllib.parse import quote

import pytest
from gateway_stack import DEAD, FULLTEXT_IDS, Stack, Target, start_gateway
from playwright.sync_api import expect
from ui_stack import Neighbourhood, low_contrast, shoot, unlabelled

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

# Cumulative layout shift (Chromium's layout-shift entries), read back by the tests.
CLS_PROBE = """
window.__cls = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value;
}).observe({ type: "layout-shift", buffered: true });
"""


def ui(stack: Stack, fragment: str = "") -> str:
    return f"{stack.http.url}/ui/{fragment}"


def words(text: str) -> str:
    """Text as a browser renders it: runs of whitespace collapse to one space."""
    return " ".join(text.split())


def settled(page: Any) -> None:
    """Wait until the view shows its results for the URL now in the address bar."""
    page.wait_for_function("document.getElementById('view').dataset.rendered === location.hash")


def hit_ids(page: Any) -> list[str]:
    return page.locator("li.hit").evaluate_all("els => els.map(e => e.dataset.id)")


def test_root_redirects_to_the_page_and_everything_it_loads_is_served_here(
    stack: Stack, page: Any
) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    resp = page.goto(stack.http.url + "/")
    assert resp is not None and resp.ok
    assert page.url == ui(stack)
    page.wait_for_selector("form.search")
    assert requested
    assert all(u.startswith(stack.http.url) or u.startswith("data:") for u in requested), requested
    assert page.get_by_label("Search papers").is_visible()
    # Keyboard: the first Tab reaches "Skip to content", which moves focus to the view.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.url == ui(stack), "the skip link must not change the view in the URL"


def test_search_open_a_paper_see_its_graph_and_click_through_to_a_neighbour(
    stack: Stack, neighbourhood: Neighbourhood, page: Any
) -> None:
    hood = neighbourhood
    title = hood.titles[hood.center]
    page.add_init_script(CLS_PROBE)
    page.goto(ui(stack))
    page.get_by_label("Search papers").fill(title)
    page.get_by_label("Search papers").press("Enter")
    page.wait_for_selector("li.hit")
    assert "#/search?q=" in page.url
    assert hood.center in hit_ids(page)
    cls = page.evaluate("window.__cls")
    assert cls < 0.1, f"results moved the page: cumulative layout shift {cls:.3f}"
    assert low_contrast(page) == []
    assert unlabelled(page) == []
    shoot(page, "search", docs=True)

    page.locator(f'li.hit[data-id="{hood.center}"] h2 a').click()
    page.wait_for_selector(".graph-canvas svg a.node")
    assert page.url.endswith(f"#/paper/{hood.center}")
    # The new view has the keyboard focus (its start), not the link that is gone.
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.locator("h1").inner_text() == words(title)
    drawn = set(page.locator("svg a.node").evaluate_all("els => els.map(e => e.dataset.id)"))
    api = stack.client.get("/v1/subgraph", params={"id": hood.center, "depth": 1, "max_nodes": 50})
    assert drawn == {n["id"] for n in api.json()["nodes"]}
    assert drawn == {hood.center, *hood.cites, *hood.cited_by}
    assert page.locator("svg a.node.center").get_attribute("data-id") == hood.center
    edges = page.locator("svg g.edges line").count()
    assert edges == len(api.json()["edges"])
    refs = page.get_by_role("region", name="References")
    expect_heading = f"References ({len(hood.cites)})"
    assert refs.locator("h3").inner_text() == expect_heading
    page.wait_for_selector(".recs ol, .recs p.muted")
    page.wait_for_selector(".sims ol, .sims p.muted")
    assert low_contrast(page) == []
    assert unlabelled(page) == []
    shoot(page, "paper", full_page=True, docs=True)

    # Keyboard: focus a cited paper's node and press Enter.
    neighbour = hood.cites[0]
    page.locator(f'svg a.node[data-id="{neighbour}"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"#/paper/{re.escape(neighbour)}$"))
    page.wait_for_selector(f'svg a.node.center[data-id="{neighbour}"]')
    assert page.locator("h1").inner_text() == words(hood.titles[neighbour])
    assert page.locator(f'svg a.node[data-id="{hood.center}"]').count() == 1


def test_a_paper_page_shows_its_full_text_sections(stack: Stack, page: Any) -> None:
    pid = "2212.11802"  # 14 paragraphs in 8 sections
    assert pid in FULLTEXT_IDS
    api = stack.client.get(f"/v1/papers/{pid}/passages", params={"limit": 200}).json()
    assert api["total"] > 3 and len(api["passages"]) == api["total"]
    sections: list[str] = []
    for p in api["passages"]:
        if not sections or sections[-1] != p["section"]:
            sections.append(p["section"])
    assert len(sections) > 1
    page.add_init_script(CLS_PROBE)
    page.goto(ui(stack, f"#/paper/{pid}"))
    region = page.get_by_role("region", name="Full text")
    summary = region.locator("summary")
    summary.wait_for()
    # the page writes the summary once the count has come (and again on each toggle, in
    # the details element's asynchronous toggle event): wait for the text, do not sample it
    expect(summary).to_have_text(f"Show the full text: {api['total']} paragraphs")
    # folded until asked for: the boxes below it did not move while it loaded
    assert not region.locator("h3").first.is_visible()
    page.wait_for_selector(".recs ol, .recs p.muted")
    page.wait_for_selector(".sims ol, .sims p.muted")
    cls = page.evaluate("window.__cls")
    assert cls < 0.1, f"the paper page moved while loading: cumulative layout shift {cls:.3f}"
    # opened from the keyboard: every section heading and paragraph, in order
    summary.focus()
    page.keyboard.press("Enter")
    expect(region.locator("h3").first).to_be_visible()
    expect(summary).to_have_text(f"Hide the full text: {api['total']} paragraphs")
    assert region.locator("h3").all_inner_texts() == sections
    assert region.locator(".fulltext-text p").all_inner_texts() == [
        words(p["text"]) for p in api["passages"]
    ]
    assert low_contrast(page) == []
    assert unlabelled(page) == []
    region.scroll_into_view_if_needed()
    shoot(page, "paper-fulltext", docs=True)

    # a paper stored without full text says so, in the same one line
    page.goto(ui(stack, "#/paper/0704.0002"))
    none = page.get_by_role("region", name="Full text").locator(".fulltext-none")
    assert none.inner_text() == "No full text stored: Ask reads the abstract."


def radii(page: Any) -> dict[str, float]:
    """Each drawn paper's circle radius."""
    pairs = page.locator("svg a.node").evaluate_all(
        "els => els.map(e => [e.dataset.id, Number(e.querySelector('circle').getAttribute('r'))])"
    )
    return dict(pairs)


def test_graph_depth_cap_and_sizes_follow_the_controls(
    stack: Stack, neighbourhood: Neighbourhood, page: Any
) -> None:
    center = neighbourhood.center
    page.add_init_script(CLS_PROBE)
    page.goto(ui(stack, f"#/paper/{center}?depth=2&cap=25"))
    page.wait_for_selector("svg a.node")
    page.wait_for_selector(".recs ol, .recs p.muted")
    page.wait_for_selector(".sims ol, .sims p.muted")
    page.wait_for_selector(".cites .nlist")
    cls = page.evaluate("window.__cls")
    assert cls < 0.1, f"the paper page moved as it loaded: cumulative layout shift {cls:.3f}"
    drawn = page.locator("svg a.node").count()
    api = stack.client.get("/v1/subgraph", params={"id": center, "depth": 2, "max_nodes": 25})
    assert drawn == len(api.json()["nodes"]) == 25
    page.get_by_label("At most").select_option("50")
    page.wait_for_function("document.querySelectorAll('svg a.node').length !== 25")
    params = {"id": center, "depth": 2, "max_nodes": 50}
    sub = stack.client.get("/v1/subgraph", params=params).json()
    assert page.locator("svg a.node").count() == len(sub["nodes"])
    assert "cap=50" in page.url and "depth=2" in page.url

    # Sized by citations in the whole graph: the most cited paper is the largest circle.
    size = radii(page)
    cited = {n["id"]: n["citation_count"] for n in sub["nodes"]}
    assert max(size, key=lambda i: size[i]) == max(cited, key=lambda i: cited[i])
    assert all(size[a] <= size[b] for a in cited for b in cited if cited[a] < cited[b])
    by_citations = size
    # Sized by PageRank over the whole graph (each node's pagerank from the API): the most
    # central paper is the largest circle, and the sizes follow the scores, not the counts.
    page.get_by_label("Size by").select_option("pagerank")
    page.wait_for_url(re.compile(r"size=pagerank"))
    page.wait_for_function("document.querySelector('svg a.node') !== null")
    size = radii(page)
    pr = {n["id"]: n["pagerank"] for n in sub["nodes"]}
    assert all(score > 0 for score in pr.values())
    central = max(pr, key=lambda i: pr[i])
    assert max(size, key=lambda i: size[i]) == central
    assert all(size[a] <= size[b] + 0.1 for a in pr for b in pr if pr[a] < pr[b] * 0.99)
    assert size != by_citations
    # the smallest-ranked paper's circle against the most central one's: in proportion to
    # the square roots of their scores (5 px for nothing, 22 px for the top)
    leaf = min(pr, key=lambda i: pr[i])
    expected = 5 + 17 * (pr[leaf] / pr[central]) ** 0.5
    assert size[central] == pytest.approx(22, abs=0.1)
    assert size[leaf] == pytest.approx(expected, abs=0.1)
    label = page.locator(f'svg a.node[data-id="{central}"]').get_attribute("aria-label")
    assert label is not None and "PageRank " in label
    assert page.get_by_label("Size by").input_value() == "pagerank"
    shoot(page, "paper-graph-pagerank", docs=True)
    # Coloured by primary category, one colour each, as the legend says (most frequent first).
    js = "els => els.map(e => [e.dataset.category, e.querySelector('circle').getAttribute('fill')])"
    fills = page.locator("svg a.node").evaluate_all(js)
    legend = dict(
        page.locator(".legend .key").evaluate_all(
            "els => els.map(e => [e.dataset.category, e.dataset.colour])"
        )
    )
    counts = collections.Counter(n["categories"][0] for n in sub["nodes"])
    assert len(counts) > 1
    named = sorted(counts, key=lambda c: (-counts[c], c))[: len(legend) - ("other" in legend)]
    assert [c for c in legend if c != "other"] == named
    assert all(fill == legend.get(cat, legend.get("other")) for cat, fill in fills)
    assert len(set(legend.values())) == len(legend)
    assert low_contrast(page) == []
    assert unlabelled(page) == []


def test_ask_highlights_the_answer_span_inside_its_passage(
    stack: Stack, target: Target, page: Any
) -> None:
    page.goto(ui(stack, "#/ask"))
    page.get_by_label("Question").fill(target.question)
    page.get_by_role("button", name="Ask", exact=True).click()
    page.wait_for_selector("mark.answer")
    body = stack.client.post("/v1/ask", json={"question": target.question, "passages": 5}).json()
    best = body["answers"][0]
    first = page.locator("li.answer-card").first
    assert first.locator("mark.answer").inner_text() == best["text"]
    assert best["text"].lower() == target.answer.lower()
    assert first.locator(".answer-text strong").inner_text() == best["text"]
    assert first.locator(f'a[href="#/paper/{target.paper_id}"]').count() == 1
    assert best["evidence"] in first.locator(".evidence").inner_text()
    assert page.locator("li.passage").count() == len(body["passages"])
    assert low_contrast(page) == []
    assert unlabelled(page) == []
    shoot(page, "ask", full_page=True, docs=True)


def test_ask_says_when_the_passages_hold_no_answer(stack: Stack, page: Any) -> None:
    # The marker reader finds an answer only in its target paragraph: elsewhere it abstains.
    question = "What is the expected number of real zeros of random polynomials?"
    page.goto(ui(stack, "#/ask"))
    page.get_by_label("Question").fill(question)
    page.get_by_label("Question").press("Enter")
    box = page.locator(".msg.no-answer")
    box.wait_for()
    body = stack.client.post("/v1/ask", json={"question": question, "passages": 5}).json()
    assert body["answers_available"] and body["answers"] == []
    assert box.inner_text().startswith("No answer in these passages. Rephrase the question")
    assert page.locator("mark.answer").count() == 0
    ids = page.locator("li.passage").evaluate_all("els => els.map(e => e.dataset.id)")
    assert ids == [x["id"] for x in body["passages"]]
    shoot(page, "ask-no-answer")


def test_ask_without_qa_says_answers_are_unavailable_and_still_lists_passages(
    stack: Stack, target: Target, page: Any
) -> None:
    degraded = start_gateway(stack.services, qa=DEAD)
    try:
        page.goto(ui(degraded, f"#/ask?q={quote(target.question)}"))
        warn = page.locator(".msg.warn")
        warn.wait_for()
        assert "Answers are unavailable" in warn.inner_text()
        assert "arxivqa status" in warn.inner_text()
        # The transport error is there for whoever wants it, folded away.
        assert "failed to connect" not in warn.inner_text().lower()
        page.get_by_text("Details").click()
        assert "qa" in warn.locator("details p").inner_text()
        page.wait_for_selector("li.passage")
        assert page.locator("li.passage").count() >= 1
        assert page.locator("mark.answer").count() == 0
        assert low_contrast(page) == []
        assert unlabelled(page) == []
        shoot(page, "ask-qa-down")
    finally:
        degraded.stop()


def test_filters_and_paging_change_the_results(stack: Stack, page: Any) -> None:
    page.goto(ui(stack, "#/search?q=random+polynomials&mode=keywords"))
    page.wait_for_selector("li.hit")
    first = hit_ids(page)
    assert len(first) == 10
    where = page.locator(".pager .where").inner_text()
    assert where.startswith("1–10 of ")
    total = where.split(" of ")[1]
    assert page.locator("#announce").inner_text() == f"{total} papers; showing 1 to 10."
    page.get_by_role("button", name="Next page").click()
    page.wait_for_url(re.compile(r"page=2"))
    page.wait_for_function("document.querySelector('.pager .where')?.textContent.startsWith('11–')")
    second = hit_ids(page)
    assert second and not set(second) & set(first)
    api = stack.client.post(
        "/v1/search", json={"query": "random polynomials", "mode": "text", "k": 10, "offset": 10}
    ).json()
    assert second == [h["paper"]["id"] for h in api["hits"]]

    # The mode switch re-runs the search at once, from the first page.
    page.get_by_label("Meaning").check()
    page.wait_for_url(re.compile(r"mode=meaning"))
    assert "page=" not in page.url
    settled(page)
    api = stack.client.post(
        "/v1/search", json={"query": "random polynomials", "mode": "vector", "k": 10}
    ).json()
    assert hit_ids(page) == [h["paper"]["id"] for h in api["hits"]]
    page.get_by_label("Keywords").check()
    page.wait_for_url(re.compile(r"mode=keywords"))
    settled(page)
    assert hit_ids(page) == first

    page.get_by_label("Categories").fill("math.PR")
    page.get_by_label("From year").fill("2022")
    page.get_by_label("To year").fill("2022")
    page.get_by_label("Search papers").press("Enter")
    page.wait_for_url(re.compile(r"cat=math\.PR"))
    assert "page=" not in page.url
    settled(page)
    filtered = hit_ids(page)
    api = stack.client.post(
        "/v1/search",
        json={
            "query": "random polynomials",
            "mode": "text",
            "k": 10,
            "filters": {"categories": ["math.PR"], "year_from": 2022, "year_to": 2022},
        },
    ).json()
    assert filtered == [h["paper"]["id"] for h in api["hits"]]
    assert filtered and filtered != first
    for hit in page.locator("li.hit").all():
        assert "math.PR" in hit.locator(".cats").inner_text()
    # Query terms are highlighted in the snippets (whole words, plural or verb endings too).
    marks = page.locator("li.hit .snippet mark").all_inner_texts()
    term = re.compile(r"(?i)(random|polynomial)(s|es|ed|ing|ly)?")
    assert marks and all(term.fullmatch(m) for m in marks)
    shoot(page, "search-filtered")


def test_rank_and_path_views_show_what_the_api_returns(
    stack: Stack, neighbourhood: Neighbourhood, page: Any
) -> None:
    page.goto(ui(stack, "#/rank?k=10"))
    page.wait_for_selector("tr.ranked-row")
    api = stack.client.get("/v1/rank", params={"k": 10}).json()
    rows = page.locator("tr.ranked-row").evaluate_all("els => els.map(e => e.dataset.id)")
    assert rows == [r["paper"]["id"] for r in api["papers"]]
    assert low_contrast(page) == []
    assert unlabelled(page) == []
    shoot(page, "rank", docs=True)

    page.get_by_label("Categories").fill("cs.CV")
    page.get_by_label("From year").fill("2015")
    page.get_by_role("button", name="Rank", exact=True).click()
    page.wait_for_url(re.compile(r"cat=cs\.CV"))
    settled(page)
    api = stack.client.get(
        "/v1/rank", params={"k": 10, "category": "cs.CV", "year_from": 2015}
    ).json()
    rows = page.locator("tr.ranked-row").evaluate_all("els => els.map(e => e.dataset.id)")
    assert rows and rows == [r["paper"]["id"] for r in api["papers"]]
    assert rows != [r["paper"]["id"] for r in stack.client.get("/v1/rank").json()["papers"]]
    for row in page.locator("tr.ranked-row").all():
        assert "cs.CV" in row.locator(".cats").inner_text()
        assert int(row.locator("td").nth(2).inner_text()) >= 2015

    hood = neighbourhood
    src, dst = hood.cited_by[0], hood.cites[0]
    page.goto(ui(stack, f"#/path?from={src}&to={dst}"))
    page.wait_for_selector("ol.chain li")
    path = stack.client.get("/v1/path", params={"from_id": src, "to_id": dst}).json()
    assert path["found"]
    links = page.locator("ol.chain li > a").evaluate_all("els => els.map(e => e.hash)")
    assert links == [f"#/paper/{p['id']}" for p in path["path"]]
    assert links[0] == f"#/paper/{src}" and links[-1] == f"#/paper/{dst}"
    assert low_contrast(page) == []
    assert unlabelled(page) == []
    shoot(page, "path", docs=True)


def test_api_errors_are_shown_as_messages_a_person_can_act_on(stack: Stack, page: Any) -> None:
    page.goto(ui(stack, "#/paper/2301.99999"))
    err = page.locator(".msg.error")
    err.wait_for()
    text = err.inner_text()
    api = stack.client.get("/v1/papers/2301.99999")
    assert api.status_code == 404
    assert api.json()["error"]["message"] in text
    assert "2301.99999" in text and "Check the arXiv id" in text
    assert low_contrast(page) == []
    assert unlabelled(page) == []
    shoot(page, "error-not-found", docs=True)

    page.goto(ui(stack, "#/path?from=not%20an%20id&to=1412.6980"))
    err = page.locator(".msg.error")
    err.wait_for()
    assert "from_id is not an arXiv id: use one like 1412.6980" in err.inner_text()
    assert "Check the values you entered" in err.inner_text()
    assert "pattern" not in err.inner_text()

    # The gateway goes away while the page is open.
    gone = start_gateway(stack.services)
    page.goto(ui(gone, "#/search"))
    page.wait_for_selector("form.search")
    gone.stop()
    page.get_by_label("Search papers").fill("neural networks")
    page.get_by_label("Search papers").press("Enter")
    err = page.locator(".msg.error")
    err.wait_for()
    assert "Cannot reach the gateway" in err.inner_text()
    assert err.locator("code").all_inner_texts() == ["make up"]
    assert "`" not in err.inner_text()


def test_phone_width_has_no_horizontal_scrolling(
    stack: Stack, neighbourhood: Neighbourhood, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(ui(stack, "#/search?q=random+polynomials"))
        page.wait_for_selector("li.hit")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        # The filters are folded away on a phone (the results come first), a tap opens them.
        assert not page.get_by_label("Categories").is_visible()
        page.locator("summary", has_text="Filters").click()
        assert page.get_by_label("Categories").is_visible()
        shoot(page, "phone-search")
        page.goto(ui(stack, "#/search?q=random+polynomials&cat=math.PR"))
        page.wait_for_selector("li.hit")
        assert page.get_by_label("Categories").input_value() == "math.PR"
        assert page.get_by_label("Categories").is_visible()
        assert page.locator("summary", has_text="Filters (1 set)").count() == 1
        page.goto(ui(stack, f"#/paper/{neighbourhood.center}"))
        page.wait_for_selector("svg a.node")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the paper page is {width} px wide on a 390 px screen"
        shoot(page, "phone-paper", docs=True)
    finally:
        context.close()


def test_author_and_category_links_lead_to_filtered_results(stack: Stack, page: Any) -> None:
    paper = stack.client.get("/v1/papers/0704.0002").json()["paper"]
    author = paper["authors"][-1]
    page.goto(ui(stack, "#/paper/0704.0002"))
    page.get_by_role("link", name=author, exact=True).click()
    page.wait_for_selector("li.hit")
    assert "author=" in page.url
    assert page.locator(".msg.error").count() == 0
    ids = hit_ids(page)
    assert "0704.0002" in ids
    for hit in page.locator("li.hit .meta").all_inner_texts():
        assert author in hit

    # A category chip on a result searches the same words within that category.
    page.goto(ui(stack, "#/search?q=random+polynomials&mode=keywords"))
    page.wait_for_selector("li.hit")
    chip = page.locator("li.hit .cats a.chip").first
    category = chip.inner_text()
    chip.click()
    page.wait_for_url(re.compile(rf"cat={re.escape(quote(category))}"))
    settled(page)
    assert "q=random+polynomials" in page.url
    api = stack.client.post(
        "/v1/search",
        json={
            "query": "random polynomials",
            "mode": "text",
            "k": 10,
            "filters": {"categories": [category]},
        },
    ).json()
    assert hit_ids(page) == [h["paper"]["id"] for h in api["hits"]]
