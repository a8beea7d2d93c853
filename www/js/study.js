// One study: its summary, the optimisation history, the trial table,
// parallel coordinates and slice plots, all kept up to date by polling.
import { api, seg, query } from './api.js';
import { h, replace, fmtNum, fmtInt, fmtUsd, fmtTime, badge, FINISHED } from './dom.js';
import { progress, samplerName, llmUsage } from './studies.js';
import { TrialTable } from './table.js';
import {
  makeChart,
  disposeChart,
  historyOption,
  historyPoints,
  parallelOption,
  plottableParams,
  sliceOption,
} from './charts.js';

const POLL_MS = 2000;
const PAGE = 1000; /* trials per request for the charts */
const PAGES_PER_POLL = 5;

// All trials of a study, fetched page by page in number order, then kept up
// to date from the first unfinished trial on.
class TrialCache {
  constructor(name, signal) {
    this.name = name;
    this.signal = signal;
    this.list = []; /* by number */
    this.index = new Map(); /* number -> position in list */
    this.cursor = null; /* after= of the next request */
    this.complete = false; /* reached the last trial once */
    this.version = 0;
  }

  put(t) {
    const i = this.index.get(t.number);
    if (i === undefined) {
      if (this.list.length && t.number < this.list[this.list.length - 1].number) {
        this.list.push(t);
        this.list.sort((a, b) => a.number - b.number);
        this.index = new Map(this.list.map((x, k) => [x.number, k]));
      } else {
        this.index.set(t.number, this.list.length);
        this.list.push(t);
      }
      return true;
    }
    const old = this.list[i];
    if (old.state === t.state && old.value === t.value && old.last_step === t.last_step && old.attempts === t.attempts) return false;
    this.list[i] = t;
    return true;
  }

  // The number before the first unfinished trial (where polling resumes).
  frontier() {
    for (const t of this.list) if (!FINISHED.has(t.state)) return t.number - 1;
    return this.list.length ? this.list[this.list.length - 1].number : null;
  }

  // Fetch up to pages pages; calls onPage after each. Returns when the end
  // is reached or the page budget is spent.
  async fetch(pages, onPage) {
    for (let i = 0; i < pages; i++) {
      const d = await api(`/studies/${seg(this.name)}/trials${query({ after: this.cursor, limit: PAGE })}`, { signal: this.signal });
      let changed = false;
      for (const t of d.trials || []) changed = this.put(t) || changed;
      if (changed) this.version++;
      const next = d.next_after ?? null;
      if (next === null) {
        this.complete = true;
        this.cursor = this.frontier();
        onPage(changed);
        return true;
      }
      this.cursor = next;
      onPage(changed);
    }
    return false;
  }
}

function meta(label, ...value) {
  return h('div', { class: 'meta' }, h('div', { class: 'meta-label' }, label), h('div', { class: 'meta-value' }, ...value));
}

export function studyTabs(name, active) {
  const base = `#/studies/${encodeURIComponent(name)}`;
  return h(
    'nav',
    { class: 'tabs' },
    h('a', { href: base, class: active === 'trials' ? 'active' : null }, 'Trials and charts'),
    h('a', { href: `${base}/llm`, class: active === 'llm' ? 'active' : null, id: 'tab-llm' }, 'LLM transcript'),
  );
}

export function studyHead(study) {
  const spec = study.spec || {};
  const obj = spec.objective || {};
  const budget = spec.budget || {};
  const best = study.best;
  const href = best ? `#/studies/${encodeURIComponent(study.name)}/trials/${best.id}` : null;
  return h(
    'div',
    { class: 'study-head' },
    h('div', { class: 'page-head' }, h('h1', null, study.name), badge(study.state || 'unknown')),
    spec.description ? h('p', { class: 'desc', id: 'study-description' }, spec.description) : null,
    h(
      'div',
      { class: 'meta-grid panel' },
      meta('Objective', `${obj.name || 'value'} (${obj.direction || 'minimize'})`),
      meta('Best', best ? h('a', { href }, fmtNum(best.value)) : '—', best ? h('span', { class: 'muted small' }, ` trial ${best.number}`) : null),
      meta('Progress', progress(study.counts, budget.max_trials)),
      meta('Sampler', samplerName(spec.sampler)),
      meta('LLM tokens', llmUsage(study.llm)),
      meta('LLM cost (estimate)', fmtUsd(study.llm ? study.llm.cost_usd : null)),
      meta('Parallel / failures', `${budget.max_parallel ?? '—'} / ${budget.max_failures ?? '—'}`),
      meta('Created', fmtTime(study.created_at)),
    ),
  );
}

