// The study's analysis views beside the history: the objective over two
// parameters (a contour the daemon smooths onto a grid), the empirical
// distribution of the objective by source, the parameters' importances (the
// daemon computes them), and the notes people leave on studies and trials.
// Chart options for Apache ECharts; every text reaches the page as text.
import { api, seg, query, authHeaders, PREFIX, ApiError } from './api.js';
import { h, fmtNum, fmtParam, fmtInt, fmtTime, sourceGroup, SOURCE_GROUPS } from './dom.js';
import { makeChart, plottableParams } from './charts.js';

const TEXT = '#1f2937';
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const AXIS = {
  axisLine: { lineStyle: { color: '#9ca3af' } },
  axisLabel: { color: '#4b5563', hideOverlap: true },
  splitLine: { show: false },
  nameTextStyle: { color: '#4b5563' },
};
const TOOLTIP = { renderMode: 'richText', backgroundColor: '#ffffff', borderColor: '#d1d5db', textStyle: { color: TEXT, fontSize: 12 }, confine: true };
const GOOD_LOW = ['#1d4ed8', '#60a5fa', '#fde68a', '#f59e0b', '#dc2626'];

/* --- contour --- */

// An axis of the contour as the daemon describes it: numeric axes span the
// search space (log ones on a log axis), categorical ones have a band per
// choice.
function contourAxis(a, narrow) {
  const common = { ...AXIS, name: a.name, nameLocation: 'middle' };
  if (a.type === 'categorical') return { ...common, type: 'category', data: a.values.map(fmtParam), nameGap: 28, axisLabel: { ...AXIS.axisLabel, interval: 0, width: narrow ? 60 : 100, overflow: 'truncate' } };
  return { ...common, type: a.log ? 'log' : 'value', min: a.low, max: a.high, nameGap: 30 };
}

// The contour plot of a /contour answer: the smoothed grid as coloured cells
// (custom series over the cells' edges, so that log axes and bands both
// work), the completed trials on top as points coloured on the same scale.
export function contourOption(d, { maximize, narrow }) {
  const cells = [];
  let lo = Infinity;
  let hi = -Infinity;
  d.z.forEach((row, j) =>
    row.forEach((z, i) => {
      if (typeof z !== 'number') return;
      cells.push([i, j, z]);
      lo = Math.min(lo, z);
      hi = Math.max(hi, z);
    }),
  );
  for (const p of d.points) {
    lo = Math.min(lo, p.value);
    hi = Math.max(hi, p.value);
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = 1;
  }
  const cat = (a) => a.type === 'categorical';
  /* the pixel span of cell k along an axis (dim 0: x, 1: y) */
  const span = (api, a, k, dim) => {
    const at = (v) => {
      const pt = dim === 0 ? [v, refY] : [refX, v];
      return api.coord(pt)[dim];
    };
    if (cat(a)) {
      const c = at(k);
      const s = api.size(dim === 0 ? [1, 0] : [0, 1])[dim];
      return [c - s / 2, c + s / 2];
    }
    return [at(a.edges[k]), at(a.edges[k + 1])];
  };
  const refX = cat(d.x) ? 0 : d.x.values[0];
  const refY = cat(d.y) ? 0 : d.y.values[0];
  const pos = (a, v) => (cat(a) ? fmtParam(v) : v);
  const points = d.points.map((p) => [pos(d.x, p.x), pos(d.y, p.y), p.value, p.number]);
  const colors = maximize ? GOOD_LOW.slice().reverse() : GOOD_LOW;
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    grid: narrow ? { left: 64, right: 16, top: 16, bottom: 100 } : { left: 84, right: 110, top: 20, bottom: 56 },
    tooltip: {
      ...TOOLTIP,
      trigger: 'item',
      formatter: (q) =>
        q.seriesName === 'trials'
          ? `trial ${q.data[3]}\n${d.x.name}: ${typeof q.data[0] === 'number' ? fmtNum(q.data[0]) : q.data[0]}\n${d.y.name}: ${typeof q.data[1] === 'number' ? fmtNum(q.data[1]) : q.data[1]}\n${d.objective}: ${fmtNum(q.data[2])}`
          : `${d.objective} ≈ ${fmtNum(q.data[2])} (smoothed)`,
    },
    xAxis: contourAxis(d.x, narrow),
    yAxis: contourAxis(d.y, narrow),
    visualMap: {
      type: 'continuous',
      seriesIndex: [0, 1],
      dimension: 2,
      min: lo,
      max: hi === lo ? lo + 1 : hi,
      precision: 4,
      calculable: false,
      text: [maximize ? 'better' : 'worse', maximize ? 'worse' : 'better'],
      inRange: { color: colors },
      textStyle: { color: TEXT },
      ...(narrow ? { orient: 'horizontal', left: 'center', bottom: 4, itemWidth: 12, itemHeight: 200 } : { right: 8, top: 'middle', itemHeight: 180 }),
    },
    series: [
      {
        name: 'smoothed',
        type: 'custom',
        data: cells,
        encode: { x: 0, y: 1 },
        silent: false,
        z: 1,
        renderItem: (params, api) => {
          const i = api.value(0);
          const j = api.value(1);
          const [x0, x1] = span(api, d.x, i, 0);
          const [y0, y1] = span(api, d.y, j, 1);
          return {
            type: 'rect',
            shape: { x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0) + 0.5, height: Math.abs(y1 - y0) + 0.5 },
            style: { fill: api.visual('color'), opacity: 0.8 },
          };
        },
      },
      {
        name: 'trials',
        type: 'scatter',
        data: points,
        symbolSize: points.length > 2000 ? 4 : 8,
        large: points.length > 2000,
        itemStyle: { borderColor: '#111827', borderWidth: points.length > 2000 ? 0 : 1 },
        z: 3,
      },
    ],
  };
}

