// wasp console: draws the pages from the agent's JSON API (docs/api.md).
// Everything another process controls (thread names, command lines, log lines) goes into the page as text:
// elements are built with createElement and textContent, never innerHTML.
'use strict';

// ---- small helpers ----------------------------------------------------------------------------------------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, String(v));
  }
  for (const c of kids.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const $main = () => document.getElementById('main');
function clear(n) { while (n.firstChild) n.removeChild(n.firstChild); return n; }

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, opts || {}));
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  return { ok: r.ok, status: r.status, body };
}

function fmtBytes(n) {
  if (n === null || n === undefined || isNaN(n)) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = Number(n);
  while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + u[i];
}
function fmtNum(n, d) {
  if (n === null || n === undefined || isNaN(n)) return '';
  return Number(n).toFixed(d === undefined ? 1 : d);
}
function fmtTime(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }
function table(headers, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, headers.map(h => el('th', { class: h.num ? 'num' : null, text: h.t || h })))),
    el('tbody', {}, rows));
}
function td(v, cls) { return el('td', { class: cls, text: v === undefined || v === null ? '' : v }); }
function num(v) { return td(v, 'num'); }
function card(title, ...kids) { return el('div', { class: 'card' }, el('h3', { text: title }), ...kids); }
function wide(title, ...kids) { const c = card(title, ...kids); c.classList.add('wide'); return c; }
function note(t) { return el('p', { class: 'note', text: t }); }
function short(v, max) {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > max ? s.slice(0, max) + '…' : s;
}

// ---- charts: uPlot fed by the history API, then by live points ----------------------------------------------
// A series: hist {metric, match: {label: value}, not: {label: value}, agg: 'sum'|'max', rate, scale} reads
// GET /api/v1/history; live(collection) gives the newest value from GET /api/v1/latest.
const RANGES = [['15m', 900], ['1h', 3600], ['6h', 21600], ['24h', 86400], ['7d', 604800]];
const state = { range: 900, charts: [], interval: 5, timer: null, noHistory: false };

function matches(labels, m) {
  for (const [k, v] of Object.entries(m || {})) if ((labels || {})[k] !== v) return false;
  return true;
}

// One history answer ({"series":[{"labels":{},"points":[[ms,v]]}]}) -> Map(second -> value) for a series def.
function fromHistory(body, h) {
  const out = new Map();
  const series = (body && Array.isArray(body.series)) ? body.series : [];
  for (const s of series) {
    if (!matches(s.labels, h.match)) continue;
    if (h.not && Object.entries(h.not).some(([k, v]) => (s.labels || {})[k] === v)) continue;
    let prev = null;
    for (const p of (Array.isArray(s.points) ? s.points : [])) {
      if (!Array.isArray(p) || p.length < 2) continue;
      const t = Math.round(Number(p[0]) / 1000); let v = Number(p[1]);
      if (!isFinite(t) || !isFinite(v)) continue;
      if (h.rate) {
        const last = prev; prev = [t, v];
        if (!last || t <= last[0] || v < last[1]) continue; // first point, or a counter reset
        v = (v - last[1]) / (t - last[0]);
      }
      v *= (h.scale || 1);
      const had = out.get(t);
      out.set(t, had === undefined ? v : (h.agg === 'max' ? Math.max(had, v) : had + v));
    }
  }
  return out;
}

function makeChart(parent, def) {
  const box = el('div', { class: 'card chart', id: 'chart-' + def.id, dataset: { points: '0' } }, el('h3', { text: def.title }));
  const msg = note('');
  box.appendChild(msg);
  parent.appendChild(box);
  const c = { def, box, msg, points: new Map(), u: null, history: 'pending' };
  state.charts.push(c);
  return c;
}

function addPoint(c, t, vals) {
  if (vals.every(v => v === null || v === undefined || isNaN(v))) return;
  c.points.set(t, vals.map(v => (v === undefined || isNaN(v) ? null : v)));
  if (c.points.size > 25000) c.points.delete(c.points.keys().next().value);
}

function drawChart(c) {
  const now = Date.now() / 1000;
  const ts = [...c.points.keys()].filter(t => t >= now - state.range).sort((a, b) => a - b);
  const data = [ts];
  c.def.series.forEach((_, i) => data.push(ts.map(t => { const v = c.points.get(t)[i]; return v === undefined ? null : v; })));
  c.box.dataset.points = String(ts.length);
  const hist = c.history === 'none' ? 'no history yet: live points since this page opened' : '';
  c.msg.textContent = ts.length === 0 ? 'no data yet' + (hist ? ' (' + hist + ')' : '') : hist;
  if (!window.uPlot) { c.msg.textContent = 'chart library not loaded'; return; }
  const width = Math.max(300, c.box.clientWidth - 20);
  if (!c.u) {
    const colors = ['#2563eb', '#dc2626', '#d97706', '#059669', '#7c3aed', '#0891b2'];
    c.u = new uPlot({
      width, height: 170,
      // The x axis spans the chosen range, whatever the points cover.
      scales: { x: { time: true, range: () => { const t = Date.now() / 1000; return [t - state.range, t]; } } },
      series: [{}].concat(c.def.series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 1.5, spanGaps: false }))),
      axes: [{}, { size: 55 }],
      legend: { live: true },
    }, data, c.box);
  } else {
    c.u.setData(data);
  }
}

