/**
 * The customer app's call (SPEC core flow 1 step 3), top to bottom:
 *
 *   app ── INVITE + Authorization: Bearer <token> (RFC 8898)
 *             + Knock-Device-Proof: <device-key signature over jti|Call-ID|From tag> ──► here
 *     body not an SDP offer ◄── 488 + Warning 305, token not spent
 *     no media server     ◄── 503 + Retry-After, token not spent (audited call.refuse)
 *     no token            ◄── 401, WWW-Authenticate: Bearer realm="<sip.domain>"
 *     token refused       ◄── 403 + Warning/Reason naming why (expired, replayed, misbound:
 *                             no or bad device proof, ...)
 *     token accepted (verified, proof checked, consumed for this dialog, audited by admitCustomerCall)
 *   app ◄── 200 OK (FreeSWITCH's SDP, Session-ID) ── the customer is anchored and hears hold music
 *   agent desk phones ◄── INVITE (P-Asserted-Identity, X-Knock-*, Call-Info, Session-ID), one agent
 *     after another until one answers
 *   agent answers ──► the two FreeSWITCH channels are bridged; callConnected opens the session
 *   BYE from either side ──► the other side gets BYE; callEnded revokes the session
 *
 * The token and the device proof are read here and nowhere else: FreeSWITCH and the agent leg
 * get INVITEs this service writes, so the Authorization and Knock-Device-Proof headers never
 * leave this handler.
 */
import type { Logger } from 'pino';
import type { AppError } from '../domain/errors.js';
import { isAppError } from '../domain/errors.js';
import { admitCustomerCall, callConnected, callEnded, callSetUp, type AdmitCustomerCallArgs, type AdmittedCall } from '../flows/call-session.js';
import { callRefusedBeforeAdmission } from '../flows/call-refusal.js';
import { callRinging } from '../flows/call-screen.js';
import { describeTokenForLog } from '../security/preauth-token.js';
import { anchorCaller, bridgeEndpoints, startHoldMusic } from '../media/media-legs.js';
import { agentLegHeaders, offerToAgents } from './agent-leg.js';
import {
  CustomerCall,
  newSessionId,
  remoteSessionUuid,
  type AgentLeg,
  type CallContext,
  type Leg,
  type Verification,
} from './customer-call-state.js';
import type { CustomerInviteHandler } from '../sip/invite-router.js';
import { bearerToken, deviceProof, refuseInvite } from '../sip/bearer-credentials.js';
import { fromTagOf, headerText, sendResponse, warning, type SipRequest, type SipResponse } from '../sip/sip-message.js';

// Kept here too for the callers that read the other credentials from this module.
export { fromTagOf };
import { refuseSessionInterval, sessionIntervalTooSmall, sessionTimerAnswerHeaders } from '../sip/session-timer.js';
import { takeAppAnswer } from './app-callback-ring.js';

/** How long an app refused for an unreachable media server waits before calling again. */
const MEDIA_RETRY_AFTER_SECONDS = 10;

/**
 * Why the INVITE's body cannot be answered as an SDP offer (RFC 3264), or null when it can: the
 * call is anchored in FreeSWITCH from that offer, so anything else would fail only after the
 * token was spent. The app always sends its offer in the INVITE.
 */
export function notAnSdpOffer(req: SipRequest): string | null {
  const type = req.has('Content-Type') ? req.get('Content-Type').split(';')[0]!.trim().toLowerCase() : '';
  if (type !== 'application/sdp') return type ? `the body is ${type.slice(0, 60)}, not application/sdp` : 'no SDP offer in the INVITE';
  const body = req.body ?? '';
  if (!/^v=0\r?\n/.test(body) || !/^m=audio /m.test(body)) return 'the body is not an SDP offer with an audio stream';
  return null;
}

/** The dialog a token is bound to on first use: Call-ID plus the caller's tag (RFC 3261 §12). */
export function dialogIdOf(req: SipRequest): string {
  return `${req.get('Call-ID')};from-tag=${fromTagOf(req)}`;
}

