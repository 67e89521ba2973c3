// The wallboard (SPEC §9 A5): each desk's live figures — service level against its 85 %
// target, calls waiting, the longest wait, ASA, abandon rate, agents by state — from
// GET /v1/queue/stats/stream (Server-Sent Events read with fetch(), so the bearer token
// travels in a header, never in a URL). The page itself needs no token; the data does: it
// is asked for once and kept in sessionStorage, or given in the address's fragment
// (`/wallboard/#token=…`, never sent to a server) for a wall screen that starts unattended.
// Chinese by default, English on a switch.

const TOKEN_KEY = 'callgate.wallboard.token';
const LANG_KEY = 'callgate.lang';
const WATCHDOG_MS = 40_000; // the server sends a keepalive every 15 s
const MAX_BACKOFF_MS = 15_000;
const $ = (selector) => document.querySelector(selector);

const TEXT = {
  zh: {
    title: '服务水平看板', 'lang.switch': 'English', signout: '退出',
    'signin.title': '查看看板需要访问令牌',
    'signin.intro': '请输入 IVR、坐席或管理员令牌。令牌只保存在本浏览器标签页中。',
    'signin.token': '访问令牌', 'signin.submit': '显示看板',
    'signin.denied': '令牌无效、已吊销或无权查看看板。',
    'conn.connecting': '正在连接…', 'conn.live': '实时', 'conn.retrying': '连接中断，正在重连…',
    'conn.denied': '令牌被拒绝',
    'desk.vip': 'VIP专席', 'desk.general': '普通队列',
    sl: '服务水平（近30分钟）', target: '目标 {target}（{threshold} 秒内人工接通）',
    waiting: '排队', longest: '最长等待', asa: '平均应答', abandon: '放弃率', offered: '呼入',
    'agents.available': '空闲 {n}', 'agents.busy': '通话 {n}', 'agents.wrap_up': '话后 {n}',
    'agents.away': '小休 {n}', 'agents.staffed': '在岗 {n}',
    interval: '本时段 {from}–{to}：服务水平 {sl}，呼入 {offered}，接通 {answered}，放弃 {abandoned}（短放弃 {short}）',
    rules: '服务水平 = {threshold} 秒内接通 ÷（呼入 − {short} 秒内放弃）；近30分钟与当前15分钟时段（A4、A5、Q5）。',
    seconds: '{n} 秒', none: '—',
  },
  en: {
    title: 'Service-level wallboard', 'lang.switch': '中文', signout: 'Sign out',
    'signin.title': 'The wallboard needs an access token',
    'signin.intro': 'Enter an IVR, agent or admin token. It is kept in this browser tab only.',
    'signin.token': 'Access token', 'signin.submit': 'Show the wallboard',
    'signin.denied': 'The token is unknown, revoked, or may not read the wallboard.',
    'conn.connecting': 'Connecting…', 'conn.live': 'Live', 'conn.retrying': 'Disconnected, reconnecting…',
    'conn.denied': 'Token refused',
    'desk.vip': 'VIP desk', 'desk.general': 'General queue',
    sl: 'Service level (last 30 min)', target: 'target {target} (answered by a person within {threshold} s)',
    waiting: 'Waiting', longest: 'Longest wait', asa: 'ASA', abandon: 'Abandoned', offered: 'Offered',
    'agents.available': 'available {n}', 'agents.busy': 'on calls {n}', 'agents.wrap_up': 'wrap-up {n}',
    'agents.away': 'away {n}', 'agents.staffed': 'staffed {n}',
    interval: 'This interval {from}–{to}: service level {sl}, offered {offered}, answered {answered}, abandoned {abandoned} ({short} short)',
    rules: 'Service level = answered within {threshold} s ÷ (offered − abandoned within {short} s); last 30 minutes and the current 15-minute interval (A4, A5, Q5).',
    seconds: '{n} s', none: '—',
  },
};

let lang = readLang();
let latest = null;
let controller = null;
let stopped = true;

function readLang() {
  try {
    return localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh';
  } catch {
    return 'zh';
  }
}

function t(key, args) {
  const text = TEXT[lang][key] ?? TEXT.zh[key] ?? key;
  return args ? text.replace(/\{(\w+)\}/g, (m, name) => (name in args ? String(args[name]) : m)) : text;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.className = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === '') continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const pct = (share) => (share === null || share === undefined ? t('none') : `${(share * 100).toFixed(1)}%`);
const secs = (value) => (value === null || value === undefined ? t('none') : t('seconds', { n: Math.round(value) }));

const HHMM = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const CLOCK = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

/** Split complete SSE frames off `buffer`: → {events: [{event, data}], rest}. */
export function parseSse(buffer) {
  const events = [];
  const frames = buffer.replace(/\r\n?/g, '\n').split('\n\n');
  const rest = frames.pop();
  for (const frame of frames) {
    let event = 'message';
    const data = [];
    for (const line of frame.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) events.push({ event, data: data.join('\n') });
  }
  return { events, rest };
}

// --- rendering --------------------------------------------------------------------------

