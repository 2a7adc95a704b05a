/* Velo console: one page over the public JSON API (docs/OPERATIONS.md, "The API").
 *
 * Plain JavaScript, no framework, no build step. It polls GET /jobs once a
 * second (backing off to 15 s, with a banner, while the server is
 * unreachable), keeps the last five minutes of every job's rates and latency
 * for the charts (uPlot, vendored), and acts with the API's own requests:
 * POST /jobs, DELETE /jobs/{id}, POST /jobs/{id}/checkpoint, GET /jobs/{id}/plan.
 * Views: #/ (jobs), #/jobs/{id} (one job), #/submit (the SQL editor).
 */
'use strict';
(() => {
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 15000;
  const HISTORY_S = 300;
  const LINE_PX = 20; // the editor's line height (app.css)
  const COLORS = ['#2f6fdf', '#1a9a53', '#d49b00', '#8e44ad', '#e06c00', '#16a2b8', '#c2185b', '#5d6d7e'];
  const TOTAL = '#1d2330';
  const EXAMPLE = `-- An endless job: every 1000th generated order, to orders_sample.jsonl.
CREATE STREAM orders_sample AS
SELECT order_id, customer_id, total_amount
FROM orders
WHERE order_id % 1000 = 0
WITH ('orders.type' = 'generator_source', 'orders.records' = '1000000000000',
      'orders_sample.type' = 'file_sink', 'orders_sample.path' = 'orders_sample.jsonl');
`;

  const $ = (sel, root = document) => root.querySelector(sel);

  const S = {
    jobs: [], // the last answer of GET /jobs
    history: new Map(), // job id -> samples of the last HISTORY_S seconds
    plans: new Map(), // job id -> plan text, or a promise while loading
    up: null, // whether the last poll reached the server
    failures: 0, // polls failed in a row
    downSince: null,
    timer: null,
    polling: null, // the poll in flight
    view: null, // the mounted view: {update(), destroy()}
    draft: '',
  };

  // ---- formatting ---------------------------------------------------------
  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ESC[c]);
  const num = (n) => (n == null ? '–' : Number(n).toLocaleString('en-US'));
  function rate(n) {
    if (n == null) return '–';
    if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M/s';
    if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k/s';
    return n.toFixed(n > 0 && n < 10 ? 1 : 0) + '/s';
  }
  function dur(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
    return d ? `${d}d ${h}h` : h ? `${h}h ${m}m ${x}s` : m ? `${m}m ${x}s` : `${x}s`;
  }
  function ms(v) {
    if (v == null) return '–';
    if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
    if (v >= 1) return v.toFixed(2) + ' ms';
    return Math.round(v * 1000) + ' µs';
  }
  function bytes(b) {
    if (b == null) return '–';
    const u = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + ' ' + u[i];
  }
  const stamp = (t) => (t == null ? '–' : new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  const clock = (t) => new Date(t).toTimeString().slice(0, 8);
  const lag = (v) => (v == null ? '–' : v < 0 ? `${lag(-v)} ahead of the clock` : v < 1000 ? `${v} ms` : dur(v / 1000));
  const ended = (j) => j.state === 'finished' || j.state === 'failed';
  /** ' · N partitions', or nothing before the job's runtime has started. */
  const partitions = (j) => (j.partitions.length ? ` · ${j.partitions.length} partition${j.partitions.length === 1 ? '' : 's'}` : '');

  // ---- the API ------------------------------------------------------------
  async function api(method, path, body) {
    const init = { method, cache: 'no-store' };
    if (body != null) {
      init.body = body;
      init.headers = { 'Content-Type': 'text/plain; charset=utf-8' };
    }
    return answer(await fetch(path, init));
  }
  /** A fetch's response as {status, ok, json} (json: null unless JSON). */
  async function answer(r) {
    let json = null;
    try { json = await r.json(); } catch (_) { /* not JSON: json stays null */ }
    return { status: r.status, ok: r.ok, json };
  }
  const jobPath = (id) => '/jobs/' + encodeURIComponent(id);

  // ---- polling, with backoff and a banner while the server is away -------
  /** Polls now (or joins the poll in flight); resolves once the view is updated. */
  function poll() {
    if (!S.polling) S.polling = pollOnce().finally(() => { S.polling = null; });
    return S.polling;
  }

  async function pollOnce() {
    clearTimeout(S.timer);
    let delay = POLL_MS;
    try {
      // The page's first poll was sent from its <head> (index.html).
      const first = window.veloFirstJobs;
      window.veloFirstJobs = null;
      const r = first ? await answer(await first) : await api('GET', '/jobs');
      if (!r.ok || !r.json || !Array.isArray(r.json.jobs)) throw new Error(`GET /jobs answered ${r.status}`);
      const known = S.jobs.map((j) => j.id);
      S.jobs = r.json.jobs;
      record(S.jobs);
      connected(known);
    } catch (e) {
      disconnected(e);
      delay = Math.min(POLL_MS * 2 ** Math.min(S.failures, 6), MAX_BACKOFF_MS);
      banner(`The server went away (unreachable since ${clock(S.downSince)}, ${S.failures} failed attempt${S.failures > 1 ? 's' : ''}): retrying in ${Math.round(delay / 1000)} s.`, false);
    }
    try { if (S.view) S.view.update(); } catch (e) { console.error(e); }
    S.timer = setTimeout(poll, delay);
  }

  function serverBadge(state, text) {
    const el = $('#server');
    el.dataset.state = state;
    el.textContent = text;
  }

  function connected(known) {
    const wasDown = S.up === false;
    S.up = true;
    S.failures = 0;
    S.downSince = null;
    serverBadge('up', 'connected');
    if (wasDown) {
      const ids = new Set(S.jobs.map((j) => j.id));
      const lost = known.filter((id) => !ids.has(id)).length;
      banner(lost ? `Reconnected: the server restarted (${lost} job${lost > 1 ? 's' : ''} it no longer knows).` : 'Reconnected to the server.', true);
      setTimeout(() => { if (S.up && $('#banner').classList.contains('ok')) $('#banner').hidden = true; }, 5000);
    }
  }

  function disconnected(e) {
    S.up = false;
    S.failures += 1;
    if (S.downSince == null) S.downSince = Date.now();
    serverBadge('down', 'unreachable');
    console.warn('poll failed:', e);
  }

  function banner(text, ok) {
    const b = $('#banner');
    $('#banner-text').textContent = text;
    b.classList.toggle('ok', ok);
    b.hidden = false;
  }

  // ---- history for the charts --------------------------------------------
  function newSeries(n) { return Array.from({ length: n }, () => null); }

  function record(jobs) {
    const now = Date.now() / 1000;
    const seen = new Set();
    for (const j of jobs) {
      seen.add(j.id);
      let h = S.history.get(j.id);
      // A restarted server may give the same id to another job.
      if (!h || h.submitted !== j.submitted_at_ms) {
        h = { submitted: j.submitted_at_ms, t: [], in: [], out: [], p50: [], p99: [], parts: [], done: false };
        S.history.set(j.id, h);
        S.plans.delete(j.id);
      }
      if (h.done) continue; // nothing moves once it has ended
      h.done = ended(j);
      const lat = j.latency || {};
      h.t.push(now);
      h.in.push(j.throughput.in_per_s);
      h.out.push(j.throughput.out_per_s);
      h.p50.push(lat.p50_ms ?? null);
      h.p99.push(lat.p99_ms ?? null);
      const n = h.t.length;
      (j.partitions || []).forEach((p, i) => {
        if (!h.parts[i]) h.parts[i] = { in: newSeries(n - 1), out: newSeries(n - 1), p50: newSeries(n - 1), p99: newSeries(n - 1) };
        const hp = h.parts[i], pl = p.latency || {};
        hp.in.push(p.in_per_s);
        hp.out.push(p.out_per_s);
        hp.p50.push(pl.p50_ms ?? null);
        hp.p99.push(pl.p99_ms ?? null);
      });
      for (const hp of h.parts) for (const k of ['in', 'out', 'p50', 'p99']) while (hp[k].length < n) hp[k].push(null);
      const all = [h.t, h.in, h.out, h.p50, h.p99, ...h.parts.flatMap((p) => [p.in, p.out, p.p50, p.p99])];
      while (h.t.length && h.t[0] < now - HISTORY_S) for (const a of all) a.shift();
    }
    for (const id of [...S.history.keys()]) if (!seen.has(id)) S.history.delete(id);
  }

  // ---- charts ------------------------------------------------------------
  /** The x range: the data's last 5 minutes, and at least one minute. */
  function window5m(u, min, max) {
    const end = max ?? Date.now() / 1000;
    const span = Math.min(HISTORY_S, Math.max(60, end - (min ?? end)));
    return [end - span, end];
  }

  function chart(el, series, data, fmt, log) {
    const opts = {
      width: Math.max(el.clientWidth, 300),
      height: 220,
      scales: { x: { time: true, range: window5m }, y: log ? { distr: 3 } : { range: (u, min, max) => [0, Math.max(max || 0, 1)] } },
      series: [{}, ...series],
      axes: [{}, { size: 64, values: (u, vals) => vals.map(fmt) }],
      legend: { live: true },
    };
    return new uPlot(opts, data, el);
  }

  const axisRate = (v) => (v == null ? '' : v >= 1e6 ? (v / 1e6).toFixed(1) + 'M' : v >= 1e3 ? (v / 1e3).toFixed(0) + 'k' : String(Math.round(v)));
  const axisMs = (v) => (v == null ? '' : v >= 1 ? v.toFixed(1) : v.toFixed(3));

  function lineSeries(label, color, extra) {
    return Object.assign({ label, stroke: color, width: 1.5, points: { show: false } }, extra);
  }

  // ---- views -------------------------------------------------------------
  function route() {
    const hash = location.hash || '#/';
    if (S.view && S.view.destroy) S.view.destroy();
    if (hash.startsWith('#/jobs/')) S.view = jobView(decodeURIComponent(hash.slice('#/jobs/'.length)));
    else if (hash === '#/submit') S.view = submitView();
    else S.view = listView();
    $('#nav-jobs').classList.toggle('active', !hash.startsWith('#/submit'));
    $('#nav-submit').classList.toggle('active', hash.startsWith('#/submit'));
    S.view.update();
  }

  function listView() {
    $('#view').innerHTML = `
      <div class="panel">
        <div style="display:flex;align-items:baseline"><h2>Jobs</h2><span class="muted" id="jobs-summary" style="margin-left:auto"></span></div>
        <table id="jobs">
          <thead><tr><th>Job</th><th>State</th><th>Processor</th><th class="num">In</th><th class="num">Out</th>
            <th class="num">Late</th><th class="num">Failed</th><th class="num">Rate in</th><th class="num">Running for</th></tr></thead>
          <tbody></tbody>
        </table>
        <div class="empty" id="jobs-empty" hidden>No jobs yet: <a href="#/submit">submit an app</a>.</div>
      </div>`;
    return {
      update() {
        $('#jobs tbody').innerHTML = S.jobs.map((j) => `
          <tr data-id="${esc(j.id)}" data-state="${esc(j.state)}">
            <td><a href="#/jobs/${encodeURIComponent(j.id)}"><strong>${esc(j.name)}</strong></a> <span class="muted">${esc(j.id)}</span>
              ${j.reason ? `<div class="reason">${esc(j.reason)}</div>` : ''}</td>
            <td><span class="badge ${esc(j.state)}">${esc(j.state)}</span></td>
            <td>${esc(j.processor)}${partitions(j)}</td>
            <td class="num" data-col="in">${num(j.records.in)}</td>
            <td class="num" data-col="out">${num(j.records.written)}</td>
            <td class="num" data-col="late">${num(j.records.late)}</td>
            <td class="num" data-col="failed">${num(j.records.failed)}</td>
            <td class="num">${ended(j) ? '–' : rate(j.throughput.in_per_s)}</td>
            <td class="num">${dur(j.elapsed_s)}${ended(j) ? ' (ended)' : ''}</td>
          </tr>`).join('');
        $('#jobs-empty').hidden = S.jobs.length > 0 || S.up !== true;
        const live = S.jobs.filter((j) => !ended(j)).length;
        $('#jobs-summary').textContent = `${live} live, ${S.jobs.length} in all`;
      },
    };
  }

  function jobView(id) {
    $('#view').innerHTML = `
      <div class="panel job-head">
        <div>
          <h1><span id="job-name">${esc(id)}</span> <span class="badge" id="job-state">…</span></h1>
          <div class="muted" id="job-sub"></div>
          <div class="reason" id="job-reason" hidden></div>
        </div>
        <div class="actions">
          <span class="action-msg" id="action-msg"></span>
          <button id="btn-checkpoint" type="button" title="POST /jobs/{id}/checkpoint">Take a checkpoint</button>
          <button id="btn-stop" class="danger" type="button" title="DELETE /jobs/{id}: drain, then stop">Stop (drain)</button>
        </div>
      </div>
      <div class="cards" id="cards"></div>
      <div class="charts">
        <div class="panel"><h2>Input rate (records/s)</h2><div class="chart" id="chart-in" data-points="0"></div></div>
        <div class="panel"><h2>Output rate (rows/s)</h2><div class="chart" id="chart-out" data-points="0"></div></div>
        <div class="panel"><h2>Processing latency per batch (ms)</h2><div class="chart" id="chart-latency" data-points="0"></div>
          <div class="legend-note">p50 solid, p99 dashed; each point is over one second.</div></div>
      </div>
      <div class="panel"><h2>Partitions</h2>
        <table id="partitions"><thead><tr><th>Partition</th><th class="num">In</th><th class="num">Out</th><th class="num">In/s</th>
          <th class="num">Out/s</th><th class="num">Queue</th><th>Backpressure</th><th>Worst</th><th class="num">p50</th><th class="num">p99</th>
          <th>Watermark</th><th class="num">Lag</th></tr></thead><tbody></tbody></table>
        <div class="legend-note">Backpressure by queue utilisation (SPEC §5): <span class="bp healthy">healthy</span> &lt; 70 %,
          <span class="bp warning">warning</span> &lt; 85 %, <span class="bp critical">critical</span> &lt; 95 %, else <span class="bp saturated">saturated</span>.</div>
      </div>
      <div class="grid2">
        <div class="panel"><h2>Accounting</h2><div class="identity" id="accounting"></div></div>
        <div class="panel"><h2>Watermark</h2><dl class="kv" id="watermark"></dl></div>
        <div class="panel"><h2>Checkpoints</h2><dl class="kv" id="checkpoint"></dl></div>
      </div>
      <div class="panel"><h2>Plan</h2><pre class="plan" id="plan">…</pre></div>`;

    let charts = null; // {parts, in, out, latency}
    const busy = { stop: false, checkpoint: false }; // a request of the button's in flight
    const msg = (text, error) => {
      const m = $('#action-msg');
      m.textContent = text;
      m.classList.toggle('error', !!error);
    };

    $('#btn-stop').onclick = async () => {
      busy.stop = true;
      $('#btn-stop').disabled = true;
      msg('draining…');
      try {
        const r = await api('DELETE', jobPath(id));
        if (r.status === 200) msg(`stopped: ${r.json ? r.json.state : ''}`);
        else if (r.status === 202) msg('still draining…');
        else msg((r.json && r.json.error) || `DELETE answered ${r.status}`, true);
      } catch (_) {
        msg('the server is unreachable', true);
      }
      busy.stop = false;
      poll();
    };
    $('#btn-checkpoint').onclick = async () => {
      busy.checkpoint = true;
      $('#btn-checkpoint').disabled = true;
      msg('taking a checkpoint…');
      try {
        const r = await api('POST', jobPath(id) + '/checkpoint');
        if (r.ok && r.json) msg(`checkpoint ${r.json.id} taken: ${bytes(r.json.bytes)} in ${ms(r.json.duration_ms)}`);
        else msg((r.json && r.json.error) || `POST answered ${r.status}`, true);
      } catch (_) {
        msg('the server is unreachable', true);
      }
      busy.checkpoint = false;
      poll();
    };

    function loadPlan() {
      if (S.plans.has(id)) return;
      S.plans.set(id, null);
      api('GET', jobPath(id) + '/plan').then((r) => {
        const text = r.ok && r.json ? r.json.plan : (r.json && r.json.error) || `GET answered ${r.status}`;
        S.plans.set(id, text);
        const el = $('#plan');
        if (el && S.view && S.view.id === id) el.textContent = text;
      }, () => S.plans.delete(id));
    }

    function buildCharts(n) {
      for (const c of ['in', 'out', 'latency']) $('#chart-' + c).innerHTML = '';
      const parts = Array.from({ length: n }, (_, i) => i);
      const h = S.history.get(id);
      charts = {
        parts: n,
        in: chart($('#chart-in'), [lineSeries('total', TOTAL, { width: 2 }), ...parts.map((i) => lineSeries(`p${i}`, COLORS[i % COLORS.length]))], inData(h), axisRate),
        out: chart($('#chart-out'), [lineSeries('total', TOTAL, { width: 2 }), ...parts.map((i) => lineSeries(`p${i}`, COLORS[i % COLORS.length]))], outData(h), axisRate),
        latency: chart($('#chart-latency'), [
          lineSeries('total p50', TOTAL, { width: 2 }),
          lineSeries('total p99', TOTAL, { width: 2, dash: [6, 4] }),
          ...parts.flatMap((i) => [lineSeries(`p${i} p50`, COLORS[i % COLORS.length]), lineSeries(`p${i} p99`, COLORS[i % COLORS.length], { dash: [6, 4] })]),
        ], latencyData(h), axisMs, true),
      };
    }
    const inData = (h) => [h.t, h.in, ...h.parts.map((p) => p.in)];
    const outData = (h) => [h.t, h.out, ...h.parts.map((p) => p.out)];
    const latencyData = (h) => [h.t, h.p50, h.p99, ...h.parts.flatMap((p) => [p.p50, p.p99])];

    function updateCharts(h) {
      if (!charts || charts.parts !== h.parts.length) buildCharts(h.parts.length);
      for (const [key, data] of [['in', inData(h)], ['out', outData(h)], ['latency', latencyData(h)]]) {
        charts[key].setData(data);
        const el = $('#chart-' + key);
        el.dataset.points = String(h.t.length);
        el.dataset.max = String(Math.max(0, ...data.slice(1).flat().filter((v) => v != null)));
      }
    }

    function card(label, value, sub) {
      return `<div class="card"><div class="label">${esc(label)}</div><div class="value">${value}</div>${sub ? `<div class="sub">${sub}</div>` : ''}</div>`;
    }

    const resize = () => {
      if (!charts) return;
      for (const c of ['in', 'out', 'latency']) charts[c].setSize({ width: Math.max($('#chart-' + c).clientWidth, 300), height: 220 });
    };
    window.addEventListener('resize', resize);

    return {
      id,
      destroy() {
        window.removeEventListener('resize', resize);
        if (charts) for (const c of ['in', 'out', 'latency']) charts[c].destroy();
      },
      update() {
        const j = S.jobs.find((x) => x.id === id);
        if (!j) {
          if (S.up) {
            $('#job-state').textContent = 'unknown';
            $('#job-sub').textContent = `The server has no job '${id}' (it keeps the last 100 ended jobs; a restarted server keeps no job submitted over HTTP).`;
            $('#btn-stop').disabled = $('#btn-checkpoint').disabled = true;
          }
          return;
        }
        loadPlan();
        const done = ended(j), r = j.records;
        $('#job-name').textContent = j.name;
        const st = $('#job-state');
        st.textContent = j.state;
        st.className = 'badge ' + j.state;
        $('#job-sub').textContent = `${j.id} · ${j.processor}${partitions(j)} · submitted ${stamp(j.submitted_at_ms)} · ${done ? 'ran for' : 'running for'} ${dur(j.elapsed_s)}`;
        $('#job-reason').hidden = !j.reason;
        $('#job-reason').textContent = j.reason || '';
        $('#btn-stop').disabled = busy.stop || j.state !== 'running';
        $('#btn-checkpoint').disabled = busy.checkpoint || done;

        const lat = j.latency || {};
        $('#cards').innerHTML = [
          card('Records in', num(r.in), done ? '' : rate(j.throughput.in_per_s)),
          card('Rows out', num(r.written), done ? '' : rate(j.throughput.out_per_s)),
          card('Late', num(r.late), `${num(r.late_dropped)} set aside`),
          card('Failed', num(r.failed), `${num(r.dlq)} to the DLQ`),
          card('Latency p50 / p99', `${ms(lat.p50_ms)} / ${ms(lat.p99_ms)}`, 'per batch, last second'),
          card('State', bytes(j.state_bytes), j.join_rows ? `${num(j.join_rows)} join rows` : ''),
        ].join('');

        const h = S.history.get(id);
        if (h) updateCharts(h);

        $('#partitions tbody').innerHTML = j.partitions.map((p) => `
          <tr data-partition="${p.partition}">
            <td>p${p.partition}</td><td class="num">${num(p.records_in)}</td><td class="num">${num(p.records_out)}</td>
            <td class="num">${rate(p.in_per_s)}</td><td class="num">${rate(p.out_per_s)}</td>
            <td class="num">${p.queue_depth} / ${p.queue_capacity}</td>
            <td><span class="bp ${esc(p.backpressure)}">${esc(p.backpressure)}</span></td>
            <td><span class="bp ${esc(p.worst_backpressure)}">${esc(p.worst_backpressure)}</span></td>
            <td class="num">${ms(p.latency && p.latency.p50_ms)}</td><td class="num">${ms(p.latency && p.latency.p99_ms)}</td>
            <td>${stamp(p.watermark)}</td><td class="num">${lag(p.watermark_lag_ms)}</td>
          </tr>`).join('');

        const sum = r.processed + r.filtered + r.late_dropped + r.failed;
        const verdict = done
          ? sum === r.in ? '<span class="holds">holds ✓</span>' : `<span class="broken">off by ${num(r.in - sum)}</span>`
          : `<span class="pending">${num(r.in - sum)} in flight (it adds up once the job has ended)</span>`;
        $('#accounting').innerHTML = `in = processed + filtered + late_dropped + failed<br>
          ${num(r.in)} = ${num(r.processed)} + ${num(r.filtered)} + ${num(r.late_dropped)} + ${num(r.failed)}<br>
          <span id="identity" data-holds="${done && sum === r.in}">${verdict}</span>`;

        $('#watermark').innerHTML = `<dt>Watermark</dt><dd>${j.watermark == null ? 'none yet' : stamp(j.watermark)}</dd>
          <dt>Lag</dt><dd>${lag(j.watermark_lag_ms)}</dd><dt>Least of</dt><dd>${j.partitions.length} partition${j.partitions.length === 1 ? '' : 's'}</dd>`;

        const c = j.checkpoint;
        $('#checkpoint').innerHTML = c
          ? `<dt>Last</dt><dd>#${c.id}</dd><dt>At</dt><dd>${stamp(c.completed_at_ms)}</dd><dt>Size</dt><dd>${bytes(c.bytes)}</dd>
             <dt>Duration</dt><dd>${ms(c.duration_ms)}</dd><dt>Taken</dt><dd>${num(c.completed)} since the job started</dd>`
          : '<dt>Last</dt><dd>none yet</dd>';

        const plan = S.plans.get(id);
        if (plan) $('#plan').textContent = plan;
      },
    };
  }

  function submitView() {
    $('#view').innerHTML = `
      <div class="panel">
        <h2>Submit an app</h2>
        <p class="muted">SQL statements separated by <code>;</code>, as for <code>velo-server run</code>; paths resolve against the server's working directory.
          <kbd>Ctrl</kbd>+<kbd>Enter</kbd> submits (POST /jobs).</p>
        <div class="editor">
          <div class="gutter" id="gutter"></div>
          <div class="body"><div class="mark" id="mark" hidden><span class="col" id="mark-col"></span></div>
            <textarea id="sql" spellcheck="false" autocomplete="off" autocapitalize="off" placeholder="CREATE STREAM ... AS SELECT ... FROM ... WITH (...);"></textarea></div>
        </div>
        <div class="submit-bar">
          <button class="primary" id="btn-submit" type="button">Submit</button>
          <button id="btn-example" type="button">Example app</button>
          <span class="action-msg" id="submit-msg"></span>
        </div>
        <div class="error-box" id="submit-error" hidden></div>
      </div>`;
    const ta = $('#sql'), gutter = $('#gutter'), mark = $('#mark'), box = $('#submit-error');
    ta.value = S.draft;
    let error = null; // {line, column} of the last refusal, until the text changes

    function paint() {
      const lines = ta.value.split('\n').length;
      let html = '';
      for (let i = 1; i <= lines; i++) html += `<div data-line="${i}"${error && error.line === i ? ' class="err"' : ''}>${i}</div>`;
      gutter.innerHTML = html;
      sync();
    }
    /** The width of one character of the editor's (monospace) font. */
    function charWidth() {
      const probe = document.createElement('span');
      probe.textContent = 'x'.repeat(50);
      probe.style.cssText = 'position:absolute;visibility:hidden;white-space:pre;font:inherit';
      ta.parentNode.appendChild(probe);
      const w = probe.getBoundingClientRect().width / 50;
      probe.remove();
      return w;
    }
    function sync() {
      gutter.scrollTop = ta.scrollTop;
      mark.hidden = !error;
      if (!error) return;
      mark.style.top = `${8 + (error.line - 1) * LINE_PX - ta.scrollTop}px`;
      $('#mark-col').style.left = `${10 + (error.column - 1) * charWidth() - ta.scrollLeft}px`;
    }
    function msg(text, bad) {
      const m = $('#submit-msg');
      m.textContent = text;
      m.classList.toggle('error', !!bad);
    }
    function refuse(status, b) {
      b = b || {};
      const at = b.line ? `Line ${b.line}, column ${b.column}: ` : '';
      box.innerHTML = `<strong>${esc(at + (b.message || b.error || `POST /jobs answered ${status}`))}</strong>${b.diagnostic ? `<pre>${esc(b.diagnostic)}</pre>` : ''}`;
      box.dataset.line = b.line || '';
      box.hidden = false;
      msg(`refused (${status})`, true);
      if (!b.line) return;
      error = { line: b.line, column: b.column || 1 };
      paint();
      // Select the offending line and bring it into view.
      const lines = ta.value.split('\n');
      const start = lines.slice(0, b.line - 1).reduce((n, l) => n + l.length + 1, 0);
      const end = start + (lines[b.line - 1] || '').length;
      ta.focus();
      ta.setSelectionRange(start, end);
      ta.scrollTop = Math.max(0, (b.line - 4) * LINE_PX);
      sync();
    }
    async function submit() {
      const button = $('#btn-submit');
      button.disabled = true;
      box.hidden = true;
      msg('submitting…');
      let r;
      try {
        r = await api('POST', '/jobs', ta.value);
      } catch (_) {
        msg('the server is unreachable: not submitted', true);
        return;
      } finally {
        button.disabled = false;
      }
      if (r.status === 201 && r.json && Array.isArray(r.json.ids) && r.json.ids.length) {
        msg(`started ${r.json.ids.join(', ')}`);
        await poll();
        if (!S.jobs.some((j) => j.id === r.json.ids[0])) await poll(); // that poll began before the job
        location.hash = '#/jobs/' + encodeURIComponent(r.json.ids[0]);
        return;
      }
      refuse(r.status, r.json);
    }

    ta.addEventListener('input', () => {
      S.draft = ta.value;
      error = null;
      paint();
    });
    ta.addEventListener('scroll', sync);
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submit();
      } else if (e.key === 'Tab') {
        e.preventDefault();
        ta.setRangeText('    ', ta.selectionStart, ta.selectionEnd, 'end');
        ta.dispatchEvent(new Event('input'));
      }
    });
    $('#btn-submit').onclick = submit;
    $('#btn-example').onclick = () => {
      ta.value = EXAMPLE;
      ta.dispatchEvent(new Event('input'));
    };
    paint();
    return { update() {} };
  }

  $('#banner-retry').onclick = () => poll();
  window.addEventListener('hashchange', route);
  route();
  poll();
})();
