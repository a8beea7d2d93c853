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
  curvesOption,
} from './charts.js';
import { contourPanel, edfOption, importancePanel, noteBox, saveNote } from './analysis.js';
import { paretoHead, paretoPanel } from './pareto.js';

const POLL_MS = 2000;
const PAGE = 1000; /* trials per request for the charts */
const PAGES_PER_POLL = 5;
const PARALLEL = 4; /* requests at once while loading */
const REDRAW_MS = 1000; /* history redraws at most this often while loading */

// All trials of a study in number order: the first page, then the rest in
// parallel windows of PAGE numbers (trial numbers are dense), then kept up to
// date from the first unfinished trial on.
class TrialCache {
  constructor(name, signal) {
    this.name = name;
    this.signal = signal;
    this.byNumber = new Map();
    this.sorted = [];
    this.dirty = false;
    this.cursor = null; /* after= of the next poll */
    this.complete = false; /* reached the last trial once */
    this.version = 0;
  }

  get list() {
    if (this.dirty) {
      this.sorted = [...this.byNumber.values()].sort((a, b) => a.number - b.number);
      this.dirty = false;
    }
    return this.sorted;
  }

  put(t) {
    const old = this.byNumber.get(t.number);
    if (old && old.state === t.state && old.value === t.value && old.last_step === t.last_step && old.attempts === t.attempts)
      return false;
    this.byNumber.set(t.number, t);
    this.dirty = true;
    return true;
  }

  putAll(trials) {
    let changed = false;
    for (const t of trials) changed = this.put(t) || changed;
    if (changed) this.version++;
    return changed;
  }

  // The number before the first unfinished trial (where polling resumes).
  frontier() {
    const list = this.list;
    for (const t of list) if (!FINISHED.has(t.state)) return t.number - 1;
    return list.length ? list[list.length - 1].number : null;
  }

  page(after) {
    return api(`/studies/${seg(this.name)}/trials${query({ after, limit: PAGE })}`, { signal: this.signal });
  }

  // The first load: onPage() after the first page and after each batch; the
  // rest waits for gate (the table's first page goes first).
  async load(onPage, gate) {
    const first = await this.page(null);
    this.putAll(first.trials || []);
    let next = first.next_after ?? null;
    const total = first.total ?? 0;
    if (next === null) this.finish();
    onPage();
    if (next !== null) await gate;
    while (next !== null) {
      /* windows of PAGE numbers from next on, PARALLEL at a time */
      const starts = [];
      for (let a = next; starts.length < PARALLEL && a < Math.max(total, next + 1); a += PAGE) starts.push(a);
      const pages = await Promise.all(starts.map((a) => this.page(a)));
      next = null;
      for (let i = 0; i < pages.length; i++) {
        this.putAll(pages[i].trials || []);
        const n = pages[i].next_after ?? null;
        if (n === null) break; /* the end */
        if (i + 1 < pages.length && n === starts[i + 1]) continue;
        next = n; /* the next batch starts here (or numbers had a gap) */
        break;
      }
      if (next === null) this.finish();
      onPage();
    }
  }

  finish() {
    this.complete = true;
    this.cursor = this.frontier();
  }

  // Polling: up to pages pages from the cursor; back to the first unfinished
  // trial once the end is reached. Returns whether anything changed.
  async poll(pages) {
    let changed = false;
    for (let i = 0; i < pages; i++) {
      const d = await this.page(this.cursor);
      changed = this.putAll(d.trials || []) || changed;
      const next = d.next_after ?? null;
      if (next === null) {
        this.cursor = this.frontier();
        break;
      }
      this.cursor = next;
    }
    return changed;
  }
}

function meta(label, ...value) {
  return h('div', { class: 'meta' }, h('div', { class: 'meta-label' }, label), h('div', { class: 'meta-value' }, ...value));
}

// The link of trial number n of a study (pages name trials by number).
export function trialLink(name, n) {
  return `#/studies/${encodeURIComponent(name)}/trials/${n}`;
}

// The tabs of a study; the LLM transcript's only where there is one (the
// LLM's own page always shows it).
export function studyTabs(name, active) {
  const base = `#/studies/${encodeURIComponent(name)}`;
  return h(
    'nav',
    { class: 'tabs' },
    h('a', { href: base, class: active === 'trials' ? 'active' : null }, 'Trials and charts'),
    h('a', { href: `${base}/llm`, class: active === 'llm' ? 'active' : null, id: 'tab-llm', hidden: active !== 'llm' }, 'LLM transcript'),
  );
}

