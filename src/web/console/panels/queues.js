/** "Queues": what is waiting in each group, oldest first; snoozed requests (reminder set) apart, not counted as waiting. */
import { errorBox, h, replace } from '../../shared/dom.js';
import { stateLabel } from '../labels.js';

export function queuesPanel(consoleApp) {
  const holder = h('div');
  const item = async (r) => h('li', null, `${await consoleApp.customerName(r.customerId)} · ${r.reference} · `, h('span', { class: `badge ${stateLabel(r).tone}` }, stateLabel(r).text));
  async function refresh() {
    try {
      const { items } = await consoleApp.call('/api/v1/queues');
      if (items.length === 0) {
        replace(holder, h('p', { class: 'muted' }, 'No groups.'));
        return;
      }
      const groups = await Promise.all(
        items.map(async (g) =>
          h(
            'div',
            { 'data-group-id': g.groupId },
            h('h3', null, g.name, h('span', { class: 'count' }, ` — ${g.waiting.length} waiting${g.snoozed.length ? `, ${g.snoozed.length} to be reminded later` : ''}`)),
            g.waiting.length === 0 ? h('p', { class: 'muted' }, 'Nothing waiting.') : h('ol', { class: 'plain-list', 'aria-label': `Waiting in ${g.name}` }, await Promise.all(g.waiting.map(item))),
            g.snoozed.length === 0 ? null : h('ul', { class: 'plain-list snoozed', 'aria-label': `To be reminded later in ${g.name}` }, await Promise.all(g.snoozed.map(item))),
          ),
        ),
      );
      replace(holder, groups);
    } catch (e) {
      replace(holder, errorBox(e.message));
    }
  }
  const el = h('section', { class: 'card', id: 'queues', 'aria-labelledby': 'queues-title' }, h('h2', { id: 'queues-title' }, 'Queues'), holder);
  return { el, refresh };
}
