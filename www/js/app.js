// Entry point: the header, the hash router, the status line (loading,
// unreachable daemon, token needed) and the life cycle of the views.
import { api, status, getToken, setToken } from './api.js';
import { h, replace } from './dom.js';
import * as studiesView from './studies.js';
import * as studyView from './study.js';
import * as trialView from './trial.js';
import * as llmView from './llm.js';

const main = document.getElementById('main');
const banner = document.getElementById('banner');
const loading = document.getElementById('loading');
const tokenDialog = document.getElementById('token-dialog');
const tokenForm = document.getElementById('token-form');
const tokenInput = document.getElementById('token-input');
const tokenReason = document.getElementById('token-reason');
const tokenButton = document.getElementById('token-button');

let current = null; /* {controller, view} of the mounted view */

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { view: studiesView, args: {} };
  if (parts[0] === 'studies' && parts.length === 2) return { view: studyView, args: { name: parts[1] } };
  if (parts[0] === 'studies' && parts.length === 3 && parts[2] === 'llm')
    return { view: llmView, args: { name: parts[1] } };
  if (parts[0] === 'studies' && parts.length === 4 && parts[2] === 'llm')
    return { view: llmView, args: { name: parts[1], focus: parts[3] } };
  if (parts[0] === 'studies' && parts.length === 4 && parts[2] === 'trials')
    return { view: trialView, args: { name: parts[1], id: parts[3] } };
  return null;
}

// Run fn every ms milliseconds while the view lives (not while the tab is
// hidden); the first run is after ms.
function makeEvery(signal) {
  return (ms, fn) => {
    let timer = null;
    const run = async () => {
      if (signal.aborted) return;
      if (!document.hidden) {
        try {
          await fn();
        } catch (e) {
          if (e.name !== 'AbortError' && e.status !== 0 && e.status !== 401) console.warn(e.message);
        }
      }
      if (!signal.aborted) timer = setTimeout(run, ms);
    };
    timer = setTimeout(run, ms);
    signal.addEventListener('abort', () => clearTimeout(timer));
  };
}

function render() {
  if (current) {
    current.controller.abort();
    if (current.dispose) current.dispose();
    current = null;
  }
  window.scrollTo(0, 0);
  const r = route();
  if (!r) {
    replace(main, h('div', { class: 'panel error-box' }, 'No such page. ', h('a', { href: '#/' }, 'Back to the studies')));
    return;
  }
  const controller = new AbortController();
  const ctx = { signal: controller.signal, every: makeEvery(controller.signal) };
  replace(main);
  delete main.dataset.loaded; /* each view sets it once its data is shown */
  const dispose = r.view.mount(main, r.args, ctx);
  current = { controller, dispose };
}

/* Status line: loading indicator, unreachable daemon, token. */
let busyTimer = null;
status.addEventListener('busy', (e) => {
  if (e.detail > 0) {
    if (!busyTimer) busyTimer = setTimeout(() => loading.classList.add('active'), 150);
  } else {
    clearTimeout(busyTimer);
    busyTimer = null;
    loading.classList.remove('active');
  }
});
status.addEventListener('unreachable', () => {
  replace(
    banner,
    h('strong', null, 'hpod cannot be reached'),
    ` at ${location.origin}. The page keeps retrying; check that the daemon runs.`,
  );
  banner.hidden = false;
  document.body.dataset.reachable = 'false';
});
status.addEventListener('reachable', () => {
  if (document.body.dataset.reachable === 'false') {
    banner.hidden = true;
    document.body.dataset.reachable = 'true';
  }
});
status.addEventListener('auth', (e) => {
  if (tokenDialog.open) return;
  tokenReason.textContent = `${e.detail}. Enter an hpod token (read role is enough); it is kept in this tab only.`;
  tokenInput.value = '';
  tokenDialog.showModal();
});
tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const t = tokenInput.value.trim();
  if (!t) return;
  setToken(t);
  tokenDialog.close();
  updateTokenButton();
  render();
  if (!document.getElementById('version').textContent) loadVersion();
});
document.getElementById('token-cancel').addEventListener('click', () => tokenDialog.close());
tokenButton.addEventListener('click', () => {
  if (getToken()) {
    setToken('');
    updateTokenButton();
    render();
  } else {
    tokenReason.textContent = 'Enter an hpod token; it is kept in this tab only.';
    tokenDialog.showModal();
  }
});

function updateTokenButton() {
  tokenButton.textContent = getToken() ? 'Forget token' : 'Token';
}

async function loadVersion() {
  try {
    const v = await api('/version');
    const text = typeof v === 'string' ? v : v && (v.version || v.hpod);
    if (text) document.getElementById('version').textContent = `v${String(text).replace(/^v/, '')}`;
  } catch {
    /* the banner or the token dialog already says why */
  }
}

window.addEventListener('hashchange', render);
updateTokenButton();
loadVersion();
render();
