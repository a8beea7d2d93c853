// One trial, named by its number in the study: its parameters, result,
// intermediate values, attempts, error text or pruning reason, the LLM call
// that proposed it, the trials before and after it and, for code
// parameters, the code and its diff against the baseline.
import { api, seg, query, ApiError } from './api.js';
import { h, replace, fmtNum, fmtParam, fmtTime, fmtDuration, fmtInt, badge, sourceGroup, FINISHED } from './dom.js';
import { makeChart, disposeChart, reportsOption } from './charts.js';
import { diffLines, collapse } from './diff.js';
import { noteBox, saveNote } from './analysis.js';
import { trialObjectiveRows, aimFor } from './pareto.js';

const POLL_MS = 2000;
const CALLS_PAGE = 200; /* LLM calls per request while looking for a trial's */
const CALLS_PAGES = 25;

// Why a trial was pruned, in words: the daemon's reason when it gives one,
// else what the trial reported last (and any error text).
export function pruneText(t) {
  const parts = [];
  const known = t.last_step !== null && t.last_step !== undefined;
  if (t.prune_reason) parts.push(String(t.prune_reason));
  if (known) parts.push(`Stopped by the pruner after step ${t.last_step} (last value ${fmtNum(t.last_value)})${t.prune_reason ? '.' : ': not good enough to go on.'}`);
  else if (!t.prune_reason) parts.push('Stopped by the pruner.');
  if (t.error && t.error !== t.prune_reason) parts.push(String(t.error));
  return parts.join('\n');
}

function kv(rows) {
  return h(
    'table',
    { class: 'kv' },
    h(
      'tbody',
      null,
      rows.filter(Boolean).map(([k, ...v]) => h('tr', null, h('th', null, k), h('td', null, ...v))),
    ),
  );
}

function codeBlock(text, cls) {
  return h('pre', { class: `code ${cls || ''}` }, h('code', null, text));
}

function diffBlock(base, code) {
  const lines = diffLines(base, code);
  if (lines === null) return h('p', { class: 'muted' }, 'Too long to compare here.');
  const adds = lines.filter((l) => l.op === '+').length;
  const dels = lines.filter((l) => l.op === '-').length;
  return h(
    'div',
    null,
    h('p', { class: 'small' }, h('span', { class: 'diff-add-count' }, `+${adds}`), ' ', h('span', { class: 'diff-del-count' }, `−${dels}`), ' lines against the baseline'),
    h(
      'pre',
      { class: 'code diff' },
      collapse(lines).map((l) =>
        h('span', { class: `diff-line diff-${l.op === '+' ? 'add' : l.op === '-' ? 'del' : l.op === ' ' ? 'ctx' : 'skip'}` }, `${l.op === '…' ? '⋯' : l.op} ${l.text}\n`),
      ),
    ),
  );
}

function codeSection(p, trial) {
  const code = trial.params ? trial.params[p.name] : undefined;
  const base = typeof p.baseline === 'string' ? p.baseline : '';
  const title = h('h3', null, `${p.name} `, h('span', { class: 'muted small' }, `${p.language || 'code'}${p.contract ? ` — ${p.contract}` : ''}`));
  if (typeof code !== 'string') return h('div', { class: 'code-param' }, title, h('p', { class: 'muted' }, 'Not set in this trial: the baseline is used.'), codeBlock(base));
  if (code === base) return h('div', { class: 'code-param' }, title, h('p', { class: 'muted' }, 'The baseline, unchanged.'), codeBlock(code));
  const tabs = h('div', { class: 'seg-buttons' });
  const body = h('div');
  const show = (which) => {
    for (const b of tabs.children) b.classList.toggle('active', b.dataset.which === which);
    replace(body, which === 'diff' ? diffBlock(base, code) : codeBlock(code));
  };
  tabs.append(
    h('button', { type: 'button', class: 'btn btn-quiet', dataset: { which: 'diff' }, onclick: () => show('diff') }, 'Diff against baseline'),
    h('button', { type: 'button', class: 'btn btn-quiet', dataset: { which: 'code' }, onclick: () => show('code') }, 'Code'),
  );
  show('diff');
  return h('div', { class: 'code-param' }, title, tabs, body);
}

// The LLM exchange that produced trial number n, with its number among the
// study's calls (1 for the first), or null.
async function findCall(name, n, signal) {
  let after = null;
  let ordinal = 0;
  let found = null;
  for (let i = 0; i < CALLS_PAGES; i++) {
    const d = await api(`/studies/${seg(name)}/llm-calls${query({ after, limit: CALLS_PAGE })}`, { signal });
    for (const c of d.calls || []) {
      ordinal++;
      if (Array.isArray(c.trials) && c.trials.includes(n)) found = { call: c, ordinal };
      else if (found) return found; /* the exchanges of its proposal are over */
    }
    after = d.next_after ?? null;
    if (after === null) break;
  }
  return found;
}