/**
 * What an INVITE presents for the token check: the token, the dialog it is spent on, and the
 * device proof with the Call-ID and From tag it is signed over.
 */
export function presentedCredentials(req: SipRequest): AdmitCustomerCallArgs {
  return {
    token: bearerToken(req),
    dialogId: dialogIdOf(req),
    callId: req.get('Call-ID') ?? '',
    fromTag: fromTagOf(req),
    deviceProof: deviceProof(req),
  };
}

/**
 * How the agent legs announce an admitted customer. admitCustomerCall read the customer with the
 * device (no second read); a callback passes the customer it already has.
 */
export function verificationOf(admitted: AdmittedCall, customer = admitted.customer): Verification {
  return {
    customerName: customer?.name ?? 'Verified customer',
    customerNumber: customer?.phoneE164 ?? null,
    authMethod: admitted.authMethod,
    authenticatedAt: admitted.authenticatedAt,
  };
}

/**
 * Answers the customer's INVITE from a FreeSWITCH channel (anchorCaller) with the RFC 7989
 * Session-ID (their UUID as the remote part, when they sent one) and the session timer headers.
 */
export function anchorCustomer(ctx: CallContext, req: SipRequest, res: SipResponse, sessionId: string): Promise<Leg> {
  const theirs = remoteSessionUuid(req.has('Session-ID') ? req.get('Session-ID') : undefined);
  return anchorCaller(ctx.media.mediaServer(), req, res, {
    'Session-ID': `${sessionId};remote=${theirs ?? '0'.repeat(32)}`,
    ...sessionTimerAnswerHeaders(req, ctx.deps.config.sip.sessionTimer),
  });
}

/** Bridges the answering agent to the waiting customer and opens the authenticated session. */
export async function connectAgent(call: CustomerCall, leg: AgentLeg): Promise<void> {
  const { deps } = call.ctx;
  if (!(await call.takeAgentLeg(leg, 'agent hung up as the call was being connected'))) return;
  await bridgeEndpoints(call.customer.endpoint, leg.endpoint);
  await call.recordOpened();
  const { record } = await callConnected(deps, {
    requestId: call.request.id,
    sessionId: call.sessionId,
    agentId: leg.agent.id,
    direction: call.direction,
    legs: call.legIds(),
    recordId: call.recordId,
  });
  if (!call.connectedWith(record.id)) {
    // Hung up during the bridge: end() ran before the session existed; close it now.
    await callEnded(deps, { requestId: call.request.id, sessionId: call.sessionId, recordId: record.id, agentId: leg.agent.id, outcome: 'completed' });
    return;
  }
  call.ctx.acceptTransfers(call, leg);
  call.log.info({ agentId: leg.agent.id, extension: leg.agent.extension }, 'customer call connected to agent');
}

