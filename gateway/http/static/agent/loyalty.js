// Loyalty points, VIP services with their yearly quotas, and clubs on the customer's screen
// (SPEC §10: P2, P3, P5, V1, V2): what the customer holds, and the three actions — redeem
// points, record a use of a service, enrol in a club — each refusal said in plain words.
import { newKey, path } from './api.js';
import { h, row } from './dom.js';
import { addStrings, fmtTime, getLang, t } from './i18n.js';
import { errorSentence, refusalSentence } from './messages.js';

addStrings({
  'points.title': '积分',
  'points.none': '该客户暂无积分记录。',
  'points.balance': '积分余额',
  'points.redeemable': '可兑换积分',
  'points.expiringNextMonth': '下月到期',
  'points.nextExpiry': '最近到期',
  'points.nextExpiryValue': '{date} 到期 {points} 分',
  'points.noExpiry': '暂无将到期的积分',
  'points.threshold': '兑换门槛',
  'points.value': '{n} 分',
  'points.item': '兑换商品',
  'points.itemOption': '{name}（{points} 分）',
  'points.redeem': '兑换',
  'points.verify': '身份验证',
  'points.ownNumber': '本机来电',
  'points.password': '服务密码',
  'points.ownNumberHint': '仅当客户用本号码来电时可选“本机来电”。',
  'points.redeemed': '已兑换{item}，扣除 {points} 分，剩余 {balance} 分。',
  'points.history': '最近兑换',
  'points.historyItem': '{time} · {item} · {points} 分',
  'services.title': 'VIP服务（{year}年）',
  'services.used': '本年已用 {n} 次',
  'services.remaining': '剩余 {n} 次',
  'services.unlimited': '不限次数',
  'services.notCounted': '不计次数',
  'services.notEntitled': '不享受',
  'services.record': '登记使用',
  'services.place': '地点',
  'services.recorded': '已登记{name}，本年度剩余 {remaining} 次。',
  'services.recordedUnlimited': '已登记{name}（不限次数）。',
  'clubs.title': '俱乐部',
  'clubs.member': '{date} 入会',
  'clubs.join': '加入',
  'clubs.notYet': '{date} 起可加入',
  'clubs.joined': '已加入{name}。',
  'clubs.already': '客户已是{name}会员（{date} 入会）。',
  'loyalty.refusal.below_threshold': '客户的积分从未累计达到 {threshold} 分的兑换门槛，暂时不能兑换（P2）。',
  'loyalty.refusal.insufficient_points': '积分余额不够兑换这个商品：需要 {points} 分，现有 {balance} 分。',
  'loyalty.refusal.unknown_item': '积分商城里没有这个商品，请刷新后重新选择。',
  'loyalty.refusal.not_entitled': '客户当前的级别不享受这项服务。',
  'loyalty.refusal.quota_used': '这项服务本年度的 {quota} 次已经用完。',
  'loyalty.refusal.tenure_too_short': '非VIP客户在网满3个月后才能加入俱乐部：{eligible_from} 起可加入。',
  'loyalty.refusal.cancelled': '该号码已销户，不能办理。',
}, {
  'points.title': 'Loyalty points',
  'points.none': 'This customer has no points yet.',
  'points.balance': 'Balance',
  'points.redeemable': 'Redeemable',
  'points.expiringNextMonth': 'Expiring next month',
  'points.nextExpiry': 'Next expiry',
  'points.nextExpiryValue': '{points} points on {date}',
  'points.noExpiry': 'nothing expiring',
  'points.threshold': 'Redemption threshold',
  'points.value': '{n} points',
  'points.item': 'Item',
  'points.itemOption': '{name} ({points} points)',
  'points.redeem': 'Redeem',
  'points.verify': 'Identity check',
  'points.ownNumber': 'Calling from own number',
  'points.password': 'Service password',
  'points.ownNumberHint': '"Own number" only when the customer calls from this number.',
  'points.redeemed': 'Redeemed {item} for {points} points; {balance} left.',
  'points.history': 'Latest redemptions',
  'points.historyItem': '{time} · {item} · {points} points',
  'services.title': 'VIP services ({year})',
  'services.used': 'used {n} this year',
  'services.remaining': '{n} left',
  'services.unlimited': 'unlimited',
  'services.notCounted': 'not counted',
  'services.notEntitled': 'not included',
  'services.record': 'Record a use',
  'services.place': 'Place',
  'services.recorded': 'Recorded {name}; {remaining} left this year.',
  'services.recordedUnlimited': 'Recorded {name} (unlimited).',
  'clubs.title': 'Clubs',
  'clubs.member': 'member since {date}',
  'clubs.join': 'Join',
  'clubs.notYet': 'may join from {date}',
  'clubs.joined': 'Joined the {name}.',
  'clubs.already': 'Already a member of the {name} (since {date}).',
  'loyalty.refusal.below_threshold':
    "The customer's points have never reached the {threshold}-point threshold, so nothing can be redeemed yet (P2).",
  'loyalty.refusal.insufficient_points': 'Not enough points for this item: {points} needed, {balance} held.',
  'loyalty.refusal.unknown_item': 'That item is not in the catalogue; refresh and choose again.',
  'loyalty.refusal.not_entitled': "The customer's current level does not include this service.",
  'loyalty.refusal.quota_used': "This year's {quota} uses of this service are used up.",
  'loyalty.refusal.tenure_too_short':
    'Customers who are not VIPs can join a club after 3 months in the network: from {eligible_from}.',
  'loyalty.refusal.cancelled': 'The number has been cancelled; nothing can be done for it.',
});

