// A small force-directed citation graph drawn as SVG (no library).
// The layout is computed to completion before anything is drawn, from deterministic start
// positions, so the same graph always looks the same and nothing moves after it appears.

const SVG = "http://www.w3.org/2000/svg";

// Colour per arXiv archive (the part of a category before the dot), for category chips;
// each is at least 4.5:1 against white.
const PALETTE = {
  cs: "#1f6fb2",
  math: "#b5361b",
  stat: "#6a3d9a",
  physics: "#1b7a4a",
  "cond-mat": "#8a6100",
  "quant-ph": "#b0267a",
  "hep-th": "#2b5c6b",
  "hep-ph": "#3f6b2b",
  "astro-ph": "#4b4ba8",
  "gr-qc": "#7a4a2b",
  eess: "#00758a",
  "q-bio": "#5e7a00",
  "q-fin": "#9a2b4a",
  econ: "#6b5a2b",
  nlin: "#2b6b5a",
};
const OTHER = "#5f6368";

export function archiveOf(categories) {
  const c = (categories && categories[0]) || "";
  const archive = c.split(".")[0];
  if (PALETTE[archive]) return archive;
  if (c.startsWith("hep-")) return "hep-th";
  return archive ? "other" : "unknown";
}

export function colourOf(archive) {
  return PALETTE[archive] || OTHER;
}

// Node colours: the most frequent primary categories of the drawn papers get these, in order
// (colour-blind-safe hues, each at least 3:1 against the graph's background); the rest share
// OTHER.
const CATEGORY_COLOURS = [
  "#0072b2", "#d55e00", "#009e73", "#6a3d9a", "#8a6100",
  "#cc3d8f", "#2b5c6b", "#5e7a00", "#b5361b",
];

function categoryColours(nodes) {
  const count = new Map();
  for (const d of nodes) {
    const c = (d.categories && d.categories[0]) || "unknown";
    count.set(c, (count.get(c) || 0) + 1);
  }
  const order = [...count.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const many = order.length > CATEGORY_COLOURS.length;
  const named = many ? order.slice(0, CATEGORY_COLOURS.length - 1) : order;
  const colour = new Map(named.map(([c], i) => [c, CATEGORY_COLOURS[i]]));
  const legend = named.map(([c, n]) => ({ label: c, colour: colour.get(c), count: n }));
  if (many) {
    const rest = order.slice(named.length).reduce((sum, [, n]) => sum + n, 0);
    legend.push({ label: "other", colour: OTHER, count: rest });
  }
  return { of: (c) => colour.get(c) || OTHER, legend };
}

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function layout(nodes, edges, centerId, width, height) {
  const n = nodes.length;
  const index = new Map(nodes.map((d, i) => [d.id, i]));
  const golden = Math.PI * (3 - Math.sqrt(5));
  const pos = nodes.map((d, i) => {
    if (d.id === centerId) return { x: 0, y: 0, vx: 0, vy: 0 };
    const r = 30 * Math.sqrt(i + 1) * (d.depth || 1);
    return { x: r * Math.cos(i * golden), y: r * Math.sin(i * golden), vx: 0, vy: 0 };
  });
  const links = edges
    .map((e) => [index.get(e.citing_id), index.get(e.cited_id)])
    .filter(([a, b]) => a !== undefined && b !== undefined && a !== b);
  const ideal = Math.max(40, Math.min(110, 900 / Math.sqrt(n + 1)));
  const repulse = ideal * ideal * 1.2;
  const steps = 300;
  for (let step = 0; step < steps; step++) {
    const alpha = 1 - step / steps;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let dx = pos[j].x - pos[i].x;
        let dy = pos[j].y - pos[i].y;
        let d2 = dx * dx + dy * dy;
        if (d2 < 0.01) {
          dx = 0.1 * (j - i);
          dy = 0.1;
          d2 = dx * dx + dy * dy;
        }
        const f = (repulse / d2) * alpha;
        const d = Math.sqrt(d2);
        const fx = (dx / d) * f;
        const fy = (dy / d) * f;
        pos[i].vx -= fx;
        pos[i].vy -= fy;
        pos[j].vx += fx;
        pos[j].vy += fy;
      }
    }
    for (const [a, b] of links) {
      const dx = pos[b].x - pos[a].x;
      const dy = pos[b].y - pos[a].y;
      const d = Math.sqrt(dx * dx + dy * dy) || 0.01;
      const f = ((d - ideal) / d) * 0.08 * alpha;
      pos[a].vx += dx * f;
      pos[a].vy += dy * f;
      pos[b].vx -= dx * f;
      pos[b].vy -= dy * f;
    }
    for (let i = 0; i < n; i++) {
      const p = pos[i];
      p.vx -= p.x * 0.01 * alpha;
      p.vy -= p.y * 0.01 * alpha;
      const v = Math.hypot(p.vx, p.vy);
      const cap = 40;
      if (v > cap) {
        p.vx *= cap / v;
        p.vy *= cap / v;
      }
      if (nodes[i].id !== centerId) {
        p.x += p.vx;
        p.y += p.vy;
      }
      p.vx *= 0.5;
      p.vy *= 0.5;
    }
  }
  // Fit into the view box.
  const xs = pos.map((p) => p.x);
  const ys = pos.map((p) => p.y);
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  const minY = Math.min(...ys);
  const maxY = Math.max(...ys);
  const pad = 40;
  const scale = Math.min(
    (width - 2 * pad) / Math.max(maxX - minX, 1),
    (height - 2 * pad) / Math.max(maxY - minY, 1),
    1.5,
  );
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  return {
    pos: pos.map((p) => ({ x: width / 2 + (p.x - cx) * scale, y: height / 2 + (p.y - cy) * scale })),
    links,
  };
}

