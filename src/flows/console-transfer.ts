/**
 * A transfer asked for in the console or the API (SPEC core flow 2): the request is checked and
 * audited here, then carried out by the instance that holds the call (its owner, named on the
 * call record), whichever instance the console asked.
 *
 *   console ── POST /call-requests/{id}/transfer ──► requestConsoleTransfer: the call is in
 *     progress, the asker may move it, the target exists, its owner is alive ──► `transfer.changed`
 *     requested, the command sent to the owner (FlowDeps.commands, over PostgreSQL NOTIFY), which
 *     answers once it has taken it ──► audited; an owner that does not answer in time is a 503
 *   owner ──► runConsoleTransfer: the call is held by this instance and still with the agent who
 *     was asked about ──► the target (named agent, or the group's agent chosen by routing) rung
 *     through the SIP side (CallTransferPort) ──► completed | failed with a reason; audited
 *
 * Without a command bus (or for a record with no owner) the transfer is a durable `call.transfer`
 * job as before: the job is left for the other instances (returns 'leave') while another instance
 * holds the call, until the stale limit. A transfer does not need to outlive its owner: the
 * call ends with it.
 *
 * Failures that cannot get better (call gone, target busy, nobody answered) end the job with a
 * reason; only unexpected errors are retried, and the last attempt reports a failure too.
 */
import { randomUUID } from 'node:crypto';
import { rankAgents } from '../domain/agent-selection.js';
import { AppError, isAppError } from '../domain/errors.js';
import type { Agent, CallRecord } from '../domain/model.js';
import { loadRequest } from './move-request.js';
import type { CallTransferPort, FlowDeps, LiveEvent } from './ports.js';

/** A transfer job that waited longer than this (an outage) is not carried out any more. */
export const TRANSFER_STALE_MS = 120_000;

export interface TransferAsker {
  /** For the audit log: `agent:<id>` or `apikey:<name>`. */
  actor: string;
  /** The signed-in agent, when it is one. */
  agentId: string | null;
  /** Supervisors, admins and integrations may move any call; agents only their own. */
  mayMoveAnyCall: boolean;
}

export interface TransferTarget {
  toAgentId?: string | null;
  toGroup?: string | null;
}

/** What the job carries (persisted in the jobs table: keep the field names stable). */
interface TransferJobData {
  transferId: string;
  requestId: string;
  sessionId: string;
  fromAgentId: string;
  toAgentId: string | null;
  toGroup: string | null;
  requestedBy: string;
  requestedAt: string;
}

export interface TransferAccepted {
  transferId: string;
  requestId: string;
  fromAgentId: string;
  toAgentId: string | null;
  toGroup: string | null;
  state: 'requested';
}

type TransferState = Extract<LiveEvent, { type: 'transfer.changed' }>['state'];

function publish(deps: FlowDeps, job: Omit<TransferJobData, 'sessionId' | 'requestedBy' | 'requestedAt'>, state: TransferState, reason: string): void {
  deps.events.publish({
    type: 'transfer.changed',
    transferId: job.transferId,
    requestId: job.requestId,
    agentId: job.fromAgentId,
    toAgentId: job.toAgentId,
    toGroup: job.toGroup,
    state,
    reason,
    at: deps.clock().toISOString(),
  });
}

/** The request's call in progress: the open call record with the session that verifies the customer. */
async function callInProgress(deps: FlowDeps, requestId: string): Promise<CallRecord & { sessionId: string; agentId: string }> {
  const records = await deps.store.callRecords.list({ callRequestId: requestId, limit: 20 });
  const open = records.find((r) => r.endedAt === null && r.answeredAt !== null && r.sessionId && r.agentId);
  if (!open) throw new AppError('conflict', 'This request has no verified call in progress to transfer.');
  const session = await deps.store.sessions.get(open.sessionId!);
  if (!session || session.revokedAt) throw new AppError('conflict', 'The call has ended; there is nothing to transfer.');
  return open as CallRecord & { sessionId: string; agentId: string };
}

/**
 * Checks the transfer can be asked for, audits the decision either way, and schedules the job.
 * The asker is told at once; progress follows on the live channel (`transfer.changed`).
 */
