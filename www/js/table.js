// The trial table of a study: server paging (after=, limit=) by trial number
// or by value (order=value|value_desc, the top N of the study), state and
// source filters passed to the server; the other columns sort over all of
// the study's trials once the page has them (allTrials()).
import { api, seg, query } from './api.js';
import { csvHref, csvClick } from './analysis.js';
import { h, replace, fmtNum, fmtParam, fmtTime, fmtDuration, fmtInt, badge, sourceGroup } from './dom.js';

const STATES = ['pending', 'running', 'completed', 'failed', 'pruned'];
/* source filters: the server matches a source or its prefix before ':'
 * (fallback matches fallback:gp); the classical group is filtered here */
const SOURCES = [
  ['llm', 'LLM'],
  ['group:classical', 'classical (any)'],
  ['random', 'random'],
  ['sobol', 'sobol'],
  ['tpe', 'tpe'],
  ['gp', 'gp'],
  ['fallback', 'fallback'],
  ['manual', 'manual'],
];
const SCAN_LIMIT = 500; /* trials per request while a source filter scans */
const SCAN_REQUESTS = 20; /* requests per page at most while scanning */

// Order a and b ascending (dir 1) or descending (-1); missing values last
// either way.
function cmp(a, b, dir) {
  const an = a === null || a === undefined || a === '';
  const bn = b === null || b === undefined || b === '';
  if (an || bn) return an && bn ? 0 : an ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return dir * (a - b);
  return dir * String(a).localeCompare(String(b), 'en', { numeric: true });
}

export class TrialTable {
  // name: the study; spec: its spec; ctx: the view context; trialHref(t)
  // gives a trial's link; allTrials() every trial of the study, or null
  // while they are not all loaded.
  constructor(name, spec, ctx, trialHref, allTrials) {
    this.name = name;
    this.spec = spec;
    this.ctx = ctx;
    this.trialHref = trialHref;
    this.allTrials = allTrials || (() => null);
    this.maximize = spec.objective && spec.objective.direction === 'maximize';
    this.local = false; /* this page was sorted from allTrials() */
    this.objective = (spec.objective && spec.objective.name) || 'value';
    this.params = spec.params || [];
    this.state = '';
    this.source = '';
    this.best = false; /* the top-N view: completed trials, best first */
    this.pageSize = 50;
    this.stack = []; /* after= of the pages before this one */
    this.after = null; /* after= of this page */
    this.next = null;
    this.total = null;
    this.rows = [];
    this.sort = { key: 'number', dir: 1 };
    this.loading = null;
    this.el = this.build();
  }

  columns() {
    const cols = [
      { key: 'number', label: '#', num: true, get: (t) => t.number },
      { key: 'state', label: 'State', get: (t) => t.state },
      { key: 'value', label: this.objective, num: true, get: (t) => t.value },
      { key: 'source', label: 'Source', get: (t) => t.source },
    ];
    for (const p of this.params) {
      if (p.type === 'code') {
        cols.push({
          key: `p:${p.name}`,
          label: p.name,
          get: (t) => (t.params && typeof t.params[p.name] === 'string' && t.params[p.name] !== p.baseline ? 'custom' : 'baseline'),
        });
      } else {
        cols.push({
          key: `p:${p.name}`,
          label: p.name,
          num: p.type !== 'categorical',
          param: true,
          get: (t) => (t.params ? t.params[p.name] : undefined),
        });
      }
    }
    cols.push(
      { key: 'worker', label: 'Worker', get: (t) => t.worker },
      { key: 'attempts', label: 'Attempts', num: true, get: (t) => t.attempts },
      {
        key: 'duration',
        label: 'Duration',
        num: true,
        get: (t) => (t.started_at ? (t.finished_at ? Date.parse(t.finished_at) : Date.now()) - Date.parse(t.started_at) : null),
      },
      { key: 'finished_at', label: 'Finished', get: (t) => t.finished_at },
      { key: 'note', label: 'Note', get: (t) => t.note },
    );
    return cols;
  }

