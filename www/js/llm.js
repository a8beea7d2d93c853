// The LLM transcript of a study: every HTTP exchange with the provider,
// grouped by the proposal it served, with the messages sent, the reasoning
// kept apart, the reply, status, tokens (estimates marked), latency, error
// and the trials the proposal produced.
import { api, seg, query } from './api.js';
import { h, replace, fmtInt, fmtTime } from './dom.js';
import { studyHead, studyTabs } from './study.js';
import { aimsBlock } from './pareto.js';

const POLL_MS = 3000;
const LIMIT = 50;

// The messages of a request, whatever shape the provider used: an array of
// {role, content}, or {system, messages}; content a string or a list of parts.
function messagesOf(request) {
  let r = request;
  if (typeof r === 'string') {
    try {
      r = JSON.parse(r);
    } catch {
      return [{ role: 'request', content: request }];
    }
  }
  const out = [];
  if (r && !Array.isArray(r) && typeof r === 'object') {
    if (r.system) out.push({ role: 'system', content: r.system });
    r = r.messages || [];
  }
  if (!Array.isArray(r)) return [{ role: 'request', content: JSON.stringify(request, null, 2) }];
  for (const m of r) out.push({ role: (m && m.role) || 'message', content: m ? m.content : '' });
  return out;
}

function textOf(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (p && typeof p.text === 'string' ? p.text : JSON.stringify(p, null, 2))).join('\n');
  }
  if (content === null || content === undefined) return '';
  return JSON.stringify(content, null, 2);
}

function message(role, text, cls) {
  return h('div', { class: `msg msg-${cls || role.replace(/[^a-z]/g, '')}` }, h('div', { class: 'msg-role' }, role), h('pre', { class: 'msg-text' }, text));
}

function tokensText(c) {
  const est = c.tokens_estimated ? '~' : '';
  return `${est}${fmtInt(c.tokens_in)} in / ${est}${fmtInt(c.tokens_out)} out tokens${c.tokens_estimated ? ' (estimated)' : ''}`;
}

function modelText(c) {
  const answered = c.model || '';
  const asked = c.model_requested || '';
  if (asked && answered && asked !== answered) return `${answered} (asked ${asked})`;
  return answered || asked;
}

// c: the exchange; ordinal and proposalNo: its number among the study's
// calls and that of its proposal among the study's proposals (1 for the
// first), shown in place of the daemon-wide ids.
function callCard(c, name, open, first, ordinal, proposalNo) {
  const msgs = messagesOf(c.request);
  const trials = Array.isArray(c.trials) ? c.trials : [];
  const proposal = c.proposal || c.id;
  const preview = c.reply ? textOf(c.reply).replace(/\s+/g, ' ').trim() : '';
  const params = c.params && typeof c.params === 'object' ? Object.entries(c.params).map(([k, v]) => `${k} ${v}`).join(', ') : '';
  const details = h(
    'details',
    { open },
    h('summary', null, 'Prompt and reply', preview ? h('span', { class: 'muted small preview' }, ` — reply: ${preview.length > 120 ? `${preview.slice(0, 120)}…` : preview}`) : null),
    h(
      'div',
      { class: 'messages' },
      msgs.map((m) => message(m.role, textOf(m.content))),
      c.reasoning ? message('reasoning', textOf(c.reasoning), 'reasoning') : null,
      c.reply !== null && c.reply !== undefined ? message('reply', textOf(c.reply), 'reply') : h('p', { class: 'muted' }, 'No reply.'),
    ),
  );
  return h(
    'article',
    { class: `call panel${c.error ? ' call-error' : ''}${first ? ' call-first' : ' call-retry'}`, id: `call-${c.id}`, dataset: { id: c.id, proposal, ordinal } },
    first ? h('div', { class: 'proposal-head muted small', title: `proposal id ${proposal}` }, `Proposal ${proposalNo}`) : null,
    h(
      'div',
      { class: 'call-head' },
      h('strong', { title: `call id ${c.id}` }, `Call ${ordinal}`),
      h('span', { class: 'muted' }, `attempt ${c.attempt || 1}`),
      h('span', { class: 'muted' }, fmtTime(c.at)),
      h('span', null, [c.provider, modelText(c)].filter(Boolean).join(' · ')),
      h('span', { class: `status${c.status && c.status >= 200 && c.status < 300 ? '' : ' status-bad'}` }, c.status ? `HTTP ${c.status}` : 'no answer'),
      h('span', { class: 'num tokens' }, tokensText(c)),
      h('span', { class: 'num' }, c.latency_ms !== null && c.latency_ms !== undefined ? `${fmtInt(c.latency_ms)} ms` : ''),
      c.structured ? h('span', { class: 'muted small' }, `structured: ${c.structured}`) : null,
      h(
        'span',
        null,
        trials.length
          ? ['→ ', trials.map((n, i) => [i ? ', ' : '', h('a', { href: `#/studies/${encodeURIComponent(name)}/trials/${n}` }, `trial ${n}`)])]
          : h('span', { class: 'muted' }, 'no trial'),
      ),
    ),
    params ? h('div', { class: 'muted small params' }, `request: ${params}`) : null,
    aimsBlock(c),
    c.error ? h('pre', { class: 'code error-text' }, c.error) : null,
    details,
  );
}

