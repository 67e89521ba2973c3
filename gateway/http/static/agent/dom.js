// Building the page without innerHTML: every text from the server goes in as text, never
// as markup. Texts that follow the language switch carry their key (data-i18n) or both
// languages (data-zh / data-en), so switching language re-labels the page in place and
// keeps what the user has typed.
import { getLang, t } from './i18n.js';

/**
 * h('button', {class: 'primary', i18n: 'grant.submit', onclick: fn}, child, …)
 * props: class, text, i18n (key or [key, args]), bi ({zh, en}), attrs with i18n keys
 * (i18nAttrs: {placeholder: key}), on* handlers, and plain attributes (true → present,
 * false/null/undefined → absent).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = String(value);
    else if (name === 'i18n') setI18n(el, value);
    else if (name === 'bi') setBi(el, value);
    else if (name === 'i18nAttrs') {
      el.dataset.i18nAttr = Object.entries(value).map(([a, k]) => `${a}:${k}`).join(';');
      translateAttrs(el);
    } else if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A text in the page's language: key and optional arguments. */
export function setI18n(el, value) {
  const [key, args] = Array.isArray(value) ? value : [value, undefined];
  el.dataset.i18n = key;
  if (args !== undefined) el.dataset.i18nArgs = JSON.stringify(args);
  else delete el.dataset.i18nArgs;
  el.textContent = t(key, args);
}

/** A text the server gave in both languages. */
export function setBi(el, { zh, en }) {
  el.dataset.zh = zh ?? '';
  el.dataset.en = en ?? zh ?? '';
  el.textContent = getLang() === 'en' ? el.dataset.en : el.dataset.zh;
}

function translateAttrs(el) {
  for (const pair of el.dataset.i18nAttr.split(';')) {
    const [attr, key] = pair.split(':');
    el.setAttribute(attr, t(key));
  }
}

/** Re-label everything under `root` in the current language. */
export function translate(root = document.body) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const args = el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : undefined;
    el.textContent = t(el.dataset.i18n, args);
  }
  for (const el of root.querySelectorAll('[data-zh]')) {
    el.textContent = getLang() === 'en' ? el.dataset.en : el.dataset.zh;
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) translateAttrs(el);
}

/** Empty an element. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A labelled value row of a definition list. */
export function row(labelKey, ...value) {
  return [h('dt', { i18n: labelKey }), h('dd', {}, ...value)];
}
