/** "Scheduled callbacks": when, who, the reference and the customer's note. */
import { errorBox, h, replace } from '../../shared/dom.js';
import { dateTime } from '../../shared/format.js';
import { stateLabel } from '../labels.js';

export function callbacksPanel(consoleApp) {
  const list = h('ul', { class: 'plain-list' });
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
            h('strong', null, r.scheduledFor ? dateTime(r.scheduledFor) : 'Time to be agreed'),
            ` · ${await consoleApp.customerName(r.customerId)} · ${r.reference} `,
            h('span', { class: `badge ${label.tone}` }, r.state === 'scheduled' ? 'Scheduled' : label.text),
            h('div', { class: r.scheduleNote ? '' : 'muted' }, r.scheduleNote ? `Note: ${r.scheduleNote}` : 'No note.'),
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
    h('p', { class: 'hint' }, 'When one is due, take it from your desk phone with *89 (next callback).'),
    list,
  );
  return { el, refresh };
}
