/**
 * Knock before calling (SPEC core flow 1, steps 1–2): an agent asks to talk to a customer; the
 * customer's devices are notified and the answer clock starts.
 */
import { AppError, isAppError } from '../domain/errors.js';
import { applyEvent, HELD_STATES } from '../domain/call-request.js';
import type { Agent, CallRequest, ChannelName } from '../domain/model.js';
import type { NewCallRequest } from '../store/store.js';
import { announceMove, moveRequest } from './move-request.js';
import { outboxEntry, sendKnock } from './outbox.js';
import type { FlowDeps } from './ports.js';
import { jobChanges } from './request-jobs.js';

export interface KnockInput {
  agentId: string;
  customerId: string;
  reason: string;
  reference: string;
  groupId?: string | null;
  idempotencyKey?: string | null;
  /** Fingerprint of the caller and the request the key comes with (see NewCallRequest). */
  idempotencyFingerprint?: string | null;
  /** Who asked: the agent, or an integration ("apikey:<name>"). */
  createdBy: string;
  /** The agent record if the caller has just read it (e.g. while signing the agent in). */
  agent?: Agent;
}

export interface KnockResult {
  request: CallRequest;
  /** False only for a replay: the same Idempotency-Key with the same request, answered as before. */
  created: boolean;
  /**
   * For a new knock, the channels that reached the customer: 'app' (the open app, over its live
   * stream), 'webpush', 'sms'; empty when the send was left to the outbox (tried again shortly).
   */
  reachedBy?: ChannelName[];
}

export async function requestCall(deps: FlowDeps, input: KnockInput, retried = false): Promise<KnockResult> {
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
    idempotencyFingerprint: input.idempotencyFingerprint ?? null,
    state: 'requested',
    answerDeadline: new Date(now.getTime() + config.requests.answerTimeLimitSeconds * 1000),
    acceptedDeviceId: null,
    authMethod: null,
    authenticatedAt: null,
    scheduledFor: null,
    scheduleNote: null,
    snoozeUntil: null,
    holdUntil: null,
    attempts: 0,
    outcome: null,
  };
  // A new request is notified at once, so it is stored already moved (requested -> notified, by
  // the state machine) and both audit entries, its expiry job and its knock notification (an
  // outbox row) are written with it, in one transaction; nothing is written when an existing
  // request is returned instead.
  const notify = { type: 'notify' } as const;
  const notified = applyEvent(fresh, notify, now);
  const knockNote = outboxEntry('knock');
  const { request, created, sameKey } = await store.callRequests.create(
    { ...fresh, ...notified },
    (requestId) => [
      {
        actor: input.createdBy,
        action: 'request.create',
        subject: `call_request:${requestId}`,
        decision: 'allow',
        reason: `agent ${agent.username} asks to call customer ${customer.id} about ${input.reference}`,
        data: { agentId: agent.id, customerId: customer.id, reference: input.reference },
      },
      { actor: 'system', action: `request.${notify.type}`, subject: `call_request:${requestId}`, decision: 'allow', reason: `${fresh.state} -> ${notified.state}`, data: {} },
    ],
    () => ({ ...jobChanges(null, notified), notify: [knockNote] }),
  );
  if (!created) {
    // A retry of the same knock (same key, same request): the same answer.
    if (sameKey) return { request, created };
    // An open request the customer can no longer answer never blocks a new knock.
    if (!retried && canNoLongerBeAccepted(request, now)) {
      await supersede(deps, request, input.createdBy);
      return requestCall(deps, input, true);
    }
    // One the customer can still answer: the new knock is not made, and the answer says which
    // request stands in its way (the agent may cancel it and knock again).
    throw alreadyOpen(request);
  }
  announceMove(deps, { from: fresh.state, after: request, event: notify, actor: 'system', now });

  // Sent only now that the request has committed. A failure other than "nobody can be reached"
  // leaves the notification to the outbox drainer; the knock stands.
  const sent = await sendKnock(deps, knockNote.id, { request, customer, devices, history: [], agentName: agent.name });
  if (sent !== 'deferred' && 'unreachable' in sent) {
    // Nobody can answer: close the request now so the agent is free and not left waiting.
    await moveRequest(deps, request.id, { type: 'cancel', by: 'system', outcome: 'unreachable' }, 'system');
    // The notifier's sentence says what was missing (no device open or subscribed, no SMS…).
    throw new AppError('no_reachable_device', sent.unreachable);
  }
  return { request, created: true, reachedBy: sent === 'deferred' ? [] : sent.sent };
}

/**
 * An open request the customer can no longer accept: expired, or still showing notified/snoozed
 * past its answer deadline (its expiry was lost or is late). It must not block the agent's new knock.
 */
function canNoLongerBeAccepted(request: CallRequest, now: Date): boolean {
  if (request.state === 'expired') return true;
  // Held for a call that never came and whose answer window is over (its lapse is late).
  // (A prompted callback's lapse takes it back to the prompt, still answerable.)
  if (HELD_STATES.has(request.state)) {
    return request.holdUntil !== null && now >= request.holdUntil && now >= request.answerDeadline && request.scheduledFor === null;
  }
  return (request.state === 'notified' || request.state === 'snoozed') && now >= request.answerDeadline;
}

function alreadyOpen(request: CallRequest): AppError {
  return new AppError(
    'request_already_open',
    `This customer already has an open call request from this agent (${request.reference}, ${request.state.replace('_', ' ')}); cancel it to knock again.`,
    // A scheduled (or due, prompted) callback's answer deadline is long past: the time that
    // matters to the agent is the callback's, so it is named too.
    {
      requestId: request.id,
      state: request.state,
      reference: request.reference,
      answerDeadline: request.answerDeadline.toISOString(),
      scheduledFor: request.scheduledFor ? request.scheduledFor.toISOString() : null,
    },
  );
}

/**
 * Closes such a request for the agent's new knock: a stale one is first repaired (expired, as its
 * expiry job would have done; no notice, the new knock follows), then cancelled as superseded.
 * Someone else moving it meanwhile is fine: the knock just tries again.
 */
async function supersede(deps: FlowDeps, request: CallRequest, actor: string): Promise<void> {
  try {
    let current = request;
    // A late lapse or expiry is first done as its job would have done it (no notice: the new knock follows).
    const repair = HELD_STATES.has(current.state) ? ({ type: 'lapse' } as const) : ({ type: 'expire' } as const);
    if (current.state !== 'expired') current = (await moveRequest(deps, current.id, repair, 'system:repair', current)).after;
    await moveRequest(deps, current.id, { type: 'cancel', by: actor, outcome: 'superseded' }, actor, current);
  } catch (e) {
    if (!isAppError(e) || (e.code !== 'illegal_transition' && e.code !== 'request_expired')) throw e;
  }
}

export async function cancelCallRequest(deps: FlowDeps, requestId: string, actor: string): Promise<CallRequest> {
  // The request's jobs go with the move.
  const { after } = await moveRequest(deps, requestId, { type: 'cancel', by: actor }, actor);
  return after;
}
