/**
 * "Take the next callback" from the desk phone (SPEC core flow 1 step 4, agent side): the agent
 * dials the feature code and gets the oldest callback that is due in their groups — a scheduled
 * one whose time has come, one waiting for an agent, or one whose customer was prompted but has
 * not called. The agent is reserved for it and the SIP layer is asked to dial (agent leg first,
 * then the customer), exactly as when the callback job picks an agent.
 */
import { CALL_REQUEST_STATES, isTerminal, type CallRequestEvent, type CallRequestState } from '../domain/call-request.js';
import { queueOrder } from '../domain/agent-selection.js';
import { AppError, isAppError } from '../domain/errors.js';
import type { CallRequest } from '../domain/model.js';
import { moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

/** Callbacks of the agent's groups (and their own) that can be dialled now, oldest request first. */
async function dueCallbacks(deps: FlowDeps, agentId: string, groups: string[], now: Date): Promise<CallRequest[]> {
  const states = ['scheduled', 'due', 'prompted'] as const;
  const lists = await Promise.all([
    ...groups.map((groupId) => deps.store.callRequests.list({ groupId, states: [...states], limit: 200 })),
    deps.store.callRequests.list({ agentId, states: [...states], limit: 200 }),
  ]);
  // A customer with whom the agent already has another open request is skipped: one open
  // request per customer and agent (the store refuses a second).
  const open = await deps.store.callRequests.list({ agentId, states: OPEN_STATES, limit: 1000 });
  const busyWith = new Set(open.map((r) => r.customerId));
  const byId = new Map<string, CallRequest>();
  for (const r of lists.flat()) {
    if (r.state === 'scheduled' && (!r.scheduledFor || r.scheduledFor > now)) continue;
    if (r.agentId !== agentId && busyWith.has(r.customerId)) continue;
    byId.set(r.id, r);
  }
  return queueOrder([...byId.values()]);
}

const OPEN_STATES: CallRequestState[] = CALL_REQUEST_STATES.filter((s) => !isTerminal(s));

export async function takeNextCallback(deps: FlowDeps, agentId: string): Promise<CallRequest> {
  const agent = await deps.store.agents.get(agentId);
  if (!agent) throw new AppError('not_found', `No agent ${agentId}.`);
  const actor = `agent:${agent.id}`;
  if (!(await deps.store.agents.reserve(agent.id))) {
    throw new AppError('conflict', `You are ${agent.availability}; become available to take a callback.`, { availability: agent.availability });
  }
  try {
    const now = deps.clock();
    for (const candidate of await dueCallbacks(deps, agent.id, agent.groups, now)) {
      const steps: CallRequestEvent[] = candidate.state === 'scheduled' ? [{ type: 'callback_due' }] : [];
      steps.push({ type: 'dial_agent', agentId: agent.id });
      let dialled: CallRequest | null = null;
      let madeDue = false;
      try {
        for (const step of steps) {
          // The listed (then just moved) request is the first guess: no re-read per step.
          dialled = (await moveRequest(deps, candidate.id, step, actor, dialled ?? candidate)).after;
          if (step.type === 'callback_due') madeDue = true;
        }
      } catch (e) {
        if (!isAppError(e) || (e.code !== 'illegal_transition' && e.code !== 'conflict')) throw e;
        // Someone else (the job, another agent) took it first: try the next one. If this call
        // already made it due, hand it back to the scheduler rather than leave it stranded.
        if (madeDue) await handBackCallback(deps, candidate.id, actor);
        continue;
      }
      deps.events.publish({ type: 'callback.dial', requestId: candidate.id, agentId: agent.id, customerId: candidate.customerId, at: now.toISOString() });
      deps.logger.info({ requestId: candidate.id, agentId: agent.id }, 'agent took the next callback');
      return dialled!;
    }
  } catch (e) {
    await deps.store.agents.setAvailability(agent.id, 'available', deps.clock());
    throw e;
  }
  await deps.store.agents.setAvailability(agent.id, 'available', deps.clock());
  throw new AppError('not_found', 'No callback is due in your groups.');
}

/**
 * A callback made due here but not dialled (someone else took it meanwhile) goes back to the
 * scheduler, due now. Shared with "call now" (callback-now.ts).
 */
export async function handBackCallback(deps: FlowDeps, id: string, actor: string): Promise<void> {
  const now = deps.clock();
  try {
    // Back to scheduled, due now: the callback job is set with the move.
    await moveRequest(deps, id, { type: 'callback_failed', outcome: 'failed', retryAt: now }, actor);
  } catch (e) {
    if (!isAppError(e)) throw e;
    deps.logger.info({ requestId: id, reason: e.message }, 'callback moved on meanwhile');
  }
}