function llmSection(name, found, n) {
  const { call: c, ordinal } = found;
  const aim = aimFor(c, n);
  const text = c.reasoning ? c.reasoning : c.reply;
  const body = typeof text === 'string' ? text : text === null || text === undefined ? '' : JSON.stringify(text, null, 2);
  return h(
    'section',
    { class: 'panel', id: 'trial-llm' },
    h('h2', null, 'Proposed by the LLM'),
    h(
      'p',
      null,
      h('a', { href: `#/studies/${encodeURIComponent(name)}/llm/${c.id}`, id: 'trial-llm-call' }, `Call ${ordinal}`),
      ` of this study${c.model ? ` (${c.model})` : ''}`,
    ),
    aim ? h('p', { id: 'trial-llm-aim' }, h('strong', null, 'Trade-off it aims at: '), aim) : null,
    body ? h('h3', null, c.reasoning ? 'Its reasoning' : 'Its reply') : null,
    body ? h('pre', { class: 'code wrap', id: 'trial-llm-text' }, body) : null,
  );
}

export function mount(root, { name, id }, ctx) {
  const label = id.replace('number-', '');
  document.title = `trial ${label} · ${name} · hpod`;
  const studyHref = `#/studies/${encodeURIComponent(name)}`;
  const box = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const crumb = h('span', null, `trial ${label}`);
  const stepper = h('nav', { class: 'stepper' });
  replace(
    root,
    h('div', { class: 'crumbs-row' }, h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Studies'), ' / ', h('a', { href: studyHref }, name), ' / ', crumb), stepper),
    box,
  );
  let spec = null;
  let chart = null;
  let last = null;
  let total = 0;
  let llmBox = null;
  let number = null;
  const note = noteBox('trial-note', 'Notes on this trial', (text) => saveNote(name, number, text));

  function renderStepper(n) {
    const link = (k, text, idName) =>
      k >= 0 && k < total
        ? h('a', { href: `${studyHref}/trials/${k}`, class: 'btn btn-quiet', id: idName, rel: idName === 'trial-prev' ? 'prev' : 'next' }, text)
        : h('span', { class: 'btn btn-quiet disabled', id: idName, 'aria-disabled': 'true' }, text);
    replace(stepper, link(n - 1, '‹ previous', 'trial-prev'), link(n + 1, 'next ›', 'trial-next'));
  }

  function render(t) {
    const params = (spec && spec.params) || [];
    const objective = ((spec && (spec.objective || (spec.objectives || [])[0])) || {}).name || 'value';
    const known = new Set(params.map((p) => p.name));
    const paramRows = params
      .filter((p) => p.type !== 'code')
      .map((p) => [p.name, t.params && p.name in t.params ? h('span', { class: 'param-value' }, fmtParam(t.params[p.name])) : h('span', { class: 'muted' }, 'inactive'), h('span', { class: 'muted small' }, ` ${p.type}`)]);
    for (const [k, v] of Object.entries(t.params || {})) {
      if (!known.has(k)) paramRows.push([k, h('span', { class: 'param-value' }, fmtParam(v))]);
    }
    const mo = trialObjectiveRows(spec || {}, t); /* several objectives or constraints */
    const values = t.values && typeof t.values === 'object' ? Object.entries(t.values).filter(([k]) => k !== objective && !(mo && mo.names.has(k))) : [];
    const reports = t.reports || [];
    /* the attempt list is attempt_log (attempts is their count) */
    const attempts = Array.isArray(t.attempts) ? t.attempts : t.attempt_log || [];
    const nAttempts = Array.isArray(t.attempts) ? t.attempts.length : t.attempts;
    const chartEl = h('div', { class: 'chart chart-reports', id: 'reports-chart' });
    number = t.number;
    note.show(t.note, t.note_at);
    crumb.textContent = `trial ${t.number}`;
    document.title = `trial ${t.number} · ${name} · hpod`;
    renderStepper(t.number);
    if (!llmBox) llmBox = h('div');
    replace(
      box,
      h('div', { class: 'page-head' }, h('h1', null, `Trial ${t.number}`), badge(t.state), h('span', { class: `src src-${sourceGroup(t.source)}` }, t.source || '—')),
      h(
        'div',
        { class: 'two-col' },
        h(
          'section',
          { class: 'panel' },
          h('h2', null, 'Result'),
          kv([
            ...(mo ? mo.rows : [[t.state === 'pruned' ? `${objective} (last reported)` : objective, h('strong', { id: 'trial-value' }, fmtNum(t.value))]]),
            ...values.map(([k, v]) => [k, fmtNum(v)]),
            t.last_step !== null && t.last_step !== undefined ? ['last report', `step ${t.last_step}: ${fmtNum(t.last_value)}`] : null,
            ['worker', t.worker || '—'],
            ['attempts', fmtInt(nAttempts)],
            ['created', fmtTime(t.created_at)],
            ['started', fmtTime(t.started_at)],
            ['finished', fmtTime(t.finished_at)],
            ['duration', t.started_at ? fmtDuration(t.started_at, t.finished_at) : '—'],
            ['trial id', String(t.id)],
          ]),
        ),
        h('section', { class: 'panel', id: 'trial-params' }, h('h2', null, 'Parameters'), paramRows.length ? kv(paramRows) : h('p', { class: 'muted' }, 'none')),
      ),
      t.state === 'pruned'
        ? h('section', { class: 'panel panel-pruned', id: 'trial-pruned' }, h('h2', null, 'Why it was pruned'), h('pre', { class: 'code wrap', id: 'trial-pruned-why' }, pruneText(t)))
        : t.error
          ? h('section', { class: 'panel panel-error' }, h('h2', null, 'Failure'), h('pre', { class: 'code error-text', id: 'trial-error' }, t.error))
          : null,
      llmBox,
      note.el,
      h(
        'section',
        { class: 'panel' },
        h('h2', null, 'Intermediate values'),
        reports.length ? chartEl : h('p', { class: 'muted' }, 'No intermediate value was reported.'),
      ),
      h(
        'section',
        { class: 'panel' },
        h('h2', null, 'Attempts'),
        attempts.length
          ? h(
              'div',
              { class: 'table-wrap' },
              h(
              'table',
              { class: 'grid', id: 'attempts-table' },
              h('thead', null, h('tr', null, ['#', 'Worker', 'Started', 'Ended', 'Duration', 'Outcome'].map((x) => h('th', { class: `col-${x.toLowerCase().replace('#', 'n')}` }, x)))),
              h(
                'tbody',
                null,
                attempts.map((a) =>
                  h(
                    'tr',
                    null,
                    h('td', { class: 'num' }, String(a.attempt)),
                    h('td', null, a.worker || '—'),
                    h('td', { class: 'nowrap' }, fmtTime(a.started_at)),
                    h('td', { class: 'nowrap col-ended' }, fmtTime(a.ended_at)),
                    h('td', { class: 'num nowrap' }, fmtDuration(a.started_at, a.ended_at)),
                    h('td', { class: 'col-outcome' }, a.outcome ? badge(a.outcome) : h('span', { class: 'muted' }, 'in progress')),
                  ),
                ),
              ),
              ),
            )
          : h('p', { class: 'muted' }, 'Not leased yet.'),
      ),
      params.some((p) => p.type === 'code')
        ? h('section', { class: 'panel' }, h('h2', null, 'Code'), params.filter((p) => p.type === 'code').map((p) => codeSection(p, t)))
        : null,
    );
    disposeChart(chart);
    chart = null;
    if (reports.length) {
      chart = makeChart(chartEl);
      if (chart) chart.setOption(reportsOption(reports, objective));
      chartEl.dataset.points = String(reports.length);
    }
    root.dataset.loaded = 'true';
  }

  let trialId = id;

  // The page names a trial by its number (number-N from older links).
  async function resolve() {
    const m = /^(?:number-)?(\d+)$/.exec(id);
    if (!m) throw new ApiError(404, 'not_found', `no trial ${id}`);
    const n = Number(m[1]);
    const d = await api(`/studies/${seg(name)}/trials${query({ after: n > 0 ? n - 1 : null, limit: 1 })}`, { signal: ctx.signal });
    const t = (d.trials || [])[0];
    if (!t || t.number !== n) throw new ApiError(404, 'not_found', `no trial number ${n}`);
    trialId = String(t.id);
  }

  async function load() {
    const t = await api(`/trials/${seg(trialId)}`, { signal: ctx.signal });
    const key = JSON.stringify([t.state, t.value, t.last_step, t.attempts, t.worker, (t.reports || []).length, t.error, t.prune_reason, t.note]);
    if (key !== last) {
      last = key;
      render(t);
    }
    return t;
  }

  (async () => {
    const s = await api(`/studies/${seg(name)}`, { signal: ctx.signal });
    spec = s.spec || {};
    const c = s.counts || {};
    total = (c.pending || 0) + (c.running || 0) + (c.completed || 0) + (c.failed || 0) + (c.pruned || 0);
    await resolve();
    const t = await load();
    if (String(t.source || '').startsWith('llm')) {
      const found = await findCall(name, t.number, ctx.signal).catch((e) => {
        if (e.name === 'AbortError') throw e;
        return null;
      });
      replace(llmBox, found ? llmSection(name, found, t.number) : h('section', { class: 'panel', id: 'trial-llm' }, h('h2', null, 'Proposed by the LLM'), h('p', { class: 'muted' }, 'The call that proposed it is not in the audit log.')));
    }
    let finished = FINISHED.has(t.state);
    ctx.every(POLL_MS, async () => {
      if (finished) return;
      finished = FINISHED.has((await load()).state);
    });
  })().catch((e) => {
    if (e.name === 'AbortError') return;
    replace(box, h('div', { class: 'panel error-box' }, e.status === 404 ? `No trial ${label} in this study.` : `Could not load the trial: ${e.message}`));
  });

  return () => disposeChart(chart);
}
