/** Dates and times as people read them, in a given IANA time zone. */

/** The page's locale for Intl (the customer app sets the one of its language); undefined: the browser's. */
let pageLocale;

export function setLocale(tag) {
  pageLocale = tag;
}

function fmt(options, zone) {
  return new Intl.DateTimeFormat(pageLocale, { ...options, ...(zone ? { timeZone: zone } : {}) });
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

/** "00:42" call timer */
export function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** "4 Jun 2024" (the customer app's is in its language) */
export function date(iso, zone) {
  return fmt({ day: 'numeric', month: 'short', year: 'numeric' }, zone).format(new Date(iso));
}