export async function handleCustomerInvite(ctx: CallContext, req: SipRequest, res: SipResponse): Promise<void> {
  const { deps } = ctx;
  const { config } = deps;
  const log: Logger = ctx.logger.child({ component: 'customer-call', callId: req.get('Call-ID') });
  let cancelled = false;
  req.on('cancel', () => {
    cancelled = true;
  });

  // 0. RFC 4028 §6: a session interval below our minimum is refused before the token is spent,
  //    so the app can retry at once with the same token.
  const tooSmall = sessionIntervalTooSmall(req, config.sip.sessionTimer);
  if (tooSmall !== null) {
    refuseSessionInterval(res, tooSmall);
    return;
  }
  // Not an SDP offer FreeSWITCH can answer: 488 (RFC 3261 §21.4.26) before the token is spent.
  const badBody = notAnSdpOffer(req);
  if (badBody !== null) {
    log.info({ why: badBody }, 'customer call refused: no usable SDP offer');
    sendResponse(res, 488, 'Not Acceptable Here', { Warning: `305 ${config.sip.domain} "${headerText(`${badBody}; the token is not spent`)}"`, Accept: 'application/sdp' });
    return;
  }
  // The app answering a callback that rings it (Replaces, RFC 3891): outbound-callback.ts takes it.
  if (takeAppAnswer(ctx, req, res)) return;

  // No media server, no call: refused before the token is spent, so the app may retry with it
  // after Retry-After (RFC 3261 §21.5.4).
  if (!ctx.media.isConnected()) {
    log.warn('customer call refused: the media server is unreachable');
    sendResponse(res, 503, 'Service Unavailable', {
      'Retry-After': String(MEDIA_RETRY_AFTER_SECONDS),
      Warning: warning(config.sip.domain, 'media_unavailable: the media server is unreachable; try again with the same token'),
    });
    await callRefusedBeforeAdmission(deps, { dialogId: dialogIdOf(req), code: 'media_unavailable', reason: 'the media server (FreeSWITCH) is unreachable; token not spent' });
    return;
  }

  // 1. The token and the device's proof of possession: verified, consumed for this dialog,
  //    audited; or the call is refused.
  const presented = presentedCredentials(req);
  const { token } = presented;
  let admitted: AdmittedCall;
  try {
    admitted = await admitCustomerCall(deps, presented);
  } catch (e) {
    if (!isAppError(e)) throw e;
    log.info({ code: e.code, token: token ? describeTokenForLog(token) : null }, 'customer call refused');
    refuseInvite(res, e, config.sip.domain);
    return;
  }
  const request = admitted.request;
  const sessionId = newSessionId();
  const verification = verificationOf(admitted);
  log.info({ requestId: request.id, authMethod: admitted.authMethod }, 'customer call admitted');

  // 2. Anchor the customer in FreeSWITCH and answer: from now on they hear the queue. Answered
  //    200 rather than 183 early media: the queue needs the call up anyway, a WebRTC caller's
  //    DTLS completes with the answer, and sip.js plays no early media unless told to.
  let customer: Leg;
  try {
    if (cancelled) throw new Error('the caller cancelled');
    customer = await anchorCustomer(ctx, req, res, sessionId);
  } catch (e) {
    log.warn({ requestId: request.id, err: e instanceof Error ? e.message : String(e) }, 'customer call could not be anchored');
    // The token is spent on this dialog now: no Retry-After, the same INVITE cannot succeed; the
    // request ends as failed (callEnded below), and the customer needs a new call request.
    if (isAppError(e) && e.code === 'unavailable') {
      sendResponse(res, 503, 'Service Unavailable', { Warning: warning(config.sip.domain, 'media_unavailable: the media server went away during call setup; the token is spent') });
    } else sendResponse(res, 500, 'Server Internal Error');
    await callEnded(deps, { requestId: request.id, sessionId: null, recordId: null, agentId: null, outcome: cancelled ? 'abandoned' : 'failed', known: request });
    return;
  }
  const call = new CustomerCall(ctx, request, sessionId, customer, verification, 'inbound');
  call.begin();
  call.openRecord(() => callSetUp(deps, { requestId: request.id, customerId: request.customerId, agentId: null, direction: 'inbound', legs: call.legIds() }));
  startHoldMusic(customer.endpoint, config.media.holdMusic, log);

  // 3. The queue: the request's agent first, then the group's next free agent.
  const leg = await offerToAgents(ctx, {
    request,
    abort: call.abort,
    deadline: Date.now() + config.media.queueTimeoutSeconds * 1000,
    track: (legs) => call.trackLegs(legs),
    headersFor: (agent) => {
      callRinging(deps, { request, agentId: agent.id, verification, via: 'token' });
      return agentLegHeaders({ config, request, verification, sessionId, via: 'token' });
    },
  });
  if (!leg) {
    if (!call.isEnded) {
      log.info({ requestId: request.id }, 'no agent answered within the queue time');
      await call.end('no_answer', 'server');
    }
    return;
  }

  // 4. Bridge and open the session.
  try {
    await connectAgent(call, leg);
  } catch (e) {
    log.error({ requestId: request.id, err: e instanceof Error ? e.message : String(e) }, 'could not connect the agent');
    await call.end('failed', 'server');
  }
}

export function createCustomerCallHandler(ctx: CallContext): CustomerInviteHandler {
  return (req, res) => handleCustomerInvite(ctx, req, res);
}
