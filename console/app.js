// The Shoal console. It polls the two read-only JSON views under /console/api and
// draws them: plain DOM, SVG for the shard map, canvas for the charts. No build step
// and no dependencies, so the page is served straight from the binary and works offline.

const POLL_MS = 1000;
const WINDOW_MS = 60_000; // how much history the charts show
const MAX_RECORDS = 500; // rows kept in the record browser
const FIRST_PAGE = 100; // records shown when a shard is picked
const TAIL_PAGE = 500; // records asked for per tailing poll
const PALETTE = ['#1f6fd1', '#d3372b', '#239448', '#8a4fc7', '#e07b00', '#0f9bb0', '#8c564b', '#c2408f', '#5f6b7a', '#9a9a12'];
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (sel) => document.querySelector(sel);

const state = {
  streams: [], // the latest /console/api/streams answer
  selected: null, // key of the selected stream
  // stream key -> samples [{t, c: Map(shard id -> [inRec, inBytes, outRec, outBytes])}];
  // the server only has totals, so every rate is a delta between two samples.
  history: new Map(),
};

// Names are unique only within an account and region.
const keyOf = (s) => `${s.account}/${s.region}/${s.name}`;
const shardNo = (id) => Number(id.replace(/^shardId-/, ''));
const shortId = (id) => (Number.isFinite(shardNo(id)) ? String(shardNo(id)) : id);
// A shard keeps its colour everywhere (map, charts, legend, table) and across polls.
const colorOf = (id) => PALETTE[(shardNo(id) || 0) % PALETTE.length];

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith('svg:') ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// Reuse the parent's children by key instead of rebuilding them every second, so a
// hover tooltip, an open <select> or a click in progress survives the refresh.
function keyed(parent, items, key, create, update) {
  const old = new Map([...parent.children].map((c) => [c.dataset.key, c]));
  items.forEach((item, i) => {
    const k = key(item);
    let node = old.get(k);
    if (node) old.delete(k);
    else {
      node = create(item);
      node.dataset.key = k;
    }
    update(node, item);
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] ?? null);
  });
  for (const node of old.values()) node.remove();
}

