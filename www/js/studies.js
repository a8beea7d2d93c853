// The studies page: every study with its state, progress, best value,
// sampler and LLM use; refreshed every few seconds.
import { api } from './api.js';
import { h, replace, fmtNum, fmtInt, fmtUsd, fmtTime, badge } from './dom.js';
import { frontCell } from './pareto.js';

const POLL_MS = 3000;

export function progress(counts, maxTrials) {
  const c = counts || {};
  const completed = c.completed || 0;
  const pruned = c.pruned || 0;
  const failed = c.failed || 0;
  const running = c.running || 0;
  const finished = completed + pruned + failed;
  const max = Math.max(maxTrials || 0, finished + running, 1);
  const pct = (n) => `${((100 * n) / max).toFixed(2)}%`;
  const seg = (cls, n, title) => {
    const s = h('span', { class: `bar-seg ${cls}`, title: `${n} ${title}` });
    s.style.width = pct(n);
    return s;
  };
  const bar = h(
    'div',
    { class: 'bar', role: 'img', 'aria-label': `${finished} of ${maxTrials} finished` },
    seg('seg-completed', completed, 'completed'),
    seg('seg-pruned', pruned, 'pruned'),
    seg('seg-failed', failed, 'failed'),
    seg('seg-running', running, 'running'),
  );
  const text = [`${fmtInt(finished)} / ${maxTrials ? fmtInt(maxTrials) : '∞'}`];
  if (running) text.push(`${fmtInt(running)} running`);
  if (pruned) text.push(`${fmtInt(pruned)} pruned`);
  if (failed) text.push(`${fmtInt(failed)} failed`);
  if (c.pending) text.push(`${fmtInt(c.pending)} pending`);
  return h('div', { class: 'progress' }, bar, h('div', { class: 'progress-text' }, text.join(' · ')));
}

export function samplerName(s) {
  if (!s) return '—';
  if (typeof s === 'string') return s;
  return s.name || JSON.stringify(s);
}

export function llmUsage(llm) {
  if (!llm || (!llm.tokens_in && !llm.tokens_out)) return h('span', { class: 'muted' }, '—');
  return h(
    'span',
    { title: `${fmtInt(llm.tokens_in)} tokens in, ${fmtInt(llm.tokens_out)} tokens out` },
    `${fmtInt(llm.tokens_in)} in / ${fmtInt(llm.tokens_out)} out`,
  );
}

function row(s) {
  const link = `#/studies/${encodeURIComponent(s.name)}`;
  const usedLlm = Boolean(s.llm && (s.llm.tokens_in || s.llm.tokens_out || s.llm.cost_usd));
  return h(
    'tr',
    { dataset: { study: s.name } },
    h(
      'td',
      { class: 'study-cell' },
      h('a', { href: link, class: 'study-name' }, s.name),
      s.description ? h('div', { class: 'desc muted' }, s.description) : null,
    ),
    h('td', { class: 'state-cell' }, badge(s.state || 'unknown')),
    h('td', { class: 'progress-cell', 'data-label': 'Progress' }, progress(s.counts, s.max_trials)),
    h(
      'td',
      { class: 'num best-cell', 'data-label': 'Best' },
      frontCell(s) ||
      fmtNum(s.best_value),
      frontCell(s) ? null : s.objective ? h('div', { class: 'muted small' }, `${s.objective}${s.direction ? ` (${s.direction === 'maximize' ? 'max' : 'min'})` : ''}`) : null,
    ),
    h('td', { class: 'sampler-cell', 'data-label': 'Sampler' }, samplerName(s.sampler)),
    h('td', { class: `num${usedLlm ? '' : ' no-llm'}`, 'data-label': 'LLM tokens' }, llmUsage(s.llm)),
    h('td', { class: `num${usedLlm ? '' : ' no-llm'}`, 'data-label': 'LLM cost' }, usedLlm ? fmtUsd(s.llm.cost_usd) : '—'),
    h('td', { class: 'nowrap created-cell', 'data-label': 'Created' }, fmtTime(s.created_at)),
  );
}

export function mount(root, _args, ctx) {
  document.title = 'Studies · hpod';
  const body = h('tbody', null, h('tr', null, h('td', { colspan: 8, class: 'muted' }, 'Loading…')));
  const table = h(
    'table',
    { class: 'grid studies', id: 'studies-table' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ['Study', 'State', 'Progress', 'Best', 'Sampler', 'LLM tokens', 'LLM cost', 'Created'].map((t, i) =>
          h('th', { class: i === 3 || i === 5 || i === 6 ? 'num' : null }, t),
        ),
      ),
    ),
    body,
  );
  const note = h('p', { class: 'muted small' });
  replace(root, h('div', { class: 'page-head' }, h('h1', null, 'Studies')), h('div', { class: 'panel table-wrap' }, table), note);

  async function load() {
    const data = await api('/studies', { signal: ctx.signal });
    const list = (data && data.studies) || [];
    if (list.length === 0) {
      replace(
        body,
        h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'No studies yet. Create one with ', h('code', null, 'hpo study create spec.json'), '.')),
      );
    } else {
      replace(body, list.map(row));
    }
    note.textContent = `${list.length} ${list.length === 1 ? 'study' : 'studies'} · updated ${new Date().toLocaleTimeString()}`;
    root.dataset.loaded = 'true';
  }
  load().catch((e) => {
    if (e.name === 'AbortError') return;
    replace(body, h('tr', null, h('td', { colspan: 8, class: 'error' }, `Could not load the studies: ${e.message}`)));
  });
  ctx.every(POLL_MS, load);
}
