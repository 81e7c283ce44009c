/**
 * Enrolment, in four short steps: the code and a PIN (the device key is made here), the
 * biometric (a passkey), notifications (Web Push), done. Biometric and notifications can be
 * skipped and set up later in Settings.
 */
import { ApiError } from '../../shared/api.js';
import { announce, errorBox, focusHeading, h, replace, setBusy } from '../../shared/dom.js';
import { createDeviceKey, publicJwk } from '../device-key.js';
import { enablePush, pushAvailable } from '../push.js';
import { createPasskey, passkeyErrorText, webAuthnAvailable } from '../webauthn.js';

const STEPS = 4;

function progress(step) {
  return h(
    'ol',
    { class: 'steps', 'aria-label': `Step ${step} of ${STEPS}` },
    Array.from({ length: STEPS }, (_, i) =>
      h('li', { class: i + 1 < step ? 'done' : null, 'aria-current': i + 1 === step ? 'step' : null }, h('span', { class: 'visually-hidden' }, `Step ${i + 1}`)),
    ),
  );
}

function field({ id, label, hint, input }) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null, input);
}

export async function showEnrol(app, _params, root) {
  if (app.device) {
    replace(root, h('h1', null, 'This device is enrolled'), h('p', null, 'You can answer call requests on this device.'), h('p', null, h('a', { class: 'button primary', href: '#/' }, 'Go to your call requests')));
    return;
  }
  const next = (fn) => {
    fn();
    focusHeading(root);
  };

  // Step 1: code, device name, PIN.
  const error = h('div');
  const code = h('input', { id: 'code', name: 'code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', required: true, 'aria-describedby': 'code-hint' });
  const label = h('input', { id: 'label', name: 'label', value: 'My phone', required: true, maxlength: 100, 'aria-describedby': 'label-hint' });
  const pin = h('input', { id: 'pin', name: 'pin', type: 'password', inputmode: 'numeric', autocomplete: 'new-password', required: true, 'aria-describedby': 'pin-hint' });
  const pin2 = h('input', { id: 'pin2', name: 'pin2', type: 'password', inputmode: 'numeric', autocomplete: 'new-password', required: true });
  const form = h(
    'form',
    { novalidate: true },
    field({ id: 'code', label: 'Enrollment code', hint: 'The 10-character code your bank gave you, for example ABCDE-FGH23.', input: code }),
    field({ id: 'label', label: 'Name for this device', hint: 'So you can recognise it later.', input: label }),
    h(
      'fieldset',
      null,
      h('legend', null, 'Choose a PIN'),
      h('span', { class: 'hint', id: 'pin-hint' }, 'At least 6 digits. Avoid easy ones like 123456 or 111111. You use it when your fingerprint or face is not available.'),
      field({ id: 'pin', label: 'PIN', input: pin }),
      field({ id: 'pin2', label: 'PIN again', input: pin2 }),
    ),
    error,
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Enrol this device')),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(error);
    for (const i of [code, pin, pin2]) i.removeAttribute('aria-invalid');
    const problem = (input, text) => {
      input.setAttribute('aria-invalid', 'true');
      replace(error, errorBox(text));
      input.focus();
    };
    if (!code.value.trim()) return problem(code, 'Enter the enrollment code.');
    if (!/^[0-9]+$/.test(pin.value)) return problem(pin, 'The PIN must contain digits only.');
    if (pin.value !== pin2.value) return problem(pin2, 'The two PINs are not the same.');
    setBusy(form, true);
    try {
      const keyPair = await createDeviceKey();
      const res = await app.call('/api/v1/devices', {
        method: 'POST',
        body: { enrollmentCode: code.value.trim(), label: label.value.trim() || 'My phone', publicKeyJwk: await publicJwk(keyPair), pin: pin.value },
      });
      await app.setDevice({
        credential: res.credential,
        deviceId: res.device.id,
        customerId: res.device.customerId,
        label: res.device.label,
        keyPair,
        enrolledAt: new Date().toISOString(),
      });
      await app.refreshInfo();
      announce('Device enrolled.');
      next(stepBiometric);
    } catch (e) {
      const target = e instanceof ApiError && /pin/i.test(e.message) ? pin : code;
      problem(target, e.message);
    } finally {
      setBusy(form, false);
    }
  });

  function stepCode() {
    replace(root, progress(1), h('h1', null, 'Set up this device'), h('p', null, 'Your bank uses this app to ask before calling you, so you always know a call is genuine.'), form);
  }

  function stepBiometric() {
    const msg = h('div');
    const setUp = h('button', { class: 'primary', type: 'button' }, 'Set up fingerprint or face');
    const skip = h('button', { type: 'button' }, 'Skip — use my PIN');
    setUp.addEventListener('click', async () => {
      replace(msg, h('p', { class: 'message info', role: 'status' }, 'Follow your phone’s prompt…'));
      setUp.disabled = skip.disabled = true;
      try {
        const { challengeId, options } = await app.call('/api/v1/devices/me/passkey/options', { method: 'POST' });
        const response = await createPasskey(options);
        await app.call('/api/v1/devices/me/passkey', { method: 'POST', body: { challengeId, response } });
        await app.refreshInfo();
        announce('Fingerprint or face set up.');
        next(stepPush);
      } catch (e) {
        replace(msg, errorBox(e instanceof ApiError ? e.message : passkeyErrorText(e)));
        setUp.textContent = 'Try again';
      } finally {
        setUp.disabled = skip.disabled = false;
      }
    });
    skip.addEventListener('click', () => next(stepPush));
    const supported = webAuthnAvailable();
    replace(
      root,
      progress(2),
      h('h1', null, 'Accept calls with your fingerprint or face'),
      h('p', null, 'When an adviser asks to call you, you confirm it is you with your phone’s fingerprint or face unlock. Nothing about your fingerprint or face leaves your phone.'),
      supported ? null : h('p', { class: 'message warn' }, 'This browser cannot use fingerprint or face here. You can use your PIN.'),
      msg,
      h('div', { class: 'actions' }, supported ? setUp : null, skip),
    );
  }

  function stepPush() {
    const msg = h('div');
    const turnOn = h('button', { class: 'primary', type: 'button' }, 'Turn on notifications');
    const skip = h('button', { type: 'button' }, 'Not now');
    turnOn.addEventListener('click', async () => {
      replace(msg, h('p', { class: 'message info', role: 'status' }, 'Turning on notifications…'));
      turnOn.disabled = skip.disabled = true;
      try {
        await enablePush(app.device.credential);
        await app.refreshInfo();
        announce('Notifications turned on.');
        next(stepDone);
      } catch (e) {
        replace(
          msg,
          errorBox(`Notifications could not be turned on: ${e.message}.`),
          h('p', null, 'You will still see call requests while this app is open, and by text message if your bank has your number.'),
        );
        turnOn.disabled = skip.disabled = false;
        skip.textContent = 'Continue without notifications';
      }
    });
    skip.addEventListener('click', () => next(stepDone));
    replace(
      root,
      progress(3),
      h('h1', null, 'Get call requests when the app is closed'),
      h('p', null, 'A notification shows who would like to call, the reference and the reason, with Accept, Schedule and Remind me later.'),
      pushAvailable() ? null : h('p', { class: 'message warn' }, 'This browser does not support notifications for web apps.'),
      msg,
      h('div', { class: 'actions' }, pushAvailable() ? turnOn : null, skip),
    );
  }

  function stepDone() {
    const info = app.info || {};
    replace(
      root,
      progress(4),
      h('h1', null, 'This device is ready'),
      h(
        'ul',
        null,
        h('li', null, 'PIN: set'),
        h('li', null, `Fingerprint or face: ${info.passkey ? 'set up' : 'not set up'}`),
        h('li', null, `Notifications: ${info.push ? 'on' : 'off'}`),
      ),
      h('p', null, h('a', { class: 'button primary', href: '#/' }, 'Go to your call requests')),
    );
  }

  stepCode();
}
