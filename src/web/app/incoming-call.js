/**
 * The adviser's scheduled callback ringing the app ("agent calls" mode): who is calling and
 * about which case, Answer / Decline. Answer asks for the biometric (or the PIN) for that call
 * request, exactly as accepting a knock does; the pre-authentication token it yields goes into
 * a new INVITE that replaces the ringing one (RFC 3891 Replaces) with the device proof, through
 * call.js's placeCall. The SIP server verifies it and bridges the adviser, who is already on the
 * line; the in-call screen (in-call.js) takes over. Decline answers the ringing call 603.
 */
import { ApiError } from '../shared/api.js';
import { announce, errorBox, h, replace, setBusy } from '../shared/dom.js';
import { placeCall } from './call.js';
import { signChallenge } from './device-key.js';
import { inCallPanel } from './in-call.js';
import { passkeyErrorText, usePasskey } from './webauthn.js';

/**
 * Shows the incoming call in `root`. Returns the screen's cleanup (hangs up a call in progress).
 *
 * @param {any} app  the app context (main.js)
 * @param {HTMLElement} root
 * @param {import('./sip-registration.js').IncomingCallback} incoming
 */
export function showIncomingCall(app, root, incoming) {
  const title = h('h1', null, 'Incoming call');
  const problems = h('div');
  const answer = h('button', { class: 'primary', type: 'button' }, 'Answer');
  const decline = h('button', { type: 'button' }, 'Decline');
  const choices = h('div', { class: 'actions' }, answer, decline);
  const pinSection = h('section', { 'aria-labelledby': 'incoming-pin-title', hidden: true });
  let call = null;
  let answering = false;
  let over = false;

  replace(
    root,
    title,
    h('p', { class: 'incoming-who' }, `${incoming.agentName} is calling you about case ${incoming.reference}.`),
    h('p', { class: 'hint' }, 'This is the call you scheduled. You will confirm it is you before it connects.'),
    problems,
    choices,
    pinSection,
  );
  title.setAttribute('tabindex', '-1');
  title.focus();
  announce(`Incoming call from ${incoming.agentName}.`);

  const missed = (text) => {
    if (over || call) return;
    over = true;
    title.textContent = 'Missed call';
    choices.hidden = true;
    pinSection.hidden = true;
    replace(problems, h('p', { class: 'message info', role: 'status' }, text), h('p', null, h('a', { class: 'button', href: '#/' }, 'Back to your call requests')));
  };
  // The adviser gave up or the ring timed out before the answer was sent.
  incoming.onCancel(() => missed(`${incoming.agentName} could not wait any longer. They will try again, or you can pick another time.`));

  /** The token for this call request, by biometric or PIN (one fresh challenge per try). */
  async function verify() {
    const challenge = await app.call(`/api/v1/app/requests/${incoming.requestId}/accept`, { method: 'POST' });
    if (challenge.methods.includes('biometric')) {
      const assertion = await usePasskey(challenge.webauthn);
      return app.call(`/api/v1/app/requests/${incoming.requestId}/authenticate`, {
        method: 'POST',
        body: { challengeId: challenge.challengeId, method: 'biometric', webauthn: assertion },
      });
    }
    return new Promise((resolve, reject) => {
      const input = h('input', { id: 'incoming-pin', type: 'password', inputmode: 'numeric', autocomplete: 'off', required: true });
      const form = h(
        'form',
        { novalidate: true },
        h('div', { class: 'field' }, h('label', { for: 'incoming-pin' }, 'Your PIN'), input),
        h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, 'Confirm and answer')),
      );
      replace(pinSection, h('h2', { id: 'incoming-pin-title' }, 'Use your PIN'), form);
      pinSection.hidden = false;
      input.focus();
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        setBusy(form, true);
        try {
          const signature = await signChallenge(app.device.keyPair, challenge.challenge);
          resolve(
            await app.call(`/api/v1/app/requests/${incoming.requestId}/authenticate`, {
              method: 'POST',
              body: { challengeId: challenge.challengeId, method: 'pin', pin: input.value, signature },
            }),
          );
        } catch (e) {
          reject(e);
        } finally {
          setBusy(form, false);
          pinSection.hidden = true;
        }
      });
    });
  }

  answer.addEventListener('click', async () => {
    if (answering || over) return;
    answering = true;
    answer.disabled = true;
    decline.disabled = true;
    replace(problems, h('p', { class: 'message info', role: 'status' }, 'Confirm it is you to answer…'));
    let issued;
    try {
      issued = await verify();
    } catch (e) {
      answering = false;
      answer.disabled = false;
      decline.disabled = false;
      answer.textContent = 'Try again';
      replace(problems, errorBox(e instanceof ApiError ? e.message : passkeyErrorText(e)));
      return;
    }
    if (over) return;
    choices.hidden = true;
    const panel = inCallPanel({ title, onMute: (muted) => call?.setMuted(muted), onHangUp: () => call?.hangUp() });
    replace(problems, panel.element);
    call = placeCall({
      wsUrl: issued.wsUrl,
      sipUri: issued.sipUri,
      token: issued.token,
      deviceKey: app.device?.keyPair,
      audio: document.getElementById('remote-audio'),
      extraHeaders: [`Replaces: ${incoming.replaces}`],
      onStatus: (text) => panel.status(text),
      // The adviser is already on the line: answered means connected.
      onEstablished: () => panel.connected(incoming.agentName),
      onEnded: (text) => {
        over = true;
        panel.ended(text);
      },
      onFailed: (reason) => {
        over = true;
        panel.failed(reason, 'Verified — call failed');
      },
    });
    issued.token = null;
  });

  decline.addEventListener('click', () => {
    if (answering || over) return;
    over = true;
    incoming.invitation.reject({ statusCode: 603 }).catch(() => {});
    title.textContent = 'Call declined';
    choices.hidden = true;
    replace(problems, h('p', null, 'You declined the call. The adviser will try again later, or you can pick another time.'), h('p', null, h('a', { class: 'button', href: '#/' }, 'Back to your call requests')));
  });

  return () => {
    if (call && !over) call.hangUp();
    if (!call && !over) incoming.invitation.reject({ statusCode: 486 }).catch(() => {});
  };
}
