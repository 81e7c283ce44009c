/**
 * Enrolment, in four short steps: the code and a PIN (the device key is made here), the
 * biometric (a passkey), notifications (Web Push), done. Biometric and notifications can be
 * skipped and set up later in Settings.
 */
import { ApiError } from '../../shared/api.js';
import { announce, errorBox, focusHeading, h, replace, setBusy } from '../../shared/dom.js';
import { createDeviceKey, publicJwk } from '../device-key.js';
import { errorText, t } from '../i18n.js';
import { enablePush, pushAvailable } from '../push.js';
import { createPasskey, passkeyErrorText, webAuthnAvailable } from '../webauthn.js';

const STEPS = 4;

function progress(step) {
  return h(
    'ol',
    { class: 'steps', 'aria-label': t('enrol.stepOf', { step, steps: STEPS }) },
    Array.from({ length: STEPS }, (_, i) =>
      h('li', { class: i + 1 < step ? 'done' : null, 'aria-current': i + 1 === step ? 'step' : null }, h('span', { class: 'visually-hidden' }, t('enrol.step', { step: i + 1 }))),
    ),
  );
}

function field({ id, label, hint, input }) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null, input);
}

export async function showEnrol(app, _params, root) {
  if (app.device) {
    replace(root, h('h1', null, t('enrol.enrolledTitle')), h('p', null, t('enrol.enrolledText')), h('p', null, h('a', { class: 'button primary', href: '#/' }, t('app.toRequests'))));
    return;
  }
  const next = (fn) => {
    fn();
    focusHeading(root);
  };

  // Step 1: code, device name, PIN.
  const error = h('div');
  const code = h('input', { id: 'code', name: 'code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', required: true, 'aria-describedby': 'code-hint' });
  const label = h('input', { id: 'label', name: 'label', value: t('enrol.labelDefault'), required: true, maxlength: 100, 'aria-describedby': 'label-hint' });
  const pin = h('input', { id: 'pin', name: 'pin', type: 'password', inputmode: 'numeric', autocomplete: 'new-password', required: true, 'aria-describedby': 'pin-hint' });
  const pin2 = h('input', { id: 'pin2', name: 'pin2', type: 'password', inputmode: 'numeric', autocomplete: 'new-password', required: true });
  const form = h(
    'form',
    { novalidate: true },
    field({ id: 'code', label: t('enrol.code'), hint: t('enrol.codeHint'), input: code }),
    field({ id: 'label', label: t('enrol.label'), hint: t('enrol.labelHint'), input: label }),
    h(
      'fieldset',
      null,
      h('legend', null, t('enrol.pinLegend')),
      h('span', { class: 'hint', id: 'pin-hint' }, t('enrol.pinHint')),
      field({ id: 'pin', label: t('enrol.pin'), input: pin }),
      field({ id: 'pin2', label: t('enrol.pin2'), input: pin2 }),
    ),
    error,
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, t('enrol.submit'))),
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
    if (!code.value.trim()) return problem(code, t('enrol.needCode'));
    if (!/^[0-9]+$/.test(pin.value)) return problem(pin, t('enrol.digitsOnly'));
    if (pin.value !== pin2.value) return problem(pin2, t('enrol.pinsDiffer'));
    setBusy(form, true);
    try {
      const keyPair = await createDeviceKey();
      const res = await app.call('/api/v1/devices', {
        method: 'POST',
        body: { enrollmentCode: code.value.trim(), label: label.value.trim() || t('enrol.labelDefault'), publicKeyJwk: await publicJwk(keyPair), pin: pin.value },
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
      announce(t('enrol.enrolled'));
      next(stepBiometric);
    } catch (e) {
      const target = e instanceof ApiError && /pin/i.test(e.message) ? pin : code;
      problem(target, errorText(e));
    } finally {
      setBusy(form, false);
    }
  });

  function stepCode() {
    replace(root, progress(1), h('h1', null, t('enrol.title')), h('p', null, t('enrol.intro')), form);
  }

  function stepBiometric() {
    const msg = h('div');
    const setUp = h('button', { class: 'primary', type: 'button' }, t('enrol.setUpBiometric'));
    const skip = h('button', { type: 'button' }, t('enrol.skipBiometric'));
    setUp.addEventListener('click', async () => {
      replace(msg, h('p', { class: 'message info', role: 'status' }, t('enrol.followPrompt')));
      setUp.disabled = skip.disabled = true;
      try {
        const { challengeId, options } = await app.call('/api/v1/devices/me/passkey/options', { method: 'POST' });
        const response = await createPasskey(options);
        await app.call('/api/v1/devices/me/passkey', { method: 'POST', body: { challengeId, response } });
        await app.refreshInfo();
        announce(t('enrol.biometricDone'));
        next(stepPush);
      } catch (e) {
        replace(msg, errorBox(e instanceof ApiError ? errorText(e) : passkeyErrorText(e)));
        setUp.textContent = t('app.tryAgain');
      } finally {
        setUp.disabled = skip.disabled = false;
      }
    });
    skip.addEventListener('click', () => next(stepPush));
    const supported = webAuthnAvailable();
    replace(
      root,
      progress(2),
      h('h1', null, t('enrol.biometricTitle')),
      h('p', null, t('enrol.biometricText')),
      supported ? null : h('p', { class: 'message warn' }, t('enrol.noBiometric')),
      msg,
      h('div', { class: 'actions' }, supported ? setUp : null, skip),
    );
  }

  function stepPush() {
    const msg = h('div');
    const turnOn = h('button', { class: 'primary', type: 'button' }, t('enrol.turnOnPush'));
    const skip = h('button', { type: 'button' }, t('enrol.notNow'));
    turnOn.addEventListener('click', async () => {
      replace(msg, h('p', { class: 'message info', role: 'status' }, t('enrol.turningOn')));
      turnOn.disabled = skip.disabled = true;
      try {
        await enablePush(app.device.credential);
        await app.refreshInfo();
        announce(t('enrol.pushOn'));
        next(stepDone);
      } catch (e) {
        replace(
          msg,
          errorBox(t('enrol.pushFailed', { reason: errorText(e) })),
          h('p', null, t('enrol.pushFallback')),
        );
        turnOn.disabled = skip.disabled = false;
        skip.textContent = t('enrol.continueWithout');
      }
    });
    skip.addEventListener('click', () => next(stepDone));
    replace(
      root,
      progress(3),
      h('h1', null, t('enrol.pushTitle')),
      h('p', null, t('enrol.pushText')),
      pushAvailable() ? null : h('p', { class: 'message warn' }, t('enrol.noPush')),
      msg,
      h('div', { class: 'actions' }, pushAvailable() ? turnOn : null, skip),
    );
  }

  function stepDone() {
    const info = app.info || {};
    replace(
      root,
      progress(4),
      h('h1', null, t('enrol.readyTitle')),
      h(
        'ul',
        null,
        h('li', null, t('enrol.pinSet')),
        h('li', null, t(info.passkey ? 'enrol.biometricSetUp' : 'enrol.biometricNotSetUp')),
        h('li', null, t(info.push ? 'enrol.pushOnState' : 'enrol.pushOffState')),
      ),
      h('p', null, h('a', { class: 'button primary', href: '#/' }, t('app.toRequests'))),
    );
  }

  stepCode();
}