export async function requestConsoleTransfer(
  deps: FlowDeps,
  args: { requestId: string; target: TransferTarget; by: TransferAsker },
): Promise<TransferAccepted> {
  const { by } = args;
  const toAgentId = args.target.toAgentId ?? null;
  const toGroup = args.target.toGroup ?? null;
  const request = await loadRequest(deps, args.requestId);
  const audit = (decision: 'allow' | 'deny', reason: string, data: Record<string, unknown> = {}) =>
    deps.store.audit.append({
      actor: by.actor,
      action: 'call.transfer.request',
      subject: `call_request:${request.id}`,
      decision,
      reason,
      data: { toAgentId, toGroup, ...data },
    });
  let call: Awaited<ReturnType<typeof callInProgress>>;
  try {
    if ((toAgentId === null) === (toGroup === null)) throw new AppError('validation_failed', 'Name either toAgentId or toGroup.');
    call = await callInProgress(deps, request.id);
    if (!by.mayMoveAnyCall && by.agentId !== call.agentId) {
      throw new AppError('forbidden', 'Only the agent on the call, or a supervisor, can transfer it.');
    }
    if (toAgentId !== null) {
      const target = await deps.store.agents.get(toAgentId);
      if (!target) throw new AppError('not_found', `No agent ${toAgentId}.`);
      if (target.id === call.agentId) throw new AppError('validation_failed', `${target.name} is already on this call.`);
    } else if (!(await deps.store.groups.get(toGroup!))) {
      throw new AppError('not_found', `No group ${toGroup}.`);
    }
    if (deps.commands && call.owner) {
      const alive = await deps.store.instances.alive(deps.config.calls.instanceDeadSeconds);
      if (!alive.some((i) => i.id === call.owner)) {
        throw new AppError('conflict', 'The server holding this call has stopped; the call is being ended.');
      }
    } else if (!deps.scheduler.scheduleTransfer) throw new AppError('unavailable', 'Transfers cannot be scheduled by this instance.');
  } catch (e) {
    if (isAppError(e)) await audit('deny', e.message, { code: e.code });
    throw e;
  }

  const data: TransferJobData = {
    transferId: randomUUID(),
    requestId: request.id,
    sessionId: call.sessionId,
    fromAgentId: call.agentId,
    toAgentId,
    toGroup,
    requestedBy: by.actor,
    requestedAt: deps.clock().toISOString(),
  };
  const what = toAgentId ? `transfer to agent ${toAgentId}` : `transfer to group ${toGroup}`;
  if (deps.commands && call.owner) {
    // Told first, so the owner's `ringing` cannot come before it on any stream.
    publish(deps, data, 'requested', '');
    const started = Date.now();
    try {
      await deps.commands.transfer(call.owner, { ...data });
    } catch (e) {
      const err = isAppError(e) ? e : new AppError('unavailable', 'The server holding the call could not be asked.');
      await audit('deny', err.message, { code: err.code, transferId: data.transferId, owner: call.owner });
      publish(deps, data, 'failed', err.message);
      throw err;
    }
    await audit('allow', `${what} taken by the instance holding the call`, { transferId: data.transferId, owner: call.owner, fromAgentId: call.agentId });
    deps.logger.info({ requestId: request.id, transferId: data.transferId, owner: call.owner, ms: Date.now() - started, toAgentId, toGroup }, 'console transfer sent to the call owner');
  } else {
    const jobId = await deps.scheduler.scheduleTransfer!({ ...data });
    await audit('allow', `${what} scheduled`, { transferId: data.transferId, jobId, fromAgentId: call.agentId });
    publish(deps, data, 'requested', '');
    deps.logger.info({ requestId: request.id, transferId: data.transferId, jobId, toAgentId, toGroup }, 'console transfer scheduled');
  }
  return { transferId: data.transferId, requestId: request.id, fromAgentId: call.agentId, toAgentId, toGroup, state: 'requested' };
}

function parseJob(data: Record<string, unknown>): TransferJobData | null {
  const str = (k: string) => (typeof data[k] === 'string' && (data[k] as string).length > 0 ? (data[k] as string) : null);
  const transferId = str('transferId');
  const requestId = str('requestId');
  const sessionId = str('sessionId');
  const fromAgentId = str('fromAgentId');
  const requestedAt = str('requestedAt');
  if (!transferId || !requestId || !sessionId || !fromAgentId || !requestedAt) return null;
  return { transferId, requestId, sessionId, fromAgentId, toAgentId: str('toAgentId'), toGroup: str('toGroup'), requestedBy: str('requestedBy') ?? 'unknown', requestedAt };
}

const OUTCOME_REASON = {
  refused: 'the session no longer verifies the customer',
  busy: 'is busy',
  not_answered: 'did not answer; the customer stays with the first agent (or waits in the queue if they have hung up)',
  caller_gone: 'the customer hung up',
  failed: 'the transfer failed on the server; the customer went back to the first agent (or the call ended)',
} as const;

/** What a run tells the job runner: 'leave' when another instance holds the call. */
export type ConsoleTransferRun = void | 'leave';

/**
 * A transfer command taken by the instance holding the call: checks at once that the call is
 * held here (`conflict` otherwise), then runs the transfer without waiting for it (progress goes
 * out as `transfer.changed`).
 */
export function takeTransferCommand(deps: FlowDeps, calls: CallTransferPort | null, raw: Record<string, unknown>): void {
  const job = parseJob(raw);
  if (!job) throw new AppError('validation_failed', 'A transfer command without the data it needs.');
  if (!calls?.find(job.sessionId)) throw new AppError('conflict', 'The call is no longer held by the server that had it; it has ended or moved.');
  void runConsoleTransfer(deps, calls, raw, { number: 1, last: true }, 'command:call.transfer').catch((e: unknown) => {
    deps.logger.error({ err: e instanceof Error ? e.message : String(e), transferId: job.transferId }, 'console transfer failed');
  });
}

