// arxivqa's web page: search, ask, read a paper, its citation graph, paths and rankings.
// Plain JavaScript modules over the gateway's HTTP API. The view and its inputs live in
// the URL fragment (#/search?q=...), so every view can be bookmarked and shared.

import { api } from "./api.js";
import { archiveOf, colourOf, drawGraph } from "./graph.js";

const PAGE = 10;
const MODES = [
  ["hybrid", "hybrid", "Hybrid", "keywords and meaning combined"],
  ["keywords", "text", "Keywords", "BM25 over titles and abstracts"],
  ["meaning", "vector", "Meaning", "nearest by embedding"],
];
// Words the keyword index ignores (Redis Search's default stop words) and question words:
// never highlighted.
const STOP = new Set(("a an and are as at be but by for if in into is it no not of on or such that the their " +
  "then there these they this to was will with how what when where which who why does do").split(" "));
// Endings highlighted together with a query term ("method" marks "methods"), as the
// keyword index's English stemmer matches them.
const SUFFIX = "(?:s|es|ed|ing|ly)?";

// ---- tiny DOM helpers ----------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// Text whose `backquoted` parts (commands) are shown as code.
function withCode(text) {
  return String(text).split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

function errorBox(err, what) {
  const hint = err && err.hint ? err.hint : "";
  return h("div", { class: "msg error", role: "alert" },
    h("strong", {}, `Could not ${what}: `), err && err.message ? err.message : String(err),
    hint ? h("div", { class: "hint" }, withCode(hint)) : null);
}

// Said by screen readers (one polite live region for the whole page): what a view found.
function announce(text) {
  const el = document.getElementById("announce");
  if (el) el.textContent = text;
}

function note(text, kind = "info") {
  return h("div", { class: `msg ${kind}`, role: "status" }, text);
}

function skeleton(lines = 3, cls = "") {
  return h("div", { class: `skeleton ${cls}`, "aria-busy": "true", "aria-label": "Loading" },
    ...Array.from({ length: lines }, () => h("div", { class: "bar" })));
}

function listParam(v) {
  return (v || "").split(",").map((s) => s.trim()).filter(Boolean);
}

function intParam(v) {
  if (v === null || v === undefined || String(v).trim() === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : NaN;
}

function hashFor(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "" || v === false) continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ""}`;
}

function setHash(path, params) {
  const next = hashFor(path, params);
  if (location.hash === next) render();
  else location.hash = next;
}

// Papers by an author: the keyword index holds titles and abstracts, not names, so this is a
// meaning search for the name restricted to the author (the filter does the work).
function authorHref(name) {
  return hashFor("/search", { q: name, mode: "meaning", author: name });
}

function queryTerms(q) {
  return [...new Set(
    (q || "").toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((t) => t.length > 1 && !STOP.has(t)),
  )];
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Text with every query term (a whole word, or the word with a plural or verb ending)
// wrapped in <mark>.
function highlight(text, terms) {
  const frag = document.createDocumentFragment();
  if (!terms.length || !text) {
    frag.append(text || "");
    return frag;
  }
  const stems = [...new Set(terms.map((t) => (t.length > 4 ? t.replace(/(?<!s)s$/, "") : t)))];
  const re = new RegExp(
    `(?<![\\p{L}\\p{N}])(?:${stems.map(escapeRe).join("|")})${SUFFIX}(?![\\p{L}\\p{N}])`, "giu");
  let last = 0;
  for (const m of text.matchAll(re)) {
    frag.append(text.slice(last, m.index));
    frag.append(h("mark", {}, m[0]));
    last = m.index + m[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

// About `size` characters of `text` around the first query term.
function snippet(text, terms, size = 320) {
  if (!text || text.length <= size) return text || "";
  const lower = text.toLowerCase();
  let at = -1;
  for (const t of terms) {
    const i = lower.indexOf(t);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  let start = Math.max(0, at - 80);
  if (at < 0) start = 0;
  const space = text.lastIndexOf(" ", start);
  start = start > 0 && space > 0 ? space + 1 : start;
  const end = Math.min(text.length, start + size);
  return `${start > 0 ? "… " : ""}${text.slice(start, end)}${end < text.length ? " …" : ""}`;
}

// Up to `max` author names, each a link to their papers.
function authorsLine(authors, max = 6) {
  if (!authors || !authors.length) return [];
  const names = authors.slice(0, max).flatMap((a, i) => [i ? ", " : "",
    h("a", { class: "author", href: authorHref(a), title: `Papers by ${a}` }, a)]);
  return authors.length > max ? [...names, ` et al. (${authors.length})`] : names;
}

// Category chips; `link(c)` gives each chip's [href, title].
function catChips(categories, link) {
  return h("span", { class: "cats" }, ...(categories || []).map((c) => {
    const [href, title] = link(c);
    return h("a", { class: "chip", href, style: `--c:${colourOf(archiveOf([c]))}`, title }, c);
  }));
}

function arxivLink(paper) {
  const url = paper.url || `https://arxiv.org/abs/${paper.id}`;
  return h("a", { href: url, class: "ext", rel: "noopener", target: "_blank" }, `arXiv:${paper.id}`);
}

