/**
 * Schedule a call: the server lists the open slots (business hours, horizon, slot capacity);
 * the customer picks a day and a time shown in their own time zone, adds a note, confirms; then
 * "Add to calendar" (.ics), change the time, or cancel.
 */
import { download } from '../../shared/api.js';
import { announce, errorBox, focusHeading, h, replace, setBusy } from '../../shared/dom.js';
import { dateTime, day, dayKey, time } from '../../shared/format.js';
import { cancelButton } from './requests.js';

const NOTE_MAX = 500;

export async function showSchedule(app, [id], root) {
  const [view, open] = await Promise.all([app.call(`/api/v1/app/requests/${id}`), app.call(`/api/v1/app/requests/${id}/slots?limit=200`)]);
  const zone = open.timeZone;
  await app.saveTimeZone(zone);
  const changing = view.state === 'scheduled';

  const byDay = new Map();
  for (const slot of open.slots) {
    const key = dayKey(slot.start, zone);
    if (!byDay.has(key)) byDay.set(key, []);
    byDay.get(key).push(slot);
  }

  const intro = h('p', null, `With ${view.agentName} about case ${view.reference}.`);
  if (byDay.size === 0) {
    replace(root, h('h1', null, 'Schedule a call'), intro, h('p', { class: 'message warn' }, 'There are no open times right now. Please try again later.'), h('p', null, h('a', { href: `#/requests/${id}` }, 'Back')));
    return;
  }

  const daySelect = h('select', { id: 'slot-day', name: 'day' });
  for (const [key, slots] of byDay) daySelect.append(h('option', { value: key }, day(slots[0].start, zone)));
  const timeSelect = h('select', { id: 'slot-time', name: 'time', 'aria-describedby': 'slot-zone' });
  const fillTimes = () => {
    const slots = byDay.get(daySelect.value) || [];
    replace(timeSelect, slots.map((s) => h('option', { value: s.start }, time(s.start, zone))));
  };
  daySelect.addEventListener('change', fillTimes);
  if (changing && view.scheduledFor) {
    const current = dayKey(view.scheduledFor, zone);
    if (byDay.has(current)) daySelect.value = current;
  }
  fillTimes();

  const note = h('textarea', { id: 'slot-note', name: 'note', maxlength: NOTE_MAX, 'aria-describedby': 'slot-note-hint slot-note-count' }, changing && view.scheduleNote ? view.scheduleNote : '');
  const count = h('span', { class: 'hint', id: 'slot-note-count', 'aria-live': 'polite' });
  const updateCount = () => {
    count.textContent = `${NOTE_MAX - note.value.length} characters left`;
  };
  note.addEventListener('input', updateCount);
  updateCount();

  const error = h('div');
  const form = h(
    'form',
    { novalidate: true, 'aria-labelledby': 'schedule-title' },
    h('p', { class: 'hint', id: 'slot-zone' }, `Times are in your time zone (${zone}). Only times when advisers can call are shown.`),
    h('div', { class: 'field' }, h('label', { for: 'slot-day' }, 'Day'), daySelect),
    h('div', { class: 'field' }, h('label', { for: 'slot-time' }, 'Time'), timeSelect),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'slot-note' }, 'Note for the adviser (optional)'),
      h('span', { class: 'hint', id: 'slot-note-hint' }, 'For example what you would like to talk about.'),
      note,
      count,
    ),
    error,
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, changing ? 'Change to this time' : 'Book this time'), h('a', { class: 'button', href: `#/requests/${id}` }, 'Back')),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(error);
    setBusy(form, true);
    try {
      const booked = await app.call(`/api/v1/app/requests/${id}/schedule`, {
        method: 'POST',
        body: { at: timeSelect.value, note: note.value.trim() || null },
      });
      confirmation(booked);
    } catch (e) {
      const alternatives = e.problem?.alternatives;
      replace(
        error,
        errorBox(e.message),
        Array.isArray(alternatives) && alternatives.length ? h('p', null, `Free times nearby: ${alternatives.map((a) => dateTime(a, zone)).join(', ')}.`) : null,
      );
    } finally {
      setBusy(form, false);
    }
  });

  function confirmation(booked) {
    const message = h('div');
    const ics = h('button', { class: 'primary', type: 'button' }, 'Add to calendar');
    ics.addEventListener('click', async () => {
      try {
        await download(booked.calendar, app.device.credential, `callback-${booked.reference}.ics`);
        announce('Calendar file downloaded.');
      } catch (e) {
        replace(message, errorBox(e.message));
      }
    });
    replace(
      root,
      h('h1', null, 'Your call is booked'),
      h(
        'div',
        { class: 'card' },
        h('p', { class: 'slot-summary' }, `${dateTime(booked.scheduledFor, zone)} (${zone})`),
        h('p', null, `${booked.agentName} · case ${booked.reference}`),
        booked.scheduleNote ? h('p', null, h('span', { class: 'muted' }, 'Your note: '), booked.scheduleNote) : null,
        h('p', { class: 'muted' }, 'When it is time, this app will tell you. You can change or cancel the call until then.'),
        h(
          'div',
          { class: 'actions' },
          ics,
          h('a', { class: 'button', href: `#/requests/${id}/schedule`, onclick: (e) => { e.preventDefault(); showSchedule(app, [id], root).then(() => focusHeading(root)); } }, 'Change time'),
          cancelButton(app, booked, message, () => {}),
        ),
        message,
      ),
      h('p', null, h('a', { href: '#/' }, 'Done')),
    );
    focusHeading(root);
    announce('Your call is booked.');
  }

  replace(root, h('h1', { id: 'schedule-title' }, changing ? 'Change your call time' : 'Schedule a call'), intro, form);
}