const name = (x) => (getLang() === 'en' ? x.name_en : x.name_zh);

/** One customer's loyalty cards; kept across re-renders so the last result stays shown. */
export class LoyaltyCards {
  constructor(panel) {
    this.panel = panel; // the CustomerPanel: api, msisdn, call, load(), announce()
    this.result = {}; // card → {res, text}
    this.attempt = null; // {key, fingerprint}: one Idempotency-Key per redemption attempt
    this.inFlight = false;
  }

  cards(v) {
    return [this.pointsCard(v), this.servicesCard(v), this.clubsCard(v)];
  }

  // --- P2, P3, P5 ---------------------------------------------------------------------

  pointsCard(v) {
    const p = v.points;
    const card = h('section', { class: 'card points', 'aria-labelledby': 'points-title', 'data-testid': 'points' },
      h('h3', { id: 'points-title', i18n: 'points.title' }));
    if (!p) {
      card.append(h('p', { class: 'note', 'data-testid': 'points-none', i18n: 'points.none' }));
      return card;
    }
    card.append(
      h('dl', { class: 'facts' },
        row('points.balance', h('span', { 'data-testid': 'points-balance', i18n: ['points.value', { n: p.balance }] })),
        row('points.redeemable',
          h('span', { 'data-testid': 'points-redeemable', i18n: ['points.value', { n: p.redeemable }] })),
        row('points.expiringNextMonth',
          h('span', { 'data-testid': 'points-expiring', i18n: ['points.value', { n: p.expiring_next_month }] })),
        row('points.nextExpiry', h('span', { 'data-testid': 'points-next-expiry',
          i18n: p.next_expiry ? ['points.nextExpiryValue', { date: p.next_expiry, points: p.next_expiry_points }]
            : 'points.noExpiry' })),
        row('points.threshold', h('span', { 'data-testid': 'points-threshold',
          class: p.threshold_reached_on ? 'ok' : 'warn', bi: { zh: p.threshold_text_zh, en: p.threshold_text_en } }))),
      this.redeemForm(p),
      h('div', { class: 'result', 'data-testid': 'redeem-result-box' }, this.message('redeem')),
      // (Node.append does not flatten arrays as h() does: spread them.)
      ...(p.redemptions.length
        ? [h('h4', { i18n: 'points.history' }), h('ul', { class: 'plain', 'data-testid': 'redemptions' },
            p.redemptions.map((r) => h('li', {}, h('span', { i18n: ['points.historyItem', {
              time: fmtTime(r.redeemed_at), item: this.itemName(p, r.item), points: r.points }] }))))]
        : []));
    return card;
  }