function deskPanel(name, d, stats) {
  const w = d.window;
  const i = d.interval;
  const figure = (key, value, testid, alert = false) => el('div', { class: alert ? 'figure alert' : 'figure' },
    el('span', { class: 'label' }, t(key)), el('span', { class: 'value', 'data-testid': testid }, value));
  return el('section', { class: 'desk', 'data-testid': `desk-${name}`, 'data-meets': w.meets_target === null ? null : String(w.meets_target),
    'aria-labelledby': `title-${name}` },
  el('h2', { id: `title-${name}` }, t(`desk.${name}`)),
  el('div', { class: 'hero' },
    el('span', { class: 'sl', 'data-testid': `sl-${name}` }, pct(w.service_level)),
    el('span', { class: 'target' }, t('sl'), ' · ', t('target', { target: pct(stats.target), threshold: stats.threshold_s }))),
  el('div', { class: 'figures' },
    figure('waiting', String(d.waiting), `waiting-${name}`, d.waiting > 0 && d.agents.available === 0),
    figure('longest', secs(d.longest_wait_s), `longest-${name}`, d.longest_wait_s > stats.threshold_s),
    figure('asa', secs(w.asa_s), `asa-${name}`),
    figure('abandon', pct(w.abandon_rate), `abandon-${name}`),
    figure('offered', String(w.offered), `offered-${name}`)),
  el('div', { class: 'agents', 'data-testid': `agents-${name}` },
    ['available', 'busy', 'wrap_up', 'away', 'staffed'].map((s) => el('span', { class: 'pill', 'data-testid': `agents-${name}-${s}` },
      t(`agents.${s}`, { n: d.agents[s] })))),
  el('p', { class: 'interval', 'data-testid': `interval-${name}` }, t('interval', {
    from: HHMM.format(new Date(i.starts_at)), to: HHMM.format(new Date(i.ends_at)), sl: pct(i.service_level),
    offered: i.offered, answered: i.answered, abandoned: i.abandoned, short: i.short_abandoned,
  })));
}

function render() {
  if (!latest) return;
  const board = $('#board');
  board.replaceChildren(...Object.entries(latest.desks).map(([name, d]) => deskPanel(name, d, latest)));
  board.hidden = false;
  const rules = $('#rules');
  rules.textContent = t('rules', { threshold: latest.threshold_s, short: latest.short_abandon_s });
  rules.hidden = false;
  document.body.dataset.updated = latest.at;
}

function applyLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    // storage may be disabled; the switch still works for this page
  }
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  document.title = `callgate ${t('title')}`;
  $('#lang').textContent = t('lang.switch');
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  const conn = $('#conn');
  if (conn.dataset.state) conn.textContent = t(`conn.${conn.dataset.state}`);
  render();
}

function showConnection(state) {
  const conn = $('#conn');
  conn.hidden = false;
  conn.dataset.state = state;
  conn.textContent = t(`conn.${state}`);
}

// --- the stream -------------------------------------------------------------------------

async function once(token) {
  const ctl = new AbortController();
  controller = ctl;
  let watchdog = null;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => ctl.abort(), WATCHDOG_MS);
  };
  try {
    arm();
    const response = await fetch('/v1/queue/stats/stream', {
      headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
      cache: 'no-store',
      signal: ctl.signal,
    });
    if ([401, 403].includes(response.status)) return 'denied';
    if (!response.ok || !response.body) return 'failed';
    showConnection('live');
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      arm();
      buffer += value;
      const parsed = parseSse(buffer);
      buffer = parsed.rest;
      for (const item of parsed.events) {
        if (item.event !== 'stats') continue;
        latest = JSON.parse(item.data);
        render();
      }
    }
    return 'opened';
  } catch {
    return 'failed';
  } finally {
    clearTimeout(watchdog);
  }
}

async function follow(token) {
  stopped = false;
  let backoff = 1000;
  while (!stopped) {
    showConnection(latest ? 'retrying' : 'connecting');
    const outcome = await once(token);
    if (stopped) return;
    if (outcome === 'denied') {
      showConnection('denied');
      signOut(t('signin.denied'));
      return;
    }
    if (outcome === 'opened') backoff = 1000;
    showConnection('retrying');
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

// --- sign-in ----------------------------------------------------------------------------

function start(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  $('#signin').hidden = true;
  $('#signout').hidden = false;
  follow(token);
}

function signOut(message = '') {
  stopped = true;
  if (controller) controller.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  latest = null;
  $('#board').hidden = true;
  $('#rules').hidden = true;
  $('#signout').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message;
  $('#token').value = '';
  $('#token').focus();
}

function tokenFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return null;
  history.replaceState(null, '', window.location.pathname + window.location.search); // out of the address bar
  return decodeURIComponent(match[1]);
}

function main() {
  applyLang(lang);
  $('#lang').addEventListener('click', () => applyLang(lang === 'en' ? 'zh' : 'en'));
  $('#signout').addEventListener('click', () => signOut());
  $('#signin').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('#token').value.trim();
    if (token) start(token);
  });
  const tick = () => { $('#clock').textContent = CLOCK.format(new Date()); };
  tick();
  setInterval(tick, 1000);
  const token = tokenFromFragment() || sessionStorage.getItem(TOKEN_KEY);
  if (token) start(token);
  else signOut();
  document.body.dataset.ready = 'true';
}

main();
