/**
 * "Verified — calling…": shows how and when the customer was verified and that the
 * pre-authentication token was received (never the token itself), then places the call and
 * becomes the in-call screen (timer, mute, hang up). A failed call says why in one sentence.
 */
import { announce, h, replace } from '../../shared/dom.js';
import { clock, time } from '../../shared/format.js';
import { placeCall } from '../call.js';

const METHOD_TEXT = { biometric: 'your fingerprint or face', pin: 'your PIN' };

const checkIcon = () => {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '32');
  svg.setAttribute('height', '32');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-1.2 14.2-4-4 1.4-1.4 2.6 2.6 5.4-5.4 1.4 1.4z');
  path.setAttribute('fill', '#17663a');
  svg.append(path);
  return svg;
};

export async function showCall(app, [id], root) {
  const issued = app.handoff;
  if (!issued || issued.requestId !== id) {
    // The token lives in memory only: after a reload there is nothing to call with.
    const view = await app.call(`/api/v1/app/requests/${id}`);
    replace(
      root,
      h('h1', null, 'Call request'),
      h('p', { class: 'message info' }, ['authenticated', 'connecting', 'connected'].includes(view.state) ? 'You are verified; the call was started from another screen.' : 'This call is not in progress.'),
      h('p', null, h('a', { href: `#/requests/${id}` }, 'Back to the call request')),
    );
    return;
  }
  app.handoff = null;
  const zone = app.timeZone;

  const title = h('h1', null, 'Verified — calling…');
  const statusLine = h('p', { class: 'call-status', role: 'status', 'aria-live': 'polite' }, 'Preparing the call…');
  const timer = h('p', { class: 'call-timer', hidden: true, 'aria-hidden': 'true' }, '00:00');
  const failure = h('div');
  const mute = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Mute');
  const hangUp = h('button', { type: 'button', class: 'danger' }, 'Hang up');
  const controls = h('div', { class: 'actions' }, mute, hangUp);
  const after = h('p', { hidden: true }, h('a', { class: 'button', href: '#/' }, 'Back to your call requests'));

  replace(
    root,
    h('div', { class: 'verified-banner' }, checkIcon(), h('div', null, title, h('p', { class: 'verified-how' }, `You confirmed it is you with ${METHOD_TEXT[issued.authMethod] || issued.authMethod} at ${time(issued.verifiedAt, zone)}.`))),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Adviser'),
      h('dd', null, issued.agentName),
      h('dt', null, 'Reference'),
      h('dd', null, issued.reference),
      h('dt', null, 'Calling'),
      h('dd', { class: 'sip-uri' }, issued.sipUri),
      h('dt', null, 'Verification'),
      h('dd', { class: 'token-status' }, `Pre-authentication token received, valid until ${time(issued.expiresAt, zone)}`),
    ),
    statusLine,
    timer,
    failure,
    controls,
    after,
  );

  let started = 0;
  let tick = null;
  const stopTimer = () => tick && clearInterval(tick);
  const finished = () => {
    stopTimer();
    controls.hidden = true;
    after.hidden = false;
  };

  const call = placeCall({
    wsUrl: issued.wsUrl,
    sipUri: issued.sipUri,
    token: issued.token,
    deviceKey: app.device?.keyPair,
    audio: document.getElementById('remote-audio'),
    onStatus: (text) => {
      statusLine.textContent = text;
    },
    onEstablished: () => {
      title.textContent = `In call with ${issued.agentName}`;
      statusLine.textContent = 'Connected. The adviser already knows you are verified.';
      timer.hidden = false;
      started = Date.now();
      tick = setInterval(() => {
        timer.textContent = clock(Date.now() - started);
      }, 1000);
    },
    onEnded: (text) => {
      title.textContent = 'Call ended';
      statusLine.textContent = started ? `${text} It lasted ${clock(Date.now() - started)}.` : text;
      finished();
    },
    onFailed: (reason) => {
      title.textContent = 'Verified — call failed';
      statusLine.textContent = 'The call could not be connected.';
      replace(failure, h('p', { class: 'message error', role: 'alert' }, `Call failed: ${reason}.`));
      finished();
    },
  });
  // Only the call holds the token from here on.
  issued.token = null;

  mute.addEventListener('click', () => {
    const muted = mute.getAttribute('aria-pressed') !== 'true';
    call.setMuted(muted);
    mute.setAttribute('aria-pressed', String(muted));
    mute.textContent = muted ? 'Unmute' : 'Mute';
    announce(muted ? 'Microphone muted.' : 'Microphone on.');
  });
  hangUp.addEventListener('click', () => call.hangUp());

  return () => {
    stopTimer();
    if (!controls.hidden) call.hangUp();
  };
}