async function loadHistory(c) {
  const metrics = [...new Set(c.def.series.filter(s => s.hist).map(s => s.hist.metric))];
  const got = {};
  let any = false;
  for (const m of metrics) {
    const q = '/api/v1/history?metric=' + encodeURIComponent(m) + '&since=' + state.range + 's' +
      (c.def.labels ? Object.entries(c.def.labels).map(([k, v]) => '&label.' + encodeURIComponent(k) + '=' + encodeURIComponent(v)).join('') : '');
    if (state.noHistory) break;
    try {
      const r = await api(q);
      if (r.ok && r.body && Array.isArray(r.body.series)) { got[m] = r.body; any = true; }
      // No such route at all (an agent without the history store): asked once per page, not per metric.
      else if (r.status === 404 && r.body === null) state.noHistory = true;
    } catch (_) { /* live points only */ }
  }
  c.history = any ? 'yes' : 'none';
  const maps = c.def.series.map(s => (s.hist && got[s.hist.metric]) ? fromHistory(got[s.hist.metric], Object.assign({}, s.hist, { match: Object.assign({}, c.def.labels || {}, s.hist.match || {}) })) : new Map());
  const ts = new Set(); maps.forEach(m => m.forEach((_, t) => ts.add(t)));
  for (const t of ts) addPoint(c, t, maps.map(m => m.has(t) ? m.get(t) : null));
}

function feedLive(coll) {
  const t = Math.round(coll.timestamp_ms / 1000);
  for (const c of state.charts) {
    addPoint(c, t, c.def.series.map(s => { try { const v = s.live(coll); return v === undefined ? null : v; } catch (_) { return null; } }));
    drawChart(c);
  }
}

function rangeButtons(onPick) {
  const box = el('div', { class: 'ranges' });
  for (const [name, secs] of RANGES) {
    box.appendChild(el('button', {
      class: secs === state.range ? 'on' : null, text: name, dataset: { range: String(secs) },
      onclick: () => { state.range = secs; [...box.children].forEach(b => b.classList.toggle('on', b.dataset.range === String(secs))); onPick(); },
    }));
  }
  return box;
}

async function refreshCharts() {
  for (const c of state.charts) { await loadHistory(c); drawChart(c); }
}

function startPolling(onCollection) {
  const tick = async () => {
    const r = await api('/api/v1/latest');
    const live = document.getElementById('live');
    if (r.ok && r.body) {
      state.interval = r.body.interval_s || state.interval;
      document.getElementById('host').textContent = r.body.hostname || '';
      live.textContent = 'live · ' + fmtTime(r.body.timestamp_ms);
      onCollection(r.body);
    } else {
      live.textContent = r.status === 503 ? 'waiting for the first collection' : 'agent not answering (' + r.status + ')';
    }
    state.timer = setTimeout(tick, Math.min(Math.max(state.interval, 1), 60) * 1000);
  };
  tick();
}

// ---- the overview: / --------------------------------------------------------------------------------------
const sum = (a, f) => (a || []).reduce((s, x) => s + (Number(f(x)) || 0), 0);
const max = (a, f) => (a || []).length ? Math.max(...a.map(x => Number(f(x)) || 0)) : null;
const notLo = c => ((c.net && c.net.interfaces) || []).filter(i => i.iface !== 'lo');
const HOST_CHARTS = [
  { id: 'cpu', title: 'CPU % (sar -u)', series: ['usr', 'sys', 'iowait', 'steal'].map(m => ({
    label: '%' + m, hist: { metric: 'wasp_cpu_utilization_percent', match: { mode: m } }, live: c => c.cpu.all['%' + m] })) },
  { id: 'load', title: 'Run queue and load (sar -q)', series: [
    { label: 'runq-sz', hist: { metric: 'wasp_runq_size' }, live: c => c.load['runq-sz'] },
    { label: 'blocked', hist: { metric: 'node_procs_blocked' }, live: c => c.load.blocked },
    { label: 'ldavg-1', hist: { metric: 'node_load1' }, live: c => c.load['ldavg-1'] },
    { label: 'ldavg-5', hist: { metric: 'node_load5' }, live: c => c.load['ldavg-5'] },
    { label: 'ldavg-15', hist: { metric: 'node_load15' }, live: c => c.load['ldavg-15'] }] },
  { id: 'mem', title: 'Memory and swap, GiB (free -w)', series: [
    { label: 'used', hist: { metric: 'wasp_memory_bytes', match: { column: 'used' }, scale: 1 / 1073741824 }, live: c => c.memory.used / 1073741824 },
    { label: 'cache', hist: { metric: 'wasp_memory_bytes', match: { column: 'cache' }, scale: 1 / 1073741824 }, live: c => c.memory.cache / 1073741824 },
    { label: 'available', hist: { metric: 'wasp_memory_bytes', match: { column: 'available' }, scale: 1 / 1073741824 }, live: c => c.memory.available / 1073741824 },
    { label: 'swap used', live: c => c.memory.swap.used / 1073741824 }] },
  { id: 'disk', title: 'Disk: busiest %util, worst await ms (iostat -x)', series: [
    { label: '%util', hist: { metric: 'wasp_disk_utilization_percent', agg: 'max' }, live: c => max(c.disks, d => d['%util']) },
    { label: 'await ms', hist: { metric: 'wasp_disk_await_seconds', agg: 'max', scale: 1000 }, live: c => max(c.disks, d => Math.max(d.r_await, d.w_await)) }] },
  { id: 'net', title: 'Network kB/s, all interfaces but lo (sar -n DEV)', series: [
    { label: 'rxkB/s', hist: { metric: 'node_network_receive_bytes_total', not: { device: 'lo' }, rate: true, scale: 1 / 1024 }, live: c => sum(notLo(c), i => i['rxkB/s']) },
    { label: 'txkB/s', hist: { metric: 'node_network_transmit_bytes_total', not: { device: 'lo' }, rate: true, scale: 1 / 1024 }, live: c => sum(notLo(c), i => i['txkB/s']) }] },
  { id: 'psi', title: 'Pressure stall, some avg10 %', series: ['cpu', 'memory', 'io'].map(r => ({
    label: r, hist: { metric: 'wasp_pressure_' + r + '_avg10_percent', match: { kind: 'some' } }, live: c => c.pressure[r].some.avg10 })) },
];

