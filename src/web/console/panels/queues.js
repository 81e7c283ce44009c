/** "Queues": what is waiting in each group, oldest first. */
import { errorBox, h, replace } from '../../shared/dom.js';
import { stateLabel } from '../labels.js';

export function queuesPanel(consoleApp) {
  const holder = h('div');
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
            h('h3', null, g.name, h('span', { class: 'count' }, ` — ${g.waiting.length} waiting`)),
            g.waiting.length === 0
              ? h('p', { class: 'muted' }, 'Nothing waiting.')
              : h(
                  'ol',
                  { class: 'plain-list' },
                  await Promise.all(g.waiting.map(async (r) => h('li', null, `${await consoleApp.customerName(r.customerId)} · ${r.reference} · `, h('span', { class: `badge ${stateLabel(r).tone}` }, stateLabel(r).text)))),
                ),
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
