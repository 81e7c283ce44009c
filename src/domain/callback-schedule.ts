/**
 * Rules for when a callback may be scheduled (SPEC core flow 1, step 4): not in the past, not
 * beyond the horizon, inside the group's business hours (in the group's time zone) and not on one
 * of its closed dates (public holidays), at the start of a slot of the group's grid, and inside a
 * slot that still has room. Pure: "now" and the slot counts are passed in.
 */
import { DateTime, IANAZone } from 'luxon';
import { LOST_CALL_CAUSES, type Outcome } from './call-request.js';
import { AppError } from './errors.js';
import type { WeeklyHours } from './model.js';

export interface Hours {
  timeZone: string;
  weekly: WeeklyHours;
  /** Whole days closed whatever the weekday says (public holidays): `YYYY-MM-DD` in timeZone. */
  closedDates?: readonly string[];
}

interface Range {
  start: number; // minutes since midnight
  end: number;
}

const RANGE = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;

/** Parses "HH:MM-HH:MM"; throws a validation error naming the bad entry. */
export function parseRange(text: string): Range {
  const m = RANGE.exec(text);
  if (!m) throw new AppError('validation_failed', `Business hours "${text}" must look like "08:00-18:30".`);
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  if (end <= start || end > 24 * 60) {
    throw new AppError('validation_failed', `Business hours "${text}" must end after they start, within one day.`);
  }
  return { start, end };
}

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Problems with a list of closed dates (`YYYY-MM-DD`, real calendar days), each naming its entry. */
export function closedDateProblems(dates: readonly string[]): string[] {
  const problems: string[] = [];
  dates.forEach((d, i) => {
    if (!ISO_DATE.test(d) || !DateTime.fromISO(d).isValid) problems.push(`[${i}] "${d}" is not a calendar date written YYYY-MM-DD (e.g. 2026-12-25)`);
  });
  return problems;
}

/** Validates a whole weekly table; returns it unchanged when sound. */
export function validateWeeklyHours(weekly: WeeklyHours): WeeklyHours {
  for (const [day, ranges] of Object.entries(weekly)) {
    if (!/^[1-7]$/.test(day)) {
      throw new AppError('validation_failed', `Business hours day "${day}" must be an ISO weekday 1 (Monday) to 7 (Sunday).`);
    }
    for (const r of ranges ?? []) parseRange(r);
  }
  return weekly;
}

function isClosedDate(hours: Hours, day: DateTime): boolean {
  return hours.closedDates?.includes(day.toISODate() ?? '') ?? false;
}

function rangesFor(hours: Hours, day: DateTime): Range[] {
  if (isClosedDate(hours, day)) return [];
  const key = String(day.weekday) as keyof WeeklyHours;
  return (hours.weekly[key] ?? []).map(parseRange);
}

export function isWithinBusinessHours(at: Date, hours: Hours): boolean {
  const local = DateTime.fromJSDate(at, { zone: hours.timeZone });
  const minute = local.hour * 60 + local.minute;
  return rangesFor(hours, local).some((r) => minute >= r.start && minute < r.end);
}

/**
 * The first instant at or after `from` that is inside business hours; null if none in 14 days
 * (plus one day for each closed date, so a long holiday does not read as "never open").
 */
export function nextOpenTime(from: Date, hours: Hours): Date | null {
  let day = DateTime.fromJSDate(from, { zone: hours.timeZone }).startOf('day');
  const days = 14 + (hours.closedDates?.length ?? 0);
  for (let i = 0; i < days; i++, day = day.plus({ days: 1 })) {
    for (const r of rangesFor(hours, day).sort((a, b) => a.start - b.start)) {
      const start = day.plus({ minutes: r.start });
      const end = day.plus({ minutes: r.end });
      if (end.toJSDate() <= from) continue;
      return start.toJSDate() > from ? start.toJSDate() : from;
    }
  }
  return null;
}

/**
 * Slot lengths the grid allows: those that divide an hour, so every hour starts a slot, and whole
 * hours that divide a day. Any other length (45, 90) would drift off the hour from midnight on
 * and never start at an 08:00 opening.
 */
export const SLOT_MINUTES = [5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240] as const;

/** Start of the slot containing `at`; slots are aligned to the hour in the group's zone. */
export function slotStart(at: Date, slotMinutes: number, timeZone: string): Date {
  const local = DateTime.fromJSDate(at, { zone: timeZone });
  const minuteOfDay = local.hour * 60 + local.minute;
  const aligned = minuteOfDay - (minuteOfDay % slotMinutes);
  return local.startOf('day').plus({ minutes: aligned }).toJSDate();
}