// Sparklines of the JVM list: the values seen while the page is open, drawn on a small canvas.
const sparks = new Map();
function spark(key, v) {
  const a = sparks.get(key) || []; if (v !== null && v !== undefined && isFinite(v)) a.push(Number(v));
  while (a.length > 120) a.shift(); sparks.set(key, a);
  const cv = el('canvas', { class: 'spark', width: 120, height: 22 });
  const g = cv.getContext('2d'); if (!g || a.length < 1) return cv;
  const lo = Math.min(...a), hi = Math.max(...a), span = hi - lo || 1;
  g.strokeStyle = '#2563eb'; g.beginPath();
  a.forEach((x, i) => { const px = a.length === 1 ? 60 : i * 119 / (a.length - 1); const py = 20 - (x - lo) / span * 18; i ? g.lineTo(px, py) : g.moveTo(px, py); });
  g.stroke(); return cv;
}

function jvmRows(coll) {
  return (coll.jvms || []).map(j => {
    const f = j.figures || {};
    const heap = f.heap || {};
    return el('tr', {},
      el('td', {}, el('a', { href: '/jvm/' + j.pid, text: String(j.pid) })),
      td(j.app), td(j.user), td(j.main),
      num(fmtBytes(heap.used)), num(fmtBytes(heap.max || heap.committed)),
      el('td', {}, spark('heap' + j.pid, heap.used)),
      num(fmtNum(f.gc_overhead_pct, 2)), el('td', {}, spark('gc' + j.pid, f.gc_overhead_pct)),
      num(f.threads_live), td(j.measurable ? '' : (j.reason || 'not measurable')));
  });
}

function portRows(coll) {
  const ports = (coll.tcp && coll.tcp.ports) || [];
  const states = [...new Set(ports.flatMap(p => Object.keys(p.states || {})))].sort();
  return { states, rows: ports.map(p => el('tr', {}, num(p.port), states.map(s => num((p.states || {})[s] || 0)))) };
}

function statusCards(sections) {
  return (sections || []).map(([name, v]) => {
    // A list (the sinks) is shown one row per item, named by its name or kind.
    const entries = Array.isArray(v) ? v.map((x, i) => [(x && (x.name || x.kind)) || String(i), x]) : Object.entries(v || {});
    const rows = entries.filter(([k]) => k !== 'recent').map(([k, x]) =>
      el('tr', {}, td(k), td(typeof x === 'object' && x !== null ? short(x, 400) : x)));
    return el('div', { class: 'card', dataset: { section: name } }, el('h3', { text: name }), el('table', { class: 'kv' }, el('tbody', {}, rows)));
  });
}

async function timeline() {
  const [inc, st] = await Promise.all([api('/api/v1/incidents'), api('/api/v1/status')]);
  const items = [];
  for (const i of (inc.body && inc.body.incidents) || []) {
    items.push({ t: String(i.time).replace('T', ' ').replace(/\.\d+Z$/, 'Z'), what: i.kind, text: i.reason + ' · ' + (i.jvms || []).join(', '), href: '/incidents/' + encodeURIComponent(i.id) });
  }
  const sec = Object.fromEntries(((st.body && st.body.sections) || []).map(([k, v]) => [k, v]));
  for (const r of ((sec.snapshots || {}).recent || [])) {
    items.push({ t: fmtTime(r.at_ms), what: 'request ' + r.kind, text: r.reason + ' · ' + r.select + ' · ' + r.state + (r.error ? ': ' + r.error : '') });
  }
  for (const f of ((sec.triggers || {}).recent || [])) {
    items.push({ t: fmtTime(f.timestamp_ms), what: f.source + ' ' + f.rule, text: f.when + (f.app ? ' · ' + f.app + ' ' + f.pid : '') + ' → ' + (f.actions || []).join(', ') });
  }
  for (const e of ((sec.events || {}).recent || (sec.events || {}).last || [])) {
    items.push({ t: e.time || fmtTime(e.timestamp_ms), what: 'event ' + (e.kind || ''), text: short(e.message || e.summary || e, 200) });
  }
  items.sort((a, b) => String(b.t).localeCompare(String(a.t)));
  return { items: items.slice(0, 50), sections: (st.body && st.body.sections) || [] };
}

async function overview() {
  const m = $main();
  const grid = el('div', { class: 'grid' });
  m.append(el('h2', { text: 'Host' }), rangeButtons(() => { state.charts.forEach(c => c.points.clear()); refreshCharts(); }), grid);
  HOST_CHARTS.forEach(d => makeChart(grid, d));
  const ports = el('div', { class: 'card', id: 'ports' }, el('h3', { text: 'TCP states per listening port (ss -tan)' }));
  const jvms = el('div', { id: 'jvms' });
  const tl = el('div', { class: 'card', id: 'timeline' });
  const health = el('div', { class: 'grid', id: 'health' });
  const reqs = el('div', { id: 'requests' });
  m.append(reqs, ports, el('h2', { text: 'JVMs' }), jvms, el('h2', { text: 'Timeline: snapshots, incidents, rule firings, events' }), tl,
    el('h2', { text: 'Agent' }), health);
  await refreshCharts();
  let n = 0;
  startPolling(async coll => {
    feedLive(coll);
    // Access logs followed: their requests' scatter is one click away.
    const logs = coll.access || [];
    clear(reqs).append(...(logs.length ? [card('Requests (' + logs.length + ' access log' + (logs.length > 1 ? 's' : '') + ')',
      table(['app', 'log', { t: 'req/s', num: 1 }, { t: 'p95 ms', num: 1 }, { t: 'errors %', num: 1 }], logs.map(a => el('tr', {},
        td(a.app), td(a.log), num(fmtNum((a.interval || {}).tps)), num(fmtNum((a.interval || {}).p95_ms)), num(fmtNum((a.interval || {}).error_pct))))),
      el('p', {}, el('a', { id: 'requests-link', href: '/requests', text: 'Response time of each request (scatter) →' })))] : []));
    const p = portRows(coll);
    clear(ports).append(el('h3', { text: 'TCP states per listening port (ss -tan)' }),
      p.rows.length ? table([{ t: 'port', num: 1 }].concat(p.states.map(s => ({ t: s, num: 1 }))), p.rows) : note('no listening port'));
    const rows = jvmRows(coll);
    clear(jvms).append(rows.length ? card('JVMs on this host', table(['pid', 'app', 'user', 'main', { t: 'heap used', num: 1 }, { t: 'heap max', num: 1 }, 'heap', { t: 'GC %', num: 1 }, 'GC', { t: 'threads', num: 1 }, ''], rows)) : note('no JVM running'));
    if (n++ % 3 === 0) {
      const t = await timeline();
      clear(tl).append(t.items.length ? table(['time', 'what', ''], t.items.map(i => el('tr', {}, td(i.t), td(i.what),
        el('td', {}, i.href ? el('a', { href: i.href, text: i.text }) : i.text)))) : note('nothing yet'));
      clear(health).append(...statusCards(t.sections));
    }
  });
}

