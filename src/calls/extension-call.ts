/**
 * A call from one desk phone to a number in the routing file or an agent's extension, through
 * the B2BUA (drachtio as UAS to the caller, UAC to the callee):
 *
 *   caller            this B2BUA                          callee phone(s)
 *     | INVITE 2000      |                                       |
 *     |----------------->| route: number -> who rings, in what order, overflow
 *     |                  | INVITE (each registered contact) ---->|
 *     |<-- 180/183+SDP --|<-------------------------- 180/183 ---|  early media relayed
 *     |                  |<------------------------------ 200 ---|  first answer wins
 *     |<------ 200 ------|  (others CANCELled)                   |
 *     |------- ACK ----->|------------------------------- ACK -->|
 *     |   …  re-INVITE / INFO relayed, BYE ends both legs  …     |
 *
 * Unknown numbers get 404; a known number nobody can take (not registered, no agent free,
 * outside business hours without a `closed` target) gets 480; a callee that is busy gives 486.
 *
 * Early media (RFC 3960): when one phone is rung and its 180/183 carries SDP (its ringback or an
 * announcement), that provisional goes to the caller with the SDP, so the caller hears it. When
 * several phones ring at once their early media is not relayed: the final answer could come from
 * another phone with other SDP than the one the caller already has.
 * Session timers (RFC 4028, session-timer.ts): a Session-Expires below the minimum gets 422; the
 * answer and the callee's INVITE carry Session-Expires; drachtio-server refreshes and expires.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from 'pino';
import { rankAgents } from '../domain/agent-selection.js';
import { isWithinBusinessHours, type Hours } from '../domain/callback-schedule.js';
import type { Agent } from '../domain/model.js';
import { deskPhoneCallEnded, deskPhoneCallStarted } from '../flows/desk-phone.js';
import { policyFor } from '../flows/group-policy.js';
import type { FlowDeps } from '../flows/ports.js';
import { bridgeDialogs } from './bridge-dialogs.js';
import { markPhonesUnreachable, routeToBinding, type LocationService } from '../sip/location-service.js';
import { ringTargets, type RingResult, type RingTarget } from '../sip/ring-targets.js';
import { ringingCalls, type RingingCall } from './ringing-calls.js';
import type { DeskPhoneCallHandler } from '../sip/invite-router.js';
import type { GroupRoute, RoutingConfig } from '../sip/routing-config.js';
import { refuseSessionInterval, sessionIntervalTooSmall, sessionTimerAnswerHeaders, sessionTimerOfferHeaders } from '../sip/session-timer.js';
import { fromTagOf, headerText, sendResponse, tagOf, warning, type SipRequest, type SipResponse } from '../sip/sip-message.js';

export interface ExtensionCallContext {
  deps: FlowDeps;
  srf: Srf;
  routing: RoutingConfig;
  locations: LocationService;
  logger: Logger;
}

/** Who rings for a number: steps tried one after the other, then the overflow number. */
type Plan =
  | { kind: 'unknown' }
  | { kind: 'ring'; steps: RingTarget[][]; ringSeconds: number; overflow: string | null; unavailable: string }
  | { kind: 'redirect'; number: string; why: string }
  | { kind: 'unavailable'; why: string; overflow: string | null };

const MAX_OVERFLOW_HOPS = 5;

async function agentTargets(ctx: ExtensionCallContext, agent: Agent): Promise<RingTarget[]> {
  const bindings = await ctx.locations.bindings(agent.extension);
  return bindings.map((b) => ({ ...routeToBinding(b), agentId: agent.id, binding: { extension: b.extension, contact: b.contact } }));
}

async function groupPlan(ctx: ExtensionCallContext, group: GroupRoute, caller: Agent, overflow: string | null): Promise<Plan> {
  const { deps } = ctx;
  const hours: Hours = group.hours === 'directory' ? (await policyFor(deps, group.directoryGroup)).hours : group.hours;
  if (!isWithinBusinessHours(deps.clock(), hours)) {
    if (group.closed) return { kind: 'redirect', number: group.closed, why: `group ${group.id} is closed` };
    return { kind: 'unavailable', why: `${group.id} is closed now`, overflow: null };
  }
  const members = (await deps.store.agents.list({ groupId: group.directoryGroup })).filter((a) => a.id !== caller.id && a.availability === 'available');
  const ordered = group.strategy === 'longest_idle' ? rankAgents(members, null) : members;
  const perAgent: RingTarget[][] = [];
  for (const agent of ordered) {
    const targets = await agentTargets(ctx, agent);
    if (targets.length > 0) perAgent.push(targets);
  }
  const steps = group.strategy === 'ring_all' ? (perAgent.length ? [perAgent.flat()] : []) : perAgent;
  return {
    kind: 'ring',
    steps,
    ringSeconds: group.ringSeconds ?? deps.config.sip.agentRingSeconds,
    overflow: overflow ?? group.overflow,
    unavailable: `no agent of ${group.id} is available`,
  };
}

