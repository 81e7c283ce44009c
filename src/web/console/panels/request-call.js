/** "Request a call": find the customer (and see their devices), say why and the reference, knock. */
import { ApiError } from '../../shared/api.js';
import { announce, errorBox, h, replace, setBusy } from '../../shared/dom.js';
import { customerDevicesPanel } from './customer-devices.js';

const CHANNEL_TEXT = { app: 'in their open app', webpush: 'by push notification', sms: 'by text message' };

/** ", reached in their open app and by push notification"; empty when the sending was deferred. */
function reachedText(channels) {
  const parts = (channels || []).map((c) => CHANNEL_TEXT[c] || c);
  return parts.length ? `, reached ${parts.join(' and ')}` : ', to be delivered shortly';
}

export function requestCallPanel(consoleApp, { onRequested }) {
  const q = h('input', { id: 'customer-q', type: 'search', name: 'q', autocomplete: 'off', 'aria-describedby': 'customer-q-hint' });
  const searchMsg = h('div');
  const results = h('div', { class: 'results' });
  const devices = customerDevicesPanel(consoleApp);
  const search = h(
    'form',
    { role: 'search', novalidate: true, 'aria-label': 'Customer search' },
    h('div', { class: 'field' }, h('label', { for: 'customer-q' }, 'Find a customer'), h('span', { class: 'hint', id: 'customer-q-hint' }, 'Name, phone number or customer number.'), q),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search')),
    searchMsg,
  );

  const reason = h('input', { id: 'knock-reason', name: 'reason', maxlength: 300, required: true, 'aria-describedby': 'knock-reason-hint' });
  const reference = h('input', { id: 'knock-reference', name: 'reference', maxlength: 64, required: true, autocomplete: 'off', 'aria-describedby': 'knock-reference-hint' });
  const knockMsg = h('div');
  const knock = h(
    'form',
    { novalidate: true, 'aria-label': 'Call request details' },
    h('div', { class: 'field' }, h('label', { for: 'knock-reason' }, 'Reason'), h('span', { class: 'hint', id: 'knock-reason-hint' }, 'The customer sees this, e.g. “Card payment check”.'), reason),
    h('div', { class: 'field' }, h('label', { for: 'knock-reference' }, 'Reference number'), h('span', { class: 'hint', id: 'knock-reference-hint' }, 'Letters, digits and . _ / # - only.'), reference),
    knockMsg,
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Request a call')),
  );

  /** One key per intended request: pressing again after a network error does not knock twice. */
  let idempotencyKey = crypto.randomUUID();

  search.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(searchMsg);
    if (!q.value.trim()) {
      replace(searchMsg, errorBox('Type a name, phone number or customer number.'));
      q.focus();
      return;
    }
    setBusy(search, true);
    try {
      const { items } = await consoleApp.call(`/api/v1/customers?q=${encodeURIComponent(q.value.trim())}`);
      if (items.length === 0) {
        replace(results);
        devices.show(null);
        replace(searchMsg, h('p', { class: 'message info', role: 'status' }, 'No customer matches.'));
        return;
      }
      const fieldset = h('fieldset', null, h('legend', null, `Customer (${items.length} found)`));
      items.forEach((c, i) => {
        consoleApp.customers.set(c.id, Promise.resolve(c.name));
        const detail = [c.phone, c.externalRef].filter(Boolean).join(' · ');
        fieldset.append(
          h('label', { class: 'choice' }, h('input', { type: 'radio', name: 'customer', value: c.id, checked: i === 0 }), h('span', null, h('strong', null, c.name), detail ? ` · ${detail}` : '')),
        );
      });
      // The chosen customer's devices follow the choice (a lost phone is removed from there).
      const byId = new Map(items.map((c) => [c.id, c]));
      fieldset.addEventListener('change', (e) => devices.show(byId.get(e.target.value) ?? null));
      replace(results, fieldset);
      devices.show(items[0]);
      announce(`${items.length} customer${items.length === 1 ? '' : 's'} found.`);
    } catch (e) {
      replace(searchMsg, errorBox(e.message));
    } finally {
      setBusy(search, false);
    }
  });

  knock.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(knockMsg);
    const chosen = results.querySelector('input[name="customer"]:checked');
    if (!chosen) {
      replace(knockMsg, errorBox('Find and choose the customer first.'));
      q.focus();
      return;
    }
    if (!reason.value.trim() || !reference.value.trim()) {
      replace(knockMsg, errorBox('Give a reason and a reference number.'));
      (reason.value.trim() ? reference : reason).focus();
      return;
    }
    setBusy(knock, true);
    try {
      const request = await consoleApp.call('/api/v1/call-requests', {
        method: 'POST',
        headers: { 'Idempotency-Key': idempotencyKey },
        body: { customerId: chosen.value, reason: reason.value.trim(), reference: reference.value.trim() },
      });
      idempotencyKey = crypto.randomUUID();
      const name = await consoleApp.customerName(chosen.value);
      replace(
        knockMsg,
        h('p', { class: 'message ok', role: 'status' }, `Call request sent to ${name} (${request.reference})${reachedText(request.reachedBy)}. Their answer shows under “Your call requests”.`),
      );
      reason.value = '';
      reference.value = '';
      onRequested(request);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'request_already_open') {
        // One answerable request per customer and agent: no new knock was sent; the form keeps its text.
        const name = await consoleApp.customerName(chosen.value).catch(() => 'This customer');
        replace(
          knockMsg,
          h('p', { class: 'message warn', role: 'alert' }, `Not sent: ${name} already has an open call request from you (${e.problem.reference}). Cancel it under “Your call requests” to knock again.`),
        );
      } else replace(knockMsg, errorBox(e.message));
    } finally {
      setBusy(knock, false);
    }
  });

  const el = h('section', { class: 'card', id: 'request-call', 'aria-labelledby': 'request-call-title' }, h('h1', { id: 'request-call-title' }, 'Request a call'), search, results, devices.el, knock);
  return { el };
}