  build() {
    const stateSel = h(
      'select',
      { id: 'filter-state', onchange: (e) => this.setFilter('state', e.target.value) },
      h('option', { value: '' }, 'all states'),
      STATES.map((s) => h('option', { value: s }, s)),
    );
    const sourceSel = h(
      'select',
      { id: 'filter-source', onchange: (e) => this.setFilter('source', e.target.value) },
      h('option', { value: '' }, 'all sources'),
      SOURCES.map(([value, label]) => h('option', { value }, label)),
    );
    const orderSel = h(
      'select',
      { id: 'order', onchange: (e) => this.setFilter('order', e.target.value) },
      h('option', { value: 'asc' }, 'oldest first'),
      h('option', { value: 'desc' }, 'newest first'),
      h('option', { value: 'best' }, 'best first'),
      h('option', { value: '', hidden: true }, 'sorted by a column'),
    );
    this.orderSel = orderSel;
    const sizeSel = h(
      'select',
      {
        id: 'page-size',
        onchange: (e) => {
          this.pageSize = Number(e.target.value);
          this.first();
        },
      },
      [25, 50, 100, 200].map((n) => h('option', { value: n, selected: n === this.pageSize }, `${n} per page`)),
    );
    this.info = h('span', { class: 'muted small', id: 'page-info' });
    this.prevBtn = h('button', { type: 'button', class: 'btn btn-quiet', id: 'page-prev', onclick: () => this.prev() }, '‹ Previous');
    this.nextBtn = h('button', { type: 'button', class: 'btn btn-quiet', id: 'page-next', onclick: () => this.nextPage() }, 'Next ›');
    this.firstBtn = h('button', { type: 'button', class: 'btn btn-quiet', id: 'page-first', onclick: () => this.first() }, '« First');
    this.csvLink = h('a', { class: 'btn btn-quiet', id: 'download-csv', download: `${this.name}-trials.csv`, onclick: csvClick }, 'Download CSV');
    this.updateCsv();
    this.thead = h('thead');
    this.tbody = h('tbody', null, h('tr', null, h('td', { class: 'muted' }, 'Loading…')));
    this.table = h('table', { class: 'grid trials', id: 'trials-table' }, this.thead, this.tbody);
    this.renderHead();
    return h(
      'div',
      null,
      h(
        'div',
        { class: 'toolbar' },
        h('label', null, 'State ', stateSel),
        h('label', null, 'Source ', sourceSel),
        orderSel,
        sizeSel,
        this.csvLink,
        h('span', { class: 'spacer' }),
        this.info,
        this.firstBtn,
        this.prevBtn,
        this.nextBtn,
      ),
      h('div', { class: 'table-wrap' }, this.table),
      (this.note = h('p', { class: 'muted small', id: 'table-note' }, 'A click on a column sorts all trials of the study.')),
    );
  }

  renderHead() {
    const tr = h('tr');
    for (const c of this.columns()) {
      const active = this.sort.key === c.key;
      const th = h(
        'th',
        {
          class: `${c.num ? 'num ' : ''}sortable${active ? ' sorted' : ''}`,
          dataset: { key: c.key },
          'aria-sort': active ? (this.sort.dir > 0 ? 'ascending' : 'descending') : 'none',
          title: `sort by ${c.label}`,
          onclick: () => {
            this.sort = { key: c.key, dir: active ? -this.sort.dir : 1 };
            this.best = false;
            this.orderSel.value = c.key === 'number' ? (this.sort.dir > 0 ? 'asc' : 'desc') : '';
            this.renderHead();
            this.first();
          },
        },
        c.label,
        active ? h('span', { class: 'sort-arrow' }, this.sort.dir > 0 ? ' ▲' : ' ▼') : null,
      );
      tr.appendChild(th);
    }
    replace(this.thead, tr);
  }

