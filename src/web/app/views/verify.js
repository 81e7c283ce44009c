/**
 * Accept: the server holds the request for this device and hands out a fresh challenge; the
 * customer answers it with the biometric (passkey assertion) or the PIN (plus the device key's
 * signature of the challenge). The answer brings back the pre-authentication token and where to
 * call; the call screen takes it from there.
 *
 * Every challenge is single-use: a wrong PIN spends it, so the next try asks for a new one.
 */
import { ApiError } from '../../shared/api.js';
import { announce, errorBox, h, replace, setBusy } from '../../shared/dom.js';
import { dateTime, time } from '../../shared/format.js';
import { signChallenge } from '../device-key.js';
import { errorText, t, tn } from '../i18n.js';
import { passkeyErrorText, usePasskey } from '../webauthn.js';

/** "locked until 14:47" (with the day when it is not today). */
export function lockedText(lockedUntil, zone) {
  const until = new Date(lockedUntil);
  const sameDay = until.toDateString() === new Date().toDateString();
  const when = sameDay ? time(lockedUntil, zone) : dateTime(lockedUntil, zone);
  const minutes = Math.max(1, Math.round((until.getTime() - Date.now()) / 60_000));
  return tn('verify.locked', minutes, { when });
}

export async function showVerify(app, [id], root) {
  const view = await app.call(`/api/v1/app/requests/${id}`);
  const status = h('div', { role: 'status' });
  const problems = h('div');
  const biometric = h('section', { 'aria-labelledby': 'bio-title', hidden: true });
  const pinSection = h('section', { 'aria-labelledby': 'pin-title', hidden: true });
  replace(
    root,
    h('h1', null, t('verify.title')),
    h('p', null, t('verify.about', { agent: view.agentName, ref: view.reference })),
    status,
    problems,
    biometric,
    pinSection,
    h('p', null, h('a', { href: `#/requests/${id}` }, t('verify.back'))),
  );

  /** @type {{ challengeId: string, challenge: string, methods: string[], webauthn: any, used?: boolean } | null} */
  let challenge = null;
  let leaving = false;

  async function freshChallenge() {
    challenge = await app.call(`/api/v1/app/requests/${id}/accept`, { method: 'POST' });
    return challenge;
  }

  function verified(issued) {
    app.handoff = { ...issued, requestId: id, agentName: view.agentName, verifiedAt: new Date().toISOString() };
    announce(t('verify.verified'));
    app.go(`/requests/${id}/call`);
  }

  function showProblem(e) {
    const text = e instanceof ApiError ? errorText(e) : passkeyErrorText(e);
    const extra = [];
    if (e instanceof ApiError && (e.code === 'request_expired' || e.code === 'illegal_transition' || e.code === 'conflict')) {
      extra.push(h('p', null, h('a', { class: 'button', href: `#/requests/${id}/schedule` }, t('card.schedule'))));
    }
    replace(problems, errorBox(text), extra);
  }

  // Biometric
  const bioButton = h('button', { class: 'primary', type: 'button' }, t('verify.useBiometric'));
  const usePin = h('button', { type: 'button' }, t('verify.usePin'));
  replace(biometric, h('h2', { id: 'bio-title' }, t('verify.biometricTitle')), h('div', { class: 'actions' }, bioButton, usePin));
  async function runBiometric() {
    replace(problems);
    replace(status, h('p', { class: 'message info' }, t('verify.followPrompt')));
    bioButton.disabled = true;
    try {
      if (!challenge || challenge.used) await freshChallenge();
      const assertion = await usePasskey(challenge.webauthn);
      challenge.used = true;
      const issued = await app.call(`/api/v1/app/requests/${id}/authenticate`, {
        method: 'POST',
        body: { challengeId: challenge.challengeId, method: 'biometric', webauthn: assertion },
      });
      if (!leaving) verified(issued);
    } catch (e) {
      if (challenge) challenge.used = true;
      replace(status);
      showProblem(e);
      bioButton.textContent = t('app.tryAgain');
      bioButton.focus();
    } finally {
      bioButton.disabled = false;
    }
  }
  bioButton.addEventListener('click', runBiometric);
  usePin.addEventListener('click', () => {
    pinSection.hidden = false;
    pinInput.focus();
  });

  // PIN
  const pinInput = h('input', { id: 'accept-pin', type: 'password', inputmode: 'numeric', autocomplete: 'off', required: true, 'aria-describedby': 'accept-pin-hint' });
  const pinError = h('div');
  const pinForm = h(
    'form',
    { novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'accept-pin' }, t('verify.yourPin')), h('span', { class: 'hint', id: 'accept-pin-hint' }, t('verify.pinHint')), pinInput),
    pinError,
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, t('verify.confirmPin'))),
  );
  replace(pinSection, h('h2', { id: 'pin-title' }, t('verify.pinTitle')), pinForm);
  pinForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(pinError);
    replace(problems);
    pinInput.removeAttribute('aria-invalid');
    if (!/^[0-9]+$/.test(pinInput.value)) {
      pinInput.setAttribute('aria-invalid', 'true');
      replace(pinError, errorBox(t('verify.enterPin')));
      pinInput.focus();
      return;
    }
    setBusy(pinForm, true);
    let locked = false;
    try {
      if (!challenge || challenge.used) await freshChallenge();
      const signature = await signChallenge(app.device.keyPair, challenge.challenge);
      challenge.used = true;
      const issued = await app.call(`/api/v1/app/requests/${id}/authenticate`, {
        method: 'POST',
        body: { challengeId: challenge.challengeId, method: 'pin', pin: pinInput.value, signature },
      });
      if (!leaving) verified(issued);
    } catch (e) {
      pinInput.value = '';
      if (e instanceof ApiError && e.code === 'pin_locked' && e.problem.lockedUntil) {
        locked = true;
        replace(pinError, errorBox(lockedText(e.problem.lockedUntil, app.timeZone)), h('p', null, h('a', { class: 'button primary', href: `#/requests/${id}/schedule` }, t('card.schedule'))));
        pinInput.disabled = true;
      } else if (e instanceof ApiError && e.code === 'auth_failed') {
        pinInput.setAttribute('aria-invalid', 'true');
        replace(pinError, errorBox(errorText(e)));
        pinInput.focus();
      } else {
        replace(pinError, errorBox(errorText(e)));
      }
    } finally {
      setBusy(pinForm, false);
      // Locked: no button that cannot work; the way on is scheduling.
      if (locked) for (const b of pinForm.querySelectorAll('button')) b.hidden = true;
    }
  });

  try {
    await freshChallenge();
  } catch (e) {
    showProblem(e);
    return () => {
      leaving = true;
    };
  }
  if (challenge.methods.includes('biometric')) {
    biometric.hidden = false;
    usePin.hidden = !challenge.methods.includes('pin');
    // The Accept tap that led here is the user gesture the biometric prompt needs.
    runBiometric();
  } else {
    pinSection.hidden = false;
    pinInput.focus();
  }
  return () => {
    leaving = true;
  };
}
