/**
 * The call to an agent's desk phone (the B2BUA's outgoing leg, RFC 3261 §8.1), always from its
 * own FreeSWITCH channel so it can be bridged, unbridged and replaced:
 *   - agentLegHeaders: what the phone shows — who is calling (P-Asserted-Identity, RFC 3325),
 *     that they are verified and how (X-Knock-Verified), the reference, a link to the request
 *     (Call-Info, RFC 3261 §20.9) and the RFC 7989 Session-ID. Never the customer's token.
 *   - ringAgent: rings every registered phone of one agent for sip.agentRingSeconds.
 *   - offerToAgents: the queue — owner first, then the group's longest idle agent; no answer,
 *     busy or not registered moves on to the next, until someone answers, the customer hangs up
 *     or the queue time runs out.
 */
import type Srf from 'drachtio-srf';
import type { Config } from '../config/config.js';
import type { Outcome } from '../domain/call-request.js';
import type { Agent, CallRequest, SipDialogState } from '../domain/model.js';
import { agentDidNotAnswer, reserveNextAgent } from '../flows/customer-queue.js';
import { answerEndpoint, openOfferingEndpoint, releaseEndpoint } from '../media/media-legs.js';
import type { Abort, AgentLeg, CallContext, Verification } from './customer-call-state.js';
import { markPhonesUnreachable, routeToBinding } from '../sip/location-service.js';
import { ringTargets, type RingTarget } from '../sip/ring-targets.js';
import { sessionTimerOfferHeaders } from '../sip/session-timer.js';
import { headerText } from '../sip/sip-message.js';
import { isDatabaseOutage, retryThroughOutage } from './outage-retry.js';


/** The user part to show for the customer: their number when known. */
function customerUser(v: Verification, customerId: string): string {
  return v.customerNumber ? v.customerNumber.replace(/[^+0-9]/g, '') : `customer-${customerId.slice(0, 8)}`;
}

export function agentLegHeaders(args: {
  config: Config;
  request: CallRequest;
  verification: Verification | null;
  sessionId: string;
  /** How this leg knows the customer is verified: their token now, or the session (transfers). */
  via: 'token' | 'session' | 'callback';
}): Record<string, string> {
  const { config, request, verification: v } = args;
  const domain = config.sip.domain;
  const headers: Record<string, string> = {
    'X-Knock-Reference': headerText(request.reference),
    'X-Knock-Reason': headerText(request.reason),
    'Call-Info': `<${config.server.publicUrl.replace(/\/$/, '')}/console/#/requests/${request.id}>;purpose=info`,
    // RFC 7989 §7: a new request carries the null UUID as the (still unknown) remote part.
    'Session-ID': `${args.sessionId};remote=${'0'.repeat(32)}`,
  };
  if (v) {
    const name = headerText(v.customerName);
    const identity = `"${name}" <sip:${customerUser(v, request.customerId)}@${domain}>`;
    headers.From = identity;
    headers['P-Asserted-Identity'] = identity;
  }
  if (v && args.via !== 'callback') {
    headers['X-Knock-Verified'] = `${v.authMethod}; at=${v.authenticatedAt.toISOString()}; via=${args.via}`;
  } else {
    headers['X-Knock-Verified'] = 'no';
  }
  return headers;
}

/** FreeSWITCH takes the phone's answer in milliseconds; one that died never does. */
const MEDIA_ANSWER_WAIT_MS = 5000;

/** `work`, unless the call is aborted (a component lost, the caller gone) or `ms` pass first. */
function boundedByAbort(work: Promise<void>, abort: Abort, ms: number): Promise<void> {
  if (abort.aborted) return Promise.reject(new Error('the call ended while the answer was being taken'));
  return new Promise((resolve, reject) => {
    let off: () => void = () => undefined;
    const t = setTimeout(() => stop(new Error(`FreeSWITCH did not take the answer within ${ms} ms`)), ms);
    const stop = (e?: Error) => {
      clearTimeout(t);
      off();
      if (e) reject(e);
      else resolve();
    };
    off = abort.onAbort(() => stop(new Error('the call ended while the answer was being taken')));
    work.then(() => stop(), (e: unknown) => stop(e instanceof Error ? e : new Error(String(e))));
  });
}

export type RingAgentResult = { kind: 'answered'; leg: AgentLeg } | { kind: 'failed'; outcome: Outcome; status: number } | { kind: 'gone' };

/** What a ring adds to its call's record (callSetUp): its channel, the INVITEs it sent and the early dialogs they made. */
export type TrackLegs = (legs: { mediaChannels?: string[]; sipInvites?: string[]; sipDialogStates?: SipDialogState[] }) => void;

/**
 * Rings one agent's registered desk phones from a fresh FreeSWITCH channel. `track` records the
 * channel and each INVITE on the call's record as they go out.
 */
