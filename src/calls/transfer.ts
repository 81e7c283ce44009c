/**
 * Moving a connected customer call to another agent, the part every kind of transfer shares
 * (RFC 5589 §6, this server as transferor): `transferCall` rings the target with the verified
 * customer (the session id vouches, verifySessionForTransfer, audited) while the customer hears
 * hold music, re-bridges the customer's FreeSWITCH channel on answer and lets the first agent go,
 * or puts the customer back; `notify` reports progress to a referring phone (sipfrag NOTIFY);
 * `referredAgent` reads a Refer-To. Blind REFERs: transfer-requests.ts; attended and
 * semi-attended: attended-transfer.ts, semi-attended-transfer.ts; console: console-transfer.ts.
 * The customer's own dialog is never touched: only FreeSWITCH bridges change.
 */
import type Srf from 'drachtio-srf';
import type { Agent } from '../domain/model.js';
import { AppError, isAppError } from '../domain/errors.js';
import { verifySessionForTransfer } from '../flows/call-session.js';
import { callRinging } from '../flows/call-screen.js';
import { transferAnswered, type TransferHow } from '../flows/call-transfer.js';
import { agentDidNotAnswer, reserveAgent } from '../flows/customer-queue.js';
import { bridgeEndpoints, parkEndpoint, releaseEndpoint, startHoldMusic } from '../media/media-legs.js';
import { agentLegHeaders, offerToAgents, ringAgent, type RingAgentResult } from './agent-leg.js';
import { hangUp, isUp, type AgentLeg, type CustomerCall, type TransferClaim } from './customer-call-state.js';
import { addrSpec, sendResponse, uriUser } from '../sip/sip-message.js';

/** Reports the transfer's progress to the referring phone (RFC 3515 §2.4.5, sipfrag body). */
export function notify(dialog: Srf.Dialog, status: string, final: boolean): void {
  if (!isUp(dialog)) return;
  const sent = dialog.request({
    method: 'NOTIFY',
    headers: {
      Event: 'refer',
      'Subscription-State': final ? 'terminated;reason=noresource' : 'active;expires=60',
      'Content-Type': 'message/sipfrag;version=2.0',
    },
    body: `SIP/2.0 ${status}\r\n`,
  } as unknown as Srf.SrfRequest) as unknown;
  if (sent instanceof Promise) sent.catch(() => undefined);
}

/**
 * The agent whose extension a Refer-To names; null, with the transfer claim given back, when it
 * names none (the claim is given back on a store error too, which is rethrown).
 */
export async function referredAgent(call: CustomerCall, referTo: string, claim: TransferClaim): Promise<Agent | null> {
  const target = uriUser(addrSpec(referTo));
  try {
    const agent = target ? await call.ctx.deps.store.agents.getByExtension(target) : null;
    if (!agent) call.releaseTransfer(claim);
    return agent;
  } catch (e) {
    call.releaseTransfer(claim);
    throw e;
  }
}

/** How a transfer reports its progress: a sipfrag status line, and whether it is the last. */
export type TransferReport = (status: string, final: boolean) => void;

/**
 * How a transfer ended. 'failed': an unexpected error (media server, database); the customer went
 * back to the first agent when their phone was still up, and the call ended otherwise.
 */
export type TransferOutcome = 'completed' | 'refused' | 'busy' | 'not_answered' | 'caller_gone' | 'failed';

/**
 * An attended transfer's target: already in a call with this server (the consultation), so it
 * is neither reserved nor rung; `reach` moves that phone onto a FreeSWITCH channel, and
 * `answered` ends the consultation once the customer is bridged there.
 */
export interface ConsultationTarget {
  reach(headers: Record<string, string>): Promise<RingAgentResult>;
  answered(): void;
}

export interface TransferOptions {
  how: TransferHow;
  report: TransferReport;
  consultation?: ConsultationTarget;
  /** The caller's claim on the call (CustomerCall.claimTransfer); taken here when absent. */
  claim?: TransferClaim;
}

