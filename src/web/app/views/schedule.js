/**
 * Schedule a call: the server lists the open slots (business hours, horizon, slot capacity);
 * the customer picks a day and a time shown in their own time zone, adds a note, confirms; then
 * "Add to calendar" (.ics), change the time, or cancel.
 */
import { download } from '../../shared/api.js';
import { announce, errorBox, focusHeading, h, replace, setBusy } from '../../shared/dom.js';
import { dateTime, day, dayKey, time } from '../../shared/format.js';
import { errorText, t, tn } from '../i18n.js';
import { cancelButton } from './requests.js';

const NOTE_MAX = 500;
/** Pages of 200 slots; a bound in case the horizon is very long. */
const MAX_PAGES = 10;

/** Every open slot up to the horizon, page by page. */
async function allSlots(app, id) {
  const first = await app.call(`/api/v1/app/requests/${id}/slots?limit=200`);
  let page = first;
  for (let n = 1; page.next && n < MAX_PAGES; n++) {
    page = await app.call(`/api/v1/app/requests/${id}/slots?limit=200&after=${encodeURIComponent(page.next)}`);
    first.slots.push(...page.slots);
  }
  return first;
}

export async function showSchedule(app, [id], root) {
  const [view, open] = await Promise.all([app.call(`/api/v1/app/requests/${id}`), allSlots(app, id)]);
  const zone = open.timeZone;
  await app.saveTimeZone(zone);
  const changing = view.state === 'scheduled';

  const byDay = new Map();
  for (const slot of open.slots) {
    const key = dayKey(slot.start, zone);
    if (!byDay.has(key)) byDay.set(key, []);
    byDay.get(key).push(slot);
  }

  const intro = h('p', null, t('schedule.with', { agent: view.agentName, ref: view.reference }));
  if (byDay.size === 0) {
    replace(root, h('h1', null, t('schedule.title')), intro, h('p', { class: 'message warn' }, t('schedule.none')), h('p', null, h('a', { href: `#/requests/${id}` }, t('app.back'))));
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
    count.textContent = tn('schedule.charsLeft', NOTE_MAX - note.value.length);
  };
  note.addEventListener('input', updateCount);
  updateCount();

  const error = h('div');
  const form = h(
    'form',
    { novalidate: true, 'aria-labelledby': 'schedule-title' },
    h('p', { class: 'hint', id: 'slot-zone' }, t('schedule.zoneHint', { zone })),
    h('div', { class: 'field' }, h('label', { for: 'slot-day' }, t('schedule.day')), daySelect),
    h('div', { class: 'field' }, h('label', { for: 'slot-time' }, t('schedule.time')), timeSelect),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'slot-note' }, t('schedule.note')),
      h('span', { class: 'hint', id: 'slot-note-hint' }, t('schedule.noteHint')),
      note,
      count,
    ),
    error,
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit' }, changing ? t('schedule.changeSubmit') : t('schedule.submit')), h('a', { class: 'button', href: `#/requests/${id}` }, t('app.back'))),
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
        errorBox(errorText(e)),
        Array.isArray(alternatives) && alternatives.length ? h('p', null, t('schedule.nearby', { times: alternatives.map((a) => dateTime(a, zone)).join(', ') })) : null,
      );
    } finally {
      setBusy(form, false);
    }
  });

  function confirmation(booked) {
    const message = h('div');
    const ics = h('button', { class: 'primary', type: 'button' }, t('card.addToCalendar'));
    ics.addEventListener('click', async () => {
      try {
        await download(booked.calendar, app.device.credential, `callback-${booked.reference}.ics`);
        announce(t('schedule.downloaded'));
      } catch (e) {
        replace(message, errorBox(errorText(e)));
      }
    });
    replace(
      root,
      h('h1', null, t('schedule.bookedTitle')),
      h(
        'div',
        { class: 'card' },
        h('p', { class: 'slot-summary' }, `${dateTime(booked.scheduledFor, zone)} (${zone})`),
        h('p', null, t('schedule.caseLine', { agent: booked.agentName, ref: booked.reference })),
        booked.scheduleNote ? h('p', null, h('span', { class: 'muted' }, t('card.yourNote')), booked.scheduleNote) : null,
        h('p', { class: 'muted' }, t('schedule.whenDue')),
        h(
          'div',
          { class: 'actions' },
          ics,
          h('a', { class: 'button', href: `#/requests/${id}/schedule`, onclick: (e) => { e.preventDefault(); showSchedule(app, [id], root).then(() => focusHeading(root)); } }, t('card.changeTime')),
          cancelButton(app, booked, message, () => {}),
        ),
        message,
      ),
      h('p', null, h('a', { href: '#/' }, t('app.done'))),
    );
    focusHeading(root);
    announce(t('schedule.booked'));
  }

  replace(root, h('h1', { id: 'schedule-title' }, changing ? t('schedule.changeTitle') : t('schedule.title')), intro, form);
}
