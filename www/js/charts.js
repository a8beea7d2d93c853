// Chart options for Apache ECharts (loaded as vendor/echarts.min.js). The
// page draws nothing itself: it hands data to the library. Tooltips are drawn
// on the canvas (renderMode richText), so no data becomes markup.
import { fmtNum, fmtParam, sourceGroup, SOURCE_GROUPS } from './dom.js';

const ec = window.echarts;
const TEXT = '#1f2937';
const GRID_LINE = '#e5e7eb';
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

// Create a chart in el, or explain in el why it cannot be drawn. Returns the
// instance or null. The chart follows the element's size.
export function makeChart(el) {
  if (!ec) {
    el.classList.add('chart-missing');
    el.textContent = 'The chart library (vendor/echarts.min.js) is not installed: run npm ci, then make.';
    return null;
  }
  const chart = ec.init(el, null, { renderer: 'canvas' });
  const ro = new ResizeObserver(() => chart.resize());
  ro.observe(el);
  chart.__hpodObserver = ro;
  return chart;
}

export function disposeChart(chart) {
  if (!chart) return;
  if (chart.__hpodObserver) chart.__hpodObserver.disconnect();
  chart.dispose();
}

function baseTooltip() {
  return {
    renderMode: 'richText',
    backgroundColor: '#ffffff',
    borderColor: '#d1d5db',
    textStyle: { color: TEXT, fontSize: 12 },
    confine: true,
  };
}

function axisCommon() {
  return {
    axisLine: { lineStyle: { color: '#9ca3af' } },
    axisLabel: { color: '#4b5563' },
    splitLine: { lineStyle: { color: GRID_LINE } },
    nameTextStyle: { color: '#4b5563' },
  };
}

// Trials with a value, in number order, for the history: finished ones only.
export function historyPoints(trials) {
  return trials.filter((t) => (t.state === 'completed' || t.state === 'pruned') && typeof t.value === 'number');
}

export const PRUNED_COLOR = '#9ca3af';
const PRUNED_SYMBOL = 'triangle';
const BEST_COLOR = '#111827';

