/** "Your call requests": each request the agent made, with its state kept live. */
import { errorBox, h, replace } from '../../shared/dom.js';
import { when } from '../../shared/format.js';
import { OPEN_STATES, stateLabel } from '../labels.js';

/** The states the server lets an agent cancel (the domain's open states). */
const CANCELLABLE = new Set(['notified', 'snoozed', 'accepted', 'authenticated', 'expired', 'scheduled', 'due', 'prompted']);

export function requestsPanel(consoleApp) {
  const body = h('tbody');
  const msg = h('div');
  const empty = h('p', { class: 'muted' }, 'No call requests yet.');
  const table = h(
    'table',
    { class: 'responsive' },
    h('caption', { class: 'visually-hidden' }, 'Your call requests and their state'),
    h('thead', null, h('tr', null, ['Customer', 'Reference', 'Reason', 'State', 'Changed', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'visually-hidden' }, 'Actions'))))),
    body,
  );
  const rows = new Map();

  async function row(r) {
    const label = stateLabel(r);
    const cells = [
      h('td', { 'data-label': 'Customer' }, await consoleApp.customerName(r.customerId)),
      h('td', { 'data-label': 'Reference' }, r.reference),
      h('td', { 'data-label': 'Reason' }, r.reason),
      h('td', { 'data-label': 'State', class: 'state' }, h('span', { class: `badge ${label.tone}` }, label.text), r.scheduleNote ? h('div', { class: 'muted' }, `Note: ${r.scheduleNote}`) : null),
      h('td', { 'data-label': 'Changed' }, h('time', { datetime: r.updatedAt }, when(r.updatedAt))),
      h('td', { 'data-label': '' }, CANCELLABLE.has(r.state) ? cancel(r) : null),
    ];
    const tr = h('tr', { 'data-request-id': r.id, 'data-state': r.state }, cells);
    return { tr, label };
  }

  function cancel(r) {
    const b = h('button', { type: 'button', class: 'link', 'aria-label': `Cancel request ${r.reference}` }, 'Cancel');
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await upsert(await consoleApp.call(`/api/v1/call-requests/${r.id}/cancel`, { method: 'POST' }));
      } catch (e) {
        replace(msg, errorBox(e.message));
        b.disabled = false;
      }
    });
    return b;
  }

  async function upsert(r) {
    const { tr, label } = await row(r);
    const old = rows.get(r.id);
    rows.set(r.id, tr);
    if (old) {
      old.replaceWith(tr);
      tr.classList.add('changed');
      setTimeout(() => tr.classList.remove('changed'), 2000);
    } else {
      body.prepend(tr);
    }
    empty.hidden = rows.size > 0;
    return label;
  }

  async function refresh() {
    const { items } = await consoleApp.call('/api/v1/call-requests?scope=mine&limit=100');
    const built = await Promise.all(items.map(row));
    rows.clear();
    replace(body, built.map((b) => b.tr));
    items.forEach((r, i) => rows.set(r.id, built[i].tr));
    empty.hidden = rows.size > 0;
  }

  /** A live change: re-read that request; returns a sentence to announce. */
  async function changed(id) {
    try {
      const r = await consoleApp.call(`/api/v1/call-requests/${id}`);
      if (r.agentId !== consoleApp.agent.id && !rows.has(id)) return null;
      const label = await upsert(r);
      return OPEN_STATES.has(r.state) || r.state === 'cancelled' || r.state === 'ended' ? `${r.reference}: ${label.text}` : null;
    } catch {
      return null;
    }
  }

  const el = h('section', { class: 'card', id: 'requests', 'aria-labelledby': 'requests-title' }, h('h2', { id: 'requests-title' }, 'Your call requests'), msg, empty, h('div', { class: 'table-scroll' }, table));
  return { el, refresh, changed, upsert };
}
