/**
 * The notification screen: each call request as a card with the adviser's name, the reference
 * and the reason, and the answers the server still allows (Accept call / Schedule a call /
 * Remind me later). Cards follow the request live: when the answer time runs out the card
 * turns into "schedule only".
 */
import { download } from '../../shared/api.js';
import { announce, errorBox, h, replace } from '../../shared/dom.js';
import { countdown, dateTime, minutesLabel, time } from '../../shared/format.js';

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

  const title = isMissed ? `Missed call request from ${view.agentName}` : `${view.agentName} would like to call you`;
  const facts = h('dl', { class: 'facts' }, h('dt', null, 'Reference'), h('dd', null, view.reference), h('dt', null, 'Reason'), h('dd', { class: 'reason' }, view.reason));

  let status = null;
  if (isMissed) {
    status = h('p', { class: 'message warn' }, `${view.agentName} has moved on to other customers. You can still schedule a call.`);
  } else if (view.state === 'notified' || view.state === 'snoozed') {
    const left = h('span', { 'aria-hidden': 'true' });
    const deadline = new Date(view.answerDeadline).getTime();
    // Re-read once when the time runs out; a clock ahead of the server's must not loop.
    const armed = deadline > Date.now();
    const tick = () => {
      const ms = deadline - Date.now();
      left.textContent = ms > 0 ? ` — ${countdown(ms)} left` : ' — time is up';
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
        ? h('p', { class: 'message info' }, `We will remind you at ${time(view.snoozeUntil, zone)}. You can still accept the call until then.`)
        : h('p', { class: 'deadline' }, `Please answer by ${time(view.answerDeadline, zone)}`, left);
  } else if (view.state === 'accepted') {
    status = h('p', { class: 'message info' }, 'You accepted this call. Confirm it is you to connect.');
  } else if (view.state === 'scheduled' && view.scheduledFor) {
    status = h(
      'div',
      null,
      h('p', { class: 'message ok' }, `Call booked for ${dateTime(view.scheduledFor, zone)} (${zone}).`),
      view.scheduleNote ? h('p', null, h('span', { class: 'muted' }, 'Your note: '), view.scheduleNote) : null,
    );
  } else if (view.state === 'prompted') {
    status = h('p', { class: 'message info' }, 'It is time for your scheduled call.');
  } else if (view.state === 'authenticated') {
    status = h('p', { class: 'message info' }, 'You are verified. If your call did not start, try again.');
  } else if (['connecting', 'connected'].includes(view.state)) {
    status = h('p', { class: 'message ok' }, 'You are verified. The call is being connected.');
  } else if (view.state === 'due' || view.state === 'agent_dialled') {
    status = h('p', { class: 'message info' }, 'Your scheduled call is starting: your adviser will call you.');
  } else if (view.state === 'cancelled') {
    status = h('p', { class: 'message info' }, 'This call request was withdrawn.');
  } else if (view.state === 'ended') {
    status = h('p', { class: 'message info' }, 'This call has ended.');
  }

  const actions = h('div', { class: 'actions' });
  const choices = h('div', { class: 'choices', id: `remind-${view.id}`, role: 'group', 'aria-label': 'Remind me in', hidden: true });
  if (view.actions.accept) {
    actions.append(h('a', { class: 'button primary', href: `#/requests/${view.id}/verify` }, view.state === 'prompted' ? 'Place call' : 'Accept call'));
  }
  if (view.state === 'accepted') {
    actions.append(h('a', { class: 'button primary', href: `#/requests/${view.id}/verify` }, 'Confirm it is you'));
  }
  if (view.state === 'authenticated') {
    // The call did not start (or was lost): a fresh confirmation gives a new token.
    actions.append(h('a', { class: 'button primary', href: `#/requests/${view.id}/verify` }, 'Try the call again'));
  }
  if (view.actions.schedule) {
    const label = view.state === 'scheduled' ? 'Change time' : view.state === 'prompted' ? 'Reschedule' : 'Schedule a call';
    actions.append(h('a', { class: `button${isMissed ? ' primary' : ''}`, href: `#/requests/${view.id}/schedule` }, label));
  }
  if (view.actions.snooze) {
    const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': choices.id }, 'Remind me later');
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      choices.hidden = !open;
      if (open) choices.querySelector('button')?.focus();
    });
    for (const minutes of view.remindChoicesMinutes) {
      const b = h('button', { type: 'button' }, `In ${minutesLabel(minutes)}`);
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          const updated = await app.call(`/api/v1/app/requests/${view.id}/snooze`, { method: 'POST', body: { minutes } });
          announce(`We will remind you at ${time(updated.snoozeUntil, zone)}.`);
          opts.onChanged();
        } catch (e) {
          replace(message, errorBox(e.message));
          b.disabled = false;
        }
      });
      choices.append(b);
    }
    actions.append(toggle);
  }
  if (view.state === 'scheduled') {
    const ics = h('button', { type: 'button' }, 'Add to calendar');
    ics.addEventListener('click', async () => {
      try {
        await download(`/api/v1/app/requests/${view.id}/callback.ics`, app.device.credential, `callback-${view.reference}.ics`);
      } catch (e) {
        replace(message, errorBox(e.message));
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
  const start = h('button', { type: 'button' }, 'Cancel this call');
  start.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, cancel the call');
    const no = h('button', { type: 'button' }, 'Keep it');
    const question = h('div', { class: 'card', role: 'group', 'aria-label': 'Cancel the call?' }, h('p', null, `Cancel the call booked for ${dateTime(view.scheduledFor, app.timeZone)}?`), h('div', { class: 'actions' }, yes, no));
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
        replace(message, h('p', { class: 'message ok', role: 'status' }, 'Your call has been cancelled.'));
        announce('Your call has been cancelled.');
        onDone();
      } catch (e) {
        replace(message, errorBox(e.message));
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
      replace(list, h('p', { class: 'card muted' }, 'No call requests right now. When an adviser asks to call you, it appears here and on your phone’s notifications.'));
    } else {
      replace(list, cards.map((c) => c.el));
    }
  };
  const showError = (e) => replace(list, errorBox(e.message));
  const info = app.info || {};
  if (!info.passkey || !info.push) {
    replace(
      nudge,
      h('p', { class: 'message info' }, !info.passkey ? 'Tip: set up your fingerprint or face to accept calls faster. ' : 'Tip: turn on notifications to hear about call requests when the app is closed. ', h('a', { href: '#/settings' }, 'Settings')),
    );
  }
  replace(root, h('h1', null, 'Your call requests'), nudge, list);
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
    card = requestCard(app, view, { onChanged: () => render().catch((e) => replace(holder, errorBox(e.message))) });
    replace(holder, card.el);
  };
  replace(root, h('h1', null, 'Call request'), holder, h('p', null, h('a', { href: '#/' }, 'All your call requests')));
  await render();
  const off = app.onRequestsChanged((change) => {
    if (!change || change.requestId === id) render().catch((e) => replace(holder, errorBox(e.message)));
  });
  return () => {
    off();
    card?.cleanup();
  };
}
