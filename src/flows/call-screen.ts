/**
 * What the agent console's call screen shows (SPEC "Agent console": an incoming-call screen with
 * the verified customer, how and when they authenticated, and the reference): live events when a
 * customer call rings an agent's desk phone, connects to it, and leaves it.
 *
 * The session id is not in these events: it is what vouches for the customer to the next agent,
 * and consoles name a call by its request id instead.
 */
import type { CallRequest } from '../domain/model.js';
import type { CallOnScreen, FlowDeps } from './ports.js';

export interface CallVerificationFacts {
  customerName: string;
  /** 'biometric' | 'pin' (or 'none' for an agent-dialled callback, shown as not verified). */
  authMethod: string;
  authenticatedAt: Date;
}

function onScreen(
  deps: FlowDeps,
  args: { request: CallRequest; agentId: string; verification: CallVerificationFacts; via: 'token' | 'session' | 'callback' },
): CallOnScreen {
  const v = args.verification;
  const verified = args.via !== 'callback' && v.authMethod !== 'none';
  return {
    requestId: args.request.id,
    agentId: args.agentId,
    customerId: args.request.customerId,
    customerName: v.customerName,
    reference: args.request.reference,
    reason: args.request.reason,
    verification: verified ? { method: v.authMethod, at: v.authenticatedAt.toISOString(), via: args.via === 'session' ? 'session' : 'token' } : null,
    at: deps.clock().toISOString(),
  };
}

/** The agent's desk phone is ringing with this customer (synchronous: called while ringing starts). */
export function callRinging(deps: FlowDeps, args: Parameters<typeof onScreen>[1]): void {
  deps.events.publish({ type: 'call.ringing', ...onScreen(deps, args) });
}

/** The agent answered and is talking to this customer. */
function callOnScreen(deps: FlowDeps, args: Parameters<typeof onScreen>[1]): void {
  deps.events.publish({ type: 'call.connected', ...onScreen(deps, args) });
}

/** The call left this agent: hung up, transferred away, or their phone was not answered. */
export function callLeftAgent(deps: FlowDeps, args: { requestId: string; agentId: string; outcome: string }): void {
  deps.events.publish({ type: 'call.ended', requestId: args.requestId, agentId: args.agentId, outcome: args.outcome, at: deps.clock().toISOString() });
}

/** The request carries how the customer authenticated; the name is looked up. Nothing when unverified. */
async function announceVerifiedCall(deps: FlowDeps, request: CallRequest, agentId: string, via: 'token' | 'session'): Promise<void> {
  if (!request.authMethod || !request.authenticatedAt) return;
  const customer = await deps.store.customers.get(request.customerId);
  callOnScreen(deps, {
    request,
    agentId,
    verification: { customerName: customer?.name ?? 'Verified customer', authMethod: request.authMethod, authenticatedAt: request.authenticatedAt },
    via,
  });
}

/** callConnected's view: the agent is talking to the customer the token verified. */
export function announceConnected(deps: FlowDeps, request: CallRequest, agentId: string): Promise<void> {
  return announceVerifiedCall(deps, request, agentId, 'token');
}

/**
 * A transfer was answered (by REFER or from the console): the new agent's screen shows the
 * customer, verified through the session; the first agent's screen closes.
 */
export async function announceTransferred(deps: FlowDeps, request: CallRequest, fromAgentId: string, toAgentId: string): Promise<void> {
  callLeftAgent(deps, { requestId: request.id, agentId: fromAgentId, outcome: 'transferred' });
  await announceVerifiedCall(deps, request, toAgentId, 'session');
}

/**
 * The verified call the agent is on now, for a console that (re)loads mid-call: live events are
 * not replayed. Calls without a session (agent-dialled callbacks) are not restored.
 */
export async function currentCallOf(deps: FlowDeps, agentId: string): Promise<CallOnScreen | null> {
  const records = await deps.store.callRecords.list({ agentId, limit: 5 });
  for (const record of records) {
    if (record.endedAt || !record.answeredAt || !record.sessionId || !record.callRequestId) continue;
    const session = await deps.store.sessions.get(record.sessionId);
    if (!session || session.revokedAt) continue;
    const request = await deps.store.callRequests.get(record.callRequestId);
    if (!request) continue;
    const customer = await deps.store.customers.get(request.customerId);
    return onScreen(deps, {
      request,
      agentId,
      verification: { customerName: customer?.name ?? 'Verified customer', authMethod: session.authMethod, authenticatedAt: session.authenticatedAt },
      via: record.verification === 'session' ? 'session' : 'token',
    });
  }
  return null;
}