// The optimisation history: one point per completed trial coloured by source
// group, pruned trials apart (grey triangles: their value is the last one
// they reported), the best-so-far line and, above everything, the trials
// that improved on it (hover and click them). The legend names only what is
// drawn.
export function historyOption(trials, { maximize, log, objective }) {
  const points = historyPoints(trials);
  const groups = new Map(SOURCE_GROUPS.map((g) => [g.key, []]));
  const pruned = [];
  const best = [];
  const bestPoints = [];
  let b = null;
  for (const t of points) {
    const item = [t.number, t.value, t.id, t.source, t.state];
    if (t.state === 'pruned') {
      pruned.push(item);
      continue;
    }
    groups.get(sourceGroup(t.source)).push(item);
    if (b === null || (maximize ? t.value > b : t.value < b)) {
      b = t.value;
      best.push([t.number, b]);
      bestPoints.push(item);
    }
  }
  if (best.length && points.length) best.push([points[points.length - 1].number, b]);
  const big = points.length > 2000;
  /* LLM points are drawn last, on top of the classical cloud */
  const drawOrder = ['classical', 'fallback', 'manual', 'llm'].map((k) => SOURCE_GROUPS.find((g) => g.key === k));
  const series = [];
  const legend = [];
  if (pruned.length) {
    series.push({
      name: 'pruned',
      type: 'scatter',
      data: pruned,
      symbol: PRUNED_SYMBOL,
      symbolSize: big ? 5 : 8,
      large: big,
      largeThreshold: 2000,
      itemStyle: { color: PRUNED_COLOR, opacity: big ? 0.5 : 0.8 },
      emphasis: { scale: 1.6 },
      z: 2,
    });
  }
  for (const g of drawOrder) {
    if (groups.get(g.key).length === 0) continue;
    series.push({
      name: g.label,
      type: 'scatter',
      data: groups.get(g.key),
      symbolSize: big ? 4 : 7,
      large: big,
      largeThreshold: 2000,
      itemStyle: { color: g.color, opacity: big ? 0.6 : 0.85 },
      emphasis: { scale: 1.6 },
      z: 3,
    });
  }
  for (const g of SOURCE_GROUPS) if (groups.get(g.key).length) legend.push(g.label);
  if (pruned.length) legend.push('pruned');
  if (best.length) {
    series.push({
      name: 'best so far',
      type: 'line',
      step: 'end',
      data: best,
      showSymbol: false,
      silent: true,
      lineStyle: { color: BEST_COLOR, width: 2 },
      itemStyle: { color: BEST_COLOR },
      z: 4,
    });
    series.push({
      name: 'best trials',
      type: 'scatter',
      data: bestPoints,
      symbol: 'circle',
      symbolSize: 10,
      itemStyle: { color: '#ffffff', borderColor: BEST_COLOR, borderWidth: 2 },
      emphasis: { scale: 1.5 },
      z: 6,
    });
    legend.push('best so far');
  }
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    grid: { left: 72, right: 24, top: 40, bottom: 48 },
    legend: { type: 'scroll', top: 4, left: 8, right: 8, textStyle: { color: TEXT }, data: legend },
    tooltip: {
      ...baseTooltip(),
      trigger: 'item',
      formatter: (p) => {
        const d = p.data;
        const what = d[4] === 'pruned' ? `pruned, last reported ${objective}` : objective;
        const head = p.seriesName === 'best trials' ? `trial ${d[0]}, new best (${d[3]})` : `trial ${d[0]} (${d[3]})`;
        return `${head}\n${what}: ${fmtNum(d[1])}\nclick to open`;
      },
    },
    xAxis: { ...axisCommon(), type: 'value', name: 'trial', nameLocation: 'middle', nameGap: 28, minInterval: 1, scale: true, axisLabel: { color: '#4b5563', hideOverlap: true } },
    yAxis: { ...axisCommon(), type: log ? 'log' : 'value', name: objective, nameLocation: 'middle', nameGap: 50, scale: true },
    dataZoom: [{ type: 'inside', xAxisIndex: 0, filterMode: 'none' }],
    series,
  };
}

// The step at which ASHA's rungs sit (min_resource times the reduction
// factor to the k), up to last.
export function ashaRungs(spec, last) {
  const p = spec && spec.pruner;
  if (!p || p.name !== 'asha') return [];
  const r = Math.max(1, Number(p.min_resource) || 1);
  const f = Math.max(2, Number(p.reduction_factor) || 4);
  const out = [];
  for (let s = r; s <= last && out.length < 32; s *= f) out.push(s);
  return out;
}

