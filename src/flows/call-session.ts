/**
 * The call itself, as the SIP layer reports it (SPEC core flow 1 step 3, core flow 2):
 *   admitCustomerCall  - INVITE carrying a pre-authentication token and the device's proof of
 *                        possession: verify both, consume, hold;
 *   callConnected      - the agent answered: open the authenticated session;
 *   verifySessionForTransfer - a later leg presents the session id: verified without questions;
 *   callEnded          - hang-up: revoke the session, store the call record.
 * Every decision is audited with its reason.
 */
import { nextRetryTime } from '../domain/callback-schedule.js';
import { applyEvent, type Outcome } from '../domain/call-request.js';
import { AppError, isAppError } from '../domain/errors.js';
import type { AuthSession, CallRecord, CallRequest, SipDialogState } from '../domain/model.js';
import { verifyDeviceProof } from '../security/device-proof.js';
import { describeTokenForLog, verifyPreauthToken, type PreauthClaims } from '../security/preauth-token.js';
import type { AdmissionContext, ConsumeResult, NewAuditEntry } from '../store/store.js';
import { releaseAgent } from './agent-availability.js';
import { announceConnected, callLeftAgent } from './call-screen.js';
import { announceMove, loadRequest, moveAuditEntry, moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

export interface AdmittedCall {
  request: CallRequest;
  customerId: string;
  /** The customer's name and number for the agent's display, read with the device; null if gone. */
  customer: { name: string; phoneE164: string | null } | null;
  deviceId: string;
  authMethod: string;
  authenticatedAt: Date;
}

export interface AdmitCustomerCallArgs {
  token: string | null;
  /** The SIP dialog the token is spent on (Call-ID plus From tag). */
  dialogId: string;
  /** The INVITE's Call-ID and From tag: what the device proof is signed over with the token's jti. */
  callId: string;
  fromTag: string;
  /** The Knock-Device-Proof header value; null when the INVITE carried none. */
  deviceProof: string | null;
  deviceKeyThumbprint?: string;
  /** Only a token issued for this call request is accepted (a callback answered by the app). */
  expectedCallRequestId?: string;
}

/**
 * Order: token signature and claims, then the device's proof of possession with the key the
 * token's `did` enrolled (its thumbprint must be cnf.jkt), then the single-use jti is consumed.
 * A refused proof leaves the token unspent for the genuine device.
 */
export async function admitCustomerCall(deps: FlowDeps, args: AdmitCustomerCallArgs): Promise<AdmittedCall> {
  const { store, config } = deps;
  const deny = async (code: string, reason: string, data: Record<string, unknown> = {}) => {
    await store.audit.append({ actor: 'sip', action: 'token.verify', subject: `dialog:${args.dialogId}`, decision: 'deny', reason, data: { code, ...data } });
  };
  if (!args.token) {
    await deny('token_missing', 'INVITE carried no pre-authentication token');
    throw new AppError('token_missing', 'A pre-authentication token is required to call.');
  }
  const now = deps.clock();
  let claims;
  let context: AdmissionContext | null = null;
  // The request already moved to call setup in the statement that spent the token, if it could be.
  let setUp: CallRequest | null = null;
  try {
    claims = await verifyPreauthToken(args.token, {
      keyRing: deps.keyRing,
      store,
      issuer: config.tokens.issuer,
      audience: config.sip.domain,
      dialogId: args.dialogId,
      now,
      ...(args.deviceKeyThumbprint ? { expectedKeyThumbprint: args.deviceKeyThumbprint } : {}),
      ...(args.expectedCallRequestId ? { expectedCallRequestId: args.expectedCallRequestId } : {}),
      // A token obtained to answer a dialled callback answers it and places no call; and back.
      expectedUse: args.expectedCallRequestId ? 'callback-answer' : 'call',
      confirmPossession: async (c) => {
        // The device, the customer (for the agent's display, once admitted) and the request in one read.
        const ctx = await store.tokens.admissionContext(c.did, c.sub, c.crq);
        context = ctx;
        // A lost or stolen phone revoked after the token was issued: refused (unspent), by name.
        if (ctx.device?.revokedAt) throw new AppError('device_revoked', 'The device this token was issued to has been revoked.');
        verifyDeviceProof({
          proof: args.deviceProof,
          jti: c.jti,
          callId: args.callId,
          fromTag: args.fromTag,
          expectedThumbprint: c.cnf.jkt,
          device: ctx.device && ctx.device.customerId === c.sub ? ctx.device : null,
        });
      },
      consume: async (c) => {
        const spent = await spendTokenOnSetUp(deps, c, args.dialogId, now, context?.request ?? null);
        setUp = spent.after;
        return spent.consumed;
      },
    });
  } catch (e) {
    if (isAppError(e)) await deny(e.code, e.message, { token: describeTokenForLog(args.token) });
    throw e;
  }
  let after = setUp as CallRequest | null;
  if (!after) {
    ({ after } = await moveRequest(deps, claims.callRequestId, { type: 'call_setup', use: claims.use }, 'sip'));
    await store.audit.append(tokenAllowEntry(claims.customerId, claims.authMethod, claims.callRequestId, claims.jti, args.dialogId));
  }
  return {
    request: after,
    customerId: claims.customerId,
    customer: (context as AdmissionContext | null)?.customer ?? null,
    deviceId: claims.deviceId,
    authMethod: claims.authMethod,
    authenticatedAt: claims.authTime,
  };
}

function tokenAllowEntry(customerId: string, authMethod: string, requestId: string, jti: string, dialogId: string): NewAuditEntry {
  return {
    actor: 'sip',
    action: 'token.verify',
    subject: `call_request:${requestId}`,
    decision: 'allow',
    reason: `token valid for customer ${customerId} (${authMethod})`,
    data: { dialogId, jti },
  };
}

/**
 * Spends the token and moves the request to call setup, with both audit entries, in one
 * statement, when the request as read with the device allows the move. Otherwise the token is
 * only spent (consume also tells a replay from an expiry) and the caller moves the request as
 * any other move, deciding on its stored state.
 */
async function spendTokenOnSetUp(
  deps: FlowDeps,
  c: PreauthClaims,
  dialogId: string,
  now: Date,
  known: CallRequest | null,
): Promise<{ consumed: ConsumeResult; after: CallRequest | null }> {
  const event = { type: 'call_setup', use: c.use } as const;
  let next = null;
  try {
    next = known ? applyEvent(known, event, now) : null;
  } catch (e) {
    if (!isAppError(e)) throw e;
  }
  if (known && next) {
    const entries = [tokenAllowEntry(c.sub, c.auth_method, known.id, c.jti, dialogId), moveAuditEntry(known, next, event, 'sip')];
    const { spent, after } = await deps.store.callRequests.updateSpendingToken(known.id, known.version, next, entries, { jti: c.jti, dialogId, now });
    if (spent) {
      if (after) announceMove(deps, { from: known.state, after, event, actor: 'sip', now });
      return { consumed: 'consumed', after };
    }
  }
  return { consumed: await deps.store.tokens.consume(c.jti, dialogId, now), after: null };
}

/**
 * An agent-dialled callback answered by the app (SPEC core flow 1 step 4, "agent calls" mode):
 * the 200 OK carries the token the customer obtained with the biometric or PIN for this request,
 * and the device's proof over the INVITE's Call-ID and From tag. Same checks, consumption and
 * audit as a call the app places (admitCustomerCall), plus: the token must be for this request.
 */
export function admitCallbackAnswer(deps: FlowDeps, args: AdmitCustomerCallArgs & { expectedCallRequestId: string }): Promise<AdmittedCall> {
  return admitCustomerCall(deps, args);
}

/** What a call record keeps of the call's legs, so a survivor can hang them up (call-liveness.ts). */
export interface CallLegIds {
  mediaChannels: string[];
  sipDialogs: string[];
  /** The same dialogs as a BYE written without drachtio-server's help needs them. */
  sipDialogStates?: SipDialogState[];
}

/**
 * The service holds a leg of a call now (the customer anchored and queued, or the agent of a
 * dialled callback on hold): the record opens at once, with its owner and legs, so what a dying
 * process leaves half set up is found and hung up (call-liveness.ts). Answered when connected.
 */
export function callSetUp(
  deps: FlowDeps,
  args: { requestId: string; customerId: string; agentId: string | null; direction: 'inbound' | 'outbound'; legs: CallLegIds },
): Promise<CallRecord> {
  return deps.store.callRecords.create({
    callRequestId: args.requestId,
    sessionId: null,
    customerId: args.customerId,
    agentId: args.agentId,
    direction: args.direction,
    startedAt: deps.clock(),
    answeredAt: null,
    endedAt: null,
    outcome: null,
    verification: null,
    ...args.legs,
  });
}

/**
 * The agent answered: the customer is now in a verified session whose id later legs present.
 * The call's record (callSetUp) is answered; a call set up without one gets one now.
 */
export async function callConnected(
  deps: FlowDeps,
  args: { requestId: string; sessionId: string; agentId: string; direction: 'inbound' | 'outbound'; legs?: CallLegIds; recordId?: string | null },
): Promise<{ session: AuthSession; record: CallRecord }> {
  const { after } = await moveRequest(deps, args.requestId, { type: 'call_answered' }, 'sip');
  if (!after.acceptedDeviceId || !after.authMethod || !after.authenticatedAt) {
    throw new AppError('forbidden', 'The call request has no verified customer.');
  }
  const now = deps.clock();
  const session = await deps.store.sessions.create({
    id: args.sessionId,
    callRequestId: after.id,
    customerId: after.customerId,
    deviceId: after.acceptedDeviceId,
    authMethod: after.authMethod,
    authenticatedAt: after.authenticatedAt,
  });
  // The rings are over: no INVITE of this call is left to CANCEL.
  const answered = { sessionId: session.id, agentId: args.agentId, answeredAt: now, verification: `token:${after.authMethod}`, ...args.legs, sipInvites: [] };
  const record =
    (args.recordId ? await deps.store.callRecords.update(args.recordId, answered) : null) ??
    (await deps.store.callRecords.create({
      callRequestId: after.id,
      customerId: after.customerId,
      direction: args.direction,
      startedAt: now,
      endedAt: null,
      outcome: null,
      ...answered,
    }));
  await deps.store.agents.setAvailability(args.agentId, 'busy', now);
  await announceConnected(deps, after, args.agentId);
  return { session, record };
}

/** A transfer leg presents the session id; an unknown or revoked one verifies nobody. */
export async function verifySessionForTransfer(deps: FlowDeps, sessionId: string, toAgentId: string): Promise<AuthSession> {
  const session = await deps.store.sessions.get(sessionId);
  const ok = session && !session.revokedAt;
  await deps.store.audit.append({
    actor: 'sip',
    action: 'session.verify',
    subject: `session:${sessionId}`,
    decision: ok ? 'allow' : 'deny',
    reason: !session ? 'unknown session id' : session.revokedAt ? 'session already ended' : `transfer to agent ${toAgentId}`,
    data: { toAgentId },
  });
  if (!session) throw new AppError('token_invalid', 'Unknown session id.');
  if (session.revokedAt) throw new AppError('session_revoked', 'This session has ended and can no longer verify anyone.');
  return session;
}

/**
 * Hang-up: the session id dies with the call; the agent is free again. `endedAt`: when the call
 * ended, if that was before now (a retried write). `known`: the request as the
 * caller last had it, a first guess for a customer call that never became a callback attempt
 * (the move is still compare-and-set and re-decided on the stored state if it lost).
 */
export async function callEnded(
  deps: FlowDeps,
  args: { requestId: string; sessionId: string | null; recordId: string | null; agentId: string | null; outcome: Outcome; known?: CallRequest; endedAt?: Date },
): Promise<void> {
  // When the call ended, not when this write succeeds: a write retried through a database
  // outage still records the moment of the hang-up.
  const now = args.endedAt ?? deps.clock();
  if (args.sessionId) {
    await deps.store.sessions.revoke(args.sessionId, now);
    await deps.store.audit.append({ actor: 'sip', action: 'session.revoke', subject: `session:${args.sessionId}`, decision: 'info', reason: 'call ended', data: { outcome: args.outcome } });
  }
  if (args.recordId) await deps.store.callRecords.close(args.recordId, now, args.outcome);
  const guess = args.known;
  const req =
    guess?.id === args.requestId && (guess.state === 'connecting' || guess.state === 'connected') && guess.attempts === 0
      ? guess
      : await loadRequest(deps, args.requestId);
  // A callback the app answered but that did not connect is still agent_dialled.
  if (req.state === 'agent_dialled' || (req.state === 'connecting' && req.attempts > 0 && args.outcome !== 'completed')) {
    await callbackAttemptFailed(deps, args.requestId, args.outcome, req);
  } else if (req.state !== 'ended' && req.state !== 'cancelled') {
    // The request just read is the first guess: saves reading it again (still compare-and-set).
    await moveRequest(deps, args.requestId, { type: 'call_ended', outcome: args.outcome }, 'sip', req);
  }
  if (args.agentId) {
    callLeftAgent(deps, { requestId: args.requestId, agentId: args.agentId, outcome: args.outcome });
    await releaseAgent(deps, args.agentId);
  }
}

/**
 * An agent-dialled callback that did not connect: retry per policy, or give up and tell the
 * customer. `known`: the request as the caller just read it (saves reading it again).
 */
export async function callbackAttemptFailed(deps: FlowDeps, requestId: string, outcome: Outcome, known?: CallRequest): Promise<void> {
  const req = known?.id === requestId ? known : await loadRequest(deps, requestId);
  const retryAt = nextRetryTime(deps.config.scheduling.retry, req.attempts, outcome, deps.clock());
  // A retry is scheduled with the move (back to scheduled at retryAt); giving up tells the
  // customer, through the outbox, once the move has committed.
  await moveRequest(deps, requestId, { type: 'callback_failed', outcome, retryAt }, 'sip', req, undefined, retryAt ? {} : { notify: 'expired' });
}