/** What a transfer holds that an error must give back. */
interface Progress {
  reserved: boolean;
  answered: AgentLeg | null;
}

/**
 * Moves a connected customer call from one agent to another (REFER from the desk phone, or a
 * transfer asked for in the console): the session id vouches for the customer, the new agent is
 * reserved and rung while the customer hears hold music, and on answer the customer's
 * FreeSWITCH channel is re-bridged. If the new agent does not answer, the customer goes back to
 * the first agent, or to the queue when that agent has hung up meanwhile.
 *
 * Throws AppError 'conflict' when another transfer holds the call. Any other error is handled
 * here (outcome 'failed'), so the claim never outlives the transfer.
 */
export async function transferCall(call: CustomerCall, from: AgentLeg, toAgent: Agent, opts: TransferOptions): Promise<TransferOutcome> {
  const claim = opts.claim ?? call.claimTransfer();
  if (!claim || !call.holdsTransfer(claim)) throw new AppError('conflict', 'Another transfer of this call is under way.');
  const progress: Progress = { reserved: false, answered: null };
  try {
    return await moveCall(call, from, toAgent, opts, claim, progress);
  } catch (e) {
    call.log.error({ err: e instanceof Error ? e.message : String(e), toAgentId: toAgent.id }, 'transfer failed; giving the call back');
    await recover(call, toAgent, opts, claim, progress);
    return 'failed';
  } finally {
    call.releaseTransfer(claim);
  }
}

async function moveCall(call: CustomerCall, from: AgentLeg, toAgent: Agent, opts: TransferOptions, claim: TransferClaim, progress: Progress): Promise<TransferOutcome> {
  const { deps } = call.ctx;
  const { report, consultation } = opts;
  // From the claim on, the referring agent hanging up no longer ends the call (watchAgent).
  report('100 Trying', false);

  // The session id is what vouches for the customer to the next agent.
  let refusal: TransferOutcome | null = null;
  try {
    await verifySessionForTransfer(deps, call.sessionId, toAgent.id);
  } catch (e) {
    if (!isAppError(e)) throw e;
    report('403 Forbidden', true);
    call.log.warn({ code: e.code }, 'transfer refused: the session no longer verifies the customer');
    refusal = 'refused';
  }
  if (!refusal && !consultation) {
    progress.reserved = await reserveAgent(deps, toAgent.id);
    if (!progress.reserved) {
      report('486 Busy Here', true);
      refusal = 'busy';
    }
  }
  if (refusal) {
    call.releaseTransfer(claim);
    // The referring agent hung up meanwhile: nobody is left to talk to the customer.
    if (!isUp(from.dialog) && call.agent === from) await call.end('completed', 'agent');
    return refusal;
  }

  await parkEndpoint(call.customer.endpoint);
  startHoldMusic(call.customer.endpoint, deps.config.media.holdMusic, call.log);
  const headers = agentLegHeaders({ config: deps.config, request: call.request, verification: call.verification, sessionId: call.sessionId, via: 'session' });
  // The target's console shows the call while their phone rings; whoever rang it closes that
  // screen once (agentDidNotAnswer, or the call's end), so the job running a console transfer
  // does not. A consultation target is already in a call with the first agent: no ringing.
  const ringing = (agent: Agent) => {
    if (call.verification) callRinging(deps, { request: call.request, agentId: agent.id, verification: call.verification, via: 'session' });
  };
  if (!consultation) ringing(toAgent);
  const reach = consultation ? consultation.reach(headers) : ringAgent(call.ctx, toAgent, headers, call.abort);
  const result: RingAgentResult = await reach.catch(() => ({ kind: 'failed' as const, outcome: 'failed' as const, status: 500 }));

  if (result.kind === 'answered') {
    progress.answered = result.leg;
    consultation?.answered();
    await completeTransfer(call, from, result.leg, opts.how, claim);
    progress.reserved = false;
    report('200 OK', true);
    hangUp(from.dialog, 'transferred');
    return call.isEnded ? 'caller_gone' : 'completed';
  }
  call.releaseTransfer(claim);
  // A consultation target was not reserved here: it stays in its call with the first agent.
  if (progress.reserved) await agentDidNotAnswer(deps, { requestId: call.request.id, agentId: toAgent.id, outcome: result.kind === 'gone' ? 'abandoned' : result.outcome });
  progress.reserved = false;
  if (result.kind === 'gone' || call.isEnded) return 'caller_gone';
  report(result.status === 486 ? '486 Busy Here' : '480 Temporarily Unavailable', true);
  if (isUp(from.dialog)) {
    // Back to the agent who tried to transfer.
    await bridgeEndpoints(call.customer.endpoint, from.endpoint);
    return result.status === 486 ? 'busy' : 'not_answered';
  }
  // That agent has gone: the customer waits in the queue for the group's next agent.
  const next = await offerToAgents(call.ctx, {
    request: call.request,
    abort: call.abort,
    deadline: Date.now() + deps.config.media.queueTimeoutSeconds * 1000,
    headersFor: (agent) => {
      ringing(agent);
      return headers;
    },
  });
  if (next) {
    progress.answered = next;
    await completeTransfer(call, from, next, opts.how, null);
  } else await call.end('no_answer', 'server');
  return result.status === 486 ? 'busy' : 'not_answered';
}

