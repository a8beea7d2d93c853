// Studies with several objectives (and constraints): the Pareto front as a
// scatter of two objectives (front trials highlighted and joined, dominated
// trials faded, infeasible trials as red diamonds; click a point to open its
// trial) or a scatter matrix of every pair of three or four objectives, the
// hypervolume as trials completed, the objectives in the study's head and
// on a trial's page, the front size in the studies list, and the trade-off
// an LLM said each configuration aims at.
import { api, seg, query } from './api.js';
import { h, fmtNum, fmtInt } from './dom.js';
import { makeChart, disposeChart } from './charts.js';

const FRONT_COLOR = '#2563eb';
const DOMINATED_COLOR = '#9ca3af';
const INFEASIBLE_COLOR = '#dc2626';
const TEXT = '#1f2937';
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

// The objectives of a spec when it has several ([{name, direction}]), else null.
export function objectivesOf(spec) {
  const list = spec && spec.objectives;
  return Array.isArray(list) && list.length > 1 ? list : null;
}

// The spec's constraints ([{name, min?, max?}]), possibly empty.
export function constraintsOf(spec) {
  return (spec && Array.isArray(spec.constraints) && spec.constraints) || [];
}

function dirShort(o) {
  return o.direction === 'maximize' ? 'max' : 'min';
}

function boundText(c) {
  const has = (v) => typeof v === 'number';
  if (has(c.min) && has(c.max)) return `${c.name} in [${fmtNum(c.min)}, ${fmtNum(c.max)}]`;
  if (has(c.min)) return `${c.name} ≥ ${fmtNum(c.min)}`;
  return `${c.name} ≤ ${fmtNum(c.max)}`;
}

function refText(study) {
  const r = study.reference_point;
  if (!Array.isArray(r)) return '';
  const src = study.reference_source === 'spec' ? 'from the spec' : study.reference_source === 'derived' ? 'derived' : '';
  return ` against [${r.map(fmtNum).join(', ')}]${src ? ` (${src})` : ''}`;
}

// What the study's head shows in place of the objective and the best value,
// as [label, ...value] entries; null for a study with one objective.
export function paretoHead(study) {
  const objs = objectivesOf(study.spec);
  if (!objs) return null;
  const cons = constraintsOf(study.spec);
  const out = [['Objectives', objs.map((o) => `${o.name} (${dirShort(o)})`).join(', ')]];
  if (cons.length) out.push(['Constraints', cons.map(boundText).join(', ')]);
  out.push([
    'Pareto front',
    h('span', { id: 'head-front', 'data-size': String(study.pareto_size ?? '') }, `${fmtInt(study.pareto_size ?? 0)} trials`),
    h('span', { class: 'muted small' }, typeof study.hypervolume === 'number' ? ` · hypervolume ${fmtNum(study.hypervolume)}${refText(study)}` : ''),
  ]);
  return out;
}

// The studies list's best cell of a study with several objectives: its front
// size and objectives; null for one objective.
export function frontCell(s) {
  if (!Array.isArray(s.objectives) || s.objectives.length < 2) return null;
  return [
    h('span', { class: 'front-size', 'data-front': String(s.pareto_size ?? 0) }, `front ${fmtInt(s.pareto_size ?? 0)}`),
    h('div', { class: 'muted small' }, s.objectives.join(' · ')),
  ];
}

// The result rows of a trial of a study with several objectives or
// constraints: every objective and whether the trial is feasible. Returns
// {rows, names} (names: the metrics shown, to leave out of the other
// values), or null for a study with one objective and no constraint.
export function trialObjectiveRows(spec, t) {
  const objs = objectivesOf(spec);
  const cons = constraintsOf(spec);
  if (!objs && cons.length === 0) return null;
  const list = objs || [spec.objective || (spec.objectives || [])[0] || { name: 'value', direction: 'minimize' }];
  const vec = Array.isArray(t.objectives) ? t.objectives : null;
  const values = t.values && typeof t.values === 'object' ? t.values : {};
  const rows = list.map((o, i) => {
    const v = vec ? vec[i] : i === 0 ? t.value : values[o.name];
    return [`${o.name} (${dirShort(o)})`, h('strong', { class: 'trial-objective', dataset: { objective: o.name } }, fmtNum(v))];
  });
  const names = new Set(list.map((o) => o.name));
  for (const c of cons) {
    names.add(c.name);
    rows.push([`${c.name} (${boundText(c).slice(c.name.length + 1)})`, fmtNum(values[c.name])]);
  }
  const f = t.feasible;
  rows.push([
    'feasible',
    h(
      'span',
      { id: 'trial-feasible', class: f === false ? 'infeasible' : null, dataset: { feasible: f === true ? 'true' : f === false ? 'false' : 'unknown' } },
      f === true ? 'yes' : f === false ? 'no: a constraint does not hold' : cons.length ? '—' : 'yes (no constraint)',
    ),
  ]);
  return { rows, names };
}

