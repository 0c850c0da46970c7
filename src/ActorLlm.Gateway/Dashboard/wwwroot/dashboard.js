// ActorLlm's pool dashboard. Reads the gateway's live feed (/api/events: the pool's status after every poll, and
// pool events) and draws it; no framework, no external resources. Everything from the feed is set as text, never
// parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const maxEvents = 200;
  const sparkPoints = 90;
  const state = { interval: 1000, lastStatusAt: 0, status: null, tps: [], events: new Map(), connected: false };

  // ---- small helpers ----------------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "style") for (const [p, pv] of Object.entries(v)) e.style.setProperty(p, pv);
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  const fmt = (n, digits = 0) => Number(n || 0).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const bytes = (b) => b >= 1 << 30 ? `${fmt(b / (1 << 30), 1)} GiB` : `${fmt(b / (1 << 20))} MiB`;
  const unitName = (u, layers) => u === 0 ? "begin" : u === layers + 1 ? "end" : `layer.${u - 1}`;
  const range = (r, layers) => r ? `${unitName(r.start, layers)}..${unitName(r.end - 1, layers)}` : "";
  const same = (a, b) => (!a && !b) || (a && b && a.start === b.start && a.end === b.end);
  const addr = (a) => (a && typeof a === "object" ? a.value : a) || "";
  const hostOf = (a) => addr(a).replace(/^akka(\.tcp)?:\/\/[^@]*@/, "");
  const time = (iso) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString("en-GB", { hour12: false });
  };

  // A colour per machine, kept while the page is open: distinct hues in the order machines are first seen (by name
  // within one status), then round again a little lighter.
  const hues = [232, 152, 18, 280, 192, 340, 44, 110, 258, 0, 170, 60];
  const colours = new Map();
  const colour = (name) => {
    if (!colours.has(name)) {
      const i = colours.size;
      colours.set(name, `hsl(${hues[i % hues.length]} 62% ${52 + 8 * (Math.floor(i / hues.length) % 3)}%)`);
    }
    return colours.get(name);
  };

  // ---- the feed ---------------------------------------------------------------------------------------------

  function connect() {
    const source = new EventSource("/api/events");
    source.onopen = () => { state.connected = true; liveness(); };
    source.onerror = () => { state.connected = false; liveness(); };
    source.addEventListener("hello", (m) => {
      const hello = JSON.parse(m.data);
      state.interval = hello.statusIntervalMs || 1000;
      $("model").textContent = hello.model || "model";
      document.title = `ActorLlm · ${hello.model || "pool"}`;
    });
    source.addEventListener("status", (m) => {
      state.lastStatusAt = Date.now();
      state.unavailable = null;
      render(JSON.parse(m.data));
    });
    source.addEventListener("unavailable", (m) => {
      state.unavailable = JSON.parse(m.data).message;
      banner();
    });
    source.addEventListener("pool-event", (m) => addEvent(JSON.parse(m.data)));
  }

  function liveness() {
    const live = $("live");
    const stale = state.lastStatusAt && Date.now() - state.lastStatusAt > 3 * state.interval + 1000;
    const s = !state.connected ? (state.lastStatusAt ? "offline" : "connecting") : stale || state.unavailable ? "stale" : state.lastStatusAt ? "live" : "connecting";
    live.dataset.state = s;
    $("live-text").textContent = { live: "live", stale: "stale", offline: "reconnecting", connecting: "connecting" }[s];
  }
  setInterval(liveness, 1000);

  // ---- rendering ----------------------------------------------------------------------------------------------

  function render(s) {
    state.status = s;
    [...new Set(s.devices.map((d) => d.device.machine))].sort().forEach(colour);
    const devices = [...s.devices].sort((a, b) => (a.replicaGroup < 0) - (b.replicaGroup < 0) || a.replicaGroup - b.replicaGroup || (a.assigned?.start ?? 1e9) - (b.assigned?.start ?? 1e9) || a.device.label.localeCompare(b.device.label));
    const rolling = devices.some((d) => !same(d.assigned, d.serving));
    const lastUnit = s.unitCount - 1;
    const tps = devices.filter((d) => d.serving && d.serving.end - 1 === lastUnit).reduce((t, d) => t + d.tokensPerSecond, 0);

    header(s, rolling);
    cards(s, devices, tps);
    map(s, devices);
    machines(s);
    banner();
    $("updated").textContent = `status at ${new Date().toLocaleTimeString("en-GB", { hour12: false })} · every ${fmt(state.interval / 1000, state.interval % 1000 ? 1 : 0)} s`;
    liveness();
  }

  function header(s, rolling) {
    const p = $("placement");
    const covers = s.placementStatus === "Complete" || s.placementStatus === "Degraded";
    p.dataset.state = !covers ? "bad" : rolling || s.loading ? "rolling" : s.placementStatus === "Degraded" ? "warn" : "ok";
    p.textContent = s.placementStatus === "NoPlan" ? "no plan yet"
      : !covers ? `${s.placementStatus}: no route`
      : rolling || s.loading ? `${s.placementStatus} · rolling out` : `${s.placementStatus} · serving`;
    $("route-version").textContent = s.routeVersion;
  }

  function cards(s, devices, tps) {
    const machinesSeen = new Set(devices.map((d) => d.device.machine));
    const up = s.members.filter((m) => m.status === "Up" && m.reachable).length;
    $("c-machines").textContent = machinesSeen.size;
    $("c-members").textContent = `${s.members.length} node${s.members.length === 1 ? "" : "s"}, ${up} up`;
    $("c-devices").textContent = devices.length;
    $("c-serving").textContent = `${devices.filter((d) => d.serving).length} serving`;
    $("c-sessions").textContent = fmt(devices.reduce((t, d) => t + d.activeSessions, 0));
    $("c-queued").textContent = fmt(devices.reduce((t, d) => t + d.queued, 0));
    $("c-tps").textContent = fmt(tps, tps < 100 ? 1 : 0);
    $("c-redundancy").textContent = `${s.redundancyAchieved} / ${s.redundancyRequested}`;
    $("c-model").textContent = `${s.layers} layers, ${s.unitCount} units`;
    state.tps.push(tps);
    if (state.tps.length > sparkPoints) state.tps.shift();
    const peak = Math.max(1, ...state.tps);
    const step = 120 / (sparkPoints - 1);
    const offset = 120 - (state.tps.length - 1) * step;
    $("spark").querySelector("polyline").setAttribute("points", state.tps.map((v, i) => `${(offset + i * step).toFixed(1)},${(30 - (v / peak) * 27).toFixed(1)}`).join(" "));
  }

  // Rows are kept by device, so a rollout animates each bar from its old range to its new one.
  const rows = new Map();

  function map(s, devices) {
    const m = $("map");
    const units = Math.max(1, s.unitCount);
    m.style.setProperty("--units", units);
    $("map-empty").hidden = devices.length > 0;
    $("map-empty").textContent = devices.length ? "" : "No devices yet: start a worker with `actorllm node --roles worker --seeds …`";

    if (m.dataset.units !== String(units) || m.dataset.layers !== String(s.layers)) {
      // The model's axis: begin, layer 0..L-1, end (every k-th label where there are many layers).
      for (const r of rows.values()) r.row.remove();
      rows.clear();
      m.querySelectorAll(".axis, .group-head, .cover-row").forEach((e) => e.remove());
      m.dataset.units = String(units);
      m.dataset.layers = String(s.layers);
      const every = Math.max(1, Math.ceil(units / 28));
      const labels = [];
      for (let u = 0; u < units; u++) {
        const edge = u === 0 || u === units - 1;
        // Where labels are sparse, layer 0 is left blank so "begin" can run over it.
        const layer = u - 1;
        const shown = edge ? unitName(u, s.layers) : layer % every === 0 && (every === 1 || layer > 0) ? String(layer) : "";
        labels.push(el("span", { class: edge ? `edge ${u === 0 ? "first" : "last"}` : "", title: unitName(u, s.layers), text: shown }));
      }
      m.append(el("div", { class: every > 1 ? "map-row axis crowded" : "map-row axis" }, el("div", { class: "who", text: "device" }), el("div", { class: "units" }, labels), el("div", { class: "load", text: "load" })));
    }

    // Group headers and rows in order; rows are reused, headers rebuilt.
    m.querySelectorAll(".group-head, .cover-row").forEach((e) => e.remove());
    const seen = new Set();
    let group = null;
    for (const d of devices) {
      const key = `${addr(d.device.node)}|${d.device.device}`;
      seen.add(key);
      const g = d.replicaGroup < 0 ? "spare" : d.replicaGroup;
      if (g !== group) {
        group = g;
        const members = devices.filter((x) => (x.replicaGroup < 0 ? "spare" : x.replicaGroup) === g).length;
        m.append(el("div", { class: "group-head", text: g === "spare" ? "Not in the plan" : `Replica group ${g} · ${members} stage${members === 1 ? "" : "s"}` }));
      }
      const r = rows.get(key) || newRow(key, units, s.layers);
      updateRow(r, d, s.layers);
      m.append(r.row);
    }
    for (const [key, r] of rows) if (!seen.has(key)) { r.row.remove(); rows.delete(key); }
    m.append(coverage(s, devices, units));
  }

  function newRow(key, units, layers) {
    const cells = [];
    for (let u = 0; u < units; u++) cells.push(el("i", { class: u === 0 || u === units - 1 ? "edge" : "", title: unitName(u, layers) }));
    const serving = el("div", { class: "bar serving" });
    const assigned = el("div", { class: "bar assigned" });
    const streamed = el("div", { class: "bar streamed", "data-testid": "streamed" });
    const label = el("span", { class: "label" });
    const spec = el("span", { class: "spec" });
    const swatch = el("span", { class: "swatch" });
    const load = el("div", { class: "load" });
    const row = el("div", { class: "map-row device", "data-testid": "device" },
      el("div", { class: "who" }, swatch, el("span", { class: "id" }, label, spec)),
      el("div", { class: "track" }, el("div", { class: "cells" }, cells), serving, streamed, assigned),
      load);
    const r = { key, row, serving, streamed, assigned, label, spec, swatch, load };
    rows.set(key, r);
    return r;
  }

  function updateRow(r, d, layers) {
    const c = colour(d.device.machine);
    const servingText = range(d.serving, layers);
    const assignedText = range(d.assigned, layers);
    r.row.style.setProperty("--c", c);
    r.row.dataset.device = d.device.label;
    r.row.dataset.serving = servingText;
    r.row.dataset.assigned = assignedText;
    r.row.dataset.group = String(d.replicaGroup);

    // During a rollout a device loads its new range before it lets go of the old one.
    const st = d.quarantined ? "quarantined"
      : !d.assigned && !d.serving ? "spare"
      : same(d.assigned, d.serving) ? null
      : !d.assigned || (d.serving && d.serving.start <= d.assigned.start && d.assigned.end <= d.serving.end) ? "releasing" : "loading";
    r.label.replaceChildren(d.device.machine, el("small", { text: `:${d.device.device}` }), ...(st ? [el("span", { class: `state ${st}`, text: st })] : []));
    r.label.title = `${d.device.label} at ${addr(d.device.node)}` + (d.quarantined ? ` — quarantined: ${d.quarantined}` : "");
    r.row.dataset.quarantined = d.quarantined || "";
    r.spec.textContent = `${bytes(d.device.memoryBytes)} · ${fmt(d.device.speed)} layers/s · ${d.device.dType}`
      + (d.streamedLayers > 0 ? ` · ${d.streamedLayers} layers streamed` : "")
      + (d.device.trust === "Volunteer" || d.device.trust === 1 ? " · volunteer" : "");

    // The last layers of a streamed stage live in host memory and are copied to the device for every pass.
    const held = d.serving || d.assigned;
    const last = held ? Math.min(held.end, layers + 1) - 1 : 0;
    const streamedRange = held && d.streamedLayers > 0 ? { start: last - d.streamedLayers + 1, end: last + 1 } : null;
    r.row.dataset.streamed = streamedRange ? range(streamedRange, layers) : "";
    place(r.streamed, streamedRange, "", streamedRange ? `${d.device.label} streams ${range(streamedRange, layers)} from host memory` : "");

    place(r.serving, d.serving, servingText, `${d.device.label} serves ${servingText}`);
    const differs = d.assigned && !same(d.assigned, d.serving);
    place(r.assigned, differs ? d.assigned : null, d.serving ? "" : `→ ${assignedText}`,
      d.serving ? `${d.device.label} is assigned ${assignedText}; it serves ${servingText} until the rollout moves on` : `${d.device.label} is assigned ${assignedText}, loading`);
    r.assigned.classList.toggle("over", !!d.serving);

    const busy = d.queued > 0;
    r.load.replaceChildren(
      el("div", {}, el("b", { text: fmt(d.activeSessions) }), el("small", { text: "sessions" })),
      el("div", { class: busy ? "busy" : "" }, el("b", { text: fmt(d.queued) }), el("small", { text: "queued" })),
      el("div", {}, el("b", { text: fmt(d.tokensPerSecond, d.tokensPerSecond < 100 ? 1 : 0) }), el("small", { text: "tok/s" })));
  }

  function place(bar, r, text, title) {
    bar.hidden = !r;
    if (!r) return;
    bar.style.setProperty("--s", r.start);
    bar.style.setProperty("--e", r.end);
    bar.textContent = text;
    bar.title = title;
  }

  // How many devices serve each unit, against the redundancy asked for.
  function coverage(s, devices, units) {
    const cells = [];
    for (let u = 0; u < units; u++) {
      const n = devices.filter((d) => d.serving && u >= d.serving.start && u < d.serving.end).length;
      const cls = n === 0 ? "none" : n < s.redundancyRequested ? "under" : n > 1 ? "more" : "";
      cells.push(el("i", { class: cls, title: `${unitName(u, s.layers)}: ${n} device${n === 1 ? "" : "s"}`, text: n }));
    }
    return el("div", { class: "map-row cover-row" }, el("div", { class: "who", text: "replicas per unit" }), el("div", { class: "coverage" }, cells), el("div"));
  }

  function machines(s) {
    const box = $("machines");
    const byNode = new Map();
    for (const d of s.devices) {
      const a = addr(d.device.node);
      if (!byNode.has(a)) byNode.set(a, []);
      byNode.get(a).push(d);
    }
    const members = [...s.members].sort((a, b) => (machineName(a, byNode) || "~").localeCompare(machineName(b, byNode) || "~"));
    $("machines-hint").textContent = `${members.length} cluster member${members.length === 1 ? "" : "s"}`;
    box.replaceChildren(...members.map((m) => {
      const a = addr(m.address);
      const devs = byNode.get(a) || [];
      const name = machineName(m, byNode);
      const up = m.status === "Up" && m.reachable;
      const statusText = m.reachable ? m.status : `${m.status}, unreachable`;
      return el("article", { class: "machine", "data-testid": "machine", "data-machine": name || a, style: name ? { "--c": colour(name) } : null },
        el("header", {}, el("h3", { text: name || (m.roles.includes("gateway") ? "gateway" : m.roles.length ? "node" : "client") }), el("span", { class: `status ${up ? "up" : !m.reachable || m.status === "Down" ? "down" : "other"}`, text: statusText })),
        el("div", { class: "addr", text: hostOf(m.address) }),
        devs.length ? el("ul", {}, devs.map((d) => el("li", {}, el("span", { text: `${d.device.device} · ${bytes(d.device.memoryBytes)}` }), el("span", { text: range(d.serving, s.layers) || "spare" })))) : null,
        el("div", { class: "roles" }, m.roles.map((r) => el("span", { class: "chip", text: r }))));
    }));
  }

  const machineName = (m, byNode) => (byNode.get(addr(m.address)) || [])[0]?.device.machine;

  function banner() {
    const b = $("banner");
    const lines = [];
    if (state.unavailable) lines.push(`${state.unavailable}; showing the last status.`);
    for (const n of state.status?.notes || []) lines.push(n);
    b.hidden = lines.length === 0;
    b.replaceChildren(...lines.map((l) => el("p", { text: l })));
  }

  // ---- events -------------------------------------------------------------------------------------------------

  function addEvent(e) {
    if (state.events.has(e.id)) return;
    const list = $("events");
    list.querySelector(".empty")?.remove();
    const li = el("li", { "data-testid": "event", "data-kind": e.kind },
      el("time", { datetime: e.at, title: new Date(e.at).toLocaleString(), text: time(e.at) }),
      el("span", { class: `kind ${e.kind}`, text: e.kind }),
      el("span", { class: "msg", text: e.message }));
    state.events.set(e.id, li);
    // Newest first; ids only grow, but a reconnect may replay some, which are skipped above.
    list.prepend(li);
    while (state.events.size > maxEvents) {
      const oldest = Math.min(...state.events.keys());
      state.events.get(oldest).remove();
      state.events.delete(oldest);
    }
  }

  $("events").append(el("li", { class: "empty", text: "No events yet." }));
  connect();
})();
