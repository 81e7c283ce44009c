/**
 * A due callback in "agent calls" mode (SPEC core flow 1 step 4), placed outward when the flows
 * publish `callback.dial` (the callback job, or an agent taking the next callback):
 *
 *   no app registered ──► push "callback.incoming" (agent, reference): the app wakes and registers
 *   reserved agent's desk phone ◄── INVITE (X-Knock-Reference, X-Knock-Callback, X-Knock-Verified: no)
 *     no answer / busy / not registered ──► callEnded: retry policy (callbackAttemptFailed)
 *   agent answers ──► hears hold music while the customer is called
 *   no registration within sip.appRegisterWaitSeconds ──► agent hung up; retry policy
 *   customer's app (each registered device) ◄── INVITE, no SDP (X-Knock-Reference, X-Knock-Agent,
 *     X-Knock-Request): it rings; the customer passes the biometric or PIN in the app
 *   app ── INVITE + Replaces (the ringing call) + Authorization: Bearer + Knock-Device-Proof ──►
 *     refused (missing, bad proof, other request...) ──► 401/403, agent hung up, attempt recorded
 *     accepted ──► the app is anchored in FreeSWITCH (WebRTC: DTLS-SRTP), bridged to the agent,
 *                  the authenticated session opens (console: verified; transfers work) and the
 *                  agent's phone gets an INFO saying so
 *   the app does not answer within sip.appRingSeconds ──► agent hung up; retry policy
 * Every attempt goes through callEnded, which applies the retry policy and records it.
 */
import type { LostCallCause, Outcome } from '../domain/call-request.js';
import { isAppError } from '../domain/errors.js';
import { liveAppRegistrations, waitForAppRegistration } from '../flows/app-registration.js';
import { describeLostCall } from '../flows/call-liveness.js';
import { admitCallbackAnswer, callEnded, callSetUp, type AdmittedCall } from '../flows/call-session.js';
import { askAppToRegister } from '../flows/outbound-call.js';
import type { LiveEvent } from '../flows/ports.js';
import { releaseEndpoint, startHoldMusic } from '../media/media-legs.js';
import { describeTokenForLog } from '../security/preauth-token.js';
import { agentLegHeaders, ringAgent } from './agent-leg.js';
import { ringApp } from './app-callback-ring.js';
import { anchorCustomer, connectAgent, presentedCredentials, verificationOf } from './customer-call.js';
import { refuseInvite } from '../sip/bearer-credentials.js';
import { Abort, CustomerCall, hangUp, newSessionId, stackDialogId, type AgentLeg, type CallContext, type Leg } from './customer-call-state.js';
import { headerText, sendResponse, warning, type SipResponse } from '../sip/sip-message.js';

type DialEvent = Extract<LiveEvent, { type: 'callback.dial' }>;

/** Places every `callback.dial` the flows publish; returns the unsubscribe function. */
export function startOutboundCallbacks(ctx: CallContext): () => void {
  return ctx.deps.events.subscribe((event) => {
    if (event.type !== 'callback.dial') return;
    void placeCallback(ctx, event).catch((e: unknown) => {
      ctx.logger.error({ requestId: event.requestId, err: e instanceof Error ? e.message : String(e) }, 'scheduled callback failed');
    });
  });
}