function paperLink(paper, terms = []) {
  return h("a", { href: `#/paper/${paper.id}` }, highlight(paper.title || paper.id, terms));
}

function pager(offset, shown, total, go) {
  const page = Math.floor(offset / PAGE) + 1;
  const pages = Math.max(1, Math.ceil(total / PAGE));
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1), "aria-label": "Previous page" }, "← Previous"),
    h("span", { class: "where" }, total ? `${offset + 1}–${offset + shown} of ${total}` : "0"),
    h("button", { type: "button", disabled: page >= pages, onclick: () => go(page + 1), "aria-label": "Next page" }, "Next →"));
}

function field(label, input, help = "") {
  const id = input.id;
  return h("div", { class: "field" },
    h("label", { for: id }, label), input, help ? h("small", { id: `${id}-help` }, help) : null);
}

// The filters, folded away on a phone unless some are set (wide screens show them open).
function filtersFieldset(p) {
  const set = ["cat", "from", "to", "author"].filter((k) => p.get(k)).length;
  const open = set > 0 || !window.matchMedia("(max-width: 700px)").matches;
  return h("details", { class: "filter-box", open },
    h("summary", {}, set ? `Filters (${set} set)` : "Filters"),
    filterFields(p));
}

function filterFields(p) {
  return h("fieldset", { class: "filters" },
    h("legend", { class: "sr-only" }, "Filters"),
    field("Categories", h("input", { id: "f-cat", name: "cat", value: p.get("cat") || "", placeholder: "cs.LG, math.PR", "aria-describedby": "f-cat-help" }), "comma-separated"),
    field("From year", h("input", { id: "f-from", name: "from", type: "number", inputmode: "numeric", min: 1990, max: 2100, value: p.get("from") || "" })),
    field("To year", h("input", { id: "f-to", name: "to", type: "number", inputmode: "numeric", min: 1990, max: 2100, value: p.get("to") || "" })),
    field("Authors", h("input", { id: "f-author", name: "author", value: p.get("author") || "", placeholder: "Diederik P. Kingma", "aria-describedby": "f-author-help" }), "comma-separated"));
}

function filtersFrom(p) {
  return {
    categories: listParam(p.get("cat")),
    year_from: intParam(p.get("from")),
    year_to: intParam(p.get("to")),
    authors: listParam(p.get("author")),
  };
}

function formParams(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) out[k] = typeof v === "string" ? v.trim() : v;
  return out;
}