const fmtRate = (v) => (v === 0 ? '0' : v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));
function fmtBytes(v) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${i ? v.toFixed(1) : Math.round(v)} ${units[i]}/s`;
}
const fmtAxis = (v) => (v >= 1000 ? `${+(v / 1000).toPrecision(3)}k` : `${+v.toPrecision(3)}`);

function setStatus(kind, text) {
  const s = $('#status');
  s.dataset.state = kind;
  s.textContent = text;
}

// ---- polling the stream list ---------------------------------------------------

async function pollStreams() {
  try {
    const res = await fetch('/console/api/streams', { cache: 'no-store' });
    const body = await res.json().catch(() => ({}));
    if (res.status === 503) setStatus('starting', `server ${body.status || 'starting'}, retrying…`);
    else if (!res.ok) setStatus('error', `error: ${body.error || `HTTP ${res.status}`}`);
    else {
      ingest(body);
      setStatus('live', `live · ${new Date(body.time_ms).toISOString().slice(11, 19)} UTC`);
      render();
    }
  } catch (e) {
    setStatus('error', `cannot reach the server (${e.message}), retrying…`);
  }
  setTimeout(pollStreams, POLL_MS);
}

function ingest(body) {
  state.streams = body.streams;
  const seen = new Set();
  for (const s of body.streams) {
    const key = keyOf(s);
    seen.add(key);
    const samples = state.history.get(key) ?? [];
    state.history.set(key, samples);
    if (samples.length && body.time_ms <= samples.at(-1).t) continue; // no time passed: no delta
    const counters = s.shards.map((sh) => [sh.id, [sh.incoming_records, sh.incoming_bytes, sh.outgoing_records, sh.outgoing_bytes]]);
    samples.push({ t: body.time_ms, c: new Map(counters) });
    // Keep one sample from before the window, so the window's first point has a delta.
    while (samples.length > 2 && samples[1].t < body.time_ms - WINDOW_MS) samples.shift();
  }
  for (const key of state.history.keys()) if (!seen.has(key)) state.history.delete(key);
  if (!body.streams.some((s) => keyOf(s) === state.selected)) state.selected = body.streams[0] ? keyOf(body.streams[0]) : null;
}

// Per shard, the rates [inRec, inBytes, outRec, outBytes] per second between samples.
function rateSeries(samples) {
  const series = new Map();
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = (b.t - a.t) / 1000;
    for (const [id, now] of b.c) {
      // A shard missing from the older sample was created since: it started from zero.
      // A counter that went down belongs to a stream deleted and created again.
      const before = a.c.get(id) ?? [0, 0, 0, 0];
      if (!series.has(id)) series.set(id, []);
      series.get(id).push({ t: b.t, r: now.map((v, k) => Math.max(0, v - before[k]) / dt) });
    }
  }
  return series;
}

// ---- rendering -----------------------------------------------------------------

const selectedStream = () => state.streams.find((s) => keyOf(s) === state.selected);

function render() {
  renderStreamList();
  const s = selectedStream();
  $('#detail').hidden = !s;
  if (!s) return;
  const samples = state.history.get(keyOf(s)) ?? [];
  const now = samples.at(-1)?.t ?? 0;
  const series = rateSeries(samples);
  // The current rate is the latest delta; a shard without one (closed long ago) has 0.
  const current = (id) => {
    const p = series.get(id)?.at(-1);
    return p && p.t === now ? p.r : [0, 0, 0, 0];
  };
  syncRecordShards(s); // first, so the map can mark the tailed shard
  $('#stream-title').textContent = s.name;
  $('#stream-meta').textContent = `${s.status} · ${s.mode} · ${s.shards.filter((sh) => sh.open).length} open shards · retention ${s.retention_hours} h · ${s.arn}`;
  renderMap(s, current);
  renderRates(s, current);
  const open = s.shards.filter((sh) => sh.open);
  drawChart($('#chart-in'), open, series, now, 0);
  drawChart($('#chart-out'), open, series, now, 2);
  keyed($('#legend'), open, (sh) => sh.id, (sh) => el('span', { 'data-legend-shard': sh.id }, el('i'), sh.id), (node, sh) => {
    node.firstChild.style.background = colorOf(sh.id);
  });
}

function renderStreamList() {
  // Account and region are noise unless there is more than one of them.
  const many = new Set(state.streams.map((s) => `${s.account}/${s.region}`)).size > 1;
  $('#no-streams').hidden = state.streams.length > 0;
  keyed($('#streams'), state.streams, keyOf, (s) => {
    const li = el('li', { 'data-stream': s.name, 'data-account': s.account, 'data-region': s.region, tabindex: '0' });
    li.append(el('span', { class: 'name' }), el('span', { class: 'meta' }));
    return li;
  }, (li, s) => {
    const open = s.shards.filter((sh) => sh.open).length;
    li.classList.toggle('selected', keyOf(s) === state.selected);
    li.setAttribute('aria-current', keyOf(s) === state.selected);
    li.dataset.status = s.status;
    li.dataset.openShards = open;
    li.firstChild.textContent = s.name;
    li.lastChild.textContent = `${s.status} · ${s.mode === 'ON_DEMAND' ? 'on-demand' : 'provisioned'} · ${open} open${many ? ` · ${s.account} ${s.region}` : ''}`;
  });
}

// Generation of each shard: 0 without a known parent, else one below its deepest parent
// (a merged shard has two).
function depths(shards) {
  const byId = new Map(shards.map((s) => [s.id, s]));
  const memo = new Map();
  const depth = (s) => {
    if (memo.has(s.id)) return memo.get(s.id);
    memo.set(s.id, 0); // guards against a cycle in bad data
    const parents = [s.parent, s.adjacent_parent].map((p) => byId.get(p)).filter(Boolean);
    const d = parents.length ? 1 + Math.max(...parents.map(depth)) : 0;
    memo.set(s.id, d);
    return d;
  };
  shards.forEach(depth);
  return memo;
}

function renderMap(s, current) {
  const svg = $('#shard-map');
  const ROW = 34;
  const GAP = 22;
  const AXIS = 20;
  const width = svg.clientWidth || 800;
  const depth = depths(s.shards);
  const rows = Math.max(0, ...depth.values()) + 1;
  const height = rows * ROW + (rows - 1) * GAP + AXIS + 4;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('height', height);
  svg.dataset.stream = s.name;
  const x = (f) => 1 + f * (width - 2);
  const top = (sh) => depth.get(sh.id) * (ROW + GAP);

  // The axis: quarters of the 128-bit key space.
  const axisY = height - AXIS;
  const ticks = [[0, '0'], [0.25, '2¹²⁶'], [0.5, '2¹²⁷'], [0.75, '3·2¹²⁶'], [1, '2¹²⁸']];
  svg.querySelector('.axis').replaceChildren(
    ...ticks.map(([f, label], i) => el('svg:g', {},
      el('svg:line', { x1: x(f), x2: x(f), y1: 0, y2: axisY + 4 }),
      el('svg:text', { x: x(f), y: axisY + 15, 'text-anchor': ['start', 'middle', 'middle', 'middle', 'end'][i] }, label))),
  );

  // Lineage: an arrow from each parent down to its child, where their ranges overlap.
  const byId = new Map(s.shards.map((sh) => [sh.id, sh]));
  const links = [];
  for (const child of s.shards) {
    for (const parent of [child.parent, child.adjacent_parent].map((p) => byId.get(p)).filter(Boolean)) {
      const mid = x((Math.max(parent.start, child.start) + Math.min(parent.end, child.end)) / 2);
      links.push(el('svg:line', { x1: mid, x2: mid, y1: top(parent) + ROW, y2: top(child) - 2, 'marker-end': 'url(#arrow)' }));
    }
  }
  svg.querySelector('.links').replaceChildren(...links);

  keyed(svg.querySelector('.shards'), s.shards, (sh) => sh.id, (sh) => {
    const g = el('svg:g', { 'data-shard-id': sh.id }, el('svg:rect', { rx: 3 }), el('svg:text', { 'text-anchor': 'middle' }), el('svg:title'));
    g.addEventListener('click', () => pickShard(sh.id));
    return g;
  }, (g, sh) => {
    const [rect, text, title] = g.children;
    const x0 = x(sh.start) + 1;
    const w = Math.max(1, x(sh.end) - x(sh.start) - 2);
    const r = current(sh.id);
    g.setAttribute('class', `shard ${sh.open ? 'open' : 'closed'}${sh.id === tail.shard ? ' selected' : ''}`);
    g.dataset.inRate = r[0];
    Object.entries({ x: x0, y: top(sh), width: w, height: ROW }).forEach(([k, v]) => rect.setAttribute(k, v));
    rect.style.stroke = sh.open ? colorOf(sh.id) : '';
    text.setAttribute('x', x0 + w / 2);
    text.setAttribute('y', top(sh) + ROW / 2 + 4);
    text.textContent = w >= 18 ? shortId(sh.id) : ''; // no room for a label in a sliver
    title.textContent = `${sh.id} (${sh.open ? 'open' : 'closed'})\n`
      + `in: ${fmtRate(r[0])} records/s, ${fmtBytes(r[1])}\nout: ${fmtRate(r[2])} records/s, ${fmtBytes(r[3])}\n`
      + `hash keys ${sh.start_hash} – ${sh.end_hash}`
      + (sh.parent ? `\nparent ${sh.parent}${sh.adjacent_parent ? ` + ${sh.adjacent_parent}` : ''}` : '');
  });
}

function renderRates(s, current) {
  const total = [0, 0, 0, 0];
  keyed($('#shard-rates tbody'), s.shards, (sh) => sh.id, (sh) => {
    const tr = el('tr', { 'data-shard': sh.id });
    for (let i = 0; i < 8; i++) tr.append(el('td'));
    tr.firstChild.append(el('i'), el('span'));
    tr.addEventListener('click', () => pickShard(sh.id));
    return tr;
  }, (tr, sh) => {
    const r = current(sh.id);
    r.forEach((v, k) => { total[k] += v; });
    tr.className = sh.open ? 'open' : 'closed';
    Object.assign(tr.dataset, { inRate: r[0], inBytesRate: r[1], outRate: r[2], outBytesRate: r[3] });
    const cells = tr.children;
    cells[0].firstChild.style.background = sh.open ? colorOf(sh.id) : '#c4c7cc';
    cells[0].lastChild.textContent = sh.id;
    const pct = (f) => `${+(f * 100).toFixed(2)}%`;
    [sh.open ? 'open' : 'closed', `${pct(sh.start)} – ${pct(sh.end)}`, fmtRate(r[0]), fmtBytes(r[1]), fmtRate(r[2]), fmtBytes(r[3]),
      sh.incoming_records.toLocaleString('en-US')].forEach((text, i) => { cells[i + 1].textContent = text; });
  });
  [['#total-in-rate', total[0], fmtRate], ['#total-in-bytes', total[1], fmtBytes], ['#total-out-rate', total[2], fmtRate], ['#total-out-bytes', total[3], fmtBytes]]
    .forEach(([sel, v, fmt]) => {
      $(sel).dataset.value = v;
      $(sel).textContent = fmt(v);
    });
}

// A round number at or above v, so the y axis has readable ticks.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

// One line per shard of rate k (0: incoming records/s, 2: outgoing records/s) over the last minute.
function drawChart(canvas, shards, series, now, k) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400;
  const h = canvas.clientHeight || 180;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const pad = { l: 50, r: 10, t: 8, b: 30 };
  const lines = shards.map((sh) => ({
    id: sh.id,
    pts: (series.get(sh.id) ?? []).filter((p) => p.t >= now - WINDOW_MS).map((p) => [p.t, p.r[k]]),
  }));
  const max = niceMax(Math.max(0, ...lines.flatMap((l) => l.pts.map((p) => p[1]))));
  const x = (t) => pad.l + (1 - (now - t) / WINDOW_MS) * (w - pad.l - pad.r);
  const y = (v) => h - pad.b - (v / max) * (h - pad.t - pad.b);

  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#5f6368';
  ctx.strokeStyle = '#e4e6e9';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const yy = Math.round(y((max * i) / 4)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.l, yy);
    ctx.lineTo(w - pad.r, yy);
    ctx.stroke();
    ctx.fillText(fmtAxis((max * i) / 4), pad.l - 5, yy);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (let ago = 60; ago >= 0; ago -= 15) ctx.fillText(ago ? `-${ago} s` : 'now', x(now - ago * 1000), h - pad.b + 5);
  ctx.save();
  ctx.translate(11, (pad.t + h - pad.b) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('records/s', 0, -6);
  ctx.restore();

  ctx.lineWidth = 2;
  ctx.lineJoin = 'round';
  for (const l of lines) {
    ctx.strokeStyle = colorOf(l.id);
    ctx.beginPath();
    l.pts.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
    ctx.stroke();
  }
  // What was drawn, for tests and for anyone inspecting the page.
  canvas.dataset.lines = lines.length;
  canvas.dataset.max = max;
}

// ---- the record browser --------------------------------------------------------

// The shard being tailed. `gen` changes whenever the tail restarts, so the answer of
// a fetch started for an earlier shard is dropped.
const tail = { stream: null, name: '', account: '', region: '', shard: null, next: null, gen: 0, timer: 0, paused: false };

function syncRecordShards(s) {
  const select = $('#record-shard');
  keyed(select, s.shards, (sh) => sh.id, (sh) => el('option', { value: sh.id }), (o, sh) => {
    o.textContent = sh.open ? sh.id : `${sh.id} (closed)`;
  });
  // A new stream, or the tailed shard is gone: start on its first open shard.
  if (tail.stream !== keyOf(s) || !s.shards.some((sh) => sh.id === tail.shard)) {
    startTail(s, (s.shards.find((sh) => sh.open) ?? s.shards[0])?.id ?? null);
  }
  if (select.value !== tail.shard) select.value = tail.shard ?? '';
}

function pickShard(id) {
  const s = selectedStream();
  if (!s) return;
  startTail(s, id);
  render();
}

function startTail(s, shard) {
  clearTimeout(tail.timer);
  Object.assign(tail, { stream: keyOf(s), name: s.name, account: s.account, region: s.region, shard, next: null, gen: tail.gen + 1 });
  $('#records tbody').replaceChildren();
  $('#records').dataset.shard = shard ?? '';
  $('#records-status').textContent = '';
  if (shard) fetchRecords(tail.gen);
}

async function fetchRecords(gen) {
  if (gen !== tail.gen) return;
  if (tail.paused) {
    $('#records-status').textContent = 'paused';
    return;
  }
  const q = new URLSearchParams({ stream: tail.name, shard: tail.shard, account: tail.account, region: tail.region });
  if (tail.next === null) {
    q.set('from', 'newest');
    q.set('limit', FIRST_PAGE);
  } else {
    q.set('after', tail.next);
    q.set('limit', TAIL_PAGE);
  }
  let delay = POLL_MS;
  try {
    const res = await fetch(`/console/api/records?${q}`, { cache: 'no-store' });
    const body = await res.json();
    if (gen !== tail.gen) return; // another shard was picked meanwhile
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    addRecords(body.records);
    tail.next = body.next;
    const rows = $('#records tbody').rows.length;
    if (body.ended) {
      $('#records-status').textContent = `${rows} records · the shard is closed and fully read`;
      return;
    }
    $('#records-status').textContent = `${rows} records · tailing ${tail.shard}`;
    if (body.records.length === TAIL_PAGE) delay = 0; // behind: catch up without waiting
  } catch (e) {
    if (gen !== tail.gen) return;
    $('#records-status').textContent = `error: ${e.message}, retrying…`;
  }
  if (!tail.paused) tail.timer = setTimeout(() => fetchRecords(gen), delay);
}

// Pages come oldest first; the table shows the newest on top and keeps MAX_RECORDS.
function addRecords(records) {
  const tbody = $('#records tbody');
  const rows = records.slice(-MAX_RECORDS).reverse().map((r) => {
    const data = r.text ?? r.data_base64;
    return el('tr', { class: 'record', 'data-seq': r.sequence_number },
      el('td', { class: 'seq' }, r.sequence_number),
      el('td', {}, r.partition_key),
      el('td', {}, el('time', { datetime: new Date(r.arrival_ms).toISOString() }, new Date(r.arrival_ms).toISOString())),
      el('td', { class: r.text === null ? 'data b64' : 'data', title: r.text === null ? 'not UTF-8: shown as base64' : data }, data));
  });
  tbody.prepend(...rows);
  while (tbody.rows.length > MAX_RECORDS) tbody.lastElementChild.remove();
}

// ---- wiring --------------------------------------------------------------------

$('#streams').addEventListener('click', (e) => {
  const li = e.target.closest('li[data-key]');
  if (!li) return;
  state.selected = li.dataset.key;
  render();
});
$('#streams').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') e.target.closest('li[data-key]')?.click();
});
$('#record-shard').addEventListener('change', (e) => pickShard(e.target.value));
$('#records-pause').addEventListener('click', (e) => {
  tail.paused = !tail.paused;
  e.target.textContent = tail.paused ? 'Resume' : 'Pause';
  e.target.setAttribute('aria-pressed', tail.paused);
  clearTimeout(tail.timer);
  if (tail.paused) $('#records-status').textContent = 'paused';
  // Resuming restarts the loop under a new gen, so a fetch still in flight cannot
  // start a second one; the cursor is kept.
  if (!tail.paused) fetchRecords(++tail.gen);
});
window.addEventListener('resize', () => state.streams.length && render());

pollStreams();