// The contour panel: two selects (x and y), the chart, a note; the daemon
// computes the grid (GET .../contour). refresh(force) fetches again when the
// study changed.
export function contourPanel(name, spec, signal, onTrial) {
  const params = plottableParams(spec);
  const el = h('div', { class: 'chart chart-contour', id: 'contour-chart' });
  const note = h('span', { class: 'muted small', id: 'contour-note' });
  const pick = (id, k) =>
    h(
      'select',
      { id, 'aria-label': id === 'contour-x' ? 'horizontal parameter' : 'vertical parameter', onchange: () => refresh(true) },
      params.map((p, i) => h('option', { value: p.name, selected: i === k }, p.name)),
    );
  const xSel = pick('contour-x', 0);
  const ySel = pick('contour-y', 1);
  const panel = h(
    'section',
    { class: 'panel', id: 'contour-panel' },
    h('div', { class: 'panel-head' }, h('h2', null, 'Contour'), h('label', null, 'x ', xSel), h('label', null, 'y ', ySel), h('span', { class: 'spacer' }), note),
    el,
  );
  let chart = null;
  let busy = false;
  let last = '';
  const obj = spec.objective || {};
  async function refresh(force, narrow) {
    if (params.length < 2) {
      xSel.disabled = ySel.disabled = true;
      note.textContent = 'a contour needs two parameters that are not code';
      el.hidden = true;
      panel.dataset.state = 'unavailable';
      return;
    }
    if (xSel.value === ySel.value) {
      note.textContent = 'pick two different parameters';
      return;
    }
    const key = `${xSel.value}/${ySel.value}/${narrow}`;
    if (busy || (!force && key === last)) return;
    busy = true;
    try {
      const d = await api(`/studies/${seg(name)}/contour${query({ x: xSel.value, y: ySel.value, grid: 40 })}`, { signal });
      last = key;
      if (!chart) {
        chart = makeChart(el);
        if (!chart) return;
        chart.on('click', (p) => {
          if (p.seriesName === 'trials' && Array.isArray(p.data)) onTrial(p.data[3]);
        });
      }
      chart.setOption(contourOption(d, { maximize: obj.direction === 'maximize', narrow }), { notMerge: true });
      el.dataset.x = d.x.name;
      el.dataset.y = d.y.name;
      el.dataset.points = String(d.points.length);
      el.dataset.cells = String(d.z.reduce((n, row) => n + row.filter((z) => typeof z === 'number').length, 0));
      note.textContent = d.note || `${fmtInt(d.n_trials)} completed trials; between them the value is smoothed by the daemon (inverse-distance weighting)`;
    } catch (e) {
      if (e.name !== 'AbortError') note.textContent = `could not compute the contour: ${e.message}`;
    } finally {
      busy = false;
    }
  }
  return { el: panel, refresh, chart: () => chart };
}

/* --- empirical distribution --- */