// ---- Search ---------------------------------------------------------------------------
async function viewSearch(root, p, token) {
  const q = p.get("q") || "";
  const mode = MODES.find((m) => m[0] === p.get("mode")) || MODES[0];
  const page = Math.max(1, intParam(p.get("page")) || 1);
  const form = h("form", { class: "search", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    setHash("/search", { ...formParams(form), page: "" });
  } },
    h("div", { class: "row" },
      h("label", { for: "q", class: "sr-only" }, "Search papers"),
      h("input", { id: "q", name: "q", type: "search", value: q, placeholder: "Search papers, e.g. graph neural networks for molecules", autocomplete: "off" }),
      h("button", { type: "submit" }, "Search")),
    h("fieldset", { class: "modes" }, h("legend", {}, "Match by"),
      ...MODES.map(([key, , label, help]) => h("label", { title: help },
        h("input", {
          type: "radio", name: "mode", value: key, checked: key === mode[0],
          // Switching the mode re-runs the search at once (from page 1).
          onchange: () => { if (form.q.value.trim()) form.requestSubmit(); },
        }), ` ${label}`))),
    filtersFieldset(p));
  const results = h("section", { class: "results", "aria-label": "Results" });
  root.replaceChildren(h("h1", { class: "sr-only" }, "Search"), form, results);
  if (!q.trim()) {
    const filtered = ["cat", "from", "to", "author"].some((k) => p.get(k));
    results.append(note(filtered
      ? "Type a query to search within these filters: words from a title or abstract, or a description of what you are looking for."
      : "Type a query: words from a title or abstract, or a description of what you are looking for. Results can be filtered by category, years and authors."));
    return;
  }
  results.append(skeleton(PAGE * 2, "hits"));
  const offset = (page - 1) * PAGE;
  let res;
  try {
    res = await api.search({ query: q, mode: mode[1], filters: filtersFrom(p), k: PAGE, offset });
  } catch (err) {
    if (token !== current) return;
    results.replaceChildren(errorBox(err, "search"));
    return;
  }
  if (token !== current) return;
  const terms = queryTerms(q);
  const go = (n) => setHash("/search", { ...Object.fromEntries(p), page: n });
  if (!res.hits.length) {
    results.replaceChildren(note(offset ? "No more results: go back a page." : "No papers match. Try other words, the Meaning mode, or fewer filters."));
    announce("No papers match.");
    if (offset) results.append(pager(offset, 0, res.total, go));
    return;
  }
  announce(`${res.total} papers; showing ${offset + 1} to ${offset + res.hits.length}.`);
  results.replaceChildren(
    h("p", { class: "count" }, `${res.total} papers · ${mode[2].toLowerCase()} search`),
    h("ol", { class: "hits", start: offset + 1 }, ...res.hits.map((hit) => {
      const paper = hit.paper;
      return h("li", { class: "hit", "data-id": paper.id },
        h("h2", { class: "hit-title" }, paperLink(paper, terms)),
        h("div", { class: "meta" }, ...authorsLine(paper.authors), paper.year ? `${paper.authors?.length ? " · " : ""}${paper.year}` : "", " · ", arxivLink(paper)),
        catChips(paper.categories, (c) => [
          hashFor("/search", { ...Object.fromEntries(p), cat: c, page: "" }), `Search “${q}” within ${c}`]),
        h("p", { class: "snippet" }, highlight(snippet(paper.abstract, terms), terms)));
    })),
    pager(offset, res.hits.length, res.total, go));
}

// ---- Ask ------------------------------------------------------------------------------
function cp(text) {
  return Array.from(text || "");
}

// The passage with the answer's span (character offsets into the passage) highlighted.
function passageWithSpan(text, start, end) {
  const chars = cp(text);
  return h("blockquote", { class: "passage-text" },
    chars.slice(0, start).join(""),
    h("mark", { class: "answer" }, chars.slice(start, end).join("")),
    chars.slice(end).join(""));
}

