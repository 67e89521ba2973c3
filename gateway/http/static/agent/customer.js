// One customer on the agent's screen: who they are (masked number, full number on
// demand — the server audits it), tier with the engine's explanation, benefits,
// manager, account, reactivation history, open work orders; and the actions that change
// anything, each behind the identity check: emergency reactivation / temporary credit, and
// emergency stop / restart (H5). "Own number" is offered only on the customer's own call,
// and the call's id goes with the request so the server checks it (H1).
import { mask, newKey, path } from './api.js';
import { clear, h, row } from './dom.js';
import { fmtTime, fmtYuan, t } from './i18n.js';
import { LoyaltyCards } from './loyalty.js';
import { errorSentence, refusalSentence } from './messages.js';

/** The engine writes "what would raise it" as lines starting like this (entitlements/explain.py). */
const RAISE_LINE = /^(升至|To reach)/;

export class CustomerPanel {
  constructor(root, { api, announce }) {
    this.root = root;
    this.api = api;
    this.announce = announce;
    this.seq = 0;
    this.reset();
  }

  reset() {
    // Answers still on their way belong to the customer they were asked for, not the next one.
    this.generation = (this.generation || 0) + 1;
    this.seq += 1;
    this.msisdn = null;
    this.call = null;
    this.view = null;
    this.revealed = null;
    this.attempt = null; // {key, fingerprint}: one Idempotency-Key per grant attempt
    this.inFlight = false;
    this.result = null;
    this.stopAttempt = null; // the same for emergency stop / restart (H5)
    this.stopResult = null;
    this.method = 'service_password';
    this.loyalty = new LoyaltyCards(this); // points, VIP services, clubs (P, V)
  }

  /** Show a customer by number; `call` is the screen pop that brought them, if any. */
  async open(msisdn, call = null) {
    this.reset();
    this.msisdn = msisdn;
    this.call = call;
    this.method = this.ownNumberAllowed() ? 'own_number' : 'service_password';
    this.renderLoading(call);
    await this.load();
  }

  /** A caller the lookup did not know (or a withheld number): nothing to load. */
  showUnknown(call) {
    this.reset();
    this.call = call;
    const number = call.answer.msisdn;
    clear(this.root).append(
      h('article', { class: 'customer', 'aria-labelledby': 'customer-title' },
        h('header', { class: 'customer-head' },
          h('h2', { id: 'customer-title', class: 'number', 'data-testid': 'customer-number' },
            number ? mask(number) : h('span', { i18n: 'call.withheld' })),
          h('span', { class: 'badge tier-unknown', 'data-testid': 'tier-badge', i18n: 'call.unknownCaller' }),
          this.callLine(call)),
        h('p', { class: 'note', i18n: number ? 'call.notSubscriber' : 'call.noNumber' }),
        call.answer.degraded ? h('p', { class: 'warn', i18n: 'call.degraded' }) : null),
    );
  }

  ownNumberAllowed() {
    // R9: "own number" only when this very call comes from the customer's number.
    return Boolean(this.call && this.call.answer && this.call.answer.msisdn === this.msisdn);
  }

  async load() {
    const seq = ++this.seq;
    // Never ?reveal=1 here: the full number is asked for (and audited) once, by reveal().
    const res = await this.api.get(path`/v1/subscribers/${this.msisdn}`);
    if (seq !== this.seq) return; // another customer was opened meanwhile
    if (!res.ok) {
      this.view = null;
      this.renderError(res);
      return;
    }
    this.view = res.data;
    this.render();
  }

  async reveal() {
    const generation = this.generation;
    const res = await this.api.get(path`/v1/subscribers/${this.msisdn}` + '?reveal=1');
    if (generation !== this.generation) return;
    if (res.ok && res.data.profile.msisdn) {
      this.revealed = res.data.profile.msisdn;
      this.view = res.data;
      this.render();
      const number = this.root.querySelector('[data-testid="customer-number"]');
      if (number) number.focus();
    }
  }