// The intermediate values of every trial, one line each: completed trials
// blue, the BEST_CURVES best of them dark on top, pruned ones grey and cut
// with a red cross where the pruner stopped them, running ones dashed;
// ASHA's rungs as vertical lines. The more lines, the fainter each.
const BEST_CURVES = 10;
export function curvesOption(trials, spec, { objective, log, maximize }) {
  const kinds = { completed: [], pruned: [], other: [], best: [] };
  const ranked = trials
    .filter((t) => t.state === 'completed' && typeof t.value === 'number')
    .sort((a, b) => (maximize ? b.value - a.value : a.value - b.value))
    .slice(0, BEST_CURVES);
  const best = new Set(ranked.map((t) => t.number));
  const cuts = [];
  let last = 0;
  let n = 0;
  for (const t of trials) {
    const c = t.curve;
    if (!Array.isArray(c) || c.length === 0) continue;
    const kind = best.has(t.number) ? 'best' : t.state === 'completed' || t.state === 'pruned' ? t.state : 'other';
    const out = kinds[kind];
    let end = null;
    for (const [step, value] of c) {
      if (typeof value !== 'number') continue;
      out.push([step, value, t.number]);
      end = [step, value, t.number];
      if (step > last) last = step;
    }
    out.push('-'); /* break the line between trials */
    if (kind === 'pruned' && end) cuts.push(end);
    n++;
  }
  const opacity = Math.max(0.05, Math.min(0.7, 40 / Math.max(1, n)));
  const line = (name, data, color, extra) => ({
    name,
    type: 'line',
    data,
    showSymbol: false,
    connectNulls: false,
    lineStyle: { color, width: 1, opacity, ...(extra || {}) },
    itemStyle: { color },
    emphasis: { disabled: true },
    triggerLineEvent: true,
  });
  const series = [];
  const legend = [];
  if (kinds.completed.length) {
    series.push(line('completed', kinds.completed, '#2563eb'));
    legend.push('completed');
  }
  if (kinds.pruned.length) {
    series.push(line('pruned', kinds.pruned, PRUNED_COLOR));
    legend.push('pruned');
  }
  if (kinds.other.length) {
    series.push(line('running', kinds.other, '#60a5fa', { type: 'dashed', opacity: Math.max(opacity, 0.5) }));
    legend.push('running');
  }
  if (kinds.best.length) {
    series.push({ ...line(`best ${best.size}`, kinds.best, '#1e3a8a', { width: 1.5, opacity: 0.9 }), z: 4 });
    legend.push(`best ${best.size}`);
  }
  if (cuts.length) {
    series.push({
      name: 'pruned here',
      type: 'scatter',
      data: cuts,
      symbol: 'path://M0,0L10,10M10,0L0,10',
      symbolSize: 7,
      itemStyle: { color: 'none', borderColor: '#dc2626', borderWidth: 1.5 },
      z: 5,
    });
    legend.push('pruned here');
  }
  const rungs = ashaRungs(spec, last);
  if (rungs.length && series.length) {
    series[0].markLine = {
      silent: true,
      symbol: 'none',
      lineStyle: { color: '#a16207', type: 'dashed', width: 1, opacity: 1 },
      label: { formatter: (q) => `rung ${rungs.indexOf(q.value)}`, color: '#a16207', position: 'insideEndTop' },
      data: rungs.map((s) => ({ xAxis: s })),
    };
  }
  return {
    trials: n,
    rungs,
    option: {
      animation: false,
      textStyle: { fontFamily: FONT },
      grid: { left: 72, right: 24, top: 40, bottom: 44 },
      legend: { type: 'scroll', top: 4, left: 8, right: 8, textStyle: { color: TEXT }, data: legend },
      tooltip: {
        ...baseTooltip(),
        trigger: 'item',
        formatter: (p) => (Array.isArray(p.data) ? `trial ${p.data[2]}, step ${p.data[0]}\n${objective}: ${fmtNum(p.data[1])}` : ''),
      },
      xAxis: { ...axisCommon(), type: 'value', name: 'step', nameLocation: 'middle', nameGap: 26, minInterval: 1, scale: true },
      yAxis: { ...axisCommon(), type: log ? 'log' : 'value', name: objective, nameLocation: 'middle', nameGap: 50, scale: true },
      dataZoom: [{ type: 'inside', xAxisIndex: 0, filterMode: 'none' }],
      series,
    },
  };
}

// The parameters a chart can put on an axis (code is text, not a coordinate).
export function plottableParams(spec) {
  return ((spec && spec.params) || []).filter((p) => p.type !== 'code');
}

// An axis for parameter p spanning its search space (not the values seen).
export function paramAxis(p) {
  if (p.type === 'categorical') return { type: 'category', data: (p.choices || []).map(fmtParam) };
  const ax = { type: p.log ? 'log' : 'value' };
  if (typeof p.low === 'number') ax.min = p.low;
  if (typeof p.high === 'number') ax.max = p.high;
  if (p.type === 'int') ax.minInterval = 1;
  return ax;
}

function coord(p, v) {
  if (v === undefined || v === null) return null;
  if (p.type === 'categorical') return fmtParam(v);
  return v;
}

// The value a chart gives a finished trial: a completed trial's result, a
// pruned one's last reported value.
function chartValue(t) {
  if (typeof t.value === 'number') return t.value;
  if (t.state === 'pruned' && typeof t.last_value === 'number') return t.last_value;
  return null;
}