export function mount(root, { name }, ctx) {
  document.title = `${name} · hpod`;
  const headBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const historyEl = h('div', { class: 'chart chart-history', id: 'history-chart' });
  const logBox = h('input', { type: 'checkbox', id: 'log-scale' });
  const historyNote = h('span', { class: 'muted small', id: 'history-note' }, 'Loading trials…');
  const tableBox = h('div', { id: 'trials-box' }, h('p', { class: 'muted' }, 'Loading…'));
  const parallelEl = h('div', { class: 'chart chart-parallel', id: 'parallel-chart' });
  const parallelNote = h('span', { class: 'muted small' });
  const slicesBox = h('div', { class: 'slices', id: 'slices' });
  replace(
    root,
    headBox,
    studyTabs(name, 'trials'),
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', null, 'Optimisation history'), h('span', { class: 'spacer' }), historyNote, h('label', { class: 'check' }, logBox, ' log scale')),
      historyEl,
    ),
    h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Trials')), tableBox),
    h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Parameters against the value'), h('span', { class: 'spacer' }), parallelNote), parallelEl),
    h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Slices'), h('span', { class: 'muted small' }, 'the value against each parameter, completed trials')), slicesBox),
  );

  const cache = new TrialCache(name, ctx.signal);
  const charts = { history: null, parallel: null, slices: [] };
  let study = null;
  let table = null;
  let drawn = { history: -1, others: -1 };
  let othersAt = 0;
  const t0 = performance.now();

  function opts() {
    const obj = (study.spec && study.spec.objective) || {};
    return { maximize: obj.direction === 'maximize', objective: obj.name || 'value', log: logBox.checked && !logBox.disabled };
  }

  function drawHistory(force) {
    if (!study || (!force && drawn.history === cache.version)) return;
    drawn.history = cache.version;
    const pts = historyPoints(cache.list);
    const positive = pts.every((t) => t.value > 0);
    logBox.disabled = !positive;
    logBox.parentElement.title = positive ? '' : 'a value is zero or negative';
    if (!charts.history) {
      charts.history = makeChart(historyEl);
      if (!charts.history) return;
      charts.history.on('click', (p) => {
        if (p.seriesType === 'scatter' && p.data) location.hash = `#/studies/${encodeURIComponent(name)}/trials/${p.data[2]}`;
      });
      /* paint times for people and tests: the first points, then all */
      charts.history.on('finished', () => {
        if (!historyEl.dataset.points) return;
        if (!historyEl.dataset.paintedMs) {
          historyEl.dataset.paintedMs = String(Math.round(performance.now() - t0));
          performance.mark('hpod-history-painted');
        }
        if (cache.complete && drawn.history === cache.version && !historyEl.dataset.completeMs) {
          historyEl.dataset.completeMs = String(Math.round(performance.now() - t0));
          performance.mark('hpod-history-complete');
        }
      });
    }
    charts.history.setOption(historyOption(cache.list, opts()), { notMerge: true, lazyUpdate: false });
    historyEl.dataset.points = String(pts.length);
    historyEl.dataset.trials = String(cache.list.length);
    const loaded = cache.complete ? '' : ' (loading…)';
    historyNote.textContent = `${fmtInt(pts.length)} finished trials with a value${loaded}`;
  }

  function drawOthers(force) {
    if (!study || !window.echarts) return;
    if (!force && drawn.others === cache.version) return;
    /* the heavier charts redraw at most every few seconds on big studies */
    const now = performance.now();
    if (!force && cache.list.length > 5000 && now - othersAt < 10000) return;
    othersAt = now;
    drawn.others = cache.version;
    const o = opts();
    const params = plottableParams(study.spec);
    if (params.length === 0) {
      parallelNote.textContent = 'no parameter to plot';
      return;
    }
    if (!charts.parallel) charts.parallel = makeChart(parallelEl);
    const par = parallelOption(study.spec, cache.list, o);
    charts.parallel.setOption(par.option, { notMerge: true });
    parallelEl.dataset.lines = String(par.shown);
    parallelNote.textContent = par.shown < par.total ? `the best ${fmtInt(par.shown)} of ${fmtInt(par.total)} completed trials` : `${fmtInt(par.shown)} completed trials`;
    if (charts.slices.length === 0) {
      for (const p of params) {
        const el = h('div', { class: 'chart chart-slice', dataset: { param: p.name } });
        slicesBox.appendChild(el);
        charts.slices.push({ p, chart: makeChart(el) });
      }
    }
    for (const s of charts.slices) s.chart.setOption(sliceOption(s.p, cache.list, o), { notMerge: true });
  }

  let drawTimer = null;
  function scheduleDraw() {
    if (drawTimer) return;
    drawTimer = setTimeout(() => {
      drawTimer = null;
      if (ctx.signal.aborted) return;
      drawHistory(false);
      drawOthers(false);
    }, 0);
  }

  logBox.addEventListener('change', () => {
    drawHistory(true);
    drawOthers(true);
  });

  function onPage(changed) {
    if (!changed && drawn.history >= 0) return;
    /* paint the history as soon as the first page is in, the rest follows */
    if (drawn.history < 0) drawHistory(true);
    else scheduleDraw();
  }

  async function loadStudy() {
    const s = await api(`/studies/${seg(name)}`, { signal: ctx.signal });
    const first = study === null;
    study = s;
    replace(headBox, studyHead(s));
    if (first) {
      document.title = `${s.name} · hpod`;
      table = new TrialTable(name, s.spec || {}, ctx, (t) => `#/studies/${encodeURIComponent(name)}/trials/${t.id}`);
      replace(tableBox, table.el);
      const tablePromise = table.load().then(() => {
        tableBox.dataset.paintedMs = String(Math.round(performance.now() - t0));
        performance.mark('hpod-table-painted');
      });
      if (cache.list.length) drawHistory(true);
      await tablePromise;
    }
  }

  const trialsPromise = (async () => {
    /* the first pages arrive while the study itself loads */
    while (!ctx.signal.aborted) {
      const done = await cache.fetch(PAGES_PER_POLL, onPage);
      if (study) {
        drawHistory(false);
      }
      if (done) break;
    }
    if (study) {
      drawHistory(true);
      drawOthers(true);
    }
  })();

  trialsPromise.catch(() => {}); /* reported through loadStudy below */
  loadStudy()
    .then(() => trialsPromise)
    .then(() => {
      drawHistory(false);
      drawOthers(true);
      root.dataset.loaded = 'true';
    })
    .catch((e) => {
      if (e.name === 'AbortError') return;
      if (e.status === 404) replace(root, h('div', { class: 'panel error-box' }, `No study named “${name}”. `, h('a', { href: '#/' }, 'Back to the studies')));
      else replace(headBox, h('div', { class: 'panel error-box' }, `Could not load the study: ${e.message}`));
    });

  ctx.every(POLL_MS, async () => {
    if (!study) return;
    await loadStudy();
    if (cache.complete) await cache.fetch(PAGES_PER_POLL, onPage);
    if (table) await table.load();
    drawHistory(false);
    drawOthers(false);
  });

  return () => {
    clearTimeout(drawTimer);
    disposeChart(charts.history);
    disposeChart(charts.parallel);
    for (const s of charts.slices) disposeChart(s.chart);
  };
}