export async function ringAgent(ctx: CallContext, agent: Agent, headers: Record<string, string>, abort: Abort, track?: TrackLegs): Promise<RingAgentResult> {
  const bindings = await ctx.locations.bindings(agent.extension);
  if (bindings.length === 0) return { kind: 'failed', outcome: 'failed', status: 480 };
  const targets: RingTarget[] = bindings.map((b) => ({ ...routeToBinding(b), agentId: agent.id, binding: { extension: b.extension, contact: b.contact } }));
  const endpoint = await openOfferingEndpoint(ctx.media.mediaServer());
  let unregister: () => void = () => undefined;
  const result = await ringTargets(ctx.srf, targets, {
    sdp: endpoint.local.sdp,
    // RFC 4028: the phone picks the refresher in its 200; drachtio-server then runs the timer.
    headers: { ...sessionTimerOfferHeaders(ctx.deps.config.sip.sessionTimer), ...headers },
    timeoutSeconds: ctx.deps.config.sip.agentRingSeconds,
    ...(track
      ? {
          onSent: (txn: string) => track({ mediaChannels: [endpoint.uuid], sipInvites: [txn] }),
          onEarlyDialog: (state: SipDialogState) => track({ sipDialogStates: [state] }),
        }
      : {}),
    callerGone: () => abort.aborted,
    registerAbort: (fn) => {
      unregister = abort.onAbort(fn);
    },
  });
  unregister();
  // Before the agent is released: with no live phone left they go offline, not available.
  const legLog = ctx.logger.child({ component: 'agent-leg' });
  // Not worth leaking the ring's channel over: a database outage only delays marking the phone.
  await markPhonesUnreachable(ctx.deps, legLog, result.unreachable).catch((e: unknown) => legLog.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not mark a desk phone unreachable'));
  if (result.kind !== 'answered') {
    await releaseEndpoint(endpoint);
    if (result.kind === 'caller_gone') return { kind: 'gone' };
    const outcome: Outcome = result.status === 486 || result.status === 600 ? 'busy' : result.reason === 'No Answer' ? 'no_answer' : 'failed';
    return { kind: 'failed', outcome, status: result.status };
  }
  // Without a listener drachtio-srf answers a REFER 200 and drops it: a transfer key pressed
  // just after answering would do nothing. Hold such REFERs until transfers are taken.
  const held: Array<[Srf.SrfRequest, Srf.SrfResponse]> = [];
  const hold = (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
    held.push([req, res]);
  };
  result.dialog.on('refer', hold);
  const earlyRefers = {
    stop: () => {
      result.dialog.off('refer', hold);
      return held.splice(0);
    },
  };
  try {
    await boundedByAbort(answerEndpoint(endpoint, result.dialog.remote.sdp), abort, MEDIA_ANSWER_WAIT_MS);
  } catch (e) {
    // The phone answered: it gets a BYE whatever became of FreeSWITCH (a dead one never answers).
    result.dialog.destroy();
    void releaseEndpoint(endpoint).catch(() => undefined);
    throw e;
  }
  return { kind: 'answered', leg: { agent, dialog: result.dialog, endpoint, earlyRefers } };
}

/** How long the release of an agent whose phone did not take the call is retried through an outage. */
const RELEASE_RETRY_FOR_MS = 120_000;

/**
 * Offers a waiting call to agents in turn. Returns the agent leg that answered (its agent is
 * reserved), or null when the customer left (abort) or nobody answered before `deadline`.
 * A database outage does not stop the queue: choosing the next agent is retried while the
 * customer is still on the line, and an agent who was rung is released once the database is back
 * (outage-retry.ts), so the customer reaches an agent when it returns.
 */
export async function offerToAgents(
  ctx: CallContext,
  args: { request: CallRequest; abort: Abort; deadline: number; headersFor: (agent: Agent) => Record<string, string>; track?: TrackLegs },
): Promise<AgentLeg | null> {
  const { deps } = ctx;
  const tried = new Set<string>();
  const log = ctx.logger.child({ component: 'agent-leg', requestId: args.request.id });
  const waiting = () => !args.abort.aborted && Date.now() < args.deadline;
  while (waiting()) {
    let agent: Agent | null;
    try {
      agent = await retryThroughOutage(() => reserveNextAgent(deps, args.request, tried, (a) => ctx.locations.isRegistered(a.extension)), {
        log,
        what: 'choose the next agent for the waiting customer',
        keepTrying: waiting,
        sleep: (ms) => args.abort.sleep(Math.min(ms, Math.max(0, args.deadline - Date.now()))),
      });
    } catch (e) {
      if (isDatabaseOutage(e)) continue; // the customer left or the queue time ran out meanwhile
      throw e;
    }
    if (!agent) {
      // Everyone was tried or is busy: the customer keeps hearing hold music; offer again soon.
      tried.clear();
      await args.abort.sleep(Math.min(deps.config.media.queueRetrySeconds * 1000, Math.max(0, args.deadline - Date.now())));
      continue;
    }
    log.info({ agentId: agent.id, extension: agent.extension }, 'ringing agent');
    let result: RingAgentResult;
    try {
      result = await ringAgent(ctx, agent, args.headersFor(agent), args.abort, args.track);
    } catch (e) {
      log.warn({ agentId: agent.id, err: e instanceof Error ? e.message : String(e) }, 'could not ring agent');
      result = { kind: 'failed', outcome: 'failed', status: 500 };
    }
    if (result.kind === 'answered') return result.leg;
    const reserved = agent;
    const outcome = result.kind === 'gone' ? 'abandoned' : result.outcome;
    // The agent is reserved for this call: released even if the customer left meanwhile.
    const since = Date.now();
    await retryThroughOutage(() => agentDidNotAnswer(deps, { requestId: args.request.id, agentId: reserved.id, outcome }), {
      log,
      what: `release agent ${reserved.extension} after the ring`,
      keepTrying: () => Date.now() - since < RELEASE_RETRY_FOR_MS,
    }).catch((e: unknown) => {
      // Left busy: the reconciler frees an agent busy without a call (calls.busyWithoutCallSeconds).
      if (!isDatabaseOutage(e)) throw e;
    });
    if (result.kind === 'gone') return null;
    log.info({ agentId: agent.id, outcome: result.outcome, status: result.status }, 'agent did not take the call');
    tried.add(agent.id);
  }
  return null;
}