// The pieces of a parallel-coordinates line: one per run of consecutive axes
// where the trial has a value, so that no line crosses the axis of a
// parameter that was inactive in the trial. Extra dimensions carry the value
// (for the colour) and the trial number.
function pieces(row, value, number) {
  const out = [];
  let start = -1;
  for (let i = 0; i <= row.length; i++) {
    const has = i < row.length && row[i] !== null;
    if (has && start < 0) start = i;
    if (!has && start >= 0) {
      if (i - start >= 2) {
        const v = row.map((x, j) => (j >= start && j < i ? x : null));
        v.push(value, number);
        out.push(v);
      }
      start = -1;
    }
  }
  return out;
}

// Parallel coordinates: the value's axis first, then one axis per
// parameter over its search space. Every completed trial, coloured over the
// full range of values and drawn worst first so that the good lines lie on
// top; pruned trials as grey dashed lines underneath. narrow: a phone,
// where the axes run across the screen one under the other.
export function parallelOption(spec, trials, { maximize, objective, narrow }) {
  const params = plottableParams(spec);
  const done = [];
  const pruned = [];
  for (const t of trials) {
    const v = chartValue(t);
    if (v === null) continue;
    if (t.state === 'completed') done.push(t);
    else if (t.state === 'pruned') pruned.push(t);
  }
  /* worst first: the best lines are drawn last, on top */
  done.sort((a, b) => (maximize ? a.value - b.value : b.value - a.value));
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of done) {
    lo = Math.min(lo, t.value);
    hi = Math.max(hi, t.value);
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = 1;
  }
  const rows = (list) => {
    const out = [];
    for (const t of list) {
      const v = chartValue(t);
      const row = [v, ...params.map((p) => coord(p, t.params ? t.params[p.name] : undefined))];
      out.push(...pieces(row, v, t.number));
    }
    return out;
  };
  const data = rows(done);
  const prunedData = rows(pruned);
  const valueDim = params.length + 1;
  const nameStyle = { color: TEXT, fontWeight: 'bold' };
  const axes = [{ dim: 0, name: objective, type: 'value', scale: true, nameTextStyle: nameStyle }];
  params.forEach((p, i) =>
    axes.push({
      dim: i + 1,
      name: p.name,
      ...paramAxis(p),
      nameTextStyle: nameStyle,
      axisLabel: { color: '#4b5563', width: narrow ? 70 : 90, overflow: 'truncate', hideOverlap: true },
    }),
  );
  const lowGood = !maximize;
  const series = [];
  if (prunedData.length) {
    series.push({
      name: 'pruned',
      type: 'parallel',
      data: prunedData,
      lineStyle: { width: 1, color: PRUNED_COLOR, type: 'dashed', opacity: prunedData.length > 500 ? 0.2 : 0.5 },
      progressive: 1000,
      smooth: false,
    });
  }
  series.push({
    name: 'completed',
    type: 'parallel',
    data,
    lineStyle: { width: 1, opacity: data.length > 2000 ? 0.3 : data.length > 500 ? 0.45 : 0.7 },
    progressive: 1000,
    smooth: false,
  });
  return {
    shown: done.length,
    pruned: pruned.length,
    lines: data.length,
    range: [lo, hi],
    option: {
      animation: false,
      textStyle: { fontFamily: FONT },
      parallel: narrow
        ? { layout: 'vertical', left: 108, right: 28, top: 24, bottom: 64, parallelAxisDefault: { nameLocation: 'start', nameGap: 10, nameTruncate: { maxWidth: 94, ellipsis: '…' } } }
        : { left: 48, right: 180, top: 48, bottom: 32 },
      parallelAxis: axes,
      visualMap: {
        type: 'continuous',
        seriesIndex: series.length - 1,
        dimension: valueDim,
        min: lo,
        max: hi === lo ? lo + 1 : hi,
        ...(narrow ? { orient: 'horizontal', left: 'center', bottom: 4, itemWidth: 12, itemHeight: 200 } : { right: 12, top: 'middle', itemHeight: 160 }),
        calculable: false,
        precision: 4,
        text: [lowGood ? 'worse' : 'better', lowGood ? 'better' : 'worse'], /* the high end's word first */
        inRange: { color: lowGood ? ['#1d4ed8', '#60a5fa', '#fbbf24', '#dc2626'] : ['#dc2626', '#fbbf24', '#60a5fa', '#1d4ed8'] },
        textStyle: { color: TEXT },
      },
      series,
    },
  };
}