// ---- a JVM: /jvm/<pid> ------------------------------------------------------------------------------------
function jvmCharts(pid) {
  const mb = 1 / 1048576;
  const j = c => (c.jvms || []).find(x => String(x.pid) === pid) || {};
  const pool = (c, re) => sum(((j(c).figures || {}).pools || []).filter(p => re.test(p.name)), p => p.used) * mb;
  return [
    { id: 'heap', title: 'Heap by pool, MiB', labels: { pid }, series: [
      { label: 'eden', hist: { metric: 'jvm_memory_pool_used_bytes', match: { pool: 'eden' }, scale: mb }, live: c => pool(c, /eden/i) },
      { label: 'survivor', hist: { metric: 'jvm_memory_pool_used_bytes', match: { pool: 'survivor' }, scale: mb }, live: c => pool(c, /surviv/i) },
      { label: 'old', hist: { metric: 'jvm_memory_pool_used_bytes', match: { pool: 'old' }, scale: mb }, live: c => pool(c, /old|tenured/i) },
      { label: 'heap', hist: { metric: 'jvm_memory_used_bytes', match: { area: 'heap' }, scale: mb }, live: c => j(c).figures.heap.used * mb }] },
    { id: 'gc', title: 'GC overhead %', labels: { pid }, series: [
      { label: 'GC %', hist: { metric: 'wasp_jvm_gc_overhead_percent' }, live: c => j(c).figures.gc_overhead_pct }] },
    { id: 'alloc', title: 'Allocation, MiB/s', labels: { pid }, series: [
      { label: 'alloc', hist: { metric: 'wasp_jvm_eden_fill_bytes_per_second', scale: mb }, live: c => j(c).figures.alloc_bytes_per_s * mb }] },
    { id: 'threads', title: 'Threads and classes', labels: { pid }, series: [
      { label: 'threads', hist: { metric: 'jvm_threads_current' }, live: c => j(c).figures.threads_live },
      { label: 'classes/100', hist: { metric: 'jvm_classes_currently_loaded', scale: 0.01 }, live: c => j(c).figures.classes_loaded / 100 }] },
  ];
}

function threadTable(d) {
  const threads = d.threads || [];
  const rows = threads.map(t => {
    const lock = t.waits_for ? '<' + t.waits_for.address + '> (a ' + t.waits_for.class + ')' : '';
    const owner = (t.owner !== null && t.owner !== undefined) ? threads[t.owner] : null;
    return el('tr', { id: 'thread-' + t.i, class: t.deadlocked ? 'deadlock' : null, dataset: { i: String(t.i) } },
      num(t.i), td(t.name, 'mono'), td(t.state || 'VM', 'st-' + t.state), td(t.detail),
      num(t.cpu_ms === null || t.cpu_ms === undefined ? '' : fmtNum(t.cpu_ms, 1)),
      // The lock itself jumps to its owner too, as in the classic analysers.
      el('td', { class: 'mono' }, owner ? el('a', { class: 'lock waits', href: '#thread-' + owner.i, text: lock,
        onclick: e => { e.preventDefault(); jump(owner.i); } }) : lock),
      el('td', {}, owner ? el('a', { class: 'lock owner', href: '#thread-' + owner.i, dataset: { owner: String(owner.i) }, text: owner.name,
        onclick: e => { e.preventDefault(); jump(owner.i); } }) : ''),
      td((t.holds || []).join(' '), 'mono'),
      td(t.deadlocked ? 'DEADLOCK' : ''),
      td((t.frames || []).slice(0, 3).join(' ← '), 'mono'));
  });
  return table([{ t: '#', num: 1 }, 'name', 'state', '', { t: 'cpu ms', num: 1 }, 'waits for', 'owner', 'holds', '', 'top frames'], rows);
}

function jump(i) {
  document.querySelectorAll('tr.target').forEach(r => r.classList.remove('target'));
  const r = document.getElementById('thread-' + i);
  if (r) { r.classList.add('target'); r.scrollIntoView({ block: 'center' }); history.replaceState(null, '', '#thread-' + i); }
}

function reportCards(rep) {
  const out = [];
  out.push(card('Verdict', el('ul', {}, (rep.verdict || []).map(v => el('li', { text: v })))));
  out.push(card('Deadlocks', (rep.deadlocks || []).length
    ? el('ol', { id: 'deadlocks' }, rep.deadlocks.map(c => el('li', { class: 'err', text: c.join(' → ') + ' → ' + c[0] })))
    : note('none')));
  out.push(card('Hot threads', (rep.hot || []).length ? table(['thread', { t: 'cpu %', num: 1 }, 'state', 'top'],
    rep.hot.map(h => el('tr', {}, td(h.thread, 'mono'), num(fmtNum(h.cpu_pct)), td(h.state), td((h.top_frames || []).slice(0, 2).join(' ← '), 'mono'))))
    : note('none measured (CPU per thread is sampled in bundles, or read from cpu= across dumps)')));
  out.push(card('Identical stacks', (rep.groups || []).length ? table([{ t: 'threads', num: 1 }, 'state', 'top frames', 'names'],
    rep.groups.map(g => el('tr', {}, num(g.count), td(g.state), td((g.top_frames || []).join(' ← '), 'mono'), td(short((g.threads || []).join(', '), 300)))))
    : note('no group')));
  return out;
}