async function viewAsk(root, p, token) {
  const q = p.get("q") || "";
  const n = Math.min(50, Math.max(1, intParam(p.get("n")) || 5));
  const form = h("form", { class: "ask", onsubmit: (ev) => {
    ev.preventDefault();
    setHash("/ask", formParams(form));
  } },
    h("div", { class: "row" },
      h("label", { for: "question", class: "sr-only" }, "Question"),
      h("input", { id: "question", name: "q", type: "search", value: q, placeholder: "Ask a question, e.g. which dataset was used for evaluation?", autocomplete: "off" }),
      h("button", { type: "submit" }, "Ask")),
    h("div", { class: "inline" }, field("Passages to read", h("select", { id: "n", name: "n" },
      ...[3, 5, 10, 20].map((v) => h("option", { value: v, selected: v === n }, v))))),
    filtersFieldset(p));
  const out = h("section", { class: "answers", "aria-label": "Answers" });
  root.replaceChildren(h("h1", { class: "sr-only" }, "Ask"), form, out);
  if (!q.trim()) {
    out.append(note("Ask a question in plain words. Answers are extracted from the papers' abstracts and full texts, each shown inside the passage it came from."));
    return;
  }
  out.append(skeleton(8, "answer-skel"));
  let res;
  try {
    res = await api.ask({ question: q, passages: n, top_k: 3, filters: filtersFrom(p) });
  } catch (err) {
    if (token !== current) return;
    out.replaceChildren(errorBox(err, "answer the question"));
    return;
  }
  if (token !== current) return;
  const byId = new Map(res.passages.map((x) => [x.id, x]));
  const parts = [];
  if (!res.answers_available) {
    parts.push(h("div", { class: "msg warn" },
      h("strong", {}, "Answers are unavailable right now: "),
      "the question-answering service (qa) is not answering. The passages that would have been read are listed below.",
      h("div", { class: "hint" }, withCode("Retry in a moment; if it persists, `arxivqa status` shows whether qa is running (`make up` starts it).")),
      res.note ? h("details", {}, h("summary", {}, "Details"), h("p", {}, res.note)) : null));
  } else if (!res.passages.length) {
    parts.push(h("div", { class: "msg info no-answer" },
      h("strong", {}, "No passages match this question. "),
      "Try other words, or loosen the filters."));
  } else if (!res.answers.length) {
    const said = /^no answer in these passages\.?$/i.test(res.note || "") ? "" : res.note;
    parts.push(h("div", { class: "msg info no-answer" },
      h("strong", {}, "No answer in these passages. "),
      said ? `${said}. ` : "",
      "Rephrase the question, read more passages, or loosen the filters."));
  } else {
    parts.push(h("h2", {}, "Answers"), h("ol", { class: "answer-list" }, ...res.answers.map((a) => {
      const passage = byId.get(a.passage_id);
      return h("li", { class: "answer-card" },
        h("p", { class: "answer-text" }, h("strong", {}, a.text), h("span", { class: "score" }, ` score ${a.score.toFixed(2)}`)),
        h("div", { class: "meta" }, paperLink(a.paper), a.paper.year ? ` · ${a.paper.year}` : "", " · ", arxivLink(a.paper),
          passage && passage.section ? ` · ${passage.section}` : ""),
        passage ? passageWithSpan(passage.text, a.start, a.end) : null,
        a.evidence ? h("p", { class: "evidence" }, h("span", { class: "label" }, "Evidence: "), a.evidence) : null);
    })));
  }
  parts.push(h("h2", {}, `Passages read (${res.passages.length})`),
    h("ol", { class: "passages" }, ...res.passages.map((x) =>
      h("li", { class: "passage", "data-id": x.id },
        h("div", { class: "meta" }, h("a", { href: `#/paper/${x.paper_id}` }, x.paper_id),
          ` · ${x.source === "abstract" ? "abstract" : x.section || "full text"} · score ${x.score.toFixed(3)}`),
        h("p", {}, highlight(x.text, queryTerms(q)))))));
  out.replaceChildren(...parts);
  announce(!res.answers_available ? `Answers are unavailable; ${res.passages.length} passages listed.`
    : res.answers.length ? `${res.answers.length} answers from ${res.passages.length} passages.`
      : `No answer in these ${res.passages.length} passages.`);
}

// ---- Paper ----------------------------------------------------------------------------
function neighbourList(title, items, emptyText) {
  const box = h("section", { class: "nlist", "aria-label": title });
  let page = 0;
  const draw = () => {
    const slice = items.slice(page * PAGE, (page + 1) * PAGE);
    box.replaceChildren(
      h("h3", {}, `${title} (${items.length})`),
      items.length ? h("ol", { start: page * PAGE + 1 }, ...slice.map((d) =>
        h("li", {}, h("a", { href: `#/paper/${d.id}` }, d.title || d.id),
          h("span", { class: "muted" }, ` · ${d.id}${d.year ? ` · ${d.year}` : ""} · cited by ${d.citation_count}`)))) : h("p", { class: "muted" }, emptyText),
      items.length > PAGE ? pager(page * PAGE, slice.length, items.length, (n) => { page = n - 1; draw(); }) : "");
  };
  draw();
  return box;
}

async function loadInto(box, what, fn) {
  try {
    await fn();
  } catch (err) {
    box.replaceChildren(errorBox(err, what));
  }
}

