// Problems from the API in plain words: refusals (SPEC §6 codes) with what the agent can
// tell the customer, other errors with the server's detail as a smaller second line.
import { h } from './dom.js';
import { fmtTime, has } from './i18n.js';

/** A refusal: its sentence, the identity check's attempts or lock, and the code. */
export function refusalSentence(code, data = {}) {
  if (!has(`refusal.${code}`)) return errorSentence({ status: 409, data: { ...data, code } });
  const parts = [h('span', { class: 'sentence', i18n: `refusal.${code}` })];
  if (code === 'identity_not_verified') {
    if (data.locked_until) {
      parts.push(' ', h('span', { 'data-testid': 'lock', i18n: ['verify.locked', { time: fmtTime(data.locked_until) }] }));
    } else if (typeof data.remaining_attempts === 'number') {
      parts.push(' ', h('span', { 'data-testid': 'remaining', i18n: ['verify.wrong', { n: data.remaining_attempts }] }));
    }
  }
  parts.push(' ', h('span', { class: 'code' }, `(${code})`));
  return parts;
}

/** Any other failed request (status 0: the network). */
export function errorSentence(res) {
  const data = (res && res.data) || {};
  const code = data.code || (res && res.status === 0 ? 'network' : 'unknown');
  const parts = [h('span', { class: 'sentence', i18n: has(`error.${code}`) ? `error.${code}` : 'error.unknown' })];
  if (code !== 'network') parts.push(' ', h('span', { class: 'code' }, `(${code})`));
  if (data.detail) parts.push(h('span', { class: 'detail' }, String(data.detail)));
  return parts;
}