// Does the spec ask for the LLM (its sampler, or LLM-seeded trials)?
function usesLlm(spec) {
  const sampler = spec.sampler;
  const name = typeof sampler === 'string' ? sampler : sampler && sampler.name;
  return name === 'llm' || Number.isInteger(spec.llm && spec.llm.init_trials);
}

// Has the study anything to do with an LLM: its spec asks for one, or calls
// were made (tokens spent) on its behalf?
export function hasLlm(study) {
  const llm = study.llm || {};
  return usesLlm(study.spec || {}) || Boolean(llm.tokens_in || llm.tokens_out || llm.cost_usd);
}

// "9 of 12 · fallback 3": the trials the LLM proposed (alone or ranked by
// the GP) among all of the study's, from the study's "sources".
export function llmShare(sources) {
  const n = (k) => sources[k] || 0;
  const llm = n('llm') + n('llm+gp');
  const total = llm + n('fallback') + n('classical') + n('manual');
  const rest = [];
  if (n('llm+gp')) rest.push(`${fmtInt(n('llm+gp'))} ranked by the GP`);
  rest.push(`fallback ${fmtInt(n('fallback'))}`);
  if (n('classical')) rest.push(`classical ${fmtInt(n('classical'))}`);
  if (n('manual')) rest.push(`manual ${fmtInt(n('manual'))}`);
  return h(
    'span',
    { id: 'llm-share', 'data-llm': String(llm), 'data-total': String(total) },
    `${fmtInt(llm)} of ${fmtInt(total)}`,
    h('span', { class: 'muted small' }, ` · ${rest.join(' · ')}`),
  );
}

export function studyHead(study) {
  const spec = study.spec || {};
  const obj = spec.objective || {};
  const budget = spec.budget || {};
  const best = study.best;
  const href = best ? trialLink(study.name, best.number) : null;
  const llm = hasLlm(study);
  return h(
    'div',
    { class: 'study-head' },
    h('div', { class: 'page-head' }, h('h1', null, study.name), badge(study.state || 'unknown')),
    spec.description ? h('p', { class: 'desc', id: 'study-description' }, spec.description) : null,
    h(
      'div',
      { class: 'meta-grid panel' },
      ...(paretoHead(study)?.map(([label, ...v]) => meta(label, ...v)) || [
        meta('Objective', `${obj.name || 'value'} (${obj.direction || 'minimize'})`),
        meta('Best', best ? h('a', { href }, fmtNum(best.value)) : '—', best ? h('span', { class: 'muted small' }, ` trial ${best.number}`) : null),
      ]),
      meta('Progress', progress(study.counts, budget.max_trials)),
      meta('Sampler', samplerName(spec.sampler)),
      usesLlm(spec) && study.sources ? meta('Trials from the LLM', llmShare(study.sources)) : null,
      llm ? meta('LLM tokens', llmUsage(study.llm)) : null,
      llm ? meta('LLM cost (estimate)', fmtUsd(study.llm ? study.llm.cost_usd : null)) : null,
      meta('Parallel / failures', `${budget.max_parallel ?? '—'} / ${budget.max_failures ?? '—'}`),
      meta('Created', fmtTime(study.created_at)),
    ),
  );
}

// The intermediate values of the trials that reported (curve=true pages),
// fetched again for a trial only when its last step changed.
class CurveCache {
  constructor(name, signal) {
    this.name = name;
    this.signal = signal;
    this.curves = new Map(); /* number -> [[step, value], ...] */
    this.steps = new Map(); /* number -> its last step when fetched */
    this.loadedAt = 0;
    this.startedAt = 0; /* when the first load began */
    this.version = 0;
  }

  // trials: the study's, in number order. Fetches windows of PAGE numbers
  // starting at each trial whose curve is missing or old, PARALLEL at a
  // time. Returns whether anything was fetched.
  async load(trials) {
    if (!this.startedAt) this.startedAt = performance.now();
    const starts = [];
    for (const t of trials) {
      if (t.last_step === null || t.last_step === undefined || this.steps.get(t.number) === t.last_step) continue;
      if (!starts.length || t.number >= starts[starts.length - 1] + PAGE) starts.push(t.number);
    }
    if (starts.length === 0) return false;
    const page = (n) =>
      api(`/studies/${seg(this.name)}/trials${query({ after: n > 0 ? n - 1 : null, limit: PAGE, curve: 'true' })}`, { signal: this.signal });
    for (let i = 0; i < starts.length; i += PARALLEL) {
      const pages = await Promise.all(starts.slice(i, i + PARALLEL).map(page));
      for (const d of pages) {
        for (const t of d.trials || []) {
          if (Array.isArray(t.curve) && t.curve.length) this.curves.set(t.number, t.curve);
          if (t.last_step !== null && t.last_step !== undefined) this.steps.set(t.number, t.last_step);
        }
      }
    }
    this.loadedAt = performance.now();
    this.version++;
    return true;
  }
}

