/**
 * What happens when time passes (run by scheduled jobs): the answer time limit expires, a
 * reminder comes due, a scheduled callback comes due. Each is idempotent: a job that fires twice,
 * or late after the customer already answered, is refused by the state machine and does nothing.
 */
import { nextOpenTime } from '../domain/callback-schedule.js';
import type { CallRequestEvent } from '../domain/call-request.js';
import { rankAgents } from '../domain/agent-selection.js';
import { isAppError } from '../domain/errors.js';
import type { CallRequest, NotificationKind } from '../domain/model.js';
import { releaseAgent } from './agent-availability.js';
import { policyFor } from './group-policy.js';
import { moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

/** Applies the event; a refusal means the work was already done or is no longer wanted. */
async function moveIfStillDue(deps: FlowDeps, id: string, event: CallRequestEvent, job: string, notify?: NotificationKind): Promise<CallRequest | null> {
  try {
    return (await moveRequest(deps, id, event, `job:${job}`, undefined, undefined, notify ? { notify } : {})).after;
  } catch (e) {
    if (isAppError(e) && (e.code === 'illegal_transition' || e.code === 'not_found' || e.code === 'request_expired')) {
      deps.logger.info({ requestId: id, job, reason: e.message }, 'job had nothing left to do');
      return null;
    }
    throw e;
  }
}

/** SPEC step 6: no answer in time. The replacing notification allows scheduling only. */
export async function expireUnansweredRequest(deps: FlowDeps, id: string): Promise<void> {
  // The "expired" notice is owed by the move (outbox), sent once it has committed.
  const after = await moveIfStillDue(deps, id, { type: 'expire' }, 'request.expire', 'expired');
  if (!after) return;
  // The agent has moved on: free them for the next customer and tell the console.
  await releaseAgent(deps, after.agentId);
}

/**
 * SPEC step 5: the snoozed notification comes back, with a fresh answer window (the request was
 * answerable all along; the reminder gives the customer the usual time to answer again).
 */
export async function remindCustomer(deps: FlowDeps, id: string): Promise<void> {
  const answerDeadline = new Date(deps.clock().getTime() + deps.config.requests.answerTimeLimitSeconds * 1000);
  await moveIfStillDue(deps, id, { type: 'remind', answerDeadline }, 'request.remind', 'reminder');
}

/**
 * An accepted or verified request whose authentication or call did not come before its hold ran
 * out (the app closed, the network dropped, the call failed before reaching the server): back to
 * the customer to try again while the answer window is open, else expired with outcome no_call
 * (the customer is told that only scheduling is left).
 */
export async function lapseHold(deps: FlowDeps, id: string): Promise<void> {
  const current = await deps.store.callRequests.get(id);
  if (!current) return;
  const backToCustomer = deps.clock() < current.answerDeadline;
  await moveIfStillDue(deps, id, { type: 'lapse' }, 'request.lapse', backToCustomer ? undefined : 'expired');
}

/**
 * SPEC step 4 at the chosen time: either prompt the customer to place the call, or reserve an
 * agent (the original one first) and ask the SIP layer to dial. A callback whose slot passed while
 * nothing could fire (an outage) follows the deployment's missed-window rule.
 */
export async function callbackDue(deps: FlowDeps, id: string): Promise<void> {
  const job = 'callback.due';
  const current = await deps.store.callRequests.get(id);
  if (!current || current.state !== 'scheduled') return;
  const now = deps.clock();
  const policy = await policyFor(deps, current.groupId);

  const missed = current.scheduledFor && now.getTime() - current.scheduledFor.getTime() > policy.slotMinutes * 60_000;
  if (missed && deps.config.scheduling.missedWindow === 'next_open_slot') {
    const at = nextOpenTime(new Date(now.getTime() + 60_000), policy.hours);
    if (at) {
      // The new callback job and the customer's notice go with the move.
      await moveIfStillDue(deps, id, { type: 'schedule', at, note: current.scheduleNote }, job, 'reminder');
      return;
    }
  }

  const due = await moveIfStillDue(deps, id, { type: 'callback_due' }, job);
  if (!due) return;

  if (policy.callbackMode === 'customer_calls' || missed) {
    await moveIfStillDue(deps, id, { type: 'prompt_customer' }, job, 'callback_prompt');
    return;
  }

  const candidates = due.groupId ? await deps.store.agents.list({ groupId: due.groupId }) : [];
  const owner = await deps.store.agents.get(due.agentId);
  if (owner && !candidates.some((a) => a.id === owner.id)) candidates.push(owner);
  for (const agent of rankAgents(candidates, due.agentId)) {
    if (!(await deps.store.agents.reserve(agent.id))) continue; // taken meanwhile: next one
    const dialled = await moveIfStillDue(deps, id, { type: 'dial_agent', agentId: agent.id }, job);
    if (!dialled) {
      await deps.store.agents.setAvailability(agent.id, 'available', deps.clock());
      return;
    }
    deps.events.publish({ type: 'callback.dial', requestId: id, agentId: agent.id, customerId: dialled.customerId, at: now.toISOString() });
    return;
  }

  // Nobody free: keep the callback's place and try again shortly.
  const retryAt = new Date(now.getTime() + deps.config.scheduling.retry.spacingMinutes * 60_000);
  // Back to scheduled at retryAt: the callback job is set with the move.
  await moveIfStillDue(deps, id, { type: 'callback_failed', outcome: 'failed', retryAt }, job);
}
