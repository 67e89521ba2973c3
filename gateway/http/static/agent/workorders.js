// Branch staff: their branch's work-order queue (W1–W6) — the server scopes the list to
// the token's branch — with dispatch to one of the city's counties naming the tracker
// (W2), reminders (W3), payment noted, overdue and re-suspension (W4); the city branch's
// control of the reactivation window (extend, re-suspend at any time: H9); and the VIP
// fulfilment orders (manager assignment, card issue: H8) with their kind shown and filtered.
import { path } from './api.js';
import { clear, h } from './dom.js';
import { fmtTime, t } from './i18n.js';
import { errorSentence } from './messages.js';

/** The engine's transitions (entitlements/workorders.py): which events each status takes, per kind. */
const FOLLOWUP = {
  new: ['dispatch', 'extend', 'paid', 'overdue', 'resuspend', 'close'],
  dispatched: ['remind', 'extend', 'paid', 'overdue', 'resuspend', 'close'],
  overdue: ['remind', 'extend', 'paid', 'resuspend', 'close'],
  paid: ['close'],
  resuspended: ['close'],
  closed: [],
};
const FULFILMENT = { new: ['done', 'remind', 'overdue', 'close'], overdue: ['done', 'remind', 'close'], done: ['close'], closed: [] };
const TRANSITIONS = { reactivation_followup: FOLLOWUP, manager_assignment: FULFILMENT, card_issue: FULFILMENT };
const FILTERS = ['open', 'new', 'dispatched', 'overdue', 'paid', 'resuspended', 'done', 'closed', 'all'];
const KINDS = ['all', 'reactivation_followup', 'manager_assignment', 'card_issue'];
const OPEN = 'new,dispatched,overdue';

export class WorkOrderPanel {
  constructor(root, { api, me, branches, announce }) {
    this.root = root;
    this.api = api;
    this.me = me;
    this.branches = branches; // code → branch
    this.announce = announce;
    this.filter = 'open';
    this.kind = 'all';
    this.orders = [];
    this.selected = null; // the order shown in detail, with events
    this.message = null;
    this.busy = false;
    this.build();
  }

  branchName(code) {
    if (!code) return '—';
    const found = this.branches.get(code);
    return found ? `${found.name}（${code}）` : code;
  }

  build() {
    const select = h('select', { id: 'order-filter', 'data-testid': 'order-filter',
      onchange: () => { this.filter = select.value; this.refresh(); } },
      FILTERS.map((f) => h('option', { value: f, selected: f === this.filter, i18n: `orders.filter.${f}` })));
    const kinds = h('select', { id: 'order-kind', 'data-testid': 'order-kind',
      onchange: () => { this.kind = kinds.value; this.refresh(); } },
      KINDS.map((k) => h('option', { value: k, selected: k === this.kind,
        i18n: k === 'all' ? 'orders.kindFilter.all' : `order.kind.${k}` })));
    this.list = h('div', { class: 'order-list', 'aria-live': 'polite' });
    this.detail = h('div', { class: 'order-detail', 'data-testid': 'order-detail' });
    this.dialog = h('dialog', { class: 'event-dialog', 'data-testid': 'event-dialog', 'aria-labelledby': 'event-title' });
    const scope = this.me.branch
      ? h('p', { class: 'note', i18n: ['orders.scope', { branch: `${this.me.branch.name}（${this.me.branch.code}）` }] })
      : h('p', { class: 'note', i18n: 'orders.scopeAll' });
    clear(this.root).append(
      h('section', { class: 'card queue', 'aria-labelledby': 'queue-title' },
        h('h2', { id: 'queue-title', i18n: 'orders.queueTitle' }),
        scope,
        h('div', { class: 'toolbar' },
          h('label', { for: 'order-filter', i18n: 'orders.filterLabel' }), select,
          h('label', { for: 'order-kind', i18n: 'orders.kindLabel' }), kinds,
          h('button', { type: 'button', 'data-testid': 'orders-refresh', onclick: () => this.refresh(), i18n: 'orders.refresh' })),
        this.list),
      this.detail,
      this.dialog);
  }

  async refresh() {
    const status = this.filter === 'open' ? OPEN : this.filter === 'all' ? '' : this.filter;
    const query = new URLSearchParams();
    if (status) query.set('status', status);
    if (this.kind !== 'all') query.set('kind', this.kind); // H8
    const res = await this.api.get('/v1/work-orders' + (query.size ? `?${query}` : ''));
    if (!res.ok) {
      clear(this.list).append(h('p', { class: 'message error', role: 'alert' }, ...errorSentence(res)));
      return;
    }
    this.orders = res.data.items;
    this.renderList();
  }

