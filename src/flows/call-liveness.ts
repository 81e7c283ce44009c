/**
 * Calls that lost what held them up (SPEC: "when the session ends, the session id is revoked";
 * README "When a component dies"). The SIP adapter's reconciler finds them (a process that died
 * with its calls, FreeSWITCH or drachtio-server gone) and hangs up what is left of their legs;
 * this closes them in the records: the call record ends with the cause, the session id is
 * revoked, the request ends, and nobody stays busy without a call. Each close is audited and
 * logged once: a record that is already closed is left alone, so two closers never both act.
 */
import type { LostCallCause } from '../domain/call-request.js';
import { isAppError } from '../domain/errors.js';
import type { CallRecord } from '../domain/model.js';
import { callbackAttemptFailed } from './call-session.js';
import { callLeftAgent } from './call-screen.js';
import { loadRequest, moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

const CAUSE_TEXT: Record<LostCallCause, string> = {
  media_lost: 'FreeSWITCH lost the call',
  signalling_lost: 'drachtio-server lost the call',
  service_restarted: 'the service process holding the call restarted',
  instance_lost: 'the service instance holding the call stopped answering',
};

export function describeLostCall(cause: LostCallCause): string {
  return CAUSE_TEXT[cause];
}

/**
 * Closes an open record whose process can no longer end it (it died) or whose legs are gone.
 * False when the record had already ended (nothing else is done then).
 */
export async function closeLostCall(deps: FlowDeps, record: CallRecord, cause: LostCallCause): Promise<boolean> {
  const now = deps.clock();
  if (!(await deps.store.callRecords.close(record.id, now, cause))) return false;
  const revoked = record.sessionId ? await deps.store.sessions.revoke(record.sessionId, now) : false;
  await deps.store.audit.append({
    actor: 'system',
    action: 'call.reconcile',
    subject: record.callRequestId ? `call_request:${record.callRequestId}` : `call_record:${record.id}`,
    decision: 'info',
    reason: `call closed: ${CAUSE_TEXT[cause]}${revoked ? '; session revoked' : ''}`,
    data: {
      recordId: record.id,
      cause,
      owner: record.owner ?? null,
      agentId: record.agentId,
      mediaChannels: record.mediaChannels ?? [],
      sipDialogs: (record.sipDialogs ?? []).length,
    },
  });
  deps.logger.warn({ recordId: record.id, requestId: record.callRequestId, agentId: record.agentId, cause }, `call closed: ${CAUSE_TEXT[cause]}`);
  if (record.callRequestId) await endRequest(deps, record.callRequestId, cause);
  if (record.agentId && record.callRequestId) callLeftAgent(deps, { requestId: record.callRequestId, agentId: record.agentId, outcome: cause });
  return true;
}

/**
 * The request of a lost call ends with the cause, as callEnded decides: a dialled callback that
 * had not connected counts as a failed attempt (retried per policy); one already past the call is
 * left as it is.
 */
async function endRequest(deps: FlowDeps, requestId: string, cause: LostCallCause): Promise<void> {
  try {
    const req = await loadRequest(deps, requestId);
    if (req.state === 'agent_dialled' || (req.state === 'connecting' && req.attempts > 0)) {
      await callbackAttemptFailed(deps, requestId, cause, req);
      return;
    }
    if (req.state !== 'connecting' && req.state !== 'connected') return;
    await moveRequest(deps, requestId, { type: 'call_ended', outcome: cause }, 'system', req);
  } catch (e) {
    if (!isAppError(e)) throw e;
  }
}

/**
 * The backstops every reconcile pass runs: sessions whose calls have all ended are revoked, and
 * agents busy without an open call are freed when their busy was set by a process that is gone
 * (`deadOwners`) or longer ago than any call setup lasts (`staleBusyBefore`). Each is audited.
 */
export async function sweepCallLeftovers(deps: FlowDeps, args: { deadOwners: string[]; staleBusyBefore: Date }): Promise<{ sessions: number; agents: number }> {
  const now = deps.clock();
  const sessions = await deps.store.sessions.revokeEnded(now);
  const noted = (action: string, subject: string, reason: string) =>
    deps.store.audit.append({ actor: 'system', action, subject, decision: 'info', reason, data: { by: 'reconciler' } });
  for (const id of sessions) await noted('session.revoke', `session:${id}`, 'its call has ended');
  const agents = await deps.store.agents.freeWithoutCall(args.deadOwners, args.staleBusyBefore, now);
  for (const id of agents) {
    await noted('agent.free', `agent:${id}`, 'busy without a call');
    deps.events.publish({ type: 'agent.changed', agentId: id, availability: 'available', at: now.toISOString() });
  }
  if (sessions.length || agents.length) deps.logger.warn({ sessions: sessions.length, agents: agents.length }, 'revoked sessions and freed agents left behind by ended calls');
  return { sessions: sessions.length, agents: agents.length };
}

/**
 * The longest a live process takes over a call's setup, by state: an agent-dialled callback
 * waits for the app to register, rings it and the agent; a customer waits in the queue. Past it,
 * with no open call record, the process that was setting the call up is gone.
 */
export function setupLimitsMs(config: FlowDeps['config']): Record<'agent_dialled' | 'connecting', number> {
  const margin = 60;
  return {
    agent_dialled: (config.sip.appRegisterWaitSeconds + config.sip.appRingSeconds + config.sip.agentRingSeconds + margin) * 1000,
    connecting: (config.media.queueTimeoutSeconds + config.sip.agentRingSeconds + margin) * 1000,
  };
}

/**
 * Requests whose call setup never finished (its process died while the agent's phone rang, the
 * app was awaited or the customer queued) get a bounded end: a dialled callback counts as a failed
 * attempt (retried per policy), a customer call ends `failed`. Each is audited. Returns how many.
 */
export async function endStuckSetups(deps: FlowDeps): Promise<number> {
  const limits = setupLimitsMs(deps.config);
  let ended = 0;
  for (const state of ['agent_dialled', 'connecting'] as const) {
    const before = new Date(deps.clock().getTime() - limits[state]);
    for (const req of await deps.store.callRequests.listStuckInSetup(state, before, 100)) {
      try {
        // As callEnded decides: a dialled callback (or the app's answer to one) is an attempt.
        if (state === 'agent_dialled' || req.attempts > 0) await callbackAttemptFailed(deps, req.id, 'failed', req);
        else await moveRequest(deps, req.id, { type: 'call_ended', outcome: 'failed' }, 'system', req);
      } catch (e) {
        if (!isAppError(e)) throw e;
        deps.logger.info({ requestId: req.id, state, code: e.code, err: e.message }, 'call setup left as it is: it moved meanwhile');
        continue; // it moved meanwhile: not stuck
      }
      ended++;
      await deps.store.audit.append({
        actor: 'system',
        action: 'call.reconcile',
        subject: `call_request:${req.id}`,
        decision: 'info',
        reason: `call setup never finished (${state} since ${req.updatedAt.toISOString()}); ${state === 'agent_dialled' ? 'counted as a failed callback attempt' : 'ended'}`,
        data: { state, by: 'reconciler' },
      });
      deps.logger.warn({ requestId: req.id, state }, 'call setup never finished; ended by the reconciler');
    }
  }
  return ended;
}
