/**
 * Knock before calling (SPEC core flow 1, steps 1–2): an agent asks to talk to a customer; the
 * customer's devices are notified and the answer clock starts.
 */
import { AppError, isAppError } from '../domain/errors.js';
import { applyEvent } from '../domain/call-request.js';
import type { Agent, CallRequest } from '../domain/model.js';
import type { NewCallRequest } from '../store/store.js';
import { announceMove, moveRequest } from './move-request.js';
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
  // The devices are read with the customer: the notifier needs them next.
  const found = await store.customers.getWithDevices(input.customerId);
  if (!found) throw new AppError('not_found', `No customer ${input.customerId}.`);
  const { customer, devices } = found;
  const groupId = input.groupId ?? agent.groups[0] ?? null;
  // The agent's own groups come from its membership rows, which cannot outlive their group; only
  // a group named by the caller needs looking up.
  const known = groupId !== null && agent.groups.includes(groupId);
  if (groupId && !known && !(await store.groups.get(groupId))) throw new AppError('not_found', `No agent group ${groupId}.`);

  const now = deps.clock();
  const fresh: NewCallRequest = {
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
  };
  // A new request is notified at once, so it is stored already moved (requested -> notified, by
  // the state machine) and both audit entries are written with it, in order, in one statement;
  // nothing is written when an existing request is returned instead.
  const notify = { type: 'notify' } as const;
  const notified = applyEvent(fresh, notify, now);
  const { request, created } = await store.callRequests.create({ ...fresh, ...notified }, (requestId) => [
    {
      actor: input.createdBy,
      action: 'request.create',
      subject: `call_request:${requestId}`,
      decision: 'allow',
      reason: `agent ${agent.username} asks to call customer ${customer.id} about ${input.reference}`,
      data: { agentId: agent.id, customerId: customer.id, reference: input.reference },
    },
    { actor: 'system', action: `request.${notify.type}`, subject: `call_request:${requestId}`, decision: 'allow', reason: `${fresh.state} -> ${notified.state}`, data: {} },
  ]);
  if (!created) return { request, created };
  announceMove(deps, { from: fresh.state, after: request, event: notify, actor: 'system', now });

  try {
    // A request created just now has no notifications yet.
    await deps.notifier.notifyCustomer({ request, customer, devices, history: [], agentName: agent.name, kind: 'knock', now });
  } catch (e) {
    // Nobody can answer: close the request now so the agent is free and not left waiting.
    await moveRequest(deps, request.id, { type: 'cancel', by: 'system' }, 'system');
    if (isAppError(e)) throw e;
    throw new AppError('no_reachable_device', 'The customer could not be notified on any channel.');
  }
  await deps.scheduler.scheduleExpiry(request.id, request.answerDeadline);
  return { request, created: true };
}

export async function cancelCallRequest(deps: FlowDeps, requestId: string, actor: string): Promise<CallRequest> {
  const { after } = await moveRequest(deps, requestId, { type: 'cancel', by: actor }, actor);
  await deps.scheduler.cancelForRequest(requestId);
  return after;
}