/**
 * The `call.transfer` job (or a command taken by the owner, takeTransferCommand). `calls` is the SIP side of this instance (null when SIP is off here).
 * `attempt.last`: an unexpected error on the last attempt is reported as a failure instead of
 * being thrown for another retry.
 */
export async function runConsoleTransfer(
  deps: FlowDeps,
  calls: CallTransferPort | null,
  raw: Record<string, unknown>,
  attempt: { number: number; last: boolean } = { number: 1, last: true },
  /** Who runs it, for the audit log: the job runner, or the owner taking a command. */
  actor = 'job:call.transfer',
): Promise<ConsoleTransferRun> {
  const job = parseJob(raw);
  if (!job) {
    deps.logger.error({ job: 'call.transfer' }, 'transfer job without the data it needs; dropped');
    return;
  }
  const log = deps.logger.child({ component: 'console-transfer', requestId: job.requestId, transferId: job.transferId });
  const audit = (decision: 'allow' | 'deny', reason: string, data: Record<string, unknown> = {}) =>
    deps.store.audit.append({
      actor,
      action: 'call.transfer.console',
      subject: `call_request:${job.requestId}`,
      decision,
      reason,
      data: { transferId: job.transferId, fromAgentId: job.fromAgentId, toAgentId: job.toAgentId, toGroup: job.toGroup, requestedBy: job.requestedBy, attempt: attempt.number, ...data },
    });
  const fail = async (reason: string, data: Record<string, unknown> = {}) => {
    log.info({ reason }, 'console transfer failed');
    await audit('deny', reason, data);
    publish(deps, job, 'failed', reason);
  };

  try {
    if (deps.clock().getTime() - new Date(job.requestedAt).getTime() > TRANSFER_STALE_MS) {
      return await fail('the transfer was asked for too long ago to be carried out now');
    }
    const call = calls?.find(job.sessionId) ?? null;
    if (!calls || !call) {
      const session = await deps.store.sessions.get(job.sessionId);
      if (!session || session.revokedAt) return await fail('the call has ended');
      // Another instance (one with SIP on) holds the call: it is the one to carry this out.
      log.debug({ sip: !!calls }, 'call not held here; transfer job left for the other instances');
      return 'leave';
    }
    if (call.agentId !== job.fromAgentId) {
      if (call.agentId && (await movedAsAsked(deps, job, call.agentId))) return; // done by an earlier run
      return await fail('the call has moved to another agent since the transfer was asked for');
    }
    if (call.transferring) return await fail('another transfer of this call is under way');

    const target = await chooseTarget(deps, calls, job);
    if (typeof target === 'string') return await fail(target);

    // The target's call screen (call.ringing, then call.connected or call.ended) is the SIP side's
    // to show: it knows whether their phone really rang, and closes the screen exactly once.
    publish(deps, { ...job, toAgentId: target.id }, 'ringing', `ringing ${target.name}`);
    const outcome = await calls.transfer(job.sessionId, target);
    if (outcome === 'completed') {
      await audit('allow', `call transferred to ${target.name}; customer verified through the session`, { toAgentId: target.id });
      publish(deps, { ...job, toAgentId: target.id }, 'completed', `transferred to ${target.name}`);
      log.info({ toAgentId: target.id }, 'console transfer completed');
      return;
    }
    const why = outcome === 'busy' || outcome === 'not_answered' ? `${target.name} ${OUTCOME_REASON[outcome]}` : OUTCOME_REASON[outcome];
    await fail(why, { toAgentId: target.id, outcome });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // Another transfer claimed the call between the check above and the ringing: not retried.
    if (isAppError(e) && e.code === 'conflict') return fail(e.message);
    if (attempt.last) return fail(`the transfer could not be carried out: ${message}`);
    log.warn({ err: message, attempt: attempt.number }, 'console transfer attempt failed; it will be retried');
    throw e;
  }
}

/**
 * An earlier run of this job already moved the call: it is with the named agent, or with an agent
 * of the named group (a group run does not record whom it chose).
 */
async function movedAsAsked(deps: FlowDeps, job: TransferJobData, agentId: string): Promise<boolean> {
  if (job.toAgentId) return agentId === job.toAgentId;
  if (!job.toGroup) return false;
  const agent = await deps.store.agents.get(agentId);
  return !!agent && agent.groups.includes(job.toGroup);
}

/** The named agent, or the group's agent routing would pick (longest idle, reachable); a reason otherwise. */
async function chooseTarget(deps: FlowDeps, calls: CallTransferPort, job: TransferJobData): Promise<Agent | string> {
  if (job.toAgentId) {
    const agent = await deps.store.agents.get(job.toAgentId);
    if (!agent) return `agent ${job.toAgentId} no longer exists`;
    return agent;
  }
  const group = job.toGroup ? await deps.store.groups.get(job.toGroup) : null;
  if (!group) return `group ${job.toGroup} no longer exists`;
  const candidates = (await deps.store.agents.list({ groupId: group.id })).filter((a) => a.id !== job.fromAgentId);
  for (const agent of rankAgents(candidates, null)) {
    if (await calls.reachable(agent)) return agent;
  }
  return `nobody in ${group.name} is available to take the call`;
}