async function histogramSection(pid, box) {
  const r = await api('/api/v1/jvms/' + pid + '/histograms');
  clear(box).append(el('h2', { text: 'Class histogram' }));
  const list = (r.body && r.body.histograms) || [];
  if (!list.length) { box.append(note('no histogram yet: take one with the button above, or wasp trigger histo --pid ' + pid)); return; }
  const latest = r.body.latest;
  if (latest) {
    box.append(card('Newest: ' + r.body.shown, table(['class', { t: 'instances', num: 1 }, { t: 'bytes', num: 1 }],
      (latest.histogram.entries || []).slice(0, 30).map(e => el('tr', {}, td(e.class, 'mono'), num(e.instances), num(fmtBytes(e.bytes)))))));
  }
  const pick = (id, sel) => el('select', { id }, list.map((h, i) => el('option', { value: h.id, selected: i === sel ? 'selected' : null, text: h.time + ' ' + h.id })));
  const a = pick('histo-a', Math.min(1, list.length - 1)); const b = pick('histo-b', 0);
  const out = el('div', { id: 'histo-compare' });
  let asked = 0;
  const go = async () => {
    const mine = ++asked;
    const c = await api('/api/v1/jvms/' + pid + '/histograms?a=' + encodeURIComponent(a.value) + '&b=' + encodeURIComponent(b.value));
    if (mine !== asked) return; // a later choice is on its way
    clear(out);
    out.dataset.pair = a.value + ' ' + b.value;
    if (!c.ok) { out.append(note((c.body && c.body.error) || 'comparison failed')); return; }
    const d = c.body.diff;
    out.append(el('p', { text: 'total ' + (d.total_bytes_delta >= 0 ? '+' : '') + fmtBytes(d.total_bytes_delta) + ', ' + c.body.changed + ' classes changed' }));
    if ((d.leak_suspects || []).length) out.append(el('ul', { class: 'suspects' }, d.leak_suspects.map(s => el('li', { class: 'err', text: s }))));
    out.append(table(['class', { t: 'instances before', num: 1 }, { t: 'after', num: 1 }, { t: 'bytes before', num: 1 }, { t: 'after', num: 1 }, { t: 'growth', num: 1 }],
      (d.growth || []).slice(0, 50).map(g => el('tr', { class: 'growth' }, td(g.class, 'mono'), num(g.instances_before), num(g.instances_after),
        num(fmtBytes(g.bytes_before)), num(fmtBytes(g.bytes_after)), num((g.bytes_delta >= 0 ? '+' : '') + fmtBytes(g.bytes_delta))))));
  };
  box.append(card('Compare two histograms', el('div', {}, 'before ', a, ' after ', b, ' ', el('button', { id: 'histo-go', text: 'compare', onclick: go })), out));
  if (list.length > 1) go();
}

async function jvmPage(pid) {
  const m = $main();
  const head = el('div', { id: 'jvm-head' });
  const res = el('span', { id: 'action-result', class: 'note' });
  const act = (what, label) => el('button', { id: 'act-' + what, text: label, onclick: async () => {
    if (!confirm(label + ' of pid ' + pid + ' now? It counts in the snapshot budget.')) return;
    res.textContent = 'asking…';
    const r = await api('/api/v1/jvms/' + pid + '/actions/' + what, { method: 'POST', headers: { 'x-wasp-action': '1' } });
    res.textContent = r.ok ? 'queued as request ' + r.body.seq + (r.body.coalesced_into ? ' (answered by ' + r.body.coalesced_into + ')' : '') + '; reload in a moment'
      : 'refused: ' + ((r.body && r.body.error) || r.status);
  } });
  const grid = el('div', { class: 'grid' });
  const dump = el('div', { id: 'dump' });
  const histo = el('div', { id: 'histograms' });
  m.append(head, el('div', { class: 'actions' }, act('dump', 'Thread dump'), act('histogram', 'Class histogram'), act('bundle', 'Incident bundle'), ' ', res),
    rangeButtons(() => { state.charts.forEach(c => c.points.clear()); refreshCharts(); }), grid, dump, histo);
  jvmCharts(pid).forEach(d => makeChart(grid, d));
  const j = await api('/api/v1/jvms/' + pid);
  if (j.ok) {
    const x = j.body.jvm;
    head.append(el('h2', { text: 'JVM ' + x.pid + ' · ' + x.app }), el('p', { class: 'mono', text: x.main }),
      el('p', {}, [x.user, x.vendor, x.version, x.gc].filter(Boolean).map(s => el('span', { class: 'badge', text: s }))));
  } else {
    head.append(el('h2', { text: 'JVM ' + pid }), note((j.body && j.body.error) || 'not in the last collection'));
  }
  const d = await api('/api/v1/jvms/' + pid + '/dump/latest');
  dump.append(el('h2', { text: 'Latest thread dump' }));
  if (d.ok) {
    dump.append(el('p', { text: d.body.time + ' · ' + d.body.kind + ' ' + d.body.id + ' · ' + d.body.reason + ' · ' + (d.body.threads || []).length + ' threads' }),
      el('div', { class: 'grid' }, reportCards(d.body.report || {})), card('Threads', threadTable(d.body)));
    if (location.hash.startsWith('#thread-')) jump(location.hash.slice(8));
  } else {
    dump.append(note((d.body && d.body.error) || 'no thread dump yet'));
  }
  await histogramSection(pid, histo);
  await refreshCharts();
  startPolling(feedLive);
}

