// The gateway's HTTP API, with errors turned into sentences a person can act on.

export class ApiError extends Error {
  constructor(message, { status = 0, code = "", hint = "" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

const HINTS = {
  400: "Check the values you entered and try again.",
  401: "This operation needs an API key.",
  404: "Check the arXiv id (e.g. 1412.6980), or search for the paper instead.",
  500: "The gateway hit an internal error; its log says more. Try again.",
  503: "A service behind the gateway is down or starting. Wait a moment and retry; `arxivqa status` shows which one.",
  504: "The request took too long. Narrow it (fewer results, smaller graph) or retry.",
};

// Validation messages say what a field must hold ("query.from_id: expected an arXiv id like
// 2101.00001, ..., got 'x'"); put the two a person meets most as a sentence.
function plain(message) {
  const m = /^(?:(?:query|path)\.)?(?:filters\.)?([\w.]+): expected (an arXiv id|some text)/.exec(message || "");
  if (!m) return message;
  const name = m[1];
  if (m[2] === "an arXiv id") {
    return `${name} is not an arXiv id: use one like 1412.6980, 2212.11827v2 or hep-th/9901001.`;
  }
  if (name === "query" || name === "question") return `The ${name} is empty: type some words.`;
  return message;
}

async function request(method, path, { params, body } = {}) {
  let url = path;
  if (params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === "") continue;
      for (const item of Array.isArray(v) ? v : [v]) q.append(k, String(item));
    }
    const s = q.toString();
    if (s) url += `?${s}`;
  }
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new ApiError("Cannot reach the gateway.", {
      hint: "Is it running? Start it with `make up`, then reload this page.",
    });
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const e = data && data.error ? data.error : {};
    const message = plain(e.message) || `The gateway answered HTTP ${resp.status}.`;
    throw new ApiError(message, {
      status: resp.status,
      code: e.status || "",
      hint: HINTS[resp.status] || "Try again; if it persists, see the gateway log.",
    });
  }
  return data;
}

export const api = {
  search: (body) => request("POST", "/v1/search", { body }),
  ask: (body) => request("POST", "/v1/ask", { body }),
  paper: (id) => request("GET", `/v1/papers/${encodeURIComponent(id).replace(/%2F/g, "/")}`),
  passages: (id, offset = 0, limit = 200) =>
    request("GET", `/v1/papers/${encodeURIComponent(id).replace(/%2F/g, "/")}/passages`, { params: { offset, limit } }),
  similar: (id, k = 10) => request("GET", "/v1/similar", { params: { id, k } }),
  recommend: (ids, k = 10) => request("POST", "/v1/recommend", { body: { seed_ids: ids, k } }),
  path: (from_id, to_id, undirected) =>
    request("GET", "/v1/path", { params: { from_id, to_id, undirected } }),
  subgraph: (id, depth, max_nodes) =>
    request("GET", "/v1/subgraph", { params: { id, depth, max_nodes } }),
  rank: (params) => request("GET", "/v1/rank", { params }),
};