  renderLoading(call) {
    clear(this.root).append(
      h('article', { class: 'customer', 'aria-busy': 'true', 'aria-labelledby': 'customer-title' },
        h('header', { class: 'customer-head' },
          h('h2', { id: 'customer-title', class: 'number', 'data-testid': 'customer-number' }, mask(this.msisdn)),
          call && call.answer.tier
            ? h('span', { class: `badge tier-${call.answer.tier.level}`, 'data-testid': 'tier-badge',
                bi: { zh: call.answer.tier.name_zh, en: call.answer.tier.name_en } })
            : null,
          call ? this.callLine(call) : null),
        h('p', { class: 'note', i18n: 'common.loading' })),
    );
  }

  renderError(res) {
    const code = res.data && res.data.code;
    const sentence = code === 'unknown_subscriber' ? refusalSentence(code) : errorSentence(res);
    clear(this.root).append(
      h('article', { class: 'customer' },
        h('header', { class: 'customer-head' },
          h('h2', { id: 'customer-title', class: 'number', 'data-testid': 'customer-number' }, mask(this.msisdn)),
          this.call ? this.callLine(this.call) : null),
        h('p', { class: 'message error', role: 'alert', 'data-testid': 'customer-error' }, ...sentence)),
    );
  }

  callLine(call) {
    const queue = call.answer.queue || {};
    return h('p', { class: 'call-line' },
      h('span', { i18n: ['call.line', { time: fmtTime(call.connected_at) }] }), ' · ',
      h('span', { i18n: queue.name === 'vip' ? 'queue.vip' : 'queue.general' }),
      call.answer.degraded ? [' · ', h('span', { class: 'warn', i18n: 'call.degradedShort' })] : null);
  }

  render() {
    const v = this.view;
    const tier = v.tier;
    const shown = this.revealed || v.msisdn_masked;
    const head = h('header', { class: 'customer-head' },
      h('h2', { id: 'customer-title', class: 'number', tabindex: '-1', 'data-testid': 'customer-number' }, shown),
      this.revealed
        ? h('span', { class: 'note', i18n: 'reveal.audited' })
        : h('button', { type: 'button', class: 'link', 'data-testid': 'reveal', onclick: () => this.reveal(),
            i18n: 'reveal.button' }),
      h('span', { class: `badge tier-${tier.level}`, 'data-testid': 'tier-badge',
        bi: { zh: tier.name_zh, en: tier.name_en } }),
      h('span', { class: 'chip' }, h('span', { i18n: v.queue.name === 'vip' ? 'queue.vip' : 'queue.general' })),
      h('span', { class: `chip status-${v.account.status}`, 'data-testid': 'status',
        i18n: `status.${v.account.status}` }),
      this.call ? this.callLine(this.call) : null);

    const grant = h('section', { class: 'card grant', 'aria-labelledby': 'grant-title', 'data-testid': 'grant' });
    this.grantSection = grant;
    this.renderGrant();
    grant.append(this.emergencyBox());

    clear(this.root).append(
      h('article', { class: 'customer', 'aria-labelledby': 'customer-title' },
        head,
        // Two columns on a desktop; one on a side panel, where CSS `order` puts the grant
        // right after the account (the column wrappers become `display: contents`).
        h('div', { class: 'customer-grid' },
          h('div', { class: 'column' }, this.accountCard(v), this.explanationCard(v), this.managerCard(v),
            this.historyCard(v)),
          h('div', { class: 'column' }, grant, this.benefitsCard(v), ...this.loyalty.cards(v), this.ordersCard(v)))),
    );
  }

