/**
 * A scheduled callback placed outward (SPEC core flow 1 step 4, "agent calls" mode): the agent
 * reserved by callbackDue answered their desk phone, and the SIP layer now calls the customer's
 * app endpoint. A failure at either step goes through callEnded (call-session.ts), which applies
 * the retry policy.
 */
import type { CallRecord } from '../domain/model.js';
import { moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

/** The agent is on the line; the customer's app is being called. */
export async function callbackCustomerLegStarted(deps: FlowDeps, requestId: string): Promise<void> {
  await moveRequest(deps, requestId, { type: 'call_setup' }, 'sip');
}

/**
 * The customer answered on their enrolled device. No pre-authentication happened on this call,
 * so no session is opened: the record says the customer was reached on the device, and the
 * agent verifies as they would on any outbound call.
 */
export async function callbackConnected(deps: FlowDeps, args: { requestId: string; agentId: string; deviceId: string }): Promise<CallRecord> {
  const { after } = await moveRequest(deps, args.requestId, { type: 'call_answered' }, 'sip');
  const now = deps.clock();
  return deps.store.callRecords.create({
    callRequestId: after.id,
    sessionId: null,
    customerId: after.customerId,
    agentId: args.agentId,
    direction: 'outbound',
    startedAt: now,
    answeredAt: now,
    endedAt: null,
    outcome: null,
    verification: `device:${args.deviceId}`,
  });
}
