/** Dates and times as people read them, in a given IANA time zone. */

function fmt(options, zone) {
  return new Intl.DateTimeFormat(undefined, { ...options, ...(zone ? { timeZone: zone } : {}) });
}

/** "14:05" */
export function time(iso, zone) {
  return fmt({ hour: '2-digit', minute: '2-digit' }, zone).format(new Date(iso));
}

/**
 * A moment as a list shows it: "14:05" today, "Tue 4 June, 14:05" any other day (a time alone
 * would read as today's). `now` for tests.
 */
export function when(iso, zone, now = new Date()) {
  return dayKey(iso, zone) === dayKey(now.toISOString(), zone) ? time(iso, zone) : dateTime(iso, zone);
}

/** "Tue 4 June" */
export function day(iso, zone) {
  return fmt({ weekday: 'short', day: 'numeric', month: 'long' }, zone).format(new Date(iso));
}

/** "Tue 4 June, 14:05" */
export function dateTime(iso, zone) {
  return fmt({ weekday: 'short', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit' }, zone).format(new Date(iso));
}

/** "2024-06-04" in the zone: groups slots by the customer's calendar day. */
export function dayKey(iso, zone) {
  const parts = fmt({ year: 'numeric', month: '2-digit', day: '2-digit' }, zone).formatToParts(new Date(iso));
  const get = (t) => parts.find((p) => p.type === t)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** "4 min 05 s", "45 s" */
export function countdown(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m > 0 ? `${m} min ${String(s).padStart(2, '0')} s` : `${s} s`;
}

/** "30 minutes", "1 hour", "1 day" */
export function minutesLabel(minutes) {
  if (minutes % 1440 === 0) return minutes === 1440 ? '1 day' : `${minutes / 1440} days`;
  if (minutes % 60 === 0) return minutes === 60 ? '1 hour' : `${minutes / 60} hours`;
  return `${minutes} minutes`;
}

/** "00:42" call timer */
export function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** "4 Jun 2024" */
export function date(iso, zone) {
  return fmt({ day: 'numeric', month: 'short', year: 'numeric' }, zone).format(new Date(iso));
}
