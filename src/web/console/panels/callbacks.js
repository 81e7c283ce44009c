/** "Scheduled callbacks": when, who, the reference and the customer's note, and "Call now". */
import { announce, errorBox, h, replace } from '../../shared/dom.js';
import { dateTime } from '../../shared/format.js';
import { stateLabel } from '../labels.js';

const STARTABLE = new Set(['scheduled', 'due', 'prompted']);

/** Starts the callback at once: the agent's desk phone rings first, or the customer is prompted. */
function callNowButton(consoleApp, r, result, onStarted) {
  // The result goes above the list: the list is re-read when the request changes.
  const button = h('button', { type: 'button', 'aria-describedby': `callback-${r.id}` }, 'Call now');
  button.addEventListener('click', async () => {
    button.disabled = true;
    replace(result);
    try {
      const started = await consoleApp.call(`/api/v1/call-requests/${r.id}/call-now`, { method: 'POST' });
      const text =
        started.mode === 'agent_calls'
          ? 'Calling now: your desk phone rings first, then the customer.'
          : started.customerNotified
            ? 'The customer has been asked to call now.'
            : 'The customer could not be reached to call now.';
      replace(result, h('p', { class: `message ${started.mode === 'agent_calls' || started.customerNotified ? 'ok' : 'warn'}` }, `${r.reference}: ${text}`));
      announce(text);
      onStarted?.(started);
    } catch (e) {
      replace(result, errorBox(e.message));
      button.disabled = false;
    }
  });
  return button;
}

export function callbacksPanel(consoleApp, { onStarted } = {}) {
  const list = h('ul', { class: 'plain-list' });
  const result = h('div', { role: 'status' });
  const count = h('span', { class: 'count' });
  async function refresh() {
    try {
      const { items } = await consoleApp.call('/api/v1/callbacks');
      count.textContent = ` (${items.length})`;
      if (items.length === 0) {
        replace(list, h('li', { class: 'muted' }, 'No callbacks scheduled.'));
        return;
      }
      const rows = await Promise.all(
        items.map(async (r) => {
          const label = stateLabel(r);
          return h(
            'li',
            { 'data-request-id': r.id },
            h(
              'span',
              { id: `callback-${r.id}` },
              h('strong', null, r.scheduledFor ? dateTime(r.scheduledFor) : 'Time to be agreed'),
              ` · ${await consoleApp.customerName(r.customerId)} · ${r.reference} `,
            ),
            h('span', { class: `badge ${label.tone}` }, r.state === 'scheduled' ? 'Scheduled' : label.text),
            h('div', { class: r.scheduleNote ? '' : 'muted' }, r.scheduleNote ? `Note: ${r.scheduleNote}` : 'No note.'),
            STARTABLE.has(r.state) ? h('div', { class: 'actions' }, callNowButton(consoleApp, r, result, onStarted)) : null,
          );
        }),
      );
      replace(list, rows);
    } catch (e) {
      replace(list, h('li', null, errorBox(e.message)));
    }
  }
  const el = h(
    'section',
    { class: 'card', id: 'callbacks', 'aria-labelledby': 'callbacks-title' },
    h('h2', { id: 'callbacks-title' }, 'Scheduled callbacks', count),
    h('p', { class: 'hint' }, 'When one is due, take it from your desk phone with *89 (next callback), or start one now with Call now.'),
    result,
    list,
  );
  return { el, refresh };
}