// ---- incidents: /incidents and /incidents/<id> ------------------------------------------------------------
async function incidentList() {
  const r = await api('/api/v1/incidents');
  const list = (r.body && r.body.incidents) || [];
  $main().append(el('h2', { text: 'Incidents and snapshots' }), list.length
    ? table(['id', 'time', 'kind', 'reason', 'JVMs', { t: 'size', num: 1 }], list.map(i => el('tr', {},
      el('td', {}, el('a', { href: '/incidents/' + encodeURIComponent(i.id), text: i.id })), td(i.time), td(i.kind), td(i.reason),
      td((i.jvms || []).join(', ')), num(fmtBytes(i.bytes)))))
    : note('no snapshot yet (wasp trigger bundle takes one)'));
}

function hostFigures(title, h) {
  if (!h) return card(title, note('not recorded'));
  const c = (h.cpu && h.cpu.all) || {};
  const rows = [['time', fmtTime(h.timestamp_ms)], ['%usr / %sys / %iowait', [c['%usr'], c['%sys'], c['%iowait']].map(v => fmtNum(v)).join(' / ')],
    ['load 1/5/15', h.load ? [h.load['ldavg-1'], h.load['ldavg-5'], h.load['ldavg-15']].join(' / ') : ''],
    ['runq-sz', h.load && h.load['runq-sz']], ['memory used / available', h.memory ? fmtBytes(h.memory.used) + ' / ' + fmtBytes(h.memory.available) : ''],
    ['swap used', h.memory ? fmtBytes(h.memory.swap.used) : ''], ['busiest disk %util', fmtNum(max(h.disks, d => d['%util']))]];
  return card(title, el('table', { class: 'kv' }, el('tbody', {}, rows.map(([k, v]) => el('tr', {}, td(k), td(v))))));
}

async function incidentPage(id) {
  const r = await api('/api/v1/incidents/' + encodeURIComponent(id));
  const m = $main();
  if (!r.ok) { m.append(el('h2', { text: 'Incident ' + id }), note((r.body && r.body.error) || 'not found')); return; }
  const b = r.body; const man = b.manifest || {};
  m.append(el('h2', { text: 'Incident ' + b.id }), el('p', { text: man.time + ' · ' + man.kind + ' · ' + man.reason_text + ' · ' + man.select }));
  if ((b.context || []).length) m.append(card('What caused it (rule, log lines)', el('pre', { id: 'context', text: b.context.join('\n') })));
  for (const j of b.jvms || []) {
    const f = j.figures || {};
    const sec = el('div', { class: 'jvm-incident', dataset: { pid: String(j.jvm.pid) } });
    sec.append(el('h2', {}, 'JVM ', el('a', { href: '/jvm/' + j.jvm.pid, text: String(j.jvm.pid) }), ' · ' + j.jvm.app));
    if ((j.jvm.errors || []).length) sec.append(el('ul', {}, j.jvm.errors.map(e => el('li', { class: 'err', text: e }))));
    const grid = el('div', { class: 'grid' });
    grid.append(card('Thread dumps apart in time', el('div', { id: 'dumps-' + j.jvm.pid }, (j.dumps || []).length ? table(['file', { t: 'threads', num: 1 }, 'states'],
      j.dumps.map(d => el('tr', { class: 'dump' }, td(d.file, 'mono'), num(d.threads), td(Object.entries(d.states || {}).map(([k, v]) => k + ' ' + v).join(', ')))))
      : note('no dump'))));
    const a = f.analysis || {};
    grid.append(...reportCards(a).slice(0, 3));
    const n = f.netstat;
    grid.append(card('Sockets by state and peer (netstat)', n ? el('div', { class: 'sockets' },
      el('p', { text: n.tcp_sockets + ' TCP sockets · ' + Object.entries(n.by_state || {}).map(([k, v]) => k + ' ' + v).join(', ') }),
      el('p', { class: 'mono', text: 'listening: ' + (n.listening || []).join(' ') }),
      table(['peer', 'state', { t: 'count', num: 1 }], (n.by_peer || []).slice(0, 40).map(p => el('tr', {}, td(p.peer, 'mono'), td(p.state), num(p.count))))) : note('not read')));
    const o = f.open_files;
    grid.append(card('Open files by type (lsof)', o ? el('div', { class: 'files' },
      table(['type', { t: 'count', num: 1 }], [['total', o.total], ['limit', o.limit], ['sockets', o.sockets], ['pipes', o.pipes], ['regular', o.regular],
        ['jars', (o.jars || []).length], ['deleted', (o.deleted || []).length], ['devices', o.devices], ['other', o.other]].map(([k, v]) => el('tr', {}, td(k), num(v)))),
      el('h3', { text: 'by directory' }), table(['directory', { t: 'files', num: 1 }], (o.by_directory || []).slice(0, 20).map(([d, c]) => el('tr', {}, td(d, 'mono'), num(c))))) : note('not read')));
    const p = f.process;
    if (p) grid.append(wide('Process and threads (top -H)', el('pre', { text: p.status || '' }),
      table(['tid', 'name', 'state', { t: 'cpu s', num: 1 }, { t: 'cpu %', num: 1 }], (p.threads || []).slice(0, 30).map(t => el('tr', {}, num(t.tid), td(t.name, 'mono'), td(t.state), num(fmtNum(t.cpu_s, 2)), num(fmtNum(t.cpu_pct)))))));
    if (j.histogram) grid.append(wide('Class histogram', table(['class', { t: 'instances', num: 1 }, { t: 'bytes', num: 1 }],
      (j.histogram.histogram.entries || []).slice(0, 25).map(e => el('tr', {}, td(e.class, 'mono'), num(e.instances), num(fmtBytes(e.bytes)))))));
    sec.append(grid);
    m.append(sec);
  }
  m.append(el('div', { class: 'grid' }, hostFigures('Host before', b.host_before), hostFigures('Host after', b.host_after)));
  m.append(card('Files', table(['file', 'what', { t: 'bytes', num: 1 }], (man.files || []).map(f => el('tr', {}, td(f.file, 'mono'), td(f.what), num(f.bytes))))));
  if (b.report) m.append(card('Report', el('pre', { id: 'report', text: b.report })));
}

