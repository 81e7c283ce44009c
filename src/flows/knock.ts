/**
 * Knock before calling (SPEC core flow 1, steps 1–2): an agent asks to talk to a customer; the
 * customer's devices are notified and the answer clock starts.
 */
import { AppError, isAppError } from '../domain/errors.js';
import type { Agent, CallRequest } from '../domain/model.js';
import { moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

export interface KnockInput {
  agentId: string;
  customerId: string;
  reason: string;
  reference: string;
  groupId?: string | null;
  idempotencyKey?: string | null;
  /** Who asked: the agent, or an integration ("apikey:<name>"). */
  createdBy: string;
  /** The agent record if the caller has just read it (e.g. while signing the agent in). */
  agent?: Agent;
}

export interface KnockResult {
  request: CallRequest;
  created: boolean;
}

export async function requestCall(deps: FlowDeps, input: KnockInput): Promise<KnockResult> {
  const { store, config } = deps;
  const agent = input.agent?.id === input.agentId ? input.agent : await store.agents.get(input.agentId);
  if (!agent) throw new AppError('not_found', `No agent ${input.agentId}.`);
  const customer = await store.customers.get(input.customerId);
  if (!customer) throw new AppError('not_found', `No customer ${input.customerId}.`);
  const groupId = input.groupId ?? agent.groups[0] ?? null;
  // The agent's own groups come from its membership rows, which cannot outlive their group; only
  // a group named by the caller needs looking up.
  const known = groupId !== null && agent.groups.includes(groupId);
  if (groupId && !known && !(await store.groups.get(groupId))) throw new AppError('not_found', `No agent group ${groupId}.`);

  const now = deps.clock();
  const { request, created } = await store.callRequests.create({
    reference: input.reference,
    reason: input.reason,
    customerId: customer.id,
    agentId: agent.id,
    groupId,
    requestedAt: now,
    createdBy: input.createdBy,
    idempotencyKey: input.idempotencyKey ?? null,
    state: 'requested',
    answerDeadline: new Date(now.getTime() + config.requests.answerTimeLimitSeconds * 1000),
    acceptedDeviceId: null,
    authMethod: null,
    authenticatedAt: null,
    scheduledFor: null,
    scheduleNote: null,
    snoozeUntil: null,
    attempts: 0,
    outcome: null,
  });
  if (!created) return { request, created };

  await store.audit.append({
    actor: input.createdBy,
    action: 'request.create',
    subject: `call_request:${request.id}`,
    decision: 'allow',
    reason: `agent ${agent.username} asks to call customer ${customer.id} about ${request.reference}`,
    data: { agentId: agent.id, customerId: customer.id, reference: request.reference },
  });

  const { after } = await moveRequest(deps, request.id, { type: 'notify' }, 'system', request);
  try {
    // A request created just now has no notifications yet.
    await deps.notifier.notifyCustomer({ request: after, customer, history: [], agentName: agent.name, kind: 'knock', now });
  } catch (e) {
    // Nobody can answer: close the request now so the agent is free and not left waiting.
    await moveRequest(deps, request.id, { type: 'cancel', by: 'system' }, 'system');
    if (isAppError(e)) throw e;
    throw new AppError('no_reachable_device', 'The customer could not be notified on any channel.');
  }
  await deps.scheduler.scheduleExpiry(request.id, after.answerDeadline);
  return { request: after, created: true };
}

export async function cancelCallRequest(deps: FlowDeps, requestId: string, actor: string): Promise<CallRequest> {
  const { after } = await moveRequest(deps, requestId, { type: 'cancel', by: actor }, actor);
  await deps.scheduler.cancelForRequest(requestId);
  return after;
}