async function viewPaper(root, id, p, token) {
  // Only the header is shown until the paper's metadata arrives; the rest is laid out below
  // it after that, in boxes of fixed size, so nothing already on screen moves as it loads.
  const head = h("article", { class: "paper" }, skeleton(6, "paper-skel"));
  const panel = (cls, hid, title) => h("section", { class: `card list ${cls}`, "aria-labelledby": hid, tabindex: 0 },
    h("h2", { id: hid }, title), skeleton(5));
  const cites = panel("cites", "h-cites", "Citations");
  const graphBox = h("section", { class: "card graph", "aria-labelledby": "h-graph" });
  const recs = panel("recs", "h-recs", "Recommended (from citations)");
  const sims = panel("sims", "h-sims", "Similar by meaning");
  root.replaceChildren(head);

  let detail;
  try {
    detail = await api.paper(id);
  } catch (err) {
    // Not stored, but perhaps known to the citation graph (a cited paper never ingested).
    const known = err.status === 404 ? await graphOnly(id) : null;
    if (token !== current) return;
    if (!known) {
      head.replaceChildren(h("h1", {}, `Paper ${id}`), errorBox(err, `open paper ${id}`));
      return;
    }
    detail = known;
  }
  if (token !== current) return;
  const paper = detail.paper;
  document.title = `${paper.title} · arxivqa`;
  announce(`Paper: ${paper.title || paper.id}.`);
  head.replaceChildren(
    h("h1", {}, paper.title || paper.id),
    h("div", { class: "meta" }, ...authorsLine(paper.authors, 50)),
    h("div", { class: "meta" }, paper.year ? `${paper.year} · ` : "", arxivLink(paper),
      " · ", h("a", { href: hashFor("/path", { from: paper.id }) }, "Find a citation path from here"),
      " · ", h("a", { href: "#/ask" }, "Ask a question")),
    catChips(paper.categories, (c) => [
      hashFor("/search", { q: paper.title || paper.id, mode: "meaning", cat: c }), `Papers like this one in ${c}`]),
    detail.citations_available
      ? h("p", { class: "counts" }, h("strong", {}, `Cited by ${detail.citation_count}`), ` · cites ${detail.reference_count} (in the citation graph)`)
      : note(detail.note || "Citation counts are unavailable.", detail.graphOnly ? "info" : "warn"),
    ...(detail.graphOnly
      ? [note("Only the citation graph knows this paper: its metadata and abstract are not stored here. The arXiv link has them.")]
      : [h("h2", {}, "Abstract"), h("p", { class: "abstract" }, paper.abstract || "No abstract stored."),
        fullText(paper.id, Boolean(paper.abstract), token)]));
  root.append(h("div", { class: "paper-grid" }, graphBox, cites, recs, detail.graphOnly ? null : sims));

  graphSection(graphBox, paper.id, p, token);
  loadInto(cites, "load the citations", async () => {
    const sub = await api.subgraph(paper.id, 1, 2000);
    if (token !== current) return;
    const byId = new Map(sub.nodes.map((d) => [d.id, d]));
    const citedBy = sub.edges.filter((e) => e.cited_id === paper.id).map((e) => byId.get(e.citing_id)).filter(Boolean);
    const refs = sub.edges.filter((e) => e.citing_id === paper.id).map((e) => byId.get(e.cited_id)).filter(Boolean);
    const rank = (a, b) => b.citation_count - a.citation_count || a.id.localeCompare(b.id);
    citedBy.sort(rank);
    refs.sort(rank);
    cites.replaceChildren(h("h2", { id: "h-cites" }, "Citations"),
      sub.truncated ? note(`Showing the ${sub.nodes.length - 1} most cited neighbours of ${(detail.citation_count || 0) + (detail.reference_count || 0)}.`) : "",
      neighbourList("Cited by", citedBy, "No paper in the graph cites it."),
      neighbourList("References", refs, "It cites no paper in the graph."));
  });
  loadInto(recs, "load recommendations", async () => {
    const list = await api.recommend([paper.id], 10);
    if (token !== current) return;
    recs.replaceChildren(h("h2", { id: "h-recs" }, "Recommended (from citations)"),
      list.length ? h("ol", { class: "plist" }, ...list.map((r) => h("li", {},
        paperLink(r.paper), h("span", { class: "muted" }, ` · ${r.paper.year || ""} · cited by ${r.citation_count}`),
        h("ul", { class: "reasons" }, ...r.reasons.map((x) => h("li", {}, x.text)))))) : h("p", { class: "muted" }, "No paper is cited together with this one, or shares its references."));
  });
  if (!detail.graphOnly) loadInto(sims, "load similar papers", async () => {
    const list = await api.similar(paper.id, 10);
    if (token !== current) return;
    sims.replaceChildren(h("h2", { id: "h-sims" }, "Similar by meaning"),
      list.length ? h("ol", { class: "plist" }, ...list.map((s) => h("li", {},
        paperLink(s.paper), h("span", { class: "muted" }, ` · ${s.paper.year || ""} · similarity ${s.score.toFixed(3)}`)))) : h("p", { class: "muted" }, "No similar papers stored."));
  });
}