// ---- requests: /requests, the response-time scatter (XView) ------------------------------------------------
// One dot per request the agent kept (GET /api/v1/access/scatter: the last 10 minutes, slow and failed requests
// first). Paths and thread names come from the logs, so from any client: shown as text only.
const statusColor = s => (s >= 500 ? '#dc2626' : s >= 400 ? '#d97706' : '#2563eb');
const SC = { app: '', log: true, body: null, dots: [], pinned: null, listing: false, drag: null, pad: { l: 60, r: 12, t: 10, b: 28 } };

function scatterRows(pts) {
  return table(['time', { t: 'ms', num: 1 }, 'status', 'method', 'path', 'thread', 'app'], pts.map(d => el('tr', { class: 'req' },
    td(fmtTime(d.p[0]).replace(/Z$/, '') + '.' + String(d.p[0] % 1000).padStart(3, '0') + 'Z'), num(fmtNum(d.p[1], 1)), td(d.p[2]),
    td(d.p[3]), td(d.p[4], 'mono'), td(d.p[5] === null ? '' : d.p[5], 'mono'), td(d.app))));
}

function showRequests(title, pts) {
  const box = clear(document.getElementById('scatter-detail'));
  box.append(el('h3', { text: title }));
  if (!pts.length) { box.append(note('no request there')); return; }
  box.append(scatterRows(pts.slice(0, 200)));
  if (pts.length > 200) box.append(note('the first 200 of ' + pts.length));
}

function drawScatter() {
  const cv = document.getElementById('scatter');
  if (!cv) return;
  const b = SC.body || { apps: [], now_ms: Date.now(), window_ms: 600000 };
  const w = Math.max(400, cv.parentElement.clientWidth - 24), h = 420;
  if (cv.width !== w) cv.width = w;
  cv.height = h;
  const g = cv.getContext('2d');
  const { l, r, t, b: bm } = SC.pad;
  const x0 = b.now_ms - b.window_ms, x1 = b.now_ms;
  const all = [];
  for (const a of b.apps || []) for (const p of a.points || []) if (Array.isArray(p) && p.length >= 6) all.push({ p, app: a.app });
  const durs = all.map(d => Number(d.p[1]) || 0);
  const hi = Math.max(1, ...durs) * 1.1;
  const lo = SC.log ? Math.max(0.01, Math.min(hi / 10, ...durs.filter(v => v > 0))) * 0.8 : 0;
  const fy = SC.log ? v => Math.log10(Math.max(v, lo)) : v => v;
  const yOf = v => t + (h - t - bm) * (1 - (fy(v) - fy(lo)) / ((fy(hi) - fy(lo)) || 1));
  const xOf = ms => l + (w - l - r) * Math.min(1, Math.max(0, (ms - x0) / (x1 - x0)));
  g.clearRect(0, 0, w, h);
  g.fillStyle = '#fff'; g.fillRect(0, 0, w, h);
  g.strokeStyle = '#dde'; g.fillStyle = '#555'; g.font = '11px system-ui, sans-serif';
  // Axes: a tick per minute, durations by decade (log) or in fifths.
  for (let m = Math.ceil(x0 / 60000) * 60000; m <= x1; m += 60000) {
    const x = xOf(m); g.beginPath(); g.moveTo(x, t); g.lineTo(x, h - bm); g.stroke();
    g.fillText(new Date(m).toISOString().slice(11, 16), x - 14, h - 10);
  }
  const ticks = [];
  if (SC.log) for (let v = Math.pow(10, Math.floor(Math.log10(lo))); v <= hi; v *= 10) { if (v >= lo) ticks.push(v); }
  else for (let i = 0; i <= 5; i++) ticks.push(hi * i / 5);
  for (const v of ticks) {
    const y = yOf(v); g.beginPath(); g.moveTo(l, y); g.lineTo(w - r, y); g.stroke();
    g.fillText(v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + ' s' : (v < 1 ? v.toFixed(2) : v.toFixed(0)) + ' ms', 4, y + 4);
  }
  // Dots: the ordinary first, failed and slow on top.
  all.sort((a, c) => (a.p[2] >= 500) - (c.p[2] >= 500) || a.p[1] - c.p[1]);
  SC.dots = [];
  for (const d of all) {
    d.x = xOf(d.p[0]); d.y = yOf(Number(d.p[1]) || 0);
    g.fillStyle = statusColor(d.p[2]); g.globalAlpha = d.p[2] >= 400 ? 0.9 : 0.55;
    g.fillRect(d.x - 2, d.y - 2, 4, 4);
    SC.dots.push(d);
  }
  g.globalAlpha = 1;
  // A clicked request stays chosen across refreshes while it is still drawn.
  if (SC.pinned && !SC.dots.includes(SC.pinned)) {
    const o = SC.pinned;
    SC.pinned = SC.dots.find(d => d.p[0] === o.p[0] && d.p[1] === o.p[1] && d.p[4] === o.p[4]) || null;
  }
  if (SC.pinned) { g.strokeStyle = '#000'; g.strokeRect(SC.pinned.x - 4, SC.pinned.y - 4, 8, 8); }
  if (SC.drag && SC.drag.moved) {
    const d = SC.drag; g.strokeStyle = '#1d2330'; g.setLineDash([4, 3]);
    g.strokeRect(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0)); g.setLineDash([]);
  }
  const slowest = SC.dots[SC.dots.length - 1] && SC.dots.reduce((a, c) => (c.p[1] > a.p[1] ? c : a));
  cv.dataset.drawn = String(SC.dots.length);
  cv.dataset.slowest = slowest ? Math.round(slowest.x) + ',' + Math.round(slowest.y) : '';
}

