// Small DOM helpers: element creation without innerHTML, live announcements, toasts and
// modal dialogs. Nothing here touches inline style attributes from markup (strict CSP).

/**
 * h('button', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child…)
 * Attributes: "class", "text", "on*" handlers, "dataset" object, booleans (true sets an
 * empty attribute, false/null/undefined omit it), everything else via setAttribute.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'muted' || k === 'srcObject') el[k] = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

let uid = 0;
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: returns {wrap, input}. */
export function field(label, input, hint) {
  if (!input.id) input.id = nextId('in');
  const wrap = h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input);
  if (hint) {
    const hid = nextId('hint');
    input.setAttribute('aria-describedby', hid);
    wrap.appendChild(h('p', { class: 'hint', id: hid, text: hint }));
  }
  return { wrap, input };
}

/** Announces text to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node on the next frame makes screen readers read repeated messages.
  requestAnimationFrame(() => { region.textContent = text; });
}

/** Shows a transient notice (also announced). kind: info | error | success. */
export function toast(text, kind = 'info', ms = 5000) {
  const host = document.getElementById('toasts');
  if (!host) return;
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  host.appendChild(el);
  setTimeout(() => el.remove(), ms);
}

/**
 * Shows a modal <dialog> with a message and buttons; resolves with the value of the button
 * pressed, or null when dismissed with Escape. buttons: [{label, value, kind}].
 */
export function ask({ title, message, buttons }) {
  return new Promise((resolve) => {
    const titleId = nextId('dlg');
    const dlg = h('dialog', { class: 'modal', 'aria-labelledby': titleId });
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    dlg.append(
      h('h2', { id: titleId, text: title }),
      message ? h('p', { text: message }) : null,
      h('div', { class: 'modal-actions' },
        buttons.map((b) => h('button', {
          type: 'button',
          class: `btn ${b.kind ? 'btn-' + b.kind : ''}`,
          'data-value': b.value,
          onclick: () => done(b.value),
        }, b.label))),
    );
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(null); });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

/** Formats an RFC 3339 time as a short local time. */
export function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || '?').slice(0, 2);
  return s.toUpperCase();
}

/** A stable hue for a name, used for avatar backgrounds via a CSS custom property. */
export function hueFor(text) {
  let x = 0;
  for (const ch of String(text)) x = (x * 31 + ch.codePointAt(0)) % 360;
  return x;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = {
  mic: ['M12 2a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3z', 'M19 10v1a7 7 0 0 1-14 0v-1', 'M12 18v4', 'M8 22h8'],
  micOff: ['M12 2a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3z', 'M19 10v1a7 7 0 0 1-14 0v-1', 'M12 18v4', 'M8 22h8', 'M3 3l18 18'],
  cam: ['M4 6h10a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z', 'M16 10l6-4v12l-6-4'],
  camOff: ['M4 6h10a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z', 'M16 10l6-4v12l-6-4', 'M2 2l20 20'],
  screen: ['M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z', 'M8 21h8', 'M12 17v4', 'M12 13V8', 'M9.5 10.5L12 8l2.5 2.5'],
  chat: ['M21 12a8 8 0 0 1-11.6 7.1L3 21l1.9-6.4A8 8 0 1 1 21 12z'],
  people: ['M9 4a4 4 0 1 1 0 8a4 4 0 1 1 0-8z', 'M1 21v-1a7 7 0 0 1 14 0v1', 'M16 4a4 4 0 0 1 0 8', 'M23 21v-1a6 6 0 0 0-4-5.7'],
  leave: ['M2.5 15.5c5.3-5 13.7-5 19 0l-2.6 2.6-3.4-1.6v-3.2a11 11 0 0 0-7 0v3.2l-3.4 1.6z'],
  more: ['M5 12h.01', 'M12 12h.01', 'M19 12h.01'],
};

/** A decorative stroke icon (aria-hidden); every control that uses one also has a text label. */
export function svgIcon(name, cls = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '22');
  svg.setAttribute('height', '22');
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', name === 'more' ? '3' : '2');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', cls);
  for (const d of ICONS[name] || []) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.appendChild(p);
  }
  return svg;
}
