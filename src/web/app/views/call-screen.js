/**
 * "Verified — calling…": shows how and when the customer was verified and that the
 * pre-authentication token was received (never the token itself), then places the call and
 * becomes the in-call screen (timer, mute, hang up). A failed call says why in one sentence.
 */
import { h, replace } from '../../shared/dom.js';
import { time } from '../../shared/format.js';
import { placeCall } from '../call.js';
import { t } from '../i18n.js';
import { inCallPanel } from '../in-call.js';

const methodText = (method) => (method === 'biometric' || method === 'pin' ? t(`call.method.${method}`) : method);

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
      h('h1', null, t('call.notInProgressTitle')),
      h('p', { class: 'message info' }, ['authenticated', 'connecting', 'connected'].includes(view.state) ? t('call.elsewhere') : t('call.notInProgress')),
      h('p', null, h('a', { href: `#/requests/${id}` }, t('verify.back'))),
    );
    return;
  }
  app.handoff = null;
  const zone = app.timeZone;

  const title = h('h1', null, t('call.calling'));
  let call = null;
  let established = false;
  const checkAnswered = () =>
    app
      .call(`/api/v1/app/requests/${id}`)
      .then((view) => view.state === 'connected' && panel.connected(issued.agentName))
      .catch(() => {});
  // Status, timer, Mute and Hang up: the in-call panel shared with answered calls.
  const panel = inCallPanel({ title, onMute: (muted) => call?.setMuted(muted), onHangUp: () => call?.hangUp() });

  replace(
    root,
    h('div', { class: 'verified-banner' }, checkIcon(), h('div', null, title, h('p', { class: 'verified-how' }, t('call.how', { method: methodText(issued.authMethod), time: time(issued.verifiedAt, zone) })))),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, t('call.adviser')),
      h('dd', null, issued.agentName),
      h('dt', null, t('call.reference')),
      h('dd', null, issued.reference),
      // Shown until the call is under way: the verification only needs to last that long.
      h('dt', { class: 'token-status' }, t('call.verification')),
      h('dd', { class: 'token-status' }, t('call.validUntil', { time: time(issued.expiresAt, zone) })),
    ),
    panel.element,
  );

  call = placeCall({
    wsUrl: issued.wsUrl,
    sipUri: issued.sipUri,
    token: issued.token,
    deviceKey: app.device?.keyPair,
    audio: document.getElementById('remote-audio'),
    onStatus: (text) => panel.status(text),
    onEstablished: () => {
      established = true;
      for (const el of root.querySelectorAll('.token-status')) el.hidden = true;
      panel.waiting(t('call.waitingTitle', { agent: issued.agentName }), t('call.waitingText', { agent: issued.agentName }));
      checkAnswered();
    },
    onEnded: (text) => panel.ended(text),
    // The request stays with this phone: trying again asks for the fingerprint or PIN afresh.
    onFailed: (reason) => panel.failed(reason, t('call.failedTitle'), `#/requests/${id}/verify`),
  });
  // Only the call holds the token from here on.
  issued.token = null;
  // The call server answers at once and queues the call; the request turns "connected" when an
  // adviser picks up (live channel; re-read after a reconnect, which does not replay events).
  const off = app.onRequestsChanged((change) => {
    if (!established) return;
    if (change === null) checkAnswered();
    else if (change.requestId === id && change.state === 'connected') panel.connected(issued.agentName);
  });

  return () => {
    off();
    panel.stop();
    if (panel.active) call.hangUp();
  };
}
