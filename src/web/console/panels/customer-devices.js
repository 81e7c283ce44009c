/**
 * The chosen customer's enrolled devices, with "Remove device" for a lost or stolen phone.
 * Removing revokes the device for good and at once (DELETE, audited on the server): its
 * credential is refused, it is never notified or rung again.
 */
import { announce, errorBox, h, replace } from '../../shared/dom.js';
import { date, dateTime } from '../../shared/format.js';

export function customerDevicesPanel(consoleApp) {
  const title = h('h2', { id: 'customer-devices-title' }, 'Devices');
  const list = h('div');
  const msg = h('div');
  const el = h('section', { class: 'customer-devices', id: 'customer-devices', 'aria-labelledby': 'customer-devices-title', hidden: true }, title, list, msg);
  let customer = null;
  // A slower answer for the previously chosen customer must not overwrite the current list.
  let generation = 0;

  async function load() {
    const mine = ++generation;
    const c = customer;
    if (!c) return;
    try {
      const { items } = await consoleApp.call(`/api/v1/customers/${encodeURIComponent(c.id)}/devices`);
      if (mine !== generation) return;
      replace(list, items.length === 0 ? h('p', { class: 'muted' }, 'No enrolled devices.') : h('ul', { class: 'plain-list' }, items.map((d) => deviceItem(c, d))));
    } catch (e) {
      if (mine === generation) replace(list, errorBox(e.message));
    }
  }

  function deviceItem(c, d) {
    const seen = d.lastSeenAt ? `last seen ${dateTime(d.lastSeenAt)}` : 'not seen since enrolment';
    const actions = h('div', { class: 'actions' });
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove device ${d.label}` }, 'Remove device');
    const showRemove = () => replace(actions, remove);
    remove.addEventListener('click', () => {
      // Confirmed in the page: the agent reads what removing means before it happens.
      const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, remove it');
      const keep = h('button', { type: 'button' }, 'Keep it');
      keep.addEventListener('click', () => {
        showRemove();
        remove.focus();
      });
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        keep.disabled = true;
        replace(msg);
        try {
          await consoleApp.call(`/api/v1/customers/${encodeURIComponent(c.id)}/devices/${encodeURIComponent(d.id)}`, { method: 'DELETE' });
          const done = `Device “${d.label}” of ${c.name} removed; it can no longer accept calls or sign in.`;
          replace(msg, h('p', { class: 'message ok', role: 'status' }, done));
          announce(done);
        } catch (e) {
          replace(msg, errorBox(e.message));
        }
        await load();
      });
      replace(actions, h('p', { class: 'message warn confirm-question' }, `Remove “${d.label}”? It can no longer accept calls or sign in, and needs a new enrollment code to be used again.`), yes, keep);
      yes.focus();
    });
    showRemove();
    return h('li', { class: 'device', 'data-device-id': d.id }, h('strong', null, d.label), h('span', { class: 'hint' }, `Enrolled ${date(d.createdAt)} · ${seen}`), actions);
  }

  return {
    el,
    /** Shows this customer's devices ({ id, name }), or hides the list (null). */
    show(c) {
      customer = c;
      replace(msg);
      replace(list);
      el.hidden = !c;
      if (!c) {
        generation++;
        return;
      }
      title.textContent = `Devices of ${c.name}`;
      load();
    },
  };
}
