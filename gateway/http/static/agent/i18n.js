// Every text of the page in Chinese (the default) and English. The refusal codes are the
// contract's (SPEC §6): each has a plain sentence in both languages.

const LANG_KEY = 'callgate.lang';

/** SPEC §6 refusal codes → what the agent can tell the customer. */
export const REFUSALS = {
  not_entitled: {
    zh: '客户当前的级别不享受紧急开机服务（R1）。',
    en: "The customer's current level does not include emergency reactivation (R1).",
  },
  not_suspended: {
    zh: '该号码目前没有欠费停机，不需要紧急开机（R2）。',
    en: 'The number is not suspended for arrears, so there is nothing to reactivate (R2).',
  },
  monthly_limit: {
    zh: '该客户本月的紧急开机次数已经用完，下个月才能再办理（R3）。',
    en: "The customer has already used this month's emergency reactivation; the next one is possible next month (R3).",
  },
  arrears_too_long: {
    zh: '后付费客户已欠费两个月或以上，不能紧急开机，请客户先缴清欠费（R7）。',
    en: 'This postpaid customer owes two or more months of bills: no reactivation until they pay (R7).',
  },
  previous_unpaid: {
    zh: '上次紧急开机后的欠费还没有缴清，不能再次开机（R8）。',
    en: 'The bill from the previous emergency reactivation is still unpaid, so there is no further reactivation (R8).',
  },
  identity_not_verified: {
    zh: '客户身份未通过验证，没有办理（R9）。',
    en: "The customer's identity was not verified, so nothing was granted (R9).",
  },
  cancelled: {
    zh: '该号码已销户，不能办理紧急开机。',
    en: 'The number has been cancelled; it cannot be reactivated.',
  },
  unknown_subscriber: {
    zh: '该号码不是本网用户。',
    en: 'This number is not one of our subscribers.',
  },
};

/** Problem codes other than refusals (and the page's own "network"). */
export const ERRORS = {
  invalid_number: {
    zh: '号码格式不正确：请输入11位手机号码，或带区号的固定电话号码。',
    en: 'That is not a valid phone number: enter an 11-digit mobile number, or a fixed line with its area code.',
  },
  invalid_request: { zh: '请求内容有误，没有执行。', en: 'The request was not valid; nothing was done.' },
  unauthorized: {
    zh: '令牌无效、已吊销或已过期，请重新登录。',
    en: 'The token is unknown, revoked or expired; please sign in again.',
  },
  forbidden: { zh: '当前账号无权执行此操作。', en: 'Your account may not do this.' },
  not_found: { zh: '没有找到该记录（或不在您的分公司范围内）。', en: 'Not found (or outside your branch).' },
  rate_limited: { zh: '操作过于频繁，请稍后再试。', en: 'Too many requests; please try again in a moment.' },
  invalid_transition: {
    zh: '工单当前的状态不允许这个操作，请刷新后再试。',
    en: "The work order's status does not allow this; refresh and try again.",
  },
  internal_error: {
    zh: '服务出错（已记录），请稍后再试。',
    en: 'The service failed (it was logged); please try again shortly.',
  },
  network: {
    zh: '网络连接失败，请检查网络后重试。',
    en: 'The network connection failed; check it and try again.',
  },
  no_credit: { zh: '该号码没有临时授信。', en: 'The number has no temporary credit.' },
  credit_exhausted: { zh: '临时授信额度已用完。', en: 'The temporary credit is used up.' },
  credit_expired: { zh: '临时授信已到期。', en: 'The temporary credit has expired.' },
  unknown: { zh: '操作失败。', en: 'The operation failed.' },
};