  renderList() {
    if (!this.orders.length) {
      clear(this.list).append(h('p', { class: 'note', 'data-testid': 'orders-empty', i18n: 'orders.empty' }));
      return;
    }
    const table = h('table', { class: 'orders-table', 'data-testid': 'orders-table' },
      h('thead', {}, h('tr', {},
        ['orders.col.id', 'orders.col.kind', 'orders.col.number', 'orders.col.status', 'orders.col.county', 'orders.col.tracker',
          'orders.col.due', 'orders.col.action'].map((k) => h('th', { scope: 'col', i18n: k })))),
      h('tbody', {}, this.orders.map((o) => h('tr', { 'data-order-id': o.id, class: this.selected && this.selected.id === o.id ? 'selected' : null },
        h('td', {}, `#${o.id}`),
        h('td', { 'data-testid': 'order-kind-cell' }, h('span', { i18n: `order.kind.${o.kind}` })),
        h('td', {}, o.msisdn_masked),
        h('td', {}, h('span', { class: `chip order-${o.status}`, i18n: `order.status.${o.status}` })),
        h('td', {}, this.branchName(o.county_code)),
        h('td', {}, o.tracker || '—'),
        h('td', {}, fmtTime(o.due_at)),
        h('td', {}, h('button', { type: 'button', 'data-testid': `open-order-${o.id}`, onclick: () => this.open(o.id),
          i18n: ['orders.open', { id: o.id }] }))))));
    clear(this.list).append(table);
  }

  async open(id) {
    const res = await this.api.get(path`/v1/work-orders/${id}`);
    if (!res.ok) {
      this.message = { error: res };
      this.selected = null;
      this.renderDetail();
      return;
    }
    this.selected = res.data;
    this.message = null;
    this.renderDetail();
    this.renderList();
    const heading = this.detail.querySelector('h2');
    if (heading) heading.focus();
  }

  allowed(order) {
    const mine = new Set(this.me.work_order_events);
    const table = TRANSITIONS[order.kind] || FOLLOWUP;
    return (table[order.status] || []).filter((kind) => mine.has(kind) && kind !== 'close');
  }

  renderDetail() {
    const o = this.selected;
    clear(this.detail);
    if (!o) {
      if (this.message) this.detail.append(this.messageNode());
      return;
    }
    const actions = this.allowed(o);
    this.detail.append(
      h('section', { class: 'card', 'aria-labelledby': 'order-title' },
        h('h2', { id: 'order-title', tabindex: '-1', i18n: ['orders.detailTitle', { id: o.id }] }),
        this.messageNode(),
        h('dl', { class: 'facts' },
          h('dt', { i18n: 'orders.col.kind' }),
          h('dd', { 'data-testid': 'order-kind-detail' }, h('span', { i18n: `order.kind.${o.kind}` })),
          h('dt', { i18n: 'orders.col.status' }),
          h('dd', {}, h('span', { class: `chip order-${o.status}`, 'data-testid': 'order-status', i18n: `order.status.${o.status}` })),
          h('dt', { i18n: 'orders.col.number' }), h('dd', { 'data-testid': 'order-number' }, o.msisdn || o.msisdn_masked),
          h('dt', { i18n: 'orders.city' }), h('dd', {}, this.branchName(o.city_code)),
          h('dt', { i18n: 'orders.col.county' }), h('dd', { 'data-testid': 'order-county' }, this.branchName(o.county_code)),
          h('dt', { i18n: 'orders.col.tracker' }), h('dd', { 'data-testid': 'order-tracker' }, o.tracker || '—'),
          h('dt', { i18n: 'orders.col.due' }), h('dd', {}, fmtTime(o.due_at))),
        actions.length
          ? h('div', { class: 'actions', role: 'group', 'aria-label': t('orders.actions') },
              actions.map((kind) => h('button', { type: 'button', class: kind === 'dispatch' ? 'primary' : null,
                'data-testid': `event-${kind}`, onclick: () => this.openDialog(kind), i18n: `event.${kind}` })))
          : h('p', { class: 'note', i18n: 'orders.noActions' }),
        h('h3', { i18n: 'orders.history' }),
        h('ol', { class: 'events', 'data-testid': 'order-events' }, (o.events || []).map((e) => h('li', {},
          h('span', {}, fmtTime(e.at)), ' · ',
          h('strong', { i18n: `event.${e.kind}` }), ' · ',
          h('span', {}, e.actor),
          e.note ? [' · ', h('span', {}, e.note)] : null)))));
  }

  messageNode() {
    const m = this.message;
    if (!m) return null;
    if (m.error) return h('p', { class: 'message error', role: 'alert', 'data-testid': 'order-message' }, ...errorSentence(m.error));
    return h('p', { class: 'message ok', role: 'status', 'data-testid': 'order-message', i18n: m.ok });
  }

