// redisops status page: polls api/status every second and draws the topology and the incidents.
// Every value goes into the DOM as text (textContent), never as HTML.
"use strict";

const POLL_MS = 1000;          // a failover shows within about a second of the watcher seeing it
const FETCH_TIMEOUT_MS = 4000;  // a watcher that does not answer in this long counts as lost
const SLOT_RANGES_SHOWN = 3;    // like `redisops status`: the rest is summarized

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const badge = (health) => el("span", { class: "badge", "data-health": health, text: health || "?" });
const str = (value) => (value === null || value === undefined ? "" : String(value));

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return "just now";
  if (seconds < 90) return Math.round(seconds) + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  return Math.round(seconds / 3600) + " h ago";
}

function clock(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

function duration(seconds) {
  if (seconds < 60) return seconds.toFixed(1) + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min " + Math.round(seconds % 60) + " s";
  return (seconds / 3600).toFixed(1) + " h";
}

// a table whose rows become labelled blocks on a phone (style.css: table.stack)
function table(columns, rows) {
  const head = el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null, text: c.label })));
  const body = rows.map((row) => el("tr", row.attrs || {}, columns.map((c, i) => {
    const value = row.cells[i];
    const cell = value instanceof Node ? value : el("span", { text: str(value) });
    return el("td", { "data-label": c.label, class: c.num ? "num" : null }, str(value) === "" && !(value instanceof Node) ? [] : cell);
  })));
  return el("table", { class: "stack" }, el("thead", {}, head), el("tbody", {}, body));
}

function down(failure) {
  const word = { unreachable: "down", auth: "auth failed" }[failure.kind] || "error";
  return el("span", { class: "bad", title: failure.detail, text: word });
}

// --- Sentinel groups -------------------------------------------------------------------------------

function groupCard(group) {
  const up = group.sentinels.filter((s) => s.reachable).length;
  const agree = group.sentinels.filter((s) => s.reachable && s.master === group.master).length;
  const masterNode = group.nodes.find((n) => n.address === group.master);
  const silent = !group.master || (masterNode && !masterNode.reachable);  // sentinels still name a dead one
  const facts = el("p", { class: "facts" },
    el("span", {}, "master ", el("b", { class: "master", "data-testid": "master", text: group.master || "none" }),
      silent ? el("span", { class: "bad", text: " not answering" }) : null),
    el("span", { class: agree < group.expected_sentinels ? "warn" : null,
      text: `${agree}/${group.expected_sentinels} sentinels agree` }),
    el("span", { text: `quorum ${str(group.quorum) || "?"}` }));
  const nodes = table(
    [{ label: "node" }, { label: "role" }, { label: "replicates" }, { label: "link" },
      { label: "lag", num: true }, { label: "keys", num: true }],
    group.nodes.map((n) => ({
      attrs: { "data-node": n.address, "data-role": n.reachable ? n.role : "down" },
      cells: n.reachable
        ? [n.address, n.role, n.master, n.link === "down" ? el("span", { class: "bad", text: "down" }) : n.link,
          n.address === group.master ? "" : lag(n), n.keys]
        : [n.address, down(n.failure), "", "", "", ""],
    })));
  const sentinels = table(
    [{ label: "sentinel" }, { label: "sees master" }, { label: "flags" }, { label: "replicas", num: true },
      { label: "peers", num: true }],
    group.sentinels.map((s) => ({
      attrs: { "data-sentinel": s.address },
      cells: s.reachable
        ? [s.address, s.master === group.master ? s.master : el("span", { class: "warn", text: str(s.master) }),
          s.flags.join(","), s.num_slaves, s.num_other_sentinels]
        : [s.address, down(s.failure), "", "", ""],
    })));
  return el("article", { class: "card group", "data-group": group.name, "data-health": group.health },
    el("h2", {}, el("span", { class: "kind", text: "Sentinel group" }), group.name, badge(group.health)),
    facts, reasons(group.reasons), nodes,
    el("details", {}, el("summary", { text: `sentinels ${up}/${group.sentinels.length} up` }), sentinels));
}

function lag(node) {
  if (node.lag_bytes === null && node.lag_seconds === null) return "";
  return `${bytes(node.lag_bytes || 0)} · ${str(node.lag_seconds ?? "?")} s`;
}

function reasons(list) {
  return list.length ? el("ul", { class: "reasons" }, list.map((r) => el("li", { text: r }))) : null;
}

// --- clusters ---------------------------------------------------------------------------------------

function slots(text) {
  if (!text) return "no slots";
  const ranges = text.split(",");
  if (ranges.length <= SLOT_RANGES_SHOWN) return "slots " + text;
  return `slots ${ranges.slice(0, SLOT_RANGES_SHOWN).join(",")},… +${ranges.length - SLOT_RANGES_SHOWN} ranges`;
}

function clusterNode(row) {
  const flags = row.flags.length ? el("span", { class: "bad", text: " " + row.flags.join(",") }) : null;
  const state = row.reachable ? null : el("span", {}, " ", down(row.failure));
  return [el("span", { class: "addr", text: row.address || "noaddr" }), flags, state];
}