const STRINGS = {
  zh: {
    'app.title': 'callgate 坐席助手',
    'app.skip': '跳到主要内容',
    'lang.switch': 'English',
    'lang.switchLabel': 'Switch to English',
    'signin.title': '登录',
    'signin.intro': '请输入管理员发给您的访问令牌。令牌只保存在本浏览器标签页中，关闭标签页即失效。',
    'signin.token': '访问令牌',
    'signin.agent': '坐席工号（用于来电弹屏，分公司人员可不填）',
    'signin.submit': '登录',
    'signin.needToken': '请输入访问令牌。',
    'signin.badAgent': '坐席工号只能包含字母、数字和 @ . _ -，最多64个字符。',
    'signin.badRole': '该令牌不能使用坐席页面（只限坐席、分公司人员和管理员）。',
    'signout': '退出',
    'role.agent': '坐席',
    'role.branch': '分公司',
    'role.admin': '管理员',
    'role.ivr': 'IVR',
    'who.agent': ' · 工号 {id}',
    'tabs.label': '视图',
    'tabs.agent': '来电与客户',
    'tabs.branch': '工单',
    'conn.connecting': '正在连接来电弹屏…',
    'conn.live': '来电弹屏已连接',
    'conn.retrying': '来电弹屏已断开，正在重连…',
    'conn.denied': '来电弹屏连接被拒绝（令牌或工号无效）',
    'conn.stopped': '来电弹屏已停止',
    'calls.title': '最近来电',
    'calls.none': '暂无来电。来电接通后会自动显示在这里。',
    'calls.noAgent': '未填写坐席工号：不接收来电弹屏，仍可按号码查询。',
    'call.withheld': '未显示号码',
    'call.unknownCaller': '非本网/未知来电',
    'call.announce': '新来电：{who}，{level}',
    'call.notSubscriber': '来电号码不是本网用户，可用下方“按号码查询”查找客户提供的号码。',
    'call.noNumber': '来电未显示号码。请询问客户号码后按号码查询。',
    'call.degraded': '注意：本次来电查询为降级结果，级别可能不准确。',
    'call.degradedShort': '降级结果',
    'call.line': '来电接通 {time}',
    'queue.vip': 'VIP专席',
    'queue.general': '普通队列',
    'lookup.label': '按号码查询客户',
    'lookup.submit': '查询',
    'lookup.hint': '输入号码后按回车；按 Esc 清空。',
    'lookup.empty': '请输入要查询的号码。',
    'common.loading': '正在加载…',
    'reveal.button': '显示完整号码',
    'reveal.audited': '（已显示完整号码，此操作已记录审计）',
    'status.active': '正常',
    'status.suspended': '欠费停机',
    'status.cancelled': '已销户',
    'payment.prepaid': '预付费',
    'payment.postpaid': '后付费',
    'account.title': '账户与欠费',
    'account.status': '状态',
    'account.payment': '付费方式',
    'account.arrears': '欠费',
    'account.arrearsValue': '欠费 {months} 个月，共 {yuan} 元',
    'account.service': '业务',
    'account.joined': '入网',
    'account.joinedValue': '{date}（网龄第 {months} 个月）',
    'account.branch': '归属',
    'account.credit': '临时授信',
    'account.creditValue': '额度 {limit} 元，剩余 {remaining} 元，至 {until}',
    'account.creditEnded': '已结束',
    'account.bills': '近期账单',
    'account.month': '月份',
    'account.billed': '出账（元）',
    'account.paid': '已缴（元）',
    'explain.title': '为什么是这个级别',
    'explain.raise': '怎样可以升级',
    'explain.noRaise': '评定结果中没有更高一级的提升建议。',
    'benefits.title': '可享权益',
    'benefits.assumed': '原始资料缺失，此项为假定值（政策数据）',
    'benefits.assumedMark': '（假定）',
    'benefit.yes': '享有',
    'benefit.no': '不享有',
    'benefit.standard': '标准服务',
    'benefit.once_a_year': '每年一次',
    'benefit.priority': '优先',
    'benefit.unlimited': '不限次数',
    'manager.title': '客户经理',
    'manager.none': '未分配客户经理。',
    'manager.notEntitled': '当前级别不含客户经理服务',
    'history.title': '紧急开机记录',
    'history.none': '没有紧急开机记录。',
    'history.credit': '（授信 {limit} 元，已用 {used} 元）',
    'history.until': '至 {time}',
    'history.order': '工单 #{id}',
    'mode.postpaid_48h': '后付费开机48小时',
    'mode.prepaid_credit': '预付费开机+临时授信',
    'order.status.new': '新建（市分）',
    'order.status.dispatched': '已派发（县分）',
    'order.status.paid': '已缴费',
    'order.status.overdue': '已逾期',
    'order.status.resuspended': '已再次停机',
    'order.status.closed': '已关闭',
    'orders.openTitle': '未结工单',
    'orders.none': '没有未结工单。',
    'orders.due': '期限 {time}',
    'orders.tracker': '跟进人 {name}',
    'grant.title': '紧急开机 / 临时授信',
    'grant.previewPostpaid': '符合条件：可开机 {hours} 小时，同时生成工单由市分公司跟进缴费。',
    'grant.previewPrepaid': '符合条件：可开机并给予临时授信 {yuan} 元，期限 {days} 天（额度用完或到期即止）。',
    'grant.previewRefused': '按当前资料将被拒绝：',
    'grant.thisMonth': '本月已办理 {n} 次。',
    'grant.submit': '办理紧急开机',
    'grant.submitCredit': '办理紧急开机和临时授信',
    'grant.okPostpaid': '已办理紧急开机，有效至 {until}。已生成工单 #{order}，由市分公司跟进缴费。',
    'grant.okPostpaidNoOrder': '已办理紧急开机，有效至 {until}。',
    'grant.okPrepaid': '已办理紧急开机并授信 {yuan} 元，期限 {days} 天，至 {until}。',
    'grant.retrySafe': '再次点击会重试同一次办理，不会重复开机。',
    'verify.legend': '身份验证',
    'verify.ownNumber': '本机来电（客户用该号码本机拨入）',
    'verify.ownNumberHint': '只有本次来电号码就是该号码时，才能以本机来电验证。',
    'verify.password': '服务密码',
    'verify.passwordLabel': '客户提供的服务密码',
    'verify.remaining': '服务密码还可尝试 {n} 次，输错过多将锁定。',
    'verify.wrong': '服务密码错误，还可尝试 {n} 次。',
    'verify.locked': '服务密码验证已锁定，至 {time} 解锁。',
    'verify.noPassword': '该号码未设置服务密码，无法用密码验证。',
    'orders.queueTitle': '工单队列',
    'orders.scope': '本分公司：{branch}',
    'orders.scopeAll': '全部分公司',
    'orders.filterLabel': '状态',
    'orders.filter.open': '待处理（新建/已派发/已逾期）',
    'orders.filter.new': '新建',
    'orders.filter.dispatched': '已派发',
    'orders.filter.overdue': '已逾期',
    'orders.filter.paid': '已缴费',
    'orders.filter.resuspended': '已再次停机',
    'orders.filter.closed': '已关闭',
    'orders.filter.all': '全部',
    'orders.refresh': '刷新',
    'orders.empty': '没有符合条件的工单。',
    'orders.col.id': '工单',
    'orders.col.number': '号码',
    'orders.col.status': '状态',
    'orders.col.county': '县分公司',
    'orders.col.tracker': '跟进人',
    'orders.col.due': '期限',
    'orders.col.action': '操作',
    'orders.open': '查看 #{id}',
    'orders.actions': '工单操作',
    'orders.detailTitle': '工单 #{id}',
    'orders.city': '市分公司',
    'orders.noActions': '当前状态下您没有可执行的操作。',
    'orders.history': '处理记录',
    'orders.done.dispatch': '已派发至 {county}，跟进人：{tracker}。',
    'orders.done.remind': '已记录催缴提醒（工单 #{id}）。',
    'orders.done.paid': '已记录缴费（工单 #{id}）。',
    'orders.done.overdue': '已标记逾期（工单 #{id}）。',
    'orders.done.resuspend': '已记录再次停机（工单 #{id}）。',
    'event.created': '创建',
    'event.dispatch': '派发',
    'event.remind': '催缴提醒',
    'event.paid': '记录缴费',
    'event.overdue': '标记逾期',
    'event.resuspend': '再次停机',
    'event.close': '关闭',
    'dialog.title': '工单 #{id}',
    'dialog.county': '派发到县分公司',
    'dialog.tracker': '跟进人姓名',
    'dialog.note': '备注（可不填）',
    'dialog.cancel': '取消',
    'dialog.needTracker': '请选择县分公司并填写跟进人。',
    'dialog.explain.dispatch': '把工单派发给县分公司，并指定负责跟进缴费的人（W2）。',
    'dialog.explain.remind': '记录一次对客户的缴费提醒，状态不变（W3）。',
    'dialog.explain.paid': '客户已缴清欠费：工单完成（W4）。',
    'dialog.explain.overdue': '开机期限已过仍未缴费：标记逾期（W4）。',
    'dialog.explain.resuspend': '已对逾期未缴费的号码再次停机（W4）。',
  },
  en: {
    'app.title': 'callgate agent desktop',
    'app.skip': 'Skip to main content',
    'lang.switch': '中文',
    'lang.switchLabel': '切换到中文',
    'signin.title': 'Sign in',
    'signin.intro': 'Enter the access token your administrator gave you. It is kept in this browser tab only and is gone when the tab closes.',
    'signin.token': 'Access token',
    'signin.agent': 'Agent ID (for screen pops; branch staff may leave it empty)',
    'signin.submit': 'Sign in',
    'signin.needToken': 'Please enter the access token.',
    'signin.badAgent': 'The agent ID may contain letters, digits and @ . _ - only, at most 64 characters.',
    'signin.badRole': 'This token cannot use the agent page (agents, branch staff and administrators only).',
    'signout': 'Sign out',
    'role.agent': 'Agent',
    'role.branch': 'Branch',
    'role.admin': 'Administrator',
    'role.ivr': 'IVR',
    'who.agent': ' · agent {id}',
    'tabs.label': 'View',
    'tabs.agent': 'Calls and customer',
    'tabs.branch': 'Work orders',
    'conn.connecting': 'Connecting screen pop…',
    'conn.live': 'Screen pop connected',
    'conn.retrying': 'Screen pop disconnected, reconnecting…',
    'conn.denied': 'Screen pop refused (token or agent ID not valid)',
    'conn.stopped': 'Screen pop stopped',
    'calls.title': 'Recent calls',
    'calls.none': 'No calls yet. A call connected to you appears here by itself.',
    'calls.noAgent': 'No agent ID: no screen pops; looking customers up by number still works.',
    'call.withheld': 'Number withheld',
    'call.unknownCaller': 'Unknown caller',
    'call.announce': 'New call: {who}, {level}',
    'call.notSubscriber': 'The calling number is not one of our subscribers; use "Look up a customer" for the number they give you.',
    'call.noNumber': 'The caller withheld the number. Ask for it and look it up.',
    'call.degraded': 'Note: this call was answered in degraded mode; the level may be out of date.',
    'call.degradedShort': 'degraded',
    'call.line': 'Connected {time}',
    'queue.vip': 'VIP desk',
    'queue.general': 'General queue',
    'lookup.label': 'Look up a customer by number',
    'lookup.submit': 'Look up',
    'lookup.hint': 'Press Enter to look up; Esc clears.',
    'lookup.empty': 'Please enter a number to look up.',
    'common.loading': 'Loading…',
    'reveal.button': 'Show full number',
    'reveal.audited': '(full number shown; this was recorded in the audit log)',
    'status.active': 'Active',
    'status.suspended': 'Suspended for arrears',
    'status.cancelled': 'Cancelled',
    'payment.prepaid': 'Prepaid',
    'payment.postpaid': 'Postpaid',
    'account.title': 'Account and arrears',
    'account.status': 'Status',
    'account.payment': 'Payment',
    'account.arrears': 'Arrears',
    'account.arrearsValue': '{months} month(s) unpaid, {yuan} yuan in total',
    'account.service': 'Service',
    'account.joined': 'Joined',
    'account.joinedValue': '{date} (tenure month {months})',
    'account.branch': 'Branch',
    'account.credit': 'Temporary credit',
    'account.creditValue': 'limit {limit} yuan, {remaining} yuan left, until {until}',
    'account.creditEnded': 'ended',
    'account.bills': 'Recent bills',
    'account.month': 'Month',
    'account.billed': 'Billed (yuan)',
    'account.paid': 'Paid (yuan)',
    'explain.title': 'Why this level',
    'explain.raise': 'What would raise it',
    'explain.noRaise': 'The evaluation names no higher level to reach.',
    'benefits.title': 'Benefits',
    'benefits.assumed': 'The source lost this cell; the value is an assumption (policy data)',
    'benefits.assumedMark': '(assumed)',
    'benefit.yes': 'yes',
    'benefit.no': 'no',
    'benefit.standard': 'standard',
    'benefit.once_a_year': 'once a year',
    'benefit.priority': 'priority',
    'benefit.unlimited': 'unlimited',
    'manager.title': 'Customer manager',
    'manager.none': 'No customer manager assigned.',
    'manager.notEntitled': 'not part of the current level',
    'history.title': 'Emergency reactivations',
    'history.none': 'No emergency reactivations.',
    'history.credit': ' (credit {limit} yuan, {used} used)',
    'history.until': 'until {time}',
    'history.order': 'work order #{id}',
    'mode.postpaid_48h': 'postpaid, 48 hours',
    'mode.prepaid_credit': 'prepaid with temporary credit',
    'order.status.new': 'new (city)',
    'order.status.dispatched': 'dispatched (county)',
    'order.status.paid': 'paid',
    'order.status.overdue': 'overdue',
    'order.status.resuspended': 're-suspended',
    'order.status.closed': 'closed',
    'orders.openTitle': 'Open work orders',
    'orders.none': 'No open work orders.',
    'orders.due': 'due {time}',
    'orders.tracker': 'tracked by {name}',
    'grant.title': 'Emergency reactivation / temporary credit',
    'grant.previewPostpaid': 'Eligible: reactivation for {hours} hours, and a work order for the city branch to follow up the payment.',
    'grant.previewPrepaid': 'Eligible: reactivation with {yuan} yuan of temporary credit for {days} days (ends when used up or expired).',
    'grant.previewRefused': 'With the current data this would be refused:',
    'grant.thisMonth': 'Granted {n} time(s) this month.',
    'grant.submit': 'Grant emergency reactivation',
    'grant.submitCredit': 'Grant reactivation and temporary credit',
    'grant.okPostpaid': 'Reactivated until {until}. Work order #{order} was created for the city branch to follow up the payment.',
    'grant.okPostpaidNoOrder': 'Reactivated until {until}.',
    'grant.okPrepaid': 'Reactivated with {yuan} yuan of temporary credit for {days} days, until {until}.',
    'grant.retrySafe': 'Clicking again retries the same attempt; it never grants twice.',
    'verify.legend': 'Identity check',
    'verify.ownNumber': 'Calling from this number (own number)',
    'verify.ownNumberHint': 'Own-number verification is only possible when this call comes from that number.',
    'verify.password': 'Service password',
    'verify.passwordLabel': 'Service password given by the customer',
    'verify.remaining': '{n} password attempt(s) left before verification locks.',
    'verify.wrong': 'Wrong service password; {n} attempt(s) left.',
    'verify.locked': 'Password verification is locked until {time}.',
    'verify.noPassword': 'No service password is set for this number; it cannot be verified by password.',
    'orders.queueTitle': 'Work-order queue',
    'orders.scope': 'Your branch: {branch}',
    'orders.scopeAll': 'All branches',
    'orders.filterLabel': 'Status',
    'orders.filter.open': 'Open (new, dispatched, overdue)',
    'orders.filter.new': 'New',
    'orders.filter.dispatched': 'Dispatched',
    'orders.filter.overdue': 'Overdue',
    'orders.filter.paid': 'Paid',
    'orders.filter.resuspended': 'Re-suspended',
    'orders.filter.closed': 'Closed',
    'orders.filter.all': 'All',
    'orders.refresh': 'Refresh',
    'orders.empty': 'No work orders match.',
    'orders.col.id': 'Order',
    'orders.col.number': 'Number',
    'orders.col.status': 'Status',
    'orders.col.county': 'County branch',
    'orders.col.tracker': 'Tracker',
    'orders.col.due': 'Due',
    'orders.col.action': 'Action',
    'orders.open': 'Open #{id}',
    'orders.actions': 'Work-order actions',
    'orders.detailTitle': 'Work order #{id}',
    'orders.city': 'City branch',
    'orders.noActions': 'There is nothing you can do with the order in this status.',
    'orders.history': 'History',
    'orders.done.dispatch': 'Dispatched to {county}; tracked by {tracker}.',
    'orders.done.remind': 'Reminder recorded (work order #{id}).',
    'orders.done.paid': 'Payment noted (work order #{id}).',
    'orders.done.overdue': 'Marked overdue (work order #{id}).',
    'orders.done.resuspend': 'Re-suspension recorded (work order #{id}).',
    'event.created': 'created',
    'event.dispatch': 'Dispatch',
    'event.remind': 'Reminder',
    'event.paid': 'Payment noted',
    'event.overdue': 'Mark overdue',
    'event.resuspend': 'Re-suspend',
    'event.close': 'Close',
    'dialog.title': 'Work order #{id}',
    'dialog.county': 'Dispatch to county branch',
    'dialog.tracker': 'Name of the person tracking it',
    'dialog.note': 'Note (optional)',
    'dialog.cancel': 'Cancel',
    'dialog.needTracker': 'Choose the county branch and name the tracker.',
    'dialog.explain.dispatch': 'Hand the order to a county branch and name who follows up the payment (W2).',
    'dialog.explain.remind': 'Record a payment reminder to the customer; the status stays (W3).',
    'dialog.explain.paid': 'The customer has paid the arrears: the order is done (W4).',
    'dialog.explain.overdue': 'The reactivation window ended without payment: mark it overdue (W4).',
    'dialog.explain.resuspend': 'The overdue number has been suspended again (W4).',
  },
};