  renderRows() {
    const cols = this.columns();
    const col = cols.find((c) => c.key === this.sort.key) || cols[0];
    /* the server or allTrials() sorted them; a page of the server's is
     * sorted here only while the study is still loading */
    const rows = this.serverSorts() || this.local ? this.rows : this.rows.slice().sort((a, b) => cmp(col.get(a), col.get(b), this.sort.dir) || a.number - b.number);
    if (rows.length === 0) {
      replace(this.tbody, h('tr', null, h('td', { colspan: cols.length, class: 'empty' }, 'No trials match.')));
      return;
    }
    replace(
      this.tbody,
      rows.map((t) =>
        h(
          'tr',
          {
            dataset: { number: t.number, id: t.id },
            class: 'clickable',
            onclick: (e) => {
              if (e.target.closest('a')) return;
              location.hash = this.trialHref(t);
            },
          },
          cols.map((c) => this.cell(c, t)),
        ),
      ),
    );
  }

  cell(c, t) {
    const v = c.get(t);
    switch (c.key) {
      case 'number':
        return h('td', { class: 'num' }, h('a', { href: this.trialHref(t) }, String(t.number)));
      case 'state':
        return h('td', null, badge(t.state));
      case 'value':
        return h('td', { class: 'num strong' }, fmtNum(v));
      case 'source':
        return h('td', null, h('span', { class: `src src-${sourceGroup(t.source)}` }, t.source || '—'));
      case 'attempts':
        return h('td', { class: 'num' }, fmtInt(v));
      case 'duration':
        return h('td', { class: 'num nowrap' }, fmtDuration(t.started_at, t.finished_at));
      case 'finished_at':
        return h('td', { class: 'nowrap' }, fmtTime(v));
      case 'note':
        return h('td', { class: 'note-cell', title: v || '' }, v ? (v.length > 60 ? `${v.slice(0, 60)}…` : v) : '');
      default:
        if (c.param) return h('td', { class: c.num ? 'num' : 'cat' }, v === undefined ? h('span', { class: 'muted' }, '—') : fmtParam(v));
        return h('td', null, v === null || v === undefined ? '—' : String(v));
    }
  }

  // The CSV link carries the table's filters and, where the daemon can sort
  // that way, its order (a column sorted here: by number).
  updateCsv() {
    const state = this.best && !this.state ? 'completed' : this.state;
    const server = this.serverSorts();
    this.csvLink.href = csvHref(this.name, { state, source: this.source, order: server === 'asc' ? null : server });
    this.csvLink.title = server ? 'every trial that matches the filters, in this order' : 'every trial that matches the filters, by number';
  }

  setFilter(which, value) {
    if (which === 'order') {
      this.best = value === 'best';
      if (value === 'best') this.sort = { key: 'value', dir: this.maximize ? -1 : 1 };
      else if (value) this.sort = { key: 'number', dir: value === 'desc' ? -1 : 1 };
      this.renderHead();
    } else this[which] = value;
    this.first();
  }

  // The server's order= for the sort, or null when the server cannot sort
  // by that column.
  serverSorts() {
    if (this.sort.key === 'number') return this.sort.dir > 0 ? 'asc' : 'desc';
    if (this.sort.key === 'value') return this.sort.dir > 0 ? 'value' : 'value_desc';
    return null;
  }

  // The trials matching the filters, sorted, from allTrials(); null when the
  // study is not loaded yet.
  localRows() {
    const all = this.allTrials();
    if (!all) return null;
    const group = this.source.startsWith('group:') ? this.source.slice(6) : null;
    const src = this.source;
    const col = this.columns().find((c) => c.key === this.sort.key);
    const rows = all.filter(
      (t) =>
        (!this.state || t.state === this.state) &&
        (!src || (group ? sourceGroup(t.source) === group : t.source === src || String(t.source).startsWith(`${src}:`))),
    );
    return rows.sort((a, b) => cmp(col.get(a), col.get(b), this.sort.dir) || a.number - b.number);
  }