// A PageRank as a short number for a label: 0.000123 -> "1.23e-4".
export function formatRank(value) {
  return Number(value || 0).toExponential(2).replace("e-", "e\u2212");
}

/**
 * Draw `sub` (a /v1/subgraph response) into `container`.
 * sizeBy: "citations" (citations in the whole graph), "pagerank" (PageRank over the whole
 * graph, each node's `pagerank` as the API returns it) or "links" (links within this view).
 */
export function drawGraph(container, sub, { sizeBy = "citations", href = (id) => `#/paper/${id}` } = {}) {
  const width = 800;
  const height = 560;
  const nodes = sub.nodes;
  container.replaceChildren();
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "group",
    "aria-label": `Citation graph of ${sub.center_id}: ${nodes.length} papers, ${sub.edges.length} citations. Each paper is a link.`,
    class: "graph-svg",
    preserveAspectRatio: "xMidYMid meet",
  }, container);
  const defs = el("defs", {}, svg);
  const marker = el("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse",
  }, defs);
  el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a9199" }, marker);

  const { pos, links } = layout(nodes, sub.edges, sub.center_id, width, height);
  const degree = new Array(nodes.length).fill(0);
  for (const [a, b] of links) {
    degree[a]++;
    degree[b]++;
  }
  const weight = nodes.map((d, i) =>
    sizeBy === "links" ? degree[i] : sizeBy === "pagerank" ? d.pagerank || 0 : d.citation_count || 0);
  const maxW = Math.max(sizeBy === "pagerank" ? 1e-12 : 1, ...weight);
  const radius = weight.map((w) => 5 + 17 * Math.sqrt(w / maxW));

  const edgeLayer = el("g", { class: "edges", "aria-hidden": "true" }, svg);
  for (const [a, b] of links) {
    const dx = pos[b].x - pos[a].x;
    const dy = pos[b].y - pos[a].y;
    const d = Math.hypot(dx, dy) || 1;
    el("line", {
      x1: pos[a].x + (dx / d) * radius[a],
      y1: pos[a].y + (dy / d) * radius[a],
      x2: pos[b].x - (dx / d) * (radius[b] + 2),
      y2: pos[b].y - (dy / d) * (radius[b] + 2),
      "marker-end": "url(#arrow)",
    }, edgeLayer);
  }
  const nodeLayer = el("g", { class: "nodes" }, svg);
  const order = nodes.map((_, i) => i).sort((i, j) => radius[i] - radius[j]);
  const colours = categoryColours(nodes);
  const labelled = new Set(
    nodes.map((_, i) => i).sort((i, j) => weight[j] - weight[i]).slice(0, 6),
  );
  for (const i of order) {
    const d = nodes[i];
    const category = (d.categories && d.categories[0]) || "unknown";
    const label = `${d.title || d.id} (${d.id}${d.year ? `, ${d.year}` : ""}; cited by ${d.citation_count}; PageRank ${formatRank(d.pagerank)})`;
    const a = el("a", {
      href: href(d.id),
      class: `node${d.id === sub.center_id ? " center" : ""}`,
      "data-id": d.id,
      "data-category": category,
      "aria-label": label,
    }, nodeLayer);
    el("title", {}, a).textContent = label;
    el("circle", {
      cx: pos[i].x.toFixed(1), cy: pos[i].y.toFixed(1), r: radius[i].toFixed(1),
      fill: colours.of(category),
    }, a);
    if (labelled.has(i) || d.id === sub.center_id) {
      const t = el("text", {
        x: pos[i].x.toFixed(1), y: (pos[i].y + radius[i] + 12).toFixed(1), "text-anchor": "middle",
      }, a);
      t.textContent = d.id;
    }
  }
  return { legend: colours.legend };
}