for (const [code, text] of Object.entries(REFUSALS)) {
  STRINGS.zh[`refusal.${code}`] = text.zh;
  STRINGS.en[`refusal.${code}`] = text.en;
}
for (const [code, text] of Object.entries(ERRORS)) {
  STRINGS.zh[`error.${code}`] = text.zh;
  STRINGS.en[`error.${code}`] = text.en;
}

let current = readLang();

function readLang() {
  try {
    return localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh';
  } catch {
    return 'zh';
  }
}

export function getLang() {
  return current;
}

/** Switch the language (remembered in this browser; it is a preference, not a secret). */
export function setLang(lang) {
  current = lang === 'en' ? 'en' : 'zh';
  try {
    localStorage.setItem(LANG_KEY, current);
  } catch {
    // storage may be disabled; the switch still works for this page
  }
}

/** The text of `key` in the current language, with {name} placeholders filled. */
export function t(key, args) {
  const text = STRINGS[current][key] ?? STRINGS.zh[key] ?? key;
  if (!args) return text;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in args ? String(args[name]) : match));
}

/** Texts of a module of the page, in both languages (the same keys in each). */
export function addStrings(zh, en) {
  Object.assign(STRINGS.zh, zh);
  Object.assign(STRINGS.en, en);
}

/** Whether a text exists (for codes the server may add later). */
export function has(key) {
  return key in STRINGS.zh;
}

/** For tests: every key in both languages. */
export function keys(lang) {
  return Object.keys(STRINGS[lang]);
}

const TIME = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});

/** An instant as "2026-11-26 10:30", Beijing time (every date rule is in Asia/Shanghai). */
export function fmtTime(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const p = Object.fromEntries(TIME.formatToParts(date).map((part) => [part.type, part.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** Amounts come as decimal strings ("100.00"): shown as they are. */
export function fmtYuan(value) {
  return value === null || value === undefined ? '0.00' : String(value);
}
