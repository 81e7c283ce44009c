/** Small DOM helpers: elements are built with textContent, never from HTML strings. */

/**
 * h('button', { class: 'primary', onclick: fn }, 'Accept call')
 * @param {string} tag
 * @param {Record<string, any>|null} [props]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

/** Says something to screen reader users without moving focus (a polite live region). */
export function announce(text) {
  let region = document.getElementById('announcer');
  if (!region) {
    region = h('div', { id: 'announcer', class: 'visually-hidden', 'aria-live': 'polite', role: 'status' });
    document.body.append(region);
  }
  region.textContent = '';
  // A fresh text node after a tick is read even when the text repeats.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** Moves focus to the page's main heading after a screen change, so readers start there. */
export function focusHeading(container) {
  const heading = container.querySelector('h1, h2');
  if (!heading) return;
  heading.setAttribute('tabindex', '-1');
  heading.focus({ preventScroll: false });
}

/** An error message box (role=alert) showing the API's problem detail. */
export function errorBox(message) {
  return h('p', { class: 'message error', role: 'alert' }, message);
}

/** Sets a form's busy state: disables its buttons while a request is running. */
export function setBusy(form, busy) {
  form.setAttribute('aria-busy', busy ? 'true' : 'false');
  for (const b of form.querySelectorAll('button')) b.disabled = busy;
}