  itemName(p, code) {
    const item = p.catalogue.find((i) => i.item === code);
    return item ? name(item) : code;
  }

  redeemForm(p) {
    const own = this.panel.ownNumberAllowed();
    const select = h('select', { id: 'redeem-item', 'data-testid': 'redeem-item' },
      p.catalogue.map((i) => h('option', { value: i.item, i18n: ['points.itemOption', { name: name(i), points: i.points }] })));
    const method = h('select', { id: 'redeem-method', 'data-testid': 'redeem-method' },
      own ? h('option', { value: 'own_number', i18n: 'points.ownNumber' }) : null,
      h('option', { value: 'service_password', i18n: 'points.password' }));
    const password = h('input', { type: 'password', id: 'redeem-password', autocomplete: 'off', inputmode: 'numeric',
      maxlength: '64', 'data-testid': 'redeem-password', 'aria-label': t('points.password'), disabled: own });
    method.addEventListener('change', () => {
      password.disabled = method.value !== 'service_password';
    });
    const button = h('button', { type: 'submit', class: 'primary', 'data-testid': 'redeem-button', i18n: 'points.redeem',
      disabled: this.inFlight });
    return h('form', { class: 'inline-form', novalidate: true, onsubmit: (event) => {
      event.preventDefault();
      this.redeem(select.value, method.value, password.value);
    } },
      h('label', { for: 'redeem-item', i18n: 'points.item' }), select,
      h('label', { for: 'redeem-method', i18n: 'points.verify' }), method, password,
      own ? null : h('p', { class: 'hint', i18n: 'points.ownNumberHint' }),
      button);
  }

  async redeem(item, method, password) {
    if (this.inFlight) return;
    const verification = method === 'own_number' ? { method } : { method, password };
    const body = { item, channel: 'agent', verification };
    if (method === 'own_number' && this.panel.call) body.call_id = this.panel.call.call_id;
    const fingerprint = JSON.stringify(body);
    // A retry of the same attempt (a double click, a lost answer) reuses its key.
    if (!this.attempt || this.attempt.fingerprint !== fingerprint) this.attempt = { key: newKey(), fingerprint };
    const res = await this.send('redeem', path`/v1/subscribers/${this.panel.msisdn}/points/redemptions`, body,
      { 'Idempotency-Key': this.attempt.key });
    if (res && res.status !== 0) this.attempt = null;
  }

  // --- V1 --------------------------------------------------------------------------------

  servicesCard(v) {
    const s = v.services;
    return h('section', { class: 'card services', 'aria-labelledby': 'services-title', 'data-testid': 'services' },
      h('h3', { id: 'services-title', i18n: ['services.title', { year: s.year }] }),
      h('ul', { class: 'benefits-list quotas' }, s.items.map((x) => this.serviceRow(x))),
      h('div', { class: 'result' }, this.message('use')));
  }

  serviceRow(x) {
    let state;
    if (!x.entitled) state = h('span', { class: 'value', i18n: 'services.notEntitled' });
    else if (!x.counted) state = h('span', { class: 'value', i18n: 'services.notCounted' });
    else if (x.remaining === null) state = h('span', { class: 'value', i18n: 'services.unlimited' });
    else state = h('span', { class: `value${x.remaining === 0 ? ' warn' : ''}`, i18n: ['services.remaining', { n: x.remaining }] });
    const action = [];
    if (x.counted && x.entitled) {
      const place = x.places.length
        ? h('select', { 'data-testid': `use-place-${x.code}`, 'aria-label': t('services.place') },
            x.places.map((p) => h('option', { value: p.code, bi: { zh: p.name_zh, en: p.name_en } })))
        : null;
      action.push(place, h('button', { type: 'button', 'data-testid': `use-${x.code}`, i18n: 'services.record',
        disabled: this.inFlight, onclick: () => this.recordUse(x, place ? place.value : null) }));
    }
    return h('li', { class: x.entitled ? 'plus' : null, 'data-code': x.code, 'data-testid': `service-${x.code}` },
      h('span', { bi: { zh: x.name_zh, en: x.name_en } }),
      x.counted ? h('span', { class: 'note', i18n: ['services.used', { n: x.used }] }) : null,
      state, h('span', { class: 'row-actions' }, ...action));
  }