  accountCard(v) {
    const p = v.profile;
    const a = v.account;
    const credit = v.credit;
    return h('section', { class: 'card account', 'aria-labelledby': 'account-title' },
      h('h3', { id: 'account-title', i18n: 'account.title' }),
      h('dl', { class: 'facts' },
        row('account.status', h('span', { i18n: `status.${a.status}` })),
        row('account.payment', h('span', { i18n: `payment.${a.payment_mode}` })),
        row('account.arrears', h('span', { 'data-testid': 'arrears',
          i18n: ['account.arrearsValue', { months: a.arrears_months, yuan: fmtYuan(a.outstanding_yuan) }] })),
        row('account.service', `${p.service_type}${p.network ? ' · ' + p.network.toUpperCase() : ''} · ${p.plan_code || ''}`),
        row('account.joined', h('span', { i18n: ['account.joinedValue', { date: p.joined_on, months: p.tenure_months }] })),
        row('account.branch', `${p.city.name}${p.county ? ' · ' + p.county.name : ''}`),
        credit
          ? row('account.credit', h('span', { 'data-testid': 'credit', i18n: ['account.creditValue', {
              limit: fmtYuan(credit.limit_yuan), remaining: fmtYuan(credit.remaining_yuan),
              until: fmtTime(credit.expires_at) }] }),
            credit.active ? null : [' ', h('span', { class: 'chip', i18n: 'account.creditEnded' })])
          : null),
      a.bills.length
        ? h('table', { class: 'bills' },
            h('caption', { i18n: 'account.bills' }),
            h('thead', {}, h('tr', {},
              h('th', { scope: 'col', i18n: 'account.month' }),
              h('th', { scope: 'col', i18n: 'account.billed' }),
              h('th', { scope: 'col', i18n: 'account.paid' }))),
            h('tbody', {}, a.bills.map((b) => h('tr', { class: b.paid_yuan !== b.billed_yuan ? 'unpaid' : null },
              h('td', {}, b.month), h('td', {}, fmtYuan(b.billed_yuan)), h('td', {}, fmtYuan(b.paid_yuan))))))
        : null);
  }

  explanationCard(v) {
    const e = v.explanation;
    const split = (text) => {
      // The first line repeats the number and level shown in the header.
      const lines = (text || '').split('\n').filter((l) => l.trim()).slice(1);
      return { why: lines.filter((l) => !RAISE_LINE.test(l)), raise: lines.filter((l) => RAISE_LINE.test(l)) };
    };
    const zh = split(e.text_zh);
    const en = split(e.text_en);
    const hasRaise = zh.raise.length > 0 || en.raise.length > 0;
    return h('section', { class: 'card explanation', 'aria-labelledby': 'explain-title', 'data-testid': 'explanation' },
      h('h3', { id: 'explain-title', i18n: 'explain.title' }),
      h('p', { class: 'explain-text', bi: { zh: zh.why.join('\n'), en: en.why.join('\n') } }),
      h('h4', { i18n: 'explain.raise' }),
      hasRaise
        ? h('p', { class: 'raise', 'data-testid': 'raise', bi: { zh: zh.raise.join('\n'), en: en.raise.join('\n') } })
        : h('p', { class: 'note', i18n: 'explain.noRaise' }));
  }

  benefitsCard(v) {
    return h('section', { class: 'card benefits', 'aria-labelledby': 'benefits-title' },
      h('h3', { id: 'benefits-title', i18n: 'benefits.title' }),
      h('ul', { class: 'benefits-list', 'data-testid': 'benefits' },
        v.entitlements.map((b) => h('li', { class: b.beyond_standard ? 'plus' : null },
          h('span', { bi: { zh: b.name_zh, en: b.name_en } }),
          h('span', { class: `value value-${b.value}`, i18n: `benefit.${b.value}` }),
          b.assumed ? h('span', { class: 'assumed', title: t('benefits.assumed'), i18n: 'benefits.assumedMark' }) : null))));
  }

  managerCard(v) {
    const m = v.manager;
    return h('section', { class: 'card manager', 'aria-labelledby': 'manager-title' },
      h('h3', { id: 'manager-title', i18n: 'manager.title' }),
      m
        ? h('p', { 'data-testid': 'manager' }, h('strong', {}, m.name), ' · ', m.phone,
            m.entitled ? null : [' ', h('span', { class: 'chip', i18n: 'manager.notEntitled' })])
        : h('p', { class: 'note', i18n: 'manager.none' }));
  }

