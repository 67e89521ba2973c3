// The agents' desktop widget: sign-in with a bearer token (kept in sessionStorage, so it
// dies with the tab), then the agent view (screen pop, look-up, the customer) and/or the
// branch view (work-order queue), chosen by the token's role (GET /v1/me).
import { AgentDesk } from './agentdesk.js';
import { Api, mask } from './api.js';
import { CustomerPanel } from './customer.js';
import { clear, h, setI18n, translate } from './dom.js';
import { fmtTime, getLang, setLang, t } from './i18n.js';
import { errorSentence } from './messages.js';
import { CallStream } from './stream.js';
import { WorkOrderPanel } from './workorders.js';

const TOKEN_KEY = 'callgate.token';
const AGENT_KEY = 'callgate.agent';
const HISTORY = 10;
const $ = (selector) => document.querySelector(selector);

const state = {
  api: null,
  me: null,
  agentId: null,
  stream: null,
  calls: [], // newest first
  currentCall: null,
  customer: null,
  orders: null,
};

function announce(text) {
  const live = $('#live');
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 50);
}

// --- language ---------------------------------------------------------------------------

function applyLang(lang) {
  setLang(lang);
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  document.title = t('app.title');
  const button = $('#lang-switch');
  button.textContent = t('lang.switch');
  button.setAttribute('aria-label', t('lang.switchLabel'));
  translate(document.body);
}

// --- sign-in ----------------------------------------------------------------------------

async function signIn(token, agentId) {
  const api = new Api(token);
  const res = await api.get('/v1/me');
  if (!res.ok) return { error: res };
  if (!['agent', 'branch', 'admin'].includes(res.data.role)) return { error: { status: 403, data: { code: 'role' } } };
  state.api = api;
  state.me = res.data;
  // A token bound to an agent (A1) is that agent's, whatever was typed.
  state.agentId = res.data.agent_id || agentId || null;
  agentId = state.agentId;
  sessionStorage.setItem(TOKEN_KEY, token);
  if (agentId) sessionStorage.setItem(AGENT_KEY, agentId);
  else sessionStorage.removeItem(AGENT_KEY);
  await startSession();
  return {};
}

function signOut() {
  if (state.stream) state.stream.stop();
  if (state.desk) state.desk.stop();
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(AGENT_KEY);
  Object.assign(state, { api: null, me: null, agentId: null, stream: null, calls: [], currentCall: null,
    customer: null, orders: null, desk: null });
  $('#app').hidden = true;
  $('#signin').hidden = false;
  $('#who').textContent = '';
  $('#conn').hidden = true;
  $('#signout').hidden = true;
  clear($('#customer'));
  clear($('#calls-list'));
  clear($('#orders-root'));
  $('#token').value = '';
  $('#token').focus();
}

function setupSignIn() {
  $('#signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = $('#token').value.trim();
    const agentId = $('#agent-id').value.trim();
    const error = $('#signin-error');
    clear(error);
    if (!token) {
      error.append(h('p', { class: 'message error', role: 'alert', i18n: 'signin.needToken' }));
      $('#token').focus();
      return;
    }
    if (agentId && !/^[A-Za-z0-9@._-]{1,64}$/.test(agentId)) {
      error.append(h('p', { class: 'message error', role: 'alert', i18n: 'signin.badAgent' }));
      $('#agent-id').focus();
      return;
    }
    const button = $('#signin-submit');
    button.disabled = true;
    const outcome = await signIn(token, agentId);
    button.disabled = false;
    if (outcome.error) {
      const code = outcome.error.data && outcome.error.data.code;
      error.append(h('p', { class: 'message error', role: 'alert', 'data-testid': 'signin-error' },
        ...(code === 'role' ? [h('span', { i18n: 'signin.badRole' })] : errorSentence(outcome.error))));
    }
  });
}

// --- after sign-in ----------------------------------------------------------------------

async function startSession() {
  const me = state.me;
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#signout').hidden = false;
  const who = $('#who');
  clear(who).append(
    h('span', { i18n: `role.${me.role}` }),
    me.branch ? ` · ${me.branch.name}` : '',
    state.agentId ? h('span', { i18n: ['who.agent', { id: state.agentId }] }) : '');
  const agentView = me.role === 'agent' || me.role === 'admin';
  const branchView = me.role === 'branch' || me.role === 'admin';
  // An administrator has both views, one at a time behind the tabs (the agent's first).
  $('#agent-view').hidden = !agentView;
  $('#branch-view').hidden = agentView || !branchView;
  $('#view-tabs').hidden = !(agentView && branchView);
  if (agentView) startAgent();
  if (branchView) await startBranch();
  (agentView ? $('#lookup-number') : $('#order-filter')).focus();
}

function startAgent() {
  state.customer = new CustomerPanel($('#customer'), { api: state.api, announce });
  if (!state.agentId) {
    $('#conn').hidden = true;
    clear($('#calls-list')).append(h('p', { class: 'note', i18n: 'calls.noAgent' }));
    return;
  }
  $('#conn').hidden = false;
  state.stream = new CallStream({
    api: state.api,
    agentId: state.agentId,
    onCall: (call) => {
      receiveCall(call, true);
      if (state.desk) state.desk.refresh();
    },
    onState: showConnection,
    onResync: loadCallHistory,
  });
  state.stream.start();
  loadCallHistory();
  state.desk = new AgentDesk($('#agent-desk'), { api: state.api, agentId: state.agentId, announce, onTaken: showTaken });
  state.desk.start();
}