  recordUse(x, place) {
    return this.send('use', path`/v1/subscribers/${this.panel.msisdn}/benefits/${x.code}/uses`,
      place ? { place } : {}, {}, x);
  }

  // --- V2 --------------------------------------------------------------------------------

  clubsCard(v) {
    return h('section', { class: 'card clubs', 'aria-labelledby': 'clubs-title', 'data-testid': 'clubs' },
      h('h3', { id: 'clubs-title', i18n: 'clubs.title' }),
      h('ul', { class: 'benefits-list' }, v.clubs.map((c) => h('li', { 'data-code': c.code, 'data-testid': `club-${c.code}` },
        h('span', { bi: { zh: c.name_zh, en: c.name_en } }),
        c.member
          ? h('span', { class: 'value chip status-active', i18n: ['clubs.member', { date: c.member_since }] })
          : h('span', { class: 'row-actions' },
              c.may_join ? null : h('span', { class: 'note', i18n: ['clubs.notYet', { date: c.eligible_from }] }),
              h('button', { type: 'button', 'data-testid': `join-${c.code}`, i18n: 'clubs.join', disabled: this.inFlight,
                onclick: () => this.send('club', path`/v1/subscribers/${this.panel.msisdn}/clubs/${c.code}`, {}, {}, c) }))))),
      h('div', { class: 'result' }, this.message('club')));
  }

  // --- sending and saying what happened ------------------------------------------------

  async send(card, url, body, headers, subject = null) {
    this.inFlight = true;
    const generation = this.panel.generation;
    for (const b of this.panel.root.querySelectorAll('.points button, .services button, .clubs button')) b.disabled = true;
    const res = await this.panel.api.post(url, body, { headers });
    if (generation !== this.panel.generation) return null; // another customer is on screen now
    this.inFlight = false;
    this.result = { [card]: { res, subject } };
    await this.panel.load(); // the new balance, quotas and memberships
    const message = this.panel.root.querySelector(`[data-testid="${card}-result"]`);
    if (message) this.panel.announce(message.textContent);
    return res;
  }

  message(card) {
    const found = this.result[card];
    if (!found) return null;
    const { res, subject } = found;
    const d = res.data || {};
    const testid = `${card}-result`;
    if (res.ok) {
      let text;
      if (card === 'redeem') {
        const points = this.panel.view && this.panel.view.points;
        text = ['points.redeemed', { item: points ? this.itemName(points, d.item) : d.item, points: d.points, balance: d.balance }];
      } else if (card === 'use') {
        text = d.remaining === null
          ? ['services.recordedUnlimited', { name: name(subject) }]
          : ['services.recorded', { name: name(subject), remaining: d.remaining }];
      } else {
        text = res.status === 201 ? ['clubs.joined', { name: name(subject) }]
          : ['clubs.already', { name: name(subject), date: d.joined_on }];
      }
      return h('p', { class: 'message ok', role: 'status', 'data-testid': testid, i18n: text });
    }
    let parts;
    if (d.code === 'identity_not_verified') parts = refusalSentence(d.code, d);
    else if (res.status === 409 && t(`loyalty.refusal.${d.code}`) !== `loyalty.refusal.${d.code}`) {
      parts = [h('span', { class: 'sentence', i18n: [`loyalty.refusal.${d.code}`, d] }), ' ',
        h('span', { class: 'code' }, `(${d.code})`)];
    } else parts = errorSentence(res);
    return h('div', { class: 'message error', role: 'alert', 'data-testid': testid, 'data-code': d.code || '' }, ...parts);
  }
}