function clusterCard(cluster) {
  // a shard: a master owning slots, or an empty one that answers (a node just added); a failed master whose
  // slots a replica took over is listed with the other nodes, not as a shard
  const masters = cluster.nodes.filter((r) => r.role === "master" && (r.slots || r.reachable));
  const replicasOf = (id) => cluster.nodes.filter((r) => r.role !== "master" && r.master_id === id);
  const orphans = cluster.nodes.filter((r) => !masters.includes(r) && !masters.some((m) => m.id === r.master_id));
  const shards = masters.map((m, i) => el("div", { class: "shard", "data-shard": m.id || "", "data-master": m.address },
    el("h3", {}, `shard ${i + 1}: `, el("span", { class: "master" }, clusterNode(m))),
    el("div", { class: "slots", text: `${slots(m.slots)} · ${str(m.keys ?? "?")} keys` }),
    el("ul", {}, replicasOf(m.id).map((r) => el("li", { "data-node": r.address },
      "replica ", clusterNode(r), r.link === "down" ? el("span", { class: "bad", text: " link down" }) : null)))));
  if (orphans.length) {
    shards.push(el("div", { class: "shard" }, el("h3", { text: "other nodes" }),
      el("ul", {}, orphans.map((r) => el("li", {}, `${r.role} `, clusterNode(r))))));
  }
  const facts = el("p", { class: "facts" },
    el("span", { text: `slots ${cluster.slots_covered}/16384` }),
    el("span", { text: `${cluster.masters} masters` }),
    el("span", { text: `views agreeing ${cluster.views_agreeing}/${cluster.views}` }),
    el("span", { text: `epoch ${str(cluster.current_epoch) || "?"}` }));
  return el("article", { class: "card cluster", "data-cluster": cluster.name, "data-health": cluster.health },
    el("h2", {}, el("span", { class: "kind", text: "Cluster" }), cluster.name, badge(cluster.health)),
    facts, reasons(cluster.reasons), el("div", { class: "shards" }, shards));
}

// --- incidents --------------------------------------------------------------------------------------

function incidentItem(incident, now) {
  const start = incident.started_at;
  const when = incident.resolved_at
    ? `${clock(start)}, resolved after ${duration(incident.resolved_at - start)}`
    : `${clock(start)}, ${ago(now - start)}`;
  const steps = incident.timeline.map((e) => el("li", {},
    el("span", { class: "at", text: `+${(e.at - start).toFixed(3)} s ` }), `${e.event} `,
    el("span", { class: "muted", text: e.source }), e.detail ? ` ${e.detail}` : ""));
  return el("li", { class: "incident", "data-kind": incident.kind, "data-status": incident.status,
    "data-key": incident.key },
    el("div", { class: "head" },
      el("span", { class: `badge ${incident.status}`, text: incident.status }),
      el("span", { class: `badge ${incident.severity}`, text: incident.severity }),
      el("span", { class: "title", text: incident.title }),
      el("span", { class: "when", text: when })),
    incident.summary ? el("div", { class: "muted", text: incident.summary }) : null,
    steps.length ? el("details", {}, el("summary", { text: `timeline (${steps.length})` }),
      el("ol", { class: "timeline" }, steps)) : null);
}

// --- the whole page ---------------------------------------------------------------------------------

const openTimelines = new Set();  // incident keys whose timeline the reader opened: kept open across redraws

function draw(doc) {
  const status = doc.status;
  const health = status ? status.health : "unknown";
  $("verdict").dataset.health = health;
  $("verdict").textContent = status ? health : "waiting";
  document.title = `${status ? health.toUpperCase() : "…"} · redisops`;
  $("sentence").textContent = doc.sentence || "Waiting for the watcher's first poll…";
  $("groups").replaceChildren(...(status ? status.groups : []).map(groupCard));
  $("clusters").replaceChildren(...(status ? status.clusters : []).map(clusterCard));

  for (const item of document.querySelectorAll("#incidents > li")) {
    const details = item.querySelector("details");
    if (details && details.open) openTimelines.add(item.dataset.key);
    else openTimelines.delete(item.dataset.key);
  }
  const items = doc.incidents.map((i) => incidentItem(i, doc.now));
  for (const item of items) {
    const details = item.querySelector("details");
    if (details && openTimelines.has(item.dataset.key)) details.open = true;
  }
  $("incidents").replaceChildren(...items);
  $("no-incidents").hidden = items.length > 0;

  const age = doc.updated_at === null ? null : doc.now - doc.updated_at;
  $("updated").textContent = age === null ? "" : `polled ${ago(age)}`;
  const stale = age !== null && age > Math.max(3 * doc.poll_interval_s, 10);
  banner(stale ? `The watcher's last poll was ${ago(age)}: it may be stuck (see its log).` : null);
}

function banner(text) {
  $("banner").hidden = !text;
  $("banner").textContent = text || "";
  document.body.classList.toggle("stale", Boolean(text));
}

let timer = null;      // the next poll, when one is scheduled
let inFlight = false;  // a request is under way: never two at once
let failedSince = null;

async function poll() {
  timer = null;
  if (inFlight) return;
  inFlight = true;
  const abort = new AbortController();
  const giveUp = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch("api/status", { cache: "no-store", signal: abort.signal });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    draw(await response.json());
    failedSince = null;
  } catch (error) {
    failedSince = failedSince || new Date();
    banner(`Lost contact with the watcher since ${failedSince.toLocaleTimeString()} (${error.message}); retrying.`);
  } finally {
    clearTimeout(giveUp);
    inFlight = false;
    schedule();
  }
}

function schedule() {
  if (timer === null && !document.hidden) timer = setTimeout(poll, POLL_MS);
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden && timer !== null) { clearTimeout(timer); timer = null; }
  else if (!document.hidden && timer === null && !inFlight) poll();
});

poll();
