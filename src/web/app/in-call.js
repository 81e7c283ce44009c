/**
 * The in-call part of a call screen, the same for a call the customer places and one they
 * answer: a status line (polite live region), the call timer, Mute and Hang up, and the way out
 * once the call is over. The screen that owns the call drives it: `waiting(title, text)` while
 * the audio is up but nobody has answered, `connected(name)` when someone has, `ended(text)` or
 * `failed(reason)` when it is over.
 *
 * Keyboard and screen reader: when the call connects, focus moves to the heading ("In call with
 * …"), so the reader announces it and Tab reaches Mute next; Mute is a toggle button
 * (aria-pressed) whose label does not change; the timer is a `timer` region, which screen
 * readers do not read out every second; failures are alerts.
 */
import { announce, h, replace } from '../shared/dom.js';
import { clock } from '../shared/format.js';
import { t } from './i18n.js';

/**
 * @param {{ title: HTMLElement, onMute: (muted: boolean) => void, onHangUp: () => void }} opts
 *   `title` is the screen's h1, renamed as the call goes
 */
export function inCallPanel(opts) {
  const status = h('p', { class: 'call-status', role: 'status', 'aria-live': 'polite' }, t('call.preparing'));
  const timer = h('p', { class: 'call-timer', role: 'timer', 'aria-label': t('call.duration'), hidden: true }, '00:00');
  const failure = h('div');
  const mute = h('button', { type: 'button', class: 'mute', 'aria-pressed': 'false' }, t('call.mute'));
  const hangUp = h('button', { type: 'button', class: 'danger' }, t('call.hangUp'));
  const controls = h('div', { class: 'actions call-controls' }, mute, hangUp);
  const after = h('p', { hidden: true }, h('a', { class: 'button', href: '#/' }, t('app.backToRequests')));

  let started = 0;
  let tick = null;
  let over = false;
  const stopTimer = () => {
    if (tick) clearInterval(tick);
    tick = null;
  };
  const focusTitle = () => {
    opts.title.setAttribute('tabindex', '-1');
    opts.title.focus();
  };
  const finish = () => {
    over = true;
    stopTimer();
    controls.hidden = true;
    after.hidden = false;
  };

  mute.addEventListener('click', () => {
    const muted = mute.getAttribute('aria-pressed') !== 'true';
    mute.setAttribute('aria-pressed', String(muted));
    opts.onMute(muted);
    status.dataset.muted = String(muted);
    announce(muted ? t('call.muted') : t('call.unmuted'));
  });
  hangUp.addEventListener('click', () => {
    hangUp.disabled = true;
    mute.disabled = true;
    status.textContent = t('call.hangingUp');
    opts.onHangUp();
  });

  return {
    element: h('div', { class: 'in-call' }, status, timer, failure, controls, after),
    /** True until the call ended or failed. */
    get active() {
      return !over;
    },
    status(text) {
      if (!over) status.textContent = text;
    },
    /**
     * The audio path is up but nobody has picked up yet (the customer hears the queue's music):
     * say so, and move focus to the heading.
     */
    waiting(title, text) {
      if (over || started) return;
      opts.title.textContent = title;
      status.textContent = text;
      focusTitle();
    },
    /** The call is answered: rename the screen, start the timer, move focus to the heading. */
    connected(peerName) {
      if (over || started) return;
      opts.title.textContent = t('call.inCallWith', { name: peerName });
      status.textContent = t('call.connected');
      timer.hidden = false;
      started = Date.now();
      tick = setInterval(() => {
        timer.textContent = clock(Date.now() - started);
      }, 1000);
      focusTitle();
    },
    ended(text) {
      if (over) return;
      opts.title.textContent = t('call.endedTitle');
      status.textContent = started ? t('call.lasted', { text, time: clock(Date.now() - started) }) : text;
      finish();
      focusTitle();
    },
    /** `retry`: where the customer can try again (a fresh confirmation), when they still can. */
    failed(reason, title = t('call.failedTitle'), retry = null) {
      if (over) return;
      opts.title.textContent = title;
      status.textContent = t('call.couldNotConnect');
      replace(
        failure,
        h('p', { class: 'message error', role: 'alert' }, t('call.failed', { reason })),
        retry ? h('p', null, h('a', { class: 'button primary', href: retry }, t('app.tryAgain'))) : null,
      );
      finish();
      // Hang up (which may have had focus) is hidden now: focus must not fall to the page.
      focusTitle();
    },
    /** Leaving the screen: stop the timer (the owner hangs the call up). */
    stop: stopTimer,
  };
}
