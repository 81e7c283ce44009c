/**
 * The adviser's scheduled callback ringing the app ("agent calls" mode): who is calling and
 * about which case, Answer / Decline. Answer asks for the biometric (or the PIN) for that call
 * request, exactly as accepting a knock does; the pre-authentication token it yields goes into
 * a new INVITE that replaces the ringing one (RFC 3891 Replaces) with the device proof, through
 * call.js's placeCall. The SIP server verifies it and bridges the adviser, who is already on the
 * line; the in-call screen (in-call.js) takes over. Decline answers the ringing call 603.
 *
 * In a background tab the screen alone would ring silently: a notification (through the service
 * worker; tapping it brings this screen back) and a short generated ring tone (WebAudio; the
 * browser may block it until the page has been used) say the adviser is calling.
 */
import { ApiError } from '../shared/api.js';
import { announce, errorBox, h, replace, setBusy } from '../shared/dom.js';
import { placeCall, STOPPED_WAITING } from './call.js';
import { signChallenge } from './device-key.js';
import { errorText, t } from './i18n.js';
import { inCallPanel } from './in-call.js';
import { passkeyErrorText, usePasskey } from './webauthn.js';

/**
 * Rings while the page is not visible: a notification and a ring tone, until `stop()` or until
 * the page becomes visible (then the screen itself shows the call).
 */
function ringInBackground(incoming) {
  let stopped = false;
  let audio = null;
  let timer = null;
  const tag = `incoming-call-${incoming.requestId}`;

  const stopTone = () => {
    clearInterval(timer);
    timer = null;
    audio?.close().catch(() => {});
    audio = null;
  };
  const onVisible = () => {
    if (document.visibilityState === 'visible') stopTone();
  };
  const beep = () => {
    // Two short 440+480 Hz bursts (a ring cadence), generated: no sound file to fetch.
    const t0 = audio.currentTime;
    for (const start of [0, 0.5]) {
      const gain = audio.createGain();
      gain.gain.setValueAtTime(0.15, t0 + start);
      gain.gain.setValueAtTime(0, t0 + start + 0.4);
      gain.connect(audio.destination);
      for (const hz of [440, 480]) {
        const osc = audio.createOscillator();
        osc.frequency.value = hz;
        osc.connect(gain);
        osc.start(t0 + start);
        osc.stop(t0 + start + 0.4);
      }
    }
  };

  if (document.visibilityState !== 'visible') {
    if ('Notification' in window && Notification.permission === 'granted' && navigator.serviceWorker) {
      navigator.serviceWorker.ready
        .then((reg) =>
          stopped
            ? null
            : reg.showNotification(t('incoming.notificationTitle', { agent: incoming.agentName }), {
                body: t('incoming.notificationBody', { ref: incoming.reference }),
                tag,
                requireInteraction: true,
                data: { kind: 'incoming_call', callRequestId: incoming.requestId },
              }),
        )
        .catch(() => {});
    }
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) {
        audio = new Ctx();
        // Autoplay rules may keep it suspended; then the notification is the ring.
        audio.resume().catch(() => {});
        beep();
        timer = setInterval(beep, 3000);
      }
    } catch {
      audio = null;
    }
    document.addEventListener('visibilitychange', onVisible);
  }

  return () => {
    if (stopped) return;
    stopped = true;
    stopTone();
    document.removeEventListener('visibilitychange', onVisible);
    navigator.serviceWorker?.ready
      .then((reg) => reg.getNotifications({ tag }))
      .then((list) => list.forEach((n) => n.close()))
      .catch(() => {});
  };
}

/**
 * Shows the incoming call in `root`. Returns the screen's cleanup (hangs up a call in progress).
 *
 * @param {any} app  the app context (main.js)
 * @param {HTMLElement} root
 * @param {import('./sip-registration.js').IncomingCallback} incoming
 */
export function showIncomingCall(app, root, incoming) {
  const title = h('h1', null, t('incoming.title'));
  const problems = h('div');
  const answer = h('button', { class: 'primary', type: 'button' }, t('incoming.answer'));
  const decline = h('button', { type: 'button' }, t('incoming.decline'));
  const choices = h('div', { class: 'actions' }, answer, decline);
  const pinSection = h('section', { 'aria-labelledby': 'incoming-pin-title', hidden: true });
  let call = null;
  let answering = false;
  let over = false;

  replace(
    root,
    title,
    h('p', { class: 'incoming-who' }, t('incoming.who', { agent: incoming.agentName, ref: incoming.reference })),
    h('p', { class: 'hint' }, t('incoming.hint')),
    problems,
    choices,
    pinSection,
  );
  title.setAttribute('tabindex', '-1');
  title.focus();
  announce(t('incoming.announce', { agent: incoming.agentName }));
  const stopRinging = ringInBackground(incoming);
  // Hiding a control that has focus drops focus to the page: give it to the heading instead.
  const focusTitle = () => title.focus();

  const missed = (heading, text) => {
    stopRinging();
    if (over || call) return;
    over = true;
    title.textContent = heading;
    choices.hidden = true;
    pinSection.hidden = true;
    replace(problems, h('p', { class: 'message info', role: 'status' }, text), h('p', null, h('a', { class: 'button', href: '#/' }, t('app.backToRequests'))));
    focusTitle();
  };
  // Another of the customer's devices answered (RFC 3326 Reason cause=200), or the adviser gave
  // up / the ring timed out before the answer was sent.
  incoming.onCancel((elsewhere) =>
    elsewhere
      ? missed(t('incoming.elsewhereTitle'), t('incoming.elsewhereText'))
      : missed(t('incoming.missedTitle'), t('incoming.missedText', { agent: incoming.agentName })),
  );

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
        h('div', { class: 'field' }, h('label', { for: 'incoming-pin' }, t('verify.yourPin')), input),
        h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, t('incoming.confirmAnswer'))),
      );
      replace(pinSection, h('h2', { id: 'incoming-pin-title' }, t('verify.pinTitle')), form);
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
          focusTitle();
        }
      });
    });
  }

  answer.addEventListener('click', async () => {
    if (answering || over) return;
    stopRinging();
    answering = true;
    answer.disabled = true;
    decline.disabled = true;
    replace(problems, h('p', { class: 'message info', role: 'status' }, t('incoming.confirming')));
    let issued;
    try {
      issued = await verify();
    } catch (e) {
      answering = false;
      answer.disabled = false;
      decline.disabled = false;
      answer.textContent = t('app.tryAgain');
      replace(problems, errorBox(e instanceof ApiError ? errorText(e) : passkeyErrorText(e)));
      return;
    }
    if (over) return;
    choices.hidden = true;
    focusTitle();
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
        // 481: the ringing this answer replaces had already ended (call.js words it).
        panel.failed(reason, reason === STOPPED_WAITING ? t('incoming.missedTitle') : t('incoming.verifiedFailed'));
      },
    });
    issued.token = null;
  });

  decline.addEventListener('click', () => {
    if (answering || over) return;
    over = true;
    stopRinging();
    incoming.invitation.reject({ statusCode: 603 }).catch(() => {});
    title.textContent = t('incoming.declinedTitle');
    choices.hidden = true;
    replace(problems, h('p', null, t('incoming.declinedText')), h('p', null, h('a', { class: 'button', href: '#/' }, t('app.backToRequests'))));
    focusTitle();
  });

  return () => {
    stopRinging();
    if (call && !over) call.hangUp();
    if (!call && !over) incoming.invitation.reject({ statusCode: 486 }).catch(() => {});
  };
}
