/** "Call history": recent calls with their outcome and how the customer was verified. */
import { errorBox, h, replace } from '../../shared/dom.js';
import { dateTime } from '../../shared/format.js';
import { outcomeText } from '../labels.js';

const VERIFICATION = { 'token:biometric': 'verified by biometric', 'token:pin': 'verified by PIN', session: 'verified (transferred)' };

export function historyPanel(consoleApp) {
  const list = h('ul', { class: 'plain-list' });
  async function refresh() {
    try {
      const { items } = await consoleApp.call('/api/v1/call-records?limit=20');
      if (items.length === 0) {
        replace(list, h('li', { class: 'muted' }, 'No calls yet.'));
        return;
      }
      replace(
        list,
        items.map((c) =>
          h(
            'li',
            null,
            h('strong', null, dateTime(c.startedAt)),
            ` · ${c.customerName || 'Unknown caller'}${c.reference ? ` · ${c.reference}` : ''} · ${c.direction === 'inbound' ? 'incoming' : 'outgoing'}`,
            h('div', { class: 'muted' }, [c.outcome ? `Outcome: ${outcomeText(c.outcome)}` : c.endedAt ? 'Ended' : c.answeredAt ? 'In progress' : 'Being set up (queued or ringing)', c.verification ? VERIFICATION[c.verification] || c.verification : null].filter(Boolean).join(' · ')),
          ),
        ),
      );
    } catch (e) {
      replace(list, h('li', null, errorBox(e.message)));
    }
  }
  const el = h('section', { class: 'card', id: 'history', 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'Call history'), list);
  return { el, refresh };
}