function showConnection(status) {
  const conn = $('#conn');
  conn.dataset.state = status;
  setI18n(conn, `conn.${status}`);
}

async function loadCallHistory() {
  const res = await state.api.get(`/v1/agents/${encodeURIComponent(state.agentId)}/calls`);
  if (!res.ok) return;
  // Merge: the stream may already have delivered some of these.
  const known = new Set(state.calls.map((c) => c.call_id));
  for (const call of res.data.items.slice().reverse()) {
    if (!known.has(call.call_id)) state.calls.push(call);
  }
  state.calls.sort((a, b) => (a.connected_at < b.connected_at ? 1 : -1));
  state.calls = state.calls.slice(0, HISTORY);
  renderCalls();
}

/** The call "next call" just gave this agent (A4): its lookup answer, as a screen pop would show it. */
async function showTaken(taken) {
  const res = await state.api.get(`/v1/calls/${encodeURIComponent(taken.call_id)}`);
  const answer = res.ok ? res.data : { msisdn: taken.ani, known: false, degraded: true, tier: null };
  receiveCall({ call_id: taken.call_id, agent_id: state.agentId, connected_at: new Date().toISOString(), answer }, true);
}

/** A screen pop: the new caller replaces the one on screen; the previous stay in the list. */
function receiveCall(call, live) {
  state.calls = [call, ...state.calls.filter((c) => c.call_id !== call.call_id)].slice(0, HISTORY);
  showCall(call);
  if (live) {
    const a = call.answer;
    const who = a.msisdn ? mask(a.msisdn) : t('call.withheld');
    const level = a.tier ? (getLang() === 'en' ? a.tier.name_en : a.tier.name_zh) : t('call.unknownCaller');
    announce(t('call.announce', { who, level }));
  }
}

function showCall(call) {
  state.currentCall = call;
  renderCalls();
  const a = call.answer;
  // A degraded answer may not know a subscriber the database does: look them up anyway.
  if (a.msisdn && (a.known || a.degraded)) state.customer.open(a.msisdn, call);
  else state.customer.showUnknown(call);
}

function renderCalls() {
  const list = clear($('#calls-list'));
  if (!state.calls.length) {
    list.append(h('p', { class: 'note', 'data-testid': 'calls-empty', i18n: 'calls.none' }));
    return;
  }
  list.append(h('ol', { class: 'calls', 'data-testid': 'calls' }, state.calls.map((call) => {
    const a = call.answer;
    const current = state.currentCall && state.currentCall.call_id === call.call_id;
    return h('li', {},
      h('button', { type: 'button', class: current ? 'call current' : 'call', 'aria-current': current ? 'true' : null,
        'data-call-id': call.call_id, onclick: () => showCall(call) },
        h('span', { class: 'call-number' }, a.msisdn ? mask(a.msisdn) : h('span', { i18n: 'call.withheld' })),
        a.tier
          ? h('span', { class: `badge small tier-${a.tier.level}`, bi: { zh: a.tier.name_zh, en: a.tier.name_en } })
          : h('span', { class: 'badge small tier-unknown', i18n: 'call.unknownCaller' }),
        h('span', { class: 'call-time' }, fmtTime(call.connected_at))));
  })));
}

function setupLookup() {
  const input = $('#lookup-number');
  $('#lookup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const raw = input.value.replace(/[\s-]/g, '');
    const error = clear($('#lookup-error'));
    if (!raw) {
      error.append(h('p', { class: 'message error', role: 'alert', i18n: 'lookup.empty' }));
      return;
    }
    state.currentCall = null;
    renderCalls();
    state.customer.open(raw, null);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      input.value = '';
      clear($('#lookup-error'));
    }
  });
}

async function startBranch() {
  const branches = new Map();
  const res = await state.api.get('/v1/branches');
  if (res.ok) for (const b of res.data.items) branches.set(b.code, b);
  state.orders = new WorkOrderPanel($('#orders-root'), { api: state.api, me: state.me, branches, announce });
  await state.orders.refresh();
}

function setupTabs() {
  for (const button of document.querySelectorAll('#view-tabs button')) {
    button.addEventListener('click', () => {
      const target = button.dataset.view;
      for (const other of document.querySelectorAll('#view-tabs button')) {
        other.setAttribute('aria-pressed', other === button ? 'true' : 'false');
      }
      $('#agent-view').hidden = target !== 'agent';
      $('#branch-view').hidden = target !== 'branch';
    });
  }
}

// --- start --------------------------------------------------------------------------------

async function main() {
  applyLang(getLang());
  $('#lang-switch').addEventListener('click', () => applyLang(getLang() === 'en' ? 'zh' : 'en'));
  $('#signout').addEventListener('click', signOut);
  setupSignIn();
  setupLookup();
  setupTabs();
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    const outcome = await signIn(token, sessionStorage.getItem(AGENT_KEY));
    if (outcome.error) signOut();
  } else {
    $('#signin').hidden = false;
    $('#token').focus();
  }
  document.body.dataset.ready = 'true';
}

main();