// The paper's stored full text, folded under one line (the same height as the placeholder it
// replaces, so nothing below moves): its sections as headings, its paragraphs in order, 200 a
// page with a button for the next.
const FULLTEXT_PAGE = 200;

function fullText(id, hasAbstract, token) {
  const body = h("div", { class: "fulltext-body" }, skeleton(1, "fulltext-skel"));
  const box = h("section", { class: "fulltext", "aria-labelledby": "h-fulltext" },
    h("h2", { id: "h-fulltext" }, "Full text"), body);
  loadInto(body, "load the full text", async () => {
    const first = await api.passages(id, 0, FULLTEXT_PAGE);
    if (token !== current) return;
    if (!first.total) {
      body.replaceChildren(h("p", { class: "muted fulltext-none" },
        hasAbstract ? "No full text stored: Ask reads the abstract." : "No full text stored."));
      return;
    }
    const text = h("div", { class: "fulltext-text" });
    const more = h("div", { class: "fulltext-more" });
    let shown = 0;
    let section = null;
    const add = (page) => {
      for (const p of page.passages) {
        if (p.section !== section) {
          section = p.section;
          text.append(h("h3", { class: "fulltext-section" }, section || "(no section title)"));
        }
        text.append(h("p", { "data-ordinal": p.ordinal }, p.text));
      }
      shown += page.passages.length;
      const left = page.total - shown;
      more.replaceChildren(left > 0 && page.passages.length
        ? h("button", { type: "button", onclick: () => loadInto(more, "load more of the full text", async () => {
          more.replaceChildren(skeleton(1));
          add(await api.passages(id, shown, FULLTEXT_PAGE));
        }) }, `Show the next ${Math.min(left, FULLTEXT_PAGE)} paragraphs (${left} left)`)
        : "");
    };
    add(first);
    const count = `${first.total} paragraph${first.total === 1 ? "" : "s"}`;
    const summary = h("summary", {}, `Show the full text: ${count}`);
    const details = h("details", { class: "fulltext-box" }, summary, text, more);
    details.addEventListener("toggle", () => {
      summary.textContent = `${details.open ? "Hide" : "Show"} the full text: ${count}`;
    });
    body.replaceChildren(details);
  });
  return box;
}

async function graphOnly(id) {
  try {
    const sub = await api.subgraph(id, 1, 1);
    const node = sub.nodes.find((d) => d.id === sub.center_id);
    if (!node) return null;
    const paper = { id: node.id, title: node.title, year: node.year, categories: node.categories, authors: [], abstract: "", url: "" };
    return { paper, citation_count: node.citation_count, reference_count: null, citations_available: false, graphOnly: true,
      note: `Cited by ${node.citation_count} in the citation graph.` };
  } catch {
    return null;
  }
}