// The "aim" (or "trade_off") of each configuration in an LLM reply, in
// order: what a study with several objectives asks the LLM to say.
export function aimsOf(reply) {
  if (typeof reply !== 'string' || !/"(aim|trade_off)"/.test(reply)) return [];
  const found = [];
  const visit = (v) => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') {
      const a = typeof v.aim === 'string' ? v.aim : typeof v.trade_off === 'string' ? v.trade_off : null;
      if (a !== null) found.push(a);
      for (const k of ['configs', 'configurations', 'config']) if (k in v) visit(v[k]);
    }
  };
  /* the JSON may follow a line of analysis or sit in a fence: try each '{' */
  for (let i = reply.indexOf('{'); i >= 0; i = reply.indexOf('{', i + 1)) {
    const end = reply.lastIndexOf('}');
    for (let j = end; j > i; j = reply.lastIndexOf('}', j - 1)) {
      try {
        visit(JSON.parse(reply.slice(i, j + 1)));
        return found;
      } catch {
        /* a shorter span */
      }
    }
  }
  const re = /"(?:aim|trade_off)"\s*:\s*"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(reply); m; m = re.exec(reply)) found.push(m[1].replace(/\\(.)/g, '$1'));
  return found;
}

// The aims of a call's reply as an element, or null when it gave none.
export function aimsBlock(call) {
  const aims = aimsOf(call.reply);
  if (!aims.length) return null;
  const trials = Array.isArray(call.trials) ? call.trials : [];
  return h(
    'ul',
    { class: 'aims' },
    aims.map((a, i) => h('li', { class: 'aim' }, h('span', { class: 'muted small' }, trials.length === aims.length ? `trial ${trials[i]} aims at: ` : 'aims at: '), a)),
  );
}

// The aim the reply of call gave for trial number n, or null.
export function aimFor(call, n) {
  const aims = aimsOf(call.reply);
  const trials = Array.isArray(call.trials) ? call.trials : [];
  if (!aims.length) return null;
  const i = trials.indexOf(n);
  return aims.length === trials.length && i >= 0 ? aims[i] : aims.length === 1 ? aims[0] : null;
}

function tooltip(objs) {
  return {
    renderMode: 'richText',
    backgroundColor: '#ffffff',
    borderColor: '#d1d5db',
    textStyle: { color: TEXT, fontSize: 12 },
    confine: true,
    trigger: 'item',
    formatter: (p) => {
      const d = p.data;
      if (!Array.isArray(d) || d.length < 3 || typeof d[d.length - 1] !== 'object') return '';
      const info = d[d.length - 1];
      const lines = [`trial ${info.number} (${info.kind})`];
      objs.forEach((o, i) => lines.push(`${o.name}: ${fmtNum(info.vec[i])}`));
      lines.push('click to open');
      return lines.join('\n');
    },
  };
}

function axis(o, extra) {
  return {
    type: 'value',
    scale: true,
    name: `${o.name} (${dirShort(o)})`,
    nameLocation: 'middle',
    axisLine: { lineStyle: { color: '#9ca3af' } },
    axisLabel: { color: '#4b5563', hideOverlap: true },
    splitLine: { lineStyle: { color: '#e5e7eb' } },
    nameTextStyle: { color: '#4b5563' },
    ...extra,
  };
}

// Split the trials with an objective vector into front, dominated and
// infeasible points: each [x, y, info] for the pair (i, j).
function classify(trials, front) {
  const out = { front: [], dominated: [], infeasible: [] };
  for (const t of trials) {
    if (t.state !== 'completed' || !Array.isArray(t.objectives) || t.objectives.some((v) => typeof v !== 'number')) continue;
    const kind = t.feasible === false ? 'infeasible' : front.has(t.number) ? 'front' : 'dominated';
    out[kind].push({ number: t.number, vec: t.objectives, kind: kind === 'front' ? 'on the front' : kind });
  }
  return out;
}

