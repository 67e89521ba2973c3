// The agent's own card (SPEC §9): the star in force with its explanation (A2), the state
// switch (available / wrap-up / away, A4) and "next call" — callgate chooses the waiting
// call this agent takes (A4) and the page shows its caller at once.
// Shown only for an agent of the directory (GET /v1/agents/{id} answers 200).
import { path } from './api.js';
import { clear, h } from './dom.js';
import { addStrings, fmtTime } from './i18n.js';

const REFRESH_MS = 10_000; // the ACD may change the state too (busy, wrap-up after a call)
const SWITCH = ['available', 'wrap_up', 'away'];

addStrings(
  {
    'desk.title': '我的坐席状态',
    'desk.starWhy': '为什么是这个星级',
    'desk.stateNow': '当前状态：',
    'desk.since': '（自 {time}）',
    'desk.switch': '切换状态',
    'desk.state.available': '空闲',
    'desk.state.busy': '通话中',
    'desk.state.wrap_up': '话后处理',
    'desk.state.away': '小休',
    'desk.state.offline': '离线',
    'desk.next': '接下一个电话',
    'desk.nextHint': '由 callgate 按等待时间、客户级别和您的星级选择下一个来电。',
    'desk.nextTaken': '已分配来电 {call}（{desk}，已等待 {waited} 秒），客户信息已弹出。',
    'desk.nextNone': '目前没有您可以接的来电。',
    'desk.nextNotAvailable': '请先切换为“空闲”，再接下一个电话。',
    'desk.failed': '操作失败（{code}），请稍后再试。',
    'desk.vip': 'VIP专席',
    'desk.general': '普通队列',
    'desk.stars.5': '五星坐席',
    'desk.stars.4': '四星坐席',
    'desk.stars.3': '三星坐席',
    'desk.stars.2': '二星坐席',
    'desk.stars.1': '一星坐席',
  },
  {
    'desk.title': 'My agent status',
    'desk.starWhy': 'Why this star',
    'desk.stateNow': 'State: ',
    'desk.since': ' (since {time})',
    'desk.switch': 'Change state',
    'desk.state.available': 'Available',
    'desk.state.busy': 'On a call',
    'desk.state.wrap_up': 'Wrap-up',
    'desk.state.away': 'Away',
    'desk.state.offline': 'Offline',
    'desk.next': 'Next call',
    'desk.nextHint': 'callgate chooses the next caller by waiting time, customer level and your star.',
    'desk.nextTaken': 'Call {call} is yours ({desk}, waited {waited} s); the customer is on screen.',
    'desk.nextNone': 'No waiting call you may take right now.',
    'desk.nextNotAvailable': 'Switch to "Available" first, then take the next call.',
    'desk.failed': 'That did not work ({code}); please try again shortly.',
    'desk.vip': 'VIP desk',
    'desk.general': 'general queue',
    'desk.stars.5': 'five-star agent',
    'desk.stars.4': 'four-star agent',
    'desk.stars.3': 'three-star agent',
    'desk.stars.2': 'two-star agent',
    'desk.stars.1': 'one-star agent',
  },
);

export class AgentDesk {
  constructor(root, { api, agentId, announce, onTaken }) {
    Object.assign(this, { root, api, agentId, announce, onTaken });
    this.view = null;
    this.timer = null;
    this.result = null;
  }

  async start() {
    await this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.root.hidden = true;
    clear(this.root);
  }

  async refresh() {
    const res = await this.api.get(path`/v1/agents/${this.agentId}`);
    if (!res.ok) {
      // Not an agent of the directory (a free-form screen-pop id), or not this token's agent.
      this.root.hidden = true;
      return;
    }
    this.view = res.data;
    this.render();
  }

  render() {
    const v = this.view;
    const stars = '★'.repeat(v.star) + '☆'.repeat(5 - v.star);
    const result = this.result;
    clear(this.root).append(
      h('h2', { id: 'desk-title', i18n: 'desk.title' }),
      h('p', { class: 'agent-star', 'data-testid': 'agent-star', 'data-star': String(v.star) },
        h('span', { class: 'stars', 'aria-hidden': 'true' }, stars), ' ',
        h('span', { class: 'star-name', i18n: `desk.stars.${v.star}` })),
      h('details', { class: 'star-why' },
        h('summary', { i18n: 'desk.starWhy' }),
        h('p', { 'data-testid': 'agent-star-explanation', bi: v.explanation })),
      h('p', { class: 'agent-state' },
        h('span', { i18n: 'desk.stateNow' }),
        h('strong', { 'data-testid': 'agent-state', 'data-state': v.state, i18n: `desk.state.${v.state}` }),
        v.since ? h('span', { class: 'muted', i18n: ['desk.since', { time: fmtTime(v.since) }] }) : ''),
      h('div', { class: 'state-switch', role: 'group', i18nAttrs: { 'aria-label': 'desk.switch' } },
        SWITCH.map((state) => h('button', {
          type: 'button', 'data-testid': `state-${state}`, 'aria-pressed': v.state === state ? 'true' : 'false',
          onclick: () => this.setState(state), i18n: `desk.state.${state}`,
        }))),
      h('button', { type: 'button', class: 'primary next-call', 'data-testid': 'next-call',
        disabled: v.state !== 'available', onclick: () => this.next(), i18n: 'desk.next' }),
      h('p', { class: 'hint', i18n: 'desk.nextHint' }),
      h('div', { 'data-testid': 'next-result', role: 'status' },
        result ? h('p', { class: `message ${result.kind}`, i18n: [result.key, result.args || {}] }) : ''),
    );
    this.root.hidden = false;
  }

  async setState(state) {
    const res = await this.api.request('PUT', path`/v1/agents/${this.agentId}/state`, { body: { state } });
    this.result = res.ok ? null : { kind: 'error', key: 'desk.failed', args: { code: res.data.code } };
    await this.refresh();
  }

  async next() {
    const res = await this.api.post(path`/v1/agents/${this.agentId}/next`, {});
    if (res.status === 200) {
      const c = res.data;
      this.result = {
        kind: 'ok', key: 'desk.nextTaken',
        args: { call: c.call_id, desk: c.desk === 'vip' ? 'VIP' : c.desk, waited: Math.round(c.waited_s) },
      };
      if (this.onTaken) this.onTaken(c);
    } else if (res.status === 204) {
      this.result = { kind: 'info', key: 'desk.nextNone' };
    } else if (res.status === 409) {
      this.result = { kind: 'error', key: 'desk.nextNotAvailable' };
    } else {
      this.result = { kind: 'error', key: 'desk.failed', args: { code: (res.data && res.data.code) || res.status } };
    }
    await this.refresh();
    const said = this.root.querySelector('[data-testid="next-result"]');
    if (this.announce && said) this.announce(said.textContent);
  }
}