function graphSection(box, id, p, token) {
  const depth = p.get("depth") === "2" ? 2 : 1;
  const cap = [25, 50, 100, 200].includes(intParam(p.get("cap"))) ? intParam(p.get("cap")) : 50;
  const size = ["pagerank", "links"].includes(p.get("size")) ? p.get("size") : "citations";
  const update = () => {
    const params = new URLSearchParams({ depth: form.depth.value, cap: form.cap.value, size: form.size.value });
    history.replaceState(null, "", `#/paper/${id}?${params}`);
    graphSection(box, id, params, token);
  };
  const form = h("form", { class: "graph-controls", onchange: update, onsubmit: (e) => e.preventDefault() },
    field("Depth", h("select", { id: "g-depth", name: "depth" }, ...[1, 2].map((v) => h("option", { value: v, selected: v === depth }, `${v} hop${v > 1 ? "s" : ""}`)))),
    field("At most", h("select", { id: "g-cap", name: "cap" }, ...[25, 50, 100, 200].map((v) => h("option", { value: v, selected: v === cap }, `${v} papers`)))),
    field("Size by", h("select", { id: "g-size", name: "size" },
      h("option", { value: "citations", selected: size === "citations" }, "citations (whole graph)"),
      h("option", { value: "pagerank", selected: size === "pagerank" }, "PageRank (whole graph)"),
      h("option", { value: "links", selected: size === "links" }, "links in this view"))));
  const canvas = h("div", { class: "graph-canvas" }, skeleton(1, "graph-skel"));
  const legend = h("div", { class: "legend" });
  box.replaceChildren(h("h2", { id: "h-graph" }, "Citation graph"), form, canvas, legend);
  loadInto(canvas, "draw the citation graph", async () => {
    const sub = await api.subgraph(id, depth, cap);
    if (token !== current) return;
    if (sub.nodes.length <= 1) {
      canvas.replaceChildren(note("This paper has no citations or references in the graph."));
      return;
    }
    const { legend: keys } = drawGraph(canvas, sub, { sizeBy: size });
    legend.replaceChildren(
      h("span", { class: "muted" }, `${sub.nodes.length} papers, ${sub.edges.length} citations${sub.truncated ? " (capped: most cited first)" : ""}. Arrows point from the citing paper to the cited one. `),
      ...keys.map((k) => h("span", { class: "key", "data-category": k.label, "data-colour": k.colour },
        h("span", { class: "dot", style: `background:${k.colour}` }), `${k.label} (${k.count})`)));
  });
}

// ---- Rank -----------------------------------------------------------------------------
async function viewRank(root, p, token) {
  const k = [10, 25, 50, 100].includes(intParam(p.get("k"))) ? intParam(p.get("k")) : 25;
  const form = h("form", { class: "rank", onsubmit: (ev) => { ev.preventDefault(); setHash("/rank", formParams(form)); } },
    h("fieldset", { class: "filters" }, h("legend", {}, "Most central papers (PageRank)"),
      field("Categories", h("input", { id: "r-cat", name: "cat", value: p.get("cat") || "", placeholder: "cs.LG, stat.ML" })),
      field("From year", h("input", { id: "r-from", name: "from", type: "number", value: p.get("from") || "" })),
      field("To year", h("input", { id: "r-to", name: "to", type: "number", value: p.get("to") || "" })),
      field("Show", h("select", { id: "r-k", name: "k" }, ...[10, 25, 50, 100].map((v) => h("option", { value: v, selected: v === k }, `top ${v}`)))),
      h("button", { type: "submit" }, "Rank")));
  const out = h("section", { class: "ranked", "aria-label": "Ranking" }, skeleton(10));
  root.replaceChildren(h("h1", { class: "sr-only" }, "Rank"), form, out);
  let res;
  try {
    res = await api.rank({ k, category: listParam(p.get("cat")), year_from: intParam(p.get("from")), year_to: intParam(p.get("to")) });
  } catch (err) {
    if (token !== current) return;
    out.replaceChildren(errorBox(err, "rank papers"));
    return;
  }
  if (token !== current) return;
  if (!res.papers.length) {
    out.replaceChildren(note("No papers in the graph match these filters."));
    return;
  }
  announce(`${res.papers.length} papers ranked.`);
  out.replaceChildren(
    res.stale ? note("The ranking is being recomputed; these scores may be a little old.", "warn") : "",
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "muted" }, `PageRank over the citation graph, computed ${res.computed_at || "recently"}`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "#"), h("th", { scope: "col" }, "Paper"), h("th", { scope: "col" }, "Year"), h("th", { scope: "col" }, "Cited by"), h("th", { scope: "col" }, "Score"))),
      h("tbody", {}, ...res.papers.map((r) => h("tr", { class: "ranked-row", "data-id": r.paper.id },
        h("td", {}, r.rank), h("td", {}, paperLink(r.paper), " ", catChips(r.paper.categories, (c) => [
          hashFor("/rank", { cat: c, k }), `Most central papers in ${c}`])),
        h("td", {}, r.paper.year || ""), h("td", {}, r.citation_count), h("td", {}, r.score.toExponential(2))))))));
}

