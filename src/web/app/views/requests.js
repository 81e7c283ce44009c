/**
 * The notification screen: each call request as a card with the adviser's name, the reference
 * and the reason, and the answers the server still allows (Accept call / Schedule a call /
 * Remind me later). Cards follow the request live: when the answer time runs out the card
 * turns into "schedule only".
 */
import { download } from '../../shared/api.js';
import { announce, errorBox, h, replace } from '../../shared/dom.js';
import { dateTime, time } from '../../shared/format.js';
import { countdownText, durationText, errorText, t } from '../i18n.js';

/** Waiting for an answer, but the answer time is over: only scheduling is left. */
function missed(view) {
  return view.state === 'expired' || ((view.state === 'notified' || view.state === 'snoozed') && !view.actions.accept);
}

/**
 * @param {any} app
 * @param {any} view  GET /api/v1/app/requests/{id}
 * @param {{ heading?: 'h1'|'h2', onChanged: () => void }} opts
 * @returns {{ el: HTMLElement, cleanup: () => void }}
 */
export function requestCard(app, view, opts) {
  const timers = [];
  const zone = app.timeZone;
  const heading = opts.heading || 'h2';
  const message = h('div', { class: 'card-message' });
  const isMissed = missed(view);

  const title = isMissed ? t('card.missedTitle', { agent: view.agentName }) : t('card.wantsToCall', { agent: view.agentName });
  const facts = h('dl', { class: 'facts' }, h('dt', null, t('card.reference')), h('dd', null, view.reference), h('dt', null, t('card.reason')), h('dd', { class: 'reason' }, view.reason));

  let status = null;
  if (isMissed) {
    status = h('p', { class: 'message warn' }, t('card.movedOn', { agent: view.agentName }));
  } else if (view.state === 'notified' || view.state === 'snoozed') {
    const left = h('span', { 'aria-hidden': 'true' });
    const deadline = new Date(view.answerDeadline).getTime();
    // Re-read once when the time runs out; a clock ahead of the server's must not loop.
    const armed = deadline > Date.now();
    const tick = () => {
      const ms = deadline - Date.now();
      left.textContent = ms > 0 ? t('time.left', { time: countdownText(ms) }) : t('time.up');
      if (ms <= 0) {
        clearInterval(timer);
        if (armed) opts.onChanged();
      }
    };
    const timer = setInterval(tick, 1000);
    timers.push(timer);
    tick();
    // Snoozed: the request stays answerable until the reminder, which brings a fresh answer time.
    status =
      view.state === 'snoozed' && view.snoozeUntil
        ? h('p', { class: 'message info' }, t('card.remindAt', { time: time(view.snoozeUntil, zone) }))
        : h('p', { class: 'deadline' }, t('card.answerBy', { time: time(view.answerDeadline, zone) }), left);
  } else if (view.state === 'accepted') {
    status = h('p', { class: 'message info' }, t('card.accepted'));
  } else if (view.state === 'scheduled' && view.scheduledFor) {
    status = h(
      'div',
      null,
      h('p', { class: 'message ok' }, t('card.booked', { when: dateTime(view.scheduledFor, zone), zone })),
      view.scheduleNote ? h('p', null, h('span', { class: 'muted' }, t('card.yourNote')), view.scheduleNote) : null,
    );
  } else if (view.state === 'prompted') {
    status = h('p', { class: 'message info' }, t('card.prompted'));
  } else if (view.state === 'authenticated') {
    status = h('p', { class: 'message info' }, t('card.verifiedRetry'));
  } else if (['connecting', 'connected'].includes(view.state)) {
    status = h('p', { class: 'message ok' }, t('card.connecting'));
  } else if (view.state === 'due' || view.state === 'agent_dialled') {
    status = h('p', { class: 'message info' }, t('card.agentCalling'));
  } else if (view.state === 'cancelled') {
    status = h('p', { class: 'message info' }, t('card.withdrawn'));
  } else if (view.state === 'ended') {
    status = h('p', { class: 'message info' }, t('card.ended'));
  }

  const actions = h('div', { class: 'actions' });
  const choices = h('div', { class: 'choices', id: `remind-${view.id}`, role: 'group', 'aria-label': t('card.remindIn'), hidden: true });
  // One way on per state: accept, confirm (accepted here, not yet verified) or try again.
  if (view.actions.accept) {
    const label =
      view.state === 'accepted' ? t('card.confirm')
      // The call did not start (or was lost): a fresh confirmation gives a new token.
      : view.state === 'authenticated' ? t('card.tryCallAgain')
      : view.state === 'prompted' ? t('card.placeCall')
      : t('card.accept');
    actions.append(h('a', { class: 'button primary', href: `#/requests/${view.id}/verify` }, label));
  }
  if (view.actions.schedule) {
    const label = view.state === 'scheduled' ? t('card.changeTime') : view.state === 'prompted' ? t('card.reschedule') : t('card.schedule');
    actions.append(h('a', { class: `button${isMissed ? ' primary' : ''}`, href: `#/requests/${view.id}/schedule` }, label));
  }
  if (view.actions.snooze) {
    const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': choices.id }, t('card.remindLater'));
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      choices.hidden = !open;
      if (open) choices.querySelector('button')?.focus();
    });
    for (const minutes of view.remindChoicesMinutes) {
      const b = h('button', { type: 'button' }, t('card.inMinutes', { duration: durationText(minutes) }));
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          const updated = await app.call(`/api/v1/app/requests/${view.id}/snooze`, { method: 'POST', body: { minutes } });
          announce(t('card.willRemind', { time: time(updated.snoozeUntil, zone) }));
          opts.onChanged();
        } catch (e) {
          replace(message, errorBox(errorText(e)));
          b.disabled = false;
        }
      });
      choices.append(b);
    }
    actions.append(toggle);
  }
  if (view.state === 'scheduled') {
    const ics = h('button', { type: 'button' }, t('card.addToCalendar'));
    ics.addEventListener('click', async () => {
      try {
        await download(`/api/v1/app/requests/${view.id}/callback.ics`, app.device.credential, `callback-${view.reference}.ics`);
      } catch (e) {
        replace(message, errorBox(errorText(e)));
      }
    });
    actions.append(ics, cancelButton(app, view, message, opts.onChanged));
  }

  const el = h(
    'article',
    { class: 'card request-card', 'data-request-id': view.id, 'data-state': isMissed ? 'expired' : view.state, 'aria-labelledby': `title-${view.id}` },
    h(heading, { id: `title-${view.id}` }, title),
    facts,
    status,
    actions,
    choices,
    message,
  );
  return { el, cleanup: () => timers.forEach(clearInterval) };
}