  historyCard(v) {
    const items = v.reactivations;
    return h('section', { class: 'card history', 'aria-labelledby': 'history-title' },
      h('h3', { id: 'history-title', i18n: 'history.title' }),
      items.length
        ? h('ul', { class: 'plain', 'data-testid': 'reactivations' }, items.map((r) => h('li', {},
            h('span', {}, fmtTime(r.granted_at)), ' · ',
            h('span', { i18n: `mode.${r.mode}` }),
            r.credit_limit_yuan ? h('span', { i18n: ['history.credit', {
              limit: fmtYuan(r.credit_limit_yuan), used: fmtYuan(r.credit_used_yuan) }] }) : null,
            ' · ', h('span', { i18n: ['history.until', { time: fmtTime(r.expires_at) }] }),
            r.work_order_id ? [' · ', h('span', { i18n: ['history.order', { id: r.work_order_id }] }), ' ',
              h('span', { class: `chip order-${r.work_order_status}`, i18n: `order.status.${r.work_order_status}` })] : null)))
        : h('p', { class: 'note', i18n: 'history.none' }));
  }

  ordersCard(v) {
    const items = v.work_orders;
    return h('section', { class: 'card orders', 'aria-labelledby': 'orders-title' },
      h('h3', { id: 'orders-title', i18n: 'orders.openTitle' }),
      items.length
        ? h('ul', { class: 'plain', 'data-testid': 'open-orders' }, items.map((o) => h('li', { 'data-order-id': o.id },
            h('strong', { i18n: ['history.order', { id: o.id }] }), ' ',
            h('span', { class: `chip order-${o.status}`, i18n: `order.status.${o.status}` }), ' · ',
            h('span', { i18n: ['orders.due', { time: fmtTime(o.due_at) }] }),
            o.tracker ? [' · ', h('span', { i18n: ['orders.tracker', { name: o.tracker }] })] : null)))
        : h('p', { class: 'note', i18n: 'orders.none' }));
  }

  // --- the grant ----------------------------------------------------------------------

