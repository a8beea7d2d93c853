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

// The optimisation history: one point per finished trial coloured by source
// group, and the best-so-far line over completed trials.
export function historyOption(trials, { maximize, log, objective }) {
  const points = historyPoints(trials);
  const groups = new Map(SOURCE_GROUPS.map((g) => [g.key, []]));
  const best = [];
  let b = null;
  for (const t of points) {
    groups.get(sourceGroup(t.source)).push([t.number, t.value, t.id, t.source, t.state]);
    if (t.state === 'completed' && (b === null || (maximize ? t.value > b : t.value < b))) {
      b = t.value;
      best.push([t.number, b]);
    }
  }
  if (best.length && points.length) best.push([points[points.length - 1].number, b]);
  const big = points.length > 2000;
  /* LLM points are drawn last, on top of the classical cloud */
  const drawOrder = ['classical', 'fallback', 'manual', 'llm'].map((k) => SOURCE_GROUPS.find((g) => g.key === k));
  const series = drawOrder.map((g) => ({
    name: g.label,
    type: 'scatter',
    data: groups.get(g.key),
    symbolSize: big ? 4 : 7,
    large: big,
    largeThreshold: 2000,
    itemStyle: { color: g.color, opacity: big ? 0.6 : 0.85 },
    emphasis: { scale: 1.6 },
  }));
  series.push({
    name: 'best so far',
    type: 'line',
    step: 'end',
    data: best,
    showSymbol: false,
    lineStyle: { color: '#111827', width: 2 },
    itemStyle: { color: '#111827' },
    z: 5,
  });
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    grid: { left: 64, right: 24, top: 40, bottom: 48 },
    legend: { top: 4, textStyle: { color: TEXT }, data: [...SOURCE_GROUPS.map((g) => g.label), 'best so far'] },
    tooltip: {
      ...baseTooltip(),
      trigger: 'item',
      formatter: (p) =>
        p.seriesType === 'scatter'
          ? `trial ${p.data[0]} (${p.data[3]})\n${objective}: ${fmtNum(p.data[1])}\nclick to open`
          : `best after trial ${p.data[0]}: ${fmtNum(p.data[1])}`,
    },
    xAxis: { ...axisCommon(), type: 'value', name: 'trial', nameLocation: 'middle', nameGap: 28, minInterval: 1, scale: true },
    yAxis: { ...axisCommon(), type: log ? 'log' : 'value', name: objective, scale: true },
    dataZoom: [{ type: 'inside', xAxisIndex: 0, filterMode: 'none' }],
    series,
  };
}

// The parameters a chart can put on an axis (code is text, not a coordinate).
export function plottableParams(spec) {
  return ((spec && spec.params) || []).filter((p) => p.type !== 'code');
}

function paramAxis(p) {
  if (p.type === 'categorical') return { type: 'category', data: (p.choices || []).map(fmtParam) };
  if (p.log) return { type: 'log' };
  if (p.type === 'int') return { type: 'value', scale: true, minInterval: 1 };
  return { type: 'value', scale: true };
}

function coord(p, v) {
  if (v === undefined || v === null) return null;
  if (p.type === 'categorical') return fmtParam(v);
  return v;
}

// Parallel coordinates: one axis per parameter and a last one for the value;
// lines coloured by value. At most limit trials: the best ones.
export function parallelOption(spec, trials, { maximize, objective, limit = 3000 }) {
  const params = plottableParams(spec);
  let done = trials.filter((t) => t.state === 'completed' && typeof t.value === 'number');
  const total = done.length;
  if (done.length > limit) {
    done = done.slice().sort((a, b) => (maximize ? b.value - a.value : a.value - b.value)).slice(0, limit);
  }
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
  const data = done.map((t) => {
    const row = params.map((p) => coord(p, t.params ? t.params[p.name] : undefined));
    row.push(t.value);
    return row;
  });
  const axes = params.map((p, i) => ({
    dim: i,
    name: p.name,
    ...paramAxis(p),
    nameTextStyle: { color: TEXT, fontWeight: 'bold' },
    axisLabel: { color: '#4b5563', width: 90, overflow: 'truncate' },
  }));
  axes.push({ dim: params.length, name: objective, type: 'value', scale: true, nameTextStyle: { color: TEXT, fontWeight: 'bold' } });
  const lowGood = !maximize;
  return {
    shown: data.length,
    total,
    option: {
      animation: false,
      textStyle: { fontFamily: FONT },
      parallel: { left: 48, right: 140, top: 48, bottom: 32 },
      parallelAxis: axes,
      visualMap: {
        type: 'continuous',
        dimension: params.length,
        min: lo,
        max: hi === lo ? lo + 1 : hi,
        right: 12,
        top: 'middle',
        itemHeight: 160,
        calculable: false,
        precision: 4,
        text: [lowGood ? 'worse' : 'better', lowGood ? 'better' : 'worse'],
        inRange: { color: lowGood ? ['#1d4ed8', '#60a5fa', '#fbbf24', '#dc2626'] : ['#dc2626', '#fbbf24', '#60a5fa', '#1d4ed8'] },
        textStyle: { color: TEXT },
      },
      series: [
        {
          type: 'parallel',
          data,
          lineStyle: { width: 1, opacity: data.length > 500 ? 0.25 : 0.55 },
          progressive: 800,
          smooth: false,
        },
      ],
    },
  };
}

// One slice plot: the value against parameter p over completed trials.
export function sliceOption(p, trials, { objective, log }) {
  const pts = [];
  for (const t of trials) {
    if (t.state !== 'completed' || typeof t.value !== 'number' || !t.params) continue;
    const v = coord(p, t.params[p.name]);
    if (v === null) continue;
    pts.push([v, t.value, t.number]);
  }
  const big = pts.length > 2000;
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    title: { text: p.name, left: 'center', top: 2, textStyle: { fontSize: 13, color: TEXT } },
    grid: { left: 56, right: 16, top: 30, bottom: 36 },
    tooltip: { ...baseTooltip(), trigger: 'item', formatter: (q) => `trial ${q.data[2]}\n${p.name}: ${typeof q.data[0] === 'number' ? fmtNum(q.data[0]) : q.data[0]}\n${objective}: ${fmtNum(q.data[1])}` },
    xAxis: {
      ...axisCommon(),
      ...paramAxis(p),
      axisLabel:
        p.type === 'categorical'
          ? { color: '#4b5563', interval: 0, width: Math.max(40, 240 / Math.max(1, (p.choices || []).length)), overflow: 'truncate' }
          : { color: '#4b5563', hideOverlap: true },
    },
    yAxis: { ...axisCommon(), type: log ? 'log' : 'value', scale: true },
    series: [
      {
        type: 'scatter',
        data: pts,
        symbolSize: big ? 3 : 6,
        large: big,
        itemStyle: { color: '#2563eb', opacity: big ? 0.35 : 0.7 },
      },
    ],
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