async function planFor(ctx: ExtensionCallContext, number: string, caller: Agent): Promise<Plan> {
  const { deps, routing } = ctx;
  const route = routing.extensions.get(number);
  const ringSeconds = deps.config.sip.agentRingSeconds;
  if (route?.target.kind === 'uri') {
    return { kind: 'ring', steps: [[{ uri: route.target.uri, proxy: null, agentId: null }]], ringSeconds, overflow: route.overflow, unavailable: `${number} is unavailable` };
  }
  if (route?.target.kind === 'group') {
    const group = routing.groups.get(route.target.group)!;
    return groupPlan(ctx, group, caller, route.overflow);
  }
  const agent = route?.target.kind === 'agent' ? await deps.store.agents.getByUsername(route.target.agent) : await deps.store.agents.getByExtension(number);
  if (!agent) {
    if (route) return { kind: 'unavailable', why: `${number} has no agent`, overflow: route.overflow };
    return { kind: 'unknown' };
  }
  const targets = await agentTargets(ctx, agent);
  if (targets.length === 0) return { kind: 'unavailable', why: `${agent.extension} is not registered`, overflow: route?.overflow ?? null };
  return { kind: 'ring', steps: [targets], ringSeconds, overflow: route?.overflow ?? null, unavailable: `${agent.extension} did not answer` };
}

/**
 * The desk phone call handler the composition root plugs into the SIP server
 * (`SipServer.onDeskPhoneCall`): each call runs with the routing read when its INVITE came.
 */
export function createDeskPhoneCallHandler(ctx: Omit<ExtensionCallContext, 'routing'>): DeskPhoneCallHandler {
  return (req, res, call) => callExtension({ ...ctx, routing: call.routing }, req, res, call.caller, call.dialled);
}

export async function callExtension(ctx: ExtensionCallContext, req: SipRequest, res: SipResponse, caller: Agent, dialled: string): Promise<void> {
  const { deps, srf } = ctx;
  const log = ctx.logger.child({ component: 'extension-call', callId: req.get('Call-ID'), from: caller.extension, dialled });
  const tooSmall = sessionIntervalTooSmall(req, deps.config.sip.sessionTimer);
  if (tooSmall !== null) {
    refuseSessionInterval(res, tooSmall);
    log.info({ minSeconds: tooSmall }, 'session interval too small');
    return;
  }
  // While it rings, the call can end two ways besides an answer: the caller's CANCEL, or a
  // semi-attended transfer naming this early dialog (ringing-calls.ts). Both answer the caller
  // 487 and CANCEL the phones being rung.
  let ringingOver: () => void = () => undefined;
  const over = new Promise<void>((r) => {
    ringingOver = r;
  });
  const line: CallerLine = { gone: false, abort: () => undefined };
  const stopRinging = (why: string) => {
    if (line.gone || res.finalResponseSent) return false;
    line.gone = true;
    sendResponse(res, 487, 'Request Terminated');
    line.abort();
    log.info(why);
    return true;
  };
  req.on('cancel', () => void stopRinging('caller hung up while ringing'));
  const ringing: RingingCall = {
    callId: req.get('Call-ID'),
    callerTag: fromTagOf(req),
    localTag: null,
    callerAgentId: caller.id,
    end: async () => {
      if (!stopRinging('ringing ended by a transfer of the caller\'s customer call')) return false;
      await over;
      return true;
    },
  };
  const unregister = ringingCalls(srf).add(ringing);
  let answered: Extract<RingResult, { kind: 'answered' }> | null;
  try {
    answered = await ringNumber(ctx, req, res, caller, dialled, line, ringing, log);
  } finally {
    unregister();
    ringingOver();
  }
  if (answered) await connect(ctx, req, res, answered.dialog, caller, answered.target, log);
}

/** The caller's side while the call rings: hung up (or ended by a transfer), and how to stop the ringing. */
interface CallerLine {
  gone: boolean;
  abort: () => void;
}

/**
 * Rings what the number routes to, overflow after overflow, until a phone answers (returned) or
 * nobody does (the caller is answered with the failure here, and null returned).
 */
