/** Settings: what this device has set up, and setting up what is missing; changing the PIN; the customer's devices (remove a lost one). */
import { ApiError } from '../../shared/api.js';
import { announce, errorBox, h, replace, setBusy } from '../../shared/dom.js';
import { date } from '../../shared/format.js';
import { enablePush, pushAvailable } from '../push.js';
import { signChallenge } from '../device-key.js';
import { errorText, t } from '../i18n.js';
import { createPasskey, passkeyErrorText, usePasskey, webAuthnAvailable } from '../webauthn.js';
import { lockedText } from './verify.js';

export async function showSettings(app, _params, root) {
  const info = await app.refreshInfo();
  const msg = h('div');

  const rows = h(
    'dl',
    { class: 'facts' },
    h('dt', null, t('settings.device')),
    h('dd', null, info.label),
    h('dt', null, t('settings.biometric')),
    h('dd', null, info.passkey ? t('settings.setUp') : t('settings.notSetUp')),
    h('dt', null, t('settings.pin')),
    h('dd', null, info.pin ? t('settings.set') : t('settings.notSet')),
    h('dt', null, t('settings.push')),
    h('dd', null, info.push ? t('settings.on') : t('settings.off')),
  );

  const actions = h('div', { class: 'actions' });
  if (!info.passkey && webAuthnAvailable()) {
    const b = h('button', { type: 'button', class: 'primary' }, t('enrol.setUpBiometric'));
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        const { challengeId, options } = await app.call('/api/v1/devices/me/passkey/options', { method: 'POST' });
        await app.call('/api/v1/devices/me/passkey', { method: 'POST', body: { challengeId, response: await createPasskey(options) } });
        announce(t('enrol.biometricDone'));
        await showSettings(app, [], root);
      } catch (e) {
        replace(msg, errorBox(e instanceof ApiError ? errorText(e) : passkeyErrorText(e)));
        b.disabled = false;
      }
    });
    actions.append(b);
  }
  if (!info.push && pushAvailable()) {
    const b = h('button', { type: 'button' }, t('enrol.turnOnPush'));
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await enablePush(app.device.credential);
        announce(t('enrol.pushOn'));
        await showSettings(app, [], root);
      } catch (e) {
        replace(msg, errorBox(t('enrol.pushFailed', { reason: errorText(e) })));
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
    info.pin ? h('div', { class: 'field' }, h('label', { for: 'current-pin' }, t('settings.currentPin')), current) : null,
    h('div', { class: 'field' }, h('label', { for: 'new-pin' }, t('settings.newPin')), h('span', { class: 'hint', id: 'new-pin-hint' }, t('settings.newPinHint')), pin),
    pinMsg,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, info.pin ? t('settings.changePin') : t('settings.setPin'))),
  );
  pinForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(pinMsg);
    if (info.pin && !/^[0-9]+$/.test(current.value)) {
      replace(pinMsg, errorBox(t('settings.enterCurrent')));
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
      replace(pinMsg, h('p', { class: 'message ok', role: 'status' }, info.pin ? t('settings.pinChanged') : t('settings.pinSet')));
    } catch (e) {
      current.value = '';
      if (e instanceof ApiError && e.code === 'pin_locked' && e.problem.lockedUntil) {
        replace(pinMsg, errorBox(lockedText(e.problem.lockedUntil, app.timeZone)));
      } else {
        replace(pinMsg, errorBox(e instanceof ApiError ? errorText(e) : passkeyErrorText(e)));
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
      const remove = h('button', { type: 'button', 'aria-label': t('settings.removeLabel', { label: d.label }) }, t('settings.remove'));
      remove.addEventListener('click', async () => {
        const question = d.current
          ? t('settings.removeThis')
          : t('settings.removeOther', { label: d.label });
        if (!confirm(question)) return;
        remove.disabled = true;
        try {
          await app.call(`/api/v1/devices/${d.id}`, { method: 'DELETE' });
          announce(t('settings.removed', { label: d.label }));
          if (d.current) app.go('/');
          else await showSettings(app, [], root);
        } catch (e) {
          replace(devicesMsg, errorBox(errorText(e)));
          remove.disabled = false;
        }
      });
      return h('li', null, h('span', null, d.label, d.current ? t('settings.thisDevice') : '', h('span', { class: 'hint' }, t('settings.added', { date: date(d.createdAt, app.timeZone) }))), remove);
    }),
  );

  replace(
    root,
    h('h1', null, t('settings.title')),
    h('div', { class: 'card' }, rows, actions, msg),
    h('section', { class: 'card', 'aria-labelledby': 'pin-change' }, h('h2', { id: 'pin-change' }, info.pin ? t('settings.changePinTitle') : t('settings.setPinTitle')), pinForm),
    h('section', { class: 'card', 'aria-labelledby': 'my-devices' }, h('h2', { id: 'my-devices' }, t('settings.devices')), h('p', { class: 'hint' }, t('settings.lost')), deviceList, devicesMsg),
    h('p', null, h('a', { href: '#/' }, t('app.backToRequests'))),
  );
}