  renderGrant() {
    const v = this.view;
    const section = clear(this.grantSection);
    const r = v.reactivation;
    const ver = v.verification;
    const locked = Boolean(ver.locked_until);
    let preview;
    if (r.eligible) {
      preview = r.mode === 'prepaid_credit'
        ? h('p', { class: 'preview ok', i18n: ['grant.previewPrepaid', { yuan: fmtYuan(r.credit_limit_yuan), days: r.days }] })
        : h('p', { class: 'preview ok', i18n: ['grant.previewPostpaid', { hours: r.hours }] });
    } else {
      preview = h('p', { class: 'preview refused', 'data-testid': 'preview' },
        h('span', { i18n: 'grant.previewRefused' }), ' ', h('span', { i18n: `refusal.${r.code}` }));
    }

    const own = h('input', { type: 'radio', name: 'method', id: 'method-own', value: 'own_number',
      checked: this.method === 'own_number', disabled: !this.ownNumberAllowed(),
      onchange: () => this.setMethod('own_number') });
    const pwd = h('input', { type: 'radio', name: 'method', id: 'method-password', value: 'service_password',
      checked: this.method === 'service_password', onchange: () => this.setMethod('service_password') });
    const password = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'off',
      inputmode: 'numeric', maxlength: '64', 'data-testid': 'password',
      disabled: this.method !== 'service_password' || locked || !ver.password_set,
      'aria-describedby': 'attempts', oninput: () => this.updateButton(),
      onkeydown: (event) => {
        if (event.key === 'Escape') {
          password.value = '';
          this.updateButton();
        }
      } });
    this.passwordInput = password;

    let attempts;
    if (locked) {
      attempts = h('p', { id: 'attempts', class: 'attempts locked', 'data-testid': 'attempts',
        i18n: ['verify.locked', { time: fmtTime(ver.locked_until) }] });
    } else if (!ver.password_set) {
      attempts = h('p', { id: 'attempts', class: 'attempts', 'data-testid': 'attempts', i18n: 'verify.noPassword' });
    } else {
      attempts = h('p', { id: 'attempts', class: 'attempts', 'data-testid': 'attempts',
        i18n: ['verify.remaining', { n: ver.remaining_attempts }] });
    }

    const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'grant-button',
      i18n: r.mode === 'prepaid_credit' ? 'grant.submitCredit' : 'grant.submit' });
    this.grantButton = button;

    const form = h('form', { class: 'grant-form', novalidate: true, onsubmit: (event) => {
      event.preventDefault();
      this.grant();
    } },
      h('fieldset', {},
        h('legend', { i18n: 'verify.legend' }),
        h('div', { class: 'choice' }, own, h('label', { for: 'method-own', i18n: 'verify.ownNumber' })),
        this.ownNumberAllowed() ? null : h('p', { class: 'hint', i18n: 'verify.ownNumberHint' }),
        h('div', { class: 'choice' }, pwd, h('label', { for: 'method-password', i18n: 'verify.password' })),
        h('div', { class: 'password-row' },
          h('label', { for: 'password', class: 'visually-hidden', i18n: 'verify.passwordLabel' }), password),
        attempts),
      button);

    this.resultBox = h('div', { class: 'result' }, this.resultMessage());
    section.append(
      h('h3', { id: 'grant-title', i18n: 'grant.title' }),
      preview,
      ...(r.grants_this_month ? [h('p', { class: 'note', i18n: ['grant.thisMonth', { n: r.grants_this_month }] })] : []),
      form,
      this.resultBox);
    this.updateButton();
  }

  setMethod(method) {
    this.method = method;
    const ver = this.view.verification;
    this.passwordInput.disabled = method !== 'service_password' || Boolean(ver.locked_until) || !ver.password_set;
    this.updateButton();
  }

  updateButton() {
    if (!this.grantButton) return;
    const ver = this.view.verification;
    const needsPassword = this.method === 'service_password';
    const blocked = needsPassword && (Boolean(ver.locked_until) || !ver.password_set || !this.passwordInput.value);
    this.grantButton.disabled = this.inFlight || blocked;
    this.grantButton.setAttribute('aria-busy', this.inFlight ? 'true' : 'false');
  }

  resultMessage() {
    const res = this.result;
    if (!res) return null;
    const d = res.data || {};
    if (res.status === 201) {
      const text = d.mode === 'prepaid_credit'
        ? ['grant.okPrepaid', { yuan: fmtYuan(d.credit_limit_yuan), days: d.days, until: fmtTime(d.expires_at) }]
        : d.work_order_id
          ? ['grant.okPostpaid', { until: fmtTime(d.expires_at), order: d.work_order_id }]
          : ['grant.okPostpaidNoOrder', { until: fmtTime(d.expires_at) }];
      return h('p', { class: 'message ok', role: 'status', 'data-testid': 'grant-result', i18n: text });
    }
    let parts;
    if (res.status === 409 && d.code && d.code !== 'invalid_request') parts = refusalSentence(d.code, d);
    else if (res.status === 0) parts = [...errorSentence(res), ' ', h('span', { i18n: 'grant.retrySafe' })];
    else parts = errorSentence(res);
    return h('div', { class: 'message error', role: 'alert', 'data-testid': 'grant-result', 'data-code': d.code || '' },
      ...parts);
  }

  async grant() {
    if (this.inFlight || !this.view) return;
    const verification = this.method === 'own_number'
      ? { method: 'own_number' }
      : { method: 'service_password', password: this.passwordInput.value };
    const body = { msisdn: this.msisdn, channel: 'agent', verification };
    if (this.call && this.call.call_id) body.call_id = this.call.call_id; // H1: the server checks the call
    const fingerprint = JSON.stringify(body);
    // One key per attempt: a double click or a retry after a network failure sends the
    // same key (the server answers it once); a changed request is a new attempt.
    if (!this.attempt || this.attempt.fingerprint !== fingerprint) this.attempt = { key: newKey(), fingerprint };
    this.inFlight = true;
    this.updateButton();
    const generation = this.generation;
    const res = await this.api.post('/v1/reactivations', body, { headers: { 'Idempotency-Key': this.attempt.key } });
    if (generation !== this.generation) return; // another customer is on screen now; their history shows it
    this.inFlight = false;
    if (res.status !== 0) this.attempt = null; // answered: the next click is a new attempt
    this.result = res;
    if (res.status === 0) {
      // Unanswered: keep the typed password and the key, so a retry is the same attempt.
      clear(this.resultBox).append(this.resultMessage());
      this.updateButton();
      return;
    }
    await this.load(); // the new state: status, remaining attempts, history, work orders
    const message = this.root.querySelector('[data-testid="grant-result"]');
    if (message) this.announce(message.textContent);
  }

  // --- emergency stop / restart (H5) ------------------------------------------------

  emergencyBox() {
    const status = this.view.account.status;
    if (status === 'cancelled') return null;
    const action = status === 'stopped' ? 'restart' : 'stop';
    const button = h('button', { type: 'button', 'data-testid': `emergency-${action}`,
      onclick: () => this.emergency(action), i18n: `stop.${action}` });
    this.emergencyButton = button;
    return h('div', { class: 'emergency', 'data-testid': 'emergency' },
      h('h4', { i18n: 'stop.title' }),
      h('p', { class: 'note', i18n: 'stop.intro' }),
      button,
      h('div', { class: 'result', 'data-testid': 'emergency-box' }, this.emergencyMessage()));
  }

  emergencyMessage() {
    const res = this.stopResult;
    if (!res) return null;
    const d = res.data || {};
    if (res.status === 200) {
      const text = d.status === 'stopped' ? 'stop.okStop' : ['stop.okRestart', { status: t(`status.${d.status}`) }];
      return h('p', { class: 'message ok', role: 'status', 'data-testid': 'emergency-result', i18n: text });
    }
    const parts = res.status === 409 && d.code && d.code !== 'invalid_request'
      ? refusalSentence(d.code, d) : errorSentence(res);
    return h('div', { class: 'message error', role: 'alert', 'data-testid': 'emergency-result',
      'data-code': d.code || '' }, ...parts);
  }

  async emergency(action) {
    if (this.inFlight || !this.view) return;
    // A restart needs the service password: the phone may be in someone else's hands (H5).
    const own = action === 'stop' && this.method === 'own_number';
    const verification = own ? { method: 'own_number' }
      : { method: 'service_password', password: this.passwordInput.value };
    const body = { channel: 'agent', verification };
    if (this.call && this.call.call_id) body.call_id = this.call.call_id;
    const fingerprint = action + JSON.stringify(body);
    if (!this.stopAttempt || this.stopAttempt.fingerprint !== fingerprint) {
      this.stopAttempt = { key: newKey(), fingerprint };
    }
    this.inFlight = true;
    this.emergencyButton.disabled = true;
    const generation = this.generation;
    const url = path`/v1/subscribers/${this.msisdn}` + `/emergency-${action}`;
    const res = await this.api.post(url, body, { headers: { 'Idempotency-Key': this.stopAttempt.key } });
    if (generation !== this.generation) return;
    this.inFlight = false;
    if (res.status !== 0) this.stopAttempt = null;
    this.stopResult = res;
    if (res.status === 0) {
      this.emergencyButton.disabled = false;
      clear(this.root.querySelector('[data-testid="emergency-box"]')).append(this.emergencyMessage());
      return;
    }
    await this.load();
    const message = this.root.querySelector('[data-testid="emergency-result"]');
    if (message) this.announce(message.textContent);
  }
}