export function mount(root, { name }, ctx) {
  document.title = `${name} · hpod`;
  const headBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const tabs = studyTabs(name, 'trials');
  const paretoBox = h('div'); /* several objectives: the front (pareto.js) */
  const historyEl = h('div', { class: 'chart chart-history', id: 'history-chart' });
  const logBox = h('input', { type: 'checkbox', id: 'log-scale' });
  const historyNote = h('span', { class: 'muted small', id: 'history-note' }, 'Loading trials…');
  const tableBox = h('div', { id: 'trials-box' }, h('p', { class: 'muted' }, 'Loading…'));
  const curvesEl = h('div', { class: 'chart chart-curves', id: 'curves-chart' });
  const curvesNote = h('span', { class: 'muted small', id: 'curves-note' });
  const curvesPanel = h(
    'section',
    { class: 'panel', id: 'curves-panel', hidden: true },
    h('div', { class: 'panel-head' }, h('h2', null, 'Intermediate values'), h('span', { class: 'spacer' }), curvesNote),
    curvesEl,
  );
  const parallelEl = h('div', { class: 'chart chart-parallel', id: 'parallel-chart' });
  const parallelNote = h('span', { class: 'muted small', id: 'parallel-note' });
  const slicesBox = h('div', { class: 'slices', id: 'slices' });
  const studyNote = noteBox('study-note', 'Notes on this study', (text) => saveNote(name, null, text));
  const contourBox = h('div', { id: 'contour-box' }, h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Contour')), h('p', { class: 'muted' }, 'Loading…')));
  const edfEl = h('div', { class: 'chart chart-edf', id: 'edf-chart' });
  const edfNote = h('span', { class: 'muted small', id: 'edf-note' });
  const importance = importancePanel(name, ctx.signal);
  replace(
    root,
    headBox,
    tabs,
    paretoBox,
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', null, 'Optimisation history'), h('span', { class: 'spacer' }), historyNote, h('label', { class: 'check' }, logBox, ' log scale')),
      historyEl,
    ),
    h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Trials')), tableBox),
    curvesPanel,
    h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Parameters against the value'), h('span', { class: 'spacer' }), parallelNote), parallelEl),
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', null, 'Slices'), h('span', { class: 'muted small' }, 'the value against each parameter over its search space; pruned trials as grey triangles at their last value')),
      slicesBox,
    ),
    contourBox,
    h(
      'section',
      { class: 'panel', id: 'edf-panel' },
      h('div', { class: 'panel-head' }, h('h2', null, 'Distribution of the value'), h('span', { class: 'spacer' }), edfNote),
      edfEl,
    ),
    importance.el,
    studyNote.el,
  );

  const cache = new TrialCache(name, ctx.signal);
  const curves = new CurveCache(name, ctx.signal);
  const charts = { history: null, parallel: null, slices: [], curves: null, edf: null };
  let contourReady = null; /* the contour panel of the study's spec, once the spec is in */
  let analysisAt = 0;
  let analysisVersion = -1;
  let study = null;
  let pareto = null;
  let paretoAt = -1; /* cache version the front was drawn for */
  let table = null;
  let drawn = { history: -1, others: -1, curves: -1 };
  let othersAt = 0;
  let narrow = null;
  const t0 = performance.now();

  function opts() {
    const obj = (study.spec && (study.spec.objective || (study.spec.objectives || [])[0])) || {};
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
        if (p.seriesType === 'scatter' && Array.isArray(p.data)) location.hash = trialLink(name, p.data[0]);
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
    const pruned = pts.filter((t) => t.state === 'pruned').length;
    historyEl.dataset.points = String(pts.length - pruned);
    historyEl.dataset.pruned = String(pruned);
    historyEl.dataset.trials = String(cache.list.length);
    const loaded = cache.complete ? '' : ' (loading…)';
    historyNote.textContent = `${fmtInt(pts.length - pruned)} completed${pruned ? `, ${fmtInt(pruned)} pruned at their last value` : ''}${loaded}`;
  }

  function drawCurves() {
    if (!study || !window.echarts || drawn.curves === curves.version) return;
    drawn.curves = curves.version;
    const list = [];
    for (const t of cache.list) {
      const c = curves.curves.get(t.number);
      if (c) list.push({ number: t.number, state: t.state, value: t.value, curve: c });
    }
    if (list.length === 0) return;
    curvesPanel.hidden = false;
    if (!charts.curves) {
      charts.curves = makeChart(curvesEl);
      if (!charts.curves) return;
      charts.curves.on('click', (p) => {
        if (Array.isArray(p.data)) location.hash = trialLink(name, p.data[2]);
      });
      /* for people and tests: from the first request for curves to their first paint */
      charts.curves.on('finished', () => {
        if (curvesEl.dataset.paintedMs || !curves.startedAt) return;
        curvesEl.dataset.paintedMs = String(Math.round(performance.now() - curves.startedAt));
        performance.mark('hpod-curves-painted');
      });
    }
    const o = opts();
    const c = curvesOption(list, study.spec || {}, { objective: o.objective, log: false, maximize: o.maximize });
    charts.curves.setOption(c.option, { notMerge: true });
    curvesEl.dataset.trials = String(c.trials);
    curvesEl.dataset.rungs = c.rungs.join(',');
    const pruned = list.filter((t) => t.state === 'pruned').length;
    curvesNote.textContent = `${fmtInt(c.trials)} trials reported${pruned ? `, ${fmtInt(pruned)} of them pruned (cut at the red cross)` : ''}${c.rungs.length ? '; dashed lines: the pruner’s rungs' : ''}`;
  }

  async function loadCurves(force) {
    if (!study) return;
    if (!force && performance.now() - curves.loadedAt < (cache.list.length > 5000 ? 10000 : POLL_MS)) return;
    if (await curves.load(cache.list)) drawCurves();
  }

  function drawOthers(force) {
    if (!study || !window.echarts) return;
    const isNarrow = parallelEl.clientWidth > 0 && parallelEl.clientWidth < 600;
    if (isNarrow !== narrow) force = true;
    if (!force && drawn.others === cache.version) return;
    /* the heavier charts redraw at most every few seconds on big studies */
    const now = performance.now();
    if (!force && cache.list.length > 5000 && now - othersAt < 10000) return;
    othersAt = now;
    drawn.others = cache.version;
    narrow = isNarrow;
    const o = opts();
    const params = plottableParams(study.spec);
    if (params.length === 0) {
      parallelNote.textContent = 'no parameter to plot';
      return;
    }
    parallelEl.style.height = narrow ? `${Math.max(380, 72 * (params.length + 1) + 100)}px` : '';
    if (!charts.parallel) charts.parallel = makeChart(parallelEl);
    else charts.parallel.resize();
    const par = parallelOption(study.spec, cache.list, { ...o, narrow });
    charts.parallel.setOption(par.option, { notMerge: true });
    parallelEl.dataset.lines = String(par.shown);
    parallelEl.dataset.pruned = String(par.pruned);
    parallelEl.dataset.range = par.range.join(',');
    parallelNote.textContent = `${fmtInt(par.shown)} completed ${par.shown === 1 ? 'trial' : 'trials, the best on top'}${par.pruned ? `; ${fmtInt(par.pruned)} pruned (grey, dashed)` : ''}`;
    if (charts.slices.length === 0) {
      for (const p of params) {
        const el = h('div', { class: 'chart chart-slice', dataset: { param: p.name } });
        slicesBox.appendChild(el);
        charts.slices.push({ p, chart: makeChart(el) });
      }
    }
    for (const s of charts.slices) s.chart.setOption(sliceOption(s.p, cache.list, o), { notMerge: true });
  }

  // The empirical distribution (here, from the trials the page has), the
  // contour and the importances (the daemon computes them): again when the
  // trials changed, at most every few seconds (every 30 s on big studies).
  function drawAnalysis(force) {
    const now = performance.now();
    const every = cache.list.length > 5000 ? 30000 : 5000;
    if (!force && (analysisVersion === cache.version || now - analysisAt < every)) return;
    analysisAt = now;
    analysisVersion = cache.version;
    drawEdf();
    if (!contourReady) {
      contourReady = contourPanel(name, study.spec || {}, ctx.signal, (n) => {
        location.hash = trialLink(name, n);
      });
      replace(contourBox, contourReady.el);
    }
    contourReady.refresh(true, narrow);
    importance.refresh(narrow);
  }

  function drawEdf() {
    const o = opts();
    if (!charts.edf) charts.edf = makeChart(edfEl);
    if (charts.edf) {
      const edf = edfOption(cache.list, o);
      charts.edf.setOption(edf.option, { notMerge: true });
      edfEl.dataset.trials = String(edf.n);
      edfEl.dataset.groups = edf.groups.join(',');
      const left = (study.counts.pruned || 0) + (study.counts.failed || 0);
      edfNote.textContent = `fraction of the ${fmtInt(edf.n)} completed trials with a value ≤ v${edf.groups.length > 1 ? ', a line per source' : ''}; ${left ? `${fmtInt(study.counts.pruned || 0)} pruned and ${fmtInt(study.counts.failed || 0)} failed trials left out` : 'pruned and failed trials are left out'}`;
    }
  }

  async function drawPareto() {
    if (!pareto || paretoAt === cache.version) return;
    paretoAt = cache.version;
    await pareto.update(cache.list);
  }

  logBox.addEventListener('change', () => {
    drawHistory(true);
    drawOthers(true);
    if (analysisVersion >= 0) drawEdf();
  });
  const onResize = () => {
    drawOthers(false);
    if (analysisVersion >= 0 && contourReady) contourReady.refresh(false, narrow);
  };
  window.addEventListener('resize', onResize);

  let lastDraw = 0;
  function onPage() {
    if (!study) return; /* loadStudy draws once the spec is in */
    const now = performance.now();
    if (drawn.history < 0 || now - lastDraw >= REDRAW_MS) {
      lastDraw = now;
      drawHistory(false);
    }
  }

  async function loadStudy() {
    const s = await api(`/studies/${seg(name)}`, { signal: ctx.signal });
    const first = study === null;
    study = s;
    replace(headBox, studyHead(s));
    studyNote.show(s.note, s.note_at);
    tabs.querySelector('#tab-llm').hidden = !hasLlm(s);
    if (first) {
      document.title = `${s.name} · hpod`;
      pareto = paretoPanel(name, s, ctx, (n) => trialLink(name, n));
      if (pareto) paretoBox.appendChild(pareto.el);
      table = new TrialTable(name, s.spec || {}, ctx, (t) => trialLink(name, t.number), () => (cache.complete ? cache.list : null));
      replace(tableBox, table.el);
      const tablePromise = table
        .load()
        .then(() => {
          tableBox.dataset.paintedMs = String(Math.round(performance.now() - t0));
          performance.mark('hpod-table-painted');
        })
        .finally(tableShown);
      if (cache.list.length) drawHistory(true);
      await tablePromise;
    }
  }

  let tableShown = null;
  const tableGate = new Promise((resolve) => {
    tableShown = resolve;
  });
  const trialsPromise = cache.load(onPage, tableGate);

  trialsPromise.catch(() => {}); /* reported through loadStudy below */
  loadStudy()
    .then(() => trialsPromise)
    .then(() => {
      drawHistory(false);
      drawOthers(true);
      return loadCurves(true);
    })
    .then(() => drawAnalysis(true))
    .then(() => drawPareto())
    .then(() => {
      root.dataset.loaded = 'true';
    })
    .catch((e) => {
      tableShown();
      if (e.name === 'AbortError') return;
      if (e.status === 404) replace(root, h('div', { class: 'panel error-box' }, `No study named “${name}”. `, h('a', { href: '#/' }, 'Back to the studies')));
      else replace(headBox, h('div', { class: 'panel error-box' }, `Could not load the study: ${e.message}`));
    });

  ctx.every(POLL_MS, async () => {
    if (!study) return;
    await loadStudy();
    let changed = false;
    if (cache.complete) changed = await cache.poll(PAGES_PER_POLL);
    if (table) await table.load();
    drawHistory(false);
    drawOthers(false);
    if (changed) await loadCurves(false);
    if (analysisVersion >= 0) drawAnalysis(false);
    await drawPareto();
  });

  return () => {
    window.removeEventListener('resize', onResize);
    disposeChart(charts.history);
    disposeChart(charts.parallel);
    disposeChart(charts.curves);
    disposeChart(charts.edf);
    importance.stop();
    if (contourReady) disposeChart(contourReady.chart());
    disposeChart(importance.chart());
    for (const s of charts.slices) disposeChart(s.chart);
    if (pareto) pareto.dispose();
  };
}
