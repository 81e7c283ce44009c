/**
 * "Call now" on a scheduled callback in the console (SPEC "scheduled callbacks with their notes
 * and call now"): the callback starts at once instead of at its time, the way it would have
 * started then.
 *   - "agent calls" mode: the agent is reserved and the SIP layer is asked to dial
 *     (`callback.dial`: the agent's desk phone first, then the customer), the same path as the
 *     callback job and the take-next-callback feature code;
 *   - "customer calls" mode: the customer is prompted now to place the call.
 * The callback's scheduled job is dropped either way: it would find nothing left to do.
 */
import { AppError, isAppError } from '../domain/errors.js';
import type { CallbackMode } from '../domain/call-request.js';
import type { CallRequest } from '../domain/model.js';
import { policyFor } from './group-policy.js';
import { loadRequest, moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';
import { handBackCallback } from './take-next-callback.js';

export interface CallNowAsker {
  actor: string;
  /** The signed-in agent; null for an integration (the callback's own agent then takes it). */
  agentId: string | null;
  /** Supervisors, admins and integrations may start anyone's callback; agents only their own. */
  mayActForOthers: boolean;
}

export interface CallNowResult {
  request: CallRequest;
  mode: CallbackMode;
  /** customer_calls: whether the prompt reached one of the customer's devices. */
  customerNotified: boolean | null;
}

const STARTABLE = new Set(['scheduled', 'due', 'prompted']);

export async function callBackNow(deps: FlowDeps, requestId: string, by: CallNowAsker): Promise<CallNowResult> {
  const request = await loadRequest(deps, requestId);
  if (!by.mayActForOthers && by.agentId !== request.agentId) {
    throw new AppError('forbidden', 'Only the agent who asked for the call, or a supervisor, can start this callback.');
  }
  if (!STARTABLE.has(request.state)) {
    throw new AppError('conflict', `This request is ${request.state.replace(/_/g, ' ')}, not a callback waiting to be made.`, { state: request.state });
  }
  const { callbackMode: mode } = await policyFor(deps, request.groupId);
  const result = mode === 'agent_calls' ? await dialNow(deps, request, by) : await promptNow(deps, request, by);
  deps.logger.info({ requestId: request.id, mode, by: by.actor }, 'callback started now from the console');
  return result;
}

/** Reserve the agent, make the callback due, and ask the SIP layer to dial. */
async function dialNow(deps: FlowDeps, request: CallRequest, by: CallNowAsker): Promise<CallNowResult> {
  const agentId = by.agentId ?? request.agentId;
  const agent = await deps.store.agents.get(agentId);
  if (!agent) throw new AppError('not_found', `No agent ${agentId}.`);
  if (!(await deps.store.agents.reserve(agent.id))) {
    throw new AppError('conflict', `${agent.name} is ${agent.availability}; become available to call now.`, { availability: agent.availability });
  }
  let madeDue = false;
  try {
    let current = request;
    if (current.state === 'scheduled') {
      current = (await moveRequest(deps, current.id, { type: 'callback_due' }, by.actor, current)).after;
      madeDue = true;
    }
    current = (await moveRequest(deps, current.id, { type: 'dial_agent', agentId: agent.id }, by.actor, current)).after;
    const now = deps.clock().toISOString();
    deps.events.publish({ type: 'agent.changed', agentId: agent.id, availability: 'busy', at: now });
    deps.events.publish({ type: 'callback.dial', requestId: current.id, agentId: agent.id, customerId: current.customerId, at: now });
    return { request: current, mode: 'agent_calls', customerNotified: null };
  } catch (e) {
    await deps.store.agents.setAvailability(agent.id, 'available', deps.clock());
    // Made due here but not dialled (someone else took it meanwhile): back to the scheduler.
    if (madeDue) await handBackCallback(deps, request.id, by.actor);
    if (isAppError(e) && e.code === 'illegal_transition') throw new AppError('conflict', 'The callback was taken by someone else meanwhile.');
    throw e;
  }
}

/** Make the callback due and prompt the customer to place the call now. */
async function promptNow(deps: FlowDeps, request: CallRequest, by: CallNowAsker): Promise<CallNowResult> {
  let current = request;
  if (current.state === 'scheduled') current = (await moveRequest(deps, current.id, { type: 'callback_due' }, by.actor, current)).after;
  if (current.state === 'due') current = (await moveRequest(deps, current.id, { type: 'prompt_customer' }, by.actor, current)).after;
  const agent = await deps.store.agents.get(current.agentId);
  try {
    await deps.notifier.notifyCustomer({ request: current, agentName: agent?.name ?? 'Your adviser', kind: 'callback_prompt', now: deps.clock() });
    return { request: current, mode: 'customer_calls', customerNotified: true };
  } catch (e) {
    if (!isAppError(e)) throw e;
    deps.logger.warn({ requestId: current.id, code: e.code }, 'customer could not be prompted to call now');
    return { request: current, mode: 'customer_calls', customerNotified: false };
  }
}