  async openDialog(kind) {
    const order = this.selected;
    const fields = [];
    let county = null;
    let tracker = null;
    if (kind === 'dispatch') {
      const res = await this.api.get('/v1/branches?parent=' + encodeURIComponent(order.city_code));
      const counties = res.ok ? res.data.items.filter((b) => b.level === 'county') : [];
      county = h('select', { id: 'event-county', name: 'county_code', required: true, 'data-testid': 'event-county' },
        counties.map((c) => h('option', { value: c.code, selected: c.code === order.subscriber_county_code },
          `${c.name}（${c.code}）`)));
      tracker = h('input', { id: 'event-tracker', name: 'tracker', required: true, maxlength: '100',
        autocomplete: 'off', 'data-testid': 'event-tracker' });
      fields.push(
        h('label', { for: 'event-county', i18n: 'dialog.county' }), county,
        h('label', { for: 'event-tracker', i18n: 'dialog.tracker' }), tracker);
    }
    let hours = null;
    let manager = null;
    if (kind === 'extend') { // H9
      hours = h('input', { id: 'event-hours', name: 'hours', type: 'number', min: '1', max: '72', value: '24',
        required: true, 'data-testid': 'event-hours' });
      fields.push(h('label', { for: 'event-hours', i18n: 'dialog.hours' }), hours);
    }
    if (kind === 'done' && order.kind === 'manager_assignment') { // H8
      manager = h('input', { id: 'event-manager', name: 'manager_id', type: 'number', min: '1', required: true,
        'data-testid': 'event-manager' });
      fields.push(h('label', { for: 'event-manager', i18n: 'dialog.manager' }), manager);
    }
    const note = h('textarea', { id: 'event-note', name: 'note', rows: '2', maxlength: '1000', 'data-testid': 'event-note' });
    fields.push(h('label', { for: 'event-note', i18n: 'dialog.note' }), note);
    const error = h('div', { class: 'dialog-error', 'data-testid': 'dialog-error' });
    const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'event-submit', i18n: `event.${kind}` });
    const cancel = h('button', { type: 'button', 'data-testid': 'event-cancel', onclick: () => this.dialog.close(),
      i18n: 'dialog.cancel' });
    const form = h('form', { method: 'dialog', class: 'dialog-form', novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      if (this.busy) return;
      const body = { kind };
      if (kind === 'dispatch') {
        if (!county.value || !tracker.value.trim()) {
          clear(error).append(h('p', { class: 'message error', role: 'alert', i18n: 'dialog.needTracker' }));
          (county.value ? tracker : county).focus();
          return;
        }
        body.county_code = county.value;
        body.tracker = tracker.value.trim();
      }
      if (hours) {
        const n = Number(hours.value);
        if (!Number.isInteger(n) || n < 1 || n > 72) {
          clear(error).append(h('p', { class: 'message error', role: 'alert', i18n: 'dialog.needHours' }));
          hours.focus();
          return;
        }
        body.hours = n;
      }
      if (manager) {
        const id = Number(manager.value);
        if (!Number.isInteger(id) || id < 1) {
          clear(error).append(h('p', { class: 'message error', role: 'alert', i18n: 'dialog.needManager' }));
          manager.focus();
          return;
        }
        body.manager_id = id;
      }
      if (note.value.trim()) body.note = note.value.trim();
      this.busy = true;
      submit.disabled = true;
      const res = await this.api.post(path`/v1/work-orders/${order.id}/events`, body);
      this.busy = false;
      submit.disabled = false;
      if (!res.ok) {
        clear(error).append(h('p', { class: 'message error', role: 'alert' }, ...errorSentence(res)));
        return;
      }
      this.dialog.close();
      this.selected = res.data;
      this.message = { ok: kind === 'dispatch'
        ? ['orders.done.dispatch', { county: this.branchName(res.data.county_code), tracker: res.data.tracker }]
        : [`orders.done.${kind}`, { id: res.data.id }] };
      this.renderDetail();
      await this.refresh();
      this.announce(t(...this.message.ok));
      const heading = this.detail.querySelector('h2');
      if (heading) heading.focus();
    } },
      h('h2', { id: 'event-title', i18n: ['dialog.title', { id: order.id }] }),
      h('p', { class: 'note', i18n: `dialog.explain.${kind}` }),
      ...fields,
      error,
      h('div', { class: 'dialog-buttons' }, submit, cancel));
    clear(this.dialog).append(form);
    this.dialog.showModal(); // Escape closes it; focus returns to the page
    (county || hours || manager || note).focus();
  }
}