// The empirical distribution of the objective: for each value v the fraction
// of completed trials with a value ≤ v, one line per source group when the
// study mixes them (the LLM against the samplers), and one for all.
export function edfOption(trials, { objective, log }) {
  const by = new Map();
  const all = [];
  for (const t of trials) {
    if (t.state !== 'completed' || typeof t.value !== 'number') continue;
    all.push(t.value);
    const g = sourceGroup(t.source);
    if (!by.has(g)) by.set(g, []);
    by.get(g).push(t.value);
  }
  const steps = (vals) => {
    const v = vals.slice().sort((a, b) => a - b);
    const n = v.length;
    /* at most 2000 points a line: the fraction at evenly spaced ranks */
    const every = Math.max(1, Math.ceil(n / 2000));
    const out = [];
    for (let k = 0; k < n; k += every) out.push([v[k], (k + 1) / n]);
    if (n && out[out.length - 1][1] !== 1) out.push([v[n - 1], 1]);
    return out;
  };
  const series = [];
  const groups = SOURCE_GROUPS.filter((g) => by.has(g.key));
  if (groups.length > 1)
    for (const g of groups)
      series.push({ name: `${g.label} (${by.get(g.key).length})`, type: 'line', step: 'end', showSymbol: false, data: steps(by.get(g.key)), lineStyle: { color: g.color, width: 2 }, itemStyle: { color: g.color } });
  series.push({ name: `all (${all.length})`, type: 'line', step: 'end', showSymbol: false, data: steps(all), lineStyle: { color: '#111827', width: groups.length > 1 ? 1.5 : 2, type: groups.length > 1 ? 'dashed' : 'solid' }, itemStyle: { color: '#111827' } });
  return {
    option: {
      animation: false,
      textStyle: { fontFamily: FONT },
      grid: { left: 56, right: 20, top: 36, bottom: 44 },
      legend: { type: 'scroll', top: 0, textStyle: { color: TEXT } },
      tooltip: { ...TOOLTIP, trigger: 'axis', valueFormatter: (v) => fmtNum(v) },
      xAxis: { ...AXIS, type: log ? 'log' : 'value', scale: true, name: objective, nameLocation: 'middle', nameGap: 28, splitLine: { show: true, lineStyle: { color: '#e5e7eb' } } },
      yAxis: { ...AXIS, type: 'value', min: 0, max: 1, name: `fraction ≤ ${objective}`, nameLocation: 'middle', nameGap: 40, splitLine: { show: true, lineStyle: { color: '#e5e7eb' } } },
      series,
    },
    groups: groups.map((g) => g.key),
    n: all.length,
  };
}

/* --- importances --- */

// The importances of an /importance answer as a ranked horizontal bar chart,
// the most important on top.
export function importanceOption(d, narrow) {
  const rows = (d.importances || []).slice().sort((a, b) => b.importance - a.importance);
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    grid: { left: narrow ? 90 : 140, right: 56, top: 8, bottom: 28 },
    tooltip: { ...TOOLTIP, trigger: 'item', formatter: (q) => `${q.name}: ${fmtNum(q.value)}` },
    xAxis: { ...AXIS, type: 'value', min: 0, max: (v) => Math.min(1, Math.ceil(Math.max(v.max, 0.05) * 10) / 10), splitLine: { show: true, lineStyle: { color: '#e5e7eb' } } },
    yAxis: { ...AXIS, type: 'category', inverse: true, data: rows.map((r) => r.param), axisLabel: { color: '#4b5563', width: narrow ? 80 : 130, overflow: 'truncate', interval: 0 } },
    series: [
      {
        name: 'importance',
        type: 'bar',
        data: rows.map((r) => r.importance),
        itemStyle: { color: '#2563eb' },
        label: { show: true, position: 'right', color: TEXT, formatter: (q) => fmtNum(Number(q.value.toFixed(3))) },
      },
    ],
  };
}

// Does this daemon describe GET /studies/{name}/importance in its API
// document? Asked once per page load, so that a daemon without the endpoint
// is not asked for it on every study.
let described = null;
function importanceDescribed(signal) {
  if (!described)
    described = api('/openapi.json', { signal })
      .then((doc) => Boolean(doc && doc.paths && doc.paths['/api/v1/studies/{name}/importance']))
      .catch((e) => {
        described = null;
        throw e;
      });
  return described;
}

const RETRY_MIN_S = 1;
const RETRY_MAX_S = 30;