export interface SchedulePolicy {
  hours: Hours;
  horizonDays: number;
  slotMinutes: number;
  /** Callbacks only at slot starts of the grid (09:00, 09:30 with 30-minute slots); false: any minute in business hours. */
  slotStartsOnly?: boolean;
}

/**
 * Refuses a callback time that cannot be honoured, with the reason and, where it helps, the
 * next time that would work.
 */
export function checkCallbackTime(at: Date, now: Date, policy: SchedulePolicy): void {
  if (Number.isNaN(at.getTime())) throw new AppError('validation_failed', 'The callback time is not a valid date and time.');
  if (at <= now) throw new AppError('in_the_past', 'The chosen time has already passed; pick a later time.');
  const horizon = new Date(now.getTime() + policy.horizonDays * 86_400_000);
  if (at > horizon) {
    throw new AppError('beyond_horizon', `Callbacks can be scheduled at most ${policy.horizonDays} days ahead.`, {
      latest: horizon.toISOString(),
    });
  }
  if (!isWithinBusinessHours(at, policy.hours)) {
    const next = nextOpenTime(at, policy.hours);
    const local = DateTime.fromJSDate(at, { zone: policy.hours.timeZone });
    const closed = isClosedDate(policy.hours, local);
    throw new AppError(
      'outside_business_hours',
      closed ? `We are closed on ${local.toFormat('cccc d LLLL yyyy')}; pick another day.` : 'The chosen time is outside business hours.',
      { timeZone: policy.hours.timeZone, nextOpen: next?.toISOString() ?? null, ...(closed ? { closedDate: local.toISODate() } : {}) },
    );
  }
  const start = slotStart(at, policy.slotMinutes, policy.hours.timeZone);
  if (policy.slotStartsOnly !== false && start.getTime() !== at.getTime()) {
    // Only slot starts are offered; a time between them would book a slot nobody chose.
    const zone = policy.hours.timeZone;
    const nearest = [start, new Date(start.getTime() + policy.slotMinutes * 60_000)].filter((s) => s > now && isWithinBusinessHours(s, policy.hours));
    const hhmm = (d: Date) => DateTime.fromJSDate(d, { zone }).toFormat('HH:mm');
    // Seconds shown when there are any, or "09:00 is not a slot start" would read as a contradiction.
    const asked = DateTime.fromJSDate(at, { zone }).toFormat(at.getUTCSeconds() || at.getUTCMilliseconds() ? 'HH:mm:ss.SSS' : 'HH:mm').replace(/\.000$/, '');
    const named = nearest.length ? `; the nearest ${nearest.length === 1 ? 'is' : 'are'} ${nearest.map(hhmm).join(' and ')} (${zone})` : '';
    throw new AppError('not_a_slot', `Callbacks start every ${policy.slotMinutes} minutes: ${asked} is not a slot start${named}.`, {
      slotMinutes: policy.slotMinutes,
      timeZone: zone,
      nearest: nearest.map((d) => d.toISOString()),
    });
  }
}

/**
 * Candidate slot starts after `from`, inside business hours and the horizon, for offering
 * alternatives when a slot is full.
 */
export function upcomingSlots(from: Date, now: Date, policy: SchedulePolicy, count: number): Date[] {
  const out: Date[] = [];
  const horizon = now.getTime() + policy.horizonDays * 86_400_000;
  let cursor = new Date(slotStart(from, policy.slotMinutes, policy.hours.timeZone).getTime() + policy.slotMinutes * 60_000);
  for (let guard = 0; out.length < count && guard < 2000; guard++) {
    const open = nextOpenTime(cursor, policy.hours);
    if (!open || open.getTime() > horizon) break;
    const start = slotStart(open, policy.slotMinutes, policy.hours.timeZone);
    // Only slot starts: hours opening between two (09:10) offer the next one (09:30).
    if (start >= open && start > now && isWithinBusinessHours(start, policy.hours)) out.push(start);
    cursor = new Date(start.getTime() + policy.slotMinutes * 60_000);
  }
  return out;
}

export interface RetryPolicy {
  attempts: number;
  spacingMinutes: number;
  retryOn: Outcome[];
}

/** When to try a failed callback again, or null to give up (and ask the customer to reschedule). */
export function nextRetryTime(policy: RetryPolicy, attemptsMade: number, outcome: Outcome, now: Date): Date | null {
  // A component lost under the attempt (FreeSWITCH, drachtio-server, a service process) is the
  // service failing, not the customer: retried as a failed attempt is.
  const as: Outcome = LOST_CALL_CAUSES.has(outcome) ? 'failed' : outcome;
  if (!policy.retryOn.includes(as)) return null;
  if (attemptsMade >= policy.attempts) return null;
  return new Date(now.getTime() + policy.spacingMinutes * 60_000);
}
