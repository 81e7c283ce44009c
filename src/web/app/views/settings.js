/** Settings: what this device has set up, and setting up what is missing; changing the PIN; the customer's devices (remove a lost one). */
import { ApiError } from '../../shared/api.js';
import { announce, errorBox, h, replace, setBusy } from '../../shared/dom.js';
import { enablePush, pushAvailable } from '../push.js';
import { signChallenge } from '../device-key.js';
import { createPasskey, passkeyErrorText, usePasskey, webAuthnAvailable } from '../webauthn.js';
import { lockedText } from './verify.js';

export async function showSettings(app, _params, root) {
  const info = await app.refreshInfo();
  const msg = h('div');

  const rows = h(
    'dl',
    { class: 'facts' },
    h('dt', null, 'Device'),
    h('dd', null, info.label),
    h('dt', null, 'Fingerprint or face'),
    h('dd', null, info.passkey ? 'Set up' : 'Not set up'),
    h('dt', null, 'PIN'),
    h('dd', null, info.pin ? 'Set' : 'Not set'),
    h('dt', null, 'Notifications'),
    h('dd', null, info.push ? 'On' : 'Off'),
  );

  const actions = h('div', { class: 'actions' });
  if (!info.passkey && webAuthnAvailable()) {
    const b = h('button', { type: 'button', class: 'primary' }, 'Set up fingerprint or face');
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        const { challengeId, options } = await app.call('/api/v1/devices/me/passkey/options', { method: 'POST' });
        await app.call('/api/v1/devices/me/passkey', { method: 'POST', body: { challengeId, response: await createPasskey(options) } });
        announce('Fingerprint or face set up.');
        await showSettings(app, [], root);
      } catch (e) {
        replace(msg, errorBox(e instanceof ApiError ? e.message : passkeyErrorText(e)));
        b.disabled = false;
      }
    });
    actions.append(b);
  }
  if (!info.push && pushAvailable()) {
    const b = h('button', { type: 'button' }, 'Turn on notifications');
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await enablePush(app.device.credential);
        announce('Notifications turned on.');
        await showSettings(app, [], root);
      } catch (e) {
        replace(msg, errorBox(`Notifications could not be turned on: ${e.message}.`));
        b.disabled = false;
      }
    });
    actions.append(b);
  }

  // Changing the PIN proves the person (current PIN, or the passkey before a first PIN) and the
  // device (its key signs a fresh challenge); a locked device waits for the lock to end.
  const current = h('input', { id: 'current-pin', type: 'password', inputmode: 'numeric', autocomplete: 'current-password', required: true });
  const pin = h('input', { id: 'new-pin', type: 'password', inputmode: 'numeric', autocomplete: 'new-password', required: true, 'aria-describedby': 'new-pin-hint' });
  const pinMsg = h('div');
  const pinForm = h(
    'form',
    { novalidate: true },
    info.pin ? h('div', { class: 'field' }, h('label', { for: 'current-pin' }, 'Current PIN'), current) : null,
    h('div', { class: 'field' }, h('label', { for: 'new-pin' }, 'New PIN'), h('span', { class: 'hint', id: 'new-pin-hint' }, 'At least 6 digits; not a run like 123456.'), pin),
    pinMsg,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, info.pin ? 'Change PIN' : 'Set PIN')),
  );
  pinForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(pinMsg);
    if (info.pin && !/^[0-9]+$/.test(current.value)) {
      replace(pinMsg, errorBox('Enter your current PIN (digits only).'));
      current.focus();
      return;
    }
    setBusy(pinForm, true);
    try {
      const c = await app.call('/api/v1/devices/me/pin/challenge', { method: 'POST' });
      const body = { pin: pin.value, challengeId: c.challengeId, signature: await signChallenge(app.device.keyPair, c.challenge) };
      if (c.methods.includes('pin')) body.currentPin = current.value;
      else if (c.methods.includes('biometric')) body.webauthn = await usePasskey(c.webauthn);
      await app.call('/api/v1/devices/me/pin', { method: 'PUT', body });
      current.value = '';
      pin.value = '';
      replace(pinMsg, h('p', { class: 'message ok', role: 'status' }, info.pin ? 'PIN changed.' : 'PIN set.'));
    } catch (e) {
      current.value = '';
      if (e instanceof ApiError && e.code === 'pin_locked' && e.problem.lockedUntil) {
        replace(pinMsg, errorBox(lockedText(e.problem.lockedUntil, app.timeZone)));
      } else {
        replace(pinMsg, errorBox(e instanceof ApiError ? e.message : passkeyErrorText(e)));
        (info.pin ? current : pin).focus();
      }
    } finally {
      setBusy(pinForm, false);
    }
  });

  // The customer's devices: a lost or stolen phone is removed from here (revoked for good: it can
  // no longer verify calls or be notified). Removing this device signs the app out.
  const devices = await app.call('/api/v1/devices');
  const devicesMsg = h('div');
  const deviceList = h(
    'ul',
    { class: 'devices' },
    devices.items.map((d) => {
      const remove = h('button', { type: 'button', 'aria-label': `Remove ${d.label}` }, 'Remove');
      remove.addEventListener('click', async () => {
        const question = d.current
          ? 'Remove this device? It will no longer verify calls or get notifications, and you will need a new enrollment code to use it again.'
          : `Remove “${d.label}”? It will no longer verify calls or get notifications.`;
        if (!confirm(question)) return;
        remove.disabled = true;
        try {
          await app.call(`/api/v1/devices/${d.id}`, { method: 'DELETE' });
          announce(`${d.label} removed.`);
          if (d.current) app.go('/');
          else await showSettings(app, [], root);
        } catch (e) {
          replace(devicesMsg, errorBox(e.message));
          remove.disabled = false;
        }
      });
      return h('li', null, h('span', null, d.label, d.current ? ' (this device)' : '', h('span', { class: 'hint' }, ` added ${new Date(d.createdAt).toLocaleDateString()}`)), remove);
    }),
  );

  replace(
    root,
    h('h1', null, 'Settings'),
    h('div', { class: 'card' }, rows, actions, msg),
    h('section', { class: 'card', 'aria-labelledby': 'pin-change' }, h('h2', { id: 'pin-change' }, info.pin ? 'Change your PIN' : 'Set a PIN'), pinForm),
    h('section', { class: 'card', 'aria-labelledby': 'my-devices' }, h('h2', { id: 'my-devices' }, 'Your devices'), h('p', { class: 'hint' }, 'Lost a phone? Remove it here.'), deviceList, devicesMsg),
    h('p', null, h('a', { href: '#/' }, 'Back to your call requests')),
  );
}