function nearest(x, y) {
  let best = null, bd = 64; // within 8 px
  for (const d of SC.dots) { const e = (d.x - x) ** 2 + (d.y - y) ** 2; if (e <= bd) { bd = e; best = d; } }
  return best;
}

function canvasXY(cv, e) { const r = cv.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }

async function loadScatter() {
  const r = await api('/api/v1/access/scatter' + (SC.app ? '?app=' + encodeURIComponent(SC.app) : ''));
  const info = document.getElementById('scatter-info');
  if (!r.ok || !r.body) { info.textContent = 'no answer (' + r.status + ')'; return; }
  SC.body = r.body;
  const apps = r.body.apps || [];
  const n = apps.reduce((s, a) => s + (a.points || []).length, 0);
  const sel = document.getElementById('scatter-app');
  if (!SC.app) {
    const names = apps.map(a => a.app);
    const have = [...sel.options].map(o => o.value);
    for (const a of names) if (!have.includes(a)) sel.append(el('option', { value: a, text: a }));
  }
  document.getElementById('scatter').dataset.points = String(n);
  info.textContent = n + ' requests shown' + (r.body.truncated ? ' (the newest of more)' : '') + ' · ' +
    apps.map(a => a.app + ': ' + a.seen + ' seen, ' + a.sampled_out + ' sampled away' + (a.slow_above_ms ? ', kept first: 5xx and above ' + fmtNum(a.slow_above_ms, 1) + ' ms' : '')).join(' · ');
  drawScatter();
}

async function requestsPage() {
  const m = $main();
  SC.app = new URLSearchParams(location.search).get('app') || '';
  const sel = el('select', { id: 'scatter-app', onchange: () => {
    SC.app = sel.value; history.replaceState(null, '', SC.app ? '?app=' + encodeURIComponent(SC.app) : '/requests'); loadScatter();
  } }, el('option', { value: '', text: 'all apps' }));
  if (SC.app) sel.append(el('option', { value: SC.app, text: SC.app, selected: 'selected' }));
  const logBox = el('input', { type: 'checkbox', id: 'scatter-log', checked: 'checked', onchange: () => { SC.log = logBox.checked; drawScatter(); } });
  const cv = el('canvas', { id: 'scatter', width: 800, height: 420, dataset: { drawn: '0', points: '0' } });
  const legend = el('span', { class: 'legend' }, [['2xx/3xx', 'ok'], ['4xx', 'c4'], ['5xx', 'c5']].map(([k, c]) =>
    el('span', {}, el('i', { class: 'dot ' + c }), k + ' ')));
  m.append(el('h2', { text: 'Requests: response time of each request (last 10 minutes, sampled)' }),
    el('div', { class: 'actions' }, 'app ', sel, ' ', el('label', {}, logBox, ' log scale'), ' ', legend),
    el('div', { class: 'card wide' }, cv, el('p', { id: 'scatter-info', class: 'note' })),
    el('div', { id: 'scatter-detail', class: 'card' }, note('hover or click a dot for its request; drag across a region to list its requests')));
  cv.addEventListener('mousemove', e => {
    const [x, y] = canvasXY(cv, e);
    if (SC.drag) { SC.drag.x1 = x; SC.drag.y1 = y; SC.drag.moved = SC.drag.moved || Math.abs(x - SC.drag.x0) + Math.abs(y - SC.drag.y0) > 4; drawScatter(); return; }
    if (SC.pinned || SC.listing) return; // a click or a region chose what the box shows
    const d = nearest(x, y);
    if (d) showRequests('Request', [d]);
  });
  cv.addEventListener('mousedown', e => { const [x, y] = canvasXY(cv, e); SC.drag = { x0: x, y0: y, x1: x, y1: y, moved: false }; });
  cv.addEventListener('mouseup', e => {
    const d = SC.drag; SC.drag = null;
    if (!d) return;
    const [x, y] = canvasXY(cv, e);
    if (d.moved) {
      const [xa, xb, ya, yb] = [Math.min(d.x0, x), Math.max(d.x0, x), Math.min(d.y0, y), Math.max(d.y0, y)];
      const pts = SC.dots.filter(p => p.x >= xa && p.x <= xb && p.y >= ya && p.y <= yb).sort((a, c) => c.p[1] - a.p[1]);
      SC.pinned = null; SC.listing = true; showRequests(pts.length + ' requests in the region, slowest first', pts);
    } else {
      SC.pinned = nearest(x, y); SC.listing = false;
      if (SC.pinned) showRequests('Request', [SC.pinned]);
    }
    drawScatter();
  });
  cv.addEventListener('mouseleave', () => { if (SC.drag) { SC.drag = null; drawScatter(); } });
  await loadScatter();
  // The overview's cadence: every collection interval.
  startPolling(() => loadScatter());
}

// ---- routing ----------------------------------------------------------------------------------------------
async function route() {
  const p = location.pathname;
  let mm;
  try {
    if (p === '/') await overview();
    else if ((mm = p.match(/^\/jvm\/(\d+)$/))) await jvmPage(mm[1]);
    else if (p === '/requests') await requestsPage();
    else if (p === '/incidents') await incidentList();
    else if ((mm = p.match(/^\/incidents\/([^/]+)$/))) await incidentPage(decodeURIComponent(mm[1]));
    else $main().append(note('no such page'));
  } catch (e) {
    $main().append(el('p', { class: 'err', text: 'console error: ' + e }));
    throw e;
  }
  document.body.dataset.ready = '1';
}
route();