  first() {
    this.stack = [];
    this.after = null;
    this.load();
  }

  prev() {
    if (this.stack.length === 0) return;
    this.after = this.stack.pop();
    this.load();
  }

  nextPage() {
    if (this.next === null) return;
    this.stack.push(this.after);
    this.after = this.next;
    this.load();
  }

  // Fetch the current page again (polling and paging both come here).
  async load() {
    this.updateCsv();
    const want = JSON.stringify([this.state, this.source, this.sort, this.best, this.after, this.pageSize]);
    this.wanted = want;
    let rows = [];
    let next = null;
    let total = null;
    const base = `/studies/${seg(this.name)}/trials`;
    const server = this.serverSorts();
    const order = server === 'asc' ? null : server;
    const byValue = order === 'value' || order === 'value_desc';
    const state = this.best && !this.state ? 'completed' : this.state;
    const group = this.source.startsWith('group:') ? this.source.slice(6) : null;
    const local = server ? null : this.localRows();
    this.local = local !== null;
    if (local) {
      const start = this.after === null ? 0 : this.after;
      rows = local.slice(start, start + this.pageSize);
      next = start + this.pageSize < local.length ? start + this.pageSize : null;
      total = local.length;
    } else if (!server) {
      /* the study is still loading: this page of trials by number */
      const d = await api(base + query({ state, source: group ? null : this.source, after: this.after, limit: this.pageSize }), { signal: this.ctx.signal });
      rows = (d.trials || []).filter((t) => !group || sourceGroup(t.source) === group);
      next = d.next_after ?? null;
      total = d.total ?? null;
    } else if (!group) {
      const q = query({ state, source: this.source, order, after: this.after, limit: this.pageSize });
      const d = await api(base + q, { signal: this.ctx.signal });
      rows = d.trials || [];
      next = d.next_after ?? null;
      total = d.total ?? null;
    } else {
      /* scan pages until a page of matches is found */
      let after = this.after;
      for (let i = 0; i < SCAN_REQUESTS && rows.length < this.pageSize; i++) {
        const d = await api(base + query({ state, order, after, limit: SCAN_LIMIT }), { signal: this.ctx.signal });
        const list = d.trials || [];
        let k = 0;
        for (; k < list.length; k++) {
          if (sourceGroup(list[k].source) !== group) continue;
          rows.push(list[k]);
          if (rows.length === this.pageSize) break;
        }
        if (rows.length === this.pageSize) {
          /* by value, after= is a position in the order */
          next = byValue ? (after === null ? 0 : after) + k + 1 : rows[rows.length - 1].number;
          break;
        }
        after = d.next_after ?? null;
        next = after;
        if (after === null) break;
      }
    }
    if (this.wanted !== want) return; /* a newer request took over */
    this.rows = rows;
    this.next = next;
    this.total = total;
    this.renderRows();
    this.renderInfo();
    this.table.dataset.rows = String(rows.length);
    this.table.dataset.order = server || `local:${this.sort.key}`;
    this.table.dataset.loaded = 'true';
  }

  renderInfo() {
    const start = this.stack.length * this.pageSize;
    let text;
    if (this.rows.length === 0) text = 'no trials';
    else {
      const first = start + 1;
      const last = start + this.rows.length;
      text = this.total !== null ? `${fmtInt(first)}–${fmtInt(last)} of ${fmtInt(this.total)}` : `${fmtInt(first)}–${fmtInt(last)}`;
      if (this.best) text += ' completed, best first';
    }
    this.info.textContent = text;
    const partial = !this.serverSorts() && !this.local;
    this.note.textContent = partial
      ? 'Sorted within this page while the study loads; then over all of its trials.'
      : 'A click on a column sorts all trials of the study; “best first” with a page size is its top N.';
    this.prevBtn.disabled = this.stack.length === 0;
    this.firstBtn.disabled = this.stack.length === 0;
    this.nextBtn.disabled = this.next === null;
  }
}