function seriesFor(parts, i, j, objs, gridIndex) {
  const pt = (p) => [p.vec[i], p.vec[j], p];
  const front = parts.front.map(pt).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const common = { type: 'scatter', xAxisIndex: gridIndex, yAxisIndex: gridIndex, emphasis: { scale: 1.5 } };
  const s = [
    { ...common, name: 'dominated', data: parts.dominated.map(pt), symbolSize: 7, itemStyle: { color: DOMINATED_COLOR, opacity: 0.45 }, z: 2 },
    { ...common, name: 'infeasible', data: parts.infeasible.map(pt), symbol: 'diamond', symbolSize: 9, itemStyle: { color: INFEASIBLE_COLOR, opacity: 0.75 }, z: 3 },
  ];
  if (objs.length === 2 && front.length > 1) {
    s.push({
      type: 'line',
      name: 'front line',
      xAxisIndex: gridIndex,
      yAxisIndex: gridIndex,
      data: front.map((p) => [p[0], p[1]]),
      showSymbol: false,
      silent: true,
      lineStyle: { color: FRONT_COLOR, width: 2 },
      z: 4,
    });
  }
  s.push({ ...common, name: 'Pareto front', data: front, symbolSize: 11, itemStyle: { color: FRONT_COLOR, borderColor: '#ffffff', borderWidth: 1 }, z: 5 });
  return s;
}

// The chart of the front: one scatter for two objectives, a matrix of every
// pair for three or four (columns: cols; height: the chart's, in pixels).
export function frontOption(objs, trials, frontNumbers, { cols, height }) {
  const parts = classify(trials, frontNumbers);
  const pairs = [];
  for (let i = 0; i < objs.length; i++) for (let j = i + 1; j < objs.length; j++) pairs.push([i, j]);
  const rows = Math.ceil(pairs.length / cols);
  const grid = [];
  const xAxis = [];
  const yAxis = [];
  let series = [];
  pairs.forEach(([i, j], k) => {
    const r = Math.floor(k / cols);
    const c = k % cols;
    const single = pairs.length === 1;
    grid.push(
      single
        ? { left: 72, right: 24, top: 40, bottom: 52 }
        : { left: `${(100 * c) / cols + 7}%`, width: `${100 / cols - 10}%`, top: r * (height / rows) + 40, height: height / rows - 88 },
    );
    xAxis.push(axis(objs[i], { gridIndex: k, nameGap: 26 }));
    yAxis.push(axis(objs[j], { gridIndex: k, nameGap: single ? 52 : 40 }));
    series = series.concat(seriesFor(parts, i, j, objs, k));
  });
  const legend = ['Pareto front', 'dominated'];
  if (parts.infeasible.length) legend.push('infeasible');
  return {
    option: {
      animation: false,
      textStyle: { fontFamily: FONT },
      legend: { top: 4, left: 8, textStyle: { color: TEXT }, data: legend },
      tooltip: tooltip(objs),
      grid,
      xAxis,
      yAxis,
      series,
    },
    counts: { front: parts.front.length, dominated: parts.dominated.length, infeasible: parts.infeasible.length },
    pairs: pairs.length,
  };
}

// The hypervolume after each completed trial.
export function hypervolumeOption(history) {
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    grid: { left: 72, right: 24, top: 24, bottom: 48 },
    tooltip: {
      renderMode: 'richText',
      backgroundColor: '#ffffff',
      borderColor: '#d1d5db',
      textStyle: { color: TEXT, fontSize: 12 },
      confine: true,
      trigger: 'axis',
      formatter: (ps) => {
        const p = Array.isArray(ps) ? ps[0] : ps;
        return p && Array.isArray(p.data) ? `after trial ${p.data[0]}\nhypervolume ${fmtNum(p.data[1])}` : '';
      },
    },
    xAxis: axis({ name: 'trial', direction: 'minimize' }, { name: 'trial', nameGap: 28, minInterval: 1 }),
    yAxis: axis({ name: 'hypervolume', direction: 'maximize' }, { name: 'hypervolume', nameGap: 52 }),
    series: [{ type: 'line', step: 'end', data: history, showSymbol: history.length < 60, symbolSize: 5, lineStyle: { color: FRONT_COLOR, width: 2 }, itemStyle: { color: FRONT_COLOR } }],
  };
}

