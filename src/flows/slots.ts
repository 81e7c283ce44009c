/**
 * The times a customer can pick for a callback (SPEC core flow 1, step 4): the upcoming slots of
 * the request's group inside business hours and the horizon, minus slots already full. The app's
 * picker offers only these, so a choice is refused only when someone took the last place first.
 */
import { allowedAnswers } from '../domain/call-request.js';
import { slotStart, upcomingSlots } from '../domain/callback-schedule.js';
import { AppError } from '../domain/errors.js';
import type { CallRequest, Device } from '../domain/model.js';
import { loadRequestForDevice } from './accept.js';
import { policyFor } from './group-policy.js';
import type { FlowDeps } from './ports.js';

export interface OpenSlots {
  /** The customer's zone: the app shows times in it. */
  timeZone: string;
  /** The zone the business hours are defined in. */
  businessTimeZone: string;
  slotMinutes: number;
  /** Latest time a callback may be scheduled. */
  horizon: string;
  slots: Array<{ start: string; end: string }>;
  /** Where the next page starts (pass it back as `after`); null once the horizon is reached. */
  next: string | null;
}

/** Each slot costs time-zone arithmetic; a bound keeps one request from holding the event loop. */
export const MAX_SLOTS = 200;

/** `after`: only slots starting after it (a page's `next`), so the whole horizon can be listed page by page. */
export async function openSlotsForDevice(deps: FlowDeps, device: Device, requestId: string, limit: number, known?: CallRequest, after?: Date): Promise<OpenSlots> {
  const request = await loadRequestForDevice(deps, device, requestId, known);
  const now = deps.clock();
  if (!allowedAnswers(request, now).schedule) {
    throw new AppError('illegal_transition', 'This call can no longer be scheduled.', { state: request.state });
  }
  const policy = await policyFor(deps, request.groupId);
  const customer = await deps.store.customers.get(request.customerId);
  const pageSize = Math.min(Math.max(1, limit), MAX_SLOTS);
  const candidates = upcomingSlots(after && after > now ? after : now, now, policy, pageSize);

  let free = candidates;
  if (policy.slotCapacity) {
    // One read of the group's booked callbacks instead of one count per slot.
    const booked = await deps.store.callRequests.list({
      states: ['scheduled'],
      ...(request.groupId ? { groupId: request.groupId } : {}),
      limit: 10_000,
    });
    const taken = new Map<number, number>();
    for (const b of booked) {
      if (!b.scheduledFor || b.groupId !== request.groupId) continue;
      const key = slotStart(b.scheduledFor, policy.slotMinutes, policy.hours.timeZone).getTime();
      taken.set(key, (taken.get(key) ?? 0) + 1);
    }
    const capacity = policy.slotCapacity;
    free = candidates.filter((c) => (taken.get(slotStart(c, policy.slotMinutes, policy.hours.timeZone).getTime()) ?? 0) < capacity);
  }

  return {
    timeZone: customer?.timeZone ?? policy.hours.timeZone,
    businessTimeZone: policy.hours.timeZone,
    slotMinutes: policy.slotMinutes,
    horizon: new Date(now.getTime() + policy.horizonDays * 86_400_000).toISOString(),
    slots: free.map((start) => ({
      start: start.toISOString(),
      end: new Date(slotStart(start, policy.slotMinutes, policy.hours.timeZone).getTime() + policy.slotMinutes * 60_000).toISOString(),
    })),
    // A full page may have more behind it (full slots are left out, so the cursor is the candidates').
    next: candidates.length === pageSize ? candidates.at(-1)!.toISOString() : null,
  };
}