/**
 * An unexpected error mid-transfer: the phone that asked hears 500, the target is freed, and the
 * customer goes back to whichever agent's phone is still up; with none, the call ends.
 */
async function recover(call: CustomerCall, toAgent: Agent, opts: TransferOptions, claim: TransferClaim, progress: Progress): Promise<void> {
  const { deps } = call.ctx;
  call.releaseTransfer(claim);
  opts.report('500 Server Internal Error', true);
  try {
    const answered = progress.answered;
    if (answered && call.agent === answered) {
      // The new agent already has the call: the customer is bridged back to them below.
    } else if (answered) {
      // Answered but never given the customer: that phone is hung up and its agent freed (a
      // consultation target was never reserved here).
      hangUp(answered.dialog, 'transfer failed');
      await releaseEndpoint(answered.endpoint);
      if (!opts.consultation) await agentDidNotAnswer(deps, { requestId: call.request.id, agentId: answered.agent.id, outcome: 'failed' });
    } else if (progress.reserved) {
      await agentDidNotAnswer(deps, { requestId: call.request.id, agentId: toAgent.id, outcome: 'failed' });
    }
    if (call.isEnded) return;
    const agent = call.agent;
    if (agent && isUp(agent.dialog)) {
      await bridgeEndpoints(call.customer.endpoint, agent.endpoint);
      call.log.info({ agentId: agent.agent.id }, 'customer back with their agent after the failed transfer');
      return;
    }
  } catch (e) {
    call.log.error({ err: e instanceof Error ? e.message : String(e) }, 'could not give the call back after a failed transfer');
  }
  await call.end('failed', 'server');
}

/** The new agent answered: re-bridge the customer to them and move the record over. */
async function completeTransfer(call: CustomerCall, from: AgentLeg, to: AgentLeg, how: TransferHow, claim: TransferClaim | null): Promise<void> {
  // The new agent has the call from here on: their hanging up ends it.
  if (claim && !call.isEnded) call.releaseTransfer(claim);
  if (!(await call.takeAgentLeg(to, 'transfer target hung up as it was connected'))) return;
  await bridgeEndpoints(call.customer.endpoint, to.endpoint);
  await releaseEndpoint(from.endpoint);
  const record = await transferAnswered(call.ctx.deps, {
    requestId: call.request.id,
    sessionId: call.sessionId,
    fromAgentId: from.agent.id,
    toAgentId: to.agent.id,
    previousRecordId: call.recordId,
    how,
    legs: call.legIds(),
  });
  call.recordMovedTo(record.id);
  call.ctx.acceptTransfers(call, to);
  call.log.info({ fromAgentId: from.agent.id, toAgentId: to.agent.id }, 'transfer completed; customer verified through the session');
}