// The panel of a study with several objectives: the front's chart and the
// hypervolume history, kept up to date by update(trials).
export class ParetoPanel {
  constructor(name, study, ctx, trialHref) {
    this.name = name;
    this.ctx = ctx;
    this.trialHref = trialHref;
    this.objs = objectivesOf(study.spec);
    this.chart = null;
    this.hv = null;
    this.cols = 0;
    const n = this.objs.length;
    this.note = h('span', { class: 'muted small', id: 'pareto-note' }, 'Loading the front…');
    this.frontEl = h('div', { class: `chart ${n === 2 ? 'chart-pareto' : 'chart-pareto-matrix'}`, id: 'pareto-chart', dataset: { objectives: String(n) } });
    this.hvEl = h('div', { class: 'chart chart-hypervolume', id: 'hv-chart' });
    this.hvNote = h('span', { class: 'muted small', id: 'hv-note' });
    this.el = h(
      'div',
      { id: 'pareto-box' },
      h(
        'section',
        { class: 'panel', id: 'pareto-panel' },
        h('div', { class: 'panel-head' }, h('h2', null, n === 2 ? 'Pareto front' : 'Pareto front: every pair of objectives'), h('span', { class: 'spacer' }), this.note),
        this.frontEl,
      ),
      h('section', { class: 'panel', id: 'hv-panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Hypervolume'), h('span', { class: 'spacer' }), this.hvNote), this.hvEl),
    );
  }

  async update(trials) {
    const p = await api(`/studies/${seg(this.name)}/pareto${query({ history: 'true' })}`, { signal: this.ctx.signal });
    const front = new Set((p.trials || []).map((t) => t.number));
    /* the /pareto trials are the freshest copies of the front's trials */
    const byNumber = new Map(trials.map((t) => [t.number, t]));
    for (const t of p.trials || []) byNumber.set(t.number, t);
    const all = [...byNumber.values()];
    const narrow = this.frontEl.clientWidth > 0 && this.frontEl.clientWidth < 600;
    const cols = this.objs.length === 2 ? 1 : narrow ? 1 : this.objs.length === 3 ? 3 : 3;
    if (cols !== this.cols && this.objs.length > 2) {
      const pairs = (this.objs.length * (this.objs.length - 1)) / 2;
      this.frontEl.style.height = `${Math.ceil(pairs / cols) * (narrow ? 280 : 300)}px`;
      if (this.chart) this.chart.resize();
    }
    this.cols = cols;
    if (!this.chart) {
      this.chart = makeChart(this.frontEl);
      if (this.chart) {
        this.chart.on('click', (e) => {
          const d = e.data;
          if (Array.isArray(d) && d[2] && typeof d[2].number === 'number') location.hash = this.trialHref(d[2].number);
        });
      }
    }
    const f = frontOption(this.objs, all, front, { cols, height: this.frontEl.clientHeight || 300 });
    if (this.chart) this.chart.setOption(f.option, { notMerge: true });
    Object.assign(this.frontEl.dataset, {
      front: String(f.counts.front),
      dominated: String(f.counts.dominated),
      infeasible: String(f.counts.infeasible),
      pairs: String(f.pairs),
    });
    const hvText = typeof p.hypervolume === 'number' ? `; hypervolume ${fmtNum(p.hypervolume)}${refText(p)}` : '';
    this.note.textContent = `${fmtInt(f.counts.front)} trials on the front of ${fmtInt(p.n_completed)} completed (${fmtInt(p.n_feasible)} feasible${f.counts.infeasible ? `, ${fmtInt(f.counts.infeasible)} infeasible as red diamonds` : ''})${hvText}`;
    const hist = Array.isArray(p.hypervolume_history) ? p.hypervolume_history.filter((x) => Array.isArray(x) && typeof x[1] === 'number') : [];
    this.hvEl.dataset.points = String(hist.length);
    if (hist.length === 0) {
      this.hvNote.textContent = p.reference_point ? 'no feasible trial yet' : 'no reference point yet: it is derived once enough trials completed';
      if (this.hv) this.hv.clear();
      return;
    }
    this.hvNote.textContent = `after each completed trial${refText(p)}`;
    if (!this.hv) this.hv = makeChart(this.hvEl);
    if (this.hv) this.hv.setOption(hypervolumeOption(hist), { notMerge: true });
  }

  dispose() {
    disposeChart(this.chart);
    disposeChart(this.hv);
  }
}

// A panel for the study when it has several objectives, else null.
export function paretoPanel(name, study, ctx, trialHref) {
  return objectivesOf(study.spec) ? new ParetoPanel(name, study, ctx, trialHref) : null;
}