// One slice plot: the value against parameter p over completed trials, and
// pruned ones (their last reported value) as grey triangles; the parameter's
// axis spans its search space.
export function sliceOption(p, trials, { objective, log }) {
  const pts = [];
  const cut = [];
  for (const t of trials) {
    if ((t.state !== 'completed' && t.state !== 'pruned') || !t.params) continue;
    const y = chartValue(t);
    if (y === null) continue;
    const v = coord(p, t.params[p.name]);
    if (v === null) continue;
    (t.state === 'pruned' ? cut : pts).push([v, y, t.number, t.state]);
  }
  const big = pts.length + cut.length > 2000;
  const series = [];
  if (cut.length)
    series.push({
      name: 'pruned',
      type: 'scatter',
      data: cut,
      symbol: PRUNED_SYMBOL,
      symbolSize: big ? 4 : 7,
      large: big,
      itemStyle: { color: PRUNED_COLOR, opacity: big ? 0.35 : 0.8 },
    });
  series.push({
    name: 'completed',
    type: 'scatter',
    data: pts,
    symbolSize: big ? 3 : 6,
    large: big,
    itemStyle: { color: '#2563eb', opacity: big ? 0.35 : 0.7 },
  });
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    title: { text: p.name, left: 'center', top: 2, textStyle: { fontSize: 13, color: TEXT } },
    grid: { left: 56, right: 16, top: 30, bottom: 36 },
    tooltip: {
      ...baseTooltip(),
      trigger: 'item',
      formatter: (q) =>
        `trial ${q.data[2]}${q.data[3] === 'pruned' ? ' (pruned)' : ''}\n${p.name}: ${typeof q.data[0] === 'number' ? fmtNum(q.data[0]) : q.data[0]}\n${objective}: ${fmtNum(q.data[1])}`,
    },
    xAxis: {
      ...axisCommon(),
      ...paramAxis(p),
      axisLabel:
        p.type === 'categorical'
          ? { color: '#4b5563', interval: 0, width: Math.max(40, 240 / Math.max(1, (p.choices || []).length)), overflow: 'truncate' }
          : { color: '#4b5563', hideOverlap: true },
    },
    yAxis: { ...axisCommon(), type: log ? 'log' : 'value', scale: true },
    series,
  };
}

// The intermediate values a trial reported, by step.
export function reportsOption(reports, objective) {
  const names = new Set();
  for (const r of reports) if (r.values && typeof r.values === 'object') for (const k of Object.keys(r.values)) names.add(k);
  names.delete(objective);
  const series = [
    {
      name: objective,
      type: 'line',
      data: reports.filter((r) => typeof r.value === 'number').map((r) => [r.step, r.value]),
      showSymbol: reports.length < 60,
      itemStyle: { color: '#2563eb' },
    },
  ];
  for (const n of names) {
    series.push({
      name: n,
      type: 'line',
      data: reports.filter((r) => r.values && typeof r.values[n] === 'number').map((r) => [r.step, r.values[n]]),
      showSymbol: reports.length < 60,
      yAxisIndex: 0,
    });
  }
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    grid: { left: 64, right: 24, top: 36, bottom: 44 },
    legend: { top: 4, textStyle: { color: TEXT } },
    tooltip: { ...baseTooltip(), trigger: 'axis' },
    xAxis: { ...axisCommon(), type: 'value', name: 'step', nameLocation: 'middle', nameGap: 26, minInterval: 1, scale: true },
    yAxis: { ...axisCommon(), type: 'value', scale: true },
    series,
  };
}