// ---- Path -----------------------------------------------------------------------------
async function viewPath(root, p, token) {
  const from = p.get("from") || "";
  const to = p.get("to") || "";
  const undirected = p.get("undirected") === "1";
  const form = h("form", { class: "path", onsubmit: (ev) => {
    ev.preventDefault();
    const v = formParams(form);
    setHash("/path", { from: v.from, to: v.to, undirected: v.undirected ? "1" : "" });
  } },
    h("fieldset", { class: "filters" }, h("legend", {}, "Path between two papers"),
      field("From (arXiv id)", h("input", { id: "p-from", name: "from", value: from, placeholder: "2212.11827", required: true })),
      field("To (arXiv id)", h("input", { id: "p-to", name: "to", value: to, placeholder: "1412.6980", required: true })),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "undirected", value: "1", checked: undirected }), " Ignore direction"),
      h("button", { type: "submit" }, "Find path")));
  const out = h("section", { class: "path-out", "aria-label": "Path" });
  root.replaceChildren(h("h1", { class: "sr-only" }, "Path"), form, out);
  if (!from || !to) {
    out.append(note("Enter two arXiv ids: the shortest chain of citations from the first to the second is shown. Tick “Ignore direction” to follow citations both ways."));
    return;
  }
  out.append(skeleton(4));
  let res;
  try {
    res = await api.path(from, to, undirected);
  } catch (err) {
    if (token !== current) return;
    out.replaceChildren(errorBox(err, "find a path"));
    return;
  }
  if (token !== current) return;
  if (!res.found) {
    out.replaceChildren(note(res.note || "No citation path between these papers.", "info"));
    return;
  }
  announce(`A path of ${res.path.length - 1} steps.`);
  out.replaceChildren(h("p", { class: "count" }, `${res.path.length - 1} step${res.path.length === 2 ? "" : "s"}`),
    h("ol", { class: "chain" }, ...res.path.map((paper, i) => h("li", {},
      paperLink(paper), h("span", { class: "muted" }, ` · ${paper.id}${paper.year ? ` · ${paper.year}` : ""}`),
      i < res.path.length - 1 ? h("div", { class: "step", "aria-hidden": "true" }, undirected ? "↕ linked" : "↓ cites") : null))));
}

// ---- router ---------------------------------------------------------------------------
let current = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/search";
  const [path, query = ""] = raw.split("?");
  return { path, params: new URLSearchParams(query) };
}

function render() {
  const token = ++current;
  const root = document.getElementById("view");
  const { path, params } = parseHash();
  const view = path.split("/")[1] || "search";
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${view[0].toUpperCase()}${view.slice(1)} · arxivqa`;
  // Busy until the view has its results; then `data-rendered` names the URL they are for.
  root.setAttribute("aria-busy", "true");
  delete root.dataset.rendered;
  const hash = location.hash;
  let shown;
  if (view === "paper") {
    const id = decodeURIComponent(path.slice("/paper/".length));
    shown = viewPaper(root, id, params, token);
  } else {
    const views = { search: viewSearch, ask: viewAsk, rank: viewRank, path: viewPath };
    shown = (views[view] || viewSearch)(root, params, token);
  }
  Promise.resolve(shown).finally(() => {
    if (token !== current) return;
    root.setAttribute("aria-busy", "false");
    root.dataset.rendered = hash;
  });
}

// "Skip to content" moves the focus without touching the URL (its fragment is the view).
document.querySelector("a.skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  document.getElementById("main").focus();
});

// A new view: start at its top, with the keyboard focus there too (the old view's element
// that had it is gone).
window.addEventListener("hashchange", () => {
  announce("");
  render();
  window.scrollTo(0, 0);
  document.getElementById("main").focus({ preventScroll: true });
});
render();
