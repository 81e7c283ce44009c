/**
 * The customer calls off a callback they scheduled ("change or cancel later"). Changing the time
 * is scheduling again (schedule.ts); cancelling closes the request, drops its callback job and
 * tells the agent's console through the usual request.changed event.
 */
import { AppError } from '../domain/errors.js';
import type { CallRequest, Device } from '../domain/model.js';
import { loadRequestForDevice } from './accept.js';
import { moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

export async function cancelScheduledCallback(deps: FlowDeps, device: Device, requestId: string, known?: CallRequest): Promise<CallRequest> {
  const request = await loadRequestForDevice(deps, device, requestId, known);
  if (request.state !== 'scheduled') {
    throw new AppError('illegal_transition', 'Only a scheduled call can be cancelled; this one is not scheduled.', { state: request.state });
  }
  const actor = `device:${device.id}`;
  // The callback job goes with the move.
  const { after } = await moveRequest(deps, requestId, { type: 'cancel', by: actor, outcome: 'cancelled_by_customer' }, actor, request);
  return after;
}
