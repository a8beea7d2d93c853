// Small DOM helpers. Every piece of data reaches the page as a text node or an
// attribute value, never as markup: nothing here parses HTML.

// h('div', {class: 'x', dataset: {n: 1}, onclick: f}, child, ...) builds an
// element. Children may be nodes, strings or numbers (as text), arrays of
// those, or null/undefined/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k in el && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Replace the children of el.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A number for people: '—' for null, short but exact enough to compare.
export function fmtNum(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

// A parameter value as it appears in the spec: strings bare, other JSON
// values (numbers, booleans) as JSON.
export function fmtParam(v) {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return fmtNum(v);
  return JSON.stringify(v);
}

export function fmtInt(v) {
  if (v === null || v === undefined) return '—';
  return Number(v).toLocaleString('en-US');
}

// An RFC 3339 time as local 'YYYY-MM-DD HH:MM:SS'.
export function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// Seconds between two RFC 3339 times (b defaults to now), for people.
export function fmtDuration(a, b) {
  if (!a) return '—';
  const t0 = Date.parse(a);
  const t1 = b ? Date.parse(b) : Date.now();
  if (Number.isNaN(t0) || Number.isNaN(t1)) return '—';
  let s = Math.max(0, (t1 - t0) / 1000);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  s = Math.round(s % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtUsd(v) {
  if (v === null || v === undefined) return '—';
  if (v === 0) return '$0';
  if (v < 0.01) return `$${v.toFixed(4)}`;
  return `$${v.toFixed(2)}`;
}

// A state or source as a coloured label.
export function badge(text, kind) {
  return h('span', { class: `badge badge-${kind || String(text).replace(/[^a-z]/g, '')}` }, text);
}

// The group a trial's source belongs to: llm (with llm+gp, the LLM's
// candidates ranked by the GP), classical, fallback or manual.
export function sourceGroup(source) {
  if (!source) return 'classical';
  if (source === 'llm' || source === 'llm+gp') return 'llm';
  if (source === 'manual') return 'manual';
  if (source.startsWith('fallback')) return 'fallback';
  return 'classical';
}

export const SOURCE_GROUPS = [
  { key: 'llm', label: 'LLM', color: '#7c3aed' },
  { key: 'classical', label: 'classical', color: '#2563eb' },
  { key: 'fallback', label: 'fallback', color: '#ea580c' },
  { key: 'manual', label: 'manual', color: '#059669' },
];

export const FINISHED = new Set(['completed', 'failed', 'pruned']);