/** "Cancel this call" with an inline confirmation (no modal dialog to trap focus). */
export function cancelButton(app, view, message, onDone) {
  const wrap = h('span');
  const start = h('button', { type: 'button' }, t('card.cancel'));
  start.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger' }, t('card.cancelYes'));
    const no = h('button', { type: 'button' }, t('card.cancelNo'));
    const question = h('div', { class: 'card', role: 'group', 'aria-label': t('card.cancelQuestionLabel') }, h('p', null, t('card.cancelQuestion', { when: dateTime(view.scheduledFor, app.timeZone) })), h('div', { class: 'actions' }, yes, no));
    replace(message, question);
    yes.focus();
    no.addEventListener('click', () => {
      replace(message);
      start.focus();
    });
    yes.addEventListener('click', async () => {
      yes.disabled = no.disabled = true;
      try {
        await app.call(`/api/v1/app/requests/${view.id}/cancel`, { method: 'POST' });
        replace(message, h('p', { class: 'message ok', role: 'status' }, t('card.cancelled')));
        announce(t('card.cancelled'));
        onDone();
      } catch (e) {
        replace(message, errorBox(errorText(e)));
      }
    });
  });
  wrap.append(start);
  return wrap;
}

/** #/ : every open request. */
export async function showHome(app, _params, root) {
  const list = h('div', { class: 'stack' });
  const nudge = h('div');
  let cards = [];
  const render = async () => {
    const { items } = await app.call('/api/v1/app/requests');
    cards.forEach((c) => c.cleanup());
    cards = items.map((view) => requestCard(app, view, { onChanged: () => render().catch(showError) }));
    if (cards.length === 0) {
      replace(list, h('p', { class: 'card muted' }, t('home.empty')));
    } else {
      replace(list, cards.map((c) => c.el));
    }
  };
  const showError = (e) => replace(list, errorBox(errorText(e)));
  const info = app.info || {};
  if (!info.passkey || !info.push) {
    replace(
      nudge,
      h('p', { class: 'message info' }, !info.passkey ? t('home.tipPasskey') : t('home.tipPush'), h('a', { href: '#/settings' }, t('app.settings'))),
    );
  }
  replace(root, h('h1', null, t('home.title')), nudge, list);
  await render();
  const off = app.onRequestsChanged(() => render().catch(showError));
  return () => {
    off();
    cards.forEach((c) => c.cleanup());
  };
}

/** #/requests/{id}: one request (the link in a notification). */
export async function showRequest(app, [id], root) {
  const holder = h('div');
  let card = null;
  const render = async () => {
    const view = await app.call(`/api/v1/app/requests/${id}`);
    card?.cleanup();
    card = requestCard(app, view, { onChanged: () => render().catch((e) => replace(holder, errorBox(errorText(e)))) });
    replace(holder, card.el);
  };
  replace(root, h('h1', null, t('request.title')), holder, h('p', null, h('a', { href: '#/' }, t('app.allRequests'))));
  await render();
  const off = app.onRequestsChanged((change) => {
    if (!change || change.requestId === id) render().catch((e) => replace(holder, errorBox(errorText(e))));
  });
  return () => {
    off();
    card?.cleanup();
  };
}
