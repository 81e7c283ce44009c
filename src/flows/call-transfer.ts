/**
 * A verified customer's call moves to another agent (SPEC core flow 2): the session id opened at
 * connect vouches for the customer to the second agent, with no new questions. The SIP layer
 * asks verifySessionForTransfer (call-session.ts) before ringing the new agent and reports the
 * answer here: the first agent's part of the call is closed on the record and the second starts,
 * marked as verified through the session.
 */
import type { CallRecord } from '../domain/model.js';
import type { CallLegIds } from './call-session.js';
import { releaseAgent } from './agent-availability.js';
import { announceTransferred } from './call-screen.js';
import { loadRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

/** How a transfer was asked for; 'semi-attended': REFER with Replaces naming a consultation still ringing. */
export type TransferHow = 'blind' | 'attended' | 'semi-attended' | 'console';

export async function transferAnswered(
  deps: FlowDeps,
  args: { requestId: string; sessionId: string; fromAgentId: string; toAgentId: string; previousRecordId: string | null; how: TransferHow; legs?: CallLegIds },
): Promise<CallRecord> {
  const now = deps.clock();
  const request = await loadRequest(deps, args.requestId);
  // The new record opens before the previous one closes: the session always has an open call,
  // so the reconciler never takes it for ended mid-transfer.
  const record = await deps.store.callRecords.create({
    callRequestId: request.id,
    sessionId: args.sessionId,
    customerId: request.customerId,
    agentId: args.toAgentId,
    direction: 'inbound',
    startedAt: now,
    answeredAt: now,
    endedAt: null,
    outcome: null,
    verification: 'session',
    ...args.legs,
  });
  if (args.previousRecordId) await deps.store.callRecords.close(args.previousRecordId, now, 'transferred');
  await releaseAgent(deps, args.fromAgentId);
  await deps.store.audit.append({
    actor: 'sip',
    action: 'call.transfer',
    subject: `session:${args.sessionId}`,
    decision: 'allow',
    reason: `${args.how} transfer answered by agent ${args.toAgentId}; customer verified through the session`,
    data: { requestId: request.id, fromAgentId: args.fromAgentId, toAgentId: args.toAgentId },
  });
  await announceTransferred(deps, request, args.fromAgentId, args.toAgentId);
  return record;
}