// The importances panel: asks the daemon (GET .../importance); a 202 says it
// is computing (asked again after Retry-After), a 404 that this daemon has
// no such endpoint. refresh(force) asks again when the study has new trials.
export function importancePanel(name, signal) {
  const el = h('div', { class: 'chart chart-importance', id: 'importance-chart', hidden: true });
  const msg = h('p', { class: 'muted', id: 'importance-msg' }, 'Asking the daemon…');
  const panel = h('section', { class: 'panel', id: 'importance-panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Parameter importances')), msg, el);
  let chart = null;
  let timer = null;
  let busy = false;
  let narrow = false;
  const set = (state, text) => {
    panel.dataset.state = state;
    msg.textContent = text;
  };
  async function ask() {
    timer = null;
    busy = true;
    try {
      if (!(await importanceDescribed(signal))) {
        el.hidden = true;
        set('unavailable', 'Parameter importances are not available from this hpod (it has no importance endpoint).');
        return;
      }
      const r = await api(`/studies/${seg(name)}/importance`, { signal, full: true });
      if (r.status === 202) {
        const after = Math.min(RETRY_MAX_S, Math.max(RETRY_MIN_S, Number(r.headers.get('Retry-After')) || 2));
        set('computing', `The daemon is computing the importances; asking again in ${after} s…`);
        timer = setTimeout(ask, after * 1000);
        return;
      }
      const d = r.data || {};
      const rows = (d.importances || []).slice().sort((a, b) => b.importance - a.importance);
      if (rows.length === 0) {
        el.hidden = true;
        set('empty', d.note || 'No importances yet: the study needs more completed trials.');
        return;
      }
      el.hidden = false;
      if (!chart) chart = makeChart(el);
      el.style.height = `${Math.max(160, 36 * rows.length + 40)}px`;
      if (chart) {
        chart.resize();
        chart.setOption(importanceOption(d, narrow), { notMerge: true });
      }
      el.dataset.params = rows.map((x) => x.param).join(',');
      set('shown', `${d.method ? `${d.method}, ` : ''}from ${fmtInt(d.n_trials)} trials${d.objective ? ` (${d.objective})` : ''}: the share of the value’s variation each parameter explains${d.note ? ` — ${d.note}` : ''}`);
    } catch (e) {
      if (e.name === 'AbortError') return;
      el.hidden = true;
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
        /* the study exists (this page has it): the daemon has no such endpoint */
        set('unavailable', 'Parameter importances are not available from this hpod (it has no importance endpoint).');
      } else set('error', `Could not get the importances: ${e.message}`);
    } finally {
      busy = false;
    }
  }
  return {
    el: panel,
    refresh(isNarrow) {
      narrow = isNarrow;
      if (busy || timer || panel.dataset.state === 'unavailable') return;
      ask();
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
    chart: () => chart,
  };
}

/* --- notes --- */

// An editable note (a study's or a trial's): a text box, a save button and
// who-may-write messages. save(text) writes it (PUT .../note). The text is a
// textarea's value: never markup.
export function noteBox(id, label, save) {
  const text = h('textarea', { id: `${id}-text`, rows: 3, maxlength: 65536, placeholder: 'What was tried, what to remember…', 'aria-label': label });
  const status = h('span', { class: 'muted small', id: `${id}-status` });
  const btn = h('button', { type: 'button', class: 'btn', id: `${id}-save` }, 'Save note');
  let shown = null; /* the note as last loaded or saved */
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    status.textContent = 'Saving…';
    try {
      const d = await save(text.value);
      shown = d.note || '';
      text.value = shown;
      status.textContent = d.note_at ? `saved ${fmtTime(d.note_at)}` : 'note removed';
      panel.dataset.saved = 'true';
    } catch (e) {
      if (e.status === 403) status.textContent = 'This token may not write notes (a read-only token); an admin or worker token may.';
      else if (e.status === 401) status.textContent = 'Writing a note needs a token.';
      else status.textContent = `Not saved: ${e.message}`;
    } finally {
      btn.disabled = false;
    }
  });
  const panel = h('section', { class: 'panel note-box', id }, h('div', { class: 'panel-head' }, h('h2', null, label), h('span', { class: 'spacer' }), status), text, h('div', { class: 'toolbar' }, btn));
  return {
    el: panel,
    // Show the note the daemon holds, unless the box holds unsaved edits.
    show(note, at) {
      const n = note || '';
      if (shown !== null && text.value !== shown) return;
      shown = n;
      text.value = n;
      if (!status.textContent || status.textContent.startsWith('last written')) status.textContent = at ? `last written ${fmtTime(at)}` : '';
    },
  };
}

// Write the note of a study (number null) or of its trial number.
export function saveNote(name, number, note) {
  const path = number === null ? `/studies/${seg(name)}/note` : `/studies/${seg(name)}/trials/${number}/note`;
  return api(path, { method: 'PUT', body: { note } });
}

/* --- CSV --- */

// The address of the trial table as CSV with the table's filters and order.
export function csvHref(name, { state, source, order }) {
  return `${PREFIX}/studies/${seg(name)}/trials.csv${query({ state, source, order })}`;
}

// A click on a CSV link: with a token the file is fetched with it (a plain
// link cannot send one) and handed to the browser as a download.
export async function csvClick(e) {
  const a = e.currentTarget;
  const headers = authHeaders();
  if (!headers.Authorization) return;
  e.preventDefault();
  const res = await fetch(a.href, { headers, cache: 'no-store' });
  if (!res.ok) {
    a.title = `download failed: HTTP ${res.status}`;
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const tmp = h('a', { href: url, download: a.getAttribute('download') || 'trials.csv', hidden: true });
  document.body.appendChild(tmp);
  tmp.click();
  tmp.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