export function mount(root, { name, focus }, ctx) {
  document.title = `LLM · ${name} · hpod`;
  const headBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const summary = h('p', { class: 'muted small', id: 'llm-summary' }, 'Loading the transcript…');
  const list = h('div', { class: 'calls', id: 'llm-calls' });
  const moreBtn = h('button', { type: 'button', class: 'btn', hidden: true, id: 'llm-more' }, 'Load more');
  replace(root, headBox, studyTabs(name, 'llm'), summary, list, h('div', { class: 'center' }, moreBtn));

  let after = null; /* id of the last call shown */
  let atEnd = false;
  let count = 0;
  let errors = 0;
  let proposals = 0;
  let lastProposal = null;

  async function page() {
    const d = await api(`/studies/${seg(name)}/llm-calls${query({ after, limit: LIMIT })}`, { signal: ctx.signal });
    const calls = d.calls || [];
    for (const c of calls) {
      const proposal = c.proposal || c.id;
      const first = proposal !== lastProposal;
      if (first) proposals++;
      lastProposal = proposal;
      count++;
      list.appendChild(callCard(c, name, count === 1 || String(c.id) === focus, first, count, proposals));
      if (c.error) errors++;
      after = c.id;
    }
    if (d.next_after !== null && d.next_after !== undefined) after = d.next_after;
    atEnd = d.next_after === null || d.next_after === undefined || calls.length === 0;
    moreBtn.hidden = atEnd;
    summary.textContent =
      count === 0
        ? 'No LLM call yet. Calls appear here when the study asks its LLM for a proposal.'
        : `${fmtInt(count)} calls for ${fmtInt(proposals)} proposals${atEnd ? '' : ' so far'}${errors ? `, ${fmtInt(errors)} with an error` : ''}.`;
    list.dataset.calls = String(count);
    root.dataset.loaded = 'true';
  }

  moreBtn.addEventListener('click', () => page().catch(() => {}));

  (async () => {
    const s = await api(`/studies/${seg(name)}`, { signal: ctx.signal });
    replace(headBox, studyHead(s));
    await page();
    /* a link to one call: load up to it, then show it */
    for (let i = 0; focus && i < 50 && !document.getElementById(`call-${focus}`) && !atEnd; i++) await page();
    const target = focus && document.getElementById(`call-${focus}`);
    if (target) {
      target.classList.add('call-focus');
      target.scrollIntoView({ block: 'start' });
    }
  })().catch((e) => {
    if (e.name === 'AbortError') return;
    replace(headBox, h('div', { class: 'panel error-box' }, e.status === 404 ? `No study named “${name}”.` : `Could not load the transcript: ${e.message}`));
  });

  ctx.every(POLL_MS, async () => {
    const s = await api(`/studies/${seg(name)}`, { signal: ctx.signal });
    replace(headBox, studyHead(s));
    if (atEnd) await page();
  });
}