async function ringNumber(
  ctx: ExtensionCallContext,
  req: SipRequest,
  res: SipResponse,
  caller: Agent,
  dialled: string,
  line: CallerLine,
  ringing: RingingCall,
  log: Logger,
): Promise<Extract<RingResult, { kind: 'answered' }> | null> {
  const { deps, srf } = ctx;
  const domain = deps.config.sip.domain;
  let rangBack = false;
  // Our To tag in the provisional response names the early dialog a Replaces may point at.
  const learnTag = (err: unknown, msg?: Srf.SipMessage) => {
    if (!err && msg && !ringing.localTag) ringing.localTag = tagOf(msg.get('To'));
  };
  const headers = {
    From: `"${headerText(caller.name)}" <sip:${caller.extension}@${domain}>`,
    To: `<sip:${dialled}@${domain}>`,
    ...sessionTimerOfferHeaders(deps.config.sip.sessionTimer),
  };

  let number: string | null = dialled;
  let failure = { status: 480, reason: 'Temporarily Unavailable', why: `${dialled} is unavailable` };
  for (let hop = 0; number !== null && hop <= MAX_OVERFLOW_HOPS && !line.gone; hop++) {
    const plan = await planFor(ctx, number, caller);
    if (plan.kind === 'unknown') {
      if (hop === 0) {
        sendResponse(res, 404, 'Not Found', { Warning: warning(domain, `${dialled} is not a number here`) });
        log.info('unknown number');
        return null;
      }
      break;
    }
    if (plan.kind === 'redirect') {
      log.info({ to: plan.number, why: plan.why }, 'call redirected');
      number = plan.number;
      continue;
    }
    if (plan.kind === 'unavailable') {
      failure = { status: 480, reason: 'Temporarily Unavailable', why: plan.why };
      number = plan.overflow;
      continue;
    }
    if (plan.steps.length === 0) failure = { status: 480, reason: 'Temporarily Unavailable', why: plan.unavailable };
    for (const targets of plan.steps) {
      if (line.gone) return null;
      const result = await ringTargets(srf, targets, {
        sdp: req.body,
        headers,
        timeoutSeconds: plan.ringSeconds,
        onRinging: () => {
          if (!rangBack && !line.gone) {
            rangBack = true;
            res.send(180, 'Ringing', {}, learnTag);
          }
        },
        ...(targets.length === 1
          ? {
              onEarlyMedia: (status: number, sdp: string) => {
                if (line.gone || res.finalResponseSent) return;
                rangBack = true;
                res.send(status === 180 ? 180 : 183, status === 180 ? 'Ringing' : 'Session Progress', { body: sdp, headers: { 'Content-Type': 'application/sdp' } }, learnTag);
                log.info({ status }, 'early media relayed to the caller');
              },
            }
          : {}),
        callerGone: () => line.gone,
        registerAbort: (fn) => {
          line.abort = fn;
        },
      });
      await markPhonesUnreachable(ctx.deps, log, result.unreachable);
      if (result.kind === 'caller_gone') return null;
      if (result.kind === 'answered') return result;
      failure = { status: result.status, reason: result.reason, why: plan.unavailable };
    }
    number = plan.overflow;
    if (number) log.info({ overflow: number }, 'nobody answered: overflow');
  }
  if (line.gone) return null;
  sendResponse(res, failure.status, failure.reason, { Warning: warning(domain, failure.why) });
  log.info({ status: failure.status, why: failure.why }, 'call not connected');
  return null;
}

async function connect(ctx: ExtensionCallContext, req: SipRequest, res: SipResponse, uac: Srf.Dialog, caller: Agent, target: RingTarget, log: Logger): Promise<void> {
  let uas: Srf.Dialog;
  try {
    uas = await ctx.srf.createUAS(req, res, { localSdp: uac.remote.sdp, headers: sessionTimerAnswerHeaders(req, ctx.deps.config.sip.sessionTimer) });
  } catch (e) {
    // The caller left between the callee's answer and ours.
    log.info({ err: e instanceof Error ? e.message : String(e) }, 'caller gone before the call was answered');
    uac.destroy();
    return;
  }
  log.info({ calleeAgentId: target.agentId }, 'desk phone call connected');
  // Join the legs first: a BYE may arrive while the availability is being written.
  const call = bridgeDialogs(ctx.srf, { dialog: uas, agentId: caller.id }, { dialog: uac, agentId: target.agentId }, log);
  const agents = [caller.id, ...(target.agentId ? [target.agentId] : [])];
  const madeBusy = await deskPhoneCallStarted(ctx.deps, agents).catch(() => [] as string[]);
  const { keepBusy } = await call.ended;
  // An attended transfer may have taken one phone into a customer call: that agent stays busy.
  const freed = madeBusy.filter((id) => !keepBusy.includes(id));
  await deskPhoneCallEnded(ctx.deps, freed).catch((e) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not free the agents after the call'));
}
