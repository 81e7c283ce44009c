/**
 * Schedule a call (SPEC core flow 1, step 4) and Remind me later (step 5): the customer's other
 * two answers. Both are allowed after the answer time limit has passed; Accept is not.
 */
import { checkCallbackTime, slotStart, upcomingSlots } from '../domain/callback-schedule.js';
import { AppError } from '../domain/errors.js';
import type { CallRequest, Device } from '../domain/model.js';
import { loadRequestForDevice } from './accept.js';
import { policyFor } from './group-policy.js';
import { moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

const MAX_NOTE = 500;

export async function scheduleCallback(
  deps: FlowDeps,
  device: Device,
  requestId: string,
  at: Date,
  note: string | null,
  known?: CallRequest,
): Promise<CallRequest> {
  const request = await loadRequestForDevice(deps, device, requestId, known);
  if (note && note.length > MAX_NOTE) throw new AppError('validation_failed', `The note can be at most ${MAX_NOTE} characters.`);
  const now = deps.clock();
  const policy = await policyFor(deps, request.groupId);
  checkCallbackTime(at, now, policy);

  if (policy.slotCapacity) {
    const start = slotStart(at, policy.slotMinutes, policy.hours.timeZone);
    const end = new Date(start.getTime() + policy.slotMinutes * 60_000);
    const taken = await deps.store.callRequests.countScheduledBetween(request.groupId, start, end);
    if (taken >= policy.slotCapacity) {
      const alternatives: string[] = [];
      for (const candidate of upcomingSlots(at, now, policy, 20)) {
        const cEnd = new Date(slotStart(candidate, policy.slotMinutes, policy.hours.timeZone).getTime() + policy.slotMinutes * 60_000);
        if ((await deps.store.callRequests.countScheduledBetween(request.groupId, candidate, cEnd)) < policy.slotCapacity) {
          alternatives.push(candidate.toISOString());
        }
        if (alternatives.length === 3) break;
      }
      throw new AppError('slot_full', 'That time is fully booked; please pick another time.', { alternatives });
    }
  }

  // The answer clock and any reminder go and the callback job is set, with the move (request-jobs.ts).
  const { after } = await moveRequest(deps, requestId, { type: 'schedule', at, note: note?.trim() || null }, `device:${device.id}`, request);
  return after;
}

export async function snoozeRequest(deps: FlowDeps, device: Device, requestId: string, minutes: number, known?: CallRequest): Promise<CallRequest> {
  const request = await loadRequestForDevice(deps, device, requestId, known);
  const choices = deps.config.requests.remindChoicesMinutes;
  if (!choices.includes(minutes)) {
    throw new AppError('validation_failed', `Remind me later accepts ${choices.join(', ')} minutes.`, { choices });
  }
  const until = new Date(deps.clock().getTime() + minutes * 60_000);
  // The reminder job is set with the move; the expiry job stays (a reminder due after the agent
  // moved on is dropped by the machine).
  const { after } = await moveRequest(deps, requestId, { type: 'snooze', until }, `device:${device.id}`, request);
  return after;
}