export async function placeCallback(ctx: CallContext, event: DialEvent): Promise<void> {
  const { deps } = ctx;
  const { config } = deps;
  const log = ctx.logger.child({ component: 'outbound-callback', requestId: event.requestId });
  const [request, agent, customer] = await Promise.all([
    deps.store.callRequests.get(event.requestId),
    deps.store.agents.get(event.agentId),
    deps.store.customers.get(event.customerId),
  ]);
  if (!request || !agent || !customer) return;
  // The attempt's record, opened once the agent is on hold (callSetUp): a survivor hangs up its legs.
  let recordId: string | null = null;
  const track = (legs: { sipInvites?: string[] }) => {
    if (recordId) void deps.store.callRecords.addLegs(recordId, legs).catch(() => undefined);
  };
  // A component lost under the setup (call-reconciler.ts): the attempt ends now, with that cause.
  let lost: LostCallCause | null = null;
  const fail = async (outcome: Outcome, why: string) => {
    release();
    log.info({ outcome: lost ?? outcome, why: lost ? describeLostCall(lost) : why }, 'callback attempt did not connect');
    await callEnded(deps, { requestId: request.id, sessionId: null, recordId, agentId: agent.id, outcome: lost ?? outcome });
  };
  // What an unexpected error must give back: the agent's leg, the app's unanswered INVITE, the call.
  let agentLeg: AgentLeg | null = null;
  let pendingAnswer: SipResponse | null = null;
  let call: CustomerCall | null = null;
  const giveUp = async (outcome: Outcome, why: string) => {
    if (agentLeg) {
      hangUp(agentLeg.dialog, 'customer not reached');
      await releaseEndpoint(agentLeg.endpoint);
    }
    await fail(outcome, why);
  };
  const abort = new Abort();
  const release = ctx.calls.holdSetup({
    lose: (cause) => {
      lost = cause;
      abort.abort();
    },
    sipDialogs: () => (agentLeg && !call ? [stackDialogId(agentLeg.dialog)] : []),
  });
  try {
    const sessionId = newSessionId();

    // 0. The app must be registered to ring. The push goes out before the agent's phone rings, not
    //    after the agent answers: the customer's phone wakes and registers while the agent picks
    //    up, so the agent waits on hold for seconds, not for the whole wake-up.
    let bindings = await liveAppRegistrations(deps, customer.id);
    if (bindings.length === 0) await askAppToRegister(deps, request, agent.name);

    // 1. The reserved agent first.
    const headers = {
      ...agentLegHeaders({
        config,
        request,
        verification: { customerName: customer.name, customerNumber: customer.phoneE164, authMethod: 'none', authenticatedAt: new Date(0) },
        sessionId,
        via: 'callback',
      }),
      'X-Knock-Callback': request.scheduledFor ? `scheduled; for=${request.scheduledFor.toISOString()}` : 'scheduled',
    };
    let agentRing;
    try {
      agentRing = await ringAgent(ctx, agent, headers, abort);
    } catch (e) {
      return fail('failed', e instanceof Error ? e.message : String(e));
    }
    if (agentRing.kind !== 'answered') return fail(agentRing.kind === 'gone' ? 'failed' : agentRing.outcome, 'agent did not answer');
    const leg = agentRing.leg;
    agentLeg = leg;
    // A callback's agent leg takes no transfers: answered as drachtio-srf would have.
    for (const [, res] of leg.earlyRefers?.stop() ?? []) res.send(200);
    log.info({ agentId: agent.id }, 'agent answered; calling the customer');
    startHoldMusic(leg.endpoint, config.media.holdMusic, log);
    leg.dialog.on('destroy', () => abort.abort());
    // Best effort, as for a customer call: without it the record opens when the call connects.
    recordId = await callSetUp(deps, {
      requestId: request.id,
      customerId: customer.id,
      agentId: agent.id,
      direction: 'outbound',
      legs: { mediaChannels: [leg.endpoint.uuid], sipDialogs: [stackDialogId(leg.dialog)] },
    }).then(
      (r) => r.id,
      (e: unknown) => {
        log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not record the callback while it is set up');
        return null;
      },
    );

    // 2. Wait for the app to register (woken by the push), unless it already is.
    if (bindings.length === 0) {
      bindings = await waitForAppRegistration(deps, customer.id, config.sip.appRegisterWaitSeconds * 1000, (cancel) => abort.onAbort(cancel));
      // The agent hanging up is not the customer's doing: 'failed' keeps the retry policy in play.
      if (abort.aborted) return giveUp('failed', 'agent hung up while the app was registering');
      if (bindings.length === 0) return giveUp('no_answer', 'no device of the customer registered for calls in time');
    }

    // 3. Ring the app; it answers with a verified INVITE that replaces the ringing one.
    const ring = await ringApp(ctx, bindings, {
      headers: {
        From: `"${headerText(config.auth.webauthn.rpName)}" <sip:callback@${config.sip.domain}>`,
        'X-Knock-Reference': headerText(request.reference),
        'X-Knock-Agent': headerText(agent.name),
        'X-Knock-Request': request.id,
      },
      seconds: config.sip.appRingSeconds,
      abort,
      onSent: (txn) => track({ sipInvites: [txn] }),
    });
    if (ring.kind !== 'answered') return giveUp(ring.outcome, ring.why);
    const { req, res } = ring.answer;
    pendingAnswer = res;

    // 4. The answer's token and device proof: the same checks as any call the app places, and the
    //    token must be for this request. Refused: the answer gets 401/403, the attempt ends.
    const presented = presentedCredentials(req);
    const { token } = presented;
    let admitted: AdmittedCall;
    try {
      admitted = await admitCallbackAnswer(deps, { ...presented, expectedCallRequestId: request.id });
    } catch (e) {
      if (!isAppError(e)) throw e;
      log.info({ code: e.code, token: token ? describeTokenForLog(token) : null, deviceId: ring.deviceId }, 'callback answer refused');
      refuseInvite(res, e, config.sip.domain);
      return giveUp('failed', `the answer was refused: ${e.code}`);
    }
    if (abort.aborted) {
      sendResponse(res, 480, 'Temporarily Unavailable', { Warning: warning(config.sip.domain, 'the agent hung up') });
      return giveUp('failed', 'agent hung up while the app was answering');
    }

    // 5. Anchor the app in FreeSWITCH (its WebRTC offer answered with DTLS-SRTP), bridge, open the session.
    let customerLeg: Leg;
    try {
      customerLeg = await anchorCustomer(ctx, req, res, sessionId);
    } catch (e) {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'the app could not be anchored');
      sendResponse(res, 500, 'Server Internal Error');
      return giveUp('failed', 'the app could not be anchored');
    }
    const live = new CustomerCall(ctx, admitted.request, sessionId, customerLeg, verificationOf(admitted, customer), 'outbound');
    live.recordedAs(recordId);
    call = live;
    // From here the call owns both legs, and the reconciler finds it among the live calls.
    release();
    live.begin();
    if (abort.aborted) {
      // The agent hung up while the app was being anchored: their BYE went to the abort only.
      log.info('agent hung up while the app was being anchored');
      await live.endWithAgentLeg(leg, 'failed', 'agent');
      return;
    }
    try {
      await connectAgent(live, leg);
    } catch (e) {
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'callback could not be bridged');
      await live.end('failed', 'server');
      return;
    }
    if (!live.connected) return;
    log.info({ agentId: agent.id, deviceId: admitted.deviceId, authMethod: admitted.authMethod }, 'callback connected; customer verified');
    // The agent's phone was rung as "not verified"; tell it what changed (phones ignore what they do not show).
    leg.dialog
      .request({
        method: 'INFO',
        headers: {
          'X-Knock-Verified': `${admitted.authMethod}; at=${admitted.authenticatedAt.toISOString()}; via=token`,
          'Session-ID': `${sessionId};remote=${'0'.repeat(32)}`,
        },
      } as unknown as Parameters<typeof leg.dialog.request>[0])
      .catch(() => undefined);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    log.error({ err: why }, 'callback attempt failed on the server');
    if (pendingAnswer && !pendingAnswer.finalResponseSent) sendResponse(pendingAnswer, 500, 'Server Internal Error');
    // Once the call exists it owns both legs and records the end itself.
    if (call) await call.end('failed', 'server');
    else if (agentLeg) await giveUp('failed', why);
    else await fail('failed', why);
  }
}
